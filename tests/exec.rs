//! `ssh USER@HOST CMD` through the real OpenSSH client: built-ins print and
//! exit as GNU coreutils do, shell syntax is refused, nothing but built-ins
//! runs, paths stay in the box, the quota holds, exit status, stderr and
//! large output reach the client intact, names that are not UTF-8 are kept
//! byte for byte and shown as GNU shows them, and `date` is GNU's in UTC.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::files::{mode_of, pattern, set_mode, sha256_hex, stored_bytes, summary, tree};
use common::host::{assert_no_host_passwd, assert_no_host_passwd_in};
use common::process::{assert_ok, describe, require_tool, run_with_stdin, text};
use common::{AccountSpec, TestServer};

/// The files every comparison starts from, written into `dir`.
fn populate(dir: &Path) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("a.txt"), b"one\ntwo\nthree\n").unwrap();
    std::fs::write(dir.join("b.txt"), b"alpha\nbeta\n").unwrap();
    std::fs::write(dir.join("notes.md"), b"# notes\nno trailing newline").unwrap();
    std::fs::write(dir.join(".hidden"), b"dot file\n").unwrap();
    std::fs::write(dir.join("data.bin"), pattern(10_000, 7)).unwrap();
    std::fs::write(dir.join("docs/readme.txt"), b"read me\n").unwrap();
    std::fs::write(dir.join("docs/guide.txt"), pattern(5000, 8)).unwrap();
}

/// A server with alice whose home holds [`populate`]'s files, and a host
/// directory with the same files for GNU coreutils.
fn setup() -> (TestServer, tempfile::TempDir) {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    populate(&server.home("alice"));
    let host = tempfile::tempdir().unwrap();
    populate(host.path());
    (server, host)
}

/// Runs `command` with GNU coreutils in `dir` (C locale, UTC), as the
/// reference.
fn gnu(dir: &Path, command: &str) -> Output {
    let sh = require_tool("sh");
    Command::new(sh)
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

/// Runs `command` through ssh as alice and with GNU in `host`; stdout,
/// stderr and exit status must be the same.
fn assert_like_gnu(server: &TestServer, host: &Path, command: &str) -> Output {
    let ours = server.ssh("alice", &[command], b"");
    let theirs = gnu(host, command);
    assert!(
        ours.status.code() == theirs.status.code()
            && ours.stdout == theirs.stdout
            && ours.stderr == theirs.stderr,
        "`{command}` differs from GNU\n=== sftpbox: {}\n=== GNU: {}",
        describe(&ours),
        describe(&theirs)
    );
    ours
}

#[test]
fn reading_built_ins_print_what_gnu_prints() {
    let (server, host) = setup();
    for command in [
        "ls",
        "ls -1",
        "ls -a",
        "ls -A",
        "ls -r",
        "ls -S",
        "ls docs",
        "ls -1 docs a.txt",
        "ls -d docs",
        "cat a.txt b.txt",
        "cat notes.md",
        "cat data.bin",
        "head -n 2 a.txt",
        "head -c 5 b.txt",
        "tail -n 2 a.txt",
        "tail -n 1 notes.md",
        "wc -l -c a.txt b.txt",
        "wc a.txt",
        "wc -w notes.md",
        "md5sum a.txt",
        "sha1sum a.txt b.txt",
        "sha224sum b.txt",
        "sha256sum a.txt b.txt",
        "sha384sum data.bin",
        "sha512sum data.bin docs/guide.txt",
        "du -sb docs",
        "du -s docs",
        "du -sb",
        "du -s",
        "du -b docs/readme.txt",
        "echo hi there",
        "echo -n no newline",
        "echo 'quoted  spaces' \"double\"",
        "true",
        "false",
    ] {
        assert_like_gnu(&server, host.path(), command);
    }
}

#[test]
fn missing_files_fail_as_in_gnu() {
    let (server, host) = setup();
    let cat = assert_like_gnu(&server, host.path(), "cat nope");
    assert_eq!(cat.status.code(), Some(1));
    assert_eq!(text(&cat.stderr), "cat: nope: No such file or directory\n");
    assert!(cat.stdout.is_empty());
    let ls = assert_like_gnu(&server, host.path(), "ls nope");
    assert_eq!(ls.status.code(), Some(2));
    for command in [
        "cat a.txt nope b.txt",
        "head -n 1 nope",
        "wc -l nope",
        "sha256sum nope",
        "md5sum a.txt nope",
        "du -s nope",
        "rm nope",
        "rmdir nope",
        "rmdir docs",
        "mkdir docs",
        "cp nope x",
        "mv nope x",
    ] {
        assert_like_gnu(&server, host.path(), command);
    }
}

#[test]
fn ls_la_shows_the_same_names_sizes_and_modes() {
    let (server, host) = setup();
    let ours = server.ssh("alice", &["ls -la"], b"");
    assert_ok(&ours);
    let theirs = gnu(host.path(), "ls -la");
    assert!(theirs.status.success());
    // perms, links, size and name; owner, group and times differ by design,
    // `.`'s mode and `..` (the host's parent) differ by location.
    let columns = |out: &Output| -> Vec<(String, String)> {
        text(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("total "))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert!(f.len() >= 9, "odd ls -l line {l:?}");
                let name = f[8..].join(" ");
                let shown = if name == "." || name == ".." {
                    String::new()
                } else {
                    format!("{} {} {}", f[0], f[1], f[4])
                };
                (name, shown)
            })
            .collect()
    };
    assert_eq!(
        columns(&ours),
        columns(&theirs),
        "\n=== sftpbox:\n{}\n=== GNU:\n{}",
        text(&ours.stdout),
        text(&theirs.stdout)
    );
    let owner = text(&ours.stdout);
    let line = owner.lines().find(|l| l.ends_with(" a.txt")).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((f[2], f[3]), ("alice", "alice"), "{line}");
}

