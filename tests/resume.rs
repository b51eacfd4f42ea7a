//! Resume: `reput`/`reget` (sftp -a) finish interrupted transfers and keep what is there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{AccountSpec, TestServer, assert_ok, pattern, sha256_hex};

#[test]
fn reput_appends_the_missing_tail() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let full = pattern(3 * 1024 * 1024 + 123, 9);
    let local = server.dir.path().join("full");
    std::fs::write(&local, &full).unwrap();
    assert_ok(&server.sftp_batch("alice", "pwd\n"));
    // An interrupted upload left the first 1 MiB + 5 bytes.
    std::fs::write(server.home("alice").join("big"), &full[..1024 * 1024 + 5]).unwrap();
    assert_ok(&server.sftp_batch("alice", &format!("reput {} big\n", local.display())));
    let stored = std::fs::read(server.home("alice").join("big")).unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&full));
}

#[test]
fn reget_finishes_a_partial_download() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let full = pattern(2 * 1024 * 1024 + 77, 10);
    assert_ok(&server.sftp_batch("alice", "pwd\n"));
    std::fs::write(server.home("alice").join("big"), &full).unwrap();
    let local = server.dir.path().join("partial");
    std::fs::write(&local, &full[..700_000]).unwrap();
    assert_ok(&server.sftp_batch("alice", &format!("reget big {}\n", local.display())));
    assert_eq!(
        sha256_hex(&std::fs::read(&local).unwrap()),
        sha256_hex(&full)
    );
}

#[test]
fn put_with_dash_a_resumes_too() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let full = pattern(1024 * 1024, 11);
    let local = server.dir.path().join("full");
    std::fs::write(&local, &full).unwrap();
    assert_ok(&server.sftp_batch("alice", "pwd\n"));
    std::fs::write(server.home("alice").join("f"), &full[..1000]).unwrap();
    assert_ok(&server.sftp_batch_with("alice", &format!("put {} f\n", local.display()), &["-a"]));
    assert_eq!(std::fs::read(server.home("alice").join("f")).unwrap(), full);
}
