//! `exec`: what `ssh USER@HOST CMD` runs, and the small interactive shell.
//!
//! The command string is never handed to a shell. `words` splits it with our
//! own POSIX-sh-like tokenizer (quotes, backslash, globs expanded inside the
//! box) and refuses every operator (`; & | < > ( ) $ \``): the client gets
//! `sftpbox: shell syntax is not supported: ';'` and exit status 2. The first
//! word then picks, in this order:
//! - `scp`: the legacy scp protocol, served in-process (`crate::scp`);
//! - a built-in (`builtins`), served in-process over the box, so the box and
//!   the quota hold by construction; built-ins are never looked up on disk,
//!   so an uploaded file named `sha256sum` never runs;
//! - a program in the account's allowlist, run in an OS sandbox
//!   (`exec/sandbox.rs`);
//! - anything else: exit 127 and `sftpbox: NAME: command not allowed`.
//!
//! With a terminal (`pty`), output turns `\n` into `\r\n` and stderr is
//! merged into stdout, as a real pty does. This module knows nothing of SSH
//! nor of accounts: `service` hands it byte streams and an [`ExecContext`]
//! (the box, the account name, its resolved commands, its limits and
//! rates: its stdin and stdout pass through the account's buckets), and
//! `connection` turns the [`ExitOutcome`] into `exit-status` or
//! `exit-signal`.

mod builtins;
pub mod sandbox;
mod shell;
pub(crate) mod words;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::jail::{Jail, VirtualPath};
use crate::rate::{AccountRates, Metered};
use crate::transfer::Transferred;

pub use builtins::Builtin;

/// Exit status for a command that is neither a built-in nor allowed (as sh
/// uses for "command not found").
pub const EXIT_NOT_ALLOWED: u32 = 127;

/// Exit status for refused shell syntax (as sh uses for a syntax error).
pub const EXIT_SYNTAX: u32 = 2;

/// Everything a command needs to know about the account that runs it.
#[derive(Debug, Clone)]
pub struct ExecContext {
    /// The account's box.
    pub jail: Jail,
    /// The account name, shown as owner and group by `ls -l` and `stat`.
    pub account: String,
    /// Programs this account may run besides the built-ins: the name the
    /// client types and the absolute host path resolved at load time.
    pub external: Vec<(String, PathBuf)>,
    /// How long a command may run before it is stopped.
    pub command_timeout: Duration,
    /// Whether the client asked for a terminal (`pty-req`).
    pub pty: bool,
    /// The connection's transfer counters, which scp counts into.
    pub moved: Arc<Transferred>,
    /// The account's rates: a command's stdin is read at most at the
    /// upload rate, its stdout written at most at the download rate.
    pub rates: AccountRates,
    /// What the account's sandboxed programs run as and may hold.
    pub programs: sandbox::Programs,
}

/// How a command ended: what `connection` reports to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitOutcome {
    /// Normal end with this exit status.
    Status(u32),
    /// Stopped by this signal (e.g. `Kill` after the command timeout).
    Signal(ExitSignal),
}

/// A signal that ended a command: the closed set of those sftpbox reports,
/// the RFC 4254 names plus the few Linux ones a sandboxed program meets
/// (rlimits, bad system calls). `connection` maps each to SSH in one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitSignal {
    /// `SIGABRT`.
    Abrt,
    /// `SIGALRM`.
    Alrm,
    /// `SIGBUS`.
    Bus,
    /// `SIGFPE`.
    Fpe,
    /// `SIGHUP`.
    Hup,
    /// `SIGILL`.
    Ill,
    /// `SIGINT`.
    Int,
    /// `SIGKILL`: also how the command timeout and the quota watch end a command.
    Kill,
    /// `SIGPIPE`.
    Pipe,
    /// `SIGQUIT`.
    Quit,
    /// `SIGSEGV`.
    Segv,
    /// `SIGSYS`.
    Sys,
    /// `SIGTERM`.
    Term,
    /// `SIGTRAP`.
    Trap,
    /// `SIGUSR1`.
    Usr1,
    /// `SIGUSR2`.
    Usr2,
    /// `SIGXCPU`: the CPU-time rlimit.
    Xcpu,
    /// `SIGXFSZ`: the file-size rlimit (the quota left).
    Xfsz,
}

