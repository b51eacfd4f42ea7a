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

#[test]
fn init_decodes_its_version_and_extension_pairs() {
    let packet = encoded(Packet::Init(theirs::Init {
        version: 3,
        extensions: HashMap::from([("x@example.com".to_owned(), "2".to_owned())]),
    }));
    let Ok(Request::Init {
        version,
        extensions,
    }) = decode(packet)
    else {
        panic!("not an init")
    };
    assert_eq!(version, 3);
    assert_eq!(
        extensions,
        vec![(Bytes::from("x@example.com"), Bytes::from("2"))]
    );
}

#[test]
fn open_decodes_name_flags_and_attributes() {
    for attrs in attr_sets() {
        let flags = OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        let packet = encoded(Packet::Open(theirs::Open {
            id: 77,
            filename: "/dir/file.txt".into(),
            pflags: flags,
            attrs: attrs.clone(),
        }));
        let Ok(Request::Open {
            id,
            filename,
            flags: got,
            attrs: ours,
        }) = decode(packet)
        else {
            panic!("not an open")
        };
        assert_eq!((id, &filename[..]), (77, &b"/dir/file.txt"[..]));
        assert_eq!(got.bits(), flags.bits());
        assert_same_attrs(&ours, &attrs);
    }
}

#[test]
fn close_read_write_fstat_and_readdir_decode_their_handles() {
    let cases = [
        (
            encoded(Packet::Close(theirs::Close {
                id: 1,
                handle: "h1".into(),
            })),
            "close",
        ),
        (
            encoded(Packet::Fstat(theirs::Fstat {
                id: 1,
                handle: "h1".into(),
            })),
            "fstat",
        ),
        (
            encoded(Packet::ReadDir(theirs::ReadDir {
                id: 1,
                handle: "h1".into(),
            })),
            "readdir",
        ),
    ];
    for (packet, what) in cases {
        let handle = match decode(packet) {
            Ok(Request::Close { id: 1, handle })
            | Ok(Request::Fstat { id: 1, handle })
            | Ok(Request::ReadDir { id: 1, handle }) => handle,
            other => panic!("{what}: {other:?}"),
        };
        assert_eq!(&handle[..], b"h1", "{what}");
    }

    let read = encoded(Packet::Read(theirs::Read {
        id: 2,
        handle: "h2".into(),
        offset: u64::MAX - 1,
        len: 262_144,
    }));
    let Ok(Request::Read {
        id,
        handle,
        offset,
        len,
    }) = decode(read)
    else {
        panic!("not a read")
    };
    assert_eq!(
        (id, &handle[..], offset, len),
        (2, &b"h2"[..], u64::MAX - 1, 262_144)
    );

    let write = encoded(Packet::Write(theirs::Write {
        id: 3,
        handle: "h3".into(),
        offset: 1 << 33,
        data: vec![0xab; 1000],
    }));
    let Ok(Request::Write {
        id,
        handle,
        offset,
        data,
    }) = decode(write)
    else {
        panic!("not a write")
    };
    assert_eq!((id, &handle[..], offset), (3, &b"h3"[..], 1 << 33));
    assert_eq!(&data[..], &[0xab; 1000][..]);
}

#[test]
fn a_write_payload_is_a_slice_of_the_packet_not_a_copy() {
    let packet = Raw::new(packet_type::WRITE)
        .u32(9)
        .string(b"h")
        .u64(0)
        .string(b"payload")
        .done();
    let range = packet.as_ptr_range();
    let Ok(Request::Write { data, .. }) = decode(packet.clone()) else {
        panic!("not a write")
    };
    assert!(range.contains(&data.as_ptr()));
    assert_eq!(&data[..], b"payload");
}

