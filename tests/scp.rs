//! scp through the real OpenSSH client: the legacy protocol (`scp -O`,
//! served in-process as `scp -t`/`scp -f` over the box) and the default
//! SFTP mode. Files arrive byte for byte, `-r` and `-p` keep trees, modes
//! and times (never setuid), names are tokenized as sh would, the quota
//! holds per file, a dropped upload leaves the old file intact, and no path
//! or symlink leads out of the home.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::files::{
    Content, contents, mode_of, mtime_of, names_in, pattern, set_mode, set_mtime, stored_bytes,
};
use common::host::assert_no_host_passwd_in;
use common::process::{assert_failed, assert_ok, describe, text};
use common::{AccountSpec, TestServer};

/// `alice@127.0.0.1:PATH`, the remote operand of scp.
fn remote(path: &str) -> String {
    format!("alice@127.0.0.1:{path}")
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Names of temporary upload files left anywhere under `dir`. Only names
/// are read: the server may remove a temporary file while this looks, and
/// reading its content then would fail.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            found.extend(leftovers(&path));
        } else if name.starts_with(".scp-") || name.ends_with(".part") {
            found.push(path);
        }
    }
    found
}

/// A server with alice, logged in once so that her home exists.
fn start(account: AccountSpec) -> TestServer {
    let server = TestServer::start(&[account]);
    server.create_home("alice");
    server
}

fn alice() -> TestServer {
    start(AccountSpec::new("alice"))
}

#[test]
fn single_files_upload_and_download_byte_exact() {
    let server = alice();
    let local = tempfile::tempdir().unwrap();
    for (size, seed) in [(0_usize, 1_u64), (1, 2), (5 * 1024 * 1024, 3)] {
        let data = pattern(size, seed);
        let up = local.path().join(format!("up-{size}"));
        std::fs::write(&up, &data).unwrap();
        let name = format!("file-{size}.bin");
        let out = server.scp(&["-O", path_str(&up), &remote(&name)]);
        assert_ok(&out);
        let stored = std::fs::read(server.home("alice").join(&name)).unwrap();
        assert!(stored == data, "upload of {size} bytes differs on disk");

        let down = local.path().join(format!("down-{size}"));
        let out = server.scp(&["-O", &remote(&name), path_str(&down)]);
        assert_ok(&out);
        let fetched = std::fs::read(&down).unwrap();
        assert!(fetched == data, "download of {size} bytes differs");
    }
    assert!(leftovers(&server.home("alice")).is_empty());
}

#[test]
fn several_files_in_one_run_go_both_ways() {
    let server = alice();
    let local = tempfile::tempdir().unwrap();
    let names = ["one.txt", "two.bin", "three.dat"];
    let mut args = vec!["-O".to_owned()];
    for (i, name) in names.iter().enumerate() {
        let path = local.path().join(name);
        std::fs::write(&path, pattern(1000 * (i + 1), 40 + i as u64)).unwrap();
        args.push(path_str(&path).to_owned());
    }
    args.push(remote(""));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_ok(&server.scp(&args));
    for (i, name) in names.iter().enumerate() {
        let stored = std::fs::read(server.home("alice").join(name)).unwrap();
        assert_eq!(stored, pattern(1000 * (i + 1), 40 + i as u64), "{name}");
    }

    let back = tempfile::tempdir().unwrap();
    let sources: Vec<String> = names.iter().map(|n| remote(n)).collect();
    let mut args: Vec<&str> = vec!["-O"];
    args.extend(sources.iter().map(String::as_str));
    args.push(path_str(back.path()));
    assert_ok(&server.scp(&args));
    for (i, name) in names.iter().enumerate() {
        let fetched = std::fs::read(back.path().join(name)).unwrap();
        assert_eq!(fetched, pattern(1000 * (i + 1), 40 + i as u64), "{name}");
    }
}

