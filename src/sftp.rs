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
//! Names are bytes (SPEC "Names are bytes"): our own codec (`codec.rs`)
//! decodes every request, so a path reaches
//! [`VirtualPath::resolve`](crate::jail::VirtualPath::resolve) exactly as the
//! client sent it, and directory entries and link targets go back byte for
//! byte. Only the long name of a listing, which is text for people, quotes a
//! name that is not printable UTF-8.
//!
//! SYMLINK's argument order depends on the client, as ProFTPD's
//! `SFTPClientMatch` decides it: OpenSSH's `sftp`, sshfs and paramiko send the
//! target first (OpenSSH's PROTOCOL file documents the reversal from the
//! draft), and WinSCP sends that order only to servers whose banner says
//! OpenSSH or ProFTPD, the draft's order (link first) to everyone else. So a
//! client whose SSH version string starts with `SSH-2.0-WinSCP` gets the
//! draft's order and every other client OpenSSH's ([`SymlinkOrder`]).
//!
//! It knows nothing of accounts, sockets or russh's `Session`; every path goes
//! through the [`Jail`].

mod attrs;
mod check_file;
pub(crate) mod codec;
mod extensions;
mod handles;
mod requests;
mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::jail::Jail;
use codec::{DecodeError, FrameError, MAX_DATA_BYTES, Request};
use handles::{HandleKind, HandleTable, Lane, Reply};
use status::Refusal;

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

/// Which of SYMLINK's two paths is the target, by client (see the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymlinkOrder {
    /// Target first, then the link: OpenSSH's order, which its `sftp`,
    /// sshfs, paramiko and most clients follow.
    TargetFirst,
    /// The draft's order: the link first, then the target (WinSCP talking to
    /// a server that is neither OpenSSH nor ProFTPD).
    LinkFirst,
}

impl SymlinkOrder {
    /// The order the client with SSH version string `client_id` (as it sent
    /// it, e.g. `SSH-2.0-WinSCP_release_6.3`) uses with us.
    pub fn for_client(client_id: &[u8]) -> SymlinkOrder {
        if client_id.starts_with(b"SSH-2.0-WinSCP") {
            SymlinkOrder::LinkFirst
        } else {
            SymlinkOrder::TargetFirst
        }
    }

    /// SYMLINK's (first, second) paths as (target, link).
    fn target_and_link(self, first: Bytes, second: Bytes) -> (Bytes, Bytes) {
        match self {
            SymlinkOrder::TargetFirst => (first, second),
            SymlinkOrder::LinkFirst => (second, first),
        }
    }
}