#[test]
fn path_requests_decode_their_paths() {
    let path = "/some dir/ü.txt";
    let packets = [
        Packet::Lstat(theirs::Lstat {
            id: 4,
            path: path.into(),
        }),
        Packet::OpenDir(theirs::OpenDir {
            id: 4,
            path: path.into(),
        }),
        Packet::Remove(theirs::Remove {
            id: 4,
            filename: path.into(),
        }),
        Packet::RmDir(theirs::RmDir {
            id: 4,
            path: path.into(),
        }),
        Packet::RealPath(theirs::RealPath {
            id: 4,
            path: path.into(),
        }),
        Packet::Stat(theirs::Stat {
            id: 4,
            path: path.into(),
        }),
        Packet::ReadLink(theirs::ReadLink {
            id: 4,
            path: path.into(),
        }),
    ];
    for packet in packets {
        let what = format!("{packet:?}");
        let got = match decode(encoded(packet)) {
            Ok(Request::Lstat { id: 4, path })
            | Ok(Request::OpenDir { id: 4, path })
            | Ok(Request::Remove {
                id: 4,
                filename: path,
            })
            | Ok(Request::RmDir { id: 4, path })
            | Ok(Request::RealPath { id: 4, path })
            | Ok(Request::Stat { id: 4, path })
            | Ok(Request::ReadLink { id: 4, path }) => path,
            other => panic!("{what}: {other:?}"),
        };
        assert_eq!(&got[..], path.as_bytes(), "{what}");
    }
}

#[test]
fn setstat_fsetstat_and_mkdir_decode_their_attributes() {
    for attrs in attr_sets() {
        let setstat = encoded(Packet::SetStat(theirs::SetStat {
            id: 5,
            path: "p".into(),
            attrs: attrs.clone(),
        }));
        let Ok(Request::SetStat {
            id: 5,
            path,
            attrs: ours,
        }) = decode(setstat)
        else {
            panic!("not a setstat")
        };
        assert_eq!(&path[..], b"p");
        assert_same_attrs(&ours, &attrs);

        let fsetstat = encoded(Packet::FSetStat(theirs::FSetStat {
            id: 6,
            handle: "h".into(),
            attrs: attrs.clone(),
        }));
        let Ok(Request::FSetStat {
            id: 6,
            handle,
            attrs: ours,
        }) = decode(fsetstat)
        else {
            panic!("not an fsetstat")
        };
        assert_eq!(&handle[..], b"h");
        assert_same_attrs(&ours, &attrs);

        let mkdir = encoded(Packet::MkDir(theirs::MkDir {
            id: 7,
            path: "d".into(),
            attrs: attrs.clone(),
        }));
        let Ok(Request::MkDir {
            id: 7,
            path,
            attrs: ours,
        }) = decode(mkdir)
        else {
            panic!("not a mkdir")
        };
        assert_eq!(&path[..], b"d");
        assert_same_attrs(&ours, &attrs);
    }
}

#[test]
fn rename_keeps_old_then_new() {
    let packet = encoded(Packet::Rename(theirs::Rename {
        id: 8,
        oldpath: "old".into(),
        newpath: "new".into(),
    }));
    let Ok(Request::Rename { id: 8, from, to }) = decode(packet) else {
        panic!("not a rename")
    };
    assert_eq!((&from[..], &to[..]), (&b"old"[..], &b"new"[..]));
}

#[test]
fn symlink_keeps_its_paths_in_wire_order() {
    // russh-sftp names them in the draft's order: linkpath, then targetpath.
    let packet = encoded(Packet::Symlink(theirs::Symlink {
        id: 9,
        linkpath: "sent first".into(),
        targetpath: "sent second".into(),
    }));
    let Ok(Request::Symlink {
        id: 9,
        first,
        second,
    }) = decode(packet)
    else {
        panic!("not a symlink")
    };
    assert_eq!(
        (&first[..], &second[..]),
        (&b"sent first"[..], &b"sent second"[..])
    );
}

