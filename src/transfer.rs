//! Bytes moved between a client and its box, counted as they move: the one
//! set of transfer counters that SFTP handles, scp and the connection's
//! end-of-session line all use.
//!
//! A connection owns one [`Transferred`]; every file a service moves gets a
//! [`FileTransfer`] that counts into its own figures (for the file's log
//! line) and into the connection's at the same time, so the connection's
//! figures are live while a transfer runs, not added up when it ends.
//!
//! An upload also keeps the sha256 of what it writes, as the bytes go by,
//! for as long as they arrive in order from offset 0 ([`InOrderDigest`]):
//! the first write anywhere else ends it, and a file whose final size is not
//! what was hashed gets none. The file is never read again for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::checksum::{HashAlgorithm, Hasher};

/// What was moved, at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Bytes read from files in the box (sent to the client).
    pub bytes_read: u64,
    /// Bytes written to files in the box (received from the client).
    pub bytes_written: u64,
    /// Files whose transfer finished (closed).
    pub files: u64,
}

/// Counters of bytes read, bytes written and files finished.
#[derive(Debug, Default)]
pub struct Transferred {
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    files: AtomicU64,
}

impl Transferred {
    /// Counts `n` bytes read from a file.
    pub fn add_read(&self, n: u64) {
        self.bytes_read.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` bytes written to a file.
    pub fn add_written(&self, n: u64) {
        self.bytes_written.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one finished file.
    pub fn add_file(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> Moved {
        Moved {
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
        }
    }
}

/// The sha256 of a file's content, fed by its writes while they come in
/// order from offset 0; given up at the first write elsewhere.
pub struct InOrderDigest {
    /// `None` once a write came out of order.
    hasher: Option<Hasher>,
    /// The offset the next in-order write starts at: bytes hashed so far.
    next: u64,
}

impl Default for InOrderDigest {
    fn default() -> InOrderDigest {
        InOrderDigest {
            hasher: Some(Hasher::new(HashAlgorithm::Sha256)),
            next: 0,
        }
    }
}

impl InOrderDigest {
    /// Feeds `data`, written at `offset`: hashed when it starts where the
    /// last write ended, else the digest is given up for good.
    pub fn written_at(&mut self, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        match &mut self.hasher {
            Some(hasher) if offset == self.next => {
                hasher.update(data);
                self.next = self.next.saturating_add(data.len() as u64);
            }
            Some(_) => self.hasher = None,
            None => {}
        }
    }

    /// The hex sha256 of the file, if every byte of a file of `final_size`
    /// bytes was hashed in order; consumes the running hash.
    pub fn finish(&mut self, final_size: u64) -> Option<String> {
        let hasher = self.hasher.take()?;
        (self.next == final_size).then(|| hasher.finalize_hex())
    }
}

impl std::fmt::Debug for InOrderDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InOrderDigest")
            .field("in_order", &self.hasher.is_some())
            .field("next", &self.next)
            .finish()
    }
}

/// The transfer of one file: its own figures, counted into the total of
/// whoever moves it (the connection) as they grow, and for an upload the
/// sha256 of what it wrote in order.
#[derive(Debug)]
pub struct FileTransfer {
    own: Transferred,
    total: Arc<Transferred>,
    /// `Some` for an upload.
    digest: Option<Mutex<InOrderDigest>>,
}

impl FileTransfer {
    /// A transfer that counts into `total` as well.
    pub fn new(total: Arc<Transferred>) -> FileTransfer {
        FileTransfer {
            own: Transferred::default(),
            total,
            digest: None,
        }
    }

    /// An upload: like [`FileTransfer::new`], and it hashes what it writes
    /// in order from offset 0.
    pub fn upload(total: Arc<Transferred>) -> FileTransfer {
        FileTransfer {
            digest: Some(Mutex::new(InOrderDigest::default())),
            ..FileTransfer::new(total)
        }
    }

    /// Whether it was made as an upload.
    pub fn is_upload(&self) -> bool {
        self.digest.is_some()
    }

    /// Counts `data`, written to the file at `offset`, and hashes it if it
    /// is the next in order.
    pub fn written_at(&self, offset: u64, data: &[u8]) {
        self.add_written(data.len() as u64);
        if let Some(digest) = &self.digest {
            digest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .written_at(offset, data);
        }
    }

    /// The hex sha256 of the uploaded file, when it was written in order
    /// from its start to `final_size`; `None` otherwise or for a download.
    pub fn sha256(&self, final_size: u64) -> Option<String> {
        self.digest.as_ref().and_then(|digest| {
            digest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finish(final_size)
        })
    }

    /// Counts `n` bytes read from the file.
    pub fn add_read(&self, n: u64) {
        self.own.add_read(n);
        self.total.add_read(n);
    }

    /// Counts `n` bytes written to the file.
    pub fn add_written(&self, n: u64) {
        self.own.add_written(n);
        self.total.add_written(n);
    }

    /// Marks the file finished in the total; returns what it moved.
    pub fn finish(&self) -> Moved {
        self.total.add_file();
        self.own.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(data: &[u8]) -> String {
        let mut hasher = Hasher::new(HashAlgorithm::Sha256);
        hasher.update(data);
        hasher.finalize_hex()
    }

    #[test]
    fn writes_in_order_from_the_start_give_the_files_sha256() {
        let upload = FileTransfer::upload(Arc::default());
        upload.written_at(0, b"hello ");
        upload.written_at(6, b"");
        upload.written_at(6, b"world");
        assert_eq!(upload.own.snapshot().bytes_written, 11);
        assert_eq!(upload.sha256(11), Some(sha256(b"hello world")));
    }

    #[test]
    fn a_write_out_of_order_gives_up_the_digest_for_good() {
        let upload = FileTransfer::upload(Arc::default());
        upload.written_at(5, b"world");
        upload.written_at(0, b"hello");
        assert_eq!(upload.sha256(10), None);
        let rewrite = FileTransfer::upload(Arc::default());
        rewrite.written_at(0, b"abc");
        rewrite.written_at(1, b"b");
        rewrite.written_at(3, b"d");
        assert_eq!(rewrite.sha256(4), None);
    }

    #[test]
    fn a_file_longer_or_shorter_than_what_was_hashed_has_no_digest() {
        let upload = FileTransfer::upload(Arc::default());
        upload.written_at(0, b"abc");
        assert_eq!(upload.sha256(10), None);
        let empty = FileTransfer::upload(Arc::default());
        assert_eq!(empty.sha256(0), Some(sha256(b"")));
        let download = FileTransfer::new(Arc::default());
        download.written_at(0, b"abc");
        assert_eq!(download.sha256(3), None);
    }

    #[test]
    fn a_file_counts_into_its_own_figures_and_the_total_at_once() {
        let total = Arc::new(Transferred::default());
        let first = FileTransfer::new(total.clone());
        let second = FileTransfer::new(total.clone());
        first.add_read(10);
        second.add_written(7);
        first.add_written(1);
        assert_eq!(
            total.snapshot(),
            Moved {
                bytes_read: 10,
                bytes_written: 8,
                files: 0
            }
        );
        assert_eq!(
            first.finish(),
            Moved {
                bytes_read: 10,
                bytes_written: 1,
                files: 0
            }
        );
        assert_eq!(total.snapshot().files, 1);
        assert_eq!(second.finish().bytes_written, 7);
        assert_eq!(total.snapshot().files, 2);
    }
}
