//! The extended requests we serve decode their arguments; others keep their name.

use super::*;

/// Every extension we serve, as russh-sftp encodes it, and what it decodes to.
pub(super) fn extension_cases() -> Vec<(Bytes, Extension)> {
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
