//! rsync through the real `rsync` client against the real server, the
//! account's `commands = ["rsync"]` running `rsync --server` in the
//! sandbox: `-a` both ways (times, modes without setuid/setgid, symlinks
//! kept as links that resolve inside the box), `--delete`, `--partial` and
//! a resume after a killed transfer, `-z`, `-c`, 10 000 files; and every
//! way out of the box (`../`, `/etc`, planted symlinks, the network, a
//! program of the home as rsync's remote shell) refused or kept inside.

// Helpers outside `#[test]` fns unwrap and panic too: a failed setup is a
// failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::files::{Content, contents, mode_of, mtime_of, pattern, set_mode, set_mtime, stored};
use common::host::{assert_no_host_passwd, assert_no_host_passwd_in};
use common::process::{assert_failed, assert_ok, assert_status, describe, sftpbox, text};
use common::{AccountSpec, TestServer};

/// alice's quota: room for every test's files, and `df` shows her usage.
const QUOTA: u64 = 512 << 20;

/// alice may run rsync; bob has no commands.
fn start() -> TestServer {
    let server = TestServer::start(&[
        AccountSpec::new("alice").commands(&["rsync"]).quota(QUOTA),
        AccountSpec::new("bob"),
    ]);
    server.create_home("alice");
    server
}

/// Asserts that the quota's count, as alice's `df` shows it (KiB), is what
/// `home` holds on disk (give or take the blocks `df` rounds and holds back
/// for folders to grow): programs write behind the jail's back, and the
/// count is made again when they end.
fn assert_quota_counts(server: &TestServer, home: &Path) {
    let used = df_used_kib(server);
    let on_disk = stored(home).bytes.div_ceil(1024);
    assert!(
        (on_disk..=on_disk + 16).contains(&used),
        "df says {used} KiB used, the home holds {on_disk} KiB"
    );
}

/// The "Used" column of alice's `df`, in KiB.
fn df_used_kib(server: &TestServer) -> u64 {
    let out = server.ssh("alice", &["df"], b"");
    assert_ok(&out);
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|used| used.parse().ok())
        .unwrap_or_else(|| panic!("df printed {stdout:?}"))
}

/// `alice@127.0.0.1:path`.
fn remote(path: &str) -> String {
    format!("alice@127.0.0.1:{path}")
}

