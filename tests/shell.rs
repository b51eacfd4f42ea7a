//! The interactive shell: `ssh -t USER@HOST` gets a command loop of the
//! built-ins with its own echo and prompt; a shell request without a
//! terminal is refused with a pointer to `ssh USER@HOST COMMAND`.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::process::text;
use common::{AccountSpec, TestServer};
use russh::ChannelMsg;

/// A server with alice, whose home holds `docs/` with two files.
fn setup() -> TestServer {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let home = server.home("alice");
    std::fs::create_dir_all(home.join("docs")).unwrap();
    std::fs::write(home.join("docs/readme.txt"), b"read me\n").unwrap();
    std::fs::write(home.join("docs/guide.txt"), b"a guide\n").unwrap();
    std::fs::write(home.join("top.txt"), b"top\n").unwrap();
    server
}

#[test]
fn a_terminal_gets_the_shell_with_prompt_echo_and_exit_status_0() {
    let server = setup();
    let out = server.ssh_with("alice", &["-tt"], &[], b"cd docs\npwd\nls\nexit\n");
    let shown = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{shown}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(
        shown.contains("sftpbox: logged in as alice"),
        "no greeting:\n{shown}"
    );
    assert!(shown.contains("sftpbox:/> "), "no root prompt:\n{shown}");
    assert!(
        shown.contains("sftpbox:/docs> "),
        "no prompt after cd:\n{shown}"
    );
    // The server echoes what was typed, then prints `pwd` and the listing.
    assert!(shown.contains("cd docs\r\n"), "no echo:\n{shown}");
    assert!(shown.contains("\r\n/docs\r\n"), "no pwd output:\n{shown}");
    assert!(
        shown.contains("guide.txt") && shown.contains("readme.txt"),
        "no listing:\n{shown}"
    );
    assert!(
        !shown.contains("top.txt"),
        "ls listed / instead of /docs:\n{shown}"
    );
}

