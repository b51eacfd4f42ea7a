//! What one account's programs may hold, through the real server and the
//! real `ssh`: memory and processes are bounded per account (its cgroup
//! and its own uid), one account at its limits does not stop another's
//! programs, and a server that is not root still serves SFTP and runs
//! programs in a user namespace (or refuses them with 126, saying why).
//!
//! Every test holds [`LOCK`]: they count processes by uid.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::binary::{Launch, ServedBinary};
use common::process::{assert_ok, assert_status, describe, require_tool, run_with_stdin, text};
use common::{AccountSpec, TestServer};
use sftpbox::config::{DEFAULT_SANDBOX_UIDS, Limits};

static LOCK: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A server with a `timeout` command timeout; every account logged in once.
fn start(accounts: &[AccountSpec], timeout: Duration) -> TestServer {
    for tool in ["bash", "python3", "sleep"] {
        require_tool(tool);
    }
    let server = TestServer::start_with_limits(
        accounts,
        Limits {
            command_timeout: timeout,
            shutdown_grace: Duration::from_secs(3),
            ..Limits::default()
        },
    );
    for account in accounts {
        server.create_home(&account.name);
    }
    server
}

/// Processes whose real uid is `uid`.
fn processes_of(uid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|uids| uids.split_whitespace().next())
                .and_then(|u| u.parse::<u32>().ok())
                == Some(uid)
        })
        .count()
}

