//! `sftpbox serve` started from a deployment folder the test wrote (its
//! sftpbox.toml, accounts.toml, homes and control socket side by side), as
//! an operator runs it: stderr kept line by line for the test to read and
//! wait on, SIGTERM when the test is done. Also the commands an operator
//! runs beside it, in the same folder.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::process::run_with_stdin;

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

/// A running `sftpbox serve` and what it has written on stderr so far.
pub struct ServeChild {
    dir: PathBuf,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
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
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        let served = ServeChild {
            dir: dir.to_owned(),
            child,
            lines,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !ready(&served.lines()) {
            assert!(
                Instant::now() < deadline,
                "the server did not start; its log:\n{}",
                served.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
