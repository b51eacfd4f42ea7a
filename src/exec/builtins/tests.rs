//! Tests of the built-ins through `run_command`, compared with the real GNU
//! coreutils on this machine: the same tree is built in a box and in a
//! plain directory (`cp -a`), each command line runs in both, and stdout,
//! stderr and exit status must agree. The account is called `root` so that
//! `ls -l` owner columns agree with GNU's when the tests run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::exec::{ExecContext, ExitOutcome, run_command};
use crate::jail::{Jail, Quota};

mod changes;
mod dates;
mod names;
mod sessions;

struct Fixture {
    _dir: tempfile::TempDir,
    home: PathBuf,
    gnu: PathBuf,
    ctx: ExecContext,
}

impl Fixture {
    /// The block size of the home's filesystem, the unit folders grow by.
    fn block_bytes(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.home).unwrap().blksize()
    }

    /// A box and a GNU directory holding the same small tree.
    fn new(limit: Option<u64>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::write(home.join("a.txt"), b"alpha\n").unwrap();
        let lines: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        std::fs::write(home.join("lines"), lines).unwrap();
        std::fs::write(home.join(".hidden"), b"").unwrap();
        std::fs::write(home.join("big"), vec![b'x'; 5000]).unwrap();
        std::fs::create_dir_all(home.join("b/c")).unwrap();
        std::fs::write(home.join("b/inner"), b"no newline").unwrap();
        std::fs::write(home.join("b/c/deep"), b"deep\n").unwrap();
        std::os::unix::fs::symlink("a.txt", home.join("link")).unwrap();
        // Whole seconds everywhere: the box reports seconds, GNU sorts `-t`
        // by nanoseconds.
        let touched = Command::new("find")
            .arg(&home)
            .args(["-exec", "touch", "-h", "-d", "@1700000000", "{}", "+"])
            .status()
            .unwrap();
        assert!(touched.success());
        let gnu = dir.path().join("gnu");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(&home)
            .arg(&gnu)
            .status()
            .unwrap();
        assert!(copied.success());
        let jail = Jail::open(&home, Arc::new(Quota::new(limit)), false).unwrap();
        let ctx = ExecContext {
            jail,
            account: String::from("root"),
            external: Vec::new(),
            command_timeout: Duration::from_secs(20),
            pty: false,
            moved: Default::default(),
            rates: crate::rate::AccountRates::unlimited(),
            programs: Default::default(),
        };
        Fixture {
            _dir: dir,
            home,
            gnu,
            ctx,
        }
    }

    /// Runs `line` in the box: (stdout, stderr, outcome).
    async fn run(&self, line: &str, stdin: &[u8]) -> (String, String, ExitOutcome) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = run_command(line.as_bytes(), &self.ctx, stdin, &mut out, &mut err).await;
        (
            String::from_utf8_lossy(&out).into(),
            String::from_utf8_lossy(&err).into(),
            outcome,
        )
    }

    /// Runs `line` with the host's GNU tools in the GNU directory.
    fn gnu(&self, line: &str, stdin: &[u8]) -> (String, String, ExitOutcome) {
        gnu_in(&self.gnu, line, stdin)
    }

    /// Runs `line` both ways and requires the same result.
    async fn same(&self, line: &str, stdin: &[u8]) {
        let ours = self.run(line, stdin).await;
        let theirs = self.gnu(line, stdin);
        assert_eq!(ours, theirs, "`{line}` differs from GNU (ours, GNU)");
    }
}

fn gnu_in(dir: &Path, line: &str, stdin: &[u8]) -> (String, String, ExitOutcome) {
    let argv: Vec<&str> = line.split_whitespace().collect();
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut input, &data);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let status = ExitOutcome::Status(output.status.code().unwrap() as u32);
    (
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
        status,
    )
}

