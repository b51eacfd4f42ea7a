//! Running it for real, through the binary: `serve` with its control socket
//! and metrics, `sessions --json` during a large upload, `kick`, `reload`,
//! `/metrics`, and the control socket refusing another uid.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::binary::{BIN, ServeChild, free_port, sftpbox_in};
use common::process::{describe, generate_key, require_tool, text};
use serde_json::Value;
use tempfile::TempDir;

/// How large the upload that `sessions` and `kick` watch is.
const UPLOAD_BYTES: u64 = 200 << 20;

/// The upload's pace (`sftp -l`, Kbit/s): 5 MB/s, so 200 MiB would take
/// 40 s and the kick comes long before the end.
const UPLOAD_KBITS: &str = "40000";

/// Generous bound for anything the server should do "at once".
const PROMPTLY: Duration = Duration::from_secs(10);

/// A deployment folder with one account (`alice`, by key, 1 GiB quota)
/// and a running `serve`, stopped on drop.
struct Deployment {
    dir: TempDir,
    port: u16,
    metrics_port: u16,
    key: PathBuf,
    _served: ServeChild,
}

impl Deployment {
    fn start() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("client_key");
        generate_key(&key);
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        std::fs::write(
            dir.path().join("accounts.toml"),
            format!(
                "# the test account\n[users.alice]\nkeys = [\"{}\"]\nquota = \"1 GiB\"\n",
                public.trim()
            ),
        )
        .unwrap();
        let port = free_port();
        let metrics_port = free_port();
        std::fs::write(
            dir.path().join("sftpbox.toml"),
            format!(
                "listen = \"127.0.0.1:{port}\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n"
            ),
        )
        .unwrap();
        let listening = format!(":{port}");
        let served = ServeChild::start(dir.path(), &["--config", "sftpbox.toml"], |lines| {
            let seen = |needle: &str| lines.iter().any(|l| l.contains(needle));
            seen("control socket open")
                && seen("metrics served")
                && lines
                    .iter()
                    .any(|l| l.contains("listening") && l.contains(&listening))
        });
        Deployment {
            dir,
            port,
            metrics_port,
            key,
            _served: served,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn socket(&self) -> PathBuf {
        self.path().join("sftpbox.sock")
    }

    /// Runs the binary with `args` in the deployment folder.
    fn sftpbox(&self, args: &[&str]) -> Output {
        sftpbox_in(self.path(), args, b"")
    }

    /// `sftpbox sessions --json`, parsed.
    fn sessions(&self) -> Vec<Value> {
        let out = self.sftpbox(&["sessions", "--json"]);
        assert!(out.status.success(), "sessions failed\n{}", describe(&out));
        match serde_json::from_slice(&out.stdout).unwrap() {
            Value::Array(sessions) => sessions,
            other => panic!("sessions --json printed no array: {other}"),
        }
    }

    /// OpenSSH `sftp` in batch mode as alice, `extra` flags first; the
    /// script goes to its stdin.
    fn sftp(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(require_tool("sftp"));
        cmd.current_dir(self.path())
            .args(extra)
            .arg("-i")
            .arg(&self.key)
            .args(["-P", &self.port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                "-b",
                "-",
                "alice@127.0.0.1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `sftp` with `script` to its end.
    fn sftp_run(&self, script: &str) -> Output {
        let mut child = self.sftp(&[]).spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `GET /metrics`: every sample line as (name with labels, value).
    fn metrics(&self) -> Vec<(String, f64)> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            body.ends_with("# EOF\n"),
            "the text must end with # EOF:\n{body}"
        );
        body.lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                let (name, value) = line.rsplit_once(' ').expect("NAME VALUE");
                let value: f64 = value
                    .parse()
                    .unwrap_or_else(|_| panic!("not a number: {line}"));
                (name.to_owned(), value)
            })
            .collect()
    }

    fn metric(&self, name: &str) -> Option<f64> {
        self.metrics()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// Polls `probe` until it gives `Some`, within [`PROMPTLY`].
fn within<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PROMPTLY;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The upload of `path` in the sessions list: (session id, bytes so far).
fn upload_of(sessions: &[Value], path: &str) -> Option<(u64, u64)> {
    sessions.iter().find_map(|session| {
        let transfers = session["transfers"].as_array()?;
        let upload = transfers
            .iter()
            .find(|t| t["path"] == path && t["direction"] == "upload")?;
        Some((session["id"].as_u64()?, upload["bytes"].as_u64()?))
    })
}

#[test]
fn sessions_show_a_running_upload_and_kick_ends_it_with_exact_usage_and_metrics() {
    let deployment = Deployment::start();
    // A first small file: the account's usage is counted from then on.
    let small = deployment.path().join("small.bin");
    std::fs::write(&small, vec![7u8; 1000]).unwrap();
    let out = deployment.sftp_run("put small.bin /small.bin\nget /small.bin back.bin\n");
    assert!(out.status.success(), "{}", describe(&out));
    let used_before = deployment
        .metric("sftpbox_quota_used_bytes{account=\"alice\"}")
        .expect("alice's usage in /metrics");
    // The quota counts the home folder's own size too.
    let home_size = std::fs::metadata(deployment.path().join("homes/alice"))
        .unwrap()
        .len();
    assert_eq!(used_before, (1000 + home_size) as f64);

    let source = deployment.path().join("big.bin");
    let file = std::fs::File::create(&source).unwrap();
    file.set_len(UPLOAD_BYTES).unwrap();
    let mut upload = deployment.sftp(&["-l", UPLOAD_KBITS]).spawn().unwrap();
    upload
        .stdin
        .take()
        .unwrap()
        .write_all(b"put big.bin /uploaded.bin\n")
        .unwrap();

    let (id, first) = within("the upload to show in sessions", || {
        upload_of(&deployment.sessions(), "/uploaded.bin").filter(|(_, bytes)| *bytes > 0)
    });
    std::thread::sleep(Duration::from_millis(1500));
    let sessions = deployment.sessions();
    let (same_id, later) = upload_of(&sessions, "/uploaded.bin").expect("the upload still runs");
    assert_eq!(same_id, id);
    assert!(later > first, "bytes did not grow: {first} then {later}");
    assert!(
        later < UPLOAD_BYTES,
        "the upload finished too soon for the test"
    );
    let session = sessions.iter().find(|s| s["id"] == id).unwrap();
    assert_eq!(session["account"], "alice");
    assert!(
        session["peer"]
            .as_str()
            .unwrap()
            .parse::<std::net::SocketAddr>()
            .is_ok()
    );
    let started = session["started"].as_str().unwrap();
    assert!(started.len() == 20 && started.ends_with('Z'), "{started}");
    assert_eq!(session["channels"], serde_json::json!(["sftp"]));
    let transfer = &session["transfers"][0];
    assert_eq!(transfer["size"], Value::Null);
    assert!(transfer["rate"].as_u64().unwrap() > 0);

    let table = deployment.sftpbox(&["sessions"]);
    assert!(table.status.success());
    let table = text(&table.stdout);
    assert!(
        table.contains("/uploaded.bin") && table.contains("alice"),
        "{table}"
    );

    let kicked = deployment.sftpbox(&["kick", &id.to_string()]);
    assert!(kicked.status.success(), "{}", describe(&kicked));
    assert!(text(&kicked.stdout).contains(&id.to_string()));

    // The client sees the connection close and fails.
    let ended = within("the kicked client to exit", || upload.try_wait().unwrap());
    assert!(!ended.success(), "a kicked upload cannot succeed");
    within("the kicked session to leave the list", || {
        deployment
            .sessions()
            .iter()
            .all(|s| s["id"] != id)
            .then_some(())
    });

    let stored = std::fs::metadata(deployment.path().join("homes/alice/uploaded.bin"))
        .unwrap()
        .len();
    assert!(
        stored >= later,
        "what was written must stay: {stored} < {later}"
    );
    let used_after = deployment
        .metric("sftpbox_quota_used_bytes{account=\"alice\"}")
        .unwrap();
    assert_eq!(
        used_after - used_before,
        stored as f64,
        "usage grew by the partial file"
    );
    assert_eq!(
        deployment.metric("sftpbox_received_bytes_total{account=\"alice\"}"),
        Some((1000 + stored) as f64),
        "received bytes: the small file and the partial upload"
    );
    assert_eq!(
        deployment.metric("sftpbox_sent_bytes_total{account=\"alice\"}"),
        Some(1000.0)
    );
    assert_eq!(deployment.metric("sftpbox_sessions_open"), Some(0.0));
    assert_eq!(
        deployment.metric("sftpbox_logins_total{method=\"publickey\",result=\"accepted\"}"),
        Some(2.0)
    );
    assert_eq!(
        deployment.metric("sftpbox_quota_allowed_bytes{account=\"alice\"}"),
        Some((1u64 << 30) as f64)
    );
    assert!(deployment.metric("sftpbox_sources_under_penalty").is_some());

    // Nobody left to kick.
    let again = deployment.sftpbox(&["kick", "--account", "alice"]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert!(text(&again.stderr).contains("no session of account alice"));
}

#[test]
fn reload_prints_the_outcome_or_the_files_problems() {
    let deployment = Deployment::start();
    let out = deployment.sftpbox(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        "accounts reloaded: 1 account(s) in force\n"
    );

    let accounts = deployment.path().join("accounts.toml");
    let good = std::fs::read_to_string(&accounts).unwrap();
    std::fs::write(&accounts, format!("{good}shell = \"/bin/sh\"\n")).unwrap();
    let out = deployment.sftpbox(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("accounts.toml:5:1: unknown field `shell`"),
        "{stderr}"
    );
    assert!(stderr.contains("the old ones stay in force"), "{stderr}");
    // The old accounts still log in.
    std::fs::write(deployment.path().join("f"), b"x").unwrap();
    let login = deployment.sftp_run("put f /f\n");
    assert!(login.status.success(), "{}", describe(&login));
}

#[test]
fn commands_exit_1_with_a_clear_message_when_no_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["sessions"][..],
        &["sessions", "--json"],
        &["kick", "1"],
        &["reload"],
    ] {
        let out = sftpbox_in(dir.path(), args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", describe(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("no server answers at sftpbox.sock"),
            "{args:?}: {stderr}"
        );
    }
}

/// Runs `sftpbox sessions --socket SOCKET` as `nobody`.
fn sessions_as_nobody(socket: &Path) -> Output {
    Command::new(BIN)
        .args(["sessions", "--socket"])
        .arg(socket)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap()
}

#[test]
fn the_control_socket_refuses_another_uid() {
    if !is_root() {
        panic!("this test runs a client as another uid and needs root (CI runs as root)");
    }
    let deployment = Deployment::start();
    let socket = deployment.socket();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the socket's mode");
    // Let `nobody` reach the folder: the socket's own mode keeps it out.
    std::fs::set_permissions(deployment.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sessions_as_nobody(&socket);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        describe(&out)
    );

    // With the mode opened up, the server itself refuses the other uid.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = sessions_as_nobody(&socket);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("refused: uid 65534 is not the server's user"),
        "{}",
        describe(&out)
    );
    assert!(out.stdout.is_empty(), "nothing about sessions may reach it");
    // The server's own user is still served.
    let out = deployment.sftpbox(&["sessions"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(text(&out.stdout), "no sessions\n");
}

fn is_root() -> bool {
    // The effective uid of this test process, read without unsafe code.
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}
