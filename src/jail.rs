//! `jail`: the box. The only code in sftpbox that touches the filesystem.
//!
//! Every account lives in a box: its home directory, seen by the client as
//! `/`. `Jail::open` opens the home once as an `O_PATH | O_DIRECTORY` fd, the
//! *root fd*; every later access starts from that fd. Nothing here touches
//! the filesystem by host path except `Jail::open` itself (creating and
//! opening the home) and `chmod` through `/proc/self/fd/N`, which names an
//! already-open inode (see `attrs.rs`).
//!
//! # Chroot semantics with `openat2(RESOLVE_IN_ROOT)`
//!
//! The box has chroot semantics: `..` at `/` stays at `/`, and
//! absolute paths and symlink targets, absolute or relative, made by the
//! client or planted by an administrator, are read inside the box. Linux
//! `openat2` with `RESOLVE_IN_ROOT` does exactly that: the kernel resolves
//! the whole path, symlinks included, as if the root fd were `/`, and checks
//! every step itself, so there is no canonicalise-then-compare and no window
//! between a check and the use (no TOCTOU) for a concurrent rename or
//! symlink swap to exploit. `RESOLVE_NO_MAGICLINKS` also refuses
//! `/proc/*/fd`-style links should a box ever contain a `proc` mount. We
//! chose this over cap-std's "beneath" resolution, which refuses absolute
//! and escaping link targets instead of reading them inside the box.
//!
//! Operations on a final name that must not follow a symlink there (lstat,
//! unlink, rmdir, mkdir, rename, link, symlink, readlink) open the *parent*
//! with `RESOLVE_IN_ROOT` as an `O_PATH` directory fd and call the `*at`
//! syscall with the single final name, which can be neither empty, `.`,
//! `..` nor contain `/`, so it cannot leave that directory.
//!
//! Client paths arrive as [`VirtualPath`]s (lexically normalized, see
//! `path.rs`); bytes and files are accounted in a shared [`Quota`] (see
//! `quota.rs`), every new or removed name through `charge.rs`.
//! Every call blocks: async callers use `spawn_blocking`. This module knows
//! nothing of users, SSH or SFTP.

mod attrs;
mod canonical;
mod charge;
mod dir;
mod door;
mod entries;
mod error;
mod file;
mod object;
mod open;
mod path;
mod quota;
mod scan;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

pub(crate) use dir::LocalDir;
pub use door::{Jail, JailDir, JailFile};
pub use error::JailError;
pub(crate) use file::LocalFile;
pub use object::{ObjectStorage, SCHEMA as OBJECT_SCHEMA, reap_reservations, sweep_orphans};
pub use open::OpenOptions;
pub use path::{VirtualPath, escaped};
pub use quota::{Quota, Usage};

use quota::InodeKey;

/// How every path below the root fd is resolved: inside the box, as a chroot.
const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// `openat2` fails with `EAGAIN` when a concurrent rename races with `..`
/// resolution under `RESOLVE_IN_ROOT`; retrying a few times is what the
/// kernel documentation suggests, and a bound keeps a hostile loop of
/// renames from pinning a thread.
const OPENAT2_ATTEMPTS: usize = 8;

/// File metadata, as `lstat`/`stat` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Size in bytes.
    pub size: u64,
    /// Permission bits including the file type bits (`S_IFMT`).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Number of hard links.
    pub nlink: u64,
    /// Last access, seconds since the epoch.
    pub atime: i64,
    /// Last modification, seconds since the epoch.
    pub mtime: i64,
    /// Inode number.
    pub ino: u64,
    /// Device number of the filesystem holding the inode.
    pub dev: u64,
    /// Allocated 512-byte blocks.
    pub blocks: u64,
}

impl Stat {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    /// Whether this is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    /// The inode's identity, the key of its quota lock.
    fn key(&self) -> InodeKey {
        (self.dev, self.ino)
    }
}

