//! [`MockIssuerBuilder`]: the issuer's settings and its start.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::faults::Fault;
use crate::issuer::MockIssuer;
use crate::keys::SigningKey;
use crate::listener;
use crate::paths::{DISCOVERY_PATH, JWKS_PATH, TOKEN_PATH};
use crate::state::{Client, Config, Shared, State};

/// Default `aud` claim.
const DEFAULT_AUDIENCE: &str = "bearer-guard-demo";
/// Default `scope` of issued tokens.
const DEFAULT_SCOPE: &str = "read write profile";
/// Default token lifetime (crm-now's `expires_in`).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Default JWKS `Cache-Control: max-age`.
const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// Settings for a [`MockIssuer`]; start it with [`MockIssuerBuilder::start`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct MockIssuerBuilder {
    issuer: Option<String>,
    audience: String,
    scope: String,
    subject: Option<String>,
    lifetime: Duration,
    jwks_max_age: Duration,
    port: u16,
    clients: Vec<(String, String, Option<String>)>,
    introspection_clients: Vec<(String, String)>,
}

impl MockIssuer {
    /// See [`MockIssuerBuilder::start`].
    pub async fn start() -> io::Result<MockIssuer> {
        MockIssuerBuilder::default().start().await
    }

    /// Settings for a new issuer.
    pub fn builder() -> MockIssuerBuilder {
        MockIssuerBuilder::default()
    }
}

impl Default for MockIssuerBuilder {
    fn default() -> Self {
        MockIssuerBuilder {
            issuer: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            scope: DEFAULT_SCOPE.to_owned(),
            subject: None,
            lifetime: DEFAULT_LIFETIME,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            port: 0,
            clients: Vec::new(),
            introspection_clients: Vec::new(),
        }
    }
}

impl MockIssuerBuilder {
    /// The `iss` claim and discovery `issuer` (default: the server's own base URL,
    /// `http://127.0.0.1:<port>`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` claim (default `"bearer-guard-demo"`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The scope of tokens for clients without their own scope, and of minted tokens
    /// (default `"read write profile"`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The `sub` claim of every token (default: the client id for token requests,
    /// `"mock-user"` for [`MockIssuer::mint`]).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Token lifetime, `expires_in` (default 300 s; whole seconds count).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// `Cache-Control: max-age` of the JWKS answer (default 300 s).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// The port on 127.0.0.1 (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Registers a client whose tokens get the default scope.
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.clients.push((id.into(), secret.into(), None));
        self
    }

    /// Registers a client whose tokens get `scope`.
    pub fn client_with_scope(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
        scope: impl Into<String>,
    ) -> Self {
        self.clients
            .push((id.into(), secret.into(), Some(scope.into())));
        self
    }

    /// Registers a resource server allowed to call the introspection endpoint. Once one is
    /// registered, the endpoint demands client authentication (Basic or in the body).
    pub fn introspection_client(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.introspection_clients.push((id.into(), secret.into()));
        self
    }

    /// Generates the first signing key, binds `127.0.0.1:<port>` and starts serving on the
    /// current tokio runtime.
    ///
    /// # Errors
    ///
    /// Binding fails, or the key cannot be generated (reported as [`io::ErrorKind::Other`]).
    pub async fn start(self) -> io::Result<MockIssuer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let addr = listener.local_addr()?;
        let key = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)?;
        let key = Arc::new(key);

        let base_url = format!("http://{addr}");
        let config = Config {
            addr,
            token_url: format!("{base_url}{TOKEN_PATH}"),
            jwks_url: format!("{base_url}{JWKS_PATH}"),
            discovery_url: format!("{base_url}{DISCOVERY_PATH}"),
            issuer: self.issuer.unwrap_or_else(|| base_url.clone()),
            base_url,
            audience: self.audience,
            default_scope: self.scope,
            subject: self.subject,
            jwks_max_age: self.jwks_max_age,
        };
        let clients = self
            .clients
            .into_iter()
            .map(|(id, secret, scope)| (id, Client { secret, scope }))
            .collect::<HashMap<_, _>>();
        let state = State {
            keys: vec![Arc::clone(&key)],
            current: key,
            clients,
            revoked: HashSet::new(),
            lifetime: self.lifetime,
            verify_fault: Fault::None,
            jwks_fault: Fault::None,
            token_fault: Fault::None,
            token_fault_left: None,
            last_token_request: None,
            opaque: crate::opaque::OpaqueState {
                introspection_clients: self.introspection_clients.into_iter().collect(),
                ..Default::default()
            },
        };
        let shared = Arc::new(Shared::new(config, state));
        {
            let mut slot = shared.server.lock().await;
            listener::spawn(&shared, &mut slot, listener);
        }
        tracing::debug!(%addr, "mock crm-now issuer started");
        Ok(MockIssuer::from_shared(shared))
    }
}
