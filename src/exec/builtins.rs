//! Built-in commands: coreutils look-alikes served in-process over the box.
//!
//! Every filesystem access goes through `Jail`, whose calls block, so a
//! built-in's whole body runs in one `spawn_blocking` task and talks to the
//! async side through a bounded channel of [`Event`]s: output in chunks of
//! at most [`OUTPUT_CHUNK_BYTES`] (streamed with backpressure, never a whole
//! file in memory) and requests for the next piece of stdin (read only when
//! asked). The timeout and a vanished client raise a flag the body checks
//! in every loop, so it stops soon after.
//!
//! Output and exit statuses copy GNU coreutils (C locale, UTC); where the
//! box differs from a host (owner names, one filesystem), the box wins. The
//! families live in `builtins/`: `list` (ls), `space` (du, df, quota),
//! `read` (cat, head, tail), `count` (wc), `hashes`, `change` (mkdir, rmdir, rm), `rename` (mv),
//! `attributes` (touch, chmod), `copy` (cp), `orient` (pwd, echo, help, stat, true, false).

mod args;
mod attributes;
mod change;
mod copy;
mod count;
mod hashes;
mod list;
mod orient;
mod read;
mod rename;
mod space;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::{ExecContext, ExitOutcome, crlf};
use crate::jail::{Jail, JailError, VirtualPath};

/// Largest piece of output sent at once, and of stdin read at once.
pub const OUTPUT_CHUNK_BYTES: usize = 32 * 1024;

/// Events queued between a built-in and the streams: a few chunks, so that
/// a slow client slows the built-in down instead of filling memory.
const EVENT_QUEUE: usize = 4;

/// Deepest directory recursion of `ls -R`, `du`, `rm -r`, `cp -r`, `chmod -R`.
pub const MAX_DEPTH: usize = 64;

/// A built-in command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is the command of the same name
pub enum Builtin {
    Ls,
    Pwd,
    Cat,
    Head,
    Tail,
    Wc,
    Stat,
    Md5sum,
    Sha1sum,
    Sha224sum,
    Sha256sum,
    Sha384sum,
    Sha512sum,
    Du,
    Df,
    Quota,
    Mkdir,
    Rmdir,
    Rm,
    Mv,
    Cp,
    Touch,
    Chmod,
    Echo,
    Help,
    True,
    False,
}

/// Names, in the order `help` lists them, with a one-line synopsis.
const TABLE: &[(&str, Builtin, &str)] = &[
    ("ls", Builtin::Ls, "[-1aAdhlrRSt] [FILE]..."),
    ("pwd", Builtin::Pwd, ""),
    ("cat", Builtin::Cat, "[FILE]..."),
    ("head", Builtin::Head, "[-n LINES | -c BYTES] [FILE]..."),
    ("tail", Builtin::Tail, "[-n [+]LINES | -c BYTES] [FILE]..."),
    ("wc", Builtin::Wc, "[-lwmc] [FILE]..."),
    ("stat", Builtin::Stat, "[-L] FILE..."),
    (
        "md5sum",
        Builtin::Md5sum,
        "[-b] [--tag] [-c [--quiet|--status]] [FILE]...",
    ),
    ("sha1sum", Builtin::Sha1sum, "(as md5sum)"),
    ("sha224sum", Builtin::Sha224sum, "(as md5sum)"),
    ("sha256sum", Builtin::Sha256sum, "(as md5sum)"),
    ("sha384sum", Builtin::Sha384sum, "(as md5sum)"),
    ("sha512sum", Builtin::Sha512sum, "(as md5sum)"),
    ("du", Builtin::Du, "[-abchs] [FILE]..."),
    ("df", Builtin::Df, "[-h]"),
    ("quota", Builtin::Quota, ""),
    ("mkdir", Builtin::Mkdir, "[-pv] [-m MODE] DIR..."),
    ("rmdir", Builtin::Rmdir, "[-pv] DIR..."),
    ("rm", Builtin::Rm, "[-fdrv] FILE..."),
    ("mv", Builtin::Mv, "[-fnv] SOURCE... DEST"),
    ("cp", Builtin::Cp, "[-afnprv] SOURCE... DEST"),
    (
        "touch",
        Builtin::Touch,
        "[-acm] [-t STAMP] [-d @SECONDS] FILE...",
    ),
    ("chmod", Builtin::Chmod, "[-Rv] MODE FILE..."),
    ("echo", Builtin::Echo, "[-neE] [STRING]..."),
    ("help", Builtin::Help, ""),
    ("true", Builtin::True, ""),
    ("false", Builtin::False, ""),
];

