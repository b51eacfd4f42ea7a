//! The SFTP service (protocol version 3 with the OpenSSH extensions) over any
//! byte stream, independent of SSH.
//!
//! Our own dispatcher, not russh-sftp's one-request-at-a-time loop: a reader
//! that never stops draining the stream (so the SSH connection cannot wedge on
//! a full channel queue), lanes that run requests on the blocking pool in
//! order per handle while different handles proceed in parallel, and a writer
//! that batches replies before flushing. The backlog of unanswered requests is
//! bounded in bytes; a client that exceeds it is disconnected.
//!
//! It knows nothing of accounts, sockets or russh's `Session`; every path goes
//! through the [`Jail`].

mod attrs;
// Wired into the dispatcher next; until then only its tests use it.
#[allow(dead_code, unused_imports)]
mod codec;
mod extensions;
mod handles;
mod requests;
mod status;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use russh_sftp::protocol::{Packet, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::jail::Jail;
use handles::{HandleKind, HandleTable, Lane, Reply};
use wire::WireError;

/// Bytes of requests (plus the data they asked to read) that may wait for
/// their replies. OpenSSH keeps 64 × 255 KiB ≈ 16 MiB in flight; four times that
/// is generous for honest clients and bounds what a hostile one can pin.
const MAX_BACKLOG_BYTES: usize = 64 << 20;

/// What one SFTP session moved, for the connection's end-of-session log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SessionTotals {
    /// Bytes read from files.
    pub bytes_read: u64,
    /// Bytes written to files.
    pub bytes_written: u64,
    /// Files opened and closed.
    pub files_closed: u64,
}

#[derive(Default)]
struct Totals {
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    files_closed: AtomicU64,
}

impl Totals {
    fn add(&self, read: u64, written: u64) {
        self.bytes_read.fetch_add(read, Ordering::Relaxed);
        self.bytes_written.fetch_add(written, Ordering::Relaxed);
        self.files_closed.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> SessionTotals {
        SessionTotals {
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            files_closed: self.files_closed.load(Ordering::Relaxed),
        }
    }
}

/// What the requests of one session share.
struct Session {
    jail: Jail,
    /// Shown as owner and group in long names.
    owner: String,
    handles: HandleTable,
    replies: mpsc::UnboundedSender<Reply>,
    totals: Arc<Totals>,
}

impl Session {
    /// Sends a reply that needs no lane.
    fn reply(&self, bytes: Bytes, cost: usize) {
        let _ = self.replies.send(Reply { bytes, cost });
    }
}

/// Serves SFTP on `stream` until the client closes it; returns what moved,
/// and the stream itself (so the caller can report an exit status before it
/// closes the channel), unless writing replies failed.
/// `open_handles` follows how many files and directories the client holds
/// open, so a shutdown can tell a transfer from an idle session.
pub async fn serve<S>(
    stream: S,
    jail: Jail,
    owner: &str,
    open_handles: Arc<AtomicUsize>,
) -> (SessionTotals, Option<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let (replies, reply_queue) = mpsc::unbounded_channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    // Aborted if this future is dropped (the connection is being closed), so
    // that nothing keeps the channel alive behind it.
    let mut writer_task = AbortOnDrop(tokio::spawn(write_replies(
        writer,
        reply_queue,
        backlog.clone(),
    )));
    let session = Arc::new(Session {
        jail,
        owner: owner.to_owned(),
        handles: HandleTable::new(open_handles),
        replies: replies.clone(),
        totals: Arc::default(),
    });
    let path_lane = Lane::spawn(replies);

    loop {
        let packet = match wire::read_packet(&mut reader).await {
            Ok(packet) => packet,
            Err(WireError::Eof) => break,
            Err(err) => {
                warn!(%err, "sftp session ended");
                break;
            }
        };
        let cost = request_cost(&packet);
        let pending = backlog.fetch_add(cost, Ordering::SeqCst) + cost;
        if pending > MAX_BACKLOG_BYTES {
            warn!(
                pending,
                "client left too many requests unanswered; ending the sftp session"
            );
            break;
        }
        dispatch(&session, &path_lane, packet, cost);
    }

    // Files the client left open are closed (and logged) in order after their pending requests.
    for open in session.handles.drain() {
        if let HandleKind::File(file) = open.kind {
            let s = session.clone();
            open.lane.push(
                Box::new(move || {
                    requests::log_close(&s, &file);
                    Bytes::new()
                }),
                0,
            );
        }
    }
    // The writer ends once every reply sender is gone: the path lane, the
    // handle lanes (after their last job) and the session itself.
    drop(path_lane);
    let totals = session.totals.clone();
    drop(session);
    let stream = (&mut writer_task.0)
        .await
        .ok()
        .map(|writer| reader.unsplit(writer));
    (totals.snapshot(), stream)
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The backlog a request holds: its own bytes plus, for READ, the reply it asks for.
fn request_cost(packet: &Bytes) -> usize {
    let read_len = if packet.first() == Some(&wire::TYPE_READ) {
        wire::decode_read(packet.slice(1..)).map_or(0, |r| r.len.min(wire::MAX_DATA_BYTES) as usize)
    } else {
        0
    };
    packet.len() + read_len
}

/// Sends replies as lanes produce them, flushing once the queue is empty;
/// gives the writer back when every reply sender is gone.
async fn write_replies<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut queue: mpsc::UnboundedReceiver<Reply>,
    backlog: Arc<AtomicUsize>,
) -> W {
    let mut healthy = true;
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        while let Some(reply) = next {
            if healthy && !reply.bytes.is_empty() {
                healthy = writer.write_all(&reply.bytes).await.is_ok();
            }
            backlog.fetch_sub(reply.cost, Ordering::SeqCst);
            next = queue.try_recv().ok();
        }
        if healthy {
            healthy = writer.flush().await.is_ok();
        }
    }
    writer
}

