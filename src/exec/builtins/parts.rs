//! What `head` and `tail` share: the `-n`/`-c` counts (and the obsolete
//! `-5`), one input after another with GNU's `==> NAME <==` headers (the
//! name raw, as GNU writes it), and their messages.

use super::args::{self, Spec};
use super::input::Input;
use super::{Gone, Io, reason};
use crate::jail::JailError;
use crate::listing::quoting::{quote, quote_value};

/// What head or tail should show of each input.
#[derive(Clone, Copy)]
pub(super) struct Amount {
    /// How many lines or bytes.
    pub count: u64,
    /// `+N`: starting at the Nth rather than the last N (tail).
    pub from_start: bool,
    /// Bytes (`-c`) rather than lines.
    pub bytes: bool,
}

/// What a head or tail body returns for one input: a read error ends it.
pub(super) type Shown = Result<Result<(), JailError>, Gone>;

/// `-5` → `-n 5`, the obsolete form head and tail still accept first.
fn obsolete_count(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = args.to_vec();
    if let Some(first) = out.first_mut()
        && first.len() > 1
        && first.first() == Some(&b'-')
        && first.iter().skip(1).all(u8::is_ascii_digit)
    {
        let digits = first.split_off(1);
        *first = b"-n".to_vec();
        out.insert(1, digits);
    }
    out
}

/// Why a `-n`/`-c` count was refused.
#[derive(Debug, PartialEq, Eq)]
enum BadCount {
    /// Not digits.
    Invalid,
    /// More than 64 bits hold.
    TooLarge,
}

/// A count for `-n`/`-c`: `+N` means "from the Nth" (tail).
fn count(text: &[u8]) -> Result<(u64, bool), BadCount> {
    let (from_start, digits) = match text.strip_prefix(b"+") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(BadCount::Invalid);
    }
    let value = digits.iter().try_fold(0u64, |n, &digit| {
        n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    });
    value.map(|n| (n, from_start)).ok_or(BadCount::TooLarge)
}

/// Opens the inputs of `name` (head or tail), prints the headers and
/// calls `each` per input that opened.
pub(super) fn per_input(
    io: &mut Io,
    name: &'static str,
    args: &[Vec<u8>],
    mut each: impl FnMut(&mut Io, Input, Amount) -> Shown,
) -> Result<u32, Gone> {
    let spec = Spec {
        name,
        flags: "qv",
        valued: "nc",
        long: &[
            ("lines", 'n'),
            ("bytes", 'c'),
            ("quiet", 'q'),
            ("silent", 'q'),
            ("verbose", 'v'),
        ],
        usage_status: 1,
    };
    let opts = match args::options(io, &spec, &obsolete_count(args))? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let bytes = opts.last_of("nc") == Some('c');
    let letter = if bytes { 'c' } else { 'n' };
    let (amount, from_start) = match opts.value(letter) {
        None => (10, false),
        Some(text) => match count(text) {
            Ok(parsed) => parsed,
            // tail takes a count past 64 bits as "everything"; head refuses it.
            Err(BadCount::TooLarge) if name == "tail" => (u64::MAX, text.first() == Some(&b'+')),
            Err(bad) => {
                let what = if bytes { "bytes" } else { "lines" };
                let why = match bad {
                    BadCount::TooLarge => ": Value too large for defined data type",
                    BadCount::Invalid => "",
                };
                let text = format!("invalid number of {what}: {}{why}", quote_value(text));
                io.err(name, text)?;
                return Ok(1);
            }
        },
    };
    let operands = if opts.operands.is_empty() {
        vec![b"-".to_vec()]
    } else {
        opts.operands.clone()
    };
    let headers = (operands.len() > 1 || opts.has('v')) && !opts.has('q');
    let mut status = 0;
    for (index, operand) in operands.iter().enumerate() {
        let input = match Input::open(io, operand) {
            Ok(input) => input,
            Err(JailError::IsADirectory) => {
                let text = format!("error reading {}: Is a directory", quote(operand));
                io.err(name, text)?;
                status = 1;
                continue;
            }
            Err(err) => {
                let text = format!(
                    "cannot open {} for reading: {}",
                    quote(operand),
                    reason(&err)
                );
                io.err(name, text)?;
                status = 1;
                continue;
            }
        };
        if headers {
            let blank: &[u8] = if index > 0 { b"\n" } else { b"" };
            let shown: &[u8] = if operand == b"-" {
                b"standard input"
            } else {
                operand
            };
            io.out(&[blank, b"==> ", shown, b" <==\n"].concat())?;
        }
        let wanted = Amount {
            count: amount,
            from_start,
            bytes,
        };
        if let Err(err) = each(io, input, wanted)? {
            let text = format!("error reading {}: {}", quote(operand), reason(&err));
            io.err(name, text)?;
            status = 1;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_digits_and_a_leading_plus_only() {
        assert_eq!(count(b"5"), Ok((5, false)));
        assert_eq!(count(b"+28"), Ok((28, true)));
        assert_eq!(count(b"99999999999999999999999"), Err(BadCount::TooLarge));
        for bad in [&b""[..], b"+", b"x", b"-1", b"5\xff"] {
            assert_eq!(count(bad), Err(BadCount::Invalid), "{bad:?}");
        }
        let args = vec![b"-5".to_vec(), b"f".to_vec()];
        assert_eq!(
            obsolete_count(&args),
            [b"-n".to_vec(), b"5".to_vec(), b"f".to_vec()]
        );
    }
}
