//! The SFTP service (protocol version 3 with the OpenSSH extensions) over any
//! byte stream, independent of SSH.
//!
//! Our own dispatcher, not russh-sftp's one-request-at-a-time loop: a reader
//! that never stops draining the stream (so the SSH connection cannot wedge on
//! a full channel queue), lanes that run requests on the blocking pool in
//! order per handle while different handles proceed in parallel, and a writer
//! that gathers the small replies ready in one turn into one channel write.
//!
//! A request whose lane is idle and that the kernel's caches can answer
//! without waiting for the disk is answered on the reader itself, with no
//! trip to the blocking pool: READ from the page cache (`RWF_NOWAIT`), STAT
//! and OPEN-to-read of a path the lookup cache resolves (`RESOLVE_CACHED`),
//! CLOSE of a directory or of a file open only to read; what runs so waits
//! for nothing and holds no slot. A small upload's OPEN, WRITEs and CLOSE,
//! which may wait for the disk, are run on the reader too while the budget
//! has an inline slot for them: one of the account's short-job slots, and
//! one of the process's, which leave one worker thread free. Anything
//! else, or a cache miss, goes to its lane, which is what bounds it by the
//! account's budget. The backlog of unanswered requests is bounded in bytes; a client that exceeds it is disconnected. However the
//! session ends (end of stream, a protocol error, a broken limit, the
//! connection dropped), its long jobs are cancelled, and until its replies
//! are out whatever the client still sends is read and dropped.
//!
//! The account's rates (`crate::rate`) hold READs and WRITEs on their lanes
//! until their bytes are due: the reader keeps draining the stream, the
//! replies come later, and a client, which keeps only so many requests in
//! flight (OpenSSH 64, far below the backlog budget), waits for them. So a
//! rate slows a transfer and never fails a request.
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
mod notices;
mod requests;
mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use russh_sftp::protocol::OpenFlags;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::budget::{AccountBudget, JobSlot};
use crate::jail::Jail;
use crate::rate::AccountRates;
use crate::transfer::Transferred;
use codec::{DecodeError, FrameError, MAX_DATA_BYTES, Request};
use handles::{HandleKind, HandleTable, Lane, Reply, Toll, Weight};
use notices::Notices;
use status::Refusal;

/// Bytes of requests (plus the data they asked to read) that may wait for
/// their replies. OpenSSH keeps 64 × 255 KiB ≈ 16 MiB in flight; four times that
/// is generous for honest clients and bounds what a hostile one can pin.
const MAX_BACKLOG_BYTES: usize = 64 << 20;

/// A file's first bytes that its WRITEs and CLOSE may be run on the reader
/// for (see `inline_slot`): a small file's whole upload. A larger file's
/// later WRITEs go to its lane, so a writer that the kernel holds back for
/// its dirty pages holds a pool thread, not a worker.
const INLINE_FILE_BYTES: u64 = 64 * 1024;

/// After a session ends on a protocol error or a broken limit, how long the
/// replies already made may take to go out before the channel is closed
/// without them (a client that stopped reading would hold it for ever).
const WRITER_WAIT_AFTER_ERROR: std::time::Duration = std::time::Duration::from_secs(5);

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
    /// The connection's transfer counters, which every file counts into.
    moved: Arc<Transferred>,
    /// The account's share of the blocking pool and of open handles.
    budget: AccountBudget,
    /// The account's upload and download buckets.
    rates: AccountRates,
    /// Cancelled when the session ends: long jobs stop at their next chunk.
    ended: CancellationToken,
    /// Reasons for the client's stderr.
    notices: Notices,
}

impl Session {
    /// Sends a reply that needs no lane.
    fn reply(&self, bytes: Bytes, cost: usize) {
        let _ = self.replies.send(Reply { bytes, cost });
    }
}

