//! What one account may hold of the process at once, so that no account
//! can lock the others out: threads of tokio's blocking pool (short jobs and
//! long ones such as hashing or copying a whole file, which get their own,
//! smaller allowance) and open handles, each of which holds a descriptor.
//!
//! The process's descriptor limit (`RLIMIT_NOFILE`) is split once, at start:
//! a reserve is kept back for what must always work (`accept`, a new login,
//! the home's descriptor, a command's pipes), the rest is what all open
//! handles together may use, and one account may hold at most a quarter of
//! that, or `max_open_handles_per_account` if it is smaller.
//!
//! A few short jobs may also run on the runtime's own worker threads, with
//! no trip to the blocking pool (see `crate::sftp`): each takes one of the
//! account's short-job slots and one of the process's inline slots, of
//! which there is one fewer than there are worker threads, so that however
//! long the disk keeps such jobs waiting, one worker always runs the rest.
//!
//! Every count is a permit or a ticket that gives itself back when dropped,
//! so a session that ends, however it ends, frees what it held.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Blocking jobs (reads, writes, stats, directory batches) one account may
/// have running at once, over all its sessions. A job is short: a READ is at
/// most 255 KiB, a READDIR batch 100 entries.
pub const JOBS_PER_ACCOUNT: usize = 8;

/// Long jobs (check-file hashes, copy-data) one account may have running at
/// once; they run beside its short jobs, never in their place.
pub const LONG_JOBS_PER_ACCOUNT: usize = 2;

/// Long jobs all accounts together may have running at once, so that most
/// of tokio's 512 blocking threads stay free for short work whatever many
/// accounts ask.
pub const LONG_JOBS_PER_PROCESS: usize = 64;

/// Descriptors kept back from open handles at the least.
const MIN_DESCRIPTOR_RESERVE: u64 = 64;

/// Descriptors kept back from open handles, as a fraction (1 / this) of the
/// limit, when that is more than [`MIN_DESCRIPTOR_RESERVE`].
const RESERVE_DIVISOR: u64 = 4;

/// One account may hold at most 1 / this of the handles the process allows.
const ACCOUNT_SHARE_DIVISOR: usize = 4;

/// The process-wide side: created once, shared by every account.
#[derive(Debug, Clone)]
pub struct ProcessBudget {
    inner: Arc<ProcessInner>,
}

#[derive(Debug)]
struct ProcessInner {
    /// Handles open over all accounts, and how many may be.
    handles: Gauge,
    /// Long jobs running over all accounts.
    long_jobs: Arc<Semaphore>,
    /// Short jobs running on the runtime's worker threads, over all accounts.
    inline_jobs: Arc<Semaphore>,
    /// Most handles one account may hold.
    handles_per_account: usize,
}

impl ProcessBudget {
    /// The budget for this process's current descriptor limit, with at
    /// most `max_open_handles_per_account` handles for one account.
    pub fn for_this_process(max_open_handles_per_account: usize) -> ProcessBudget {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        ProcessBudget::with_descriptor_limit(limit, max_open_handles_per_account)
    }

    /// The budget for a descriptor limit of `limit`.
    pub fn with_descriptor_limit(limit: u64, max_open_handles_per_account: usize) -> ProcessBudget {
        let reserve = (limit / RESERVE_DIVISOR).max(MIN_DESCRIPTOR_RESERVE);
        let handles = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
        let handles_per_account = (handles / ACCOUNT_SHARE_DIVISOR)
            .min(max_open_handles_per_account)
            .max(1);
        ProcessBudget {
            inner: Arc::new(ProcessInner {
                handles: Gauge::new(handles),
                long_jobs: Arc::new(Semaphore::new(LONG_JOBS_PER_PROCESS)),
                inline_jobs: Arc::new(Semaphore::new(inline_slots())),
                handles_per_account,
            }),
        }
    }

    /// Handles all accounts together may hold open.
    pub fn max_handles(&self) -> usize {
        self.inner.handles.limit
    }

    /// Handles one account may hold open.
    pub fn max_handles_per_account(&self) -> usize {
        self.inner.handles_per_account
    }

    /// A fresh budget for one account, drawing on this one.
    pub fn for_account(&self) -> AccountBudget {
        AccountBudget {
            inner: Arc::new(AccountInner {
                handles: Gauge::new(self.inner.handles_per_account),
                jobs: Arc::new(Semaphore::new(JOBS_PER_ACCOUNT)),
                long_jobs: Arc::new(Semaphore::new(LONG_JOBS_PER_ACCOUNT)),
                process: self.inner.clone(),
            }),
        }
    }
}

/// One account's budget, shared by all its sessions; clones share it.
#[derive(Debug, Clone)]
pub struct AccountBudget {
    inner: Arc<AccountInner>,
}

#[derive(Debug)]
struct AccountInner {
    handles: Gauge,
    jobs: Arc<Semaphore>,
    long_jobs: Arc<Semaphore>,
    process: Arc<ProcessInner>,
}

/// Why a handle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleRefusal {
    /// The account holds as many as one account may.
    Account(usize),
    /// All accounts together hold as many as the process allows.
    Process(usize),
}

impl AccountBudget {
    /// A budget of its own, for tests that run a session without a server.
    #[cfg(test)]
    pub fn unshared() -> AccountBudget {
        ProcessBudget::with_descriptor_limit(u64::MAX, usize::MAX).for_account()
    }

    /// One open handle's share, taken before its descriptor is opened.
    pub fn try_take_handle(&self) -> Result<HandleTicket, HandleRefusal> {
        let inner = &self.inner;
        if !inner.handles.try_take() {
            return Err(HandleRefusal::Account(inner.handles.limit));
        }
        if !inner.process.handles.try_take() {
            inner.handles.give_back();
            return Err(HandleRefusal::Process(inner.process.handles.limit));
        }
        Ok(HandleTicket {
            account: inner.clone(),
        })
    }

