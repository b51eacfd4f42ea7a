//! The real `sftpbox serve` as a child process, for what only a whole
//! process shows, in two ways:
//!
//! - [`ServedBinary`]: in its own temp deployment folder with an
//!   sftpbox.toml the test writes, for its memory, threads, CPU time and
//!   descriptors (`/proc/PID`), how it reacts to SIGTERM, and settings read
//!   from the file (including ones the in-process harness has no field
//!   for); killed on drop.
//! - [`ServeChild`]: started from a deployment folder the test wrote (its
//!   sftpbox.toml, accounts.toml, homes and control socket side by side),
//!   as an operator runs it, with the commands an operator runs beside it
//!   in the same folder; SIGTERM when the test is done.
//!
//! Either keeps the server's stderr line by line for the test to read and
//! wait on.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{require_tool, run_with_stdin};
use super::{AccountSpec, accounts_toml, client_key_path};

/// The binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_sftpbox");

/// How long the server may take to start, and a stopped one to exit.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child's stderr, kept line by line by a thread of its own.
#[derive(Clone)]
struct StderrLines(Arc<Mutex<Vec<String>>>);

impl StderrLines {
    /// Keeps what `child` writes on its piped stderr from now on.
    fn keep(child: &mut Child) -> StderrLines {
        let stderr = child.stderr.take().unwrap();
        let lines = StderrLines(Arc::default());
        let sink = lines.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        lines
    }

    /// Every line so far.
    fn all(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Polls until `ready` holds for the lines so far; panics with
    /// `failed(status, log)` when `child` exits first (`Some`, its status)
    /// or [`START_TIMEOUT`] passes (`None`).
    fn wait_until(
        &self,
        child: &mut Child,
        ready: impl Fn(&[String]) -> bool,
        failed: impl Fn(Option<ExitStatus>, &str) -> String,
    ) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !ready(&self.all()) {
            if let Some(status) = child.try_wait().unwrap() {
                // Let the reader thread catch the last lines.
                std::thread::sleep(Duration::from_millis(200));
                if ready(&self.all()) {
                    return;
                }
                panic!("{}", failed(Some(status), &self.all().join("\n")));
            }
            assert!(
                Instant::now() < deadline,
                "{}",
                failed(None, &self.all().join("\n"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Linux reports CPU times in /proc in USER_HZ ticks, 100 a second on every
/// architecture the kernel supports.
const TICKS_PER_SECOND: u64 = 100;

/// What the kernel says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStats {
    /// Resident memory (VmRSS).
    pub rss_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Threads running or waiting to run (state R) or in uninterruptible
    /// sleep (D): the ones doing work, however little CPU a loaded machine
    /// gives them.
    pub busy_threads: usize,
    /// User plus system CPU time so far.
    pub cpu: Duration,
    /// Open descriptors.
    pub open_files: usize,
}

/// Reads `/proc/PID/{status,stat,fd}`; `None` once the process is gone.
pub fn process_stats(pid: u32) -> Option<ProcessStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let rss_bytes = field("VmRSS:")? * 1024;
    let threads = field("Threads:")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: count fields after the last `)`.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let cpu = Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND);
    let open_files = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    let busy_threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            matches!(state.and_then(|s| s.chars().next()), Some('R' | 'D'))
        })
        .count();
    Some(ProcessStats {
        rss_bytes,
        threads,
        busy_threads,
        cpu,
        open_files,
    })
}

/// Prints one measurement as a `figure: name = value` line, for
/// benches/abuse.sh and the before/after tables.
pub fn figure(name: &str, value: impl std::fmt::Display) {
    println!("figure: {name} = {value}");
}

/// Bytes as MiB, for messages.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

/// How to start the binary.
#[derive(Default, Clone)]
pub struct Launch {
    /// The text of sftpbox.toml (`listen` is given on the command line).
    pub settings: String,
    /// Soft and hard RLIMIT_NOFILE for the server (through `prlimit`), so
    /// descriptor exhaustion is reachable in a test.
    pub open_files_limit: Option<u64>,
    /// Run the server as this uid (and gid), through `setpriv`, with the
    /// deployment folder given to it.
    pub run_as: Option<u32>,
}

/// `sftpbox serve` running in a temp deployment; killed on drop.
pub struct ServedBinary {
    pub dir: TempDir,
    addr: SocketAddr,
    child: Option<Child>,
    log: StderrLines,
    pub accounts: Vec<AccountSpec>,
}

impl ServedBinary {
    /// Starts the binary for `accounts` with `settings` as sftpbox.toml.
    /// Panics, with the server's output, when it exits instead of listening
    /// (e.g. a setting it does not know).
    pub fn start(accounts: &[AccountSpec], settings: &str) -> ServedBinary {
        ServedBinary::launch(
            accounts,
            Launch {
                settings: settings.to_owned(),
                ..Launch::default()
            },
        )
    }