/// Local tree: tree/ (0755, t=1_400_000_000), a.txt (0640), sub/ (0751),
/// sub/b.bin (0600), sub/deeper/c.sh (0755), sub/empty/ (0750).
fn make_tree(root: &Path) -> Vec<(&'static str, u32, u64)> {
    let base = root.join("tree");
    std::fs::create_dir_all(base.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(base.join("sub/empty")).unwrap();
    std::fs::write(base.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(base.join("sub/b.bin"), pattern(70_000, 9)).unwrap();
    std::fs::write(base.join("sub/deeper/c.sh"), b"#!/bin/sh\necho c\n").unwrap();
    let entries = vec![
        ("a.txt", 0o640, 1_500_000_000),
        ("sub/b.bin", 0o600, 1_500_000_100),
        ("sub/deeper/c.sh", 0o755, 1_500_000_200),
        ("sub/deeper", 0o700, 1_500_000_300),
        ("sub/empty", 0o750, 1_500_000_400),
        ("sub", 0o751, 1_500_000_500),
        ("", 0o755, 1_400_000_000),
    ];
    // Files first, directories last (deepest first): setting a child's
    // times does not change them, but creating one would.
    for (rel, mode, secs) in &entries {
        let path = if rel.is_empty() {
            base.clone()
        } else {
            base.join(rel)
        };
        set_mode(&path, *mode);
        set_mtime(&path, *secs);
    }
    entries
}

fn assert_tree_preserved(base: &Path, entries: &[(&str, u32, u64)], what: &str) {
    for (rel, mode, secs) in entries {
        let path = if rel.is_empty() {
            base.to_owned()
        } else {
            base.join(rel)
        };
        assert_eq!(
            mode_of(&path),
            *mode,
            "{what}: mode of tree/{rel} is {:o}",
            mode_of(&path)
        );
        assert_eq!(
            mtime_of(&path),
            i64::try_from(*secs).unwrap(),
            "{what}: mtime of tree/{rel}"
        );
    }
}

#[test]
fn recursive_tree_with_preserve_keeps_contents_modes_and_times() {
    let server = alice();
    let local = tempfile::tempdir().unwrap();
    let entries = make_tree(local.path());
    let src = local.path().join("tree");

    let out = server.scp(&["-O", "-r", "-p", path_str(&src), &remote("")]);
    assert_ok(&out);
    let stored = server.home("alice").join("tree");
    assert_eq!(contents(&stored), contents(&src), "uploaded tree differs");
    assert_tree_preserved(&stored, &entries, "on the server");

    // Download the server's copy with -p into a fresh folder.
    let back = tempfile::tempdir().unwrap();
    let out = server.scp(&["-O", "-r", "-p", &remote("tree"), path_str(back.path())]);
    assert_ok(&out);
    let fetched = back.path().join("tree");
    assert_eq!(
        contents(&fetched),
        contents(&src),
        "downloaded tree differs"
    );
    assert_tree_preserved(&fetched, &entries, "downloaded");

    // -r into a new name: the directory itself becomes that name.
    let out = server.scp(&["-O", "-r", path_str(&src), &remote("copy")]);
    assert_ok(&out);
    assert_eq!(contents(&server.home("alice").join("copy")), contents(&src));
    assert!(leftovers(&server.home("alice")).is_empty());
}

#[test]
fn preserve_never_sets_setuid_setgid_or_sticky_on_the_server() {
    let server = alice();
    let local = tempfile::tempdir().unwrap();
    let suid = local.path().join("suid");
    std::fs::write(&suid, b"#!/bin/sh\nid\n").unwrap();
    set_mode(&suid, 0o4755);
    let sgid = local.path().join("sgid");
    std::fs::write(&sgid, b"x").unwrap();
    set_mode(&sgid, 0o2775);
    assert_eq!(mode_of(&suid), 0o4755);

    assert_ok(&server.scp(&["-O", "-p", path_str(&suid), path_str(&sgid), &remote("")]));
    let home = server.home("alice");
    assert_eq!(
        mode_of(&home.join("suid")),
        0o755,
        "-p upload of a 4755 file"
    );
    assert_eq!(
        mode_of(&home.join("sgid")),
        0o775,
        "-p upload of a 2775 file"
    );

    assert_ok(&server.scp(&["-O", path_str(&suid), &remote("suid-plain")]));
    assert_eq!(mode_of(&home.join("suid-plain")) & 0o7000, 0);

    // A directory with setgid and sticky bits, recursively with -p.
    let dir = local.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inner"), b"in").unwrap();
    set_mode(&dir.join("inner"), 0o6755);
    set_mode(&dir, 0o3775);
    assert_ok(&server.scp(&["-O", "-r", "-p", path_str(&dir), &remote("")]));
    assert_eq!(mode_of(&home.join("shared")), 0o775);
    assert_eq!(mode_of(&home.join("shared/inner")), 0o755);
}

#[test]
fn upload_names_new_existing_dir_and_spaces() {
    let server = alice();
    let home = server.home("alice");
    let local = tempfile::tempdir().unwrap();
    let f = local.path().join("f.txt");
    std::fs::write(&f, b"contents of f\n").unwrap();

    // A new name.
    assert_ok(&server.scp(&["-O", path_str(&f), &remote("renamed.txt")]));
    assert_eq!(
        std::fs::read(home.join("renamed.txt")).unwrap(),
        b"contents of f\n"
    );
    assert!(!home.join("f.txt").exists());

    // Into an existing directory, with and without a trailing slash, and
    // by absolute path in the box.
    assert_ok(&server.ssh("alice", &["mkdir inbox"], b""));
    assert_ok(&server.scp(&["-O", path_str(&f), &remote("inbox")]));
    assert_eq!(
        std::fs::read(home.join("inbox/f.txt")).unwrap(),
        b"contents of f\n"
    );
    std::fs::remove_file(home.join("inbox/f.txt")).unwrap();
    assert_ok(&server.scp(&["-O", path_str(&f), &remote("inbox/")]));
    assert_eq!(
        std::fs::read(home.join("inbox/f.txt")).unwrap(),
        b"contents of f\n"
    );
    assert_ok(&server.scp(&["-O", path_str(&f), &remote("/inbox/g.txt")]));
    assert_eq!(
        std::fs::read(home.join("inbox/g.txt")).unwrap(),
        b"contents of f\n"
    );

    // A missing directory on the way is an error, nothing created.
    let out = server.scp(&["-O", path_str(&f), &remote("nowhere/f.txt")]);
    assert_failed(&out, "upload into a missing directory");
    assert!(!home.join("nowhere").exists());

    // A name with a space, quoted for the remote shell.
    assert_ok(&server.scp(&["-O", path_str(&f), &remote("\"with space\"")]));
    assert_eq!(
        std::fs::read(home.join("with space")).unwrap(),
        b"contents of f\n"
    );
    assert_ok(&server.scp(&["-O", path_str(&f), &remote("'single quoted'")]));
    assert_eq!(
        std::fs::read(home.join("single quoted")).unwrap(),
        b"contents of f\n"
    );
    assert_ok(&server.scp(&["-O", path_str(&f), &remote("back\\ slashed")]));
    assert_eq!(
        std::fs::read(home.join("back slashed")).unwrap(),
        b"contents of f\n"
    );

    // Unquoted, it is two words: ambiguous, and nothing is written.
    let out = server.scp(&["-O", path_str(&f), &remote("two words")]);
    assert_failed(&out, "upload to an unquoted name with a space");
    assert!(!home.join("two").exists() && !home.join("words").exists());
    assert!(!home.join("two words").exists());

    // A local name with a space travels in the C record as is.
    let spaced = local.path().join("my file.txt");
    std::fs::write(&spaced, b"spaced\n").unwrap();
    assert_ok(&server.scp(&["-O", path_str(&spaced), &remote("")]));
    assert_eq!(
        std::fs::read(home.join("my file.txt")).unwrap(),
        b"spaced\n"
    );

    // And back down. OpenSSH's client checks the names it receives
    // against the remote path as a glob (CVE-2019-6111), which a backslash
    // passes and quotes do not; `-T` turns that check off.
    let down = local.path().join("down");
    assert_ok(&server.scp(&["-O", &remote("with\\ space"), path_str(&down)]));
    assert_eq!(std::fs::read(&down).unwrap(), b"contents of f\n");
    let down2 = local.path().join("down2");
    assert_ok(&server.scp(&["-O", "-T", &remote("'my file.txt'"), path_str(&down2)]));
    assert_eq!(std::fs::read(&down2).unwrap(), b"spaced\n");
    let down3 = local.path().join("down3");
    assert_ok(&server.scp(&["-O", "-T", &remote("\"with space\""), path_str(&down3)]));
    assert_eq!(std::fs::read(&down3).unwrap(), b"contents of f\n");

    // Shell syntax in a remote name is refused, never run.
    let out = server.scp(&["-O", path_str(&f), &remote("`touch pwned`")]);
    assert_failed(&out, "upload to a backquoted name");
    let out = server.scp(&["-O", path_str(&f), &remote("x;touch pwned")]);
    assert_failed(&out, "upload to a name with ;");
    assert!(!home.join("pwned").exists());
    assert!(leftovers(&home).is_empty());
}

#[test]
fn quota_refuses_a_file_that_does_not_fit_and_keeps_the_old_one() {
    const QUOTA: u64 = 1024 * 1024;
    let server = start(AccountSpec::new("alice").quota(QUOTA));
    let home = server.home("alice");
    let local = tempfile::tempdir().unwrap();

    let old = pattern(100_000, 11);
    let f = local.path().join("f");
    std::fs::write(&f, &old).unwrap();
    assert_ok(&server.scp(&["-O", path_str(&f), &remote("f")]));
    assert_eq!(std::fs::read(home.join("f")).unwrap(), old);

    // A bigger file of the same name that does not fit.
    let big = local.path().join("big");
    std::fs::write(&big, pattern(2_000_000, 12)).unwrap();
    let out = server.scp(&["-O", path_str(&big), &remote("f")]);
    assert_failed(&out, "an upload over the quota");
    assert!(
        text(&out.stderr).contains("quota exceeded"),
        "no `quota exceeded` in the message\n{}",
        describe(&out)
    );
    assert!(
        std::fs::read(home.join("f")).unwrap() == old,
        "the old file changed"
    );
    assert!(
        stored_bytes(&home) <= QUOTA,
        "usage {} over the quota",
        stored_bytes(&home)
    );
    assert!(leftovers(&home).is_empty(), "{:?}", leftovers(&home));

    // A batch: the files that fit arrive, the one that does not is refused.
    let a = local.path().join("a");
    let b = local.path().join("b");
    let c = local.path().join("c");
    std::fs::write(&a, pattern(300_000, 13)).unwrap();
    std::fs::write(&b, pattern(2_000_000, 14)).unwrap();
    std::fs::write(&c, pattern(300_000, 15)).unwrap();
    let out = server.scp(&["-O", path_str(&a), path_str(&b), path_str(&c), &remote("")]);
    assert_failed(&out, "a batch with one file over the quota");
    assert!(
        text(&out.stderr).contains("quota exceeded"),
        "{}",
        describe(&out)
    );
    assert_eq!(std::fs::read(home.join("a")).unwrap(), pattern(300_000, 13));
    assert_eq!(std::fs::read(home.join("c")).unwrap(), pattern(300_000, 15));
    assert!(!home.join("b").exists(), "the file over the quota arrived");
    assert!(
        stored_bytes(&home) <= QUOTA,
        "usage {} over the quota",
        stored_bytes(&home)
    );
    assert!(leftovers(&home).is_empty(), "{:?}", leftovers(&home));

    // Exactly what is left still fits; one byte more does not.
    let left = QUOTA - stored_bytes(&home);
    let over = local.path().join("over");
    std::fs::write(&over, pattern(usize::try_from(left + 1).unwrap(), 16)).unwrap();
    let out = server.scp(&["-O", path_str(&over), &remote("over")]);
    assert_failed(&out, "an upload one byte over the quota");
    assert!(!home.join("over").exists());
    let exact = local.path().join("exact");
    std::fs::write(&exact, pattern(usize::try_from(left).unwrap(), 17)).unwrap();
    let out = server.scp(&["-O", path_str(&exact), &remote("exact")]);
    assert_ok(&out);
    assert_eq!(stored_bytes(&home), QUOTA);
    assert!(leftovers(&home).is_empty(), "{:?}", leftovers(&home));
}

#[test]
fn recursive_upload_over_the_quota_stops_at_the_file_that_does_not_fit() {
    const QUOTA: u64 = 512 * 1024;
    let server = start(AccountSpec::new("alice").quota(QUOTA));
    let home = server.home("alice");
    let local = tempfile::tempdir().unwrap();
    let dir = local.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("small"), pattern(100_000, 21)).unwrap();
    std::fs::write(dir.join("huge"), pattern(1_000_000, 22)).unwrap();
    let out = server.scp(&["-O", "-r", path_str(&dir), &remote("")]);
    assert_failed(&out, "a tree over the quota");
    assert!(
        text(&out.stderr).contains("quota exceeded"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        std::fs::read(home.join("dir/small")).unwrap(),
        pattern(100_000, 21)
    );
    assert!(!home.join("dir/huge").exists());
    assert!(stored_bytes(&home) <= QUOTA);
    assert!(leftovers(&home).is_empty(), "{:?}", leftovers(&home));
}

#[test]
fn a_dropped_upload_leaves_the_old_file_and_no_temp_file() {
    let server = alice();
    let home = server.home("alice");
    let old = pattern(10_000, 31);
    std::fs::write(home.join("big.bin"), &old).unwrap();
    let local = tempfile::tempdir().unwrap();
    let big = local.path().join("big.bin");
    // 200 MiB (sparse, reads as zeros), sent at 2 MiB/s: never finishes.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(200 * 1024 * 1024)
        .unwrap();

    let mut cmd = server.scp_command(&["-O", "-l", "16384", path_str(&big), &remote("big.bin")]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();

    // Wait until the upload is under way: the temp file exists and grows.
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the upload never started; home: {:?}",
            contents(&home).keys().collect::<Vec<_>>()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "scp ended before it was killed"
        );
        if !leftovers(&home).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "scp ended before it was killed"
    );
    // The client vanishes: scp and its ssh, SIGKILL.
    let group = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    rustix::process::kill_process_group(group, rustix::process::Signal::KILL).unwrap();
    child.wait().unwrap();

    let start = Instant::now();
    while !leftovers(&home).is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let names: Vec<PathBuf> = contents(&home).into_keys().collect();
    assert_eq!(
        names,
        vec![PathBuf::from("big.bin")],
        "the home after a dropped upload"
    );
    assert!(
        std::fs::read(home.join("big.bin")).unwrap() == old,
        "the old file changed"
    );

    // The server still serves.
    let again = local.path().join("small");
    std::fs::write(&again, b"after\n").unwrap();
    assert_ok(&server.scp(&["-O", path_str(&again), &remote("small")]));
    assert_eq!(std::fs::read(home.join("small")).unwrap(), b"after\n");
}

#[test]
fn a_dropped_scp_process_alone_also_leaves_the_old_file() {
    // Only the scp process is killed; its ssh sees stdin close mid-file.
    let server = alice();
    let home = server.home("alice");
    let old = pattern(5_000, 32);
    std::fs::write(home.join("big.bin"), &old).unwrap();
    let local = tempfile::tempdir().unwrap();
    let big = local.path().join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(200 * 1024 * 1024)
        .unwrap();
    let mut cmd = server.scp_command(&["-O", "-l", "16384", path_str(&big), &remote("big.bin")]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    while leftovers(&home).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "scp ended early");
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    while !leftovers(&home).is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Clean up the orphaned ssh, if any, before asserting.
    let group = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let names: Vec<PathBuf> = contents(&home).into_keys().collect();
    assert_eq!(names, vec![PathBuf::from("big.bin")]);
    assert!(std::fs::read(home.join("big.bin")).unwrap() == old);
}

#[test]
fn host_paths_are_not_downloaded() {
    let server = alice();
    let home = server.home("alice");
    let local = tempfile::tempdir().unwrap();
    let host_passwd = std::fs::read("/etc/passwd").unwrap();

    for path in [
        "/etc/passwd",
        "../../etc/passwd",
        "../../../../../../../etc/passwd",
    ] {
        let dest = local.path().join("x");
        let out = server.scp(&["-O", &remote(path), path_str(&dest)]);
        assert_failed(&out, &format!("download of {path} from an empty box"));
        assert!(!dest.exists(), "{path}: a local file was written");
        assert_no_host_passwd_in(&out.stdout, path);
        assert_no_host_passwd_in(&out.stderr, path);
    }

    // A box file of that name is what those paths mean.
    std::fs::create_dir(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/passwd"), b"box passwd\n").unwrap();
    for path in ["/etc/passwd", "../../etc/passwd", "/../../../etc/passwd"] {
        let dest = local.path().join("y");
        let out = server.scp(&["-O", &remote(path), path_str(&dest)]);
        assert_ok(&out);
        let got = std::fs::read(&dest).unwrap();
        assert!(got != host_passwd, "{path}: got the host's /etc/passwd");
        assert_eq!(got, b"box passwd\n", "{path}");
        std::fs::remove_file(&dest).unwrap();
    }
}

#[test]
fn uploads_stay_inside_the_home() {
    let server = alice();
    let home = server.home("alice");
    let base = server.dir.path().to_owned();
    let local = tempfile::tempdir().unwrap();
    let f = local.path().join("f");
    std::fs::write(&f, b"escape attempt\n").unwrap();
    let tag = std::process::id();
    let host_tmp = PathBuf::from(format!("/tmp/sftpbox-scp-escape-{tag}"));
    let _ = std::fs::remove_file(&host_tmp);

    for target in [
        "../../x".to_owned(),
        "../x".to_owned(),
        "/../../../x".to_owned(),
        host_tmp.display().to_string(),
        format!("{}/outside", base.display()),
    ] {
        let out = server.scp(&["-O", path_str(&f), &remote(&target)]);
        assert!(
            !base.join("x").exists(),
            "{target}: wrote the deployment folder"
        );
        assert!(!base.join("homes/x").exists(), "{target}: wrote homes/");
        assert!(!base.join("outside").exists(), "{target}: wrote outside");
        assert!(!host_tmp.exists(), "{target}: wrote the host's /tmp");
        if out.status.success() {
            // It must have landed inside the box.
            let inside = contents(&home)
                .into_values()
                .any(|c| c == Content::File(b"escape attempt\n".to_vec()));
            assert!(inside, "{target}: succeeded but is nowhere in the home");
        }
    }
}

#[test]
fn planted_symlinks_do_not_lead_out_of_the_home() {
    let server = alice();
    let home = server.home("alice");
    let local = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, b"victim stays\n").unwrap();
    let host_passwd = std::fs::read("/etc/passwd").unwrap();

    std::os::unix::fs::symlink("/etc/passwd", home.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc/passwd", home.join("rel")).unwrap();
    std::os::unix::fs::symlink(&victim, home.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path(), home.join("outdir")).unwrap();
    std::fs::create_dir(home.join("tree")).unwrap();
    std::fs::write(home.join("tree/ok.txt"), b"ok\n").unwrap();
    std::os::unix::fs::symlink("/etc", home.join("tree/etc")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", home.join("tree/pw")).unwrap();

    for name in ["abs", "rel", "out", "outdir/victim.txt"] {
        let dest = local.path().join("got");
        let out = server.scp(&["-O", &remote(name), path_str(&dest)]);
        if dest.exists() {
            let got = std::fs::read(&dest).unwrap();
            assert!(got != host_passwd, "{name}: read the host's /etc/passwd");
            assert!(got != b"victim stays\n", "{name}: read a host file");
            assert_no_host_passwd_in(&got, name);
            std::fs::remove_file(&dest).unwrap();
        }
        assert_failed(&out, &format!("download through the symlink {name}"));
    }

    // Recursively: the links in the tree are not followed out.
    let back = tempfile::tempdir().unwrap();
    let _ = server.scp(&["-O", "-r", &remote("tree"), path_str(back.path())]);
    for (rel, content) in contents(back.path()) {
        if let Content::File(content) = content {
            assert!(
                content != host_passwd,
                "tree/{}: host passwd",
                rel.display()
            );
            assert_no_host_passwd_in(&content, &rel.display().to_string());
        }
    }
    assert_eq!(
        std::fs::read(back.path().join("tree/ok.txt")).unwrap(),
        b"ok\n"
    );

    // Uploads through the links do not write the host file.
    let f = local.path().join("f");
    std::fs::write(&f, b"overwritten\n").unwrap();
    let _ = server.scp(&["-O", path_str(&f), &remote("out")]);
    let _ = server.scp(&["-O", path_str(&f), &remote("outdir/victim.txt")]);
    let _ = server.scp(&["-O", path_str(&f), &remote("outdir")]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim stays\n");
    assert_eq!(
        names_in(outside.path()),
        BTreeSet::from(["victim.txt".to_owned()]),
        "something was written outside"
    );
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd);
}

#[test]
fn a_name_that_is_not_utf8_is_copied_byte_for_byte_both_ways() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let server = alice();
    let odd = OsStr::from_bytes(b"caf\xe9-\xff.txt");
    let planted = server.home("alice").join("down");
    std::fs::create_dir(&planted).unwrap();
    std::fs::write(planted.join(odd), b"latin-1 name").unwrap();
    std::fs::write(planted.join("plain.txt"), b"plain").unwrap();

    let local = tempfile::tempdir().unwrap();
    let out = server.scp(&["-O", "-r", &remote("down"), path_str(local.path())]);
    assert_ok(&out);
    assert_eq!(
        std::fs::read(local.path().join("down").join(odd)).unwrap(),
        b"latin-1 name"
    );

    let up = local.path().join("up");
    std::fs::create_dir(&up).unwrap();
    let other = OsStr::from_bytes(b"a\xfe");
    std::fs::write(up.join(other), b"fe").unwrap();
    std::fs::write(up.join(OsStr::from_bytes(b"a\xff")), b"ff").unwrap();
    let out = server.scp(&["-O", "-r", path_str(&up), &remote("up")]);
    assert_ok(&out);
    let stored = server.home("alice").join("up");
    assert_eq!(std::fs::read(stored.join(other)).unwrap(), b"fe");
    assert_eq!(
        std::fs::read(stored.join(OsStr::from_bytes(b"a\xff"))).unwrap(),
        b"ff"
    );
    assert_eq!(std::fs::read_dir(&stored).unwrap().count(), 2);
}

#[test]
fn default_sftp_mode_scp_puts_and_gets() {
    let server = alice();
    let home = server.home("alice");
    let local = tempfile::tempdir().unwrap();
    let data = pattern(300_000, 51);
    let f = local.path().join("f.bin");
    std::fs::write(&f, &data).unwrap();
    let put = server.scp(&[path_str(&f), &remote("sftp-mode.bin")]);
    assert!(
        std::fs::read(home.join("sftp-mode.bin")).unwrap() == data,
        "SFTP-mode put: the file did not arrive intact\n{}",
        describe(&put)
    );
    let down = local.path().join("down.bin");
    let get = server.scp(&[&remote("sftp-mode.bin"), path_str(&down)]);
    assert!(
        std::fs::read(&down).unwrap() == data,
        "SFTP-mode get: the file did not arrive intact\n{}",
        describe(&get)
    );
    // scp exits with the status of its ssh, which is the remote
    // `exit-status` of the sftp channel (0 from sshd when sftp-server ends).
    assert_ok(&put);
    assert_ok(&get);
}

#[test]
fn default_sftp_mode_scp_recursive_with_preserve() {
    let server = alice();
    let home = server.home("alice");
    let local = tempfile::tempdir().unwrap();
    let entries = make_tree(local.path());
    let src = local.path().join("tree");
    let out = server.scp(&["-r", "-p", path_str(&src), &remote("")]);
    assert_eq!(
        contents(&home.join("tree")),
        contents(&src),
        "{}",
        describe(&out)
    );
    // OpenSSH's SFTP client sets the times and modes of files (and of
    // directories after their contents).
    let files: Vec<(&str, u32, u64)> = entries
        .iter()
        .copied()
        .filter(|(rel, _, _)| home.join("tree").join(rel).is_file())
        .collect();
    assert_tree_preserved(&home.join("tree"), &files, "SFTP-mode upload");
    assert_ok(&out);
}

#[test]
fn verbose_legacy_scp_tells_the_clients_stderr_each_record_with_names_escaped() {
    let server = alice();
    std::fs::write(server.home("alice").join("bell\x07"), b"ring").unwrap();
    let local = tempfile::tempdir().unwrap();
    let down = local.path().join("down");
    let out = server.scp(&["-O", "-v", &remote("bell\x07"), path_str(&down)]);
    assert_ok(&out);
    assert_eq!(std::fs::read(&down).unwrap(), b"ring");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Sending file modes: C0644 4 bell\\x07\n"),
        "{stderr}"
    );

    let up = server.local_file("up\x07", b"hello");
    let out = server.scp(&["-O", "-v", path_str(&up), &remote("")]);
    assert_ok(&out);
    assert_eq!(
        std::fs::read(server.home("alice").join("up\x07")).unwrap(),
        b"hello"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Sink: C0644 5 up\\x07\n"), "{stderr}");
}
