//! The OpenSSH extensions and the checksum/copy extensions: advertised in
//! VERSION, decoded here, routed to the lane that orders them, answered with a
//! STATUS or an EXTENDED_REPLY.

use std::sync::Arc;

use bytes::{BufMut, Bytes};
use digest::Digest;
use russh_sftp::protocol::{ExtendedReply, FileAttributes, StatusCode};

use super::handles::{HandleKind, Lane, MAX_OPEN_HANDLES};
use super::wire::{self, Cursor, MAX_DATA_BYTES, MAX_PACKET_BYTES};
use super::{Session, requests, status};
use crate::jail::{JailError, JailFile};

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

/// Smallest block size check-file accepts (the draft's bound).
const MIN_CHECK_BLOCK_BYTES: u32 = 256;

/// Most block hashes one check-file reply may carry (keeps it under a packet).
const MAX_CHECK_BLOCKS: u64 = 1024;

/// Routes one extended request to its lane.
pub fn route(
    session: &Arc<Session>,
    path_lane: &Lane,
    id: u32,
    name: &str,
    data: Bytes,
    cost: usize,
) {
    let mut c = Cursor::new(data);
    let s = session.clone();
    let reply_now = |bytes: Bytes| session.reply(bytes, cost);
    macro_rules! on_path_lane {
        ($job:expr) => {
            path_lane.push(Box::new($job), cost)
        };
    }
    match name {
        "posix-rename@openssh.com" | "hardlink@openssh.com" => {
            let (Some(from), Some(to)) = (c.string(), c.string()) else {
                return reply_now(status::bad_message(id));
            };
            if name.starts_with("posix") {
                on_path_lane!(move || requests::rename(&s, id, &from, &to, true))
            } else {
                on_path_lane!(move || hard_link(&s, id, &from, &to))
            }
        }
        "statvfs@openssh.com" => {
            let Some(path) = c.string() else {
                return reply_now(status::bad_message(id));
            };
            on_path_lane!(move || statvfs(&s, id, Some(&path)))
        }
        "fstatvfs@openssh.com" => with_handle(session, path_lane, c, id, cost, move |s, _| {
            statvfs(s, id, None)
        }),
        "fsync@openssh.com" => with_handle(session, path_lane, c, id, cost, move |_, h| match h {
            HandleKind::File(f) => answer_unit(id, f.file.sync_all()),
            HandleKind::Dir(_) => wire::ok(id),
        }),
        "lsetstat@openssh.com" => {
            let Some(path) = c.string() else {
                return reply_now(status::bad_message(id));
            };
            let mut rest = c.rest();
            let Ok(attrs) = russh_sftp::de::from_bytes::<FileAttributes>(&mut rest) else {
                return reply_now(status::bad_message(id));
            };
            on_path_lane!(move || requests::set_stat(&s, id, &path, &attrs, false))
        }
        "limits@openssh.com" => {
            let mut out = Vec::with_capacity(32);
            out.put_u64(u64::from(MAX_PACKET_BYTES));
            out.put_u64(u64::from(MAX_DATA_BYTES));
            out.put_u64(u64::from(MAX_DATA_BYTES));
            out.put_u64(MAX_OPEN_HANDLES as u64);
            reply_now(extended_reply(id, out))
        }
        "expand-path@openssh.com" => {
            let Some(path) = c.string() else {
                return reply_now(status::bad_message(id));
            };
            // `~` and `~user` are the box root: each account sees only its home.
            let expanded = match path.strip_prefix('~') {
                Some(rest) => match rest.find('/') {
                    Some(slash) => format!("/{}", rest.get(slash + 1..).unwrap_or("")),
                    None => "/".to_owned(),
                },
                None => path,
            };
            on_path_lane!(move || requests::real_path(&s, id, &expanded))
        }
        "home-directory" => reply_now(requests::single_name(id, "/")),
        "copy-data" => copy_data(session, c, id, cost),
        "check-file-name" => {
            let (Some(path), Some(request)) = (c.string(), CheckRequest::decode(&mut c)) else {
                return reply_now(status::bad_message(id));
            };
            on_path_lane!(move || {
                let opened = requests::path(&path).and_then(|p| {
                    s.jail.open_file(
                        &p,
                        &crate::jail::OpenOptions {
                            read: true,
                            ..crate::jail::OpenOptions::default()
                        },
                    )
                });
                match opened {
                    Ok(file) => check_file(id, &file, &request),
                    Err(err) => status::reply(id, &err),
                }
            })
        }
        // paramiko sends "check-file" with a handle.
        "check-file-handle" | "check-file" => {
            let Some(handle) = c.bytes() else {
                return reply_now(status::bad_message(id));
            };
            let Some(request) = CheckRequest::decode(&mut c) else {
                return reply_now(status::bad_message(id));
            };
            match session.handles.get(&handle) {
                Some(open) => open.lane.push(
                    Box::new(move || match &open.kind {
                        HandleKind::File(f) => check_file(id, &f.file, &request),
                        HandleKind::Dir(_) => status::reply(id, &JailError::IsADirectory),
                    }),
                    cost,
                ),
                None => reply_now(status::invalid_handle(id)),
            }
        }
        _ => reply_now(wire::status(
            id,
            StatusCode::OpUnsupported,
            &format!("extension {name} not supported"),
        )),
    }
}

