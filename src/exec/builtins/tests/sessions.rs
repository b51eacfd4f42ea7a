//! Dispatch, syntax refusal, globs, terminals, timeouts and the shell.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Fixture, gnu_in};
use crate::exec::{ExitOutcome, run_command, run_shell};

#[tokio::test]
async fn shell_syntax_is_refused_with_exit_2_and_unknown_commands_get_127() {
    let fx = Fixture::new(None);
    for (line, op) in [
        ("ls; rm a.txt", ';'),
        ("cat a.txt | nc x", '|'),
        ("echo $(id)", '$'),
        ("ls > f", '>'),
        ("ls `id`", '`'),
        ("ls &", '&'),
    ] {
        let (out, err, status) = fx.run(line, b"").await;
        assert_eq!(out, "");
        assert_eq!(
            err,
            format!("sftpbox: shell syntax is not supported: '{op}'\n")
        );
        assert_eq!(status, ExitOutcome::Status(2));
    }
    assert!(fx.home.join("a.txt").exists());
    assert_eq!(fx.run("echo 'a;b' \"c|d\"", b"").await.0, "a;b c|d\n");
    // An uploaded file named like a built-in is never what runs.
    std::fs::write(fx.home.join("sha256sum"), b"#!/bin/sh\necho pwned\n").unwrap();
    let (_, err, status) = fx.run("./sha256sum a.txt", b"").await;
    assert_eq!(
        (err.as_str(), status),
        (
            "sftpbox: ./sha256sum: command not allowed\n",
            ExitOutcome::Status(127)
        )
    );
    assert_eq!(
        fx.run("sha256sum a.txt", b"").await.0,
        fx.gnu("sha256sum a.txt", b"").0
    );
    let (_, err, status) = fx.run("bash -c id", b"").await;
    assert_eq!(
        (err.as_str(), status),
        (
            "sftpbox: bash: command not allowed\n",
            ExitOutcome::Status(127)
        )
    );
    // scp is served in-process: with no client on the other end the source
    // sees EOF before the sink's ready byte and exits 1, not 127.
    let (_, err, status) = fx.run("scp -f a.txt", b"").await;
    assert_eq!((err.as_str(), status), ("", ExitOutcome::Status(1)));
    assert_eq!(fx.run("", b"").await.2, ExitOutcome::Status(0));
}

#[tokio::test]
async fn globs_and_echo_behave_like_sh_and_gnu_echo() {
    let fx = Fixture::new(None);
    assert_eq!(fx.run("echo *", b"").await.0, "a.txt b big lines link\n");
    assert_eq!(fx.run("echo .h* b/*", b"").await.0, ".hidden b/c b/inner\n");
    assert_eq!(fx.run("echo *.zip '*'", b"").await.0, "*.zip *\n");
    assert_eq!(fx.run("ls ~/b/c", b"").await.0, "deep\n");
    for line in [
        "echo -n x",
        "echo -nx",
        "echo -e a\\tb\\c",
        "echo -e \\x41\\0102",
        "echo -- -n",
        "echo",
    ] {
        let theirs = gnu_in(&fx.gnu, &line.replace("echo", "/usr/bin/echo"), b"");
        assert_eq!(
            fx.run(&line.replace('\\', "\\\\"), b"").await,
            theirs,
            "{line}"
        );
    }
    let (out, _, _) = fx.run("stat -c %s:%a:%F:%U:%n a.txt b", b"").await;
    assert_eq!(
        out,
        "6:644:regular file:root:a.txt\n4096:755:directory:root:b\n"
    );
    let (out, _, _) = fx.run("pwd", b"").await;
    assert_eq!(out, "/\n");
}

#[tokio::test]
async fn a_terminal_gets_crlf_and_stderr_merged() {
    let mut fx = Fixture::new(None);
    fx.ctx.pty = true;
    let (out, err, status) = fx.run("cat a.txt nope", b"").await;
    assert_eq!(out, "alpha\r\ncat: nope: No such file or directory\r\n");
    assert_eq!((err.as_str(), status), ("", ExitOutcome::Status(1)));
    assert_eq!(fx.run("ls", b"").await.0, "a.txt  b  big  lines  link\r\n");
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed() {
    let mut fx = Fixture::new(None);
    fx.ctx.command_timeout = Duration::from_millis(200);
    let (_client, server) = tokio::io::duplex(1024);
    let mut err = Vec::new();
    let outcome = run_command(b"cat", &fx.ctx, server, Vec::new(), &mut err).await;
    assert_eq!(outcome, ExitOutcome::Signal(crate::exec::ExitSignal::Kill));
    assert_eq!(err, b"sftpbox: cat: timed out\n");
}

#[tokio::test]
async fn the_shell_keeps_a_directory_and_edits_lines() {
    let fx = Fixture::new(None);
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let (input, output) = tokio::io::split(server);
    let ctx = fx.ctx.clone();
    let shell = tokio::spawn(async move { run_shell(&ctx, input, output).await });
    let script: &[&[u8]] = &[
        b"cd b\r",
        b"pwd\r",
        b"ab\x7fc\r",
        b"junk\x03",
        b"\x1b[Als\r",
        b"xyz\x15cat inner\r\n",
        b"cd /nope\r",
        b"echo hi\r",
        b"mkdir new\r",
        b"cd ..\r",
        b"\x04",
    ];
    for piece in script {
        client.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(shell.await.unwrap(), ExitOutcome::Status(0));
    let mut transcript = Vec::new();
    client.read_to_end(&mut transcript).await.unwrap();
    let transcript = String::from_utf8(transcript).unwrap();
    for expected in [
        "sftpbox:/> cd b\r\nsftpbox:/b> ",
        "pwd\r\n/b\r\n",
        "ab\x08 \x08c\r\nac: command not found\r\n",
        "junk^C\r\nsftpbox:/b> ls\r\nc  inner\r\n",
        "xyz\x08 \x08\x08 \x08\x08 \x08cat inner\r\nno newlinesftpbox:/b> ",
        "cd: /nope: No such file or directory\r\n",
        "echo hi\r\necho: command not found\r\n",
        "cd ..\r\nsftpbox:/> logout\r\n",
    ] {
        assert!(
            transcript.contains(expected),
            "missing {expected:?} in {transcript:?}"
        );
    }
    assert!(fx.home.join("b/new").is_dir());
}
