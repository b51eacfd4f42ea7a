//! Resume: `reput`/`reget` (sftp -a) finish interrupted transfers and keep what is there.

mod common;

use common::files::{pattern, sha256_hex};
use common::process::assert_ok;
use common::{AccountSpec, TestServer};

#[test]
fn reput_appends_the_missing_tail() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let full = pattern(3 * 1024 * 1024 + 123, 9);
    let local = server.local_file("full", &full);
    let home = server.create_home("alice");
    // An interrupted upload left the first 1 MiB + 5 bytes.
    std::fs::write(home.join("big"), &full[..1024 * 1024 + 5]).unwrap();
    assert_ok(&server.sftp_batch("alice", &format!("reput {} big\n", local.display())));
    let stored = std::fs::read(home.join("big")).unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&full));
}

#[test]
fn reget_finishes_a_partial_download() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let full = pattern(2 * 1024 * 1024 + 77, 10);
    let home = server.create_home("alice");
    std::fs::write(home.join("big"), &full).unwrap();
    let local = server.local_file("partial", &full[..700_000]);
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
    let local = server.local_file("full", &full);
    let home = server.create_home("alice");
    std::fs::write(home.join("f"), &full[..1000]).unwrap();
    assert_ok(&server.sftp_batch_with("alice", &format!("put {} f\n", local.display()), &["-a"]));
    assert_eq!(std::fs::read(home.join("f")).unwrap(), full);
}