    /// Like [`start`](Self::start) with every launch option.
    pub fn launch(accounts: &[AccountSpec], launch: Launch) -> ServedBinary {
        let dir = tempfile::tempdir().unwrap();
        let key = client_key_path(dir.path());
        let status = Command::new(require_tool("ssh-keygen"))
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@client", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::create_dir_all(dir.path().join("homes")).unwrap();
        let public_key = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        std::fs::write(
            dir.path().join("accounts.toml"),
            accounts_toml(accounts, &public_key),
        )
        .unwrap();
        let config = dir.path().join("sftpbox.toml");
        std::fs::write(&config, &launch.settings).unwrap();

        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        if let Some(uid) = launch.run_as {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{uid}"))
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let mut command = match (launch.open_files_limit, launch.run_as) {
            (_, Some(uid)) => {
                let mut c = Command::new(require_tool("setpriv"));
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(BIN);
                c
            }
            (Some(limit), None) => {
                let mut c = Command::new(require_tool("prlimit"));
                c.arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(BIN);
                c
            }
            (None, None) => Command::new(BIN),
        };
        command
            .current_dir(dir.path())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", &addr.to_string()])
            .env("RUST_LOG", "info,russh=error")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let log = StderrLines::keep(&mut child);
        log.wait_until(
            &mut child,
            |lines| lines.iter().any(|line| line.contains("listening")),
            |status, log| match status {
                Some(status) => format!(
                    "sftpbox serve exited ({status}) instead of listening, with sftpbox.toml:\n{}\n--- its log:\n{log}",
                    launch.settings
                ),
                None => format!("sftpbox serve did not listen within {START_TIMEOUT:?}:\n{log}"),
            },
        );
        ServedBinary {
            dir,
            addr,
            child: Some(child),
            log,
            accounts: accounts.to_vec(),
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().unwrap()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Memory, threads, CPU time and descriptors of the server now.
    pub fn stats(&self) -> ProcessStats {
        process_stats(self.pid()).unwrap_or_else(|| panic!("the server is gone:\n{}", self.log()))
    }

    /// CPU time the server spends during `window`, as a share of one core.
    pub async fn cpu_share_over(&self, window: Duration) -> f64 {
        let before = self.stats().cpu;
        tokio::time::sleep(window).await;
        let after = self.stats().cpu;
        after.saturating_sub(before).as_secs_f64() / window.as_secs_f64()
    }

    /// The host path of `user`'s home.
    pub fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join("homes").join(user)
    }

    pub fn client_key(&self) -> PathBuf {
        client_key_path(self.dir.path())
    }

    pub fn password(&self, user: &str) -> String {
        self.accounts
            .iter()
            .find(|a| a.name == user)
            .and_then(|a| a.password.clone())
            .unwrap_or_default()
    }

    /// Sends signal `name` (`TERM`, `HUP`, …) to the server.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `within` for the server to exit; its status, or `None`
    /// while it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child_mut().try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.all().join("\n")
    }

    /// Log lines containing `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log.all().iter().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for ServedBinary {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running `sftpbox serve` in a deployment folder and what it has written
/// on stderr so far; stopped with SIGTERM on drop.
pub struct ServeChild {
    dir: PathBuf,
    child: Child,
    lines: StderrLines,
}

impl ServeChild {
    /// Starts `sftpbox serve ARGS` in `dir` (RUST_LOG cleared, so the log
    /// is the default one) and waits until `ready` holds for its stderr.
    pub fn start(dir: &Path, args: &[&str], ready: impl Fn(&[String]) -> bool) -> ServeChild {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .arg("serve")
            .args(args)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = StderrLines::keep(&mut child);
        lines.wait_until(&mut child, ready, |status, log| {
            let how = status.map_or(String::new(), |status| format!(" (it exited: {status})"));
            format!("the server did not start{how}; its log:\n{log}")
        });
        ServeChild {
            dir: dir.to_owned(),
            child,
            lines,
        }
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.all()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `sftpbox ARGS` in the deployment folder with `stdin` piped in.
    pub fn sftpbox(&self, args: &[&str], stdin: &[u8]) -> Output {
        sftpbox_in(&self.dir, args, stdin)
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sftpbox ARGS` in `dir` with `stdin` piped in.
pub fn sftpbox_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(args);
    run_with_stdin(cmd, stdin)
}
