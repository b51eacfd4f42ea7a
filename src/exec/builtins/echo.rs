//! `echo`: GNU `echo` (`-n`, `-e`, `-E`), words written byte for byte.

use super::{Command, Gone, Io};

/// `echo`, for scripts only: the interactive shell does not offer it.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "echo",
    synopsis: "[-neE] [STRING]...",
    in_shell: false,
    run: echo,
}];

/// `echo [-neE] STRING...`, as GNU echo: an argument is an option only if
/// it consists of `n`, `e` and `E` letters after the dash.
fn echo(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    let mut newline = true;
    let mut escapes = false;
    let mut words = args;
    while let Some((first, rest)) = words.split_first() {
        let Some(letters) = first.strip_prefix(b"-") else {
            break;
        };
        if letters.is_empty() || !letters.iter().all(|b| b"neE".contains(b)) {
            break;
        }
        for letter in letters {
            match letter {
                b'n' => newline = false,
                b'e' => escapes = true,
                _ => escapes = false,
            }
        }
        words = rest;
    }
    for (index, word) in words.iter().enumerate() {
        if index > 0 {
            io.out(b" ")?;
        }
        if !escapes {
            io.out(word)?;
            continue;
        }
        let (text, stop) = unescape(word);
        io.out(&text)?;
        if stop {
            return Ok(0);
        }
    }
    if newline {
        io.out(b"\n")?;
    }
    Ok(0)
}

/// `echo -e` escapes; the flag says `\c` was met (stop all output).
fn unescape(word: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while let Some(&byte) = word.get(i) {
        i += 1;
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let Some(&code) = word.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        let simple = match code {
            b'\\' => Some(b'\\'),
            b'a' => Some(7),
            b'b' => Some(8),
            b'e' => Some(27),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'c' => return (out, true),
            _ => None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            continue;
        }
        let (radix, max_digits) = match code {
            b'0' => (8, 3),
            b'x' => (16, 2),
            _ => {
                out.extend_from_slice(&[b'\\', code]);
                continue;
            }
        };
        let mut value: u32 = 0;
        let mut digits = 0;
        while digits < max_digits {
            let Some(digit) = word.get(i).and_then(|&d| char::from(d).to_digit(radix)) else {
                break;
            };
            value = value * radix + digit;
            digits += 1;
            i += 1;
        }
        if radix == 16 && digits == 0 {
            out.extend_from_slice(b"\\x");
        } else {
            out.push(u8::try_from(value & 0xff).unwrap_or(0));
        }
    }
    (out, false)
}