/// A folder of the client's side, made afresh.
fn local_dir(server: &TestServer, name: &str) -> PathBuf {
    let dir = server.local(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

/// `dir` as rsync's "the contents of" source: a trailing slash.
fn contents_of(path: &Path) -> String {
    format!("{}/", path.display())
}

#[test]
fn archive_push_and_pull_keep_times_modes_without_setuid_and_links_inside_the_box() {
    let server = start();
    let src = local_dir(&server, "src");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    let files: [(&str, u32, usize); 5] = [
        ("plain.txt", 0o644, 1000),
        ("private", 0o600, 70_000),
        ("sub/tool", 0o755, 5000),
        ("sub/setuid-tool", 0o4755, 300),
        ("sub/deeper/setgid-file", 0o2750, 12),
    ];
    for (i, (name, mode, len)) in files.iter().enumerate() {
        let path = src.join(name);
        std::fs::write(&path, pattern(*len, i as u64 + 1)).unwrap();
        set_mode(&path, *mode);
        set_mtime(&path, 1_500_000_000 + i as u64 * 86_400);
    }
    std::os::unix::fs::symlink("plain.txt", src.join("relative-link")).unwrap();
    std::os::unix::fs::symlink("/dest/plain.txt", src.join("sub/absolute-link")).unwrap();
    set_mode(&src.join("sub"), 0o750);
    set_mtime(&src.join("sub/deeper"), 1_400_000_000);

    assert_ok(&server.rsync(&["-a", &contents_of(&src), &remote("dest/")]));
    let home = server.home("alice");
    let dest = home.join("dest");
    for (name, mode, _) in files {
        let (theirs, ours) = (dest.join(name), src.join(name));
        assert_eq!(
            std::fs::read(&theirs).unwrap(),
            std::fs::read(&ours).unwrap()
        );
        assert_eq!(mtime_of(&theirs), mtime_of(&ours), "{name}: time");
        assert_eq!(mode_of(&theirs), mode & 0o777, "{name}: mode");
    }
    assert_eq!(mode_of(&dest.join("sub")), 0o750);
    assert_eq!(mtime_of(&dest.join("sub/deeper")), 1_400_000_000);
    // Links stay links, with their targets as written...
    assert_eq!(
        std::fs::read_link(dest.join("relative-link")).unwrap(),
        Path::new("plain.txt")
    );
    assert_eq!(
        std::fs::read_link(dest.join("sub/absolute-link")).unwrap(),
        Path::new("/dest/plain.txt")
    );
    // ...and resolve inside the box: `/dest/plain.txt` is the home's.
    let got = server.local("through-the-link");
    assert_ok(&server.sftp_batch(
        "alice",
        &format!("get dest/sub/absolute-link {}\n", got.display()),
    ));
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(src.join("plain.txt")).unwrap()
    );
    // The quota's count is what is on disk after the program wrote.
    assert_quota_counts(&server, &home);

    // Pull it back: the same tree, times and (masked) modes.
    let back = local_dir(&server, "back");
    assert_ok(&server.rsync(&["-a", &remote("dest/"), &contents_of(&back)]));
    assert_eq!(contents(&back), contents(&src));
    for (name, mode, _) in files {
        assert_eq!(mtime_of(&back.join(name)), mtime_of(&src.join(name)));
        assert_eq!(mode_of(&back.join(name)), mode & 0o777, "{name}");
    }
}

#[test]
fn delete_removes_what_the_source_no_longer_has_and_gives_the_space_back() {
    let server = start();
    let src = local_dir(&server, "src");
    for i in 0..20 {
        std::fs::write(src.join(format!("f{i:02}")), pattern(50_000, i)).unwrap();
    }
    std::fs::create_dir(src.join("gone-dir")).unwrap();
    std::fs::write(src.join("gone-dir/inner"), pattern(200_000, 99)).unwrap();
    assert_ok(&server.rsync(&["-a", &contents_of(&src), &remote("mirror/")]));
    let home = server.home("alice");
    let before = stored(&home);

    std::fs::remove_dir_all(src.join("gone-dir")).unwrap();
    for i in 10..20 {
        std::fs::remove_file(src.join(format!("f{i:02}"))).unwrap();
    }
    // A file only the box has goes too.
    assert_ok(&server.sftp_put("alice", "mirror/extra", &pattern(10_000, 7)));
    let out = server.rsync(&[
        "-a",
        "--delete",
        "-v",
        &contents_of(&src),
        &remote("mirror/"),
    ]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("deleting extra"),
        "{}",
        describe(&out)
    );
    assert_eq!(contents(&home.join("mirror")), contents(&src));
    let after = stored(&home);
    assert!(
        after.bytes + 10 * 50_000 + 200_000 <= before.bytes,
        "{before:?} → {after:?}"
    );
    assert_quota_counts(&server, &home);
}

/// The name rsync writes a transfer into before it is complete
/// (`.NAME.XXXXXX`) in `dir`, with its size.
fn temp_file(dir: &Path, name: &str) -> Option<(PathBuf, u64)> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let file = entry.file_name().to_string_lossy().into_owned();
        let is_temp = file.starts_with(&format!(".{name}.")) && file != format!(".{name}.");
        is_temp.then(|| (entry.path(), entry.metadata().map_or(0, |m| m.len())))
    })
}

#[test]
fn partial_keeps_a_killed_transfer_and_the_next_run_resumes_it() {
    let server = start();
    let data = pattern(24 << 20, 3);
    let file = server.local_file("big.bin", &data);
    let home = server.home("alice");

    // 2 MiB/s, so the transfer is still running when it is killed.
    let mut slow = server.rsync_command(&[
        "--partial",
        "--bwlimit=2048",
        &path_str(&file),
        &remote("big.bin"),
    ]);
    // Its own process group: `timeout`, rsync and ssh, killed together.
    std::os::unix::process::CommandExt::process_group(&mut slow, 0);
    let mut child = slow.spawn().unwrap();
    let started = Instant::now();
    loop {
        if temp_file(&home, "big.bin").is_some_and(|(_, len)| len >= 4 << 20) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "rsync did not write 4 MiB in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The client dies: SIGKILL to its whole group, the connection drops.
    rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let _ = child.wait();
    // The server's rsync keeps what it had under the file's own name.
    let kept = home.join("big.bin");
    let started = Instant::now();
    while !kept.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the partial file was not kept as big.bin: {:?}",
            std::fs::read_dir(&home)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let partial = std::fs::read(&kept).unwrap();
    assert!(
        partial.len() >= 4 << 20 && partial.len() < data.len(),
        "partial file of {} bytes",
        partial.len()
    );
    assert_eq!(
        partial[..],
        data[..partial.len()],
        "the partial file is a prefix"
    );
    assert!(
        temp_file(&home, "big.bin").is_none(),
        "a temp file was left"
    );

    // The next run uses it: what was kept is matched, not sent again.
    let out = server.rsync(&["--partial", "--stats", &path_str(&file), &remote("big.bin")]);
    assert_ok(&out);
    let matched = stat_line(&out, "Matched data:");
    assert!(
        matched >= (partial.len() as u64) / 2,
        "matched {matched} of {} kept bytes:\n{}",
        partial.len(),
        describe(&out)
    );
    assert_eq!(std::fs::read(&kept).unwrap(), data);
}

/// The figure of rsync's `--stats` line starting with `label`.
fn stat_line(out: &Output, label: &str) -> u64 {
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{stdout}"));
    line.trim()
        .trim_end_matches(" bytes")
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("{label} {line:?}"))
}

