//! Quota: exact accounting, refusal that keeps earlier bytes, space given back,
//! sharing between sessions and survival across restarts.

mod common;

use common::client::put;
use common::files::{pattern, stored_bytes};
use common::process::assert_ok;
use common::{AccountSpec, TestServer};

const QUOTA: u64 = 1024 * 1024;

#[test]
fn an_upload_over_the_quota_fails_with_the_figures_and_keeps_older_bytes() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    assert_ok(&server.sftp_put("alice", "keep", &pattern(1000, 2)));
    let out = server.sftp_put("alice", "big", &pattern(QUOTA as usize + 1, 1));
    assert!(!out.status.success());
    // OpenSSH's sftp prints only the status code ("Failure") for a failed write;
    // the message itself is checked through the russh client below.
    assert_eq!(
        std::fs::read(server.home("alice").join("keep")).unwrap(),
        pattern(1000, 2)
    );
    let stored = std::fs::metadata(server.home("alice").join("big"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(stored + 1000 <= QUOTA, "stored {stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_and_truncating_give_space_back() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let sftp = server.russh_sftp("alice").await;
    let half = pattern(QUOTA as usize / 2 + 10, 3);
    put(&sftp, "a", &half).await.unwrap();
    let err = put(&sftp, "b", &half).await.unwrap_err();
    assert!(err.contains("quota exceeded"), "{err}");
    assert!(err.contains(&QUOTA.to_string()), "limit named: {err}");
    sftp.remove_file("a").await.unwrap();
    put(&sftp, "b", &half).await.unwrap();
    // Overwriting in place does not count twice.
    put(&sftp, "b", &half).await.unwrap();
    assert_eq!(std::fs::read(server.home("alice").join("b")).unwrap(), half);
    // Truncating gives the space back.
    let mut attrs = russh_sftp::protocol::FileAttributes::empty();
    attrs.size = Some(0);
    sftp.set_metadata("b", attrs).await.unwrap();
    put(&sftp, "c", &half).await.unwrap();
    assert_eq!(
        std::fs::metadata(server.home("alice").join("b"))
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_of_one_account_share_the_quota() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let mut tasks = Vec::new();
    for i in 0..4u64 {
        let sftp = server.russh_sftp("alice").await;
        tasks.push(tokio::spawn(async move {
            let data = pattern(QUOTA as usize / 3, i);
            put(&sftp, &format!("part{i}"), &data).await.is_ok()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() {
            ok += 1;
        }
    }
    assert!(ok <= 3, "{ok} thirds fitted");
    let used = stored_bytes(&server.home("alice"));
    assert!(used <= QUOTA, "used {used} of {QUOTA}");
}

#[test]
fn usage_survives_a_restart() {
    let mut server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let part = pattern(QUOTA as usize * 3 / 4, 4);
    assert_ok(&server.sftp_put("alice", "first", &part));
    server.restart();
    let out = server.sftp_put("alice", "second", &part);
    assert!(!out.status.success(), "a restart must not forget the usage");
    assert!(
        !server.home("alice").join("second").exists()
            || std::fs::metadata(server.home("alice").join("second"))
                .unwrap()
                .len()
                < QUOTA / 4
    );
}

#[test]
fn hard_links_count_once() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let local = server.local_file("part", &pattern(QUOTA as usize * 3 / 5, 5));
    let out = server.sftp_batch(
        "alice",
        &format!("put {} one\nln one two\nln one three\n", local.display()),
    );
    assert_ok(&out);
    // 3/5 used; one more 3/5 would not fit, a 1/5 file does.
    assert_ok(&server.sftp_put("alice", "four", &pattern(QUOTA as usize / 5, 6)));
}
