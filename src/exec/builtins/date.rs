//! `date`: a time (now, `-d DATE`, or a file's with `-r`) in GNU's default
//! layout, a `+FORMAT`, RFC 5322 (`-R`), ISO 8601 (`-I[date|hours|minutes|
//! seconds|ns]`) or RFC 3339 (`--rfc-3339=date|seconds|ns`).
//!
//! The server's time zone is UTC and nothing else: there is no time zone
//! database, so every time is shown as GNU `date` shows it with `TZ=UTC`
//! (`-u` changes nothing, `%Z` is `UTC`, `%z` is `+0000`), with the C
//! locale's names. `FORMAT` is expanded by `date/format.rs`. Setting
//! the clock (`-s`, `MMDDhhmm[[CC]YY][.ss]`) is refused, after which the
//! time is shown, as GNU does when it may not set it.

mod format;

use super::args::{self, Spec};
use super::date_string::{self, Timestamp};
use super::{Command, Gone, Io, reason};
use crate::listing::calendar::{self, DateTime};
use crate::listing::quoting::{quote_if_needed, quote_value};
use format::{Moment, format};

/// `date`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "date",
    synopsis: "[-uR] [-d DATE | -r FILE] [-I[FMT]] [--rfc-3339=FMT] [+FORMAT]",
    in_shell: true,
    run: date,
}];

/// The options; `:` stands for `--rfc-3339`, which has no short form.
const SPEC: Spec = Spec {
    name: "date",
    flags: "uR",
    valued: "dIrs:",
    long: &[
        ("date", 'd'),
        ("iso-8601", 'I'),
        ("reference", 'r'),
        ("rfc-2822", 'R'),
        ("rfc-3339", ':'),
        ("rfc-email", 'R'),
        ("set", 's'),
        ("universal", 'u'),
        ("utc", 'u'),
    ],
    usage_status: 1,
};

/// GNU's default layout (`date` alone).
const DEFAULT_FORMAT: &[u8] = b"%a %b %e %H:%M:%S %Z %Y";

/// `-R`: RFC 5322, as mail headers have it.
const RFC_EMAIL_FORMAT: &[u8] = b"%a, %d %b %Y %H:%M:%S %z";

/// `-I`'s precisions and their layouts, in the order GNU lists them.
const ISO_8601: &[(&str, &[u8])] = &[
    ("hours", b"%Y-%m-%dT%H%:z"),
    ("minutes", b"%Y-%m-%dT%H:%M%:z"),
    ("date", b"%Y-%m-%d"),
    ("seconds", b"%Y-%m-%dT%H:%M:%S%:z"),
    ("ns", b"%Y-%m-%dT%H:%M:%S,%N%:z"),
];

/// `--rfc-3339`'s precisions and their layouts.
const RFC_3339: &[(&str, &[u8])] = &[
    ("date", b"%Y-%m-%d"),
    ("seconds", b"%Y-%m-%d %H:%M:%S%:z"),
    ("ns", b"%Y-%m-%d %H:%M:%S.%N%:z"),
];

