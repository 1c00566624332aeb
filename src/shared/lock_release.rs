//! Frees the cross-replica lock of a verification whose request was cancelled.
//!
//! The lock holder verifies inside its request's future. When that future is dropped (the
//! client went away, a timeout layer above the guard fired), the holder's own store — which
//! drops the lock — never runs, and every other replica would wait for the lock's `PX` (short,
//! but up to 40 s with a 10 s Redis timeout: `lock.rs`) before verifying by itself. [`LockRelease`] is armed from just
//! before the `SET NX` until the holder's store: dropped armed, it sends the compare-and-delete
//! on a spawned task, bounded by the Redis timeout. Outside a tokio runtime, or in one shutting
//! down (the spawned task is dropped unrun), nothing is sent and the lock ends at its `PX`.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// Armed: dropping it drops the lock. See the module docs.
pub(crate) struct LockRelease {
    armed: Option<(ConnectionManager, redis::Cmd)>,
    timeout: Duration,
}

impl std::fmt::Debug for LockRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockRelease")
            .field("armed", &self.armed.is_some())
            .finish_non_exhaustive()
    }
}

impl LockRelease {
    /// Armed with the command that drops the lock (it holds no token: the key is the shared
    /// id, the value the lock's random value).
    pub(crate) fn new(conn: ConnectionManager, unlock: redis::Cmd, timeout: Duration) -> Self {
        LockRelease {
            armed: Some((conn, unlock)),
            timeout,
        }
    }

    /// The holder reached its own store (which drops the lock): nothing to do on drop.
    pub(crate) fn disarm(mut self) {
        self.armed = None;
    }
}

impl Drop for LockRelease {
    fn drop(&mut self) {
        let Some((mut conn, unlock)) = self.armed.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = self.timeout;
        runtime.spawn(async move {
            let _ =
                tokio::time::timeout(timeout, unlock.query_async::<redis::Value>(&mut conn)).await;
        });
    }
}
