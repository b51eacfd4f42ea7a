//! `ObjectFile`: an open file of an object box, read through ranged GETs
//! (`download.rs`) or written as one streamed multipart upload.
//!
//! An upload either replaces the file's contents at close (a new file, or
//! one opened with truncation) or appends to them (an existing file opened
//! without truncation: `reput`, `sftp -a`, an `APPEND` open): the new
//! object is then one more segment after the ones the file has, so a
//! resumed upload sends only what is missing. It accepts writes only at the
//! end of what it was sent (SFTP clients write in order; a handle's lane
//! keeps that order); a write behind it (into bytes already sent or
//! stored) or past it (a hole) is refused. It buffers
//! [`PART_BYTES`] and sends each part while the next fills, at most
//! [`PARTS_IN_FLIGHT`] at once. Before bytes are taken, the ledger grants
//! them in chunks of [`RESERVE_CHUNK`] (one database commit per 4 MiB, not
//! per 32 KiB WRITE); near the quota it grants exactly what a write needs,
//! so a write is refused only when it really would pass the quota.
//!
//! `close` completes the upload, then one transaction removes the
//! reservation, points the file's row at the new object with its size and
//! times, gives back the surplus and the replaced object's bytes, and
//! records the replaced object as an orphan. Until then readers see the
//! old contents. A file dropped without `close` (a node stopping, a task
//! cancelled) aborts its upload and gives its reservation back; if the node
//! dies instead, the reaper gives it back.

use std::sync::{Arc, PoisonError};

use object_store::{ObjectStoreExt, WriteMultipart};

use super::download::ReadCache;
use super::namespace::{self, Entry, Segment, now};
use super::{JailError, ObjectBox, db, ledger, store_error};
use crate::jail::{SetAttrs, Stat};

/// Size of each uploaded part: 8 MiB, above S3's 5 MiB minimum, so the
/// same code works on AWS, and the size Garage's tests ran fastest with.
const PART_BYTES: usize = 8 << 20;

/// Parts sent at once per upload: 4 × 8 MiB = 32 MiB of memory at most.
const PARTS_IN_FLIGHT: usize = 4;

/// Bytes granted by the ledger at a time, ahead of the writes: 4 MiB.
/// At ~2,400 commits/s on one hot ledger row, per-WRITE (32 KiB) grants
/// would cap an account near 78 MB/s; 4 MiB chunks put it at GB/s.
const RESERVE_CHUNK: u64 = 4 << 20;

/// Segments one file may have: each resume adds one; past this, the file
/// must be uploaded again whole.
const MAX_SEGMENTS: usize = 1000;

/// An open file of an object box.
#[derive(Debug)]
pub(crate) struct ObjectFile {
    owner: ObjectBox,
    entry: Entry,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    Reading(ReadCache),
    Uploading(Arc<tokio::sync::Mutex<Upload>>),
}