/// Decodes one packet and queues it on the lane that orders it.
fn dispatch(session: &Arc<Session>, path_lane: &Lane, packet: Bytes, cost: usize) {
    let Some(&kind) = packet.first() else { return };
    let body = packet.slice(1..);
    match kind {
        wire::TYPE_READ => match wire::decode_read(body) {
            Some(request) => {
                let (id, handle) = (request.id, request.handle.clone());
                on_file(session, &handle, id, cost, move |file| {
                    requests::read(id, file, &request)
                });
            }
            None => session.reply(status::bad_message(0), cost),
        },
        wire::TYPE_WRITE => match wire::decode_write(body) {
            Some(request) => {
                let (id, handle) = (request.id, request.handle.clone());
                on_file(session, &handle, id, cost, move |file| {
                    requests::write(file, &request)
                });
            }
            None => session.reply(status::bad_message(0), cost),
        },
        _ => {
            let id = wire::peek_id(&body);
            let mut whole = packet;
            match Packet::try_from(&mut whole) {
                Ok(request) => route(session, path_lane, request, cost),
                Err(err) => {
                    debug!(kind, %err, "undecodable request");
                    session.reply(status::bad_message(id), cost)
                }
            }
        }
    }
}

/// Queues `job` on the lane of file handle `handle`, or answers that the
/// handle is unknown (or a directory).
fn on_file(
    session: &Arc<Session>,
    handle: &[u8],
    id: u32,
    cost: usize,
    job: impl FnOnce(&handles::FileHandle) -> Bytes + Send + 'static,
) {
    match session.handles.get(handle) {
        Some(handles::OpenHandle {
            kind: HandleKind::File(file),
            lane,
        }) => lane.push(Box::new(move || job(&file)), cost),
        _ => session.reply(status::invalid_handle(id), cost),
    }
}

