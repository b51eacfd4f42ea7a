//! Sink and source driven over `tokio::io::duplex` by a scripted peer that
//! plays the OpenSSH client's side byte for byte.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::run;
use crate::jail::tests::{Fixture, vp};
use crate::jail::{Jail, OpenOptions, Quota};
use crate::transfer::{Moved, Transferred};

/// Starts `scp ARGS` in the box; returns the client's end of the stream
/// and the task that ends with the exit status.
fn start(fixture: &Fixture, args: &[&str]) -> (DuplexStream, JoinHandle<u32>) {
    let args: Vec<&[u8]> = args.iter().map(|word| word.as_bytes()).collect();
    let (client, counted) = start_counted(fixture, &args);
    let task = tokio::spawn(async move { counted.await.unwrap().0 });
    (client, task)
}

async fn expect(client: &mut DuplexStream, wanted: &[u8]) {
    let mut got = vec![0_u8; wanted.len()];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(wanted)
    );
}

async fn send(client: &mut DuplexStream, bytes: &[u8]) {
    client.write_all(bytes).await.unwrap();
}

/// Closes the client's side and returns the exit status.
async fn finish(client: DuplexStream, task: JoinHandle<u32>) -> u32 {
    drop(client);
    task.await.unwrap()
}

fn names(fixture: &Fixture, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture.home().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn put(jail: &Jail, path: &str, data: &[u8]) {
    let opts = OpenOptions {
        read: false,
        write: true,
        create: true,
        truncate: true,
        ..OpenOptions::default()
    };
    jail.open_file(&vp(path), &opts)
        .unwrap()
        .write_at(data, 0)
        .unwrap();
}

#[tokio::test]
async fn sink_stores_a_file_and_acknowledges_every_step() {
    let fixture = Fixture::new(None);
    let (mut client, task) = start(&fixture, &["-t", "/"]);
    expect(&mut client, b"\0").await;
    send(&mut client, b"C0644 5 a.txt\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"hello\0").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"C0600 0 empty\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"\0").await;
    assert_eq!(finish(client, task).await, 0);
    assert_eq!(
        std::fs::read(fixture.home().join("a.txt")).unwrap(),
        b"hello"
    );
    let meta = std::fs::metadata(fixture.home().join("empty")).unwrap();
    assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (0, 0o600));
    assert_eq!(names(&fixture, ""), ["a.txt", "empty"]);
    assert_eq!(fixture.jail.quota().used_files(), 2);
    fixture.assert_exact();
}

#[tokio::test]
async fn sink_with_p_applies_times_and_strips_setuid() {
    let fixture = Fixture::new(None);
    let (mut client, task) = start(&fixture, &["-p", "-t", "--", "renamed"]);
    expect(&mut client, b"\0").await;
    send(&mut client, b"T1700000000 0 1600000000 0\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"C4755 3 original\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"abc\0").await;
    expect(&mut client, b"\0").await;
    assert_eq!(finish(client, task).await, 0);
    let meta = std::fs::metadata(fixture.home().join("renamed")).unwrap();
    assert_eq!(meta.mtime(), 1_700_000_000);
    assert_eq!(meta.atime(), 1_600_000_000);
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
}

#[tokio::test]
async fn sink_refuses_a_file_over_the_quota_at_its_c_record() {
    let fixture = Fixture::new(None);
    put(&fixture.jail, "/old", b"123456");
    // Room for a temporary file's name (two blocks for the folder to grow)
    // and for `room` bytes.
    let room = 2 * std::fs::metadata(fixture.home()).unwrap().blksize();
    let used = fixture.leave_room(room);
    let limit = used + room;
    let refused =
        |name: &str| format!("\x01scp: /{name}: quota exceeded (used {used} of {limit} bytes)\n");
    let (mut client, task) = start(&fixture, &["-t", "/"]);
    expect(&mut client, b"\0").await;
    send(&mut client, format!("C0644 {} big\n", room + 1).as_bytes()).await;
    expect(&mut client, refused("big").as_bytes()).await;
    // Replacing needs room for the new file while the old one exists.
    send(&mut client, format!("C0644 {} old\n", room + 1).as_bytes()).await;
    expect(&mut client, refused("old").as_bytes()).await;
    send(&mut client, format!("C0644 {room} fits\n").as_bytes()).await;
    expect(&mut client, b"\0").await;
    let mut data = vec![b'f'; usize::try_from(room).unwrap()];
    data.push(0);
    send(&mut client, &data).await;
    expect(&mut client, b"\0").await;
    assert_eq!(finish(client, task).await, 1);
    assert_eq!(names(&fixture, ""), ["fits", "old"]);
    assert_eq!(
        std::fs::read(fixture.home().join("old")).unwrap(),
        b"123456"
    );
    assert_eq!(fixture.jail.quota().used_bytes(), limit);
    fixture.assert_exact();
}

