//! What entries cost: `max_files` caps the files, folders and symlinks a
//! home holds, whichever way they are made, and with a byte quota every
//! entry pays for its room on disk (a symlink its target, a folder its
//! size), so a home at its quota cannot grow by empty ones.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::client::put;
use common::files::{name_room, names_in, pattern, stored, stored_bytes};
use common::process::{assert_failed, assert_ok, describe, text};
use common::{AccountSpec, TestServer};

/// The refusal of a new entry past `max_files`.
fn file_limit(used: u64, limit: u64) -> String {
    format!("file limit reached: used {used} of {limit} files")
}

fn remote(path: &str) -> String {
    format!("alice@127.0.0.1:{path}")
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_files_caps_files_folders_and_symlinks_and_deleting_makes_room() {
    let server = TestServer::start(&[AccountSpec::new("alice").max_files(4)]);
    let home = server.create_home("alice");
    let sftp = server.russh_sftp("alice").await;
    put(&sftp, "a", b"one").await.unwrap();
    sftp.create_dir("d").await.unwrap();
    put(&sftp, "d/b", b"two").await.unwrap();
    sftp.symlink("a", "d/l").await.unwrap();
    assert_eq!(stored(&home).files, 4);

    // Every kind of new entry is refused, with the figures.
    let full = file_limit(4, 4);
    let err = put(&sftp, "c", b"x").await.unwrap_err();
    assert!(err.contains(&full), "{err}");
    let err = sftp.create_dir("e").await.unwrap_err().to_string();
    assert!(err.contains(&full), "{err}");
    let err = sftp.symlink("a", "m").await.unwrap_err().to_string();
    assert!(err.contains(&full), "{err}");
    assert_eq!(names_in(&home), ["a", "d"].map(String::from).into());
    assert_eq!(stored(&home).files, 4);

    // What exists is still written, renamed and linked: a hard link is a
    // second name of a counted file, not a new one.
    put(&sftp, "a", b"rewritten").await.unwrap();
    sftp.rename("d/b", "b").await.unwrap();
    sftp.hardlink("a", "d/a2").await.unwrap();
    assert_eq!(std::fs::read(home.join("d/a2")).unwrap(), b"rewritten");
    assert_eq!(stored(&home).files, 4);

    // Deleting always works and frees exactly what it removed.
    sftp.remove_file("d/a2").await.unwrap();
    let err = sftp.create_dir("e").await.unwrap_err().to_string();
    assert!(err.contains(&full), "one of two names freed a file: {err}");
    sftp.remove_file("d/l").await.unwrap();
    sftp.create_dir("e").await.unwrap();
    let err = put(&sftp, "c", b"x").await.unwrap_err();
    assert!(err.contains(&full), "{err}");
    sftp.remove_dir("e").await.unwrap();
    sftp.remove_file("b").await.unwrap();
    put(&sftp, "c", b"x").await.unwrap();
    sftp.create_dir("f").await.unwrap();
    assert_eq!(stored(&home).files, 4);
}

#[test]
fn the_file_count_is_taken_from_disk_at_start_and_after_a_restart() {
    let mut server = TestServer::start(&[AccountSpec::new("alice").max_files(5)]);
    // Made on the host before the server ever saw the home: a folder, a
    // file with two names (one file) and a symlink.
    let home = server.home("alice");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::create_dir(home.join("d")).unwrap();
    std::fs::write(home.join("d/f"), b"x").unwrap();
    std::fs::hard_link(home.join("d/f"), home.join("again")).unwrap();
    std::os::unix::fs::symlink("d/f", home.join("link")).unwrap();
    assert_eq!(stored(&home).files, 3);
    let out = server.sftp_batch("alice", "mkdir one\nmkdir two\n");
    assert_ok(&out);
    let out = server.sftp_batch("alice", "mkdir three\n");
    assert_failed(&out, "a sixth entry where max_files is 5");
    assert!(!home.join("three").exists());

    // A restart counts again from disk, exactly: after one removal and one
    // entry added behind the server's back, still full.
    std::fs::remove_dir(home.join("one")).unwrap();
    std::fs::write(home.join("host-made"), b"").unwrap();
    server.restart();
    let out = server.sftp_batch("alice", "mkdir three\n");
    assert_failed(&out, "a sixth entry after a restart");
    let out = server.sftp_batch("alice", "rm host-made\nmkdir three\n");
    assert_ok(&out);
    assert_eq!(stored(&home).files, 5);
}

#[test]
fn scp_and_the_built_ins_print_the_file_limit() {
    let server = TestServer::start(&[AccountSpec::new("alice").max_files(3)]);
    let home = server.create_home("alice");
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    for name in ["f1", "f2", "f3", "f4"] {
        std::fs::write(tree.join(name), pattern(100, 1)).unwrap();
    }

    // scp -r: the folder and two files arrive, the next file is refused.
    let out = server.scp(&["-O", "-r", path_str(&tree), &remote("")]);
    assert_failed(&out, "scp -r of five entries where max_files is 3");
    assert!(
        text(&out.stderr).contains(&file_limit(3, 3)),
        "{}",
        describe(&out)
    );
    assert_eq!(names_in(&home.join("tree")).len(), 2);
    assert_eq!(stored(&home).files, 3);
    assert!(
        names_in(&home.join("tree"))
            .iter()
            .all(|n| n.starts_with('f'))
    );

    // The built-ins: mkdir, touch, cp and mv print it the way GNU prints
    // an errno, and fail.
    for (line, expected) in [
        ("mkdir new", "mkdir: cannot create directory 'new': "),
        ("touch new", "touch: cannot touch 'new': "),
        ("cp -r tree copy", "cp: cannot create directory 'copy': "),
    ] {
        let out = server.ssh("alice", &[line], b"");
        assert_failed(&out, line);
        let expected = format!("{expected}{}", file_limit(3, 3));
        assert!(
            text(&out.stderr).contains(&expected),
            "{line}: {}",
            describe(&out)
        );
    }
    assert_eq!(stored(&home).files, 3);
    // Renaming adds no file; deleting frees one, which mkdir takes.
    assert_ok(&server.ssh("alice", &["mv tree moved"], b""));
    let moved: Vec<String> = names_in(&home.join("moved")).into_iter().collect();
    assert_ok(&server.ssh("alice", &[&format!("rm moved/{}", moved[0])], b""));
    assert_ok(&server.ssh("alice", &["mkdir new"], b""));
    let out = server.ssh("alice", &["quota"], b"");
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("alice: 3 of 3 files, 0 available"),
        "{}",
        describe(&out)
    );
    assert_eq!(stored(&home).files, 3);
}

