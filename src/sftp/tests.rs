//! The dispatcher over `tokio::io::duplex`: hostile input, names that are
//! not UTF-8, SYMLINK's order by client, copy-data onto itself, refusals.
//! Requests go out through russh-sftp's encoder where its `String`s can say
//! them and by hand otherwise; replies come back through our framing.

use std::os::unix::ffi::OsStrExt;

use bytes::{Buf, BufMut, BytesMut};
use russh_sftp::protocol::{self as theirs, FileAttributes, OpenFlags, Packet, StatusCode};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::codec::{packet_type, put_string};
use super::*;
use crate::jail::tests::Fixture;
use crate::transfer::Moved;

/// The session's task; it ends with what the session's files moved.
type Served = JoinHandle<(Moved, Option<DuplexStream>)>;

/// A session over duplex on a fresh box, INIT already exchanged.
async fn start(order: SymlinkOrder) -> (Fixture, DuplexStream, Served) {
    let fixture = Fixture::new(None);
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let moved = Arc::new(Transferred::default());
    let context = super::SessionContext {
        jail: fixture.jail.clone(),
        owner: "alice".into(),
        open_handles: Arc::default(),
        symlink_order: order,
        budget: crate::budget::AccountBudget::unshared(),
        rates: crate::rate::AccountRates::unlimited(),
        stderr: None,
        moved: moved.clone(),
    };
    let serving = serve(server, context);
    let session = tokio::spawn(async move {
        let stream = serving.await;
        (moved.snapshot(), stream)
    });
    send(&mut client, Packet::Init(theirs::Init::new())).await;
    assert!(matches!(receive(&mut client).await, Packet::Version(_)));
    (fixture, client, session)
}

/// Sends one packet, encoded by russh-sftp.
async fn send(client: &mut DuplexStream, packet: Packet) {
    client
        .write_all(&Bytes::try_from(packet).unwrap())
        .await
        .unwrap();
}

/// Sends a hand-made body (type byte first), framed.
async fn send_raw(client: &mut DuplexStream, body: &[u8]) {
    client.write_u32(body.len() as u32).await.unwrap();
    client.write_all(body).await.unwrap();
}

/// The next reply, without its length.
async fn receive_raw(client: &mut DuplexStream) -> Bytes {
    codec::read_packet(client).await.unwrap()
}

/// The next reply, decoded by russh-sftp.
async fn receive(client: &mut DuplexStream) -> Packet {
    let mut body = receive_raw(client).await;
    Packet::try_from(&mut body).unwrap()
}

/// The next reply, which must be a status: (id, code, message).
async fn receive_status(client: &mut DuplexStream) -> (u32, StatusCode, String) {
    match receive(client).await {
        Packet::Status(s) => (s.id, s.status_code, s.error_message),
        other => panic!("not a status: {other:?}"),
    }
}

/// A request body built by hand.
struct Raw(BytesMut);

impl Raw {
    fn new(kind: u8, id: u32) -> Raw {
        let mut buf = BytesMut::new();
        buf.put_u8(kind);
        buf.put_u32(id);
        Raw(buf)
    }
    fn u32(mut self, v: u32) -> Raw {
        self.0.put_u32(v);
        self
    }
    fn u64(mut self, v: u64) -> Raw {
        self.0.put_u64(v);
        self
    }
    fn string(mut self, s: &[u8]) -> Raw {
        put_string(&mut self.0, s);
        self
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Opens `name` with `flags` and returns its handle.
async fn open(client: &mut DuplexStream, id: u32, name: &[u8], flags: OpenFlags) -> Vec<u8> {
    let request = Raw::new(packet_type::OPEN, id)
        .string(name)
        .u32(flags.bits())
        .u32(0);
    send_raw(client, request.bytes()).await;
    match receive(client).await {
        Packet::Handle(h) => h.handle.into_bytes(),
        other => panic!("open {name:?}: {other:?}"),
    }
}

/// A NAME reply's (filename, longname) pairs, byte for byte.
fn names(mut body: Bytes) -> Vec<(Vec<u8>, Vec<u8>)> {
    assert_eq!(body.get_u8(), packet_type::NAME);
    body.get_u32();
    let count = body.get_u32();
    let string = |body: &mut Bytes| {
        let len = body.get_u32() as usize;
        body.split_to(len).to_vec()
    };
    (0..count)
        .map(|_| {
            let name = string(&mut body);
            let long = string(&mut body);
            // Size, uid+gid, permissions, times: the fields v3 replies carry.
            let flags = body.get_u32();
            for (bit, len) in [(1, 8), (2, 8), (4, 4), (8, 8)] {
                if flags & bit != 0 {
                    body.advance(len);
                }
            }
            (name, long)
        })
        .collect()
}

fn rw_create() -> OpenFlags {
    OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREATE
}

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
