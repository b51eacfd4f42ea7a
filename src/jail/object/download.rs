//! Reading a file of an object box: ranged GETs with read-ahead.
//!
//! SFTP clients read 32 KiB at a time (OpenSSH keeps 64 such requests in
//! flight); one HTTP request per READ would spend more time on requests
//! than on bytes. Each miss fetches [`READ_AHEAD`] bytes from the offset
//! asked for, and the next READs are served from that window. The
//! handle's lane runs its READs in order, so the window is seldom missed.

use std::sync::Mutex;

use bytes::Bytes;
use object_store::ObjectStoreExt;

use super::{JailError, ObjectBox, store_error};

/// How much one GET fetches ahead: 4 MiB, twice what OpenSSH's sftp keeps
/// in flight (64 × 32 KiB), so a window outlives a round of requests.
const READ_AHEAD: u64 = 4 << 20;

/// The window of a file last fetched: where it starts and its bytes.
#[derive(Debug, Default)]
pub(crate) struct ReadCache {
    window: Mutex<Option<(u64, Bytes)>>,
}

impl ReadCache {
    /// Reads up to `buf.len()` bytes at `offset` of `object` (`size` bytes
    /// long); 0 at the end.
    pub(crate) fn read_at(
        &self,
        owner: &ObjectBox,
        object: Option<&str>,
        size: u64,
        buf: &mut [u8],
        offset: u64,
    ) -> Result<usize, JailError> {
        let Some(object) = object else {
            return Ok(0);
        };
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let hit = matches!(&*window, Some((start, bytes))
            if offset >= *start && offset < *start + bytes.len() as u64);
        if !hit {
            let wanted = u64::try_from(buf.len()).unwrap_or(u64::MAX).max(READ_AHEAD);
            let end = offset.saturating_add(wanted).min(size);
            let location = object_store::path::Path::from(object);
            let bytes = owner.run(|inner| async move {
                inner
                    .storage
                    .store
                    .get_range(&location, offset..end)
                    .await
                    .map_err(store_error)
            })?;
            *window = Some((offset, bytes));
        }
        let Some((start, bytes)) = &*window else {
            return Ok(0);
        };
        let from = usize::try_from(offset - start).unwrap_or(usize::MAX);
        let available = bytes.get(from..).unwrap_or_default();
        let n = available.len().min(buf.len());
        if let (Some(target), Some(source)) = (buf.get_mut(..n), available.get(..n)) {
            target.copy_from_slice(source);
        }
        Ok(n)
    }
}
