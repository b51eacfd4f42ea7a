//! Seconds since the epoch ↔ UTC calendar dates, for long names, `stat`,
//! `touch -t` and `date`: day of the week, day of the year, ISO 8601 weeks
//! and the C locale's English names. The server shows every time in UTC (no
//! time zone database). Howard Hinnant's `days_from_civil` algorithms,
//! proleptic Gregorian.

/// A UTC date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// The year (proleptic Gregorian; may be before 1970).
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    /// 0..=23
    pub hour: u32,
    /// 0..=59
    pub minute: u32,
    /// 0..=59
    pub second: u32,
}

/// Three-letter English month names, as the C locale prints them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Full English month names, as the C locale prints them.
pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Three-letter English weekday names from Sunday, as the C locale prints
/// them.
pub const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Full English weekday names from Sunday, as the C locale prints them.
pub const WEEKDAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// 1970-01-01, day 0, was a Thursday.
const EPOCH_WEEKDAY: i64 = 4;

/// The UTC date and time of `secs` seconds since the epoch.
pub fn utc(secs: i64) -> DateTime {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Every value below is in range by construction of the algorithm.
    let small = |v: i64| u32::try_from(v).unwrap_or(0);
    DateTime {
        year,
        month: small(month),
        day: small(day),
        hour: small(of_day / 3600),
        minute: small(of_day % 3600 / 60),
        second: small(of_day % 60),
    }
}

/// `secs` since the epoch as RFC 3339 in UTC: `2026-12-01T14:08:26Z`.
pub fn rfc3339(secs: i64) -> String {
    let t = utc(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Seconds since the epoch of a UTC date and time.
pub fn seconds(dt: &DateTime) -> i64 {
    days_from_civil(dt.year, dt.month, dt.day) * 86_400
        + i64::from(dt.hour) * 3600
        + i64::from(dt.minute) * 60
        + i64::from(dt.second)
}

/// Days since 1970-01-01 of a date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day of the week: 0 is Sunday, 6 Saturday.
pub fn weekday(dt: &DateTime) -> u32 {
    let day = (days_from_civil(dt.year, dt.month, dt.day) + EPOCH_WEEKDAY).rem_euclid(7);
    u32::try_from(day).unwrap_or(0)
}

/// The day of the year: 1 is January 1st.
pub fn day_of_year(dt: &DateTime) -> u32 {
    let days = days_from_civil(dt.year, dt.month, dt.day) - days_from_civil(dt.year, 1, 1);
    u32::try_from(days + 1).unwrap_or(1)
}

/// The ISO 8601 week-numbering year and week (1..=53) of a date: weeks
/// start on Monday, and week 1 is the one holding the year's first
/// Thursday, so early January may belong to the year before and late
/// December to the year after.
pub fn iso_week(dt: &DateTime) -> (i64, u32) {
    // Monday is 1 … Sunday 7.
    let iso_weekday = i64::from((weekday(dt) + 6) % 7 + 1);
    let week = (i64::from(day_of_year(dt)) - iso_weekday + 10).div_euclid(7);
    let (year, week) = if week < 1 {
        (dt.year - 1, iso_weeks_in(dt.year - 1))
    } else if week > iso_weeks_in(dt.year) {
        (dt.year + 1, 1)
    } else {
        (dt.year, week)
    };
    (year, u32::try_from(week).unwrap_or(1))
}

/// 53 when the year starts on a Thursday, or is a leap year starting on a
/// Wednesday; 52 otherwise.
fn iso_weeks_in(year: i64) -> i64 {
    let starts = |year: i64| {
        (year + year.div_euclid(4) - year.div_euclid(100) + year.div_euclid(400)).rem_euclid(7)
    };
    if starts(year) == 4 || starts(year - 1) == 3 {
        53
    } else {
        52
    }
}

/// The month's name, `???` if out of range.
pub fn month_name(month: u32) -> &'static str {
    usize::try_from(month)
        .ok()
        .and_then(|m| m.checked_sub(1))
        .and_then(|index| MONTHS.get(index))
        .copied()
        .unwrap_or("???")
}

/// Now, in seconds since the epoch and the nanoseconds after them.
pub fn now_precise() -> (i64, u32) {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or((0, 0), |elapsed| {
            let seconds = i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX);
            (seconds, elapsed.subsec_nanos())
        })
}

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_a_z() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn dates_round_trip_through_seconds() {
        for secs in [0, 951_782_400, 1_700_000_000, -86_400, 4_102_444_799] {
            assert_eq!(seconds(&utc(secs)), secs);
        }
        let leap = utc(951_782_400);
        assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        assert_eq!(month_name(leap.month), "Feb");
    }

    #[test]
    fn weekdays_and_days_of_the_year_follow_the_calendar() {
        // 2023-11-14 was a Tuesday, the 318th day; 1970-01-01 a Thursday.
        let dt = utc(1_700_000_000);
        assert_eq!((weekday(&dt), day_of_year(&dt)), (2, 318));
        assert_eq!(weekday(&utc(0)), 4);
        assert_eq!(weekday(&utc(-1)), 3);
        assert_eq!(day_of_year(&utc(951_782_400)), 60); // 2000-02-29
        assert_eq!(day_of_year(&utc(978_220_800)), 366); // 2000-12-31
    }

    #[test]
    fn iso_weeks_cross_year_ends_as_iso_8601_says() {
        let date = |year, month, day| DateTime {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
        };
        // Each expectation is what GNU date +%G-%V printed.
        for (dt, expected) in [
            (date(2023, 11, 14), (2023, 46)),
            (date(2021, 1, 3), (2020, 53)),
            (date(2021, 1, 4), (2021, 1)),
            (date(2019, 12, 30), (2020, 1)),
            (date(2026, 12, 31), (2026, 53)),
            (date(2027, 1, 1), (2026, 53)),
            (date(2024, 12, 30), (2025, 1)),
            (date(1970, 1, 1), (1970, 1)),
            (date(10000, 1, 1), (9999, 52)),
        ] {
            assert_eq!(iso_week(&dt), expected, "{dt:?}");
        }
    }
}
