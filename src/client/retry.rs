//! Fetching with bounded retries: [`Fetcher`] makes at most `1 + max_retries` attempts,
//! pausing between them with exponential backoff and jitter, all within one total deadline.
//! Only failures a later attempt may not meet are retried (see [`fetch::attempt`]).

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{TokenSourceError, Unavailable};
use super::fetch::{self, Attempt};
use super::grant::PreparedRequest;
use super::token::AccessToken;

/// The first pause between attempts: 100 ms (then 200 ms, 400 ms, … up to [`MAX_BACKOFF`]).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between attempts (before jitter): 2 s.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Everything one fetch needs; built once by the builder.
pub(crate) struct Fetcher {
    pub(crate) client: reqwest::Client,
    pub(crate) request: PreparedRequest,
    /// Time for one attempt.
    pub(crate) timeout: Duration,
    /// Time for the whole fetch: every attempt and every pause.
    pub(crate) total_timeout: Duration,
    pub(crate) max_retries: u32,
    /// Lifetime of a token whose answer has no `expires_in`.
    pub(crate) default_lifetime: Duration,
    pub(crate) refresh_before: Duration,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("request", &self.request)
            .field("timeout", &self.timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Fetches a token: attempts until one succeeds, one fails for good, the attempts run out
    /// or the total deadline comes. A pause that would end past the deadline is not taken.
    ///
    /// # Errors
    /// [`TokenSourceError::IssuerUnavailable`] when every attempt failed transiently (or no
    /// time was left); the final error of an attempt otherwise.
    pub(crate) async fn fetch(&self) -> Result<AccessToken, TokenSourceError> {
        let deadline = Instant::now() + self.total_timeout;
        let host = self.request.host();
        let mut attempts = 0;
        let mut last = (Unavailable::Timeout, None);
        while attempts <= self.max_retries {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            attempts += 1;
            let (reason, cause, retry_after) =
                match fetch::attempt(&self.client, &self.request, self.timeout.min(left)).await {
                    Attempt::Token { answer, sent_at } => {
                        return AccessToken::new(
                            answer,
                            sent_at,
                            self.default_lifetime,
                            self.refresh_before,
                        )
                        .ok_or(TokenSourceError::InvalidAnswer {
                            status: http::StatusCode::OK,
                            problem: "access_token cannot be a header value".into(),
                        });
                    }
                    Attempt::Fail(error) => return Err(error),
                    Attempt::Retry {
                        reason,
                        cause,
                        retry_after,
                    } => (reason, cause, retry_after),
                };
            last = (reason, cause);
            if attempts > self.max_retries {
                break;
            }
            let pause = backoff(attempts).max(retry_after.unwrap_or(Duration::ZERO));
            if Instant::now() + pause >= deadline {
                tracing::debug!(
                    %host, attempt = attempts, %reason,
                    "token request failed; no time left for another attempt"
                );
                break;
            }
            tracing::debug!(
                %host, attempt = attempts, %reason, ?pause,
                "token request failed; retrying"
            );
            tokio::time::sleep(pause).await;
        }
        let (reason, cause) = last;
        Err(TokenSourceError::IssuerUnavailable {
            attempts,
            reason,
            cause,
        })
    }
}

/// The pause after attempt `n` (1-based): `d = min(100 ms × 2^(n-1), 2 s)`, then "equal
/// jitter": `d/2` plus a random part of up to `d/2`, so clients that failed together do not
/// retry together.
fn backoff(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let full = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    let half = full / 2;
    half + half.mul_f64(unit_random())
}

/// A random number in `[0, 1)` from the system generator (aws-lc-rs); 0.5 should it fail.
fn unit_random() -> f64 {
    let mut bytes = [0u8; 8];
    match aws_lc_rs::rand::fill(&mut bytes) {
        // 53 random bits: exactly representable.
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_inside_the_upper_half() {
        for (attempt, full_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (5, 1600),
            (6, 2000),
            (40, 2000),
        ] {
            let full = Duration::from_millis(full_ms);
            for _ in 0..50 {
                let pause = backoff(attempt);
                assert!(pause >= full / 2 && pause <= full, "{attempt}: {pause:?}");
            }
        }
        let pauses: std::collections::HashSet<Duration> = (0..50).map(|_| backoff(3)).collect();
        assert!(pauses.len() > 1, "jitter varies the pause");
    }
}
