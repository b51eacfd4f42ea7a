//! Request decoding against russh-sftp's encoder (where its `String` fields
//! can say it), and by hand for what it cannot: names that are not UTF-8,
//! truncations, lying lengths.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use russh_sftp::extensions::{
    ExpandPathExtension, FsyncExtension, HardlinkExtension, StatvfsExtension,
};
use russh_sftp::protocol::{self as theirs, FileAttributes, OpenFlags, Packet};

use super::*;

mod extensions;
mod malformed;
mod requests;

/// russh-sftp's encoding of `packet`, without its length prefix.
fn encoded(packet: Packet) -> Bytes {
    Bytes::try_from(packet).unwrap().slice(4..)
}

/// An EXTENDED request as russh-sftp encodes it.
fn extended(id: u32, name: &str, data: Bytes) -> Bytes {
    encoded(Packet::Extended(theirs::Extended {
        id,
        request: name.into(),
        data: data.to_vec(),
    }))
}

fn to_bytes<T: serde::Serialize>(value: &T) -> Bytes {
    russh_sftp::ser::to_bytes(value).unwrap()
}

/// A request built by hand, for what russh-sftp's `String`s cannot carry.
struct Raw(BytesMut);

impl Raw {
    fn new(kind: u8) -> Raw {
        let mut buf = BytesMut::new();
        buf.put_u8(kind);
        Raw(buf)
    }
    fn u32(mut self, v: u32) -> Raw {
        self.0.put_u32(v);
        self
    }
    fn u64(mut self, v: u64) -> Raw {
        self.0.put_u64(v);
        self
    }
    fn string(mut self, s: &[u8]) -> Raw {
        put_string(&mut self.0, s);
        self
    }
    fn bytes(mut self, s: &[u8]) -> Raw {
        self.0.put_slice(s);
        self
    }
    fn done(self) -> Bytes {
        self.0.freeze()
    }
}

fn all_attrs() -> FileAttributes {
    FileAttributes {
        size: Some(123_456_789_012),
        uid: Some(1001),
        user: None,
        gid: Some(1002),
        group: None,
        permissions: Some(0o100640),
        atime: Some(1_600_000_000),
        mtime: Some(1_600_000_100),
    }
}

/// Our attributes hold exactly what russh-sftp's do.
fn assert_same_attrs(ours: &Attrs, theirs: &FileAttributes) {
    assert_eq!(ours.size, theirs.size);
    assert_eq!(ours.owner.map(|o| o.uid), theirs.uid);
    assert_eq!(ours.owner.map(|o| o.gid), theirs.gid);
    assert_eq!(ours.permissions, theirs.permissions);
    assert_eq!(ours.times.map(|t| t.atime), theirs.atime);
    assert_eq!(ours.times.map(|t| t.mtime), theirs.mtime);
    assert!(ours.extended.is_empty());
}

fn attr_sets() -> [FileAttributes; 3] {
    [
        all_attrs(),
        FileAttributes::default(),
        FileAttributes {
            permissions: Some(0o755),
            ..FileAttributes::default()
        },
    ]
}
