//! `-v`: what each side tells on stderr, and what it counts.

use super::*;

#[tokio::test]
async fn with_v_the_sink_tells_each_record_escaped_and_counts_what_it_stored() {
    let fixture = Fixture::new(None);
    let (mut client, task) = start_counted(&fixture, &[b"-v", b"-t", b"/"]);
    expect(&mut client, b"\0").await;
    send(&mut client, b"C0644 5 a\xff\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"hello\0").await;
    expect(&mut client, b"\0").await;
    drop(client);
    let (status, stderr, moved) = task.await.unwrap();
    assert_eq!(status, 0);
    assert_eq!(String::from_utf8(stderr).unwrap(), "Sink: C0644 5 a\\xff\n");
    assert_eq!(
        moved,
        Moved {
            bytes_read: 0,
            bytes_written: 5,
            files: 1
        }
    );
    let stored = std::fs::read(fixture.home().join(std::ffi::OsStr::from_bytes(b"a\xff")));
    assert_eq!(stored.unwrap(), b"hello");
}

#[tokio::test]
async fn with_v_the_source_tells_what_it_sends_and_counts_it() {
    let fixture = Fixture::new(None);
    std::fs::create_dir(fixture.home().join("d")).unwrap();
    std::fs::write(fixture.home().join("d/x\x1b"), b"data!!").unwrap();
    let (mut client, task) = start_counted(&fixture, &[b"-v", b"-r", b"-f", b"d"]);
    send(&mut client, b"\0").await;
    expect(&mut client, b"D0755 0 d\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"C0644 6 x\x1b\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"data!!\0").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"E\n").await;
    send(&mut client, b"\0").await;
    drop(client);
    let (status, stderr, moved) = task.await.unwrap();
    assert_eq!(status, 0);
    assert_eq!(
        String::from_utf8(stderr).unwrap(),
        "Entering directory: D0755 0 d\nSending file modes: C0644 6 x\\x1b\n"
    );
    assert_eq!(
        moved,
        Moved {
            bytes_read: 6,
            bytes_written: 0,
            files: 1
        }
    );
}

#[tokio::test]
async fn without_v_stderr_stays_empty() {
    let fixture = Fixture::new(None);
    let (mut client, task) = start_counted(&fixture, &[b"-t", b"/"]);
    expect(&mut client, b"\0").await;
    send(&mut client, b"C0644 1 f\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"x\0").await;
    expect(&mut client, b"\0").await;
    drop(client);
    let (status, stderr, moved) = task.await.unwrap();
    assert_eq!((status, stderr, moved.bytes_written), (0, Vec::new(), 1));
}
