//! The SFTP request decoder under fuzzing: a packet as `read_packet` hands
//! it over (type byte first, length already checked) goes through
//! `codec::decode`, and what comes out is checked against the wire.
//!
//! The codec encodes only replies, so this file carries the other half: the
//! canonical encoding of every [`Request`], written from the draft and
//! OpenSSH's PROTOCOL file, field by field in wire order. It exists to check
//! the decoder and nothing sends it.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Violation, violation};
use crate::sftp::codec::{
    self, Attrs, CheckFile, DecodeError, Extension, MAX_PACKET_BYTES, Request, packet_type,
    put_string,
};

/// Decodes `input` as one SFTP packet. Whatever the bytes:
/// - a refusal carries the packet type when there is one, and the request
///   id when the packet reaches past it (never for INIT, which has none),
///   so that the client's BAD_MESSAGE names the request it sent;
/// - a request that decodes carries the id the packet starts with, and its
///   canonical encoding decodes to the same request, is no longer than the
///   packet, and is the packet's own beginning unless the wire has another
///   spelling for the request (an attribute flag word with bits v3 does
///   not define or an empty extended list, `check-file` for
///   `check-file-handle`). Bytes after a request are ignored, so a prefix
///   is all the decoder may have read.
///
/// Inputs longer than [`MAX_PACKET_BYTES`] are skipped: framing refuses
/// them before they reach the decoder.
pub fn sftp_request(input: &[u8]) -> Result<(), Violation> {
    if input.len() > MAX_PACKET_BYTES as usize {
        return Ok(());
    }
    let packet = Bytes::copy_from_slice(input);
    match codec::decode(packet.clone()) {
        Err(err) => refusal_names_the_request(&packet, &err),
        Ok(request) => request_matches_the_wire(&packet, &request),
    }
}

/// The id the packet carries after its type byte, when it is long enough
/// and is not INIT.
fn wire_id(packet: &[u8]) -> Option<u32> {
    match packet {
        [kind, a, b, c, d, ..] if *kind != packet_type::INIT => {
            Some(u32::from_be_bytes([*a, *b, *c, *d]))
        }
        _ => None,
    }
}

fn refusal_names_the_request(packet: &[u8], err: &DecodeError) -> Result<(), Violation> {
    if err.packet_type != packet.first().copied() {
        return violation(format!("{err:?} for a packet of type {:?}", packet.first()));
    }
    if err.id != wire_id(packet) {
        return violation(format!(
            "{err:?} for a packet whose id is {:?}",
            wire_id(packet)
        ));
    }
    Ok(())
}

fn request_matches_the_wire(packet: &Bytes, request: &Request) -> Result<(), Violation> {
    let id = match request {
        Request::Init { .. } => None,
        other => Some(request_id(other)),
    };
    if id != wire_id(packet) {
        return violation(format!(
            "{request:?} decoded from a packet whose id is {:?}",
            wire_id(packet)
        ));
    }
    let canonical = encode(request).freeze();
    let spelling = spelling(request);
    if spelling != Spelling::Alias && canonical.len() > packet.len() {
        return violation(format!(
            "{request:?} is {} bytes encoded, decoded from {}",
            canonical.len(),
            packet.len()
        ));
    }
    // Requests have no `==` (russh-sftp's `OpenFlags` lacks one); the
    // canonical encoding writes every field, so equal encodings are equal
    // requests.
    match codec::decode(canonical.clone()) {
        Ok(again) if encode(&again) == canonical => {}
        other => {
            return violation(format!(
                "{request:?} is encoded as {canonical:?}, which decodes as {other:?}"
            ));
        }
    }
    if spelling == Spelling::One && !packet.starts_with(&canonical) {
        return violation(format!(
            "{request:?} is encoded as {canonical:?}, not as the packet {packet:?} begins"
        ));
    }
    Ok(())
}

fn request_id(request: &Request) -> u32 {
    match request {
        Request::Init { .. } => 0,
        Request::Open { id, .. }
        | Request::Close { id, .. }
        | Request::Read { id, .. }
        | Request::Write { id, .. }
        | Request::Lstat { id, .. }
        | Request::Fstat { id, .. }
        | Request::SetStat { id, .. }
        | Request::FSetStat { id, .. }
        | Request::OpenDir { id, .. }
        | Request::ReadDir { id, .. }
        | Request::Remove { id, .. }
        | Request::MkDir { id, .. }
        | Request::RmDir { id, .. }
        | Request::RealPath { id, .. }
        | Request::Stat { id, .. }
        | Request::Rename { id, .. }
        | Request::ReadLink { id, .. }
        | Request::Symlink { id, .. }
        | Request::Extended { id, .. }
        | Request::Unknown { id, .. } => *id,
    }
}

/// How many ways the wire has to say a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spelling {
    /// Exactly one: the canonical encoding.
    One,
    /// Attributes, whose flag word may carry bits v3 does not define or
    /// announce an empty extended list; the canonical form drops both, so
    /// it is never longer.
    Attributes,
    /// `check-file`, paramiko's name for `check-file-handle`, which the
    /// canonical form spells out (7 bytes longer).
    Alias,
}

