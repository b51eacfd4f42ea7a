//! Splitting an exec string into words, and expanding globs inside the box.
//!
//! A small POSIX-sh tokenizer over bytes: `'…'`, `"…"` (where `\" \\ \$ \``
//! are escapes), backslash outside quotes, `#` comments. It keeps, for
//! every byte, whether it was quoted, which an off-the-shelf splitter loses:
//! an unquoted operator (`; & | < > ( ) $ \`` or a newline) is refused rather
//! than treated as a literal or handed to a shell, and only unquoted
//! `* ? [` are globs. `$` and `` ` `` are refused inside double quotes too,
//! where sh would expand them. A leading unquoted `~` or `~/` is the home,
//! `/`. Nothing here runs anything.
//!
//! Globs are matched against `Jail::read_dir` listings, sorted bytewise (the
//! C locale); a pattern that matches nothing stays as it was typed, as in
//! sh, and `*`/`?`/`[` never match a leading `.` (hidden files need a
//! pattern starting with `.`).

mod glob;

pub use glob::{MAX_GLOB_MATCHES, expand};

/// Longest command line accepted, in bytes (64 KiB).
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// Why a command line was refused; each maps to exit status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// An unquoted shell operator; the byte is named in the message.
    #[error("shell syntax is not supported: '{}'", show(*.0))]
    Unsupported(u8),
    /// A quote was opened and never closed.
    #[error("unterminated quoted string")]
    Unterminated,
    /// The line is longer than [`MAX_COMMAND_BYTES`].
    #[error("command line too long")]
    TooLong,
    /// The line contains a NUL byte, which no argument can hold.
    #[error("NUL byte in command line")]
    Nul,
    /// A glob produced more than [`MAX_GLOB_MATCHES`] words.
    #[error("too many files match the pattern (limit {})", MAX_GLOB_MATCHES)]
    TooManyMatches,
    /// Expanding the globs would take more than [`glob::MAX_GLOB_WORK`].
    #[error("the patterns are too costly to expand")]
    TooCostly,
}

/// A byte as the client typed it; a newline is shown as `\n`.
fn show(byte: u8) -> String {
    match byte {
        b'\n' => String::from("\\n"),
        other => char::from(other).to_string(),
    }
}

/// One word of the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Word {
    /// The word with quotes and escapes removed.
    bytes: Vec<u8>,
    /// The word as a glob pattern: quoted `* ? [ ] \` escaped with `\`.
    pattern: Vec<u8>,
    /// Whether an unquoted `*`, `?` or `[` occurs.
    glob: bool,
    /// Whether anything at all was read (so `''` is an empty word).
    started: bool,
}

impl Word {
    /// Whether the word holds an unquoted glob character.
    pub fn has_glob(&self) -> bool {
        self.glob
    }

    /// The word's bytes, quotes removed, unexpanded.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn push(&mut self, byte: u8, quoted: bool) {
        self.started = true;
        self.bytes.push(byte);
        if quoted && matches!(byte, b'*' | b'?' | b'[' | b']' | b'\\') {
            self.pattern.push(b'\\');
        }
        if !quoted && matches!(byte, b'*' | b'?' | b'[') {
            self.glob = true;
        }
        self.pattern.push(byte);
    }
}

