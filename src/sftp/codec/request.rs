//! The SFTP v3 requests as our own types, and their decoding. Every name,
//! path, link target and handle is a slice of the packet buffer.

use bytes::Bytes;
use russh_sftp::protocol::OpenFlags;

use super::{Attrs, Cursor, DecodeError, Extension, Malformed, packet_type};

/// One SFTP v3 request. Every name, path, link target and handle is the raw
/// bytes the client sent, a slice of the packet buffer.
#[derive(Debug, Clone)]
pub enum Request {
    /// SSH_FXP_INIT: the client's version and any extension pairs it sent.
    Init {
        /// The highest protocol version the client speaks.
        version: u32,
        /// (name, data) pairs, in the order sent.
        extensions: Vec<(Bytes, Bytes)>,
    },
    /// SSH_FXP_OPEN.
    Open {
        /// Request id.
        id: u32,
        /// The file to open.
        filename: Bytes,
        /// READ, WRITE, APPEND, CREATE, TRUNCATE, EXCLUDE; unknown bits kept.
        flags: OpenFlags,
        /// Attributes for a file it creates.
        attrs: Attrs,
    },
    /// SSH_FXP_CLOSE.
    Close {
        /// Request id.
        id: u32,
        /// The handle to close.
        handle: Bytes,
    },
    /// SSH_FXP_READ.
    Read {
        /// Request id.
        id: u32,
        /// The file handle.
        handle: Bytes,
        /// Where to read from.
        offset: u64,
        /// Bytes asked for, as sent (the dispatcher caps it).
        len: u32,
    },
    /// SSH_FXP_WRITE.
    Write {
        /// Request id.
        id: u32,
        /// The file handle.
        handle: Bytes,
        /// Where to write.
        offset: u64,
        /// The bytes to write: a slice of the packet, not a copy.
        data: Bytes,
    },
    /// SSH_FXP_LSTAT: attributes of a path, not following a final symlink.
    Lstat {
        /// Request id.
        id: u32,
        /// The path.
        path: Bytes,
    },
    /// SSH_FXP_FSTAT.
    Fstat {
        /// Request id.
        id: u32,
        /// The handle.
        handle: Bytes,
    },
    /// SSH_FXP_SETSTAT.
    SetStat {
        /// Request id.
        id: u32,
        /// The path.
        path: Bytes,
        /// What to change.
        attrs: Attrs,
    },
    /// SSH_FXP_FSETSTAT.
    FSetStat {
        /// Request id.
        id: u32,
        /// The handle.
        handle: Bytes,
        /// What to change.
        attrs: Attrs,
    },
    /// SSH_FXP_OPENDIR.
    OpenDir {
        /// Request id.
        id: u32,
        /// The directory.
        path: Bytes,
    },
    /// SSH_FXP_READDIR.
    ReadDir {
        /// Request id.
        id: u32,
        /// The directory handle.
        handle: Bytes,
    },
    /// SSH_FXP_REMOVE.
    Remove {
        /// Request id.
        id: u32,
        /// The file to remove.
        filename: Bytes,
    },
    /// SSH_FXP_MKDIR.
    MkDir {
        /// Request id.
        id: u32,
        /// The directory to create.
        path: Bytes,
        /// Its attributes.
        attrs: Attrs,
    },
    /// SSH_FXP_RMDIR.
    RmDir {
        /// Request id.
        id: u32,
        /// The directory to remove.
        path: Bytes,
    },
    /// SSH_FXP_REALPATH.
    RealPath {
        /// Request id.
        id: u32,
        /// The path to canonicalize.
        path: Bytes,
    },
    /// SSH_FXP_STAT: attributes of a path, following symlinks.
    Stat {
        /// Request id.
        id: u32,
        /// The path.
        path: Bytes,
    },
    /// SSH_FXP_RENAME.
    Rename {
        /// Request id.
        id: u32,
        /// The existing path (oldpath).
        from: Bytes,
        /// The new path (newpath).
        to: Bytes,
    },
    /// SSH_FXP_READLINK.
    ReadLink {
        /// Request id.
        id: u32,
        /// The symlink.
        path: Bytes,
    },
    /// SSH_FXP_SYMLINK, its two paths in wire order. The draft sends
    /// linkpath then targetpath; OpenSSH and the clients that follow it send
    /// the target first. Which is which is the dispatcher's decision.
    Symlink {
        /// Request id.
        id: u32,
        /// The first path on the wire.
        first: Bytes,
        /// The second path on the wire.
        second: Bytes,
    },
    /// SSH_FXP_EXTENDED, its payload decoded.
    Extended {
        /// Request id.
        id: u32,
        /// The extension and its arguments.
        extension: Extension,
    },
    /// A packet type that is not a request we know (replies included).
    Unknown {
        /// Request id.
        id: u32,
        /// The packet type byte.
        packet_type: u8,
    },
}

