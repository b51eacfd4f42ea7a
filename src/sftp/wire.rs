//! SFTP framing and the hot-path codec. Packets are read whole into one buffer;
//! READ and WRITE are decoded by hand so that write payloads stay slices of that
//! buffer (no per-byte copy) and DATA replies are built in place. Everything
//! else goes through russh-sftp's codec.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use russh_sftp::protocol::{Packet, Status, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest SFTP packet a client may send (OpenSSH's own bound, 256 KiB).
pub const MAX_PACKET_BYTES: u32 = 256 * 1024;

/// Largest READ or WRITE payload: a packet minus room for its header.
pub const MAX_DATA_BYTES: u32 = MAX_PACKET_BYTES - 1024;

/// SSH_FXP_READ.
pub const TYPE_READ: u8 = 5;
/// SSH_FXP_WRITE.
pub const TYPE_WRITE: u8 = 6;
/// SSH_FXP_DATA.
const TYPE_DATA: u8 = 103;

/// Why the packet stream cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The client closed the stream.
    #[error("end of stream")]
    Eof,
    /// A length field larger than [`MAX_PACKET_BYTES`] or zero.
    #[error("packet length {0} out of bounds")]
    BadLength(u32),
    /// The stream failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one length-prefixed packet (without its length).
pub async fn read_packet<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Bytes, WireError> {
    let len = match reader.read_u32().await {
        Ok(len) => len,
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Err(WireError::Eof),
        Err(err) => return Err(err.into()),
    };
    if len == 0 || len > MAX_PACKET_BYTES {
        return Err(WireError::BadLength(len));
    }
    let mut buf = BytesMut::zeroed(len as usize);
    reader.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}

/// A READ request, decoded without the codec.
pub struct ReadRequest {
    /// Request id.
    pub id: u32,
    /// The handle string.
    pub handle: Bytes,
    /// File offset.
    pub offset: u64,
    /// Bytes asked for (capped later at [`MAX_DATA_BYTES`]).
    pub len: u32,
}

/// A WRITE request whose payload is a slice of the packet buffer.
pub struct WriteRequest {
    /// Request id.
    pub id: u32,
    /// The handle string.
    pub handle: Bytes,
    /// File offset.
    pub offset: u64,
    /// The bytes to write.
    pub data: Bytes,
}

/// A reader over a request body that refuses to run past its end.
pub struct Cursor {
    buf: Bytes,
}

impl Cursor {
    /// A cursor over `buf`.
    pub fn new(buf: Bytes) -> Cursor {
        Cursor { buf }
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.buf.try_get_u32().ok()
    }

    /// A big-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.buf.try_get_u64().ok()
    }

    /// A length-prefixed string, as a slice of the packet.
    pub fn bytes(&mut self) -> Option<Bytes> {
        let len = self.u32()? as usize;
        if len > self.buf.remaining() {
            return None;
        }
        Some(self.buf.split_to(len))
    }

    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    /// What is left unread.
    pub fn rest(self) -> Bytes {
        self.buf
    }
}

/// Decodes the body of a READ (after the type byte); `None` if malformed.
pub fn decode_read(body: Bytes) -> Option<ReadRequest> {
    let mut c = Cursor::new(body);
    Some(ReadRequest {
        id: c.u32()?,
        handle: c.bytes()?,
        offset: c.u64()?,
        len: c.u32()?,
    })
}

/// Decodes the body of a WRITE (after the type byte); `None` if malformed.
pub fn decode_write(body: Bytes) -> Option<WriteRequest> {
    let mut c = Cursor::new(body);
    Some(WriteRequest {
        id: c.u32()?,
        handle: c.bytes()?,
        offset: c.u64()?,
        data: c.bytes()?,
    })
}

/// Appends an SSH string to `out`.
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.put_u32(s.len() as u32);
    out.put_slice(s);
}

