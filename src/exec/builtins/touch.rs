//! `touch`: creating files and setting their times, in UTC: now, `-d`
//! (a date string, as `date -d` reads it), `-t` (a `[[CC]YY]MMDDhhmm[.ss]`
//! stamp) or `-r` (another file's times).

use super::args::{self, Spec};
use super::date_string::{self, Timestamp, is_valid};
use super::{Command, Gone, Io, reason};
use crate::jail::{JailError, OpenOptions, SetAttrs};
use crate::listing::calendar::{self, DateTime};
use crate::listing::quoting::{quote, quote_value};

/// `touch`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "touch",
    synopsis: "[-acm] [-t STAMP] [-d DATE] [-r FILE] FILE...",
    in_shell: true,
    run: touch,
}];

/// `-t [[CC]YY]MMDDhhmm[.ss]`.
fn parse_stamp(text: &[u8]) -> Option<i64> {
    if !text.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        return None;
    }
    // Digits and dots only, so it is ASCII.
    let text = std::str::from_utf8(text).ok()?;
    let (main, secs) = match text.split_once('.') {
        Some((main, secs)) if secs.len() == 2 => (main, secs.parse().ok()?),
        Some(_) => return None,
        None => (text, 0),
    };
    if !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| main.get(range).and_then(|s| s.parse::<u32>().ok());
    let (year, rest) = match main.len() {
        8 => (calendar::utc(calendar::now()).year, 0),
        10 => {
            let yy = i64::from(num(0..2)?);
            (if yy < 69 { 2000 + yy } else { 1900 + yy }, 2)
        }
        12 => (i64::from(num(0..4)?), 4),
        _ => return None,
    };
    let dt = DateTime {
        year,
        month: num(rest..rest + 2)?,
        day: num(rest + 2..rest + 4)?,
        hour: num(rest + 4..rest + 6)?,
        minute: num(rest + 6..rest + 8)?,
        second: secs,
    };
    is_valid(&dt).then(|| calendar::seconds(&dt))
}

/// `touch [-acm] [-d DATE | -t STAMP | -r FILE] FILE...`.
fn touch(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "touch",
        flags: "acmfh",
        valued: "dtr",
        long: &[
            ("no-create", 'c'),
            ("date", 'd'),
            ("reference", 'r'),
            ("no-dereference", 'h'),
        ],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    if opts.operands.is_empty() {
        return io.usage("touch", "missing file operand", 1);
    }
    let now = calendar::now();
    let (mut atime, mut mtime) = (now, now);
    let given = match opts.last_of("dt") {
        Some(letter) => opts.value(letter).map(|text| (letter, text)),
        None => None,
    };
    if let Some((letter, text)) = given {
        let parsed = if letter == 't' {
            parse_stamp(text)
        } else {
            date_string::parse(text, Timestamp::at(now)).map(|when| when.seconds)
        };
        let Some(secs) = parsed else {
            io.err(
                "touch",
                format!("invalid date format {}", quote_value(text)),
            )?;
            return Ok(1);
        };
        (atime, mtime) = (secs, secs);
    }
    if let Some(reference) = opts.value('r') {
        match io.resolve(reference).and_then(|path| io.jail.stat(&path)) {
            Ok(st) => (atime, mtime) = (st.atime, st.mtime),
            Err(err) => {
                let text = format!(
                    "failed to get attributes of {}: {}",
                    quote(reference),
                    reason(&err)
                );
                io.err("touch", text)?;
                return Ok(1);
            }
        }
    }
    let only_a = opts.has('a') && !opts.has('m');
    let only_m = opts.has('m') && !opts.has('a');
    let attrs = SetAttrs {
        atime: (!only_m).then_some(atime),
        mtime: (!only_a).then_some(mtime),
        ..SetAttrs::default()
    };
    let mut status = 0;
    for operand in &opts.operands {
        io.check()?;
        let touched = io.resolve(operand).and_then(|path| {
            match io.jail.stat(&path) {
                Err(JailError::NotFound) if opts.has('c') => return Ok(()),
                Err(JailError::NotFound) => {
                    let create = OpenOptions {
                        read: false,
                        write: true,
                        create: true,
                        mode: 0o666,
                        ..OpenOptions::default()
                    };
                    io.jail.open_file(&path, &create)?.set_attrs(&attrs)?;
                    return Ok(());
                }
                Err(err) => return Err(err),
                Ok(_) => {}
            }
            io.jail.set_attrs(&path, &attrs, true)
        });
        if let Err(err) = touched {
            let text = format!("cannot touch {}: {}", quote(operand), reason(&err));
            io.err("touch", text)?;
            status = 1;
        }
    }
    Ok(status)
}