/// Serves SFTP on `stream` until the client closes it, counting what files
/// move into the context's counters; returns the stream itself (so the
/// caller can report an exit status before it closes the channel), unless
/// writing replies failed or the session ended on a protocol error with
/// replies it could not deliver.
pub async fn serve<S>(stream: S, context: SessionContext) -> Option<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let SessionContext {
        jail,
        owner,
        open_handles,
        symlink_order,
        budget,
        rates,
        stderr,
        moved,
    } = context;
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
    let (notices, notices_task) = match stderr {
        Some(stderr) => {
            let (notices, task) = Notices::spawn(stderr);
            (notices, Some(AbortOnDrop(task)))
        }
        None => (Notices::discarded(), None),
    };
    let ended = CancellationToken::new();
    // However the session ends, even by this future being dropped, its
    // long jobs stop.
    let _cancel_on_drop = ended.clone().drop_guard();
    let session = Arc::new(Session {
        jail,
        owner,
        symlink_order,
        handles: HandleTable::new(open_handles),
        replies: replies.clone(),
        moved,
        budget: budget.clone(),
        rates,
        ended: ended.clone(),
        notices,
    });
    let path_lane = Lane::spawn(replies, budget, ended.clone());

    let broken = loop {
        let packet = match codec::read_packet(&mut reader).await {
            Ok(packet) => packet,
            Err(FrameError::Eof) => break false,
            Err(err) => {
                warn!(%err, "sftp session ended");
                break true;
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
            break true;
        }
        dispatch(&session, &path_lane, request, cost);
    };
    ended.cancel();

    // Files the client left open are closed (and logged) in order after their pending requests.
    for open in session.handles.drain() {
        if let HandleKind::File(file) = open.kind {
            open.lane.push(
                Box::new(move || {
                    // What the client sent stays, as on disk.
                    if let Err(err) = file.file.close() {
                        tracing::warn!(%err, path = %file.path, "file left open not stored");
                    }
                    requests::log_close(&file);
                    Bytes::new()
                }),
                0,
            );
        }
    }
    // The writer ends once every reply sender is gone: the path lane, the
    // handle lanes (after their last job) and the session itself.
    drop(path_lane);
    drop(session);
    // Whatever the client still sends is read and dropped meanwhile, so the
    // connection never stops reading this channel.
    let writer = {
        let draining = drain(&mut reader);
        let finished = &mut writer_task.0;
        if broken {
            tokio::select! {
                done = tokio::time::timeout(WRITER_WAIT_AFTER_ERROR, finished) => done.ok(),
                () = draining => None,
            }
        } else {
            tokio::select! {
                done = finished => Some(done),
                () = draining => None,
            }
        }
    };
    if let Some(task) = notices_task {
        // The last reason, if any, goes out before the channel closes.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), task.wait()).await;
    }
    writer
        .and_then(Result::ok)
        .map(|writer| reader.unsplit(writer))
}

/// What one session runs with, besides its byte stream.
pub struct SessionContext {
    /// The account's box.
    pub jail: Jail,
    /// Shown as owner and group in long names.
    pub owner: String,
    /// Follows how many files and directories the client holds open, so a
    /// shutdown can tell a transfer from an idle session.
    pub open_handles: Arc<AtomicUsize>,
    /// How this client orders SYMLINK's paths.
    pub symlink_order: SymlinkOrder,
    /// The account's share of the blocking pool and of open handles.
    pub budget: AccountBudget,
    /// The account's upload and download buckets, shared with its other
    /// sessions.
    pub rates: AccountRates,
    /// The channel's stderr, for reasons the client would not show
    /// ([`notices`]); `None` sends them nowhere.
    pub stderr: Option<Box<dyn AsyncWrite + Unpin + Send>>,
    /// The connection's transfer counters, which every file counts into.
    pub moved: Arc<Transferred>,
}

/// Reads and drops what `reader` still delivers; never returns.
async fn drain<R: AsyncRead + Unpin>(reader: &mut R) {
    let mut sink = vec![0u8; 32 * 1024];
    while let Ok(n) = reader.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
    std::future::pending::<()>().await;
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Waits for the task to end.
    async fn wait(mut self) {
        let _ = (&mut self.0).await;
    }
}

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

/// Replies smaller than this are gathered, with the others ready in the
/// same turn, into one write of the channel (one SSH packet while they fit
/// the client's packet size) instead of one each; larger ones, DATA of bulk
/// reads, go out as they are, without a copy into the gathering buffer.
const GATHER_BELOW_BYTES: usize = 16 * 1024;

/// The most a gathered write holds before it goes out: OpenSSH's largest
/// channel packet, so a burst of small replies is never held back long.
const GATHER_MAX_BYTES: usize = 32 * 1024;

/// Sends replies as lanes produce them, every small reply ready in the same
/// turn gathered into one channel write, and flushes once the queue is
/// empty; gives the writer back when every reply sender is gone.
async fn write_replies<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut queue: mpsc::UnboundedReceiver<Reply>,
    backlog: Arc<AtomicUsize>,
) -> W {
    let mut healthy = true;
    let mut gathered = BytesMut::with_capacity(GATHER_MAX_BYTES);
    // Backlog bytes of the replies in `gathered`, given back once written.
    let mut gathered_cost = 0;
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        while let Some(reply) = next {
            if !healthy || reply.bytes.is_empty() {
                backlog.fetch_sub(reply.cost, Ordering::SeqCst);
            } else if reply.bytes.len() < GATHER_BELOW_BYTES {
                if gathered.len() + reply.bytes.len() > GATHER_MAX_BYTES {
                    healthy = send_gathered(&mut writer, &mut gathered).await;
                    backlog.fetch_sub(std::mem::take(&mut gathered_cost), Ordering::SeqCst);
                }
                gathered.extend_from_slice(&reply.bytes);
                gathered_cost += reply.cost;
            } else {
                healthy = send_gathered(&mut writer, &mut gathered).await
                    && writer.write_all(&reply.bytes).await.is_ok();
                backlog.fetch_sub(
                    std::mem::take(&mut gathered_cost) + reply.cost,
                    Ordering::SeqCst,
                );
            }
            next = queue.try_recv().ok();
        }
        if healthy {
            healthy =
                send_gathered(&mut writer, &mut gathered).await && writer.flush().await.is_ok();
        }
        gathered.clear();
        backlog.fetch_sub(std::mem::take(&mut gathered_cost), Ordering::SeqCst);
    }
    writer
}

