//! `md5sum -c` and the other sums' `-c`: verifying a manifest line by
//! line (`--quiet`, `--status`, `--ignore-missing`, `--strict`), with GNU's
//! messages and tallies. A manifest's names are bytes, whatever they are;
//! `OK`/`FAILED` lines write them raw (escaped only when they hold a
//! newline), as GNU does. A line longer
//! than [`MAX_MANIFEST_LINE_BYTES`] counts as improperly formatted.

use super::{command, digest_of, escape, failure, tag};
use crate::checksum::HashAlgorithm;
use crate::exec::builtins::args::Parsed;
use crate::exec::builtins::input::Input;
use crate::exec::builtins::{Gone, Io};
use crate::jail::JailError;
use crate::listing::quoting::quote_if_needed;

/// Longest manifest line `-c` reads.
pub const MAX_MANIFEST_LINE_BYTES: usize = 64 * 1024;

/// Tallies of one `-c` run.
#[derive(Default)]
struct Tally {
    bad_lines: u64,
    good_lines: u64,
    unreadable: u64,
    mismatched: u64,
    verified: u64,
}

/// Verifies the manifest `operand`.
pub(super) fn check(
    io: &mut Io,
    algorithm: HashAlgorithm,
    operand: &[u8],
    opts: &Parsed,
) -> Result<u32, Gone> {
    let name = command(algorithm);
    let shown_manifest = if operand == b"-" {
        quote_if_needed(b"standard input")
    } else {
        quote_if_needed(operand)
    };
    let mut manifest = match Input::open(io, operand) {
        Ok(input) => input,
        Err(err) => {
            io.err(name, failure(operand, &err))?;
            return Ok(1);
        }
    };
    let mut tally = Tally::default();
    let mut line: Vec<u8> = Vec::new();
    let mut overlong = false;
    loop {
        let chunk = match manifest.next(io)? {
            Ok(chunk) => chunk,
            Err(err) => {
                io.err(name, failure(operand, &err))?;
                return Ok(1);
            }
        };
        let at_end = chunk.is_empty();
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let (piece, complete, after) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (
                    rest.get(..at).unwrap_or_default(),
                    true,
                    rest.get(at + 1..).unwrap_or_default(),
                ),
                None => (rest, false, &[][..]),
            };
            if line.len() + piece.len() > MAX_MANIFEST_LINE_BYTES {
                overlong = true;
            } else {
                line.extend_from_slice(piece);
            }
            if complete {
                check_line(io, algorithm, &line, overlong, opts, &mut tally)?;
                line.clear();
                overlong = false;
            }
            rest = after;
        }
        if at_end {
            if !line.is_empty() || overlong {
                check_line(io, algorithm, &line, overlong, opts, &mut tally)?;
            }
            break;
        }
    }
    if tally.good_lines == 0 {
        io.err(
            name,
            format!("{shown_manifest}: no properly formatted checksum lines found"),
        )?;
        return Ok(1);
    }
    if !opts.has('S') {
        let plural = |n: u64, one: &str, many: &str| {
            if n == 1 {
                one.to_owned()
            } else {
                many.to_owned()
            }
        };
        if tally.bad_lines > 0 {
            let text = plural(tally.bad_lines, "line is", "lines are");
            io.err(
                name,
                format!("WARNING: {} {text} improperly formatted", tally.bad_lines),
            )?;
        }
        if tally.unreadable > 0 {
            let text = plural(tally.unreadable, "listed file could", "listed files could");
            io.err(
                name,
                format!("WARNING: {} {text} not be read", tally.unreadable),
            )?;
        }
        if tally.mismatched > 0 {
            let text = plural(
                tally.mismatched,
                "computed checksum did",
                "computed checksums did",
            );
            io.err(
                name,
                format!("WARNING: {} {text} NOT match", tally.mismatched),
            )?;
        }
    }
    if opts.has('I') && tally.verified == 0 {
        io.err(name, format!("{shown_manifest}: no file was verified"))?;
        return Ok(1);
    }
    let failed =
        tally.unreadable > 0 || tally.mismatched > 0 || (opts.has('X') && tally.bad_lines > 0);
    Ok(u32::from(failed))
}

/// Parses one manifest line: `(expected hex, file name)`. The name is
/// bytes, whatever they are.
fn parse_line(algorithm: HashAlgorithm, line: &[u8]) -> Option<(String, Vec<u8>)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let hex_len = 2 * algorithm.digest_len();
    let tagged = format!("{} (", tag(algorithm));
    let (hex, file) = if let Some(rest) = line.strip_prefix(tagged.as_bytes()) {
        let split = rest.windows(4).rposition(|window| window == b") = ")?;
        (rest.get(split + 4..)?, rest.get(..split)?)
    } else {
        let hex = line.get(..hex_len)?;
        let sep = line.get(hex_len..hex_len + 2)?;
        if sep != b"  " && sep != b" *" {
            return None;
        }
        (hex, line.get(hex_len + 2..)?)
    };
    if hex.len() != hex_len || !hex.iter().all(u8::is_ascii_hexdigit) || file.is_empty() {
        return None;
    }
    let file = if escaped {
        unescape(file)?
    } else {
        file.to_vec()
    };
    let hex = hex
        .iter()
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect();
    Some((hex, file))
}

/// Undoes [`escape`]; `None` for an unknown escape.
fn unescape(file: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(file.len());
    let mut bytes = file.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        out.push(match bytes.next()? {
            b'\\' => b'\\',
            b'n' => b'\n',
            b'r' => b'\r',
            _ => return None,
        });
    }
    Some(out)
}

/// Verifies one manifest line.
fn check_line(
    io: &mut Io,
    algorithm: HashAlgorithm,
    line: &[u8],
    overlong: bool,
    opts: &Parsed,
    tally: &mut Tally,
) -> Result<(), Gone> {
    let parsed = if overlong {
        None
    } else {
        parse_line(algorithm, line)
    };
    let Some((expected, file)) = parsed else {
        tally.bad_lines += 1;
        return Ok(());
    };
    tally.good_lines += 1;
    let status_only = opts.has('S');
    // GNU writes the name raw unless a newline would break the line: then
    // escaped, behind a `\`, as in a manifest.
    let shown_file = if file.contains(&b'\n') {
        [&b"\\"[..], &escape(&file).1].concat()
    } else {
        file.clone()
    };
    match digest_of(io, algorithm, &file)? {
        Ok(actual) if actual == expected => {
            tally.verified += 1;
            if !status_only && !opts.has('Q') {
                io.out(&[shown_file.as_slice(), b": OK\n"].concat())?;
            }
        }
        Ok(_) => {
            tally.mismatched += 1;
            if !status_only {
                io.out(&[shown_file.as_slice(), b": FAILED\n"].concat())?;
            }
        }
        Err(JailError::NotFound) if opts.has('I') => {}
        Err(err) => {
            tally.unreadable += 1;
            io.err(command(algorithm), failure(&file, &err))?;
            if !status_only {
                io.out(&[shown_file.as_slice(), b": FAILED open or read\n"].concat())?;
            }
        }
    }
    Ok(())
}