#[test]
fn pwd_is_the_box_root() {
    let (server, _host) = setup();
    let out = server.ssh("alice", &["pwd"], b"");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "/\n");
}

#[test]
fn changing_built_ins_do_what_gnu_does() {
    let (server, host) = setup();
    let home = server.home("alice");
    for command in [
        "mkdir -p x/y",
        "touch x/y/z",
        "ls -R x",
        "cp a.txt c.txt",
        "mv c.txt d.txt",
        "touch e",
        "chmod 640 a.txt",
        "chmod 700 x",
        "cp -r docs docs2",
        "mv d.txt docs/",
        "rm -r x",
        "mkdir empty",
        "rmdir empty",
        "rm e",
        "mkdir -p x/y",
        "rm -rf x",
    ] {
        assert_like_gnu(&server, host.path(), command);
        let ours = tree(&home);
        let theirs = tree(host.path());
        assert!(
            ours == theirs,
            "after `{command}` the box differs from GNU\nsftpbox: {:?}\nGNU: {:?}",
            summary(&ours),
            summary(&theirs)
        );
    }
    assert_eq!(
        std::fs::read(home.join("docs/d.txt")).unwrap(),
        b"one\ntwo\nthree\n"
    );
    assert_eq!(mode_of(&home.join("a.txt")), 0o640);
}

#[test]
fn hashes_of_multi_mib_stdin() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let data = pattern(8 * 1024 * 1024 + 3, 21);
    let out = server.ssh("alice", &["sha256sum"], &data);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), format!("{}  -\n", sha256_hex(&data)));
    let out = server.ssh("alice", &["md5sum -"], &data[..1024 * 1024]);
    assert_ok(&out);
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), &data[..1024 * 1024]).unwrap();
    let reference = gnu(host.path(), "md5sum - < in");
    assert_eq!(text(&out.stdout), text(&reference.stdout));
    // wc counts stdin as well.
    let out = server.ssh("alice", &["wc -c"], &data);
    assert_ok(&out);
    assert_eq!(text(&out.stdout).trim(), data.len().to_string());
}

