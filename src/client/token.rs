//! [`AccessToken`]: one fetched token, its `Authorization` value, and when it is refreshed and
//! when it is no longer handed out.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use tokio::time::Instant;

use super::answer::TokenAnswer;

/// Longest lifetime taken from an answer (a day): a larger `expires_in` counts as this, so a
/// token is fetched again at least daily.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The most a token is handed out ahead of its expiry with a long lifetime: 5 s.
const MAX_EXPIRY_LEEWAY: Duration = Duration::from_secs(5);

/// When a token is refreshed, and until when it is handed out, for a token that lives
/// `lifetime` (from the moment its request was sent):
///
/// - **refresh** (in the background; callers keep getting this token) once less than
///   `margin = max(refresh_before, lifetime / 10)`, at most `lifetime / 2`, remains;
/// - **stale** (callers wait for a new token) once less than `min(5 s, margin / 2)` remains:
///   the request it goes out with still needs time to arrive, and servers round `exp` down to
///   the second.
///
/// crm-now (300 s, `refresh_before` 30 s): refreshed at 270 s, handed out until 295 s.
/// SuiteCRM (3600 s): refreshed at 3240 s (10 %), handed out until 3595 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// From fetch to the background refresh.
    pub(crate) refresh_after: Duration,
    /// From fetch to the moment the token is no longer handed out.
    pub(crate) stale_after: Duration,
}

impl Schedule {
    pub(crate) fn new(lifetime: Duration, refresh_before: Duration) -> Self {
        let margin = refresh_before.max(lifetime / 10).min(lifetime / 2);
        let leeway = MAX_EXPIRY_LEEWAY.min(margin / 2);
        Schedule {
            refresh_after: lifetime - margin,
            stale_after: lifetime - leeway,
        }
    }
}

/// An access token from a [`TokenSource`](super::TokenSource). Cheap to clone. Its `Debug`
/// shows the token's length, never the token.
#[derive(Clone)]
pub struct AccessToken {
    inner: Arc<Inner>,
}

struct Inner {
    secret: String,
    header: HeaderValue,
    scope: Option<String>,
    lifetime: Duration,
    /// When the request that brought it was sent (its lifetime counts from there).
    fetched_at: Instant,
    refresh_at: Instant,
    stale_at: Instant,
}

