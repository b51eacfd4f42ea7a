//! Reads, writes and listings on open handles: hostile offsets, attributes,
//! long and short jobs on one lane, big folders, files that grow, reads
//! behind writes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_offsets_get_a_status_and_the_session_goes_on() {
    let (fixture, mut client, session) = start(SymlinkOrder::TargetFirst).await;
    let handle = open(&mut client, 1, b"f", rw_create()).await;

    // READ and WRITE near the end of the u64 range: each gets a status.
    for (kind, id) in [(packet_type::READ, 2u32), (packet_type::WRITE, 3u32)] {
        let mut request = Raw::new(kind, id).string(&handle).u64(u64::MAX - 10);
        request = if kind == packet_type::READ {
            request.u32(100)
        } else {
            request.string(&[7u8; 100])
        };
        send_raw(&mut client, request.bytes()).await;
        let (got_id, code, _) = receive_status(&mut client).await;
        assert_eq!(got_id, id);
        assert_ne!(code, StatusCode::Ok);
    }
    // A truncated WRITE is a bad message for its id, not the end of the session.
    send_raw(&mut client, &[packet_type::WRITE, 0, 0, 0, 9, 0xff]).await;
    assert_eq!(
        receive_status(&mut client).await,
        (9, StatusCode::BadMessage, "malformed request".to_owned())
    );

    // The session still works, and nothing was written.
    send(
        &mut client,
        Packet::Stat(theirs::Stat {
            id: 4,
            path: "f".into(),
        }),
    )
    .await;
    let Packet::Attrs(attrs) = receive(&mut client).await else {
        panic!("no attrs")
    };
    assert_eq!(attrs.attrs.size, Some(0));
    drop(client);
    let (totals, _) = session.await.unwrap();
    assert_eq!(totals.files, 1);
    assert_eq!(
        std::fs::metadata(fixture.home().join("f")).unwrap().len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_sent_by_russh_sftp_reach_the_file() {
    let (fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    std::fs::write(fixture.home().join("f"), b"0123456789").unwrap();
    send(
        &mut client,
        Packet::SetStat(theirs::SetStat {
            id: 1,
            path: "f".into(),
            attrs: FileAttributes {
                size: Some(4),
                permissions: Some(0o600),
                atime: Some(1_000_000_000),
                mtime: Some(1_000_000_001),
                ..FileAttributes::default()
            },
        }),
    )
    .await;
    assert_eq!(receive_status(&mut client).await.1, StatusCode::Ok);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(fixture.home().join("f")).unwrap();
    assert_eq!(
        (meta.len(), meta.mode() & 0o777, meta.mtime()),
        (4, 0o600, 1_000_000_001)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_and_long_jobs_queued_together_on_one_handle_all_get_their_reply() {
    let (fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    std::fs::write(fixture.home().join("f"), b"hello").unwrap();
    let handle = open(&mut client, 1, b"f", OpenFlags::READ).await;
    let read = |id| {
        Raw::new(packet_type::READ, id)
            .string(&handle)
            .u64(0)
            .u32(5)
    };
    let check = |id| {
        Raw::new(packet_type::EXTENDED, id)
            .string(b"check-file-handle")
            .string(&handle)
            .string(b"sha256")
            .u64(0)
            .u64(0)
            .u32(0)
    };
    // Short, long, short, long, short: sent before any reply is read, so
    // the lane meets them queued together.
    let mut burst = Vec::new();
    for request in [read(2), check(3), read(4), check(5), read(6)] {
        burst.extend_from_slice(&(request.bytes().len() as u32).to_be_bytes());
        burst.extend_from_slice(request.bytes());
    }
    client.write_all(&burst).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), receive(&mut client))
            .await
            .expect("a reply went missing");
        ids.push(match reply {
            Packet::Data(d) => {
                assert_eq!(d.data, b"hello");
                d.id
            }
            Packet::ExtendedReply(r) => r.id,
            other => panic!("unexpected {other:?}"),
        });
    }
    ids.sort_unstable();
    assert_eq!(ids, [2, 3, 4, 5, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_handle_reads_a_big_folder_in_batches_to_the_end() {
    let (fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    let folder = fixture.home().join("many");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..1234 {
        std::fs::write(folder.join(format!("f{i}")), b"").unwrap();
    }
    send_raw(
        &mut client,
        Raw::new(packet_type::OPENDIR, 1).string(b"/many").bytes(),
    )
    .await;
    let Packet::Handle(handle) = receive(&mut client).await else {
        panic!("no directory handle")
    };
    let handle = handle.handle.into_bytes();
    let mut seen = Vec::new();
    for id in 2.. {
        send_raw(
            &mut client,
            Raw::new(packet_type::READDIR, id).string(&handle).bytes(),
        )
        .await;
        let body = receive_raw(&mut client).await;
        if body.first() == Some(&packet_type::STATUS) {
            break;
        }
        let batch = names(body);
        assert!(batch.len() <= 100, "{} entries in one reply", batch.len());
        seen.extend(batch.into_iter().map(|(name, _)| name));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 1234);
}

/// A READ request of `len` bytes at `offset` on `handle`.
fn read_request(id: u32, handle: &[u8], offset: u64, len: u32) -> Raw {
    Raw::new(packet_type::READ, id)
        .string(handle)
        .u64(offset)
        .u32(len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_grew_after_it_was_opened_is_read_whole_then_ends() {
    let (fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    let path = fixture.home().join("f");
    std::fs::write(&path, vec![1u8; 4096]).unwrap();
    let handle = open(&mut client, 1, b"f", OpenFlags::READ).await;
    // Grown by another writer once the handle exists: READ's buffer, sized
    // by the file as it was opened, must grow to what the client asked.
    let mut grown = vec![1u8; 4096];
    grown.extend((0..100_000u32).map(|i| (i % 251) as u8));
    std::fs::write(&path, &grown).unwrap();
    let mut got = Vec::new();
    let mut id = 2;
    loop {
        send_raw(
            &mut client,
            read_request(id, &handle, got.len() as u64, 64 * 1024).bytes(),
        )
        .await;
        match receive(&mut client).await {
            Packet::Data(d) => {
                assert_eq!(d.id, id);
                assert!(!d.data.is_empty());
                got.extend_from_slice(&d.data);
            }
            Packet::Status(s) => {
                assert_eq!((s.id, s.status_code), (id, StatusCode::Eof));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        id += 1;
    }
    assert_eq!(got, grown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_sent_behind_writes_on_one_handle_see_them() {
    let (_fixture, mut client, _session) = start(SymlinkOrder::TargetFirst).await;
    let handle = open(&mut client, 1, b"f", rw_create()).await;
    // WRITE, READ, WRITE, READ in one burst: each READ must see the WRITEs
    // before it on the handle, whether it is answered on its lane or not.
    let write = |id: u32, offset: u64, data: &[u8]| {
        Raw::new(packet_type::WRITE, id)
            .string(&handle)
            .u64(offset)
            .string(data)
    };
    let mut burst = Vec::new();
    for request in [
        write(2, 0, &[7u8; 3000]),
        read_request(3, &handle, 0, 10_000),
        write(4, 3000, &[8u8; 3000]),
        read_request(5, &handle, 0, 10_000),
    ] {
        burst.extend_from_slice(&(request.bytes().len() as u32).to_be_bytes());
        burst.extend_from_slice(request.bytes());
    }
    client.write_all(&burst).await.unwrap();
    let mut reads = std::collections::BTreeMap::new();
    for _ in 0..4 {
        match receive(&mut client).await {
            Packet::Status(s) => assert_eq!(s.status_code, StatusCode::Ok, "{s:?}"),
            Packet::Data(d) => {
                reads.insert(d.id, d.data);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(reads[&3], vec![7u8; 3000]);
    let mut both = vec![7u8; 3000];
    both.extend_from_slice(&[8u8; 3000]);
    assert_eq!(reads[&5], both);
}
