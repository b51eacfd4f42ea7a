//! The requests on a file's contents: OPEN (also from the kernel's caches,
//! on the reader), READ (also from the page cache), WRITE and CLOSE with
//! the audit line of what the handle moved.

use std::sync::Arc;

use bytes::Bytes;
use russh_sftp::protocol::OpenFlags;
use tracing::info;

use super::super::Session;
use super::super::codec::{Attrs, DataReply, MAX_DATA_BYTES};
use super::super::handles::{FileHandle, HandleKind, Lane};
use super::super::status;
use super::{
    AUDIT, DEFAULT_FILE_MODE, UMASK, answer, hand_out, path, take_ticket, tell_storage_refusal,
};
use crate::jail::{JailError, OpenOptions};
use crate::transfer::Direction;

/// OPEN: opens a file and gives it a handle with its own lane.
pub fn open(
    session: &Arc<Session>,
    id: u32,
    filename: &[u8],
    flags: OpenFlags,
    wanted: &Attrs,
    lane: Lane,
) -> Bytes {
    let ticket = match take_ticket(session, id) {
        Ok(ticket) => ticket,
        Err(refusal) => return refusal,
    };
    let opened = path(filename).and_then(|p| {
        let options = OpenOptions {
            read: flags.contains(OpenFlags::READ),
            write: flags.contains(OpenFlags::WRITE) || flags.contains(OpenFlags::APPEND),
            append: flags.contains(OpenFlags::APPEND),
            create: flags.contains(OpenFlags::CREATE),
            truncate: flags.contains(OpenFlags::TRUNCATE),
            exclusive: flags.contains(OpenFlags::EXCLUDE),
            mode: wanted.permissions.unwrap_or(DEFAULT_FILE_MODE) & 0o777 & !UMASK,
        };
        let file = session.jail.open_file(&p, &options)?;
        // A file opened for writing is an upload of unknown size; one
        // opened only to read is a download of the size it has now.
        let (direction, size) = if options.write {
            (Direction::Upload, None)
        } else {
            (Direction::Download, file.stat().ok().map(|stat| stat.size))
        };
        Ok(FileHandle::new(
            file,
            p,
            ticket,
            direction,
            size,
            session.moved.clone(),
        ))
    });
    tell_storage_refusal(session, &opened);
    answer(id, opened, |file| {
        hand_out(session, id, HandleKind::File(Arc::new(file)), lane)
    })
}

/// OPEN of an existing file only to read, answered on the reader from the
/// kernel's caches (see [`Jail::open_file_cached`](crate::jail::Jail::open_file_cached));
/// `None` when they cannot answer it and it goes to the path lane.
pub fn open_cached(session: &Arc<Session>, id: u32, filename: &[u8], lane: &Lane) -> Option<Bytes> {
    let p = match path(filename) {
        Ok(p) => p,
        Err(err) => return Some(status::reply(id, &err)),
    };
    let ticket = match take_ticket(session, id) {
        Ok(ticket) => ticket,
        Err(refusal) => return Some(refusal),
    };
    let file = match session.jail.open_file_cached(&p) {
        Ok(Some(file)) => file,
        // The ticket goes back as it is dropped.
        Ok(None) => return None,
        Err(err) => return Some(status::reply(id, &err)),
    };
    let size = file.stat().ok().map(|stat| stat.size);
    let file = FileHandle::new(
        file,
        p,
        ticket,
        Direction::Download,
        size,
        session.moved.clone(),
    );
    Some(hand_out(
        session,
        id,
        HandleKind::File(Arc::new(file)),
        lane.clone(),
    ))
}

/// READ: up to [`MAX_DATA_BYTES`] from the file, read straight into the
/// reply, or EOF at its end; also how many bytes of the file it sends.
pub fn read(id: u32, file: &FileHandle, offset: u64, len: u32) -> (Bytes, usize) {
    let filled = fill(id, file, offset, len, |buf, at| {
        file.file.read_at(buf, at).map(Some)
    });
    // `read_at` never answers "would block".
    filled.unwrap_or_else(|| (status::end_of_file(id), 0))
}

