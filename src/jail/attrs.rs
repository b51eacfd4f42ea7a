//! `Jail::set_attrs`: size, permission bits and times of a path.
//!
//! The target is pinned once as an `O_PATH` fd opened inside the box
//! (`RESOLVE_IN_ROOT`, plus `O_NOFOLLOW` for lsetstat), and every change is
//! made through that fd, so a concurrent rename or symlink swap cannot
//! redirect a change to another inode, let alone out of the box.
//!
//! Permission bits from the client are masked with 0o777: setuid, setgid
//! and sticky are never set. The home itself stays private: a mode for it
//! (reached as `/`, through `..` or a link) keeps only the owner's bits, so
//! no client can open its box to other users of the host. Linux cannot
//! change a symlink's mode, so a mode for a symlink (lsetstat) is ignored;
//! its times are still set.

use std::os::fd::{AsRawFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::file::{CLIENT_MODE_MASK, timestamps};
use super::{JailError, LocalBox, SetAttrs, Stat, VirtualPath};

impl LocalBox {
    /// Applies `attrs` to `path`: size (regular files only; growth is
    /// charged to the quota), then mode, then times. `follow` = false acts
    /// on a final symlink itself (lsetstat) instead of its target.
    pub fn set_attrs(
        &self,
        path: &VirtualPath,
        attrs: &SetAttrs,
        follow: bool,
    ) -> Result<(), JailError> {
        self.check_writable()?;
        if let Some(size) = attrs.size {
            // A writable fd is needed for ftruncate; it is opened and
            // checked as a regular file like any other, and the quota is
            // keyed on that fd's own inode.
            self.open_for_resize(path, follow)?.set_len(size)?;
        }
        let times = timestamps(attrs);
        if attrs.mode.is_none() && times.is_none() {
            return Ok(());
        }
        let mut flags = OFlags::PATH;
        if !follow {
            // With O_PATH, O_NOFOLLOW yields an fd for the symlink itself.
            flags |= OFlags::NOFOLLOW;
        }
        let fd = self.open_in_root(path, flags, Mode::empty())?;
        let stat = Stat::from(rustix::fs::fstat(&fd)?);
        if let Some(mode) = attrs.mode
            && !stat.is_symlink()
        {
            let mut mode = mode & CLIENT_MODE_MASK;
            if self.is_home(&stat)? {
                mode &= HOME_MODE_MASK;
            }
            chmod_pinned(&fd, mode)?;
        }
        if let Some(times) = times {
            // An empty path with AT_EMPTY_PATH names the fd's own inode
            // (the symlink itself for lsetstat); nothing is looked up.
            rustix::fs::utimensat(
                &fd,
                "",
                &times,
                AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        Ok(())
    }
}

/// The bits a client may set on its home: the owner's only.
const HOME_MODE_MASK: u32 = 0o700;

impl LocalBox {
    /// Whether `stat` is the home directory itself.
    fn is_home(&self, stat: &Stat) -> Result<bool, JailError> {
        let home = Stat::from(rustix::fs::fstat(&self.inner.root)?);
        Ok(stat.dev == home.dev && stat.ino == home.ino)
    }
}

/// Changes the mode of the inode `fd` refers to.
///
/// `fchmod` refuses `O_PATH` fds, and re-opening the path for reading could
/// fail (a 000 directory) or race with a rename. Instead we chmod
/// `/proc/self/fd/N`: that "magic link" resolves to exactly the inode held
/// by the fd, wherever it has been renamed to meanwhile, so this is
/// race-free and cannot reach anything but the pinned inode. It is the same
/// technique glibc uses for `fchmodat(AT_SYMLINK_NOFOLLOW)`. The caller
/// never passes a symlink's fd (Linux cannot chmod symlinks).
fn chmod_pinned(fd: &OwnedFd, mode: u32) -> Result<(), JailError> {
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rustix::fs::chmod(
        proc_path.as_str(),
        Mode::from_raw_mode(mode),
    )?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};

    use super::super::tests::{Fixture, vp};
    use super::*;

    #[test]
    fn the_home_keeps_only_owner_bits_however_it_is_named() {
        let fixture = Fixture::new(None);
        symlink("/", fixture.home().join("up")).unwrap();
        std::fs::create_dir(fixture.home().join("d")).unwrap();
        let home_mode = || std::fs::metadata(fixture.home()).unwrap().mode() & 0o7777;
        let wide = SetAttrs {
            mode: Some(0o777),
            ..SetAttrs::default()
        };
        for name in ["/", "/d/..", "/up", "/up/up/."] {
            fixture.jail.set_attrs(&vp(name), &wide, true).unwrap();
            assert_eq!(home_mode(), 0o700, "{name}");
        }
        let narrow = SetAttrs {
            mode: Some(0o500),
            ..SetAttrs::default()
        };
        fixture.jail.set_attrs(&vp("/"), &narrow, true).unwrap();
        assert_eq!(home_mode(), 0o500);
        fixture.jail.set_attrs(&vp("/d"), &wide, true).unwrap();
        assert_eq!(
            std::fs::metadata(fixture.home().join("d")).unwrap().mode() & 0o777,
            0o777
        );
    }

    #[test]
    fn set_attrs_strips_setuid_and_setgid() {
        let fixture = Fixture::new(None);
        std::fs::write(fixture.home().join("f"), b"x").unwrap();
        let attrs = SetAttrs {
            mode: Some(0o6755),
            ..SetAttrs::default()
        };
        fixture.jail.set_attrs(&vp("/f"), &attrs, true).unwrap();
        assert_eq!(
            std::fs::metadata(fixture.home().join("f")).unwrap().mode() & 0o7777,
            0o755
        );
    }

    #[test]
    fn set_attrs_following_a_symlink_changes_its_target_inside_the_box() {
        let fixture = Fixture::new(None);
        std::fs::write(fixture.home().join("f"), b"x").unwrap();
        symlink("/f", fixture.home().join("l")).unwrap();
        let attrs = SetAttrs {
            mode: Some(0o600),
            mtime: Some(1_234_567),
            ..SetAttrs::default()
        };
        fixture.jail.set_attrs(&vp("/l"), &attrs, true).unwrap();
        let meta = std::fs::metadata(fixture.home().join("f")).unwrap();
        assert_eq!((meta.mode() & 0o777, meta.mtime()), (0o600, 1_234_567));
    }

    #[test]
    fn set_attrs_through_a_planted_outside_symlink_never_touches_outside() {
        let fixture = Fixture::new(None);
        let secret = fixture.outside().join("secret");
        let before = std::fs::metadata(&secret).unwrap();
        symlink(&secret, fixture.home().join("l")).unwrap();
        let attrs = SetAttrs {
            size: Some(0),
            mode: Some(0o777),
            atime: Some(1),
            mtime: Some(1),
        };
        assert_eq!(
            fixture.jail.set_attrs(&vp("/l"), &attrs, true),
            Err(JailError::NotFound)
        );
        let after = std::fs::metadata(&secret).unwrap();
        assert_eq!(
            (after.len(), after.mode(), after.mtime()),
            (before.len(), before.mode(), before.mtime())
        );
    }

    #[test]
    fn lsetstat_on_a_symlink_sets_its_times_and_ignores_the_mode() {
        let fixture = Fixture::new(None);
        std::fs::write(fixture.home().join("f"), b"x").unwrap();
        symlink("/f", fixture.home().join("l")).unwrap();
        let target_mode = std::fs::metadata(fixture.home().join("f")).unwrap().mode();
        let attrs = SetAttrs {
            mode: Some(0o600),
            atime: Some(1_000),
            mtime: Some(2_000),
            ..SetAttrs::default()
        };
        fixture.jail.set_attrs(&vp("/l"), &attrs, false).unwrap();
        let link = std::fs::symlink_metadata(fixture.home().join("l")).unwrap();
        assert_eq!(link.mtime(), 2_000);
        let target = std::fs::metadata(fixture.home().join("f")).unwrap();
        assert_eq!(target.mode(), target_mode);
        assert_ne!(target.mtime(), 2_000);
        let resize = SetAttrs {
            size: Some(0),
            ..SetAttrs::default()
        };
        assert_eq!(
            fixture.jail.set_attrs(&vp("/l"), &resize, false),
            Err(JailError::PermissionDenied)
        );
    }

    #[test]
    fn set_attrs_size_is_charged_and_freed() {
        let fixture = Fixture::new(None);
        std::fs::write(fixture.home().join("f"), b"").unwrap();
        // Made behind the jail's back, so counted here, as a restart would.
        fixture.jail.recount_usage().unwrap();
        let base = fixture.leave_room(100);
        let grow = SetAttrs {
            size: Some(90),
            ..SetAttrs::default()
        };
        fixture.jail.set_attrs(&vp("/f"), &grow, true).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), base + 90);
        let too_big = SetAttrs {
            size: Some(101),
            ..SetAttrs::default()
        };
        assert_eq!(
            fixture.jail.set_attrs(&vp("/f"), &too_big, true),
            Err(JailError::QuotaExceeded {
                used: base + 90,
                limit: base + 100
            })
        );
        let shrink = SetAttrs {
            size: Some(10),
            ..SetAttrs::default()
        };
        fixture.jail.set_attrs(&vp("/f"), &shrink, true).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), base + 10);
        fixture.assert_exact();
        assert_eq!(
            fixture.jail.set_attrs(&vp("/"), &shrink, true),
            Err(JailError::IsADirectory)
        );
    }

    #[test]
    fn set_attrs_on_a_directory_changes_its_mode() {
        let fixture = Fixture::new(None);
        std::fs::create_dir(fixture.home().join("d")).unwrap();
        let attrs = SetAttrs {
            mode: Some(0o1700),
            ..SetAttrs::default()
        };
        fixture.jail.set_attrs(&vp("/d"), &attrs, false).unwrap();
        assert_eq!(
            std::fs::metadata(fixture.home().join("d")).unwrap().mode() & 0o7777,
            0o700
        );
    }
}
