//! The view's tables: the node of each name the kernel holds (its home
//! path, kept true across renames and removals, or a reserved name), and
//! the files and folders the program has open, each table bounded.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};

use fuser::{Errno, FileHandle, Generation, INodeNo, ReplyEntry};

use super::{ENTRY_TTL, MAX_HANDLES, MAX_NODES, View, attr_of, errno};
use crate::jail::{DirEntry, JailDir, JailFile, VirtualPath};

/// What a node of the view stands for.
#[derive(Debug, Clone)]
pub(super) enum Place {
    /// A name of the home, as the jail resolves it; `None` once it was
    /// removed or replaced (the kernel may still hold the node).
    Home(Option<VirtualPath>),
    /// The `index`th reserved name at the root.
    Reserved(usize),
}

#[derive(Debug)]
pub(super) struct Node {
    pub(super) place: Place,
    /// Lookups the kernel has not forgotten yet.
    pub(super) lookups: u64,
}

/// An open folder: its stream and where the kernel is in it.
pub(super) struct OpenDir {
    pub(super) path: VirtualPath,
    pub(super) dir: JailDir,
    /// The offset of the next entry to give (0 = `.`, 1 = `..`).
    pub(super) position: u64,
    /// Entries read but not yet given.
    pub(super) pending: VecDeque<DirEntry>,
}

pub(super) enum Handle {
    File(Arc<JailFile>),
    Dir(Box<OpenDir>),
}

#[derive(Default)]
pub(super) struct Tables {
    pub(super) nodes: HashMap<u64, Node>,
    pub(super) by_path: BTreeMap<VirtualPath, u64>,
    pub(super) next_node: u64,
    pub(super) handles: HashMap<u64, Arc<Mutex<Handle>>>,
    pub(super) next_handle: u64,
}

impl Tables {
    /// The tables of a new view: the root, and the nodes of its
    /// `reserved` system names, numbered from 2 as
    /// [`View::reserved_id`] numbers them.
    pub(super) fn new(reserved: usize) -> Tables {
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
        for index in 0..reserved {
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
        tables
    }
}

impl View {
    /// What node `ino` stands for.
    pub(super) fn place(&self, ino: INodeNo) -> Result<Place, Errno> {
        self.tables()
            .nodes
            .get(&ino.0)
            .map(|node| node.place.clone())
            .ok_or(Errno::ENOENT)
    }

    /// The home path of node `ino`; reserved nodes have none.
    pub(super) fn path(&self, ino: INodeNo) -> Result<VirtualPath, Errno> {
        match self.place(ino)? {
            Place::Home(Some(path)) => Ok(path),
            Place::Home(None) => Err(Errno::ENOENT),
            Place::Reserved(_) => Err(Errno::EPERM),
        }
    }

    /// The home path of `name` in folder `parent`, refusing the reserved
    /// names of the root (`EEXIST`: they are there, and not the home's).
    pub(super) fn child(&self, parent: INodeNo, name: &OsStr) -> Result<VirtualPath, Errno> {
        if self.reserved_at(parent, name.as_bytes()).is_some() {
            return Err(Errno::EEXIST);
        }
        self.path(parent)?
            .join(name.as_bytes())
            .map_err(|err| errno(&err))
    }

    /// The node of `path` (made if new), with one more lookup counted.
    pub(super) fn remember(&self, path: VirtualPath) -> Result<u64, Errno> {
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
    pub(super) fn entry(&self, path: VirtualPath, reply: ReplyEntry) {
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
    pub(super) fn forget_path(tables: &mut Tables, path: &VirtualPath) {
        for id in Self::take_below(tables, path).into_values() {
            if let Some(node) = tables.nodes.get_mut(&id) {
                node.place = Place::Home(None);
            }
        }
    }

    /// Takes `path` and the paths below it out of `by_path`.
    pub(super) fn take_below(
        tables: &mut Tables,
        path: &VirtualPath,
    ) -> BTreeMap<VirtualPath, u64> {
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
    pub(super) fn moved(&self, from: &VirtualPath, to: &VirtualPath) {
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

    /// The kernel forgot `nlookup` lookups of `ino`: at none left, the
    /// node goes (the root and the reserved names stay for good).
    pub(super) fn release_lookups(&self, ino: INodeNo, nlookup: u64) {
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

    /// A new handle for `handle`, within [`MAX_HANDLES`].
    pub(super) fn open_handle(&self, handle: Handle) -> Result<FileHandle, Errno> {
        let mut tables = self.tables();
        if tables.handles.len() >= MAX_HANDLES {
            return Err(Errno::EMFILE);
        }
        let id = tables.next_handle;
        tables.next_handle += 1;
        tables.handles.insert(id, Arc::new(Mutex::new(handle)));
        Ok(FileHandle(id))
    }

    pub(super) fn handle(&self, fh: FileHandle) -> Result<Arc<Mutex<Handle>>, Errno> {
        self.tables()
            .handles
            .get(&fh.0)
            .cloned()
            .ok_or(Errno::EBADF)
    }

    pub(super) fn file(&self, fh: FileHandle) -> Result<Arc<JailFile>, Errno> {
        let handle = self.handle(fh)?;
        let handle = handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*handle {
            Handle::File(file) => Ok(Arc::clone(file)),
            Handle::Dir(_) => Err(Errno::EISDIR),
        }
    }

    /// Closes handle `fh` (a file or folder the kernel released).
    pub(super) fn close_handle(&self, fh: FileHandle) {
        self.tables().handles.remove(&fh.0);
    }
}