#[test]
fn compression_moves_the_same_bytes_both_ways() {
    let server = start();
    let src = local_dir(&server, "src");
    // Compressible and incompressible data.
    std::fs::write(src.join("text"), "the same line again\n".repeat(200_000)).unwrap();
    std::fs::write(src.join("noise"), pattern(3 << 20, 11)).unwrap();
    let out = server.rsync(&["-az", "--stats", &contents_of(&src), &remote("z/")]);
    assert_ok(&out);
    assert_eq!(contents(&server.home("alice").join("z")), contents(&src));
    // Compressed on the wire: far fewer bytes sent than the 4 MiB in the files.
    let sent = stat_line(&out, "Total bytes sent:");
    assert!(sent < (3 << 20) + 1_000_000, "sent {sent} bytes");
    let back = local_dir(&server, "back");
    assert_ok(&server.rsync(&["-az", &remote("z/"), &contents_of(&back)]));
    assert_eq!(contents(&back), contents(&src));
}

#[test]
fn checksum_mode_finds_a_change_that_keeps_size_and_time() {
    let server = start();
    let src = local_dir(&server, "src");
    std::fs::write(src.join("f"), pattern(100_000, 1)).unwrap();
    set_mtime(&src.join("f"), 1_600_000_000);
    assert_ok(&server.rsync(&["-a", &contents_of(&src), &remote("c/")]));
    // Same size, same time, other bytes.
    let mut changed = pattern(100_000, 1);
    changed[50_000] ^= 0xff;
    std::fs::write(src.join("f"), &changed).unwrap();
    set_mtime(&src.join("f"), 1_600_000_000);
    let stored_file = server.home("alice").join("c/f");
    // The quick check (size and time) sees nothing to do...
    assert_ok(&server.rsync(&["-a", &contents_of(&src), &remote("c/")]));
    assert_ne!(std::fs::read(&stored_file).unwrap(), changed);
    // ...checksums on both sides do.
    let out = server.rsync(&["-ac", "-i", &contents_of(&src), &remote("c/")]);
    assert_ok(&out);
    assert!(text(&out.stdout).contains("<fc"), "{}", describe(&out));
    assert_eq!(std::fs::read(&stored_file).unwrap(), changed);
    // And a pull with -c of an unchanged tree moves no file.
    let back = local_dir(&server, "back");
    assert_ok(&server.rsync(&["-a", &remote("c/"), &contents_of(&back)]));
    let again = server.rsync(&["-ac", "-i", &remote("c/"), &contents_of(&back)]);
    assert_ok(&again);
    assert!(!text(&again.stdout).contains(">f"), "{}", describe(&again));
}

#[test]
fn ten_thousand_files_go_both_ways() {
    let server = start();
    let src = local_dir(&server, "src");
    for dir in 0..100 {
        let sub = src.join(format!("d{dir:03}"));
        std::fs::create_dir(&sub).unwrap();
        for file in 0..100 {
            let seed = dir * 100 + file;
            std::fs::write(
                sub.join(format!("f{file:03}")),
                pattern(usize::try_from(seed % 700).unwrap() + 1, seed),
            )
            .unwrap();
        }
    }
    assert_ok(&server.rsync(&["-a", &contents_of(&src), &remote("many/")]));
    let home = server.home("alice");
    let want = contents(&src);
    assert_eq!(want.len(), 10_100);
    assert_eq!(contents(&home.join("many")), want);
    assert_quota_counts(&server, &home);
    let back = local_dir(&server, "back");
    assert_ok(&server.rsync(&["-a", &remote("many/"), &contents_of(&back)]));
    assert_eq!(contents(&back), want);
    // Nothing changed: a second push sends no file.
    let again = server.rsync(&["-a", "-i", &contents_of(&src), &remote("many/")]);
    assert_ok(&again);
    assert!(!text(&again.stdout).contains("<f"), "{}", describe(&again));
}