    /// Handles this account holds open now.
    #[cfg(test)]
    pub fn handles_open(&self) -> usize {
        self.inner.handles.used.load(Ordering::SeqCst)
    }

    /// Waits for a slot to run short blocking jobs in.
    pub async fn job_slot(&self) -> Option<JobSlot> {
        let permit = self.inner.jobs.clone().acquire_owned().await.ok()?;
        Some(JobSlot {
            _permits: vec![permit],
        })
    }

    /// A slot to run short blocking jobs in, if one is free now (no waiter
    /// is passed: the semaphore hands freed permits to waiters first).
    pub fn try_job_slot(&self) -> Option<JobSlot> {
        let permit = self.inner.jobs.clone().try_acquire_owned().ok()?;
        Some(JobSlot {
            _permits: vec![permit],
        })
    }

    /// A slot to run one short job on the runtime's worker thread that asks,
    /// if one is free now: one of the account's short-job slots and one of
    /// the process's inline slots.
    pub fn try_inline_slot(&self) -> Option<JobSlot> {
        let process = self
            .inner
            .process
            .inline_jobs
            .clone()
            .try_acquire_owned()
            .ok()?;
        let account = self.inner.jobs.clone().try_acquire_owned().ok()?;
        Some(JobSlot {
            _permits: vec![account, process],
        })
    }

    /// Waits for a slot to run one long job in: one of the account's and
    /// one of the process's.
    pub async fn long_job_slot(&self) -> Option<JobSlot> {
        let account = self.inner.long_jobs.clone().acquire_owned().await.ok()?;
        let process = self
            .inner
            .process
            .long_jobs
            .clone()
            .acquire_owned()
            .await
            .ok()?;
        Some(JobSlot {
            _permits: vec![account, process],
        })
    }
}

/// Inline slots of the process: one fewer than the runtime's worker
/// threads, which are as many as the machine's processors (tokio's default).
fn inline_slots() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get().saturating_sub(1))
}

/// Leave to run blocking work; dropping it frees the slot.
#[derive(Debug)]
pub struct JobSlot {
    _permits: Vec<OwnedSemaphorePermit>,
}

/// One open handle's share of the account's and the process's allowance;
/// dropping it (when the handle's descriptor closes) gives both back.
#[derive(Debug)]
pub struct HandleTicket {
    account: Arc<AccountInner>,
}

impl Drop for HandleTicket {
    fn drop(&mut self) {
        self.account.handles.give_back();
        self.account.process.handles.give_back();
    }
}

/// A count with a ceiling.
#[derive(Debug)]
struct Gauge {
    used: AtomicUsize,
    limit: usize,
}

impl Gauge {
    fn new(limit: usize) -> Gauge {
        Gauge {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    fn try_take(&self) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < self.limit).then_some(used + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used.saturating_sub(1))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_descriptor_limit_keeps_a_reserve_and_gives_an_account_a_quarter() {
        let budget = ProcessBudget::with_descriptor_limit(256, 1024);
        assert_eq!(budget.max_handles(), 192);
        assert_eq!(budget.max_handles_per_account(), 48);
        let large = ProcessBudget::with_descriptor_limit(1 << 20, 1024);
        assert_eq!(large.max_handles(), 3 << 18);
        assert_eq!(large.max_handles_per_account(), 1024);
    }

    #[test]
    fn tickets_stop_at_the_accounts_share_and_come_back_when_dropped() {
        let process = ProcessBudget::with_descriptor_limit(256, 3);
        let account = process.for_account();
        let tickets: Vec<_> = (0..3).map(|_| account.try_take_handle().unwrap()).collect();
        assert_eq!(
            account.try_take_handle().unwrap_err(),
            HandleRefusal::Account(3)
        );
        let other = process.for_account();
        assert!(other.try_take_handle().is_ok());
        drop(tickets);
        assert_eq!(account.handles_open(), 0);
        assert!(account.try_take_handle().is_ok());
    }

    #[test]
    fn the_process_ceiling_binds_over_all_accounts() {
        // 80 descriptors: 64 kept back, 16 for handles, 4 per account.
        let process = ProcessBudget::with_descriptor_limit(80, 1024);
        let accounts: Vec<_> = (0..5).map(|_| process.for_account()).collect();
        let mut held = Vec::new();
        for account in accounts.iter().take(4) {
            for _ in 0..4 {
                held.push(account.try_take_handle().unwrap());
            }
        }
        let last = accounts.last().unwrap();
        assert_eq!(
            last.try_take_handle().unwrap_err(),
            HandleRefusal::Process(16)
        );
    }
    #[test]
    fn inline_slots_leave_one_worker_free_and_count_as_the_accounts_short_jobs() {
        let process = ProcessBudget::with_descriptor_limit(256, 1024);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let accounts: Vec<_> = (0..workers).map(|_| process.for_account()).collect();
        let held: Vec<_> = accounts
            .iter()
            .take(workers - 1)
            .map(|account| account.try_inline_slot().unwrap())
            .collect();
        let last = accounts.last().unwrap();
        assert!(
            last.try_inline_slot().is_none(),
            "every worker but one is taken"
        );
        drop(held);
        let slot = last.try_inline_slot();
        assert_eq!(slot.is_some(), workers > 1);
        // An inline slot is one of the account's short-job slots.
        let short: Vec<_> = std::iter::from_fn(|| last.try_job_slot()).collect();
        assert_eq!(short.len() + usize::from(slot.is_some()), JOBS_PER_ACCOUNT);
    }
}
