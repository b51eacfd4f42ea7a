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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsStr;
use std::io::{PipeReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

use crate::jail::{
    DirEntry, Jail, JailDir, JailError, JailFile, OpenOptions, SetAttrs, Stat, VirtualPath,
};

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

/// A name at the root of the view that is the system's, not the home's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reserved {
    /// The name under `/`.
    pub name: Vec<u8>,
    /// `None`: an empty folder, a mount point. `Some(target)`: a symlink
    /// (`bin` → `usr/bin` on a merged `/usr`).
    pub link: Option<Vec<u8>>,
}

/// What a node of the view stands for.
#[derive(Debug, Clone)]
enum Place {
    /// A name of the home, as the jail resolves it; `None` once it was
    /// removed or replaced (the kernel may still hold the node).
    Home(Option<VirtualPath>),
    /// The `index`th reserved name at the root.
    Reserved(usize),
}

#[derive(Debug)]
struct Node {
    place: Place,
    /// Lookups the kernel has not forgotten yet.
    lookups: u64,
}

/// An open folder: its stream and where the kernel is in it.
struct OpenDir {
    path: VirtualPath,
    dir: JailDir,
    /// The offset of the next entry to give (0 = `.`, 1 = `..`).
    position: u64,
    /// Entries read but not yet given.
    pending: VecDeque<DirEntry>,
}

enum Handle {
    File(Arc<JailFile>),
    Dir(Box<OpenDir>),
}