#[tokio::test]
async fn a_dropped_upload_keeps_the_old_file_and_removes_the_temporary_one() {
    let fixture = Fixture::new(Some(1 << 20));
    put(&fixture.jail, "/f", b"old");
    let (mut client, task) = start(&fixture, &["-t", "f"]);
    expect(&mut client, b"\0").await;
    send(&mut client, b"C0644 100 f\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"only ten b").await;
    assert_eq!(finish(client, task).await, 1);
    assert_eq!(std::fs::read(fixture.home().join("f")).unwrap(), b"old");
    assert_eq!(names(&fixture, ""), ["f"]);
    assert_eq!(fixture.jail.quota().used_files(), 1);
    fixture.assert_exact();
}

#[tokio::test]
async fn a_replaced_file_keeps_its_mode_and_symlinks_are_followed_inside_the_box() {
    let fixture = Fixture::new(None);
    put(&fixture.jail, "/target", b"old");
    std::fs::set_permissions(
        fixture.home().join("target"),
        PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("/target", fixture.home().join("link")).unwrap();
    let (mut client, task) = start(&fixture, &["-t", "link"]);
    expect(&mut client, b"\0").await;
    send(&mut client, b"C0777 3 x\nnew\0").await;
    expect(&mut client, b"\0\0").await;
    assert_eq!(finish(client, task).await, 0);
    let meta = std::fs::metadata(fixture.home().join("target")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(
        std::fs::read(fixture.home().join("target")).unwrap(),
        b"new"
    );
    assert!(
        std::fs::symlink_metadata(fixture.home().join("link"))
            .unwrap()
            .is_symlink()
    );
}

#[tokio::test]
async fn sink_receives_a_tree_with_r() {
    let fixture = Fixture::new(None);
    let (mut client, task) = start(&fixture, &["-r", "-t", "new"]);
    expect(&mut client, b"\0").await;
    send(&mut client, b"D0750 0 d\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"D0755 0 sub\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"C0644 2 f\nhi\0").await;
    expect(&mut client, b"\0\0").await;
    send(&mut client, b"E\n").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"E\n").await;
    expect(&mut client, b"\0").await;
    assert_eq!(finish(client, task).await, 0);
    // `new` did not exist, so the top directory was created as `new`.
    assert_eq!(
        std::fs::read(fixture.home().join("new/sub/f")).unwrap(),
        b"hi"
    );
    let mode = std::fs::metadata(fixture.home().join("new"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
}

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
async fn sink_with_d_refuses_a_target_that_is_not_a_directory_before_ready() {
    let fixture = Fixture::new(None);
    let (mut client, task) = start(&fixture, &["-d", "-t", "nodir"]);
    expect(&mut client, b"\x01scp: nodir: No such file or directory\n").await;
    assert_eq!(task.await.unwrap(), 1);
    let (mut client, task) = start(&fixture, &["-t", "a", "b"]);
    expect(&mut client, b"\x01scp: ambiguous target\n").await;
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

#[tokio::test]
async fn source_sends_files_with_times_and_reports_missing_ones() {
    let fixture = Fixture::new(None);
    std::fs::write(fixture.home().join("a.txt"), b"hello").unwrap();
    std::fs::set_permissions(
        fixture.home().join("a.txt"),
        PermissionsExt::from_mode(0o4640),
    )
    .unwrap();
    let meta = std::fs::metadata(fixture.home().join("a.txt")).unwrap();
    let (mut client, task) = start(&fixture, &["-p", "-f", "nope", "/a.txt/"]);
    send(&mut client, b"\0").await;
    expect(&mut client, b"\x01scp: nope: No such file or directory\n").await;
    expect(
        &mut client,
        format!("T{} 0 {} 0\n", meta.mtime(), meta.atime()).as_bytes(),
    )
    .await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"C0640 5 a.txt\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"hello\0").await;
    send(&mut client, b"\0").await;
    assert_eq!(finish(client, task).await, 1);
}

#[tokio::test]
async fn source_skips_a_file_the_sink_refuses() {
    let fixture = Fixture::new(None);
    std::fs::write(fixture.home().join("one"), b"1").unwrap();
    std::fs::write(fixture.home().join("two"), b"22").unwrap();
    let (mut client, task) = start(&fixture, &["-f", "one", "two"]);
    send(&mut client, b"\0").await;
    expect(&mut client, b"C0644 1 one\n").await;
    send(&mut client, b"\x01scp: one: quota exceeded\n").await;
    expect(&mut client, b"C0644 2 two\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"22\0").await;
    send(&mut client, b"\0").await;
    assert_eq!(finish(client, task).await, 1);
}

#[tokio::test]
async fn source_sends_the_root_recursively_under_the_account_name() {
    let fixture = Fixture::new(None);
    std::fs::create_dir(fixture.home().join("d")).unwrap();
    std::fs::set_permissions(fixture.home().join("d"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(fixture.home().join("d/f"), b"x").unwrap();
    std::fs::write(fixture.home().join("top"), b"").unwrap();
    // A symlink loop back to the root is reported, not followed forever.
    std::os::unix::fs::symlink("/", fixture.home().join("d/loop")).unwrap();
    let (mut client, task) = start(&fixture, &["-r", "-f", "."]);
    send(&mut client, b"\0").await;
    expect(&mut client, b"D0700 0 alice\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"D0755 0 d\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"C0644 1 f\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"x\0").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"\x01scp: ./d/loop: directory loop, skipped\n").await;
    expect(&mut client, b"E\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"C0644 0 top\n").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"\0").await;
    send(&mut client, b"\0").await;
    expect(&mut client, b"E\n").await;
    send(&mut client, b"\0").await;
    assert_eq!(finish(client, task).await, 1);
}

#[tokio::test]
async fn a_readonly_account_cannot_upload() {
    let fixture = Fixture::new(None);
    let jail = Jail::open(&fixture.home(), Arc::new(Quota::new(None)), true).unwrap();
    let (client, server) = tokio::io::duplex(4096);
    let task = tokio::spawn(async move {
        let (read, write) = tokio::io::split(server);
        let argv = ["scp", "-t", "/"].map(|word| word.as_bytes().to_vec());
        run(
            &jail,
            "alice",
            &Arc::default(),
            &argv,
            read,
            write,
            tokio::io::sink(),
        )
        .await
    });
    let mut client = client;
    expect(&mut client, b"\0").await;
    send(&mut client, b"C0644 1 f\n").await;
    expect(&mut client, b"\x01scp: /f: Read-only file system\n").await;
    assert_eq!(finish(client, task).await, 1);
}

/// Runs `scp ARGS` in the box with its stderr and the connection's counters
/// kept: the client's stream, the task, and (stderr, counters) once it ends.
fn start_counted(
    fixture: &Fixture,
    args: &[&[u8]],
) -> (DuplexStream, JoinHandle<(u32, Vec<u8>, Moved)>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let argv: Vec<Vec<u8>> = std::iter::once(&b"scp"[..])
        .chain(args.iter().copied())
        .map(<[u8]>::to_vec)
        .collect();
    let jail = fixture.jail.clone();
    let task = tokio::spawn(async move {
        let moved = Arc::new(Transferred::default());
        let mut stderr = Vec::new();
        let (read, write) = tokio::io::split(server);
        let status = run(&jail, "alice", &moved, &argv, read, write, &mut stderr).await;
        (status, stderr, moved.snapshot())
    });
    (client, task)
}

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
