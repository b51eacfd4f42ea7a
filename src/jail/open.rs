//! Opening a regular file inside the box: `Jail::open_file`.
//!
//! The whole path is resolved by `openat2(RESOLVE_IN_ROOT)`, symlinks
//! followed inside the box, also for `O_CREAT` through a dangling link, so a
//! file is never created outside. `O_NONBLOCK` keeps a planted FIFO from
//! blocking the opening thread; `fstat` then refuses anything that is not a
//! regular file before the flag is cleared (see `JailFile::from_fd`).
//! Truncation on open is done afterwards under the inode's quota lock, so
//! the bytes go back to the quota.
//!
//! A new file is one more file for `max_files` and may grow its folder, so
//! creating one is charged (see `charge.rs`), and for that the jail must
//! know whether the open made the file, and in which folder. An `O_CREAT`
//! without `O_EXCL` does not say, so a create is done in steps: open what
//! exists (symlinks followed in the box); if nothing does, make the file
//! with `O_CREAT | O_EXCL | O_NOFOLLOW` on the single final name in its
//! folder; if that name is there after all (a dangling symlink, or a
//! concurrent session's file), start again, this time resolving the path in
//! the box first (a dangling symlink to the name it points to).

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::charge::{Changed, Need};
use super::file::CLIENT_MODE_MASK;
use super::quota::Usage;
use super::{JailError, LocalBox, LocalFile, VirtualPath};

/// How often a create that lost a race (the name appeared or vanished
/// between the steps) starts again before giving up with `EAGAIN`.
const CREATE_ATTEMPTS: usize = 8;

/// How to open a file, as SFTP's `SSH_FXF_*` flags say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Every write goes to the current end of the file.
    pub append: bool,
    /// Create the file if it does not exist.
    pub create: bool,
    /// Empty the file on open (with `write`); its bytes go back to the quota.
    pub truncate: bool,
    /// With `create`: fail with `AlreadyExists` if the name exists.
    pub exclusive: bool,
    /// Permission bits for a created file, masked with 0o777 (and the umask).
    pub mode: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read: true,
            write: false,
            append: false,
            create: false,
            truncate: false,
            exclusive: false,
            mode: 0o644,
        }
    }
}

impl LocalBox {
    /// Opens the regular file at `path` (symlinks followed inside the box).
    /// Directories → `IsADirectory`; FIFOs, devices, sockets →
    /// `PermissionDenied`; any writing option on a read-only jail →
    /// `ReadOnly`. A file made by `create` is charged one file and what its
    /// folder grows by: `TooManyFiles` or `QuotaExceeded` when that does
    /// not fit.
    pub fn open_file(
        &self,
        path: &VirtualPath,
        opts: &OpenOptions,
    ) -> Result<LocalFile, JailError> {
        let writable = opts.write || opts.append;
        if writable || opts.create || opts.truncate {
            self.check_writable()?;
        }
        let mut flags = match (opts.read, writable) {
            (true, true) => OFlags::RDWR,
            (false, true) => OFlags::WRONLY,
            _ => OFlags::RDONLY,
        };
        // O_NONBLOCK: a FIFO planted in the box must not block this thread
        // in open(); it is refused right after by fstat.
        flags |= OFlags::NOCTTY | OFlags::NONBLOCK;
        if opts.append {
            flags |= OFlags::APPEND;
        }
        // No O_TRUNC here: truncation happens below, under the inode lock,
        // once the file is known to be regular, so the quota gets it back.
        let (fd, made) = if opts.create {
            let mode = Mode::from_raw_mode(opts.mode & CLIENT_MODE_MASK);
            let (fd, made) = self.open_or_create(path, flags, mode, opts.exclusive)?;
            self.give_fd_to_owner(&fd)?;
            (fd, made)
        } else {
            (self.open_in_root(path, flags, Mode::empty())?, false)
        };
        let file = LocalFile::from_fd(fd, self, writable, opts.append)?;
        // A file this call made is empty already, and, as open(2) does with
        // O_TRUNC on a file it creates, it is not truncated: on ext4 a
        // truncation to 0 marks the file to be flushed when it is closed
        // (auto_da_alloc), which made every small upload's CLOSE wait for
        // its writeback to be started.
        if opts.truncate && writable && !made {
            file.set_len(0)?;
        }
        Ok(file)
    }