#[test]
fn shell_syntax_is_refused_and_nothing_runs() {
    let (server, _host) = setup();
    for (command, byte) in [
        ("ls; id", ';'),
        ("cat a.txt | wc", '|'),
        ("echo $(id)", '$'),
        ("echo `id`", '`'),
        ("ls > x", '>'),
        ("ls && id", '&'),
        ("ls & id", '&'),
        ("cat < a.txt", '<'),
        ("(id)", '('),
        ("echo $HOME", '$'),
        ("ls || touch x", '|'),
        ("echo \"$(touch x)\"", '$'),
        ("echo \"`touch x`\"", '`'),
    ] {
        let out = server.ssh("alice", &[command], b"");
        assert_eq!(
            out.status.code(),
            Some(2),
            "`{command}`: {}",
            describe(&out)
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("shell syntax is not supported")
                && stderr.contains(&format!("'{byte}'")),
            "`{command}` should name '{byte}': {}",
            describe(&out)
        );
        assert!(
            out.stdout.is_empty(),
            "`{command}` printed: {}",
            describe(&out)
        );
        assert!(
            !server.home("alice").join("x").exists(),
            "`{command}` created x"
        );
    }
    // Quoted, the same characters are plain arguments.
    let out = server.ssh("alice", &["echo 'a;b|c' '$x' \"a&b\" '`id`'"], b"");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "a;b|c $x a&b `id`\n");
}

#[test]
fn commands_that_are_not_built_ins_are_not_allowed() {
    let (server, _host) = setup();
    let marker = server.dir.path().join("uploaded-program-ran");
    let fake = format!("#!/bin/sh\ntouch '{}'\necho FAKE\n", marker.display());
    let local = server.local_file("fake-sha256sum", fake.as_bytes());
    set_mode(&local, 0o755);
    assert_ok(&server.sftp_batch(
        "alice",
        &format!("put {} sha256sum\nchmod 755 sha256sum\n", local.display()),
    ));
    for command in [
        "id",
        "bash",
        "/bin/sh",
        "sh -c id",
        "./sha256sum",
        "/sha256sum",
        "./sha256sum a.txt",
        "/usr/bin/sha256sum a.txt",
        "python3",
        "cd /",
    ] {
        let out = server.ssh("alice", &[command], b"");
        assert_eq!(
            out.status.code(),
            Some(127),
            "`{command}`: {}",
            describe(&out)
        );
        let name = command.split(' ').next().unwrap();
        assert_eq!(
            text(&out.stderr),
            format!("sftpbox: {name}: command not allowed\n"),
            "`{command}`"
        );
        assert!(out.stdout.is_empty(), "`{command}`: {}", describe(&out));
    }
    // The name alone is still the built-in, never the uploaded file.
    let out = server.ssh("alice", &["sha256sum a.txt"], b"");
    assert_ok(&out);
    assert_eq!(
        text(&out.stdout),
        format!("{}  a.txt\n", sha256_hex(b"one\ntwo\nthree\n"))
    );
    assert!(!marker.exists(), "the uploaded program ran");
}

