//! The public handle: [`MockIssuer`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::faults::Fault;
use crate::keys::{MockError, SigningKey, random_id};
use crate::listener;
use crate::opaque::{Bitrix24Token, IntrospectionRequest};
use crate::paths::{FORM_TOKEN_PATH, INTROSPECTION_PATH, ONECRM_TOKEN_PATH, SUITECRM_TOKEN_PATH};
use crate::state::{Client, Endpoint, MintOptions, Shared, TokenRequest, unix_now};

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

/// The token endpoints.
impl MockIssuer {
    /// SuiteCRM's token endpoint, `<base>/Api/access_token` (client credentials in a JSON body).
    pub fn suitecrm_token_url(&self) -> String {
        format!("{}{SUITECRM_TOKEN_PATH}", self.base_url())
    }

    /// 1CRM's API entry point, `<base>/api.php`; its token endpoint is
    /// [`onecrm_token_url`](Self::onecrm_token_url).
    pub fn onecrm_api_url(&self) -> String {
        format!("{}/api.php", self.base_url())
    }

    /// 1CRM's token endpoint for users, `<base>/api.php/auth/user/access_token` (client
    /// credentials in a JSON body).
    pub fn onecrm_token_url(&self) -> String {
        format!("{}{ONECRM_TOKEN_PATH}", self.base_url())
    }

    /// The RFC 6749 form token endpoint, `<base>/oauth2/token`.
    pub fn form_token_url(&self) -> String {
        format!("{}{FORM_TOKEN_PATH}", self.base_url())
    }

    /// Sets the fault of the three token endpoints (crm-now's token requests, the JSON and the
    /// form endpoint) until changed; see [`MockIssuer::set_fault`]. A client that is refused
    /// (`invalid_client`) under [`Fault::None`] gets the fault's answer instead.
    ///
    /// # Errors
    ///
    /// As for [`MockIssuer::set_fault`].
    pub async fn set_token_fault(&self, fault: Fault) -> io::Result<()> {
        {
            let mut state = self.shared.lock();
            state.token_fault = fault;
            state.token_fault_left = None;
        }
        crate::listener::reconcile(&self.shared).await
    }

    /// Makes the next `requests` token requests (any of the three endpoints) get `fault`;
    /// after them the endpoints behave again. `requests == 0` clears the fault.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for [`Fault::Down`], which closes the port and so
    /// cannot count requests (use [`MockIssuer::set_token_fault`]); otherwise as for
    /// [`MockIssuer::set_fault`] (a `Down` set before is replaced, so the port opens again).
    pub async fn set_token_fault_for_next(&self, fault: Fault, requests: u64) -> io::Result<()> {
        if fault == Fault::Down {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Fault::Down cannot be limited to a number of requests",
            ));
        }
        {
            let mut state = self.shared.lock();
            if requests == 0 {
                state.token_fault = Fault::None;
                state.token_fault_left = None;
            } else {
                state.token_fault = fault;
                state.token_fault_left = Some(requests);
            }
        }
        crate::listener::reconcile(&self.shared).await
    }

    /// The token endpoints' current fault.
    pub fn token_fault(&self) -> Fault {
        self.shared.lock().token_fault
    }

    /// The shape of the last request any token endpoint received.
    pub fn last_token_request(&self) -> Option<TokenRequest> {
        self.shared.lock().last_token_request.clone()
    }
}

/// Opaque-token sources.
impl MockIssuer {
    fn opaque_shared(&self) -> &Shared {
        &self.shared
    }

    /// The RFC 7662 introspection endpoint, `<base>/oauth2/introspect`.
    pub fn introspection_url(&self) -> String {
        format!("{}{INTROSPECTION_PATH}", self.base_url())
    }

    /// The Bitrix24 portal's base URL (the same as [`MockIssuer::base_url`]); its methods are
    /// under `<base>/rest/`.
    pub fn bitrix24_portal_url(&self) -> &str {
        self.base_url()
    }

    /// Registers (or replaces) a resource server allowed to introspect; see
    /// [`MockIssuerBuilder::introspection_client`](crate::MockIssuerBuilder::introspection_client).
    pub fn add_introspection_client(&self, id: impl Into<String>, secret: impl Into<String>) {
        let mut state = self.opaque_shared().lock();
        state
            .opaque
            .introspection_clients
            .insert(id.into(), secret.into());
    }

