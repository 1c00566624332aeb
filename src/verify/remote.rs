//! [`RemoteVerifier`]: asks crm-now's central OAuth2 endpoint whether a token is valid.
//!
//! The request is `POST <endpoint>` with the form field `verifytoken=<token>`
//! (`application/x-www-form-urlencoded` by default; [`FormEncoding::Multipart`] sends what
//! crm-now's curl example sends — its PHP endpoint reads both). The answer decides:
//!
//! | answer | verdict |
//! |---|---|
//! | 2xx, a JSON object whose `result` is the boolean `true` | valid |
//! | 2xx or 4xx, a JSON object whose `result` is the boolean `false` | invalid (401) |
//! | anything else: refused, DNS failure, timeout, 1xx/3xx/5xx, not JSON, `"result": "true"`, `"result": 1`, truncated JSON, a body over the cap, 4xx with `result: true`, `result` more than once | unavailable (503) |
//!
//! Nothing but a literal `true` is ever read as valid. Redirects are not followed (a redirect
//! would carry the token elsewhere): a 3xx is unavailable.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use super::{BoxFuture, Verdict, Verifier};
use crate::error::ConfigError;
use crate::outbound::{self, BodyError, DEFAULT_MAX_RESPONSE_BYTES, read_body_capped};
use crate::principal::{Claims, Principal, VerifierKind};
use crate::token::BearerToken;

/// crm-now's production endpoint, from its partner documentation.
pub const CRM_NOW_VERIFY_URL: &str = "https://api.i1.crm-now.de/v1/getOauthToken.php";
/// Default cap on calls to the endpoint at once: 64. Further calls queue within the timeout.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 64;
/// Longest `timeout` / `connect_timeout` accepted: 10 minutes (a deadline must fit the clock).
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest `max_response_bytes` accepted: 16 MiB.
const MAX_RESPONSE_BYTES_LIMIT: usize = 16 * 1024 * 1024;

/// How the `verifytoken` field is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FormEncoding {
    /// `application/x-www-form-urlencoded` (what crm-now's PHP example sends). The default.
    #[default]
    UrlEncoded,
    /// `multipart/form-data` (what crm-now's curl example sends).
    Multipart,
}

/// Verifies tokens against crm-now's `verifytoken` endpoint. See the [module docs](self).
pub struct RemoteVerifier {
    client: reqwest::Client,
    url: Url,
    encoding: FormEncoding,
    max_response_bytes: usize,
    timeout: Duration,
    permits: Arc<Semaphore>,
}

impl RemoteVerifier {
    /// A builder with crm-now's production endpoint and the defaults below.
    pub fn builder() -> RemoteVerifierBuilder {
        RemoteVerifierBuilder {
            url: CRM_NOW_VERIFY_URL.to_owned(),
            client: None,
            encoding: FormEncoding::UrlEncoded,
            connect_timeout: outbound::DEFAULT_CONNECT_TIMEOUT,
            timeout: outbound::DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allow_plain_http: false,
        }
    }

    /// The endpoint this verifier calls.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    async fn call(&self, token: &BearerToken) -> Verdict {
        // One deadline covers waiting for a permit and the call itself.
        let deadline = Instant::now() + self.timeout;
        let Ok(Ok(_permit)) = timeout_at(deadline, self.permits.acquire()).await else {
            return Verdict::unavailable(
                "too many verification calls in flight; queue wait timed out",
            );
        };
        let request = self.client.post(self.url.clone());
        let request = match self.encoding {
            FormEncoding::UrlEncoded => request.form(&[("verifytoken", token.as_str())]),
            FormEncoding::Multipart => request.multipart(
                reqwest::multipart::Form::new().text("verifytoken", token.as_str().to_owned()),
            ),
        };
        let exchange = async {
            let response = request
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| RemoteErrorKind::Transport(e.without_url()))?;
            let status = response.status();
            let body = read_body_capped(response, self.max_response_bytes)
                .await
                .map_err(|e| RemoteErrorKind::Body(e.without_url()))?;
            Ok::<_, RemoteErrorKind>((status, body))
        };
        match timeout_at(deadline, exchange).await {
            Err(_) => {
                Verdict::unavailable(RemoteError::from(RemoteErrorKind::Timeout(self.timeout)))
            }
            Ok(Err(kind)) => Verdict::unavailable(RemoteError::from(kind)),
            Ok(Ok((status, body))) => match read_answer(status, &body) {
                Reply::Valid => Verdict::Valid(principal_for(token)),
                Reply::Invalid => Verdict::invalid("verifytoken answered result: false"),
                Reply::Unusable(problem) => {
                    Verdict::unavailable(RemoteError::from(RemoteErrorKind::Reply {
                        status,
                        problem,
                    }))
                }
            },
        }
    }
}

