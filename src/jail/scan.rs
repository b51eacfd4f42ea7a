//! Counting what is stored under the box, once per `Quota`.
//!
//! A depth-first walk from the root fd with `openat(O_NOFOLLOW)` and
//! `fstatat(AT_SYMLINK_NOFOLLOW)` on single names: no symlink is followed
//! and no path is built. Every inode below the root is one file, whatever
//! its kind, and adds its `st_size` to the bytes: a regular file its
//! length, a symlink its target's, a directory what it takes on disk; each
//! `(dev, ino)` once, so a name with several hard links counts once. The
//! root adds its own size to the bytes, not to the files.
//!
//! Each level holds one fd while its subdirectories are walked (the entries
//! are read first and the listing's own fd closed), and the walk stops at
//! [`MAX_SCAN_DEPTH`] so that a pathological tree cannot exhaust fds or
//! the stack: a directory that deep counts itself, not what it holds.
//! Directories that cannot be read are skipped with a warning: refusing the
//! login would lock the account out of fixing it.
//!
//! After an external program ran ([`recount_usage`]), the same walk also
//! clears setuid, setgid and sticky on the files and folders it meets: a
//! program such as `rsync -a` sets modes with `chmod` behind the jail's
//! back, and the box keeps only the bits a client may set
//! ([`CLIENT_MODE_MASK`]), whichever way a file came in. Each is changed
//! through a descriptor opened with `O_NOFOLLOW` and checked again, so a
//! name swapped for a symlink meanwhile is never followed.
//!
//! [`recount_usage`]: super::Jail::recount_usage

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::file::CLIENT_MODE_MASK;
use super::quota::{InodeKey, Usage};
use super::{JailError, Stat};

/// Deepest directory level counted below the root. Paths are limited to
/// 4096 bytes, so clients reach deeper levels only by renaming trees into
/// each other; 256 levels keep the walk's fds well below common limits.
pub const MAX_SCAN_DEPTH: usize = 256;

/// Totals of a walk: usage so far and the multiply-linked inodes seen.
#[derive(Default)]
struct Walk {
    usage: Usage,
    seen_linked: HashSet<InodeKey>,
    /// Whether to clear setuid, setgid and sticky on what is met.
    clear_special_modes: bool,
}

impl Walk {
    /// Counts one inode met under some name.
    fn count(&mut self, stat: &Stat) {
        // Only multiply-linked inodes can be met twice (directories cannot
        // be hard-linked); remembering just those keeps the set small.
        if !stat.is_dir() && stat.nlink > 1 && !self.seen_linked.insert(stat.key()) {
            return;
        }
        self.usage = self.usage
            + Usage {
                bytes: stat.size,
                files: 1,
            };
    }
}

/// What is stored under the directory `root` (an `O_PATH` fd is fine).
pub(crate) fn count_usage(root: BorrowedFd<'_>) -> Result<Usage, JailError> {
    walk_root(root, false)
}

/// [`count_usage`], clearing setuid, setgid and sticky on the way (the
/// root's own included).
#[cfg(test)]
pub(crate) fn count_usage_clearing_special_modes(root: BorrowedFd<'_>) -> Result<Usage, JailError> {
    walk_root(root, true)
}

