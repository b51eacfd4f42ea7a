//! Open handles and the lanes that order work on them.
//!
//! A lane runs its jobs one after another, in arrival order, on the blocking
//! pool; short jobs queued together run in one `spawn_blocking` call, a long
//! one alone. Before it takes a thread, a lane waits for a slot of the
//! account's budget (`crate::budget`), so one account's lanes, however many,
//! hold only its share of the pool. Each handle has its own lane (so WRITEs
//! to one file stay in order while other files proceed), and all path
//! requests share the session's path lane. Replies go straight to the writer,
//! in whatever order lanes finish: SFTP clients match replies by id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::budget::{AccountBudget, HandleTicket};
use crate::jail::{JailDir, JailFile, VirtualPath, escaped};
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

/// A job, the backlog bytes it holds, and its weight.
type Queued = (Job, usize, Weight);

/// A serial queue of jobs.
#[derive(Clone)]
pub struct Lane {
    jobs: mpsc::UnboundedSender<Queued>,
}

impl Lane {
    /// Starts a lane whose replies go to `replies` and whose jobs wait for
    /// a slot of `budget`, the account's, before they take a thread.
    pub fn spawn(replies: mpsc::UnboundedSender<Reply>, budget: AccountBudget) -> Lane {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Queued>();
        let span = tracing::Span::current();
        let task_span = span.clone();
        tokio::spawn(
            async move {
                let mut held_back: Option<Queued> = None;
                loop {
                    let first = match held_back.take() {
                        Some(first) => first,
                        None => match queue.recv().await {
                            Some(first) => first,
                            None => return,
                        },
                    };
                    let mut batch = vec![(first.0, first.1)];
                    let slot = if first.2 == Weight::Long {
                        budget.long_job_slot().await
                    } else {
                        // Short jobs queued together share one trip; a long
                        // one waits for the next, in its own slot.
                        while batch.len() < MAX_JOBS_PER_BATCH {
                            match queue.try_recv() {
                                Ok((job, cost, Weight::Short)) => batch.push((job, cost)),
                                Ok(long) => {
                                    held_back = Some(long);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        budget.job_slot().await
                    };
                    let Some(slot) = slot else {
                        return;
                    };
                    let replies = replies.clone();
                    let span = span.clone();
                    let ran = tokio::task::spawn_blocking(move || {
                        let _slot = slot;
                        let _entered = span.enter();
                        for (job, cost) in batch {
                            let bytes = job();
                            if replies.send(Reply { bytes, cost }).is_err() {
                                return false;
                            }
                        }
                        true
                    })
                    .await;
                    if !matches!(ran, Ok(true)) {
                        return;
                    }
                }
            }
            .instrument(task_span),
        );
        Lane { jobs }
    }

    /// Queues a short `job`, holding `cost` bytes of backlog until its reply
    /// is written.
    pub fn push(&self, job: Job, cost: usize) {
        // The lane ends only when the session does; a lost job then needs no reply.
        let _ = self.jobs.send((job, cost, Weight::Short));
    }

    /// Queues a long `job` (see [`Weight::Long`]).
    pub fn push_long(&self, job: Job, cost: usize) {
        let _ = self.jobs.send((job, cost, Weight::Long));
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
