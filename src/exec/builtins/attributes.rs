//! `touch` and `chmod`: times and permission bits.
//!
//! `chmod` takes octal or symbolic modes (`u+x,go-w`, `a=r`, `+X`) but never
//! sets setuid, setgid or sticky bits: modes are masked with `0o777` here,
//! and the jail masks them again. Symbolic modes without `u`/`g`/`o`/`a`
//! honour a umask of [`ASSUMED_UMASK`], as GNU does with the usual one.
//! Times are UTC.

use super::args::{self, Spec};
use super::{Gone, Io, MAX_DEPTH, reason, shown};
use crate::jail::{JailError, OpenOptions, SetAttrs, VirtualPath};
use crate::listing::calendar::{self, DateTime};
use crate::listing::mode_string;

/// The umask symbolic modes without a `who` respect.
pub const ASSUMED_UMASK: u32 = 0o022;

/// Applies mode `text` (octal, or symbolic clauses) to `current`; `None`
/// if it does not parse. Only permission bits come out.
pub(crate) fn parse_mode(text: &[u8], current: u32, is_dir: bool) -> Option<u32> {
    let text = std::str::from_utf8(text).ok()?;
    if !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u32::from_str_radix(text, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(|m| m & 0o777);
    }
    let mut mode = current & 0o777;
    for clause in text.split(',') {
        let mut chars = clause.chars().peekable();
        let mut who = 0u32;
        while let Some(&c) = chars.peek() {
            who |= match c {
                'u' => 0o700,
                'g' => 0o070,
                'o' => 0o007,
                'a' => 0o777,
                _ => break,
            };
            chars.next();
        }
        let masked = who == 0;
        if masked {
            who = 0o777;
        }
        let mut saw_op = false;
        while let Some(op) = chars.next() {
            if !matches!(op, '+' | '-' | '=') {
                return None;
            }
            saw_op = true;
            let mut bits = 0u32;
            while let Some(&c) = chars.peek() {
                let add = match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    'X' | 's' | 't' => 0,
                    'u' => spread((mode >> 6) & 7),
                    'g' => spread((mode >> 3) & 7),
                    'o' => spread(mode & 7),
                    '+' | '-' | '=' => break,
                    _ => return None,
                };
                bits |= add;
                chars.next();
            }
            let mut affected = bits & who;
            if masked {
                affected &= !ASSUMED_UMASK;
            }
            match op {
                '+' => mode |= affected,
                '-' => mode &= !affected,
                _ => {
                    let cleared = if masked { who & !ASSUMED_UMASK } else { who };
                    mode = (mode & !cleared) | affected;
                }
            }
        }
        if !saw_op {
            return None;
        }
    }
    Some(mode & 0o777)
}

/// Three permission bits copied to user, group and other.
fn spread(bits: u32) -> u32 {
    bits << 6 | bits << 3 | bits
}

/// Whether `arg` is a symbolic mode that starts with `-` (`chmod -w f`),
/// which GNU takes as the mode rather than as options.
fn is_dash_mode(arg: &[u8]) -> bool {
    arg.len() > 1 && arg.first() == Some(&b'-') && arg.iter().all(|b| b"rwxXst,ugoa+-=".contains(b))
}

/// `chmod [-Rvcf] MODE FILE...`.
pub(crate) fn chmod(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "chmod",
        flags: "Rvcf",
        valued: "",
        long: &[
            ("recursive", 'R'),
            ("verbose", 'v'),
            ("changes", 'c'),
            ("silent", 'f'),
            ("quiet", 'f'),
        ],
        usage_status: 1,
    };
    let dash_mode = args.iter().position(|a| is_dash_mode(a));
    let rest: Vec<Vec<u8>> = args
        .iter()
        .enumerate()
        .filter(|(index, _)| Some(*index) != dash_mode)
        .map(|(_, arg)| arg.clone())
        .collect();
    let opts = match args::options(io, &SPEC, &rest)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let mut operands = opts.operands.clone();
    if let Some(mode) = dash_mode.and_then(|index| args.get(index)) {
        operands.insert(0, mode.clone());
    }
    let Some((mode, files)) = operands.split_first() else {
        return io.usage("chmod", "missing operand", 1);
    };
    if files.is_empty() {
        return io.usage(
            "chmod",
            &format!("missing operand after '{}'", shown(mode)),
            1,
        );
    }
    if parse_mode(mode, 0, false).is_none() {
        return io.usage("chmod", &format!("invalid mode: '{}'", shown(mode)), 1);
    }
    let mut status = 0;
    for file in files {
        let path = io.resolve(file);
        let ok = match path {
            Ok(path) => change_mode(io, &path, &shown(file), mode, &opts, 0)?,
            Err(err) => {
                io.err(
                    "chmod",
                    format!("cannot access '{}': {}", shown(file), reason(&err)),
                )?;
                false
            }
        };
        if !ok {
            status = 1;
        }
    }
    Ok(status)
}

