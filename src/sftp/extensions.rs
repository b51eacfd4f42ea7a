//! The OpenSSH extensions and the checksum/copy extensions: advertised in
//! VERSION, decoded by the codec into an [`Extension`], routed here to the
//! lane that orders them, answered with a STATUS or an EXTENDED_REPLY.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::check_file::check_file;
use super::codec::{self, Extension, MAX_DATA_BYTES, MAX_PACKET_BYTES};
use super::handles::{FileHandle, HandleKind, Lane, MAX_OPEN_HANDLES, Weight};
use super::requests::{self, answer, answer_unit};
use super::status::{self, Refusal};
use super::{Session, on_handle, on_path};
use crate::jail::{JailError, OpenOptions};
use tokio_util::sync::CancellationToken;

/// Extensions named in VERSION, with their version strings.
pub const ADVERTISED: &[(&str, &str)] = &[
    ("posix-rename@openssh.com", "1"),
    ("statvfs@openssh.com", "2"),
    ("fstatvfs@openssh.com", "2"),
    ("hardlink@openssh.com", "1"),
    ("fsync@openssh.com", "1"),
    ("lsetstat@openssh.com", "1"),
    ("limits@openssh.com", "1"),
    ("expand-path@openssh.com", "1"),
    ("copy-data", "1"),
    ("home-directory", "1"),
    ("check-file-name", "md5,sha1,sha224,sha256,sha384,sha512"),
    ("check-file-handle", "md5,sha1,sha224,sha256,sha384,sha512"),
];

/// Routes one extended request to its lane.
pub fn route(session: &Arc<Session>, path_lane: &Lane, id: u32, extension: Extension, cost: usize) {
    let reply_now = |bytes: Bytes| session.reply(bytes, cost);
    match extension {
        Extension::PosixRename { from, to } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::rename(s, id, &from, &to, true)
            })
        }
        Extension::HardLink { existing, link } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                hard_link(s, id, &existing, &link)
            })
        }
        Extension::Statvfs { path } => on_path(session, path_lane, cost, Weight::Short, move |s| {
            statvfs(s, id, Some(&path))
        }),
        Extension::Fstatvfs { handle } => {
            on_handle(session, &handle, id, cost, Weight::Short, move |s, _| {
                statvfs(s, id, None)
            })
        }
        Extension::Fsync { handle } => on_handle(
            session,
            &handle,
            id,
            cost,
            Weight::Short,
            move |_, h| match h {
                HandleKind::File(f) => answer_unit(id, f.file.sync_all()),
                HandleKind::Dir(_) => status::ok(id),
            },
        ),
        Extension::Lsetstat { path, attrs } => {
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::set_stat(s, id, &path, &attrs, false)
            })
        }
        Extension::Limits => {
            let mut out = BytesMut::with_capacity(32);
            out.put_u64(u64::from(MAX_PACKET_BYTES));
            out.put_u64(u64::from(MAX_DATA_BYTES));
            out.put_u64(u64::from(MAX_DATA_BYTES));
            out.put_u64(MAX_OPEN_HANDLES as u64);
            reply_now(codec::reply::extended(id, &out))
        }
        Extension::ExpandPath { path } => {
            let expanded = expand_home(&path);
            on_path(session, path_lane, cost, Weight::Short, move |s| {
                requests::real_path(s, id, &expanded)
            })
        }
        // Every account's home is the root of its box, whoever is asked about.
        Extension::HomeDirectory { user: _ } => reply_now(requests::single_name(id, b"/")),
        Extension::CopyData {
            read_handle,
            read_offset,
            length,
            write_handle,
            write_offset,
        } => {
            let (Some(source), Some(target)) = (
                session.handles.get(&read_handle),
                session.handles.get(&write_handle),
            ) else {
                return reply_now(status::invalid_handle(id));
            };
            let (HandleKind::File(source), HandleKind::File(target_file)) =
                (source.kind, target.kind.clone())
            else {
                return reply_now(status::reply(id, &JailError::IsADirectory));
            };
            let copy = RangeCopy {
                source,
                target: target_file,
                read_offset,
                length,
                write_offset,
                ended: session.ended.clone(),
            };
            target.lane.push_long(Box::new(move || copy.run(id)), cost);
        }
        Extension::CheckFileName { path, check } => {
            on_path(session, path_lane, cost, Weight::Long, move |s| {
                let options = OpenOptions {
                    read: true,
                    ..OpenOptions::default()
                };
                // The file is open only for this request, one at a time on
                // the path lane, but it still counts as a handle.
                let ticket = match s.budget.try_take_handle() {
                    Ok(ticket) => ticket,
                    Err(refused) => return requests::too_many_handles(s, id, refused),
                };
                let opened = requests::path(&path).and_then(|p| s.jail.open_file(&p, &options));
                let reply = match opened {
                    Ok(file) => check_file(id, &file, &check, &s.ended),
                    Err(err) => status::reply(id, &err),
                };
                drop(ticket);
                reply
            })
        }
        Extension::CheckFileHandle { handle, check } => on_handle(
            session,
            &handle,
            id,
            cost,
            Weight::Long,
            move |s, h| match h {
                HandleKind::File(f) => check_file(id, &f.file, &check, &s.ended),
                HandleKind::Dir(_) => status::reply(id, &JailError::IsADirectory),
            },
        ),
        Extension::Unknown { name } => {
            reply_now(status::refused(id, &Refusal::UnsupportedExtension(name)))
        }
    }
}

