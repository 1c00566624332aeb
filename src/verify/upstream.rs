//! One bounded form `POST` to a token source (introspection endpoint, Bitrix24 portal), shared by
//! [`IntrospectionVerifier`](super::IntrospectionVerifier) and
//! [`Bitrix24Verifier`](super::Bitrix24Verifier): the call-slot cap, one deadline for the queue
//! wait and the call, the capped body read, and [`UpstreamError`], the opaque cause of an
//! unavailable verdict.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::error::ConfigError;
use crate::outbound::{self, BodyError, read_body_capped};

/// Longest `timeout` / `connect_timeout` accepted: 10 minutes (a deadline must fit the clock).
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest `max_response_bytes` accepted: 16 MiB.
const MAX_RESPONSE_BYTES_LIMIT: usize = 16 * 1024 * 1024;

/// The bounds a builder collects, checked once at build.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_concurrent_calls: usize,
    pub(crate) max_response_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            connect_timeout: outbound::DEFAULT_CONNECT_TIMEOUT,
            timeout: outbound::DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_calls: super::remote::DEFAULT_MAX_CONCURRENT_CALLS,
            max_response_bytes: outbound::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl Bounds {
    /// Checks the bounds and builds the caller (with `client`, or a client of our own: no
    /// redirects, no proxy).
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a zero limit, a timeout of zero or over 10 minutes,
    /// an answer cap over 16 MiB, or an HTTP client that cannot start.
    pub(crate) fn caller(self, client: Option<reqwest::Client>) -> Result<Caller, ConfigError> {
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
        let client = match client {
            Some(client) => client,
            None => outbound::http_client(self.connect_timeout, self.timeout)?,
        };
        Ok(Caller {
            client,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            permits: Arc::new(Semaphore::new(self.max_concurrent_calls)),
        })
    }
}

/// Makes the bounded calls.
pub(crate) struct Caller {
    client: reqwest::Client,
    timeout: Duration,
    max_response_bytes: usize,
    permits: Arc<Semaphore>,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// The deadline for one verification started now (a verification may make several calls).
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// `POST url` with the form `fields` (`application/x-www-form-urlencoded`, never in the
    /// URL), `Accept: application/json` and, when given, an `Authorization` value; waits for a
    /// call slot and the answer until `deadline`, reads at most the answer cap.
    ///
    /// # Errors
    /// [`UpstreamError`]: no slot or no answer in time, transport failure, a body over the cap.
    pub(crate) async fn post_form(
        &self,
        deadline: Instant,
        url: &Url,
        fields: &[(&str, &str)],
        authorization: Option<&http::HeaderValue>,
    ) -> Result<(StatusCode, Vec<u8>), UpstreamError> {
        let Ok(Ok(_permit)) = timeout_at(deadline, self.permits.acquire()).await else {
            return Err(UpstreamKind::QueueFull.into());
        };
        let mut request = self
            .client
            .post(url.clone())
            .form(fields)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(value) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value.clone());
        }
        let exchange = async {
            let response = request
                .send()
                .await
                .map_err(|e| UpstreamKind::Transport(e.without_url()))?;
            let status = response.status();
            let body = read_body_capped(response, self.max_response_bytes)
                .await
                .map_err(|e| UpstreamKind::Body(e.without_url()))?;
            Ok::<_, UpstreamKind>((status, body))
        };
        match timeout_at(deadline, exchange).await {
            Err(_) => Err(UpstreamKind::Timeout(self.timeout).into()),
            Ok(result) => result.map_err(UpstreamError::from),
        }
    }
}

/// Why a token source (introspection endpoint, Bitrix24 portal) could not decide. Kept for
/// logs; never sent to a client, and never carries the token, a client secret, a URL or the
/// upstream's body.
///
/// Opaque, in reqwest's style: ask it [`is_timeout`](Self::is_timeout),
/// [`is_connect`](Self::is_connect), [`status`](Self::status); the underlying cause, when
/// there is one, is its [`source`](std::error::Error::source) (not repeated in `Display`).
pub struct UpstreamError {
    kind: UpstreamKind,
}