/// Runs one exec request: tokenizes `line`, expands globs inside the box and
/// dispatches to scp, a built-in or an allowed external program. Never
/// panics on client input; every failure becomes a message on `stderr` and
/// an exit status.
pub async fn run_command<R, W, E>(
    line: &[u8],
    ctx: &ExecContext,
    stdin: R,
    stdout: W,
    mut stderr: E,
) -> ExitOutcome
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    // Whatever runs (scp, a built-in, a program), its bytes pass at the
    // account's rates: what it reads is what the client uploads, what it
    // writes is what the client downloads.
    let mut stdin = Metered::new(stdin, ctx.rates.upload.clone());
    let mut stdout = Metered::new(stdout, ctx.rates.download.clone());
    let argv = match parse(line, ctx, &VirtualPath::root()).await {
        Ok(argv) => argv,
        Err(message) => {
            report(&message, ctx.pty, &mut stdout, &mut stderr).await;
            return ExitOutcome::Status(EXIT_SYNTAX);
        }
    };
    let Some(name) = argv.first() else {
        // An empty command line does nothing, successfully (as sh).
        return ExitOutcome::Status(0);
    };
    if name.as_slice() == b"scp" {
        let status = crate::scp::run(
            &ctx.jail,
            &ctx.account,
            &ctx.moved,
            &argv,
            stdin,
            stdout,
            stderr,
        )
        .await;
        return ExitOutcome::Status(status);
    }
    if let Some(builtin) = Builtin::from_name(name) {
        let streams = builtins::Streams {
            stdin: Some(&mut stdin),
            stdout: &mut stdout,
            stderr: if ctx.pty { None } else { Some(&mut stderr) },
        };
        return builtins::run(builtin, argv, ctx, VirtualPath::root(), streams).await;
    }
    if let Some((_, program)) = ctx
        .external
        .iter()
        .find(|(allowed, _)| allowed.as_bytes() == name.as_slice())
    {
        return sandbox::run_external(program, &argv, ctx, stdin, stdout, stderr).await;
    }
    not_allowed(name, ctx.pty, &mut stdout, &mut stderr).await
}

/// Runs the interactive shell on a terminal: a command loop in the style
/// of a classic FTP client, with its own line editing. Returns when the
/// client types `exit`, `quit`, `logout` or Ctrl-D on an empty line, or
/// when `input` ends.
pub async fn run_shell<R, W>(ctx: &ExecContext, input: R, output: W) -> ExitOutcome
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    // What the shell's built-ins print (`cat` among them) is a download.
    let output = Metered::new(output, ctx.rates.download.clone());
    shell::run(ctx, input, output).await
}

/// Tokenizes `line` and expands its globs inside the box, relative to
/// `cwd`. The error is the complete message for the client, newline
/// included.
async fn parse(line: &[u8], ctx: &ExecContext, cwd: &VirtualPath) -> Result<Vec<Vec<u8>>, String> {
    let words = words::split(line).map_err(|err| format!("sftpbox: {err}\n"))?;
    if !words.iter().any(words::Word::has_glob) {
        return Ok(words.into_iter().map(words::Word::into_bytes).collect());
    }
    let jail = ctx.jail.clone();
    let cwd = cwd.clone();
    // Expansion reads directories: blocking jail calls.
    tokio::task::spawn_blocking(move || words::expand(&jail, &cwd, words))
        .await
        .map_err(|_| String::from("sftpbox: internal error\n"))?
        .map_err(|err| format!("sftpbox: {err}\n"))
}

/// Reports a command that may not run: exit 127 and a message naming
/// argv[0] only.
async fn not_allowed(
    name: &[u8],
    pty: bool,
    stdout: &mut (dyn AsyncWrite + Unpin + Send),
    stderr: &mut (dyn AsyncWrite + Unpin + Send),
) -> ExitOutcome {
    let message = format!(
        "sftpbox: {}: command not allowed\n",
        crate::jail::escaped(name)
    );
    report(&message, pty, stdout, stderr).await;
    ExitOutcome::Status(EXIT_NOT_ALLOWED)
}

/// Writes a message of sftpbox's own: to stderr, or on a terminal to
/// stdout with `\r\n`.
async fn report(
    message: &str,
    pty: bool,
    stdout: &mut (dyn AsyncWrite + Unpin + Send),
    stderr: &mut (dyn AsyncWrite + Unpin + Send),
) {
    // The client may already be gone; the exit status says enough.
    if pty {
        let _ = stdout.write_all(&crlf(message.as_bytes())).await;
        let _ = stdout.flush().await;
    } else {
        let _ = stderr.write_all(message.as_bytes()).await;
        let _ = stderr.flush().await;
    }
}

/// `\n` → `\r\n`, what a terminal in raw mode needs.
pub(crate) fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &byte in data {
        if byte == b'\n' {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}
