//! Charging operations on directory entries to the quota: what each one
//! holds back before it runs, and what it really cost once it has.
//!
//! Every operation that adds or removes a name (create, mkdir, symlink,
//! link, unlink, rmdir, rename) runs through [`Jail::change_entries`]. Under
//! the quota locks of its folders and of the inodes it names, it
//!
//! 1. looks the names up again (a concurrent rename may have swapped them),
//! 2. reads the folders' sizes,
//! 3. reserves its [`Need`]: the new inode against `max_files`, and the new
//!    entry's bytes plus room for its folder to grow against the byte quota
//!    (refused → nothing is done),
//! 4. makes the change,
//! 5. reads the folders' sizes again and settles: the reservation is
//!    replaced by what the entry really added and took away, plus what the
//!    folders grew by (or minus what they shrank by).
//!
//! Every jail operation that adds or removes a name in a folder holds that
//! folder's lock, so no two of them interleave between steps 2 and 5 and
//! the growth each one settles is its own. A folder grows in whole blocks
//! on ext4, and by up to two at once (see [`FOLDER_GROWTH_BLOCKS`]), which
//! is why a creation holds back two blocks although it usually costs none:
//! a home at its quota cannot gain a name, empty file or not.
//!
//! One figure is measured after the fact without a lock of its own: the
//! size of a folder just made, read right after `mkdirat`. A session that
//! filled that folder's first block in the microseconds between would have
//! that growth counted twice, an overcount that the next recount corrects.

use std::os::fd::BorrowedFd;

use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::quota::{InodeKey, Usage};
use super::{JailError, LocalBox, Stat};

/// Blocks of its filesystem a folder may grow by when one name is added.
/// ext4 adds one block when no block has room for the name, and two at
/// once when a folder of one full block becomes an indexed one (a root
/// block and two leaves: 4096 → 12288 bytes, measured with 200-byte names).
pub const FOLDER_GROWTH_BLOCKS: u64 = 2;

/// Blocks held back for the size of a folder being made: ext4 gives a new
/// folder one block; what it really got is settled right after.
pub const NEW_FOLDER_BLOCKS: u64 = 1;

/// How often the entries of an operation are looked up again when a
/// concurrent rename changed them between the lookup and the locking.
const ENTRY_LOCK_ATTEMPTS: usize = 8;

/// What an entry operation reserves before it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Need {
    /// New inodes: 1 for a file, folder or symlink, 0 for a new hard link.
    pub files: u64,
    /// Bytes of the new entry known beforehand: a symlink's target length.
    pub bytes: u64,
    /// Blocks of the first folder's filesystem held back on top, for the
    /// folder's growth and the size of a new folder.
    pub blocks: u64,
}

impl Need {
    /// Nothing: removals and renames, which add no inode.
    pub const NOTHING: Need = Need {
        files: 0,
        bytes: 0,
        blocks: 0,
    };

    /// A new inode of `bytes` known bytes (0 for an empty file) in a folder.
    pub fn new_entry(bytes: u64) -> Need {
        Need {
            files: 1,
            bytes,
            blocks: FOLDER_GROWTH_BLOCKS,
        }
    }

    /// A new folder in a folder.
    pub fn new_folder() -> Need {
        Need {
            files: 1,
            bytes: 0,
            blocks: FOLDER_GROWTH_BLOCKS + NEW_FOLDER_BLOCKS,
        }
    }

    /// A new name for an existing inode in a folder (a hard link).
    pub fn new_name() -> Need {
        Need {
            files: 0,
            bytes: 0,
            blocks: FOLDER_GROWTH_BLOCKS,
        }
    }
}

/// What an entry operation did, besides changing its folders' sizes.
#[derive(Debug)]
pub(crate) struct Changed<R> {
    /// The operation's result.
    pub value: R,
    /// What the new entry holds: 1 file and its size when an inode was made.
    pub added: Usage,
    /// What went away with the last name of an inode.
    pub removed: Usage,
}

impl<R> Changed<R> {
    /// A change that added `added`.
    pub fn added(value: R, added: Usage) -> Changed<R> {
        Changed {
            value,
            added,
            removed: Usage::default(),
        }
    }

    /// A change that took away `removed`.
    pub fn removed(value: R, removed: Usage) -> Changed<R> {
        Changed {
            value,
            added: Usage::default(),
            removed,
        }
    }
}