fn spelling(request: &Request) -> Spelling {
    match request {
        Request::Open { .. }
        | Request::SetStat { .. }
        | Request::FSetStat { .. }
        | Request::MkDir { .. }
        | Request::Extended {
            extension: Extension::Lsetstat { .. },
            ..
        } => Spelling::Attributes,
        Request::Extended {
            extension: Extension::CheckFileHandle { .. },
            ..
        } => Spelling::Alias,
        _ => Spelling::One,
    }
}

/// The canonical wire form of `request`, type byte first, without the
/// length prefix.
fn encode(request: &Request) -> BytesMut {
    use packet_type as t;
    let mut buf = BytesMut::new();
    let out = &mut buf;
    match request {
        Request::Init {
            version,
            extensions,
        } => {
            out.put_u8(t::INIT);
            out.put_u32(*version);
            for (name, data) in extensions {
                two_strings(out, name, data);
            }
        }
        Request::Open {
            id,
            filename,
            flags,
            attrs,
        } => {
            let out = header(out, t::OPEN, *id);
            put_string(out, filename);
            out.put_u32(flags.bits());
            attrs.encode(out);
        }
        Request::Close { id, handle } => put_string(header(out, t::CLOSE, *id), handle),
        Request::Read {
            id,
            handle,
            offset,
            len,
        } => {
            let out = header(out, t::READ, *id);
            put_string(out, handle);
            out.put_u64(*offset);
            out.put_u32(*len);
        }
        Request::Write {
            id,
            handle,
            offset,
            data,
        } => {
            let out = header(out, t::WRITE, *id);
            put_string(out, handle);
            out.put_u64(*offset);
            put_string(out, data);
        }
        Request::Lstat { id, path } => put_string(header(out, t::LSTAT, *id), path),
        Request::Fstat { id, handle } => put_string(header(out, t::FSTAT, *id), handle),
        Request::SetStat { id, path, attrs } => {
            path_and_attrs(header(out, t::SETSTAT, *id), path, attrs);
        }
        Request::FSetStat { id, handle, attrs } => {
            path_and_attrs(header(out, t::FSETSTAT, *id), handle, attrs);
        }
        Request::OpenDir { id, path } => put_string(header(out, t::OPENDIR, *id), path),
        Request::ReadDir { id, handle } => put_string(header(out, t::READDIR, *id), handle),
        Request::Remove { id, filename } => put_string(header(out, t::REMOVE, *id), filename),
        Request::MkDir { id, path, attrs } => {
            path_and_attrs(header(out, t::MKDIR, *id), path, attrs)
        }
        Request::RmDir { id, path } => put_string(header(out, t::RMDIR, *id), path),
        Request::RealPath { id, path } => put_string(header(out, t::REALPATH, *id), path),
        Request::Stat { id, path } => put_string(header(out, t::STAT, *id), path),
        Request::Rename { id, from, to } => two_strings(header(out, t::RENAME, *id), from, to),
        Request::ReadLink { id, path } => put_string(header(out, t::READLINK, *id), path),
        Request::Symlink { id, first, second } => {
            two_strings(header(out, t::SYMLINK, *id), first, second);
        }
        Request::Extended { id, extension } => {
            encode_extension(header(out, t::EXTENDED, *id), extension);
        }
        Request::Unknown { id, packet_type } => {
            header(out, *packet_type, *id);
        }
    }
    buf
}

/// Appends a packet's type byte and request id; returns `out` for the rest.
fn header(out: &mut BytesMut, kind: u8, id: u32) -> &mut BytesMut {
    out.put_u8(kind);
    out.put_u32(id);
    out
}

fn path_and_attrs(out: &mut BytesMut, path: &[u8], attrs: &Attrs) {
    put_string(out, path);
    attrs.encode(out);
}

fn two_strings(out: &mut BytesMut, first: &[u8], second: &[u8]) {
    put_string(out, first);
    put_string(out, second);
}

