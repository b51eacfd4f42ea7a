//! The SFTP v3 requests, each a blocking function that turns one decoded
//! request into one encoded reply through the [`Jail`](crate::jail::Jail).
//! They run on a lane (see [`super::handles`]), or on the reader where the
//! dispatcher knows they cannot wait long (the kernel's caches, a small
//! upload while an inline slot is free).
//!
//! The requests on a file's contents (OPEN, READ, WRITE, CLOSE) are in
//! `file`; the ones on names and attributes here.
//!
//! Names arrive as the client's bytes and go to [`VirtualPath::resolve`]
//! untouched; names and link targets go back byte for byte.

use std::sync::Arc;

use bytes::Bytes;
use tracing::info;

use super::codec::{self, Attrs, NameReply};
use super::handles::{DirHandle, HandleKind, Lane, MAX_OPEN_HANDLES, OpenHandle};
use super::status::{self, HandleCeiling, Refusal};
use super::{Session, attrs};

mod file;

use crate::budget::{HandleRefusal, HandleTicket};
use crate::jail::{JailError, VirtualPath};
pub use file::{close, log_close, open, open_cached, read, read_cached, write};

/// Entries per READDIR reply; keeps each reply far below the packet limit
/// (a long name is under 400 bytes, a name at most 255).
const ENTRIES_PER_READDIR: usize = 100;

/// Creation mode when the client sends none; the umask below still applies.
const DEFAULT_FILE_MODE: u32 = 0o666;
const DEFAULT_DIR_MODE: u32 = 0o777;

/// Applied to modes of new files and directories, as a process umask would.
const UMASK: u32 = 0o022;

/// Turns a `Result` into a reply: the success builder, or the error's status.
pub fn answer<T>(id: u32, result: Result<T, JailError>, ok: impl FnOnce(T) -> Bytes) -> Bytes {
    match result {
        Ok(value) => ok(value),
        Err(err) => status::reply(id, &err),
    }
}

/// Tells the client on stderr why object storage refused a request: most
/// clients show its status only as "Operation unsupported".
pub fn tell_storage_refusal<T>(session: &Session, result: &Result<T, JailError>) {
    if let Err(err @ JailError::NotOnObjectStorage(_)) = result {
        session.notices.tell(&err.to_string());
    }
}

/// OK, or the error's status.
pub fn answer_unit(id: u32, result: Result<(), JailError>) -> Bytes {
    answer(id, result, |()| status::ok(id))
}

/// A path from the client, resolved against the box root.
pub fn path(raw: &[u8]) -> Result<VirtualPath, JailError> {
    VirtualPath::resolve(&VirtualPath::root(), raw)
}

/// A NAME reply holding one path (REALPATH, READLINK, expand-path,
/// home-directory), as OpenSSH's sftp-server sends it: the long name is the
/// name itself and no attributes.
pub fn single_name(id: u32, name: &[u8]) -> Bytes {
    let mut reply = NameReply::new(id);
    reply.push(name, name, &Attrs::default());
    reply.finish()
}

/// Registers `kind` and answers with its handle.
fn hand_out(session: &Session, id: u32, kind: HandleKind, lane: Lane) -> Bytes {
    match session.handles.insert(OpenHandle { kind, lane }) {
        Some(handle) => codec::reply::handle(id, handle.as_bytes()),
        None => refuse_handle(session, id, HandleCeiling::Session(MAX_OPEN_HANDLES)),
    }
}

/// A new handle's share of the account's and the server's allowance, taken
/// before its descriptor is opened, or the refusal to send.
fn take_ticket(session: &Session, id: u32) -> Result<HandleTicket, Bytes> {
    session
        .budget
        .try_take_handle()
        .map_err(|refused| too_many_handles(session, id, refused))
}

/// The refusal of a handle over the account's or the server's ceiling.
pub fn too_many_handles(session: &Session, id: u32, refused: HandleRefusal) -> Bytes {
    refuse_handle(session, id, refused.into())
}

