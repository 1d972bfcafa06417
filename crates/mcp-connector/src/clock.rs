//! Time: the [`Clock`] the connector goes by, and calendar arithmetic for
//! the few places that print or compare UTC dates (audit timestamps, preset
//! check dates), without a date library (H. Hinnant's `days_from_civil` /
//! `civil_from_days` algorithms).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as stored in the database (the system
/// clock; code that holds a [`Clock`] asks it instead).
pub fn unix_now() -> i64 {
    unix_secs(SystemTime::now())
}

fn unix_secs(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The clock a subsystem is given (the auth layer's is `Auth::clock`): the
/// system clock, plus an offset that only tests move ([`Clock::advance`]),
/// so that a test of an expiry jumps forward instead of sleeping. Clones
/// share the offset; reading it is one relaxed atomic load.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, by this clock.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_millis(self.ahead_ms.load(Ordering::Relaxed))
    }

    /// Seconds since the Unix epoch, by this clock.
    pub fn unix_now(&self) -> i64 {
        unix_secs(self.now())
    }

    /// Move this clock (and every clone of it) forward by `by`. For tests:
    /// time never runs backwards, and production code never calls this.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date; `None` if it is not one.
pub fn days_from_civil(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn since_epoch(time: SystemTime) -> std::time::Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = i64::try_from(since_epoch(SystemTime::now()).as_secs()).unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11-25T08:43:03.123Z`.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let since = since_epoch(time);
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Unix seconds as `2026-11-25 08:43Z` (what the CLI listings and the
/// admin console show); `-` for none.
pub fn minute_utc(secs: Option<i64>) -> String {
    let Some(secs) = secs else {
        return "-".to_owned();
    };
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn an_advanced_clock_is_ahead_and_its_clones_with_it() {
        let clock = Clock::system();
        let clone = clock.clone();
        let before = unix_now();
        assert!((clock.unix_now() - before).abs() <= 1);
        clock.advance(Duration::from_secs(3600));
        assert!(clone.unix_now() >= before + 3600, "clones share the offset");
        assert!(clone.unix_now() <= unix_now() + 3601);
        assert!(
            (Clock::system().unix_now() - unix_now()).abs() <= 1,
            "a new clock is not"
        );
    }

    use super::*;

    #[test]
    fn round_trips_and_formats() {
        for date in [
            "1970-01-01",
            "2000-02-29",
            "2024-02-29",
            "2026-11-25",
            "2099-12-31",
        ] {
            let days = days_from_civil(date).expect("date");
            let (y, m, d) = civil_from_days(days);
            assert_eq!(format!("{y:04}-{m:02}-{d:02}"), date);
        }
        assert_eq!(days_from_civil("2026-13-01"), None);
        assert_eq!(days_from_civil("nope"), None);
        let t = UNIX_EPOCH + Duration::from_millis(1_764_060_183_123);
        assert_eq!(rfc3339_millis(t), "2025-11-25T08:43:03.123Z");
        assert_eq!(today().len(), 10);
    }
}