/// `date [OPTION]... [+FORMAT]`.
fn date(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    let opts = match args::options(io, &SPEC, &optional_iso_argument(args))? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    if let Some(extra) = opts.operands.get(1) {
        return io.usage("date", format!("extra operand {}", quote_value(extra)), 1);
    }
    let operand = opts.operands.first();
    let layout_operand = operand.and_then(|operand| operand.strip_prefix(b"+"));
    // A time to set the clock to: `-s DATE`, or an operand without `+`.
    let stamp = operand.filter(|_| layout_operand.is_none());
    let sources = ['d', 'r', 's']
        .into_iter()
        .filter(|&letter| opts.has(letter));
    if sources.count() > 1 {
        let text = "the options to specify dates for printing are mutually exclusive";
        return io.usage("date", text, 1);
    }
    if let (Some(stamp), true) = (stamp, opts.has('d') || opts.has('r') || opts.has('s')) {
        let text = format!(
            "the argument {} lacks a leading '+';\n\
             when using an option to specify date(s), any non-option\n\
             argument must be a format string beginning with '+'",
            quote_value(stamp)
        );
        return io.usage("date", text, 1);
    }
    let mut layouts: Vec<&[u8]> = layout_operand.into_iter().collect();
    if opts.has('R') {
        layouts.push(RFC_EMAIL_FORMAT);
    }
    for (letter, option, table) in [('I', "--iso-8601", ISO_8601), (':', "--rfc-3339", RFC_3339)] {
        let Some(value) = opts.value(letter) else {
            continue;
        };
        match precision(value, table) {
            Some(layout) => layouts.push(layout),
            None => return bad_precision(io, value, option, table),
        }
    }
    if layouts.len() > 1 {
        io.err("date", "multiple output formats specified")?;
        return Ok(1);
    }
    let layout = layouts.pop().unwrap_or(DEFAULT_FORMAT);
    let (seconds, nanoseconds) = calendar::now_precise();
    let now = Timestamp {
        seconds,
        nanoseconds,
    };
    let when = if let Some(file) = opts.value('r') {
        match io.resolve(file).and_then(|path| io.jail.stat(&path)) {
            Ok(st) => Ok(Timestamp::at(st.mtime)),
            Err(err) => {
                io.err(
                    "date",
                    format!("{}: {}", quote_if_needed(file), reason(&err)),
                )?;
                return Ok(1);
            }
        }
    } else if let Some(text) = opts.value('d').or(opts.value('s')) {
        date_string::parse(text, now).ok_or(text)
    } else if let Some(stamp) = stamp {
        set_stamp(stamp, now).ok_or(stamp.as_slice())
    } else {
        Ok(now)
    };
    let when = match when {
        Ok(when) => when,
        Err(text) => {
            io.err("date", format!("invalid date {}", quote_value(text)))?;
            return Ok(1);
        }
    };
    let mut status = 0;
    if opts.has('s') || stamp.is_some() {
        // The box has no clock of its own to set; GNU shows the time anyway.
        io.err("date", "cannot set date: Operation not permitted")?;
        status = 1;
    }
    let dt = calendar::utc(when.seconds);
    // GNU's calendar years are a C `int` counted from 1900.
    if i32::try_from(dt.year - 1900).is_err() {
        let shown = quote_value(when.seconds.to_string().as_bytes());
        io.err("date", format!("time {shown} is out of range"))?;
        return Ok(1);
    }
    let moment = Moment {
        dt,
        seconds: when.seconds,
        nanoseconds: when.nanoseconds,
    };
    let mut line = format(layout, &moment);
    line.push(b'\n');
    io.out(&line)?;
    Ok(status)
}

/// `-I` and `--iso-8601` take their value only attached (`-Iseconds`,
/// `--iso-8601=ns`); alone they mean `date`, which the option parser,
/// knowing only required values, is told explicitly.
fn optional_iso_argument(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(args.len());
    let mut options_ended = false;
    for arg in args {
        let mut arg = arg.clone();
        if !options_ended {
            let long_iso = arg.len() > 2
                && arg.starts_with(b"--")
                && !arg.contains(&b'=')
                && b"--iso-8601".starts_with(&arg);
            if long_iso {
                arg.extend_from_slice(b"=date");
            } else if arg.first() == Some(&b'-')
                && arg.last() == Some(&b'I')
                && arg
                    .get(1..arg.len() - 1)
                    .is_some_and(|flags| flags.iter().all(|b| b"uR".contains(b)))
            {
                arg.extend_from_slice(b"date");
            }
            options_ended = arg == b"--";
        }
        out.push(arg);
    }
    out
}

