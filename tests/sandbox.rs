//! External programs (an account's `commands`) through the real OpenSSH
//! client: they get stdin, stdout, stderr and their exit status through,
//! run only when listed, and every way out of the sandbox fails and leaves
//! nothing behind: host files, writes outside, uploaded code, the network,
//! fork bombs, outliving the timeout, the client's environment, the quota.
//!
//! Every test holds [`LOCK`]: some of them look for leftover processes of
//! the sandbox uid, which another test's program would be.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::files::{mode_of, names_in, pattern, stored_bytes};
use common::host::assert_no_host_passwd;
use common::process::{
    assert_failed, assert_ok, assert_status, describe, require_tool, run_with_stdin, sftpbox, text,
};
use common::{AccountSpec, TestServer};
use sftpbox::config::Limits;

/// Whether `uid` is one a root server runs sandboxed programs as: one of
/// the default `[sandbox] uids`, one per account.
fn is_sandbox_uid(uid: u32) -> bool {
    sftpbox::config::DEFAULT_SANDBOX_UIDS.contains(&uid)
}

/// The command timeout of these tests.
const TIMEOUT: Duration = Duration::from_secs(2);

static LOCK: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A server (2 s command timeout) with alice, who may run bash, sleep,
/// base64 and env; logged in once so that her home exists.
fn start_with(account: AccountSpec) -> TestServer {
    for tool in ["bash", "sleep", "base64", "env"] {
        require_tool(tool);
    }
    let server = TestServer::start_with_limits(
        &[account],
        Limits {
            command_timeout: TIMEOUT,
            shutdown_grace: Duration::from_secs(3),
            ..Limits::default()
        },
    );
    server.create_home("alice");
    server
}

fn alice() -> AccountSpec {
    AccountSpec::new("alice").commands(&["bash", "sleep", "base64", "env"])
}

fn start() -> TestServer {
    start_with(alice())
}

/// Runs one remote command line (the exec string, as typed).
fn run(server: &TestServer, line: &str) -> Output {
    server.ssh("alice", &[line], b"")
}

/// Uploads `data` as alice's `name` through OpenSSH sftp, then sets `mode`
/// if given.
fn upload(server: &TestServer, name: &str, data: &[u8], mode: Option<&str>) {
    assert_ok(&server.sftp_put("alice", name, data));
    if let Some(mode) = mode {
        assert_ok(&server.sftp_batch("alice", &format!("chmod {mode} {name}\n")));
    }
}

/// Processes with any uid (real, effective, saved, fs) of the sandbox:
/// `(pid, name)`.
fn sandbox_processes() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // The process may be gone already.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let name = status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .unwrap_or("?")
            .trim()
            .to_owned();
        let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"));
        if let Some(uids) = uids
            && uids
                .split_whitespace()
                .any(|u| u.parse::<u32>().is_ok_and(is_sandbox_uid))
        {
            found.push((pid, name));
        }
    }
    found
}

