//! The namespace of object boxes: rows of `sftpbox_entries`.
//!
//! A path is looked up one name at a time from the home's root row (a
//! folder holds its children by `(parent, name)`, which the table keeps
//! unique). Every change takes the account's transaction advisory lock
//! first, then looks up what it changes inside the same transaction, so
//! two nodes changing one account's names take turns and each sees the
//! other's result; lookups for reading take no lock.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::super::file::CLIENT_MODE_MASK;
use super::super::path::check_name;
use super::super::{JailError, OpenOptions, SetAttrs, Stat, VirtualPath};
use super::{db, ledger};

/// The columns of an entry, in the order [`Entry::from_row`] reads them.
const COLUMNS: &str = "id, name, is_dir, size, objects, sizes, mode, mtime, atime";

/// The bits a client may set on a folder or file.
const DEFAULT_DIR_MODE: i32 = 0o755;

/// One row of the namespace.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub id: i64,
    pub name: Vec<u8>,
    pub is_dir: bool,
    pub size: u64,
    /// The objects holding the contents, in order, with their sizes;
    /// none for a folder or an empty file.
    pub segments: Vec<Segment>,
    pub mode: u32,
    pub mtime: i64,
    pub atime: i64,
}

/// One immutable object of a file's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub object: String,
    pub size: u64,
}

impl Entry {
    fn from_row(row: &Row) -> Result<Entry, JailError> {
        let get = |err: tokio_postgres::Error| db(err);
        let size: i64 = row.try_get(3).map_err(get)?;
        let objects: Vec<String> = row.try_get(4).map_err(get)?;
        let sizes: Vec<i64> = row.try_get(5).map_err(get)?;
        let mode: i32 = row.try_get(6).map_err(get)?;
        Ok(Entry {
            id: row.try_get(0).map_err(get)?,
            name: row.try_get(1).map_err(get)?,
            is_dir: row.try_get(2).map_err(get)?,
            size: u64::try_from(size).unwrap_or(0),
            segments: objects
                .into_iter()
                .zip(sizes)
                .map(|(object, size)| Segment {
                    object,
                    size: u64::try_from(size).unwrap_or(0),
                })
                .collect(),
            mode: u32::try_from(mode).unwrap_or(0) & CLIENT_MODE_MASK,
            mtime: row.try_get(7).map_err(get)?,
            atime: row.try_get(8).map_err(get)?,
        })
    }

    /// The names of the objects holding the contents.
    pub fn objects(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.object.clone()).collect()
    }

    /// The entry as `stat` reports it. Owner ids are 0: the box has one
    /// owner, its account, which listings name.
    pub fn stat(&self) -> Stat {
        let kind = if self.is_dir {
            libc::S_IFDIR
        } else {
            libc::S_IFREG
        };
        Stat {
            size: self.size,
            mode: kind | self.mode,
            uid: 0,
            gid: 0,
            nlink: if self.is_dir { 2 } else { 1 },
            atime: self.atime,
            mtime: self.mtime,
            ino: u64::try_from(self.id).unwrap_or(0),
            dev: 0,
            blocks: self.size.div_ceil(512),
        }
    }
}

/// Seconds since the epoch, now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The id of `account`'s root folder, made on first use.
pub(crate) async fn ensure_root(
    client: &impl GenericClient,
    account: &str,
) -> Result<i64, JailError> {
    let now = now();
    client
        .execute(
            "INSERT INTO sftpbox_entries (account, parent, name, is_dir, mode, mtime, atime)
             VALUES ($1, NULL, ''::bytea, true, $2, $3, $3)
             ON CONFLICT (account) WHERE parent IS NULL DO NOTHING",
            &[&account, &0o700_i32, &now],
        )
        .await
        .map_err(db)?;
    let row = client
        .query_one(
            "SELECT id FROM sftpbox_entries WHERE account = $1 AND parent IS NULL",
            &[&account],
        )
        .await
        .map_err(db)?;
    row.try_get(0).map_err(db)
}

