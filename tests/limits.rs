//! Network-facing limits: login grace, connections per address, sessions per
//! account, channels per connection.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::client::connect_for_banner;
use common::process::text;
use common::{AccountSpec, TestServer};
use sftpbox::config::Limits;

fn limits() -> Limits {
    Limits {
        shutdown_grace: Duration::from_secs(2),
        ..Limits::default()
    }
}

#[test]
fn a_client_that_never_logs_in_is_dropped_after_the_login_grace_time() {
    let server = TestServer::start_with_limits(
        &[AccountSpec::new("alice")],
        Limits {
            login_grace: Duration::from_secs(2),
            ..limits()
        },
    );
    let started = Instant::now();
    let mut socket = std::net::TcpStream::connect(server.addr()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut sink = Vec::new();
    // The server sends its banner, then closes the connection at the deadline.
    let _ = socket.read_to_end(&mut sink);
    let waited = started.elapsed();
    assert!(
        sink.starts_with(b"SSH-2.0-sftpbox"),
        "banner: {:?}",
        String::from_utf8_lossy(&sink)
    );
    assert!(
        waited >= Duration::from_millis(1500),
        "closed too early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(15), "not closed: {waited:?}");
}

/// How soon a refused connection must see its end, counted from connect.
/// The server closes it as soon as it accepts it, in milliseconds; one that
/// stalls it instead holds it until a slot frees or the login grace time
/// (30 s by default) runs out.
const REFUSED_CLOSE_BOUND: Duration = Duration::from_secs(2);

#[test]
fn connections_past_the_per_address_cap_are_closed_at_once() {
    let server = TestServer::start_with_limits(
        &[AccountSpec::new("alice")],
        Limits {
            max_connections_per_address: 2,
            ..limits()
        },
    );
    // Two connections the server has taken: each got its banner, so each
    // holds a slot.
    let mut held = Vec::new();
    for _ in 0..2 {
        let (stream, banner) = connect_for_banner(server.addr(), Duration::from_secs(10));
        assert!(
            banner.starts_with(b"SSH-2.0-sftpbox"),
            "a connection within the cap got {:?}",
            text(&banner)
        );
        held.push(stream);
    }

    // The third is closed at once: EOF (or a reset) well before the bound,
    // and not a byte of SSH.
    let started = Instant::now();
    let mut third = std::net::TcpStream::connect(server.addr()).unwrap();
    third.set_read_timeout(Some(REFUSED_CLOSE_BOUND)).unwrap();
    let mut received = Vec::new();
    let read = third.read_to_end(&mut received);
    let waited = started.elapsed();
    match read {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!(
            "the connection past the cap was still open after {waited:?} ({err}): \
             the server stalls it instead of closing it"
        ),
    }
    assert!(
        received.is_empty(),
        "the connection past the cap got {:?}",
        text(&received)
    );
    assert!(
        waited < REFUSED_CLOSE_BOUND,
        "the connection past the cap was closed only after {waited:?}"
    );

    // The cap counts open connections: once one closes, a new one is served.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_stream, banner) = connect_for_banner(server.addr(), Duration::from_secs(10));
        if banner.starts_with(b"SSH-2.0-sftpbox") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection was served after one of the two closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_past_its_session_cap_is_refused() {
    let server = TestServer::start_with_limits(
        &[AccountSpec::new("alice")],
        Limits {
            max_sessions_per_account: 2,
            ..limits()
        },
    );
    let _one = server.russh_login("alice").await;
    let _two = server.russh_login("alice").await;
    let mut third = server.russh_connect().await;
    let key = russh::keys::load_secret_key(server.client_key(), None).unwrap();
    let result = third
        .authenticate_publickey(
            "alice",
            russh::keys::PrivateKeyWithHashAlg::new(std::sync::Arc::new(key), None),
        )
        .await
        .unwrap();
    assert!(!result.success(), "a third session was let in");
    drop(_one);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _again = server.russh_login("alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_past_the_per_connection_cap_are_refused() {
    let server = TestServer::start_with_limits(
        &[AccountSpec::new("alice")],
        Limits {
            max_channels_per_connection: 3,
            ..limits()
        },
    );
    let handle = server.russh_login("alice").await;
    let mut opened = Vec::new();
    for _ in 0..3 {
        opened.push(handle.channel_open_session().await.unwrap());
    }
    assert!(handle.channel_open_session().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_cap_counts_open_channels_not_every_channel_ever_opened() {
    let server = TestServer::start_with_limits(
        &[AccountSpec::new("alice")],
        Limits {
            max_channels_per_connection: 2,
            ..limits()
        },
    );
    let handle = server.russh_login("alice").await;
    // One command after another, as rclone runs a checksum per file.
    for round in 0..6 {
        let mut channel = handle.channel_open_session().await.unwrap();
        channel.exec(true, "pwd").await.unwrap();
        let mut output = Vec::new();
        let mut status = None;
        while let Some(message) = channel.wait().await {
            match message {
                russh::ChannelMsg::Data { data } => output.extend_from_slice(&data),
                russh::ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                _ => {}
            }
        }
        assert_eq!(status, Some(0), "round {round}");
        assert_eq!(output, b"/\n", "round {round}");
    }
}
