//! The cross-replica verification lock: a short lock its holder keeps alive while it verifies.
//!
//! The holder sets `SET lock <value> NX PX <px>` and refreshes it every `px / 4` (a
//! compare-value-and-`PEXPIRE` script, each call bounded by the Redis timeout and sent only
//! while the breaker is closed) for as long as its request's future runs: the refresh loop is polled by that
//! future ([`RedisStore::while_holding`](super::redis_store::RedisStore::while_holding)), so a
//! holder that dies (SIGKILL, a stopped process) or is cancelled stops refreshing with it, and
//! its lock is gone within `px`.
//!
//! `px` is `max(500 ms, 4 × Redis timeout)`, and the refreshes go out every quarter of it
//! counted from the instant the `SET NX` is sent ([`refresh_ticks`]), each finished within one
//! Redis timeout (at most another quarter). The lock is set when the `SET` reaches Redis, at
//! that instant `s` or later, so it lives until `s + px` at least; refresh `k` lands by
//! `s + (k + 1) · px / 4`. So even after a slow `SET` answer and a lost first refresh, the
//! second lands by `s + 3/4 · px`, and after any refresh sent at `t` the one after next lands
//! by `t + 3/4 · px`: a live holder never loses its lock to one slow or lost call, with a
//! quarter `px` to spare. (Counted from the `SET`'s answer instead, a slow answer and one lost
//! refresh let the second land at `s + px`.) At the default 100 ms Redis timeout `px` is
//! 500 ms. Refreshes go only through a closed breaker: a holder whose breaker opens
//! mid-verification lets its lock lapse, and waiters elsewhere verify in parallel.
//!
//! The value is `<32 hex digits: random>.<px in ms>`, so a waiter can tell a live holder's lock
//! from one nobody refreshes whatever the holder's Redis timeout: a lock is a live holder's
//! only when its value has this form and its remaining time (`PTTL`) is positive and at most
//! the `px` it names. A lock left by a dead or stopped holder expires within its `px`; a lock
//! set by hand with a `PX` longer than its value names, no expiry or another value is no live
//! holder's at once. (Someone with
//! write access to Redis can still set a well-formed lock and keep it: the waiter's wait stays
//! bounded by half of its time, as it always was.)

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::clock::millis;

/// The shortest lock `PX`: 500 ms.
const MIN_LOCK_PX: Duration = Duration::from_millis(500);
/// The longest `PX` a live holder's value may name: four times the longest Redis timeout.
const MAX_LOCK_PX: Duration = Duration::from_secs(40);
/// Length of the random part of a value, in hex digits.
const RANDOM_HEX: usize = 32;

/// The lock's `PX` for a holder whose Redis calls are bounded by `redis_timeout`.
pub(crate) fn lock_px(redis_timeout: Duration) -> Duration {
    redis_timeout
        .saturating_mul(4)
        .clamp(MIN_LOCK_PX, MAX_LOCK_PX)
}

/// How often the holder refreshes a lock of `px`: a quarter of it.
pub(crate) fn refresh_period(px: Duration) -> Duration {
    px / 4
}