/// Refuses a handle, also telling the client on stderr why (its status
/// would show only "Failure").
fn refuse_handle(session: &Session, id: u32, ceiling: HandleCeiling) -> Bytes {
    let refusal = Refusal::TooManyHandles(ceiling);
    session.notices.tell(&refusal.message());
    status::refused(id, &refusal)
}

/// OPENDIR: opens the directory; READDIR reads it on, a batch at a time.
pub fn open_dir(session: &Arc<Session>, id: u32, raw: &[u8], lane: Lane) -> Bytes {
    let ticket = match take_ticket(session, id) {
        Ok(ticket) => ticket,
        Err(refusal) => return refusal,
    };
    let opened = path(raw).and_then(|p| {
        let dir = session.jail.open_dir(&p)?;
        Ok(DirHandle::new(dir, p, ticket))
    });
    answer(id, opened, |dir| {
        hand_out(session, id, HandleKind::Dir(Arc::new(dir)), lane)
    })
}

/// READDIR: the next entries, or EOF. Each name goes out as stored; its long
/// name is an `ls -l` line with the name quoted if it is not printable text.
pub fn read_dir(session: &Session, id: u32, dir: &DirHandle) -> Bytes {
    let now = crate::listing::calendar::now();
    let entries = dir
        .dir
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .next_entries(ENTRIES_PER_READDIR);
    let entries = match entries {
        Ok(entries) => entries,
        Err(err) => return status::reply(id, &err),
    };
    let mut reply = NameReply::new(id);
    for entry in entries {
        let long_name = crate::listing::long_name(&entry.name, &entry.stat, &session.owner, now);
        reply.push(
            &entry.name,
            long_name.as_bytes(),
            &attrs::to_wire(&entry.stat),
        );
    }
    if reply.count() == 0 {
        return status::end_of_directory(id);
    }
    reply.finish()
}

/// The target of audit events, so that `RUST_LOG=warn,audit=info` keeps
/// only them.
const AUDIT: &str = "audit";

/// How a path from the client is shown in an audit line: resolved against
/// the box root (as the other lines show paths), escaped where not
/// printable; as sent when it does not resolve.
fn shown(raw: &[u8]) -> String {
    match path(raw) {
        Ok(resolved) => resolved.to_string(),
        Err(_) => crate::jail::escaped(raw).into_owned(),
    }
}

/// The audit line of a request that changes the box at `raw`: `event`,
/// then `ok` or the error.
fn audit<T>(event: &str, raw: &[u8], result: &Result<T, JailError>) {
    let path = shown(raw);
    match result {
        Ok(_) => info!(target: AUDIT, path = %path, result = "ok", "{event}"),
        Err(err) => info!(target: AUDIT, path = %path, result = "failed", error = %err, "{event}"),
    }
}

/// STAT or LSTAT.
pub fn stat(session: &Session, id: u32, raw: &[u8], follow: bool) -> Bytes {
    let result = path(raw).and_then(|p| {
        if follow {
            session.jail.stat(&p)
        } else {
            session.jail.lstat(&p)
        }
    });
    answer(id, result, |st| {
        codec::reply::attrs(id, &attrs::to_wire(&st))
    })
}

/// STAT answered on the reader from the kernel's caches (see
/// [`Jail::stat_cached`](crate::jail::Jail::stat_cached)); `None` when
/// they cannot answer it and it goes to the path lane.
pub fn stat_cached(session: &Session, id: u32, raw: &[u8]) -> Option<Bytes> {
    let result = match path(raw) {
        Ok(p) => session.jail.stat_cached(&p).transpose()?,
        Err(err) => Err(err),
    };
    Some(answer(id, result, |st| {
        codec::reply::attrs(id, &attrs::to_wire(&st))
    }))
}

/// FSTAT.
pub fn fstat(id: u32, handle: &HandleKind, session: &Session) -> Bytes {
    let result = match handle {
        HandleKind::File(file) => file.file.stat(),
        HandleKind::Dir(dir) => session.jail.stat(&dir.path),
    };
    answer(id, result, |st| {
        codec::reply::attrs(id, &attrs::to_wire(&st))
    })
}

