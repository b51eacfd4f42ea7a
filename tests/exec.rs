//! `ssh USER@HOST CMD` through the real OpenSSH client: built-ins print and
//! exit as GNU coreutils do, shell syntax is refused, nothing but built-ins
//! runs, paths stay in the box, the quota holds, and exit status, stderr and
//! large output reach the client intact.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::files::{mode_of, pattern, set_mode, sha256_hex, stored_bytes, summary, tree};
use common::host::{assert_no_host_passwd, assert_no_host_passwd_in};
use common::process::{assert_ok, describe, require_tool, text};
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
    std::fs::create_dir_all(home.join("dir")).unwrap();
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
