//! Rate-limited warnings, so that a condition hit by every request (an upstream that is down,
//! a full in-flight table) cannot turn each request into a log line.
//!
//! Each [`RateLimitedLog`] lets its first warning through at once, then at most one per
//! [`LOG_INTERVAL`]; the ones held back in between are counted, and the next line that goes
//! out carries that count (`suppressed = N`), as the kernel's "callbacks suppressed" does.
//! Nothing is logged from a timer: when the condition stops, the count waits for its next
//! occurrence.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// At most one line per this interval for each rate-limited warning.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One rate-limited warning. Lock-free: two atomics (and the metric's handle).
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    /// Milliseconds (on [`now_ms`]'s clock) before which lines are held back.
    next_ms: AtomicU64,
    /// Lines held back since the last one that went out.
    suppressed: AtomicU64,
    /// `bearer_guard_log_lines_suppressed_total`, registered when the log is made (at build).
    suppressed_total: metrics::Counter,
}

impl Default for RateLimitedLog {
    fn default() -> Self {
        RateLimitedLog {
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            suppressed_total: crate::telemetry::log_lines_suppressed_counter(),
        }
    }
}

impl RateLimitedLog {
    /// Calls `emit` with the number of lines held back since the last one, or counts this one
    /// as held back.
    pub(crate) fn warn(&self, emit: impl FnOnce(u64)) {
        self.warn_at(now_ms(), emit);
    }

    fn warn_at(&self, now_ms: u64, emit: impl FnOnce(u64)) {
        let next = self.next_ms.load(Ordering::Relaxed);
        let interval = u64::try_from(LOG_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        if now_ms >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now_ms.saturating_add(interval),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            emit(self.suppressed.swap(0, Ordering::Relaxed));
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            self.suppressed_total.increment(1);
        }
    }
}

/// Milliseconds since the first call in this process, on the monotonic clock. A fresh log
/// holds back nothing before 0, so its first line always goes out.
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
        log.warn_at(at_ms, |suppressed| seen = Some(suppressed));
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
}