/// Takes `account`'s namespace lock until the transaction ends.
pub(crate) async fn lock(client: &impl GenericClient, account: &str) -> Result<(), JailError> {
    client
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&account],
        )
        .await
        .map_err(db)?;
    Ok(())
}

/// The one entry that `clause` (what follows `WHERE`, with `params` as
/// its `$1`, `$2`, ...) picks, if any.
async fn entry_where(
    client: &impl GenericClient,
    clause: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Entry>, JailError> {
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM sftpbox_entries WHERE {clause}"),
            params,
        )
        .await
        .map_err(db)?;
    row.as_ref().map(Entry::from_row).transpose()
}

async fn entry_by_id(client: &impl GenericClient, id: i64) -> Result<Option<Entry>, JailError> {
    entry_where(client, "id = $1", &[&id]).await
}

/// The entry called `name` in folder `parent`, if any.
async fn child(
    client: &impl GenericClient,
    parent: i64,
    name: &[u8],
) -> Result<Option<Entry>, JailError> {
    entry_where(client, "parent = $1 AND name = $2", &[&parent, &name]).await
}

/// The entry `path` names, from the root `root`.
pub(crate) async fn lookup(
    client: &impl GenericClient,
    root: i64,
    path: &VirtualPath,
) -> Result<Entry, JailError> {
    let mut entry = entry_by_id(client, root)
        .await?
        .ok_or(JailError::NotFound)?;
    for name in path.components() {
        if !entry.is_dir {
            return Err(JailError::NotADirectory);
        }
        entry = child(client, entry.id, name)
            .await?
            .ok_or(JailError::NotFound)?;
    }
    Ok(entry)
}

/// The folder that holds `path` and `path`'s final name; `None` for `/`.
async fn parent_of<'p>(
    client: &impl GenericClient,
    root: i64,
    path: &'p VirtualPath,
) -> Result<Option<(Entry, &'p [u8])>, JailError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(None);
    };
    check_name(name)?;
    let folder = lookup(client, root, &parent).await?;
    if !folder.is_dir {
        return Err(JailError::NotADirectory);
    }
    Ok(Some((folder, name)))
}

/// Up to `want` entries of folder `dir` whose names sort after `after`.
pub(crate) async fn list(
    client: &impl GenericClient,
    dir: i64,
    after: &[u8],
    want: usize,
) -> Result<Vec<Entry>, JailError> {
    let limit = i64::try_from(want).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM sftpbox_entries WHERE parent = $1 AND name > $2 ORDER BY name LIMIT $3"
            ),
            &[&dir, &after, &limit],
        )
        .await
        .map_err(db)?;
    rows.iter().map(Entry::from_row).collect()
}

/// Opens `path` for an upload: an existing file to be replaced at close
/// (or appended to, the caller decides), or a new empty one made now. The
/// entry and whether it was made.
pub(crate) async fn open_for_upload(
    client: &mut deadpool_postgres::Object,
    account: &str,
    root: i64,
    path: &VirtualPath,
    opts: &OpenOptions,
) -> Result<(Entry, bool), JailError> {
    let tx = client.transaction().await.map_err(db)?;
    lock(&tx, account).await?;
    let (folder, name) = parent_of(&tx, root, path)
        .await?
        .ok_or(JailError::IsADirectory)?;
    let opened = match child(&tx, folder.id, name).await? {
        Some(entry) if entry.is_dir => return Err(JailError::IsADirectory),
        Some(_) if opts.create && opts.exclusive => return Err(JailError::AlreadyExists),
        Some(entry) => (entry, false),
        None if !opts.create => return Err(JailError::NotFound),
        None => {
            ledger::count_name(&tx, account).await?;
            let mode = i32::try_from(opts.mode & CLIENT_MODE_MASK).unwrap_or(0o644);
            let now = now();
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO sftpbox_entries (account, parent, name, is_dir, mode, mtime, atime)
                         VALUES ($1, $2, $3, false, $4, $5, $5) RETURNING {COLUMNS}"
                    ),
                    &[&account, &folder.id, &name, &mode, &now],
                )
                .await
                .map_err(db)?;
            (Entry::from_row(&row)?, true)
        }
    };
    touch(&tx, folder.id).await?;
    tx.commit().await.map_err(db)?;
    Ok(opened)
}

