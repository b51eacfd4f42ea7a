//! Running programs: the tools a test drives, the sftpbox binary, and the
//! assertions on what they printed and how they exited.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where tools are looked up, so that a missing one fails the test by name.
const TOOL_DIRS: &[&str] = &["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin"];

/// How long [`with_timeout`] lets a client run before `timeout` ends it:
/// every transfer in these tests takes seconds, so a minute means it hangs.
const CLIENT_TIMEOUT_SECONDS: &str = "60";

/// Fails the test when a tool it needs is not installed.
pub fn require_tool(name: &str) -> PathBuf {
    for dir in TOOL_DIRS {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("this test needs `{name}`, which is not installed (see .ci/run)");
}

/// The python3 that can `import paramiko`: the one on PATH, or Debian's
/// (where python3-paramiko installs). Fails the test when there is none.
pub fn require_paramiko() -> PathBuf {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|python| {
            Command::new(python)
                .args(["-c", "import paramiko"])
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "this test needs python3 with the paramiko module \
                 (Debian: python3-paramiko, see .ci/run)"
            )
        })
}

/// `program` under `timeout` (killed a little after the limit if it
/// ignores SIGTERM), run in `dir` with stdin closed: a client that hangs
/// fails its test instead of holding the suite.
pub fn with_timeout(program: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(require_tool("timeout"));
    cmd.args(["-k", "5", CLIENT_TIMEOUT_SECONDS])
        .arg(program)
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with `input` on stdin and collects its output.
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// Runs the sftpbox binary with `args` in `dir`.
pub fn sftpbox(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sftpbox"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Makes an unencrypted ed25519 key pair at `path` and `path.pub`.
pub fn generate_key(path: &Path) {
    let status = Command::new(require_tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@client", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

/// `SHA256:...` of the public key at `path`, as `ssh-keygen -lf` prints it.
pub fn fingerprint(path: &Path) -> String {
    let out = Command::new(require_tool("ssh-keygen"))
        .arg("-lf")
        .arg(path)
        .output()
        .unwrap();
    assert_ok(&out);
    let line = text(&out.stdout);
    line.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no SHA256 fingerprint in {line:?}"))
        .to_owned()
}

/// Text of an output stream, for assertions.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Status, stdout and stderr of a command, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// Asserts a command succeeded, printing its streams when it did not.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "command failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Asserts a command failed; `what` names it in the message.
pub fn assert_failed(output: &Output, what: &str) {
    assert!(
        !output.status.success(),
        "{what} should have failed\n{}",
        describe(output)
    );
}

/// Asserts a command exited with `code`; `what` names it in the message.
pub fn assert_status(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: wrong exit status\n{}",
        describe(output)
    );
}
