//! `Jail::canonicalize`: realpath inside the box.
//!
//! Walks the path one component at a time from the root fd, reading each
//! symlink with `readlinkat` on its parent's fd and splicing its target in,
//! an absolute target starting again at the box's `/` and `..` stopping
//! there, exactly as `RESOLVE_IN_ROOT` reads them. The result is built from
//! names found in the box, never from a host path, so no prefix has to be
//! stripped. At most [`MAX_SYMLINK_FOLLOWS`] links are followed.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::{JailError, LocalBox, Stat, VirtualPath};

/// Most symlinks followed in one resolution, as Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINK_FOLLOWS: usize = 40;

impl LocalBox {
    /// The absolute path of `path` inside the box with every symlink
    /// resolved. A missing final component is allowed (the name of a file
    /// about to be created, as OpenSSH's realpath allows); a missing
    /// directory before it → `NotFound`. More than [`MAX_SYMLINK_FOLLOWS`]
    /// links → `Io(ELOOP)`.
    pub fn canonicalize(&self, path: &VirtualPath) -> Result<VirtualPath, JailError> {
        let mut pending: VecDeque<Vec<u8>> = path.components().map(<[u8]>::to_vec).collect();
        let mut resolved: Vec<Vec<u8>> = Vec::new();
        let mut dir = self.open_dir_of(&resolved)?;
        let mut links_followed = 0_usize;
        while let Some(component) = pending.pop_front() {
            match component.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    // Clamped at the box's root, like RESOLVE_IN_ROOT.
                    resolved.pop();
                    dir = self.open_dir_of(&resolved)?;
                    continue;
                }
                _ => {}
            }
            let more_follow = pending.iter().any(|c| !c.is_empty() && c != b".");
            let stat =
                match rustix::fs::statat(&dir, component.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => Stat::from(st),
                    Err(Errno::NOENT) if !more_follow => {
                        resolved.push(component);
                        break;
                    }
                    Err(errno) => return Err(errno.into()),
                };
            if stat.is_symlink() {
                links_followed += 1;
                if links_followed > MAX_SYMLINK_FOLLOWS {
                    return Err(Errno::LOOP.into());
                }
                let target = rustix::fs::readlinkat(&dir, component.as_slice(), Vec::new())?;
                let target = target.as_bytes();
                if target.first() == Some(&b'/') {
                    resolved.clear();
                    dir = self.open_dir_of(&resolved)?;
                }
                for part in target.split(|&byte| byte == b'/').rev() {
                    pending.push_front(part.to_vec());
                }
            } else if stat.is_dir() {
                dir = rustix::fs::openat(
                    &dir,
                    component.as_slice(),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                resolved.push(component);
            } else if more_follow {
                return Err(JailError::NotADirectory);
            } else {
                resolved.push(component);
            }
        }
        VirtualPath::from_names(&resolved)
    }

    /// Opens the directory named by `names` (already free of symlinks) from
    /// the root fd, inside the box.
    fn open_dir_of(&self, names: &[Vec<u8>]) -> Result<OwnedFd, JailError> {
        let path = VirtualPath::from_names(names)?;
        self.open_in_root(&path, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::super::tests::{Fixture, vp};
    use super::*;

    fn canonical(fixture: &Fixture, path: &str) -> Result<String, JailError> {
        fixture
            .jail
            .canonicalize(&vp(path))
            .map(|p| String::from_utf8(p.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn canonicalize_resolves_symlinks_inside_the_box() {
        let fixture = Fixture::new(None);
        let home = fixture.home();
        std::fs::create_dir_all(home.join("a/b")).unwrap();
        std::fs::write(home.join("a/b/f"), b"").unwrap();
        symlink("a/b", home.join("rel")).unwrap();
        symlink("/a", home.join("abs")).unwrap();
        symlink("../../../../a/b/f", home.join("a/up")).unwrap();
        symlink(fixture.outside(), home.join("out")).unwrap();
        assert_eq!(canonical(&fixture, "/").unwrap(), "/");
        assert_eq!(canonical(&fixture, "/rel/f").unwrap(), "/a/b/f");
        assert_eq!(canonical(&fixture, "/abs/b").unwrap(), "/a/b");
        assert_eq!(canonical(&fixture, "/a/up").unwrap(), "/a/b/f");
        // The outside directory's name is read in the box, where it is missing.
        assert_eq!(canonical(&fixture, "/out/secret"), Err(JailError::NotFound));
    }

    #[test]
    fn canonicalize_allows_a_missing_final_name_only() {
        let fixture = Fixture::new(None);
        std::fs::create_dir(fixture.home().join("d")).unwrap();
        std::fs::write(fixture.home().join("f"), b"").unwrap();
        assert_eq!(canonical(&fixture, "/d/new").unwrap(), "/d/new");
        assert_eq!(
            canonical(&fixture, "/missing/new"),
            Err(JailError::NotFound)
        );
        assert_eq!(canonical(&fixture, "/f/x"), Err(JailError::NotADirectory));
    }

    #[test]
    fn canonicalize_gives_up_on_a_symlink_loop() {
        let fixture = Fixture::new(None);
        symlink("/b", fixture.home().join("a")).unwrap();
        symlink("/a", fixture.home().join("b")).unwrap();
        let err = fixture.jail.canonicalize(&vp("/a")).unwrap_err();
        assert_eq!(err, JailError::from(Errno::LOOP));
    }
}