enum UpstreamKind {
    /// Every call slot was taken until the deadline.
    QueueFull,
    /// Connecting or talking to the source failed (refused, DNS, TLS, reset).
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

impl UpstreamError {
    /// An answer that was read but is no verdict.
    pub(crate) fn reply(status: StatusCode, problem: &'static str) -> Self {
        UpstreamKind::Reply { status, problem }.into()
    }

    /// Whether the source did not answer in time (the verifier's timeout, or the HTTP
    /// client's).
    pub fn is_timeout(&self) -> bool {
        match &self.kind {
            UpstreamKind::Timeout(_) => true,
            UpstreamKind::Transport(error) => error.is_timeout(),
            UpstreamKind::Body(error) => error.is_timeout(),
            UpstreamKind::QueueFull | UpstreamKind::Reply { .. } => false,
        }
    }

    /// Whether the connection to the source could not be opened (refused, DNS, TLS).
    pub fn is_connect(&self) -> bool {
        matches!(&self.kind, UpstreamKind::Transport(error) if error.is_connect())
    }

    /// The HTTP status of an answer that was read but is not a usable verdict; `None` when no
    /// answer was read.
    pub fn status(&self) -> Option<http::StatusCode> {
        match &self.kind {
            UpstreamKind::Reply { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            UpstreamKind::QueueFull => {
                f.write_str("too many calls to the token source in flight; queue wait timed out")
            }
            UpstreamKind::Transport(_) => f.write_str("token source unreachable"),
            UpstreamKind::Body(_) => f.write_str("token source answer unreadable"),
            UpstreamKind::Timeout(after) => {
                write!(f, "token source did not answer within {after:?}")
            }
            UpstreamKind::Reply { status, problem } => {
                write!(f, "token source answered {status}: {problem}")
            }
        }
    }
}

impl fmt::Debug for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("UpstreamError");
        match &self.kind {
            UpstreamKind::QueueFull => debug.field("queue", &"full"),
            UpstreamKind::Transport(error) => debug.field("transport", error),
            UpstreamKind::Body(error) => debug.field("body", error),
            UpstreamKind::Timeout(after) => debug.field("timeout", after),
            UpstreamKind::Reply { status, problem } => {
                debug.field("status", status).field("problem", problem)
            }
        };
        debug.finish()
    }
}

impl std::error::Error for UpstreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            UpstreamKind::Transport(error) => Some(error),
            UpstreamKind::Body(error) => Some(error),
            _ => None,
        }
    }
}

impl From<UpstreamKind> for UpstreamError {
    fn from(kind: UpstreamKind) -> Self {
        UpstreamError { kind }
    }
}

/// Every top-level member of a JSON object, read in one pass that notices a repeated name
/// (`{"active": false, "active": true}` is ambiguous: a map keeps the last, other parsers the
/// first), so it is no answer at all.
pub(crate) enum Members {
    /// The members, each name once.
    Unique(serde_json::Map<String, serde_json::Value>),
    /// Some name appears more than once.
    Repeated,
}

/// Parses `body` as one JSON object with unique member names. `None`: not UTF-8, not JSON,
/// not an object. JSON text is UTF-8 (RFC 8259 §8.1): the whole body is checked first.
pub(crate) fn members(body: &[u8]) -> Option<Members> {
    let body = std::str::from_utf8(body).ok()?;
    serde_json::from_str::<Members>(body).ok()
}

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut all = serde_json::Map::new();
                let mut repeated = false;
                while let Some(name) = map.next_key::<String>()? {
                    let value = map.next_value::<serde_json::Value>()?;
                    if all.insert(name, value).is_some() {
                        repeated = true;
                    }
                }
                Ok(if repeated {
                    Members::Repeated
                } else {
                    Members::Unique(all)
                })
            }
        }
        deserializer.deserialize_map(Visit)
    }
}
