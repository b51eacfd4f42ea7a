//! The legacy scp wire format, pure: parsing the records a source sends
//! (`C`, `D`, `E`, `T` and `\x01`/`\x02` error lines) and formatting the
//! records and acknowledgements sftpbox sends. No I/O and no filesystem.
//!
//! This is the one place where scp errors become wire text: `\x01scp: …\n`
//! (the peer counts it and goes on) and the OpenSSH `strerror` wording of
//! [`JailError`]s. Parsing follows OpenSSH `scp.c` `sink()` field by field,
//! with the same messages for a malformed record, and is stricter where
//! OpenSSH would read past a bound: a mode is exactly four octal digits, a
//! size at most `i64::MAX`, microseconds within 0..=999999.

use crate::jail::JailError;

/// Longest record line accepted, newline included: OpenSSH's `buf[2048]`.
pub const MAX_LINE_BYTES: usize = 2048;

/// Deepest `D` nesting a sink accepts and a source produces; deeper is a
/// protocol error. Far beyond real trees, small enough to bound the stack
/// of open directories.
pub const MAX_DIR_DEPTH: usize = 256;

/// Longest file name in a record, in bytes (Linux `NAME_MAX`).
pub const MAX_RECORD_NAME_BYTES: usize = 255;

/// The one-byte "OK" acknowledgement (also the sink's "ready").
pub const ACK_OK: u8 = 0;

/// First byte of a non-fatal error line.
pub const ACK_ERROR: u8 = 1;

/// First byte of a fatal error line.
pub const ACK_FATAL: u8 = 2;

/// Modification and access times from a `T` record, seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// Modification time.
    pub mtime: i64,
    /// Access time.
    pub atime: i64,
}

/// One line a source sends, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `C%04o SIZE NAME`: a file of `size` bytes follows.
    File {
        /// Permission bits, at most `0o7777` (masked later).
        mode: u32,
        /// Exact number of data bytes that follow the acknowledgement.
        size: u64,
        /// The name, a single checked component (maybe not UTF-8).
        name: Vec<u8>,
    },
    /// `D%04o 0 NAME`: entries of a directory follow, up to the matching `E`.
    Dir {
        /// Permission bits, at most `0o7777`.
        mode: u32,
        /// The name, a single checked component (maybe not UTF-8).
        name: Vec<u8>,
    },
    /// `E`: the current directory is complete.
    End,
    /// `T`: times for the next `C` or `D`; `None` when a value does not fit
    /// a `time_t` (OpenSSH then ignores the times, without an error).
    Times(Option<Times>),
    /// `\x01MSG` (`fatal` false) or `\x02MSG` (`fatal` true) from the source.
    Error {
        /// Whether the source gave up (`\x02`).
        fatal: bool,
        /// The message as sent.
        message: Vec<u8>,
    },
}

/// Why a record line was refused; every variant ends the session (exit 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A malformed field; the text is OpenSSH's `SCREWUP` reason.
    #[error("protocol error: {0}")]
    Malformed(&'static str),
    /// A name that could leave or alias its directory (CVE-2019-6111 class).
    #[error("error: unexpected filename: {0}")]
    UnexpectedFilename(String),
}

/// Parses one record line, `line` without its trailing newline.
pub fn parse_record(line: &[u8]) -> Result<Record, ProtocolError> {
    let Some((&kind, rest)) = line.split_first() else {
        return Err(ProtocolError::Malformed("unexpected <newline>"));
    };
    match kind {
        ACK_ERROR | ACK_FATAL => Ok(Record::Error {
            fatal: kind == ACK_FATAL,
            message: rest.to_vec(),
        }),
        // OpenSSH ignores whatever follows the `E`.
        b'E' => Ok(Record::End),
        b'T' => parse_times(rest).map(Record::Times),
        b'C' | b'D' => {
            let (mode, rest) = parse_mode(rest)?;
            let (size, name) = parse_size(rest)?;
            check_name(name)?;
            let name = name.to_vec();
            Ok(if kind == b'C' {
                Record::File { mode, size, name }
            } else {
                Record::Dir { mode, name }
            })
        }
        _ => Err(ProtocolError::Malformed("expected control record")),
    }
}

/// Four octal digits, then a space.
fn parse_mode(field: &[u8]) -> Result<(u32, &[u8]), ProtocolError> {
    let (digits, rest) = field
        .split_at_checked(4)
        .ok_or(ProtocolError::Malformed("bad mode"))?;
    let mut mode = 0_u32;
    for &digit in digits {
        if !(b'0'..=b'7').contains(&digit) {
            return Err(ProtocolError::Malformed("bad mode"));
        }
        mode = (mode << 3) | u32::from(digit - b'0');
    }
    match rest.split_first() {
        Some((b' ', rest)) => Ok((mode, rest)),
        _ => Err(ProtocolError::Malformed("mode not delimited")),
    }
}

