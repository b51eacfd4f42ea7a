//! The FUSE operations of the view: each asks the jail and answers the
//! kernel; what the view does not offer is `ENOSYS`.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use super::nodes::{Handle, OpenDir, Place};
use super::{
    ATTR_TTL, DIR_BATCH, ENTRY_TTL, View, attr_of, errno, kind_of, open_options, seconds_of,
};
use crate::jail::{Jail, JailError, OpenOptions, SetAttrs, VirtualPath};

impl View {
    /// The attributes of node `ino` (through `fh` when one is open).
    fn attr(&self, ino: INodeNo, fh: Option<FileHandle>) -> Result<FileAttr, Errno> {
        if let Some(file) = fh.and_then(|fh| self.file(fh).ok()) {
            let stat = file.stat().map_err(|err| errno(&err))?;
            return Ok(attr_of(ino.0, &stat));
        }
        match self.place(ino)? {
            Place::Reserved(index) => Ok(self.reserved_attr(index)),
            Place::Home(None) => Err(Errno::ENOENT),
            Place::Home(Some(path)) => {
                let stat = self.jail.lstat(&path).map_err(|err| errno(&err))?;
                Ok(attr_of(ino.0, &stat))
            }
        }
    }

    /// Fills `reply` from the open folder, `offset` being where the kernel
    /// wants to continue.
    fn fill(&self, ino: INodeNo, open: &mut OpenDir, offset: u64, reply: &mut ReplyDirectory) {
        if offset < open.position {
            // A rewind: read the folder again from its start.
            if let Ok(dir) = self.jail.open_dir(&open.path) {
                open.dir = dir;
            }
            open.position = 0;
            open.pending.clear();
        }
        let root = ino == INodeNo::ROOT;
        loop {
            let (name, kind, entry_ino): (Vec<u8>, FileType, u64) = match open.position {
                0 => (b".".to_vec(), FileType::Directory, ino.0),
                1 => (b"..".to_vec(), FileType::Directory, ino.0),
                _ => {
                    if open.pending.is_empty() {
                        match open.dir.next_entries(DIR_BATCH) {
                            Ok(batch) if !batch.is_empty() => open.pending.extend(batch),
                            _ => return,
                        }
                    }
                    let Some(entry) = open.pending.front() else {
                        return;
                    };
                    if root && self.reserved.iter().any(|r| r.name == entry.name) {
                        open.pending.pop_front();
                        continue;
                    }
                    (
                        entry.name.clone(),
                        kind_of(entry.stat.mode),
                        entry.stat.ino.max(1),
                    )
                }
            };
            if open.position < offset {
                // Skipping up to where the kernel is.
                self.advance(open);
                continue;
            }
            if reply.add(
                INodeNo(entry_ino),
                open.position + 1,
                kind,
                OsStr::from_bytes(&name),
            ) {
                return;
            }
            self.advance(open);
        }
    }

    fn advance(&self, open: &mut OpenDir) {
        if open.position >= 2 {
            open.pending.pop_front();
        }
        open.position += 1;
    }

    fn set_attrs_of(
        &self,
        ino: INodeNo,
        fh: Option<FileHandle>,
        attrs: &SetAttrs,
    ) -> Result<FileAttr, Errno> {
        let file = fh.and_then(|fh| self.file(fh).ok());
        match (&file, attrs.size) {
            (Some(file), Some(size)) => file.set_len(size).map_err(|err| errno(&err))?,
            (None, Some(size)) => {
                let path = self.path(ino)?;
                let resize = SetAttrs {
                    size: Some(size),
                    ..SetAttrs::default()
                };
                self.jail
                    .set_attrs(&path, &resize, false)
                    .map_err(|err| errno(&err))?;
            }
            _ => {}
        }
        let rest = SetAttrs {
            size: None,
            ..*attrs
        };
        if rest != SetAttrs::default() {
            let path = self.path(ino)?;
            self.jail
                .set_attrs(&path, &rest, false)
                .map_err(|err| errno(&err))?;
        }
        self.attr(ino, fh)
    }

    /// `unlink` and `rmdir`: `remove` takes `name` out of folder `parent`
    /// and the node table forgets it; a reserved name is busy.
    fn remove(
        &self,
        parent: INodeNo,
        name: &OsStr,
        reply: ReplyEmpty,
        remove: fn(&Jail, &VirtualPath) -> Result<(), JailError>,
    ) {
        let path = match self.child(parent, name) {
            Ok(path) => path,
            Err(_) if self.reserved_at(parent, name.as_bytes()).is_some() => {
                return reply.error(Errno::EBUSY);
            }
            Err(err) => return reply.error(err),
        };
        match remove(&self.jail, &path) {
            Ok(()) => {
                Self::forget_path(&mut self.tables(), &path);
                reply.ok();
            }
            Err(err) => reply.error(errno(&err)),
        }
    }

    /// What the view does not offer, answered without a log line:
    /// `ENOSYS` makes the kernel stop asking for the whole mount.
    fn not_offered(&self) -> Errno {
        Errno::ENOSYS
    }
}

