//! The SFTP v3 requests, each a blocking function that turns one decoded
//! request into one encoded reply through the [`Jail`](crate::jail::Jail).
//! They run on a lane (see [`super::handles`]), never on the event loop.

use std::sync::Arc;

use bytes::Bytes;
use russh_sftp::protocol::{
    Attrs, File, FileAttributes, Handle, Name, Open, OpenFlags, StatusCode,
};
use tracing::info;

use super::handles::{DirHandle, FileHandle, HandleKind, Lane, OpenHandle};
use super::wire::{self, DataReply, MAX_DATA_BYTES, ReadRequest, WriteRequest};
use super::{Session, attrs, status};
use crate::jail::{JailError, OpenOptions, VirtualPath};

/// Entries per READDIR reply; keeps each reply far below the packet limit.
const ENTRIES_PER_READDIR: usize = 100;

/// Creation mode when the client sends none; the umask below still applies.
const DEFAULT_FILE_MODE: u32 = 0o666;
const DEFAULT_DIR_MODE: u32 = 0o777;

/// Applied to modes of new files and directories, as a process umask would.
const UMASK: u32 = 0o022;

/// Turns a `Result` into a reply: the success builder, or the error's status.
fn answer<T>(id: u32, result: Result<T, JailError>, ok: impl FnOnce(T) -> Bytes) -> Bytes {
    match result {
        Ok(value) => ok(value),
        Err(err) => status::reply(id, &err),
    }
}

/// A path from the client, resolved against the box root.
pub fn path(raw: &str) -> Result<VirtualPath, JailError> {
    VirtualPath::resolve(&VirtualPath::root(), raw.as_bytes())
}

/// A NAME reply holding one path (REALPATH, READLINK, expand-path).
pub fn single_name(id: u32, name: &str) -> Bytes {
    wire::encode(
        Name {
            id,
            files: vec![File {
                filename: name.to_owned(),
                longname: name.to_owned(),
                attrs: FileAttributes::default(),
            }],
        }
        .into(),
    )
}

/// OPEN: opens a file and gives it a handle with its own lane.
pub fn open(session: &Arc<Session>, request: Open, lane: Lane) -> Bytes {
    let id = request.id;
    let flags = request.pflags;
    let opened = path(&request.filename).and_then(|p| {
        let options = OpenOptions {
            read: flags.contains(OpenFlags::READ),
            write: flags.contains(OpenFlags::WRITE) || flags.contains(OpenFlags::APPEND),
            append: flags.contains(OpenFlags::APPEND),
            create: flags.contains(OpenFlags::CREATE),
            truncate: flags.contains(OpenFlags::TRUNCATE),
            exclusive: flags.contains(OpenFlags::EXCLUDE),
            mode: request.attrs.permissions.unwrap_or(DEFAULT_FILE_MODE) & 0o777 & !UMASK,
        };
        let file = session.jail.open_file(&p, &options)?;
        Ok(FileHandle::new(file, p))
    });
    answer(id, opened, |file| {
        let handle = OpenHandle {
            kind: HandleKind::File(Arc::new(file)),
            lane,
        };
        match session.handles.insert(handle) {
            Some(handle) => wire::encode(Handle { id, handle }.into()),
            None => wire::status(id, StatusCode::Failure, "too many open handles"),
        }
    })
}

/// OPENDIR: lists the directory now and hands the entries out on READDIR.
pub fn open_dir(session: &Arc<Session>, id: u32, raw: &str, lane: Lane) -> Bytes {
    let listed = path(raw).and_then(|p| {
        let entries = session.jail.read_dir(&p)?;
        Ok(DirHandle {
            path: p,
            remaining: std::sync::Mutex::new(entries.into_iter()),
        })
    });
    answer(id, listed, |dir| {
        let handle = OpenHandle {
            kind: HandleKind::Dir(Arc::new(dir)),
            lane,
        };
        match session.handles.insert(handle) {
            Some(handle) => wire::encode(Handle { id, handle }.into()),
            None => wire::status(id, StatusCode::Failure, "too many open handles"),
        }
    })
}

