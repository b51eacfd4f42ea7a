//! Open handles and the lanes that order work on them.
//!
//! A lane runs its jobs one after another, in arrival order, on the blocking
//! pool; short jobs queued together run in one `spawn_blocking` call, a long
//! one alone. Before it takes a thread, a lane waits for a slot of the
//! account's budget (`crate::budget`), so one account's lanes, however many,
//! hold only its share of the pool. A lane has no task of its own: the push
//! that finds it idle starts its trip directly when a slot is free, and
//! only a lane that must wait for its slot waits in a task. A request that
//! finds its lane idle may also be answered without it, on the reader, when
//! the kernel's caches can answer it (see `crate::sftp`'s dispatcher). Each handle has its own lane (so WRITEs
//! to one file stay in order while other files proceed), and all path
//! requests share the session's path lane. Replies go straight to the writer,
//! in whatever order lanes finish: SFTP clients match replies by id.
//!
//! A READ or a WRITE carries a toll: its bytes, taken from the account's
//! download or upload bucket (`crate::rate`) before the lane runs it. A toll
//! due at once is taken where the trip starts; one that must wait hands the
//! lane to a task that waits for the bucket, on the async side, so a lane
//! waiting for its rate holds no thread and no slot. Waiting delays the
//! reply, and the client's own limit on requests in flight then holds it
//! back: the rate is flow control, never a refused request. Once the
//! session has ended, tolls are waived so that what is queued finishes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::budget::{AccountBudget, HandleTicket, JobSlot};
use crate::jail::{JailDir, JailFile, VirtualPath, escaped};
use crate::rate::TokenBucket;
use crate::transfer::{Direction, FileInfo, FileTransfer, Transferred};

/// Most handles one session may hold open (advertised in `limits@openssh.com`).
pub const MAX_OPEN_HANDLES: usize = 1024;

/// Most jobs a lane runs in one trip to the blocking pool.
const MAX_JOBS_PER_BATCH: usize = 64;

/// Work that produces one encoded reply.
pub type Job = Box<dyn FnOnce() -> Bytes + Send>;

/// A reply on its way to the writer, with the backlog bytes its request held.
pub struct Reply {
    /// The encoded packet.
    pub bytes: Bytes,
    /// Bytes of backlog budget to give back once written.
    pub cost: usize,
}

/// How long a job may run, which decides the slot it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Bounded by one packet (a READ, a WRITE, a stat, a READDIR batch):
    /// runs in the account's short-job slots, batched with its neighbours.
    Short,
    /// As long as a whole file (check-file, copy-data): runs alone in one of
    /// the account's few long-job slots and stops when the session ends.
    Long,
}

/// Bytes a job moves to or from the client, to be taken from a bucket
/// before it runs.
pub struct Toll {
    /// The account's bucket for the job's direction.
    pub bucket: Arc<TokenBucket>,
    /// How many bytes (a READ's length, a WRITE's payload).
    pub bytes: u64,
}

/// A queued job: the job, the backlog bytes it holds, its weight, and its
/// toll until paid.
struct Queued {
    job: Job,
    cost: usize,
    weight: Weight,
    toll: Option<Toll>,
}

/// A serial queue of jobs. It has no task of its own: the push that finds
/// it idle starts a trip to the blocking pool at once when the account has
/// a short slot free (the common case), and the trip runs what was queued
/// meanwhile before it gives the slot back. Only a lane that must wait for
/// a slot or for its next job's toll, or whose next job is long, goes
/// through a task that waits for it. A task per lane cost two wake-ups per
/// request: the push, and the blocking job's end.
#[derive(Clone)]
pub struct Lane {
    inner: Arc<LaneInner>,
}

struct LaneInner {
    state: Mutex<LaneState>,
    replies: mpsc::UnboundedSender<Reply>,
    budget: AccountBudget,
    /// Cancelled when the session ends: tolls are then waived.
    ended: CancellationToken,
    runtime: tokio::runtime::Handle,
    span: tracing::Span,
}

