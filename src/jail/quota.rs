//! `Quota`: how much an account stores, and how much it may store: bytes
//! and files.
//!
//! Usage is counted per inode under the box, each inode once (so a
//! hard-linked file counts once): its *bytes* are the `st_size` of every
//! regular file, symlink (its target's length) and directory, the home's own
//! included, because adding names to a folder grows it on disk; its *files*
//! are the inodes below the home, of any kind (the home itself is not one).
//! Either may have a limit: `limit_bytes` (accounts.toml's `quota`) and
//! `max_files`. Usage is never persisted on its own: the first `Jail::open`
//! with a given `Quota` counts it from disk (see `scan.rs`), so it survives
//! restarts, and every later change goes through the jail's write,
//! truncate, create, unlink and rename paths, which report it here.
//!
//! Concurrency: one `Quota` is shared (`Arc`) by all sessions of an account,
//! on any thread. The counters and the limits sit under one mutex, so a
//! check and its reservation are atomic. Operations that change one inode's
//! size or link count (write, truncate, unlink, rename over, link) or a
//! folder's names (create, unlink, rename) first take the locks of those
//! inodes, folders included ([`Quota::with_inodes`]), so that "read the
//! size, reserve, change, reconcile" is exact even with several sessions
//! at work on one file or in one folder. Per-inode locks are created on
//! demand and dropped when unused.
//!
//! Invariant: with no operation in flight, the usage equals the usage on
//! disk for all changes made through the jail. Changes made behind the
//! server's back (external programs) are picked up by a recount.

use std::collections::HashMap;
use std::ops::Add;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::JailError;

/// Identity of an inode: `(st_dev, st_ino)`.
pub(crate) type InodeKey = (u64, u64);

/// What a box holds, or what an operation adds or takes away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes: sizes of regular files, symlinks and directories.
    pub bytes: u64,
    /// Files: inodes of any kind below the home.
    pub files: u64,
}

impl Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            bytes: self.bytes.saturating_add(other.bytes),
            files: self.files.saturating_add(other.files),
        }
    }
}

/// The byte quota and file limit of one account, shared by all its sessions.
#[derive(Debug)]
pub struct Quota {
    /// The limits and the usage, changed together.
    state: Mutex<QuotaState>,
    /// Whether usage has been counted from disk; held while scanning so that
    /// concurrent first logins scan once.
    counted: Mutex<bool>,
    /// One lock per inode being changed; entries are removed when unused.
    inode_locks: Mutex<HashMap<InodeKey, Arc<Mutex<()>>>>,
}

#[derive(Debug)]
struct QuotaState {
    limit_bytes: Option<u64>,
    max_files: Option<u64>,
    used: Usage,
}