impl Verifier for RemoteVerifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(self.call(token))
    }

    /// `remote`.
    fn kind(&self) -> crate::VerifierKind {
        crate::VerifierKind::Remote
    }
}

impl fmt::Debug for RemoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteVerifier")
            .field("url", &self.url.as_str())
            .field("encoding", &self.encoding)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// Why a remote verification could not decide. Kept for logs; never sent to a client, and
/// never carries the token or the upstream's body.
///
/// Opaque, in reqwest's style: ask it [`is_timeout`](Self::is_timeout),
/// [`is_connect`](Self::is_connect), [`status`](Self::status); the underlying cause, when
/// there is one, is its [`source`](std::error::Error::source) (not repeated in `Display`).
pub struct RemoteError {
    kind: RemoteErrorKind,
}

enum RemoteErrorKind {
    /// Connecting or talking to the endpoint failed (refused, DNS, TLS, reset).
    Transport(reqwest::Error),
    /// The answer's body could not be read or was too large.
    Body(BodyError),
    /// No complete answer within the timeout.
    Timeout(Duration),
    /// The answer was read but is not a usable verdict.
    Reply {
        status: StatusCode,
        problem: &'static str,
    },
}

impl RemoteError {
    /// Whether the endpoint did not answer in time (the verifier's timeout, or the HTTP
    /// client's).
    pub fn is_timeout(&self) -> bool {
        match &self.kind {
            RemoteErrorKind::Timeout(_) => true,
            RemoteErrorKind::Transport(error) => error.is_timeout(),
            RemoteErrorKind::Body(error) => error.is_timeout(),
            RemoteErrorKind::Reply { .. } => false,
        }
    }

    /// Whether the connection to the endpoint could not be opened (refused, DNS, TLS).
    pub fn is_connect(&self) -> bool {
        match &self.kind {
            RemoteErrorKind::Transport(error) => error.is_connect(),
            RemoteErrorKind::Body(_)
            | RemoteErrorKind::Timeout(_)
            | RemoteErrorKind::Reply { .. } => false,
        }
    }

    /// The HTTP status of an answer that was read but is not a usable verdict (a 5xx, a 3xx,
    /// a body that is not the expected JSON); `None` when no answer was read.
    pub fn status(&self) -> Option<http::StatusCode> {
        match &self.kind {
            RemoteErrorKind::Reply { status, .. } => Some(*status),
            RemoteErrorKind::Transport(_)
            | RemoteErrorKind::Body(_)
            | RemoteErrorKind::Timeout(_) => None,
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RemoteErrorKind::Transport(_) => f.write_str("verify endpoint unreachable"),
            RemoteErrorKind::Body(_) => f.write_str("verify endpoint answer unreadable"),
            RemoteErrorKind::Timeout(after) => {
                write!(f, "verify endpoint did not answer within {after:?}")
            }
            RemoteErrorKind::Reply { status, problem } => {
                write!(f, "verify endpoint answered {status}: {problem}")
            }
        }
    }
}

impl fmt::Debug for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RemoteError");
        match &self.kind {
            RemoteErrorKind::Transport(error) => debug.field("transport", error),
            RemoteErrorKind::Body(error) => debug.field("body", error),
            RemoteErrorKind::Timeout(after) => debug.field("timeout", after),
            RemoteErrorKind::Reply { status, problem } => {
                debug.field("status", status).field("problem", problem)
            }
        };
        debug.finish()
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RemoteErrorKind::Transport(error) => Some(error),
            RemoteErrorKind::Body(error) => Some(error),
            RemoteErrorKind::Timeout(_) | RemoteErrorKind::Reply { .. } => None,
        }
    }
}

impl From<RemoteErrorKind> for RemoteError {
    fn from(kind: RemoteErrorKind) -> Self {
        RemoteError { kind }
    }
}

