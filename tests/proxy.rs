//! Behind a load balancer: the PROXY protocol header (v1 and v2) from a
//! trusted balancer names the client for the log, `sessions --json`, the
//! per-address cap and the penalties; an untrusted peer's header is SSH
//! noise; a trusted peer without a valid header is refused without holding
//! a client's slot.
//!
//! The balancer here is the test itself, connecting from 127.0.0.2 (the
//! only trusted address) and writing the header before handing the stream
//! to the russh client; the announced clients are documentation addresses
//! (198.51.100.0/24, 2001:db8::/32), which only exist inside the header.
//! `tests/haproxy.rs` puts a real HAProxy in front.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::AccountSpec;
use common::attack::{
    Greeting, PasswordOutcome, Ssh, greeting_from, key_login, key_login_from, loopback, sftp_on,
    ssh_over, tcp_from, wait_until_closed,
};
use common::binary::ServedBinary;
use common::process::{describe, sftpbox};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The sftpbox.toml line that trusts the test's balancer.
const TRUST_BALANCER: &str = "proxy_protocol_from = [\"127.0.0.2/32\"]\n";

/// Generous bound for what the server does "at once".
const PROMPTLY: Duration = Duration::from_secs(10);

/// The trusted balancer's address.
fn balancer() -> IpAddr {
    loopback(2)
}

fn at(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// A v1 (text) header announcing `client`.
fn v1(client: SocketAddr) -> Vec<u8> {
    let (family, destination) = match client {
        SocketAddr::V4(_) => ("TCP4", "192.0.2.1"),
        SocketAddr::V6(_) => ("TCP6", "2001:db8::1"),
    };
    format!(
        "PROXY {family} {} {destination} {} 2222\r\n",
        client.ip(),
        client.port()
    )
    .into_bytes()
}

/// v2's signature, the first 12 bytes of every binary header.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A v2 (binary) PROXY header announcing `client`, built by hand from the
/// protocol's layout: signature, version 2 | PROXY, family | STREAM,
/// length, source and destination addresses, source and destination ports.
fn v2(client: SocketAddr) -> Vec<u8> {
    let mut addresses = Vec::new();
    let family = match client.ip() {
        IpAddr::V4(ip) => {
            addresses.extend_from_slice(&ip.octets());
            addresses.extend_from_slice(&[192, 0, 2, 1]);
            0x11
        }
        IpAddr::V6(ip) => {
            addresses.extend_from_slice(&ip.octets());
            addresses.extend_from_slice(
                &"2001:db8::1"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets(),
            );
            0x21
        }
    };
    addresses.extend_from_slice(&client.port().to_be_bytes());
    addresses.extend_from_slice(&2222u16.to_be_bytes());
    let mut header = V2_SIGNATURE.to_vec();
    header.extend_from_slice(&[0x21, family]);
    header.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
    header.extend_from_slice(&addresses);
    header
}

/// A v2 LOCAL header: the balancer speaks for itself (a health check).
fn v2_local() -> Vec<u8> {
    let mut header = V2_SIGNATURE.to_vec();
    header.extend_from_slice(&[0x20, 0x00, 0, 0]);
    header
}

/// A TCP connection from `source` that has sent `header`.
async fn with_header(source: IpAddr, server: SocketAddr, header: &[u8]) -> TcpStream {
    let mut stream = tcp_from(source, server).await.unwrap();
    stream.write_all(header).await.unwrap();
    stream
}

/// A connection through the balancer, logged in as `user` with `key`.
async fn proxied_login(server: &ServedBinary, header: &[u8], user: &str) -> Result<Ssh, String> {
    let stream = with_header(balancer(), server.addr(), header).await;
    let mut handle = ssh_over(stream).await?;
    key_login(&mut handle, user, &server.client_key()).await?;
    Ok(handle)
}

/// One wrong password through the balancer.
async fn proxied_wrong_password(server: SocketAddr, header: Vec<u8>) -> PasswordOutcome {
    let stream = with_header(balancer(), server, &header).await;
    let mut handle = match ssh_over(stream).await {
        Ok(handle) => handle,
        Err(err) => return PasswordOutcome::NoAnswer(err),
    };
    match handle
        .authenticate_password("alice", "not-the-password")
        .await
    {
        Ok(result) if result.success() => PasswordOutcome::Accepted,
        Ok(_) => PasswordOutcome::Refused,
        Err(err) => PasswordOutcome::NoAnswer(err.to_string()),
    }
}

/// What the server first sends on a connection through the balancer.
async fn proxied_greeting(server: &ServedBinary, header: &[u8]) -> Greeting {
    let mut stream = with_header(balancer(), server.addr(), header).await;
    first_bytes(&mut stream).await
}

async fn first_bytes(stream: &mut TcpStream) -> Greeting {
    let mut buf = vec![0u8; 256];
    match tokio::time::timeout(PROMPTLY, stream.read(&mut buf)).await {
        Err(_) => Greeting::Silent,
        Ok(Ok(0)) | Ok(Err(_)) => Greeting::ClosedBeforeBanner,
        Ok(Ok(n)) => Greeting::Banner(String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()),
    }
}

/// `sftpbox sessions --json` against `server`'s control socket.
fn sessions(server: &ServedBinary) -> Vec<Value> {
    let config = server.dir.path().join("sftpbox.toml");
    let out = sftpbox(
        server.dir.path(),
        &["sessions", "--json", "--config", config.to_str().unwrap()],
    );
    assert!(out.status.success(), "sessions failed\n{}", describe(&out));
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(sessions) => sessions,
        other => panic!("sessions --json printed no array: {other}"),
    }
}