/// The holder's refresh schedule for a lock of `px` whose `SET NX` was sent at `set_sent`:
/// every [`refresh_period`] counted from then (not from the `SET`'s answer, which may come a
/// Redis timeout after the lock was set). A tick missed while a refresh was out is skipped,
/// the next one stays on that grid.
pub(crate) fn refresh_ticks(set_sent: Instant, px: Duration) -> Interval {
    let period = refresh_period(px);
    let mut ticks = tokio::time::interval_at(set_sent + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticks
}

/// A new lock value naming `px`: 16 random bytes in hex, `.`, `px` in milliseconds; `None` if
/// the random generator fails (the caller then verifies without the lock).
pub(crate) fn new_value(px: Duration) -> Option<String> {
    let mut bytes = [0u8; RANDOM_HEX / 2];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    let mut value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    value.push('.');
    value.push_str(&millis(px).to_string());
    Some(value)
}

/// Whether a lock read back as `value` with `pttl` (Redis's `PTTL`: -2 no key, -1 no expiry,
/// else milliseconds left) is held by a live holder: a value of [`new_value`]'s form naming a
/// `PX` of at most [`MAX_LOCK_PX`], and a remaining time above zero and within it.
pub(crate) fn is_live(value: Option<&[u8]>, pttl: i64) -> bool {
    let Some(value) = value else {
        return false;
    };
    let Some(dot) = value.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (random, px) = (&value[..dot], &value[dot + 1..]);
    if random.len() != RANDOM_HEX || !random.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    if px.is_empty() || px.len() > 6 || !px.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let px_ms = px
        .iter()
        .fold(0i64, |n, &digit| n * 10 + i64::from(digit - b'0'));
    let max_ms = i64::try_from(millis(MAX_LOCK_PX)).unwrap_or(i64::MAX);
    px_ms <= max_ms && pttl > 0 && pttl <= px_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_px_is_four_redis_timeouts_but_at_least_half_a_second() {
        assert_eq!(lock_px(Duration::from_millis(1)), MIN_LOCK_PX);
        assert_eq!(lock_px(Duration::from_millis(100)), MIN_LOCK_PX);
        assert_eq!(
            lock_px(Duration::from_millis(250)),
            Duration::from_millis(1_000)
        );
        assert_eq!(lock_px(Duration::from_secs(10)), MAX_LOCK_PX);
        assert_eq!(
            refresh_period(MIN_LOCK_PX),
            Duration::from_millis(125),
            "a quarter"
        );
    }

    #[test]
    fn a_new_value_is_live_only_within_the_px_it_names() {
        let value = new_value(Duration::from_millis(500)).unwrap_or_default();
        assert!(value.ends_with(".500"), "{value}");
        let value = Some(value.as_bytes());
        assert!(is_live(value, 500));
        assert!(is_live(value, 1));
        assert!(!is_live(value, 501), "longer than a holder ever sets");
        assert!(!is_live(value, 0));
        assert!(!is_live(value, -1), "no expiry");
        assert!(!is_live(value, -2), "no key");
        assert!(!is_live(None, 400));
    }

    #[test]
    fn a_value_of_another_form_is_no_live_holders() {
        let hex = "00112233445566778899aabbccddeeff";
        for value in [
            "dead-holder".to_owned(),
            hex.to_owned(),
            format!("{hex}."),
            format!("{hex}.5x0"),
            format!("{hex}.-500"),
            format!("{hex}.40001"),
            format!("{hex}.9999999"),
            format!("{}.500", &hex[1..]),
            format!("{}g.500", &hex[1..]),
        ] {
            assert!(!is_live(Some(value.as_bytes()), 100), "{value}");
        }
        assert!(is_live(Some(format!("{hex}.40000").as_bytes()), 30_000));
    }

    /// The worst case of the margin argument, at a Redis timeout of a quarter of the PX: the
    /// `SET` is set at once but answered a Redis timeout later, the first refresh is lost (it
    /// takes a whole Redis timeout), the second lands a Redis timeout after it is sent. It
    /// lands at ¾ of the PX after the `SET` was sent, a quarter PX before the lock can lapse.
    #[tokio::test(start_paused = true)]
    async fn the_second_refresh_lands_a_quarter_px_before_the_lock_lapses_after_a_slow_set_and_a_lost_refresh()
     {
        for redis_timeout in [Duration::from_millis(125), Duration::from_secs(2)] {
            let px = lock_px(redis_timeout);
            let set_sent = Instant::now();
            // The lock is set as the SET reaches Redis, the earliest at `set_sent`.
            let lapses = set_sent + px;
            tokio::time::advance(redis_timeout).await; // the SET's answer
            let mut ticks = refresh_ticks(set_sent, px);
            ticks.tick().await;
            tokio::time::advance(redis_timeout).await; // the first refresh, lost
            ticks.tick().await;
            let lands = Instant::now() + redis_timeout;
            assert!(
                lands + px / 4 <= lapses,
                "{redis_timeout:?}: the second refresh lands {:?} after the SET was sent, \
                 the lock lapses {px:?} after it",
                lands - set_sent
            );
        }
    }
}
