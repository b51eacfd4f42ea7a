//! Reply encoders. Each returns one whole packet, length prefix included,
//! ready for the writer. DATA replies are built in place so that `pread`
//! fills the packet itself; NAME replies are built entry by entry, names as
//! raw bytes.

use bytes::{BufMut, Bytes, BytesMut};
use russh_sftp::protocol::StatusCode;

use super::{Attrs, packet_type, put_string};

/// The protocol version we speak.
pub const PROTOCOL_VERSION: u32 = 3;

/// Bytes before the body of any reply: length and type.
const FRAME_HEADER_BYTES: usize = 4 + 1;

/// Bytes before a DATA payload: length, type, id, payload length.
const DATA_HEADER_BYTES: usize = FRAME_HEADER_BYTES + 4 + 4;

/// Where NAME's entry count sits: after length, type and id.
const NAME_COUNT_OFFSET: usize = FRAME_HEADER_BYTES + 4;

/// A packet of `kind` with room for `body` more bytes; its length is
/// written by [`finish`].
fn start(kind: u8, body: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(FRAME_HEADER_BYTES + body);
    buf.put_u32(0);
    buf.put_u8(kind);
    buf
}

/// Writes the length prefix and freezes the packet.
fn finish(mut buf: BytesMut) -> Bytes {
    let len = (buf.len() - 4) as u32;
    if let Some(prefix) = buf.get_mut(..4) {
        prefix.copy_from_slice(&len.to_be_bytes());
    }
    buf.freeze()
}

/// SSH_FXP_VERSION: our version and the extensions we offer, as
/// (name, data) pairs.
pub fn version(extensions: &[(&str, &str)]) -> Bytes {
    let pairs: usize = extensions.iter().map(|(n, d)| 8 + n.len() + d.len()).sum();
    let mut buf = start(packet_type::VERSION, 4 + pairs);
    buf.put_u32(PROTOCOL_VERSION);
    for (name, data) in extensions {
        put_string(&mut buf, name.as_bytes());
        put_string(&mut buf, data.as_bytes());
    }
    finish(buf)
}

/// SSH_FXP_HANDLE.
pub fn handle(id: u32, handle: &[u8]) -> Bytes {
    let mut buf = start(packet_type::HANDLE, 8 + handle.len());
    buf.put_u32(id);
    put_string(&mut buf, handle);
    finish(buf)
}

/// SSH_FXP_STATUS with its code, message and the message's language tag.
pub fn status(id: u32, code: StatusCode, message: &str, language_tag: &str) -> Bytes {
    let mut buf = start(packet_type::STATUS, 16 + message.len() + language_tag.len());
    buf.put_u32(id);
    buf.put_u32(code as u32);
    put_string(&mut buf, message.as_bytes());
    put_string(&mut buf, language_tag.as_bytes());
    finish(buf)
}

/// SSH_FXP_ATTRS.
pub fn attrs(id: u32, attrs: &Attrs) -> Bytes {
    let mut buf = start(packet_type::ATTRS, 4 + attrs.encoded_len());
    buf.put_u32(id);
    attrs.encode(&mut buf);
    finish(buf)
}

/// SSH_FXP_EXTENDED_REPLY carrying `data` as the extension defines it.
pub fn extended(id: u32, data: &[u8]) -> Bytes {
    let mut buf = start(packet_type::EXTENDED_REPLY, 4 + data.len());
    buf.put_u32(id);
    buf.put_slice(data);
    finish(buf)
}

/// An SSH_FXP_DATA reply with room for `len` payload bytes, which the caller
/// fills in place through [`DataReply::payload_mut`]: the file is read
/// straight into the packet.
pub struct DataReply {
    buf: Vec<u8>,
}

impl DataReply {
    /// A reply to request `id` able to carry `len` bytes (the caller bounds
    /// `len`, e.g. by [`super::MAX_DATA_BYTES`]).
    pub fn new(id: u32, len: usize) -> DataReply {
        let mut buf = vec![0u8; DATA_HEADER_BYTES + len];
        if let Some(mut header) = buf.get_mut(..DATA_HEADER_BYTES) {
            header.put_u32(0);
            header.put_u8(packet_type::DATA);
            header.put_u32(id);
            header.put_u32(0);
        }
        DataReply { buf }
    }