/// The directory `root` itself, open for reading its entries.
fn open_root(root: BorrowedFd<'_>) -> Result<OwnedFd, JailError> {
    Ok(rustix::fs::openat(
        root,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn walk_root(root: BorrowedFd<'_>, clear_special_modes: bool) -> Result<Usage, JailError> {
    let dir = open_root(root)?;
    let mut walk = Walk {
        clear_special_modes,
        ..Walk::default()
    };
    let stat = Stat::from(rustix::fs::fstat(&dir)?);
    walk.usage.bytes = stat.size;
    if clear_special_modes && has_special_mode(&stat) {
        clear_special_mode(&dir);
    }
    walk_dir(&dir, 0, &mut walk)?;
    Ok(walk.usage)
}

/// What a walk does on the way: with each name it meets, and with the
/// directories it does not enter.
trait Visitor {
    /// `name` in `dir` (never `.` or `..`), whose `lstat` is `stat`.
    fn visit(&mut self, dir: &OwnedFd, name: &CStr, stat: &Stat) -> Result<(), JailError>;

    /// A directory the walk does not enter: `Ok` goes on without it.
    fn skip(&mut self, why: Skipped) -> Result<(), JailError>;
}

/// Why a walk does not enter a directory.
enum Skipped {
    /// It is below [`MAX_SCAN_DEPTH`].
    TooDeep,
    /// Opening it was refused (`EACCES`, `EPERM`).
    Unreadable(Errno),
}

impl Visitor for Walk {
    fn visit(&mut self, dir: &OwnedFd, name: &CStr, stat: &Stat) -> Result<(), JailError> {
        self.count(stat);
        if self.clear_special_modes && has_special_mode(stat) && (stat.is_file() || stat.is_dir()) {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
            match rustix::fs::openat(dir, name, flags | OFlags::CLOEXEC, Mode::empty()) {
                Ok(fd) => clear_special_mode(&fd),
                Err(errno) => {
                    tracing::warn!(%errno, "cannot open a file to clear its setuid/setgid bits");
                }
            }
        }
        Ok(())
    }

    fn skip(&mut self, why: Skipped) -> Result<(), JailError> {
        match why {
            Skipped::TooDeep => tracing::warn!(
                max_depth = MAX_SCAN_DEPTH,
                "quota scan skipped directories nested too deep"
            ),
            Skipped::Unreadable(errno) => {
                tracing::warn!(%errno, "quota scan cannot read a directory, skipping it");
            }
        }
        Ok(())
    }
}

/// Visits every name under `dir`, depth first, without following a
/// symlink: the entries of a level are read (and the listing's fd closed)
/// before its subdirectories are entered, down to [`MAX_SCAN_DEPTH`].
fn walk_dir(dir: &OwnedFd, depth: usize, visitor: &mut impl Visitor) -> Result<(), JailError> {
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
        visitor.visit(dir, name, &stat)?;
        if stat.is_dir() {
            subdirs.push(name.to_owned());
        }
    }
    if depth >= MAX_SCAN_DEPTH && !subdirs.is_empty() {
        return visitor.skip(Skipped::TooDeep);
    }
    for name in subdirs {
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
            Ok(child) => walk_dir(&child, depth + 1, visitor)?,
            // Removed or replaced by a symlink since it was listed.
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {}
            Err(errno @ (Errno::ACCESS | Errno::PERM)) => {
                visitor.skip(Skipped::Unreadable(errno))?;
            }
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}

/// Whether `stat` has setuid, setgid or sticky.
fn has_special_mode(stat: &Stat) -> bool {
    stat.mode & 0o7777 & !CLIENT_MODE_MASK != 0
}

/// Clears setuid, setgid and sticky on the open file or folder `fd`, if it
/// is one and still has them.
fn clear_special_mode(fd: &OwnedFd) {
    let Ok(stat) = rustix::fs::fstat(fd).map(Stat::from) else {
        return;
    };
    if !(stat.is_file() || stat.is_dir()) || !has_special_mode(&stat) {
        return;
    }
    let mode = Mode::from_raw_mode(stat.mode & CLIENT_MODE_MASK);
    if let Err(errno) = rustix::fs::fchmod(fd, mode) {
        tracing::warn!(%errno, "cannot clear setuid/setgid bits");
    }
}

/// Gives everything under `root` (the root included) that `from` owns to
/// `to` (uid and gid), without following a symlink, to the same depth as
/// [`count_usage`]: a home of an earlier version, given to its account's
/// sandbox uid.
pub(crate) fn reown(root: BorrowedFd<'_>, from: u32, to: u32) -> Result<(), JailError> {
    let dir = open_root(root)?;
    let owner = (
        Some(rustix::process::Uid::from_raw(to)),
        Some(rustix::process::Gid::from_raw(to)),
    );
    rustix::fs::fchown(&dir, owner.0, owner.1)?;
    walk_dir(&dir, 0, &mut Reown { from, owner })
}

/// Gives what `from` owns to `owner` on the way.
struct Reown {
    from: u32,
    owner: (Option<rustix::process::Uid>, Option<rustix::process::Gid>),
}

impl Visitor for Reown {
    fn visit(&mut self, dir: &OwnedFd, name: &CStr, stat: &Stat) -> Result<(), JailError> {
        if stat.uid == self.from {
            let (uid, gid) = self.owner;
            match rustix::fs::chownat(dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(())
    }

    fn skip(&mut self, why: Skipped) -> Result<(), JailError> {
        match why {
            Skipped::TooDeep => Ok(()),
            Skipped::Unreadable(errno) => Err(errno.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;
    use std::path::Path;
    use std::sync::Arc;

    use super::super::tests::{Fixture, vp};
    use super::super::{Jail, OpenOptions, Quota, Usage};

    fn size_of(path: &Path) -> u64 {
        std::fs::symlink_metadata(path).unwrap().len()
    }

    #[test]
    fn a_fresh_quota_counts_every_inode_once_with_its_size() {
        let fixture = Fixture::new(None);
        let home = fixture.home();
        std::fs::create_dir_all(home.join("a/b/c")).unwrap();
        std::fs::write(home.join("top"), vec![0; 10]).unwrap();
        std::fs::write(home.join("a/b/c/deep"), vec![0; 100]).unwrap();
        std::fs::hard_link(home.join("a/b/c/deep"), home.join("a/again")).unwrap();
        symlink(fixture.outside(), home.join("out")).unwrap();
        symlink("/top", home.join("a/top-link")).unwrap();
        std::fs::hard_link(home.join("a/top-link"), home.join("a/b/link-again")).unwrap();
        // The home, its three folders, two files and two symlinks, each
        // once however many names it has.
        let folders: u64 = ["", "a", "a/b", "a/b/c"]
            .iter()
            .map(|dir| size_of(&home.join(dir)))
            .sum();
        let outside_len = fixture.outside().as_os_str().len() as u64;
        let expected = Usage {
            bytes: folders + 10 + 100 + outside_len + "/top".len() as u64,
            files: 3 + 2 + 2,
        };
        // A restart: a new Quota for the same home recounts from disk.
        let quota = Arc::new(Quota::new(Some(1 << 20)));
        let jail = Jail::open(&home, Arc::clone(&quota), false).unwrap();
        assert_eq!(quota.usage(), expected);
        // A later open with the same Quota reuses the count.
        std::fs::write(home.join("behind-our-back"), vec![0; 5]).unwrap();
        Jail::open(&home, Arc::clone(&quota), false).unwrap();
        assert_eq!(jail.quota().usage(), expected);
        // A recount picks it up, as after an external program.
        let recounted = jail.recount_usage().unwrap();
        assert_eq!(recounted.files, expected.files + 1);
        assert_eq!(quota.usage(), recounted);
    }

    #[test]
    fn an_empty_home_counts_its_own_size_and_no_file() {
        let fixture = Fixture::new(None);
        assert_eq!(
            fixture.jail.quota().usage(),
            Usage {
                bytes: size_of(&fixture.home()),
                files: 0
            }
        );
    }

    #[test]
    fn usage_survives_a_restart() {
        let fixture = Fixture::new(Some(1 << 20));
        let opts = OpenOptions {
            write: true,
            create: true,
            ..Default::default()
        };
        let file = fixture.jail.open_file(&vp("/f"), &opts).unwrap();
        file.write_at(&[1; 300], 0).unwrap();
        fixture.jail.create_dir(&vp("/d"), 0o755).unwrap();
        fixture.jail.symlink(&[b'y'; 999], &vp("/d/l")).unwrap();
        let restarted = Arc::new(Quota::new(Some(1 << 20)));
        Jail::open(&fixture.home(), Arc::clone(&restarted), false).unwrap();
        assert_eq!(restarted.usage(), fixture.jail.quota().usage());
        assert_eq!(restarted.used_files(), 3);
    }

    #[test]
    fn a_recount_clears_setuid_setgid_and_sticky_and_follows_no_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let fixture = Fixture::new(None);
        let home = fixture.home();
        let set = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        let mode = |path: &Path| {
            std::fs::symlink_metadata(path)
                .unwrap()
                .permissions()
                .mode()
        };
        std::fs::create_dir_all(home.join("d/e")).unwrap();
        std::fs::write(home.join("d/e/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::write(home.join("plain"), b"x").unwrap();
        set(&home.join("d/e/tool"), 0o6755);
        set(&home.join("d"), 0o3775);
        set(&home.join("plain"), 0o640);
        // A setuid file outside, reached by a symlink in the box.
        let outside = fixture.outside().join("secret");
        set(&outside, 0o4711);
        symlink(&outside, home.join("d/out")).unwrap();

        let counted = fixture.jail.recount_usage().unwrap();
        assert_eq!(mode(&home.join("d/e/tool")) & 0o7777, 0o755);
        assert_eq!(mode(&home.join("d")) & 0o7777, 0o775);
        assert_eq!(mode(&home.join("plain")) & 0o7777, 0o640);
        assert_eq!(mode(&outside) & 0o7777, 0o4711, "followed a symlink out");
        // The count is the plain count's.
        assert_eq!(
            counted,
            super::count_usage(fixture.jail.inner.root.as_fd()).unwrap()
        );
    }
}
