//! One cgroup per account for its sandboxed programs: `memory`, `pids` and
//! a CPU weight over all the account's programs together, however many
//! sessions start them.
//!
//! The server makes one subtree of its own at start ([`Cgroups::set_up`])
//! and one cgroup per account in it while the account has a program
//! running; the account's cgroup goes when its last program has ended, the
//! subtree when the server stops (`Drop`). Two layouts:
//!
//! - **cgroup v2** (a `cgroup2` mount whose `cgroup.controllers` has
//!   `memory` and `pids`): a root server makes `sftpbox-PID-START-N` under the
//!   hierarchy's root; a server that is not root uses the cgroup it was
//!   started in when it may write there (systemd's `Delegate=yes`), moving
//!   itself into a leaf `sftpbox-server` first, as v2 allows no process
//!   beside child cgroups that have controllers. Limits: `memory.max`,
//!   `memory.swap.max` = 0, `pids.max`, `cpu.weight`.
//! - **cgroup v1** (the hybrid layout: `memory`, `pids` and `cpu` each a
//!   hierarchy of its own): `sftpbox-PID-START-N` under the server's own cgroup of
//!   each, where it may write there (as root). Limits:
//!   `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`, so swap
//!   does not stretch it), `pids.max`, `cpu.shares` (weight × 1024 / 100).
//!
//! Subtrees left by servers that died are removed by the next server to
//! start beside them (`subtree`).
//!
//! Where neither can be had, [`Cgroups::holds`] says why and what holds
//! instead: per-process `RLIMIT_AS` and per-uid `RLIMIT_NPROC`.
//!
//! A program joins its account's cgroup between fork and exec: the parent
//! opens each hierarchy's `cgroup.procs` and the child writes `0` (itself)
//! there before it enters its namespaces, so everything it starts is in the
//! cgroup too.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

mod subtree;
mod v1;
mod v2;

/// What an account's programs may hold together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramLimits {
    /// Bytes of memory (page cache of their files included).
    pub memory_bytes: u64,
    /// Processes and threads.
    pub processes: u64,
    /// CPU weight, 1 to 10 000 (100 is an even share).
    pub cpu_weight: u32,
}

impl Default for ProgramLimits {
    fn default() -> ProgramLimits {
        ProgramLimits {
            memory_bytes: 1 << 30,
            processes: 256,
            cpu_weight: 100,
        }
    }
}

/// How long removing an account's cgroup waits for its last processes to
/// be gone (they were killed; the kernel frees them in a moment).
const REMOVE_ATTEMPTS: u32 = 20;
const REMOVE_PAUSE: Duration = Duration::from_millis(10);

/// Which layout the subtree has.
#[derive(Debug)]
enum Tree {
    /// cgroup v2: the server's subtree; whether `cpu` is enabled in it.
    V2 { dir: PathBuf, cpu: bool },
    /// cgroup v1: the server's subtree in each hierarchy.
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpu: Option<PathBuf>,
    },
}

/// The server's cgroups, or why there are none.
#[derive(Debug)]
pub struct Cgroups {
    tree: Result<Tree, String>,
    /// Accounts with a cgroup: how many of their programs are in it.
    live: Mutex<HashMap<String, usize>>,
}

impl Cgroups {
    /// Finds a cgroup hierarchy this server may use and makes its subtree.
    pub fn set_up() -> Arc<Cgroups> {
        let tree = make_tree();
        match &tree {
            Ok(tree) => tracing::info!(cgroups = ?tree, "per-account cgroups for programs"),
            Err(why) => tracing::warn!(
                why,
                "no cgroups for programs: memory is bounded per process (RLIMIT_AS), processes per uid (RLIMIT_NPROC)"
            ),
        }
        Arc::new(Cgroups {
            tree,
            live: Mutex::new(HashMap::new()),
        })
    }

