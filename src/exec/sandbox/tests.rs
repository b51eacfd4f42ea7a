//! The sandbox against real programs. These need root (as the server
//! runs) and a kernel with Landlock ABI ≥ 6 and namespaces; they run one at
//! a time so that "nothing left running" can be checked by uid.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use super::plan::SANDBOX_ID;
use super::run_external;
use crate::exec::{ExecContext, ExitOutcome, ExitSignal};
use crate::jail::tests::Fixture;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Run {
    outcome: ExitOutcome,
    stdout: Vec<u8>,
    stderr: String,
}

fn context(fixture: &Fixture, timeout: Duration) -> ExecContext {
    // The sandbox runs as the home's owner: give the home to `nobody`.
    std::os::unix::fs::chown(fixture.home(), Some(SANDBOX_ID), Some(SANDBOX_ID)).unwrap();
    ExecContext {
        jail: fixture.jail.clone(),
        account: "alice".into(),
        external: Vec::new(),
        command_timeout: timeout,
        pty: false,
        moved: Default::default(),
        rates: crate::rate::AccountRates::unlimited(),
        programs: Default::default(),
    }
}

async fn run_in(ctx: &ExecContext, program: &str, args: &[&str], stdin: &[u8]) -> Run {
    let argv: Vec<Vec<u8>> =
        std::iter::once(Path::new(program).file_name().unwrap().to_str().unwrap())
            .chain(args.iter().copied())
            .map(|word| word.as_bytes().to_vec())
            .collect();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let outcome = run_external(
        Path::new(program),
        &argv,
        ctx,
        stdin,
        &mut stdout,
        &mut stderr,
    )
    .await;
    Run {
        outcome,
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

async fn run(program: &str, args: &[&str]) -> (Fixture, Run) {
    let fixture = Fixture::new(None);
    let ctx = context(&fixture, Duration::from_secs(20));
    let run = run_in(&ctx, program, args, b"").await;
    (fixture, run)
}

/// Processes of the sandbox uid still alive (`/proc/PID/stat` lines).
fn sandbox_processes() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.uid() == SANDBOX_ID))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .collect()
}

#[tokio::test]
async fn the_environment_holds_only_path_home_and_lang() {
    let _serial = SERIAL.lock().await;
    let (_fixture, run) = run("/usr/bin/env", &[]).await;
    assert_eq!(run.outcome, ExitOutcome::Status(0), "{}", run.stderr);
    let mut lines: Vec<_> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(lines, ["HOME=/", "LANG=C.UTF-8", "PATH=/usr/bin:/bin"]);
}

#[tokio::test]
async fn files_outside_the_home_cannot_be_read_or_listed() {
    let _serial = SERIAL.lock().await;
    let (_fixture, run1) = run("/usr/bin/cat", &["/etc/passwd"]).await;
    assert_eq!(run1.outcome, ExitOutcome::Status(1), "{}", run1.stderr);
    assert!(run1.stdout.is_empty());
    // `/` is the home: an empty one lists nothing, of the host or else.
    let (_fixture, run2) = run("/usr/bin/ls", &["-a", "/"]).await;
    assert_eq!(run2.outcome, ExitOutcome::Status(0), "{}", run2.stderr);
    assert_eq!(String::from_utf8_lossy(&run2.stdout), ".\n..\n");
    let (_fixture, run3) = run("/usr/bin/id", &[]).await;
    assert_eq!(
        String::from_utf8_lossy(&run3.stdout).split(' ').next(),
        Some("uid=65534")
    );
}

#[tokio::test]
async fn the_home_and_tmp_are_writable_and_nothing_else_is() {
    let _serial = SERIAL.lock().await;
    let script = "echo hi > made; for p in /usr/x /tmp/x /x /dev/x /etc/x; do echo no > $p && echo WROTE $p; done; pwd";
    let (fixture, run) = run("/usr/bin/sh", &["-c", script]).await;
    assert_eq!(std::fs::read(fixture.home().join("made")).unwrap(), b"hi\n");
    assert_eq!(std::fs::read(fixture.home().join("x")).unwrap(), b"no\n");
    assert!(!fixture.home().join("tmp").exists());
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert_eq!(stdout, "WROTE /tmp/x\nWROTE /x\n/\n", "{}", run.stderr);
    fixture.assert_exact();
}