fn encode_extension(out: &mut BytesMut, extension: &Extension) {
    let name: &[u8] = match extension {
        Extension::PosixRename { .. } => b"posix-rename@openssh.com",
        Extension::HardLink { .. } => b"hardlink@openssh.com",
        Extension::Statvfs { .. } => b"statvfs@openssh.com",
        Extension::Fstatvfs { .. } => b"fstatvfs@openssh.com",
        Extension::Fsync { .. } => b"fsync@openssh.com",
        Extension::Lsetstat { .. } => b"lsetstat@openssh.com",
        Extension::Limits => b"limits@openssh.com",
        Extension::ExpandPath { .. } => b"expand-path@openssh.com",
        Extension::HomeDirectory { .. } => b"home-directory",
        Extension::CopyData { .. } => b"copy-data",
        Extension::CheckFileName { .. } => b"check-file-name",
        Extension::CheckFileHandle { .. } => b"check-file-handle",
        Extension::Unknown { name } => name,
    };
    put_string(out, name);
    match extension {
        Extension::PosixRename { from, to } => two_strings(out, from, to),
        Extension::HardLink { existing, link } => two_strings(out, existing, link),
        Extension::Statvfs { path }
        | Extension::ExpandPath { path }
        | Extension::HomeDirectory { user: path } => put_string(out, path),
        Extension::Fstatvfs { handle } | Extension::Fsync { handle } => put_string(out, handle),
        Extension::Lsetstat { path, attrs } => path_and_attrs(out, path, attrs),
        Extension::CopyData {
            read_handle,
            read_offset,
            length,
            write_handle,
            write_offset,
        } => {
            put_string(out, read_handle);
            out.put_u64(*read_offset);
            out.put_u64(*length);
            put_string(out, write_handle);
            out.put_u64(*write_offset);
        }
        Extension::CheckFileName { path, check } => check_file(out, path, check),
        Extension::CheckFileHandle { handle, check } => check_file(out, handle, check),
        Extension::Limits | Extension::Unknown { .. } => {}
    }
}

fn check_file(out: &mut BytesMut, file: &[u8], check: &CheckFile) {
    put_string(out, file);
    put_string(out, &check.algorithms);
    out.put_u64(check.start);
    out.put_u64(check.length);
    out.put_u32(check.block_size);
}

#[cfg(test)]
mod tests {
    use russh_sftp::protocol::{self as theirs, FileAttributes, OpenFlags, Packet};

    use super::*;

    /// russh-sftp's encoding of `packet`, without its length prefix.
    fn theirs_encoded(packet: Packet) -> Bytes {
        Bytes::try_from(packet).unwrap().slice(4..)
    }

    #[test]
    fn our_canonical_encoding_is_the_bytes_russh_sftp_sends() {
        let packets = [
            Packet::Init(theirs::Init::new()),
            Packet::Read(theirs::Read {
                id: 7,
                handle: "h".into(),
                offset: 1 << 40,
                len: 32768,
            }),
            Packet::Write(theirs::Write {
                id: 8,
                handle: "h".into(),
                offset: 3,
                data: b"xyz".to_vec(),
            }),
            Packet::Rename(theirs::Rename {
                id: 9,
                oldpath: "a".into(),
                newpath: "b".into(),
            }),
            Packet::Symlink(theirs::Symlink {
                id: 10,
                linkpath: "a".into(),
                targetpath: "b".into(),
            }),
            Packet::Extended(theirs::Extended {
                id: 11,
                request: "limits@openssh.com".into(),
                data: Vec::new(),
            }),
        ];
        for packet in packets {
            let wire = theirs_encoded(packet);
            let request = codec::decode(wire.clone()).unwrap();
            assert_eq!(encode(&request).freeze(), wire, "{request:?}");
            assert_eq!(sftp_request(&wire), Ok(()));
        }
    }

    #[test]
    fn attributes_re_encode_to_the_same_request_without_undefined_flag_bits() {
        let wire = theirs_encoded(Packet::Open(theirs::Open {
            id: 1,
            filename: "f".into(),
            pflags: OpenFlags::READ | OpenFlags::CREATE,
            attrs: FileAttributes {
                permissions: Some(0o644),
                ..FileAttributes::default()
            },
        }));
        assert_eq!(sftp_request(&wire), Ok(()));
        // The same OPEN with a flag bit v3 does not define (0x100) set.
        let mut odd = BytesMut::from(&wire[..]);
        let flags_at = 1 + 4 + 4 + 1 + 4;
        odd[flags_at + 2] |= 0x01;
        assert_eq!(sftp_request(&odd), Ok(()));
    }

    #[test]
    fn paramikos_check_file_is_spelled_out_longer_and_decodes_the_same() {
        let mut wire = BytesMut::from(&b"\xc8\0\0\0\x21"[..]);
        for string in [&b"check-file"[..], b"\0\0\0\x01", b"md5"] {
            put_string(&mut wire, string);
        }
        wire.put_slice(&[0; 20]);
        let request = codec::decode(wire.clone().freeze()).unwrap();
        assert!(encode(&request).len() > wire.len());
        assert_eq!(sftp_request(&wire), Ok(()));
    }

    #[test]
    fn refusals_carry_the_id_once_the_packet_has_one() {
        assert_eq!(sftp_request(b""), Ok(()));
        assert_eq!(sftp_request(b"\x11\0\0"), Ok(()));
        assert_eq!(sftp_request(b"\x11\0\0\0\x05\xff\xff\xff\xff"), Ok(()));
        assert_eq!(sftp_request(b"\x01\0\0\0\x03\0\0\0\x09ab"), Ok(()));
    }

    #[test]
    fn a_packet_past_the_framing_limit_is_not_decoded() {
        let big = vec![0u8; MAX_PACKET_BYTES as usize + 1];
        assert_eq!(sftp_request(&big), Ok(()));
    }
}
