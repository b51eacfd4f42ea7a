//! The payloads of SSH_FXP_EXTENDED requests we serve: OpenSSH's extensions
//! (its PROTOCOL file §4.3–4.11), `home-directory`, `copy-data` and the
//! check-file pair (draft-ietf-secsh-filexfer-extensions-00). Names and
//! handles stay bytes, like everywhere else in the codec.

use bytes::Bytes;

use super::{Attrs, Cursor, Malformed};

/// The arguments check-file takes after the file it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFile {
    /// Comma-separated hash algorithm names in the client's order of
    /// preference, as sent; the dispatcher picks one.
    pub algorithms: Bytes,
    /// First byte to hash.
    pub start: u64,
    /// Bytes to hash; 0 means up to the end of the file.
    pub length: u64,
    /// Hash each block of this size separately; 0 means one hash.
    pub block_size: u32,
}

/// An extended request, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// `posix-rename@openssh.com`: rename, replacing the target.
    PosixRename {
        /// The existing path.
        from: Bytes,
        /// The new path.
        to: Bytes,
    },
    /// `hardlink@openssh.com`: a new name for an existing file.
    HardLink {
        /// The existing path (oldpath).
        existing: Bytes,
        /// The link to create (newpath).
        link: Bytes,
    },
    /// `statvfs@openssh.com`.
    Statvfs {
        /// Any path on the filesystem.
        path: Bytes,
    },
    /// `fstatvfs@openssh.com`.
    Fstatvfs {
        /// Any open handle.
        handle: Bytes,
    },
    /// `fsync@openssh.com`.
    Fsync {
        /// The file handle.
        handle: Bytes,
    },
    /// `lsetstat@openssh.com`: SETSTAT without following a final symlink.
    Lsetstat {
        /// The path.
        path: Bytes,
        /// What to change.
        attrs: Attrs,
    },
    /// `limits@openssh.com`: no arguments.
    Limits,
    /// `expand-path@openssh.com`: REALPATH that also expands `~`.
    ExpandPath {
        /// The path, possibly starting with `~` or `~user`.
        path: Bytes,
    },
    /// `home-directory`: the home of a user.
    HomeDirectory {
        /// The user name asked about.
        user: Bytes,
    },
    /// `copy-data`: copy a byte range between two open files.
    CopyData {
        /// The handle to read from.
        read_handle: Bytes,
        /// Where to start reading.
        read_offset: u64,
        /// Bytes to copy; 0 means up to the end of the source.
        length: u64,
        /// The handle to write to.
        write_handle: Bytes,
        /// Where to start writing.
        write_offset: u64,
    },
    /// `check-file-name`: hashes of a file named by path.
    CheckFileName {
        /// The file.
        path: Bytes,
        /// The range and algorithms.
        check: CheckFile,
    },
    /// `check-file-handle` (and paramiko's `check-file`, which sends a handle).
    CheckFileHandle {
        /// The file handle.
        handle: Bytes,
        /// The range and algorithms.
        check: CheckFile,
    },
    /// An extension we do not serve; its payload is left unread.
    Unknown {
        /// The extension name, as sent.
        name: Bytes,
    },
}

impl Extension {
    /// Decodes the extension name and its payload at the cursor.
    pub(super) fn decode(c: &mut Cursor) -> Result<Extension, Malformed> {
        let name = c.string()?;
        Ok(match &name[..] {
            b"posix-rename@openssh.com" => Extension::PosixRename {
                from: c.string()?,
                to: c.string()?,
            },
            b"hardlink@openssh.com" => Extension::HardLink {
                existing: c.string()?,
                link: c.string()?,
            },
            b"statvfs@openssh.com" => Extension::Statvfs { path: c.string()? },
            b"fstatvfs@openssh.com" => Extension::Fstatvfs {
                handle: c.string()?,
            },
            b"fsync@openssh.com" => Extension::Fsync {
                handle: c.string()?,
            },
            b"lsetstat@openssh.com" => Extension::Lsetstat {
                path: c.string()?,
                attrs: Attrs::decode(c)?,
            },
            b"limits@openssh.com" => Extension::Limits,
            b"expand-path@openssh.com" => Extension::ExpandPath { path: c.string()? },
            b"home-directory" => Extension::HomeDirectory { user: c.string()? },
            b"copy-data" => Extension::CopyData {
                read_handle: c.string()?,
                read_offset: c.u64()?,
                length: c.u64()?,
                write_handle: c.string()?,
                write_offset: c.u64()?,
            },
            b"check-file-name" => Extension::CheckFileName {
                path: c.string()?,
                check: CheckFile::decode(c)?,
            },
            b"check-file-handle" | b"check-file" => Extension::CheckFileHandle {
                handle: c.string()?,
                check: CheckFile::decode(c)?,
            },
            _ => Extension::Unknown { name },
        })
    }
}

impl CheckFile {
    fn decode(c: &mut Cursor) -> Result<CheckFile, Malformed> {
        Ok(CheckFile {
            algorithms: c.string()?,
            start: c.u64()?,
            length: c.u64()?,
            block_size: c.u32()?,
        })
    }
}
