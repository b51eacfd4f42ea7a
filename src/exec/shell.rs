//! The interactive shell: what `ssh USER@HOST` with a terminal gets.
//!
//! A command loop in the style of a classic FTP client, not a POSIX shell:
//! prompt `sftpbox:/path> `, the built-ins the shell offers plus `cd` and
//! `exit`/`quit`/`logout`; never an external program. The client's
//! terminal is in raw mode, so this module does its own line discipline:
//! typed bytes are echoed, Enter prints `\r\n`, backspace (0x7f, 0x08)
//! erases a character with `\b \b`, Ctrl-C drops the line, Ctrl-U erases
//! it, Ctrl-D on an empty line leaves, escape sequences (arrow keys) are
//! ignored. Lines longer than [`MAX_SHELL_LINE_BYTES`] stop echoing input.
//! Commands get no stdin; their output uses `\r\n`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::builtins::{self, Builtin, Streams, reason};
use super::{ExecContext, ExitOutcome, crlf, parse};
use crate::jail::VirtualPath;

/// Longest line the shell accepts, in bytes.
pub const MAX_SHELL_LINE_BYTES: usize = 4096;

/// Where an escape sequence is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// Got ESC.
    Start,
    /// Got `ESC [`: skip to a final byte (0x40..=0x7e).
    Csi,
    /// Got `ESC O`: skip one more byte.
    Ss3,
}

/// Runs the shell until the client leaves; always exit status 0.
pub(crate) async fn run<R, W>(ctx: &ExecContext, mut input: R, mut output: W) -> ExitOutcome
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let mut cwd = VirtualPath::root();
    let mut line: Vec<u8> = Vec::new();
    let mut escape = Escape::None;
    let mut after_cr = false;
    let greeting = format!(
        "sftpbox: logged in as {}; type 'help' for commands; file transfers use sftp or scp.\r\n",
        ctx.account
    );
    if say(&mut output, greeting.as_bytes()).await.is_err()
        || prompt(&mut output, &cwd).await.is_err()
    {
        return ExitOutcome::Status(0);
    }
    let mut buf = [0u8; 1024];
    loop {
        let read = match input.read(&mut buf).await {
            Ok(0) | Err(_) => return ExitOutcome::Status(0),
            Ok(read) => read,
        };
        for &byte in buf.get(..read).unwrap_or_default() {
            let was_cr = std::mem::replace(&mut after_cr, false);
            // Every byte of an escape sequence, the final one included, is
            // swallowed.
            let swallowed = escape != Escape::None || byte == 0x1b;
            escape = match (escape, byte) {
                (Escape::Start, b'[') => Escape::Csi,
                (Escape::Start, b'O') => Escape::Ss3,
                (Escape::Csi, 0x40..=0x7e) | (Escape::Start | Escape::Ss3, _) => Escape::None,
                (Escape::Csi, _) => Escape::Csi,
                (Escape::None, 0x1b) => Escape::Start,
                (Escape::None, _) => Escape::None,
            };
            if swallowed {
                continue;
            }
            let echoed: std::io::Result<()> = match byte {
                b'\n' if was_cr => Ok(()),
                b'\r' | b'\n' => {
                    after_cr = byte == b'\r';
                    let command = std::mem::take(&mut line);
                    if say(&mut output, b"\r\n").await.is_err() {
                        return ExitOutcome::Status(0);
                    }
                    if !execute(ctx, &mut cwd, &command, &mut output).await {
                        return ExitOutcome::Status(0);
                    }
                    prompt(&mut output, &cwd).await
                }
                0x7f | 0x08 => {
                    if pop_char(&mut line) {
                        say(&mut output, b"\x08 \x08").await
                    } else {
                        Ok(())
                    }
                }
                0x03 => {
                    line.clear();
                    match say(&mut output, b"^C\r\n").await {
                        Ok(()) => prompt(&mut output, &cwd).await,
                        Err(err) => Err(err),
                    }
                }
                0x15 => {
                    let mut erase = Vec::new();
                    while pop_char(&mut line) {
                        erase.extend_from_slice(b"\x08 \x08");
                    }
                    say(&mut output, &erase).await
                }
                0x04 if line.is_empty() => {
                    let _ = say(&mut output, b"logout\r\n").await;
                    return ExitOutcome::Status(0);
                }
                0x00..=0x1f => Ok(()),
                _ if line.len() >= MAX_SHELL_LINE_BYTES => say(&mut output, b"\x07").await,
                _ => {
                    line.push(byte);
                    say(&mut output, &[byte]).await
                }
            };
            if echoed.is_err() {
                return ExitOutcome::Status(0);
            }
        }
    }
}

