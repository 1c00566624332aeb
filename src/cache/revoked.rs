//! Tokens revoked in this process (by [`revoke`](crate::BearerGuardLayer::revoke), or by a
//! revocation message from another replica for a token this one holds), by revocation key (a
//! JWT's signing input, an opaque token's bytes: see `key.rs`): refused on the miss path for
//! the revocation TTL, whatever the verifier says.

use std::time::Duration;

use moka::sync::Cache;

use super::{BuildKeyHasher, RevocationKey};

/// Longest revocation TTL accepted: 7 days (checked by the guard's builder; the shared tier
/// accepts a deny marker's deadline up to this far ahead, whatever replica wrote it).
pub(crate) const MAX_REVOCATION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Most revocations remembered at once; past it the least recently used are forgotten (their
/// deny markers in Redis, if any, still refuse them).
pub(crate) const REVOKED_CAPACITY: u64 = 100_000;

/// The revoked set: revocation keys, each for the revocation TTL from its revocation.
#[derive(Clone)]
pub(crate) struct RevokedSet {
    keys: Cache<RevocationKey, (), BuildKeyHasher>,
}

impl RevokedSet {
    pub(crate) fn new(ttl: Duration) -> Self {
        RevokedSet {
            keys: Cache::builder()
                .max_capacity(REVOKED_CAPACITY)
                .time_to_live(ttl)
                .build_with_hasher(BuildKeyHasher),
        }
    }

    pub(crate) fn insert(&self, key: RevocationKey) {
        self.keys.insert(key, ());
    }

    pub(crate) fn contains(&self, key: &RevocationKey) -> bool {
        self.keys.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_key_is_held_for_the_ttl() {
        let set = RevokedSet::new(Duration::from_millis(100));
        let key = RevocationKey::of(b"t");
        assert!(!set.contains(&key));
        set.insert(key);
        assert!(set.contains(&key));
        assert!(!set.contains(&RevocationKey::of(b"u")));
        std::thread::sleep(Duration::from_millis(150));
        assert!(!set.contains(&key));
    }

    #[test]
    fn the_set_is_bounded_by_its_capacity() {
        let set = RevokedSet::new(Duration::from_secs(3600));
        for i in 0..REVOKED_CAPACITY + 5_000 {
            set.insert(RevocationKey::of(&i.to_be_bytes()));
        }
        set.keys.run_pending_tasks();
        assert!(
            set.keys.entry_count() <= REVOKED_CAPACITY,
            "{}",
            set.keys.entry_count()
        );
        assert!(set.keys.entry_count() > 0);
    }
}
