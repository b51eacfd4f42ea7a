//! Operations on directory entries: mkdir, rmdir, unlink, rename, link,
//! symlink, readlink.
//!
//! Each opens the parent directory of its path inside the box (`O_PATH`,
//! `RESOLVE_IN_ROOT`) and calls the `*at` syscall with the single final
//! name, so a symlink in the final position is acted on, never followed.
//! `/` itself has no parent: removing or renaming it is refused.
//!
//! Quota (see `charge.rs` for how each is reserved and settled): mkdir and
//! symlink add one file and their size (a folder's own size, a symlink's
//! target length); a hard link adds a name, not a file; unlink, rmdir and
//! rename over give back the files and bytes of an inode whose last name
//! goes away. Every one of them also settles what its folders grew or
//! shrank by. Creations are refused when they do not fit; removals never
//! are; a rename adds no inode and is refused only when the account is
//! already over its byte quota, because what its target folder grows by is
//! known only afterwards (and is charged then).

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, RenameFlags};
use rustix::io::Errno;

use super::charge::{Changed, Need, freed_by_unlinking, made};
use super::file::CLIENT_MODE_MASK;
use super::path::MAX_PATH_BYTES;
use super::quota::Usage;
use super::{JailError, LocalBox, Stat, VirtualPath};

impl LocalBox {
    /// Creates directory `path` with `mode` (masked with 0o777 and the
    /// umask). `/` → `AlreadyExists`. Charged one file and the new
    /// folder's size; refused when either does not fit.
    pub fn create_dir(&self, path: &VirtualPath, mode: u32) -> Result<(), JailError> {
        self.check_writable()?;
        let (parent, name) = self.open_parent(path)?.ok_or(JailError::AlreadyExists)?;
        let folder = parent.as_fd();
        self.change_entries(&[folder], &[(folder, name)], Need::new_folder(), |_| {
            rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(mode & CLIENT_MODE_MASK))?;
            let block = rustix::fs::fstat(&parent).map_or(0, |st| st.st_blksize);
            let estimate = u64::try_from(block).unwrap_or(0);
            Ok(Changed::added((), made(folder, name, estimate)))
        })?;
        self.give_to_owner(&parent, name)
    }

    /// Removes the empty directory `path` (not a symlink to one); its file
    /// and its size go back to the quota.
    pub fn remove_dir(&self, path: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        let (parent, name) = self.open_parent(path)?.ok_or(JailError::PermissionDenied)?;
        let folder = parent.as_fd();
        self.change_entries(&[folder], &[(folder, name)], Need::NOTHING, |stats| {
            rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)?;
            let freed = first(stats).map(|victim| freed_by_unlinking(&victim));
            Ok(Changed::removed((), freed.unwrap_or_default()))
        })
    }

    /// Removes the file, symlink or other non-directory `path`; the file
    /// and bytes of its inode's last name go back to the quota.
    pub fn remove_file(&self, path: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        let (parent, name) = self.open_parent(path)?.ok_or(JailError::PermissionDenied)?;
        let folder = parent.as_fd();
        self.change_entries(&[folder], &[(folder, name)], Need::NOTHING, |stats| {
            let victim = first(stats);
            if victim.is_some_and(|st| st.is_dir()) {
                return Err(JailError::IsADirectory);
            }
            rustix::fs::unlinkat(&parent, name, AtFlags::empty())?;
            let freed = victim.map(|victim| freed_by_unlinking(&victim));
            Ok(Changed::removed((), freed.unwrap_or_default()))
        })
    }

    /// Renames `from` to `to`, both inside the box. With `replace` an
    /// existing `to` is replaced atomically (POSIX rename) and its file and
    /// bytes go back to the quota; without, an existing `to` →
    /// `AlreadyExists`. Refused with `QuotaExceeded` while the account is
    /// over its byte quota.
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
        self.quota().check_not_over()?;
        let folders = [from_parent.as_fd(), to_parent.as_fd()];
        let entries = [
            (from_parent.as_fd(), from_name),
            (to_parent.as_fd(), to_name),
        ];
        self.change_entries(&folders, &entries, Need::NOTHING, |stats| {
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
            let freed = match victim {
                Some(victim) if source.map(|st| st.key()) != Some(victim.key()) => {
                    freed_by_unlinking(&victim)
                }
                _ => Usage::default(),
            };
            Ok(Changed::removed((), freed))
        })
    }

    /// Makes `new` another name of `existing`. A final symlink is linked
    /// itself, never followed (no `AT_SYMLINK_FOLLOW`), so a planted link
    /// pointing out of the box stays a link read inside the box. A hard
    /// link adds a name, not a file: the quota charges only what the new
    /// name's folder grows by.
    pub fn hard_link(&self, existing: &VirtualPath, new: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        let (old_parent, old_name) = self
            .open_parent(existing)?
            .ok_or(JailError::PermissionDenied)?;
        let (new_parent, new_name) = self.open_parent(new)?.ok_or(JailError::AlreadyExists)?;
        // The source is locked because its link count changes, which
        // decides whether a concurrent unlink frees it.
        let entries = [
            (old_parent.as_fd(), old_name),
            (new_parent.as_fd(), new_name),
        ];
        self.change_entries(&[new_parent.as_fd()], &entries, Need::new_name(), |_| {
            rustix::fs::linkat(
                &old_parent,
                old_name,
                &new_parent,
                new_name,
                AtFlags::empty(),
            )?;
            Ok(Changed::added((), Usage::default()))
        })
    }

    /// Creates symlink `link` whose target is `target`, stored as given. The
    /// target is read inside the box whenever the link is followed. Charged
    /// one file and the target's length; refused when either does not fit.
    pub fn symlink(&self, target: &[u8], link: &VirtualPath) -> Result<(), JailError> {
        self.check_writable()?;
        if target.is_empty() || target.contains(&0) {
            return Err(JailError::InvalidName);
        }
        if target.len() > MAX_PATH_BYTES {
            return Err(JailError::NameTooLong);
        }
        let (parent, name) = self.open_parent(link)?.ok_or(JailError::AlreadyExists)?;
        let folder = parent.as_fd();
        // A symlink's size is its target's length.
        let target_bytes = u64::try_from(target.len()).unwrap_or(u64::MAX);
        let need = Need::new_entry(target_bytes);
        self.change_entries(&[folder], &[(folder, name)], need, |_| {
            rustix::fs::symlinkat(target, &parent, name)?;
            Ok(Changed::added((), made(folder, name, target_bytes)))
        })?;
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
}

