//! `Quota`: how many bytes an account stores, and how many it may store.
//!
//! Usage is the sum of `st_size` of the regular files under the box, each
//! inode counted once (so a hard-linked file counts once); symlinks and
//! directories count 0. It is never persisted on its own: the first
//! `Jail::open` with a given `Quota` counts it from disk (see `scan.rs`),
//! so usage survives restarts, and every later change goes through the
//! jail's write, truncate, unlink and rename paths, which report it here.
//!
//! Concurrency: one `Quota` is shared (`Arc`) by all sessions of an account,
//! on any thread. The counter and the limit sit under one mutex, so a check
//! and its reservation are atomic. Operations that change one inode's size
//! or link count (write, truncate, unlink, rename over, link) first take
//! that inode's lock ([`Quota::with_inodes`]), so that "read the size, decide
//! the growth, write, reconcile" is exact even with several writers on one
//! file. Per-inode locks are created on demand and dropped when unused.
//!
//! Invariant: with no operation in flight, `used` equals the usage on disk
//! for all changes made through the jail. Changes made behind the server's
//! back are picked up at the next restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::JailError;

/// Identity of an inode: `(st_dev, st_ino)`.
pub(crate) type InodeKey = (u64, u64);

/// The byte quota of one account, shared by all its sessions.
#[derive(Debug)]
pub struct Quota {
    /// The limit and the usage, changed together.
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
    used_bytes: u64,
}

/// A poisoned lock only means another thread panicked while holding it; the
/// counter is still a plain number, so keep going rather than propagate.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Quota {
    /// A quota of `limit_bytes` (`None`: unlimited, usage still counted).
    pub fn new(limit_bytes: Option<u64>) -> Quota {
        Quota {
            state: Mutex::new(QuotaState {
                limit_bytes,
                used_bytes: 0,
            }),
            counted: Mutex::new(false),
            inode_locks: Mutex::new(HashMap::new()),
        }
    }

    /// The limit in bytes, `None` when unlimited.
    pub fn limit_bytes(&self) -> Option<u64> {
        lock(&self.state).limit_bytes
    }

    /// Bytes stored under the box; meaningful once a `Jail` has been opened
    /// with this quota (0 before).
    pub fn used_bytes(&self) -> u64 {
        lock(&self.state).used_bytes
    }

    /// Changes the limit live, for example when accounts are reloaded. Usage
    /// above a lowered limit is allowed to stay; only growth is refused.
    pub fn set_limit(&self, limit_bytes: Option<u64>) {
        lock(&self.state).limit_bytes = limit_bytes;
    }

    /// Runs `count` once per `Quota` to set the initial usage; later calls
    /// reuse the count. A failed count is retried by the next call.
    pub(crate) fn count_once(
        &self,
        count: impl FnOnce() -> Result<u64, JailError>,
    ) -> Result<(), JailError> {
        let mut counted = lock(&self.counted);
        if !*counted {
            let used_bytes = count()?;
            lock(&self.state).used_bytes = used_bytes;
            *counted = true;
        }
        Ok(())
    }

    /// Reserves `growth_bytes`, or refuses with `QuotaExceeded` when usage
    /// would go over the limit. A growth of 0 always succeeds, so an account
    /// over its limit can still overwrite in place, truncate and delete.
    pub(crate) fn reserve(&self, growth_bytes: u64) -> Result<(), JailError> {
        if growth_bytes == 0 {
            return Ok(());
        }
        let mut state = lock(&self.state);
        if let Some(limit) = state.limit_bytes {
            let fits = state
                .used_bytes
                .checked_add(growth_bytes)
                .is_some_and(|total| total <= limit);
            if !fits {
                return Err(JailError::QuotaExceeded {
                    used: state.used_bytes,
                    limit,
                });
            }
        }
        state.used_bytes = state.used_bytes.saturating_add(growth_bytes);
        Ok(())
    }

    /// Replaces the usage by a fresh count.
    pub(crate) fn set_used(&self, used_bytes: u64) {
        lock(&self.state).used_bytes = used_bytes;
    }

    /// Gives back `bytes` (a file shrank or disappeared).
    pub(crate) fn release(&self, bytes: u64) {
        let mut state = lock(&self.state);
        state.used_bytes = state.used_bytes.saturating_sub(bytes);
    }

    /// Replaces a reservation of `reserved_bytes` by the growth that really
    /// happened, `actual_bytes` (after a short or failed write).
    pub(crate) fn settle(&self, reserved_bytes: u64, actual_bytes: u64) {
        let mut state = lock(&self.state);
        state.used_bytes = state
            .used_bytes
            .saturating_sub(reserved_bytes)
            .saturating_add(actual_bytes);
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

    #[test]
    fn count_once_counts_only_the_first_time_and_retries_after_a_failure() {
        let quota = Quota::new(None);
        assert!(quota.count_once(|| Err(JailError::NotFound)).is_err());
        quota.count_once(|| Ok(42)).unwrap();
        quota.count_once(|| Ok(7)).unwrap();
        assert_eq!(quota.used_bytes(), 42);
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
