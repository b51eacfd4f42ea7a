//! `scp -t`: storing files and trees, times and modes, the quota, and what
//! a read-only account or a target that is not a folder gets.

use super::*;

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