fn wait_for_no_processes_of(uid: u32) {
    let start = Instant::now();
    while processes_of(uid) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "processes of uid {uid} are left: {}",
            processes_of(uid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_program_over_its_accounts_memory_is_killed_and_the_others_go_on() {
    let _serial = serial();
    let server = start(
        &[
            AccountSpec::new("alice")
                .commands(&["python3"])
                .with("sandbox_memory = \"256 MiB\""),
            AccountSpec::new("bob").commands(&["python3"]),
        ],
        Duration::from_secs(60),
    );
    // 2 GiB written for real (a repeated bytes object touches every page).
    let started = Instant::now();
    let out = server.ssh(
        "alice",
        &["python3 -c 'b = b\"x\" * (2 << 30); print(len(b))'"],
        b"",
    );
    // Killed: `exit-signal KILL`, which OpenSSH's ssh reports as 255.
    assert_status(&out, 255, "2 GiB under a 256 MiB limit");
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("killed for want of memory")
            && text(&out.stderr).contains("256 MiB"),
        "{}",
        describe(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(50));

    // The server goes on, for alice and for bob; bob may use 1 GiB (the
    // default), more than alice's limit.
    let out = server.ssh(
        "bob",
        &["python3 -c 'b = b\"x\" * (400 << 20); print(len(b))'"],
        b"",
    );
    assert_ok(&out);
    assert_eq!(text(&out.stdout), format!("{}\n", 400 << 20));
    let out = server.ssh("alice", &["python3 -c 'print(6 * 7)'"], b"");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "42\n");
    assert_ok(&server.sftp_put("alice", "after.txt", b"still here"));
    assert_eq!(
        std::fs::read(server.home("alice").join("after.txt")).unwrap(),
        b"still here"
    );
}

#[test]
fn each_account_runs_as_a_uid_of_its_own_that_owns_its_home() {
    let _serial = serial();
    let server = start(
        &[
            AccountSpec::new("alice").commands(&["bash"]),
            AccountSpec::new("bob").commands(&["bash"]),
        ],
        Duration::from_secs(20),
    );
    let mut uids = Vec::new();
    for account in ["alice", "bob"] {
        let home = server.home(account);
        assert_ok(&server.sftp_put(account, "from-sftp.txt", b"sftp\n"));
        let out = server.ssh(
            account,
            &["bash -c 'id -u; id -g; echo more >> from-sftp.txt; echo prog > from-prog.txt'"],
            b"",
        );
        assert_ok(&out);
        let lines: Vec<u32> = text(&out.stdout)
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        let [uid, gid] = lines[..] else {
            panic!("{}", describe(&out))
        };
        assert_eq!(uid, gid);
        assert!(DEFAULT_SANDBOX_UIDS.contains(&uid), "{uid}");
        // The home, what SFTP stored and what the program made are the uid's.
        assert_eq!(std::fs::metadata(&home).unwrap().uid(), uid);
        for name in ["from-sftp.txt", "from-prog.txt"] {
            assert_eq!(
                std::fs::metadata(home.join(name)).unwrap().uid(),
                uid,
                "{name}"
            );
        }
        assert_eq!(
            std::fs::read(home.join("from-sftp.txt")).unwrap(),
            b"sftp\nmore\n"
        );
        // SFTP reads what the program wrote, into the test's temp folder.
        let fetched = server.dir.path().join(format!("fetched-{account}.txt"));
        let out = server.sftp_batch(
            account,
            &format!("get from-prog.txt \"{}\"\n", fetched.display()),
        );
        assert_ok(&out);
        assert_eq!(std::fs::read(&fetched).unwrap(), b"prog\n");
        uids.push(uid);
    }
    assert_ne!(uids[0], uids[1], "alice and bob share a uid");
    // The same uids after a restart, from the table in the homes folder.
    let table = std::fs::read_to_string(server.dir.path().join("homes/.sandbox-uids")).unwrap();
    assert_eq!(
        table,
        format!("alice {}\nbob {}\n", uids[0], uids[1]),
        "the uid table"
    );
}

#[test]
fn two_hundred_background_sleeps_in_one_account_leave_another_free_to_start() {
    let _serial = serial();
    let server = start(
        &[
            AccountSpec::new("alice")
                .commands(&["bash", "sleep"])
                .with("sandbox_processes = 100"),
            AccountSpec::new("bob").commands(&["bash", "sleep"]),
        ],
        Duration::from_secs(15),
    );
    let alice_uid = std::fs::metadata(server.home("alice")).unwrap().uid();
    let bob_uid = std::fs::metadata(server.home("bob")).unwrap().uid();
    assert_ne!(alice_uid, bob_uid);
    // pid 1 (bash) waits, so the sleeps live until the timeout; bash
    // retries a fork that fails, holding the account at its limit.
    let line = "bash -c 'for i in $(seq 200); do sleep 60 & done; wait'";
    let flood = std::thread::scope(|scope| {
        let flood = scope.spawn(|| server.ssh("alice", &[line], b""));
        let start = Instant::now();
        let mut most = 0;
        while most < 90 {
            most = most.max(processes_of(alice_uid));
            assert!(
                start.elapsed() < Duration::from_secs(12),
                "alice's flood reached only {most} processes"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Alice is at her limit; bob's programs start, fork and finish.
        let out = server.ssh(
            "bob",
            &["bash -c 'for i in 1 2 3 4 5; do sleep 0.1 & done; wait; echo started'"],
            b"",
        );
        assert_ok(&out);
        assert_eq!(text(&out.stdout), "started\n");
        most = most.max(processes_of(alice_uid));
        assert!(most <= 100, "alice held {most} processes over her 100");
        flood.join().unwrap()
    });
    assert!(
        text(&flood.stderr).contains("fork") || text(&flood.stderr).contains("timed out"),
        "{}",
        describe(&flood)
    );
    wait_for_no_processes_of(alice_uid);
    assert_eq!(processes_of(bob_uid), 0);
}

/// What the kernel's switches say of unprivileged user namespaces.
fn kernel_allows_unprivileged_user_namespaces() -> bool {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
    };
    read("/proc/sys/user/max_user_namespaces") != Some(0)
        && read("/proc/sys/kernel/unprivileged_userns_clone") != Some(0)
        && read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") != Some(1)
}

/// `ssh`/`sftp` options for a [`ServedBinary`].
fn client_options(server: &ServedBinary, port_flag: &str) -> Vec<String> {
    let known_hosts = server.dir.path().join("known_hosts");
    vec![
        port_flag.to_owned(),
        server.addr().port().to_string(),
        "-F".into(),
        "/dev/null".into(),
        "-o".into(),
        "StrictHostKeyChecking=no".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-o".into(),
        "IdentityAgent=none".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
        "-i".into(),
        server.client_key().display().to_string(),
    ]
}

#[test]
fn an_unprivileged_server_serves_sftp_and_runs_programs_in_a_user_namespace() {
    let _serial = serial();
    for tool in ["setpriv", "bash", "ssh", "sftp"] {
        require_tool(tool);
    }
    const NOBODY: u32 = 65534;
    let server = ServedBinary::launch(
        &[AccountSpec::new("alice").commands(&["bash"])],
        Launch {
            settings: "[limits]\nshutdown_grace_seconds = 2\ncommand_timeout_seconds = 20\n".into(),
            run_as: Some(NOBODY),
            ..Launch::default()
        },
    );
    assert_eq!(
        std::fs::metadata(format!("/proc/{}", server.pid()))
            .unwrap()
            .uid(),
        NOBODY
    );
    // SFTP: an upload lands in the home, as the server's own user.
    let local = server.dir.path().join("local.txt");
    std::fs::write(&local, b"uploaded by sftp\n").unwrap();
    let mut sftp = Command::new(require_tool("sftp"));
    sftp.args(client_options(&server, "-P"))
        .args(["-b", "-"])
        .arg(format!("alice@{}", server.addr().ip()));
    let out = run_with_stdin(
        sftp,
        format!("put {} up.txt\nls\n", local.display()).as_bytes(),
    );
    assert_ok(&out);
    let home = server.home("alice");
    assert_eq!(
        std::fs::read(home.join("up.txt")).unwrap(),
        b"uploaded by sftp\n"
    );
    assert_eq!(
        std::fs::metadata(home.join("up.txt")).unwrap().uid(),
        NOBODY
    );

    // Built-ins as ever.
    let ssh = |line: &str| {
        let mut ssh = Command::new(require_tool("ssh"));
        ssh.args(client_options(&server, "-p"))
            .arg("-T")
            .arg(format!("alice@{}", server.addr().ip()))
            .arg(line);
        run_with_stdin(ssh, b"")
    };
    let out = ssh("cat up.txt");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "uploaded by sftp\n");

    // A program: run in a user namespace where the kernel allows one, or
    // refused with 126 and the layer that is missing.
    let out = ssh("bash -c 'id -u; cat up.txt; echo made > made.txt; cat /etc/passwd'");
    if !kernel_allows_unprivileged_user_namespaces() {
        assert_status(&out, 126, "a program without user namespaces");
        assert!(
            text(&out.stderr).contains("cannot start in a sandbox: user namespace"),
            "{}",
            describe(&out)
        );
        assert!(!home.join("made.txt").exists());
    } else {
        // cat /etc/passwd fails: the host's files stay out of reach.
        assert_status(&out, 1, "the program in a user namespace");
        assert_eq!(
            text(&out.stdout),
            format!("{NOBODY}\nuploaded by sftp\n"),
            "{}",
            describe(&out)
        );
        assert_eq!(std::fs::read(home.join("made.txt")).unwrap(), b"made\n");
        assert_eq!(
            std::fs::metadata(home.join("made.txt")).unwrap().uid(),
            NOBODY
        );
        // SFTP sees what the program wrote.
        let out = ssh("cat made.txt");
        assert_ok(&out);
        assert_eq!(text(&out.stdout), "made\n");
    }
    // The log says what bounds programs here: no cgroup is delegated to
    // nobody on the machines we test on, so rlimits.
    let log = server.log();
    assert!(log.contains("limits of sandboxed programs"), "{log}");
    assert!(log.contains("not root"), "{log}");
}