/// Every extension we serve, as russh-sftp encodes it, and what it decodes to.
fn extension_cases() -> Vec<(Bytes, Extension)> {
    let b = |s: &'static str| Bytes::from_static(s.as_bytes());
    let two_paths = to_bytes(&HardlinkExtension {
        oldpath: "a".into(),
        newpath: "b".into(),
    });
    let check = (b("md5,sha-256"), 10u64, 20u64, 512u32);
    vec![
        (
            extended(1, "posix-rename@openssh.com", two_paths.clone()),
            Extension::PosixRename {
                from: b("a"),
                to: b("b"),
            },
        ),
        (
            extended(1, "hardlink@openssh.com", two_paths),
            Extension::HardLink {
                existing: b("a"),
                link: b("b"),
            },
        ),
        (
            extended(
                1,
                "statvfs@openssh.com",
                to_bytes(&StatvfsExtension { path: "/".into() }),
            ),
            Extension::Statvfs { path: b("/") },
        ),
        (
            extended(
                1,
                "fstatvfs@openssh.com",
                to_bytes(&FsyncExtension { handle: "7".into() }),
            ),
            Extension::Fstatvfs { handle: b("7") },
        ),
        (
            extended(
                1,
                "fsync@openssh.com",
                to_bytes(&FsyncExtension { handle: "7".into() }),
            ),
            Extension::Fsync { handle: b("7") },
        ),
        (
            extended(
                1,
                "lsetstat@openssh.com",
                to_bytes(&("link".to_owned(), all_attrs())),
            ),
            Extension::Lsetstat {
                path: b("link"),
                attrs: Attrs {
                    size: Some(123_456_789_012),
                    owner: Some(Owner {
                        uid: 1001,
                        gid: 1002,
                    }),
                    permissions: Some(0o100640),
                    times: Some(Times {
                        atime: 1_600_000_000,
                        mtime: 1_600_000_100,
                    }),
                    extended: Vec::new(),
                },
            },
        ),
        (
            extended(1, "limits@openssh.com", Bytes::new()),
            Extension::Limits,
        ),
        (
            extended(
                1,
                "expand-path@openssh.com",
                to_bytes(&ExpandPathExtension { path: "~/x".into() }),
            ),
            Extension::ExpandPath { path: b("~/x") },
        ),
        (
            extended(1, "home-directory", to_bytes(&"alice")),
            Extension::HomeDirectory { user: b("alice") },
        ),
        (
            extended(
                1,
                "copy-data",
                to_bytes(&("r".to_owned(), 5u64, 0u64, "w".to_owned(), 9u64)),
            ),
            Extension::CopyData {
                read_handle: b("r"),
                read_offset: 5,
                length: 0,
                write_handle: b("w"),
                write_offset: 9,
            },
        ),
        (
            extended(
                1,
                "check-file-name",
                to_bytes(&("f".to_owned(), "md5,sha-256", check.1, check.2, check.3)),
            ),
            Extension::CheckFileName {
                path: b("f"),
                check: CheckFile {
                    algorithms: check.0.clone(),
                    start: 10,
                    length: 20,
                    block_size: 512,
                },
            },
        ),
        (
            extended(
                1,
                "check-file-handle",
                to_bytes(&("h".to_owned(), "md5,sha-256", check.1, check.2, check.3)),
            ),
            Extension::CheckFileHandle {
                handle: b("h"),
                check: CheckFile {
                    algorithms: check.0.clone(),
                    start: 10,
                    length: 20,
                    block_size: 512,
                },
            },
        ),
        (
            extended(
                1,
                "check-file",
                to_bytes(&("h".to_owned(), "md5,sha-256", check.1, check.2, check.3)),
            ),
            Extension::CheckFileHandle {
                handle: b("h"),
                check: CheckFile {
                    algorithms: check.0,
                    start: 10,
                    length: 20,
                    block_size: 512,
                },
            },
        ),
    ]
}

#[test]
fn every_extension_we_serve_decodes_its_arguments() {
    for (packet, expected) in extension_cases() {
        match decode(packet) {
            Ok(Request::Extended { id: 1, extension }) => assert_eq!(extension, expected),
            other => panic!("{expected:?}: {other:?}"),
        }
    }
}

#[test]
fn an_unknown_extension_keeps_its_name() {
    let packet = extended(
        3,
        "users-groups-by-id@openssh.com",
        Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0]),
    );
    let Ok(Request::Extended {
        id: 3,
        extension: Extension::Unknown { name },
    }) = decode(packet)
    else {
        panic!("not an unknown extension")
    };
    assert_eq!(&name[..], b"users-groups-by-id@openssh.com");
}

#[test]
fn an_unknown_packet_type_keeps_its_id() {
    let packet = Raw::new(99).u32(12).done();
    assert!(matches!(
        decode(packet),
        Ok(Request::Unknown {
            id: 12,
            packet_type: 99
        })
    ));
    // A reply type sent by a client is not a request either.
    let status = Raw::new(packet_type::STATUS).u32(13).u32(0).done();
    assert!(matches!(
        decode(status),
        Ok(Request::Unknown {
            id: 13,
            packet_type: packet_type::STATUS
        })
    ));
}