/// A poisoned lock only means another thread panicked while holding it; the
/// counter is still a plain number, so keep going rather than propagate.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Quota {
    /// A quota of `limit_bytes` (`None`: unlimited, usage still counted) and
    /// no limit on files.
    pub fn new(limit_bytes: Option<u64>) -> Quota {
        Quota {
            state: Mutex::new(QuotaState {
                limit_bytes,
                max_files: None,
                used: Usage::default(),
            }),
            counted: Mutex::new(false),
            inode_locks: Mutex::new(HashMap::new()),
        }
    }

    /// The same quota with at most `max_files` files (`None`: no limit).
    pub fn with_max_files(self, max_files: Option<u64>) -> Quota {
        self.set_max_files(max_files);
        self
    }

    /// The limit in bytes, `None` when unlimited.
    pub fn limit_bytes(&self) -> Option<u64> {
        lock(&self.state).limit_bytes
    }

    /// The most files the box may hold, `None` when unlimited.
    pub fn max_files(&self) -> Option<u64> {
        lock(&self.state).max_files
    }

    /// Bytes stored under the box; meaningful once a `Jail` has been opened
    /// with this quota (0 before).
    pub fn used_bytes(&self) -> u64 {
        lock(&self.state).used.bytes
    }

    /// Files (inodes of any kind) below the home; meaningful once a `Jail`
    /// has been opened with this quota (0 before).
    pub fn used_files(&self) -> u64 {
        lock(&self.state).used.files
    }

    /// Bytes and files used, read together.
    pub fn usage(&self) -> Usage {
        lock(&self.state).used
    }

    /// Changes the byte limit live, for example when accounts are reloaded.
    /// Usage above a lowered limit is allowed to stay; only growth is refused.
    pub fn set_limit(&self, limit_bytes: Option<u64>) {
        lock(&self.state).limit_bytes = limit_bytes;
    }

    /// Changes the file limit live. Files above a lowered limit stay; only
    /// new ones are refused.
    pub fn set_max_files(&self, max_files: Option<u64>) {
        lock(&self.state).max_files = max_files;
    }

    /// Runs `count` once per `Quota` to set the initial usage; later calls
    /// reuse the count. A failed count is retried by the next call.
    pub(crate) fn count_once(
        &self,
        count: impl FnOnce() -> Result<Usage, JailError>,
    ) -> Result<(), JailError> {
        let mut counted = lock(&self.counted);
        if !*counted {
            let used = count()?;
            lock(&self.state).used = used;
            *counted = true;
        }
        Ok(())
    }

    /// Reserves `growth_bytes`, or refuses with `QuotaExceeded` when usage
    /// would go over the limit. A growth of 0 always succeeds, so an account
    /// over its limit can still overwrite in place, truncate and delete.
    pub(crate) fn reserve(&self, growth_bytes: u64) -> Result<(), JailError> {
        self.reserve_usage(Usage {
            bytes: growth_bytes,
            files: 0,
        })
    }

    /// Reserves `need` (new files and bytes) at once, or refuses without
    /// reserving anything: `TooManyFiles` when the files would go over
    /// `max_files` (checked first), `QuotaExceeded` when the bytes would go
    /// over the byte limit. A part of 0 always fits.
    pub(crate) fn reserve_usage(&self, need: Usage) -> Result<(), JailError> {
        if need == Usage::default() {
            return Ok(());
        }
        let mut state = lock(&self.state);
        let used = state.used;
        if need.files > 0
            && let Some(limit) = state.max_files
            && !fits(used.files, need.files, limit)
        {
            return Err(JailError::TooManyFiles {
                used: used.files,
                limit,
            });
        }
        if need.bytes > 0
            && let Some(limit) = state.limit_bytes
            && !fits(used.bytes, need.bytes, limit)
        {
            return Err(JailError::QuotaExceeded {
                used: used.bytes,
                limit,
            });
        }
        state.used = used + need;
        Ok(())
    }

    /// Refuses with `QuotaExceeded` when the bytes are already over the
    /// limit; reserves nothing. For operations that add no inode and whose
    /// growth, if any, is known only afterwards (a rename).
    pub(crate) fn check_not_over(&self) -> Result<(), JailError> {
        let state = lock(&self.state);
        match state.limit_bytes {
            Some(limit) if state.used.bytes > limit => Err(JailError::QuotaExceeded {
                used: state.used.bytes,
                limit,
            }),
            _ => Ok(()),
        }
    }

    /// Replaces the usage by a fresh count (the tests' recounts; the
    /// object box's mirror of its ledger).
    pub(crate) fn set_used(&self, used: Usage) {
        lock(&self.state).used = used;
    }

    /// Gives back `bytes` (a file shrank or disappeared).
    pub(crate) fn release(&self, bytes: u64) {
        self.settle_usage(
            Usage::default(),
            Usage::default(),
            Usage { bytes, files: 0 },
        );
    }

    /// Replaces a reservation of `reserved_bytes` by the growth that really
    /// happened, `actual_bytes` (after a short or failed write).
    pub(crate) fn settle(&self, reserved_bytes: u64, actual_bytes: u64) {
        let bytes = |bytes| Usage { bytes, files: 0 };
        self.settle_usage(bytes(reserved_bytes), bytes(actual_bytes), Usage::default());
    }

    /// Replaces a reservation of `reserved` by what an operation really
    /// did: it added `added` and took away `removed`. Saturates at 0 and at
    /// `u64::MAX` rather than wrap.
    pub(crate) fn settle_usage(&self, reserved: Usage, added: Usage, removed: Usage) {
        let mut state = lock(&self.state);
        let used = state.used;
        state.used = Usage {
            bytes: used
                .bytes
                .saturating_sub(reserved.bytes)
                .saturating_add(added.bytes)
                .saturating_sub(removed.bytes),
            files: used
                .files
                .saturating_sub(reserved.files)
                .saturating_add(added.files)
                .saturating_sub(removed.files),
        };
    }

    /// Runs `change` while holding the locks of the given inodes, so that no
    /// other jail operation changes their size or links meanwhile. Locks are
    /// taken in sorted order (and duplicates once) to avoid deadlock.
    pub(crate) fn with_inodes<R>(&self, keys: &[InodeKey], change: impl FnOnce() -> R) -> R {
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let locks: Vec<(InodeKey, Arc<Mutex<()>>)> = {
            let mut table = lock(&self.inode_locks);
            sorted
                .iter()
                .map(|key| (*key, Arc::clone(table.entry(*key).or_default())))
                .collect()
        };
        let result = {
            let _guards: Vec<MutexGuard<'_, ()>> = locks
                .iter()
                .map(|(_, inode_lock)| lock(inode_lock))
                .collect();
            change()
        };
        // Drop table entries nobody else holds: the table keeps one count,
        // `locks` the other. Counts only grow under the table lock, so this
        // check cannot race with a thread picking the same entry.
        let mut table = lock(&self.inode_locks);
        for (key, inode_lock) in locks {
            if Arc::strong_count(&inode_lock) == 2 {
                table.remove(&key);
            }
        }
        result
    }

    /// Number of per-inode locks currently allocated (for tests).
    #[cfg(test)]
    fn inode_lock_count(&self) -> usize {
        lock(&self.inode_locks).len()
    }
}

