//! Whether this process hears the revocation feed, and since when: the state the subscriber
//! task sets and the miss path reads to decide how long a local valid verdict may live.
//!
//! A flag alone is not enough. A miss path reads Redis (or stores there), then fills the local
//! tier; if the feed is lost *and* back in between, a revocation published in that gap was
//! neither in what Redis answered nor heard, yet the flag says "up" at fill time. So every
//! loss and every return also moves an **epoch**: the miss path takes a [`FeedMark`] before
//! its first Redis call, and a local verdict lives its full lifetime only when the feed is up
//! and the epoch has not moved since that mark — checked once more after the insert, because
//! the subscriber's flush may run between the check and the insert.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The feed's state, shared by the subscriber task and the guard's miss path.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    up: AtomicBool,
    epoch: AtomicU64,
}

/// The feed's epoch when a miss path began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FeedMark(u64);

impl Feed {
    /// Whether revocation messages reach this process now.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Taken before a miss path's first Redis call.
    pub(crate) fn mark(&self) -> FeedMark {
        FeedMark(self.epoch.load(Ordering::SeqCst))
    }

    /// Whether every revocation published since `mark` was heard: the feed is up and was
    /// neither lost nor re-established since.
    pub(crate) fn heard_since(&self, mark: FeedMark) -> bool {
        self.is_up() && self.epoch.load(Ordering::SeqCst) == mark.0
    }

    /// The subscription is lost. Called **before** the local positives are dropped, so a fill
    /// that lands after that flush sees the new epoch.
    pub(crate) fn lost(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The subscription is back: the epoch moves before the local positives are dropped,
    /// `up` only after (see [`Feed::set_up`]).
    pub(crate) fn reestablished(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks the feed up, once the flush that follows [`Feed::reestablished`] is done.
    pub(crate) fn set_up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_heard_only_while_up_and_unmoved() {
        let feed = Feed::default();
        let before_up = feed.mark();
        assert!(!feed.heard_since(before_up), "never subscribed");
        feed.reestablished();
        feed.set_up();
        assert!(
            !feed.heard_since(before_up),
            "taken before the subscription"
        );
        let mark = feed.mark();
        assert!(feed.heard_since(mark));
        feed.lost();
        assert!(!feed.heard_since(mark), "lost");
        feed.reestablished();
        feed.set_up();
        assert!(
            !feed.heard_since(mark),
            "lost and back since the mark: a revocation in the gap was missed"
        );
        assert!(feed.heard_since(feed.mark()), "a new mark after the return");
    }
}
