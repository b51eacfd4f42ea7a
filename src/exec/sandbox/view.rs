//! The filesystem a sandboxed program sees: the account's home served over
//! FUSE by the server, through the [`Jail`], so the program's `/` is the
//! home, exactly as SFTP's.
//!
//! Every name the program looks up is resolved by the jail (`openat2` with
//! `RESOLVE_IN_ROOT` from the home's descriptor), every byte it writes is a
//! [`JailFile::write_at`] reserved against the account's shared quota, every
//! new or removed name is charged by the jail as SFTP's are. So the quota is
//! exact while the program writes (the write that would cross it fails with
//! `EDQUOT`, removing and truncating always work) and nothing outside the
//! home can be named: the kernel only ever asks this server.
//!
//! The root also holds the mount points of the system folders a program
//! needs ([`Reserved`]: `usr`, `dev`, `proc`, `tmp`, ... and the symlinks
//! of a merged `/usr`), synthesized here: a lookup finds them, a listing of
//! `/` does not show them, and the home's own entries of those names are
//! hidden from programs (SFTP still sees them).
//!
//! Bounds: the session runs on [`VIEW_THREADS`] threads; the node table
//! holds at most [`MAX_NODES`] names (entries expire at once, so the kernel
//! forgets a name when it stops using it), and at most [`MAX_HANDLES`]
//! files and folders are open at once. The session ends when the kernel
//! drops the mount, which it does when the sandbox's last process is gone.
//!
//! The parts: `nodes.rs`, the table of nodes (the names the kernel holds)
//! and of open files and folders; `reserved.rs`, the system's names at the
//! root; `ops.rs`, the FUSE operations, each answered through the jail.

mod nodes;
mod ops;
mod reserved;

use std::io::{PipeReader, Read};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo, OpenAccMode, OpenFlags, TimeOrNow};

use crate::jail::{Jail, JailError, OpenOptions, Stat};
use nodes::Tables;
pub(super) use reserved::Reserved;

/// Threads reading the FUSE device for one program.
pub(super) const VIEW_THREADS: usize = 2;

/// Names the view keeps for one program at once (what the kernel is
/// using: open files, working directories, path walks in progress).
pub(super) const MAX_NODES: usize = 65_536;

/// Files and folders one program may hold open through the view.
pub(super) const MAX_HANDLES: usize = 1024;

/// How long the kernel may trust a name: not at all, so every path walk
/// asks the jail again (a name SFTP renamed is seen at once) and an unused
/// name is forgotten at once, which keeps the node table small.
const ENTRY_TTL: Duration = Duration::ZERO;

/// How long the kernel may trust an inode's attributes (sizes, times) for
/// `fstat` of an open file before asking again.
const ATTR_TTL: Duration = Duration::from_secs(1);

/// Entries read from a folder per batch.
const DIR_BATCH: usize = 64;

/// The FUSE filesystem of one program run.
pub(super) struct View {
    jail: Jail,
    reserved: Vec<Reserved>,
    tables: Mutex<Tables>,
}

/// Serves the view on `device` (an open `/dev/fuse`) once `mounted` says
/// the sandbox has mounted it; returns when the mount is gone (or was
/// never made: `mounted` closed without a byte). Blocks: run it on a
/// thread of its own.
pub(super) fn serve(
    jail: Jail,
    reserved: Vec<Reserved>,
    device: OwnedFd,
    mut mounted: PipeReader,
) -> std::io::Result<()> {
    let mut byte = [0_u8; 1];
    if mounted.read(&mut byte)? == 0 {
        return Ok(());
    }
    drop(mounted);
    let view = View::new(jail, reserved);
    let mut config = fuser::Config::default();
    config.n_threads = Some(VIEW_THREADS);
    config.clone_fd = true;
    let session = fuser::Session::from_fd(view, device, fuser::SessionACL::All, config)?;
    session.run()
}

impl View {
    fn new(jail: Jail, reserved: Vec<Reserved>) -> View {
        let tables = Tables::new(reserved.len());
        View {
            jail,
            reserved,
            tables: Mutex::new(tables),
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How a FUSE open's flags read as the jail's options (no creation).
fn open_options(flags: OpenFlags) -> OpenOptions {
    let (read, write) = match flags.acc_mode() {
        OpenAccMode::O_RDONLY => (true, false),
        OpenAccMode::O_WRONLY => (false, true),
        OpenAccMode::O_RDWR => (true, true),
    };
    OpenOptions {
        read,
        write,
        append: flags.0 & libc::O_APPEND != 0,
        create: false,
        truncate: write && flags.0 & libc::O_TRUNC != 0,
        exclusive: false,
        mode: 0o644,
    }
}

/// The errno a program gets for `err`: `EDQUOT` for both quota limits.
fn errno(err: &JailError) -> Errno {
    let code = match err {
        JailError::NotFound => libc::ENOENT,
        JailError::AlreadyExists => libc::EEXIST,
        JailError::NotADirectory => libc::ENOTDIR,
        JailError::IsADirectory => libc::EISDIR,
        JailError::DirectoryNotEmpty => libc::ENOTEMPTY,
        JailError::PermissionDenied => libc::EACCES,
        JailError::ReadOnly => libc::EROFS,
        JailError::InvalidName => libc::EINVAL,
        JailError::NameTooLong => libc::ENAMETOOLONG,
        JailError::QuotaExceeded { .. } | JailError::TooManyFiles { .. } => libc::EDQUOT,
        JailError::Unsupported | JailError::NotOnObjectStorage(_) => libc::EOPNOTSUPP,
        JailError::Io(io) => io.raw_os_error().unwrap_or(libc::EIO),
    };
    Errno::from_i32(code)
}

/// The FUSE type of a `st_mode`.
fn kind_of(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        libc::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

/// A time in seconds since the epoch.
fn time_of(seconds: i64) -> SystemTime {
    match u64::try_from(seconds) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs()),
    }
}

/// Seconds since the epoch of a time the program set.
fn seconds_of(time: TimeOrNow) -> i64 {
    let time = match time {
        TimeOrNow::SpecificTime(time) => time,
        TimeOrNow::Now => SystemTime::now(),
    };
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The attributes of node `id` with metadata `stat`.
fn attr_of(id: u64, stat: &Stat) -> FileAttr {
    FileAttr {
        ino: INodeNo(id),
        size: stat.size,
        blocks: stat.blocks,
        atime: time_of(stat.atime),
        mtime: time_of(stat.mtime),
        ctime: time_of(stat.mtime),
        crtime: time_of(stat.mtime),
        kind: kind_of(stat.mode),
        perm: u16::try_from(stat.mode & 0o7777).unwrap_or(0),
        nlink: u32::try_from(stat.nlink).unwrap_or(u32::MAX),
        uid: stat.uid,
        gid: stat.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}