/// `~`, `~/x`, `~user` and `~user/x` with the home, which is the box root
/// for every account: each account sees only its own home.
fn expand_home(path: &[u8]) -> Vec<u8> {
    let Some(rest) = path.strip_prefix(b"~") else {
        return path.to_vec();
    };
    let after_user = rest
        .iter()
        .position(|&b| b == b'/')
        .and_then(|slash| rest.get(slash + 1..))
        .unwrap_or_default();
    let mut expanded = Vec::with_capacity(1 + after_user.len());
    expanded.push(b'/');
    expanded.extend_from_slice(after_user);
    expanded
}

fn hard_link(session: &Session, id: u32, existing: &[u8], link: &[u8]) -> Bytes {
    let result = requests::path(existing).and_then(|e| {
        let l = requests::path(link)?;
        session.jail.hard_link(&e, &l)
    });
    answer_unit(id, result)
}

/// statvfs@openssh.com: the filesystem as the quota shows it.
fn statvfs(session: &Session, id: u32, path: Option<&[u8]>) -> Bytes {
    if let Some(path) = path
        && let Err(err) = requests::path(path).and_then(|p| session.jail.stat(&p))
    {
        return status::reply(id, &err);
    }
    answer(id, session.jail.fs_stats(), |fs| {
        let mut out = BytesMut::with_capacity(88);
        out.put_u64(fs.block_size); // f_bsize
        out.put_u64(fs.block_size); // f_frsize
        out.put_u64(fs.blocks);
        out.put_u64(fs.blocks_free);
        out.put_u64(fs.blocks_avail);
        out.put_u64(fs.files);
        out.put_u64(fs.files_free);
        out.put_u64(fs.files_free); // f_favail
        out.put_u64(0); // f_fsid
        out.put_u64(0); // f_flag
        out.put_u64(fs.name_max);
        codec::reply::extended(id, &out)
    })
}

/// copy-data: a range of one open file copied into another, inside the server.
struct RangeCopy {
    source: Arc<FileHandle>,
    target: Arc<FileHandle>,
    read_offset: u64,
    /// Bytes to copy; 0 means up to the end of the source.
    length: u64,
    write_offset: u64,
    /// The session's end: the copy stops at the next chunk.
    ended: CancellationToken,
}

impl RangeCopy {
    /// Copies, on the target's lane. A file copied onto itself is refused,
    /// whichever handles name it: with length 0 the copy would read what it
    /// just wrote until the disk is full (OpenSSH 10.4's sftp-server refuses
    /// it too, by device and inode).
    fn run(self, id: u32) -> Bytes {
        let same_file = self
            .source
            .file
            .stat()
            .and_then(|s| Ok((s, self.target.file.stat()?)));
        match same_file {
            Ok((s, t)) if (s.dev, s.ino) == (t.dev, t.ino) => {
                return status::refused(id, &Refusal::CopyOntoItself);
            }
            Ok(_) => {}
            Err(err) => return status::reply(id, &err),
        }
        let mut buf = vec![0u8; MAX_DATA_BYTES as usize];
        let mut done: u64 = 0;
        loop {
            if self.ended.is_cancelled() {
                return status::refused(id, &Refusal::SessionEnded);
            }
            let left = if self.length == 0 {
                u64::MAX
            } else {
                self.length - done
            };
            let want = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
            let Some(chunk) = buf.get_mut(..want).filter(|chunk| !chunk.is_empty()) else {
                return status::ok(id);
            };
            let n = match self
                .source
                .file
                .read_at(chunk, self.read_offset.saturating_add(done))
            {
                Ok(0) => return status::ok(id),
                Ok(n) => n,
                Err(err) => return status::reply(id, &err),
            };
            let data = chunk.get(..n).unwrap_or_default();
            if let Err(err) = self
                .target
                .file
                .write_at(data, self.write_offset.saturating_add(done))
            {
                return status::reply(id, &err);
            }
            self.source.count_read(n);
            self.target
                .count_written(self.write_offset.saturating_add(done), data);
            done += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tilde_expands_to_the_box_root_for_any_user() {
        assert_eq!(expand_home(b"~"), b"/");
        assert_eq!(expand_home(b"~/x/y"), b"/x/y");
        assert_eq!(expand_home(b"~bob"), b"/");
        assert_eq!(expand_home(b"~bob/d\xff"), b"/d\xff");
        assert_eq!(expand_home(b"plain/~"), b"plain/~");
    }
}