/// READDIR: the next entries, or EOF.
pub fn read_dir(session: &Session, id: u32, dir: &DirHandle) -> Bytes {
    let now = crate::listing::calendar::now();
    let mut remaining = dir
        .remaining
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let files: Vec<File> = remaining
        .by_ref()
        .take(ENTRIES_PER_READDIR)
        .map(|entry| attrs::name_entry(&entry.name, &entry.stat, &session.owner, now))
        .collect();
    if files.is_empty() {
        return wire::status(id, StatusCode::Eof, "end of directory");
    }
    wire::encode(Name { id, files }.into())
}

/// READ: up to [`MAX_DATA_BYTES`] from the file, or EOF at its end.
pub fn read(id: u32, file: &FileHandle, request: &ReadRequest) -> Bytes {
    let len = request.len.min(MAX_DATA_BYTES) as usize;
    let mut reply = DataReply::new(id, len);
    let mut filled = 0;
    while filled < len {
        let Some(buf) = reply.payload_mut().get_mut(filled..) else {
            break;
        };
        match file
            .file
            .read_at(buf, request.offset.saturating_add(filled as u64))
        {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) => {
                if filled == 0 {
                    return status::reply(id, &err);
                }
                break;
            }
        }
    }
    if filled == 0 && len > 0 {
        return wire::status(id, StatusCode::Eof, "end of file");
    }
    file.count_read(filled);
    reply.finish(filled)
}

/// WRITE: all the bytes at the offset, or nothing (quota).
pub fn write(file: &FileHandle, request: &WriteRequest) -> Bytes {
    let id = request.id;
    answer(
        id,
        file.file.write_at(&request.data, request.offset),
        |()| {
            file.count_written(request.data.len());
            wire::ok(id)
        },
    )
}

/// CLOSE: logs what the handle moved; the handle is already out of the table.
pub fn close(session: &Session, id: u32, handle: &HandleKind) -> Bytes {
    if let HandleKind::File(file) = handle {
        log_close(session, file);
    }
    wire::ok(id)
}

/// One log line per closed file, and the session totals.
pub fn log_close(session: &Session, file: &FileHandle) {
    let read = file.bytes_read.load(std::sync::atomic::Ordering::Relaxed);
    let written = file
        .bytes_written
        .load(std::sync::atomic::Ordering::Relaxed);
    session.totals.add(read, written);
    info!(
        path = %file.path,
        bytes_read = read,
        bytes_written = written,
        duration_ms = file.opened.elapsed().as_millis() as u64,
        "file closed"
    );
}

/// STAT or LSTAT.
pub fn stat(session: &Session, id: u32, raw: &str, follow: bool) -> Bytes {
    let result = path(raw).and_then(|p| {
        if follow {
            session.jail.stat(&p)
        } else {
            session.jail.lstat(&p)
        }
    });
    answer(id, result, |st| {
        wire::encode(
            Attrs {
                id,
                attrs: attrs::to_wire(&st),
            }
            .into(),
        )
    })
}

/// FSTAT.
pub fn fstat(id: u32, handle: &HandleKind, session: &Session) -> Bytes {
    let result = match handle {
        HandleKind::File(file) => file.file.stat(),
        HandleKind::Dir(dir) => session.jail.stat(&dir.path),
    };
    answer(id, result, |st| {
        wire::encode(
            Attrs {
                id,
                attrs: attrs::to_wire(&st),
            }
            .into(),
        )
    })
}

