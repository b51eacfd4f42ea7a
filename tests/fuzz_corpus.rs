//! The fuzz corpora, replayed on stable: every file under
//! `fuzz/corpus/TARGET/` and `fuzz/seeds/TARGET/` (the hand-written inputs,
//! and the crashes fuzzing found, kept under names that say what they
//! were), and any crash reproducer a local run left under
//! `fuzz/artifacts/TARGET/`, goes through the same `sftpbox::fuzzing` entry
//! point its fuzz target calls. None may panic, break a property the entry
//! point checks, or take longer than [`TIME_BOUND`]. The fuzzing itself
//! needs a nightly toolchain (`fuzz/README.md`); this keeps what it found
//! covered by the ordinary `cargo test`.

// The helpers outside `#[test]` unwrap too: a corpus that cannot be read
// is a failed test.
#![allow(clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sftpbox::fuzzing::{self, GlobBox, Violation};

/// Longest one input may take: generous for a debug build on a loaded CI
/// machine. The slowest corpus input takes milliseconds in a release build.
const TIME_BOUND: Duration = Duration::from_secs(10);

/// The files of `fuzz/{corpus,seeds,artifacts}/TARGET/`, sorted; the
/// corpus and seed folders must each hold at least one.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let files = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.is_file())
                    .collect()
            })
            .unwrap_or_default()
    };
    let seeds = fuzz.join("seeds").join(target);
    let mut found = Vec::new();
    for dir in [&corpus, &seeds] {
        let inputs = files(dir);
        assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
        found.extend(inputs);
    }
    found.extend(files(&fuzz.join("artifacts").join(target)));
    found.sort();
    found
}

/// Runs every input of `target` through `entry`; fails naming each input
/// that panicked, broke a property or was too slow.
fn replay(target: &str, entry: impl Fn(&[u8]) -> Result<(), Violation>) {
    let mut failures = Vec::new();
    let inputs = inputs(target);
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| entry(&data)));
        let took = started.elapsed();
        let name = path.display();
        match outcome {
            Err(_) => failures.push(format!("{name}: panicked")),
            Ok(Err(violation)) => failures.push(format!("{name}: {violation}")),
            Ok(Ok(())) if took > TIME_BOUND => failures.push(format!("{name}: took {took:?}")),
            Ok(Ok(())) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs failed:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}

#[test]
fn the_sftp_request_corpus_replays_cleanly() {
    replay("sftp_request", fuzzing::sftp_request);
}

#[test]
fn the_scp_record_corpus_replays_cleanly() {
    replay("scp_record", fuzzing::scp_record);
}

#[test]
fn the_command_line_corpus_replays_cleanly() {
    let glob_box = GlobBox::create().unwrap();
    replay("command_line", |data| {
        fuzzing::command_line(&glob_box, data)
    });
}

#[test]
fn the_accounts_toml_corpus_replays_cleanly() {
    replay("accounts_toml", fuzzing::accounts_toml);
}

#[test]
fn the_config_toml_corpus_replays_cleanly() {
    replay("config_toml", fuzzing::config_toml);
}