impl LocalBox {
    /// Runs `change` with the `lstat` of each `(parent, name)` entry (`None`
    /// when absent), under the quota locks of `folders` and of those
    /// inodes, with `need` reserved first; then settles the quota with what
    /// `change` reports and what the folders' sizes did (see the module
    /// docs). The entries are looked up again under the locks; if a
    /// concurrent rename swapped an inode meanwhile, the locks are retaken
    /// on the new ones. When `change` fails, only the folders' change in
    /// size (normally none) is kept.
    pub(crate) fn change_entries<R>(
        &self,
        folders: &[BorrowedFd<'_>],
        entries: &[(BorrowedFd<'_>, &[u8])],
        need: Need,
        change: impl FnOnce(&[Option<Stat>]) -> Result<Changed<R>, JailError>,
    ) -> Result<R, JailError> {
        // A pinned folder fd keeps its inode: its key cannot change.
        let folder_keys = folders
            .iter()
            .map(|fd| Ok(Stat::from(rustix::fs::fstat(fd)?).key()))
            .collect::<Result<Vec<InodeKey>, JailError>>()?;
        let mut change = Some(change);
        let mut stats = lstat_entries(entries)?;
        for _ in 0..ENTRY_LOCK_ATTEMPTS {
            let keys = keys_of(&stats);
            let mut locked: Vec<InodeKey> = keys.iter().flatten().copied().collect();
            locked.extend_from_slice(&folder_keys);
            let outcome = self.quota().with_inodes(&locked, || {
                let now = lstat_entries(entries)?;
                if keys_of(&now) != keys {
                    return Ok(Err(now));
                }
                let Some(change) = change.take() else {
                    return Err(Errno::AGAIN.into());
                };
                self.charged(folders, need, || change(&now)).map(Ok)
            });
            match outcome? {
                Ok(result) => return Ok(result),
                Err(now) => stats = now,
            }
        }
        Err(Errno::AGAIN.into())
    }

    /// Steps 2 to 5 of the module docs, with the locks held by the caller.
    fn charged<R>(
        &self,
        folders: &[BorrowedFd<'_>],
        need: Need,
        change: impl FnOnce() -> Result<Changed<R>, JailError>,
    ) -> Result<R, JailError> {
        let before = folders
            .iter()
            .map(|fd| Ok(rustix::fs::fstat(fd)?))
            .collect::<Result<Vec<rustix::fs::Stat>, JailError>>()?;
        let block_bytes = before
            .first()
            .and_then(|st| u64::try_from(st.st_blksize).ok())
            .unwrap_or(0);
        let reserved = Usage {
            files: need.files,
            bytes: need
                .bytes
                .saturating_add(need.blocks.saturating_mul(block_bytes)),
        };
        let quota = self.quota();
        quota.reserve_usage(reserved)?;
        let outcome = change();
        let (mut grown, mut shrunk) = (0_u64, 0_u64);
        for (fd, before) in folders.iter().zip(&before) {
            let before = Stat::from(*before).size;
            // An fstat of a pinned fd does not fail in practice; if it did,
            // taking the size as unchanged only risks an undercount that
            // the next recount corrects.
            let after = rustix::fs::fstat(fd).map_or(before, |st| Stat::from(st).size);
            grown = grown.saturating_add(after.saturating_sub(before));
            shrunk = shrunk.saturating_add(before.saturating_sub(after));
        }
        let folders_grew = Usage {
            bytes: grown,
            files: 0,
        };
        let folders_shrank = Usage {
            bytes: shrunk,
            files: 0,
        };
        match outcome {
            Ok(done) => {
                quota.settle_usage(
                    reserved,
                    done.added + folders_grew,
                    done.removed + folders_shrank,
                );
                Ok(done.value)
            }
            Err(err) => {
                quota.settle_usage(reserved, folders_grew, folders_shrank);
                Err(err)
            }
        }
    }
}

/// What goes away with `victim` when one of its names is removed: all of
/// it when that was its last name (a directory has only one), nothing when
/// other hard links keep it.
pub(crate) fn freed_by_unlinking(victim: &Stat) -> Usage {
    if victim.is_dir() || victim.nlink <= 1 {
        Usage {
            bytes: victim.size,
            files: 1,
        }
    } else {
        Usage::default()
    }
}

/// What the entry `name` in `parent`, just made, holds: one file of its
/// size. `estimate` stands in if it cannot be read (it was removed at once
/// behind the jail's back).
pub(crate) fn made(parent: BorrowedFd<'_>, name: &[u8], estimate: u64) -> Usage {
    let bytes = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_or(estimate, |st| Stat::from(st).size);
    Usage { bytes, files: 1 }
}

/// `lstat` of each entry; `None` for a name that does not exist.
fn lstat_entries(entries: &[(BorrowedFd<'_>, &[u8])]) -> Result<Vec<Option<Stat>>, JailError> {
    entries
        .iter()
        .map(
            |(parent, name)| match rustix::fs::statat(*parent, *name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Ok(Some(Stat::from(st))),
                Err(Errno::NOENT) => Ok(None),
                Err(errno) => Err(errno.into()),
            },
        )
        .collect()
}

fn keys_of(stats: &[Option<Stat>]) -> Vec<Option<InodeKey>> {
    stats.iter().map(|st| st.map(|st| st.key())).collect()
}