#[test]
fn names_that_are_not_utf8_decode_byte_exact_and_stay_distinct() {
    let open = |name: &[u8]| {
        Raw::new(packet_type::OPEN)
            .u32(1)
            .string(name)
            .u32(OpenFlags::READ.bits())
            .u32(0)
            .done()
    };
    let Ok(Request::Open { filename: fe, .. }) = decode(open(b"a\xfe")) else {
        panic!("not an open")
    };
    let Ok(Request::Open { filename: ff, .. }) = decode(open(b"a\xff")) else {
        panic!("not an open")
    };
    assert_eq!(&fe[..], b"a\xfe");
    assert_eq!(&ff[..], b"a\xff");
    assert_ne!(fe, ff);

    let rename = Raw::new(packet_type::RENAME)
        .u32(2)
        .string(b"d/a\xfe")
        .string(b"d/a\xff")
        .done();
    let Ok(Request::Rename { from, to, .. }) = decode(rename) else {
        panic!("not a rename")
    };
    assert_eq!((&from[..], &to[..]), (&b"d/a\xfe"[..], &b"d/a\xff"[..]));

    let symlink = Raw::new(packet_type::SYMLINK)
        .u32(3)
        .string(b"\x80target")
        .string(b"link\xc3")
        .done();
    let Ok(Request::Symlink { first, second, .. }) = decode(symlink) else {
        panic!("not a symlink")
    };
    assert_eq!(
        (&first[..], &second[..]),
        (&b"\x80target"[..], &b"link\xc3"[..])
    );

    let posix_rename = Raw::new(packet_type::EXTENDED)
        .u32(4)
        .string(b"posix-rename@openssh.com")
        .string(b"a\xfe")
        .string(b"a\xff")
        .done();
    assert!(matches!(
        decode(posix_rename),
        Ok(Request::Extended {
            id: 4,
            extension: Extension::PosixRename { from, to },
        }) if &from[..] == b"a\xfe" && &to[..] == b"a\xff"
    ));
}

/// Every request with a fixed layout, encoded. (INIT with extensions and an
/// unknown extension end in "whatever is left", so some of their prefixes
/// are themselves valid.)
fn fixed_layout_packets() -> Vec<Bytes> {
    let mut packets: Vec<Bytes> = [
        Packet::Init(theirs::Init::new()),
        Packet::Open(theirs::Open {
            id: 1,
            filename: "f".into(),
            pflags: OpenFlags::READ,
            attrs: all_attrs(),
        }),
        Packet::Close(theirs::Close {
            id: 1,
            handle: "h".into(),
        }),
        Packet::Read(theirs::Read {
            id: 1,
            handle: "h".into(),
            offset: 0,
            len: 10,
        }),
        Packet::Write(theirs::Write {
            id: 1,
            handle: "h".into(),
            offset: 0,
            data: b"xyz".to_vec(),
        }),
        Packet::Lstat(theirs::Lstat {
            id: 1,
            path: "p".into(),
        }),
        Packet::Fstat(theirs::Fstat {
            id: 1,
            handle: "h".into(),
        }),
        Packet::SetStat(theirs::SetStat {
            id: 1,
            path: "p".into(),
            attrs: all_attrs(),
        }),
        Packet::FSetStat(theirs::FSetStat {
            id: 1,
            handle: "h".into(),
            attrs: all_attrs(),
        }),
        Packet::OpenDir(theirs::OpenDir {
            id: 1,
            path: "p".into(),
        }),
        Packet::ReadDir(theirs::ReadDir {
            id: 1,
            handle: "h".into(),
        }),
        Packet::Remove(theirs::Remove {
            id: 1,
            filename: "p".into(),
        }),
        Packet::MkDir(theirs::MkDir {
            id: 1,
            path: "p".into(),
            attrs: all_attrs(),
        }),
        Packet::RmDir(theirs::RmDir {
            id: 1,
            path: "p".into(),
        }),
        Packet::RealPath(theirs::RealPath {
            id: 1,
            path: "p".into(),
        }),
        Packet::Stat(theirs::Stat {
            id: 1,
            path: "p".into(),
        }),
        Packet::Rename(theirs::Rename {
            id: 1,
            oldpath: "a".into(),
            newpath: "b".into(),
        }),
        Packet::ReadLink(theirs::ReadLink {
            id: 1,
            path: "p".into(),
        }),
        Packet::Symlink(theirs::Symlink {
            id: 1,
            linkpath: "a".into(),
            targetpath: "b".into(),
        }),
    ]
    .into_iter()
    .map(encoded)
    .collect();
    packets.extend(extension_cases().into_iter().map(|(packet, _)| packet));
    packets
}