    /// No cgroups, for `why` (tests and tools).
    pub fn unavailable(why: &str) -> Arc<Cgroups> {
        Arc::new(Cgroups {
            tree: Err(why.to_owned()),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// One line on what bounds an account's programs, for the log and
    /// `sftpbox check`.
    pub fn holds(&self) -> String {
        match &self.tree {
            Ok(Tree::V2 { dir, cpu }) => format!(
                "cgroup v2 under {}: memory.max, pids.max{} per account",
                dir.display(),
                if *cpu { ", cpu.weight" } else { "" }
            ),
            Ok(Tree::V1 { memory, cpu, .. }) => format!(
                "cgroup v1 under {}: memory.limit_in_bytes, pids.max{} per account",
                memory.display(),
                if cpu.is_some() { ", cpu.shares" } else { "" }
            ),
            Err(why) => format!(
                "no cgroups ({why}): each process's address space is bounded by RLIMIT_AS (the account's memory), each account's processes by RLIMIT_NPROC on its own uid (root) or per sandbox (user namespace); no CPU weight"
            ),
        }
    }

    /// Makes (or reuses) `account`'s cgroup with `limits` and opens its
    /// `cgroup.procs` in every hierarchy. `Ok(None)` without cgroups.
    pub(super) fn enter(
        self: &Arc<Self>,
        account: &str,
        limits: &ProgramLimits,
    ) -> Result<Option<AccountCgroup>, String> {
        let Ok(tree) = &self.tree else {
            return Ok(None);
        };
        let name = format!("account-{account}");
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let dirs = tree.dirs(&name);
        for dir in &dirs {
            match std::fs::create_dir(dir) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(format!("cgroup {}: {err}", dir.display())),
            }
        }
        let applied = tree.apply(&name, limits);
        let procs = dirs
            .iter()
            .map(|dir| {
                OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))
                    .map(OwnedFd::from)
                    .map_err(|err| format!("cgroup {}: {err}", dir.display()))
            })
            .collect::<Result<Vec<_>, _>>();
        let (procs, ()) = match (procs, applied) {
            (Ok(procs), Ok(())) => (procs, ()),
            (Err(why), _) | (_, Err(why)) => {
                if !live.contains_key(account) {
                    tree.remove(&name);
                }
                return Err(why);
            }
        };
        *live.entry(account.to_owned()).or_default() += 1;
        Ok(Some(AccountCgroup {
            cgroups: Arc::clone(self),
            account: account.to_owned(),
            memory: tree.memory_dir(&name),
            procs,
        }))
    }