/// Waits up to 5 s for every process of the sandbox uid to be gone.
fn assert_no_sandbox_processes_left(what: &str) {
    let start = Instant::now();
    loop {
        let left = sandbox_processes();
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: processes of a sandbox uid are still running: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_sandbox_check_accepts_the_programs_of_these_tests() {
    let _serial = serial();
    let server = start();
    let out = sftpbox(server.dir.path(), &["check", "--accounts", "accounts.toml"]);
    assert_ok(&out);
}

#[test]
fn allowed_programs_pass_streams_and_exit_status_through() {
    let _serial = serial();
    let server = start();
    let data = pattern(2 * 1024 * 1024 + 17, 5);
    upload(&server, "data.bin", &data, None);

    // stdout: base64 of a file SFTP stored, as the host's base64 prints it.
    let host = run_with_stdin(Command::new(require_tool("base64")), &data);
    assert_ok(&host);
    let ours = run(&server, "base64 data.bin");
    assert_ok(&ours);
    assert!(
        ours.stdout == host.stdout,
        "base64 of data.bin differs from the host's ({} vs {} bytes)\nstderr: {}",
        ours.stdout.len(),
        host.stdout.len(),
        text(&ours.stderr)
    );

    // stdin: decoding what the host encoded gives the bytes back.
    let decoded = server.ssh("alice", &["base64 -d"], &host.stdout);
    assert_ok(&decoded);
    assert!(decoded.stdout == data, "base64 -d of stdin differs");

    // Exit status and stderr.
    assert_status(&run(&server, "bash -c 'exit 3'"), 3, "exit 3");
    let out = run(&server, "bash -c 'echo out; echo err >&2; exit 42'");
    assert_status(&out, 42, "exit 42");
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = run(&server, "base64 missing-file");
    assert_status(&out, 1, "base64 of a missing file");
    assert!(
        text(&out.stderr).contains("missing-file: No such file or directory"),
        "{}",
        describe(&out)
    );
    assert_status(&run(&server, "sleep 0.1"), 0, "sleep 0.1");
}

#[test]
fn programs_not_in_the_list_get_127() {
    let _serial = serial();
    let server = start();
    upload(
        &server,
        "evil.sh",
        b"#!/bin/bash\necho PWNED > pwned\n",
        Some("755"),
    );
    for line in [
        "id",
        "sh -c id",
        "python3 -c 1",
        "perl -e 1",
        "./evil.sh",
        "evil.sh",
        "nc -l 4444",
    ] {
        let out = run(&server, line);
        assert_status(&out, 127, line);
        let name = line.split(' ').next().unwrap();
        assert!(
            text(&out.stderr).contains(&format!("{name}: command not allowed")),
            "{line}\n{}",
            describe(&out)
        );
        assert!(out.stdout.is_empty(), "{line}\n{}", describe(&out));
    }
    assert!(!server.home("alice").join("pwned").exists());

    // An uploaded file named like an allowed program is not what runs.
    upload(
        &server,
        "base64",
        b"#!/bin/bash\necho PWNED > pwned\n",
        Some("755"),
    );
    let out = server.ssh("alice", &["base64"], b"hi");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "aGk=\n");
    assert!(!server.home("alice").join("pwned").exists());
}

#[test]
fn host_files_cannot_be_read() {
    let _serial = serial();
    let server = start();
    let home = server.home("alice");
    let accounts = server.dir.path().join("accounts.toml");
    let secret = std::fs::read_to_string(&accounts).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", home.join("link")).unwrap();
    std::os::unix::fs::symlink(&accounts, home.join("accounts-link")).unwrap();

    for line in [
        "bash -c 'cat /etc/passwd'".to_owned(),
        "bash -c 'cat ../../../../../../etc/passwd'".to_owned(),
        "bash -c 'cat link'".to_owned(),
        "bash -c 'cat /proc/1/root/etc/passwd'".to_owned(),
        "bash -c 'cat /proc/self/root/etc/passwd'".to_owned(),
        "bash -c 'while read -r l; do echo \"$l\"; done < /etc/passwd'".to_owned(),
        "base64 /etc/passwd".to_owned(),
        format!("bash -c 'cat {}'", accounts.display()),
        format!("bash -c 'cat {}/../../accounts.toml'", home.display()),
        "bash -c 'cat accounts-link'".to_owned(),
    ] {
        let out = run(&server, &line);
        assert_failed(&out, &line);
        assert_no_host_passwd(&out, &line);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !all.contains("$argon2") && !secret.lines().any(|l| l.len() > 20 && all.contains(l)),
            "{line} shows accounts.toml\n{}",
            describe(&out)
        );
    }

    // The root is the home, with nothing of the host's listed.
    let out = run(&server, "bash -c 'ls -a /'");
    assert_ok(&out);
    assert_no_host_passwd(&out, "ls /");
    let listed: BTreeSet<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    let mut expected = names_in(&home);
    expected.extend([".".to_owned(), "..".to_owned()]);
    assert_eq!(listed, expected, "{}", describe(&out));
    let out = run(
        &server,
        "bash -c 'ls /tmp /root /work /var /proc/1 2>&1; exit 0'",
    );
    assert!(
        !text(&out.stdout).contains(&server.dir.path().display().to_string()),
        "{}",
        describe(&out)
    );

    // Who the program runs as: the account's own uid, which owns its home.
    let out = run(&server, "bash -c 'id -u; id -g; id -G'");
    assert_ok(&out);
    let uid = std::fs::metadata(&home).unwrap().uid();
    assert!(is_sandbox_uid(uid), "{uid}");
    assert_eq!(
        text(&out.stdout),
        format!("{uid}\n{uid}\n{uid}\n"),
        "{}",
        describe(&out)
    );
}

