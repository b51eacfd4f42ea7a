//! The jail's door: [`Jail`], [`JailFile`] and [`JailDir`] are what the
//! rest of sftpbox holds, and each is one of two boxes behind it.
//!
//! - **Local** (`LocalBox`, the rest of this module's siblings): a home
//!   directory on this machine, resolved with `openat2(RESOLVE_IN_ROOT)`.
//!   It is the fast path and the default; without a `[cluster]` section it
//!   is the only one.
//! - **Object** (`object.rs`): the namespace as rows in PostgreSQL, the
//!   contents as immutable objects in S3, the quota in the database's
//!   ledger, shared by every node of a cluster.
//!
//! An enum rather than a trait object: the set is closed, every method is
//! a total match (a third backend shows up as a compile error in each
//! place it must be decided), and the local path pays one branch, no
//! allocation or indirection. Callers see the same methods and errors;
//! what object storage cannot do comes back as
//! [`JailError::NotOnObjectStorage`], which says why.

use std::path::Path;
use std::sync::Arc;

use super::object::{ObjectBox, ObjectDir, ObjectFile, ObjectStorage};
use super::{
    DirEntry, FsStats, JailError, LocalBox, LocalDir, LocalFile, OpenOptions, Quota, SetAttrs,
    Stat, VirtualPath,
};

/// An account's box: its home, opened once, and its quota. Cheap to
/// clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Jail {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Local(LocalBox),
    Object(ObjectBox),
}

impl Jail {
    /// Opens the local box at `home`, creating it (and missing parents)
    /// with mode 0700 if needed. The first `open` with a given `quota`
    /// counts the bytes and files stored under `home`; later ones reuse
    /// that count.
    pub fn open(home: &Path, quota: Arc<Quota>, readonly: bool) -> Result<Jail, JailError> {
        Ok(Jail {
            backend: Backend::Local(LocalBox::open(home, quota, readonly)?),
        })
    }

    /// [`Jail::open`], giving the home to `owner` on a root server (see
    /// `LocalBox::open_as`).
    pub fn open_as(
        home: &Path,
        quota: Arc<Quota>,
        readonly: bool,
        owner: Option<u32>,
    ) -> Result<Jail, JailError> {
        Ok(Jail {
            backend: Backend::Local(LocalBox::open_as(home, quota, readonly, owner)?),
        })
    }

    /// Opens `account`'s box on the cluster's object storage, creating its
    /// root folder on first use; `quota` mirrors the database's ledger for
    /// display (the ledger alone decides). Blocking.
    pub fn open_object(
        storage: &ObjectStorage,
        account: &str,
        quota: Arc<Quota>,
        readonly: bool,
    ) -> Result<Jail, JailError> {
        Ok(Jail {
            backend: Backend::Object(ObjectBox::open(storage, account, quota, readonly)?),
        })
    }

    /// The bytes stored under the local home `home`, for tools that report
    /// usage without serving (see `LocalBox::usage_on_disk`).
    pub fn usage_on_disk(home: &Path) -> Result<Option<u64>, JailError> {
        LocalBox::usage_on_disk(home)
    }

    /// Whether the home is on a cluster's object storage, where external
    /// programs cannot run (they need a local filesystem under them).
    pub fn is_on_object_storage(&self) -> bool {
        matches!(self.backend, Backend::Object(_))
    }

    /// The local box, for the jail's own tests.
    #[cfg(test)]
    pub(crate) fn local(&self) -> Option<&LocalBox> {
        match &self.backend {
            Backend::Local(local) => Some(local),
            Backend::Object(_) => None,
        }
    }

    /// Counts the usage again and makes it the quota's (the jail's tests).
    #[cfg(test)]
    pub fn recount_usage(&self) -> Result<super::Usage, JailError> {
        match &self.backend {
            Backend::Local(local) => local.recount_usage(),
            Backend::Object(object) => object.recount_usage(),
        }
    }

    /// The account's quota, shared with its other sessions.
    pub fn quota(&self) -> &Arc<Quota> {
        match &self.backend {
            Backend::Local(local) => local.quota(),
            Backend::Object(object) => object.quota(),
        }
    }

    /// Whether the account may only read.
    pub fn is_readonly(&self) -> bool {
        match &self.backend {
            Backend::Local(local) => local.is_readonly(),
            Backend::Object(object) => object.is_readonly(),
        }
    }

    /// Metadata of `path`, following symlinks (inside the box).
    pub fn stat(&self, path: &VirtualPath) -> Result<Stat, JailError> {
        match &self.backend {
            Backend::Local(local) => local.stat(path),
            Backend::Object(object) => object.stat(path),
        }
    }

    /// Like [`stat`](Self::stat), but only from the kernel's caches (see
    /// `LocalBox::stat_cached`); `None` when that is not enough, always on
    /// object storage (every lookup asks the database).
    pub fn stat_cached(&self, path: &VirtualPath) -> Result<Option<Stat>, JailError> {
        match &self.backend {
            Backend::Local(local) => local.stat_cached(path),
            Backend::Object(_) => Ok(None),
        }
    }