#[derive(Default)]
struct LaneState {
    queue: VecDeque<Queued>,
    /// A trip is running or waiting for its slot: it owns the queue's head.
    running: bool,
    /// The writer is gone: nothing more needs running.
    dead: bool,
}

impl Lane {
    /// Starts a lane whose replies go to `replies` and whose jobs wait for
    /// a slot of `budget`, the account's, before they take a thread (and
    /// for their toll before that, until `ended` is cancelled).
    pub fn spawn(
        replies: mpsc::UnboundedSender<Reply>,
        budget: AccountBudget,
        ended: CancellationToken,
    ) -> Lane {
        Lane {
            inner: Arc::new(LaneInner {
                state: Mutex::new(LaneState::default()),
                replies,
                budget,
                ended,
                runtime: tokio::runtime::Handle::current(),
                span: tracing::Span::current(),
            }),
        }
    }

    /// Queues a short `job`, holding `cost` bytes of backlog until its reply
    /// is written.
    pub fn push(&self, job: Job, cost: usize) {
        self.push_weighted(job, cost, Weight::Short);
    }

    /// Queues a short `job` that moves bytes to or from the client: it runs
    /// once `toll` is paid.
    pub fn push_tolled(&self, job: Job, cost: usize, toll: Toll) {
        self.enqueue(Queued {
            job,
            cost,
            weight: Weight::Short,
            toll: Some(toll),
        });
    }

    /// Queues a long `job` (see [`Weight::Long`]).
    pub fn push_long(&self, job: Job, cost: usize) {
        self.push_weighted(job, cost, Weight::Long);
    }

    /// Queues `job` of `weight`, holding `cost` bytes of backlog until its
    /// reply is written.
    pub fn push_weighted(&self, job: Job, cost: usize, weight: Weight) {
        self.enqueue(Queued {
            job,
            cost,
            weight,
            toll: None,
        });
    }

    /// Whether nothing is queued or running: a request answered without
    /// the lane now is still in order with everything before it.
    pub fn is_idle(&self) -> bool {
        let state = self.inner.lock();
        !state.running && state.queue.is_empty()
    }

    fn enqueue(&self, queued: Queued) {
        let mut state = self.inner.lock();
        if state.dead {
            // The session's writer is gone; a lost job then needs no reply.
            return;
        }
        state.queue.push_back(queued);
        if !state.running {
            state.running = true;
            drop(state);
            LaneInner::start(&self.inner);
        }
    }
}

impl LaneInner {
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `queued`'s toll is paid, paying it now if its bytes are due
    /// at once (or the session has ended, which waives it).
    fn pay_at_once(&self, queued: &mut Queued) -> bool {
        let paid = match &queued.toll {
            None => true,
            Some(toll) => self.ended.is_cancelled() || toll.bucket.try_take(toll.bytes),
        };
        if paid {
            queued.toll = None;
        }
        paid
    }

    /// Starts the next trip of a lane marked running: at once when its
    /// head is short, its toll paid or due now, and a slot is free; else
    /// through a task that waits for the toll, then the slot.
    fn start(lane: &Arc<LaneInner>) {
        let (weight, toll) = {
            let mut state = lane.lock();
            let Some(head) = state.queue.front_mut() else {
                // Checked and cleared under one lock: a push meanwhile
                // would have found the lane running and left it to us.
                state.running = false;
                return;
            };
            let waiting_toll = if lane.pay_at_once(head) {
                None
            } else {
                // The head stays queued, its toll still on it, until the
                // task below has paid it: no one else takes the head of a
                // running lane.
                head.toll
                    .as_ref()
                    .map(|toll| (toll.bucket.clone(), toll.bytes))
            };
            (head.weight, waiting_toll)
        };
        if weight == Weight::Short
            && toll.is_none()
            && let Some(slot) = lane.budget.try_job_slot()
        {
            return LaneInner::trip(lane.clone(), slot, Weight::Short);
        }
        let waiting = lane.clone();
        lane.runtime.spawn(
            async move {
                if let Some((bucket, bytes)) = toll {
                    tokio::select! {
                        () = bucket.take(bytes) => {}
                        () = waiting.ended.cancelled() => {}
                    }
                    let mut state = waiting.lock();
                    if state.dead {
                        // Killed meanwhile: nothing is left to run.
                        return;
                    }
                    match state.queue.front_mut() {
                        Some(head) => head.toll = None,
                        None => return,
                    }
                }
                let slot = match weight {
                    Weight::Short => waiting.budget.job_slot().await,
                    Weight::Long => waiting.budget.long_job_slot().await,
                };
                match slot {
                    Some(slot) => LaneInner::trip(waiting, slot, weight),
                    None => waiting.kill(),
                }
            }
            .instrument(lane.span.clone()),
        );
    }