#[test]
fn a_shell_request_without_a_terminal_is_refused() {
    let server = setup();
    let out = server.ssh("alice", &[], b"");
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no interactive shell without a terminal"),
        "{stderr}"
    );
    assert!(stderr.contains("ssh USER@HOST COMMAND"), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

/// A shell on a pty over the russh client, read until a given text.
struct Session {
    channel: russh::Channel<russh::client::Msg>,
    /// Everything received so far.
    seen: Vec<u8>,
    /// Where the next `until` starts looking.
    mark: usize,
    exit_status: Option<u32>,
    _handle: russh::client::Handle<common::client::AcceptAnyHostKey>,
}

impl Session {
    async fn open(server: &TestServer) -> Session {
        let handle = server.russh_login("alice").await;
        let channel = handle.channel_open_session().await.unwrap();
        channel
            .request_pty(true, "xterm", 80, 24, 0, 0, &[])
            .await
            .unwrap();
        channel.request_shell(true).await.unwrap();
        let mut session = Session {
            channel,
            seen: Vec::new(),
            mark: 0,
            exit_status: None,
            _handle: handle,
        };
        session.until("sftpbox:/> ").await;
        session
    }

    async fn send(&self, bytes: &[u8]) {
        self.channel.data(bytes).await.unwrap();
    }

    /// Waits (at most 10 s) until `needle` arrives after the last mark;
    /// returns what arrived up to and including it and moves the mark
    /// past it.
    async fn until(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let tail = self.seen.get(self.mark..).unwrap_or_default();
            if let Some(at) = find(tail, needle.as_bytes()) {
                let end = self.mark + at + needle.len();
                let got = text(&self.seen[self.mark..end]);
                self.mark = end;
                return got;
            }
            let msg = tokio::time::timeout_at(deadline, self.channel.wait()).await;
            match msg {
                Ok(Some(ChannelMsg::Data { data })) => self.seen.extend_from_slice(&data),
                Ok(Some(ChannelMsg::ExtendedData { data, .. })) => {
                    self.seen.extend_from_slice(&data)
                }
                Ok(Some(ChannelMsg::ExitStatus { exit_status })) => {
                    self.exit_status = Some(exit_status)
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!(
                    "waiting for {needle:?}; got so far:\n{}",
                    text(self.seen.get(self.mark..).unwrap_or_default())
                ),
            }
        }
    }

    /// Reads to the end of the channel and returns the exit status.
    async fn finish(&mut self) -> Option<u32> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.channel.wait()).await {
                Ok(Some(ChannelMsg::Data { data })) => self.seen.extend_from_slice(&data),
                Ok(Some(ChannelMsg::ExitStatus { exit_status })) => {
                    self.exit_status = Some(exit_status)
                }
                Ok(Some(_)) => {}
                Ok(None) => return self.exit_status,
                Err(_) => panic!("the channel did not close"),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_runs_built_ins_and_stays_in_the_box() {
    let server = setup();
    let mut shell = Session::open(&server).await;

    shell.send(b"cd docs\r").await;
    let got = shell.until("sftpbox:/docs> ").await;
    assert!(got.starts_with("cd docs\r\n"), "{got:?}");

    shell.send(b"ls\r").await;
    let got = shell.until("sftpbox:/docs> ").await;
    assert!(
        got.contains("guide.txt") && got.contains("readme.txt"),
        "{got:?}"
    );

    // `cd ..` twice stops at the box root; `cd` to a host path fails.
    shell.send(b"cd ../..\r").await;
    shell.until("sftpbox:/> ").await;
    shell.send(b"pwd\r").await;
    let got = shell.until("sftpbox:/> ").await;
    assert_eq!(got, "pwd\r\n/\r\nsftpbox:/> ");
    shell.send(b"cd /etc\r").await;
    let got = shell.until("sftpbox:/> ").await;
    assert!(
        got.contains("cd: /etc: No such file or directory\r\n"),
        "{got:?}"
    );
    shell.send(b"cd top.txt\r").await;
    let got = shell.until("sftpbox:/> ").await;
    assert!(got.contains("cd: top.txt: Not a directory\r\n"), "{got:?}");

    // Built-ins work on the box; output uses \r\n.
    shell.send(b"mkdir new\r").await;
    shell.until("sftpbox:/> ").await;
    assert!(server.home("alice").join("new").is_dir());
    shell.send(b"cat top.txt\r").await;
    let got = shell.until("sftpbox:/> ").await;
    assert_eq!(got, "cat top.txt\r\ntop\r\nsftpbox:/> ");
    shell.send(b"cat /etc/passwd\r").await;
    let got = shell.until("sftpbox:/> ").await;
    assert!(
        got.contains("cat: /etc/passwd: No such file or directory\r\n"),
        "{got:?}"
    );
    assert!(!got.contains("root:"), "{got:?}");

    // No external program and no shell syntax.
    shell.send(b"id\r").await;
    let got = shell.until("sftpbox:/> ").await;
    assert!(got.contains("id: command not found\r\n"), "{got:?}");
    shell.send(b"ls; touch x\r").await;
    let got = shell.until("sftpbox:/> ").await;
    assert!(
        got.contains("shell syntax is not supported: ';'"),
        "{got:?}"
    );
    assert!(!server.home("alice").join("x").exists());

    // Line editing: backspace erases, Ctrl-U drops the line, arrows are ignored.
    shell.send(b"cd docsX\x7f\r").await;
    let got = shell.until("sftpbox:/docs> ").await;
    assert!(got.contains("\x08 \x08"), "{got:?}");
    shell.send(b"rm -rf /\x15cd /\x1b[A\r").await;
    shell.until("sftpbox:/> ").await;
    assert!(server.home("alice").join("docs/readme.txt").exists());

    shell.send(b"exit\r").await;
    assert_eq!(shell.finish().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_d_on_an_empty_line_leaves_with_status_0() {
    let server = setup();
    let mut shell = Session::open(&server).await;
    shell.send(b"\x04").await;
    shell.until("logout\r\n").await;
    assert_eq!(shell.finish().await, Some(0));
}