    /// Opens the existing file `path` to read from the kernel's caches
    /// only (see `LocalBox::open_file_cached`); `None` when that is not
    /// enough, always on object storage.
    pub fn open_file_cached(&self, path: &VirtualPath) -> Result<Option<JailFile>, JailError> {
        match &self.backend {
            Backend::Local(local) => Ok(local.open_file_cached(path)?.map(|file| JailFile {
                backend: FileBackend::Local(file),
            })),
            Backend::Object(_) => Ok(None),
        }
    }

    /// Metadata of `path` itself: a final symlink is reported, not followed.
    pub fn lstat(&self, path: &VirtualPath) -> Result<Stat, JailError> {
        match &self.backend {
            Backend::Local(local) => local.lstat(path),
            Backend::Object(object) => object.stat(path),
        }
    }

    /// The entries of directory `path`, without `.` and `..`, each with
    /// its `lstat`.
    pub fn read_dir(&self, path: &VirtualPath) -> Result<Vec<DirEntry>, JailError> {
        self.open_dir(path)?.next_entries(usize::MAX)
    }

    /// Opens directory `path` for reading its entries in batches.
    pub fn open_dir(&self, path: &VirtualPath) -> Result<JailDir, JailError> {
        Ok(JailDir {
            backend: match &self.backend {
                Backend::Local(local) => DirBackend::Local(local.open_dir(path)?),
                Backend::Object(object) => DirBackend::Object(object.open_dir(path)?),
            },
        })
    }

    /// Filesystem statistics of the box, reduced to the quota when there
    /// is one.
    pub fn fs_stats(&self) -> Result<FsStats, JailError> {
        match &self.backend {
            Backend::Local(local) => local.fs_stats(),
            Backend::Object(object) => Ok(object.fs_stats()),
        }
    }

    /// Opens a regular file as `opts` says (see `open.rs`, and `object.rs`
    /// for what object storage refuses).
    pub fn open_file(&self, path: &VirtualPath, opts: &OpenOptions) -> Result<JailFile, JailError> {
        Ok(JailFile {
            backend: match &self.backend {
                Backend::Local(local) => FileBackend::Local(local.open_file(path, opts)?),
                Backend::Object(object) => FileBackend::Object(object.open_file(path, opts)?),
            },
        })
    }

    /// Makes directory `path` with permission bits `mode`.
    pub fn create_dir(&self, path: &VirtualPath, mode: u32) -> Result<(), JailError> {
        match &self.backend {
            Backend::Local(local) => local.create_dir(path, mode),
            Backend::Object(object) => object.create_dir(path, mode),
        }
    }

    /// Removes the empty directory `path`.
    pub fn remove_dir(&self, path: &VirtualPath) -> Result<(), JailError> {
        match &self.backend {
            Backend::Local(local) => local.remove_dir(path),
            Backend::Object(object) => object.remove_dir(path),
        }
    }

    /// Removes the file (or symlink) `path`; its bytes go back to the quota.
    pub fn remove_file(&self, path: &VirtualPath) -> Result<(), JailError> {
        match &self.backend {
            Backend::Local(local) => local.remove_file(path),
            Backend::Object(object) => object.remove_file(path),
        }
    }

    /// Renames `from` to `to`; with `replace`, an existing `to` is
    /// replaced atomically, without, it is `AlreadyExists`.
    pub fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        replace: bool,
    ) -> Result<(), JailError> {
        match &self.backend {
            Backend::Local(local) => local.rename(from, to, replace),
            Backend::Object(object) => object.rename(from, to, replace),
        }
    }

    /// Makes `new` a hard link to `existing`.
    pub fn hard_link(&self, existing: &VirtualPath, new: &VirtualPath) -> Result<(), JailError> {
        match &self.backend {
            Backend::Local(local) => local.hard_link(existing, new),
            Backend::Object(object) => object.refuse_links(),
        }
    }

    /// Makes `link` a symlink to `target`.
    pub fn symlink(&self, target: &[u8], link: &VirtualPath) -> Result<(), JailError> {
        match &self.backend {
            Backend::Local(local) => local.symlink(target, link),
            Backend::Object(object) => object.refuse_links(),
        }
    }

    /// The target of the symlink `path`.
    pub fn read_link(&self, path: &VirtualPath) -> Result<Vec<u8>, JailError> {
        match &self.backend {
            Backend::Local(local) => local.read_link(path),
            Backend::Object(object) => object.read_link(path),
        }
    }

    /// Applies `attrs` to `path` (see `attrs.rs`); `follow` = false acts on
    /// a final symlink itself.
    pub fn set_attrs(
        &self,
        path: &VirtualPath,
        attrs: &SetAttrs,
        follow: bool,
    ) -> Result<(), JailError> {
        match &self.backend {
            Backend::Local(local) => local.set_attrs(path, attrs, follow),
            Backend::Object(object) => object.set_attrs(path, attrs),
        }
    }

    /// The absolute path `path` names, symlinks resolved inside the box.
    pub fn canonicalize(&self, path: &VirtualPath) -> Result<VirtualPath, JailError> {
        match &self.backend {
            Backend::Local(local) => local.canonicalize(path),
            Backend::Object(object) => object.canonicalize(path),
        }
    }
}

