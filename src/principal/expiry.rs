//! A principal's expiry in 8 bytes, and the JSON NumericDate it is read from.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// An optional instant as nanoseconds since the Unix epoch (negative before 1970), `i64::MIN`
/// for none: half the size of an `Option<SystemTime>`. Exact from 1677 to 2262; an instant
/// outside that range is kept as the range's nearest end: an expiry after 2262 reads as the
/// end of 2262 (earlier than given, never later), one before 1677 as 1677 (long past still).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Expiry(i64);

impl Expiry {
    /// No expiry known.
    pub(super) const NONE: Expiry = Expiry(i64::MIN);

    /// The expiry at `at`.
    pub(super) fn at(at: SystemTime) -> Self {
        let nanos = match at.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            Err(before) => {
                i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |nanos| -nanos)
            }
        };
        // `i64::MIN` is taken by NONE; one nanosecond later (year 1677) is as far back.
        Expiry(nanos.max(i64::MIN + 1))
    }

    /// The instant, when known.
    pub(super) fn get(self) -> Option<SystemTime> {
        if self == Expiry::NONE {
            return None;
        }
        let nanos = Duration::from_nanos(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH.checked_add(nanos)
        } else {
            UNIX_EPOCH.checked_sub(nanos)
        }
    }
}

/// Reads a JSON NumericDate (seconds since the epoch, integer or fraction) as a `SystemTime`.
pub(crate) fn unix_time_from_json(value: &Value) -> Option<SystemTime> {
    let seconds = value.as_f64()?;
    if !(0.0..=253_402_300_799.0).contains(&seconds) {
        return None; // beyond year 9999: not a real expiry
    }
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_reads_back_to_the_nanosecond_before_and_after_1970() {
        for at in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            UNIX_EPOCH - Duration::new(1, 1),
        ] {
            assert_eq!(Expiry::at(at).get(), Some(at));
        }
        assert_eq!(Expiry::NONE.get(), None);
    }

    #[test]
    fn an_expiry_out_of_range_is_kept_as_the_nearest_end_never_later() {
        let year_9999 = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        let kept = Expiry::at(year_9999).get();
        assert_eq!(
            kept,
            Some(UNIX_EPOCH + Duration::from_nanos(i64::MAX.unsigned_abs()))
        );
        assert!(kept.is_some_and(|kept| kept < year_9999));
        let long_ago = UNIX_EPOCH - Duration::from_secs(400 * 365 * 86_400);
        assert_ne!(Expiry::at(long_ago), Expiry::NONE);
        assert!(Expiry::at(long_ago).get().is_some_and(|at| at < UNIX_EPOCH));
    }
}