/// A folder's mtime moves when a name in it is made or removed, as on disk.
async fn touch(client: &impl GenericClient, folder: i64) -> Result<(), JailError> {
    client
        .execute(
            "UPDATE sftpbox_entries SET mtime = $2 WHERE id = $1",
            &[&folder, &now()],
        )
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn create_dir(
    client: &mut deadpool_postgres::Object,
    account: &str,
    root: i64,
    path: &VirtualPath,
    mode: u32,
) -> Result<(), JailError> {
    let tx = client.transaction().await.map_err(db)?;
    lock(&tx, account).await?;
    let (folder, name) = parent_of(&tx, root, path)
        .await?
        .ok_or(JailError::AlreadyExists)?;
    let mode = i32::try_from(mode & CLIENT_MODE_MASK).unwrap_or(DEFAULT_DIR_MODE);
    let made = tx
        .execute(
            "INSERT INTO sftpbox_entries (account, parent, name, is_dir, mode, mtime, atime)
             VALUES ($1, $2, $3, true, $4, $5, $5) ON CONFLICT (parent, name) DO NOTHING",
            &[&account, &folder.id, &name, &mode, &now()],
        )
        .await
        .map_err(db)?;
    if made == 0 {
        return Err(JailError::AlreadyExists);
    }
    ledger::count_name(&tx, account).await?;
    touch(&tx, folder.id).await?;
    tx.commit().await.map_err(db)
}

async fn has_children(client: &impl GenericClient, dir: i64) -> Result<bool, JailError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM sftpbox_entries WHERE parent = $1 LIMIT 1",
            &[&dir],
        )
        .await
        .map_err(db)?;
    Ok(row.is_some())
}