#[test]
fn writes_outside_the_home_fail_and_leave_nothing() {
    let _serial = serial();
    let server = start();
    let home = server.home("alice");
    let base = server.dir.path().to_owned();
    let host_tmp = PathBuf::from("/tmp/sftpbox-escape-test");
    let _ = std::fs::remove_file(&host_tmp);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, b"victim stays\n").unwrap();
    std::os::unix::fs::symlink(&victim, home.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path(), home.join("outdir")).unwrap();
    let before = names_in(&base);

    // A program's `/tmp` is its own and `/` is the home: these succeed,
    // and write nothing of the host.
    for line in [
        "bash -c 'echo x > /tmp/sftpbox-escape-test'",
        "bash -c 'echo x > /escape'",
        "bash -c 'echo x > ../../escape'",
    ] {
        assert_ok(&run(&server, line));
        assert!(!host_tmp.exists(), "{line}: wrote the host's /tmp");
        assert!(!Path::new("/escape").exists(), "{line}: wrote /");
    }
    std::fs::remove_file(home.join("escape")).unwrap();
    for line in [
        format!("bash -c 'echo x > {}/../outside'", home.display()),
        format!("bash -c 'echo x > {}/escape'", base.display()),
        format!("bash -c 'echo x > {}'", victim.display()),
        "bash -c 'echo pwned > out'".to_owned(),
        "bash -c 'echo pwned > outdir/new'".to_owned(),
        "bash -c 'echo pwned >> outdir/victim.txt'".to_owned(),
        "bash -c 'echo x > /dev/shm/escape'".to_owned(),
        "bash -c 'echo x > /usr/escape'".to_owned(),
    ] {
        let out = run(&server, &line);
        assert_failed(&out, &line);
        assert!(!host_tmp.exists(), "{line}: wrote the host's /tmp");
        assert_eq!(
            names_in(&base),
            before,
            "{line}: wrote the deployment folder"
        );
        assert!(!base.join("homes/outside").exists(), "{line}: wrote homes/");
        assert!(!base.join("homes/escape").exists(), "{line}: wrote homes/");
        assert!(!Path::new("/escape").exists(), "{line}: wrote /");
        assert!(!Path::new("/usr/escape").exists(), "{line}: wrote /usr");
        assert!(
            !Path::new("/dev/shm/escape").exists(),
            "{line}: wrote /dev/shm"
        );
        assert_eq!(std::fs::read(&victim).unwrap(), b"victim stays\n", "{line}");
        assert_eq!(
            names_in(outside.path()),
            BTreeSet::from(["victim.txt".to_owned()]),
            "{line}"
        );
    }
    // The only thing written in the home is what `../../escape` means there
    // (nothing, or `escape` at the box root).
    let extra: BTreeSet<String> = names_in(&home)
        .difference(&BTreeSet::from(["out".to_owned(), "outdir".to_owned()]))
        .cloned()
        .collect();
    assert!(
        extra.is_empty() || extra == BTreeSet::from(["escape".to_owned()]),
        "{extra:?}"
    );
    // Killing everything it can see does not reach the server.
    let _ = run(&server, "bash -c 'kill -9 -1; kill -9 1'");
    assert_ok(&run(&server, "pwd"));
}

#[test]
fn uploaded_scripts_and_binaries_do_not_run() {
    let _serial = serial();
    let server = start();
    let home = server.home("alice");
    upload(
        &server,
        "evil.sh",
        b"#!/bin/bash\necho PWNED > pwned\n",
        Some("755"),
    );
    let elf = std::fs::read(require_tool("true")).unwrap();
    upload(&server, "true", &elf, Some("755"));
    // SFTP stored them as the home's owner, executable bits and all.
    let owner = std::fs::metadata(&home).unwrap().uid();
    assert!(
        is_sandbox_uid(owner),
        "a home the server creates as root is its account's sandbox uid's, not {owner}"
    );
    for name in ["evil.sh", "true"] {
        let meta = std::fs::metadata(home.join(name)).unwrap();
        assert_eq!(meta.uid(), owner, "{name}");
        assert_eq!(mode_of(&home.join(name)), 0o755, "{name}");
    }

    let out = run(&server, "./evil.sh");
    assert_status(&out, 127, "./evil.sh");
    assert!(text(&out.stderr).contains("command not allowed"));

    let out = run(&server, "bash -c ./evil.sh");
    assert_status(&out, 126, "bash -c ./evil.sh");
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        describe(&out)
    );

    let out = run(&server, "bash -c ./true");
    assert_status(&out, 126, "bash -c ./true");
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        describe(&out)
    );

    // Not through the dynamic loader either (the home is mounted noexec).
    let loader = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("no dynamic loader found");
    let out = run(&server, &format!("bash -c '{loader} ./true'"));
    assert_failed(&out, "the loader running ./true");
    let out = run(&server, &format!("bash -c 'exec {loader} ./true'"));
    assert_failed(&out, "the loader running ./true");

    // Nor after copying or renaming inside the home.
    let out = run(&server, "bash -c 'cp true t2; chmod 755 t2; ./t2'");
    assert_status(&out, 126, "a copy of ./true");
    assert!(!home.join("pwned").exists(), "the uploaded script ran");
}

