//! `md5sum`, `sha1sum`, `sha224sum`, `sha256sum`, `sha384sum`, `sha512sum`:
//! GNU's output (`HEX  NAME`, `*` with `-b`, `--tag`, `-z`, and the leading
//! `\` plus escapes for a name holding `\`, CR or LF) and `-c` to verify a
//! manifest (`--quiet`, `--status`, `--ignore-missing`, `--strict`).
//! Names go into manifests and `-c` lines raw, byte for byte, as GNU writes
//! them, so that `-c` finds the same file again; messages quote them.
//! Files and stdin stream to the end. `-c` lives in `hashes/check.rs`.

mod check;

use digest::Digest;

use super::args::{self, Spec};
use super::input::Input;
use super::{Command, Gone, Io, reason};
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
        run: |io, args| sum(io, Algorithm::Md5, args),
    },
    Command {
        name: "sha1sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, Algorithm::Sha1, args),
    },
    Command {
        name: "sha224sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, Algorithm::Sha224, args),
    },
    Command {
        name: "sha256sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, Algorithm::Sha256, args),
    },
    Command {
        name: "sha384sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, Algorithm::Sha384, args),
    },
    Command {
        name: "sha512sum",
        synopsis: "(as md5sum)",
        in_shell: true,
        run: |io, args| sum(io, Algorithm::Sha512, args),
    },
];

/// The digest algorithms, one per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    /// The command that computes it, for messages.
    pub(super) fn command(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5sum",
            Algorithm::Sha1 => "sha1sum",
            Algorithm::Sha224 => "sha224sum",
            Algorithm::Sha256 => "sha256sum",
            Algorithm::Sha384 => "sha384sum",
            Algorithm::Sha512 => "sha512sum",
        }
    }

    /// The `--tag` name: `MD5`, `SHA256`, ...
    pub(super) fn tag(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha224 => "SHA224",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha384 => "SHA384",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Digits of a digest in hex.
    pub(super) fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
            Algorithm::Sha224 => 56,
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }
}

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
    /// A new hash of `algorithm`.
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
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

/// Hashes `operand` (`-` is stdin) to its end.
pub(super) fn digest_of(
    io: &mut Io,
    algorithm: Algorithm,
    operand: &[u8],
) -> Result<Result<String, JailError>, Gone> {
    let mut input = match Input::open(io, operand) {
        Ok(input) => input,
        Err(err) => return Ok(Err(err)),
    };
    let mut hasher = Hasher::new(algorithm);
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
fn sum(io: &mut Io, algorithm: Algorithm, args: &[Vec<u8>]) -> Result<u32, Gone> {
    let name = algorithm.command();
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
            line.extend_from_slice(format!("{prefix}{} (", algorithm.tag()).as_bytes());
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