impl Filesystem for View {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // One MiB per write: what the kernel offers at most (256 pages).
        let _ = config.set_max_write(1 << 20);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if let Some(index) = self.reserved_at(parent, name.as_bytes()) {
            return reply.entry(&ENTRY_TTL, &self.reserved_attr(index), Generation(0));
        }
        if let Ok(Place::Reserved(_)) = self.place(parent) {
            // An unmounted system folder is empty.
            return reply.error(Errno::ENOENT);
        }
        match self.path(parent) {
            Ok(path) => match path.join(name.as_bytes()) {
                Ok(path) => self.entry(path, reply),
                Err(err) => reply.error(errno(&err)),
            },
            Err(err) => reply.error(err),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.release_lookups(ino, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr(ino, fh) {
            Ok(attr) => reply.attr(&ATTR_TTL, &attr),
            Err(err) => reply.error(err),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let current = match self.attr(ino, fh) {
            Ok(attr) => attr,
            Err(err) => return reply.error(err),
        };
        // Owners do not change in a box: only to what they are.
        if uid.is_some_and(|uid| uid != current.uid) || gid.is_some_and(|gid| gid != current.gid) {
            return reply.error(Errno::EPERM);
        }
        let attrs = SetAttrs {
            size,
            mode,
            atime: atime.map(seconds_of),
            mtime: mtime.map(seconds_of),
        };
        if attrs == SetAttrs::default() {
            return reply.attr(&ATTR_TTL, &current);
        }
        match self.set_attrs_of(ino, fh, &attrs) {
            Ok(attr) => reply.attr(&ATTR_TTL, &attr),
            Err(err) => reply.error(err),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.place(ino) {
            Ok(Place::Reserved(index)) => {
                match self.reserved.get(index).and_then(|r| r.link.as_ref()) {
                    Some(target) => reply.data(target),
                    None => reply.error(Errno::EINVAL),
                }
            }
            Ok(Place::Home(Some(path))) => match self.jail.read_link(&path) {
                Ok(target) => reply.data(&target),
                Err(err) => reply.error(errno(&err)),
            },
            Ok(Place::Home(None)) => reply.error(Errno::ENOENT),
            Err(err) => reply.error(err),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Only regular files: no devices, FIFOs or sockets in a home.
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        let path = match self.child(parent, name) {
            Ok(path) => path,
            Err(err) => return reply.error(err),
        };
        let opts = OpenOptions {
            read: false,
            write: true,
            create: true,
            exclusive: true,
            mode,
            ..OpenOptions::default()
        };
        match self.jail.open_file(&path, &opts) {
            Ok(_) => self.entry(path, reply),
            Err(err) => reply.error(errno(&err)),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let path = match self.child(parent, name) {
            Ok(path) => path,
            Err(err) => return reply.error(err),
        };
        match self.jail.create_dir(&path, mode) {
            Ok(()) => self.entry(path, reply),
            Err(err) => reply.error(errno(&err)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, reply, Jail::remove_file);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, reply, Jail::remove_dir);
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let path = match self.child(parent, link_name) {
            Ok(path) => path,
            Err(err) => return reply.error(err),
        };
        match self.jail.symlink(target.as_os_str().as_bytes(), &path) {
            Ok(()) => self.entry(path, reply),
            Err(err) => reply.error(errno(&err)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            return reply.error(Errno::EINVAL);
        }
        if self.reserved_at(parent, name.as_bytes()).is_some()
            || self.reserved_at(newparent, newname.as_bytes()).is_some()
        {
            return reply.error(Errno::EBUSY);
        }
        let (from, to) = match (self.child(parent, name), self.child(newparent, newname)) {
            (Ok(from), Ok(to)) => (from, to),
            (Err(err), _) | (_, Err(err)) => return reply.error(err),
        };
        let replace = !flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self.jail.rename(&from, &to, replace) {
            Ok(()) => {
                self.moved(&from, &to);
                reply.ok();
            }
            Err(err) => reply.error(errno(&err)),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let (existing, new) = match (self.path(ino), self.child(newparent, newname)) {
            (Ok(existing), Ok(new)) => (existing, new),
            (Err(err), _) | (_, Err(err)) => return reply.error(err),
        };
        match self.jail.hard_link(&existing, &new) {
            Ok(()) => self.entry(new, reply),
            Err(err) => reply.error(errno(&err)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let path = match self.path(ino) {
            Ok(path) => path,
            Err(err) => return reply.error(err),
        };
        let opts = open_options(flags);
        let opened = self
            .jail
            .open_file(&path, &opts)
            .map_err(|err| errno(&err))
            .and_then(|file| self.open_handle(Handle::File(Arc::new(file))));
        match opened {
            Ok(fh) => reply.opened(fh, FopenFlags::empty()),
            Err(err) => reply.error(err),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let file = match self.file(fh) {
            Ok(file) => file,
            Err(err) => return reply.error(err),
        };
        // The kernel takes a short read for the end of the file: fill it.
        let mut buf = vec![0_u8; size as usize];
        let mut filled = 0;
        while let Some(rest) = buf.get_mut(filled..) {
            if rest.is_empty() {
                break;
            }
            match file.read_at(rest, offset.saturating_add(filled as u64)) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) => return reply.error(errno(&err)),
            }
        }
        reply.data(buf.get(..filled).unwrap_or_default());
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let written = self
            .file(fh)
            .and_then(|file| file.write_at(data, offset).map_err(|err| errno(&err)));
        match written {
            Ok(()) => reply.written(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err(err) => reply.error(err),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.close_handle(fh);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self
            .file(fh)
            .and_then(|file| file.sync_all().map_err(|err| errno(&err)))
        {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(err),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let path = match self.place(ino) {
            Ok(Place::Home(Some(path))) => path,
            // An unmounted system folder: listed empty, from the root.
            Ok(Place::Reserved(_)) => VirtualPath::root(),
            Ok(Place::Home(None)) => return reply.error(Errno::ENOENT),
            Err(err) => return reply.error(err),
        };
        let opened = self
            .jail
            .open_dir(&path)
            .map_err(|err| errno(&err))
            .and_then(|dir| {
                self.open_handle(Handle::Dir(Box::new(OpenDir {
                    path,
                    dir,
                    position: 0,
                    pending: VecDeque::new(),
                })))
            });
        match opened {
            Ok(fh) => reply.opened(fh, FopenFlags::empty()),
            Err(err) => reply.error(err),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let handle = match self.handle(fh) {
            Ok(handle) => handle,
            Err(err) => return reply.error(err),
        };
        let mut handle = handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Handle::Dir(open) = &mut *handle else {
            return reply.error(Errno::ENOTDIR);
        };
        if let Ok(Place::Reserved(_)) = self.place(ino) {
            // Only `.` and `..`.
            open.pending.clear();
            open.position = open.position.max(offset);
            if offset < 2 {
                let _ = reply.add(ino, 1, FileType::Directory, ".")
                    || reply.add(ino, 2, FileType::Directory, "..");
            }
            return reply.ok();
        }
        self.fill(ino, open, offset, &mut reply);
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.close_handle(fh);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.jail.fs_stats() {
            Ok(stats) => {
                let block = u32::try_from(stats.block_size).unwrap_or(4096);
                let name_max = u32::try_from(stats.name_max).unwrap_or(255);
                reply.statfs(
                    stats.blocks,
                    stats.blocks_free,
                    stats.blocks_avail,
                    stats.files,
                    stats.files_free,
                    block,
                    name_max,
                    block,
                );
            }
            Err(err) => reply.error(errno(&err)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // The kernel checks permissions itself (`default_permissions`).
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let path = match self.child(parent, name) {
            Ok(path) => path,
            Err(err) => return reply.error(err),
        };
        let mut opts = open_options(OpenFlags(flags));
        opts.create = true;
        opts.exclusive = flags & libc::O_EXCL != 0;
        opts.mode = mode;
        let file = match self.jail.open_file(&path, &opts) {
            Ok(file) => file,
            Err(err) => return reply.error(errno(&err)),
        };
        let stat = match file.stat() {
            Ok(stat) => stat,
            Err(err) => return reply.error(errno(&err)),
        };
        let made = self.remember(path).and_then(|id| {
            self.open_handle(Handle::File(Arc::new(file)))
                .map(|fh| (id, fh))
        });
        match made {
            Ok((id, fh)) => reply.created(
                &ENTRY_TTL,
                &attr_of(id, &stat),
                Generation(0),
                fh,
                FopenFlags::empty(),
            ),
            Err(err) => reply.error(err),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(self.not_offered());
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: fuser::ReplyXattr,
    ) {
        reply.error(self.not_offered());
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: fuser::ReplyXattr) {
        reply.error(self.not_offered());
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(self.not_offered());
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: fuser::IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: fuser::ReplyIoctl,
    ) {
        // A file is no terminal (`isatty` asks with TCGETS).
        reply.error(Errno::ENOTTY);
    }

    fn poll(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _ph: fuser::PollNotifier,
        _events: fuser::PollEvents,
        _flags: fuser::PollFlags,
        reply: fuser::ReplyPoll,
    ) {
        reply.error(self.not_offered());
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: i64,
        _whence: i32,
        reply: fuser::ReplyLseek,
    ) {
        reply.error(self.not_offered());
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: fuser::CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        // The kernel copies through read and write instead, charged as any.
        reply.error(self.not_offered());
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        // Plain allocation grows the file (charged); holes and the rest of
        // fallocate's modes are not offered.
        if mode != 0 {
            return reply.error(Errno::EOPNOTSUPP);
        }
        let grown = self.file(fh).and_then(|file| {
            let size = file.stat().map_err(|err| errno(&err))?.size;
            let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
            if end > size {
                file.set_len(end).map_err(|err| errno(&err))?;
            }
            Ok(())
        });
        match grown {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(err),
        }
    }
}