/// Runs `job` on the lane of the handle named next in `c`.
fn with_handle(
    session: &Arc<Session>,
    _path_lane: &Lane,
    mut c: Cursor,
    id: u32,
    cost: usize,
    job: impl FnOnce(&Session, &HandleKind) -> Bytes + Send + 'static,
) {
    let Some(handle) = c.bytes() else {
        return session.reply(status::bad_message(id), cost);
    };
    match session.handles.get(&handle) {
        Some(open) => {
            let s = session.clone();
            let kind = open.kind.clone();
            open.lane.push(Box::new(move || job(&s, &kind)), cost);
        }
        None => session.reply(status::invalid_handle(id), cost),
    }
}

fn answer_unit(id: u32, result: Result<(), JailError>) -> Bytes {
    match result {
        Ok(()) => wire::ok(id),
        Err(err) => status::reply(id, &err),
    }
}

fn extended_reply(id: u32, data: Vec<u8>) -> Bytes {
    wire::encode(ExtendedReply { id, data }.into())
}

fn hard_link(session: &Session, id: u32, from: &str, to: &str) -> Bytes {
    let result = requests::path(from).and_then(|f| {
        let t = requests::path(to)?;
        session.jail.hard_link(&f, &t)
    });
    answer_unit(id, result)
}

/// statvfs@openssh.com: the filesystem as the quota shows it.
fn statvfs(session: &Session, id: u32, path: Option<&str>) -> Bytes {
    if let Some(path) = path
        && let Err(err) = requests::path(path).and_then(|p| session.jail.stat(&p))
    {
        return status::reply(id, &err);
    }
    match session.jail.fs_stats() {
        Ok(fs) => {
            let mut out = Vec::with_capacity(88);
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
            extended_reply(id, out)
        }
        Err(err) => status::reply(id, &err),
    }
}

/// copy-data: copies a range between two open files, inside the server.
fn copy_data(session: &Arc<Session>, mut c: Cursor, id: u32, cost: usize) {
    let (Some(from), Some(from_offset), Some(len), Some(to), Some(to_offset)) =
        (c.bytes(), c.u64(), c.u64(), c.bytes(), c.u64())
    else {
        return session.reply(status::bad_message(id), cost);
    };
    let (Some(source), Some(target)) = (session.handles.get(&from), session.handles.get(&to))
    else {
        return session.reply(status::invalid_handle(id), cost);
    };
    let (HandleKind::File(source), HandleKind::File(target_file)) =
        (source.kind, target.kind.clone())
    else {
        return session.reply(status::reply(id, &JailError::IsADirectory), cost);
    };
    target.lane.push(
        Box::new(move || {
            let mut buf = vec![0u8; MAX_DATA_BYTES as usize];
            let mut done: u64 = 0;
            loop {
                let want = if len == 0 {
                    buf.len()
                } else {
                    (len - done).min(buf.len() as u64) as usize
                };
                if want == 0 {
                    return wire::ok(id);
                }
                let Some(chunk) = buf.get_mut(..want) else {
                    return wire::ok(id);
                };
                let n = match source.file.read_at(chunk, from_offset.saturating_add(done)) {
                    Ok(0) => return wire::ok(id),
                    Ok(n) => n,
                    Err(err) => return status::reply(id, &err),
                };
                let Some(data) = buf.get(..n) else {
                    return wire::ok(id);
                };
                if let Err(err) = target_file
                    .file
                    .write_at(data, to_offset.saturating_add(done))
                {
                    return status::reply(id, &err);
                }
                source.count_read(n);
                target_file.count_written(n);
                done += n as u64;
            }
        }),
        cost,
    );
}

