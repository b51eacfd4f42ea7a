//! What ends a session with a protocol error: malformed or overlong records
//! and client options.

use super::*;

#[tokio::test]
async fn malformed_records_end_the_session_with_a_protocol_error() {
    let cases: [(&[u8], &[u8]); 5] = [
        (b"C06x4 1 a\n", b"\x01scp: protocol error: bad mode\n"),
        (
            b"C0644 1 ..\n",
            b"\x01scp: error: unexpected filename: ..\n",
        ),
        (
            b"C0644 1 a/b\n",
            b"\x01scp: error: unexpected filename: a/b\n",
        ),
        (
            b"D0755 0 d\n",
            b"\x01scp: protocol error: received directory without -r\n",
        ),
        (b"\n", b"\x01scp: protocol error: unexpected <newline>\n"),
    ];
    for (record, reply) in cases {
        let fixture = Fixture::new(None);
        let (mut client, task) = start(&fixture, &["-t", "/"]);
        expect(&mut client, b"\0").await;
        send(&mut client, record).await;
        expect(&mut client, reply).await;
        assert_eq!(task.await.unwrap(), 1);
        assert!(names(&fixture, "").is_empty());
    }
}

#[tokio::test]
async fn an_overlong_line_is_a_protocol_error() {
    let fixture = Fixture::new(None);
    let (mut client, task) = start(&fixture, &["-t", "/"]);
    expect(&mut client, b"\0").await;
    send(&mut client, &vec![b'C'; 3000]).await;
    expect(&mut client, b"\x01scp: protocol error: line too long\n").await;
    assert_eq!(task.await.unwrap(), 1);
}

#[tokio::test]
async fn client_options_are_refused() {
    let fixture = Fixture::new(None);
    for args in [
        &["-S", "/bin/sh", "-t", "x"][..],
        &["-o", "ProxyCommand=x", "-f", "y"],
        &["x"],
    ] {
        let (client, task) = start(&fixture, args);
        assert_eq!(finish(client, task).await, 1);
    }
}