/// The `lstat` of an operation's first entry, if it exists.
fn first(stats: &[Option<Stat>]) -> Option<Stat> {
    stats.first().copied().flatten()
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

    use super::super::charge::FOLDER_GROWTH_BLOCKS;
    use super::super::tests::{Fixture, vp};
    use super::super::{Jail, OpenOptions, VirtualPath};
    use super::*;

    /// A fixture whose quota allows `max_files` files and no byte limit.
    fn with_max_files(max_files: u64) -> Fixture {
        let fixture = Fixture::new(None);
        fixture.jail.quota().set_max_files(Some(max_files));
        fixture
    }

    /// The block size of the home's filesystem, the unit folders grow by.
    fn block_bytes(fixture: &Fixture) -> u64 {
        std::fs::metadata(fixture.home()).unwrap().blksize()
    }

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
        fixture.assert_exact();
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
        let before = fixture.jail.quota().usage();
        fixture.jail.symlink(b"/target", &vp("/link")).unwrap();
        fixture.jail.remove_file(&vp("/link")).unwrap();
        assert!(fixture.home().join("target").exists());
        assert_eq!(fixture.jail.quota().usage(), before);
        fixture.assert_exact();
        assert_eq!(
            fixture
                .jail
                .remove_file(&VirtualPath::root().join(b"x").unwrap()),
            Err(JailError::NotFound)
        );
    }

    #[test]
    fn unlink_gives_the_space_back() {
        let fixture = Fixture::new(Some(1 << 20));
        let empty = fixture.jail.quota().usage();
        write_file(&fixture.jail, "/f", 70);
        assert_eq!(
            fixture.jail.quota().usage(),
            Usage {
                bytes: empty.bytes + 70,
                files: 1
            }
        );
        fixture.jail.remove_file(&vp("/f")).unwrap();
        assert_eq!(fixture.jail.quota().usage(), empty);
        fixture.assert_exact();
    }

    #[test]
    fn a_hard_linked_file_counts_once_and_frees_with_its_last_link() {
        let fixture = Fixture::new(Some(1 << 20));
        let empty = fixture.jail.quota().usage();
        write_file(&fixture.jail, "/f", 70);
        let one = fixture.jail.quota().usage();
        fixture.jail.hard_link(&vp("/f"), &vp("/g")).unwrap();
        assert_eq!(fixture.jail.quota().usage(), one);
        fixture.assert_exact();
        fixture.jail.remove_file(&vp("/f")).unwrap();
        assert_eq!(fixture.jail.quota().usage(), one);
        fixture.jail.remove_file(&vp("/g")).unwrap();
        assert_eq!(fixture.jail.quota().usage(), empty);
        fixture.assert_exact();
    }

    #[test]
    fn rename_over_an_existing_file_frees_the_victim() {
        let fixture = Fixture::new(Some(1 << 20));
        let empty = fixture.jail.quota().usage();
        write_file(&fixture.jail, "/a", 30);
        write_file(&fixture.jail, "/b", 50);
        assert_eq!(
            fixture.jail.rename(&vp("/a"), &vp("/b"), false),
            Err(JailError::AlreadyExists)
        );
        assert_eq!(fixture.jail.quota().used_bytes(), empty.bytes + 80);
        fixture.jail.rename(&vp("/a"), &vp("/b"), true).unwrap();
        assert_eq!(
            fixture.jail.quota().usage(),
            Usage {
                bytes: empty.bytes + 30,
                files: 1
            }
        );
        fixture.assert_exact();
        assert_eq!(
            std::fs::metadata(fixture.home().join("b")).unwrap().len(),
            30
        );
    }

    #[test]
    fn renaming_a_link_onto_another_link_of_the_same_file_frees_nothing() {
        let fixture = Fixture::new(Some(1 << 20));
        write_file(&fixture.jail, "/a", 30);
        let one = fixture.jail.quota().usage();
        fixture.jail.hard_link(&vp("/a"), &vp("/b")).unwrap();
        fixture.jail.rename(&vp("/a"), &vp("/b"), true).unwrap();
        assert_eq!(fixture.jail.quota().usage(), one);
        fixture.assert_exact();
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
        fixture.jail.recount_usage().unwrap();
        let planted = fixture.jail.quota().usage();
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
        // Two names, one inode: counted once.
        assert_eq!(fixture.jail.quota().usage(), planted);
        fixture.assert_exact();
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

    #[test]
    fn mkdir_charges_a_file_and_the_folder_size_and_rmdir_gives_them_back() {
        let fixture = Fixture::new(Some(1 << 20));
        let empty = fixture.jail.quota().usage();
        fixture.jail.create_dir(&vp("/d"), 0o755).unwrap();
        let size = std::fs::symlink_metadata(fixture.home().join("d"))
            .unwrap()
            .len();
        assert_eq!(
            fixture.jail.quota().usage(),
            Usage {
                bytes: empty.bytes + size,
                files: 1
            }
        );
        fixture.assert_exact();
        fixture.jail.remove_dir(&vp("/d")).unwrap();
        assert_eq!(fixture.jail.quota().usage(), empty);
        fixture.assert_exact();
    }

    #[test]
    fn a_symlink_costs_one_file_and_its_target_length() {
        let fixture = Fixture::new(Some(1 << 20));
        let empty = fixture.jail.quota().usage();
        let target = vec![b'x'; 3000];
        fixture.jail.symlink(&target, &vp("/l")).unwrap();
        assert_eq!(
            fixture.jail.quota().usage(),
            Usage {
                bytes: empty.bytes + 3000,
                files: 1
            }
        );
        fixture.assert_exact();
        fixture.jail.remove_file(&vp("/l")).unwrap();
        assert_eq!(fixture.jail.quota().usage(), empty);
    }

    #[test]
    fn a_home_at_its_quota_cannot_gain_a_folder_a_symlink_a_file_or_a_name() {
        let fixture = Fixture::new(None);
        write_file(&fixture.jail, "/f", 10);
        let used = fixture.leave_room(0);
        let full = JailError::QuotaExceeded { used, limit: used };
        assert_eq!(fixture.jail.create_dir(&vp("/d"), 0o755), Err(full));
        assert_eq!(
            fixture.jail.symlink(&[b'x'; 4000], &vp("/l")),
            Err(JailError::QuotaExceeded { used, limit: used })
        );
        let create = OpenOptions {
            write: true,
            create: true,
            ..OpenOptions::default()
        };
        assert_eq!(
            fixture.jail.open_file(&vp("/empty"), &create).err(),
            Some(JailError::QuotaExceeded { used, limit: used })
        );
        assert_eq!(
            fixture.jail.hard_link(&vp("/f"), &vp("/g")),
            Err(JailError::QuotaExceeded { used, limit: used })
        );
        assert_eq!(names_in_home(&fixture), [&b"f"[..]]);
        assert_eq!(fixture.jail.quota().used_bytes(), used);
        fixture.assert_exact();
        // What exists can still be opened, overwritten, renamed and removed.
        fixture.jail.open_file(&vp("/f"), &create).unwrap();
        fixture.jail.rename(&vp("/f"), &vp("/g"), false).unwrap();
        fixture.jail.remove_file(&vp("/g")).unwrap();
        fixture.assert_exact();
    }

    #[test]
    fn a_creation_needs_room_for_its_folder_to_grow() {
        let fixture = Fixture::new(None);
        let room = FOLDER_GROWTH_BLOCKS * block_bytes(&fixture) + 100;
        let used = fixture.leave_room(room - 1);
        // 100 bytes of target plus two blocks for the folder: one byte short.
        assert_eq!(
            fixture.jail.symlink(&[b'x'; 100], &vp("/l")),
            Err(JailError::QuotaExceeded {
                used,
                limit: used + room - 1
            })
        );
        fixture.jail.quota().set_limit(Some(used + room));
        fixture.jail.symlink(&[b'x'; 100], &vp("/l")).unwrap();
        // What was held back for the folder went back: it did not grow.
        assert_eq!(fixture.jail.quota().used_bytes(), used + 100);
        fixture.assert_exact();
    }

    #[test]
    fn a_folder_that_grows_is_charged_and_one_that_shrinks_gives_back() {
        let fixture = Fixture::new(Some(1 << 30));
        fixture.jail.create_dir(&vp("/d"), 0o755).unwrap();
        let folder_size = || {
            std::fs::symlink_metadata(fixture.home().join("d"))
                .unwrap()
                .len()
        };
        let first_size = folder_size();
        // Long names fill a 4 KiB block within twenty entries.
        let names: Vec<String> = (0..200).map(|i| format!("{i:0>200}")).collect();
        for (i, name) in names.iter().enumerate() {
            let path = format!("/d/{name}");
            match i % 3 {
                0 => write_file(&fixture.jail, &path, 0),
                1 => fixture.jail.create_dir(&vp(&path), 0o755).unwrap(),
                _ => fixture.jail.symlink(b"t", &vp(&path)).unwrap(),
            }
        }
        assert!(folder_size() > first_size, "the folder never grew");
        assert_eq!(fixture.jail.quota().used_files(), 201);
        fixture.assert_exact();
        for (i, name) in names.iter().enumerate() {
            let path = vp(&format!("/d/{name}"));
            if i % 3 == 1 {
                fixture.jail.remove_dir(&path).unwrap();
            } else {
                fixture.jail.remove_file(&path).unwrap();
            }
        }
        // ext4 keeps a folder's blocks; tmpfs and btrfs give them back.
        // Either way the count follows the disk.
        fixture.assert_exact();
        assert_eq!(fixture.jail.quota().used_files(), 1);
    }

    fn names_in_home(fixture: &Fixture) -> Vec<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = fixture
            .jail
            .read_dir(&VirtualPath::root())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn creating_past_max_files_is_refused_with_the_figures_and_deleting_makes_room() {
        let fixture = with_max_files(3);
        write_file(&fixture.jail, "/a", 1);
        fixture.jail.create_dir(&vp("/d"), 0o755).unwrap();
        fixture.jail.symlink(b"/a", &vp("/d/l")).unwrap();
        let full = || JailError::TooManyFiles { used: 3, limit: 3 };
        let create = OpenOptions {
            write: true,
            create: true,
            ..OpenOptions::default()
        };
        assert_eq!(
            fixture.jail.open_file(&vp("/b"), &create).err(),
            Some(full())
        );
        assert_eq!(fixture.jail.create_dir(&vp("/e"), 0o755), Err(full()));
        assert_eq!(fixture.jail.symlink(b"x", &vp("/m")), Err(full()));
        assert_eq!(full().to_string(), "file limit reached: used 3 of 3 files");
        // An existing file opens with `create` as before: nothing is made.
        fixture.jail.open_file(&vp("/a"), &create).unwrap();
        fixture.jail.open_file(&vp("/d/l"), &create).unwrap();
        // A hard link adds a name, not a file.
        fixture.jail.hard_link(&vp("/a"), &vp("/d/a2")).unwrap();
        assert_eq!(fixture.jail.quota().used_files(), 3);
        fixture.assert_exact();
        // Deleting makes room, and only for as many as were deleted.
        fixture.jail.remove_file(&vp("/d/l")).unwrap();
        assert_eq!(fixture.jail.quota().used_files(), 2);
        fixture.jail.symlink(b"x", &vp("/m")).unwrap();
        assert_eq!(
            fixture.jail.create_dir(&vp("/e"), 0o755),
            Err(JailError::TooManyFiles { used: 3, limit: 3 })
        );
        // Removing one of two names frees nothing; renaming over the last
        // name of a file, or over an empty folder, frees it.
        fixture.jail.remove_file(&vp("/d/a2")).unwrap();
        assert_eq!(fixture.jail.quota().used_files(), 3);
        fixture.jail.rename(&vp("/m"), &vp("/a"), true).unwrap();
        assert_eq!(fixture.jail.quota().used_files(), 2);
        fixture.jail.create_dir(&vp("/e"), 0o755).unwrap();
        fixture.jail.rename(&vp("/d"), &vp("/e"), true).unwrap();
        assert_eq!(fixture.jail.quota().used_files(), 2);
        fixture.assert_exact();
    }

    #[test]
    fn a_file_limit_lowered_below_the_usage_refuses_only_new_files() {
        let fixture = with_max_files(10);
        for name in ["/a", "/b", "/c"] {
            write_file(&fixture.jail, name, 1);
        }
        fixture.jail.quota().set_max_files(Some(1));
        assert_eq!(
            fixture.jail.create_dir(&vp("/d"), 0o755),
            Err(JailError::TooManyFiles { used: 3, limit: 1 })
        );
        write_file(&fixture.jail, "/a", 5);
        fixture.jail.rename(&vp("/a"), &vp("/z"), false).unwrap();
        fixture.jail.remove_file(&vp("/b")).unwrap();
        fixture.jail.remove_file(&vp("/c")).unwrap();
        assert_eq!(
            fixture.jail.create_dir(&vp("/d"), 0o755),
            Err(JailError::TooManyFiles { used: 1, limit: 1 })
        );
        fixture.jail.remove_file(&vp("/z")).unwrap();
        fixture.jail.create_dir(&vp("/d"), 0o755).unwrap();
        fixture.assert_exact();
    }

    #[test]
    fn concurrent_creations_never_pass_max_files() {
        const MAX_FILES: u64 = 60;
        let fixture = with_max_files(MAX_FILES);
        let jail = fixture.jail.clone();
        jail.create_dir(&vp("/shared"), 0o755).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let jail = jail.clone();
                std::thread::spawn(move || {
                    let create = OpenOptions {
                        write: true,
                        create: true,
                        ..OpenOptions::default()
                    };
                    let mut made = 0_u64;
                    for i in 0..40 {
                        // Half in one folder for all, half in the home.
                        let dir = if i % 2 == 0 { "/shared" } else { "" };
                        let path = vp(&format!("{dir}/t{t}-{i:0>120}"));
                        let result = match i % 3 {
                            0 => jail.open_file(&path, &create).map(drop),
                            1 => jail.create_dir(&path, 0o755),
                            _ => jail.symlink(b"target", &path),
                        };
                        match result {
                            Ok(()) => made += 1,
                            Err(JailError::TooManyFiles { limit, .. }) => {
                                assert_eq!(limit, MAX_FILES)
                            }
                            Err(err) => panic!("{err}"),
                        }
                    }
                    made
                })
            })
            .collect();
        let made: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(made, MAX_FILES - 1);
        assert_eq!(fixture.on_disk().files, MAX_FILES);
        fixture.assert_exact();
    }

    #[test]
    fn concurrent_creations_in_one_folder_never_pass_the_byte_quota() {
        let fixture = Fixture::new(None);
        fixture.jail.create_dir(&vp("/d"), 0o755).unwrap();
        let limit = fixture.leave_room(40 * 1024);
        let limit = limit + 40 * 1024;
        let jail = fixture.jail.clone();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let jail = jail.clone();
                std::thread::spawn(move || {
                    for i in 0..400 {
                        let path = vp(&format!("/d/t{t}-{i:0>200}"));
                        match jail.symlink(&[b'x'; 100], &path) {
                            Ok(()) => {}
                            Err(JailError::QuotaExceeded { .. }) => break,
                            Err(err) => panic!("{err}"),
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(fixture.on_disk().bytes <= limit);
        fixture.assert_exact();
    }
}
