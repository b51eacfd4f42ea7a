//! Problems in the TOML files (sftpbox.toml, accounts.toml) as
//! `file:line:column: message`.
//!
//! A loader parses the file into toml's span-carrying tree (`DeTable`), walks
//! it, and hands every problem to a `Report` with the byte span it is
//! about; the report turns spans into lines and columns and gives the
//! problems back in file order. All of them are collected, not just the
//! first: an administrator fixing a file wants the whole list at once.
//!
//! This module knows TOML and text positions only; what is a problem, and
//! how to word it, is each loader's business.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::DeTable;

/// One problem in a TOML file, at a place in it. `line` and `column` count
/// from 1 (the column in characters, as editors count); both are 0 when the
/// problem is the file as a whole (it cannot be read), and `Display` then
/// omits them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, or 0 for the whole file.
    pub line: usize,
    /// 1-based column in characters, or 0 for the whole file.
    pub column: usize,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl Problem {
    /// A problem with the file as a whole, such as that it cannot be read.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_owned(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for Problem {}

/// The problems one per line, as `sftpbox check` prints them.
pub(crate) fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The wording of a TOML syntax error that a loader does not word itself.
pub(crate) fn syntax_error(message: &str) -> String {
    format!("TOML syntax error: {message}")
}

/// `message` with each control character written as its Rust escape
/// (`\n`, `\u{1f}`), so that it prints on one line.
fn one_line(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Collects the problems of one file with their places in it.
pub(crate) struct Report<'t> {
    text: &'t str,
    file: &'t Path,
    problems: Vec<Problem>,
}

impl<'t> Report<'t> {
    /// An empty report on `text`, read from `file`.
    pub(crate) fn new(text: &'t str, file: &'t Path) -> Report<'t> {
        Report {
            text,
            file,
            problems: Vec::new(),
        }
    }

    /// Parses the text into toml's span-carrying tree. Each syntax error
    /// becomes a problem at its span, worded by `word` from toml's message
    /// and that span; then the tree is `None`: the parser's recovered tree
    /// may miss pieces, and checking it would add confusing follow-on
    /// problems, so the syntax errors are reported alone.
    pub(crate) fn parse(
        &mut self,
        word: impl Fn(&str, &Range<usize>) -> String,
    ) -> Option<Spanned<DeTable<'t>>> {
        let (document, syntax_errors) = DeTable::parse_recoverable(self.text);
        for err in &syntax_errors {
            let span = err.span().unwrap_or(0..0);
            let message = word(err.message(), &span);
            self.at(&span, message);
        }
        syntax_errors.is_empty().then_some(document)
    }

    /// Records a problem at the start of `span` (byte offsets in the text).
    /// The message is kept to one line: it may quote what the file holds
    /// (a key's decoded label, a value), and a newline or other control
    /// character in it would forge a line of `sftpbox check`'s output.
    pub(crate) fn at(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line,
            column,
            message: one_line(message.into()),
        });
    }

    /// How many problems are recorded so far; a checker compares it before
    /// and after a part to learn whether that part was clean.
    pub(crate) fn count(&self) -> usize {
        self.problems.len()
    }

    /// `Ok` when nothing was recorded, else every problem in file order
    /// (toml hands out a table's keys sorted, not in the order written).
    pub(crate) fn finish(mut self) -> Result<(), Vec<Problem>> {
        if self.problems.is_empty() {
            return Ok(());
        }
        self.problems.sort_by_key(|p| (p.line, p.column));
        Err(self.problems)
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
/// An offset inside a character counts as that character, one past the end
/// as the place after the last character. A line ends at `\n`, so the `\r`
/// of a CRLF ending is the last character of its line.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let before = text.get(..end).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_quoting_control_characters_stays_on_one_line() {
        // Found by the accounts_toml fuzz target: a key's base64 decoded
        // to a label holding a newline, which the key error quoted.
        let mut report = Report::new("k = 1\n", Path::new("accounts.toml"));
        report.at(&(0..1), "invalid label: 'r55\0\n\u{1f}\t'; é kept");
        let problems = report.finish().unwrap_err();
        assert_eq!(
            render(&problems),
            "accounts.toml:1:1: invalid label: 'r55\\0\\n\\u{1f}\\t'; é kept"
        );
    }

    #[test]
    fn the_first_byte_is_line_1_column_1() {
        assert_eq!(line_column("abc\n", 0), (1, 1));
        assert_eq!(line_column("", 0), (1, 1));
    }

    #[test]
    fn the_last_byte_and_one_past_it_are_on_the_last_line() {
        let text = "ab\ncd";
        assert_eq!(line_column(text, text.len() - 1), (2, 2));
        assert_eq!(line_column(text, text.len()), (2, 3));
        assert_eq!(line_column(text, usize::MAX), (2, 3));
        // After a final newline, the end is the start of an empty line.
        assert_eq!(line_column("ab\n", 3), (2, 1));
        assert_eq!(line_column("ab\n", 2), (1, 3));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // ç and é are two bytes each, 💾 four.
        let text = "ab\nçd x\né💾z";
        assert_eq!(line_column(text, 7), (2, 4));
        let z = text.find('z').unwrap();
        assert_eq!(line_column(text, z), (3, 3));
        // A byte inside a character is that character.
        let disk = text.find('💾').unwrap();
        for inside in disk..disk + '💾'.len_utf8() {
            assert_eq!(line_column(text, inside), (3, 2), "byte {inside}");
        }
        // The last byte of a text ending in a multi-byte character.
        assert_eq!(line_column("x = é", 5), (1, 5));
        assert_eq!(line_column("é", 1), (1, 1));
    }

    #[test]
    fn crlf_line_endings_count_one_line_each() {
        let text = "a = 1\r\nb = x\r\n";
        let x = text.find('x').unwrap();
        assert_eq!(line_column(text, x), (2, 5));
        // The \r ends its line; the line after starts at column 1.
        assert_eq!(line_column(text, text.find('\r').unwrap()), (1, 6));
        assert_eq!(line_column(text, text.find('b').unwrap()), (2, 1));
        assert_eq!(line_column(text, text.len()), (3, 1));
    }

    #[test]
    fn a_report_gives_its_problems_back_in_file_order() {
        let text = "a = 1\nb = 2\n";
        let mut report = Report::new(text, Path::new("f.toml"));
        assert_eq!(report.count(), 0);
        report.at(&(8..9), "second");
        report.at(&(0..1), "first");
        report.at(&(4..5), "also first line");
        assert_eq!(report.count(), 3);
        let problems = report.finish().unwrap_err();
        assert_eq!(
            render(&problems),
            "f.toml:1:1: first\nf.toml:1:5: also first line\nf.toml:2:3: second"
        );
        assert!(Report::new(text, Path::new("f.toml")).finish().is_ok());
    }

    #[test]
    fn a_problem_with_the_whole_file_has_no_place() {
        let problem = Problem::whole_file(Path::new("/x/a.toml"), "cannot read it");
        assert_eq!((problem.line, problem.column), (0, 0));
        assert_eq!(problem.to_string(), "/x/a.toml: cannot read it");
    }

    #[test]
    fn syntax_errors_are_placed_and_stop_the_walk() {
        let text = "ok = 1\r\nbad = \n";
        let mut report = Report::new(text, Path::new("f.toml"));
        assert!(report.parse(|message, _| syntax_error(message)).is_none());
        let problems = report.finish().unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        let shown = problems[0].to_string();
        assert!(
            shown.starts_with("f.toml:2:") && shown.contains(": TOML syntax error: "),
            "{shown}"
        );

        let mut report = Report::new("a = 1\n", Path::new("f.toml"));
        let document = report.parse(|_, _| unreachable!("no syntax error"));
        assert_eq!(document.map(|d| d.get_ref().len()), Some(1));
        assert!(report.finish().is_ok());
    }

    #[test]
    fn a_loader_may_word_syntax_errors_itself() {
        let text = "a = 1\na = 2\n";
        let mut report = Report::new(text, Path::new("f.toml"));
        let word = |_: &str, span: &Range<usize>| {
            format!("`{}` again", text.get(span.clone()).unwrap_or_default())
        };
        assert!(report.parse(word).is_none());
        let problems = report.finish().unwrap_err();
        assert_eq!(render(&problems), "f.toml:2:1: `a` again");
    }
}
