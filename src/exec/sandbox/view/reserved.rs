//! The system's names at the root of the view (`usr`, `dev`, `proc`,
//! `tmp`, ... and the symlinks of a merged `/usr`): found by a lookup,
//! not listed, and never the home's.

use std::time::UNIX_EPOCH;

use fuser::{FileAttr, FileType, INodeNo};

use super::View;

/// A name at the root of the view that is the system's, not the home's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::exec::sandbox) struct Reserved {
    /// The name under `/`.
    pub name: Vec<u8>,
    /// `None`: an empty folder, a mount point. `Some(target)`: a symlink
    /// (`bin` → `usr/bin` on a merged `/usr`).
    pub link: Option<Vec<u8>>,
}

impl View {
    /// The node id of the `index`th reserved name.
    pub(super) fn reserved_id(index: usize) -> u64 {
        2 + index as u64
    }

    /// The reserved name `name` at the root, if `parent` is the root.
    pub(super) fn reserved_at(&self, parent: INodeNo, name: &[u8]) -> Option<usize> {
        if parent != INodeNo::ROOT {
            return None;
        }
        self.reserved.iter().position(|entry| entry.name == name)
    }

    pub(super) fn reserved_attr(&self, index: usize) -> FileAttr {
        let link = self
            .reserved
            .get(index)
            .and_then(|entry| entry.link.as_ref());
        let (kind, perm, size) = match link {
            Some(target) => (FileType::Symlink, 0o777, target.len() as u64),
            None => (FileType::Directory, 0o755, 0),
        };
        FileAttr {
            ino: INodeNo(Self::reserved_id(index)),
            size,
            blocks: 0,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink: if link.is_some() { 1 } else { 2 },
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}
