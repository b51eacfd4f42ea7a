//! The object box: a home whose namespace is rows in PostgreSQL and whose
//! file contents are immutable objects in S3, so that every node of a
//! cluster serves the same box.
//!
//! - **Names** are rows of `sftpbox_entries` (`schema.sql`), linked by the
//!   parent's id, never objects keyed by path: renaming a file or a whole
//!   folder is one `UPDATE` of one row, atomic and free whatever its size;
//!   folders, modes and times are columns.
//! - **Contents** are objects named by a fresh UUID (`o/<uuid>`), written
//!   once by a multipart upload and never changed. An overwrite uploads a
//!   new object and points the row at it in the transaction that ends the
//!   upload; the old object becomes an orphan (`sftpbox_orphans`) that is
//!   deleted after the commit or by the sweeper. Nothing relies on S3
//!   conditional writes (Garage ignores them).
//! - **Quota** is the `sftpbox_ledger` row of the account: an upload holds
//!   a reservation (`ledger.rs`), taken in chunks ahead of the writes and
//!   settled at close in the same transaction as the row; the account's
//!   `Quota` here only mirrors the ledger for `df` and statvfs.
//! - **Namespace changes** of one account are serialised by a transaction
//!   advisory lock on the account, so two nodes cannot race a rename into
//!   a cycle or a create into a duplicate; reads take no lock.
//!
//! What an object store cannot do is refused with
//! [`JailError::NotOnObjectStorage`] and a reason, never emulated badly:
//! writes anywhere but at the end of what was written (objects are
//! immutable and a multipart upload only appends; an existing file opened
//! without truncation is appended to, as a new segment, which is how
//! `reput` resumes), opening a file for reading and writing at once,
//! truncating to anything but 0 or the current size, hard links and
//! symlinks (a second
//! name for one object would need reference counts the quota then has to
//! follow; symlinks would need their own resolution inside the box).
//!
//! The jail is called from blocking threads; each call here runs its
//! database and store work as a task on the server's runtime and waits for
//! it (`ObjectStorage::block`), so no call can stall an async worker.

mod download;
mod ledger;
mod namespace;
mod upload;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use object_store::ObjectStore;

pub use ledger::{reap_reservations, sweep_orphans};
pub(crate) use upload::ObjectFile;

use super::{DirEntry, FsStats, JailError, OpenOptions, Quota, SetAttrs, Stat, VirtualPath};
use namespace::Entry;

/// The tables of the object box, for whoever prepares the database.
pub const SCHEMA: &str = include_str!("object/schema.sql");

/// Block size reported by statvfs for an object box.
const BLOCK_SIZE: u64 = 4096;

/// What statvfs reports as the total of a box without a quota: 1 PiB.
const UNLIMITED_BYTES: u64 = 1 << 50;

/// Longest file name on an object box, as on most local filesystems.
const NAME_MAX: u64 = 255;

/// What every object box of a node shares: the database, the object store
/// and this node's name (its reservations carry it). Cheap to clone.
#[derive(Clone)]
pub struct ObjectStorage {
    /// Connections to the cluster's PostgreSQL.
    pub pool: deadpool_postgres::Pool,
    /// The bucket holding file contents.
    pub store: Arc<dyn ObjectStore>,
    /// This node's name, unique in the cluster.
    pub node: String,
    /// The runtime the database and store work runs on.
    pub runtime: tokio::runtime::Handle,
}

impl fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("node", &self.node)
            .field("store", &self.store.to_string())
            .finish_non_exhaustive()
    }
}

impl ObjectStorage {
    /// Runs `work` on the runtime and waits for it, from a blocking thread
    /// (or any thread: it never enters the runtime itself).
    fn block<T, F>(&self, work: F) -> Result<T, JailError>
    where
        F: Future<Output = Result<T, JailError>> + Send + 'static,
        T: Send + 'static,
    {
        futures::executor::block_on(self.runtime.spawn(work))
            .map_err(|_| JailError::Io(std::io::Error::other("storage task stopped")))?
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, JailError> {
        self.pool.get().await.map_err(|err| {
            tracing::warn!(%err, "database unavailable");
            unavailable("database")
        })
    }
}

/// The error a client sees when the database or the store fails: which
/// one, without its internals.
fn unavailable(what: &str) -> JailError {
    JailError::Io(std::io::Error::other(format!("{what} unavailable")))
}

/// A database error as a jail error, logged once here.
fn db(err: tokio_postgres::Error) -> JailError {
    tracing::warn!(%err, "database request failed");
    unavailable("database")
}

/// A store error as a jail error, logged once here.
fn store_error(err: object_store::Error) -> JailError {
    tracing::warn!(%err, "object store request failed");
    unavailable("object storage")
}

/// An account's box on object storage. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ObjectBox {
    inner: Arc<BoxInner>,
}

#[derive(Debug)]
struct BoxInner {
    storage: ObjectStorage,
    account: String,
    /// The id of the home's root row.
    root: i64,
    quota: Arc<Quota>,
    readonly: bool,
}