/// Every file under `root`: path, kind, permission bits and a summary of
/// the contents (size and first bytes, or the link target).
fn tree(root: &Path) -> Vec<(String, char, u32, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                stack.push(path.clone());
                out.push((name, 'd', mode, String::new()));
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((name, 'l', 0, target.display().to_string()));
            } else {
                let data = std::fs::read(&path).unwrap();
                let head = String::from_utf8_lossy(&data[..data.len().min(12)]).into_owned();
                out.push((name, 'f', mode, format!("{} bytes: {head}", data.len())));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn ls_matches_gnu_for_the_common_flags() {
    let fx = Fixture::new(None);
    for line in [
        "ls",
        "ls -a",
        "ls -A",
        "ls -1",
        "ls -R",
        "ls -l",
        "ls -lA",
        "ls -lh",
        "ls -lR b",
        "ls -d b a.txt",
        "ls b a.txt",
        "ls -r",
        "ls -S",
        "ls -t",
        "ls nope",
        "ls nope a.txt",
        "ls -z",
        "ls -l link",
        "ls link",
        "ls b/c/deep",
        "ls --all --reverse",
        "ls -- -x",
        "ls b/",
        "ls -ld .",
    ] {
        fx.same(line, b"").await;
    }
}

#[tokio::test]
async fn reading_commands_match_gnu_on_files_and_stdin() {
    let fx = Fixture::new(None);
    let stdin = b"one two\nthree\n\nfour five six\nlast line without newline";
    for line in [
        "cat a.txt nope b/inner",
        "cat b",
        "cat -z",
        "head lines",
        "head -n 2 lines",
        "head -c 5 lines",
        "head -3 lines a.txt",
        "head -n x lines",
        "head nope",
        "head b",
        "tail lines",
        "tail -n 2 lines",
        "tail -n +28 lines",
        "tail -c 4 lines",
        "tail -n 1 b/inner",
        "tail -5 lines",
        "tail nope",
        "wc lines",
        "wc -l lines a.txt",
        "wc -c big",
        "wc -w lines",
        "wc nope",
        "wc lines nope big",
    ] {
        fx.same(line, b"").await;
    }
    for line in [
        "cat",
        "cat - a.txt",
        "head -n 2",
        "tail -n 2",
        "tail -c 7",
        "tail -n +4",
        "wc",
        "wc -l",
        "wc - a.txt",
    ] {
        fx.same(line, stdin).await;
    }
}

#[tokio::test]
async fn hashes_match_gnu_including_check_mode() {
    let fx = Fixture::new(None);
    for line in [
        "md5sum a.txt lines",
        "sha1sum -b a.txt",
        "sha224sum big",
        "sha256sum a.txt b/inner",
        "sha384sum lines",
        "sha512sum --tag a.txt",
        "md5sum --tag lines",
        "sha256sum nope b a.txt",
    ] {
        fx.same(line, b"").await;
    }
    fx.same("sha256sum", b"from stdin").await;
    fx.same("sha1sum - a.txt", b"x").await;
    let (manifest, _, _) = fx.gnu("sha256sum a.txt lines big", b"");
    let manifest = format!(
        "{manifest}garbage line\n{}  nope\n{}  b/inner\n",
        "0".repeat(64),
        "1".repeat(64)
    );
    for dir in [&fx.home, &fx.gnu] {
        std::fs::write(dir.join("SUMS"), &manifest).unwrap();
        std::fs::write(
            dir.join("OK"),
            manifest.lines().take(2).collect::<Vec<_>>().join("\n"),
        )
        .unwrap();
    }
    for line in [
        "sha256sum -c SUMS",
        "sha256sum -c --quiet SUMS",
        "sha256sum --check --status SUMS",
        "sha256sum -c --ignore-missing SUMS",
        "sha256sum -c OK",
        "sha256sum -c a.txt",
        "sha256sum -c --strict OK",
    ] {
        fx.same(line, b"").await;
    }
    fx.same("sha256sum -c", manifest.as_bytes()).await;
}

#[tokio::test]
async fn hashes_of_a_multi_mebibyte_stdin_match_gnu() {
    let fx = Fixture::new(None);
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 17)
        .map(|i: u32| (i * 7 % 251) as u8)
        .collect();
    for line in ["md5sum", "sha1sum", "sha256sum", "sha512sum -"] {
        fx.same(line, &data).await;
    }
    // The same through a duplex pipe written in pieces, as a channel does.
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let writer = tokio::spawn(async move {
        for piece in data.chunks(100_000) {
            client.write_all(piece).await.unwrap();
        }
    });
    let mut out = Vec::new();
    let outcome = run_command(b"sha256sum", &fx.ctx, server, &mut out, Vec::new()).await;
    writer.await.unwrap();
    assert_eq!(outcome, ExitOutcome::Status(0));
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 17)
        .map(|i: u32| (i * 7 % 251) as u8)
        .collect();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        fx.gnu("sha256sum", &data).0
    );
}

#[tokio::test]
async fn du_matches_gnu_up_to_line_order() {
    let fx = Fixture::new(None);
    for line in [
        "du",
        "du -s",
        "du -a",
        "du -sh",
        "du -h b",
        "du -b",
        "du -c a.txt b",
        "du nope",
        "du -s b lines",
        "du -d 1",
    ] {
        let (mut ours, mut theirs) = (fx.run(line, b"").await, fx.gnu(line, b""));
        for result in [&mut ours, &mut theirs] {
            let mut sorted: Vec<&str> = result.0.lines().collect();
            sorted.sort_unstable();
            result.0 = sorted.join("\n");
        }
        assert_eq!(ours, theirs, "`{line}`");
    }
}

#[tokio::test]
async fn df_and_quota_report_the_quota_as_one_filesystem() {
    let fx = Fixture::new(Some(10 * 1024 * 1024));
    let (out, err, status) = fx.run("df", b"").await;
    assert_eq!((err.as_str(), status), ("", ExitOutcome::Status(0)));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Filesystem     1K-blocks Used Available Use% Mounted on"
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!((row[0], row[1], row[5]), ("sftpbox", "10240", "/"));
    let (out, _, _) = fx.run("df -h", b"").await;
    assert!(
        out.starts_with("Filesystem      Size  Used Avail Use% Mounted on\nsftpbox          10M"),
        "{out}"
    );
    let used = fx.ctx.jail.quota().used_bytes();
    let (out, _, status) = fx.run("quota", b"").await;
    assert_eq!(status, ExitOutcome::Status(0));
    assert!(used > 1024);
    assert!(
        out.starts_with("root: ") && out.contains(" used of 10M (1%), "),
        "{out}"
    );
    let (out, err, status) = fx.run("df nope", b"").await;
    assert_eq!(
        (out.as_str(), err.as_str(), status),
        (
            "",
            "df: nope: No such file or directory\n",
            ExitOutcome::Status(1)
        )
    );
}