/// The state of an upload.
#[derive(Default)]
struct Upload {
    /// The object being written, created at the first byte. In a mutex
    /// only to make the upload `Sync` (the store's upload handle is not);
    /// it is reached through `get_mut`, never locked.
    writer: Option<(String, std::sync::Mutex<WriteMultipart>)>,
    /// Where the file ended when it was opened: 0 for a replacement, its
    /// size when appending. The new object holds `base..written`.
    base: u64,
    /// Appending to the segments the file had when it was opened.
    appending: bool,
    /// Every write goes to the end, whatever its offset (`APPEND`).
    append_flag: bool,
    /// Where the file's contents end so far; the next write starts here.
    written: u64,
    /// Bytes the ledger granted this upload so far.
    reserved: u64,
    /// The reservation row, once there is one.
    reservation: Option<i64>,
    /// Mode and times the client set on the handle, applied at close.
    attrs: SetAttrs,
    /// Set once closed (or failed): later calls change nothing.
    finished: bool,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("written", &self.written)
            .field("reserved", &self.reserved)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl ObjectFile {
    pub(crate) fn reading(owner: ObjectBox, entry: Entry) -> ObjectFile {
        ObjectFile {
            owner,
            entry,
            mode: Mode::Reading(ReadCache::default()),
        }
    }

    /// An upload into `entry`'s row: replacing its contents, or with
    /// `appending`, adding to them; `append_flag`: every write goes to
    /// the end.
    pub(crate) fn uploading(
        owner: ObjectBox,
        entry: Entry,
        appending: bool,
        append_flag: bool,
    ) -> Result<ObjectFile, JailError> {
        if appending && entry.segments.len() >= MAX_SEGMENTS {
            return Err(JailError::NotOnObjectStorage(
                "this file was resumed too many times to be appended to again; upload it again whole",
            ));
        }
        let base = if appending { entry.size } else { 0 };
        let upload = Upload {
            base,
            appending,
            append_flag,
            written: base,
            ..Upload::default()
        };
        Ok(ObjectFile {
            owner,
            entry,
            mode: Mode::Uploading(Arc::new(tokio::sync::Mutex::new(upload))),
        })
    }

    pub(crate) fn is_writable(&self) -> bool {
        matches!(self.mode, Mode::Uploading(_))
    }

    fn upload(&self) -> Result<Arc<tokio::sync::Mutex<Upload>>, JailError> {
        match &self.mode {
            Mode::Uploading(upload) => Ok(Arc::clone(upload)),
            Mode::Reading(_) => Err(if self.owner.is_readonly() {
                JailError::ReadOnly
            } else {
                JailError::PermissionDenied
            }),
        }
    }

    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, JailError> {
        match &self.mode {
            Mode::Reading(cache) => cache.read_at(
                &self.owner,
                &self.entry.segments,
                self.entry.size,
                buf,
                offset,
            ),
            Mode::Uploading(_) => Err(JailError::NotOnObjectStorage(
                "a file being uploaded cannot be read until it is closed",
            )),
        }
    }

    pub(crate) fn write_at(&self, data: &[u8], offset: u64) -> Result<(), JailError> {
        let upload = self.upload()?;
        if data.is_empty() {
            return Ok(());
        }
        let data = data.to_vec();
        let entry_id = self.entry.id;
        self.owner.run(move |inner| async move {
            let mut upload = upload.lock().await;
            if upload.finished {
                return Err(JailError::PermissionDenied);
            }
            let offset = if upload.append_flag {
                upload.written
            } else {
                offset
            };
            if offset < upload.written {
                return Err(JailError::NotOnObjectStorage(
                    "a write behind the end of what was already sent or stored; objects are written once, in order, so a file can only grow at its end",
                ));
            }
            if offset > upload.written {
                return Err(JailError::NotOnObjectStorage(
                    "a write past the end of the file would leave a hole; objects are written once, in order",
                ));
            }
            let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
            let end = upload.written.saturating_add(len);
            let sent = end - upload.base;
            if sent > upload.reserved {
                let need = sent - upload.reserved;
                let mut client = inner.storage.client().await?;
                let chunk = need.max(RESERVE_CHUNK);
                let granted = match grant(&mut client, &inner, &mut upload, chunk).await {
                    Err(JailError::QuotaExceeded { .. }) if chunk > need => {
                        grant(&mut client, &inner, &mut upload, need).await
                    }
                    other => other,
                };
                if let Err(err) = granted {
                    inner.refresh_quota(&client).await;
                    return Err(err);
                }
                inner.refresh_quota(&client).await;
            }
            if upload.writer.is_none() {
                let key = format!("o/{}", uuid::Uuid::new_v4());
                let location = object_store::path::Path::from(key.as_str());
                let parts = inner
                    .storage
                    .store
                    .put_multipart(&location)
                    .await
                    .map_err(store_error)?;
                tracing::debug!(entry = entry_id, object = %key, "upload started");
                let writer = WriteMultipart::new_with_chunk_size(parts, PART_BYTES);
                upload.writer = Some((key, std::sync::Mutex::new(writer)));
            }
            if let Some((_, writer)) = upload.writer.as_mut() {
                let writer = writer.get_mut().unwrap_or_else(PoisonError::into_inner);
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(store_error)?;
                writer.write(&data);
            }
            upload.written = end;
            Ok(())
        })
    }

    /// Takes the ledger's grant for `size` bytes before they are written.
    pub(crate) fn allocate(&self, size: u64) -> Result<(), JailError> {
        let upload = self.upload()?;
        self.owner.run(move |inner| async move {
            let mut upload = upload.lock().await;
            let size = size.saturating_sub(upload.base);
            if size > upload.reserved {
                let mut client = inner.storage.client().await?;
                let more = size - upload.reserved;
                let granted = grant(&mut client, &inner, &mut upload, more).await;
                inner.refresh_quota(&client).await;
                granted?;
            }
            Ok(())
        })
    }

    /// Only the size the upload has so far: nothing can be cut or grown.
    pub(crate) fn set_len(&self, size: u64) -> Result<(), JailError> {
        let written = self.written()?;
        if size == written {
            Ok(())
        } else {
            Err(JailError::NotOnObjectStorage(
                "a file being uploaded cannot be cut or extended; it ends where its last write ends",
            ))
        }
    }

    fn written(&self) -> Result<u64, JailError> {
        let upload = self.upload()?;
        self.owner
            .run(move |_| async move { Ok(upload.lock().await.written) })
    }

    pub(crate) fn stat(&self) -> Stat {
        let mut stat = self.entry.stat();
        if let Mode::Uploading(_) = &self.mode
            && let Ok(written) = self.written()
        {
            stat.size = written;
            stat.blocks = written.div_ceil(512);
        }
        stat
    }

    /// Mode and times: kept for the close of an upload (so they survive
    /// it), written at once for a file opened for reading.
    pub(crate) fn set_attrs(&self, attrs: &SetAttrs) -> Result<(), JailError> {
        if self.owner.is_readonly() {
            return Err(JailError::ReadOnly);
        }
        if let Some(size) = attrs.size {
            match &self.mode {
                Mode::Uploading(_) => self.set_len(size)?,
                Mode::Reading(_) if size == self.entry.size => {}
                Mode::Reading(_) => {
                    return Err(JailError::NotOnObjectStorage(
                        "a file opened for reading cannot change its size",
                    ));
                }
            }
        }
        let attrs = SetAttrs {
            size: None,
            ..*attrs
        };
        match &self.mode {
            Mode::Uploading(upload) => {
                let upload = Arc::clone(upload);
                self.owner.run(move |_| async move {
                    let mut upload = upload.lock().await;
                    let pending = &mut upload.attrs;
                    pending.mode = attrs.mode.or(pending.mode);
                    pending.atime = attrs.atime.or(pending.atime);
                    pending.mtime = attrs.mtime.or(pending.mtime);
                    Ok(())
                })
            }
            Mode::Reading(_) => {
                let entry = self.entry.clone();
                self.owner.run(move |inner| async move {
                    let mut client = inner.storage.client().await?;
                    let tx = client.transaction().await.map_err(db)?;
                    namespace::lock(&tx, &inner.account).await?;
                    namespace::apply_attrs(&tx, &inner.account, &entry, &attrs).await?;
                    tx.commit().await.map_err(db)
                })
            }
        }
    }

    /// Nothing is durable before the upload completes at close.
    pub(crate) fn sync_all(&self) -> Result<(), JailError> {
        match &self.mode {
            Mode::Reading(_) => Ok(()),
            Mode::Uploading(upload) => {
                let upload = Arc::clone(upload);
                let finished = self
                    .owner
                    .run(move |_| async move { Ok(upload.lock().await.finished) })?;
                if finished {
                    Ok(())
                } else {
                    Err(JailError::NotOnObjectStorage(
                        "an upload is stored when the file is closed, not before",
                    ))
                }
            }
        }
    }

    /// Completes the upload and commits it (see the module's header).
    pub(crate) fn close(&self) -> Result<(), JailError> {
        let Mode::Uploading(upload) = &self.mode else {
            return Ok(());
        };
        let upload = Arc::clone(upload);
        let opened = self.entry.clone();
        self.owner.run(move |inner| async move {
            let mut upload = upload.lock().await;
            if upload.finished {
                return Ok(());
            }
            upload.finished = true;
            let object = match upload.writer.take() {
                Some((key, writer)) => match writer
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .finish()
                    .await
                {
                    Ok(_) => Some(key),
                    Err(err) => {
                        give_back(&inner, &upload).await;
                        return Err(store_error(err));
                    }
                },
                None => None,
            };
            let mut client = inner.storage.client().await?;
            let committed = commit(&mut client, &inner, &upload, &opened, object.as_deref()).await;
            match committed {
                Ok(orphans) => {
                    for orphan in orphans {
                        ledger::delete_orphan(&client, inner.storage.store.as_ref(), &orphan).await;
                    }
                    inner.refresh_quota(&client).await;
                    Ok(())
                }
                Err(err) => {
                    // The new object is referenced by nothing: an orphan.
                    if let Some(object) = &object
                        && ledger::add_orphan(&client, object).await.is_ok()
                    {
                        ledger::delete_orphan(&client, inner.storage.store.as_ref(), object).await;
                    }
                    give_back(&inner, &upload).await;
                    Err(err)
                }
            }
        })
    }
}

/// Grants `bytes` more to `upload`, in a new reservation or its own.
async fn grant(
    client: &mut deadpool_postgres::Object,
    inner: &super::BoxInner,
    upload: &mut Upload,
    bytes: u64,
) -> Result<(), JailError> {
    match upload.reservation {
        Some(id) => ledger::grow(client, &inner.account, id, bytes).await?,
        None => {
            let id = ledger::reserve(&*client, &inner.account, &inner.storage.node, bytes).await?;
            upload.reservation = Some(id);
        }
    }
    upload.reserved += bytes;
    Ok(())
}

/// The transaction that ends an upload; the replaced objects.
async fn commit(
    client: &mut deadpool_postgres::Object,
    inner: &super::BoxInner,
    upload: &Upload,
    opened: &Entry,
    object: Option<&str>,
) -> Result<Vec<String>, JailError> {
    let tx = client.transaction().await.map_err(db)?;
    namespace::lock(&tx, &inner.account).await?;
    let held = match upload.reservation {
        Some(id) => ledger::take(&tx, id).await?,
        None => Some(0),
    };
    let sent = upload.written - upload.base;
    let current = namespace::entry_for_update(&tx, opened.id).await?;
    let current = match current {
        // An append to contents that changed meanwhile (another session
        // replaced or appended to the file) would splice two versions.
        Some(old) if upload.appending && old.segments != opened.segments => {
            drop(tx);
            return Err(JailError::Io(std::io::Error::other(
                "the file was changed by another session while this one appended to it; nothing was added",
            )));
        }
        other => other,
    };
    let Some(old) = current else {
        // Removed (or replaced) while it was uploaded, as a file unlinked
        // while open: its bytes go back, its object is an orphan.
        if let Some(held) = held {
            ledger::release(&tx, &inner.account, held).await?;
        }
        if let Some(object) = object {
            ledger::add_orphan(&tx, object).await?;
        }
        tx.commit().await.map_err(db)?;
        return Ok(object.map(str::to_owned).into_iter().collect());
    };
    // What the file holds from now on, and the bytes it no longer holds.
    let new = object.map(|object| Segment {
        object: object.to_owned(),
        size: sent,
    });
    let (segments, dropped) = if upload.appending {
        let mut segments = old.segments.clone();
        segments.extend(new);
        (segments, 0)
    } else {
        (new.into_iter().collect::<Vec<_>>(), old.size)
    };
    match held {
        // Settle: the surplus of the grant and the replaced contents go back.
        Some(held) => {
            let delta = i128::from(sent) - i128::from(held) - i128::from(dropped);
            ledger::adjust(&tx, &inner.account, i64::try_from(delta).unwrap_or(0)).await?;
        }
        // The reservation was reaped: charge the bytes again, within the quota.
        None => {
            ledger::charge(&tx, &inner.account, sent).await?;
            ledger::release(&tx, &inner.account, dropped).await?;
        }
    }
    let unchanged = upload.appending && object.is_none();
    if !unchanged || upload.attrs.mtime.is_some() {
        let mtime = upload.attrs.mtime.unwrap_or_else(now);
        let atime = upload.attrs.atime.unwrap_or(mtime);
        namespace::set_contents(&tx, old.id, &segments, mtime, atime).await?;
    }
    if let Some(mode) = upload.attrs.mode {
        let attrs = SetAttrs {
            mode: Some(mode),
            ..SetAttrs::default()
        };
        namespace::apply_attrs(&tx, &inner.account, &old, &attrs).await?;
    }
    let replaced = if upload.appending {
        Vec::new()
    } else {
        namespace::orphan_all(&tx, &old).await?;
        old.objects()
    };
    tx.commit().await.map_err(db)?;
    Ok(replaced)
}

/// Gives an ended upload's reservation back (the upload failed or was
/// abandoned).
async fn give_back(inner: &super::BoxInner, upload: &Upload) {
    let Some(id) = upload.reservation else {
        return;
    };
    match inner.storage.client().await {
        Ok(client) => {
            if let Err(err) = ledger::cancel(&client, id).await {
                tracing::warn!(%err, "reservation left for the reaper");
            }
            inner.refresh_quota(&client).await;
        }
        Err(err) => tracing::warn!(%err, "reservation left for the reaper"),
    }
}

impl Drop for ObjectFile {
    fn drop(&mut self) {
        let Mode::Uploading(upload) = &self.mode else {
            return;
        };
        let upload = Arc::clone(upload);
        let inner = Arc::clone(&self.owner.inner);
        // Dropped without close: abort the upload and give its bytes back,
        // on the runtime (a drop cannot wait).
        self.owner.inner.storage.runtime.spawn(async move {
            let mut upload = upload.lock().await;
            if upload.finished {
                return;
            }
            upload.finished = true;
            if let Some((_, writer)) = upload.writer.take() {
                let writer = writer.into_inner().unwrap_or_else(PoisonError::into_inner);
                let _ = writer.abort().await;
            }
            give_back(&inner, &upload).await;
        });
    }
}