/// Whether `used + more` stays within `limit`.
fn fits(used: u64, more: u64, limit: u64) -> bool {
    used.checked_add(more).is_some_and(|total| total <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_refuses_growth_past_the_limit_and_reports_usage() {
        let quota = Quota::new(Some(100));
        quota.reserve(60).unwrap();
        assert_eq!(
            quota.reserve(41),
            Err(JailError::QuotaExceeded {
                used: 60,
                limit: 100
            })
        );
        assert_eq!(quota.used_bytes(), 60);
        quota.reserve(40).unwrap();
        assert_eq!(quota.used_bytes(), 100);
    }

    #[test]
    fn an_unlimited_quota_still_counts_usage() {
        let quota = Quota::new(None);
        quota.reserve(u64::MAX - 1).unwrap();
        quota.reserve(5).unwrap();
        assert_eq!(quota.used_bytes(), u64::MAX);
    }

    #[test]
    fn an_account_over_its_limit_may_shrink_but_not_grow() {
        let quota = Quota::new(Some(1000));
        quota.reserve(900).unwrap();
        quota.set_limit(Some(500));
        assert!(quota.reserve(1).is_err());
        assert_eq!(quota.reserve(0), Ok(()));
        quota.release(300);
        assert_eq!(quota.used_bytes(), 600);
        quota.release(10_000);
        assert_eq!(quota.used_bytes(), 0);
    }

    #[test]
    fn settle_replaces_a_reservation_by_the_real_growth() {
        let quota = Quota::new(Some(100));
        quota.reserve(50).unwrap();
        quota.settle(50, 20);
        assert_eq!(quota.used_bytes(), 20);
    }

    fn usage(bytes: u64, files: u64) -> Usage {
        Usage { bytes, files }
    }

    #[test]
    fn count_once_counts_only_the_first_time_and_retries_after_a_failure() {
        let quota = Quota::new(None);
        assert!(quota.count_once(|| Err(JailError::NotFound)).is_err());
        quota.count_once(|| Ok(usage(42, 3))).unwrap();
        quota.count_once(|| Ok(usage(7, 1))).unwrap();
        assert_eq!(quota.usage(), usage(42, 3));
        assert_eq!((quota.used_bytes(), quota.used_files()), (42, 3));
    }

    #[test]
    fn a_new_entry_past_max_files_is_refused_with_the_figures_and_reserves_nothing() {
        let quota = Quota::new(Some(1000)).with_max_files(Some(2));
        quota.reserve_usage(usage(10, 1)).unwrap();
        quota.reserve_usage(usage(10, 1)).unwrap();
        let refused = quota.reserve_usage(usage(10, 1));
        assert_eq!(refused, Err(JailError::TooManyFiles { used: 2, limit: 2 }));
        assert_eq!(quota.usage(), usage(20, 2));
        // A new name for an existing inode (a hard link) needs no file.
        quota.reserve_usage(usage(10, 0)).unwrap();
        assert_eq!(quota.usage(), usage(30, 2));
    }

    #[test]
    fn files_are_checked_before_bytes_and_a_refusal_reserves_neither() {
        let quota = Quota::new(Some(100)).with_max_files(Some(1));
        quota.reserve_usage(usage(90, 1)).unwrap();
        assert_eq!(
            quota.reserve_usage(usage(20, 1)),
            Err(JailError::TooManyFiles { used: 1, limit: 1 })
        );
        quota.set_max_files(Some(5));
        assert_eq!(
            quota.reserve_usage(usage(20, 1)),
            Err(JailError::QuotaExceeded {
                used: 90,
                limit: 100
            })
        );
        assert_eq!(quota.usage(), usage(90, 1));
        quota.set_max_files(None);
        quota.set_limit(None);
        quota.reserve_usage(usage(u64::MAX, u64::MAX)).unwrap();
        assert_eq!(quota.usage(), usage(u64::MAX, u64::MAX));
    }

    #[test]
    fn settling_an_entry_replaces_the_reservation_by_what_it_cost() {
        let quota = Quota::new(Some(100_000)).with_max_files(Some(10));
        quota.set_used(usage(4096, 0));
        // mkdir: one file, three blocks held back, one block really used.
        let reserved = usage(3 * 4096, 1);
        quota.reserve_usage(reserved).unwrap();
        quota.settle_usage(reserved, usage(4096, 1), Usage::default());
        assert_eq!(quota.usage(), usage(8192, 1));
        // A failed creation gives back all of its reservation.
        quota.reserve_usage(reserved).unwrap();
        quota.settle_usage(reserved, Usage::default(), Usage::default());
        assert_eq!(quota.usage(), usage(8192, 1));
        // rmdir: the folder and its block go back; more than is counted
        // never takes usage below zero.
        quota.settle_usage(Usage::default(), Usage::default(), usage(4096, 1));
        assert_eq!(quota.usage(), usage(4096, 0));
        quota.settle_usage(Usage::default(), Usage::default(), usage(1 << 20, 5));
        assert_eq!(quota.usage(), usage(0, 0));
    }

    #[test]
    fn deleting_is_always_allowed_over_both_limits() {
        let quota = Quota::new(Some(10)).with_max_files(Some(1));
        quota.set_used(usage(50, 4));
        assert!(quota.reserve_usage(usage(1, 0)).is_err());
        assert!(quota.reserve_usage(usage(0, 1)).is_err());
        assert_eq!(quota.reserve_usage(Usage::default()), Ok(()));
        quota.settle_usage(Usage::default(), Usage::default(), usage(45, 3));
        assert_eq!(quota.usage(), usage(5, 1));
        quota.reserve_usage(usage(5, 0)).unwrap();
        assert_eq!(
            quota.reserve_usage(usage(0, 1)),
            Err(JailError::TooManyFiles { used: 1, limit: 1 })
        );
    }

    #[test]
    fn a_rename_is_refused_only_over_the_byte_limit() {
        let quota = Quota::new(Some(100));
        quota.set_used(usage(100, 3));
        assert_eq!(quota.check_not_over(), Ok(()));
        quota.set_used(usage(101, 3));
        assert_eq!(
            quota.check_not_over(),
            Err(JailError::QuotaExceeded {
                used: 101,
                limit: 100
            })
        );
        assert_eq!(Quota::new(None).check_not_over(), Ok(()));
    }

    #[test]
    fn concurrent_reservations_never_pass_max_files() {
        let quota = Arc::new(Quota::new(None).with_max_files(Some(100)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let quota = Arc::clone(&quota);
                std::thread::spawn(move || {
                    (0..60)
                        .filter(|_| quota.reserve_usage(usage(0, 1)).is_ok())
                        .count()
                })
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 100);
        assert_eq!(quota.used_files(), 100);
    }

    #[test]
    fn inode_locks_serialize_and_are_cleaned_up() {
        let quota = Arc::new(Quota::new(None));
        let counter = Arc::new(Mutex::new(0_u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let quota = Arc::clone(&quota);
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        quota.with_inodes(&[(1, 2), (1, 1), (1, 2)], || {
                            *counter.lock().unwrap() += 1;
                        });
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*counter.lock().unwrap(), 2000);
        assert_eq!(quota.inode_lock_count(), 0);
    }
}
