//! What rsync and git need from "programs inside the box's limits": one
//! meaning of `/` for programs as for SFTP, scp and the built-ins (so
//! `git clone ssh://host/repo.git` and `rsync host:/dest/` find the home),
//! and the quota exact while a program writes (four rsyncs at once never
//! take the account over it; a push over it leaves nothing behind).
//!
//! Each says which of the two it needs.

// Helpers outside `#[test]` fns unwrap and panic too: a failed setup is a
// failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::files::{Content, PeakUsage, contents, names_in, pattern, stored_bytes};
use common::host::assert_no_host_passwd;
use common::process::{assert_ok, describe, text};
use common::{AccountSpec, TestServer};

fn start(quota: Option<u64>) -> TestServer {
    let mut alice = AccountSpec::new("alice").commands(&["rsync", "git"]);
    if let Some(quota) = quota {
        alice = alice.quota(quota);
    }
    let server = TestServer::start(&[alice]);
    server.create_home("alice");
    server
}

fn local_dir(server: &TestServer, name: &str) -> PathBuf {
    let dir = server.local(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn git_ok(server: &TestServer, dir: &Path, args: &[&str]) -> String {
    let out = server.git(dir, args);
    assert!(out.status.success(), "git {args:?}: {}", describe(&out));
    text(&out.stdout)
}

/// A bare repository `repo.git` in alice's box with one commit on main,
/// and a clone of it; returns the clone.
fn repository(server: &TestServer) -> PathBuf {
    let staging = local_dir(server, "staging");
    git_ok(server, &staging, &["init", "-q", "--bare", "repo.git"]);
    assert_ok(&server.scp(&[
        "-r",
        &staging.join("repo.git").display().to_string(),
        "alice@127.0.0.1:",
    ]));
    let work = local_dir(server, "work");
    git_ok(
        server,
        &work,
        &["clone", "-q", "alice@127.0.0.1:repo.git", "w"],
    );
    let clone = work.join("w");
    std::fs::write(clone.join("README"), b"first\n").unwrap();
    git_ok(server, &clone, &["add", "README"]);
    git_ok(server, &clone, &["commit", "-q", "-m", "first"]);
    git_ok(server, &clone, &["push", "-q", "origin", "HEAD:main"]);
    clone
}

/// Needs `/` = the home for programs.
#[test]
fn rsync_scp_sftp_and_git_agree_on_what_slash_is() {
    let server = start(None);
    let home = server.home("alice");
    let src = local_dir(&server, "src");
    std::fs::write(src.join("f"), b"by rsync").unwrap();
    let rsync = server.rsync(&[
        "-av",
        &format!("{}/", src.display()),
        "alice@127.0.0.1:/dest/",
    ]);
    assert_ok(&rsync);
    assert_eq!(std::fs::read(home.join("dest/f")).unwrap(), b"by rsync");

    let file = server.local_file("g", b"by scp");
    assert_ok(&server.scp(&["-O", &file.display().to_string(), "alice@127.0.0.1:/x"]));
    assert_eq!(std::fs::read(home.join("x")).unwrap(), b"by scp");
    assert_ok(&server.sftp_put("alice", "/y", b"by sftp"));
    assert_eq!(std::fs::read(home.join("y")).unwrap(), b"by sftp");

    // Both URL forms of git name the same repository.
    let clone = repository(&server);
    let url = format!("ssh://alice@127.0.0.1:{}/repo.git", server.port());
    let work = local_dir(&server, "ssh-url");
    git_ok(&server, &work, &["clone", "-q", &url, "c"]);
    assert_eq!(std::fs::read(work.join("c/README")).unwrap(), b"first\n");
    std::fs::write(clone.join("second"), b"pushed by url\n").unwrap();
    git_ok(&server, &clone, &["add", "second"]);
    git_ok(&server, &clone, &["commit", "-q", "-m", "second"]);
    git_ok(
        &server,
        &clone,
        &["push", "-q", &url, "HEAD:refs/heads/via-url"],
    );
    git_ok(&server, &work.join("c"), &["fetch", "-q", "origin"]);
    git_ok(&server, &work.join("c"), &["rev-parse", "origin/via-url"]);
    let tar = server.git(
        &work,
        &[
            "archive",
            "--format=tar",
            &format!("--remote={url}"),
            "main",
        ],
    );
    assert_ok(&tar);
    let archive = server.local_file("main.tar", &tar.stdout);
    let unpacked = local_dir(&server, "unpacked");
    let untar = std::process::Command::new(common::process::require_tool("tar"))
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert_ok(&untar);
    assert_eq!(std::fs::read(unpacked.join("README")).unwrap(), b"first\n");
    // rsync's absolute pull reads the same files.
    let back = local_dir(&server, "back");
    assert_ok(&server.rsync(&["-a", "alice@127.0.0.1:/x", &format!("{}/", back.display())]));
    assert_eq!(std::fs::read(back.join("x")).unwrap(), b"by scp");
}

/// `/` = the home for programs, but `/etc` is one of the names a program's
/// root keeps for the system (README, "Commands"): there it holds only the
/// dynamic linker's files, none of the host's accounts, and the box's own
/// `etc/` stays the box's for SFTP, untouched.
#[test]
fn rsync_sees_no_host_etc_and_planted_links_up_stay_inside() {
    let server = start(None);
    let home = server.home("alice");
    std::fs::create_dir(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/mine"), b"the box's etc").unwrap();
    std::fs::write(home.join("top"), b"at the top").unwrap();
    // `up` climbs far above the home.
    std::os::unix::fs::symlink("../../../../../../..", home.join("up")).unwrap();

    let pulled = local_dir(&server, "etc");
    let out = server.rsync(&[
        "-a",
        "alice@127.0.0.1:/etc/",
        &format!("{}/", pulled.display()),
    ]);
    assert_no_host_passwd(&out, "rsync /etc/");
    let names = names_in(&pulled);
    for name in ["passwd", "shadow", "group", "hostname", "hosts", "mine"] {
        assert!(!names.contains(name), "rsync pulled /etc/{name}: {names:?}");
    }
    assert!(
        names
            .iter()
            .all(|name| ["ld.so.cache", "alternatives"].contains(&name.as_str())),
        "{names:?}"
    );
    let passwd = server.rsync(&["alice@127.0.0.1:/etc/passwd", &pulled.display().to_string()]);
    assert!(
        !passwd.status.success() && !pulled.join("passwd").exists(),
        "the host's /etc/passwd was read: {}",
        describe(&passwd)
    );
    // SFTP's /etc is the box's own.
    let got = server.local("mine");
    assert_ok(&server.sftp_batch("alice", &format!("get /etc/mine {}\n", got.display())));
    assert_eq!(std::fs::read(&got).unwrap(), b"the box's etc");
    let up = local_dir(&server, "up");
    let out = server.rsync(&["-r", "alice@127.0.0.1:up/", &format!("{}/", up.display())]);
    assert_no_host_passwd(&out, "rsync up/");
    assert_ok(&out);
    // `..` at `/` stays at `/`: up/ is the home itself, as a program sees
    // it (its `etc/` hidden behind the system's name, the link `up` not
    // copied without `-l`), and nothing of the host's root.
    assert_eq!(names_in(&up), ["top".to_owned()].into());
    assert_eq!(std::fs::read(up.join("top")).unwrap(), b"at the top");
    assert!(!up.join("usr").exists());
}

/// Needs the exact quota for programs.
#[test]
fn four_rsyncs_at_once_never_take_the_account_over_its_quota() {
    let quota: u64 = 16 << 20;
    let server = start(Some(quota));
    let home = server.home("alice");
    // Four sources of 8 MiB each (eight 1 MiB files): twice the quota.
    let sources: Vec<PathBuf> = (0..4)
        .map(|n| {
            let dir = local_dir(&server, &format!("src{n}"));
            for f in 0..8 {
                std::fs::write(dir.join(format!("f{f}")), pattern(1 << 20, n * 100 + f)).unwrap();
            }
            dir
        })
        .collect();
    let peak = PeakUsage::watch(&home);
    let runs: Vec<_> = sources
        .iter()
        .enumerate()
        .map(|(n, dir)| {
            server
                .rsync_command(&[
                    "-a",
                    &format!("{}/", dir.display()),
                    &format!("alice@127.0.0.1:d{n}/"),
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = runs
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let peak = peak.stop();
    assert!(peak <= quota, "usage reached {peak} of {quota} bytes");
    assert!(stored_bytes(&home) <= quota);
    assert!(
        outputs.iter().any(|out| !out.status.success()),
        "32 MiB fit in a 16 MiB quota"
    );
    // Every file that arrived under its own name arrived whole.
    for (n, dir) in sources.iter().enumerate() {
        let Ok(_) = std::fs::read_dir(home.join(format!("d{n}"))) else {
            continue;
        };
        let want = contents(dir);
        for (path, content) in contents(&home.join(format!("d{n}"))) {
            if let Content::File(bytes) = content
                && !path.to_string_lossy().starts_with('.')
            {
                assert_eq!(
                    Some(&Content::File(bytes)),
                    want.get(&path),
                    "{}",
                    path.display()
                );
            }
        }
    }
    // The space is there again once what was refused is gone.
    let df = server.ssh("alice", &["quota"], b"");
    assert_ok(&df);
}

/// Needs the exact quota for programs: a push of many objects, each below
/// the quota, is refused by the filesystem, not killed halfway.
#[test]
fn a_push_of_many_objects_over_the_quota_leaves_nothing_behind() {
    let quota: u64 = 8 << 20;
    let server = start(Some(quota));
    let home = server.home("alice");
    let clone = repository(&server);
    let refs_before = git_ok(&server, &clone, &["ls-remote", "origin"]);
    // 40 objects of 512 KiB of noise: 20 MiB, unpacked one by one.
    for n in 0..40 {
        std::fs::write(clone.join(format!("blob{n}")), pattern(512 << 10, 1000 + n)).unwrap();
    }
    git_ok(&server, &clone, &["add", "."]);
    git_ok(&server, &clone, &["commit", "-q", "-m", "many"]);
    let peak = PeakUsage::watch(&home);
    let out = server.git(&clone, &["push", "origin", "HEAD:main"]);
    let peak = peak.stop();
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("quota") || text(&out.stderr).contains("Disk quota exceeded"),
        "{}",
        describe(&out)
    );
    assert!(peak <= quota, "usage reached {peak} of {quota} bytes");
    assert_eq!(
        git_ok(&server, &clone, &["ls-remote", "origin"]),
        refs_before
    );
    let repo = home.join("repo.git");
    let objects = names_in(&repo.join("objects"));
    assert!(
        !objects.iter().any(|name| name.starts_with("incoming-")),
        "the refused push left {objects:?}"
    );
    let fsck = server.git(
        &repo,
        &["-c", "safe.directory=*", "fsck", "--full", "--no-dangling"],
    );
    assert_ok(&fsck);
}
