//! Timestamps in RFC 3339, UTC, with microseconds, as tracing-subscriber's `SystemTime` timer
//! prints them, without `chrono` or `time` and without the formatter.

use std::{
    cell::RefCell,
    fmt::Write as _,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::number::push_two_digits;

thread_local! {
    /// The second of this thread's last timestamp and its text up to the `.`
    /// (`2026-11-23T15:04:05.`): the date and time are worked out once per second and thread.
    static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

/// Appends `now` as tracing-subscriber's `SystemTime` timer prints it:
/// `2026-11-23T15:04:05.123456Z`.
pub(crate) fn push_timestamp(line: &mut String, now: SystemTime) {
    push_timestamp_since(line, now, now.duration_since(UNIX_EPOCH).ok());
}

/// [`push_timestamp`] with `now`'s time since the epoch already worked out (`None`: before it).
pub(crate) fn push_timestamp_since(line: &mut String, now: SystemTime, since: Option<Duration>) {
    let Some(since) = since else {
        return push_timestamp_uncached(line, now);
    };
    let seconds = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let micros = since.subsec_micros();
    let cached = SECOND.try_with(|cell| {
        let Ok(mut second) = cell.try_borrow_mut() else {
            return false;
        };
        if second.0 != seconds {
            second.1.clear();
            push_timestamp_uncached(&mut second.1, now);
            // Keep `…:05.`; a year past 9999 is not cached.
            match second.1.len() {
                27 => second.1.truncate(20),
                _ => return false,
            }
            second.0 = seconds;
        }
        line.push_str(&second.1);
        true
    });
    if cached != Ok(true) {
        return push_timestamp_uncached(line, now);
    }
    push_two_digits(line, micros / 10_000);
    push_two_digits(line, micros / 100 % 100);
    push_two_digits(line, micros % 100);
    line.push('Z');
}

/// `time` in RFC 3339, UTC, whole seconds: `2026-11-23T15:04:05Z` (the fraction dropped, not
/// rounded) — for timestamps in documents rather than log lines, such as the health report's
/// `last_success`. The same calendar as the log lines' `timestamp`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let at = |secs| belfry_log::rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs));
/// assert_eq!(at(0), "1970-01-01T00:00:00Z");
/// assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
/// assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
/// assert_eq!(belfry_log::rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(1_999)), "1970-01-01T00:00:01Z");
/// ```
pub fn rfc3339_seconds(time: SystemTime) -> String {
    let mut text = String::with_capacity(27);
    push_timestamp_uncached(&mut text, time);
    // `….123456Z` → `…Z`
    if let Some(dot) = text.rfind('.') {
        text.truncate(dot);
        text.push('Z');
    }
    text
}

/// [`push_timestamp`] without the per-second cache.
fn push_timestamp_uncached(line: &mut String, now: SystemTime) {
    let (seconds, nanos) = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => (
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            since.subsec_nanos(),
        ),
        Err(error) => {
            let before = error.duration();
            let seconds = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-seconds, 0),
                nanos => (-seconds - 1, 1_000_000_000 - nanos),
            }
        }
    };
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    );
    let micros = nanos / 1_000;
    let four_digit_year = match u32::try_from(year) {
        Ok(year) if year <= 9999 => year,
        _ => {
            // Rare enough for `write!`; the same form as tracing-subscriber's.
            let sign = if year > 9999 { "+" } else { "" };
            let _ = write!(
                line,
                "{sign}{year:05}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z"
            );
            return;
        }
    };
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut text[0..4], four_digit_year);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    // In 0..86_400, so these fit.
    put_digits(&mut text[11..13], hour as u32);
    put_digits(&mut text[14..16], minute as u32);
    put_digits(&mut text[17..19], second as u32);
    put_digits(&mut text[20..26], micros);
    line.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// Writes `value`'s last `out.len()` decimal digits into `out`, zero-padded.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097); // 0..=146_096
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11, March first
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::{civil_from_days, push_timestamp};

    fn timestamp(time: SystemTime) -> String {
        let mut text = String::new();
        push_timestamp(&mut text, time);
        // The same, from the per-second cache, and without it.
        let mut again = String::new();
        push_timestamp(&mut again, time);
        assert_eq!(again, text);
        let mut uncached = String::new();
        super::push_timestamp_uncached(&mut uncached, time);
        assert_eq!(uncached, text);
        text
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let at = |seconds: u64, nanos: u32| timestamp(UNIX_EPOCH + Duration::new(seconds, nanos));
        let before = |seconds: u64, nanos: u32| timestamp(UNIX_EPOCH - Duration::new(seconds, nanos));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_795_446_245, 123_456_789), "2026-11-23T15:04:05.123456Z");
        assert_eq!(at(951_868_799, 999_999_999), "2000-02-29T23:59:59.999999Z");
        assert_eq!(at(1_709_208_000, 1_000), "2024-02-29T12:00:00.000001Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
        assert_eq!(at(253_402_300_799, 0), "9999-12-31T23:59:59.000000Z");
        assert_eq!(at(253_402_300_800, 0), "+10000-01-01T00:00:00.000000Z");
        assert_eq!(before(0, 1_000), "1969-12-31T23:59:59.999999Z");
        assert_eq!(before(1, 0), "1969-12-31T23:59:59.000000Z");
        assert_eq!(before(2_208_988_800, 0), "1900-01-01T00:00:00.000000Z");
        assert_eq!(before(62_167_219_200, 0), "0000-01-01T00:00:00.000000Z");
        assert_eq!(before(62_167_219_201, 0), "-0001-12-31T23:59:59.000000Z");
    }

    #[test]
    fn timestamps_match_tracing_subscribers_system_time() {
        use tracing_subscriber::fmt::{format::Writer, time::FormatTime};
        // The two clocks are read one after the other: retry if a second ticked in between.
        for _ in 0..10 {
            let mut theirs = String::new();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            let ours = timestamp(SystemTime::now());
            assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
            if ours[..19] == theirs[..19] {
                return;
            }
        }
        panic!("the timestamps never agreed to the second");
    }

    #[test]
    fn civil_from_days_matches_a_day_by_day_calendar() {
        let leap = |year: i64| year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let (mut year, mut month, mut day) = (0i64, 1u32, 1u32);
        // 0000-01-01 is 719 528 days before 1970-01-01; walk to 2600.
        for days in -719_528..230_000 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let length = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > length {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }
}
