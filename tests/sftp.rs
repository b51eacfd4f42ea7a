//! SFTP through OpenSSH `sftp` and the russh client: byte-exact transfers,
//! listings, renames, links and the OpenSSH extensions.

mod common;

use common::client::put;
use common::files::{pattern, sha256_hex, stored_bytes};
use common::process::{assert_failed, assert_ok, text};
use common::{AccountSpec, TestServer};

#[test]
fn put_and_get_are_byte_exact_at_edge_sizes() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let sizes = [0usize, 1, 32 * 1024 + 1, 65 * 1024 * 1024 + 7];
    let mut script = String::new();
    for (i, size) in sizes.iter().enumerate() {
        let path = server.local_file(&format!("in{i}"), &pattern(*size, i as u64));
        script.push_str(&format!("put {} f{i}\n", path.display()));
        let back = server.local(&format!("out{i}"));
        script.push_str(&format!("get f{i} {}\n", back.display()));
    }
    let out = server.sftp_batch("alice", &script);
    assert_ok(&out);
    for (i, size) in sizes.iter().enumerate() {
        let sent = pattern(*size, i as u64);
        let stored = std::fs::read(server.home("alice").join(format!("f{i}"))).unwrap();
        let back = std::fs::read(server.local(&format!("out{i}"))).unwrap();
        assert_eq!(stored.len(), *size);
        assert_eq!(sha256_hex(&stored), sha256_hex(&sent), "stored f{i}");
        assert_eq!(sha256_hex(&back), sha256_hex(&sent), "downloaded f{i}");
    }
}

#[test]
fn listings_look_like_ls_and_names_round_trip() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let home = server.home("alice");
    let out = server.sftp_batch("alice", "mkdir docs\nmkdir 'with space'\n");
    assert_ok(&out);
    std::fs::write(home.join("docs/report.txt"), b"hello").unwrap();
    let out = server.sftp_batch("alice", "ls -l docs\nls\n");
    assert_ok(&out);
    let listing = text(&out.stdout);
    let line = listing
        .lines()
        .find(|l| l.ends_with("report.txt"))
        .unwrap_or_else(|| panic!("no report.txt in:\n{listing}"));
    assert!(line.starts_with("-rw"), "{line}");
    assert!(line.contains("alice"), "owner shown as the account: {line}");
    assert!(line.contains(" 5 "), "size shown: {line}");
    assert!(listing.contains("with space"), "{listing}");
}

#[test]
fn rename_refuses_to_clobber_but_posix_rename_replaces() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let home = server.create_home("alice");
    std::fs::write(home.join("a"), b"first").unwrap();
    std::fs::write(home.join("b"), b"second").unwrap();
    // OpenSSH's rename uses posix-rename@openssh.com when offered: it replaces.
    let out = server.sftp_batch("alice", "rename a b\n");
    assert_ok(&out);
    assert_eq!(std::fs::read(home.join("b")).unwrap(), b"first");
    assert!(!home.join("a").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_rename_fails_when_the_target_exists() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let sftp = server.russh_sftp("alice").await;
    put(&sftp, "x", b"one").await.unwrap();
    put(&sftp, "y", b"two").await.unwrap();
    assert!(sftp.rename("x", "y").await.is_err());
    assert_eq!(
        std::fs::read(server.home("alice").join("y")).unwrap(),
        b"two"
    );
    sftp.rename("x", "z").await.unwrap();
    assert_eq!(
        std::fs::read(server.home("alice").join("z")).unwrap(),
        b"one"
    );
}

#[test]
fn symlinks_and_hard_links_are_made_inside_the_home() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let home = server.create_home("alice");
    std::fs::write(home.join("data"), b"payload").unwrap();
    let out = server.sftp_batch("alice", "symlink data soft\nln data hard\n");
    assert_ok(&out);
    assert_eq!(
        std::fs::read_link(home.join("soft")).unwrap().to_str(),
        Some("data")
    );
    assert_eq!(std::fs::read(home.join("hard")).unwrap(), b"payload");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(home.join("data")).unwrap().nlink(), 2);
}