#[test]
fn globs_and_tilde_are_expanded_inside_the_box() {
    let (server, host) = setup();
    for command in [
        "ls *.txt",
        "echo *.txt",
        "echo docs/*",
        "ls -d d*",
        "wc -l *.txt",
        "echo [ab].txt",
        "echo ?.txt",
        "echo *.none",
        "echo '*.txt'",
    ] {
        assert_like_gnu(&server, host.path(), command);
    }
    let root = server.ssh("alice", &["ls"], b"");
    assert_ok(&root);
    for command in ["ls ~", "ls ~/", "ls /", "ls /.."] {
        let out = server.ssh("alice", &[command], b"");
        assert_ok(&out);
        assert_eq!(out.stdout, root.stdout, "`{command}`");
    }
    let out = server.ssh("alice", &["echo ~ ~/docs"], b"");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "/ /docs\n");
    let out = server.ssh("alice", &["cat ~/a.txt ~/docs/readme.txt"], b"");
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "one\ntwo\nthree\nread me\n");
    // A glob matching host paths matches only in the box.
    let out = server.ssh("alice", &["echo /etc/pass*"], b"");
    assert_eq!(text(&out.stdout), "/etc/pass*\n");
    let out = server.ssh("alice", &["ls /e*"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn built_ins_never_read_the_host() {
    let (server, _host) = setup();
    let home = server.home("alice");
    let secret = server.dir.path().join("secret.txt");
    std::fs::write(&secret, b"TOP SECRET beside the homes").unwrap();
    std::fs::write(
        server.dir.path().join("homes/secret.txt"),
        b"TOP SECRET in homes",
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", home.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink(&secret, home.join("secret-link")).unwrap();
    std::os::unix::fs::symlink("../../secret.txt", home.join("relative-link")).unwrap();
    std::os::unix::fs::symlink("/etc", home.join("etc-link")).unwrap();
    let root = server.ssh("alice", &["ls"], b"");
    assert_ok(&root);
    for command in [
        "cat /etc/passwd",
        "cat ../../etc/passwd",
        "cat ../../../../../../etc/passwd",
        "cat ../secret.txt",
        "cat ../../secret.txt",
        "head /etc/passwd",
        "tail ../../etc/passwd",
        "wc /etc/passwd",
        "sha256sum /etc/passwd",
        "cat passwd-link",
        "cat secret-link",
        "cat relative-link",
        "cat etc-link/passwd",
        "ls etc-link/",
        "ls /etc",
        "ls ..",
        "ls ../..",
        "du -sb ..",
        "cp /etc/passwd x",
        "cp ../../secret.txt y",
        "cp passwd-link z",
        "cp -r etc-link w",
    ] {
        let out = server.ssh("alice", &[command], b"");
        assert_no_host_passwd(&out, command);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !all.contains("TOP SECRET"),
            "`{command}`: {}",
            describe(&out)
        );
        if command.starts_with("cat") || command.starts_with("head") {
            assert!(!out.status.success(), "`{command}`: {}", describe(&out));
            assert!(out.stdout.is_empty(), "`{command}`: {}", describe(&out));
        }
    }
    // (`cp -r etc-link w` may have copied the link itself, as GNU does.)
    let root = server.ssh("alice", &["ls"], b"");
    assert_ok(&root);
    for command in ["ls /", "ls ..", "ls ../.."] {
        let out = server.ssh("alice", &[command], b"");
        assert_ok(&out);
        assert_eq!(out.stdout, root.stdout, "`{command}` is not the box root");
    }
    // Whatever the copies did, none holds a host byte.
    for name in ["x", "y", "z", "w"] {
        let path = home.join(name);
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !text(&bytes).contains("TOP SECRET"),
                "{name}: {}",
                text(&bytes)
            );
            assert_no_host_passwd_in(&bytes, name);
        }
    }
    assert!(!home.join("x").exists(), "cp /etc/passwd x created x");
    assert!(!home.join("y").exists(), "cp ../../secret.txt y created y");
    // An absolute target that exists in the box is read in the box.
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/passwd"), b"in-box passwd\n").unwrap();
    for command in ["cat passwd-link", "cat /etc/passwd", "cat ../../etc/passwd"] {
        let out = server.ssh("alice", &[command], b"");
        assert_ok(&out);
        assert_eq!(text(&out.stdout), "in-box passwd\n", "`{command}`");
    }
}

#[test]
fn copying_over_the_quota_fails_and_keeps_usage_under_it() {
    const QUOTA: u64 = 1024 * 1024;
    let server = TestServer::start(&[AccountSpec::new("alice").quota(QUOTA)]);
    let home = server.home("alice");
    std::fs::create_dir_all(&home).unwrap();
    let big = pattern(600 * 1024, 31);
    std::fs::write(home.join("big"), &big).unwrap();
    std::fs::write(home.join("small"), b"small file\n").unwrap();
    // Made before the first login counts it: a folder costs its size too.
    std::fs::create_dir_all(home.join("dir")).unwrap();
    let out = server.ssh("alice", &["cp big big2"], b"");
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("quota exceeded"),
        "{}",
        describe(&out)
    );
    let used = stored_bytes(&home);
    assert!(used <= QUOTA, "usage {used} > {QUOTA}");
    assert_eq!(std::fs::read(home.join("big")).unwrap(), big);
    // Recursive copies and a second try are refused the same way.
    let out = server.ssh("alice", &["cp -r big dir/"], b"");
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(text(&out.stderr).contains("quota exceeded"));
    let used = stored_bytes(&home);
    assert!(used <= QUOTA, "usage {used} > {QUOTA}");
    // Small copies still fit.
    let out = server.ssh("alice", &["rm -f big2 dir/big"], b"");
    assert_ok(&out);
    let out = server.ssh("alice", &["cp small small2"], b"");
    assert_ok(&out);
    assert_eq!(std::fs::read(home.join("small2")).unwrap(), b"small file\n");
}

