//! Names and link targets byte for byte, and SYMLINK's order by client.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_differ_in_one_byte_are_two_files_and_come_back_byte_for_byte() {
    let (fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    send_raw(
        &mut client,
        Raw::new(packet_type::MKDIR, 1).string(b"d").u32(0).bytes(),
    )
    .await;
    assert_eq!(receive_status(&mut client).await.1, StatusCode::Ok);
    for (id, name) in [(2u32, &b"d/a\xfe"[..]), (3, &b"d/a\xff"[..])] {
        let handle = open(&mut client, id, name, rw_create()).await;
        let write = Raw::new(packet_type::WRITE, id)
            .string(&handle)
            .u64(0)
            .string(name);
        send_raw(&mut client, write.bytes()).await;
        assert_eq!(receive_status(&mut client).await.1, StatusCode::Ok);
        send_raw(
            &mut client,
            Raw::new(packet_type::CLOSE, id).string(&handle).bytes(),
        )
        .await;
        assert_eq!(receive_status(&mut client).await.1, StatusCode::Ok);
    }
    let dir = fixture.home().join("d");
    for name in [&b"a\xfe"[..], b"a\xff"] {
        let on_disk = std::fs::read(dir.join(std::ffi::OsStr::from_bytes(name))).unwrap();
        assert_eq!(on_disk, [b"d/", name].concat(), "{name:?}");
    }

    // The listing gives the names back as stored; only the long names quote them.
    send_raw(
        &mut client,
        Raw::new(packet_type::OPENDIR, 4).string(b"d").bytes(),
    )
    .await;
    let Packet::Handle(dir_handle) = receive(&mut client).await else {
        panic!("no dir handle")
    };
    let readdir = Raw::new(packet_type::READDIR, 5).string(dir_handle.handle.as_bytes());
    send_raw(&mut client, readdir.bytes()).await;
    let mut listed = names(receive_raw(&mut client).await);
    listed.sort();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].0, b"a\xfe");
    assert_eq!(listed[1].0, b"a\xff");
    assert!(listed[0].1.ends_with(b" 'a'$'\\376'"), "{listed:?}");
    assert!(listed[1].1.ends_with(b" 'a'$'\\377'"), "{listed:?}");
    send_raw(&mut client, readdir.bytes()).await;
    assert_eq!(receive_status(&mut client).await.1, StatusCode::Eof);

    // Removing one leaves the other.
    send_raw(
        &mut client,
        Raw::new(packet_type::REMOVE, 6).string(b"d/a\xfe").bytes(),
    )
    .await;
    assert_eq!(receive_status(&mut client).await.1, StatusCode::Ok);
    assert!(!dir.join(std::ffi::OsStr::from_bytes(b"a\xfe")).exists());
    assert!(dir.join(std::ffi::OsStr::from_bytes(b"a\xff")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_targets_and_real_paths_come_back_byte_for_byte() {
    let (fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    std::fs::create_dir(fixture.home().join(std::ffi::OsStr::from_bytes(b"d\xfe"))).unwrap();
    std::os::unix::fs::symlink(
        std::ffi::OsStr::from_bytes(b"t\xff/x"),
        fixture.home().join("link"),
    )
    .unwrap();
    send_raw(
        &mut client,
        Raw::new(packet_type::READLINK, 1).string(b"link").bytes(),
    )
    .await;
    assert_eq!(names(receive_raw(&mut client).await)[0].0, b"t\xff/x");
    send_raw(
        &mut client,
        Raw::new(packet_type::REALPATH, 2)
            .string(b"/d\xfe/../d\xfe/.")
            .bytes(),
    )
    .await;
    assert_eq!(names(receive_raw(&mut client).await)[0].0, b"/d\xfe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_paths_are_taken_in_the_clients_order() {
    for (order, link, target) in [
        // OpenSSH's order: target, then link.
        (SymlinkOrder::TargetFirst, "second", "first"),
        // The draft's order (WinSCP): link, then target.
        (SymlinkOrder::LinkFirst, "first", "second"),
    ] {
        let (fixture, mut client, _session) = start(order).await;
        let request = Raw::new(packet_type::SYMLINK, 1)
            .string(b"first")
            .string(b"second");
        send_raw(&mut client, request.bytes()).await;
        assert_eq!(
            receive_status(&mut client).await.1,
            StatusCode::Ok,
            "{order:?}"
        );
        let made = std::fs::read_link(fixture.home().join(link)).unwrap();
        assert_eq!(made, std::path::Path::new(target), "{order:?}");
        assert!(!fixture.home().join(target).exists(), "{order:?}");
    }
}

#[test]
fn winscp_clients_get_the_drafts_symlink_order_and_everyone_else_openssh_s() {
    assert_eq!(
        SymlinkOrder::for_client(b"SSH-2.0-WinSCP_release_6.3"),
        SymlinkOrder::LinkFirst
    );
    for other in [
        &b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"[..],
        b"SSH-2.0-paramiko_2.12.0",
        b"SSH-2.0-PuTTY_Release_0.78",
        b"SSH-2.0-libssh2_1.10.0",
        b"SSH-2.0-winscp",
        b"",
    ] {
        assert_eq!(
            SymlinkOrder::for_client(other),
            SymlinkOrder::TargetFirst,
            "{other:?}"
        );
    }
}
