//! How names appear in messages and listings, quoted as GNU coreutils quotes them.
//!
//! GNU has three ways, and each message uses the one its tool uses:
//! - [`quote`] (gnulib's `quoteaf`, shell-escape-always style): always in
//!   quotes, `'a.txt'`, `"it's"`, `'a'$'\377'`. Most messages and the `-v`
//!   lines of `rm`, `mv`, `cp`, `mkdir`, `rmdir` and `chmod`.
//! - [`quote_if_needed`] (`quotef`, shell-escape style): bare when a shell
//!   would read the name back unchanged, else as [`quote`]. `cat`, `wc`,
//!   the hash sums and `df` name files this way.
//! - [`quote_value`] (`quote`, the locale style in the C locale):
//!   `'x\377'`. Option values (`invalid mode 'x'`) and `mkdir`'s "cannot
//!   create directory".
//!
//! Lines GNU writes names into raw (`du`, `wc`, `head` headers, checksum
//! manifests, `stat`'s `File:`) don't come here at all.
//!
//! Printable means printable UTF-8: valid UTF-8 text without control
//! characters stays as it is, as GNU shows it in a UTF-8 locale (and as
//! `listing::quoted_name` does for `ls`); every byte that is not valid
//! UTF-8 and every control character is escaped, as GNU does in any
//! locale. For names made of ASCII and invalid bytes, the result is GNU's in
//! the C locale byte for byte. The result is always valid UTF-8.

/// One unit of a name: a printable character, or a byte to escape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// A printable character and its byte offset in the name.
    Text(char, usize),
    /// A byte that is not valid UTF-8, or one of a control character.
    Escape(u8),
}

/// The pieces of `name`, in order.
fn pieces(name: &[u8]) -> Vec<Piece> {
    let mut out = Vec::with_capacity(name.len());
    let mut offset = 0;
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                let mut buf = [0u8; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(Piece::Escape));
            } else {
                out.push(Piece::Text(c, offset));
            }
            offset += c.len_utf8();
        }
        out.extend(chunk.invalid().iter().copied().map(Piece::Escape));
        offset += chunk.invalid().len();
    }
    out
}

/// The printable characters of `pieces`: all of the name when it has no
/// byte to escape.
fn text(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .filter_map(|piece| match *piece {
            Piece::Text(c, _) => Some(c),
            Piece::Escape(_) => None,
        })
        .collect()
}

/// Characters a shell treats specially anywhere in a word.
const SHELL_SPECIAL: &str = " !\"$&'()*;<=>?[\\^`|";

/// Whether a shell would read `name` back as something else: GNU's
/// shell-escape style then puts it in quotes.
fn needs_quotes(name: &[u8], pieces: &[Piece]) -> bool {
    name.is_empty()
        || pieces.iter().any(|piece| match *piece {
            Piece::Escape(_) => true,
            Piece::Text(c, offset) => {
                SHELL_SPECIAL.contains(c)
                    || (matches!(c, '#' | '~') && offset == 0)
                    || (matches!(c, '{' | '}') && name.len() == 1)
            }
        })
}

/// Whether `"…"` shows the name as it is: GNU prefers it to `'\''` for a
/// name with a single quote and nothing that double quotes would expand.
fn fits_double_quotes(pieces: &[Piece]) -> bool {
    pieces.iter().all(|piece| match *piece {
        Piece::Escape(_) => false,
        Piece::Text(c, offset) => {
            c.is_alphanumeric()
                || !c.is_ascii()
                || "%+,-./:]_@ '".contains(c)
                || (matches!(c, '#' | '~') && offset == 0)
        }
    })
}