#[test]
fn exit_status_and_stderr_reach_the_client() {
    let (server, _host) = setup();
    for (command, code, stdout, stderr) in [
        ("true", 0, "", ""),
        ("false", 1, "", ""),
        ("cat nope", 1, "", "cat: nope: No such file or directory\n"),
        (
            "cat a.txt nope",
            1,
            "one\ntwo\nthree\n",
            "cat: nope: No such file or directory\n",
        ),
        (
            "ls nope",
            2,
            "",
            "ls: cannot access 'nope': No such file or directory\n",
        ),
        ("id", 127, "", "sftpbox: id: command not allowed\n"),
        (
            "ls; id",
            2,
            "",
            "sftpbox: shell syntax is not supported: ';'\n",
        ),
        ("echo out", 0, "out\n", ""),
        ("", 0, "", ""),
    ] {
        // ssh sends a blank command line as it is (no words: nothing to do).
        let args: &[&str] = if command.is_empty() {
            &[" "]
        } else {
            &[command]
        };
        let out = server.ssh("alice", args, b"");
        assert_eq!(
            out.status.code(),
            Some(code),
            "`{command}`: {}",
            describe(&out)
        );
        assert_eq!(text(&out.stdout), stdout, "`{command}` stdout");
        assert_eq!(text(&out.stderr), stderr, "`{command}` stderr");
    }
}

#[test]
fn large_output_arrives_complete() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let home = server.home("alice");
    std::fs::create_dir_all(&home).unwrap();
    let data = pattern(50 * 1024 * 1024 + 11, 41);
    std::fs::write(home.join("big"), &data).unwrap();
    let out = server.ssh("alice", &["cat big"], b"");
    assert_ok(&out);
    assert_eq!(out.stdout.len(), data.len());
    assert!(
        sha256_hex(&out.stdout) == sha256_hex(&data),
        "the output differs from the file"
    );
    // And a tail of it, to see the stream ends at the right place.
    let out = server.ssh("alice", &["tail -c 100 big"], b"");
    assert_ok(&out);
    assert!(out.stdout == data[data.len() - 100..]);
}

/// A file name in Latin-1, as an old Windows client sends it: not UTF-8.
const LATIN1: &[u8] = b"caf\xe9.txt";