    /// Runs, in `slot`, one long job or up to [`MAX_JOBS_PER_BATCH`] short
    /// ones from the head of the queue, then starts the next trip.
    fn trip(lane: Arc<LaneInner>, slot: JobSlot, weight: Weight) {
        let runtime = lane.runtime.clone();
        runtime.spawn_blocking(move || {
            let _entered = lane.span.enter();
            let mut ran = 0;
            loop {
                // The next job, if it goes in this trip: of the trip's
                // weight and, past the first, short with its toll due now
                // (one that must wait for it ends the trip, and the next
                // start waits for it in a task, holding no slot).
                let next = {
                    let mut state = lane.lock();
                    let goes = state.queue.front_mut().is_some_and(|head| {
                        head.weight == weight
                            && (ran == 0 || weight == Weight::Short)
                            && lane.pay_at_once(head)
                    });
                    if goes { state.queue.pop_front() } else { None }
                };
                let Some(Queued { job, cost, .. }) = next else {
                    break;
                };
                let bytes = job();
                if lane.replies.send(Reply { bytes, cost }).is_err() {
                    drop(slot);
                    return lane.kill();
                }
                ran += 1;
                if weight == Weight::Long || ran >= MAX_JOBS_PER_BATCH {
                    break;
                }
            }
            // Gives the slot back before taking the next, so other lanes
            // of the account get their turn.
            drop(slot);
            LaneInner::start(&lane);
        });
    }

    /// The writer is gone: drops what is queued and refuses more.
    fn kill(&self) {
        let mut state = self.lock();
        state.dead = true;
        state.running = false;
        state.queue.clear();
    }
}

/// An open file and what it moved, for its audit line at close.
pub struct FileHandle {
    /// The file.
    pub file: JailFile,
    /// Where it was opened, for logs.
    pub path: VirtualPath,
    /// When it was opened.
    pub opened: Instant,
    /// What moved through this handle, counted into the connection's
    /// figures too; for a file opened for writing, an upload, which hashes
    /// what is written in order.
    pub transfer: FileTransfer,
    /// Whether the client was already told, on stderr, why a write failed.
    pub told: AtomicBool,
    /// The file's size when it was opened to read, which sizes READ's
    /// buffers (see `requests::read`).
    pub size_at_open: Option<u64>,
    /// The handle's share of the account's and the process's allowance.
    _ticket: HandleTicket,
}

impl FileHandle {
    /// A handle for a freshly opened file, holding `ticket`, whose transfer
    /// (`direction`, `size` bytes when known) counts into `total`; an
    /// upload is hashed while it is written in order.
    pub fn new(
        file: JailFile,
        path: VirtualPath,
        ticket: HandleTicket,
        direction: Direction,
        size: Option<u64>,
        total: Arc<Transferred>,
    ) -> FileHandle {
        let info = FileInfo {
            path: escaped(path.as_bytes()).into_owned(),
            direction,
            size,
        };
        FileHandle {
            file,
            path,
            opened: Instant::now(),
            transfer: FileTransfer::new(total, info),
            told: AtomicBool::new(false),
            size_at_open: size,
            _ticket: ticket,
        }
    }

    /// True the first time it is called: whether to tell the client now.
    pub fn tell_once(&self) -> bool {
        !self.told.swap(true, Ordering::SeqCst)
    }