/// Decodes one packet as [`read_packet`](super::read_packet) returns it (type byte first).
pub fn decode(packet: Bytes) -> Result<Request, DecodeError> {
    let mut c = Cursor::new(packet);
    let Ok(kind) = c.u8() else {
        return Err(DecodeError {
            id: None,
            packet_type: None,
            what: Malformed::Empty,
        });
    };
    let error = |id| {
        move |what| DecodeError {
            id,
            packet_type: Some(kind),
            what,
        }
    };
    if kind == packet_type::INIT {
        return decode_init(&mut c).map_err(error(None));
    }
    let id = c.u32().map_err(error(None))?;
    decode_request(kind, id, &mut c).map_err(error(Some(id)))
}

fn decode_init(c: &mut Cursor) -> Result<Request, Malformed> {
    let version = c.u32()?;
    // Pairs until the end: the packet's own length bounds how many.
    let mut extensions = Vec::new();
    while !c.is_empty() {
        extensions.push((c.string()?, c.string()?));
    }
    Ok(Request::Init {
        version,
        extensions,
    })
}

fn decode_request(kind: u8, id: u32, c: &mut Cursor) -> Result<Request, Malformed> {
    use packet_type as t;
    // Struct fields are evaluated in the order written, which is wire order.
    Ok(match kind {
        t::OPEN => Request::Open {
            id,
            filename: c.string()?,
            flags: OpenFlags::from_bits_retain(c.u32()?),
            attrs: Attrs::decode(c)?,
        },
        t::CLOSE => Request::Close {
            id,
            handle: c.string()?,
        },
        t::READ => Request::Read {
            id,
            handle: c.string()?,
            offset: c.u64()?,
            len: c.u32()?,
        },
        t::WRITE => Request::Write {
            id,
            handle: c.string()?,
            offset: c.u64()?,
            data: c.string()?,
        },
        t::LSTAT => Request::Lstat {
            id,
            path: c.string()?,
        },
        t::FSTAT => Request::Fstat {
            id,
            handle: c.string()?,
        },
        t::SETSTAT => Request::SetStat {
            id,
            path: c.string()?,
            attrs: Attrs::decode(c)?,
        },
        t::FSETSTAT => Request::FSetStat {
            id,
            handle: c.string()?,
            attrs: Attrs::decode(c)?,
        },
        t::OPENDIR => Request::OpenDir {
            id,
            path: c.string()?,
        },
        t::READDIR => Request::ReadDir {
            id,
            handle: c.string()?,
        },
        t::REMOVE => Request::Remove {
            id,
            filename: c.string()?,
        },
        t::MKDIR => Request::MkDir {
            id,
            path: c.string()?,
            attrs: Attrs::decode(c)?,
        },
        t::RMDIR => Request::RmDir {
            id,
            path: c.string()?,
        },
        t::REALPATH => Request::RealPath {
            id,
            path: c.string()?,
        },
        t::STAT => Request::Stat {
            id,
            path: c.string()?,
        },
        t::RENAME => Request::Rename {
            id,
            from: c.string()?,
            to: c.string()?,
        },
        t::READLINK => Request::ReadLink {
            id,
            path: c.string()?,
        },
        t::SYMLINK => Request::Symlink {
            id,
            first: c.string()?,
            second: c.string()?,
        },
        t::EXTENDED => Request::Extended {
            id,
            extension: Extension::decode(c)?,
        },
        packet_type => Request::Unknown { id, packet_type },
    })
}