/// A decimal size up to `i64::MAX`, then a space; returns the rest (the name).
fn parse_size(field: &[u8]) -> Result<(u64, &[u8]), ProtocolError> {
    let (value, rest) =
        leading_number(field).ok_or(ProtocolError::Malformed("size not present"))?;
    let rest = match rest.split_first() {
        Some((b' ', rest)) => rest,
        _ => return Err(ProtocolError::Malformed("size not delimited")),
    };
    match value {
        Some(size) if i64::try_from(size).is_ok() => Ok((size, rest)),
        _ => Err(ProtocolError::Malformed("size out of range")),
    }
}

/// `MTIME_SEC SP MTIME_USEC SP ATIME_SEC SP ATIME_USEC`, nothing after.
fn parse_times(field: &[u8]) -> Result<Option<Times>, ProtocolError> {
    let (mtime, rest) =
        leading_number(field).ok_or(ProtocolError::Malformed("mtime.sec not present"))?;
    let rest = after_space(rest, "mtime.sec not delimited")?;
    let (rest, usec_ok) = parse_usec(rest);
    if !usec_ok {
        return Err(ProtocolError::Malformed("mtime.usec not delimited"));
    }
    let rest = after_space(rest, "mtime.usec not delimited")?;
    let (atime, rest) =
        leading_number(rest).ok_or(ProtocolError::Malformed("atime.sec not present"))?;
    let rest = after_space(rest, "atime.sec not delimited")?;
    let (rest, usec_ok) = parse_usec(rest);
    if !usec_ok || !rest.is_empty() {
        return Err(ProtocolError::Malformed("atime.usec not delimited"));
    }
    let to_time = |secs: Option<u64>| secs.and_then(|secs| i64::try_from(secs).ok());
    Ok(to_time(mtime)
        .zip(to_time(atime))
        .map(|(mtime, atime)| Times { mtime, atime }))
}

/// Microseconds: decimal digits whose value is within 0..=999999.
fn parse_usec(field: &[u8]) -> (&[u8], bool) {
    match leading_number(field) {
        Some((Some(usec), rest)) => (rest, usec <= 999_999),
        _ => (field, false),
    }
}

fn after_space<'a>(field: &'a [u8], why: &'static str) -> Result<&'a [u8], ProtocolError> {
    match field.split_first() {
        Some((b' ', rest)) => Ok(rest),
        _ => Err(ProtocolError::Malformed(why)),
    }
}

/// The decimal digits at the start of `field` (at least one) and the rest;
/// the value is `None` when it overflows a `u64`.
fn leading_number(field: &[u8]) -> Option<(Option<u64>, &[u8])> {
    let digits = field.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, rest) = field.split_at_checked(digits)?;
    if number.is_empty() {
        return None;
    }
    let value = number.iter().try_fold(0_u64, |acc, digit| {
        acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    });
    Some((value, rest))
}

/// Refuses a record name that is not one plain directory entry: empty, `.`,
/// `..`, containing `/` or NUL, or longer than [`MAX_RECORD_NAME_BYTES`].
pub fn check_name(name: &[u8]) -> Result<(), ProtocolError> {
    let bad = name.is_empty()
        || name == b"."
        || name == b".."
        || name.contains(&b'/')
        || name.contains(&0)
        || name.len() > MAX_RECORD_NAME_BYTES;
    if bad {
        return Err(ProtocolError::UnexpectedFilename(
            crate::jail::escaped(name).into_owned(),
        ));
    }
    Ok(())
}

/// `C%04o SIZE NAME\n` (setuid, setgid and sticky never sent); the name
/// goes out byte for byte.
pub fn file_record(mode: u32, size: u64, name: &[u8]) -> Vec<u8> {
    let mut record = format!("C{:04o} {size} ", mode & 0o777).into_bytes();
    record.extend_from_slice(name);
    record.push(b'\n');
    record
}

/// `D%04o 0 NAME\n`, the name byte for byte.
pub fn dir_record(mode: u32, name: &[u8]) -> Vec<u8> {
    let mut record = format!("D{:04o} 0 ", mode & 0o777).into_bytes();
    record.extend_from_slice(name);
    record.push(b'\n');
    record
}

/// `T%llu 0 %llu 0\n`, negative times sent as 0 (OpenSSH `do_times`).
pub fn times_record(times: Times) -> Vec<u8> {
    format!("T{} 0 {} 0\n", times.mtime.max(0), times.atime.max(0)).into_bytes()
}

/// The end of a directory, `E\n`.
pub const END_RECORD: &[u8] = b"E\n";

