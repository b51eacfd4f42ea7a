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

mod extended;
mod file_handles;
mod names_and_links;

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
