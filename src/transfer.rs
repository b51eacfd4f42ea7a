//! Bytes moved between a client and its box, counted as they move: the one
//! set of transfer counters that SFTP handles, scp and the connection's
//! end-of-session line all use.
//!
//! A connection owns one [`Transferred`]; every file a service moves gets a
//! [`FileTransfer`] that counts into its own figures (for the file's log
//! line) and into the connection's at the same time, so the connection's
//! figures are live while a transfer runs, not added up when it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The transfer of one file: its own figures, counted into the total of
/// whoever moves it (the connection) as they grow.
#[derive(Debug)]
pub struct FileTransfer {
    own: Transferred,
    total: Arc<Transferred>,
}

impl FileTransfer {
    /// A transfer that counts into `total` as well.
    pub fn new(total: Arc<Transferred>) -> FileTransfer {
        FileTransfer {
            own: Transferred::default(),
            total,
        }
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
