//! The verdict cache: positive verdicts, negative verdicts, and one shared verification per
//! token in flight.
//!
//! **Keys.** An entry is keyed by a 128-bit keyed fingerprint of the token ([`TokenKey`], see
//! `key.rs` for the construction and its collision bound), never by the token itself. The
//! fingerprint is unpredictable to outsiders, so the map uses its bits directly instead of
//! hashing them again.
//!
//! **Two caches.** Valid verdicts live in the positive cache (default 100,000 entries), each
//! with its deadline, `min(now + positive TTL, the token's own expiry)`, fixed when it is
//! stored, on the **wall clock**: a read past the deadline never returns the entry and removes
//! it. The wall clock, not a monotonic one, because `exp` is wall-clock time and a monotonic
//! clock can fall behind it (a suspended or paused VM resumes with its monotonic clock where
//! it stopped, while the wall clock is set forward): a verdict is never served past the
//! token's `exp` by the wall clock. A wall clock stepped *backwards* is caught too: an entry
//! read at a time before `deadline − positive TTL` (before it could have been stored) is
//! dropped, so a step back cannot stretch the TTL. One clock read per hit either way
//! (`SystemTime::now`, the same vDSO call as `Instant::now`).
//! The positive cache (`positive.rs`) is a concurrent CLOCK cache whose read sets a bit instead
//! of queueing the access; entries nobody reads are swept out once per positive TTL.
//! Invalid verdicts live in a separate, smaller negative cache
//! (default 10,000 entries, short TTL). A flood of unique garbage tokens therefore churns only
//! the negative cache; it can never evict a real user's positive verdict, because nothing but a
//! `Valid` answer is ever inserted into the positive cache. `Unavailable` answers are never
//! cached.
//!
//! **Eviction.** The positive cache admits every valid verdict and evicts by CLOCK-Pro (an entry
//! read again since it was stored survives a pass); the negative cache keeps moka's TinyLFU. A
//! frequency-based admission policy would refuse a newly verified token while the positive
//! cache is full of more often used ones, and that token would then be verified again on every
//! request (`tests/it/guard_cache.rs` shows it).
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the verdict caches: valid (deadline per entry) and invalid (moka, TinyLFU) |
//! | `positive.rs` | the valid-verdict cache: quick_cache (CLOCK-Pro, a read sets a bit), shards sized so the total stays within the capacity, the deadline check and the once-per-TTL sweep |
//! | `key.rs` | the cache key: the token's 128-bit keyed GMAC fingerprint; the revocation key (a JWS's signing input's fingerprint, else the cache key) |
//! | `forms.rs` | `Forms`: revocation key → the cache keys of every form filled under it (a JWT and its ECDSA twin), so a revocation drops them all |
//! | `inflight.rs` | one verification per token in flight (its `Outcome`, also what the caches answer); the in-flight cap |
//! | `revoked.rs` | the revoked set: revocation keys refused on the miss path for the revocation TTL; the longest revocation TTL (7 days) |

mod forms;
mod inflight;
mod key;
mod positive;
mod revoked;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moka::sync::Cache;

pub(crate) use forms::Forms;
#[cfg(feature = "redis")]
pub(crate) use forms::listing_ttl;
pub(crate) use inflight::{InFlight, Join, Outcome, wait_for};
pub(crate) use key::{BuildKeyHasher, RevocationKey, TokenKey, TokenKeyer};
#[cfg(feature = "redis")]
pub(crate) use revoked::REVOKED_CAPACITY;
pub(crate) use revoked::{MAX_REVOCATION_TTL, RevokedSet};

use self::positive::PositiveCache;
use crate::clock::{millis, wall_ms};
use crate::principal::Principal;

/// Positive and negative verdict caches. Clones share the same caches (the shared tier's
/// background task holds one to drop entries).
#[derive(Clone)]
pub(crate) struct VerdictCache {
    positive: Arc<PositiveCache>,
    negative: Cache<TokenKey, (), BuildKeyHasher>,
    positive_ttl: Duration,
}

/// The positive cache could not be set up with the capacity asked for.
#[derive(Debug)]
pub(crate) struct BadCapacity;

/// Sizes and lifetimes of the two caches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CacheSettings {
    pub(crate) capacity: u64,
    pub(crate) negative_capacity: u64,
    pub(crate) positive_ttl: Duration,
    pub(crate) negative_ttl: Duration,
}