impl Builtin {
    /// The built-in called `name`, matched exactly (no path, no case folding).
    pub fn from_name(name: &[u8]) -> Option<Builtin> {
        TABLE
            .iter()
            .find(|(known, _, _)| known.as_bytes() == name)
            .map(|&(_, builtin, _)| builtin)
    }

    /// The command's name.
    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, builtin, _)| *builtin == self)
            .map_or("?", |(name, _, _)| name)
    }

    /// Whether the interactive shell offers this command: everything but
    /// `echo`, `true` and `false`, which only make sense in scripts.
    pub fn is_in_shell(self) -> bool {
        !matches!(self, Builtin::Echo | Builtin::True | Builtin::False)
    }

    /// The one-line synopsis `help` and `--help` show.
    fn synopsis(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, builtin, _)| *builtin == self)
            .map_or("", |(_, _, synopsis)| synopsis)
    }

    /// Runs the command on the blocking side; `args` excludes argv[0].
    fn call(self, io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
        let name = self.name();
        match self {
            Builtin::Ls => list::ls(io, args),
            Builtin::Pwd => orient::pwd(io, args),
            Builtin::Cat => read::cat(io, args),
            Builtin::Head => read::head(io, args),
            Builtin::Tail => read::tail(io, args),
            Builtin::Wc => count::wc(io, args),
            Builtin::Stat => orient::stat(io, args),
            Builtin::Md5sum
            | Builtin::Sha1sum
            | Builtin::Sha224sum
            | Builtin::Sha256sum
            | Builtin::Sha384sum
            | Builtin::Sha512sum => hashes::sum(io, name, args),
            Builtin::Du => space::du(io, args),
            Builtin::Df => space::df(io, args),
            Builtin::Quota => space::quota(io, args),
            Builtin::Mkdir => change::mkdir(io, args),
            Builtin::Rmdir => change::rmdir(io, args),
            Builtin::Rm => change::rm(io, args),
            Builtin::Mv => rename::mv(io, args),
            Builtin::Cp => copy::cp(io, args),
            Builtin::Touch => attributes::touch(io, args),
            Builtin::Chmod => attributes::chmod(io, args),
            Builtin::Echo => orient::echo(io, args),
            Builtin::Help => orient::help(io),
            Builtin::True => Ok(0),
            Builtin::False => Ok(1),
        }
    }
}

/// The streams a built-in runs with. `stderr == None` means a terminal:
/// stderr is merged into stdout and `\n` becomes `\r\n`.
pub(crate) struct Streams<'a> {
    /// Where stdin comes from; `None` reads as empty.
    pub stdin: Option<&'a mut (dyn AsyncRead + Unpin + Send)>,
    /// Where output goes.
    pub stdout: &'a mut (dyn AsyncWrite + Unpin + Send),
    /// Where error messages go; `None` on a terminal.
    pub stderr: Option<&'a mut (dyn AsyncWrite + Unpin + Send)>,
}

/// What the blocking side asks of the streams.
enum Event {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    ReadStdin(oneshot::Sender<Vec<u8>>),
}

/// The client is gone or the command timed out: stop now.
#[derive(Debug)]
pub(crate) struct Gone;

/// A built-in's view of its session, used on the blocking side.
pub(crate) struct Io {
    /// The account's box.
    pub jail: Jail,
    /// The account name, shown as owner and group.
    pub account: String,
    /// Where relative paths start.
    pub cwd: VirtualPath,
    /// Whether stdout is a terminal (`ls` then prints columns).
    pub is_terminal: bool,
    events: mpsc::Sender<Event>,
    pending: Vec<u8>,
    stop: Arc<AtomicBool>,
}

impl Io {
    /// Queues `data` for stdout.
    pub fn out(&mut self, data: &[u8]) -> Result<(), Gone> {
        self.check()?;
        self.pending.extend_from_slice(data);
        if self.pending.len() >= OUTPUT_CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what is queued for stdout.
    pub fn flush(&mut self) -> Result<(), Gone> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.pending);
        self.events
            .blocking_send(Event::Stdout(chunk))
            .map_err(|_| Gone)
    }

    /// Writes `NAME: MESSAGE` and a newline to stderr, after what stdout
    /// has so far, so the two keep their order on a terminal.
    pub fn err(&mut self, name: &str, message: impl std::fmt::Display) -> Result<(), Gone> {
        self.flush()?;
        let line = format!("{name}: {message}\n").into_bytes();
        self.events
            .blocking_send(Event::Stderr(line))
            .map_err(|_| Gone)
    }

    /// Reports a usage error GNU-style and returns `status`.
    pub fn usage(&mut self, name: &str, message: &str, status: u32) -> Result<u32, Gone> {
        self.err(name, message)?;
        let line = format!("Try '{name} --help' for more information.\n").into_bytes();
        self.events
            .blocking_send(Event::Stderr(line))
            .map_err(|_| Gone)?;
        Ok(status)
    }

    /// The next piece of stdin; empty at end of input.
    pub fn read_stdin(&mut self) -> Result<Vec<u8>, Gone> {
        self.flush()?;
        let (reply, answer) = oneshot::channel();
        self.events
            .blocking_send(Event::ReadStdin(reply))
            .map_err(|_| Gone)?;
        answer.blocking_recv().map_err(|_| Gone)
    }

    /// Fails once the command should stop.
    pub fn check(&self) -> Result<(), Gone> {
        if self.stop.load(Ordering::Relaxed) || self.events.is_closed() {
            Err(Gone)
        } else {
            Ok(())
        }
    }

    /// Resolves a client argument against the current directory.
    pub fn resolve(&self, arg: &[u8]) -> Result<VirtualPath, JailError> {
        VirtualPath::resolve(&self.cwd, arg)
    }
}

