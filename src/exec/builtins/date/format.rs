//! `date`'s `FORMAT`: GNU's conversions (`%Y`, `%V`, `%c`, `%N`, …) with
//! the `-`, `_`, `0`, `+`, `^` and `#` flags, a width and the `E`/`O`
//! modifiers (which the C locale ignores), over a UTC time with the C
//! locale's names. A conversion GNU does not know is copied as it is, as
//! GNU does, and so are the bytes between conversions.

use crate::listing::calendar::{self, DateTime};

/// Widest field a `FORMAT` may ask for (`%2000Y`): bounds the padding a
/// client can make the server allocate.
pub const MAX_FIELD_WIDTH: usize = 1024;

/// A time broken down for formatting.
pub(super) struct Moment {
    /// The UTC calendar date and time of `seconds`.
    pub dt: DateTime,
    /// Seconds since the epoch.
    pub seconds: i64,
    /// Nanoseconds after them.
    pub nanoseconds: u32,
}

/// How a conversion pads, from its flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pad {
    /// The conversion's own: zeros for most numbers, spaces for `%e`,
    /// `%k`, `%l` and for text.
    Usual,
    /// `-`: none at all.
    None,
    /// `_`: spaces.
    Spaces,
    /// `0`: zeros.
    Zeros,
    /// `+`: zeros, and a `+` before a number wider than the field.
    Plus,
}

/// One `%…` conversion's flags and width.
#[derive(Debug, Clone, Copy)]
struct Field {
    pad: Pad,
    upper: bool,
    swap_case: bool,
    width: Option<usize>,
}

/// Conversions the `E` and `O` modifiers may not precede (GNU then copies
/// the whole conversion as it is).
const REFUSES_E: &str = "aAbBdDeFgGhHIjklmMNSUVwW";
const REFUSES_O: &str = "aAcDFqxXY";

