//! Logging in: both methods, refusals that look alike, and what OpenSSH sees.

mod common;

use common::process::{assert_ok, text};
use common::{AccountSpec, TestServer};

#[test]
fn openssh_logs_in_with_a_key() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let out = server.sftp_batch("alice", "pwd\n");
    assert_ok(&out);
    assert!(text(&out.stdout).contains("Remote working directory: /"));
}

#[test]
fn openssh_logs_in_with_a_password() {
    let server = TestServer::start(&[AccountSpec::new("alice").password_only()]);
    let out = server.sftp_batch_password("alice", &server.password("alice"), "pwd\n");
    assert_ok(&out);
}

#[test]
fn a_wrong_password_and_an_unknown_account_are_refused_alike() {
    let server = TestServer::start(&[AccountSpec::new("alice").password_only()]);
    let wrong = server.sftp_batch_password("alice", "not-the-password", "pwd\n");
    let unknown = server.sftp_batch_password("mallory", "whatever", "pwd\n");
    assert!(!wrong.status.success());
    assert!(!unknown.status.success());
    assert_eq!(
        text(&wrong.stderr).replace("alice", "X"),
        text(&unknown.stderr).replace("mallory", "X")
    );
    assert!(
        text(&wrong.stderr).contains("Permission denied"),
        "{}",
        text(&wrong.stderr)
    );
}

#[test]
fn a_key_not_listed_for_the_account_is_refused() {
    let server = TestServer::start(&[
        AccountSpec::new("alice"),
        AccountSpec::new("bob").password_only(),
    ]);
    // The harness key belongs to alice only.
    let out = server.sftp_batch("bob", "pwd\n");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("Permission denied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_password_leaves_password_on_offer_for_another_try() {
    let server = TestServer::start(&[AccountSpec::new("alice").password_only()]);
    let mut handle = server.russh_connect().await;
    let first = handle
        .authenticate_password("alice", "wrong")
        .await
        .unwrap();
    match first {
        russh::client::AuthResult::Failure {
            remaining_methods, ..
        } => assert!(
            remaining_methods.contains(&russh::MethodKind::Password),
            "password dropped from {remaining_methods:?}"
        ),
        russh::client::AuthResult::Success => panic!("wrong password accepted"),
    }
    let second = handle
        .authenticate_password("alice", server.password("alice"))
        .await
        .unwrap();
    assert!(second.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forwarding_is_refused() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let handle = server.russh_login("alice").await;
    let forward = handle
        .channel_open_direct_tcpip("127.0.0.1", u32::from(server.port()), "127.0.0.1", 5000)
        .await;
    assert!(forward.is_err(), "direct-tcpip must be refused");
    assert!(handle.tcpip_forward("127.0.0.1", 0).await.is_err());
}

#[test]
fn a_disabled_account_cannot_log_in() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let path = server.dir.path().join("accounts.toml");
    let text_before = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{text_before}\n").replace("[users.alice]\n", "[users.alice]\ndisabled = true\n"),
    )
    .unwrap();
    server.reload_accounts();
    let out = server.sftp_batch("alice", "pwd\n");
    assert!(!out.status.success());
}