    /// Opens the existing file `path` to read, like [`open_file`](Self::open_file)
    /// with only `read`, but only from the kernel's lookup cache (see
    /// `open_cached`): `None` when that is not enough.
    pub fn open_file_cached(&self, path: &VirtualPath) -> Result<Option<LocalFile>, JailError> {
        let flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK;
        match self.open_cached(path, flags)? {
            Some(fd) => LocalFile::from_fd(fd, self, false, false).map(Some),
            None => Ok(None),
        }
    }

    /// Opens `path` with `flags`, making it (with `mode`) when it does not
    /// exist; with `exclusive`, an existing name (a symlink too, dangling
    /// or not) → `AlreadyExists`, as `O_CREAT | O_EXCL`. Says whether it
    /// made the file.
    fn open_or_create(
        &self,
        path: &VirtualPath,
        flags: OFlags,
        mode: Mode,
        exclusive: bool,
    ) -> Result<(OwnedFd, bool), JailError> {
        let made = |fd| (fd, true);
        if exclusive {
            let (parent, name) = self.open_parent(path)?.ok_or(JailError::AlreadyExists)?;
            return self.create_file_at(&parent, name, flags, mode).map(made);
        }
        for attempt in 0..CREATE_ATTEMPTS {
            match self.open_in_root(path, flags, Mode::empty()) {
                Err(JailError::NotFound) => {}
                opened => return opened.map(|fd| (fd, false)),
            }
            // Missing: the final name, or what a final symlink points to.
            // The first attempt takes the name as given, which is all a new
            // upload needs; a dangling final symlink makes that one fail
            // with `AlreadyExists`, and the next resolves it (a missing
            // folder on the way makes `canonicalize` fail).
            let real;
            let target = if attempt == 0 {
                path
            } else {
                real = self.canonicalize(path)?;
                &real
            };
            let Some((parent, name)) = self.open_parent(target)? else {
                continue;
            };
            match self.create_file_at(&parent, name, flags, mode) {
                // Made meanwhile by someone else, or a symlink now: open
                // that instead.
                Err(JailError::AlreadyExists) => {}
                created => return created.map(made),
            }
        }
        Err(Errno::AGAIN.into())
    }

