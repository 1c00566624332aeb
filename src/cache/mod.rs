//! The verdict cache: positive verdicts, negative verdicts, and one shared verification per
//! token in flight.
//!
//! **Keys.** An entry is keyed by a 128-bit keyed fingerprint of the token ([`TokenKey`], see
//! `key.rs` for the construction and its collision bound), never by the token itself. The
//! fingerprint is unpredictable to outsiders, so the map uses its bits directly instead of
//! hashing them again.
//!
//! **Two caches.** Valid verdicts live in the positive cache (default 100,000 entries), each
//! until `min(positive TTL, the token's own expiry)`: moka drops entries after the positive
//! TTL, and a read checks the token's own expiry (an entry past it is never returned). A
//! uniform TTL plus that check costs 24 bytes per entry less than moka's per-entry expiry
//! (265 against 281 bytes at 1M entries, see BENCHMARKS.md). Invalid verdicts live in a separate,
//! smaller negative cache (default 10,000 entries, short TTL). A flood of unique garbage tokens
//! therefore churns only the negative cache; it can never evict a real user's positive verdict,
//! because nothing but a `Valid` answer is ever inserted into the positive cache.
//! `Unavailable` answers are never cached.

mod inflight;
mod key;

use std::time::{Duration, SystemTime};

use moka::sync::Cache;

pub(crate) use inflight::{InFlight, Join, Outcome, wait_for};
pub(crate) use key::{BuildKeyHasher, TokenKey, TokenKeyer};

use crate::principal::Principal;

/// What the caches know about a token.
#[derive(Clone, Debug)]
pub(crate) enum Cached {
    Valid(Principal),
    Invalid,
}

/// Positive and negative verdict caches.
pub(crate) struct VerdictCache {
    positive: Cache<TokenKey, Principal, BuildKeyHasher>,
    negative: Cache<TokenKey, (), BuildKeyHasher>,
    positive_ttl: Duration,
}

/// Sizes and lifetimes of the two caches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CacheSettings {
    pub(crate) capacity: u64,
    pub(crate) negative_capacity: u64,
    pub(crate) positive_ttl: Duration,
    pub(crate) negative_ttl: Duration,
}

impl VerdictCache {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        let positive = Cache::builder()
            .max_capacity(settings.capacity)
            .time_to_live(settings.positive_ttl)
            .build_with_hasher(BuildKeyHasher);
        let negative = Cache::builder()
            .max_capacity(settings.negative_capacity)
            .time_to_live(settings.negative_ttl)
            .build_with_hasher(BuildKeyHasher);
        VerdictCache {
            positive,
            negative,
            positive_ttl: settings.positive_ttl,
        }
    }

    /// One lookup in the positive cache, then (only on a miss) one in the negative cache.
    #[inline]
    pub(crate) fn get(&self, key: &TokenKey) -> Option<Cached> {
        if let Some(principal) = self.get_valid(key) {
            return Some(Cached::Valid(principal));
        }
        self.is_invalid(key).then_some(Cached::Invalid)
    }

    /// The cached valid verdict for `key`, if any: never one past the positive TTL (moka) or
    /// past the token's own expiry (checked here).
    #[inline]
    pub(crate) fn get_valid(&self, key: &TokenKey) -> Option<Principal> {
        let principal = self.positive.get(key)?;
        match principal.expires_at() {
            Some(at) if at <= SystemTime::now() => None,
            _ => Some(principal),
        }
    }

    /// Whether `key` was recently found invalid.
    #[inline]
    pub(crate) fn is_invalid(&self, key: &TokenKey) -> bool {
        self.negative.contains_key(key)
    }

    /// Remembers a valid verdict, unless the token has already expired or the positive TTL
    /// is zero.
    pub(crate) fn insert_valid(&self, key: TokenKey, principal: Principal) {
        if lifetime(&principal, self.positive_ttl, SystemTime::now()).is_zero() {
            return;
        }
        self.negative.invalidate(&key);
        self.positive.insert(key, principal);
    }

    /// Remembers an invalid verdict for the negative TTL.
    pub(crate) fn insert_invalid(&self, key: TokenKey) {
        self.negative.insert(key, ());
    }

    /// Entry counts `(positive, negative)` after pending maintenance has run. For tests and
    /// metrics; not for the request path.
    pub(crate) fn entry_counts(&self) -> (u64, u64) {
        self.positive.run_pending_tasks();
        self.negative.run_pending_tasks();
        (self.positive.entry_count(), self.negative.entry_count())
    }
}

/// How long a valid verdict may be reused: `min(positive_ttl, expires_at - now)`, zero when the
/// token has expired.
fn lifetime(principal: &Principal, positive_ttl: Duration, now: SystemTime) -> Duration {
    match principal.expires_at() {
        Some(expires_at) => expires_at
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(positive_ttl),
        None => positive_ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VerifierKind;

    fn settings() -> CacheSettings {
        CacheSettings {
            capacity: 100,
            negative_capacity: 10,
            positive_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(10),
        }
    }

    #[test]
    fn lifetime_is_the_smaller_of_ttl_and_expiry() {
        let now = SystemTime::now();
        let soon = Principal::builder(VerifierKind::Jwt)
            .expires_at(now + Duration::from_secs(2))
            .build();
        assert_eq!(
            lifetime(&soon, Duration::from_secs(300), now),
            Duration::from_secs(2)
        );
        let late = Principal::builder(VerifierKind::Jwt)
            .expires_at(now + Duration::from_secs(3600))
            .build();
        assert_eq!(
            lifetime(&late, Duration::from_secs(300), now),
            Duration::from_secs(300)
        );
        let past = Principal::builder(VerifierKind::Jwt)
            .expires_at(now - Duration::from_secs(1))
            .build();
        assert_eq!(
            lifetime(&past, Duration::from_secs(300), now),
            Duration::ZERO
        );
        let unknown = Principal::builder(VerifierKind::Remote).build();
        assert_eq!(
            lifetime(&unknown, Duration::from_secs(300), now),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn expired_token_is_not_cached() {
        let cache = VerdictCache::new(settings());
        let key = TokenKey::of(b"t");
        let past = Principal::builder(VerifierKind::Jwt)
            .expires_at(SystemTime::now() - Duration::from_secs(1))
            .build();
        cache.insert_valid(key, past);
        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn invalid_then_valid_replaces_the_negative_entry() {
        let cache = VerdictCache::new(settings());
        let key = TokenKey::of(b"t");
        cache.insert_invalid(key);
        assert!(matches!(cache.get(&key), Some(Cached::Invalid)));
        cache.insert_valid(key, Principal::builder(VerifierKind::Remote).build());
        assert!(matches!(cache.get(&key), Some(Cached::Valid(_))));
    }
}