/// The arguments of check-file after the file itself.
struct CheckRequest {
    algorithms: String,
    start: u64,
    length: u64,
    block_size: u32,
}

impl CheckRequest {
    fn decode(c: &mut Cursor) -> Option<CheckRequest> {
        Some(CheckRequest {
            algorithms: c.string()?,
            start: c.u64()?,
            length: c.u64()?,
            block_size: c.u32()?,
        })
    }
}

/// check-file: hashes of a range of the file, whole or per block, so that a
/// client can verify a transfer (or the part to resume) without reading it.
fn check_file(id: u32, file: &JailFile, request: &CheckRequest) -> Bytes {
    let Some(algorithm) = request
        .algorithms
        .split(',')
        .map(str::trim)
        .find_map(canonical_algorithm)
    else {
        return wire::status(id, StatusCode::OpUnsupported, "no supported hash algorithm");
    };
    if request.block_size != 0 && request.block_size < MIN_CHECK_BLOCK_BYTES {
        return wire::status(id, StatusCode::Failure, "block size below 256 bytes");
    }
    let size = match file.stat() {
        Ok(st) => st.size,
        Err(err) => return status::reply(id, &err),
    };
    let end = if request.length == 0 {
        size
    } else {
        request.start.saturating_add(request.length).min(size)
    };
    let start = request.start.min(end);
    let block = if request.block_size == 0 {
        (end - start).max(1)
    } else {
        u64::from(request.block_size)
    };
    if (end - start).div_ceil(block) > MAX_CHECK_BLOCKS {
        return wire::status(id, StatusCode::Failure, "too many blocks for one reply");
    }
    let mut out = Vec::new();
    wire::put_string(&mut out, b"check-file");
    wire::put_string(&mut out, algorithm.as_bytes());
    let mut offset = start;
    loop {
        let block_end = offset.saturating_add(block).min(end);
        let digest = match algorithm {
            "md5" => hash_range::<md5::Md5>(file, offset, block_end),
            "sha1" => hash_range::<sha1::Sha1>(file, offset, block_end),
            "sha224" => hash_range::<sha2::Sha224>(file, offset, block_end),
            "sha256" => hash_range::<sha2::Sha256>(file, offset, block_end),
            "sha384" => hash_range::<sha2::Sha384>(file, offset, block_end),
            _ => hash_range::<sha2::Sha512>(file, offset, block_end),
        };
        match digest {
            Ok(d) => out.extend_from_slice(&d),
            Err(err) => return status::reply(id, &err),
        }
        offset = block_end;
        if offset >= end {
            break;
        }
    }
    extended_reply(id, out)
}

/// Our name for a client's algorithm name (IANA names such as `sha-256` too).
fn canonical_algorithm(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "md5" => Some("md5"),
        "sha1" | "sha-1" => Some("sha1"),
        "sha224" | "sha-224" => Some("sha224"),
        "sha256" | "sha-256" => Some("sha256"),
        "sha384" | "sha-384" => Some("sha384"),
        "sha512" | "sha-512" => Some("sha512"),
        _ => None,
    }
}

fn hash_range<D: Digest>(file: &JailFile, start: u64, end: u64) -> Result<Vec<u8>, JailError> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut offset = start;
    while offset < end {
        let want = ((end - offset) as usize).min(buf.len());
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        let n = file.read_at(chunk, offset)?;
        if n == 0 {
            break;
        }
        hasher.update(chunk.get(..n).unwrap_or_default());
        offset += n as u64;
    }
    Ok(hasher.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_and_plain_algorithm_names_are_both_understood() {
        assert_eq!(canonical_algorithm("SHA-256"), Some("sha256"));
        assert_eq!(canonical_algorithm("md5"), Some("md5"));
        assert_eq!(canonical_algorithm("crc32"), None);
    }
}