#[test]
fn no_network() {
    let _serial = serial();
    let server = start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let udp_port = udp.local_addr().unwrap().port();

    let line = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port} || exit 7; echo connected'");
    let out = run(&server, &line);
    assert_status(&out, 7, "a TCP connection to the host");
    assert!(!text(&out.stdout).contains("connected"));
    let ssh_port = server.port();
    let line = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{ssh_port} || exit 7; echo connected'");
    assert_status(&run(&server, &line), 7, "a TCP connection to the server");
    let line = format!("bash -c 'echo hello > /dev/udp/127.0.0.1/{udp_port} || exit 7'");
    assert_status(&run(&server, &line), 7, "a UDP datagram to the host");

    std::thread::sleep(Duration::from_millis(300));
    match listener.accept() {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener accepted a connection: {other:?}"),
    }
    let mut buf = [0_u8; 64];
    match udp.recv_from(&mut buf) {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a datagram arrived: {other:?}"),
    }
}

#[test]
fn fork_bombs_end_and_leave_no_processes() {
    let _serial = serial();
    let server = start();
    assert_no_sandbox_processes_left("before the test");
    for line in [
        // The shell returns at once; its bomb goes on in the background.
        "bash -c ':(){ :|:& };:'",
        // pid 1 stays until the timeout while the bomb runs.
        "bash -c ':(){ :|:& };:; exec sleep 100'",
        // Escapees in their own session.
        "bash -c 'setsid sleep 1000 & disown; setsid bash -c \"sleep 1000\" & echo started'",
    ] {
        let start = Instant::now();
        let out = run(&server, line);
        let elapsed = start.elapsed();
        assert!(
            elapsed < TIMEOUT + Duration::from_secs(10),
            "{line} took {elapsed:?}\n{}",
            describe(&out)
        );
        assert_no_sandbox_processes_left(line);
    }
    // The server still runs commands (the process limit was per run).
    assert_ok(&run(&server, "bash -c 'echo fine'"));
}

#[test]
fn a_program_outliving_the_timeout_is_killed() {
    let _serial = serial();
    let server = start();
    let start = Instant::now();
    let out = run(&server, "sleep 100");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= TIMEOUT && elapsed < TIMEOUT + Duration::from_secs(8),
        "sleep 100 with a {TIMEOUT:?} timeout took {elapsed:?}\n{}",
        describe(&out)
    );
    // The server sends `exit-signal KILL` without `exit-status`; OpenSSH's
    // ssh then has no status and exits 255.
    assert_status(&out, 255, "sleep 100 past the timeout");
    assert!(
        text(&out.stderr).contains("sleep: timed out after 2s"),
        "{}",
        describe(&out)
    );
    assert_no_sandbox_processes_left("sleep 100");

    // Output produced before the timeout still arrives.
    let out = run(&server, "bash -c 'echo early; exec sleep 100'");
    assert_status(&out, 255, "echo; sleep 100");
    assert_eq!(text(&out.stdout), "early\n");
    assert_no_sandbox_processes_left("echo; sleep 100");
}

/// `NAME=value` lines as a set of names, checking the fixed values.
fn env_names(output: &Output, what: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text(&output.stdout).lines() {
        // A line without `=` becomes a name of its own, which fails the
        // comparison with the expected names.
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        match name {
            "PATH" => assert_eq!(value, "/usr/bin:/bin", "{what}"),
            "LANG" => assert_eq!(value, "C.UTF-8", "{what}"),
            _ => {}
        }
        names.insert(name.to_owned());
    }
    names
}