/// `name` under `dir`, from its bytes.
fn at(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

/// Runs the command line `line`, whatever its bytes, through ssh as alice
/// (the harness's `ssh` takes text only; ssh itself sends bytes).
fn ssh_bytes(server: &TestServer, line: &[u8]) -> Output {
    let mut cmd = Command::new(require_tool("ssh"));
    cmd.args(server.openssh_options("-p"))
        .args(["-o", "BatchMode=yes", "-T", "-i"])
        .arg(server.client_key())
        .arg("alice@127.0.0.1")
        .arg(OsStr::from_bytes(line));
    run_with_stdin(cmd, b"")
}

/// Runs `line`, whatever its bytes, with GNU in `dir`, as [`gnu`] does.
fn gnu_bytes(dir: &Path, line: &[u8]) -> Output {
    Command::new(require_tool("sh"))
        .arg("-c")
        .arg(OsStr::from_bytes(line))
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

/// `line` as ssh and GNU run it must print the same bytes and end alike.
fn assert_bytes_like_gnu(server: &TestServer, host: &Path, ours: &[u8], theirs: &[u8]) {
    let (ours_out, theirs_out) = (ssh_bytes(server, ours), gnu_bytes(host, theirs));
    assert!(
        ours_out.status.code() == theirs_out.status.code()
            && ours_out.stdout == theirs_out.stdout
            && ours_out.stderr == theirs_out.stderr,
        "`{}` differs from GNU `{}`\n=== sftpbox: {:?} {:?} {:?}\n=== GNU: {:?} {:?} {:?}",
        ours.escape_ascii(),
        theirs.escape_ascii(),
        ours_out.status.code(),
        ours_out.stdout.escape_ascii().to_string(),
        ours_out.stderr.escape_ascii().to_string(),
        theirs_out.status.code(),
        theirs_out.stdout.escape_ascii().to_string(),
        theirs_out.stderr.escape_ascii().to_string(),
    );
}

/// The name column of each `ls -l` line, as printed (GNU's alignment
/// space included): what follows the eighth field and its one space.
fn name_column(listing: &[u8]) -> Vec<Vec<u8>> {
    listing
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty() && !line.starts_with(b"total "))
        .map(|line| {
            let mut rest = line;
            for _ in 0..8 {
                let start = rest.iter().position(|&b| b != b' ').unwrap();
                let field = &rest[start..];
                let end = field.iter().position(|&b| b == b' ').unwrap();
                rest = &field[end..];
            }
            rest[1..].to_vec()
        })
        .collect()
}

/// A server whose alice and a host directory both hold [`populate`]'s files
/// and [`LATIN1`].
fn setup_latin1() -> (TestServer, tempfile::TempDir) {
    let (server, host) = setup();
    for dir in [server.home("alice"), host.path().to_owned()] {
        std::fs::write(at(&dir, LATIN1), b"caf\xe9 in Latin-1\n").unwrap();
    }
    (server, host)
}

#[test]
fn a_name_that_is_not_utf8_is_listed_as_gnu_ls_shell_escape_lists_it() {
    let (server, host) = setup_latin1();
    for (ours, theirs) in [
        ("ls", "ls --quoting-style=shell-escape"),
        ("ls -a", "ls -a --quoting-style=shell-escape"),
        ("ls -1 caf*", "ls -1 --quoting-style=shell-escape caf*"),
    ] {
        assert_bytes_like_gnu(&server, host.path(), ours.as_bytes(), theirs.as_bytes());
    }
    let out = server.ssh("alice", &["ls"], b"");
    assert!(
        text(&out.stdout).contains("'caf'$'\\351''.txt'\n"),
        "{}",
        describe(&out)
    );
    // `ls -l`: owners and times differ by design; the name column, with
    // the space GNU puts before unquoted names to line them up, does not.
    let ours = server.ssh("alice", &["ls -l"], b"");
    assert_ok(&ours);
    let theirs = gnu(host.path(), "ls -l --quoting-style=shell-escape");
    assert_ok(&theirs);
    assert_eq!(
        name_column(&ours.stdout),
        name_column(&theirs.stdout),
        "\n=== sftpbox:\n{}\n=== GNU:\n{}",
        text(&ours.stdout),
        text(&theirs.stdout)
    );
    assert!(name_column(&ours.stdout).contains(&b" a.txt".to_vec()));
    // Listing never renamed anything.
    assert_eq!(
        std::fs::read(at(&server.home("alice"), LATIN1)).unwrap(),
        b"caf\xe9 in Latin-1\n"
    );
}

#[test]
fn rm_r_empties_and_removes_a_folder_holding_such_a_name() {
    let (server, host) = setup_latin1();
    for dir in [server.home("alice"), host.path().to_owned()] {
        std::fs::create_dir_all(dir.join("old/inner")).unwrap();
        std::fs::write(at(&dir, b"old/caf\xe9.txt"), b"x").unwrap();
        std::fs::write(at(&dir, b"old/inner/\xff"), b"y").unwrap();
    }
    assert_bytes_like_gnu(
        &server,
        host.path(),
        b"rm -rv old/inner",
        b"rm -rv old/inner",
    );
    let out = server.ssh("alice", &["rm -r old"], b"");
    assert_ok(&out);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        describe(&out)
    );
    assert!(!server.home("alice").join("old").exists());
    assert!(at(&server.home("alice"), LATIN1).exists());
}

#[test]
fn mv_and_cp_keep_such_a_name_byte_for_byte() {
    let (server, host) = setup_latin1();
    let home = server.home("alice");
    let content = b"caf\xe9 in Latin-1\n".to_vec();
    // Typed as raw bytes: the exact name reaches the jail and the disk.
    for line in [
        &b"cp -v caf\xe9.txt copy\xe9.txt"[..],
        b"mv -v copy\xe9.txt moved\xff.txt",
        b"mkdir -v d\xe9",
        b"cp -v moved\xff.txt d\xe9/",
        b"mv -v moved\xff.txt d\xe9/back\xe9.txt",
    ] {
        assert_bytes_like_gnu(&server, host.path(), line, line);
    }
    assert_eq!(
        std::fs::read(at(&home, b"d\xe9/moved\xff.txt")).unwrap(),
        content
    );
    assert_eq!(
        std::fs::read(at(&home, b"d\xe9/back\xe9.txt")).unwrap(),
        content
    );
    assert!(!at(&home, b"copy\xe9.txt").exists() && !at(&home, b"moved\xff.txt").exists());
    // Found by a glob and copied as a tree: the bytes stay the same.
    let out = server.ssh("alice", &["cp -r d? tree"], b"");
    assert_ok(&out);
    assert_eq!(
        std::fs::read(at(&home, b"tree/back\xe9.txt")).unwrap(),
        content
    );
    assert_eq!(
        std::fs::read(at(&home, b"tree/moved\xff.txt")).unwrap(),
        content
    );
    let out = server.ssh("alice", &["mv caf?.txt tree"], b"");
    assert_ok(&out);
    assert_eq!(
        std::fs::read(at(&home, b"tree/caf\xe9.txt")).unwrap(),
        content
    );
    let names: Vec<Vec<u8>> = {
        let mut names: Vec<Vec<u8>> = std::fs::read_dir(home.join("tree"))
            .unwrap()
            .map(|e| e.unwrap().file_name().as_bytes().to_vec())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names,
        [
            b"back\xe9.txt".to_vec(),
            b"caf\xe9.txt".to_vec(),
            b"moved\xff.txt".to_vec()
        ]
    );
}