/// Expands `layout` for `t`; bytes outside conversions are copied raw.
pub(super) fn format(layout: &[u8], t: &Moment) -> Vec<u8> {
    let mut out = Vec::with_capacity(layout.len() + 32);
    let mut i = 0;
    while let Some(&byte) = layout.get(i) {
        if byte != b'%' {
            out.push(byte);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let mut field = Field {
            pad: Pad::Usual,
            upper: false,
            swap_case: false,
            width: None,
        };
        while let Some(&flag) = layout.get(i) {
            match flag {
                b'-' => field.pad = Pad::None,
                b'_' => field.pad = Pad::Spaces,
                b'0' => field.pad = Pad::Zeros,
                b'+' => field.pad = Pad::Plus,
                b'^' => field.upper = true,
                b'#' => field.swap_case = true,
                _ => break,
            }
            i += 1;
        }
        while let Some(digit) = layout.get(i).filter(|d| d.is_ascii_digit()) {
            let width = field.width.unwrap_or(0) * 10 + usize::from(digit - b'0');
            field.width = Some(width.min(MAX_FIELD_WIDTH));
            i += 1;
        }
        let modifier = layout.get(i).copied().filter(|m| matches!(m, b'E' | b'O'));
        i += usize::from(modifier.is_some());
        let mut colons = 0;
        while layout.get(i) == Some(&b':') {
            colons += 1;
            i += 1;
        }
        let Some(&letter) = layout.get(i) else {
            out.extend_from_slice(layout.get(start..).unwrap_or_default());
            break;
        };
        i += 1;
        let refused = match modifier {
            Some(b'E') => REFUSES_E.contains(char::from(letter)),
            Some(_) => REFUSES_O.contains(char::from(letter)),
            None => false,
        };
        let expanded = if refused || (colons > 0 && letter != b'z') {
            None
        } else {
            conversion(letter, colons, &field, t)
        };
        match expanded {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => out.extend_from_slice(layout.get(start..i).unwrap_or_default()),
        }
    }
    out
}

/// One conversion, or `None` for one GNU does not know.
fn conversion(letter: u8, colons: usize, field: &Field, t: &Moment) -> Option<String> {
    let dt = &t.dt;
    let hour12 = (dt.hour + 11) % 12 + 1;
    let weekday = calendar::weekday(dt);
    let yday = calendar::day_of_year(dt);
    let (iso_year, iso_week) = calendar::iso_week(dt);
    let two = |value: u32| number(u64::from(value), 2, '0', field);
    let text = match letter {
        b'a' => name(
            calendar::WEEKDAYS.get(usize::try_from(weekday).ok()?)?,
            field,
        ),
        b'A' => name(
            calendar::WEEKDAY_NAMES.get(usize::try_from(weekday).ok()?)?,
            field,
        ),
        b'b' | b'h' => name(calendar::month_name(dt.month), field),
        b'B' => {
            let index = usize::try_from(dt.month).ok()?.checked_sub(1)?;
            name(calendar::MONTH_NAMES.get(index)?, field)
        }
        b'c' => composite(b"%a %b %e %H:%M:%S %Y", field, t),
        b'C' => yearish(dt.year < 0, (dt.year / 100).unsigned_abs(), 2, field),
        b'd' => two(dt.day),
        b'D' | b'x' => composite(b"%m/%d/%y", field, t),
        b'e' => number(u64::from(dt.day), 2, ' ', field),
        b'F' => composite(b"%+4Y-%m-%d", field, t),
        b'g' => yearish(false, (iso_year % 100).unsigned_abs(), 2, field),
        b'G' => yearish(iso_year < 0, iso_year.unsigned_abs(), 4, field),
        b'H' => two(dt.hour),
        b'I' => two(hour12),
        b'j' => number(u64::from(yday), 3, '0', field),
        b'k' => number(u64::from(dt.hour), 2, ' ', field),
        b'l' => number(u64::from(hour12), 2, ' ', field),
        b'm' => two(dt.month),
        b'M' => two(dt.minute),
        b'n' => padded(String::from("\n"), field),
        b'N' => nanoseconds(t.nanoseconds, field),
        b'p' => lowered_by_hash(if dt.hour < 12 { "AM" } else { "PM" }, field),
        b'P' => lowered_by_hash(if dt.hour < 12 { "am" } else { "pm" }, field),
        b'q' => number(u64::from(dt.month.div_ceil(3)), 1, '0', field),
        b'r' => composite(b"%I:%M:%S %p", field, t),
        b'R' => composite(b"%H:%M", field, t),
        b's' => digits(
            t.seconds < 0,
            t.seconds.unsigned_abs(),
            1,
            '0',
            false,
            field,
        ),
        b'S' => two(dt.second),
        b't' => padded(String::from("\t"), field),
        b'T' | b'X' => composite(b"%H:%M:%S", field, t),
        b'u' => number(u64::from((weekday + 6) % 7 + 1), 1, '0', field),
        b'U' => two((yday + 6 - weekday) / 7),
        b'V' => two(iso_week),
        b'w' => number(u64::from(weekday), 1, '0', field),
        b'W' => two((yday + 6 - (weekday + 6) % 7) / 7),
        b'y' => yearish(false, (dt.year % 100).unsigned_abs(), 2, field),
        b'Y' => yearish(dt.year < 0, dt.year.unsigned_abs(), 4, field),
        // The server's zone is UTC, always.
        b'z' => (*["+0000", "+00:00", "+00:00:00", "+00"].get(colons)?).to_owned(),
        b'Z' => lowered_by_hash("UTC", field),
        b'%' if field.width.is_none() && field.pad == Pad::Usual => String::from("%"),
        _ => return None,
    };
    Some(text)
}

/// A number of `own_width` digits, padded with `usual` unless the flag
/// says otherwise.
fn number(value: u64, own_width: usize, usual: char, field: &Field) -> String {
    digits(false, value, own_width, usual, false, field)
}

/// A year-like number (`%C`, `%g`, `%G`, `%y`, `%Y`): with the `+` flag it
/// gets a `+` when it has more digits than its own width or the field is
/// wider than that.
fn yearish(negative: bool, magnitude: u64, own_width: usize, field: &Field) -> String {
    digits(negative, magnitude, own_width, '0', true, field)
}

/// A number padded to its width (the field's when it has one, its own
/// otherwise); a sign counts in the width, padding zeros go after it and
/// padding spaces before it.
fn digits(
    negative: bool,
    magnitude: u64,
    own_width: usize,
    usual: char,
    yearish: bool,
    field: &Field,
) -> String {
    let digits = magnitude.to_string();
    let width = field.width.unwrap_or(own_width);
    let plus = yearish
        && !negative
        && field.pad == Pad::Plus
        && (digits.len() > own_width || own_width < width);
    let sign = if negative {
        "-"
    } else if plus {
        "+"
    } else {
        ""
    };
    let fill = match field.pad {
        Pad::None => return format!("{sign}{digits}"),
        Pad::Spaces => ' ',
        Pad::Zeros | Pad::Plus => '0',
        Pad::Usual => usual,
    };
    let room = width.saturating_sub(sign.len() + digits.len());
    let padding = fill.to_string().repeat(room);
    if fill == ' ' {
        format!("{padding}{sign}{digits}")
    } else {
        format!("{sign}{padding}{digits}")
    }
}

/// `%N`: nanoseconds as that many digits (9 by default): cut, or
/// padded with zeros on the right.
fn nanoseconds(nanoseconds: u32, field: &Field) -> String {
    let mut digits = format!("{nanoseconds:09}");
    let width = field.width.filter(|w| *w > 0).unwrap_or(9);
    if width < digits.len() {
        digits.truncate(width);
    } else {
        digits.push_str(&"0".repeat(width - digits.len()));
    }
    digits
}

/// A weekday or month name: `^` and `#` both make it upper case.
fn name(text: &str, field: &Field) -> String {
    let text = if field.upper || field.swap_case {
        text.to_ascii_uppercase()
    } else {
        text.to_owned()
    };
    padded(text, field)
}

/// `%p`, `%P`, `%Z`: `#` makes them lower case; `^` leaves them alone.
fn lowered_by_hash(text: &str, field: &Field) -> String {
    let text = if field.swap_case {
        text.to_ascii_lowercase()
    } else {
        text.to_owned()
    };
    padded(text, field)
}

/// A layout made of other conversions (`%c`, `%D`, `%F`, …), expanded
/// with their own flags, then upper-cased (`^`) and padded as one text.
fn composite(layout: &[u8], field: &Field, t: &Moment) -> String {
    // The layouts are ASCII conversions, so what they expand to is text.
    let text = String::from_utf8_lossy(&format(layout, t)).into_owned();
    let text = if field.upper {
        text.to_ascii_uppercase()
    } else {
        text
    };
    padded(text, field)
}

/// Text padded on the left to the field's width: spaces, or zeros with
/// `0` and `+`; never with `-`.
fn padded(text: String, field: &Field) -> String {
    let Some(width) = field.width else {
        return text;
    };
    let fill = match field.pad {
        Pad::None => return text,
        Pad::Zeros | Pad::Plus => "0",
        Pad::Usual | Pad::Spaces => " ",
    };
    let room = width.saturating_sub(text.chars().count());
    format!("{}{text}", fill.repeat(room))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The times of the table's columns: (seconds, nanoseconds) of
    /// 2023-11-14 22:13:20.25 (a Tuesday), 1970-01-01 00:00:05.5,
    /// 2021-01-03 01:02:03 (ISO week 53 of 2020) and 1969-12-31 23:59:59.
    const TIMES: [(i64, u32); 4] = [
        (1_700_000_000, 250_000_000),
        (5, 500_000_000),
        (1_609_635_723, 0),
        (-1, 0),
    ];

    /// Each conversion and what GNU date 9.1 printed for it at each of
    /// [`TIMES`] with `TZ=UTC LC_ALL=C`.
    const TABLE: &[(&str, [&str; 4])] = &[
        ("%Y", ["2023", "1970", "2021", "1969"]),
        ("%m", ["11", "01", "01", "12"]),
        ("%d", ["14", "01", "03", "31"]),
        ("%H", ["22", "00", "01", "23"]),
        ("%M", ["13", "00", "02", "59"]),
        ("%S", ["20", "05", "03", "59"]),
        ("%y", ["23", "70", "21", "69"]),
        ("%e", ["14", " 1", " 3", "31"]),
        ("%j", ["318", "001", "003", "365"]),
        ("%a", ["Tue", "Thu", "Sun", "Wed"]),
        ("%A", ["Tuesday", "Thursday", "Sunday", "Wednesday"]),
        ("%b", ["Nov", "Jan", "Jan", "Dec"]),
        ("%B", ["November", "January", "January", "December"]),
        ("%h", ["Nov", "Jan", "Jan", "Dec"]),
        ("%p", ["PM", "AM", "AM", "PM"]),
        ("%Z", ["UTC", "UTC", "UTC", "UTC"]),
        ("%z", ["+0000", "+0000", "+0000", "+0000"]),
        ("%s", ["1700000000", "5", "1609635723", "-1"]),
        ("%t", ["\t", "\t", "\t", "\t"]),
        ("%%", ["%", "%", "%", "%"]),
        (
            "%F",
            ["2023-11-14", "1970-01-01", "2021-01-03", "1969-12-31"],
        ),
        ("%T", ["22:13:20", "00:00:05", "01:02:03", "23:59:59"]),
        ("%D", ["11/14/23", "01/01/70", "01/03/21", "12/31/69"]),
        ("%R", ["22:13", "00:00", "01:02", "23:59"]),
        (
            "%c",
            [
                "Tue Nov 14 22:13:20 2023",
                "Thu Jan  1 00:00:05 1970",
                "Sun Jan  3 01:02:03 2021",
                "Wed Dec 31 23:59:59 1969",
            ],
        ),
        ("%x", ["11/14/23", "01/01/70", "01/03/21", "12/31/69"]),
        ("%X", ["22:13:20", "00:00:05", "01:02:03", "23:59:59"]),
        ("%u", ["2", "4", "7", "3"]),
        ("%w", ["2", "4", "0", "3"]),
        ("%C", ["20", "19", "20", "19"]),
        ("%G", ["2023", "1970", "2020", "1970"]),
        ("%V", ["46", "01", "53", "01"]),
        ("%g", ["23", "70", "20", "70"]),
        ("%U", ["46", "00", "01", "52"]),
        ("%W", ["46", "00", "00", "52"]),
        ("%k", ["22", " 0", " 1", "23"]),
        ("%l", ["10", "12", " 1", "11"]),
        ("%I", ["10", "12", "01", "11"]),
        ("%P", ["pm", "am", "am", "pm"]),
        ("%q", ["4", "1", "1", "4"]),
        ("%N", ["250000000", "500000000", "000000000", "000000000"]),
        ("%3N", ["250", "500", "000", "000"]),
        ("%:z", ["+00:00", "+00:00", "+00:00", "+00:00"]),
        ("%::z", ["+00:00:00", "+00:00:00", "+00:00:00", "+00:00:00"]),
        ("%:::z", ["+00", "+00", "+00", "+00"]),
        ("%-d", ["14", "1", "3", "31"]),
        ("%_m", ["11", " 1", " 1", "12"]),
        ("%05d", ["00014", "00001", "00003", "00031"]),
        ("%-e", ["14", "1", "3", "31"]),
        ("%^a", ["TUE", "THU", "SUN", "WED"]),
        ("%#b", ["NOV", "JAN", "JAN", "DEC"]),
        ("%#p", ["pm", "am", "am", "pm"]),
        ("%#Z", ["utc", "utc", "utc", "utc"]),
        (
            "%10A",
            ["   Tuesday", "  Thursday", "    Sunday", " Wednesday"],
        ),
        ("%-10A", ["Tuesday", "Thursday", "Sunday", "Wednesday"]),
        ("%_5d", ["   14", "    1", "    3", "   31"]),
        ("%-j", ["318", "1", "3", "365"]),
        ("%_H", ["22", " 0", " 1", "23"]),
        ("%+6Y", ["+02023", "+01970", "+02021", "+01969"]),
        ("%Q", ["%Q", "%Q", "%Q", "%Q"]),
        ("%Ed", ["%Ed", "%Ed", "%Ed", "%Ed"]),
        ("%Oe", ["14", " 1", " 3", "31"]),
        ("%Ey", ["23", "70", "21", "69"]),
        ("%:Z", ["%:Z", "%:Z", "%:Z", "%:Z"]),
    ];

    fn at((seconds, nanoseconds): (i64, u32)) -> Moment {
        Moment {
            dt: calendar::utc(seconds),
            seconds,
            nanoseconds,
        }
    }

    #[test]
    fn every_conversion_prints_what_gnu_date_prints() {
        for (layout, expected) in TABLE {
            for (time, expected) in TIMES.into_iter().zip(expected) {
                let ours = format(layout.as_bytes(), &at(time));
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    *expected,
                    "{layout} at {time:?}"
                );
            }
        }
    }

    #[test]
    fn years_past_9999_and_before_0_are_signed_as_gnu_signs_them() {
        // 10000-01-01 and 0002-12-31 BC (year -1), as GNU printed them.
        let shown = |seconds, layout: &str| {
            String::from_utf8(format(layout.as_bytes(), &at((seconds, 0)))).unwrap()
        };
        assert_eq!(
            shown(253_402_300_800, "%Y|%F|%G|%C|%+5Y"),
            "10000|+10000-01-01|9999|100|+10000"
        );
        assert_eq!(
            shown(-62_198_755_200, "%Y %C %y %G %g"),
            "-001 -0 01 -002 02"
        );
    }

    #[test]
    fn bytes_outside_conversions_are_copied_raw_and_widths_are_bounded() {
        let t = at(TIMES[0]);
        assert_eq!(format(b"caf\xe9 %Y\n", &t), b"caf\xe9 2023\n");
        assert_eq!(format(b"%", &t), b"%");
        assert_eq!(format(b"%-", &t), b"%-");
        assert_eq!(format(b"%99999999999d", &t).len(), MAX_FIELD_WIDTH);
    }
}
