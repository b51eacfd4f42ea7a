//! File attributes as SFTP v3 carries them (draft-ietf-secsh-filexfer-02
//! §5): a flag word, then only the fields its bits announce. uid and gid
//! travel together, as do atime and mtime (32-bit seconds); extended pairs
//! are kept as bytes.

use bytes::{BufMut, Bytes, BytesMut};
use russh_sftp::protocol::FileAttr;

use super::{Cursor, Malformed, put_string};

/// Bytes the smallest extended pair takes on the wire: two empty strings.
const MIN_EXTENDED_PAIR_BYTES: usize = 8;

/// Owner and group, which v3 always sends together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Access and modification times, which v3 always sends together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Times {
    /// Last access, seconds since the epoch.
    pub atime: u32,
    /// Last modification, seconds since the epoch.
    pub mtime: u32,
}

/// SFTP v3 file attributes; a field is `Some` when its flag bit is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    /// File size in bytes (SSH_FILEXFER_ATTR_SIZE).
    pub size: Option<u64>,
    /// Owner and group (SSH_FILEXFER_ATTR_UIDGID).
    pub owner: Option<Owner>,
    /// Mode bits, file type included (SSH_FILEXFER_ATTR_PERMISSIONS).
    pub permissions: Option<u32>,
    /// Access and modification times (SSH_FILEXFER_ATTR_ACMODTIME).
    pub times: Option<Times>,
    /// (type, data) pairs (SSH_FILEXFER_ATTR_EXTENDED), in wire order.
    pub extended: Vec<(Bytes, Bytes)>,
}

impl Attrs {
    /// Decodes attributes at the cursor. Flag bits we do not know are
    /// ignored, as OpenSSH's sftp-server ignores them.
    pub(super) fn decode(c: &mut Cursor) -> Result<Attrs, Malformed> {
        let flags = FileAttr::from_bits_truncate(c.u32()?);
        let mut attrs = Attrs::default();
        if flags.contains(FileAttr::SIZE) {
            attrs.size = Some(c.u64()?);
        }
        if flags.contains(FileAttr::UIDGID) {
            attrs.owner = Some(Owner {
                uid: c.u32()?,
                gid: c.u32()?,
            });
        }
        if flags.contains(FileAttr::PERMISSIONS) {
            attrs.permissions = Some(c.u32()?);
        }
        if flags.contains(FileAttr::ACMODTIME) {
            attrs.times = Some(Times {
                atime: c.u32()?,
                mtime: c.u32()?,
            });
        }
        if flags.contains(FileAttr::EXTENDED) {
            let count = usize::try_from(c.u32()?).map_err(|_| Malformed::CountTooLarge)?;
            // Refuse a count the packet cannot hold before reserving for it.
            if count > c.remaining() / MIN_EXTENDED_PAIR_BYTES {
                return Err(Malformed::CountTooLarge);
            }
            attrs.extended.reserve_exact(count);
            for _ in 0..count {
                attrs.extended.push((c.string()?, c.string()?));
            }
        }
        Ok(attrs)
    }

    /// The flag word announcing the fields present.
    pub fn flags(&self) -> u32 {
        let mut flags = FileAttr::empty();
        flags.set(FileAttr::SIZE, self.size.is_some());
        flags.set(FileAttr::UIDGID, self.owner.is_some());
        flags.set(FileAttr::PERMISSIONS, self.permissions.is_some());
        flags.set(FileAttr::ACMODTIME, self.times.is_some());
        flags.set(FileAttr::EXTENDED, !self.extended.is_empty());
        flags.bits()
    }

    /// Bytes [`Attrs::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let pairs: usize = self
            .extended
            .iter()
            .map(|(name, data)| 8 + name.len() + data.len())
            .sum();
        4 + self.size.map_or(0, |_| 8)
            + self.owner.map_or(0, |_| 8)
            + self.permissions.map_or(0, |_| 4)
            + self.times.map_or(0, |_| 8)
            + if self.extended.is_empty() {
                0
            } else {
                4 + pairs
            }
    }

    /// Appends the attributes in wire form.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.flags());
        if let Some(size) = self.size {
            out.put_u64(size);
        }
        if let Some(owner) = self.owner {
            out.put_u32(owner.uid);
            out.put_u32(owner.gid);
        }
        if let Some(permissions) = self.permissions {
            out.put_u32(permissions);
        }
        if let Some(times) = self.times {
            out.put_u32(times.atime);
            out.put_u32(times.mtime);
        }
        if !self.extended.is_empty() {
            out.put_u32(self.extended.len() as u32);
            for (name, data) in &self.extended {
                put_string(out, name);
                put_string(out, data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use russh_sftp::protocol::FileAttributes;

    use super::*;

    fn decoded(bytes: &[u8]) -> Result<Attrs, Malformed> {
        Attrs::decode(&mut Cursor::new(Bytes::copy_from_slice(bytes)))
    }

    fn full() -> Attrs {
        Attrs {
            size: Some(1 << 40),
            owner: Some(Owner {
                uid: 1000,
                gid: 100,
            }),
            permissions: Some(0o100644),
            times: Some(Times {
                atime: 1_700_000_000,
                mtime: 1_700_000_001,
            }),
            extended: vec![(Bytes::from_static(b"a@b"), Bytes::from_static(b"\xff\x00"))],
        }
    }

    #[test]
    fn every_subset_of_fields_survives_a_round_trip() {
        let all = full();
        for mask in 0u32..32 {
            let attrs = Attrs {
                size: all.size.filter(|_| mask & 1 != 0),
                owner: all.owner.filter(|_| mask & 2 != 0),
                permissions: all.permissions.filter(|_| mask & 4 != 0),
                times: all.times.filter(|_| mask & 8 != 0),
                extended: if mask & 16 != 0 {
                    all.extended.clone()
                } else {
                    Vec::new()
                },
            };
            let mut out = BytesMut::new();
            attrs.encode(&mut out);
            assert_eq!(out.len(), attrs.encoded_len(), "mask {mask}");
            assert_eq!(decoded(&out), Ok(attrs), "mask {mask}");
        }
    }

    #[test]
    fn our_encoding_matches_russh_sftp_where_it_has_the_fields() {
        let ours = Attrs {
            extended: Vec::new(),
            ..full()
        };
        let theirs = FileAttributes {
            size: Some(1 << 40),
            uid: Some(1000),
            user: None,
            gid: Some(100),
            group: None,
            permissions: Some(0o100644),
            atime: Some(1_700_000_000),
            mtime: Some(1_700_000_001),
        };
        let mut out = BytesMut::new();
        ours.encode(&mut out);
        assert_eq!(&out[..], &russh_sftp::ser::to_bytes(&theirs).unwrap()[..]);
        assert_eq!(ours.flags(), 0xf);
    }

    #[test]
    fn an_extended_count_larger_than_the_packet_fails_before_reserving() {
        // flags = EXTENDED, count = u32::MAX: reserving for it would abort.
        let bytes = [
            0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(decoded(&bytes), Err(Malformed::CountTooLarge));
    }

    #[test]
    fn unknown_flag_bits_are_ignored() {
        assert_eq!(decoded(&[0x00, 0x00, 0x01, 0x00]), Ok(Attrs::default()));
    }

    #[test]
    fn every_truncation_of_full_attributes_fails() {
        let mut out = BytesMut::new();
        full().encode(&mut out);
        for len in 0..out.len() {
            assert!(decoded(&out[..len]).is_err(), "prefix {len}");
        }
    }
}
