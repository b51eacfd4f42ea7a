//! Operations on directory entries: mkdir, rmdir, unlink, rename, link,
//! symlink, readlink.
//!
//! Each opens the parent directory of its path inside the box (`O_PATH`,
//! `RESOLVE_IN_ROOT`) and calls the `*at` syscall with the single final
//! name, so a symlink in the final position is acted on, never followed.
//! `/` itself has no parent: removing or renaming it is refused.
//!
//! Quota: unlink and rename-over give back the size of a regular file whose
//! last link goes away; a new hard link changes nothing. Those operations
//! hold the locks of the inodes involved (see `Jail::with_entries_locked`)
//! so that a concurrent write, link or unlink cannot make the count drift.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, RenameFlags};
use rustix::io::Errno;

use super::file::CLIENT_MODE_MASK;
use super::path::MAX_PATH_BYTES;
use super::quota::InodeKey;
use super::{Jail, JailError, Stat, VirtualPath};

/// How often the entries of an operation are looked up again when a
/// concurrent rename changed them between the lookup and the locking.
const ENTRY_LOCK_ATTEMPTS: usize = 8;

impl Jail {
    /// Creates directory `path` with `mode` (masked with 0o777 and the
    /// umask). `/` → `AlreadyExists`.
    pub fn create_dir(&self, path: &VirtualPath, mode: u32) -> Result<(), JailError> {
        self.check_writable()?;
        let (parent, name) = self.open_parent(path)?.ok_or(JailError::AlreadyExists)?;
        rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(mode & CLIENT_MODE_MASK))?;
        self.give_to_owner(&parent, name)
    }

    /// Removes the empty directory `path` (not a symlink to one).
    pub fn remove_dir(&self, path: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        let (parent, name) = self.open_parent(path)?.ok_or(JailError::PermissionDenied)?;
        // Directories count 0 bytes: nothing to give back.
        rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)?;
        Ok(())
    }

    /// Removes the file, symlink or other non-directory `path`; the bytes of
    /// a regular file's last link go back to the quota.
    pub fn remove_file(&self, path: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        let (parent, name) = self.open_parent(path)?.ok_or(JailError::PermissionDenied)?;
        self.with_entries_locked(&[(parent.as_fd(), name)], |stats| {
            if stats
                .first()
                .copied()
                .flatten()
                .is_some_and(|st| st.is_dir())
            {
                return Err(JailError::IsADirectory);
            }
            rustix::fs::unlinkat(&parent, name, AtFlags::empty())?;
            if let Some(victim) = stats.first().copied().flatten() {
                self.release_if_last_link(&victim);
            }
            Ok(())
        })
    }

    /// Renames `from` to `to`, both inside the box. With `replace` an
    /// existing `to` is replaced atomically (POSIX rename) and its bytes go
    /// back to the quota; without, an existing `to` → `AlreadyExists`.
    pub fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        replace: bool,
    ) -> Result<(), JailError> {
        self.check_writable()?;
        let (from_parent, from_name) =
            self.open_parent(from)?.ok_or(JailError::PermissionDenied)?;
        let (to_parent, to_name) = self.open_parent(to)?.ok_or(JailError::PermissionDenied)?;
        let entries = [
            (from_parent.as_fd(), from_name),
            (to_parent.as_fd(), to_name),
        ];
        self.with_entries_locked(&entries, |stats| {
            let (source, victim) = match stats {
                [source, victim] => (*source, *victim),
                _ => (None, None),
            };
            if replace {
                rustix::fs::renameat(&from_parent, from_name, &to_parent, to_name)?;
            } else {
                rename_noreplace(
                    &from_parent,
                    from_name,
                    &to_parent,
                    to_name,
                    victim.is_some(),
                )?;
            }
            // Renaming a link onto another link of the same inode changes
            // nothing (POSIX), so nothing is freed then.
            if let Some(victim) = victim
                && source.map(|st| st.key()) != Some(victim.key())
            {
                self.release_if_last_link(&victim);
            }
            Ok(())
        })
    }

    /// Makes `new` another name of `existing`. A final symlink is linked
    /// itself, never followed (no `AT_SYMLINK_FOLLOW`), so a planted link
    /// pointing out of the box stays a link read inside the box. The quota
    /// does not change: a hard-linked file counts once.
    pub fn hard_link(&self, existing: &VirtualPath, new: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        let (old_parent, old_name) = self
            .open_parent(existing)?
            .ok_or(JailError::PermissionDenied)?;
        let (new_parent, new_name) = self.open_parent(new)?.ok_or(JailError::AlreadyExists)?;
        // Locked because the link count changes, which decides whether a
        // concurrent unlink frees the bytes.
        self.with_entries_locked(&[(old_parent.as_fd(), old_name)], |_| {
            rustix::fs::linkat(
                &old_parent,
                old_name,
                &new_parent,
                new_name,
                AtFlags::empty(),
            )?;
            Ok(())
        })
    }

    /// Creates symlink `link` whose target is `target`, stored as given. The
    /// target is read inside the box whenever the link is followed.
    pub fn symlink(&self, target: &[u8], link: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        if target.is_empty() || target.contains(&0) {
            return Err(JailError::InvalidName);
        }
        if target.len() > MAX_PATH_BYTES {
            return Err(JailError::NameTooLong);
        }
        let (parent, name) = self.open_parent(link)?.ok_or(JailError::AlreadyExists)?;
        rustix::fs::symlinkat(target, &parent, name)?;
        self.give_to_owner(&parent, name)
    }

    /// The target of symlink `path`, byte for byte as stored. Not a symlink
    /// → `Io(EINVAL)`, as `readlink(2)`.
    pub fn read_link(&self, path: &VirtualPath) -> Result<Vec<u8>, JailError> {
        let Some((parent, name)) = self.open_parent(path)? else {
            return Err(Errno::INVAL.into());
        };
        let target = rustix::fs::readlinkat(&parent, name, Vec::new())?;
        Ok(target.into_bytes())
    }

    /// Gives back the bytes of a regular file whose last link is going away.
    fn release_if_last_link(&self, victim: &Stat) {
        if victim.is_file() && victim.nlink == 1 {
            self.quota().release(victim.size);
        }
    }

    /// Runs `change` with the `lstat` of each `(parent, name)` entry (`None`
    /// when absent) while holding the quota locks of those inodes. The
    /// entries are looked up again under the locks; if a concurrent rename
    /// swapped an inode meanwhile, the locks are retaken on the new ones.
    pub(crate) fn with_entries_locked<R>(
        &self,
        entries: &[(BorrowedFd<'_>, &[u8])],
        change: impl FnOnce(&[Option<Stat>]) -> Result<R, JailError>,
    ) -> Result<R, JailError> {
        let mut change = Some(change);
        let mut stats = lstat_entries(entries)?;
        for _ in 0..ENTRY_LOCK_ATTEMPTS {
            let keys = keys_of(&stats);
            let locked: Vec<InodeKey> = keys.iter().flatten().copied().collect();
            let outcome = self.quota().with_inodes(&locked, || {
                let now = lstat_entries(entries)?;
                if keys_of(&now) != keys {
                    return Ok(Err(now));
                }
                match change.take() {
                    Some(change) => change(&now).map(Ok),
                    None => Err(Errno::AGAIN.into()),
                }
            });
            match outcome? {
                Ok(result) => return Ok(result),
                Err(now) => stats = now,
            }
        }
        Err(Errno::AGAIN.into())
    }
}

/// `lstat` of each entry; `None` for a name that does not exist.
fn lstat_entries(entries: &[(BorrowedFd<'_>, &[u8])]) -> Result<Vec<Option<Stat>>, JailError> {
    entries
        .iter()
        .map(
            |(parent, name)| match rustix::fs::statat(*parent, *name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Ok(Some(Stat::from(st))),
                Err(Errno::NOENT) => Ok(None),
                Err(errno) => Err(errno.into()),
            },
        )
        .collect()
}

fn keys_of(stats: &[Option<Stat>]) -> Vec<Option<InodeKey>> {
    stats.iter().map(|st| st.map(|st| st.key())).collect()
}

/// `renameat2(RENAME_NOREPLACE)`. Filesystems without it answer `EINVAL`;
/// then the existence check done under the inode locks stands in for it
/// (a plain rename is atomic, only the no-replace check is not).
fn rename_noreplace(
    from_parent: &OwnedFd,
    from_name: &[u8],
    to_parent: &OwnedFd,
    to_name: &[u8],
    target_exists: bool,
) -> Result<(), JailError> {
    match rustix::fs::renameat_with(
        from_parent,
        from_name,
        to_parent,
        to_name,
        RenameFlags::NOREPLACE,
    ) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL) if target_exists => Err(JailError::AlreadyExists),
        Err(Errno::INVAL) => Ok(rustix::fs::renameat(
            from_parent,
            from_name,
            to_parent,
            to_name,
        )?),
        Err(errno) => Err(errno.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};

    use super::super::tests::{Fixture, vp};
    use super::super::{OpenOptions, VirtualPath};
    use super::*;

    fn write_file(jail: &Jail, path: &str, len: usize) {
        let opts = OpenOptions {
            write: true,
            create: true,
            truncate: true,
            ..OpenOptions::default()
        };
        jail.open_file(&vp(path), &opts)
            .unwrap()
            .write_at(&vec![b'x'; len], 0)
            .unwrap();
    }

    #[test]
    fn create_and_remove_a_directory() {
        let fixture = Fixture::new(None);
        fixture.jail.create_dir(&vp("/d"), 0o2777).unwrap();
        let meta = std::fs::metadata(fixture.home().join("d")).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7000, 0);
        assert_eq!(
            fixture.jail.create_dir(&vp("/d"), 0o755),
            Err(JailError::AlreadyExists)
        );
        write_file(&fixture.jail, "/d/f", 1);
        assert_eq!(
            fixture.jail.remove_dir(&vp("/d")),
            Err(JailError::DirectoryNotEmpty)
        );
        fixture.jail.remove_file(&vp("/d/f")).unwrap();
        fixture.jail.remove_dir(&vp("/d")).unwrap();
        assert!(!fixture.home().join("d").exists());
    }

    #[test]
    fn the_root_cannot_be_removed_or_renamed() {
        let fixture = Fixture::new(None);
        let root = VirtualPath::root();
        assert_eq!(
            fixture.jail.remove_dir(&root),
            Err(JailError::PermissionDenied)
        );
        assert_eq!(
            fixture.jail.remove_file(&root),
            Err(JailError::PermissionDenied)
        );
        assert_eq!(
            fixture.jail.rename(&root, &vp("/x"), false),
            Err(JailError::PermissionDenied)
        );
        assert_eq!(
            fixture.jail.create_dir(&root, 0o755),
            Err(JailError::AlreadyExists)
        );
        assert!(fixture.home().is_dir());
    }

    #[test]
    fn remove_file_removes_a_symlink_not_its_target() {
        let fixture = Fixture::new(None);
        write_file(&fixture.jail, "/target", 5);
        fixture.jail.symlink(b"/target", &vp("/link")).unwrap();
        fixture.jail.remove_file(&vp("/link")).unwrap();
        assert!(fixture.home().join("target").exists());
        assert_eq!(fixture.jail.quota().used_bytes(), 5);
        assert_eq!(
            fixture
                .jail
                .remove_file(&VirtualPath::root().join(b"x").unwrap()),
            Err(JailError::NotFound)
        );
    }

    #[test]
    fn unlink_gives_the_space_back() {
        let fixture = Fixture::new(Some(100));
        write_file(&fixture.jail, "/f", 70);
        fixture.jail.remove_file(&vp("/f")).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), 0);
    }

    #[test]
    fn a_hard_linked_file_counts_once_and_frees_with_its_last_link() {
        let fixture = Fixture::new(Some(100));
        write_file(&fixture.jail, "/f", 70);
        fixture.jail.hard_link(&vp("/f"), &vp("/g")).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), 70);
        fixture.jail.remove_file(&vp("/f")).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), 70);
        fixture.jail.remove_file(&vp("/g")).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), 0);
    }

    #[test]
    fn rename_over_an_existing_file_frees_the_victim() {
        let fixture = Fixture::new(Some(100));
        write_file(&fixture.jail, "/a", 30);
        write_file(&fixture.jail, "/b", 50);
        assert_eq!(
            fixture.jail.rename(&vp("/a"), &vp("/b"), false),
            Err(JailError::AlreadyExists)
        );
        assert_eq!(fixture.jail.quota().used_bytes(), 80);
        fixture.jail.rename(&vp("/a"), &vp("/b"), true).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), 30);
        assert_eq!(
            std::fs::metadata(fixture.home().join("b")).unwrap().len(),
            30
        );
    }

    #[test]
    fn renaming_a_link_onto_another_link_of_the_same_file_frees_nothing() {
        let fixture = Fixture::new(Some(100));
        write_file(&fixture.jail, "/a", 30);
        fixture.jail.hard_link(&vp("/a"), &vp("/b")).unwrap();
        fixture.jail.rename(&vp("/a"), &vp("/b"), true).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), 30);
    }

    #[test]
    fn rename_cannot_move_a_file_out_of_the_home() {
        let fixture = Fixture::new(None);
        write_file(&fixture.jail, "/f", 3);
        let target = VirtualPath::resolve(&VirtualPath::root(), b"../x").unwrap();
        fixture.jail.rename(&vp("/f"), &target, false).unwrap();
        assert!(fixture.home().join("x").exists());
        assert!(!fixture.dir.path().join("x").exists());
        // Through a symlink to an outside directory: resolved in the box.
        symlink(fixture.outside(), fixture.home().join("out")).unwrap();
        assert_eq!(
            fixture.jail.rename(&vp("/x"), &vp("/out/x"), false),
            Err(JailError::NotFound)
        );
        assert!(!fixture.outside().join("x").exists());
    }

    #[test]
    fn hard_linking_a_planted_symlink_links_the_symlink_itself() {
        let fixture = Fixture::new(None);
        symlink(
            fixture.outside().join("secret"),
            fixture.home().join("planted"),
        )
        .unwrap();
        fixture
            .jail
            .hard_link(&vp("/planted"), &vp("/copy"))
            .unwrap();
        assert!(fixture.jail.lstat(&vp("/copy")).unwrap().is_symlink());
        // Following the new link still reads inside the box.
        let opened = fixture
            .jail
            .open_file(&vp("/copy"), &OpenOptions::default());
        assert_eq!(opened.err(), Some(JailError::NotFound));
        assert_eq!(fixture.jail.quota().used_bytes(), 0);
    }

    #[test]
    fn a_symlink_stores_its_target_as_given() {
        let fixture = Fixture::new(None);
        fixture
            .jail
            .symlink(b"../../../etc/passwd", &vp("/l"))
            .unwrap();
        assert_eq!(
            fixture.jail.read_link(&vp("/l")).unwrap(),
            b"../../../etc/passwd"
        );
        assert_eq!(
            fixture.jail.symlink(b"", &vp("/m")),
            Err(JailError::InvalidName)
        );
        assert_eq!(
            fixture.jail.symlink(b"a\0b", &vp("/m")),
            Err(JailError::InvalidName)
        );
        assert_eq!(
            fixture.jail.symlink(b"x", &vp("/l")),
            Err(JailError::AlreadyExists)
        );
        assert!(matches!(
            fixture.jail.read_link(&VirtualPath::root()),
            Err(JailError::Io(_))
        ));
    }
}