/// Removes the last (UTF-8) character; false if the line was empty.
fn pop_char(line: &mut Vec<u8>) -> bool {
    let Some(last) = line.pop() else {
        return false;
    };
    if last >= 0x80 {
        while line.last().is_some_and(|b| (0x80..0xc0).contains(b)) {
            line.pop();
        }
        if line.last().is_some_and(|b| *b >= 0xc0) {
            line.pop();
        }
    }
    true
}

async fn say<W: AsyncWrite + Unpin>(output: &mut W, data: &[u8]) -> std::io::Result<()> {
    output.write_all(data).await?;
    output.flush().await
}

async fn prompt<W: AsyncWrite + Unpin>(output: &mut W, cwd: &VirtualPath) -> std::io::Result<()> {
    say(output, format!("sftpbox:{cwd}> ").as_bytes()).await
}

/// Runs one command line; false when the shell should end.
async fn execute<W>(ctx: &ExecContext, cwd: &mut VirtualPath, line: &[u8], output: &mut W) -> bool
where
    W: AsyncWrite + Unpin + Send,
{
    let argv = match parse(line, ctx, cwd).await {
        Ok(argv) => argv,
        Err(message) => return say(output, &crlf(message.as_bytes())).await.is_ok(),
    };
    let Some(name) = argv.first() else {
        return true;
    };
    match name.as_slice() {
        b"exit" | b"quit" | b"logout" | b"bye" => false,
        b"cd" => {
            let message = change_directory(ctx, cwd, &argv).await;
            match message {
                Some(message) => say(output, &crlf(message.as_bytes())).await.is_ok(),
                None => true,
            }
        }
        _ => match Builtin::from_name(name).filter(|b| b.is_in_shell()) {
            Some(builtin) => {
                let streams = Streams {
                    stdin: None,
                    stdout: output,
                    stderr: None,
                };
                builtins::run(builtin, argv, ctx, cwd.clone(), streams).await;
                true
            }
            None => {
                let message = format!(
                    "{}: command not found\r\n",
                    crate::listing::quoted_name(name)
                );
                say(output, message.as_bytes()).await.is_ok()
            }
        },
    }
}

/// `cd [DIR]`: `/` (the home) without an argument. Returns the error
/// message, if any.
async fn change_directory(
    ctx: &ExecContext,
    cwd: &mut VirtualPath,
    argv: &[Vec<u8>],
) -> Option<String> {
    let target = match argv {
        [_] => b"/".to_vec(),
        [_, dir] => dir.clone(),
        _ => return Some(String::from("cd: too many arguments\n")),
    };
    let shown = crate::listing::quoted_name(&target).into_owned();
    let path = match VirtualPath::resolve(cwd, &target) {
        Ok(path) => path,
        Err(err) => return Some(format!("cd: {shown}: {}\n", reason(&err))),
    };
    let jail = ctx.jail.clone();
    let probe = path.clone();
    let stat = tokio::task::spawn_blocking(move || jail.stat(&probe)).await;
    match stat {
        Ok(Ok(st)) if st.is_dir() => {
            *cwd = path;
            None
        }
        Ok(Ok(_)) => Some(format!("cd: {shown}: Not a directory\n")),
        Ok(Err(err)) => Some(format!("cd: {shown}: {}\n", reason(&err))),
        Err(_) => Some(String::from("cd: internal error\n")),
    }
}
