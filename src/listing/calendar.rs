//! Seconds since the epoch ↔ UTC calendar dates, for long names, `stat`,
//! `touch -t` and `date`. The server shows every time in UTC (no time zone database).
//! Howard Hinnant's `days_from_civil` algorithms, proleptic Gregorian.

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

/// Seconds since the epoch of a UTC date and time.
pub fn seconds(dt: &DateTime) -> i64 {
    let (month, day) = (i64::from(dt.month), i64::from(dt.day));
    let year = if month <= 2 { dt.year - 1 } else { dt.year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(dt.hour) * 3600 + i64::from(dt.minute) * 60 + i64::from(dt.second)
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
    fn dates_round_trip_through_seconds() {
        for secs in [0, 951_782_400, 1_700_000_000, -86_400, 4_102_444_799] {
            assert_eq!(seconds(&utc(secs)), secs);
        }
        let leap = utc(951_782_400);
        assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        assert_eq!(month_name(leap.month), "Feb");
    }
}