    /// One program of `account` ended: the last one removes the cgroup.
    fn leave(&self, account: &str) {
        let Ok(tree) = &self.tree else { return };
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(count) = live.get_mut(account) else {
            return;
        };
        *count = count.saturating_sub(1);
        if *count == 0 {
            live.remove(account);
            tree.remove(&format!("account-{account}"));
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        if let Ok(tree) = &self.tree {
            tree.remove_all();
        }
    }
}

/// An account's cgroup while one of its programs runs; dropping the last
/// one of an account removes the cgroup.
#[derive(Debug)]
pub(super) struct AccountCgroup {
    cgroups: Arc<Cgroups>,
    account: String,
    /// The memory controller's directory, for its OOM count.
    memory: PathBuf,
    /// `cgroup.procs` of each hierarchy, open for writing.
    pub procs: Vec<OwnedFd>,
}

impl AccountCgroup {
    /// How many times the kernel has killed a process of this cgroup for
    /// going over its memory limit.
    pub(super) fn oom_kills(&self) -> u64 {
        // v2 counts in memory.events, v1 (since 4.13) in memory.oom_control.
        ["memory.events", "memory.oom_control"]
            .iter()
            .filter_map(|file| std::fs::read_to_string(self.memory.join(file)).ok())
            .find_map(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("oom_kill "))
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for AccountCgroup {
    fn drop(&mut self) {
        self.procs.clear();
        self.cgroups.leave(&self.account);
    }
}

impl Tree {
    /// The account cgroup `name` in every hierarchy.
    fn dirs(&self, name: &str) -> Vec<PathBuf> {
        match self {
            Tree::V2 { dir, .. } => vec![dir.join(name)],
            Tree::V1 { memory, pids, cpu } => {
                let mut dirs = vec![memory.join(name), pids.join(name)];
                dirs.extend(cpu.iter().map(|cpu| cpu.join(name)));
                dirs
            }
        }
    }

    fn memory_dir(&self, name: &str) -> PathBuf {
        match self {
            Tree::V2 { dir, .. } => dir.join(name),
            Tree::V1 { memory, .. } => memory.join(name),
        }
    }

    /// Writes `limits` into the account cgroup `name`.
    fn apply(&self, name: &str, limits: &ProgramLimits) -> Result<(), String> {
        match self {
            Tree::V2 { dir, cpu } => v2::apply(&dir.join(name), *cpu, limits),
            Tree::V1 { memory, pids, cpu } => v1::apply(
                &memory.join(name),
                &pids.join(name),
                cpu.as_ref().map(|cpu| cpu.join(name)).as_deref(),
                limits,
            ),
        }
    }

    /// Removes the account cgroup `name`, killing what is left in it.
    fn remove(&self, name: &str) {
        for dir in self.dirs(name) {
            remove_cgroup(&dir);
        }
    }

    /// Removes every account cgroup and the subtree itself.
    fn remove_all(&self) {
        let roots: Vec<&PathBuf> = match self {
            Tree::V2 { dir, .. } => vec![dir],
            Tree::V1 { memory, pids, cpu } => {
                let mut roots = vec![memory, pids];
                roots.extend(cpu.iter());
                roots
            }
        };
        for root in roots {
            remove_subtree(root);
        }
    }
}

/// Removes a server's subtree at `root`: its account cgroups, then itself.
fn remove_subtree(root: &Path) {
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&entry.path());
            }
        }
    }
    remove_cgroup(root);
}

/// Kills whatever is still in the cgroup at `dir` and removes it, waiting a
/// little for the kernel to free the killed processes.
fn remove_cgroup(dir: &Path) {
    for _ in 0..REMOVE_ATTEMPTS {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {}
        }
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        std::thread::sleep(REMOVE_PAUSE);
    }
    tracing::warn!(cgroup = %dir.display(), "a cgroup could not be removed");
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), String> {
    let path = dir.join(file);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|err| format!("{}: {err}", path.display()))
}

/// One mount of `/proc/self/mountinfo`: where, the mount's root in its
/// hierarchy, the filesystem type and its options.
struct Mount {
    point: PathBuf,
    root: String,
    fstype: String,
    options: Vec<String>,
}

fn mounts() -> Vec<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let root = (*fields.get(3)?).to_owned();
            let point = PathBuf::from(fields.get(4)?);
            let mut after = after.split(' ');
            let fstype = after.next()?.to_owned();
            let _source = after.next();
            let options = after
                .next()
                .unwrap_or_default()
                .split(',')
                .map(str::to_owned)
                .collect();
            Some(Mount {
                point,
                root,
                fstype,
                options,
            })
        })
        .collect()
}

/// `/proc/self/cgroup`: `(controllers, path)` per hierarchy (`""` for v2).
fn own_cgroups() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

/// The host directory of cgroup `path` in the hierarchy mounted as `mount`.
fn cgroup_dir(mount: &Mount, path: &str) -> PathBuf {
    let relative = path
        .strip_prefix(mount.root.as_str())
        .unwrap_or(path)
        .trim_start_matches('/');
    mount.point.join(relative)
}

fn is_writable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