/// Deletes row `id`; its name leaves its account's `used_files`.
async fn delete(client: &impl GenericClient, id: i64) -> Result<(), JailError> {
    client
        .execute(
            "WITH gone AS (DELETE FROM sftpbox_entries WHERE id = $1 RETURNING account)
             UPDATE sftpbox_ledger l SET used_files = greatest(l.used_files - 1, 0)
             FROM gone WHERE l.account = gone.account",
            &[&id],
        )
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn remove_dir(
    client: &mut deadpool_postgres::Object,
    account: &str,
    root: i64,
    path: &VirtualPath,
) -> Result<(), JailError> {
    let tx = client.transaction().await.map_err(db)?;
    lock(&tx, account).await?;
    let (folder, name) = parent_of(&tx, root, path)
        .await?
        .ok_or(JailError::PermissionDenied)?;
    let victim = child(&tx, folder.id, name)
        .await?
        .ok_or(JailError::NotFound)?;
    if !victim.is_dir {
        return Err(JailError::NotADirectory);
    }
    if has_children(&tx, victim.id).await? {
        return Err(JailError::DirectoryNotEmpty);
    }
    delete(&tx, victim.id).await?;
    touch(&tx, folder.id).await?;
    tx.commit().await.map_err(db)
}

/// Removes a file row, gives its bytes back and records its objects as
/// orphans, in one transaction; the objects to delete.
pub(crate) async fn remove_file(
    client: &mut deadpool_postgres::Object,
    account: &str,
    root: i64,
    path: &VirtualPath,
) -> Result<Vec<String>, JailError> {
    let tx = client.transaction().await.map_err(db)?;
    lock(&tx, account).await?;
    let (folder, name) = parent_of(&tx, root, path)
        .await?
        .ok_or(JailError::PermissionDenied)?;
    let victim = child(&tx, folder.id, name)
        .await?
        .ok_or(JailError::NotFound)?;
    if victim.is_dir {
        return Err(JailError::IsADirectory);
    }
    let orphan = drop_file(&tx, account, &victim).await?;
    touch(&tx, folder.id).await?;
    tx.commit().await.map_err(db)?;
    Ok(orphan)
}

/// Deletes file row `victim` inside a transaction: its bytes leave the
/// ledger and its objects become orphans.
async fn drop_file(
    tx: &impl GenericClient,
    account: &str,
    victim: &Entry,
) -> Result<Vec<String>, JailError> {
    delete(tx, victim.id).await?;
    ledger::release(tx, account, victim.size).await?;
    orphan_all(tx, victim).await?;
    Ok(victim.objects())
}

/// Records every object of `entry` as an orphan.
pub(crate) async fn orphan_all(tx: &impl GenericClient, entry: &Entry) -> Result<(), JailError> {
    for segment in &entry.segments {
        ledger::add_orphan(tx, &segment.object).await?;
    }
    Ok(())
}

/// Renames `from` to `to` by changing one row (a folder takes its whole
/// tree along). The replaced file's objects, if one was replaced.
pub(crate) async fn rename(
    client: &mut deadpool_postgres::Object,
    account: &str,
    root: i64,
    from: &VirtualPath,
    to: &VirtualPath,
    replace: bool,
) -> Result<Vec<String>, JailError> {
    let tx = client.transaction().await.map_err(db)?;
    lock(&tx, account).await?;
    let (from_folder, from_name) = parent_of(&tx, root, from)
        .await?
        .ok_or(JailError::PermissionDenied)?;
    let source = child(&tx, from_folder.id, from_name)
        .await?
        .ok_or(JailError::NotFound)?;
    let (to_folder, to_name) = parent_of(&tx, root, to)
        .await?
        .ok_or(JailError::PermissionDenied)?;
    if source.is_dir && is_within(&tx, to_folder.id, source.id).await? {
        // rename(2) says EINVAL: a folder cannot move into itself.
        return Err(rustix::io::Errno::INVAL.into());
    }
    let mut orphan = Vec::new();
    if let Some(victim) = child(&tx, to_folder.id, to_name).await? {
        if victim.id == source.id {
            return Ok(orphan);
        }
        if !replace {
            return Err(JailError::AlreadyExists);
        }
        match (source.is_dir, victim.is_dir) {
            (false, true) => return Err(JailError::IsADirectory),
            (true, false) => return Err(JailError::NotADirectory),
            (true, true) => {
                if has_children(&tx, victim.id).await? {
                    return Err(JailError::DirectoryNotEmpty);
                }
                delete(&tx, victim.id).await?;
            }
            (false, false) => orphan = drop_file(&tx, account, &victim).await?,
        }
    }
    tx.execute(
        "UPDATE sftpbox_entries SET parent = $2, name = $3 WHERE id = $1",
        &[&source.id, &to_folder.id, &to_name],
    )
    .await
    .map_err(db)?;
    touch(&tx, from_folder.id).await?;
    touch(&tx, to_folder.id).await?;
    tx.commit().await.map_err(db)?;
    Ok(orphan)
}

/// Whether folder `folder` is `ancestor` or lies below it.
async fn is_within(
    client: &impl GenericClient,
    folder: i64,
    ancestor: i64,
) -> Result<bool, JailError> {
    let row = client
        .query_one(
            "WITH RECURSIVE up(id, parent) AS (
                 SELECT id, parent FROM sftpbox_entries WHERE id = $1
                 UNION ALL
                 SELECT e.id, e.parent FROM sftpbox_entries e JOIN up ON e.id = up.parent)
             SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)",
            &[&folder, &ancestor],
        )
        .await
        .map_err(db)?;
    row.try_get(0).map_err(db)
}