/// Refuses owner changes: accounts own everything in their box.
fn refuse_owner_change(
    current: impl FnOnce() -> Result<crate::jail::Stat, JailError>,
    wanted: &Attrs,
) -> Result<(), JailError> {
    let Some(owner) = wanted.owner else {
        return Ok(());
    };
    let st = current()?;
    if owner.uid != st.uid || owner.gid != st.gid {
        return Err(JailError::PermissionDenied);
    }
    Ok(())
}

/// SETSTAT (`follow`) or lsetstat@openssh.com (not `follow`).
pub fn set_stat(session: &Session, id: u32, raw: &[u8], wanted: &Attrs, follow: bool) -> Bytes {
    let result = path(raw).and_then(|p| {
        refuse_owner_change(|| session.jail.lstat(&p), wanted)?;
        session
            .jail
            .set_attrs(&p, &attrs::from_wire(wanted), follow)
    });
    audit("setstat", raw, &result);
    answer_unit(id, result)
}

/// FSETSTAT.
pub fn fset_stat(session: &Session, id: u32, handle: &HandleKind, wanted: &Attrs) -> Bytes {
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
    let path = match handle {
        HandleKind::File(file) => file.path.as_bytes(),
        HandleKind::Dir(dir) => dir.path.as_bytes(),
    };
    audit("setstat", path, &result);
    answer_unit(id, result)
}

/// REMOVE.
pub fn remove(session: &Session, id: u32, raw: &[u8]) -> Bytes {
    let result = path(raw).and_then(|p| session.jail.remove_file(&p));
    audit("remove", raw, &result);
    answer_unit(id, result)
}

/// MKDIR.
pub fn make_dir(session: &Session, id: u32, raw: &[u8], wanted: &Attrs) -> Bytes {
    let mode = wanted.permissions.unwrap_or(DEFAULT_DIR_MODE) & 0o777 & !UMASK;
    let result = path(raw).and_then(|p| session.jail.create_dir(&p, mode));
    audit("mkdir", raw, &result);
    answer_unit(id, result)
}

/// RMDIR.
pub fn remove_dir(session: &Session, id: u32, raw: &[u8]) -> Bytes {
    let result = path(raw).and_then(|p| session.jail.remove_dir(&p));
    audit("rmdir", raw, &result);
    answer_unit(id, result)
}

/// RENAME (fails if the target exists, as v3 says) or posix-rename (replaces).
pub fn rename(session: &Session, id: u32, from: &[u8], to: &[u8], replace: bool) -> Bytes {
    let result = path(from).and_then(|f| {
        let t = path(to)?;
        session.jail.rename(&f, &t, replace)
    });
    let (shown_from, shown_to) = (shown(from), shown(to));
    match &result {
        Ok(()) => info!(target: AUDIT, from = %shown_from, to = %shown_to, result = "ok", "rename"),
        Err(err) => info!(
            target: AUDIT,
            from = %shown_from,
            to = %shown_to,
            result = "failed",
            error = %err,
            "rename"
        ),
    }
    answer_unit(id, result)
}

/// REALPATH: the canonical path inside the box.
pub fn real_path(session: &Session, id: u32, raw: &[u8]) -> Bytes {
    let result = path(raw).and_then(|p| session.jail.canonicalize(&p));
    answer(id, result, |p| single_name(id, p.as_bytes()))
}

/// READLINK: the target, byte for byte as stored.
pub fn read_link(session: &Session, id: u32, raw: &[u8]) -> Bytes {
    let result = path(raw).and_then(|p| session.jail.read_link(&p));
    answer(id, result, |target| single_name(id, &target))
}

/// SYMLINK, its paths already put in order by the dispatcher (see
/// [`super::SymlinkOrder`]). The target is stored as sent.
pub fn symlink(session: &Session, id: u32, target: &[u8], link: &[u8]) -> Bytes {
    let result = path(link).and_then(|l| session.jail.symlink(target, &l));
    tell_storage_refusal(session, &result);
    answer_unit(id, result)
}