    /// Makes the regular file `name` in `parent` (`O_CREAT | O_EXCL |
    /// O_NOFOLLOW`), charged to the quota as a new file.
    fn create_file_at(
        &self,
        parent: &OwnedFd,
        name: &[u8],
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, JailError> {
        let folder = parent.as_fd();
        let made = Usage { bytes: 0, files: 1 };
        self.change_entries(&[folder], &[(folder, name)], Need::new_entry(0), |_| {
            let flags = flags | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
            let fd = rustix::fs::openat(folder, name, flags | OFlags::CLOEXEC, mode)?;
            Ok(Changed::added(fd, made))
        })
    }

    /// Opens the regular file at `path` for writing only to change its size
    /// (`set_attrs`); `follow` = false refuses a final symlink.
    pub(crate) fn open_for_resize(
        &self,
        path: &VirtualPath,
        follow: bool,
    ) -> Result<LocalFile, JailError> {
        let mut flags = OFlags::WRONLY | OFlags::NOCTTY | OFlags::NONBLOCK;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        let fd = match self.open_in_root(path, flags, Mode::empty()) {
            // O_NOFOLLOW on a final symlink: a symlink has no size to set.
            Err(JailError::Io(err))
                if err.raw_os_error() == Some(Errno::LOOP.raw_os_error()) && !follow =>
            {
                return Err(JailError::PermissionDenied);
            }
            other => other?,
        };
        LocalFile::from_fd(fd, self, true, false)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use std::sync::Arc;

    use super::super::tests::{Fixture, vp};
    use super::super::{Jail, SetAttrs};
    use super::*;

    fn read_all(jail: &Jail, path: &str) -> Result<Vec<u8>, JailError> {
        let file = jail.open_file(&vp(path), &OpenOptions::default())?;
        let mut buf = vec![0u8; 4096];
        let n = file.read_at(&mut buf, 0)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn create() -> OpenOptions {
        OpenOptions {
            read: false,
            write: true,
            create: true,
            truncate: true,
            ..OpenOptions::default()
        }
    }

    fn write_file(jail: &Jail, path: &str, data: &[u8]) -> Result<(), JailError> {
        jail.open_file(&vp(path), &create())?.write_at(data, 0)
    }

    #[test]
    fn dotdot_past_the_root_opens_the_homes_own_file() {
        let fixture = Fixture::new(None);
        // ../../etc/passwd normalizes to /etc/passwd of the box.
        assert_eq!(
            read_all(&fixture.jail, "../../etc/passwd"),
            Err(JailError::NotFound)
        );
        std::fs::create_dir(fixture.home().join("etc")).unwrap();
        std::fs::write(fixture.home().join("etc/passwd"), b"boxed").unwrap();
        assert_eq!(
            read_all(&fixture.jail, "../../etc/passwd").unwrap(),
            b"boxed"
        );
        assert_eq!(read_all(&fixture.jail, "/etc/passwd").unwrap(), b"boxed");
    }

    #[test]
    fn a_planted_absolute_symlink_to_an_outside_file_never_yields_outside_bytes() {
        let fixture = Fixture::new(None);
        symlink(
            fixture.outside().join("secret"),
            fixture.home().join("link"),
        )
        .unwrap();
        assert_eq!(read_all(&fixture.jail, "/link"), Err(JailError::NotFound));
        // With the same path present inside the box, that file is read.
        let inside = fixture
            .home()
            .join(fixture.outside().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::write(inside.join("secret"), b"in-box").unwrap();
        assert_eq!(read_all(&fixture.jail, "/link").unwrap(), b"in-box");
    }

    #[test]
    fn a_relative_symlink_climbing_out_stays_in_the_box() {
        let fixture = Fixture::new(None);
        std::fs::create_dir(fixture.home().join("sub")).unwrap();
        symlink("../../../outside/secret", fixture.home().join("sub/link")).unwrap();
        assert_eq!(
            read_all(&fixture.jail, "/sub/link"),
            Err(JailError::NotFound)
        );
        std::fs::create_dir(fixture.home().join("outside")).unwrap();
        std::fs::write(fixture.home().join("outside/secret"), b"in-box").unwrap();
        assert_eq!(read_all(&fixture.jail, "/sub/link").unwrap(), b"in-box");
    }

    #[test]
    fn creating_through_a_symlink_to_an_outside_directory_does_not_create_outside() {
        let fixture = Fixture::new(None);
        symlink(fixture.outside(), fixture.home().join("out")).unwrap();
        symlink("../../outside", fixture.home().join("rel")).unwrap();
        for path in ["/out/new", "/rel/new"] {
            assert_eq!(
                write_file(&fixture.jail, path, b"x"),
                Err(JailError::NotFound)
            );
        }
        assert!(!fixture.outside().join("new").exists());
    }

    #[test]
    fn creating_through_a_dangling_symlink_creates_inside_the_box() {
        let fixture = Fixture::new(None);
        let outside_file = fixture.outside().join("created");
        symlink(&outside_file, fixture.home().join("dangling")).unwrap();
        // The target's directory does not exist in the box: nothing is made.
        assert_eq!(
            write_file(&fixture.jail, "/dangling", b"x"),
            Err(JailError::NotFound)
        );
        assert!(!outside_file.exists());
        symlink("/made-here", fixture.home().join("dangling2")).unwrap();
        write_file(&fixture.jail, "/dangling2", b"hello").unwrap();
        assert_eq!(
            std::fs::read(fixture.home().join("made-here")).unwrap(),
            b"hello"
        );
        assert!(!outside_file.exists());
    }

    #[test]
    fn create_strips_setuid_setgid_and_sticky_bits() {
        let fixture = Fixture::new(None);
        let opts = OpenOptions {
            mode: 0o7777,
            ..create()
        };
        fixture.jail.open_file(&vp("/f"), &opts).unwrap();
        let mode = std::fs::metadata(fixture.home().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7000, 0);
    }

    #[test]
    fn exclusive_create_refuses_an_existing_name() {
        let fixture = Fixture::new(None);
        let opts = OpenOptions {
            exclusive: true,
            ..create()
        };
        fixture.jail.open_file(&vp("/f"), &opts).unwrap();
        assert_eq!(
            fixture.jail.open_file(&vp("/f"), &opts).err(),
            Some(JailError::AlreadyExists)
        );
    }

    #[test]
    fn opening_a_fifo_does_not_block_and_is_refused() {
        let fixture = Fixture::new(None);
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            fixture.home().join("fifo").as_path(),
            Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let read = fixture
            .jail
            .open_file(&vp("/fifo"), &OpenOptions::default());
        assert_eq!(read.err(), Some(JailError::PermissionDenied));
        let write = fixture.jail.open_file(
            &vp("/fifo"),
            &OpenOptions {
                truncate: false,
                ..create()
            },
        );
        assert_eq!(write.err(), Some(JailError::PermissionDenied));
    }

    #[test]
    fn opening_a_directory_is_refused() {
        let fixture = Fixture::new(None);
        assert_eq!(
            fixture
                .jail
                .open_file(&VirtualPath::root(), &OpenOptions::default())
                .err(),
            Some(JailError::IsADirectory)
        );
    }

    #[test]
    fn a_readonly_jail_refuses_every_change() {
        let fixture = Fixture::new(None);
        std::fs::write(fixture.home().join("f"), b"data").unwrap();
        let jail = Jail::open(&fixture.home(), Arc::clone(fixture.jail.quota()), true).unwrap();
        assert_eq!(read_all(&jail, "/f").unwrap(), b"data");
        assert_eq!(write_file(&jail, "/g", b"x"), Err(JailError::ReadOnly));
        assert_eq!(jail.create_dir(&vp("/d"), 0o755), Err(JailError::ReadOnly));
        assert_eq!(jail.remove_file(&vp("/f")), Err(JailError::ReadOnly));
        assert_eq!(
            jail.rename(&vp("/f"), &vp("/g"), true),
            Err(JailError::ReadOnly)
        );
        assert_eq!(
            jail.hard_link(&vp("/f"), &vp("/g")),
            Err(JailError::ReadOnly)
        );
        assert_eq!(jail.symlink(b"f", &vp("/g")), Err(JailError::ReadOnly));
        let attrs = SetAttrs {
            mode: Some(0o600),
            ..SetAttrs::default()
        };
        assert_eq!(
            jail.set_attrs(&vp("/f"), &attrs, true),
            Err(JailError::ReadOnly)
        );
        let file = jail.open_file(&vp("/f"), &OpenOptions::default()).unwrap();
        assert_eq!(file.write_at(b"x", 0), Err(JailError::ReadOnly));
        assert_eq!(file.set_len(0), Err(JailError::ReadOnly));
        assert_eq!(file.set_attrs(&attrs), Err(JailError::ReadOnly));
        assert_eq!(std::fs::read(fixture.home().join("f")).unwrap(), b"data");
    }
}