    /// Registers (or replaces) an active token: the endpoint answers `{"active": true}` plus
    /// exactly `members` (verbatim: an `exp` in the past is sent as it is, like a lying or
    /// clock-skewed server would).
    pub fn add_introspection_token(&self, token: impl Into<String>, members: Map<String, Value>) {
        let mut state = self.opaque_shared().lock();
        state
            .opaque
            .introspection_tokens
            .insert(token.into(), members);
    }

    /// Issues a random opaque token, registered as active with `sub`, `scope`, `iss` (the
    /// issuer), `aud` (the audience), `client_id`, `token_type: "Bearer"`, `iat` and `exp`
    /// (`lifetime` from now).
    ///
    /// # Errors
    ///
    /// The random generator failed.
    pub fn issue_introspection_token(
        &self,
        subject: &str,
        scope: &str,
        lifetime: Duration,
    ) -> Result<String, MockError> {
        let token = format!("it_{}", random_id()?);
        let now = unix_now();
        let mut members = Map::new();
        members.insert("sub".into(), subject.into());
        members.insert("scope".into(), scope.into());
        members.insert("iss".into(), self.issuer().into());
        members.insert("aud".into(), self.audience().into());
        members.insert("client_id".into(), "mock-client".into());
        members.insert("token_type".into(), "Bearer".into());
        members.insert("iat".into(), now.into());
        members.insert("exp".into(), now.saturating_add(lifetime.as_secs()).into());
        self.add_introspection_token(token.clone(), members);
        Ok(token)
    }

    /// Makes a registered token inactive (`{"active": false}` from now on); returns whether it
    /// was registered.
    pub fn revoke_introspection_token(&self, token: &str) -> bool {
        let mut state = self.opaque_shared().lock();
        state.opaque.introspection_tokens.remove(token).is_some()
    }

    /// The shape of the last request the introspection endpoint received.
    pub fn last_introspection_request(&self) -> Option<IntrospectionRequest> {
        self.opaque_shared()
            .lock()
            .opaque
            .last_introspection
            .clone()
    }

    /// Sets the introspection endpoint's fault (see [`MockIssuer::set_fault`]).
    ///
    /// # Errors
    ///
    /// As for [`MockIssuer::set_fault`].
    pub async fn set_introspection_fault(&self, fault: Fault) -> io::Result<()> {
        self.opaque_shared().lock().opaque.introspection_fault = fault;
        crate::listener::reconcile(&self.shared).await
    }

    /// Registers (or replaces) a Bitrix24 token.
    pub fn add_bitrix24_token(&self, token: impl Into<String>, details: Bitrix24Token) {
        let mut state = self.opaque_shared().lock();
        state.opaque.bitrix24_tokens.insert(token.into(), details);
    }

    /// Issues a random opaque token (URL-safe characters) registered for `details`.
    ///
    /// # Errors
    ///
    /// The random generator failed.
    pub fn issue_bitrix24_token(&self, details: Bitrix24Token) -> Result<String, MockError> {
        let token = random_id()?.to_ascii_lowercase();
        self.add_bitrix24_token(token.clone(), details);
        Ok(token)
    }

    /// Marks a registered Bitrix24 token expired (`401 expired_token`); returns whether it was
    /// registered.
    pub fn expire_bitrix24_token(&self, token: &str) -> bool {
        let mut state = self.opaque_shared().lock();
        match state.opaque.bitrix24_tokens.get_mut(token) {
            Some(details) => {
                details.expired = true;
                true
            }
            None => false,
        }
    }

    /// Sets the Bitrix24 portal's fault (see [`MockIssuer::set_fault`]).
    ///
    /// # Errors
    ///
    /// As for [`MockIssuer::set_fault`].
    pub async fn set_bitrix24_fault(&self, fault: Fault) -> io::Result<()> {
        self.opaque_shared().lock().opaque.bitrix24_fault = fault;
        crate::listener::reconcile(&self.shared).await
    }

    /// How many requests to the introspection endpoint or the Bitrix24 portal carried `token`
    /// (a Bitrix24 `batch` counts once), faulted ones included.
    pub fn token_calls(&self, token: &str) -> u64 {
        let state = self.opaque_shared().lock();
        state.opaque.token_calls.get(token).copied().unwrap_or(0)
    }

    /// Path and query of the requests the introspection endpoint and the Bitrix24 portal
    /// received, oldest first (at most the last 4,096).
    pub fn request_uris(&self) -> Vec<String> {
        let state = self.opaque_shared().lock();
        state.opaque.uris.iter().cloned().collect()
    }
}
