//! `JailError`: why a jail operation failed, and the errno mapping.
//!
//! Callers branch on the cause (`sftp/status.rs` turns it into a status
//! code, `exec` into GNU-style messages), so kernel errors are mapped once,
//! here, to the few causes a client can act on; the rest stay `Io` with the
//! operating system's own message.

use std::io;

use rustix::io::Errno;

/// Why a jail operation failed. Display texts are short lowercase phrases
/// fit for a client-facing status message.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    /// The path, or one of its directories, does not exist.
    #[error("no such file or directory")]
    NotFound,
    /// The name is already taken.
    #[error("file exists")]
    AlreadyExists,
    /// A directory was expected.
    #[error("not a directory")]
    NotADirectory,
    /// A file was expected and this is a directory.
    #[error("is a directory")]
    IsADirectory,
    /// A directory to remove or replace still has entries.
    #[error("directory not empty")]
    DirectoryNotEmpty,
    /// Refused, by file permissions or because the operation would leave the
    /// box or makes no sense there (removing `/`, opening a FIFO).
    #[error("permission denied")]
    PermissionDenied,
    /// The account is read-only.
    #[error("read-only account")]
    ReadOnly,
    /// A name with NUL, not UTF-8, or not a single name where one is needed.
    #[error("invalid file name")]
    InvalidName,
    /// A path longer than `MAX_PATH_BYTES` or a name longer than `MAX_NAME_BYTES`.
    #[error("file name too long")]
    NameTooLong,
    /// The write would take usage over the quota; nothing was written.
    #[error("quota exceeded: used {used} of {limit} bytes")]
    QuotaExceeded {
        /// Bytes stored before the refused operation.
        used: u64,
        /// The account's limit in bytes.
        limit: u64,
    },
    /// Creating the entry would take the box past its `max_files`; nothing
    /// was created.
    #[error("file limit reached: used {used} of {limit} files")]
    TooManyFiles {
        /// Files (inodes) in the box before the refused operation.
        used: u64,
        /// The account's `max_files`.
        limit: u64,
    },
    /// The kernel or filesystem cannot do this (for example no `openat2`).
    #[error("operation not supported")]
    Unsupported,
    /// The home is on object storage, which cannot do this; the text says
    /// what and why, for the client.
    #[error("not possible on object storage: {0}")]
    NotOnObjectStorage(&'static str),
    /// Any other failure: full disk, I/O error, too many symlinks, ...
    #[error("{0}")]
    Io(#[source] io::Error),
}

impl From<Errno> for JailError {
    fn from(errno: Errno) -> Self {
        match errno {
            Errno::NOENT => JailError::NotFound,
            Errno::EXIST => JailError::AlreadyExists,
            Errno::NOTDIR => JailError::NotADirectory,
            Errno::ISDIR => JailError::IsADirectory,
            Errno::NOTEMPTY => JailError::DirectoryNotEmpty,
            // EXDEV: `RESOLVE_IN_ROOT` refusing a crossing, or a rename/link
            // across mounts; either way the client may not do it.
            // ENXIO: opening a FIFO for writing without a reader, or a
            // device; never a regular file.
            Errno::ACCESS | Errno::PERM | Errno::XDEV | Errno::NXIO => JailError::PermissionDenied,
            Errno::ROFS => JailError::ReadOnly,
            Errno::NAMETOOLONG => JailError::NameTooLong,
            Errno::NOSYS | Errno::OPNOTSUPP => JailError::Unsupported,
            // ELOOP, EDQUOT, ENOSPC, EIO, ...: the OS message is clear enough
            // ("too many levels of symbolic links", "no space left on device").
            other => JailError::Io(io::Error::from_raw_os_error(other.raw_os_error())),
        }
    }
}

impl From<io::Error> for JailError {
    fn from(err: io::Error) -> Self {
        match err.raw_os_error() {
            Some(code) => JailError::from(Errno::from_raw_os_error(code)),
            None => JailError::Io(err),
        }
    }
}

impl From<JailError> for io::Error {
    fn from(err: JailError) -> Self {
        let kind = match &err {
            JailError::Io(_) => return io::Error::other(err),
            JailError::NotFound => io::ErrorKind::NotFound,
            JailError::AlreadyExists => io::ErrorKind::AlreadyExists,
            JailError::NotADirectory => io::ErrorKind::NotADirectory,
            JailError::IsADirectory => io::ErrorKind::IsADirectory,
            JailError::DirectoryNotEmpty => io::ErrorKind::DirectoryNotEmpty,
            JailError::PermissionDenied => io::ErrorKind::PermissionDenied,
            JailError::ReadOnly => io::ErrorKind::ReadOnlyFilesystem,
            JailError::InvalidName | JailError::NameTooLong => io::ErrorKind::InvalidInput,
            // EDQUOT stands for both block and inode quotas on Linux.
            JailError::QuotaExceeded { .. } | JailError::TooManyFiles { .. } => {
                io::ErrorKind::QuotaExceeded
            }
            JailError::Unsupported | JailError::NotOnObjectStorage(_) => io::ErrorKind::Unsupported,
        };
        io::Error::new(kind, err)
    }
}

/// Equality by cause, so tests and callers can compare results; two `Io`
/// errors are equal when their OS error code (or kind) is.
impl PartialEq for JailError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (JailError::Io(a), JailError::Io(b)) => {
                a.raw_os_error() == b.raw_os_error() && a.kind() == b.kind()
            }
            (
                JailError::QuotaExceeded { used, limit },
                JailError::QuotaExceeded {
                    used: other_used,
                    limit: other_limit,
                },
            ) => used == other_used && limit == other_limit,
            (
                JailError::TooManyFiles { used, limit },
                JailError::TooManyFiles {
                    used: other_used,
                    limit: other_limit,
                },
            ) => used == other_used && limit == other_limit,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl JailError {
    /// The `strerror(3)` wording GNU tools and OpenSSH print for this error
    /// (`No such file or directory`); the quota and the file limit keep
    /// their own messages, which give the figures.
    pub fn strerror(&self) -> String {
        match self {
            JailError::NotFound => "No such file or directory".into(),
            JailError::AlreadyExists => "File exists".into(),
            JailError::NotADirectory => "Not a directory".into(),
            JailError::IsADirectory => "Is a directory".into(),
            JailError::DirectoryNotEmpty => "Directory not empty".into(),
            JailError::PermissionDenied => "Permission denied".into(),
            JailError::ReadOnly => "Read-only file system".into(),
            JailError::InvalidName => "Invalid argument".into(),
            JailError::NameTooLong => "File name too long".into(),
            JailError::Unsupported => "Operation not supported".into(),
            JailError::QuotaExceeded { .. }
            | JailError::TooManyFiles { .. }
            | JailError::NotOnObjectStorage(_) => self.to_string(),
            JailError::Io(io) => {
                // `io::Error`'s Display adds " (os error N)"; strerror has none.
                let text = io.to_string();
                match text.find(" (os error") {
                    Some(cut) => text.get(..cut).unwrap_or(&text).to_owned(),
                    None => text,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_map_to_their_causes() {
        assert_eq!(JailError::from(Errno::NOENT), JailError::NotFound);
        assert_eq!(JailError::from(Errno::XDEV), JailError::PermissionDenied);
        assert_eq!(
            JailError::from(Errno::NOTEMPTY),
            JailError::DirectoryNotEmpty
        );
        assert!(matches!(JailError::from(Errno::LOOP), JailError::Io(_)));
        assert!(matches!(JailError::from(Errno::NOSPC), JailError::Io(_)));
        let quota = JailError::QuotaExceeded { used: 5, limit: 9 };
        assert_eq!(quota.to_string(), "quota exceeded: used 5 of 9 bytes");
        assert_eq!(JailError::NotFound.to_string(), "no such file or directory");
        let files = JailError::TooManyFiles { used: 7, limit: 7 };
        assert_eq!(files.to_string(), "file limit reached: used 7 of 7 files");
        assert_eq!(files.strerror(), "file limit reached: used 7 of 7 files");
        assert_ne!(files, JailError::TooManyFiles { used: 6, limit: 7 });
        assert_eq!(io::Error::from(files).kind(), io::ErrorKind::QuotaExceeded);
    }
}