/// The layout `value` names in `table`, by its name or an unambiguous
/// start of it.
fn precision(value: &[u8], table: &[(&str, &'static [u8])]) -> Option<&'static [u8]> {
    if let Some((_, layout)) = table.iter().find(|(name, _)| name.as_bytes() == value) {
        return Some(layout);
    }
    let mut starting = table
        .iter()
        .filter(|(name, _)| !value.is_empty() && name.as_bytes().starts_with(value));
    match (starting.next(), starting.next()) {
        (Some((_, layout)), None) => Some(layout),
        _ => None,
    }
}

/// GNU's message for a precision it does not know, listing those it does.
fn bad_precision(
    io: &mut Io,
    value: &[u8],
    option: &str,
    table: &[(&str, &[u8])],
) -> Result<u32, Gone> {
    let mut text = format!(
        "invalid argument {} for '{option}'\nValid arguments are:",
        quote_value(value)
    );
    for (name, _) in table {
        text.push_str(&format!("\n  - '{name}'"));
    }
    io.usage("date", text, 1)
}

/// The time a `MMDDhhmm[[CC]YY][.ss]` operand names, for the refusal to
/// set it; `None` if it names none.
fn set_stamp(stamp: &[u8], now: Timestamp) -> Option<Timestamp> {
    let (main, second) = match stamp.iter().position(|&b| b == b'.') {
        Some(dot) => (stamp.get(..dot)?, exact_digits(stamp.get(dot + 1..)?, 2)?),
        None => (stamp, 0),
    };
    let field = |at: usize| main.get(at..at + 2).and_then(|two| exact_digits(two, 2));
    let year = match main.len() {
        8 => calendar::utc(now.seconds).year,
        10 => {
            let yy = i64::from(field(8)?);
            if yy < 69 { 2000 + yy } else { 1900 + yy }
        }
        12 => i64::from(field(8)? * 100 + field(10)?),
        _ => return None,
    };
    let dt = DateTime {
        year,
        month: field(0)?,
        day: field(2)?,
        hour: field(4)?,
        minute: field(6)?,
        second,
    };
    date_string::is_valid(&dt).then(|| Timestamp::at(calendar::seconds(&dt)))
}

/// Exactly `count` decimal digits, as a number.
fn exact_digits(text: &[u8], count: usize) -> Option<u32> {
    if text.len() != count || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::format::{Moment, format};
    use super::*;

    fn at(seconds: i64, nanoseconds: u32) -> Moment {
        Moment {
            dt: calendar::utc(seconds),
            seconds,
            nanoseconds,
        }
    }

    #[test]
    fn the_fixed_layouts_are_gnus() {
        let t = at(1_700_000_000, 250_000_000);
        let shown = |layout: &[u8]| String::from_utf8(format(layout, &t)).unwrap();
        assert_eq!(shown(DEFAULT_FORMAT), "Tue Nov 14 22:13:20 UTC 2023");
        assert_eq!(shown(RFC_EMAIL_FORMAT), "Tue, 14 Nov 2023 22:13:20 +0000");
        let iso: Vec<String> = ISO_8601.iter().map(|(_, l)| shown(l)).collect();
        assert_eq!(
            iso,
            [
                "2023-11-14T22+00:00",
                "2023-11-14T22:13+00:00",
                "2023-11-14",
                "2023-11-14T22:13:20+00:00",
                "2023-11-14T22:13:20,250000000+00:00",
            ]
        );
        let rfc: Vec<String> = RFC_3339.iter().map(|(_, l)| shown(l)).collect();
        assert_eq!(
            rfc,
            [
                "2023-11-14",
                "2023-11-14 22:13:20+00:00",
                "2023-11-14 22:13:20.250000000+00:00",
            ]
        );
    }

    #[test]
    fn iso_and_rfc_precisions_accept_unambiguous_starts() {
        assert_eq!(
            precision(b"seconds", ISO_8601),
            Some(&b"%Y-%m-%dT%H:%M:%S%:z"[..])
        );
        assert_eq!(precision(b"h", ISO_8601), Some(&b"%Y-%m-%dT%H%:z"[..]));
        assert_eq!(
            precision(b"s", RFC_3339),
            Some(&b"%Y-%m-%d %H:%M:%S%:z"[..])
        );
        assert_eq!(precision(b"x", ISO_8601), None);
        assert_eq!(precision(b"", ISO_8601), None);
        let args: Vec<Vec<u8>> = [&b"-I"[..], b"-uI", b"--iso", b"-Ins", b"--", b"-I"]
            .iter()
            .map(|a| a.to_vec())
            .collect();
        let expected: Vec<Vec<u8>> = [
            &b"-Idate"[..],
            b"-uIdate",
            b"--iso=date",
            b"-Ins",
            b"--",
            b"-I",
        ]
        .iter()
        .map(|a| a.to_vec())
        .collect();
        assert_eq!(optional_iso_argument(&args), expected);
    }
}
