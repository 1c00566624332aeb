//! [`LockAttempt`]: one try at a token's cross-replica lock, as the miss path holds it — the
//! lock's random value, whether the `SET NX` took it, and the release-on-drop guard
//! (`lock_release.rs`) armed from before the `SET NX` until the holder's store.

use std::future::Future;

use tokio::time::Instant;

use super::keys::TokenIds;
use super::lock_release::LockRelease;
use super::redis_store::{RedisStore, Unreachable};

/// One try at the lock of a token, made by [`SharedTier::lock`](super::SharedTier::lock).
///
/// Dropped without [`disarm`](Self::disarm) (the holder's request was cancelled), it drops the
/// lock if it is still ours (a compare-and-delete on the random value: harmless when the
/// `SET NX` never happened).
pub(crate) struct LockAttempt<'a> {
    pub(super) store: &'a RedisStore,
    pub(super) ids: &'a TokenIds,
    /// The lock's random value (see `lock.rs`): what the store that drops it compares.
    pub(super) value: String,
    /// Just before the `SET NX` was sent: the refreshes count from here.
    pub(super) set_sent: Instant,
    pub(super) release: LockRelease,
    /// What the `SET NX` answered: `Ok(true)` taken, `Ok(false)` another replica holds it.
    pub(super) taken: Result<bool, Unreachable>,
}

impl std::fmt::Debug for LockAttempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockAttempt")
            .field("taken", &self.taken)
            .field("release", &self.release)
            .finish_non_exhaustive()
    }
}

impl LockAttempt<'_> {
    /// What the `SET NX` answered: `Ok(true)` this request holds the lock, `Ok(false)` another
    /// replica does; `Err` the answer was lost (the `SET` may have gone through).
    pub(crate) fn taken(&self) -> Result<bool, Unreachable> {
        self.taken
    }

    /// The lock's value, for the store that drops it.
    pub(crate) fn value(&self) -> &str {
        &self.value
    }

    /// Runs `work` (the holder's verification and store) while refreshing the lock (see
    /// [`RedisStore::while_holding`]).
    pub(crate) async fn hold<F: Future>(&self, work: F) -> F::Output {
        self.store
            .while_holding(self.ids, &self.value, self.set_sent, work)
            .await
    }

    /// The lock is not ours, or the holder reached its own store (which drops it): nothing to
    /// do on drop.
    pub(crate) fn disarm(self) {
        self.release.disarm();
    }
}
