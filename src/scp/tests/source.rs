//! `scp -f`: sending files, trees and the root, and skipping what the sink
//! refuses.

use super::*;

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
