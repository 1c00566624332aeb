//! The positive verdict cache: valid verdicts with their wall-clock deadlines, in a concurrent
//! CLOCK cache whose read sets a bit instead of recording the access in a queue.
//!
//! **Why not moka here.** moka's `get` records every read in a queue for its eviction policy
//! and reads its own clock; on the hit path that was most of the lookup's cost (BENCHMARKS.md,
//! "Components"). quick_cache keeps sharded hash tables behind read-write locks: a hit takes
//! a shard's read lock, finds the entry, bumps its reference counter and clones the value (one
//! reference count), with no allocation and no clock read. Its eviction (CLOCK-Pro, close to
//! S3-FIFO) admits every insert: a newly verified token goes into the "cold" part and moves to
//! "hot" once it is read again, so a full cache never turns away a fresh verdict (moka's
//! TinyLFU would).
//!
//! **Capacity.** quick_cache splits the capacity between its shards (a power of two, at most
//! four per core, with at least 32 entries each); this cache passes it a capacity rounded down
//! to a multiple of the shard count, so the total never exceeds the configured one. A shard can
//! fill, and evict, while others still have room: under random keys the cache starts evicting
//! a few percent below its capacity.
//!
//! **Deadlines and draining.** Every entry carries its deadline on the wall clock (see the
//! module above); a read past it never returns the entry and removes it. Entries nobody reads
//! are dropped by a sweep that runs at most once per positive TTL, on an insert (the miss path,
//! never the hit path), and whenever the entry count is asked for.

use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{OptionsBuilder, UnitWeighter};

use super::key::{BuildKeyHasher, TokenKey};
use crate::principal::Principal;

/// Share of the capacity for entries read at least twice ("hot"); the rest holds new ones.
const HOT_SHARE: f64 = 0.9;
/// Keys of recently evicted entries remembered (as a share of the capacity): one seen again is
/// admitted as hot. Each costs a slot, so the share is small.
const GHOST_SHARE: f64 = 0.1;
/// Fewest entries per shard (quick_cache's own floor).
const MIN_SHARD_ENTRIES: u64 = 32;

/// Valid verdicts by token key, each with its deadline.
pub(crate) struct PositiveCache {
    map: Cache<TokenKey, Fresh, UnitWeighter, BuildKeyHasher>,
    /// The longest an entry's deadline can lie ahead of the moment it was stored, in ms.
    ttl_ms: u64,
    /// Wall-clock ms after which the next insert sweeps out entries past their deadline.
    next_sweep_ms: AtomicU64,
}

/// A valid verdict and the moment it stops being usable, in milliseconds after the Unix epoch
/// on the wall clock (rounded down).
#[derive(Clone)]
struct Fresh {
    principal: Principal,
    until_ms: u64,
}

/// The cache could not be set up with the capacity asked for.
#[derive(Debug)]
pub(crate) struct BadCapacity;

impl PositiveCache {
    /// A cache for at most `capacity` entries (`capacity` ≥ 1) whose deadlines lie at most
    /// `ttl_ms` ahead.
    pub(crate) fn new(capacity: u64, ttl_ms: u64, now_ms: u64) -> Result<Self, BadCapacity> {
        let shards = shard_count(capacity, parallelism());
        let bounded = (capacity / shards).max(1) * shards;
        let options = OptionsBuilder::new()
            .shards(shards as usize)
            .estimated_items_capacity(usize::try_from(bounded).map_err(|_| BadCapacity)?)
            .weight_capacity(bounded)
            .hot_allocation(HOT_SHARE)
            .ghost_allocation(GHOST_SHARE)
            .build()
            .map_err(|_| BadCapacity)?;
        Ok(PositiveCache {
            map: Cache::with_options(
                options,
                UnitWeighter,
                BuildKeyHasher,
                DefaultLifecycle::default(),
            ),
            ttl_ms,
            next_sweep_ms: AtomicU64::new(now_ms.saturating_add(ttl_ms)),
        })
    }

    /// The principal cached for `key` at wall-clock time `now_ms`, if its deadline has not
    /// passed and the clock has not been stepped back before the moment it was stored.
    #[inline]
    pub(crate) fn get(&self, key: &TokenKey, now_ms: u64) -> Option<Principal> {
        let fresh = self.map.get(key)?;
        if now_ms < fresh.until_ms && now_ms.saturating_add(self.ttl_ms) >= fresh.until_ms {
            return Some(fresh.principal);
        }
        // Only this stale entry: a fresher verdict stored meanwhile stays.
        self.map
            .remove_if(key, |current| current.until_ms == fresh.until_ms);
        None
    }

    /// The principal cached for `key`, whatever its deadline, without counting as a read.
    #[cfg(feature = "redis")]
    pub(crate) fn peek(&self, key: &TokenKey) -> Option<Principal> {
        self.map.peek(key).map(|fresh| fresh.principal)
    }

