//! The wall clock in whole milliseconds, as cache deadlines, shared entries and revocations
//! keep it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, rounded down; 0 for a time before 1970.
#[inline]
pub(crate) fn wall_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// [`wall_ms`] of now.
#[cfg(feature = "redis")]
pub(crate) fn wall_ms_now() -> u64 {
    wall_ms(SystemTime::now())
}

/// Whole milliseconds, saturating.
#[inline]
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_down_saturate_and_stop_at_1970() {
        assert_eq!(millis(Duration::from_micros(1_999)), 1);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(wall_ms(UNIX_EPOCH + Duration::from_millis(1_500)), 1_500);
        assert_eq!(wall_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
