//! No sequence of requests reaches a byte outside the home: `..`, absolute
//! paths, symlinks made by the client or planted by an administrator, hard
//! links, renames and setstat.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used)]

mod common;

use common::files::mode_of;
use common::process::{assert_ok, text};
use common::{AccountSpec, TestServer};

/// A server with alice, a secret file beside the homes and a decoy inside
/// alice's home at the path the secret has on the host.
fn setup() -> (TestServer, std::path::PathBuf) {
    let server = TestServer::start(&[AccountSpec::new("alice"), AccountSpec::new("bob")]);
    let secret = server.dir.path().join("secret.txt");
    std::fs::write(&secret, b"TOP SECRET").unwrap();
    server.create_home("alice");
    let bob = server.create_home("bob");
    std::fs::write(bob.join("bobs.txt"), b"bob only").unwrap();
    (server, secret)
}

fn download(server: &TestServer, user: &str, remote: &str) -> (bool, Vec<u8>, String) {
    let local = server.local("downloaded");
    let _ = std::fs::remove_file(&local);
    let out = server.sftp_batch(user, &format!("get \"{remote}\" {}\n", local.display()));
    let bytes = std::fs::read(&local).unwrap_or_default();
    (out.status.success(), bytes, text(&out.stderr))
}

#[test]
fn dot_dot_and_absolute_paths_stay_in_the_home() {
    let (server, secret) = setup();
    for remote in [
        "../secret.txt".to_owned(),
        "../../secret.txt".to_owned(),
        "/../secret.txt".to_owned(),
        secret.display().to_string(),
        "../bob/bobs.txt".to_owned(),
        "/etc/passwd".to_owned(),
    ] {
        let (ok, bytes, _) = download(&server, "alice", &remote);
        assert!(!ok, "{remote} was readable");
        assert!(bytes.is_empty(), "{remote} leaked bytes");
    }
}

#[test]
fn a_planted_absolute_symlink_resolves_inside_the_home() {
    let (server, secret) = setup();
    let home = server.home("alice");
    std::os::unix::fs::symlink(&secret, home.join("planted")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", home.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink("../../../../secret.txt", home.join("relative")).unwrap();
    for link in ["planted", "passwd-link", "relative"] {
        let (ok, bytes, _) = download(&server, "alice", link);
        assert!(!ok, "{link} was followed outside");
        assert!(bytes.is_empty());
    }
    // An absolute target that exists inside the box is read inside the box.
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/passwd"), b"in-box passwd").unwrap();
    let (ok, bytes, err) = download(&server, "alice", "passwd-link");
    assert!(ok, "{err}");
    assert_eq!(bytes, b"in-box passwd");
}

#[test]
fn client_made_symlinks_cannot_reach_out() {
    let (server, secret) = setup();
    let script = format!(
        "symlink {} s1\nsymlink ../../.. s2\nsymlink /  s3\n",
        secret.display()
    );
    let _ = server.sftp_batch("alice", &script);
    for remote in ["s1", "s2/secret.txt", "s3/../secret.txt"] {
        let (ok, bytes, _) = download(&server, "alice", remote);
        assert!(!ok, "{remote}");
        assert!(bytes.is_empty());
    }
    // Writing through a link to a directory outside creates nothing outside.
    std::os::unix::fs::symlink(server.dir.path(), server.home("alice").join("outdir")).unwrap();
    let _ = server.sftp_put("alice", "outdir/planted-by-client", b"x");
    assert!(!server.dir.path().join("planted-by-client").exists());
}

#[test]
fn renames_and_hard_links_cannot_leave_or_enter_the_home() {
    let (server, secret) = setup();
    let home = server.home("alice");
    std::fs::write(home.join("mine.txt"), b"mine").unwrap();
    let script = format!(
        "-rename mine.txt ../escaped.txt\n-ln {} stolen\n-ln ../bob/bobs.txt stolen2\n",
        secret.display()
    );
    let _ = server.sftp_batch("alice", &script);
    assert!(!server.dir.path().join("homes/escaped.txt").exists());
    assert!(!server.dir.path().join("escaped.txt").exists());
    for name in ["stolen", "stolen2"] {
        if let Ok(bytes) = std::fs::read(home.join(name)) {
            assert_ne!(bytes, b"TOP SECRET");
            assert_ne!(bytes, b"bob only");
        }
    }
    // `..` at the root is the root: the rename lands in the home.
    assert!(home.join("escaped.txt").exists() || home.join("mine.txt").exists());
}

#[test]
fn setuid_and_setgid_bits_are_never_set() {
    let (server, _) = setup();
    let home = server.home("alice");
    std::fs::write(home.join("tool"), b"#!/bin/sh\n").unwrap();
    let _ = server.sftp_batch("alice", "chmod 6755 tool\n");
    let mode = mode_of(&home.join("tool"));
    assert_eq!(mode & 0o7000, 0, "mode {mode:o}");
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn two_accounts_cannot_see_each_other() {
    let (server, _) = setup();
    let out = server.sftp_batch("alice", "ls -a /\nls -a ..\n");
    assert_ok(&out);
    assert!(!text(&out.stdout).contains("bobs.txt"));
    let (ok, bytes, _) = download(&server, "alice", "/bob/bobs.txt");
    assert!(!ok && bytes.is_empty());
}

#[test]
fn homes_are_created_private_on_first_login() {
    let (server, _) = setup();
    assert_eq!(mode_of(&server.home("alice")), 0o700);
}
