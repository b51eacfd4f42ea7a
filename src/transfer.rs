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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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

/// The transfer of one file: its own figures, counted into the total of
/// whoever moves it (the connection) as they grow, and listed among the
/// total's open files until it is dropped.
#[derive(Debug)]
pub struct FileTransfer {
    id: u64,
    live: Arc<LiveFile>,
    total: Arc<Transferred>,
}

impl FileTransfer {
    /// A transfer of the file `info` that counts into `total` as well.
    pub fn new(total: Arc<Transferred>, info: FileInfo) -> FileTransfer {
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
        FileTransfer { id, live, total }
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