    /// Payload bytes the reply has room for now.
    pub fn capacity(&self) -> usize {
        self.buf.len() - DATA_HEADER_BYTES
    }

    /// Makes room for `len` payload bytes in all, keeping those already in.
    pub fn grow_to(&mut self, len: usize) {
        if len > self.capacity() {
            self.buf.resize(DATA_HEADER_BYTES + len, 0);
        }
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
        if let Some(mut payload_len) = self.buf.get_mut(DATA_HEADER_BYTES - 4..DATA_HEADER_BYTES) {
            payload_len.put_u32(filled as u32);
        }
        Bytes::from(self.buf)
    }
}

/// An SSH_FXP_NAME reply built one entry at a time; the count is written by
/// [`NameReply::finish`].
pub struct NameReply {
    buf: BytesMut,
    count: u32,
}

impl NameReply {
    /// An empty NAME reply to request `id`.
    pub fn new(id: u32) -> NameReply {
        let mut buf = start(packet_type::NAME, 8);
        buf.put_u32(id);
        buf.put_u32(0);
        NameReply { buf, count: 0 }
    }

    /// Adds an entry: the name exactly as stored, its long form (`ls -l`
    /// style; clients such as FileZilla parse it) and its attributes.
    pub fn push(&mut self, filename: &[u8], longname: &[u8], attrs: &Attrs) {
        self.buf
            .reserve(8 + filename.len() + longname.len() + attrs.encoded_len());
        put_string(&mut self.buf, filename);
        put_string(&mut self.buf, longname);
        attrs.encode(&mut self.buf);
        self.count += 1;
    }