#[derive(Default)]
struct Tables {
    nodes: HashMap<u64, Node>,
    by_path: BTreeMap<VirtualPath, u64>,
    next_node: u64,
    handles: HashMap<u64, Arc<Mutex<Handle>>>,
    next_handle: u64,
}

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
        let mut tables = Tables {
            next_node: 2,
            next_handle: 1,
            ..Tables::default()
        };
        tables.nodes.insert(
            INodeNo::ROOT.0,
            Node {
                place: Place::Home(Some(VirtualPath::root())),
                lookups: 1,
            },
        );
        tables.by_path.insert(VirtualPath::root(), INodeNo::ROOT.0);
        for index in 0..reserved.len() {
            let id = tables.next_node;
            tables.next_node += 1;
            tables.nodes.insert(
                id,
                Node {
                    place: Place::Reserved(index),
                    lookups: 1,
                },
            );
        }
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

    /// The node id of the `index`th reserved name.
    fn reserved_id(index: usize) -> u64 {
        2 + index as u64
    }

    /// The reserved name `name` at the root, if `parent` is the root.
    fn reserved_at(&self, parent: INodeNo, name: &[u8]) -> Option<usize> {
        if parent != INodeNo::ROOT {
            return None;
        }
        self.reserved.iter().position(|entry| entry.name == name)
    }

    /// What node `ino` stands for.
    fn place(&self, ino: INodeNo) -> Result<Place, Errno> {
        self.tables()
            .nodes
            .get(&ino.0)
            .map(|node| node.place.clone())
            .ok_or(Errno::ENOENT)
    }

    /// The home path of node `ino`; reserved nodes have none.
    fn path(&self, ino: INodeNo) -> Result<VirtualPath, Errno> {
        match self.place(ino)? {
            Place::Home(Some(path)) => Ok(path),
            Place::Home(None) => Err(Errno::ENOENT),
            Place::Reserved(_) => Err(Errno::EPERM),
        }
    }

    /// The home path of `name` in folder `parent`, refusing the reserved
    /// names of the root (`EEXIST`: they are there, and not the home's).
    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<VirtualPath, Errno> {
        if self.reserved_at(parent, name.as_bytes()).is_some() {
            return Err(Errno::EEXIST);
        }
        self.path(parent)?
            .join(name.as_bytes())
            .map_err(|err| errno(&err))
    }

    /// The node of `path` (made if new), with one more lookup counted.
    fn remember(&self, path: VirtualPath) -> Result<u64, Errno> {
        let mut tables = self.tables();
        if let Some(&id) = tables.by_path.get(&path)
            && let Some(node) = tables.nodes.get_mut(&id)
        {
            node.lookups = node.lookups.saturating_add(1);
            return Ok(id);
        }
        if tables.nodes.len() >= MAX_NODES {
            return Err(Errno::ENFILE);
        }
        let id = tables.next_node;
        tables.next_node += 1;
        tables.by_path.insert(path.clone(), id);
        tables.nodes.insert(
            id,
            Node {
                place: Place::Home(Some(path)),
                lookups: 1,
            },
        );
        Ok(id)
    }

    /// The entry of `path` (its `lstat`) for the kernel, remembered.
    fn entry(&self, path: VirtualPath, reply: ReplyEntry) {
        match self.jail.lstat(&path) {
            Ok(stat) => match self.remember(path) {
                Ok(id) => reply.entry(&ENTRY_TTL, &attr_of(id, &stat), Generation(0)),
                Err(err) => reply.error(err),
            },
            Err(err) => reply.error(errno(&err)),
        }
    }

    /// Forgets `path` and everything below it: removed, or replaced by a
    /// rename. Their nodes stay for the kernel's open files, pathless.
    fn forget_path(tables: &mut Tables, path: &VirtualPath) {
        for id in Self::take_below(tables, path).into_values() {
            if let Some(node) = tables.nodes.get_mut(&id) {
                node.place = Place::Home(None);
            }
        }
    }

    /// Takes `path` and the paths below it out of `by_path`.
    fn take_below(tables: &mut Tables, path: &VirtualPath) -> BTreeMap<VirtualPath, u64> {
        let mut taken = BTreeMap::new();
        if let Some(id) = tables.by_path.remove(path) {
            taken.insert(path.clone(), id);
        }
        let mut prefix = path.as_bytes().to_vec();
        prefix.push(b'/');
        let below: Vec<VirtualPath> = tables
            .by_path
            .range(path.clone()..)
            .map(|(key, _)| key)
            .skip_while(|key| *key == path)
            .take_while(|key| key.as_bytes().starts_with(&prefix))
            .cloned()
            .collect();
        for key in below {
            if let Some(id) = tables.by_path.remove(&key) {
                taken.insert(key, id);
            }
        }
        taken
    }

    /// After a rename of `from` to `to`: what was at `to` is gone, and
    /// `from` and everything below it are now under `to`.
    fn moved(&self, from: &VirtualPath, to: &VirtualPath) {
        let mut tables = self.tables();
        Self::forget_path(&mut tables, to);
        let taken = Self::take_below(&mut tables, from);
        let from_len = from.as_bytes().len();
        for (old, id) in taken {
            let suffix = old.as_bytes().get(from_len..).unwrap_or_default();
            let mut bytes = to.as_bytes().to_vec();
            bytes.extend_from_slice(suffix);
            let new = VirtualPath::resolve(&VirtualPath::root(), &bytes).ok();
            if let Some(node) = tables.nodes.get_mut(&id) {
                node.place = Place::Home(new.clone());
            }
            if let Some(new) = new {
                tables.by_path.insert(new, id);
            }
        }
    }

    fn reserved_attr(&self, index: usize) -> FileAttr {
        let link = self
            .reserved
            .get(index)
            .and_then(|entry| entry.link.as_ref());
        let (kind, perm, size) = match link {
            Some(target) => (FileType::Symlink, 0o777, target.len() as u64),
            None => (FileType::Directory, 0o755, 0),
        };
        FileAttr {
            ino: INodeNo(Self::reserved_id(index)),
            size,
            blocks: 0,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink: if link.is_some() { 1 } else { 2 },
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// A new handle for `handle`, within [`MAX_HANDLES`].
    fn open_handle(&self, handle: Handle) -> Result<FileHandle, Errno> {
        let mut tables = self.tables();
        if tables.handles.len() >= MAX_HANDLES {
            return Err(Errno::EMFILE);
        }
        let id = tables.next_handle;
        tables.next_handle += 1;
        tables.handles.insert(id, Arc::new(Mutex::new(handle)));
        Ok(FileHandle(id))
    }

    fn handle(&self, fh: FileHandle) -> Result<Arc<Mutex<Handle>>, Errno> {
        self.tables()
            .handles
            .get(&fh.0)
            .cloned()
            .ok_or(Errno::EBADF)
    }

    fn file(&self, fh: FileHandle) -> Result<Arc<JailFile>, Errno> {
        let handle = self.handle(fh)?;
        let handle = handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*handle {
            Handle::File(file) => Ok(Arc::clone(file)),
            Handle::Dir(_) => Err(Errno::EISDIR),
        }
    }

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
        if ino == INodeNo::ROOT {
            return;
        }
        let mut tables = self.tables();
        let Some(node) = tables.nodes.get_mut(&ino.0) else {
            return;
        };
        if let Place::Reserved(_) = node.place {
            return;
        }
        node.lookups = node.lookups.saturating_sub(nlookup);
        if node.lookups == 0 {
            let place = node.place.clone();
            tables.nodes.remove(&ino.0);
            if let Place::Home(Some(path)) = place
                && tables.by_path.get(&path) == Some(&ino.0)
            {
                tables.by_path.remove(&path);
            }
        }
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
        let path = match self.child(parent, name) {
            Ok(path) => path,
            Err(_) if self.reserved_at(parent, name.as_bytes()).is_some() => {
                return reply.error(Errno::EBUSY);
            }
            Err(err) => return reply.error(err),
        };
        match self.jail.remove_file(&path) {
            Ok(()) => {
                Self::forget_path(&mut self.tables(), &path);
                reply.ok();
            }
            Err(err) => reply.error(errno(&err)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let path = match self.child(parent, name) {
            Ok(path) => path,
            Err(_) if self.reserved_at(parent, name.as_bytes()).is_some() => {
                return reply.error(Errno::EBUSY);
            }
            Err(err) => return reply.error(err),
        };
        match self.jail.remove_dir(&path) {
            Ok(()) => {
                Self::forget_path(&mut self.tables(), &path);
                reply.ok();
            }
            Err(err) => reply.error(errno(&err)),
        }
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
        self.tables().handles.remove(&fh.0);
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
        self.tables().handles.remove(&fh.0);
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

impl View {
    /// What the view does not offer, answered without a log line:
    /// `ENOSYS` makes the kernel stop asking for the whole mount.
    fn not_offered(&self) -> Errno {
        Errno::ENOSYS
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