/// Routes a decoded request (all but READ and WRITE) to its lane.
fn route(session: &Arc<Session>, path_lane: &Lane, request: Packet, cost: usize) {
    let s = session.clone();
    let on_path = |job: handles::Job| path_lane.push(job, cost);
    let on_handle = |id: u32, handle: &str, job: handles::HandleJob| match session
        .handles
        .get(handle.as_bytes())
    {
        Some(open) => {
            let s = session.clone();
            let kind = open.kind.clone();
            open.lane.push(Box::new(move || job(&s, &kind)), cost);
        }
        None => session.reply(status::invalid_handle(id), cost),
    };
    match request {
        Packet::Init(_) => {
            let mut version = Version::new();
            for (name, value) in extensions::ADVERTISED {
                version
                    .extensions
                    .insert((*name).to_owned(), (*value).to_owned());
            }
            session.reply(wire::encode(version.into()), cost);
        }
        Packet::Open(open) => {
            let lane = Lane::spawn(session.replies.clone());
            on_path(Box::new(move || requests::open(&s, open, lane)));
        }
        Packet::OpenDir(r) => {
            let lane = Lane::spawn(session.replies.clone());
            on_path(Box::new(move || {
                requests::open_dir(&s, r.id, &r.path, lane)
            }));
        }
        Packet::Close(r) => match session.handles.remove(r.handle.as_bytes()) {
            Some(open) => {
                let id = r.id;
                open.lane
                    .push(Box::new(move || requests::close(&s, id, &open.kind)), cost);
            }
            None => session.reply(status::invalid_handle(r.id), cost),
        },
        Packet::ReadDir(r) => on_handle(
            r.id,
            &r.handle,
            Box::new(move |s, kind| match kind {
                HandleKind::Dir(dir) => requests::read_dir(s, r.id, dir),
                HandleKind::File(_) => status::invalid_handle(r.id),
            }),
        ),
        Packet::Fstat(r) => on_handle(
            r.id,
            &r.handle,
            Box::new(move |s, kind| requests::fstat(r.id, kind, s)),
        ),
        Packet::FSetStat(r) => on_handle(
            r.id,
            &r.handle,
            Box::new(move |s, kind| requests::fset_stat(s, r.id, kind, &r.attrs)),
        ),
        Packet::Stat(r) => on_path(Box::new(move || requests::stat(&s, r.id, &r.path, true))),
        Packet::Lstat(r) => on_path(Box::new(move || requests::stat(&s, r.id, &r.path, false))),
        Packet::SetStat(r) => on_path(Box::new(move || {
            requests::set_stat(&s, r.id, &r.path, &r.attrs, true)
        })),
        Packet::Remove(r) => on_path(Box::new(move || requests::remove(&s, r.id, &r.filename))),
        Packet::MkDir(r) => on_path(Box::new(move || {
            requests::make_dir(&s, r.id, &r.path, &r.attrs)
        })),
        Packet::RmDir(r) => on_path(Box::new(move || requests::remove_dir(&s, r.id, &r.path))),
        Packet::RealPath(r) => on_path(Box::new(move || requests::real_path(&s, r.id, &r.path))),
        Packet::Rename(r) => on_path(Box::new(move || {
            requests::rename(&s, r.id, &r.oldpath, &r.newpath, false)
        })),
        Packet::ReadLink(r) => on_path(Box::new(move || requests::read_link(&s, r.id, &r.path))),
        Packet::Symlink(r) => on_path(Box::new(move || {
            requests::symlink(&s, r.id, &r.linkpath, &r.targetpath)
        })),
        Packet::Extended(r) => extensions::route(
            session,
            path_lane,
            r.id,
            &r.request,
            Bytes::from(r.data),
            cost,
        ),
        other => {
            let id = other.get_request_id();
            session.reply(
                wire::status(id, StatusCode::OpUnsupported, "not a request"),
                cost,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use russh_sftp::protocol::{FileAttributes, Open, OpenFlags};
    use tokio::io::{AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::jail::tests::Fixture;

    /// Sends one framed packet.
    async fn send(client: &mut DuplexStream, packet: Packet) {
        client.write_all(&wire::encode(packet)).await.unwrap();
    }

    /// Sends a hand-made body (type byte first), framed.
    async fn send_raw(client: &mut DuplexStream, body: &[u8]) {
        client.write_u32(body.len() as u32).await.unwrap();
        client.write_all(body).await.unwrap();
    }

    async fn receive(client: &mut DuplexStream) -> Packet {
        let mut body = wire::read_packet(client).await.unwrap();
        Packet::try_from(&mut body).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_offsets_get_a_status_and_the_session_goes_on() {
        let fixture = Fixture::new(None);
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let session = tokio::spawn(serve(server, fixture.jail.clone(), "alice", Arc::default()));

        send(
            &mut client,
            Packet::Init(russh_sftp::protocol::Init {
                version: 3,
                extensions: Default::default(),
            }),
        )
        .await;
        assert!(matches!(receive(&mut client).await, Packet::Version(_)));
        send(
            &mut client,
            Packet::Open(Open {
                id: 1,
                filename: "f".into(),
                pflags: OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREATE,
                attrs: FileAttributes::default(),
            }),
        )
        .await;
        let Packet::Handle(handle) = receive(&mut client).await else {
            panic!("no handle")
        };
        let handle = handle.handle.into_bytes();

        // READ and WRITE near the end of the u64 range: each gets a status.
        for (kind, id) in [(wire::TYPE_READ, 2u32), (wire::TYPE_WRITE, 3u32)] {
            let mut body = BytesMut::new();
            body.put_u8(kind);
            body.put_u32(id);
            body.put_u32(handle.len() as u32);
            body.put_slice(&handle);
            body.put_u64(u64::MAX - 10);
            if kind == wire::TYPE_READ {
                body.put_u32(100);
            } else {
                body.put_u32(100);
                body.put_slice(&[7u8; 100]);
            }
            send_raw(&mut client, &body).await;
            match receive(&mut client).await {
                Packet::Status(status) => {
                    assert_eq!(status.id, id);
                    assert_ne!(status.status_code, StatusCode::Ok);
                }
                other => panic!("unexpected reply {other:?}"),
            }
        }
        // A truncated WRITE is a bad message, not the end of the session.
        send_raw(&mut client, &[wire::TYPE_WRITE, 0, 0, 0, 9, 0xff]).await;
        assert!(
            matches!(receive(&mut client).await, Packet::Status(s) if s.status_code == StatusCode::BadMessage)
        );

        // The session still works, and nothing was written.
        send(
            &mut client,
            Packet::Stat(russh_sftp::protocol::Stat {
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
        assert_eq!(totals.files_closed, 1);
        assert_eq!(
            std::fs::metadata(fixture.home().join("f")).unwrap().len(),
            0
        );
    }
}
