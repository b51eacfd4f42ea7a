//! Dates as users type them after `-d` (`date -d`, `touch -d`): the forms
//! of GNU's date strings that scripts use, read in UTC (the server's only
//! time zone): `@SECONDS[.FRACTION]`, `YYYY-MM-DD`,
//! `YYYY-MM-DD[ T]HH:MM[:SS][Z]`, `now` (or `today`) and the empty string
//! (today at midnight). Anything else is refused, never guessed.

use crate::listing::calendar::{self, DateTime};

/// A point in time: seconds since the epoch and the nanoseconds after
/// them (always below one second, also before 1970).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp {
    /// Whole seconds since the epoch, rounded down.
    pub seconds: i64,
    /// 0..=999_999_999
    pub nanoseconds: u32,
}

impl Timestamp {
    /// A whole second.
    pub fn at(seconds: i64) -> Timestamp {
        Timestamp {
            seconds,
            nanoseconds: 0,
        }
    }
}

/// Whether `dt` names a real time of day on a plausible day (a 61st
/// second allows for a leap second, as GNU does).
pub(crate) fn is_valid(dt: &DateTime) -> bool {
    (1..=12).contains(&dt.month)
        && (1..=31).contains(&dt.day)
        && dt.hour < 24
        && dt.minute < 60
        && dt.second < 61
}

/// Reads a date string, `now` being the current time; `None` if it is
/// not one of the forms above.
pub(crate) fn parse(text: &[u8], now: Timestamp) -> Option<Timestamp> {
    let text = std::str::from_utf8(text).ok()?.trim();
    match text {
        "now" | "today" => return Some(now),
        "" => return Some(Timestamp::at(midnight(now.seconds))),
        _ => {}
    }
    if let Some(epoch) = text.strip_prefix('@') {
        return epoch_seconds(epoch.trim_start());
    }
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, time.trim()),
        None => (text, "00:00:00"),
    };
    let mut ymd = date.splitn(3, '-');
    let year = number(ymd.next()?)?;
    let month = number(ymd.next()?)?;
    let day = number(ymd.next()?)?;
    let mut hms = time.strip_suffix('Z').unwrap_or(time).splitn(3, ':');
    let hour = number(hms.next()?)?;
    let minute = number(hms.next()?)?;
    let second = hms.next().map_or(Some(0), number)?;
    let dt = DateTime {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
    };
    is_valid(&dt).then(|| Timestamp::at(calendar::seconds(&dt)))
}

/// Digits only (no sign, no spaces), as a number.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `[+-]SECONDS[.FRACTION]`; a negative time with a fraction rounds down
/// (`-1.5` is 2 seconds before the epoch plus half a second), as GNU does.
fn epoch_seconds(text: &str) -> Option<Timestamp> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once(['.', ',']) {
        Some((whole, fraction)) => (whole, fraction),
        None => (unsigned, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    // Nanoseconds: the first nine digits, padded; later digits are dropped.
    let mut nanoseconds = 0u32;
    for position in 0..9 {
        let digit = fraction.as_bytes().get(position).map_or(0, |d| d - b'0');
        nanoseconds = nanoseconds * 10 + u32::from(digit);
    }
    if !negative {
        return Some(Timestamp {
            seconds: whole,
            nanoseconds,
        });
    }
    let seconds = whole.checked_neg()?;
    if nanoseconds == 0 {
        return Some(Timestamp::at(seconds));
    }
    Some(Timestamp {
        seconds: seconds.checked_sub(1)?,
        nanoseconds: 1_000_000_000 - nanoseconds,
    })
}

/// The start of the UTC day `seconds` falls in.
fn midnight(seconds: i64) -> i64 {
    seconds - seconds.rem_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, nanoseconds: u32) -> Option<Timestamp> {
        Some(Timestamp {
            seconds,
            nanoseconds,
        })
    }

    #[test]
    fn date_strings_read_as_gnu_date_reads_them_in_utc() {
        let now = Timestamp {
            seconds: 1_700_000_000,
            nanoseconds: 5,
        };
        assert_eq!(parse(b"@1700000000", now), at(1_700_000_000, 0));
        assert_eq!(parse(b"@ 5", now), at(5, 0));
        assert_eq!(parse(b"@+5", now), at(5, 0));
        assert_eq!(parse(b"@1.25", now), at(1, 250_000_000));
        assert_eq!(parse(b"@-1.5", now), at(-2, 500_000_000));
        assert_eq!(parse(b"@-1", now), at(-1, 0));
        assert_eq!(parse(b"@1.1234567891", now), at(1, 123_456_789));
        assert_eq!(parse(b"2023-11-14", now), at(1_699_920_000, 0));
        assert_eq!(parse(b"2023-11-14 10:00", now), at(1_699_956_000, 0));
        assert_eq!(parse(b"2023-11-14T10:00:05Z", now), at(1_699_956_005, 0));
        assert_eq!(parse(b"now", now), Some(now));
        assert_eq!(parse(b"", now), at(1_699_920_000, 0));
        assert_eq!(parse(b"today", now), Some(now));
        for bad in [
            &b"xyz"[..],
            b"@",
            b"@x",
            b"@1e3",
            b"2023-13-01",
            b"x\xff",
            b"@-",
        ] {
            assert_eq!(parse(bad, now), None, "{bad:?}");
        }
    }
}