#[test]
fn every_truncation_of_a_valid_request_fails_cleanly() {
    for packet in fixed_layout_packets() {
        assert!(decode(packet.clone()).is_ok(), "{packet:?}");
        for len in 0..packet.len() {
            let Err(err) = decode(packet.slice(..len)) else {
                panic!("prefix {len} of {packet:?} decoded")
            };
            // The id comes back once the packet reaches past it (INIT has none).
            let expected_id = (len >= 5 && packet[0] != packet_type::INIT).then_some(1);
            assert_eq!(err.id, expected_id, "prefix {len} of {packet:?}");
        }
    }
}

#[test]
fn trailing_bytes_after_a_request_are_ignored() {
    for packet in fixed_layout_packets() {
        let mut longer = BytesMut::from(&packet[..]);
        longer.put_slice(b"\0\0\0\x05extra");
        // INIT reads pairs to the end, so its trailing bytes must be a pair.
        if packet[0] == packet_type::INIT {
            longer.put_slice(b"\0\0\0\0");
        }
        assert!(decode(longer.freeze()).is_ok(), "{packet:?}");
    }
}

#[test]
fn a_string_length_larger_than_the_packet_fails_with_the_id() {
    let packet = Raw::new(packet_type::STAT)
        .u32(21)
        .u32(u32::MAX)
        .bytes(b"abc")
        .done();
    let Err(err) = decode(packet) else {
        panic!("decoded")
    };
    assert_eq!(
        err,
        DecodeError {
            id: Some(21),
            packet_type: Some(packet_type::STAT),
            what: Malformed::Truncated,
        }
    );
}

#[test]
fn an_attribute_count_larger_than_the_packet_fails_with_the_id() {
    let packet = Raw::new(packet_type::SETSTAT)
        .u32(22)
        .string(b"p")
        .u32(0x8000_0000)
        .u32(u32::MAX)
        .done();
    let Err(err) = decode(packet) else {
        panic!("decoded")
    };
    assert_eq!((err.id, err.what), (Some(22), Malformed::CountTooLarge));
}

#[test]
fn an_empty_packet_is_malformed() {
    let Err(err) = decode(Bytes::new()) else {
        panic!("decoded")
    };
    assert_eq!(
        (err.id, err.packet_type, err.what),
        (None, None, Malformed::Empty)
    );
}

#[tokio::test]
async fn an_oversized_packet_length_is_refused_before_allocating() {
    let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
    assert!(matches!(
        read_packet(&mut input).await,
        Err(FrameError::BadLength(u32::MAX))
    ));
    let mut too_big: &[u8] = &(MAX_PACKET_BYTES + 1).to_be_bytes();
    assert!(matches!(
        read_packet(&mut too_big).await,
        Err(FrameError::BadLength(_))
    ));
    let mut zero: &[u8] = &[0, 0, 0, 0];
    assert!(matches!(
        read_packet(&mut zero).await,
        Err(FrameError::BadLength(0))
    ));
}

#[tokio::test]
async fn framing_reads_whole_packets_and_tells_a_clean_end_from_a_cut() {
    let mut input: &[u8] = &[0, 0, 0, 2, 7, 8, 0, 0, 0, 1, 9];
    assert_eq!(&read_packet(&mut input).await.unwrap()[..], &[7, 8]);
    assert_eq!(&read_packet(&mut input).await.unwrap()[..], &[9]);
    assert!(matches!(
        read_packet(&mut input).await,
        Err(FrameError::Eof)
    ));
    let mut cut: &[u8] = &[0, 0, 0, 5, 1, 2];
    assert!(matches!(
        read_packet(&mut cut).await,
        Err(FrameError::Io(_))
    ));
}