/// A non-fatal error line, `\x01scp: MESSAGE\n`; newlines in `message`
/// are replaced so the line stays one line.
pub fn error_line(message: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(message.len() + 7);
    line.push(ACK_ERROR);
    line.extend_from_slice(b"scp: ");
    line.extend(message.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
    line.push(b'\n');
    line
}

/// The message for a refused `C` record: `NAME: quota exceeded (used X of Y bytes)`.
pub fn quota_message(display: &str, used: u64, limit: u64) -> String {
    format!("{display}: quota exceeded (used {used} of {limit} bytes)")
}

/// `strerror(3)` wording of a jail error, as OpenSSH prints errno values.
pub fn strerror(err: &JailError) -> String {
    err.strerror()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed(why: &'static str) -> Result<Record, ProtocolError> {
        Err(ProtocolError::Malformed(why))
    }

    #[test]
    fn well_formed_records_parse() {
        let table: &[(&[u8], Record)] = &[
            (
                b"C0644 5 a b",
                Record::File {
                    mode: 0o644,
                    size: 5,
                    name: b"a b".to_vec(),
                },
            ),
            (
                b"C7777 0 x",
                Record::File {
                    mode: 0o7777,
                    size: 0,
                    name: b"x".to_vec(),
                },
            ),
            (
                b"C0600 9223372036854775807 big",
                Record::File {
                    mode: 0o600,
                    size: i64::MAX as u64,
                    name: b"big".to_vec(),
                },
            ),
            (
                b"D0755 0 dir",
                Record::Dir {
                    mode: 0o755,
                    name: b"dir".to_vec(),
                },
            ),
            (b"E", Record::End),
            (b"Eanything", Record::End),
            (
                b"T1700000000 0 1600000000 999999",
                Record::Times(Some(Times {
                    mtime: 1_700_000_000,
                    atime: 1_600_000_000,
                })),
            ),
            (b"T9223372036854775808 0 1 0", Record::Times(None)),
            (b"T99999999999999999999999 0 1 0", Record::Times(None)),
            (
                b"\x01scp: oops",
                Record::Error {
                    fatal: false,
                    message: b"scp: oops".to_vec(),
                },
            ),
            (
                b"\x02bye",
                Record::Error {
                    fatal: true,
                    message: b"bye".to_vec(),
                },
            ),
        ];
        for (line, record) in table {
            assert_eq!(parse_record(line).as_ref(), Ok(record), "{line:?}");
        }
    }

    #[test]
    fn malformed_records_give_openssh_reasons() {
        let table: &[(&[u8], &str)] = &[
            (b"", "unexpected <newline>"),
            (b"X0644 1 a", "expected control record"),
            (b"C644 1 a", "bad mode"),
            (b"C0648 1 a", "bad mode"),
            (b"C06", "bad mode"),
            (b"C06444 1 a", "mode not delimited"),
            (b"C0644  1 a", "size not present"),
            (b"C0644 -1 a", "size not present"),
            (b"C0644 12a a", "size not delimited"),
            (b"C0644 1", "size not delimited"),
            (b"C0644 9223372036854775808 a", "size out of range"),
            (b"C0644 99999999999999999999999 a", "size out of range"),
            (b"T", "mtime.sec not present"),
            (b"T1", "mtime.sec not delimited"),
            (b"T1 1000000 1 0", "mtime.usec not delimited"),
            (b"T1 -1 1 0", "mtime.usec not delimited"),
            (b"T1 0 x 0", "atime.sec not present"),
            (b"T1 0 1", "atime.sec not delimited"),
            (b"T1 0 1 0 ", "atime.usec not delimited"),
            (b"T1 0 1 1000000", "atime.usec not delimited"),
        ];
        for (line, why) in table {
            assert_eq!(parse_record(line), malformed(why), "{line:?}");
        }
    }

    #[test]
    fn names_that_could_escape_or_alias_are_refused() {
        let long = format!("C0644 1 {}", "n".repeat(256));
        let lines: [&[u8]; 8] = [
            b"C0644 1 ",
            b"C0644 1 .",
            b"C0644 1 ..",
            b"C0644 1 a/b",
            b"C0644 1 /etc",
            b"D0755 0 ..",
            b"C0644 1 a\0b",
            long.as_bytes(),
        ];
        for line in lines {
            assert!(
                matches!(
                    parse_record(line),
                    Err(ProtocolError::UnexpectedFilename(_))
                ),
                "{line:?}"
            );
        }
        let max = format!("C0644 1 {}", "n".repeat(255));
        assert!(parse_record(max.as_bytes()).is_ok());
        assert!(parse_record(b"C0644 1 ...").is_ok());
    }

    #[test]
    fn records_are_formatted_as_openssh_sends_them() {
        assert_eq!(file_record(0o104755, 12, b"f"), b"C0755 12 f\n");
        assert_eq!(dir_record(0o41777, b"d"), b"D0777 0 d\n");
        assert_eq!(
            times_record(Times {
                mtime: -5,
                atime: 7
            }),
            b"T0 0 7 0\n"
        );
        assert_eq!(error_line("a\nb: x"), b"\x01scp: a b: x\n");
        assert_eq!(
            quota_message("f", 1, 2),
            "f: quota exceeded (used 1 of 2 bytes)"
        );
    }

    #[test]
    fn jail_errors_read_like_strerror() {
        assert_eq!(strerror(&JailError::NotFound), "No such file or directory");
        let io = JailError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(strerror(&io), "No space left on device");
    }
}
