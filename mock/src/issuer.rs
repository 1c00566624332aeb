//! The public handle: [`MockIssuer`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::builder::MockIssuerBuilder;
use crate::faults::Fault;
use crate::keys::{MockError, SigningKey};
use crate::listener;
use crate::state::{Client, Endpoint, MintOptions, Shared};

/// An embedded crm-now OAuth2 issuer on 127.0.0.1; see the [module docs](super).
///
/// Dropping it stops the server (requests in progress may still finish);
/// [`MockIssuer::shutdown`] does the same and waits for them.
pub struct MockIssuer {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for MockIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockIssuer")
            .field("base_url", &self.shared.config.base_url)
            .field("issuer", &self.shared.config.issuer)
            .field("audience", &self.shared.config.audience)
            .finish_non_exhaustive()
    }
}

impl MockIssuer {
    /// Wraps started shared state (called by [`MockIssuerBuilder::start`]).
    pub(super) fn from_shared(shared: Arc<Shared>) -> Self {
        MockIssuer { shared }
    }

    /// Starts an issuer with the default settings (no clients registered).
    ///
    /// # Errors
    ///
    /// See [`MockIssuerBuilder::start`].
    pub async fn start() -> io::Result<MockIssuer> {
        MockIssuerBuilder::default().start().await
    }

    /// Settings for a new issuer.
    pub fn builder() -> MockIssuerBuilder {
        MockIssuerBuilder::default()
    }

