//! Fuzzes splitting a command line and expanding its globs in a small box
//! (`sftpbox::fuzzing::command_line`): no line may panic, and none may take
//! longer than `TIME_BOUND`, so that a pattern whose work the expansion
//! does not bound shows up as a crash with the line that caused it.

#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sftpbox::fuzzing::{GlobBox, command_line};

/// Longest one line may take, under the sanitizer and coverage
/// instrumentation, on a loaded machine. The expansion's own budget
/// (`MAX_GLOB_WORK`) is a few hundred milliseconds of uninstrumented CPU.
const TIME_BOUND: Duration = Duration::from_secs(2);

/// One box for the whole run: making it takes longer than most inputs.
/// libFuzzer ends the process with `exit`, so the box's folder stays in the
/// temporary directory (a dozen entries).
static GLOB_BOX: OnceLock<GlobBox> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let glob_box = GLOB_BOX.get_or_init(|| GlobBox::create().expect("making the glob box"));
    let started = Instant::now();
    if let Err(violation) = command_line(glob_box, data) {
        panic!("{violation}");
    }
    let took = started.elapsed();
    assert!(took < TIME_BOUND, "one line took {took:?}");
});