#[test]
fn the_environment_is_only_path_home_and_lang() {
    let _serial = serial();
    let server = start();
    let expected = BTreeSet::from(["HOME".to_owned(), "LANG".to_owned(), "PATH".to_owned()]);
    for line in ["env", "bash -c env"] {
        let flags = [
            "-T",
            "-o",
            "SendEnv=FOO",
            "-o",
            "SendEnv=LANG",
            "-o",
            "SendEnv=LD_PRELOAD",
            "-o",
            "SetEnv=BAR=baz",
        ];
        let mut cmd = server.ssh_command("alice", &flags, &[line]);
        cmd.env("FOO", "sent-by-the-client")
            .env("LANG", "xx_XX.UTF-8")
            .env("LD_PRELOAD", "/nonexistent.so");
        let out = run_with_stdin(cmd, b"");
        assert_ok(&out);
        let all = text(&out.stdout);
        for leak in [
            "FOO",
            "sent-by-the-client",
            "BAR",
            "baz",
            "xx_XX",
            "LD_PRELOAD",
        ] {
            assert!(
                !all.contains(leak),
                "{line}: {leak} reached the program\n{all}"
            );
        }
        let mut names = env_names(&out, line);
        if line.starts_with("bash") {
            // What bash itself adds to the environment of its children.
            for own in ["PWD", "OLDPWD", "SHLVL", "_"] {
                names.remove(own);
            }
        }
        assert_eq!(names, expected, "{line}\n{all}");
        let home = all
            .lines()
            .find_map(|l| l.strip_prefix("HOME="))
            .unwrap()
            .to_owned();
        assert!(
            !home.contains(&server.dir.path().display().to_string()),
            "HOME is the host path {home}"
        );
    }
    // HOME is where the program starts.
    let out = run(
        &server,
        "bash -c 'cd; touch from-home; test \"$PWD\" = \"$HOME\"'",
    );
    assert_ok(&out);
    assert!(server.home("alice").join("from-home").exists());
}

#[test]
fn a_program_making_files_stops_at_max_files_and_can_delete_them() {
    // Every name a program makes is charged as it is made: the eleventh
    // fails in the program with EDQUOT, and deleting makes room again.
    const MAX_FILES: u64 = 10;
    let _serial = serial();
    let server = start_with(alice().max_files(MAX_FILES));
    let home = server.home("alice");
    let out = run(&server, "bash -c 'for i in $(seq 1 40); do : > f$i; done'");
    assert_failed(&out, "40 files where max_files is 10");
    assert!(
        text(&out.stderr).contains("Disk quota exceeded"),
        "{}",
        describe(&out)
    );
    assert_eq!(names_in(&home).len() as u64, MAX_FILES);
    let upload = server.sftp_put("alice", "more", b"x");
    assert_failed(&upload, "an upload at max_files");
    assert!(!home.join("more").exists());
    // Deleting through a program brings room back, for SFTP too.
    assert_ok(&run(&server, "bash -c 'rm f1 f2'"));
    assert_ok(&server.sftp_put("alice", "more", b"x"));
    assert_ok(&run(&server, "bash -c ': > g'"));
    assert_eq!(names_in(&home).len() as u64, MAX_FILES);
}

#[test]
fn writing_past_the_quota_is_stopped() {
    const QUOTA: u64 = 1024 * 1024;
    let _serial = serial();
    let server = start_with(alice().quota(QUOTA));
    let home = server.home("alice");
    upload(&server, "keep.txt", b"keep\n", None);

    let out = run(&server, "bash -c 'head -c 5000000 /dev/zero > big'");
    assert_failed(&out, "head -c 5000000 over a 1 MiB quota");
    let used = stored_bytes(&home);
    assert!(used <= QUOTA, "usage {used} over the quota {QUOTA}");
    assert_eq!(std::fs::read(home.join("keep.txt")).unwrap(), b"keep\n");

    // The server's own count agrees: what is left is refused beyond it.
    let left = usize::try_from(QUOTA - used).unwrap();
    let out = server.sftp_put("alice", "over", &pattern(left + 1000, 3));
    assert_failed(&out, "an SFTP upload past the quota after the program");
    assert!(
        stored_bytes(&home) <= QUOTA,
        "usage {} over the quota",
        stored_bytes(&home)
    );

    // Room again after removing the file.
    assert_ok(&run(&server, "rm big"));
    assert_ok(&server.sftp_put("alice", "small", &pattern(1000, 4)));
    // Another writer: stopped as well.
    let out = run(&server, "bash -c 'while :; do echo yes; done > yes.txt'");
    assert_failed(&out, "an endless writer over the quota");
    assert!(
        stored_bytes(&home) <= QUOTA,
        "usage {} over the quota",
        stored_bytes(&home)
    );
}