/// The text GNU tools print for an error (`strerror` wording), e.g. `No
/// such file or directory`; the quota keeps its own explicit message.
pub(crate) fn reason(err: &JailError) -> String {
    err.strerror()
}

/// Shows a client argument or a stored name in a message: as it is when it
/// is printable UTF-8, quoted as GNU `ls` would otherwise.
pub(crate) fn shown(arg: &[u8]) -> String {
    crate::listing::quoted_name(arg).into_owned()
}

/// Runs `builtin` with `argv` (argv[0] included) and `cwd` as current
/// directory, under the account's command timeout.
pub(crate) async fn run(
    builtin: Builtin,
    argv: Vec<Vec<u8>>,
    ctx: &ExecContext,
    cwd: VirtualPath,
    mut streams: Streams<'_>,
) -> ExitOutcome {
    let (events, mut queue) = mpsc::channel(EVENT_QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let mut io = Io {
        jail: ctx.jail.clone(),
        account: ctx.account.clone(),
        cwd,
        is_terminal: streams.stderr.is_none(),
        events,
        pending: Vec::new(),
        stop: Arc::clone(&stop),
    };
    let task = tokio::task::spawn_blocking(move || {
        let args = argv.get(1..).unwrap_or_default();
        let status = builtin.call(&mut io, args);
        status.and_then(|status| io.flush().map(|()| status))
    });
    let pumped = tokio::time::timeout(ctx.command_timeout, pump(&mut queue, &mut streams)).await;
    stop.store(true, Ordering::Relaxed);
    drop(queue);
    let outcome = match pumped {
        Err(_elapsed) => {
            let message = format!("sftpbox: {}: timed out\n", builtin.name());
            let _ = write(&mut streams, true, message.as_bytes()).await;
            ExitOutcome::Signal(super::ExitSignal::Kill)
        }
        // A stuck body is left to notice the flag; a finished one is joined.
        Ok(_) => match task.await {
            Ok(Ok(status)) => ExitOutcome::Status(status),
            Ok(Err(Gone)) | Err(_) => ExitOutcome::Status(1),
        },
    };
    let _ = streams.stdout.flush().await;
    if let Some(stderr) = streams.stderr.as_mut() {
        let _ = stderr.flush().await;
    }
    outcome
}

/// Moves events to the streams until the built-in is done or a stream fails.
async fn pump(queue: &mut mpsc::Receiver<Event>, streams: &mut Streams<'_>) -> std::io::Result<()> {
    let mut stdin_ended = streams.stdin.is_none();
    while let Some(event) = queue.recv().await {
        match event {
            Event::Stdout(data) => write(streams, false, &data).await?,
            Event::Stderr(data) => write(streams, true, &data).await?,
            Event::ReadStdin(reply) => {
                let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
                let mut read = 0;
                if let (false, Some(stdin)) = (stdin_ended, streams.stdin.as_mut()) {
                    read = stdin.read(&mut buf).await.unwrap_or(0);
                }
                stdin_ended |= read == 0;
                buf.truncate(read);
                // The built-in may have stopped waiting; nothing to do then.
                let _ = reply.send(buf);
            }
        }
    }
    Ok(())
}

/// Writes to stdout or stderr; on a terminal both go to stdout with `\r\n`.
async fn write(streams: &mut Streams<'_>, to_stderr: bool, data: &[u8]) -> std::io::Result<()> {
    match (&mut streams.stderr, to_stderr) {
        (Some(stderr), true) => {
            stderr.write_all(data).await?;
            stderr.flush().await
        }
        (Some(_), false) => {
            streams.stdout.write_all(data).await?;
            streams.stdout.flush().await
        }
        (None, _) => {
            streams.stdout.write_all(&crlf(data)).await?;
            streams.stdout.flush().await
        }
    }
}

#[cfg(test)]
mod tests;