#[tokio::test]
async fn uploaded_programs_cannot_run_even_through_the_loader() {
    let _serial = SERIAL.lock().await;
    let fixture = Fixture::new(None);
    let evil = fixture.home().join("evil");
    std::fs::copy("/usr/bin/true", &evil).unwrap();
    std::fs::set_permissions(&evil, PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(fixture.home().join("evil.sh"), "#!/bin/sh\necho RAN\n").unwrap();
    std::fs::set_permissions(
        fixture.home().join("evil.sh"),
        PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ctx = context(&fixture, Duration::from_secs(20));
    let direct = run_in(&ctx, "/usr/bin/sh", &["-c", "./evil; ./evil.sh"], b"").await;
    assert_eq!(
        direct.outcome,
        ExitOutcome::Status(126),
        "{}",
        direct.stderr
    );
    let loader = run_in(&ctx, "/lib64/ld-linux-x86-64.so.2", &["./evil"], b"").await;
    assert_ne!(loader.outcome, ExitOutcome::Status(0), "{}", loader.stderr);
    // Landlock does not stop ld.so from mapping a readable file; the
    // `noexec` home mount does.
    assert!(
        loader.stderr.contains("failed to map segment"),
        "{}",
        loader.stderr
    );
}

#[tokio::test]
async fn the_network_is_unreachable() {
    let _serial = SERIAL.lock().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED");
    let (_fixture, run) = run("/usr/bin/bash", &["-c", &script]).await;
    assert_ne!(run.outcome, ExitOutcome::Status(0));
    assert!(run.stdout.is_empty());
    assert!(listener.accept().is_err());
}

#[tokio::test]
async fn a_timeout_kills_the_whole_tree() {
    let _serial = SERIAL.lock().await;
    let fixture = Fixture::new(None);
    let ctx = context(&fixture, Duration::from_secs(1));
    let started = Instant::now();
    let run = run_in(
        &ctx,
        "/usr/bin/sh",
        &["-c", "setsid sleep 100 & sleep 100"],
        b"",
    )
    .await;
    assert_eq!(run.outcome, ExitOutcome::Signal(ExitSignal::Kill));
    assert!(run.stderr.contains("timed out after 1s"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sandbox_processes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_fork_bomb_is_bounded() {
    let _serial = SERIAL.lock().await;
    let fixture = Fixture::new(None);
    let mut ctx = context(&fixture, Duration::from_secs(5));
    // RLIMIT_NPROC on the account's uid (no cgroup in these tests).
    ctx.programs.limits.processes = 64;
    let script = "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; wait";
    let run = run_in(&ctx, "/usr/bin/sh", &["-c", script], b"").await;
    // dash gives up at the first failed fork (exit 2); either way it ends.
    assert!(run.stderr.contains("fork"), "{}", run.stderr);
    assert_ne!(run.outcome, ExitOutcome::Status(0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sandbox_processes(), Vec::<String>::new());
}

#[tokio::test]
async fn the_write_that_would_pass_the_quota_fails_with_edquot() {
    let _serial = SERIAL.lock().await;
    let fixture = Fixture::new(None);
    // The home's own size counts too: 1 MiB is what is left beside it.
    let base = fixture.leave_room(1 << 20);
    let ctx = context(&fixture, Duration::from_secs(20));
    let run = run_in(&ctx, "/usr/bin/head", &["-c", "3000000", "/dev/zero"], b"").await;
    assert_eq!(run.outcome, ExitOutcome::Status(0));
    assert_eq!(run.stdout.len(), 3_000_000, "large output streams back");
    let big = run_in(
        &ctx,
        "/usr/bin/sh",
        &["-c", "head -c 3000000 /dev/zero > big"],
        b"",
    )
    .await;
    assert_eq!(big.outcome, ExitOutcome::Status(1));
    assert!(big.stderr.contains("Disk quota exceeded"), "{}", big.stderr);
    assert_eq!(
        std::fs::metadata(fixture.home().join("big")).unwrap().len(),
        1 << 20
    );
    assert_eq!(fixture.jail.quota().used_bytes(), base + (1 << 20));
    fixture.assert_exact();
}

#[tokio::test]
async fn stdin_is_streamed_to_the_program() {
    let _serial = SERIAL.lock().await;
    let fixture = Fixture::new(None);
    let ctx = context(&fixture, Duration::from_secs(20));
    let input = vec![b'x'; 1 << 20];
    let run = run_in(&ctx, "/usr/bin/wc", &["-c"], &input).await;
    assert_eq!(run.outcome, ExitOutcome::Status(0), "{}", run.stderr);
    assert_eq!(String::from_utf8(run.stdout).unwrap().trim(), "1048576");
}

/// Start cost of `/usr/bin/true`: `cargo test -- --ignored --nocapture start_cost`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn start_cost() {
    let _serial = SERIAL.lock().await;
    let fixture = Fixture::new(None);
    let ctx = context(&fixture, Duration::from_secs(20));
    let mut samples = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let run = run_in(&ctx, "/usr/bin/true", &[], b"").await;
        samples.push(started.elapsed());
        assert_eq!(run.outcome, ExitOutcome::Status(0), "{}", run.stderr);
    }
    samples.sort();
    println!(
        "sandboxed /usr/bin/true: median {:?}, min {:?}, max {:?}",
        samples[25], samples[0], samples[49]
    );
}

#[tokio::test]
async fn a_cancelled_run_leaves_nothing_running() {
    let _serial = SERIAL.lock().await;
    let fixture = Fixture::new(None);
    let ctx = context(&fixture, Duration::from_secs(60));
    let cancelled = tokio::time::timeout(
        Duration::from_millis(500),
        run_in(
            &ctx,
            "/usr/bin/sh",
            &["-c", "setsid sleep 100 & sleep 100"],
            b"",
        ),
    )
    .await;
    assert!(cancelled.is_err());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sandbox_processes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_layer_that_cannot_be_set_up_refuses_the_command() {
    let _serial = SERIAL.lock().await;
    let fixture = Fixture::new(None);
    let ctx = context(&fixture, Duration::from_secs(20));
    std::fs::remove_dir(fixture.home()).unwrap();
    let run = run_in(&ctx, "/usr/bin/true", &[], b"").await;
    assert_eq!(run.outcome, ExitOutcome::Status(126));
    assert!(
        run.stderr
            .starts_with("sftpbox: true: cannot start in a sandbox: "),
        "{}",
        run.stderr
    );
}
