//! The issuer's shared state: configuration, keys, clients, revocations, faults, counters.
//!
//! Everything lives behind one `Arc<Shared>`. Mutable state sits in a `std::sync::Mutex`
//! that is only ever held for a few field reads or writes, never across an `.await` and never
//! during RSA work (keys are `Arc`s, cloned out before signing or checking).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::faults::Fault;
use crate::keys::{MockError, SigningKey, random_id};
use crate::opaque::OpaqueState;
use crate::socket::{Control, ServerSlot};

/// An endpoint of the mock issuer, for [`MockIssuer::calls`](crate::MockIssuer::calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/getOauthToken.php` without a `verifytoken` field (token requests,
    /// including the ones answered 401 or 400).
    Token,
    /// `POST /v1/getOauthToken.php` with a `verifytoken` field.
    Verify,
    /// `GET /.well-known/jwks.json`.
    Jwks,
    /// `GET /.well-known/openid-configuration`.
    Discovery,
    /// `POST /oauth2/introspect` (RFC 7662), client authentication failures included.
    Introspection,
    /// `POST /rest/<method>` of the Bitrix24 portal stand-in (one count per HTTP request; a
    /// `batch` counts once).
    Bitrix24,
    /// `POST /Api/access_token` (SuiteCRM) and `POST /api.php/auth/user/access_token` (1CRM):
    /// client credentials in a JSON body, refused and faulted requests included.
    JsonToken,
    /// `POST /oauth2/token`: RFC 6749 client credentials as a form, refused and faulted
    /// requests included.
    FormToken,
}

impl Endpoint {
    fn index(self) -> usize {
        match self {
            Endpoint::Token => 0,
            Endpoint::Verify => 1,
            Endpoint::Jwks => 2,
            Endpoint::Discovery => 3,
            Endpoint::Introspection => 4,
            Endpoint::Bitrix24 => 5,
            Endpoint::JsonToken => 6,
            Endpoint::FormToken => 7,
        }
    }
}

/// What to put in a token minted with [`MockIssuer::mint`](crate::MockIssuer::mint).
///
/// Every field is optional; unset fields take the issuer's settings (subject: the
/// configured subject or `"mock-user"`; scope: the default scope; lifetime: the current
/// token lifetime; audience: the issuer's audience).
///
/// ```
/// use bearer_guard_mock::MintOptions;
/// use std::time::Duration;
///
/// let options = MintOptions::default()
///     .subject("alice")
///     .scope("read")
///     .lifetime(Duration::from_secs(1))
///     .claim("tenant", "acme");
/// assert_eq!(options.subject.as_deref(), Some("alice"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct MintOptions {
    /// The `sub` claim.
    pub subject: Option<String>,
    /// The `scope` claim (space-separated).
    pub scope: Option<String>,
    /// Time from `iat` to `exp` (whole seconds; sub-second parts are dropped).
    pub lifetime: Option<Duration>,
    /// The `aud` claim.
    pub audience: Option<String>,
    /// Further claims, inserted last: they replace standard claims of the same name, which
    /// lets a test craft e.g. a wrong `iss` or an `exp` in the past.
    pub extra_claims: Map<String, Value>,
}

impl MintOptions {
    /// Sets the `sub` claim.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the `scope` claim (space-separated scopes).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the token lifetime.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Sets the `aud` claim.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Adds (or replaces) one claim.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra_claims.insert(name.into(), value.into());
        self
    }
}