/// The request id of any request body (after the type byte), if it has one.
pub fn peek_id(body: &[u8]) -> u32 {
    match body.get(..4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// A DATA reply with room for `len` payload bytes, which the caller fills
/// through [`DataReply::payload_mut`].
pub struct DataReply {
    buf: Vec<u8>,
}

/// Bytes before a DATA payload: length, type, id, payload length.
const DATA_HEADER_BYTES: usize = 4 + 1 + 4 + 4;

impl DataReply {
    /// A reply to request `id` able to carry `len` bytes.
    pub fn new(id: u32, len: usize) -> DataReply {
        let mut buf = vec![0u8; DATA_HEADER_BYTES + len];
        if let Some(header) = buf.get_mut(..DATA_HEADER_BYTES) {
            let mut header = header;
            header.put_u32(0);
            header.put_u8(TYPE_DATA);
            header.put_u32(id);
            header.put_u32(0);
        }
        DataReply { buf }
    }

    /// The payload area.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(DATA_HEADER_BYTES..).unwrap_or_default()
    }

    /// Finishes the reply with the first `filled` payload bytes.
    pub fn finish(mut self, filled: usize) -> Bytes {
        let filled = filled.min(self.buf.len() - DATA_HEADER_BYTES);
        self.buf.truncate(DATA_HEADER_BYTES + filled);
        let packet_len = (self.buf.len() - 4) as u32;
        if let Some(mut len_field) = self.buf.get_mut(..4) {
            len_field.put_u32(packet_len);
        }
        if let Some(mut payload_len) = self.buf.get_mut(9..13) {
            payload_len.put_u32(filled as u32);
        }
        Bytes::from(self.buf)
    }
}

/// Encodes a reply packet with russh-sftp's codec, length included.
pub fn encode(packet: Packet) -> Bytes {
    let id = packet.get_request_id();
    match Bytes::try_from(packet) {
        Ok(bytes) => bytes,
        // Encoding our own replies cannot fail short of a codec bug; answer something valid.
        Err(_) => status(id, StatusCode::Failure, "reply could not be encoded"),
    }
}

/// A STATUS reply.
pub fn status(id: u32, code: StatusCode, message: &str) -> Bytes {
    let packet = Packet::Status(Status {
        id,
        status_code: code,
        error_message: message.to_owned(),
        language_tag: "en".to_owned(),
    });
    Bytes::try_from(packet).unwrap_or_default()
}

/// The OK status.
pub fn ok(id: u32) -> Bytes {
    status(id, StatusCode::Ok, "ok")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_reply_carries_exactly_the_filled_bytes() {
        let mut reply = DataReply::new(7, 10);
        reply.payload_mut()[..3].copy_from_slice(b"abc");
        let bytes = reply.finish(3);
        let mut b = bytes.clone();
        assert_eq!(b.get_u32(), 1 + 4 + 4 + 3);
        assert_eq!(b.get_u8(), TYPE_DATA);
        assert_eq!(b.get_u32(), 7);
        assert_eq!(b.get_u32(), 3);
        assert_eq!(&b[..], b"abc");
        let mut body = bytes.slice(4..);
        assert!(matches!(Packet::try_from(&mut body), Ok(Packet::Data(d)) if d.data == b"abc"));
    }

    #[test]
    fn a_write_with_a_lying_length_is_malformed() {
        let mut body = BytesMut::new();
        body.put_u32(1);
        body.put_u32(1);
        body.put_u8(b'h');
        body.put_u64(0);
        body.put_u32(1000);
        body.put_slice(b"short");
        assert!(decode_write(body.freeze()).is_none());
    }

    #[test]
    fn a_write_payload_is_a_slice_of_the_packet() {
        let mut body = BytesMut::new();
        body.put_u32(9);
        body.put_u32(2);
        body.put_slice(b"h1");
        body.put_u64(42);
        body.put_u32(4);
        body.put_slice(b"data");
        let write = decode_write(body.freeze()).unwrap();
        assert_eq!(
            (write.id, &write.handle[..], write.offset, &write.data[..]),
            (9, &b"h1"[..], 42, &b"data"[..])
        );
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_allocating() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(
            read_packet(&mut input).await,
            Err(WireError::BadLength(_))
        ));
    }
}
