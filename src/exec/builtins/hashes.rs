//! `md5sum`, `sha1sum`, `sha224sum`, `sha256sum`, `sha384sum`, `sha512sum`:
//! GNU's output (`HEX  NAME`, `*` with `-b`, `--tag`, `-z`, and the leading
//! `\` plus escapes for a name holding `\`, CR or LF) and `-c` to verify a
//! manifest (`--quiet`, `--status`, `--ignore-missing`, `--strict`).
//! Files and stdin stream to the end; a manifest line longer than
//! [`MAX_MANIFEST_LINE_BYTES`] counts as improperly formatted.

use digest::Digest;

use super::args::{self, Parsed, Spec};
use super::read::Input;
use super::{Gone, Io, reason, shown};
use crate::jail::JailError;

/// Longest manifest line `-c` reads.
pub const MAX_MANIFEST_LINE_BYTES: usize = 64 * 1024;

/// A running hash of one of the supported algorithms.
enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// The hasher of command `name`.
    fn for_command(name: &str) -> Hasher {
        match name {
            "md5sum" => Hasher::Md5(md5::Md5::new()),
            "sha1sum" => Hasher::Sha1(sha1::Sha1::new()),
            "sha224sum" => Hasher::Sha224(sha2::Sha224::new()),
            "sha384sum" => Hasher::Sha384(sha2::Sha384::new()),
            "sha512sum" => Hasher::Sha512(sha2::Sha512::new()),
            _ => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest in lowercase hex.
    fn hex(self) -> String {
        let bytes = match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The `--tag` name of command `name`'s algorithm: `MD5`, `SHA256`, ...
fn tag(name: &str) -> String {
    name.trim_end_matches("sum").to_ascii_uppercase()
}

/// Hashes `operand` (`-` is stdin) to its end.
fn digest_of(io: &mut Io, name: &str, operand: &[u8]) -> Result<Result<String, JailError>, Gone> {
    let mut input = match Input::open(io, operand) {
        Ok(input) => input,
        Err(err) => return Ok(Err(err)),
    };
    let mut hasher = Hasher::for_command(name);
    loop {
        match input.next(io)? {
            Ok(chunk) if chunk.is_empty() => return Ok(Ok(hasher.hex())),
            Ok(chunk) => hasher.update(&chunk),
            Err(err) => return Ok(Err(err)),
        }
    }
}

/// A name as GNU writes it in a checksum line: with `\`, LF or CR, the
/// line gets a leading `\` and those are escaped.
fn escape(name: &[u8]) -> (bool, Vec<u8>) {
    if !name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r')) {
        return (false, name.to_vec());
    }
    let mut escaped = Vec::with_capacity(name.len() + 4);
    for &byte in name {
        match byte {
            b'\\' => escaped.extend_from_slice(b"\\\\"),
            b'\n' => escaped.extend_from_slice(b"\\n"),
            b'\r' => escaped.extend_from_slice(b"\\r"),
            other => escaped.push(other),
        }
    }
    (true, escaped)
}

/// `NAMEsum [OPTION]... [FILE]...`.
pub(crate) fn sum(io: &mut Io, name: &'static str, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const LONG: &[(&str, char)] = &[
        ("binary", 'b'),
        ("check", 'c'),
        ("ignore-missing", 'I'),
        ("quiet", 'Q'),
        ("status", 'S'),
        ("strict", 'X'),
        ("tag", 'G'),
        ("text", 't'),
        ("warn", 'w'),
        ("zero", 'z'),
    ];
    let spec = Spec {
        name,
        flags: "bctwz",
        valued: "",
        long: LONG,
        usage_status: 1,
    };
    let opts = match args::options(io, &spec, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let operands = if opts.operands.is_empty() {
        vec![b"-".to_vec()]
    } else {
        opts.operands.clone()
    };
    if opts.has('c') {
        let mut status = 0;
        for operand in &operands {
            status = status.max(check(io, name, operand, &opts)?);
        }
        return Ok(status);
    }
    let mut status = 0;
    for operand in &operands {
        let hex = match digest_of(io, name, operand)? {
            Ok(hex) => hex,
            Err(err) => {
                io.err(name, format!("{}: {}", shown(operand), reason(&err)))?;
                status = 1;
                continue;
            }
        };
        // The name goes out byte for byte, as GNU writes it, so that `-c`
        // finds the same file again.
        let (escaped, file) = if opts.has('z') {
            (false, operand.clone())
        } else {
            escape(operand)
        };
        let prefix = if escaped { "\\" } else { "" };
        let end = if opts.has('z') { b'\0' } else { b'\n' };
        let mut line = Vec::with_capacity(file.len() + hex.len() + 16);
        if opts.has('G') {
            line.extend_from_slice(format!("{prefix}{} (", tag(name)).as_bytes());
            line.extend_from_slice(&file);
            line.extend_from_slice(format!(") = {hex}").as_bytes());
        } else {
            let mode = if opts.last_of("bt") == Some('b') {
                '*'
            } else {
                ' '
            };
            line.extend_from_slice(format!("{prefix}{hex} {mode}").as_bytes());
            line.extend_from_slice(&file);
        }
        line.push(end);
        io.out(&line)?;
    }
    Ok(status)
}

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
fn check(io: &mut Io, name: &str, operand: &[u8], opts: &Parsed) -> Result<u32, Gone> {
    let shown_manifest = if operand == b"-" {
        String::from("'standard input'")
    } else {
        shown(operand)
    };
    let mut manifest = match Input::open(io, operand) {
        Ok(input) => input,
        Err(err) => {
            io.err(name, format!("{}: {}", shown(operand), reason(&err)))?;
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
                io.err(name, format!("{}: {}", shown(operand), reason(&err)))?;
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
                check_line(io, name, &line, overlong, opts, &mut tally)?;
                line.clear();
                overlong = false;
            }
            rest = after;
        }
        if at_end {
            if !line.is_empty() || overlong {
                check_line(io, name, &line, overlong, opts, &mut tally)?;
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
fn parse_line(name: &str, line: &[u8]) -> Option<(String, Vec<u8>)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let hex_len = Hasher::for_command(name).hex().len();
    let tagged = format!("{} (", tag(name));
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
    let hex = std::str::from_utf8(hex).ok()?.to_ascii_lowercase();
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
    name: &str,
    line: &[u8],
    overlong: bool,
    opts: &Parsed,
    tally: &mut Tally,
) -> Result<(), Gone> {
    let parsed = if overlong {
        None
    } else {
        parse_line(name, line)
    };
    let Some((expected, file)) = parsed else {
        tally.bad_lines += 1;
        return Ok(());
    };
    tally.good_lines += 1;
    let status_only = opts.has('S');
    let (_, shown_file) = escape(&file);
    match digest_of(io, name, &file)? {
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
            io.err(name, format!("{}: {}", shown(&file), reason(&err)))?;
            if !status_only {
                io.out(&[shown_file.as_slice(), b": FAILED open or read\n"].concat())?;
            }
        }
    }
    Ok(())
}