    /// The listening address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.shared.config.addr
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.shared.config.base_url
    }

    /// The token endpoint, `<base>/v1/getOauthToken.php`.
    pub fn token_url(&self) -> &str {
        &self.shared.config.token_url
    }

    /// The verifytoken endpoint: the same URL as [`MockIssuer::token_url`].
    pub fn verify_url(&self) -> &str {
        &self.shared.config.token_url
    }

    /// The JWKS, `<base>/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> &str {
        &self.shared.config.jwks_url
    }

    /// The discovery document, `<base>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> &str {
        &self.shared.config.discovery_url
    }

    /// The `iss` claim of its tokens.
    pub fn issuer(&self) -> &str {
        &self.shared.config.issuer
    }

    /// The `aud` claim of its tokens.
    pub fn audience(&self) -> &str {
        &self.shared.config.audience
    }

    /// The default scope of its tokens.
    pub fn default_scope(&self) -> &str {
        &self.shared.config.default_scope
    }

    /// Registers (or replaces) a client whose tokens get the default scope.
    pub fn add_client(&self, id: impl Into<String>, secret: impl Into<String>) {
        let client = Client {
            secret: secret.into(),
            scope: None,
        };
        self.shared.lock().clients.insert(id.into(), client);
    }

    /// Registers (or replaces) a client whose tokens get `scope`.
    pub fn add_client_with_scope(
        &self,
        id: impl Into<String>,
        secret: impl Into<String>,
        scope: impl Into<String>,
    ) {
        let client = Client {
            secret: secret.into(),
            scope: Some(scope.into()),
        };
        self.shared.lock().clients.insert(id.into(), client);
    }

    /// Unregisters a client; returns whether it was registered.
    pub fn remove_client(&self, id: &str) -> bool {
        self.shared.lock().clients.remove(id).is_some()
    }

    /// Mints a signed token directly (no HTTP, not counted), with the current key.
    ///
    /// # Errors
    ///
    /// Signing or the random generator failed (not expected with a working aws-lc-rs).
    pub fn mint(&self, options: MintOptions) -> Result<String, MockError> {
        self.shared.mint(options)
    }

    /// Whether the issuer would answer `"result": true` for `token` (ignoring faults).
    pub fn is_valid(&self, token: &str) -> bool {
        self.shared.is_valid(token)
    }

    /// Revokes `token`: verifytoken says `false` for it from now on. (JWKS-based
    /// verification cannot see revocations, just as with the real service.)
    pub fn revoke(&self, token: &str) {
        self.shared.lock().revoked.insert(token.to_owned());
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.shared.lock().lifetime = lifetime;
    }

    /// The lifetime of newly issued tokens.
    pub fn lifetime(&self) -> Duration {
        self.shared.lock().lifetime
    }

    /// Generates a new key (CPU-heavy: tens to hundreds of milliseconds, on the calling
    /// thread), publishes it and makes it the signing key. Older keys stay published (and
    /// their tokens valid) until [`MockIssuer::remove_key`]. Returns the new `kid`.
    ///
    /// # Errors
    ///
    /// Key generation failed.
    pub fn rotate_key(&self) -> Result<String, MockError> {
        let key = Arc::new(SigningKey::generate()?);
        let kid = key.kid().to_owned();
        let mut state = self.shared.lock();
        state.keys.push(Arc::clone(&key));
        state.current = key;
        Ok(kid)
    }

    /// Unpublishes a key: tokens it signed become invalid. The current signing key cannot be
    /// removed (rotate first). Returns whether a key was removed.
    pub fn remove_key(&self, kid: &str) -> bool {
        let mut state = self.shared.lock();
        if state.current.kid() == kid {
            return false;
        }
        let before = state.keys.len();
        state.keys.retain(|key| key.kid() != kid);
        state.keys.len() != before
    }

    /// The `kid` of the current signing key.
    pub fn current_kid(&self) -> String {
        self.shared.lock().current.kid().to_owned()
    }

    /// The `kid`s of all published keys, oldest first.
    pub fn published_kids(&self) -> Vec<String> {
        let state = self.shared.lock();
        state.keys.iter().map(|key| key.kid().to_owned()).collect()
    }

    /// The current signing key's public key as SubjectPublicKeyInfo PEM
    /// (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_key_pem(&self) -> String {
        self.shared.lock().current.public_pem().to_owned()
    }

    /// How many requests reached `endpoint` (faulted ones included) since start or the last
    /// [`MockIssuer::reset_calls`].
    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.shared.calls(endpoint)
    }

    /// Sets every call counter to zero.
    pub fn reset_calls(&self) {
        self.shared.reset_calls();
    }

    /// Sets the fault of the verifytoken endpoint. Returns once it is in effect: after
    /// [`Fault::Down`], new connections are refused; after clearing `Down` (when no other
    /// endpoint's fault is `Down` either: they share the port), the same port is listening
    /// again.
    ///
    /// # Errors
    ///
    /// The port could not be bound again (see [`Fault::Down`]; another socket may have
    /// taken it meanwhile).
    pub async fn set_fault(&self, fault: Fault) -> io::Result<()> {
        self.shared.lock().verify_fault = fault;
        self.apply_down().await
    }

    /// Sets the fault of the JWKS endpoint; see [`MockIssuer::set_fault`].
    ///
    /// # Errors
    ///
    /// As for [`MockIssuer::set_fault`].
    pub async fn set_jwks_fault(&self, fault: Fault) -> io::Result<()> {
        self.shared.lock().jwks_fault = fault;
        self.apply_down().await
    }

    /// The verifytoken endpoint's current fault.
    pub fn fault(&self) -> Fault {
        self.shared.lock().verify_fault
    }

    /// The JWKS endpoint's current fault.
    pub fn jwks_fault(&self) -> Fault {
        self.shared.lock().jwks_fault
    }

    /// Starts or stops the listener to match the faults.
    async fn apply_down(&self) -> io::Result<()> {
        listener::reconcile(&self.shared).await
    }

    /// Stops the server: no new connections; requests in progress get up to two seconds
    /// (slow answers are cut short), then the serving task is aborted.
    pub async fn shutdown(self) {
        listener::shutdown(&self.shared).await;
    }
}

impl Drop for MockIssuer {
    fn drop(&mut self) {
        listener::shutdown_now(&self.shared);
    }
}