#[test]
fn paths_outside_the_box_are_refused_or_resolved_inside() {
    let server = start();
    let home = server.home("alice");
    let bob_home = server.create_home("bob");
    std::fs::write(bob_home.join("bob-secret"), b"bob's own bytes").unwrap();
    // What an administrator (or a restored backup) planted in the box.
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("host-secret"), b"host bytes").unwrap();
    let links: [(&str, PathBuf); 5] = [
        ("to-passwd", PathBuf::from("/etc/passwd")),
        ("up-passwd", PathBuf::from("../../../../../../etc/passwd")),
        ("to-etc", PathBuf::from("/etc")),
        ("to-bob", bob_home.clone()),
        ("to-host-dir", host_dir.path().to_owned()),
    ];
    for (name, target) in &links {
        std::os::unix::fs::symlink(target, home.join(name)).unwrap();
    }

    // Reading out: each fails or brings back nothing of the host's.
    let into = local_dir(&server, "pulled");
    for source in [
        "/etc/passwd",
        "../../../../etc/passwd",
        "../bob/bob-secret",
        "to-passwd",
        "up-passwd",
        "to-etc/passwd",
        "to-etc/shadow",
        "to-bob/bob-secret",
        "to-host-dir/host-secret",
    ] {
        let out = server.rsync(&["-aL", &remote(source), &contents_of(&into)]);
        assert_no_host_passwd(&out, &format!("rsync -aL {source}"));
        let text_out = describe(&out);
        assert!(!text_out.contains("bob's own bytes") && !text_out.contains("host bytes"));
        assert_failed(&out, &format!("rsync of {source} outside the box"));
    }
    for (path, content) in contents(&into) {
        if let Content::File(bytes) = content {
            assert_no_host_passwd_in(&bytes, &path.display().to_string());
            assert_ne!(bytes, b"bob's own bytes");
            assert_ne!(bytes, b"host bytes");
        }
    }

    // Writing out: nothing lands outside the home. `..` at `/` is `/`, as
    // in SFTP, so `../escaped` is the home's `/escaped`; `/tmp` is the
    // program's own, gone when it ends; the rest is refused.
    let file = server.local_file("payload", b"written by alice");
    let homes = home.parent().unwrap().to_owned();
    let before_homes = common::files::names_in(&homes);
    for (target, lands) in [
        ("../escaped", Some("escaped")),
        ("../../escaped", Some("escaped")),
        ("/etc/escaped", None),
        ("/tmp/escaped", Some("")),
        ("to-etc/escaped", None),
        ("to-bob/escaped", None),
        ("to-host-dir/escaped", None),
    ] {
        let out = server.rsync(&[&path_str(&file), &remote(target)]);
        match lands {
            None => assert!(
                !out.status.success(),
                "rsync to {target} succeeded: {}",
                describe(&out)
            ),
            Some("") => {}
            Some(inside) => {
                assert_ok(&out);
                let landed = home.join(inside);
                assert_eq!(std::fs::read(&landed).unwrap(), b"written by alice");
                std::fs::remove_file(landed).unwrap();
            }
        }
    }
    assert!(!home.join("tmp").exists());
    assert_eq!(common::files::names_in(&homes), before_homes);
    assert_eq!(
        common::files::names_in(&bob_home),
        ["bob-secret".to_owned()].into()
    );
    assert_eq!(
        common::files::names_in(host_dir.path()),
        ["host-secret".to_owned()].into()
    );
    for escaped in ["/etc/escaped", "/tmp/escaped"] {
        assert!(!Path::new(escaped).exists(), "{escaped} was written");
    }
    // The planted links are still links, untouched.
    for (name, target) in &links {
        assert_eq!(&std::fs::read_link(home.join(name)).unwrap(), target);
    }
}

#[test]
fn the_sandboxed_rsync_reaches_no_network() {
    let server = start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // rsync as a client of a daemon, from inside the box...
    let url = format!("rsync://127.0.0.1:{port}/module/");
    let out = server.ssh("alice", &["rsync", "--contimeout=5", &url, "pulled/"], b"");
    assert_failed(&out, "rsync to a TCP daemon from the sandbox");
    // ...and as a daemon listening on a port.
    let daemon = server.ssh(
        "alice",
        &[
            "rsync",
            "--daemon",
            "--no-detach",
            "--port=0",
            "--config=/dev/null",
        ],
        b"",
    );
    assert_failed(&daemon, "rsync --daemon in the sandbox");
    std::thread::sleep(Duration::from_millis(200));
    match listener.accept() {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the host's listener was reached: {other:?}"),
    }
}

