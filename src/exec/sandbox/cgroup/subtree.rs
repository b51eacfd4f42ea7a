//! The name of a server's subtree, and the removal of subtrees left by
//! servers that are gone.
//!
//! A subtree is named `sftpbox-PID-START-N`: the server's PID, its start
//! time (clock ticks after boot, `/proc/PID/stat`), and a count for the
//! several servers one process may run (tests). A server that dies without
//! its `Drop` (a kill, a crash) leaves its subtree; the PID alone would
//! collide when the kernel hands it out again, and a server that cannot
//! make its subtree serves without cgroup limits. With the start time the
//! name is never reused, and each server removes at start the subtrees
//! beside its own whose process is gone and that hold no process.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Numbers the subtrees of the servers of one process (tests run many).
static SUBTREES: AtomicU32 = AtomicU32::new(0);

const PREFIX: &str = "sftpbox-";

/// A new subtree name for this process.
pub(super) fn new_name() -> String {
    static OWN_START: OnceLock<u64> = OnceLock::new();
    let pid = std::process::id();
    let start = *OWN_START.get_or_init(|| start_ticks(pid).unwrap_or(0));
    let n = SUBTREES.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{pid}-{start}-{n}")
}

/// Removes every subtree in `parent` whose server has ended and that holds
/// no process, with the empty account cgroups in it. One that still holds
/// a process is left as it is: its server may only be out of sight (a
/// server in another PID namespace sharing this hierarchy), and nothing
/// here kills what another server started.
pub(super) fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let mut removed = 0_usize;
    for entry in entries.flatten() {
        let stale = entry.file_name().to_str().is_some_and(is_stale);
        if stale && entry.file_type().is_ok_and(|t| t.is_dir()) && remove_if_empty(&entry.path()) {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            parent = %parent.display(),
            removed,
            "removed the cgroups of servers that ended without removing them"
        );
    }
}

/// Whether `name` is a subtree whose server has ended: no process has its
/// PID, or the one that has it started at another time. A name of the
/// older `sftpbox-PID-N` form is stale only when its PID is free.
fn is_stale(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let numbers: Option<Vec<u64>> = rest.split('-').map(|part| part.parse().ok()).collect();
    match numbers.as_deref() {
        Some(&[pid, start, _]) => start_of(pid) != Some(start),
        Some(&[pid, _]) => start_of(pid).is_none(),
        _ => false,
    }
}

/// Removes the subtree at `dir` when neither it nor any account cgroup in
/// it holds a process (an empty cgroup is removed by `rmdir`, its control
/// files with it); says whether it is gone.
fn remove_if_empty(dir: &Path) -> bool {
    let children: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .map(|entry| entry.path())
            .collect(),
        Err(_) => return false,
    };
    let holds_processes = |cgroup: &Path| {
        std::fs::read_to_string(cgroup.join("cgroup.procs"))
            .map_or(true, |procs| !procs.trim().is_empty())
    };
    if holds_processes(dir) || children.iter().any(|child| holds_processes(child)) {
        return false;
    }
    children
        .iter()
        .all(|child| std::fs::remove_dir(child).is_ok())
        && std::fs::remove_dir(dir).is_ok()
}

fn start_of(pid: u64) -> Option<u64> {
    u32::try_from(pid).ok().and_then(start_ticks)
}

/// When process `pid` started, in clock ticks after boot: the 22nd field
/// of `/proc/PID/stat`, counted after the command name (which may hold
/// spaces and parentheses, hence the last `)`).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, fields) = stat.rsplit_once(')')?;
    fields.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_stale_once_its_process_is_gone_or_its_pid_is_another_process() {
        let own = std::process::id();
        let start = start_ticks(own).expect("this process's start time");
        assert!(!is_stale(&format!("sftpbox-{own}-{start}-3")));
        assert!(is_stale(&format!("sftpbox-{own}-{}-0", start + 1)));
        assert!(
            !is_stale(&format!("sftpbox-{own}-0")),
            "older form, live PID"
        );

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        assert!(is_stale(&format!("sftpbox-{gone}-0")));
        assert!(is_stale(&format!("sftpbox-{gone}-{start}-0")));

        for other in [
            "sftpbox-server",
            "sftpbox-x-1",
            "account-alice",
            "sftpbox-1-2-3-4",
        ] {
            assert!(!is_stale(other), "{other}");
        }
        assert!(new_name().starts_with(&format!("sftpbox-{own}-{start}-")));
    }
}
