//! Our SFTP v3 codec: framing, every request decoded into our own types, and
//! the replies encoded ready to write.
//!
//! Names are bytes. Every path, file name, link target and handle a request
//! carries is a [`Bytes`] slice of the packet buffer, never a `String`: a
//! name that is not UTF-8 reaches the dispatcher exactly as the client sent
//! it, and two names that differ in one byte stay two names. The slices also
//! make decoding zero-copy, which matters most for WRITE, whose payload goes
//! to `pwrite` straight from the packet the reader filled.
//!
//! Decoding never panics and never allocates by a length the client wrote:
//! the packet length meets [`MAX_PACKET_BYTES`] before its buffer exists, and
//! every string length or count inside is checked against the bytes that are
//! really there. A malformed request is a [`DecodeError`] carrying the request
//! id when one could be read, so that the client gets a BAD_MESSAGE it can
//! match. Bytes after a well-formed request are ignored, as OpenSSH's
//! sftp-server ignores them.
//!
//! The codec decides nothing: SYMLINK's two paths stay in wire order, the
//! check-file algorithm list stays as sent, unknown packet types and
//! extensions are values the dispatcher answers. russh-sftp is the reference
//! for the constants ([`StatusCode`], [`OpenFlags`], the attribute flags) and
//! the test oracle, not the decoder.
//!
//! [`StatusCode`]: russh_sftp::protocol::StatusCode
//! [`OpenFlags`]: russh_sftp::protocol::OpenFlags

mod attrs;
mod extension;
pub mod reply;
mod request;
#[cfg(test)]
mod tests;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

pub use attrs::{Attrs, Owner, Times};
pub use extension::{CheckFile, Extension};
pub use reply::{DataReply, NameReply};
pub use request::{Request, decode};

/// Largest SFTP packet a client may send (OpenSSH's own bound, 256 KiB).
pub const MAX_PACKET_BYTES: u32 = 256 * 1024;

/// Largest READ or WRITE payload: a packet minus room for its header.
pub const MAX_DATA_BYTES: u32 = MAX_PACKET_BYTES - 1024;

/// SFTP packet type numbers (draft-ietf-secsh-filexfer-02 §3, the same
/// numbers russh-sftp uses).
pub mod packet_type {
    /// SSH_FXP_INIT.
    pub const INIT: u8 = 1;
    /// SSH_FXP_VERSION.
    pub const VERSION: u8 = 2;
    /// SSH_FXP_OPEN.
    pub const OPEN: u8 = 3;
    /// SSH_FXP_CLOSE.
    pub const CLOSE: u8 = 4;
    /// SSH_FXP_READ.
    pub const READ: u8 = 5;
    /// SSH_FXP_WRITE.
    pub const WRITE: u8 = 6;
    /// SSH_FXP_LSTAT.
    pub const LSTAT: u8 = 7;
    /// SSH_FXP_FSTAT.
    pub const FSTAT: u8 = 8;
    /// SSH_FXP_SETSTAT.
    pub const SETSTAT: u8 = 9;
    /// SSH_FXP_FSETSTAT.
    pub const FSETSTAT: u8 = 10;
    /// SSH_FXP_OPENDIR.
    pub const OPENDIR: u8 = 11;
    /// SSH_FXP_READDIR.
    pub const READDIR: u8 = 12;
    /// SSH_FXP_REMOVE.
    pub const REMOVE: u8 = 13;
    /// SSH_FXP_MKDIR.
    pub const MKDIR: u8 = 14;
    /// SSH_FXP_RMDIR.
    pub const RMDIR: u8 = 15;
    /// SSH_FXP_REALPATH.
    pub const REALPATH: u8 = 16;
    /// SSH_FXP_STAT.
    pub const STAT: u8 = 17;
    /// SSH_FXP_RENAME.
    pub const RENAME: u8 = 18;
    /// SSH_FXP_READLINK.
    pub const READLINK: u8 = 19;
    /// SSH_FXP_SYMLINK.
    pub const SYMLINK: u8 = 20;
    /// SSH_FXP_STATUS.
    pub const STATUS: u8 = 101;
    /// SSH_FXP_HANDLE.
    pub const HANDLE: u8 = 102;
    /// SSH_FXP_DATA.
    pub const DATA: u8 = 103;
    /// SSH_FXP_NAME.
    pub const NAME: u8 = 104;
    /// SSH_FXP_ATTRS.
    pub const ATTRS: u8 = 105;
    /// SSH_FXP_EXTENDED.
    pub const EXTENDED: u8 = 200;
    /// SSH_FXP_EXTENDED_REPLY.
    pub const EXTENDED_REPLY: u8 = 201;
}

/// Why the packet stream cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The client closed the stream between packets.
    #[error("end of stream")]
    Eof,
    /// A length field of zero or larger than [`MAX_PACKET_BYTES`].
    #[error("packet length {0} out of bounds")]
    BadLength(u32),
    /// The stream failed, or ended inside a packet.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one length-prefixed packet and returns it without its length (type
/// byte first). The length is checked before the buffer is allocated.
pub async fn read_packet<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Bytes, FrameError> {
    let len = match reader.read_u32().await {
        Ok(len) => len,
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Eof),
        Err(err) => return Err(err.into()),
    };
    if len == 0 || len > MAX_PACKET_BYTES {
        return Err(FrameError::BadLength(len));
    }
    let mut buf = BytesMut::zeroed(len as usize);
    reader.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}

/// What is wrong with a malformed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The packet has no type byte.
    #[error("empty packet")]
    Empty,
    /// A field, or a string its length announces, runs past the packet's end.
    #[error("truncated")]
    Truncated,
    /// A count announces more items than the packet could hold.
    #[error("count larger than the packet")]
    CountTooLarge,
}

/// A request that could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed request of type {packet_type:?}: {what}")]
pub struct DecodeError {
    /// The request id, when the packet got that far (INIT has none).
    pub id: Option<u32>,
    /// The packet type byte, when there was one.
    pub packet_type: Option<u8>,
    /// What is wrong.
    pub what: Malformed,
}

/// Appends an SSH string (u32 length, then the bytes) to `out`.
pub fn put_string(out: &mut impl BufMut, s: &[u8]) {
    out.put_u32(s.len() as u32);
    out.put_slice(s);
}

/// A reader over a packet that refuses to run past its end. Strings come
/// out as slices of the packet.
struct Cursor {
    buf: Bytes,
}

impl Cursor {
    fn new(buf: Bytes) -> Cursor {
        Cursor { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        self.buf.try_get_u8().map_err(|_| Malformed::Truncated)
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        self.buf.try_get_u32().map_err(|_| Malformed::Truncated)
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        self.buf.try_get_u64().map_err(|_| Malformed::Truncated)
    }

    /// A length-prefixed string. The length is checked against what is
    /// left before anything is sliced, so a lying length costs nothing.
    fn string(&mut self) -> Result<Bytes, Malformed> {
        let len = usize::try_from(self.u32()?).map_err(|_| Malformed::Truncated)?;
        if len > self.buf.len() {
            return Err(Malformed::Truncated);
        }
        Ok(self.buf.split_to(len))
    }
}
