//! What an allowed program sees of its home, through the real OpenSSH
//! client: `/` is the home as SFTP sees it, and every byte it writes is
//! counted against the account's quota as it writes, so no number of
//! writers takes the account past it, the written prefix stays, and
//! deleting works even over the quota.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::sync::{Mutex, MutexGuard};

use common::files::{names_in, stored_bytes};
use common::process::{assert_failed, assert_ok, describe, require_tool, text};
use common::{AccountSpec, TestServer};

/// 4 MiB.
const QUOTA: u64 = 4 * 1024 * 1024;

/// Runs of a `head -c 4000000 /dev/zero` per file, as the issue measured.
const FILE_BYTES: u64 = 4_000_000;

/// These tests start programs under one uid; run them one at a time, so
/// timings of one do not crowd another's.
static LOCK: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn start(quota: Option<u64>) -> TestServer {
    require_tool("sh");
    let mut alice = AccountSpec::new("alice").commands(&["sh"]);
    if let Some(quota) = quota {
        alice = alice.quota(quota);
    }
    let server = TestServer::start(&[alice]);
    server.create_home("alice");
    server
}

fn sh(server: &TestServer, script: &str) -> Output {
    server.ssh("alice", &[&format!("sh -c '{script}'")], b"")
}

/// The loop of the issue: `count` files of [`FILE_BYTES`] zeros named
/// `{prefix}0`, `{prefix}1`, ...
fn loop_script(prefix: &str, count: u32) -> String {
    format!(
        "i=0; while [ $i -lt {count} ]; do head -c {FILE_BYTES} /dev/zero > {prefix}$i; i=$((i+1)); done"
    )
}

/// Every regular file under `dir` holds only zero bytes (a prefix of what
/// the loops wrote), and their sizes add up to at most `FILE_BYTES` each.
fn assert_zero_prefixes(dir: &Path) {
    for name in names_in(dir) {
        let path = dir.join(&name);
        if !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        assert!(
            data.len() as u64 <= FILE_BYTES,
            "{name}: {} bytes",
            data.len()
        );
        assert!(data.iter().all(|&b| b == 0), "{name} holds other bytes");
    }
}

/// The server's own count agrees with the disk: an upload larger than
/// what the disk says is left is refused, and nothing passes the quota.
fn assert_server_count_agrees(server: &TestServer, home: &Path) {
    let used = stored_bytes(home);
    let room = QUOTA.saturating_sub(used);
    let over = server.sftp_put("alice", "probe", &vec![7; room as usize + 4096]);
    assert_failed(&over, "an upload past what the quota leaves");
    assert!(stored_bytes(home) <= QUOTA, "usage over the quota");
}

#[test]
fn one_loop_of_many_files_ends_at_the_quota_with_its_prefix_intact() {
    let _serial = serial();
    let server = start(Some(QUOTA));
    let home = server.home("alice");
    // The loop itself ends well (its last command is `i=$((i+1))`).
    let out = sh(&server, &loop_script("f", 100));
    assert!(
        text(&out.stderr).contains("Disk quota exceeded"),
        "the write past the quota fails with EDQUOT in the program\n{}",
        describe(&out)
    );
    let used = stored_bytes(&home);
    assert!(used <= QUOTA, "usage {used} over the quota {QUOTA}");
    // The first file fits whole; what comes after is cut where the quota is.
    assert_eq!(
        std::fs::metadata(home.join("f0")).unwrap().len(),
        FILE_BYTES
    );
    assert_zero_prefixes(&home);
    assert!(used > QUOTA - 64 * 1024, "only {used} of {QUOTA} used");
    assert_server_count_agrees(&server, &home);
}

#[test]
fn four_loops_at_once_end_at_the_quota_together() {
    let _serial = serial();
    let server = start(Some(QUOTA));
    let home = server.home("alice");
    std::thread::scope(|scope| {
        let runs: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|prefix| {
                let server = &server;
                scope.spawn(move || sh(server, &loop_script(prefix, 100)))
            })
            .collect();
        for run in runs {
            let out = run.join().unwrap();
            assert!(
                text(&out.stderr).contains("Disk quota exceeded"),
                "{}",
                describe(&out)
            );
        }
    });
    let used = stored_bytes(&home);
    assert!(used <= QUOTA, "usage {used} over the quota {QUOTA}");
    assert_zero_prefixes(&home);
    assert_server_count_agrees(&server, &home);
}