impl VerdictCache {
    /// # Errors
    /// [`BadCapacity`] when the positive cache cannot hold `settings.capacity` entries.
    pub(crate) fn new(settings: CacheSettings) -> Result<Self, BadCapacity> {
        let positive = PositiveCache::new(
            settings.capacity,
            millis(settings.positive_ttl),
            wall_ms(SystemTime::now()),
        )
        .map_err(|_| BadCapacity)?;
        // The negative cache keeps TinyLFU: under a flood of unique garbage tokens it holds on
        // to the invalid tokens that keep coming back, so they are not re-verified upstream.
        let negative = Cache::builder()
            .max_capacity(settings.negative_capacity)
            .time_to_live(settings.negative_ttl)
            .build_with_hasher(BuildKeyHasher);
        Ok(VerdictCache {
            positive: Arc::new(positive),
            negative,
            positive_ttl: settings.positive_ttl,
        })
    }

    /// One lookup in the positive cache, then (only on a miss) one in the negative cache:
    /// [`Outcome::Valid`] or [`Outcome::Invalid`] (never `Unavailable`, which is not cached).
    #[inline]
    pub(crate) fn get(&self, key: &TokenKey) -> Option<Outcome> {
        if let Some(principal) = self.get_valid(key) {
            return Some(Outcome::Valid(principal));
        }
        self.is_invalid(key).then_some(Outcome::Invalid)
    }

    /// The cached valid verdict for `key`, if any: never one past its deadline,
    /// `min(positive TTL, the token's own expiry)`.
    #[inline]
    pub(crate) fn get_valid(&self, key: &TokenKey) -> Option<Principal> {
        self.get_valid_at(key, wall_ms(SystemTime::now()))
    }

    /// [`get_valid`](Self::get_valid) at wall-clock time `now_ms`.
    #[inline]
    fn get_valid_at(&self, key: &TokenKey, now_ms: u64) -> Option<Principal> {
        // Valid while the clock, rounded down, is before the deadline (itself rounded down),
        // and not before the entry could have been stored (a clock stepped back).
        self.positive.get(key, now_ms)
    }

    /// Whether `key` was recently found invalid.
    #[inline]
    pub(crate) fn is_invalid(&self, key: &TokenKey) -> bool {
        self.negative.contains_key(key)
    }

    /// Remembers a valid verdict, unless the token has already expired or the positive TTL
    /// is zero.
    #[cfg(test)]
    pub(crate) fn insert_valid(&self, key: TokenKey, principal: Principal) {
        self.insert_valid_within(key, principal, self.positive_ttl);
    }

    /// [`insert_valid`](Self::insert_valid), for at most `max_life` (the remaining life of a
    /// shared entry, or the short life of an entry stored while revocations may go unheard).
    pub(crate) fn insert_valid_within(
        &self,
        key: TokenKey,
        principal: Principal,
        max_life: Duration,
    ) {
        let now = SystemTime::now();
        let life_ms = millis(lifetime(&principal, self.positive_ttl.min(max_life), now));
        if life_ms == 0 {
            return;
        }
        let now_ms = wall_ms(now);
        self.negative.invalidate(&key);
        self.positive
            .insert(key, principal, now_ms.saturating_add(life_ms), now_ms);
    }

    /// Remembers an invalid verdict for the negative TTL.
    pub(crate) fn insert_invalid(&self, key: TokenKey) {
        self.negative.insert(key, ());
    }

    /// Forgets the valid verdict of `key` (a revocation).
    pub(crate) fn invalidate_valid(&self, key: &TokenKey) {
        self.positive.remove(key);
    }

    /// Forgets every valid verdict (the shared tier lost or regained its revocation feed).
    #[cfg(feature = "redis")]
    pub(crate) fn invalidate_all_valid(&self) {
        self.positive.clear();
    }

    /// The valid verdict of `key`, if any (for a revocation's deadline in Redis).
    #[cfg(feature = "redis")]
    pub(crate) fn peek_valid(&self, key: &TokenKey) -> Option<Principal> {
        self.positive.peek(key)
    }