/// Bytes sh treats as operators when unquoted.
fn is_operator(byte: u8) -> bool {
    matches!(
        byte,
        b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' | b'$' | b'`' | b'\n'
    )
}

/// Splits `line` into words, refusing shell syntax.
pub fn split(line: &[u8]) -> Result<Vec<Word>, SyntaxError> {
    if line.len() > MAX_COMMAND_BYTES {
        return Err(SyntaxError::TooLong);
    }
    if line.contains(&0) {
        return Err(SyntaxError::Nul);
    }
    let mut words = Vec::new();
    let mut word = Word::default();
    let mut bytes = line.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        match byte {
            b' ' | b'\t' => {
                if word.started {
                    words.push(std::mem::take(&mut word));
                }
            }
            b'#' if !word.started => {
                // A comment runs to the end of the line; a newline after it
                // would start a second command, which is refused.
                if bytes.any(|b| b == b'\n') {
                    return Err(SyntaxError::Unsupported(b'\n'));
                }
            }
            b'~' if !word.started && matches!(bytes.peek(), None | Some(b' ' | b'\t' | b'/')) => {
                // `~` and `~/x` are the home, which is `/` in the box.
                if bytes.peek() == Some(&b'/') {
                    bytes.next();
                }
                word.push(b'/', true);
            }
            b'\'' => {
                word.started = true;
                loop {
                    match bytes.next() {
                        Some(b'\'') => break,
                        Some(inner) => word.push(inner, true),
                        None => return Err(SyntaxError::Unterminated),
                    }
                }
            }
            b'"' => {
                word.started = true;
                loop {
                    match bytes.next() {
                        Some(b'"') => break,
                        Some(b'\\') => match bytes.next() {
                            Some(b'\n') => {}
                            Some(esc @ (b'"' | b'\\' | b'$' | b'`')) => word.push(esc, true),
                            Some(other) => {
                                word.push(b'\\', true);
                                word.push(other, true);
                            }
                            None => return Err(SyntaxError::Unterminated),
                        },
                        Some(op @ (b'$' | b'`')) => return Err(SyntaxError::Unsupported(op)),
                        Some(inner) => word.push(inner, true),
                        None => return Err(SyntaxError::Unterminated),
                    }
                }
            }
            b'\\' => match bytes.next() {
                Some(b'\n') => {}
                Some(escaped) => word.push(escaped, true),
                None => word.push(b'\\', true),
            },
            op if is_operator(op) => return Err(SyntaxError::Unsupported(op)),
            other => word.push(other, false),
        }
    }
    if word.started {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::glob::matches;
    use super::*;
    use crate::jail::{Jail, Quota, VirtualPath};

    fn words(line: &str) -> Vec<String> {
        split(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|w| String::from_utf8(w.into_bytes()).unwrap())
            .collect()
    }

    #[test]
    fn quotes_and_backslashes_group_and_escape_like_sh() {
        assert_eq!(
            words(r#"a  'b c' "d\"e\\f\x" g\ h '' "it's""#),
            ["a", "b c", "d\"e\\f\\x", "g h", "", "it's"]
        );
        assert_eq!(words("~ ~/x a~ ~user"), ["/", "/x", "a~", "~user"]);
        assert_eq!(words("ls # a comment"), ["ls"]);
        assert_eq!(words("  "), Vec::<String>::new());
    }

    #[test]
    fn every_unquoted_operator_is_refused_and_named() {
        for op in [";", "&", "|", "<", ">", "(", ")", "$", "`", "\n"] {
            let err = split(format!("ls {op} x").as_bytes()).unwrap_err();
            assert_eq!(err, SyntaxError::Unsupported(op.as_bytes()[0]), "{op:?}");
            assert_eq!(words(&format!("ls '{op}'")), ["ls", op]);
            if op != "\n" {
                assert_eq!(words(&format!("ls \\{op}")), ["ls", op]);
            }
        }
        assert_eq!(
            split(b"echo \"$HOME\"").unwrap_err().to_string(),
            "shell syntax is not supported: '$'"
        );
        assert_eq!(
            SyntaxError::Unsupported(b'\n').to_string(),
            "shell syntax is not supported: '\\n'"
        );
        assert_eq!(split(b"a 'b").unwrap_err(), SyntaxError::Unterminated);
        assert_eq!(split(b"a\0b").unwrap_err(), SyntaxError::Nul);
        assert_eq!(
            split(&vec![b'a'; MAX_COMMAND_BYTES + 1]).unwrap_err(),
            SyntaxError::TooLong
        );
    }

    #[test]
    fn patterns_match_like_fnmatch() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[ab]*", "bz", true),
            ("[!ab]*", "bz", false),
            ("[a-c]x", "cx", true),
            ("[]]", "]", true),
            ("[", "[", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c", "abcabx", false),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                matches(pattern.as_bytes(), name.as_bytes()),
                *expected,
                "{pattern} {name}"
            );
        }
    }

    #[test]
    fn globs_expand_sorted_inside_the_box_and_keep_unmatched_words() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let jail = Jail::open(&home, Arc::new(Quota::new(None)), false).unwrap();
        for name in [
            "b.txt",
            "a.txt",
            ".hidden.txt",
            "c.log",
            "d/e.txt",
            "d/f.txt",
        ] {
            let path = home.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let expand_line = |cwd: &str, line: &str| -> Vec<String> {
            let cwd = VirtualPath::resolve(&VirtualPath::root(), cwd.as_bytes()).unwrap();
            expand(&jail, &cwd, split(line.as_bytes()).unwrap())
                .unwrap()
                .into_iter()
                .map(|w| String::from_utf8(w).unwrap())
                .collect()
        };
        assert_eq!(expand_line("/", "ls *.txt"), ["ls", "a.txt", "b.txt"]);
        assert_eq!(expand_line("/", "ls .*.txt"), ["ls", ".hidden.txt"]);
        assert_eq!(expand_line("/", "ls */*.txt"), ["ls", "d/e.txt", "d/f.txt"]);
        assert_eq!(
            expand_line("/", "ls /d/?.txt"),
            ["ls", "/d/e.txt", "/d/f.txt"]
        );
        assert_eq!(expand_line("/d", "ls *"), ["ls", "e.txt", "f.txt"]);
        assert_eq!(
            expand_line("/", "ls *.zip '*.txt'"),
            ["ls", "*.zip", "*.txt"]
        );
        assert_eq!(expand_line("/", "ls ../../*.log"), ["ls", "../../c.log"]);
        assert_eq!(expand_line("/", "ls */"), ["ls", "d/"]);
    }

    #[test]
    fn a_line_of_hostile_patterns_costs_little_and_is_refused_or_answered() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let jail = Jail::open(&home, Arc::new(Quota::new(None)), false).unwrap();
        for n in 0..1000 {
            std::fs::write(home.join(format!("file-{n:04}-{}", "x".repeat(40))), b"").unwrap();
        }
        let lines = [
            // Many words, each globbing the same directory.
            "ls ".to_owned() + &"*a*b ".repeat(MAX_COMMAND_BYTES / 5 - 2),
            // One word of unclosed brackets.
            "ls *".to_owned() + &"[".repeat(MAX_COMMAND_BYTES - 8),
            // One word of stars that backtrack.
            "ls ".to_owned() + &"*a".repeat(MAX_COMMAND_BYTES / 2 - 4),
        ];
        for line in lines {
            assert!(line.len() <= MAX_COMMAND_BYTES);
            let started = std::time::Instant::now();
            let outcome = expand(&jail, &VirtualPath::root(), split(line.as_bytes()).unwrap());
            assert!(
                matches!(outcome, Ok(_) | Err(SyntaxError::TooCostly)),
                "{outcome:?}"
            );
            // Generous: a debug build on a loaded machine; today's main took 43 s.
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
    }

    #[test]
    fn patterns_that_walk_a_looping_link_are_bounded_in_directories_listed() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let jail = Jail::open(&home, Arc::new(Quota::new(None)), false).unwrap();
        for name in ["a", "b", "c", "d"] {
            std::fs::write(home.join(name), b"").unwrap();
        }
        std::os::unix::fs::symlink(".", home.join("loop")).unwrap();
        std::os::unix::fs::symlink(".", home.join("loop2")).unwrap();
        // Found by the command_line fuzz target: every `*/` lists each
        // candidate again through the links, `loop/loop/…` being a new
        // path each time, so the listings multiply while the names
        // compared stay few.
        let line = b"ls l*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/l*";
        let started = std::time::Instant::now();
        let outcome = expand(&jail, &VirtualPath::root(), split(line).unwrap());
        let took = started.elapsed();
        assert!(
            matches!(outcome, Ok(_) | Err(SyntaxError::TooCostly)),
            "{outcome:?}"
        );
        assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    }

    #[test]
    fn brackets_match_sets_ranges_and_negations_and_unclosed_ones_are_literal() {
        assert!(matches(b"[abc]x", b"bx"));
        assert!(matches(b"[a-c]", b"b"));
        assert!(!matches(b"[!a-c]", b"b"));
        assert!(matches(b"[^a-c]", b"z"));
        assert!(matches(b"[]]", b"]"));
        assert!(matches(b"a[", b"a["));
        assert!(matches(b"[[", b"[["));
        assert!(matches(b"*[.]txt", b"a.txt"));
        assert!(matches(b"\\*", b"*"));
        assert!(!matches(b"\\*", b"a"));
        assert!(matches(b"**a**", b"xxaxx"));
        assert!(matches(b"[\xfe-\xff]", b"\xff"));
    }
}