/// Changes one file (and, with `-R`, what is below it).
fn change_mode(
    io: &mut Io,
    path: &VirtualPath,
    name: &str,
    mode: &[u8],
    opts: &args::Parsed,
    depth: usize,
) -> Result<bool, Gone> {
    io.check()?;
    let stat = match io.jail.stat(path) {
        Ok(stat) => stat,
        Err(err) => {
            if !opts.has('f') {
                io.err("chmod", format!("cannot access '{name}': {}", reason(&err)))?;
            }
            return Ok(false);
        }
    };
    let old = stat.mode & 0o777;
    let new = parse_mode(mode, old, stat.is_dir()).unwrap_or(old);
    let mut ok = true;
    if let Err(err) = io.jail.set_attrs(
        path,
        &SetAttrs {
            mode: Some(new),
            ..SetAttrs::default()
        },
        true,
    ) {
        if !opts.has('f') {
            io.err(
                "chmod",
                format!("changing permissions of '{name}': {}", reason(&err)),
            )?;
        }
        ok = false;
    } else if opts.has('v') || (opts.has('c') && old != new) {
        let (from, to) = (mode_string(old), mode_string(new));
        let (from, to) = (
            from.get(1..).unwrap_or_default(),
            to.get(1..).unwrap_or_default(),
        );
        let text = if old == new {
            format!("mode of '{name}' retained as {old:04o} ({from})\n")
        } else {
            format!("mode of '{name}' changed from {old:04o} ({from}) to {new:04o} ({to})\n")
        };
        io.out(text.as_bytes())?;
    }
    if opts.has('R') && stat.is_dir() {
        if depth + 1 >= MAX_DEPTH {
            io.err(
                "chmod",
                format!("'{name}': directories nested too deep (limit {MAX_DEPTH})"),
            )?;
            return Ok(false);
        }
        let entries = io.jail.read_dir(path).unwrap_or_default();
        for entry in entries {
            // Symlinks met while recursing are left alone, as GNU does.
            if entry.stat.is_symlink() {
                continue;
            }
            let Ok(child) = path.join(&entry.name) else {
                continue;
            };
            let child_name = format!(
                "{}/{}",
                name.trim_end_matches('/'),
                super::shown(&entry.name)
            );
            ok &= change_mode(io, &child, &child_name, mode, opts, depth + 1)?;
        }
    }
    Ok(ok)
}

/// `-t [[CC]YY]MMDDhhmm[.ss]`.
fn parse_stamp(text: &str) -> Option<i64> {
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
    valid(&dt).then(|| calendar::seconds(&dt))
}

/// `-d @SECONDS`, `-d YYYY-MM-DD`, `-d 'YYYY-MM-DD HH:MM[:SS]'` (UTC).
fn parse_date(text: &str) -> Option<i64> {
    if let Some(secs) = text.strip_prefix('@') {
        return secs.parse().ok();
    }
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, time),
        None => (text, "00:00:00"),
    };
    let mut ymd = date.splitn(3, '-');
    let year = ymd.next()?.parse().ok()?;
    let month = ymd.next()?.parse().ok()?;
    let day = ymd.next()?.parse().ok()?;
    let mut hms = time.trim_end_matches('Z').splitn(3, ':');
    let hour = hms.next()?.parse().ok()?;
    let minute = hms.next()?.parse().ok()?;
    let second = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    let dt = DateTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    };
    valid(&dt).then(|| calendar::seconds(&dt))
}

fn valid(dt: &DateTime) -> bool {
    (1..=12).contains(&dt.month)
        && (1..=31).contains(&dt.day)
        && dt.hour < 24
        && dt.minute < 60
        && dt.second < 61
}

/// `touch [-acm] [-d DATE | -t STAMP | -r FILE] FILE...`.
pub(crate) fn touch(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
    if let Some(text) = opts.value('d').or(opts.value('t')) {
        let text = String::from_utf8_lossy(text);
        let parsed = if opts.last_of("dt") == Some('t') {
            parse_stamp(&text)
        } else {
            parse_date(&text)
        };
        let Some(secs) = parsed else {
            let what = if opts.last_of("dt") == Some('t') {
                "time"
            } else {
                "date"
            };
            io.err("touch", format!("invalid {what} format '{text}'"))?;
            return Ok(1);
        };
        (atime, mtime) = (secs, secs);
    }
    if let Some(reference) = opts.value('r') {
        match io.resolve(reference).and_then(|path| io.jail.stat(&path)) {
            Ok(st) => (atime, mtime) = (st.atime, st.mtime),
            Err(err) => {
                io.err(
                    "touch",
                    format!(
                        "failed to get attributes of '{}': {}",
                        shown(reference),
                        reason(&err)
                    ),
                )?;
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
            io.err(
                "touch",
                format!("cannot touch '{}': {}", shown(operand), reason(&err)),
            )?;
            status = 1;
        }
    }
    Ok(status)
}
