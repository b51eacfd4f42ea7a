//! One upload of the sink: the temporary file next to the destination,
//! sized at once to reserve the quota, filled from the stream, and removed
//! unless renamed into place, also when the session's future is dropped.
//! See `sink.rs` for why a replace needs room for both files for a moment.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::{CHUNK_BYTES, Peer, Stop, blocking};
use crate::jail::{Jail, JailError, JailFile, OpenOptions, VirtualPath};
use crate::transfer::FileTransfer;

/// How many temporary names are tried before giving up.
const TEMP_NAME_ATTEMPTS: usize = 8;

/// Makes temporary names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An upload in progress: the temporary file and where it goes.
pub(super) struct Upload {
    /// The temporary file, open for writing, already sized.
    pub file: Arc<JailFile>,
    /// Its name, removed unless kept.
    pub temp: TempFile,
    /// The destination with symlinks resolved inside the box.
    pub dest: VirtualPath,
    /// The mode of the file being replaced, if there is one.
    pub old_mode: Option<u32>,
}

/// Opens a temporary file next to `dest` (a final symlink followed inside
/// the box) and sizes it to `size`, which reserves the quota.
pub(super) fn prepare(jail: &Jail, dest: VirtualPath, size: u64) -> Result<Upload, JailError> {
    let dest = jail.canonicalize(&dest)?;
    let old_mode = match jail.stat(&dest) {
        Ok(st) if st.is_dir() => return Err(JailError::IsADirectory),
        Ok(st) if !st.is_file() => return Err(JailError::PermissionDenied),
        Ok(st) => Some(st.mode),
        Err(JailError::NotFound) => None,
        Err(err) => return Err(err),
    };
    let parent = dest.parent().ok_or(JailError::IsADirectory)?;
    let options = OpenOptions {
        read: false,
        write: true,
        append: false,
        create: true,
        truncate: false,
        exclusive: true,
        mode: 0o600,
    };
    let mut last = JailError::AlreadyExists;
    for _ in 0..TEMP_NAME_ATTEMPTS {
        let serial = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(".scp-{:x}-{serial:x}.part", std::process::id());
        let path = parent.join(name.as_bytes())?;
        match jail.open_file(&path, &options) {
            Ok(file) => {
                let temp = TempFile::new(jail, path);
                if let Err(err) = file.set_len(size) {
                    // Removed here, before the refusal reaches the client:
                    // left to `Drop`, the removal would race with it.
                    temp.remove_blocking();
                    return Err(err);
                }
                return Ok(Upload {
                    file: Arc::new(file),
                    temp,
                    dest,
                    old_mode,
                });
            }
            Err(JailError::AlreadyExists) => last = JailError::AlreadyExists,
            Err(err) => return Err(err),
        }
    }
    Err(last)
}

/// Reads exactly `size` data bytes into the file. After a write error the
/// rest is read and discarded to stay in step; the error is returned. What
/// reaches the file is counted into `transfer` (and hashed, being in order).
pub(super) async fn copy_data<R, W, E>(
    peer: &mut Peer<R, W, E>,
    file: &Arc<JailFile>,
    size: u64,
    transfer: &FileTransfer,
) -> Result<Option<JailError>, Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let chunk = usize::try_from(size)
        .unwrap_or(CHUNK_BYTES)
        .min(CHUNK_BYTES);
    let mut buf = vec![0_u8; chunk];
    let mut failed = None;
    let mut offset = 0_u64;
    while offset < size {
        let want = usize::try_from(size - offset).unwrap_or(chunk).min(chunk);
        let part = buf.get_mut(..want).ok_or(Stop)?;
        peer.reader.read_exact(part).await.map_err(|_| Stop)?;
        if failed.is_none() {
            let file = Arc::clone(file);
            let data = std::mem::take(&mut buf);
            let joined = tokio::task::spawn_blocking(move || {
                let written = file.write_at(data.get(..want).unwrap_or_default(), offset);
                (data, written)
            })
            .await;
            match joined {
                Ok((data, written)) => {
                    match written {
                        Ok(()) => transfer.written_at(offset, data.get(..want).unwrap_or_default()),
                        Err(err) => failed = Some(err),
                    }
                    buf = data;
                }
                Err(err) => {
                    buf = vec![0_u8; chunk];
                    failed = Some(JailError::Io(std::io::Error::other(err)));
                }
            }
        }
        offset = offset.saturating_add(u64::try_from(want).unwrap_or(u64::MAX));
    }
    Ok(failed)
}

/// A temporary upload file, removed unless kept; also on drop, so a
/// cancelled session cannot leave one behind.
pub(super) struct TempFile {
    jail: Jail,
    path: VirtualPath,
    armed: bool,
}

impl TempFile {
    fn new(jail: &Jail, path: VirtualPath) -> Self {
        TempFile {
            jail: jail.clone(),
            path,
            armed: true,
        }
    }

    pub(super) fn path(&self) -> &VirtualPath {
        &self.path
    }

    /// Removes the file now.
    pub(super) async fn remove(mut self) {
        self.armed = false;
        let path = self.path.clone();
        let _ = blocking(&self.jail, move |jail| jail.remove_file(&path)).await;
    }

    /// Removes the file now, from a blocking context.
    fn remove_blocking(mut self) {
        self.armed = false;
        let _ = self.jail.remove_file(&self.path);
    }

    /// The file was renamed into place: nothing to remove.
    pub(super) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let jail = self.jail.clone();
        let path = self.path.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || jail.remove_file(&path));
            }
            Err(_) => {
                let _ = jail.remove_file(&path);
            }
        }
    }
}
