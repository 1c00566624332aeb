//! Opaque-token sources: the registered tokens, faults, per-token counters and recorded
//! requests of the introspection endpoint and the Bitrix24 portal stand-in, and the
//! [`MockIssuer`] methods that steer them.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::INTROSPECTION_PATH;
use crate::faults::Fault;
use crate::issuer::MockIssuer;
use crate::keys::{MockError, random_id};
use crate::state::Shared;
use crate::state::unix_now;

/// Most request URIs kept by [`MockIssuer::request_uris`] (the oldest are dropped).
const MAX_RECORDED_URIS: usize = 4096;

/// A token registered with the Bitrix24 portal stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitrix24Token {
    /// The application's code (`result.CODE` of `app.info`).
    pub app_code: String,
    /// The user the token was issued to (`result.ID` of `profile`, sent as a string).
    pub user_id: u64,
    /// The application's scopes (`result` of `scope`).
    pub scopes: Vec<String>,
    /// Whether the token has expired: the portal answers `401 expired_token`.
    pub expired: bool,
}

impl Bitrix24Token {
    /// A token of user `user_id` for the application `app_code` with `scopes`, not expired.
    pub fn new<I, S>(user_id: u64, app_code: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Bitrix24Token {
            app_code: app_code.into(),
            user_id,
            scopes: scopes.into_iter().map(Into::into).collect(),
            expired: false,
        }
    }
}

/// The shape of the last request to the introspection endpoint, for tests of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntrospectionRequest {
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Accept` header, if any.
    pub accept: Option<String>,
    /// Client id and secret decoded from `Authorization: Basic`
    /// (`base64(urlencode(id) ":" urlencode(secret))`), if that header was sent and decoded.
    pub basic: Option<(String, String)>,
    /// The form fields of the body, in order (the token included).
    pub form: Vec<(String, String)>,
}

/// Mutable state of the opaque-token sources (inside the issuer's state lock).
#[derive(Default)]
pub(crate) struct OpaqueState {
    /// Resource servers allowed to introspect: id → secret. Empty: no authentication asked.
    pub(crate) introspection_clients: HashMap<String, String>,
    /// Active tokens and the members their introspection answer carries.
    pub(crate) introspection_tokens: HashMap<String, Map<String, Value>>,
    pub(crate) introspection_fault: Fault,
    pub(crate) last_introspection: Option<IntrospectionRequest>,
    pub(crate) bitrix24_tokens: HashMap<String, Bitrix24Token>,
    pub(crate) bitrix24_fault: Fault,
    /// Requests per token (introspection and Bitrix24 alike).
    pub(crate) token_calls: HashMap<String, u64>,
    /// Path and query of every request to the two sources, oldest first.
    pub(crate) uris: VecDeque<String>,
}

impl OpaqueState {
    pub(crate) fn count_token(&mut self, token: &str) {
        *self.token_calls.entry(token.to_owned()).or_default() += 1;
    }

    pub(crate) fn record_uri(&mut self, uri: String) {
        if self.uris.len() == MAX_RECORDED_URIS {
            self.uris.pop_front();
        }
        self.uris.push_back(uri);
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
