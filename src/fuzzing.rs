//! Entry points for the fuzz targets in `fuzz/` and for the replay of their
//! corpora in `tests/fuzz_corpus.rs`; not part of the server.
//!
//! Each function takes arbitrary bytes and runs one parser the way the
//! server runs it on what a client or an administrator sends: an SFTP
//! packet as the dispatcher decodes it (`sftp_request.rs`), an scp record
//! line as the sink reads it, a command line as `exec` splits and globs it
//! inside a box, accounts.toml and sftpbox.toml text as the loaders read
//! it. None of them panics on any input, and none may: a panic through one
//! of them is a panic the network (or a reload) can reach, a defect in the
//! parser. Each returns a [`Violation`] when a property its parser promises
//! does not hold for the input (a decoded request is what the packet says,
//! a record sftpbox formats parses back to itself, a problem in a TOML file
//! has its place and stays on one line), so that the fuzz target can fail
//! on it.
//!
//! The command-line target needs a box to glob in: [`GlobBox`] makes a small
//! one in the temporary directory, its tree made through the [`Jail`] like
//! a client would make it (files, a folder, links that loop and one that
//! dangles), and removes it when dropped. That temporary directory is the
//! only host path this module names.

mod sftp_request;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::accounts::Accounts;
use crate::config::{ConfigError, ServerConfig};
use crate::diagnostics::Problem;
use crate::exec::words::{self, MAX_GLOB_MATCHES, Word};
use crate::jail::{Jail, JailError, OpenOptions, Quota, VirtualPath};
use crate::scp::protocol::{
    self, MAX_LINE_BYTES, ProtocolError, Record, Times, dir_record, file_record, times_record,
};

pub use sftp_request::sftp_request;

/// A property of a parser that one input broke, described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Violation(String);

fn violation(what: impl Into<String>) -> Result<(), Violation> {
    Err(Violation(what.into()))
}

/// Parses `input` as the lines an scp source sends to the sink: each line
/// shorter than [`MAX_LINE_BYTES`] (the sink refuses longer ones before
/// parsing) goes through `parse_record` without its newline. For every
/// record that parses, the record sftpbox would send for it must parse back
/// to it, and every refusal must fit on the one error line the sink sends.
pub fn scp_record(input: &[u8]) -> Result<(), Violation> {
    for line in input.split(|&byte| byte == b'\n') {
        if line.len() >= MAX_LINE_BYTES {
            continue;
        }
        match protocol::parse_record(line) {
            Ok(record) => scp_round_trip(&record)?,
            Err(err) => scp_refusal_is_one_line(&err)?,
        }
    }
    Ok(())
}

/// A `C`, `D` or `T` record formatted as sftpbox sends it parses back to
/// the same record (the mode masked to its permission bits, negative times
/// sent as 0).
fn scp_round_trip(record: &Record) -> Result<(), Violation> {
    let (line, expected) = match record {
        Record::File { mode, size, name } => (
            file_record(*mode, *size, name),
            Record::File {
                mode: mode & 0o777,
                size: *size,
                name: name.clone(),
            },
        ),
        Record::Dir { mode, name } => (
            dir_record(*mode, name),
            Record::Dir {
                mode: mode & 0o777,
                name: name.clone(),
            },
        ),
        Record::Times(Some(times)) => (
            times_record(*times),
            Record::Times(Some(Times {
                mtime: times.mtime.max(0),
                atime: times.atime.max(0),
            })),
        ),
        Record::Times(None) | Record::End | Record::Error { .. } => return Ok(()),
    };
    let Some(without_newline) = line.strip_suffix(b"\n") else {
        return violation(format!("record {line:?} does not end in a newline"));
    };
    match protocol::parse_record(without_newline) {
        Ok(parsed) if parsed == expected => Ok(()),
        other => violation(format!(
            "{record:?} is sent as {line:?}, which parses as {other:?}"
        )),
    }
}

/// The refusal the sink sends for a bad record is one line.
fn scp_refusal_is_one_line(err: &ProtocolError) -> Result<(), Violation> {
    let line = protocol::error_line(&err.to_string());
    let newlines = line.iter().filter(|&&byte| byte == b'\n').count();
    if newlines != 1 || line.last() != Some(&b'\n') {
        return violation(format!("refusal {err:?} is sent as {line:?}"));
    }
    Ok(())
}

/// A small throwaway box to expand globs in, removed on drop.
///
/// Its tree, made through the [`Jail`] as a client would make it over SFTP:
/// `a.txt`, `b.txt`, `.hidden`, `c d`, `star*`, `[br]`, a name that is not
/// UTF-8, the folder `d` with `e.txt`, `f.log` and `g/h`, and the links
/// `loop -> .`, `up -> /` (read inside the box), `down -> d` and
/// `dangling -> nowhere`, so that patterns can walk in circles.
#[derive(Debug)]
pub struct GlobBox {
    /// The box, its home at `folder/home`.
    jail: Jail,
    /// The temporary folder holding the home, removed on drop.
    folder: PathBuf,
}