/// Waits until the server's log has a line with every one of `needles`.
fn log_line_with(server: &ServedBinary, needles: &[&str]) -> Option<String> {
    let deadline = Instant::now() + PROMPTLY;
    loop {
        let line = server
            .log()
            .lines()
            .find(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned);
        if line.is_some() || Instant::now() >= deadline {
            return line;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_and_v2_headers_name_the_client_in_the_log_and_in_sessions() {
    let server = ServedBinary::start(&[AccountSpec::new("alice")], TRUST_BALANCER);
    let by_v1 = proxied_login(&server, &v1(at("198.51.100.7:40001")), "alice")
        .await
        .unwrap();
    let by_v2 = proxied_login(&server, &v2(at("[2001:db8::7]:40002")), "alice")
        .await
        .unwrap();
    let by_v2_v4 = proxied_login(&server, &v2(at("198.51.100.8:40003")), "alice")
        .await
        .unwrap();
    let _channel = sftp_on(&by_v1).await.unwrap();

    let mut peers: Vec<String> = sessions(&server)
        .iter()
        .map(|s| s["peer"].as_str().unwrap().to_owned())
        .collect();
    peers.sort();
    assert_eq!(
        peers,
        [
            "198.51.100.7:40001",
            "198.51.100.8:40003",
            "[2001:db8::7]:40002"
        ]
    );
    for client in [
        "198.51.100.7:40001",
        "[2001:db8::7]:40002",
        "198.51.100.8:40003",
    ] {
        let line = log_line_with(&server, &["login", "accepted", &format!("peer={client}")]);
        let line = line.unwrap_or_else(|| panic!("no login line for {client}:\n{}", server.log()));
        assert!(line.contains("via=127.0.0.2:"), "{line}");
    }
    assert_eq!(
        server.log_count("peer=127.0.0.2"),
        0,
        "the balancer appeared as a peer:\n{}",
        server.log()
    );
    drop((by_v1, by_v2, by_v2_v4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_header_and_a_direct_client_keep_their_own_address() {
    let server = ServedBinary::start(&[AccountSpec::new("alice")], TRUST_BALANCER);
    // v2 LOCAL: the balancer's own connection (a health check, an admin).
    let _local = proxied_login(&server, &v2_local(), "alice").await.unwrap();
    // Not trusted, no header: a client like any other.
    let _direct = key_login_from(loopback(3), server.addr(), "alice", &server.client_key())
        .await
        .unwrap();
    let mut peers: Vec<String> = sessions(&server)
        .iter()
        .map(|s| s["peer"].as_str().unwrap().to_owned())
        .collect();
    peers.sort();
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert!(peers[0].starts_with("127.0.0.2:"), "{peers:?}");
    assert!(peers[1].starts_with("127.0.0.3:"), "{peers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_cap_counts_the_announced_client_not_the_balancer() {
    let settings = format!("{TRUST_BALANCER}[limits]\nmax_connections_per_address = 2\n");
    let server = ServedBinary::start(&[AccountSpec::new("alice")], &settings);
    let client = at("198.51.100.7:40001");
    let first = proxied_login(&server, &v1(client), "alice").await.unwrap();
    let second = proxied_login(&server, &v2(at("198.51.100.7:40002")), "alice")
        .await
        .unwrap();
    assert_eq!(
        proxied_greeting(&server, &v1(at("198.51.100.7:40003"))).await,
        Greeting::ClosedBeforeBanner,
        "a third connection of 198.51.100.7 got past its cap of 2"
    );
    let line = log_line_with(
        &server,
        &[
            "too many connections from this address",
            "peer=198.51.100.7:40003",
        ],
    );
    assert!(
        line.is_some_and(|l| l.contains("via=127.0.0.2:")),
        "{}",
        server.log()
    );
    // The balancer already carries three; other clients still come in.
    let other = proxied_login(&server, &v2(at("198.51.100.9:40004")), "alice")
        .await
        .unwrap();
    let again = proxied_login(&server, &v1(at("198.51.100.10:40005")), "alice")
        .await
        .unwrap();
    assert_eq!(sessions(&server).len(), 4);
    drop(first);
    // Its slot is back once one of its connections ends.
    let deadline = Instant::now() + PROMPTLY;
    let third = loop {
        match proxied_login(&server, &v1(at("198.51.100.7:40006")), "alice").await {
            Ok(handle) => break handle,
            Err(err) if Instant::now() >= deadline => panic!("slot never came back: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    drop((second, other, again, third));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn penalties_fall_on_the_announced_client_not_the_balancer() {
    // authfail 5 s each, enforced above min = 15 s: four failures block.
    let server = ServedBinary::start(&[AccountSpec::new("alice")], TRUST_BALANCER);
    let attempts: Vec<_> = (41001..41005)
        .map(|port| {
            let header = v2(at(&format!("198.51.100.7:{port}")));
            tokio::spawn(proxied_wrong_password(server.addr(), header))
        })
        .collect();
    for attempt in attempts {
        assert_eq!(attempt.await.unwrap(), PasswordOutcome::Refused);
    }
    assert_eq!(
        proxied_greeting(&server, &v1(at("198.51.100.7:41005"))).await,
        Greeting::ClosedBeforeBanner,
        "198.51.100.7 is not under penalty after 4 failed logins"
    );
    let line = log_line_with(
        &server,
        &["source under penalty", "peer=198.51.100.7:41005"],
    );
    assert!(
        line.is_some_and(|l| l.contains("via=127.0.0.2:")),
        "{}",
        server.log()
    );
    // Another client through the same balancer, and the balancer itself
    // (LOCAL), are not caught by 198.51.100.7's penalty.
    proxied_login(&server, &v1(at("198.51.100.8:41006")), "alice")
        .await
        .unwrap();
    assert!(matches!(
        proxied_greeting(&server, &v2_local()).await,
        Greeting::Banner(line) if line.starts_with("SSH-2.0-")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_header_is_not_honoured() {
    let server = ServedBinary::start(&[AccountSpec::new("alice")], TRUST_BALANCER);
    // 127.0.0.3 is not trusted: its header is the start of an SSH stream,
    // which fails the identification exchange.
    let stream = with_header(loopback(3), server.addr(), &v1(at("198.51.100.66:40001"))).await;
    let outcome = match ssh_over(stream).await {
        Ok(mut handle) => key_login(&mut handle, "alice", &server.client_key()).await,
        Err(err) => Err(err),
    };
    assert!(
        outcome.is_err(),
        "a login behind an untrusted header went through"
    );
    let stream = with_header(loopback(3), server.addr(), &v2(at("198.51.100.66:40002"))).await;
    assert!(ssh_over(stream).await.is_err());
    assert!(sessions(&server).is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        server.log_count("198.51.100.66"),
        0,
        "the untrusted header was believed:\n{}",
        server.log()
    );
    // The same peer without a header is served as itself.
    let _direct = key_login_from(loopback(3), server.addr(), "alice", &server.client_key())
        .await
        .unwrap();
    let peers = sessions(&server);
    assert!(
        peers[0]["peer"].as_str().unwrap().starts_with("127.0.0.3:"),
        "{peers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_peer_without_a_valid_header_is_refused_without_holding_a_slot() {
    // One unauthenticated connection at a time, one per address: a header
    // still awaited must hold neither.
    let settings = format!(
        "{TRUST_BALANCER}[limits]\nlogin_grace_seconds = 3\nmax_startups = 1\nmax_connections_per_address = 1\n"
    );
    let server = ServedBinary::start(&[AccountSpec::new("alice")], &settings);
    let addr = server.addr();

    // Slow: a header that never ends.
    let mut slow = with_header(balancer(), addr, b"PROXY TCP4 198.51.").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let meanwhile = proxied_login(&server, &v1(at("198.51.100.7:40001")), "alice").await;
    assert!(
        meanwhile.is_ok(),
        "a stalled header held a slot: {:?}",
        meanwhile.as_ref().err()
    );
    assert!(
        wait_until_closed(&mut slow, PROMPTLY).await.is_some(),
        "the stalled header was never refused"
    );
    assert!(
        log_line_with(
            &server,
            &[
                "connection refused: no PROXY header in time",
                "via=127.0.0.2:"
            ]
        )
        .is_some(),
        "{}",
        server.log()
    );

    // Malformed, oversized, and no header at all: closed before the banner.
    let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
    let mut oversized = V2_SIGNATURE.to_vec();
    oversized.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    let cases: [(&[u8], &str); 4] = [
        (
            b"PROXY TCP4 198.51.100.777 192.0.2.1 1 2\r\n",
            "malformed PROXY protocol header",
        ),
        (&oversized, "PROXY protocol header longer than 1024 bytes"),
        (&endless, "longer than 107 bytes"),
        (
            b"SSH-2.0-OpenSSH_9.2p1 direct\r\n",
            "no PROXY protocol header",
        ),
    ];
    for (header, logged) in cases {
        let mut stream = with_header(balancer(), addr, header).await;
        assert_eq!(
            first_bytes(&mut stream).await,
            Greeting::ClosedBeforeBanner,
            "{logged}"
        );
        let line = log_line_with(&server, &["connection refused: bad PROXY header", logged]);
        assert!(
            line.is_some(),
            "no log line saying {logged:?}:\n{}",
            server.log()
        );
    }
    // A direct SSH client from the trusted address is one of these too.
    assert!(
        ssh_over(tcp_from(balancer(), addr).await.unwrap())
            .await
            .is_err()
    );

    // None of it penalized the balancer or kept a slot: a second client
    // logs in beside the first, and the balancer's own LOCAL connection too.
    let second = proxied_login(&server, &v2(at("198.51.100.8:40002")), "alice").await;
    assert!(
        second.is_ok(),
        "{:?}\n{}",
        second.as_ref().err(),
        server.log()
    );
    assert!(matches!(
        proxied_greeting(&server, &v2_local()).await,
        Greeting::Banner(line) if line.starts_with("SSH-2.0-")
    ));
    assert_eq!(sessions(&server).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_proxy_protocol_from_no_address_is_trusted() {
    let server = ServedBinary::start(&[AccountSpec::new("alice")], "");
    let stream = with_header(balancer(), server.addr(), &v2(at("198.51.100.7:40001"))).await;
    assert!(ssh_over(stream).await.is_err());
    assert!(matches!(
        greeting_from(balancer(), server.addr(), PROMPTLY).await,
        Greeting::Banner(line) if line.starts_with("SSH-2.0-")
    ));
    assert_eq!(server.log_count("198.51.100.7"), 0, "{}", server.log());
}