/// An open regular file in the box. `Send + Sync`: all I/O is positioned,
/// so one `JailFile` can be shared (`Arc`) between tasks.
#[derive(Debug)]
pub struct JailFile {
    backend: FileBackend,
}

#[derive(Debug)]
enum FileBackend {
    Local(LocalFile),
    Object(ObjectFile),
}

impl JailFile {
    /// Reads up to `buf.len()` bytes at `offset`; 0 at end of file.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, JailError> {
        match &self.backend {
            FileBackend::Local(local) => local.read_at(buf, offset),
            FileBackend::Object(object) => object.read_at(buf, offset),
        }
    }

    /// Reads from the page cache only (see `LocalFile::read_at_cached`);
    /// `None` when that would wait, always on object storage.
    pub fn read_at_cached(&self, buf: &mut [u8], offset: u64) -> Result<Option<usize>, JailError> {
        match &self.backend {
            FileBackend::Local(local) => local.read_at_cached(buf, offset),
            FileBackend::Object(_) => Ok(None),
        }
    }

    /// Whether it was opened for writing.
    pub fn is_writable(&self) -> bool {
        match &self.backend {
            FileBackend::Local(local) => local.is_writable(),
            FileBackend::Object(object) => object.is_writable(),
        }
    }

    /// Writes all of `data` at `offset`, or nothing when the growth would
    /// exceed the quota.
    pub fn write_at(&self, data: &[u8], offset: u64) -> Result<(), JailError> {
        match &self.backend {
            FileBackend::Local(local) => local.write_at(data, offset),
            FileBackend::Object(object) => object.write_at(data, offset),
        }
    }

    /// Sets the size to `size`; growth is charged, shrinking gives back.
    /// (Callers resize through `set_attrs` or `allocate`; the jail's own
    /// tests drive this directly.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn set_len(&self, size: u64) -> Result<(), JailError> {
        match &self.backend {
            FileBackend::Local(local) => local.set_len(size),
            FileBackend::Object(object) => object.set_len(size),
        }
    }

    /// Makes room for `size` bytes about to be written, from a new file's
    /// start: a local file is sized to `size` at once (a sparse file),
    /// which reserves the quota atomically; an upload to object storage
    /// has its ledger grant taken. Refused over the quota.
    pub fn allocate(&self, size: u64) -> Result<(), JailError> {
        match &self.backend {
            FileBackend::Local(local) => local.set_len(size),
            FileBackend::Object(object) => object.allocate(size),
        }
    }

    /// Metadata of the open file.
    pub fn stat(&self) -> Result<Stat, JailError> {
        match &self.backend {
            FileBackend::Local(local) => local.stat(),
            FileBackend::Object(object) => Ok(object.stat()),
        }
    }

    /// Changes size, permission bits and times.
    pub fn set_attrs(&self, attrs: &SetAttrs) -> Result<(), JailError> {
        match &self.backend {
            FileBackend::Local(local) => local.set_attrs(attrs),
            FileBackend::Object(object) => object.set_attrs(attrs),
        }
    }

    /// Flushes data and metadata to the disk (`fsync`).
    pub fn sync_all(&self) -> Result<(), JailError> {
        match &self.backend {
            FileBackend::Local(local) => local.sync_all(),
            FileBackend::Object(object) => object.sync_all(),
        }
    }

    /// Ends the file's writing: nothing to do for a local file (every
    /// write is already on disk); for a file being uploaded to object
    /// storage, the upload is completed and the file's row points at the
    /// new object, in one transaction with its quota. Later calls do
    /// nothing. A file dropped without `close` after writes on object
    /// storage is discarded, its reservation given back.
    pub fn close(&self) -> Result<(), JailError> {
        match &self.backend {
            FileBackend::Local(_) => Ok(()),
            FileBackend::Object(object) => object.close(),
        }
    }
}

/// An open directory inside the box, read a batch at a time.
#[derive(Debug)]
pub struct JailDir {
    backend: DirBackend,
}

#[derive(Debug)]
enum DirBackend {
    Local(LocalDir),
    Object(ObjectDir),
}

impl JailDir {
    /// Up to `max` more entries, each with its `lstat`; empty at the end.
    pub fn next_entries(&mut self, max: usize) -> Result<Vec<DirEntry>, JailError> {
        match &mut self.backend {
            DirBackend::Local(local) => local.next_entries(max),
            DirBackend::Object(object) => object.next_entries(max),
        }
    }
}
