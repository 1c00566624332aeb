//! [`TokenSourceError`]: why a [`TokenSource`](super::TokenSource) has no token to give.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::StatusCode;

/// The cause of an [`TokenSourceError::IssuerUnavailable`], kept as its
/// [`source`](std::error::Error::source) (an HTTP client error, stripped of its URL).
pub(crate) type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`TokenSource`](super::TokenSource) could not hand out a token.
///
/// Cheap to clone: every caller waiting for the same fetch gets the same error. No variant's
/// `Display` or `Debug` contains the client secret, a token, the endpoint's URL or the
/// answer's body; an OAuth `error` code from the body is kept only when it is a short
/// `[A-Za-z0-9_.-]` word.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TokenSourceError {
    /// Every attempt failed for a reason worth retrying — the endpoint refused connections,
    /// timed out, or answered 5xx, 408 or 429 — or the fetch ran out of its total time.
    #[error("token endpoint unavailable after {attempts} attempt(s): {reason}")]
    IssuerUnavailable {
        /// How many requests were sent (or tried).
        attempts: u32,
        /// What went wrong with the last one.
        reason: Unavailable,
        /// The HTTP client's error behind the last failure, if there was one.
        #[source]
        cause: Option<Cause>,
    },
    /// The endpoint refused the request with a 4xx status other than 408 and 429: wrong client
    /// credentials (`invalid_client`), a scope it does not grant (`invalid_scope`), a request
    /// shape it does not take. Never retried: the same request would be refused again.
    #[error("token endpoint refused the request: HTTP {status}{}", ErrorCode(error.as_deref()))]
    Rejected {
        /// The answer's status.
        status: StatusCode,
        /// The OAuth 2.0 `error` code of the answer (RFC 6749 §5.2), when it had a usable one.
        error: Option<String>,
    },
    /// The endpoint answered, but not with a usable token: not JSON, a member missing or of
    /// the wrong type, `token_type` not `Bearer`, an `access_token` a header cannot carry, an
    /// answer over 64 KiB, or a redirect (never followed). Not retried.
    #[error("token endpoint answer unusable (HTTP {status}): {problem}")]
    InvalidAnswer {
        /// The answer's status.
        status: StatusCode,
        /// What is wrong with it (never a part of the body).
        problem: Cow<'static, str>,
    },
    /// The fetch ended without an answer: its task was cancelled (the runtime shutting down)
    /// or did not report back in time.
    #[error("the token fetch ended without an answer")]
    Interrupted,
    /// Called outside a tokio runtime: fetches run on one.
    #[error("no tokio runtime: the token source fetches on the caller's tokio runtime")]
    NoRuntime,
}

/// What went wrong with the last attempt of an unavailable endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// The connection could not be opened (refused, DNS, TLS).
    Connect,
    /// No complete answer within the timeout of an attempt, or of the whole fetch.
    Timeout,
    /// The connection broke while sending or reading (a reset, say).
    Transport,
    /// The endpoint answered with this status: 5xx, 408 or 429.
    Status(StatusCode),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Connect => f.write_str("connection failed"),
            Unavailable::Timeout => f.write_str("timed out"),
            Unavailable::Transport => f.write_str("connection broken"),
            Unavailable::Status(status) => write!(f, "HTTP {status}"),
        }
    }
}

/// `Display` of an optional OAuth error code: ` (invalid_client)` or nothing.
struct ErrorCode<'a>(Option<&'a str>);

impl fmt::Display for ErrorCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(code) => write!(f, " ({code})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let rejected = TokenSourceError::Rejected {
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_client".into()),
        };
        assert_eq!(
            rejected.to_string(),
            "token endpoint refused the request: HTTP 401 Unauthorized (invalid_client)"
        );
        let down = TokenSourceError::IssuerUnavailable {
            attempts: 3,
            reason: Unavailable::Status(StatusCode::BAD_GATEWAY),
            cause: None,
        };
        assert_eq!(
            down.to_string(),
            "token endpoint unavailable after 3 attempt(s): HTTP 502 Bad Gateway"
        );
    }

    #[test]
    fn errors_are_shareable() {
        fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync_clone::<TokenSourceError>();
    }
}