    /// Entry counts `(positive, negative)` after pending maintenance has run (entries past
    /// their deadline are swept out). For tests and metrics; not for the request path.
    pub(crate) fn entry_counts(&self) -> (u64, u64) {
        self.negative.run_pending_tasks();
        (
            self.positive.len(wall_ms(SystemTime::now())),
            self.negative.entry_count(),
        )
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
    use crate::principal::VerifierKind;

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
        let cache = VerdictCache::new(settings()).unwrap_or_else(|_| panic!("cache"));
        let key = TokenKey::of(b"t");
        let past = Principal::builder(VerifierKind::Jwt)
            .expires_at(SystemTime::now() - Duration::from_secs(1))
            .build();
        cache.insert_valid(key, past);
        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn an_entry_is_returned_until_its_deadline_and_removed_after() {
        let cache = VerdictCache::new(CacheSettings {
            positive_ttl: Duration::from_millis(400),
            ..settings()
        })
        .unwrap_or_else(|_| panic!("cache"));
        let soon = Principal::builder(VerifierKind::Jwt)
            .expires_at(SystemTime::now() + Duration::from_millis(150))
            .build();
        let (short, long) = (TokenKey::of(b"short"), TokenKey::of(b"long"));
        cache.insert_valid(short, soon);
        cache.insert_valid(long, Principal::builder(VerifierKind::Remote).build());
        assert!(cache.get_valid(&short).is_some());
        std::thread::sleep(Duration::from_millis(200));
        // Past the token's expiry, within the positive TTL: gone, and removed.
        assert!(cache.get_valid(&short).is_none());
        assert!(cache.get_valid(&long).is_some());
        assert_eq!(cache.entry_counts().0, 1);
        std::thread::sleep(Duration::from_millis(250));
        // Read 200 ms ago, so not idle; but past the positive TTL since it was stored.
        assert!(cache.get_valid(&long).is_none());
        assert_eq!(cache.entry_counts().0, 0);
    }

    #[test]
    fn a_verdict_is_never_served_past_exp_by_the_wall_clock_even_if_time_jumps() {
        // A VM paused right after the verdict was stored resumes with the wall clock 10 s on:
        // a monotonic deadline would still be 298 s away; the token expired 8 s ago.
        let cache = VerdictCache::new(settings()).unwrap_or_else(|_| panic!("cache"));
        let now = SystemTime::now();
        let key = TokenKey::of(b"jwt");
        cache.insert_valid(
            key,
            Principal::builder(VerifierKind::Jwt)
                .expires_at(now + Duration::from_secs(2))
                .build(),
        );
        let stored_at = wall_ms(now);
        assert!(cache.get_valid_at(&key, stored_at + 1_000).is_some());
        assert!(cache.get_valid_at(&key, stored_at + 10_000).is_none());
        assert_eq!(
            cache.entry_counts().0,
            0,
            "removed when found past its deadline"
        );
    }

    #[test]
    fn a_wall_clock_stepped_back_does_not_stretch_the_positive_ttl() {
        let cache = VerdictCache::new(settings()).unwrap_or_else(|_| panic!("cache"));
        let key = TokenKey::of(b"opaque");
        cache.insert_valid(key, Principal::builder(VerifierKind::Remote).build());
        let stored_at = wall_ms(SystemTime::now());
        assert!(cache.get_valid_at(&key, stored_at + 299_000).is_some());
        // The clock stepped back an hour: the entry's deadline would lie 1 h 5 min ahead.
        assert!(cache.get_valid_at(&key, stored_at - 3_600_000).is_none());
    }

    #[test]
    fn entries_nobody_reads_are_dropped_after_the_positive_ttl() {
        let cache = VerdictCache::new(CacheSettings {
            positive_ttl: Duration::from_millis(100),
            ..settings()
        })
        .unwrap_or_else(|_| panic!("cache"));
        for i in 0..10u8 {
            cache.insert_valid(
                TokenKey::of(&[i]),
                Principal::builder(VerifierKind::Remote).build(),
            );
        }
        assert_eq!(cache.entry_counts().0, 10);
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(cache.entry_counts().0, 0);
    }

    #[test]
    fn invalid_then_valid_replaces_the_negative_entry() {
        let cache = VerdictCache::new(settings()).unwrap_or_else(|_| panic!("cache"));
        let key = TokenKey::of(b"t");
        cache.insert_invalid(key);
        assert!(matches!(cache.get(&key), Some(Outcome::Invalid)));
        cache.insert_valid(key, Principal::builder(VerifierKind::Remote).build());
        assert!(matches!(cache.get(&key), Some(Outcome::Valid(_))));
    }
}