impl From<rustix::fs::Stat> for Stat {
    // The field types of `struct stat` differ between architectures, hence
    // the casts; every value is non-negative in practice.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn from(st: rustix::fs::Stat) -> Self {
        Stat {
            size: u64::try_from(st.st_size).unwrap_or(0),
            mode: st.st_mode as u32,
            uid: st.st_uid,
            gid: st.st_gid,
            nlink: st.st_nlink as u64,
            atime: st.st_atime as i64,
            mtime: st.st_mtime as i64,
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
            blocks: u64::try_from(st.st_blocks).unwrap_or(0),
        }
    }
}

/// Attributes to change; `None` leaves one as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttrs {
    /// New size in bytes (regular files only); growth is charged to the quota.
    pub size: Option<u64>,
    /// New permission bits; anything outside `0o777` (setuid, setgid,
    /// sticky, type bits) is dropped.
    pub mode: Option<u32>,
    /// New access time, seconds since the epoch.
    pub atime: Option<i64>,
    /// New modification time, seconds since the epoch.
    pub mtime: Option<i64>,
}

/// Filesystem statistics of the box, as `statvfs` reports them, reduced to
/// the quota when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// Size of a block, in bytes; the unit of the three block counts.
    pub block_size: u64,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub blocks_free: u64,
    /// Free blocks available to the account.
    pub blocks_avail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub files_free: u64,
    /// Longest file name, in bytes.
    pub name_max: u64,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name, byte for byte as stored.
    pub name: Vec<u8>,
    /// The entry's own metadata (`lstat`: a symlink is reported as one).
    pub stat: Stat,
}

/// An account's box: its home directory, opened once, and its quota.
/// Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub(crate) struct LocalBox {
    inner: Arc<JailInner>,
}

#[derive(Debug)]
struct JailInner {
    /// The home, `O_PATH | O_DIRECTORY`; the root of every resolution.
    root: OwnedFd,
    quota: Arc<Quota>,
    readonly: bool,
    /// Who new files, directories and links are given to: the home's owner,
    /// when the server runs as root and the home is not root's. Sandboxed
    /// external programs run as that owner, so they can use what SFTP made.
    owner: Option<(u32, u32)>,
}

/// Owner given to homes a root server creates: `nobody`, the unprivileged
/// id sandboxed external programs run as.
pub const NEW_HOME_OWNER_ID: u32 = 65534;

impl LocalBox {
    /// Opens the box at `home`, creating it (and missing parents) with mode
    /// 0700 if needed. The first `open` with a given `quota` counts the
    /// bytes and files stored under `home`; later ones reuse that count.
    /// A root server gives a home it creates to `nobody`.
    pub fn open(home: &Path, quota: Arc<Quota>, readonly: bool) -> Result<LocalBox, JailError> {
        LocalBox::open_as(home, quota, readonly, None)
    }