    /// Entries added so far.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// The finished packet.
    pub fn finish(mut self) -> Bytes {
        if let Some(mut count) = self.buf.get_mut(NAME_COUNT_OFFSET..NAME_COUNT_OFFSET + 4) {
            count.put_u32(self.count);
        }
        finish(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use russh_sftp::protocol::Packet;

    use super::super::{Cursor, Owner, Times};
    use super::*;

    /// Checks the length prefix and decodes the packet with russh-sftp,
    /// which must consume it exactly.
    fn parsed(reply: &Bytes) -> Packet {
        let len = u32::from_be_bytes(reply[..4].try_into().unwrap()) as usize;
        assert_eq!(len, reply.len() - 4, "length prefix");
        let mut body = reply.slice(4..);
        let packet = Packet::try_from(&mut body).unwrap();
        assert!(body.is_empty(), "{} bytes left over", body.len());
        packet
    }

    fn sample_attrs() -> Attrs {
        Attrs {
            size: Some(4096),
            owner: Some(Owner { uid: 7, gid: 8 }),
            permissions: Some(0o040755),
            times: Some(Times {
                atime: 11,
                mtime: 12,
            }),
            extended: Vec::new(),
        }
    }

    #[test]
    fn a_version_reply_carries_every_extension_pair() {
        let reply = version(&[
            ("posix-rename@openssh.com", "1"),
            ("check-file-name", "md5,sha1"),
        ]);
        let Packet::Version(v) = parsed(&reply) else {
            panic!("not a version")
        };
        assert_eq!(v.version, 3);
        let expected: HashMap<String, String> = [
            ("posix-rename@openssh.com".into(), "1".into()),
            ("check-file-name".into(), "md5,sha1".into()),
        ]
        .into();
        assert_eq!(v.extensions, expected);
    }

    #[test]
    fn a_handle_reply_carries_the_handle() {
        let Packet::Handle(h) = parsed(&handle(9, b"42")) else {
            panic!("not a handle")
        };
        assert_eq!((h.id, h.handle.as_str()), (9, "42"));
    }

    #[test]
    fn a_status_reply_carries_code_message_and_language_for_every_code() {
        for code in [
            StatusCode::Ok,
            StatusCode::Eof,
            StatusCode::NoSuchFile,
            StatusCode::PermissionDenied,
            StatusCode::Failure,
            StatusCode::BadMessage,
            StatusCode::OpUnsupported,
        ] {
            let Packet::Status(s) = parsed(&status(5, code, "quota exceeded", "en")) else {
                panic!("not a status")
            };
            assert_eq!(s.id, 5);
            assert_eq!(s.status_code, code);
            assert_eq!(s.error_message, "quota exceeded");
            assert_eq!(s.language_tag, "en");
        }
    }

    #[test]
    fn a_data_reply_carries_exactly_the_filled_bytes() {
        let mut reply = DataReply::new(7, 10);
        reply.payload_mut()[..3].copy_from_slice(b"abc");
        let bytes = reply.finish(3);
        assert_eq!(bytes.len(), DATA_HEADER_BYTES + 3);
        let Packet::Data(d) = parsed(&bytes) else {
            panic!("not data")
        };
        assert_eq!((d.id, &d.data[..]), (7, &b"abc"[..]));
    }

    #[test]
    fn a_data_reply_cannot_claim_more_than_its_room() {
        let mut reply = DataReply::new(1, 2);
        reply.payload_mut().copy_from_slice(b"xy");
        let Packet::Data(d) = parsed(&reply.finish(1000)) else {
            panic!("not data")
        };
        assert_eq!(d.data, b"xy");
    }

    #[test]
    fn a_name_reply_carries_every_entry_in_order() {
        let mut reply = NameReply::new(3);
        reply.push(
            b"a.txt",
            b"-rw-r--r-- 1 u u 1 Jan  1  1970 a.txt",
            &sample_attrs(),
        );
        reply.push(b"b", b"b", &Attrs::default());
        assert_eq!(reply.count(), 2);
        let Packet::Name(n) = parsed(&reply.finish()) else {
            panic!("not a name")
        };
        assert_eq!(n.id, 3);
        assert_eq!(n.files.len(), 2);
        assert_eq!(n.files[0].filename, "a.txt");
        assert_eq!(n.files[0].longname, "-rw-r--r-- 1 u u 1 Jan  1  1970 a.txt");
        let a = &n.files[0].attrs;
        assert_eq!(
            (a.size, a.uid, a.gid, a.permissions, a.atime, a.mtime),
            (
                Some(4096),
                Some(7),
                Some(8),
                Some(0o040755),
                Some(11),
                Some(12)
            )
        );
        assert_eq!(n.files[1].filename, "b");
        assert_eq!(n.files[1].attrs.size, None);
    }

    #[test]
    fn an_empty_name_reply_is_valid() {
        let Packet::Name(n) = parsed(&NameReply::new(4).finish()) else {
            panic!("not a name")
        };
        assert!(n.files.is_empty());
    }

    #[test]
    fn non_utf8_names_go_out_byte_for_byte() {
        let mut reply = NameReply::new(1);
        reply.push(b"a\xfe", b"-rw-r--r-- a\\376", &Attrs::default());
        reply.push(b"a\xff", b"-rw-r--r-- a\\377", &Attrs::default());
        let mut c = Cursor::new(reply.finish().slice(4..));
        assert_eq!(c.u8(), Ok(packet_type::NAME));
        assert_eq!(c.u32(), Ok(1));
        assert_eq!(c.u32(), Ok(2));
        for (name, long) in [
            (b"a\xfe", b"-rw-r--r-- a\\376"),
            (b"a\xff", b"-rw-r--r-- a\\377"),
        ] {
            assert_eq!(&c.string().unwrap()[..], name);
            assert_eq!(&c.string().unwrap()[..], long);
            assert_eq!(Attrs::decode(&mut c), Ok(Attrs::default()));
        }
        assert!(c.is_empty());
    }

    #[test]
    fn an_attrs_reply_carries_every_field() {
        let Packet::Attrs(a) = parsed(&attrs(6, &sample_attrs())) else {
            panic!("not attrs")
        };
        assert_eq!(a.id, 6);
        let a = a.attrs;
        assert_eq!(
            (a.size, a.uid, a.gid, a.permissions, a.atime, a.mtime),
            (
                Some(4096),
                Some(7),
                Some(8),
                Some(0o040755),
                Some(11),
                Some(12)
            )
        );
    }

    #[test]
    fn an_extended_reply_carries_its_data_unframed() {
        let Packet::ExtendedReply(r) = parsed(&extended(8, b"\0\0\0\x01xyz")) else {
            panic!("not an extended reply")
        };
        assert_eq!((r.id, &r.data[..]), (8, &b"\0\0\0\x01xyz"[..]));
    }
}