/// One paramiko session as alice, with the SSH version string `argv[3]`
/// (empty: paramiko's own), that sends SYMLINK("first", "second").
const PARAMIKO_SYMLINK: &str = r#"
import sys
import paramiko

port, key, version = int(sys.argv[1]), sys.argv[2], sys.argv[3]
transport = paramiko.Transport(("127.0.0.1", port))
if version:
    transport.local_version = version
transport.connect(username="alice", pkey=paramiko.Ed25519Key.from_private_key_file(key))
sftp = paramiko.SFTPClient.from_transport(transport)
sftp.mkdir("d")
sftp.symlink("first", "d/second")
transport.close()
"#;

#[test]
fn symlink_takes_its_paths_in_the_order_the_client_sends_them() {
    // WinSCP sends the draft's order (link, target) to a server that is not
    // OpenSSH; everyone else OpenSSH's (target, link), as paramiko does.
    for (version, link, target) in [
        ("SSH-2.0-WinSCP_release_6.3", "first", "d/second"),
        ("", "d/second", "first"),
    ] {
        let server = TestServer::start(&[AccountSpec::new("alice")]);
        let out = server.paramiko(PARAMIKO_SYMLINK, &[version]);
        assert_ok(&out);
        let made = std::fs::read_link(server.home("alice").join(link))
            .unwrap_or_else(|err| panic!("{version:?}: no link at {link}: {err}"));
        assert_eq!(made, std::path::Path::new(target), "{version:?}");
    }
}

#[test]
fn df_reports_the_quota_as_the_disk_size() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(10 * 1024 * 1024)]);
    let out = server.sftp_batch("alice", "df\n");
    assert_ok(&out);
    let report = text(&out.stdout);
    // `df` prints Size Used Avail in KiB: the quota is 10240 KiB.
    assert!(report.contains("10240"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_at_once_each_get_their_bytes() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let sftp = server.russh_sftp("alice").await;
        tasks.push(tokio::spawn(async move {
            let data = pattern(300_000 + i as usize, i);
            let name = format!("session{i}");
            put(&sftp, &name, &data).await.unwrap();
            let back = sftp.read(&name).await.unwrap();
            assert_eq!(back, data);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for i in 0..20u64 {
        let stored = std::fs::read(server.home("alice").join(format!("session{i}"))).unwrap();
        assert_eq!(stored, pattern(300_000 + i as usize, i));
    }
}

#[test]
fn unknown_handles_and_missing_files_get_clear_errors() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let out = server.sftp_batch("alice", "get nothing-here /dev/null\n");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("not found") || err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn cp_copies_inside_the_server_and_respects_the_quota() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(3_000_000)]);
    let local = server.local_file("f", &pattern(1_200_000, 7));
    assert_ok(&server.sftp_batch("alice", &format!("put {} f\ncp f g\n", local.display())));
    let home = server.home("alice");
    assert_eq!(
        std::fs::read(home.join("g")).unwrap(),
        pattern(1_200_000, 7)
    );
    // A third copy would cross the 3 MB quota.
    let out = server.sftp_batch("alice", "cp f h\n");
    assert!(!out.status.success());
    let stored = stored_bytes(&home);
    assert!(stored <= 3_000_000, "stored {stored}");
}

#[test]
fn cp_of_a_file_onto_itself_is_refused_instead_of_filling_the_disk() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let local = server.local_file("f", &pattern(100_000, 8));
    let script = format!("put {} f\nln f g\n", local.display());
    assert_ok(&server.sftp_batch("alice", &script));
    // `g` is the same inode under another name: sftp truncates it on open,
    // then asks copy-data to copy the file onto itself.
    for target in ["f", "g"] {
        let out = server.sftp_batch("alice", &format!("cp f {target}\n"));
        assert_failed(&out, &format!("cp f {target}"));
        let size = std::fs::metadata(server.home("alice").join("f"))
            .unwrap()
            .len();
        assert!(size <= 100_000, "cp f {target} grew the file to {size}");
    }
}