    /// Stores a verdict usable until `until_ms`, then sweeps if a sweep is due.
    pub(crate) fn insert(&self, key: TokenKey, principal: Principal, until_ms: u64, now_ms: u64) {
        self.map.insert(
            key,
            Fresh {
                principal,
                until_ms,
            },
        );
        let due = self.next_sweep_ms.load(Ordering::Relaxed);
        if now_ms >= due
            && self
                .next_sweep_ms
                .compare_exchange(
                    due,
                    now_ms.saturating_add(self.ttl_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.sweep(now_ms);
        }
    }

    /// Drops every entry past its deadline at `now_ms`.
    pub(crate) fn sweep(&self, now_ms: u64) {
        self.map.retain(|_, fresh| now_ms < fresh.until_ms);
    }

    /// Forgets `key`.
    pub(crate) fn remove(&self, key: &TokenKey) {
        self.map.remove(key);
    }

    /// Forgets everything.
    #[cfg(feature = "redis")]
    pub(crate) fn clear(&self) {
        self.map.clear();
    }

    /// Entries held, after sweeping out those past their deadline at `now_ms`.
    pub(crate) fn len(&self, now_ms: u64) -> u64 {
        self.sweep(now_ms);
        self.map.len() as u64
    }
}

/// Shards: up to four per core (a power of two), fewer when a shard would hold fewer than
/// [`MIN_SHARD_ENTRIES`].
fn shard_count(capacity: u64, cores: u64) -> u64 {
    let mut shards = cores.saturating_mul(4).max(1).next_power_of_two();
    while shards > 1 && capacity / shards < MIN_SHARD_ENTRIES {
        shards /= 2;
    }
    shards
}

fn parallelism() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::VerifierKind;

    fn principal() -> Principal {
        Principal::builder(VerifierKind::Remote).build()
    }

    #[test]
    fn shard_counts_keep_at_least_32_entries_per_shard() {
        assert_eq!(shard_count(50, 2), 1);
        assert_eq!(shard_count(100_000, 2), 8);
        assert_eq!(shard_count(100_000, 3), 16);
        assert_eq!(shard_count(1, 64), 1);
        assert_eq!(shard_count(1_000, 64), 16);
    }

    #[test]
    fn the_total_never_exceeds_the_capacity_asked_for() {
        for capacity in [1u64, 7, 50, 99, 1_000, 4_097] {
            let cache = PositiveCache::new(capacity, 60_000, 0)
                .unwrap_or_else(|_| panic!("capacity {capacity}"));
            for i in 0..capacity * 3 {
                cache.insert(TokenKey::of(&i.to_le_bytes()), principal(), 50_000, 0);
            }
            let len = cache.len(0);
            assert!(len <= capacity, "capacity {capacity}: {len} entries");
            assert!(len > 0, "capacity {capacity}: empty");
        }
    }

    #[test]
    fn a_small_cache_holds_exactly_its_capacity() {
        let cache = PositiveCache::new(50, 60_000, 0).unwrap_or_else(|_| panic!("cache"));
        for i in 0..50u64 {
            cache.insert(TokenKey::of(&i.to_le_bytes()), principal(), 50_000, 0);
        }
        assert_eq!(cache.len(0), 50);
        for i in 0..50u64 {
            assert!(cache.get(&TokenKey::of(&i.to_le_bytes()), 1).is_some());
        }
    }

    #[test]
    fn a_stale_read_removes_the_entry_and_a_sweep_drops_unread_ones() {
        let cache = PositiveCache::new(100, 10_000, 1_000).unwrap_or_else(|_| panic!("cache"));
        let (read, unread) = (TokenKey::of(b"read"), TokenKey::of(b"unread"));
        cache.insert(read, principal(), 5_000, 1_000);
        cache.insert(unread, principal(), 5_000, 1_000);
        assert!(cache.get(&read, 4_999).is_some());
        assert!(cache.get(&read, 5_000).is_none());
        assert_eq!(cache.len(4_999), 1, "the stale read removed its entry");
        assert_eq!(cache.len(5_000), 0, "the sweep dropped the unread one");
    }

    #[test]
    fn an_insert_sweeps_once_per_ttl() {
        let cache = PositiveCache::new(100, 10_000, 0).unwrap_or_else(|_| panic!("cache"));
        cache.insert(TokenKey::of(b"old"), principal(), 2_000, 0);
        // Past the old entry's deadline, before the first sweep is due: it stays.
        cache.insert(TokenKey::of(b"a"), principal(), 13_000, 3_000);
        assert!(cache.map.peek(&TokenKey::of(b"old")).is_some());
        // Due: the insert sweeps it out.
        cache.insert(TokenKey::of(b"b"), principal(), 20_000, 10_000);
        assert!(cache.map.peek(&TokenKey::of(b"old")).is_none());
        assert!(cache.map.peek(&TokenKey::of(b"a")).is_some());
    }

    #[test]
    fn storing_a_key_again_replaces_its_deadline() {
        let cache = PositiveCache::new(100, 10_000, 0).unwrap_or_else(|_| panic!("cache"));
        let key = TokenKey::of(b"t");
        cache.insert(key, principal(), 9_000, 0);
        cache.insert(key, principal(), 15_000, 8_000);
        assert!(cache.get(&key, 9_500).is_some());
    }
}