/// `\n`, `\t`, … for the bytes C names, else three octal digits.
fn push_escape(out: &mut String, byte: u8) {
    match byte {
        0 => out.push_str("\\0"),
        0x07 => out.push_str("\\a"),
        0x08 => out.push_str("\\b"),
        0x0c => out.push_str("\\f"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        0x0b => out.push_str("\\v"),
        other => out.push_str(&format!("\\{other:03o}")),
    }
}

/// `name` always in quotes, in GNU's shell-escape style (gnulib
/// `quoteaf`): `'a b'`, `"it's"`, `'a'$'\377'`. Pasted into a shell, it
/// names the same bytes.
pub(crate) fn quote(name: &[u8]) -> String {
    let pieces = pieces(name);
    if name.contains(&b'\'') && fits_double_quotes(&pieces) {
        return format!("\"{}\"", text(&pieces));
    }
    shell_quoted(&pieces)
}

/// The single-quoted form: printable runs in `'…'`, escapes in `$'…'`.
fn shell_quoted(pieces: &[Piece]) -> String {
    let mut out = String::from("'");
    // Inside a `$'…'` segment, which the next printable character closes.
    let mut escaping = false;
    for piece in pieces {
        match *piece {
            Piece::Escape(byte) => {
                if !escaping {
                    out.push_str("'$'");
                    escaping = true;
                }
                push_escape(&mut out, byte);
            }
            // Its first quote also ends a `$'…'` segment.
            Piece::Text('\'', _) => {
                out.push_str("'\\''");
                escaping = false;
            }
            Piece::Text(c, _) => {
                if escaping {
                    out.push_str("''");
                    escaping = false;
                }
                out.push(c);
            }
        }
    }
    out.push('\'');
    out
}

/// `name` bare when a shell would read it back unchanged, else as
/// [`quote`] (gnulib `quotef`): `a.txt`, `'a b'`, `'a'$'\377'`.
pub(crate) fn quote_if_needed(name: &[u8]) -> String {
    let pieces = pieces(name);
    if needs_quotes(name, &pieces) {
        quote(name)
    } else {
        text(&pieces)
    }
}

/// `value` in single quotes with C escapes, as gnulib's `quote` does in
/// the C locale: `'x\377'`, `'it\'s'`, `'a\\b'`. For option values.
pub(crate) fn quote_value(value: &[u8]) -> String {
    let pieces = pieces(value);
    let mut out = String::from("'");
    for (index, piece) in pieces.iter().enumerate() {
        match *piece {
            Piece::Escape(0) => {
                out.push_str("\\0");
                // `\0` before a digit would read as a longer octal escape.
                if let Some(Piece::Text('0'..='9', _)) = pieces.get(index + 1) {
                    out.push_str("00");
                }
            }
            Piece::Escape(byte) => push_escape(&mut out, byte),
            Piece::Text(c @ ('\'' | '\\'), _) => {
                out.push('\\');
                out.push(c);
            }
            Piece::Text(c, _) => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name, then what GNU ls 9.1 prints with `--quoting-style=` set to
    /// `shell-escape-always`, `shell-escape` and (in the C locale) `locale`:
    /// the styles of `quoteaf`, `quotef` and `quote`.
    const TABLE: &[(&[u8], &str, &str, &str)] = &[
        (b"plain", "'plain'", "plain", "'plain'"),
        (b"a b", "'a b'", "'a b'", "'a b'"),
        (b"it's", "\"it's\"", "\"it's\"", "'it\\'s'"),
        (
            b"a\xff'b",
            "'a'$'\\377'\\''b'",
            "'a'$'\\377'\\''b'",
            "'a\\377\\'b'",
        ),
        (b"\xffa", "''$'\\377''a'", "''$'\\377''a'", "'\\377a'"),
        (b"a\nb", "'a'$'\\n''b'", "'a'$'\\n''b'", "'a\\nb'"),
        (b"#x", "'#x'", "'#x'", "'#x'"),
        (b"x#", "'x#'", "x#", "'x#'"),
        (b"~", "'~'", "'~'", "'~'"),
        (b"{", "'{'", "'{'", "'{'"),
        (b"{a", "'{a'", "{a", "'{a'"),
        (b"@x", "'@x'", "@x", "'@x'"),
        (b"it's a", "\"it's a\"", "\"it's a\"", "'it\\'s a'"),
        (b"it's$", "'it'\\''s$'", "'it'\\''s$'", "'it\\'s$'"),
        (b"a\x7f", "'a'$'\\177'", "'a'$'\\177'", "'a\\177'"),
        (
            b"\xc2\x85z",
            "''$'\\302\\205''z'",
            "''$'\\302\\205''z'",
            "'\\302\\205z'",
        ),
        (b"tab\t", "'tab'$'\\t'", "'tab'$'\\t'", "'tab\\t'"),
        (b"a\\b", "'a\\b'", "'a\\b'", "'a\\\\b'"),
        (b"a=b", "'a=b'", "'a=b'", "'a=b'"),
        (b"x?", "'x?'", "'x?'", "'x?'"),
        (b"a%b", "'a%b'", "a%b", "'a%b'"),
        (b"it's#", "'it'\\''s#'", "'it'\\''s#'", "'it\\'s#'"),
        (b"#it's", "\"#it's\"", "\"#it's\"", "'#it\\'s'"),
        (b"\xff'", "''$'\\377'\\'''", "''$'\\377'\\'''", "'\\377\\''"),
        (b"a\\\xff", "'a\\'$'\\377'", "'a\\'$'\\377'", "'a\\\\\\377'"),
        (b"", "''", "''", "''"),
    ];

    #[test]
    fn names_are_quoted_in_each_of_gnus_three_styles() {
        for (name, always, if_needed, value) in TABLE {
            assert_eq!(quote(name), *always, "quote {name:?}");
            assert_eq!(
                quote_if_needed(name),
                *if_needed,
                "quote_if_needed {name:?}"
            );
            assert_eq!(quote_value(name), *value, "quote_value {name:?}");
        }
    }

    #[test]
    fn printable_utf8_stays_as_it_is() {
        assert_eq!(quote("ü".as_bytes()), "'ü'");
        assert_eq!(quote_if_needed("ü".as_bytes()), "ü");
        assert_eq!(quote("ü'x".as_bytes()), "\"ü'x\"");
        assert_eq!(quote_value("ü".as_bytes()), "'ü'");
    }
}
