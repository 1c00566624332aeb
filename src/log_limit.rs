//! Rate-limited log lines, so that a condition hit by every request (an upstream that is down,
//! a full in-flight table, a flood of requests each logged once) cannot turn each request into
//! a log line.
//!
//! A [`RateLimitedLog`] lets up to `lines` lines through in each window of `per` (the guard's
//! own warnings: one line per [`LOG_INTERVAL`], [`RateLimitedLog::default`]); the ones held back
//! are counted, and the next line that goes out carries that count (`suppressed = N`), as the
//! kernel's "callbacks suppressed" does. Nothing is logged from a timer: when the condition
//! stops, the count waits for its next occurrence. Every line held back also increments the
//! counter `bearer_guard_log_lines_suppressed_total`.
//!
//! The guard's own warnings go through it (an upstream down, a full in-flight table, a
//! refused shared entry, a wrong admin token, a failed token refresh); it is public so that
//! binaries built on the guard can do the same (the sidecar logs one line per decision
//! through it).
//!
//! ```
//! use std::time::Duration;
//! use bearer_guard::log_limit::RateLimitedLog;
//!
//! let log = RateLimitedLog::new(2, Duration::from_secs(1)); // at most 2 lines a second
//! let mut lines = Vec::new();
//! for _ in 0..5 {
//!     log.emit(|suppressed| lines.push(suppressed));
//! }
//! assert_eq!(lines, [0, 0]); // the other 3 wait to be reported by the next line out
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The window of [`RateLimitedLog::default`]: one line per 10 s.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One rate-limited kind of log line. Lock-free: three atomics (and the metric's handle).
///
/// The budget is per window, and approximate under contention: two threads that open a new
/// window at the same instant may let one line more through than `lines`.
#[derive(Debug)]
pub struct RateLimitedLog {
    /// Lines allowed per window.
    lines: u64,
    /// Window length in milliseconds (at least 1).
    per_ms: u64,
    /// Start of the current window, in milliseconds on [`now_ms`]'s clock; `u64::MAX` before
    /// the first line.
    window_ms: AtomicU64,
    /// Lines let through (or tried) in the current window.
    used: AtomicU64,
    /// Lines held back since the last one that went out.
    suppressed: AtomicU64,
    /// `bearer_guard_log_lines_suppressed_total`, registered when the log is made.
    suppressed_total: metrics::Counter,
}

impl Default for RateLimitedLog {
    /// One line per [`LOG_INTERVAL`] (10 s).
    fn default() -> Self {
        Self::new(1, LOG_INTERVAL)
    }
}

impl RateLimitedLog {
    /// Up to `lines` lines per window of `per`. A `lines` of 0 is taken as 1 and a `per`
    /// under 1 ms as 1 ms. Registers `bearer_guard_log_lines_suppressed_total` with the
    /// metrics recorder installed now.
    pub fn new(lines: u64, per: Duration) -> Self {
        RateLimitedLog {
            lines: lines.max(1),
            per_ms: u64::try_from(per.as_millis()).unwrap_or(u64::MAX).max(1),
            window_ms: AtomicU64::new(u64::MAX),
            used: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            suppressed_total: crate::telemetry::log_lines_suppressed_counter(),
        }
    }

    /// Calls `emit` with the number of lines held back since the last one that went out, or
    /// counts this line as held back.
    pub fn emit(&self, emit: impl FnOnce(u64)) {
        self.emit_at(now_ms(), emit);
    }

    /// As [`emit`](Self::emit) (the guard's name for it).
    pub(crate) fn warn(&self, emit: impl FnOnce(u64)) {
        self.emit(emit);
    }

    fn emit_at(&self, now_ms: u64, emit: impl FnOnce(u64)) {
        let window = self.window_ms.load(Ordering::Relaxed);
        let expired = window == u64::MAX || now_ms >= window.saturating_add(self.per_ms);
        if expired
            && self
                .window_ms
                .compare_exchange(window, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.used.store(0, Ordering::Relaxed);
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.lines {
            emit(self.suppressed.swap(0, Ordering::Relaxed));
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            self.suppressed_total.increment(1);
        }
    }
}

/// Milliseconds since the first call in this process, on the monotonic clock.
fn now_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emitted(log: &RateLimitedLog, at_ms: u64) -> Option<u64> {
        let mut seen = None;
        log.emit_at(at_ms, |suppressed| seen = Some(suppressed));
        seen
    }

    #[test]
    fn first_line_goes_out_then_one_per_interval_with_the_held_back_count() {
        let log = RateLimitedLog::default();
        let interval = LOG_INTERVAL.as_millis() as u64;
        assert_eq!(emitted(&log, 0), Some(0));
        for at in 1..100 {
            assert_eq!(emitted(&log, at), None);
        }
        assert_eq!(emitted(&log, interval - 1), None);
        // 99 + 1 held back since the first line.
        assert_eq!(emitted(&log, interval), Some(100));
        assert_eq!(emitted(&log, interval + 1), None);
        assert_eq!(emitted(&log, 5 * interval), Some(1));
    }

    #[test]
    fn separate_logs_are_limited_separately() {
        let (a, b) = (RateLimitedLog::default(), RateLimitedLog::default());
        assert_eq!(emitted(&a, 7), Some(0));
        assert_eq!(emitted(&b, 8), Some(0));
        assert_eq!(emitted(&a, 9), None);
    }

    #[test]
    fn a_budget_lets_that_many_lines_through_per_window() {
        let log = RateLimitedLog::new(3, Duration::from_millis(1000));
        let first: Vec<_> = (0..10).map(|i| emitted(&log, 500 + i)).collect();
        assert_eq!(first[..3], [Some(0), Some(0), Some(0)]);
        assert!(first[3..].iter().all(Option::is_none));
        // The window opened at 500 ms; at 1499 ms it is still full.
        assert_eq!(emitted(&log, 1499), None);
        // A new window: three more, the first reports the 8 held back.
        assert_eq!(emitted(&log, 1500), Some(8));
        assert_eq!(emitted(&log, 1501), Some(0));
        assert_eq!(emitted(&log, 1502), Some(0));
        assert_eq!(emitted(&log, 1503), None);
    }
}
