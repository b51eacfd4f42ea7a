//! Each request type decodes its fields, names byte for byte.

use super::*;

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
