//! Opaque-token sources: the registered tokens, faults, per-token counters and recorded
//! requests of the introspection endpoint and the Bitrix24 portal stand-in (the
//! [`MockIssuer`](crate::MockIssuer) methods that steer them are in `issuer.rs`).

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value};

use crate::faults::Fault;

/// Most request URIs kept by [`MockIssuer::request_uris`](crate::MockIssuer::request_uris) (the oldest are dropped).
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