impl ObjectBox {
    /// Opens `account`'s box, making its root row and its ledger row on
    /// first use, and reads its usage from the ledger.
    pub(crate) fn open(
        storage: &ObjectStorage,
        account: &str,
        quota: Arc<Quota>,
        readonly: bool,
    ) -> Result<ObjectBox, JailError> {
        let store = storage.clone();
        let name = account.to_owned();
        let (limit, max_files) = (quota.limit_bytes(), quota.max_files());
        let root = storage.block(async move {
            let client = store.client().await?;
            ledger::ensure_account(&client, &name, limit, max_files).await?;
            namespace::ensure_root(&client, &name).await
        })?;
        let opened = ObjectBox {
            inner: Arc::new(BoxInner {
                storage: storage.clone(),
                account: account.to_owned(),
                root,
                quota,
                readonly,
            }),
        };
        opened.recount_usage()?;
        Ok(opened)
    }

    /// Runs `work` with this box's state on the runtime and waits for it.
    fn run<T, F, Fut>(&self, work: F) -> Result<T, JailError>
    where
        F: FnOnce(Arc<BoxInner>) -> Fut,
        Fut: Future<Output = Result<T, JailError>> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.storage.block(work(Arc::clone(&self.inner)))
    }

    /// Reads the account's usage from the ledger into the quota mirror.
    pub(crate) fn recount_usage(&self) -> Result<super::Usage, JailError> {
        let usage = self.run(|inner| async move {
            let client = inner.storage.client().await?;
            ledger::used(&client, &inner.account).await
        })?;
        self.inner.quota.set_used(usage);
        Ok(usage)
    }

    pub(crate) fn quota(&self) -> &Arc<Quota> {
        &self.inner.quota
    }

    pub(crate) fn is_readonly(&self) -> bool {
        self.inner.readonly
    }

    fn check_writable(&self) -> Result<(), JailError> {
        if self.inner.readonly {
            Err(JailError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Metadata of `path` (there are no symlinks to follow).
    pub(crate) fn stat(&self, path: &VirtualPath) -> Result<Stat, JailError> {
        let path = path.clone();
        self.run(|inner| async move {
            let client = inner.storage.client().await?;
            Ok(namespace::lookup(&client, inner.root, &path).await?.stat())
        })
    }

    /// Opens folder `path` for listing in batches.
    pub(crate) fn open_dir(&self, path: &VirtualPath) -> Result<ObjectDir, JailError> {
        let path = path.clone();
        let dir = self.run(|inner| async move {
            let client = inner.storage.client().await?;
            namespace::lookup(&client, inner.root, &path).await
        })?;
        if !dir.is_dir {
            return Err(JailError::NotADirectory);
        }
        Ok(ObjectDir {
            owner: self.clone(),
            dir: dir.id,
            after: Vec::new(),
            done: false,
        })
    }

    /// statvfs of the box: the quota as the size, what it leaves as free.
    pub(crate) fn fs_stats(&self) -> FsStats {
        let used = self.inner.quota.used_bytes();
        let total = self.inner.quota.limit_bytes().unwrap_or(UNLIMITED_BYTES);
        let free_blocks = total.saturating_sub(used) / BLOCK_SIZE;
        FsStats {
            block_size: BLOCK_SIZE,
            blocks: total / BLOCK_SIZE,
            blocks_free: free_blocks,
            blocks_avail: free_blocks,
            files: u64::from(u32::MAX),
            files_free: u64::from(u32::MAX),
            name_max: NAME_MAX,
        }
    }

    /// Opens a file for reading, or for a sequential upload (see the
    /// module's header for what is refused).
    pub(crate) fn open_file(
        &self,
        path: &VirtualPath,
        opts: &OpenOptions,
    ) -> Result<ObjectFile, JailError> {
        if opts.read && opts.write {
            return Err(JailError::NotOnObjectStorage(
                "a file cannot be opened for reading and writing at once; objects are written once, from start to end",
            ));
        }
        if !opts.write {
            let path = path.clone();
            let entry = self.run(|inner| async move {
                let client = inner.storage.client().await?;
                namespace::lookup(&client, inner.root, &path).await
            })?;
            if entry.is_dir {
                return Err(JailError::IsADirectory);
            }
            return Ok(ObjectFile::reading(self.clone(), entry));
        }
        self.check_writable()?;
        let path = path.clone();
        let opts = *opts;
        let (entry, _created) = self.run(|inner| async move {
            let mut client = inner.storage.client().await?;
            namespace::open_for_upload(&mut client, &inner.account, inner.root, &path, &opts).await
        })?;
        // Without truncation, what the file holds stays and writes go
        // after it: a resumed upload (`reput`, `sftp -a`) or an append.
        let appending = !opts.truncate && entry.size > 0;
        ObjectFile::uploading(self.clone(), entry, appending, opts.append)
    }

    pub(crate) fn create_dir(&self, path: &VirtualPath, mode: u32) -> Result<(), JailError> {
        self.check_writable()?;
        let path = path.clone();
        self.run(|inner| async move {
            let mut client = inner.storage.client().await?;
            namespace::create_dir(&mut client, &inner.account, inner.root, &path, mode).await
        })
    }

    pub(crate) fn remove_dir(&self, path: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        let path = path.clone();
        self.run(|inner| async move {
            let mut client = inner.storage.client().await?;
            namespace::remove_dir(&mut client, &inner.account, inner.root, &path).await
        })
    }

    pub(crate) fn remove_file(&self, path: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        let path = path.clone();
        self.run(|inner| async move {
            let mut client = inner.storage.client().await?;
            let removed =
                namespace::remove_file(&mut client, &inner.account, inner.root, &path).await?;
            inner.after_change(&client, removed).await
        })?;
        Ok(())
    }

    pub(crate) fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        replace: bool,
    ) -> Result<(), JailError> {
        self.check_writable()?;
        let (from, to) = (from.clone(), to.clone());
        self.run(|inner| async move {
            let mut client = inner.storage.client().await?;
            let replaced =
                namespace::rename(&mut client, &inner.account, inner.root, &from, &to, replace)
                    .await?;
            inner.after_change(&client, replaced).await
        })
    }

    /// Hard links and symlinks: refused, see the module's header.
    pub(crate) fn refuse_links(&self) -> Result<(), JailError> {
        self.check_writable()?;
        Err(JailError::NotOnObjectStorage(
            "links are not kept on object storage: each name has its own contents",
        ))
    }

    /// There are no symlinks: `EINVAL` for what exists, as readlink(2) says
    /// of a name that is not a link.
    pub(crate) fn read_link(&self, path: &VirtualPath) -> Result<Vec<u8>, JailError> {
        self.stat(path)?;
        Err(rustix::io::Errno::INVAL.into())
    }

    /// Mode and times are columns; a size only to 0 or to what it is.
    pub(crate) fn set_attrs(&self, path: &VirtualPath, attrs: &SetAttrs) -> Result<(), JailError> {
        self.check_writable()?;
        let path = path.clone();
        let attrs = *attrs;
        self.run(|inner| async move {
            let mut client = inner.storage.client().await?;
            let freed =
                namespace::set_attrs(&mut client, &inner.account, inner.root, &path, &attrs)
                    .await?;
            inner.after_change(&client, freed).await
        })
    }

    /// `path` as it is: with no symlinks, the lexical path is canonical.
    /// Its folder must exist (the name itself may not yet, as realpath in
    /// OpenSSH's sftp-server allows).
    pub(crate) fn canonicalize(&self, path: &VirtualPath) -> Result<VirtualPath, JailError> {
        let parent = path.parent().unwrap_or_else(VirtualPath::root);
        let folder = self.stat(&parent)?;
        if !folder.is_dir() {
            return Err(JailError::NotADirectory);
        }
        Ok(path.clone())
    }
}

impl BoxInner {
    /// After a change that freed bytes or orphaned an object: the quota
    /// mirror is read again and the orphan deleted from the store.
    async fn after_change(
        &self,
        client: &deadpool_postgres::Object,
        orphans: Vec<String>,
    ) -> Result<(), JailError> {
        for object in orphans {
            ledger::delete_orphan(client, self.storage.store.as_ref(), &object).await;
        }
        self.refresh_quota(client).await;
        Ok(())
    }

    /// Reads the ledger into the quota mirror; a failure keeps the old
    /// figure (it is for display only).
    async fn refresh_quota(&self, client: &deadpool_postgres::Object) {
        if let Ok(usage) = ledger::used(client, &self.account).await {
            self.quota.set_used(usage);
        }
    }
}

/// An open folder of an object box, read in name order a batch at a time
/// (keyset pages: each batch starts after the last name of the one
/// before, so nothing is held between READDIRs but that name).
#[derive(Debug)]
pub(crate) struct ObjectDir {
    owner: ObjectBox,
    dir: i64,
    after: Vec<u8>,
    done: bool,
}

/// The most entries one READDIR batch asks the database for.
const DIR_BATCH: usize = 512;

impl ObjectDir {
    pub(crate) fn next_entries(&mut self, max: usize) -> Result<Vec<DirEntry>, JailError> {
        let mut entries = Vec::new();
        while !self.done && entries.len() < max {
            let want = (max - entries.len()).min(DIR_BATCH);
            let (dir, after) = (self.dir, self.after.clone());
            let batch: Vec<Entry> = self.owner.run(|inner| async move {
                let client = inner.storage.client().await?;
                namespace::list(&client, dir, &after, want).await
            })?;
            if batch.len() < want {
                self.done = true;
            }
            if let Some(last) = batch.last() {
                self.after = last.name.clone();
            }
            entries.extend(batch.into_iter().map(|entry| DirEntry {
                stat: entry.stat(),
                name: entry.name,
            }));
        }
        Ok(entries)
    }
}
