//! `md5sum`, `sha1sum`, `sha224sum`, `sha256sum`, `sha384sum`, `sha512sum`:
//! GNU's output (`HEX  NAME`, `*` with `-b`, `--tag`, `-z`, and the leading
//! `\` plus escapes for a name holding `\`, CR or LF) and `-c` to verify a
//! manifest (`--quiet`, `--status`, `--ignore-missing`, `--strict`).
//! Names go into manifests and `-c` lines raw, byte for byte, as GNU writes
//! them, so that `-c` finds the same file again; messages quote them.
//! Files and stdin stream to the end. `-c` lives in `hashes/check.rs`.

mod check;

use super::args::{self, Spec};
use super::input::Input;
use super::{Command, Gone, Io, reason};
use crate::checksum::{HashAlgorithm, Hasher};
use crate::jail::JailError;
use crate::listing::quoting::quote_if_needed;

/// The synopsis every sum shares.
const SYNOPSIS: &str = "[-b] [--tag] [-c [--quiet|--status]] [FILE]...";

/// One command per algorithm, in `help`'s order.
pub(super) const COMMANDS: &[Command] = &[
    Command {
        name: "md5sum",
        synopsis: SYNOPSIS,
        in_shell: true,
        run: |io, args| sum(io, HashAlgorithm::Md5, args),
    },
    Command {
        name: "sha1sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, HashAlgorithm::Sha1, args),
    },
    Command {
        name: "sha224sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, HashAlgorithm::Sha224, args),
    },
    Command {
        name: "sha256sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, HashAlgorithm::Sha256, args),
    },
    Command {
        name: "sha384sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, HashAlgorithm::Sha384, args),
    },
    Command {
        name: "sha512sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, HashAlgorithm::Sha512, args),
    },
];

/// The command that computes `algorithm`, for messages: `md5sum`, ….
pub(super) fn command(algorithm: HashAlgorithm) -> &'static str {
    match algorithm {
        HashAlgorithm::Md5 => "md5sum",
        HashAlgorithm::Sha1 => "sha1sum",
        HashAlgorithm::Sha224 => "sha224sum",
        HashAlgorithm::Sha256 => "sha256sum",
        HashAlgorithm::Sha384 => "sha384sum",
        HashAlgorithm::Sha512 => "sha512sum",
    }
}

/// The `--tag` name of `algorithm`: `MD5`, `SHA256`, ….
pub(super) fn tag(algorithm: HashAlgorithm) -> &'static str {
    match algorithm {
        HashAlgorithm::Md5 => "MD5",
        HashAlgorithm::Sha1 => "SHA1",
        HashAlgorithm::Sha224 => "SHA224",
        HashAlgorithm::Sha256 => "SHA256",
        HashAlgorithm::Sha384 => "SHA384",
        HashAlgorithm::Sha512 => "SHA512",
    }
}

/// Hashes `operand` (`-` is stdin) to its end.
pub(super) fn digest_of(
    io: &mut Io,
    algorithm: HashAlgorithm,
    operand: &[u8],
) -> Result<Result<String, JailError>, Gone> {
    let mut input = match Input::open(io, operand) {
        Ok(input) => input,
        Err(err) => return Ok(Err(err)),
    };
    let mut hasher = Hasher::new(algorithm);
    loop {
        match input.next(io)? {
            Ok(chunk) if chunk.is_empty() => return Ok(Ok(hasher.finalize_hex())),
            Ok(chunk) => hasher.update(&chunk),
            Err(err) => return Ok(Err(err)),
        }
    }
}

/// A name as GNU writes it in a checksum line: with `\`, LF or CR, the
/// line gets a leading `\` and those are escaped.
pub(super) fn escape(name: &[u8]) -> (bool, Vec<u8>) {
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
fn sum(io: &mut Io, algorithm: HashAlgorithm, args: &[Vec<u8>]) -> Result<u32, Gone> {
    let name = command(algorithm);
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
            status = status.max(check::check(io, algorithm, operand, &opts)?);
        }
        return Ok(status);
    }
    let mut status = 0;
    for operand in &operands {
        let hex = match digest_of(io, algorithm, operand)? {
            Ok(hex) => hex,
            Err(err) => {
                io.err(name, failure(operand, &err))?;
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
            line.extend_from_slice(format!("{prefix}{} (", tag(algorithm)).as_bytes());
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

/// `NAME: REASON`, the name quoted as GNU's sums quote it.
pub(super) fn failure(operand: &[u8], err: &JailError) -> String {
    format!("{}: {}", quote_if_needed(operand), reason(err))
}
