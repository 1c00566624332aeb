//! One bounded form `POST` to a verify upstream (crm-now's `verifytoken` endpoint, an RFC 7662
//! introspection endpoint, a Bitrix24 portal), shared by [`RemoteVerifier`](super::RemoteVerifier),
//! [`IntrospectionVerifier`](super::IntrospectionVerifier) and
//! [`Bitrix24Verifier`](super::Bitrix24Verifier): the settings their builders collect (and the
//! one set of setters, [`call_setters!`]), the checks at build, the call-slot cap, one deadline
//! for the queue wait and the call, the capped body read, and [`UpstreamError`], the opaque
//! cause of an unavailable verdict.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::error::ConfigError;
use crate::outbound::{self, BodyError, read_body_capped};

/// Default cap on calls to a verify upstream at once: 64. Further calls queue within the
/// timeout.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 64;
/// Longest `timeout` / `connect_timeout` accepted: 10 minutes (a deadline must fit the clock).
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest `max_response_bytes` accepted: 16 MiB.
const MAX_RESPONSE_BYTES_LIMIT: usize = 16 * 1024 * 1024;

/// How a form body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FormEncoding {
    /// `application/x-www-form-urlencoded` (what crm-now's PHP example sends). The default.
    #[default]
    UrlEncoded,
    /// `multipart/form-data` (what crm-now's curl example sends).
    Multipart,
}

/// What a verifier's builder collects about its calls, checked once at build: the bounds, the
/// HTTP client, the transport policy.
#[derive(Clone)]
pub(crate) struct CallSettings {
    pub(crate) client: Option<reqwest::Client>,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_concurrent_calls: usize,
    pub(crate) max_response_bytes: usize,
    pub(crate) allow_plain_http: bool,
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            client: None,
            connect_timeout: outbound::DEFAULT_CONNECT_TIMEOUT,
            timeout: outbound::DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            max_response_bytes: outbound::DEFAULT_MAX_RESPONSE_BYTES,
            allow_plain_http: false,
        }
    }
}

impl fmt::Debug for CallSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An injected client is only named: its settings (a proxy's URL) are the caller's.
        let client = if self.client.is_some() {
            "injected"
        } else {
            "default"
        };
        f.debug_struct("CallSettings")
            .field("client", &client)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_concurrent_calls", &self.max_concurrent_calls)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("allow_plain_http", &self.allow_plain_http)
            .finish()
    }
}

impl CallSettings {
    /// Parses `url` for the setting `name` under the transport policy (https, or plain http to
    /// loopback or when allowed).
    ///
    /// # Errors
    /// [`ConfigError`] naming `name` for an unparsable or refused URL.
    pub(crate) fn checked_url(&self, name: &'static str, url: &str) -> Result<Url, ConfigError> {
        outbound::checked_url(name, url, self.allow_plain_http)
    }

    /// Checks the bounds and builds the caller (with the injected client, or a client of our
    /// own: no redirects, no proxy).
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a zero limit, a timeout of zero or over 10 minutes,
    /// an answer cap over 16 MiB, or an HTTP client that cannot start.
    pub(crate) fn caller(self) -> Result<Caller, ConfigError> {
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
        Ok(Caller {
            client,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            permits: Arc::new(Semaphore::new(self.max_concurrent_calls)),
        })
    }
}

