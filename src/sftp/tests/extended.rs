//! Extended requests: copy-data onto itself, check-file's refusals, and
//! unknown requests and extensions.

use super::*;

/// A copy-data request.
fn copy_data(id: u32, from: &[u8], to: &[u8], length: u64, to_offset: u64) -> Raw {
    Raw::new(packet_type::EXTENDED, id)
        .string(b"copy-data")
        .string(from)
        .u64(0)
        .u64(length)
        .string(to)
        .u64(to_offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_copied_onto_itself_is_refused_whichever_handles_name_it() {
    let (fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    let home = fixture.home();
    std::fs::write(home.join("f"), vec![5u8; 1000]).unwrap();
    std::fs::hard_link(home.join("f"), home.join("g")).unwrap();
    let first = open(&mut client, 1, b"f", OpenFlags::READ | OpenFlags::WRITE).await;
    let second = open(&mut client, 2, b"f", OpenFlags::READ | OpenFlags::WRITE).await;
    let linked = open(&mut client, 3, b"g", OpenFlags::READ | OpenFlags::WRITE).await;
    for (id, to) in [(4u32, &first), (5, &second), (6, &linked)] {
        send_raw(&mut client, copy_data(id, &first, to, 0, 1000).bytes()).await;
        assert_eq!(
            receive_status(&mut client).await,
            (
                id,
                StatusCode::Failure,
                "copy-data from a file onto itself".to_owned()
            )
        );
    }
    assert_eq!(std::fs::metadata(home.join("f")).unwrap().len(), 1000);

    // Onto another file it copies.
    let other = open(&mut client, 7, b"h", rw_create()).await;
    send_raw(&mut client, copy_data(8, &first, &other, 0, 0).bytes()).await;
    assert_eq!(receive_status(&mut client).await.1, StatusCode::Ok);
    assert_eq!(std::fs::read(home.join("h")).unwrap(), vec![5u8; 1000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_requests_and_extensions_are_unsupported_for_their_id() {
    let (_fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    send_raw(&mut client, Raw::new(99, 41).bytes()).await;
    assert_eq!(
        receive_status(&mut client).await,
        (41, StatusCode::OpUnsupported, "not a request".to_owned())
    );
    send(
        &mut client,
        Packet::Extended(theirs::Extended {
            id: 42,
            request: "users-groups-by-id@openssh.com".into(),
            data: vec![0; 8],
        }),
    )
    .await;
    assert_eq!(
        receive_status(&mut client).await,
        (
            42,
            StatusCode::OpUnsupported,
            "extension users-groups-by-id@openssh.com not supported".to_owned()
        )
    );
    // An unknown handle is a failure, not a crash.
    send(
        &mut client,
        Packet::Fstat(theirs::Fstat {
            id: 43,
            handle: "nope".into(),
        }),
    )
    .await;
    assert_eq!(
        receive_status(&mut client).await,
        (43, StatusCode::Failure, "invalid handle".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_file_refuses_an_unknown_algorithm_and_a_tiny_block_size() {
    let (fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    std::fs::write(fixture.home().join("f"), b"hello").unwrap();
    let check = |id, algorithms: &[u8], block_size| {
        Raw::new(packet_type::EXTENDED, id)
            .string(b"check-file-name")
            .string(b"f")
            .string(algorithms)
            .u64(0)
            .u64(0)
            .u32(block_size)
    };
    send_raw(&mut client, check(1, b"crc32,whirlpool", 0).bytes()).await;
    assert_eq!(
        receive_status(&mut client).await,
        (
            1,
            StatusCode::OpUnsupported,
            "no supported hash algorithm".to_owned()
        )
    );
    send_raw(&mut client, check(2, b"sha256", 100).bytes()).await;
    assert_eq!(
        receive_status(&mut client).await,
        (
            2,
            StatusCode::Failure,
            "block size below 256 bytes".to_owned()
        )
    );
    send_raw(&mut client, check(3, b"crc32,SHA-256", 0).bytes()).await;
    let Packet::ExtendedReply(reply) = receive(&mut client).await else {
        panic!("no extended reply")
    };
    let mut data = Bytes::from(reply.data);
    let mut string = || {
        let len = data.get_u32() as usize;
        data.split_to(len)
    };
    assert_eq!(&string()[..], b"check-file");
    assert_eq!(&string()[..], b"sha256");
    use sha2::Digest;
    assert_eq!(&data[..], &sha2::Sha256::digest(b"hello")[..]);
}
