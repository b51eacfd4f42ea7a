//! Bytes moved between a client and its box, counted as they move: the one
//! set of transfer counters that SFTP handles, scp and the connection's
//! end-of-session line all use.
//!
//! A connection owns one [`Transferred`]; every file a service moves gets a
//! [`FileTransfer`] that counts into its own figures (for the file's log
//! line) and into the connection's at the same time, so the connection's
//! figures are live while a transfer runs, not added up when it ends.
//!
//! A connection's [`Transferred`] is also the registry of its open files:
//! each [`FileTransfer`] is listed there from its start until it is dropped,
//! with the path the session sees, its direction and its size where known,
//! so that `sftpbox sessions` can show what is moving now. And it may count
//! into a parent (the account's figures, across its sessions, for metrics).
//!
//! An upload also keeps the sha256 of what it writes, as the bytes go by,
//! for as long as they arrive in order from offset 0 ([`InOrderDigest`]):
//! the first write anywhere else ends it, and a file whose final size is not
//! what was hashed gets none. The file is never read again for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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

/// Which way a file's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client into the box.
    Upload,
    /// From the box to the client.
    Download,
}

impl Direction {
    /// The name scripts see: `upload` or `download`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
    }
}

/// What a file being moved is: where, which way, how large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The path as the session sees it, escaped for display.
    pub path: String,
    /// Which way its bytes go.
    pub direction: Direction,
    /// Its size when known in advance (a download, an scp upload).
    pub size: Option<u64>,
}

/// One open file at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenFile {
    /// What the file is.
    pub info: FileInfo,
    /// Bytes moved so far in its direction.
    pub bytes: u64,
    /// How long it has been open.
    pub elapsed: Duration,
}

impl OpenFile {
    /// Bytes per second since it was opened.
    pub fn rate(&self) -> u64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds <= 0.0 {
            return 0;
        }
        (self.bytes as f64 / seconds) as u64
    }
}

/// Counters of bytes read, bytes written and files finished, and the
/// files being moved now.
#[derive(Debug, Default)]
pub struct Transferred {
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    files: AtomicU64,
    /// Figures that count everything this one counts (the account's).
    parent: OnceLock<Arc<Transferred>>,
    /// The files open now, by a number of their own.
    open: Mutex<OpenTable>,
}

#[derive(Debug, Default)]
struct OpenTable {
    next_id: u64,
    files: HashMap<u64, Arc<LiveFile>>,
}

/// A file's description and its own counters, shared by its transfer and
/// the table of open files.
#[derive(Debug)]
struct LiveFile {
    info: FileInfo,
    started: Instant,
    own: Transferred,
}

impl Transferred {
    /// Makes every later count reach `parent` too; a second call is ignored.
    pub fn count_into(&self, parent: Arc<Transferred>) {
        let _ = self.parent.set(parent);
    }

    /// Counts `n` bytes read from a file.
    pub fn add_read(&self, n: u64) {
        self.bytes_read.fetch_add(n, Ordering::Relaxed);
        if let Some(parent) = self.parent.get() {
            parent.add_read(n);
        }
    }

    /// Counts `n` bytes written to a file.
    pub fn add_written(&self, n: u64) {
        self.bytes_written.fetch_add(n, Ordering::Relaxed);
        if let Some(parent) = self.parent.get() {
            parent.add_written(n);
        }
    }

    /// Counts one finished file.
    pub fn add_file(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
        if let Some(parent) = self.parent.get() {
            parent.add_file();
        }
    }