    /// Counts `n` bytes read.
    pub fn count_read(&self, n: usize) {
        self.transfer.add_read(n as u64);
    }

    /// Counts `data`, written at `offset` (and hashes it when in order).
    pub fn count_written(&self, offset: u64, data: &[u8]) {
        self.transfer.written_at(offset, data);
    }

    /// Bytes written through it so far.
    pub fn bytes_written(&self) -> u64 {
        self.transfer.moved().bytes_written
    }
}

/// A directory opened by OPENDIR, read a READDIR-sized batch at a time,
/// so a handle costs one descriptor and one buffer, not the listing.
pub struct DirHandle {
    /// The listed directory.
    pub path: VirtualPath,
    /// The open directory, read on.
    pub dir: Mutex<JailDir>,
    /// The handle's share of the account's and the process's allowance.
    _ticket: HandleTicket,
}

impl DirHandle {
    /// A handle for a freshly opened directory, holding `ticket`.
    pub fn new(dir: JailDir, path: VirtualPath, ticket: HandleTicket) -> DirHandle {
        DirHandle {
            path,
            dir: Mutex::new(dir),
            _ticket: ticket,
        }
    }
}

/// What a handle refers to.
#[derive(Clone)]
pub enum HandleKind {
    /// An open file.
    File(Arc<FileHandle>),
    /// An open directory listing.
    Dir(Arc<DirHandle>),
}

impl HandleKind {
    /// Whether it is a file open for writing (whose close may wait for
    /// the disk), not a directory or a file open only to read.
    pub fn is_writable(&self) -> bool {
        match self {
            HandleKind::File(file) => file.file.is_writable(),
            HandleKind::Dir(_) => false,
        }
    }
}

/// A handle and the lane that orders its requests.
#[derive(Clone)]
pub struct OpenHandle {
    /// The file or directory.
    pub kind: HandleKind,
    /// Its lane.
    pub lane: Lane,
}

/// The handles of one session, shared by its reader and its jobs.
#[derive(Clone, Default)]
pub struct HandleTable {
    inner: Arc<Mutex<TableInner>>,
    /// How many handles are open, shared with whoever watches for an idle
    /// session (graceful shutdown lets open transfers finish).
    open_count: Arc<AtomicUsize>,
}

#[derive(Default)]
struct TableInner {
    next_id: u64,
    open: HashMap<Bytes, OpenHandle>,
}

impl HandleTable {
    /// An empty table that keeps `open_count` equal to its size.
    pub fn new(open_count: Arc<AtomicUsize>) -> HandleTable {
        HandleTable {
            inner: Arc::default(),
            open_count,
        }
    }

    fn lock(&self) -> MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `handle` and returns its id string, or `None` when the
    /// session already holds [`MAX_OPEN_HANDLES`].
    pub fn insert(&self, handle: OpenHandle) -> Option<String> {
        let mut inner = self.lock();
        if inner.open.len() >= MAX_OPEN_HANDLES {
            return None;
        }
        inner.next_id += 1;
        let id = inner.next_id.to_string();
        inner.open.insert(Bytes::from(id.clone()), handle);
        self.open_count.fetch_add(1, Ordering::SeqCst);
        Some(id)
    }

    /// The handle named `id`.
    pub fn get(&self, id: &[u8]) -> Option<OpenHandle> {
        self.lock().open.get(id).cloned()
    }

    /// Removes and returns the handle named `id` (CLOSE).
    pub fn remove(&self, id: &[u8]) -> Option<OpenHandle> {
        let removed = self.lock().open.remove(id);
        if removed.is_some() {
            self.open_count.fetch_sub(1, Ordering::SeqCst);
        }
        removed
    }

    /// Removes every handle (end of session).
    pub fn drain(&self) -> Vec<OpenHandle> {
        let drained: Vec<OpenHandle> = self.lock().open.drain().map(|(_, h)| h).collect();
        self.open_count.fetch_sub(drained.len(), Ordering::SeqCst);
        drained
    }
}
