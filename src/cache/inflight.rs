//! One verification per token in flight: concurrent misses for the same token wait for the
//! first one's answer instead of calling the verifier again.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

use super::{BuildKeyHasher, TokenKey};
use crate::principal::Principal;

/// The answer a verification hands to everyone waiting for it.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Valid(Principal),
    Invalid,
    Unavailable,
}

type Slot = watch::Receiver<Option<Outcome>>;

/// Verifications in flight, by token key, bounded in number.
pub(crate) struct InFlight {
    waiting: Mutex<HashMap<TokenKey, Slot, BuildKeyHasher>>,
    limit: usize,
}

/// What [`InFlight::join`] found.
pub(crate) enum Join {
    /// The answer was there after all (a verification finished just before).
    Ready(Outcome),
    /// Another request is verifying this token: wait for its answer.
    Wait(Slot),
    /// This request leads: verify, then send the answer and call [`InFlight::finish`].
    Lead(watch::Sender<Option<Outcome>>),
    /// Too many verifications in flight: answer "unavailable" rather than queue without bound.
    Full,
}

impl InFlight {
    pub(crate) fn new(limit: usize) -> Self {
        InFlight {
            waiting: Mutex::new(HashMap::with_hasher(BuildKeyHasher)),
            limit,
        }
    }

    /// Joins the verification of `key`, or registers a new one. `recheck` runs under the lock
    /// before registering, so a verification that finished (stored its verdict, then called
    /// `finish`) between the caller's cache miss and this call is not repeated.
    pub(crate) fn join(&self, key: TokenKey, recheck: impl FnOnce() -> Option<Outcome>) -> Join {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = waiting.get(&key) {
            return Join::Wait(slot.clone());
        }
        if let Some(outcome) = recheck() {
            return Join::Ready(outcome);
        }
        if waiting.len() >= self.limit {
            return Join::Full;
        }
        let (sender, slot) = watch::channel(None);
        waiting.insert(key, slot);
        Join::Lead(sender)
    }

    /// Forgets the verification of `key` (its verdict is in the cache by now, or was not
    /// cacheable).
    pub(crate) fn finish(&self, key: &TokenKey) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Number of verifications in flight.
    pub(crate) fn len(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Waits for the answer in `slot`; `None` when the leader went away without answering (its
/// request was dropped), so the caller may start over.
pub(crate) async fn wait_for(mut slot: Slot) -> Option<Outcome> {
    match slot.wait_for(Option::is_some).await {
        Ok(answer) => answer.clone(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_join_waits_and_full_table_refuses() {
        let inflight = InFlight::new(1);
        let a = TokenKey::of(b"a");
        assert!(matches!(inflight.join(a, || None), Join::Lead(_)));
        assert!(matches!(inflight.join(a, || None), Join::Wait(_)));
        assert!(matches!(
            inflight.join(TokenKey::of(b"b"), || None),
            Join::Full
        ));
        inflight.finish(&a);
        assert_eq!(inflight.len(), 0);
        assert!(matches!(
            inflight.join(a, || Some(Outcome::Invalid)),
            Join::Ready(Outcome::Invalid)
        ));
    }

    #[tokio::test]
    async fn a_dropped_leader_leaves_waiters_free_to_start_over() {
        let inflight = InFlight::new(4);
        let key = TokenKey::of(b"a");
        let Join::Lead(sender) = inflight.join(key, || None) else {
            panic!("expected to lead");
        };
        let Join::Wait(slot) = inflight.join(key, || None) else {
            panic!("expected to wait");
        };
        drop(sender);
        assert!(wait_for(slot).await.is_none());
    }
}
