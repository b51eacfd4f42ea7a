//! Names that are not UTF-8, against GNU: every built-in uses the stored
//! bytes, writes them raw where GNU writes them raw and quotes them in
//! messages as GNU quotes them. Output is compared byte for byte (never
//! through a lossy decoding). Also: the table of built-in names and the
//! dispatcher agree.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command as Process, Stdio};

use super::Fixture;
use crate::builtin_names::BUILTIN_NAMES;
use crate::exec::builtins::{Builtin, commands};
use crate::exec::{ExitOutcome, run_command};

/// A file name in Latin-1, as an old client would send it: not UTF-8.
const LATIN1: &[u8] = b"caf\xe9.txt";

/// What a command printed and how it ended, as raw bytes.
type Outcome = (Vec<u8>, Vec<u8>, ExitOutcome);

/// `LATIN1` (4 bytes), and a folder `d\xff` holding `f\xfe` (2 bytes),
/// written into the box and the GNU directory alike, dated as the rest.
fn plant(fx: &Fixture) {
    for dir in [&fx.home, &fx.gnu] {
        let name = |bytes: &[u8]| dir.join(OsStr::from_bytes(bytes));
        std::fs::write(name(LATIN1), b"caf\n").unwrap();
        std::fs::create_dir(name(b"d\xff")).unwrap();
        std::fs::write(name(b"d\xff/f\xfe"), b"x\n").unwrap();
        for planted in [LATIN1, b"d\xff", b"d\xff/f\xfe"] {
            let touched = Process::new("touch")
                .args(["-h", "-d", "@1700000000"])
                .arg(name(planted))
                .status()
                .unwrap();
            assert!(touched.success());
        }
    }
}

/// Runs `line` in the box.
async fn ours(fx: &Fixture, line: &[u8]) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = run_command(line, &fx.ctx, &b""[..], &mut out, &mut err).await;
    (out, err, outcome)
}

/// Runs `line`, split at spaces, with the host's GNU tools in `dir`.
fn gnu(dir: &Path, line: &[u8]) -> Outcome {
    let argv: Vec<&OsStr> = line
        .split(|&b| b == b' ')
        .filter(|word| !word.is_empty())
        .map(OsStr::from_bytes)
        .collect();
    let output = Process::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let status = ExitOutcome::Status(output.status.code().unwrap() as u32);
    (output.stdout, output.stderr, status)
}

/// Runs `line` in the box and `gnu_line` with GNU; both must agree.
async fn same_as(fx: &Fixture, line: &[u8], gnu_line: &[u8]) {
    let (ours, theirs) = (ours(fx, line).await, gnu(&fx.gnu, gnu_line));
    assert!(
        ours == theirs,
        "`{}` differs from GNU\nours: {ours:?}\nGNU:  {theirs:?}",
        line.escape_ascii()
    );
}

