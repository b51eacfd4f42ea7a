//! The binary: exit codes, `check`, `hash-password`, host keys, SIGTERM and SIGHUP.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::client::put;
use common::files::{mode_of, pattern};
use common::process::{
    assert_ok, fingerprint, generate_key, require_tool, run_with_stdin, sftpbox, text,
};
use common::{AccountSpec, TestServer};
use sftpbox::config::Limits;

const BIN: &str = env!("CARGO_BIN_EXE_sftpbox");

fn hash(password: &str) -> String {
    let out = run_with_stdin(
        {
            let mut c = Command::new(BIN);
            c.arg("hash-password");
            c
        },
        format!("{password}\n").as_bytes(),
    );
    assert_ok(&out);
    text(&out.stdout).trim().to_owned()
}

/// Starts `serve` on a free port in `dir`; returns the child and the port once it listens.
fn serve(dir: &Path) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server printed nothing");
        if line.contains("listening") {
            break;
        }
        assert!(Instant::now() < deadline, "server did not start");
    }
    std::thread::spawn(move || while rx.recv().is_ok() {});
    (child, port)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn deployment(accounts: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("accounts.toml"), accounts).unwrap();
    dir
}

#[test]
fn hash_password_output_verifies_and_check_accepts_it() {
    let dir = deployment(&format!(
        "[users.alice]\npassword = \"{}\"\n",
        hash("s3cret")
    ));
    let out = sftpbox(dir.path(), &["check"]);
    assert_ok(&out);
}

#[test]
fn check_lists_every_problem_with_its_place_and_exits_2() {
    let dir = deployment("[users.alice]\npassword = \"plain\"\ncolour = \"blue\"\n");
    let out = sftpbox(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("accounts.toml:2:12"), "{err}");
    assert!(err.contains("accounts.toml:3:1"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn serve_creates_a_host_key_that_ssh_keygen_reads() {
    let dir = deployment(&format!("[users.alice]\npassword = \"{}\"\n", hash("pw")));
    let (mut child, _port) = serve(dir.path());
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
    let key = dir.path().join("keys/ssh_host_ed25519_key");
    assert_eq!(mode_of(&key), 0o600);
    assert!(fingerprint(&key.with_extension("pub")).starts_with("SHA256:"));
}

#[test]
fn a_malformed_host_key_stops_serve_with_exit_2() {
    let dir = deployment(&format!("[users.alice]\npassword = \"{}\"\n", hash("pw")));
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/ssh_host_ed25519_key"), "not a key").unwrap();
    let out = sftpbox(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ssh_host_ed25519_key"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_public_example_password_keeps_serve_on_loopback() {
    let dir = deployment(&format!(
        "[users.demo]\npassword = \"{}\"\n",
        hash("sftpbox-demo")
    ));
    let out = sftpbox(dir.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("demo"), "{}", text(&out.stderr));
}

#[test]
fn sigterm_lets_a_running_transfer_finish_then_exits_0() {
    require_tool("sftp");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ck");
    generate_key(&key);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    std::fs::write(
        dir.path().join("accounts.toml"),
        format!("[users.alice]\nkeys = [\"{}\"]\n", public.trim()),
    )
    .unwrap();
    let (mut child, port) = serve(dir.path());
    let big = dir.path().join("big");
    std::fs::write(&big, pattern(200 * 1024 * 1024, 1)).unwrap();
    let mut upload = Command::new(require_tool("sftp"))
        .args([
            "-P",
            &port.to_string(),
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ])
        .arg(&key)
        .args(["-b", "-", "alice@127.0.0.1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = upload.stdin.take().unwrap();
        writeln!(stdin, "put {} big", big.display()).unwrap();
    }
    // Wait until the upload has started, then ask the server to stop.
    let stored = dir.path().join("homes/alice/big");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&stored).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "upload never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "TERM");
    let upload_status = upload.wait().unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    assert!(upload_status.success(), "the running transfer was cut");
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), 200 * 1024 * 1024);
}

#[test]
fn sighup_reloads_accounts_and_a_bad_file_keeps_the_old_ones() {
    let dir = deployment(&format!("[users.alice]\npassword = \"{}\"\n", hash("pw")));
    let (mut child, port) = serve(dir.path());
    let try_login = |user: &str, password: &str| -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut h = common::client::connect(([127, 0, 0, 1], port).into()).await;
            h.authenticate_password(user, password)
                .await
                .unwrap()
                .success()
        })
    };
    assert!(try_login("alice", "pw"));
    assert!(!try_login("bob", "pw2"));
    std::fs::write(
        dir.path().join("accounts.toml"),
        format!("[users.bob]\npassword = \"{}\"\n", hash("pw2")),
    )
    .unwrap();
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert!(try_login("bob", "pw2"));
    assert!(!try_login("alice", "pw"));
    std::fs::write(dir.path().join("accounts.toml"), "[users.bob\n").unwrap();
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        try_login("bob", "pw2"),
        "a bad file must keep the old accounts"
    );
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_idle_sftp_sessions() {
    let mut server = TestServer::start_with_limits(
        &[AccountSpec::new("alice")],
        Limits {
            shutdown_grace: Duration::from_secs(20),
            ..Limits::default()
        },
    );
    let sftp = server.russh_sftp("alice").await;
    put(&sftp, "a", b"x").await.unwrap();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "an idle session held the shutdown for {:?}",
        started.elapsed()
    );
}