/// What the endpoint's answer says.
pub(crate) enum Reply {
    Valid,
    Invalid,
    Unusable(&'static str),
}

/// Reads the endpoint's answer. Only a 2xx JSON object with exactly one `result` member, the
/// boolean `true`, is valid.
pub(crate) fn read_answer(status: StatusCode, body: &[u8]) -> Reply {
    if !(status.is_success() || status.is_client_error()) {
        return Reply::Unusable("status is neither 2xx nor 4xx");
    }
    // JSON text is UTF-8 (RFC 8259 §8.1), and serde skips unread members without checking
    // their bytes: check the whole body first, so that invalid JSON is never read as a verdict.
    let Ok(body) = std::str::from_utf8(body) else {
        return Reply::Unusable("body is not UTF-8");
    };
    let result = match serde_json::from_str::<ResultMember>(body) {
        Ok(ResultMember::Once(result)) => Some(result),
        Ok(ResultMember::Absent) => None,
        Ok(ResultMember::Repeated) => return Reply::Unusable("result appears more than once"),
        Err(_) => return Reply::Unusable("body is not a JSON object"),
    };
    match result {
        Some(Value::Bool(true)) if status.is_success() => Reply::Valid,
        Some(Value::Bool(true)) => Reply::Unusable("result true with a 4xx status"),
        Some(Value::Bool(false)) => Reply::Invalid,
        Some(_) => Reply::Unusable("result is not a boolean"),
        None => Reply::Unusable("no result field"),
    }
}

/// The `result` member of a JSON object, read in one pass that notices a second `result`:
/// `{"result": false, "result": true}` is ambiguous (a map keeps the last one, other parsers
/// the first), so it is no answer at all. Other members are skipped unparsed (still checked to
/// be well-formed JSON).
enum ResultMember {
    Absent,
    Once(Value),
    Repeated,
}

impl<'de> serde::Deserialize<'de> for ResultMember {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ResultMember;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ResultMember, A::Error> {
                let mut found = ResultMember::Absent;
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if name != "result" {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        continue;
                    }
                    found = match found {
                        ResultMember::Absent => ResultMember::Once(map.next_value()?),
                        ResultMember::Once(_) | ResultMember::Repeated => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            ResultMember::Repeated
                        }
                    };
                }
                Ok(found)
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The principal for a token the endpoint said is valid: when the token is a JWT, its
/// payload gives subject, scopes and expiry.
fn principal_for(token: &BearerToken) -> Principal {
    match unverified_claims(token.as_str()) {
        Some(claims) => Principal::from_claims(VerifierKind::Remote, claims),
        None => Principal::builder(VerifierKind::Remote).build(),
    }
}

/// DANGER: reads a JWT's payload **without checking its signature**. Called only after the
/// remote endpoint has said the token is valid, to learn what the endpoint vouched for.
fn unverified_claims(token: &str) -> Option<Claims> {
    let data = jsonwebtoken::dangerous::insecure_decode::<Claims>(token).ok()?;
    Some(data.claims)
}

/// Builds a [`RemoteVerifier`]. Every setter states its default.
#[derive(Debug)]
#[must_use]
pub struct RemoteVerifierBuilder {
    url: String,
    client: Option<reqwest::Client>,
    encoding: FormEncoding,
    connect_timeout: Duration,
    timeout: Duration,
    max_concurrent_calls: usize,
    max_response_bytes: usize,
    allow_plain_http: bool,
}

impl RemoteVerifierBuilder {
    /// The `verifytoken` endpoint. Default: [`CRM_NOW_VERIFY_URL`]. Must be `https`, except
    /// to a loopback address or with [`allow_plain_http`](Self::allow_plain_http).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The HTTP client to share (its own timeouts and proxy settings apply too). Default: a
    /// client of bearer-guard's own with [`connect_timeout`](Self::connect_timeout) and
    /// [`timeout`](Self::timeout), rustls, no redirects, and no proxy (the `*_PROXY`
    /// environment variables are ignored; inject a client to use one).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// How the `verifytoken` field is sent. Default: [`FormEncoding::UrlEncoded`].
    pub fn form_encoding(mut self, encoding: FormEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Time to connect (for the default client). Default: 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time for one verification, waiting for a free call slot included. Default: 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls to the endpoint at once. Default: [`DEFAULT_MAX_CONCURRENT_CALLS`] (64); at most
    /// tokio's semaphore limit.
    pub fn max_concurrent_calls(mut self, calls: usize) -> Self {
        self.max_concurrent_calls = calls;
        self
    }

    /// Largest answer body read. Default: 64 KiB (at most 16 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Allows a plain-`http` endpoint that is not on loopback. Default: `false` (crm-now's
    /// checklist demands HTTPS).
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a refused URL, a zero limit, a timeout of zero or
    /// over 10 minutes, an answer cap over 16 MiB, or an HTTP client that cannot start.
    pub fn build(self) -> Result<RemoteVerifier, ConfigError> {
        let url = outbound::checked_url("verify url", &self.url, self.allow_plain_http)?;
        for (name, value) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() || value > MAX_TIMEOUT {
                return Err(ConfigError::invalid(
                    name,
                    "must be more than zero and at most 10 minutes",
                ));
            }
        }
        if self.max_concurrent_calls == 0 || self.max_concurrent_calls > Semaphore::MAX_PERMITS {
            return Err(ConfigError::invalid(
                "max_concurrent_calls",
                "must be at least 1 and within tokio's semaphore limit",
            ));
        }
        if self.max_response_bytes == 0 || self.max_response_bytes > MAX_RESPONSE_BYTES_LIMIT {
            return Err(ConfigError::invalid(
                "max_response_bytes",
                "must be from 1 byte to 16 MiB",
            ));
        }
        let client = match self.client {
            Some(client) => client,
            None => outbound::http_client(self.connect_timeout, self.timeout)?,
        };
        Ok(RemoteVerifier {
            client,
            url,
            encoding: self.encoding,
            max_response_bytes: self.max_response_bytes,
            timeout: self.timeout,
            permits: Arc::new(Semaphore::new(self.max_concurrent_calls)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: u16, body: &str) -> &'static str {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        match read_answer(status, body.as_bytes()) {
            Reply::Valid => "valid",
            Reply::Invalid => "invalid",
            Reply::Unusable(_) => "unavailable",
        }
    }

    #[test]
    fn only_a_boolean_true_in_a_2xx_json_object_is_valid() {
        assert_eq!(
            verdict(200, r#"{"result": true, "message": "token valid"}"#),
            "valid"
        );
        assert_eq!(verdict(200, r#"{"result": false}"#), "invalid");
        assert_eq!(verdict(401, r#"{"result": false}"#), "invalid");
        assert_eq!(verdict(401, r#"{"result": true}"#), "unavailable");
        assert_eq!(verdict(500, r#"{"result": true}"#), "unavailable");
        assert_eq!(verdict(302, r#"{"result": true}"#), "unavailable");
        assert_eq!(verdict(200, r#"{"result": "true"}"#), "unavailable");
        assert_eq!(verdict(200, r#"{"result": 1}"#), "unavailable");
        assert_eq!(verdict(200, r#"{"result": null}"#), "unavailable");
        assert_eq!(verdict(200, r#"{"message": "ok"}"#), "unavailable");
        assert_eq!(verdict(200, r#"[{"result": true}]"#), "unavailable");
        assert_eq!(verdict(200, r#"{"result": tr"#), "unavailable");
        assert_eq!(verdict(200, "<html>ok</html>"), "unavailable");
        assert_eq!(verdict(200, ""), "unavailable");
        assert_eq!(verdict(200, "true"), "unavailable");
    }

    #[test]
    fn a_duplicated_result_member_is_unavailable_whatever_its_values() {
        assert_eq!(
            verdict(200, r#"{"result": false, "result": true}"#),
            "unavailable"
        );
        assert_eq!(
            verdict(200, r#"{"result": true, "x": 1, "result": true}"#),
            "unavailable"
        );
        assert_eq!(
            verdict(401, r#"{"result": false, "result": false}"#),
            "unavailable"
        );
        // An escaped member name is the same name.
        assert_eq!(
            verdict(200, r#"{"result": false, "res\u0075lt": true}"#),
            "unavailable"
        );
        // Invalid UTF-8 in a member nobody reads is still not JSON (fuzz find).
        let mut bytes = br#"{"result": false, "message": "token in"#.to_vec();
        bytes.extend_from_slice(&[0xd5, 0xd5, 0xd5]);
        bytes.extend_from_slice(br#"valid"}"#);
        assert!(matches!(
            read_answer(StatusCode::OK, &bytes),
            Reply::Unusable(_)
        ));
        // Other members may repeat and nest; only `result` decides.
        assert_eq!(
            verdict(200, r#"{"m": 1, "m": [{"result": false}], "result": true}"#),
            "valid"
        );
    }

    #[test]
    fn jwt_payload_fills_the_principal_but_opaque_tokens_get_an_empty_one() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(r#"{"sub":"Users:1","scope":"read write","exp":4102444800}"#)
        );
        let p = principal_for(&BearerToken::new(jwt));
        assert_eq!(p.subject(), Some("Users:1"));
        assert_eq!(p.scope(), "read write");
        assert!(p.expires_at().is_some());
        assert_eq!(p.source(), VerifierKind::Remote);
        let p = principal_for(&BearerToken::new("opaque-s6p6eclrvim6da22"));
        assert_eq!(p.subject(), None);
        assert!(p.expires_at().is_none());
    }

    #[test]
    fn plain_http_is_refused_unless_loopback_or_allowed() {
        assert!(
            RemoteVerifier::builder()
                .url("http://crm.example/v")
                .build()
                .is_err()
        );
        assert!(
            RemoteVerifier::builder()
                .url("http://127.0.0.1:1/v")
                .build()
                .is_ok()
        );
        assert!(
            RemoteVerifier::builder()
                .url("http://crm.example/v")
                .allow_plain_http(true)
                .build()
                .is_ok()
        );
        assert!(RemoteVerifier::builder().build().is_ok());
    }
}