    /// [`LocalBox::open`], giving the home to `owner` (uid and gid) on a root
    /// server: a home it creates, and one it finds owned by root or
    /// `nobody` (what earlier versions gave every home), with everything in
    /// it that those owned, so that programs running as `owner` can use it.
    /// A home given to anyone else by an administrator is left as it is.
    pub fn open_as(
        home: &Path,
        quota: Arc<Quota>,
        readonly: bool,
        owner: Option<u32>,
    ) -> Result<LocalBox, JailError> {
        // The only ambient path calls in the jail: everything else is
        // relative to `root`.
        let is_new = !home.exists();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(home)?;
        let running_as_root = rustix::process::geteuid().is_root();
        let new_owner = owner.unwrap_or(NEW_HOME_OWNER_ID);
        if is_new && running_as_root {
            let id = Some(rustix::process::Uid::from_raw(new_owner));
            let gid = Some(rustix::process::Gid::from_raw(new_owner));
            rustix::fs::chown(home, id, gid)?;
        }
        let root = rustix::fs::open(
            home,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        // Refuse to serve at all on a kernel without `openat2` (Linux < 5.6)
        // rather than fall back to something weaker.
        if let Err(err) = openat2(
            root.as_fd(),
            b".",
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        ) {
            tracing::error!(%err, home = %home.display(), "openat2 with RESOLVE_IN_ROOT is unavailable");
            return Err(err);
        }
        if let Some(owner) = owner
            && running_as_root
        {
            let stat = rustix::fs::fstat(&root)?;
            if stat.st_uid != owner && (stat.st_uid == 0 || stat.st_uid == NEW_HOME_OWNER_ID) {
                tracing::info!(home = %home.display(), from = stat.st_uid, to = owner, "giving the home to its account's sandbox uid");
                scan::reown(root.as_fd(), stat.st_uid, owner)?;
            }
        }
        quota.count_once(|| scan::count_usage(root.as_fd()))?;
        let home_stat = rustix::fs::fstat(&root)?;
        let owner = (running_as_root && home_stat.st_uid != 0)
            .then_some((home_stat.st_uid, home_stat.st_gid));
        Ok(LocalBox {
            inner: Arc::new(JailInner {
                root,
                quota,
                readonly,
                owner,
            }),
        })
    }

    /// The bytes stored under `home`, counted as the first [`Jail::open`]
    /// counts them, for tools that report usage without serving: the home
    /// is neither created nor changed; `None` when it does not exist yet.
    pub fn usage_on_disk(home: &Path) -> Result<Option<u64>, JailError> {
        let root = match rustix::fs::open(
            home,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(root) => root,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        scan::count_usage(root.as_fd()).map(|usage| Some(usage.bytes))
    }

    /// Counts the bytes and files stored under the home again and makes
    /// that the quota's usage: in tests, after writing behind the jail's
    /// back (nothing does outside tests: programs write through the view).
    /// On the way it clears the setuid, setgid and sticky bits, which no
    /// client may set.
    #[cfg(test)]
    pub fn recount_usage(&self) -> Result<Usage, JailError> {
        let used = scan::count_usage_clearing_special_modes(self.inner.root.as_fd())?;
        self.inner.quota.set_used(used);
        Ok(used)
    }

    /// The account's quota, shared with its other sessions.
    pub fn quota(&self) -> &Arc<Quota> {
        &self.inner.quota
    }

    /// Whether the account may only read.
    pub fn is_readonly(&self) -> bool {
        self.inner.readonly
    }

    /// Metadata of `path`, following symlinks (inside the box).
    pub fn stat(&self, path: &VirtualPath) -> Result<Stat, JailError> {
        let fd = self.open_in_root(path, OFlags::PATH, Mode::empty())?;
        Ok(rustix::fs::fstat(&fd)?.into())
    }

    /// Like [`stat`](Self::stat), but only from the kernel's caches: `None`
    /// when some component of the path is not in the lookup cache
    /// (`RESOLVE_CACHED`), so that the caller can answer without the
    /// blocking pool when nothing would wait for the disk, and use `stat`
    /// there otherwise.
    pub fn stat_cached(&self, path: &VirtualPath) -> Result<Option<Stat>, JailError> {
        let Some(fd) = self.open_cached(path, OFlags::PATH)? else {
            return Ok(None);
        };
        Ok(Some(rustix::fs::fstat(&fd)?.into()))
    }

    /// Metadata of `path` itself: a final symlink is reported, not followed.
    pub fn lstat(&self, path: &VirtualPath) -> Result<Stat, JailError> {
        let Some((parent, name)) = self.open_parent(path)? else {
            return Ok(rustix::fs::fstat(&self.inner.root)?.into());
        };
        Ok(rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)?.into())
    }

    /// Filesystem statistics of the box. With a quota, the totals are the
    /// limit and the free space is what the quota leaves, never more than
    /// the filesystem really has; with `max_files`, the same for inodes.
    pub fn fs_stats(&self) -> Result<FsStats, JailError> {
        let vfs = rustix::fs::fstatvfs(&self.inner.root)?;
        // Block counts are in `f_frsize` units; `f_bsize` is only the
        // preferred I/O size (they are equal on common filesystems).
        let block_size = if vfs.f_frsize > 0 {
            vfs.f_frsize
        } else {
            vfs.f_bsize.max(1)
        };
        let mut stats = FsStats {
            block_size,
            blocks: vfs.f_blocks,
            blocks_free: vfs.f_bfree,
            blocks_avail: vfs.f_bavail,
            files: vfs.f_files,
            files_free: vfs.f_ffree,
            name_max: vfs.f_namemax,
        };
        let used = self.inner.quota.usage();
        if let Some(limit) = self.inner.quota.limit_bytes() {
            let left_blocks = limit.saturating_sub(used.bytes) / block_size;
            stats.blocks = limit / block_size;
            stats.blocks_free = left_blocks.min(vfs.f_bfree);
            stats.blocks_avail = left_blocks.min(vfs.f_bavail);
        }
        if let Some(max_files) = self.inner.quota.max_files() {
            let left_files = max_files.saturating_sub(used.files);
            stats.files = max_files;
            stats.files_free = left_files.min(vfs.f_ffree);
        }
        Ok(stats)
    }

    /// Gives `name` in `parent` (just created) to the home's owner, without
    /// following a final symlink. Nothing to do when the server is not root
    /// or the home is root's.
    fn give_to_owner(&self, parent: &OwnedFd, name: &[u8]) -> Result<(), JailError> {
        if let Some((uid, gid)) = self.inner.owner {
            rustix::fs::chownat(
                parent,
                name,
                Some(rustix::process::Uid::from_raw(uid)),
                Some(rustix::process::Gid::from_raw(gid)),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        Ok(())
    }

    /// Gives an open file to the home's owner if it is not already theirs.
    fn give_fd_to_owner(&self, fd: &OwnedFd) -> Result<(), JailError> {
        if let Some((uid, gid)) = self.inner.owner {
            let st = rustix::fs::fstat(fd)?;
            if st.st_uid != uid || st.st_gid != gid {
                rustix::fs::fchown(
                    fd,
                    Some(rustix::process::Uid::from_raw(uid)),
                    Some(rustix::process::Gid::from_raw(gid)),
                )?;
            }
        }
        Ok(())
    }

    /// Fails with `ReadOnly` when the account may not change anything.
    fn check_writable(&self) -> Result<(), JailError> {
        if self.inner.readonly {
            Err(JailError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Opens `path` from the root fd with chroot semantics.
    fn open_in_root(
        &self,
        path: &VirtualPath,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, JailError> {
        openat2(self.inner.root.as_fd(), path.relative(), flags, mode)
    }

    /// Opens `path` like [`open_in_root`](Self::open_in_root), but only
    /// when the kernel can resolve it from its lookup cache alone
    /// (`RESOLVE_CACHED`, same chroot semantics); `None` when it cannot
    /// (or races a rename, or is a kernel without the flag): then the
    /// caller goes the ordinary way, which gives the real answer.
    fn open_cached(&self, path: &VirtualPath, flags: OFlags) -> Result<Option<OwnedFd>, JailError> {
        match rustix::fs::openat2(
            self.inner.root.as_fd(),
            path.relative(),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE | ResolveFlags::CACHED,
        ) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::AGAIN | Errno::INTR | Errno::INVAL | Errno::NOSYS) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }

    /// Opens the parent directory of `path` (`O_PATH`, resolved in the box)
    /// and returns it with the final name, a single checked component.
    /// `None` for `/`, which has no parent: each caller decides what that
    /// means for it.
    fn open_parent<'p>(
        &self,
        path: &'p VirtualPath,
    ) -> Result<Option<(OwnedFd, &'p [u8])>, JailError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(None);
        };
        path::check_name(name)?;
        let parent_fd =
            self.open_in_root(&parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        Ok(Some((parent_fd, name)))
    }
}

/// `openat2(dir, path, flags | O_CLOEXEC, mode, RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS)`, retried on `EAGAIN`/`EINTR`.
fn openat2(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, JailError> {
    let mut last = Errno::AGAIN;
    for _ in 0..OPENAT2_ATTEMPTS {
        match rustix::fs::openat2(dir, path, flags | OFlags::CLOEXEC, mode, RESOLVE) {
            Ok(fd) => return Ok(fd),
            Err(errno @ (Errno::AGAIN | Errno::INTR)) => last = errno,
            Err(errno) => return Err(errno.into()),
        }
    }
    Err(last.into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A temporary directory holding `home/` (the box) and `outside/`, a
    /// directory next to it that no jail operation may reach.
    pub(crate) struct Fixture {
        pub dir: tempfile::TempDir,
        pub jail: Jail,
    }

    impl Fixture {
        pub fn new(limit: Option<u64>) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("outside")).unwrap();
            std::fs::write(dir.path().join("outside/secret"), b"outside bytes").unwrap();
            let jail =
                Jail::open(&dir.path().join("home"), Arc::new(Quota::new(limit)), false).unwrap();
            Fixture { dir, jail }
        }

        pub fn home(&self) -> std::path::PathBuf {
            self.dir.path().join("home")
        }

        pub fn outside(&self) -> std::path::PathBuf {
            self.dir.path().join("outside")
        }

        /// Sets the byte limit to the usage now plus `room` and returns
        /// that usage: the home's own size and whatever the test made.
        pub fn leave_room(&self, room: u64) -> u64 {
            let used = self.jail.quota().used_bytes();
            self.jail.quota().set_limit(Some(used + room));
            used
        }

        /// What a count from disk finds now, leaving the quota as it is.
        pub fn on_disk(&self) -> Usage {
            scan::count_usage(self.jail.local().unwrap().inner.root.as_fd()).unwrap()
        }

        /// Asserts that the quota's running count is what is on disk.
        pub fn assert_exact(&self) {
            assert_eq!(self.jail.quota().usage(), self.on_disk());
        }
    }

    pub(crate) fn vp(path: &str) -> VirtualPath {
        VirtualPath::resolve(&VirtualPath::root(), path.as_bytes()).unwrap()
    }

    #[test]
    fn jails_and_files_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Jail>();
        assert_send_sync::<JailFile>();
        assert_send_sync::<Quota>();
    }

    #[test]
    fn open_creates_the_home_with_mode_0700() {
        let fixture = Fixture::new(None);
        let st = std::fs::metadata(fixture.home()).unwrap();
        assert!(st.is_dir());
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&st.permissions()) & 0o777,
            0o700
        );
        assert!(fixture.jail.stat(&VirtualPath::root()).unwrap().is_dir());
        assert!(fixture.jail.lstat(&VirtualPath::root()).unwrap().is_dir());
    }

    #[test]
    fn stat_follows_a_symlink_and_lstat_does_not() {
        let fixture = Fixture::new(None);
        std::fs::write(fixture.home().join("file"), b"12345").unwrap();
        std::os::unix::fs::symlink("/file", fixture.home().join("link")).unwrap();
        let followed = fixture.jail.stat(&vp("/link")).unwrap();
        assert!(followed.is_file());
        assert_eq!(followed.size, 5);
        assert!(fixture.jail.lstat(&vp("/link")).unwrap().is_symlink());
        assert_eq!(fixture.jail.stat(&vp("/missing")), Err(JailError::NotFound));
    }

    #[test]
    fn read_dir_lists_entries_without_dot_and_dotdot() {
        let fixture = Fixture::new(None);
        std::fs::create_dir(fixture.home().join("dir")).unwrap();
        std::fs::write(fixture.home().join("file"), b"abc").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", fixture.home().join("link")).unwrap();
        let mut entries = fixture.jail.read_dir(&VirtualPath::root()).unwrap();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<_> = entries.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, [&b"dir"[..], b"file", b"link"]);
        assert!(entries[0].stat.is_dir());
        assert_eq!(entries[1].stat.size, 3);
        assert!(entries[2].stat.is_symlink());
        assert_eq!(
            fixture.jail.read_dir(&vp("/file")),
            Err(JailError::NotADirectory)
        );
    }

    #[test]
    fn names_that_differ_in_one_byte_that_is_not_utf8_are_two_files() {
        let fixture = Fixture::new(None);
        let options = OpenOptions {
            write: true,
            create: true,
            exclusive: true,
            ..OpenOptions::default()
        };
        for (name, content) in [(&b"a\xfe"[..], b"fe"), (b"a\xff", b"ff")] {
            let path = VirtualPath::root().join(name).unwrap();
            let file = fixture.jail.open_file(&path, &options).unwrap();
            file.write_at(content, 0).unwrap();
        }
        let mut names: Vec<_> = fixture
            .jail
            .read_dir(&VirtualPath::root())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names, [b"a\xfe".to_vec(), b"a\xff".to_vec()]);
        use std::os::unix::ffi::OsStrExt;
        let on_disk = |name: &[u8]| {
            std::fs::read(fixture.home().join(std::ffi::OsStr::from_bytes(name))).unwrap()
        };
        assert_eq!(on_disk(b"a\xfe"), b"fe");
        assert_eq!(on_disk(b"a\xff"), b"ff");
        fixture.jail.remove_file(&vp_bytes(b"/a\xfe")).unwrap();
        assert_eq!(on_disk(b"a\xff"), b"ff");
    }

