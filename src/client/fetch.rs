//! One request to the token endpoint, bounded: its own timeout, a 64 KiB answer cap, no
//! redirect followed; and what its outcome means — a token, a failure worth retrying, or a
//! final error.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use tokio::time::Instant;

use super::answer::{TokenAnswer, error_code, token_answer};
use super::error::{Cause, TokenSourceError, Unavailable};
use super::grant::PreparedRequest;
use crate::outbound::{BodyError, read_body_capped};

/// Largest token answer read: 64 KiB. A larger one is
/// [`TokenSourceError::InvalidAnswer`](super::TokenSourceError::InvalidAnswer).
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// The outcome of one attempt.
pub(crate) enum Attempt {
    /// A usable answer to a request sent at `sent_at`.
    Token {
        answer: TokenAnswer,
        sent_at: Instant,
    },
    /// A failure a later attempt may not meet: refused, timed out, broken, 5xx/408/429.
    Retry {
        reason: Unavailable,
        cause: Option<Cause>,
        /// The answer's `Retry-After` (delta-seconds form only).
        retry_after: Option<Duration>,
    },
    /// A failure the same request would meet again.
    Fail(TokenSourceError),
}

/// Sends `request` once with `client`, waiting at most `timeout` for the whole exchange.
pub(crate) async fn attempt(
    client: &reqwest::Client,
    request: &PreparedRequest,
    timeout: Duration,
) -> Attempt {
    let sent_at = Instant::now();
    let exchange = async {
        let response = match request.request(client).send().await {
            Ok(response) => response,
            Err(error) => return transport(error),
        };
        let status = response.status();
        let retry_after = retry_after(&response);
        if is_retryable(status) {
            return Attempt::Retry {
                reason: Unavailable::Status(status),
                cause: None,
                retry_after,
            };
        }
        if !(status.is_success() || status.is_client_error()) {
            return Attempt::Fail(TokenSourceError::InvalidAnswer {
                status,
                problem: if status.is_redirection() {
                    "a redirect (never followed: it would take the credentials elsewhere)".into()
                } else {
                    "an unexpected status".into()
                },
            });
        }
        let body = match read_body_capped(response, MAX_TOKEN_RESPONSE_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge { .. }) => {
                return Attempt::Fail(TokenSourceError::InvalidAnswer {
                    status,
                    problem: "the answer is larger than 64 KiB".into(),
                });
            }
            Err(BodyError::Transport(error)) => return transport(error),
        };
        if status.is_client_error() {
            return Attempt::Fail(TokenSourceError::Rejected {
                status,
                error: error_code(&body),
            });
        }
        match token_answer(&body) {
            Ok(answer) => Attempt::Token { answer, sent_at },
            Err(problem) => Attempt::Fail(TokenSourceError::InvalidAnswer {
                status,
                problem: problem.into(),
            }),
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => Attempt::Retry {
            reason: Unavailable::Timeout,
            cause: None,
            retry_after: None,
        },
    }
}

/// 5xx, 408 Request Timeout, 429 Too Many Requests.
fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// A transport failure, without the URL (a query may hold a key).
fn transport(error: reqwest::Error) -> Attempt {
    let reason = if error.is_timeout() {
        Unavailable::Timeout
    } else if error.is_connect() {
        Unavailable::Connect
    } else {
        Unavailable::Transport
    };
    Attempt::Retry {
        reason,
        cause: Some(Arc::new(error.without_url())),
        retry_after: None,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let text = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    let seconds = text.trim().parse::<u32>().ok()?;
    Some(Duration::from_secs(u64::from(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_statuses_are_retried() {
        for code in [500, 502, 503, 504, 408, 429] {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            assert!(is_retryable(status), "{code}");
        }
        for code in [200, 301, 400, 401, 403, 404, 405, 415] {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            assert!(!is_retryable(status), "{code}");
        }
    }
}
