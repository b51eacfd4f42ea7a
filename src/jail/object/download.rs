//! Reading a file of an object box: ranged GETs with read-ahead.
//!
//! SFTP clients read 32 KiB at a time (OpenSSH keeps 64 such requests in
//! flight); one HTTP request per READ would spend more time on requests
//! than on bytes. Each miss fetches [`READ_AHEAD`] bytes from the offset
//! asked for, and the next READs are served from that window. The
//! handle's lane runs its READs in order, so the window is seldom missed.
//! A file appended to (resumed) is several objects in a row; a window
//! never spans two of them.

use std::sync::Mutex;

use bytes::Bytes;
use object_store::ObjectStoreExt;

use super::namespace::Segment;
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
    /// Reads up to `buf.len()` bytes at `offset` of the contents made of
    /// `segments` (`size` bytes in all); 0 at the end. A read that spans
    /// two segments is served from both.
    pub(crate) fn read_at(
        &self,
        owner: &ObjectBox,
        segments: &[Segment],
        size: u64,
        buf: &mut [u8],
        offset: u64,
    ) -> Result<usize, JailError> {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let mut filled = 0;
        while filled < buf.len() {
            let at = offset.saturating_add(filled as u64);
            if at >= size {
                break;
            }
            let hit = matches!(&*window, Some((start, bytes))
                if at >= *start && at < *start + bytes.len() as u64);
            if !hit {
                let Some((segment_start, segment)) = segment_at(segments, at) else {
                    break;
                };
                let from = at - segment_start;
                let wanted = ((buf.len() - filled) as u64).max(READ_AHEAD);
                let to = from.saturating_add(wanted).min(segment.size);
                let location = object_store::path::Path::from(segment.object.as_str());
                let bytes = owner.run(|inner| async move {
                    inner
                        .storage
                        .store
                        .get_range(&location, from..to)
                        .await
                        .map_err(store_error)
                })?;
                if bytes.is_empty() {
                    break;
                }
                *window = Some((at, bytes));
            }
            let Some((start, bytes)) = &*window else {
                break;
            };
            let from = usize::try_from(at - start).unwrap_or(usize::MAX);
            let available = bytes.get(from..).unwrap_or_default();
            let n = available.len().min(buf.len() - filled);
            if n == 0 {
                break;
            }
            if let (Some(target), Some(source)) =
                (buf.get_mut(filled..filled + n), available.get(..n))
            {
                target.copy_from_slice(source);
            }
            filled += n;
        }
        Ok(filled)
    }
}

/// The segment holding byte `at` of the contents, with where it starts.
fn segment_at(segments: &[Segment], at: u64) -> Option<(u64, &Segment)> {
    let mut start = 0u64;
    for segment in segments {
        let end = start.saturating_add(segment.size);
        if at < end {
            return Some((start, segment));
        }
        start = end;
    }
    None
}