/// Every entry under `root` as raw bytes: path, kind, mode, contents.
fn tree(root: &Path) -> Vec<(Vec<u8>, char, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                stack.push(path.clone());
                out.push((name, 'd', mode, Vec::new()));
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((name, 'l', 0, target.as_os_str().as_bytes().to_vec()));
            } else {
                out.push((name, 'f', mode, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn listings_show_such_names_as_gnu_ls_shell_escape_does() {
    let fx = Fixture::new(None);
    plant(&fx);
    for line in [
        &b"ls"[..],
        b"ls -l",
        b"ls -la",
        b"ls -R d\xff",
        b"ls -d d\xff caf\xe9.txt",
        b"ls -ld d\xff",
    ] {
        let gnu_line = [line, b" --quoting-style=shell-escape"].concat();
        same_as(&fx, line, &gnu_line).await;
    }
    // Nothing in the box was rewritten.
    assert_eq!(tree(&fx.home), tree(&fx.gnu));
}

#[tokio::test]
async fn reading_commands_write_names_raw_where_gnu_does() {
    let fx = Fixture::new(None);
    plant(&fx);
    for line in [
        &b"cat caf\xe9.txt d\xff/f\xfe"[..],
        b"head -v caf\xe9.txt d\xff/f\xfe",
        b"tail caf\xe9.txt d\xff/f\xfe",
        b"wc caf\xe9.txt d\xff/f\xfe",
        b"du -a d\xff",
        b"du -s d\xff caf\xe9.txt",
        b"sha256sum caf\xe9.txt d\xff/f\xfe",
        b"md5sum --tag caf\xe9.txt",
        b"stat -c %n:%N:%s caf\xe9.txt d\xff",
        b"date -r caf\xe9.txt +%s",
        b"echo caf\xe9.txt",
    ] {
        same_as(&fx, line, line).await;
    }
}

#[tokio::test]
async fn messages_quote_such_names_as_gnu_does() {
    let fx = Fixture::new(None);
    plant(&fx);
    for line in [
        &b"cat nope\xff"[..],
        b"ls nope\xff",
        b"ls d\xff/nope\xfe",
        b"rm nope\xff",
        b"rm d\xff",
        b"rmdir nope\xff",
        b"mv nope\xff x",
        b"cp nope\xff x",
        b"cp d\xff x",
        b"head nope\xff",
        b"tail -n 1 nope\xff",
        b"wc nope\xff",
        b"sha256sum nope\xff",
        b"du nope\xff",
        b"df nope\xff",
        b"stat nope\xff",
        b"touch nope/x\xff",
        b"mkdir nope/x\xff",
        b"mkdir d\xff",
        b"chmod 644 nope\xff",
        b"date -r nope\xff",
        b"head -n x\xff caf\xe9.txt",
        b"du -d x\xff",
        b"touch -d x\xff t",
        b"chmod x\xff t",
        b"mkdir -m x\xff m",
        b"date -d x\xff",
        b"ls --x\xff",
        b"ls -\xff",
        b"rm -r d\xff/.",
    ] {
        same_as(&fx, line, line).await;
    }
}

#[tokio::test]
async fn changing_commands_keep_the_bytes_and_say_so_as_gnu_does() {
    let fx = Fixture::new(None);
    plant(&fx);
    for line in [
        &b"mkdir -v m\xff"[..],
        b"rmdir -v m\xff",
        b"mkdir -pv p\xff/q\xfe",
        b"cp -v caf\xe9.txt c\xe9",
        b"cp -rv d\xff e\xff",
        b"mv -v c\xe9 v\xe9",
        b"mv -v v\xe9 d\xff",
        b"chmod -v 600 d\xff/v\xe9",
        b"chmod -Rv 700 e\xff",
        b"touch -d @1700000000 t\xfa",
        b"rm -v d\xff/v\xe9",
        b"rm -rv e\xff p\xff",
        b"rmdir -pv d\xff",
        b"rm -rv d\xff",
    ] {
        same_as(&fx, line, line).await;
        assert!(
            tree(&fx.home) == tree(&fx.gnu),
            "after `{}` the box differs from GNU",
            line.escape_ascii()
        );
    }
    assert!(!fx.home.join(OsStr::from_bytes(b"d\xff")).exists());
    assert!(fx.home.join(OsStr::from_bytes(LATIN1)).is_file());
}

#[tokio::test]
async fn a_manifest_of_such_names_verifies_byte_for_byte() {
    let fx = Fixture::new(None);
    plant(&fx);
    let (manifest, err, status) = ours(&fx, b"sha256sum caf\xe9.txt d\xff/f\xfe").await;
    assert_eq!((err.as_slice(), status), (&b""[..], ExitOutcome::Status(0)));
    for dir in [&fx.home, &fx.gnu] {
        std::fs::write(dir.join("SUMS"), &manifest).unwrap();
    }
    same_as(&fx, b"sha256sum -c SUMS", b"sha256sum -c SUMS").await;
    let (out, _, status) = ours(&fx, b"sha256sum -c SUMS").await;
    assert_eq!(status, ExitOutcome::Status(0));
    assert_eq!(out, b"caf\xe9.txt: OK\nd\xff/f\xfe: OK\n");
    // Names with a backslash, a newline or a CR: escaped in the manifest,
    // and in `-c`'s lines only for the newline, as GNU does.
    let odd: [&[u8]; 3] = [b"a\\b", b"n\nl\\x", b"r\rr"];
    for dir in [&fx.home, &fx.gnu] {
        for name in odd {
            std::fs::write(dir.join(OsStr::from_bytes(name)), name).unwrap();
        }
    }
    let (manifest, _, _) = ours(&fx, b"sha256sum 'a\\b' 'n\nl\\x' 'r\rr'").await;
    let theirs = Process::new("sha256sum")
        .args(odd.map(OsStr::from_bytes))
        .current_dir(&fx.gnu)
        .output()
        .unwrap();
    assert_eq!(
        manifest.escape_ascii().to_string(),
        theirs.stdout.escape_ascii().to_string()
    );
    for dir in [&fx.home, &fx.gnu] {
        std::fs::write(dir.join("ODD"), &manifest).unwrap();
    }
    same_as(&fx, b"sha256sum -c ODD", b"sha256sum -c ODD").await;
}

#[tokio::test]
async fn the_names_table_and_the_dispatcher_agree() {
    let registered: Vec<&str> = commands().map(|command| command.name).collect();
    let mut unique = registered.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), registered.len(), "a name is registered twice");
    // Every built-in is named in the table, and the table names nothing
    // else but scp, which exec serves in-process too.
    for name in &registered {
        assert!(
            BUILTIN_NAMES.contains(name),
            "{name} is not in BUILTIN_NAMES"
        );
    }
    for name in BUILTIN_NAMES {
        assert!(
            *name == "scp" || Builtin::from_name(name.as_bytes()).is_some(),
            "{name} is in BUILTIN_NAMES but not registered"
        );
    }
    assert_eq!(BUILTIN_NAMES.len(), registered.len() + 1);
    // Every name dispatches in-process through exec: never "not allowed".
    let fx = Fixture::new(None);
    for name in BUILTIN_NAMES {
        let (_, err, status) = ours(&fx, format!("{name} --help").as_bytes()).await;
        assert_ne!(
            status,
            ExitOutcome::Status(127),
            "{name}: {}",
            err.escape_ascii()
        );
    }
    // And `help` lists every built-in, with its synopsis.
    let (help, _, _) = ours(&fx, b"help").await;
    let help = String::from_utf8(help).unwrap();
    for builtin in commands().map(Builtin) {
        let line = format!("  {} {}\n", builtin.name(), builtin.synopsis());
        assert!(help.contains(&line), "help lacks {line:?}");
    }
}