/// What the requests of one session share.
struct Session {
    jail: Jail,
    /// Shown as owner and group in long names.
    owner: String,
    /// How this client orders SYMLINK's paths.
    symlink_order: SymlinkOrder,
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
/// open, so a shutdown can tell a transfer from an idle session;
/// `symlink_order` is the client's ([`SymlinkOrder::for_client`]).
pub async fn serve<S>(
    stream: S,
    jail: Jail,
    owner: &str,
    open_handles: Arc<AtomicUsize>,
    symlink_order: SymlinkOrder,
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
        symlink_order,
        handles: HandleTable::new(open_handles),
        replies: replies.clone(),
        totals: Arc::default(),
    });
    let path_lane = Lane::spawn(replies);

    loop {
        let packet = match codec::read_packet(&mut reader).await {
            Ok(packet) => packet,
            Err(FrameError::Eof) => break,
            Err(err) => {
                warn!(%err, "sftp session ended");
                break;
            }
        };
        let packet_bytes = packet.len();
        let request = codec::decode(packet);
        let cost = request_cost(packet_bytes, &request);
        let pending = backlog.fetch_add(cost, Ordering::SeqCst) + cost;
        if pending > MAX_BACKLOG_BYTES {
            warn!(
                pending,
                "client left too many requests unanswered; ending the sftp session"
            );
            break;
        }
        dispatch(&session, &path_lane, request, cost);
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
fn request_cost(packet_bytes: usize, request: &Result<Request, DecodeError>) -> usize {
    let read_len = match request {
        Ok(Request::Read { len, .. }) => (*len).min(MAX_DATA_BYTES) as usize,
        _ => 0,
    };
    packet_bytes + read_len
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

/// Queues one decoded request on the lane that orders it. READ and WRITE,
/// the hot path, go straight to their handle's lane (WRITE's payload stays
/// the slice of the packet the reader filled); path requests share the path
/// lane; OPEN and OPENDIR start the lane of the handle they will make.
fn dispatch(
    session: &Arc<Session>,
    path_lane: &Lane,
    request: Result<Request, DecodeError>,
    cost: usize,
) {
    let request = match request {
        Ok(request) => request,
        Err(err) => {
            debug!(%err, "undecodable request");
            return session.reply(status::bad_message(err.id.unwrap_or(0)), cost);
        }
    };
    // Deliberately a total match: a new request type must choose its lane.
    match request {
        Request::Read {
            id,
            handle,
            offset,
            len,
        } => on_file(session, &handle, id, cost, move |file| {
            requests::read(id, file, offset, len)
        }),
        Request::Write {
            id,
            handle,
            offset,
            data,
        } => on_file(session, &handle, id, cost, move |file| {
            requests::write(id, file, offset, &data)
        }),
        Request::Init {
            version,
            extensions: offered,
        } => {
            debug!(version, extensions = offered.len(), "sftp init");
            session.reply(codec::reply::version(extensions::ADVERTISED), cost)
        }
        Request::Open {
            id,
            filename,
            flags,
            attrs,
        } => {
            let lane = Lane::spawn(session.replies.clone());
            on_path(session, path_lane, cost, move |s| {
                requests::open(s, id, &filename, flags, &attrs, lane)
            });
        }
        Request::OpenDir { id, path } => {
            let lane = Lane::spawn(session.replies.clone());
            on_path(session, path_lane, cost, move |s| {
                requests::open_dir(s, id, &path, lane)
            });
        }
        Request::Close { id, handle } => match session.handles.remove(&handle) {
            Some(open) => {
                let s = session.clone();
                open.lane
                    .push(Box::new(move || requests::close(&s, id, &open.kind)), cost);
            }
            None => session.reply(status::invalid_handle(id), cost),
        },
        Request::ReadDir { id, handle } => {
            on_handle(session, &handle, id, cost, move |s, kind| match kind {
                HandleKind::Dir(dir) => requests::read_dir(s, id, dir),
                HandleKind::File(_) => status::invalid_handle(id),
            })
        }
        Request::Fstat { id, handle } => on_handle(session, &handle, id, cost, move |s, kind| {
            requests::fstat(id, kind, s)
        }),
        Request::FSetStat { id, handle, attrs } => {
            on_handle(session, &handle, id, cost, move |s, kind| {
                requests::fset_stat(s, id, kind, &attrs)
            })
        }
        Request::Stat { id, path } => on_path(session, path_lane, cost, move |s| {
            requests::stat(s, id, &path, true)
        }),
        Request::Lstat { id, path } => on_path(session, path_lane, cost, move |s| {
            requests::stat(s, id, &path, false)
        }),
        Request::SetStat { id, path, attrs } => on_path(session, path_lane, cost, move |s| {
            requests::set_stat(s, id, &path, &attrs, true)
        }),
        Request::Remove { id, filename } => on_path(session, path_lane, cost, move |s| {
            requests::remove(s, id, &filename)
        }),
        Request::MkDir { id, path, attrs } => on_path(session, path_lane, cost, move |s| {
            requests::make_dir(s, id, &path, &attrs)
        }),
        Request::RmDir { id, path } => on_path(session, path_lane, cost, move |s| {
            requests::remove_dir(s, id, &path)
        }),
        Request::RealPath { id, path } => on_path(session, path_lane, cost, move |s| {
            requests::real_path(s, id, &path)
        }),
        Request::Rename { id, from, to } => on_path(session, path_lane, cost, move |s| {
            requests::rename(s, id, &from, &to, false)
        }),
        Request::ReadLink { id, path } => on_path(session, path_lane, cost, move |s| {
            requests::read_link(s, id, &path)
        }),
        Request::Symlink { id, first, second } => {
            let (target, link) = session.symlink_order.target_and_link(first, second);
            on_path(session, path_lane, cost, move |s| {
                requests::symlink(s, id, &target, &link)
            })
        }
        Request::Extended { id, extension } => {
            extensions::route(session, path_lane, id, extension, cost)
        }
        Request::Unknown { id, packet_type } => {
            debug!(packet_type, "not a request");
            session.reply(status::refused(id, &Refusal::NotARequest), cost)
        }
    }
}

/// Queues `job` on the session's path lane.
fn on_path(
    session: &Arc<Session>,
    path_lane: &Lane,
    cost: usize,
    job: impl FnOnce(&Arc<Session>) -> Bytes + Send + 'static,
) {
    let s = session.clone();
    path_lane.push(Box::new(move || job(&s)), cost);
}

/// Queues `job` on the lane of `handle` (a file or a directory), or answers
/// that the handle is unknown.
fn on_handle(
    session: &Arc<Session>,
    handle: &[u8],
    id: u32,
    cost: usize,
    job: impl FnOnce(&Session, &HandleKind) -> Bytes + Send + 'static,
) {
    match session.handles.get(handle) {
        Some(open) => {
            let s = session.clone();
            let kind = open.kind.clone();
            open.lane.push(Box::new(move || job(&s, &kind)), cost);
        }
        None => session.reply(status::invalid_handle(id), cost),
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