/// Fills alice's home to exactly its quota: one file of what is left.
async fn fill_to_the_quota(sftp: &russh_sftp::client::SftpSession, home: &Path, quota: u64) {
    put(sftp, "fill", b"").await.unwrap();
    let left = quota - stored_bytes(home);
    put(sftp, "fill", &pattern(usize::try_from(left).unwrap(), 3))
        .await
        .unwrap();
    assert_eq!(stored_bytes(home), quota);
}

/// How many empty folders and symlinks [`a_home_at_its_quota_gains_no_empty_folder_or_symlink`]
/// tries to make, each.
const ATTEMPTS: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_at_its_quota_gains_no_empty_folder_or_symlink() {
    const QUOTA: u64 = 1024 * 1024;
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let home = server.create_home("alice");
    let sftp = server.russh_sftp("alice").await;
    fill_to_the_quota(&sftp, &home, QUOTA).await;
    let before = stored(&home);
    let mut made = 0;
    for i in 0..ATTEMPTS {
        match sftp.create_dir(format!("d{i:0>200}")).await {
            Ok(()) => made += 1,
            Err(err) => assert!(err.to_string().contains("quota exceeded"), "{err}"),
        }
        match sftp.symlink("fill", format!("l{i:0>200}")).await {
            Ok(()) => made += 1,
            Err(err) => assert!(err.to_string().contains("quota exceeded"), "{err}"),
        }
    }
    assert_eq!(made, 0, "entries made in a home at its quota");
    assert_eq!(stored(&home), before);
    assert_eq!(names_in(&home), ["fill"].map(String::from).into());

    // Deleting makes room: a symlink then costs its target's length, a
    // folder its size, and the count follows the disk.
    sftp.remove_file("fill").await.unwrap();
    let empty = stored_bytes(&home);
    let target = "t".repeat(3000);
    sftp.symlink(target.as_str(), "long").await.unwrap();
    sftp.create_dir("dir").await.unwrap();
    let on_disk = stored(&home);
    assert_eq!(
        on_disk.bytes,
        empty + 3000 + std::fs::symlink_metadata(home.join("dir")).unwrap().len()
    );
    // The server's count is what is on disk: what is left, less the room a
    // new name needs, fits exactly, and then nothing more.
    put(&sftp, "rest", b"").await.unwrap();
    let left = QUOTA - stored_bytes(&home);
    put(&sftp, "rest", &pattern(usize::try_from(left).unwrap(), 4))
        .await
        .unwrap();
    assert_eq!(stored_bytes(&home), QUOTA);
    let err = sftp.create_dir("more").await.unwrap_err().to_string();
    assert!(err.contains("quota exceeded"), "{err}");
    assert!(name_room(&home) > 0);
}

#[test]
fn the_built_ins_make_no_entry_in_a_home_at_its_quota() {
    const QUOTA: u64 = 256 * 1024;
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let home = server.create_home("alice");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sftp = server.russh_sftp("alice").await;
        fill_to_the_quota(&sftp, &home, QUOTA).await;
    });
    let before = stored(&home);
    for line in ["mkdir a b c", "touch e", "cp fill copy"] {
        let out = server.ssh("alice", &[line], b"");
        assert_failed(&out, line);
        assert!(
            text(&out.stderr).contains("quota exceeded"),
            "{line}: {}",
            describe(&out)
        );
    }
    assert_eq!(stored(&home), before);
    assert_eq!(names_in(&home), ["fill"].map(String::from).into());
}