/// Emits the call setters every verify upstream's builder has, each written and documented
/// once: `http_client`, `connect_timeout`, `timeout`, `max_concurrent_calls`,
/// `max_response_bytes`, `allow_plain_http`. Used inside the builder's `impl` block; the
/// builder keeps its [`CallSettings`] in a field named `calls`, and `$upstream` names what it
/// calls in the docs ("endpoint", "portal").
macro_rules! call_setters {
    ($upstream:literal) => {
        /// The HTTP client to share: its own timeouts, redirect policy and proxy apply too
        /// (and [`timeout`](Self::timeout) still bounds each verification). Default: a client
        /// of bearer-guard's own with [`connect_timeout`](Self::connect_timeout) and
        /// [`timeout`](Self::timeout), rustls, no redirects, and no proxy (the `*_PROXY`
        /// environment variables are ignored; inject a client to use one).
        pub fn http_client(mut self, client: reqwest::Client) -> Self {
            self.calls.client = Some(client);
            self
        }

        /// Time to connect (for the default client). Default: 2 s; more than zero, at most
        /// 10 minutes.
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.calls.connect_timeout = timeout;
            self
        }

        #[doc = concat!(
            "Time for one verification: every call it makes to the ", $upstream,
            ", waiting for free call slots included. Default: 5 s; more than zero, at most ",
            "10 minutes."
        )]
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.calls.timeout = timeout;
            self
        }

        #[doc = concat!(
            "Calls to the ", $upstream, " at once; further calls wait for a slot within the ",
            "[`timeout`](Self::timeout). Default: ",
            "[`DEFAULT_MAX_CONCURRENT_CALLS`](crate::verify::remote::DEFAULT_MAX_CONCURRENT_CALLS) ",
            "(64); at least 1, at most tokio's semaphore limit."
        )]
        pub fn max_concurrent_calls(mut self, calls: usize) -> Self {
            self.calls.max_concurrent_calls = calls;
            self
        }

        /// Largest answer body read; a larger one is an unavailable verdict. Default: 64 KiB;
        /// at least 1 byte, at most 16 MiB.
        pub fn max_response_bytes(mut self, bytes: usize) -> Self {
            self.calls.max_response_bytes = bytes;
            self
        }

        #[doc = concat!(
            "Allows a plain-`http` ", $upstream, " that is not on loopback. Default: `false` ",
            "(`https` is required, except to `127.0.0.0/8`, `::1` and `localhost`: the token ",
            "would cross the network in clear)."
        )]
        pub fn allow_plain_http(mut self, allow: bool) -> Self {
            self.calls.allow_plain_http = allow;
            self
        }
    };
}
pub(crate) use call_setters;

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

    /// `POST url` with the form `fields` in the body (`encoding`; never in the URL),
    /// `Accept: application/json` and, when given, an `Authorization` value; waits for a call
    /// slot and the answer until `deadline`, reads at most the answer cap.
    ///
    /// # Errors
    /// [`UpstreamError`]: no slot or no answer in time, transport failure, a body over the cap.
    pub(crate) async fn post_form(
        &self,
        deadline: Instant,
        url: &Url,
        encoding: FormEncoding,
        fields: &[(&str, &str)],
        authorization: Option<&http::HeaderValue>,
    ) -> Result<(StatusCode, Vec<u8>), UpstreamError> {
        let Ok(Ok(_permit)) = timeout_at(deadline, self.permits.acquire()).await else {
            return Err(UpstreamKind::QueueFull.into());
        };
        let request = self.client.post(url.clone());
        let mut request = match encoding {
            FormEncoding::UrlEncoded => request.form(fields),
            FormEncoding::Multipart => request.multipart(
                fields
                    .iter()
                    .fold(reqwest::multipart::Form::new(), |form, &(name, value)| {
                        form.text(name.to_owned(), value.to_owned())
                    }),
            ),
        }
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

/// Why a verify upstream (crm-now's `verifytoken` endpoint, an introspection endpoint, a
/// Bitrix24 portal) could not decide: the cause inside a [`Verdict::Unavailable`](super::Verdict::Unavailable) of
/// [`RemoteVerifier`](super::RemoteVerifier), [`IntrospectionVerifier`](super::IntrospectionVerifier)
/// and [`Bitrix24Verifier`](super::Bitrix24Verifier). Kept for logs; never sent to a client,
/// and never carries the token, a client secret, a URL or the upstream's body.
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
    /// Connecting or talking to the upstream failed (refused, DNS, TLS, reset).
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

    /// Whether the upstream did not answer in time (the verifier's timeout, or the HTTP
    /// client's).
    pub fn is_timeout(&self) -> bool {
        match &self.kind {
            UpstreamKind::Timeout(_) => true,
            UpstreamKind::Transport(error) => error.is_timeout(),
            UpstreamKind::Body(error) => error.is_timeout(),
            UpstreamKind::QueueFull | UpstreamKind::Reply { .. } => false,
        }
    }

    /// Whether the connection to the upstream could not be opened (refused, DNS, TLS).
    pub fn is_connect(&self) -> bool {
        matches!(&self.kind, UpstreamKind::Transport(error) if error.is_connect())
    }

    /// The HTTP status of an answer that was read but is not a usable verdict (a 5xx, a 3xx,
    /// a body that is not the expected JSON); `None` when no answer was read.
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
                f.write_str("too many calls to the verify upstream in flight; queue wait timed out")
            }
            UpstreamKind::Transport(_) => f.write_str("verify upstream unreachable"),
            UpstreamKind::Body(_) => f.write_str("verify upstream answer unreadable"),
            UpstreamKind::Timeout(after) => {
                write!(f, "verify upstream did not answer within {after:?}")
            }
            UpstreamKind::Reply { status, problem } => {
                write!(f, "verify upstream answered {status}: {problem}")
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const TOKEN: &str = "tok-5d1e-never-logged";
    const PATH: &str = "/verify-path-8c2f";
    const URL_SECRET: &str = "query-secret-41b7";
    const BODY_SECRET: &str = "body-secret-9e03";

    /// A server on 127.0.0.1 that reads each request's first bytes, then sends `answer` and
    /// closes (an empty `answer`: closes at once; `None`: never answers).
    async fn upstream(answer: Option<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = [0u8; 4096];
                    let _ = stream.read(&mut head).await;
                    match answer {
                        Some(answer) => {
                            let _ = stream.write_all(answer.as_bytes()).await;
                            let _ = stream.shutdown().await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        addr
    }

    async fn post(addr: SocketAddr, settings: CallSettings) -> UpstreamError {
        let caller = settings.caller().unwrap_or_else(|e| panic!("{e}"));
        let url = Url::parse(&format!("http://{addr}{PATH}?key={URL_SECRET}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let fields = [("verifytoken", TOKEN), ("client_secret", URL_SECRET)];
        let deadline = caller.deadline();
        match caller
            .post_form(deadline, &url, FormEncoding::UrlEncoded, &fields, None)
            .await
        {
            Ok((status, _)) => panic!("an answer ({status}) where an error was expected"),
            Err(error) => error,
        }
    }

    /// `Display` and `Debug` of the error and of every cause under it.
    fn everything_said(error: &UpstreamError) -> String {
        let mut said = format!("{error} {error:?}");
        let mut cause = error.source();
        while let Some(inner) = cause {
            said.push_str(&format!(" {inner} {inner:?}"));
            cause = inner.source();
        }
        said
    }

    #[tokio::test]
    async fn an_upstream_error_names_no_url_token_secret_or_body() {
        let short = CallSettings {
            timeout: Duration::from_millis(300),
            max_response_bytes: 16,
            ..CallSettings::default()
        };
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        };
        let oversized = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 45\r\n\r\n{\"result\": true, \"pad\": \"body-secret-9e03xx\"}";
        let cases = [
            ("refused", post(closed, short.clone()).await),
            ("reset", post(upstream(Some("")).await, short.clone()).await),
            ("silent", post(upstream(None).await, short.clone()).await),
            (
                "oversized",
                post(upstream(Some(oversized)).await, short).await,
            ),
        ];
        for (case, error) in &cases {
            let said = everything_said(error);
            for secret in [TOKEN, PATH, URL_SECRET, BODY_SECRET] {
                assert!(!said.contains(secret), "{case}: {secret} in {said}");
            }
            assert_eq!(error.status(), None, "{case}");
        }
        assert!(cases[0].1.is_connect(), "{:?}", cases[0].1);
        assert!(!cases[1].1.is_connect(), "{:?}", cases[1].1);
        assert!(cases[2].1.is_timeout(), "{:?}", cases[2].1);
        assert!(
            everything_said(&cases[3].1).contains("larger than 16 bytes"),
            "{:?}",
            cases[3].1
        );
        let reply = UpstreamError::reply(StatusCode::BAD_GATEWAY, "status is not 2xx");
        assert_eq!(reply.status(), Some(StatusCode::BAD_GATEWAY));
        assert_eq!(
            reply.to_string(),
            "verify upstream answered 502 Bad Gateway: status is not 2xx"
        );
    }
}
