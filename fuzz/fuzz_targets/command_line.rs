//! Fuzzes splitting a command line and expanding its globs in a small box
//! (`sftpbox::fuzzing::command_line`): no line may panic, and none may take
//! more than `TIME_BOUND` of CPU, so that a pattern whose work the
//! expansion does not bound shows up as a crash with the line that caused
//! it. CPU time, not wall time: on a shared machine wall time measures the
//! neighbours.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sftpbox::fuzzing::{GlobBox, command_line};

/// Most CPU one line may take under the sanitizer and coverage
/// instrumentation. The expansion's own budget (`MAX_GLOB_WORK`) is a few
/// hundred milliseconds uninstrumented: the costliest line found,
/// `seeds/command_line/parent-walk`, takes 0.4 s in a release build and
/// 4.5 s of CPU here, so 10 s leaves room and still catches the unbounded
/// walk `seeds/command_line/looping-link-walk` was before it was charged
/// (4.5 s uninstrumented).
const TIME_BOUND: Duration = Duration::from_secs(10);

/// CPU time this thread has used (the expansion runs on it, syscalls
/// included).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime failed");
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// One box for the whole run: making it takes longer than most inputs.
/// libFuzzer ends the process with `exit`, so the box's folder stays in the
/// temporary directory (a dozen entries).
static GLOB_BOX: OnceLock<GlobBox> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let glob_box = GLOB_BOX.get_or_init(|| GlobBox::create().expect("making the glob box"));
    let started = thread_cpu_time();
    if let Err(violation) = command_line(glob_box, data) {
        panic!("{violation}");
    }
    let took = thread_cpu_time().saturating_sub(started);
    assert!(took < TIME_BOUND, "one line took {took:?}");
});