impl AccessToken {
    /// A token from `answer`, fetched with a request sent at `sent_at`. `None` when a header
    /// cannot carry it (not expected: the answer's token is a `b64token`).
    pub(crate) fn new(
        answer: TokenAnswer,
        sent_at: Instant,
        default_lifetime: Duration,
        refresh_before: Duration,
    ) -> Option<Self> {
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token)).ok()?;
        header.set_sensitive(true);
        let lifetime = answer
            .expires_in
            .unwrap_or(default_lifetime)
            .min(MAX_LIFETIME);
        let schedule = Schedule::new(lifetime, refresh_before);
        Some(AccessToken {
            inner: Arc::new(Inner {
                secret: answer.access_token,
                header,
                scope: answer.scope,
                lifetime,
                fetched_at: sent_at,
                refresh_at: sent_at + schedule.refresh_after,
                stale_at: sent_at + schedule.stale_after,
            }),
        })
    }

    /// The token itself. Never log it.
    pub fn secret(&self) -> &str {
        &self.inner.secret
    }

    /// `Authorization: Bearer <token>` as a header value, marked sensitive (HTTP stacks do not
    /// log sensitive headers).
    pub fn bearer_header(&self) -> HeaderValue {
        self.inner.header.clone()
    }

    /// The answer's `scope`, if it had one.
    pub fn scope(&self) -> Option<&str> {
        self.inner.scope.as_deref()
    }

    /// The individual scopes of [`scope`](Self::scope).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.inner
            .scope
            .as_deref()
            .unwrap_or("")
            .split_ascii_whitespace()
    }

    /// How long the token lives from when its request was sent: the answer's `expires_in`
    /// (at most a day), or the source's `default_lifetime` when the answer had none.
    pub fn lifetime(&self) -> Duration {
        self.inner.lifetime
    }

    /// When the token expires: the moment its request was sent plus its
    /// [`lifetime`](Self::lifetime) (so never later than the server's own reckoning).
    pub fn expires_at(&self) -> std::time::Instant {
        (self.inner.fetched_at + self.inner.lifetime).into_std()
    }

    /// Whether the token is past its refresh point at `now`.
    pub(crate) fn wants_refresh(&self, now: Instant) -> bool {
        now >= self.inner.refresh_at
    }

    /// Whether the token is still handed out at `now`.
    pub(crate) fn is_usable(&self, now: Instant) -> bool {
        now < self.inner.stale_at
    }

    /// How long ago its request was sent.
    pub(crate) fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.inner.fetched_at)
    }

    /// Whether `header` is this token's `Authorization` value.
    pub(crate) fn is(&self, header: &HeaderValue) -> bool {
        self.inner.header.as_bytes() == header.as_bytes()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field(
                "secret",
                &format_args!("<redacted, {} bytes>", self.inner.secret.len()),
            )
            .field("scope", &self.inner.scope)
            .field("lifetime", &self.inner.lifetime)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_schedule_of_the_seeds_tokens() {
        // crm-now: 300 s, refresh_before 30 s.
        let crm_now = Schedule::new(secs(300), secs(30));
        assert_eq!(crm_now.refresh_after, secs(270));
        assert_eq!(crm_now.stale_after, secs(295));
        // SuiteCRM / 1CRM: an hour; 10 % beats 30 s.
        let suite = Schedule::new(secs(3600), secs(30));
        assert_eq!(suite.refresh_after, secs(3240));
        assert_eq!(suite.stale_after, secs(3595));
        // A short token: refresh_before is capped at half the lifetime, the leeway at half the
        // margin.
        let short = Schedule::new(secs(4), secs(30));
        assert_eq!(short.refresh_after, secs(2));
        assert_eq!(short.stale_after, secs(3));
        let tiny = Schedule::new(secs(1), Duration::ZERO);
        assert!(tiny.refresh_after < tiny.stale_after && tiny.stale_after < secs(1));
    }

    #[test]
    fn refresh_always_comes_before_stale_and_stale_before_expiry() {
        for lifetime in [1, 2, 3, 10, 59, 300, 3600, 86_400] {
            for before in [0, 1, 5, 30, 600, 100_000] {
                let s = Schedule::new(secs(lifetime), secs(before));
                assert!(s.refresh_after <= s.stale_after, "{lifetime} {before}");
                assert!(s.stale_after < secs(lifetime));
                assert!(s.refresh_after >= secs(lifetime) / 2);
            }
        }
    }

    #[test]
    fn debug_and_header_keep_the_token_safe() {
        let answer = TokenAnswer {
            access_token: "very-secret-token".into(),
            expires_in: Some(secs(300)),
            scope: Some("read write".into()),
        };
        let token = AccessToken::new(answer, Instant::now(), secs(60), secs(30)).unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains("very-secret-token"), "{shown}");
        assert!(shown.contains("17 bytes"), "{shown}");
        assert!(token.bearer_header().is_sensitive());
        assert_eq!(token.bearer_header(), "Bearer very-secret-token");
        assert_eq!(token.scopes().collect::<Vec<_>>(), ["read", "write"]);
        assert_eq!(token.lifetime(), secs(300));
    }

    #[test]
    fn a_missing_or_huge_expiry_is_bounded() {
        let answer = |expires_in| TokenAnswer {
            access_token: "t".into(),
            expires_in,
            scope: None,
        };
        let now = Instant::now();
        let assumed = AccessToken::new(answer(None), now, secs(60), secs(30)).unwrap();
        assert_eq!(assumed.lifetime(), secs(60));
        let huge = AccessToken::new(answer(Some(secs(u64::MAX / 4))), now, secs(60), secs(30));
        assert_eq!(huge.unwrap().lifetime(), MAX_LIFETIME);
    }
}