/// Applies `attrs` to `path`'s row: mode, times, and a size of 0 (or the
/// size it has). The objects freed by a truncation.
pub(crate) async fn set_attrs(
    client: &mut deadpool_postgres::Object,
    account: &str,
    root: i64,
    path: &VirtualPath,
    attrs: &SetAttrs,
) -> Result<Vec<String>, JailError> {
    let tx = client.transaction().await.map_err(db)?;
    lock(&tx, account).await?;
    let entry = lookup(&tx, root, path).await?;
    let orphan = apply_attrs(&tx, account, &entry, attrs).await?;
    tx.commit().await.map_err(db)?;
    Ok(orphan)
}

/// Applies `attrs` to the row `entry`, inside the caller's transaction.
pub(crate) async fn apply_attrs(
    tx: &impl GenericClient,
    account: &str,
    entry: &Entry,
    attrs: &SetAttrs,
) -> Result<Vec<String>, JailError> {
    let mut orphan = Vec::new();
    if let Some(size) = attrs.size {
        if entry.is_dir {
            return Err(JailError::IsADirectory);
        }
        if size != entry.size {
            if size != 0 {
                return Err(JailError::NotOnObjectStorage(
                    "a file's size can only be set to 0 or left as it is; objects cannot be cut or extended in place",
                ));
            }
            tx.execute(
                "UPDATE sftpbox_entries SET size = 0, objects = '{}', sizes = '{}', mtime = $2 WHERE id = $1",
                &[&entry.id, &now()],
            )
            .await
            .map_err(db)?;
            ledger::release(tx, account, entry.size).await?;
            orphan_all(tx, entry).await?;
            orphan = entry.objects();
        }
    }
    if let Some(mode) = attrs.mode {
        let mode = i32::try_from(mode & CLIENT_MODE_MASK).unwrap_or(0o644);
        tx.execute(
            "UPDATE sftpbox_entries SET mode = $2 WHERE id = $1",
            &[&entry.id, &mode],
        )
        .await
        .map_err(db)?;
    }
    if attrs.atime.is_some() || attrs.mtime.is_some() {
        tx.execute(
            "UPDATE sftpbox_entries SET atime = coalesce($2, atime), mtime = coalesce($3, mtime) WHERE id = $1",
            &[&entry.id, &attrs.atime, &attrs.mtime],
        )
        .await
        .map_err(db)?;
    }
    Ok(orphan)
}

/// What the row of an upload looks like when it ends: its new object,
/// size and times, or `None` when the row was removed meanwhile.
pub(crate) async fn entry_for_update(
    tx: &impl GenericClient,
    id: i64,
) -> Result<Option<Entry>, JailError> {
    entry_where(tx, "id = $1 FOR UPDATE", &[&id]).await
}

/// Points row `id` at its new contents, `segments` in order.
pub(crate) async fn set_contents(
    tx: &impl GenericClient,
    id: i64,
    segments: &[Segment],
    mtime: i64,
    atime: i64,
) -> Result<(), JailError> {
    let too_big = || JailError::from(rustix::io::Errno::FBIG);
    let total: u64 = segments.iter().map(|s| s.size).sum();
    let size = i64::try_from(total).map_err(|_| too_big())?;
    let objects: Vec<&str> = segments.iter().map(|s| s.object.as_str()).collect();
    let sizes = segments
        .iter()
        .map(|s| i64::try_from(s.size).map_err(|_| too_big()))
        .collect::<Result<Vec<i64>, JailError>>()?;
    tx.execute(
        "UPDATE sftpbox_entries SET size = $2, objects = $3, sizes = $4, mtime = $5, atime = $6 WHERE id = $1",
        &[&id, &size, &objects, &sizes, &mtime, &atime],
    )
    .await
    .map_err(db)?;
    Ok(())
}