impl GlobBox {
    /// Makes the box in a new folder under the temporary directory.
    pub fn create() -> Result<GlobBox, JailError> {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let folder = std::env::temp_dir().join(format!(
            "sftpbox-fuzz-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        ));
        let jail = Jail::open(&folder.join("home"), Arc::new(Quota::new(None)), false)?;
        let glob_box = GlobBox { jail, folder };
        glob_box.fill()?;
        Ok(glob_box)
    }

    fn fill(&self) -> Result<(), JailError> {
        let path = |text: &[u8]| VirtualPath::resolve(&VirtualPath::root(), text);
        for dir in [&b"d"[..], b"d/g"] {
            self.jail.create_dir(&path(dir)?, 0o755)?;
        }
        let create = OpenOptions {
            write: true,
            create: true,
            ..OpenOptions::default()
        };
        for file in [
            &b"a.txt"[..],
            b"b.txt",
            b".hidden",
            b"c d",
            b"star*",
            b"[br]",
            b"\xff\xfe.txt",
            b"d/e.txt",
            b"d/f.log",
            b"d/g/h",
        ] {
            self.jail
                .open_file(&path(file)?, &create)?
                .write_at(b"x", 0)?;
        }
        for (target, link) in [
            (&b"."[..], &b"loop"[..]),
            (b"/", b"up"),
            (b"d", b"down"),
            (b"nowhere", b"dangling"),
        ] {
            self.jail.symlink(target, &path(link)?)?;
        }
        Ok(())
    }
}

impl Drop for GlobBox {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temporary directory harms nothing.
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Splits `input` as the command line of `ssh HOST CMD` and, when a word
/// globs, expands it in `glob_box` from its root, as `exec` does before it
/// picks the command. Words without globs come out as typed, and an
/// expansion never yields more than [`MAX_GLOB_MATCHES`] words beyond the
/// words it was given.
pub fn command_line(glob_box: &GlobBox, input: &[u8]) -> Result<(), Violation> {
    let Ok(split) = words::split(input) else {
        return Ok(());
    };
    if !split.iter().any(Word::has_glob) {
        return Ok(());
    }
    let typed = split.len();
    match words::expand(&glob_box.jail, &VirtualPath::root(), split) {
        Ok(argv) if argv.len() > typed.saturating_add(MAX_GLOB_MATCHES) => violation(format!(
            "{typed} words expanded to {} (limit {MAX_GLOB_MATCHES} more)",
            argv.len()
        )),
        Ok(_) | Err(_) => Ok(()),
    }
}

/// Loads `input` as accounts.toml, as `sftpbox check` and a reload do (text
/// that is not UTF-8 cannot be read, so it is refused before parsing). A
/// refusal must place each problem in the file and keep it on one line.
pub fn accounts_toml(input: &[u8]) -> Result<(), Violation> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(());
    };
    match Accounts::from_toml_str(text, "accounts.toml".as_ref()) {
        Ok(_) => Ok(()),
        Err(err) => problems_are_placed(text, &err.problems),
    }
}

/// Loads `input` as sftpbox.toml, as `sftpbox serve` and `check` do; a
/// refusal must place each problem in the file and keep it on one line.
pub fn config_toml(input: &[u8]) -> Result<(), Violation> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(());
    };
    match ServerConfig::from_toml_str(text, "/srv/box/sftpbox.toml".as_ref()) {
        Ok(_) => Ok(()),
        Err(ConfigError::Invalid { problems }) => problems_are_placed(text, &problems),
        Err(err @ ConfigError::Read { .. }) => violation(format!("text refused as unread: {err}")),
    }
}

/// What `diagnostics` promises of a refused file: at least one problem,
/// each at a line and column inside the text, in file order, each printed
/// on one line.
fn problems_are_placed(text: &str, problems: &[Problem]) -> Result<(), Violation> {
    if problems.is_empty() {
        return violation("refused without a problem");
    }
    let lines = text.split('\n').count();
    for problem in problems {
        let longest = text
            .split('\n')
            .nth(problem.line.saturating_sub(1))
            .map_or(0, |line| line.chars().count());
        if problem.line == 0 || problem.line > lines {
            return violation(format!("{problem:?} is outside the {lines} lines"));
        }
        if problem.column == 0 || problem.column > longest + 1 {
            return violation(format!("{problem:?} is outside its line"));
        }
        if problem.to_string().contains('\n') {
            return violation(format!("{problem:?} prints on more than one line"));
        }
    }
    if !problems.is_sorted_by_key(|p| (p.line, p.column)) {
        return violation(format!("{problems:?} are not in file order"));
    }
    Ok(())
}
