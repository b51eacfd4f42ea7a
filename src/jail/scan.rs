//! Counting the bytes stored under the box, once per `Quota`.
//!
//! A depth-first walk from the root fd with `openat(O_NOFOLLOW)` and
//! `fstatat(AT_SYMLINK_NOFOLLOW)` on single names: no symlink is followed
//! and no path is built. Regular files count their `st_size`, each
//! `(dev, ino)` once (a file with several hard links counts once);
//! symlinks, directories and special files count 0.
//!
//! Each level holds one fd while its subdirectories are walked (the entries
//! are read first and the listing's own fd closed), and the walk stops at
//! [`MAX_SCAN_DEPTH`] so that a pathological tree cannot exhaust fds or
//! the stack. Directories that cannot be read are skipped with a warning:
//! refusing the login would lock the account out of fixing it.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::quota::InodeKey;
use super::{JailError, Stat};

/// Deepest directory level counted below the root. Paths are limited to
/// 4096 bytes, so clients reach deeper levels only by renaming trees into
/// each other; 256 levels keep the walk's fds well below common limits.
pub const MAX_SCAN_DEPTH: usize = 256;

/// Totals of a walk: bytes so far and the multiply-linked inodes seen.
#[derive(Default)]
struct Usage {
    bytes: u64,
    seen_linked: HashSet<InodeKey>,
}

/// The bytes stored under the directory `root` (an `O_PATH` fd is fine).
pub(crate) fn count_usage(root: BorrowedFd<'_>) -> Result<u64, JailError> {
    let dir = rustix::fs::openat(
        root,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut usage = Usage::default();
    walk(&dir, 0, &mut usage)?;
    Ok(usage.bytes)
}

fn walk(dir: &OwnedFd, depth: usize, usage: &mut Usage) -> Result<(), JailError> {
    let mut subdirs: Vec<CString> = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let stat = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Stat::from(st),
            Err(Errno::NOENT) => continue,
            Err(errno) => return Err(errno.into()),
        };
        if stat.is_dir() {
            subdirs.push(name.to_owned());
        } else if stat.is_file() {
            // Only multiply-linked inodes can be met twice; remembering just
            // those keeps the set small.
            if stat.nlink > 1 && !usage.seen_linked.insert(stat.key()) {
                continue;
            }
            usage.bytes = usage.bytes.saturating_add(stat.size);
        }
    }
    for name in subdirs {
        if depth >= MAX_SCAN_DEPTH {
            tracing::warn!(
                max_depth = MAX_SCAN_DEPTH,
                "quota scan skipped directories nested too deep"
            );
            break;
        }
        let child = rustix::fs::openat(
            dir,
            name.as_c_str(),
            OFlags::RDONLY
                | OFlags::DIRECTORY
                | OFlags::NOFOLLOW
                | OFlags::NOCTTY
                | OFlags::CLOEXEC,
            Mode::empty(),
        );
        match child {
            Ok(child) => walk(&child, depth + 1, usage)?,
            // Removed or replaced by a symlink since it was listed.
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {}
            Err(errno @ (Errno::ACCESS | Errno::PERM)) => {
                tracing::warn!(%errno, "quota scan cannot read a directory, skipping it");
            }
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::sync::Arc;

    use super::super::tests::Fixture;
    use super::super::{Jail, Quota};

    #[test]
    fn a_fresh_quota_counts_files_once_and_ignores_links_and_directories() {
        let fixture = Fixture::new(None);
        let home = fixture.home();
        std::fs::create_dir_all(home.join("a/b/c")).unwrap();
        std::fs::write(home.join("top"), vec![0; 10]).unwrap();
        std::fs::write(home.join("a/b/c/deep"), vec![0; 100]).unwrap();
        std::fs::hard_link(home.join("a/b/c/deep"), home.join("a/again")).unwrap();
        symlink(fixture.outside(), home.join("out")).unwrap();
        symlink("/top", home.join("a/top-link")).unwrap();
        // A restart: a new Quota for the same home recounts from disk.
        let quota = Arc::new(Quota::new(Some(1000)));
        let jail = Jail::open(&home, Arc::clone(&quota), false).unwrap();
        assert_eq!(quota.used_bytes(), 110);
        // A later open with the same Quota reuses the count.
        std::fs::write(home.join("behind-our-back"), vec![0; 5]).unwrap();
        Jail::open(&home, Arc::clone(&quota), false).unwrap();
        assert_eq!(jail.quota().used_bytes(), 110);
    }

    #[test]
    fn usage_survives_a_restart() {
        let fixture = Fixture::new(Some(1000));
        let opts = super::super::OpenOptions {
            write: true,
            create: true,
            ..Default::default()
        };
        let file = fixture
            .jail
            .open_file(&super::super::tests::vp("/f"), &opts)
            .unwrap();
        file.write_at(&[1; 300], 0).unwrap();
        let restarted = Arc::new(Quota::new(Some(1000)));
        Jail::open(&fixture.home(), Arc::clone(&restarted), false).unwrap();
        assert_eq!(restarted.used_bytes(), fixture.jail.quota().used_bytes());
        assert_eq!(restarted.used_bytes(), 300);
    }
}
