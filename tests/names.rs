//! Names are bytes, through real clients over SFTP: paramiko sends names
//! that are not UTF-8 and gets them back as two files, OpenSSH `sftp` lists,
//! downloads, renames and removes a name an administrator planted, and lftp's
//! `rm -r` empties a folder holding one. Every check looks at the disk.
// The helpers below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::process::{assert_ok, describe, require_tool, text, with_timeout};
use common::{AccountSpec, TestServer};

/// `dir/name` as a host path, for names that are not UTF-8.
fn on_disk(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

/// The names in `dir`, sorted, as bytes (`files::names_in` shows them as
/// text).
fn byte_names_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    names
}

/// A server with alice, whose home exists.
fn server() -> TestServer {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    server.create_home("alice");
    server
}

/// One paramiko session as alice that runs `phase` with bytes paths. Names
/// go in and out as hex, so that python never decodes them.
const PARAMIKO_NAMES: &str = r#"
import sys
import paramiko

port, key, phase, names = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
names = [bytes.fromhex(n) for n in names]
transport = paramiko.Transport(("127.0.0.1", port))
transport.connect(username="alice", pkey=paramiko.Ed25519Key.from_private_key_file(key))
sftp = paramiko.SFTPClient.from_transport(transport)
if phase == "create":
    for name in names:
        with sftp.open(name, "wb") as f:
            f.write(b"content of " + name)
elif phase == "read":
    for name in names:
        with sftp.open(name, "rb") as f:
            print(name.hex() + "=" + f.read().hex(), flush=True)
elif phase == "remove":
    for name in names:
        sftp.remove(name)
elif phase == "rename":
    sftp.rename(names[0], names[1])
elif phase == "posix-rename":
    sftp.posix_rename(names[0], names[1])
transport.close()
"#;

/// Runs one phase of [`PARAMIKO_NAMES`] on `names`; it must succeed.
fn paramiko(server: &TestServer, phase: &str, names: &[&[u8]]) -> String {
    let hex: Vec<String> = names.iter().map(hex::encode).collect();
    let mut args = vec![phase];
    args.extend(hex.iter().map(String::as_str));
    let out = server.paramiko(PARAMIKO_NAMES, &args);
    assert_ok(&out);
    text(&out.stdout)
}

#[test]
fn paramiko_keeps_two_names_that_differ_in_one_byte_apart() {
    let server = server();
    let dir = server.home("alice").join("d");
    std::fs::create_dir(&dir).unwrap();
    let (fe, ff): (&[u8], &[u8]) = (b"d/a\xfe", b"d/a\xff");

    paramiko(&server, "create", &[fe, ff]);
    assert_eq!(
        byte_names_in(&dir),
        vec![b"a\xfe".to_vec(), b"a\xff".to_vec()]
    );
    for name in [fe, ff] {
        let stored = std::fs::read(on_disk(&server.home("alice"), name)).unwrap();
        assert_eq!(stored, [&b"content of "[..], name].concat(), "{name:?}");
    }

    let read = paramiko(&server, "read", &[fe, ff]);
    for name in [fe, ff] {
        let expected = format!(
            "{}={}",
            hex::encode(name),
            hex::encode([&b"content of "[..], name].concat())
        );
        assert!(
            read.lines().any(|l| l == expected),
            "{expected} in:\n{read}"
        );
    }

    paramiko(&server, "remove", &[fe]);
    assert_eq!(byte_names_in(&dir), vec![b"a\xff".to_vec()]);
    paramiko(&server, "remove", &[ff]);
    assert!(byte_names_in(&dir).is_empty());
}

#[test]
fn rename_and_posix_rename_keep_a_name_that_is_not_utf8_alike() {
    let server = server();
    let home = server.home("alice");
    for (phase, dir) in [("rename", "plain"), ("posix-rename", "posix")] {
        std::fs::create_dir(home.join(dir)).unwrap();
        std::fs::write(on_disk(&home.join(dir), b"x\xfe"), phase).unwrap();
        let from = [dir.as_bytes(), b"/x\xfe"].concat();
        let to = [dir.as_bytes(), b"/y\xff"].concat();
        paramiko(&server, phase, &[&from, &to]);
        assert_eq!(
            byte_names_in(&home.join(dir)),
            vec![b"y\xff".to_vec()],
            "{phase}"
        );
        assert_eq!(
            std::fs::read(on_disk(&home.join(dir), b"y\xff")).unwrap(),
            phase.as_bytes()
        );
    }
}

#[test]
fn openssh_sftp_lists_downloads_renames_and_removes_a_planted_name() {
    let server = server();
    let dir = server.home("alice").join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(on_disk(&dir, b"n\xff.txt"), b"planted").unwrap();
    let down = server.local("down");

    let mut script = b"ls -1 dir\nls -l dir\nget \"dir/n\xff.txt\" ".to_vec();
    script.extend_from_slice(down.as_os_str().as_bytes());
    script.extend_from_slice(b"\nrename \"dir/n\xff.txt\" \"dir/m\xfe.txt\"\n");
    let out = server.sftp_batch_bytes("alice", &script, &[]);
    assert_ok(&out);
    let listing = text(&out.stdout);
    // `sftp` escapes the byte itself in a short listing; the long name is ours.
    assert!(listing.contains("dir/n\\377.txt"), "{listing}");
    assert!(listing.contains(" 'n'$'\\377''.txt'"), "{listing}");
    assert_eq!(std::fs::read(&down).unwrap(), b"planted");
    assert_eq!(byte_names_in(&dir), vec![b"m\xfe.txt".to_vec()]);
    assert_eq!(
        std::fs::read(on_disk(&dir, b"m\xfe.txt")).unwrap(),
        b"planted"
    );

    let out = server.sftp_batch_bytes("alice", b"rm \"dir/m\xfe.txt\"\n", &[]);
    assert_ok(&out);
    assert!(byte_names_in(&dir).is_empty(), "{}", describe(&out));
}

#[test]
fn lftp_rm_r_empties_a_folder_holding_a_name_that_is_not_utf8() {
    let lftp = require_tool("lftp");
    require_tool("ssh");
    let server = server();
    let home = server.home("alice");
    std::fs::create_dir_all(on_disk(&home, b"tree/sub\xfe")).unwrap();
    std::fs::write(on_disk(&home, b"tree/n\xff"), b"1").unwrap();
    std::fs::write(on_disk(&home, b"tree/sub\xfe/m\xfe"), b"2").unwrap();
    let local = server.local("");

    // lftp drives `ssh` with the harness's options and key.
    let ssh = format!(
        "ssh -a -x -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile={} \
         -o IdentityAgent=none -o LogLevel=ERROR -o ConnectTimeout=20 -o BatchMode=yes \
         -o IdentitiesOnly=yes -i {}",
        server.dir.path().join("known_hosts").display(),
        server.client_key().display()
    );
    let mut cmd = with_timeout(&lftp, &local);
    cmd.env("HOME", &local)
        .args(["-p", &server.port().to_string(), "-u", "alice,", "-e"])
        .arg(format!(
            "set sftp:connect-program \"{ssh}\"; set net:max-retries 1; \
             set net:timeout 20; set cmd:fail-exit yes; rm -r tree; bye"
        ))
        .arg("sftp://127.0.0.1");
    let out = cmd.output().unwrap();
    assert_ok(&out);
    assert!(!home.join("tree").exists(), "{}", describe(&out));
    assert!(
        byte_names_in(&home).is_empty(),
        "{:?}",
        byte_names_in(&home)
    );
}