/// Writes what `gathered` holds, if anything, and empties it.
async fn send_gathered<W: AsyncWrite + Unpin>(writer: &mut W, gathered: &mut BytesMut) -> bool {
    if gathered.is_empty() {
        return true;
    }
    let ok = writer.write_all(gathered).await.is_ok();
    gathered.clear();
    ok
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
        } => match session.handles.get(&handle) {
            Some(handles::OpenHandle {
                kind: HandleKind::File(file),
                lane,
            }) => {
                let asked = u64::from(len.min(MAX_DATA_BYTES));
                let bucket = session.rates.download.clone();
                // With nothing before it on the handle's lane, a READ the
                // page cache can answer is answered here: no trip to the
                // blocking pool, no thread woken. It pays its toll as the
                // lane would, so only when the bytes are due at once.
                let mut toll = Some(Toll {
                    bucket: bucket.clone(),
                    bytes: asked,
                });
                if lane.is_idle() && bucket.try_take(asked) {
                    if let Some((reply, sent)) = requests::read_cached(id, &file, offset, len) {
                        bucket.give_back(asked.saturating_sub(sent as u64));
                        return session.reply(reply, cost);
                    }
                    // Paid: the lane runs it without taking it again.
                    toll = None;
                }
                let job: handles::Job = Box::new(move || {
                    let (reply, sent) = requests::read(id, &file, offset, len);
                    // Short reads (the end of the file) give back what they did not send.
                    bucket.give_back(asked.saturating_sub(sent as u64));
                    reply
                });
                match toll {
                    Some(toll) => lane.push_tolled(job, cost, toll),
                    None => lane.push(job, cost),
                }
            }
            _ => session.reply(status::invalid_handle(id), cost),
        },
        Request::Write {
            id,
            handle,
            offset,
            data,
        } => {
            let Some(handles::OpenHandle {
                kind: HandleKind::File(file),
                lane,
            }) = session.handles.get(&handle)
            else {
                return session.reply(status::invalid_handle(id), cost);
            };
            let toll = Toll {
                bucket: session.rates.upload.clone(),
                bytes: data.len() as u64,
            };
            // The first bytes of a file are a short job run here when it
            // may, paying its toll as the lane would, only when due at once.
            if offset.saturating_add(data.len() as u64) <= INLINE_FILE_BYTES
                && let Some(_slot) = inline_slot(session, &lane)
                && toll.bucket.try_take(toll.bytes)
            {
                return session.reply(requests::write(session, id, &file, offset, &data), cost);
            }
            let s = session.clone();
            let job = move || requests::write(&s, id, &file, offset, &data);
            lane.push_tolled(Box::new(job), cost, toll);
        }
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
            let lane = Lane::spawn(
                session.replies.clone(),
                session.budget.clone(),
                session.ended.clone(),
            );
            // An existing file opened only to read, with nothing before it
            // on the path lane, is opened here when the kernel's caches
            // resolve its path: no trip to the blocking pool.
            let read_only = flags.bits() == OpenFlags::READ.bits();
            if read_only
                && path_lane.is_idle()
                && let Some(reply) = requests::open_cached(session, id, &filename, &lane)
            {
                return session.reply(reply, cost);
            }
            // Making or truncating a file: here too when it may, as below.
            if !read_only && let Some(_slot) = inline_slot(session, path_lane) {
                let reply = requests::open(session, id, &filename, flags, &attrs, lane);
                return session.reply(reply, cost);
            }
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::open(s, id, &filename, flags, &attrs, lane)
            });
        }
        Request::OpenDir { id, path } => {
            let lane = Lane::spawn(
                session.replies.clone(),
                session.budget.clone(),
                session.ended.clone(),
            );
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::open_dir(s, id, &path, lane)
            });
        }
        Request::Close { id, handle } => match session.handles.remove(&handle) {
            Some(open) => {
                // Closing a directory or a file open only to read, with
                // nothing queued on it, is a close(2) that waits for no
                // disk: done here.
                if open.lane.is_idle() && !open.kind.is_writable() {
                    return session.reply(requests::close(id, &open.kind), cost);
                }
                // A small upload's close (its last pages to hand to the
                // writeback at most) is a short job run here when it may.
                if let HandleKind::File(file) = &open.kind
                    && file.bytes_written() <= INLINE_FILE_BYTES
                    && let Some(_slot) = inline_slot(session, &open.lane)
                {
                    return session.reply(requests::close(id, &open.kind), cost);
                }
                open.lane
                    .push(Box::new(move || requests::close(id, &open.kind)), cost);
            }
            None => session.reply(status::invalid_handle(id), cost),
        },
        Request::ReadDir { id, handle } => on_handle(
            session,
            &handle,
            id,
            cost,
            Weight::Short,
            move |s, kind| match kind {
                HandleKind::Dir(dir) => requests::read_dir(s, id, dir),
                HandleKind::File(_) => status::invalid_handle(id),
            },
        ),
        Request::Fstat { id, handle } => {
            on_handle(session, &handle, id, cost, Weight::Short, move |s, kind| {
                requests::fstat(id, kind, s)
            })
        }
        Request::FSetStat { id, handle, attrs } => {
            on_handle(session, &handle, id, cost, Weight::Short, move |s, kind| {
                requests::fset_stat(s, id, kind, &attrs)
            })
        }
        Request::Stat { id, path } => {
            if path_lane.is_idle()
                && let Some(reply) = requests::stat_cached(session, id, &path)
            {
                return session.reply(reply, cost);
            }
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::stat(s, id, &path, true)
            })
        }
        Request::Lstat { id, path } => on_path(session, path_lane, cost, Weight::Short, move |s| {
            requests::stat(s, id, &path, false)
        }),
        Request::SetStat { id, path, attrs } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::set_stat(s, id, &path, &attrs, true)
            })
        }
        Request::Remove { id, filename } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::remove(s, id, &filename)
            })
        }
        Request::MkDir { id, path, attrs } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::make_dir(s, id, &path, &attrs)
            })
        }
        Request::RmDir { id, path } => on_path(session, path_lane, cost, Weight::Short, move |s| {
            requests::remove_dir(s, id, &path)
        }),
        Request::RealPath { id, path } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::real_path(s, id, &path)
            })
        }
        Request::Rename { id, from, to } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::rename(s, id, &from, &to, false)
            })
        }
        Request::ReadLink { id, path } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::read_link(s, id, &path)
            })
        }
        Request::Symlink { id, first, second } => {
            let (target, link) = session.symlink_order.target_and_link(first, second);
            on_path(session, path_lane, cost, Weight::Short, move |s| {
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

/// Leave to run one short job that may wait for the disk here, on the
/// reader, instead of on `lane`'s trip to the blocking pool, which costs two
/// thread hand-offs (to a pool thread and back to the writer) each way of a
/// small file's OPEN, WRITE and CLOSE. Only on a local home (object storage
/// waits for the network), with nothing queued before it on `lane` (so the
/// order of its requests holds), and while the budget has an inline slot
/// free: one of the account's short-job slots, so it counts as the lane's
/// jobs do, and one of the process's, of which there is one fewer than
/// worker threads, so that a job the disk holds up never holds them all.
fn inline_slot(session: &Session, lane: &Lane) -> Option<JobSlot> {
    if !lane.is_idle() || session.jail.is_on_object_storage() {
        return None;
    }
    session.budget.try_inline_slot()
}

/// Queues `job` on the session's path lane, as a job of `weight` (see
/// [`Weight`]).
fn on_path(
    session: &Arc<Session>,
    path_lane: &Lane,
    cost: usize,
    weight: Weight,
    job: impl FnOnce(&Arc<Session>) -> Bytes + Send + 'static,
) {
    let s = session.clone();
    path_lane.push_weighted(Box::new(move || job(&s)), cost, weight);
}

/// Queues `job`, of `weight`, on the lane of `handle` (a file or a
/// directory), or answers that the handle is unknown.
fn on_handle(
    session: &Arc<Session>,
    handle: &[u8],
    id: u32,
    cost: usize,
    weight: Weight,
    job: impl FnOnce(&Session, &HandleKind) -> Bytes + Send + 'static,
) {
    match session.handles.get(handle) {
        Some(open) => {
            let s = session.clone();
            let kind = open.kind.clone();
            open.lane
                .push_weighted(Box::new(move || job(&s, &kind)), cost, weight);
        }
        None => session.reply(status::invalid_handle(id), cost),
    }
}
