//! Quota: exact accounting, refusal that keeps earlier bytes, space given back,
//! sharing between sessions and survival across restarts.

mod common;

use common::client::put;
use common::files::{PeakUsage, pattern, stored_bytes};
use common::process::assert_ok;
use common::{AccountSpec, TestServer};

const QUOTA: u64 = 1024 * 1024;

/// Asserts that `err` refuses a write for the quota and gives `used`, the
/// bytes stored before that write, and the quota itself.
fn assert_refused(err: &str, used: u64) {
    let expected = format!("quota exceeded: used {used} of {QUOTA} bytes");
    assert!(
        err.contains(&expected),
        "expected {expected:?} in the refusal {err:?}"
    );
}

#[test]
fn an_upload_over_the_quota_fails_and_keeps_older_bytes() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    assert_ok(&server.sftp_put("alice", "keep", &pattern(1000, 2)));
    let out = server.sftp_put("alice", "big", &pattern(QUOTA as usize + 1, 1));
    assert!(!out.status.success());
    // OpenSSH's sftp prints only the status code ("Failure") for a failed
    // write; the server also sends the reason on the channel's stderr,
    // which sftp prints, once for the handle. (The status message itself
    // is checked through the russh client in
    // `a_refused_write_names_the_bytes_used_and_allowed`.)
    let stderr = String::from_utf8_lossy(&out.stderr);
    let told: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("sftpbox: "))
        .collect();
    assert_eq!(told.len(), 1, "stderr: {stderr}");
    assert!(
        told.iter()
            .all(|line| line.contains("/big") && line.contains("quota exceeded: used ")),
        "stderr: {stderr}"
    );
    assert_eq!(
        std::fs::read(server.home("alice").join("keep")).unwrap(),
        pattern(1000, 2)
    );
    let stored = stored_bytes(&server.home("alice"));
    assert!(stored <= QUOTA, "stored {stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_names_the_bytes_used_and_allowed() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let sftp = server.russh_sftp("alice").await;
    let home = server.home("alice");
    // The names first, while there is room for the home to grow by them.
    put(&sftp, "more", b"").await.unwrap();
    put(&sftp, "one-more", b"").await.unwrap();
    put(&sftp, "most", b"").await.unwrap();
    let most = QUOTA - stored_bytes(&home) - 100;
    put(&sftp, "most", &pattern(most as usize, 7))
        .await
        .unwrap();
    // 101 bytes, one write, where 100 are left: refused, with the usage
    // before it and the quota, and nothing of it stored.
    let err = put(&sftp, "more", &pattern(101, 8)).await.unwrap_err();
    assert_refused(&err, QUOTA - 100);
    assert_eq!(stored_bytes(&home), QUOTA - 100);
    assert_eq!(std::fs::read(home.join("more")).unwrap(), b"");
    // The figure was the server's real count: the 100 bytes left fit, and
    // then nothing more does.
    put(&sftp, "more", &pattern(100, 8)).await.unwrap();
    assert_eq!(stored_bytes(&home), QUOTA);
    let err = put(&sftp, "one-more", b"x").await.unwrap_err();
    assert_refused(&err, QUOTA);
    // A home at its quota gains no name either, not even an empty file.
    let err = put(&sftp, "empty", b"").await.unwrap_err();
    assert_refused(&err, QUOTA);
    assert!(!home.join("empty").exists());
    assert_eq!(
        std::fs::read(home.join("most")).unwrap(),
        pattern(most as usize, 7)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_and_truncating_give_space_back() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let sftp = server.russh_sftp("alice").await;
    let home = server.home("alice");
    let half = pattern(QUOTA as usize / 2 + 10, 3);
    put(&sftp, "a", &half).await.unwrap();
    // The second half is refused at the write that would cross the quota;
    // the message gives what was stored at that moment, which is what the
    // home holds once the upload has ended (no later write fits either).
    let err = put(&sftp, "b", &half).await.unwrap_err();
    let used = stored_bytes(&home);
    assert!(used <= QUOTA, "used {used} of {QUOTA}");
    assert_refused(&err, used);
    sftp.remove_file("a").await.unwrap();
    put(&sftp, "b", &half).await.unwrap();
    // Overwriting in place does not count twice.
    put(&sftp, "b", &half).await.unwrap();
    assert_eq!(std::fs::read(home.join("b")).unwrap(), half);
    // Truncating gives the space back.
    let mut attrs = russh_sftp::protocol::FileAttributes::empty();
    attrs.size = Some(0);
    sftp.set_metadata("b", attrs).await.unwrap();
    put(&sftp, "c", &half).await.unwrap();
    assert_eq!(std::fs::metadata(home.join("b")).unwrap().len(), 0);
}

/// Uploads `size` bytes to each of `names` at once, one SFTP session per
/// upload; the results in the order of `names`.
async fn upload_at_once(
    server: &TestServer,
    names: &[&str],
    size: usize,
) -> Vec<Result<(), String>> {
    let mut sessions = Vec::new();
    for _ in names {
        sessions.push(server.russh_sftp("alice").await);
    }
    let uploads = sessions.into_iter().zip(names).map(|(sftp, name)| {
        let name = (*name).to_owned();
        tokio::spawn(async move { put(&sftp, &name, &upload_data(&name, size)).await })
    });
    let mut results = Vec::new();
    for upload in uploads.collect::<Vec<_>>() {
        results.push(upload.await.unwrap_or_else(|err| Err(err.to_string())));
    }
    results
}

/// What [`upload_at_once`] writes to `name`.
fn upload_data(name: &str, size: usize) -> Vec<u8> {
    pattern(size, name.bytes().map(u64::from).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_of_one_account_share_the_quota() {
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let home = server.create_home("alice");
    // Made while there is room: a new name needs room for its folder to
    // grow, which the end of this test will not have.
    {
        let sftp = server.russh_sftp("alice").await;
        put(&sftp, "rest", b"").await.unwrap();
        put(&sftp, "one-more", b"").await.unwrap();
    }
    let peak = PeakUsage::watch(&home);
    let fifth = QUOTA as usize / 5;

    // Four fifths at once fit: every upload succeeds, byte for byte.
    let fitting = ["fits1", "fits2", "fits3", "fits4"];
    let results = upload_at_once(&server, &fitting, fifth).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for name in fitting {
        assert!(
            std::fs::read(home.join(name)).unwrap() == upload_data(name, fifth),
            "{name} differs from what was uploaded"
        );
    }

    // Four more fifths at once, where one fits: the sessions together never
    // take the usage past the quota, and each refusal says so.
    let over = ["over1", "over2", "over3", "over4"];
    let results = upload_at_once(&server, &over, fifth).await;
    let fitted = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        fitted <= 1,
        "{fitted} of the four fifths fitted: {results:?}"
    );
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(err.contains("quota exceeded"), "{err}");
    }
    let peak = peak.stop();
    assert!(peak <= QUOTA, "usage reached {peak} of {QUOTA}");

    // The shared count did not drift: exactly what is left still fits, and
    // one byte more does not.
    let used = stored_bytes(&home);
    let sftp = server.russh_sftp("alice").await;
    let left = usize::try_from(QUOTA - used).unwrap();
    put(&sftp, "rest", &pattern(left, 9)).await.unwrap();
    assert_eq!(stored_bytes(&home), QUOTA);
    let err = put(&sftp, "one-more", b"x").await.unwrap_err();
    assert_refused(&err, QUOTA);
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