#[test]
fn several_small_files_stop_exactly_at_the_quota() {
    // Today's figure before the view: six 500 kB files took a 1 MiB
    // account to 3 MB. Each write is now reserved against the quota.
    const QUOTA: u64 = 1024 * 1024;
    let _serial = serial();
    let server = start_with(alice().quota(QUOTA));
    let home = server.home("alice");
    let out = run(
        &server,
        "bash -c 'for i in 1 2 3 4 5 6; do head -c 500000 /dev/zero > f$i; done'",
    );
    assert_failed(&out, "six 500 kB files over a 1 MiB quota");
    assert!(
        text(&out.stderr).contains("Disk quota exceeded"),
        "{}",
        describe(&out)
    );
    assert!(stored_bytes(&home) <= QUOTA, "{:?}", names_in(&home));
    for name in ["f1", "f2"] {
        assert_eq!(std::fs::metadata(home.join(name)).unwrap().len(), 500_000);
    }
    // Deleting brings room back, and writes work again.
    assert_ok(&run(&server, "bash -c 'rm -f f3 f4 f5 f6'"));
    assert_ok(&server.sftp_put("alice", "small", b"x"));
    assert_ok(&run(&server, "bash -c 'echo y > g'"));
    assert!(stored_bytes(&home) <= QUOTA);
}

#[test]
fn sftp_files_and_program_files_are_shared() {
    let _serial = serial();
    let server = start();
    let home = server.home("alice");
    upload(&server, "a.txt", b"from sftp\n", None);
    let out = run(
        &server,
        "bash -c 'cat a.txt > b.txt; echo more >> a.txt; mkdir d; echo in > d/c.txt'",
    );
    assert_ok(&out);
    assert_eq!(
        std::fs::read(home.join("a.txt")).unwrap(),
        b"from sftp\nmore\n"
    );
    let owner = std::fs::metadata(&home).unwrap().uid();
    for name in ["a.txt", "b.txt", "d", "d/c.txt"] {
        assert_eq!(
            std::fs::metadata(home.join(name)).unwrap().uid(),
            owner,
            "{name} owner"
        );
    }
    let local = tempfile::tempdir().unwrap();
    let script = format!(
        "get b.txt {dir}/b.txt\nget d/c.txt {dir}/c.txt\nrm a.txt\n",
        dir = local.path().display()
    );
    assert_ok(&server.sftp_batch("alice", &script));
    assert_eq!(
        std::fs::read(local.path().join("b.txt")).unwrap(),
        b"from sftp\n"
    );
    assert_eq!(std::fs::read(local.path().join("c.txt")).unwrap(), b"in\n");
    assert!(!home.join("a.txt").exists());
}

#[test]
fn a_program_gets_an_argument_that_is_not_utf8_byte_for_byte() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let _serial = serial();
    require_tool("od");
    let server = start_with(AccountSpec::new("alice").commands(&["od"]));
    let host = tempfile::tempdir().unwrap();
    // Two names one byte apart, so only the exact bytes open the right one.
    for dir in [server.home("alice"), host.path().to_owned()] {
        std::fs::write(
            dir.join(OsStr::from_bytes(b"caf\xe9.txt")),
            b"latin-1 \xe9\n",
        )
        .unwrap();
        std::fs::write(dir.join(OsStr::from_bytes(b"caf\xe8.txt")), b"other\n").unwrap();
    }
    for args in [
        &[&b"-An"[..], b"-c", b"caf\xe9.txt"][..],
        &[b"-tx1", b"caf\xe8.txt", b"caf\xe9.txt"],
        &[b"nope\xff"],
    ] {
        // ssh sends the command line as bytes; the program's argv must be them.
        let line = [&b"od "[..], &args.join(&b' ')].concat();
        let mut ssh = Command::new(require_tool("ssh"));
        ssh.args(server.openssh_options("-p"))
            .args(["-o", "BatchMode=yes", "-T", "-i"])
            .arg(server.client_key())
            .arg("alice@127.0.0.1")
            .arg(OsStr::from_bytes(&line));
        let ours = common::process::run_with_stdin(ssh, b"");
        // The host runs the same program the way the sandbox does: found on
        // PATH (argv[0] is `od`), cwd the folder, no environment but PATH
        // and LANG.
        let theirs = Command::new("od")
            .args(args.iter().map(|arg| OsStr::from_bytes(arg)))
            .current_dir(host.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap();
        let what = line.escape_ascii().to_string();
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "`{what}`: {}",
            describe(&ours)
        );
        assert_eq!(ours.stdout, theirs.stdout, "`{what}` stdout");
        assert_eq!(ours.stderr, theirs.stderr, "`{what}` stderr");
    }
}