    fn open_table(&self) -> MutexGuard<'_, OpenTable> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The files being moved now, oldest first.
    pub fn open_files(&self) -> Vec<OpenFile> {
        let mut files: Vec<(u64, OpenFile)> = self
            .open_table()
            .files
            .iter()
            .map(|(id, live)| {
                let moved = live.own.snapshot();
                let bytes = match live.info.direction {
                    Direction::Upload => moved.bytes_written,
                    Direction::Download => moved.bytes_read,
                };
                let open = OpenFile {
                    info: live.info.clone(),
                    bytes,
                    elapsed: live.started.elapsed(),
                };
                (*id, open)
            })
            .collect();
        files.sort_by_key(|(id, _)| *id);
        files.into_iter().map(|(_, file)| file).collect()
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
/// whoever moves it (the connection) as they grow, listed among the
/// total's open files until it is dropped, and for an upload the sha256 of
/// what it wrote in order.
#[derive(Debug)]
pub struct FileTransfer {
    id: u64,
    live: Arc<LiveFile>,
    total: Arc<Transferred>,
    /// `Some` for an upload.
    digest: Option<Mutex<InOrderDigest>>,
}

impl FileTransfer {
    /// A transfer of the file `info` that counts into `total` as well; an
    /// upload also hashes what it writes in order from offset 0.
    pub fn new(total: Arc<Transferred>, info: FileInfo) -> FileTransfer {
        let digest =
            (info.direction == Direction::Upload).then(|| Mutex::new(InOrderDigest::default()));
        let live = Arc::new(LiveFile {
            info,
            started: Instant::now(),
            own: Transferred::default(),
        });
        let id = {
            let mut table = total.open_table();
            table.next_id += 1;
            let id = table.next_id;
            table.files.insert(id, live.clone());
            id
        };
        FileTransfer {
            id,
            live,
            total,
            digest,
        }
    }

    /// Whether it is an upload.
    pub fn is_upload(&self) -> bool {
        self.live.info.direction == Direction::Upload
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

    /// What it moved so far.
    pub fn moved(&self) -> Moved {
        self.live.own.snapshot()
    }

    /// Counts `n` bytes read from the file.
    pub fn add_read(&self, n: u64) {
        self.live.own.add_read(n);
        self.total.add_read(n);
    }

    /// Counts `n` bytes written to the file.
    pub fn add_written(&self, n: u64) {
        self.live.own.add_written(n);
        self.total.add_written(n);
    }

    /// Marks the file finished in the total; returns what it moved.
    pub fn finish(&self) -> Moved {
        self.total.add_file();
        self.live.own.snapshot()
    }
}

impl Drop for FileTransfer {
    fn drop(&mut self) {
        let removed = self.total.open_table().files.remove(&self.id);
        drop(removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, direction: Direction, size: Option<u64>) -> FileInfo {
        FileInfo {
            path: path.to_owned(),
            direction,
            size,
        }
    }

    fn new_upload() -> FileTransfer {
        FileTransfer::new(Arc::default(), file("/up", Direction::Upload, None))
    }

    fn sha256(data: &[u8]) -> String {
        let mut hasher = Hasher::new(HashAlgorithm::Sha256);
        hasher.update(data);
        hasher.finalize_hex()
    }

    #[test]
    fn writes_in_order_from_the_start_give_the_files_sha256() {
        let upload = new_upload();
        upload.written_at(0, b"hello ");
        upload.written_at(6, b"");
        upload.written_at(6, b"world");
        assert_eq!(upload.live.own.snapshot().bytes_written, 11);
        assert_eq!(upload.sha256(11), Some(sha256(b"hello world")));
    }

    #[test]
    fn a_write_out_of_order_gives_up_the_digest_for_good() {
        let upload = new_upload();
        upload.written_at(5, b"world");
        upload.written_at(0, b"hello");
        assert_eq!(upload.sha256(10), None);
        let rewrite = new_upload();
        rewrite.written_at(0, b"abc");
        rewrite.written_at(1, b"b");
        rewrite.written_at(3, b"d");
        assert_eq!(rewrite.sha256(4), None);
    }

    #[test]
    fn a_file_longer_or_shorter_than_what_was_hashed_has_no_digest() {
        let upload = new_upload();
        upload.written_at(0, b"abc");
        assert_eq!(upload.sha256(10), None);
        let empty = new_upload();
        assert_eq!(empty.sha256(0), Some(sha256(b"")));
        let download = FileTransfer::new(Arc::default(), file("/d", Direction::Download, None));
        download.written_at(0, b"abc");
        assert_eq!(download.sha256(3), None);
    }

    #[test]
    fn a_file_counts_into_its_own_figures_and_the_total_at_once() {
        let total = Arc::new(Transferred::default());
        let first = FileTransfer::new(total.clone(), file("/a", Direction::Download, Some(10)));
        let second = FileTransfer::new(total.clone(), file("/b", Direction::Upload, None));
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

    #[test]
    fn open_files_are_listed_with_their_bytes_until_dropped() {
        let total = Arc::new(Transferred::default());
        let up = FileTransfer::new(total.clone(), file("/up", Direction::Upload, None));
        let down = FileTransfer::new(total.clone(), file("/down", Direction::Download, Some(9)));
        up.add_written(5);
        down.add_read(3);
        let open = total.open_files();
        let listed: Vec<(&str, u64, Option<u64>)> = open
            .iter()
            .map(|f| (f.info.path.as_str(), f.bytes, f.info.size))
            .collect();
        assert_eq!(listed, vec![("/up", 5, None), ("/down", 3, Some(9))]);
        drop(up);
        let open = total.open_files();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].info.path, "/down");
        drop(down);
        assert!(total.open_files().is_empty());
    }

    #[test]
    fn counts_reach_the_parent_once_set() {
        let account = Arc::new(Transferred::default());
        let connection = Arc::new(Transferred::default());
        connection.add_written(2);
        connection.count_into(account.clone());
        let transfer = FileTransfer::new(connection.clone(), file("/f", Direction::Upload, None));
        transfer.add_written(7);
        transfer.add_read(1);
        transfer.finish();
        assert_eq!(
            account.snapshot(),
            Moved {
                bytes_read: 1,
                bytes_written: 7,
                files: 1
            }
        );
        assert_eq!(connection.snapshot().bytes_written, 9);
    }
}