#[test]
fn deleting_works_while_the_account_is_over_its_quota() {
    let _serial = serial();
    let server = start(Some(QUOTA));
    let home = server.home("alice");
    assert_ok(&sh(&server, "head -c 3000000 /dev/zero > f1; echo x > f2"));
    // The administrator lowers the quota below what is stored.
    let accounts = server.dir.path().join("accounts.toml");
    let toml = std::fs::read_to_string(&accounts).unwrap();
    let lowered = toml.replace(&format!("quota = {QUOTA}"), "quota = 1048576");
    assert_ne!(toml, lowered, "accounts.toml has no quota line to lower");
    std::fs::write(&accounts, lowered).unwrap();
    server.reload_accounts();
    let grow = sh(&server, "head -c 10 /dev/zero >> f2");
    assert_failed(&grow, "a write while over the quota");
    assert!(
        text(&grow.stderr).contains("Disk quota exceeded"),
        "{}",
        describe(&grow)
    );
    // Truncating and deleting are always allowed.
    assert_ok(&sh(&server, ": > f2"));
    assert_eq!(std::fs::metadata(home.join("f2")).unwrap().len(), 0);
    let out = sh(&server, "rm -f f*");
    assert_ok(&out);
    assert!(names_in(&home).is_empty(), "{:?}", names_in(&home));
    // Back under it, writing works again.
    assert_ok(&sh(&server, "echo back > g"));
    assert_eq!(std::fs::read(home.join("g")).unwrap(), b"back\n");
}

#[test]
fn the_root_a_program_lists_is_the_home() {
    let _serial = serial();
    let server = start(None);
    let home = server.home("alice");
    assert_ok(&server.sftp_put("alice", "report.txt", b"numbers\n"));
    assert_ok(&server.sftp_batch("alice", "mkdir data\nmkdir usr\n"));
    let out = sh(&server, "ls -a /");
    assert_ok(&out);
    let listed: BTreeSet<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    // The home's own `usr` is the system's in a program: not listed.
    let mut expected: BTreeSet<String> = names_in(&home);
    expected.remove("usr");
    expected.insert(".".into());
    expected.insert("..".into());
    assert_eq!(listed, expected, "{}", describe(&out));
    // `..` of `/` is `/`, and the program starts there.
    let out = sh(&server, "cd ..; pwd; cd /data/../..; pwd; cat /report.txt");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "/\n/\nnumbers\n");
    // The system folders are there to run programs, but hold nothing of
    // the home: the home's `usr` stays empty, and SFTP sees none of them.
    assert_ok(&sh(
        &server,
        "test -x /usr/bin/sh && test -d /proc/self && test -c /dev/null",
    ));
    assert!(names_in(&home.join("usr")).is_empty());
    assert!(!home.join("proc").exists() && !home.join("dev").exists());
}

#[test]
fn a_file_a_program_writes_at_a_path_is_at_that_path_in_sftp() {
    let _serial = serial();
    let server = start(None);
    let home = server.home("alice");
    assert_ok(&sh(
        &server,
        "echo top > /x; mkdir -p /d/e; echo deep > /d/e/y; ln -s /x /d/link; mv /d/e /moved",
    ));
    let local = tempfile::tempdir().unwrap();
    let script = format!(
        "get /x {dir}/x\nget /moved/y {dir}/y\nget /d/link {dir}/link\n",
        dir = local.path().display()
    );
    assert_ok(&server.sftp_batch("alice", &script));
    assert_eq!(std::fs::read(local.path().join("x")).unwrap(), b"top\n");
    assert_eq!(std::fs::read(local.path().join("y")).unwrap(), b"deep\n");
    assert_eq!(std::fs::read(local.path().join("link")).unwrap(), b"top\n");
    assert_eq!(
        std::fs::read_link(home.join("d/link")).unwrap(),
        Path::new("/x")
    );
    // And what SFTP writes, a program reads at the same path at once.
    assert_ok(&server.sftp_put("alice", "/d/from-sftp", b"sftp\n"));
    let out = sh(&server, "cat /d/from-sftp");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "sftp\n");
}

#[test]
fn symlinks_and_dot_dots_in_the_view_stay_in_the_home() {
    let _serial = serial();
    let server = start(None);
    let home = server.home("alice");
    let outside = server.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"host secret\n").unwrap();
    // Planted by an administrator: a link to a host path.
    std::os::unix::fs::symlink(&outside, home.join("planted")).unwrap();
    let out = sh(
        &server,
        "cat planted/secret; ln -s ../../../.. up; ls up/; cat up/planted/secret; \
         echo w > planted/new; echo w > up/../../escaped",
    );
    assert_ok(&out);
    assert!(
        !text(&out.stdout).contains("host secret"),
        "{}",
        describe(&out)
    );
    assert!(!outside.join("new").exists());
    assert!(!server.dir.path().join("escaped").exists());
    assert!(home.join("escaped").exists(), "up/../.. is the home");
}