/// READ answered without the blocking pool when every byte it needs is in
/// the page cache (`preadv2` with `RWF_NOWAIT`); `None` when some is not,
/// and the request goes to its lane instead. Also how many bytes it sends.
pub fn read_cached(id: u32, file: &FileHandle, offset: u64, len: u32) -> Option<(Bytes, usize)> {
    fill(id, file, offset, len, |buf, at| {
        file.file.read_at_cached(buf, at)
    })
}

/// Fills a DATA reply by `read` (which answers `None` for "would block":
/// then so does this), with how many bytes of the file it holds. The
/// buffer starts at what the file had left when it was opened, plus one
/// byte to see its end, and grows to the length asked only if the file has
/// grown: a 4 KiB file read with OpenSSH's 255 KiB requests costs 4 KiB of
/// buffer, not 255 KiB zeroed twice.
fn fill(
    id: u32,
    file: &FileHandle,
    offset: u64,
    len: u32,
    mut read: impl FnMut(&mut [u8], u64) -> Result<Option<usize>, JailError>,
) -> Option<(Bytes, usize)> {
    let len = len.min(MAX_DATA_BYTES) as usize;
    let start = match file.size_at_open {
        Some(size) => {
            let left = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
            len.min(left.saturating_add(1))
        }
        None => len,
    };
    let mut reply = DataReply::new(id, start);
    let mut filled = 0;
    while filled < len {
        if filled == reply.capacity() {
            reply.grow_to(len);
        }
        let Some(buf) = reply.payload_mut().get_mut(filled..) else {
            break;
        };
        match read(buf, offset.saturating_add(filled as u64)) {
            Ok(None) => return None,
            Ok(Some(0)) => break,
            Ok(Some(n)) => filled += n,
            Err(err) => {
                if filled == 0 {
                    return Some((status::reply(id, &err), 0));
                }
                break;
            }
        }
    }
    if filled == 0 && len > 0 {
        return Some((status::end_of_file(id), 0));
    }
    file.count_read(filled);
    Some((reply.finish(filled), filled))
}

/// WRITE: all the bytes at the offset, or nothing (quota). `data` is a slice
/// of the request packet. The first failure on a handle whose status shows
/// only as "Failure" (the quota, a full disk) is also told on stderr.
pub fn write(session: &Session, id: u32, file: &FileHandle, offset: u64, data: &[u8]) -> Bytes {
    match file.file.write_at(data, offset) {
        Ok(()) => {
            file.count_written(offset, data);
            status::ok(id)
        }
        Err(err) => {
            let storage = matches!(err, JailError::NotOnObjectStorage(_));
            if (storage || status::code_for(&err) == russh_sftp::protocol::StatusCode::Failure)
                && file.tell_once()
            {
                session
                    .notices
                    .tell(&format!("cannot write {}: {err}", file.path));
            }
            status::reply(id, &err)
        }
    }
}

/// CLOSE: logs what the handle moved; the handle is already out of the table.
pub fn close(id: u32, handle: &HandleKind) -> Bytes {
    if let HandleKind::File(file) = handle {
        // On object storage the upload is stored now; a failure is the
        // client's to know (locally there is nothing left to do).
        let closed = file.file.close();
        log_close(file);
        if let Err(err) = closed {
            return status::reply(id, &err);
        }
    }
    status::ok(id)
}

/// The audit line of a closed file, which counts as finished: "upload
/// finished" for a file opened for writing (with its sha256 when it was
/// written in order from the start to its end), "download finished" for
/// one opened to read (or opened read-write and only read).
pub fn log_close(file: &FileHandle) {
    let moved = file.transfer.finish();
    let duration_ms = file.opened.elapsed().as_millis() as u64;
    let only_read = moved.bytes_written == 0 && moved.bytes_read > 0;
    if file.transfer.is_upload() && !only_read {
        let size = file.file.stat().map(|st| st.size).ok();
        let sha256 = size.and_then(|size| file.transfer.sha256(size));
        info!(
            target: AUDIT,
            path = %file.path,
            size,
            bytes_written = moved.bytes_written,
            duration_ms,
            sha256,
            "upload finished"
        );
    } else {
        info!(
            target: AUDIT,
            path = %file.path,
            bytes_read = moved.bytes_read,
            duration_ms,
            "download finished"
        );
    }
}