/// Refuses owner changes: accounts own everything in their box.
fn refuse_owner_change(
    current: impl FnOnce() -> Result<crate::jail::Stat, JailError>,
    wanted: &FileAttributes,
) -> Result<(), JailError> {
    if wanted.uid.is_none() && wanted.gid.is_none() {
        return Ok(());
    }
    let st = current()?;
    if wanted.uid.is_some_and(|u| u != st.uid) || wanted.gid.is_some_and(|g| g != st.gid) {
        return Err(JailError::PermissionDenied);
    }
    Ok(())
}

/// SETSTAT (`follow`) or lsetstat@openssh.com (not `follow`).
pub fn set_stat(
    session: &Session,
    id: u32,
    raw: &str,
    wanted: &FileAttributes,
    follow: bool,
) -> Bytes {
    let result = path(raw).and_then(|p| {
        refuse_owner_change(|| session.jail.lstat(&p), wanted)?;
        session
            .jail
            .set_attrs(&p, &attrs::from_wire(wanted), follow)
    });
    answer(id, result, |()| wire::ok(id))
}

/// FSETSTAT.
pub fn fset_stat(
    session: &Session,
    id: u32,
    handle: &HandleKind,
    wanted: &FileAttributes,
) -> Bytes {
    let result = match handle {
        HandleKind::File(file) => refuse_owner_change(|| file.file.stat(), wanted)
            .and_then(|()| file.file.set_attrs(&attrs::from_wire(wanted))),
        HandleKind::Dir(dir) => refuse_owner_change(|| session.jail.stat(&dir.path), wanted)
            .and_then(|()| {
                session
                    .jail
                    .set_attrs(&dir.path, &attrs::from_wire(wanted), true)
            }),
    };
    answer(id, result, |()| wire::ok(id))
}

/// REMOVE.
pub fn remove(session: &Session, id: u32, raw: &str) -> Bytes {
    let result = path(raw).and_then(|p| session.jail.remove_file(&p));
    answer(id, result, |()| wire::ok(id))
}

/// MKDIR.
pub fn make_dir(session: &Session, id: u32, raw: &str, wanted: &FileAttributes) -> Bytes {
    let mode = wanted.permissions.unwrap_or(DEFAULT_DIR_MODE) & 0o777 & !UMASK;
    let result = path(raw).and_then(|p| session.jail.create_dir(&p, mode));
    answer(id, result, |()| wire::ok(id))
}

/// RMDIR.
pub fn remove_dir(session: &Session, id: u32, raw: &str) -> Bytes {
    let result = path(raw).and_then(|p| session.jail.remove_dir(&p));
    answer(id, result, |()| wire::ok(id))
}

/// RENAME (fails if the target exists, as v3 says) or posix-rename (replaces).
pub fn rename(session: &Session, id: u32, from: &str, to: &str, replace: bool) -> Bytes {
    let result = path(from).and_then(|f| {
        let t = path(to)?;
        session.jail.rename(&f, &t, replace)
    });
    answer(id, result, |()| wire::ok(id))
}

/// REALPATH: the canonical path inside the box.
pub fn real_path(session: &Session, id: u32, raw: &str) -> Bytes {
    let result = path(raw).and_then(|p| session.jail.canonicalize(&p));
    answer(id, result, |p| {
        single_name(id, &String::from_utf8_lossy(p.as_bytes()))
    })
}

/// READLINK.
pub fn read_link(session: &Session, id: u32, raw: &str) -> Bytes {
    let result = path(raw).and_then(|p| session.jail.read_link(&p));
    answer(id, result, |target| {
        single_name(id, &String::from_utf8_lossy(&target))
    })
}

/// SYMLINK. OpenSSH (and the clients that follow it) send the target first,
/// the reverse of the draft's order, which russh-sftp's field names follow.
pub fn symlink(session: &Session, id: u32, first: &str, second: &str) -> Bytes {
    let (target, link) = (first, second);
    let result = path(link).and_then(|l| {
        if target.contains('\0') {
            return Err(JailError::InvalidName);
        }
        session.jail.symlink(target.as_bytes(), &l)
    });
    answer(id, result, |()| wire::ok(id))
}