#[test]
fn sha256sum_of_such_a_name_then_sha256sum_c_round_trips() {
    let (server, host) = setup_latin1();
    let out = ssh_bytes(&server, b"sha256sum caf\xe9.txt a.txt");
    assert_ok(&out);
    // The manifest holds the raw name, as GNU writes it.
    let theirs = gnu_bytes(host.path(), b"sha256sum caf\xe9.txt a.txt");
    assert_eq!(out.stdout, theirs.stdout);
    assert!(out.stdout.windows(LATIN1.len()).any(|w| w == LATIN1));
    std::fs::write(server.home("alice").join("SUMS"), &out.stdout).unwrap();
    let check = server.ssh("alice", &["sha256sum -c SUMS"], b"");
    assert_ok(&check);
    assert_eq!(check.stdout, b"caf\xe9.txt: OK\na.txt: OK\n");
    // A changed byte is a different file, and fails.
    std::fs::write(at(&server.home("alice"), LATIN1), b"changed").unwrap();
    let check = server.ssh("alice", &["sha256sum -c SUMS"], b"");
    assert_eq!(check.status.code(), Some(1), "{}", describe(&check));
    assert_eq!(check.stdout, b"caf\xe9.txt: FAILED\na.txt: OK\n");
}

#[test]
fn messages_about_such_a_name_quote_it_as_gnu_does() {
    let (server, host) = setup_latin1();
    for line in [
        &b"cat nope\xe9"[..],
        b"ls nope\xe9",
        b"rm nope\xe9",
        b"mv nope\xe9 x",
        b"cp nope\xe9 x",
        b"stat -c %n:%s caf\xe9.txt",
        b"wc caf\xe9.txt",
        b"du -b caf\xe9.txt",
        b"head -v caf\xe9.txt",
    ] {
        assert_bytes_like_gnu(&server, host.path(), line, line);
    }
}

#[test]
fn date_prints_what_gnu_date_prints_with_tz_utc() {
    let (server, host) = setup();
    for command in [
        "date -u -d @1700000000 '+%F %T %a %b %j'",
        "date -d @1700000000",
        "date -u -d @0",
        "date -d @-86401 '+%Y-%m-%d %H:%M:%S %A %B %e %y %C'",
        "date -d @1700000000.123456789 '+%s %N %3N %p %P %I %l %k'",
        "date -d @1609635723 '+%G-W%V-%u %g %U %W %w %u'",
        "date -d @1700000000 '+%D|%R|%c|%x|%X|%r|%h|%q|%n|%t|%%'",
        "date -d @1700000000 '+%z %:z %::z %:::z %Z'",
        "date -d @1700000000 '+%-d %-m %_d %_H %05e %^A %#B %-j %10A'",
        "date -R -d @1700000000",
        "date -I -d @1700000000",
        "date -Iseconds -d @1700000000",
        "date -Ins -d @1700000000.5",
        "date --iso-8601=minutes -d @1700000000",
        "date --rfc-3339=seconds -d @1700000000",
        "date -d 2023-11-14",
        "date -d '2023-11-14 10:00:05'",
        "date -r a.txt +%Y",
        "date -d nonsense",
        "date -d @1 -r a.txt",
        "date -I -R",
        "date -u +%Y",
    ] {
        assert_like_gnu(&server, host.path(), command);
    }
}