/// The shape of the last request to a token endpoint, for tests of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    /// The request path (`/v1/getOauthToken.php`, `/Api/access_token`, …).
    pub path: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Accept` header, if any.
    pub accept: Option<String>,
    /// Client id and secret decoded from `Authorization: Basic`
    /// (`base64(urlencode(id) ":" urlencode(secret))`), if that header was sent and decoded.
    pub basic: Option<(String, String)>,
    /// The body's length in bytes.
    pub body_len: usize,
    /// The form fields of an `application/x-www-form-urlencoded` body, in order.
    pub form: Vec<(String, String)>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
}

/// Settings fixed at start.
pub(crate) struct Config {
    pub(crate) addr: SocketAddr,
    pub(crate) base_url: String,
    pub(crate) token_url: String,
    pub(crate) jwks_url: String,
    pub(crate) discovery_url: String,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) default_scope: String,
    pub(crate) subject: Option<String>,
    pub(crate) jwks_max_age: Duration,
}

/// A registered client.
pub(crate) struct Client {
    pub(crate) secret: String,
    pub(crate) scope: Option<String>,
}

/// Mutable state, behind [`Shared::state`].
pub(crate) struct State {
    /// Published keys, oldest first. Never empty: the current key is always published.
    pub(crate) keys: Vec<Arc<SigningKey>>,
    /// The key that signs new tokens.
    pub(crate) current: Arc<SigningKey>,
    pub(crate) clients: HashMap<String, Client>,
    /// Revoked tokens (the exact token text).
    pub(crate) revoked: HashSet<String>,
    pub(crate) lifetime: Duration,
    pub(crate) verify_fault: Fault,
    pub(crate) jwks_fault: Fault,
    /// The token endpoints' fault (crm-now, JSON, form), and for how many more requests it
    /// holds (`None`: until changed).
    pub(crate) token_fault: Fault,
    pub(crate) token_fault_left: Option<u64>,
    /// The shape of the last token request (any of the three token endpoints).
    pub(crate) last_token_request: Option<TokenRequest>,
    /// The token sources for opaque tokens (introspection, Bitrix24).
    pub(crate) opaque: OpaqueState,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    state: Mutex<State>,
    calls: [AtomicU64; 8],
    pub(crate) control: watch::Sender<Control>,
    /// The running listener, if any. An async mutex on purpose: it serialises starting and
    /// stopping the listener (which awaits); it guards no request-visible state.
    pub(crate) server: tokio::sync::Mutex<ServerSlot>,
}

impl Shared {
    pub(crate) fn new(config: Config, state: State) -> Self {
        Shared {
            config,
            state: Mutex::new(state),
            calls: Default::default(),
            control: watch::Sender::new(Control::default()),
            server: tokio::sync::Mutex::new(ServerSlot::default()),
        }
    }

    /// Locks the state. A poisoned lock is still usable: every critical section leaves the
    /// state consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn count(&self, endpoint: Endpoint) {
        self.calls[endpoint.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn calls(&self, endpoint: Endpoint) -> u64 {
        self.calls[endpoint.index()].load(Ordering::Relaxed)
    }

    pub(crate) fn reset_calls(&self) {
        for counter in &self.calls {
            counter.store(0, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.control.borrow().closing
    }

    /// Mints a signed token. Signing happens outside the lock.
    pub(crate) fn mint(&self, options: MintOptions) -> Result<String, MockError> {
        let (key, lifetime) = {
            let state = self.lock();
            (Arc::clone(&state.current), state.lifetime)
        };
        let lifetime = options.lifetime.unwrap_or(lifetime);
        let iat = unix_now();
        let subject = options
            .subject
            .or_else(|| self.config.subject.clone())
            .unwrap_or_else(|| "mock-user".to_owned());
        let mut claims = Map::new();
        claims.insert("iss".into(), self.config.issuer.clone().into());
        let audience = options
            .audience
            .unwrap_or_else(|| self.config.audience.clone());
        claims.insert("aud".into(), audience.into());
        claims.insert("sub".into(), subject.into());
        let scope = options
            .scope
            .unwrap_or_else(|| self.config.default_scope.clone());
        claims.insert("scope".into(), scope.into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), iat.saturating_add(lifetime.as_secs()).into());
        claims.insert("jti".into(), random_id()?.into());
        claims.extend(options.extra_claims);
        key.sign(&claims)
    }

    /// Whether `token` is one this issuer signed with a still-published key, not expired,
    /// not revoked.
    pub(crate) fn is_valid(&self, token: &str) -> bool {
        let Some(kid) = crate::keys::rs256_kid(token) else {
            return false;
        };
        let candidates: Vec<Arc<SigningKey>> = {
            let state = self.lock();
            if state.revoked.contains(token) {
                return false;
            }
            state
                .keys
                .iter()
                .filter(|key| kid.as_deref().is_none_or(|kid| kid == key.kid()))
                .cloned()
                .collect()
        };
        candidates.iter().any(|key| key.accepts(token))
    }
}

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