    pub(crate) fn vp_bytes(path: &[u8]) -> VirtualPath {
        VirtualPath::resolve(&VirtualPath::root(), path).unwrap()
    }

    #[test]
    fn read_dir_of_dotdot_from_the_root_lists_the_home() {
        let fixture = Fixture::new(None);
        std::fs::write(fixture.home().join("mine"), b"").unwrap();
        let path = VirtualPath::resolve(&VirtualPath::root(), b"../../..").unwrap();
        let names: Vec<_> = fixture
            .jail
            .read_dir(&path)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [b"mine".to_vec()]);
    }

    #[test]
    fn a_planted_symlink_to_an_outside_directory_lists_inside_the_box() {
        let fixture = Fixture::new(None);
        let outside = fixture.outside();
        std::os::unix::fs::symlink(&outside, fixture.home().join("out")).unwrap();
        // The absolute target is read inside the box, where it does not exist.
        assert_eq!(fixture.jail.read_dir(&vp("/out")), Err(JailError::NotFound));
    }

    #[test]
    fn fs_stats_reflect_the_quota() {
        let fixture = Fixture::new(Some(1 << 20));
        std::fs::write(fixture.home().join("f"), vec![0u8; 4096]).unwrap();
        fixture.jail.recount_usage().unwrap();
        let used = fixture.jail.quota().used_bytes();
        let stats = fixture.jail.fs_stats().unwrap();
        assert_eq!(stats.blocks, (1 << 20) / stats.block_size);
        assert_eq!(stats.blocks_avail, ((1 << 20) - used) / stats.block_size);
        assert!(stats.blocks_free >= stats.blocks_avail);
        assert!(stats.name_max >= 255);
        // No file limit: the filesystem's own inode figures.
        assert!(stats.files > 1000);
    }

    #[test]
    fn fs_stats_give_max_files_as_the_inodes() {
        let fixture = Fixture::new(None);
        fixture.jail.quota().set_max_files(Some(10));
        fixture.jail.create_dir(&vp("/d"), 0o755).unwrap();
        fixture.jail.symlink(b"/d", &vp("/l")).unwrap();
        let stats = fixture.jail.fs_stats().unwrap();
        assert_eq!((stats.files, stats.files_free), (10, 8));
        fixture.jail.quota().set_max_files(Some(1));
        let stats = fixture.jail.fs_stats().unwrap();
        assert_eq!((stats.files, stats.files_free), (1, 0));
    }
}