fn make_tree() -> Result<Tree, String> {
    let mounts = mounts();
    let own = own_cgroups();
    let v2 = match v2::make(&mounts, &own) {
        Ok(tree) => return Ok(tree),
        Err(why) => why,
    };
    match v1::make(&mounts, &own) {
        Ok(tree) => Ok(tree),
        Err(v1) => Err(format!("{v2}; {v1}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_cgroup_holds_its_limits_and_goes_with_its_last_program() {
        let cgroups = Cgroups::set_up();
        // The machines we test on have cgroups (v1 or v2) and run as root.
        assert!(cgroups.tree.is_ok(), "{}", cgroups.holds());
        let limits = ProgramLimits {
            memory_bytes: 256 << 20,
            processes: 40,
            cpu_weight: 50,
        };
        let first = cgroups.enter("alice", &limits).unwrap().unwrap();
        let second = cgroups.enter("alice", &limits).unwrap().unwrap();
        let dirs = cgroups.tree.as_ref().unwrap().dirs("account-alice");
        let read = |file: &str| {
            dirs.iter()
                .find_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
                .unwrap()
                .trim()
                .to_owned()
        };
        assert_eq!(read("pids.max"), "40");
        match cgroups.tree.as_ref().unwrap() {
            Tree::V2 { cpu, .. } => {
                assert_eq!(read("memory.max"), (256_u64 << 20).to_string());
                if *cpu {
                    assert_eq!(read("cpu.weight"), "50");
                }
            }
            Tree::V1 { cpu, .. } => {
                assert_eq!(read("memory.limit_in_bytes"), (256_u64 << 20).to_string());
                if cpu.is_some() {
                    assert_eq!(read("cpu.shares"), "512");
                }
            }
        }
        assert_eq!(first.oom_kills(), 0);
        drop(first);
        assert!(dirs.iter().all(|dir| dir.exists()), "removed too early");
        drop(second);
        assert!(dirs.iter().all(|dir| !dir.exists()), "left behind");
        let subtree = dirs[0].parent().unwrap().to_owned();
        assert!(subtree.exists());
        drop(cgroups);
        assert!(!subtree.exists(), "the server's subtree stays");
    }

    #[test]
    fn a_server_removes_the_subtrees_a_server_that_died_left_beside_its_own() {
        let first = Cgroups::set_up();
        let tree = first.tree.as_ref().expect("cgroups on the test machines");
        // A subtree under this process's PID with another start time is
        // one a dead server left before the PID came round again.
        let stale = format!("sftpbox-{}-1-0", std::process::id());
        let stale_dirs: Vec<PathBuf> = tree
            .dirs("x")
            .iter()
            .filter_map(|account| account.parent()?.parent())
            .map(|parent| parent.join(&stale))
            .collect();
        // Planted whole under a name no server removes, then renamed, so
        // that a server starting meanwhile (tests run in parallel) sees
        // each one complete.
        let plant = |dir: &Path, account: &str, process: Option<u32>| {
            let building = dir.with_file_name(format!("planting-{}", std::process::id()));
            std::fs::create_dir(&building).unwrap();
            std::fs::create_dir(building.join(account)).unwrap();
            if let Some(pid) = process {
                std::fs::write(building.join(account).join("cgroup.procs"), pid.to_string())
                    .unwrap();
            }
            std::fs::rename(&building, dir).unwrap();
        };
        for dir in &stale_dirs {
            plant(dir, "account-bob", None);
        }
        // One more, under another dead start time, with a process in it:
        // it is left, as its server may only be out of this PID namespace.
        let busy = stale_dirs[0].with_file_name(format!("sftpbox-{}-2-0", std::process::id()));
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        plant(&busy, "account-carol", Some(sleeper.id()));
        let second = Cgroups::set_up();
        assert!(second.tree.is_ok(), "{}", second.holds());
        for dir in &stale_dirs {
            assert!(!dir.exists(), "{} stays", dir.display());
        }
        assert!(
            busy.join("account-carol").exists(),
            "a cgroup with a process in it went"
        );
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        remove_subtree(&busy);
        assert!(!busy.exists());
        assert!(
            tree.dirs("x")[0].parent().unwrap().exists(),
            "a live server's subtree went"
        );
    }
}