#[test]
fn rsync_cannot_run_a_program_of_the_home_as_its_remote_shell() {
    let server = start();
    let home = server.home("alice");
    // An executable script the user put in the box, owned as the home is.
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&home).unwrap());
    let script = home.join("evil.sh");
    std::fs::write(&script, b"#!/bin/sh\necho PWNED > /pwned\n").unwrap();
    set_mode(&script, 0o755);
    std::os::unix::fs::chown(&script, Some(owner), None).unwrap();
    // rsync as a client in the box, its remote shell that script: only
    // git-receive-pack may execute files of the home.
    let out = server.ssh(
        "alice",
        &["rsync", "-e", "/evil.sh", "elsewhere:x", "pulled/"],
        b"",
    );
    assert_failed(&out, "rsync -e /evil.sh in the sandbox");
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        describe(&out)
    );
    assert!(!home.join("pwned").exists(), "the box's script ran");
}

#[test]
fn an_account_without_rsync_is_told_so() {
    let server = start();
    server.create_home("bob");
    let file = server.local_file("f", b"data");
    let out = server.rsync(&[&path_str(&file), "bob@127.0.0.1:f"]);
    assert_failed(&out, "rsync as bob");
    assert!(
        text(&out.stderr).contains("sftpbox: rsync: command not allowed"),
        "{}",
        describe(&out)
    );
    assert!(!server.home("bob").join("f").exists());
    // Under rsync, what the server itself answers: exit 127 and the line.
    let direct = server.ssh("bob", &["rsync", "--server", "-e.LsfxC", ".", "f"], b"");
    assert_status(&direct, 127, "rsync --server as bob");
    assert_eq!(
        text(&direct.stderr),
        "sftpbox: rsync: command not allowed\n"
    );
}

/// Runs `sftpbox check` in `dir` inside a private mount namespace where
/// each of `hidden` is covered by an empty, non-executable file (and
/// /usr/local/bin by an empty tmpfs): the host as if they were not
/// installed.
fn check_without(dir: &Path, hidden: &[&str]) -> Output {
    let empty = dir.join("empty-file");
    std::fs::write(&empty, b"").unwrap();
    set_mode(&empty, 0o644);
    let mut script = String::from("set -e\nmount -t tmpfs none /usr/local/bin\n");
    for path in hidden {
        script.push_str(&format!("mount --bind '{}' '{path}'\n", empty.display()));
    }
    script.push_str(&format!(
        "exec '{}' check --accounts accounts.toml\n",
        env!("CARGO_BIN_EXE_sftpbox")
    ));
    std::process::Command::new(common::process::require_tool("unshare"))
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn check_says_when_rsync_or_git_is_not_installed() {
    let server = TestServer::start(&[AccountSpec::new("alice").commands(&["rsync", "git"])]);
    // With both installed, the file is fine.
    assert_ok(&sftpbox(
        server.dir.path(),
        &["check", "--accounts", "accounts.toml"],
    ));
    let out = check_without(server.dir.path(), &["/usr/bin/rsync", "/usr/bin/git"]);
    assert_status(&out, 2, "check without rsync and git");
    let stdout_and_err = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let lines: BTreeMap<&str, &str> = stdout_and_err
        .lines()
        .filter_map(|line| line.split_once(": command `"))
        .collect();
    let rsync = lines
        .values()
        .find(|rest| rest.starts_with("rsync`"))
        .unwrap_or_else(|| panic!("no word about rsync:\n{stdout_and_err}"));
    assert!(
        rsync.contains("nor installed on this host: no executable `rsync`")
            && rsync.contains("apt install rsync"),
        "{stdout_and_err}"
    );
    let git = lines
        .values()
        .find(|rest| rest.starts_with("git`"))
        .unwrap_or_else(|| panic!("no word about git:\n{stdout_and_err}"));
    assert!(
        git.contains("git-upload-pack")
            && git.contains("not installed on this host")
            && git.contains("apt install git"),
        "{stdout_and_err}"
    );
    // Both name their place in accounts.toml.
    assert!(
        lines
            .keys()
            .all(|place| place.starts_with("accounts.toml:")),
        "{stdout_and_err}"
    );
}
