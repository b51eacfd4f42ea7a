//! Built-in commands: coreutils look-alikes served in-process over the box.
//!
//! # One file per command, one registry
//!
//! Each command lives in its own file (a family whose name says what it is,
//! like `hashes` for `md5sum` … `sha512sum`, shares one) and declares
//! everything about itself in a `COMMANDS` slice of [`Command`]: its name,
//! the synopsis `help` and `--help` show, whether the interactive shell
//! offers it, and the function that runs it. [`REGISTRY`] lists those
//! slices, one line per file, in the order `help` shows them; dispatch,
//! `help` and `--help` all read it. Adding a command is writing its file
//! and giving it that one registry line (plus `mod`), and naming it in
//! `crate::builtin_names::BUILTIN_NAMES`, which accounts.toml's `commands`
//! check reads and a test here holds equal to the registry.
//!
//! A registry of entries rather than an enum matched totally: with an enum,
//! a command is spread over the variant, the name table and the dispatch
//! `match`, three places away from the command's own file, and a family
//! (six hash sums) needs one variant per name anyway. The price is that
//! the compiler no longer proves every name is served; the tests do
//! (names unique, registry and `BUILTIN_NAMES` equal, every entry runs).
//!
//! # Running
//!
//! Every filesystem access goes through `Jail`, whose calls block, so a
//! built-in's whole body runs in one `spawn_blocking` task and talks to the
//! async side through a bounded channel (`io.rs` is the blocking end,
//! `streams.rs` the async end): output in chunks of at most
//! [`OUTPUT_CHUNK_BYTES`] (streamed with backpressure, never a whole file in
//! memory) and requests for the next piece of stdin (read only when asked).
//! The timeout and a vanished client raise a flag the body checks in every
//! loop, so it stops soon after.
//!
//! Output and exit statuses copy GNU coreutils (C locale, UTC); where the
//! box differs from a host (owner names, one filesystem), the box wins.
//! Names are bytes: operations always use the stored bytes, output that GNU
//! writes raw is written raw, and messages quote names as GNU does
//! (`crate::listing::quoting`). Shared machinery: `args` (option parsing),
//! `io` and `streams`, `input` (files or stdin read in chunks), `operands`
//! (`SOURCE... DEST`, path prefixes), `modes`, `sizes`, `date_string`.

mod args;
mod date_string;
mod input;
mod io;
mod modes;
mod operands;

mod sizes;
mod streams;

mod cat;
mod chmod;
mod cp;
mod date;
mod disk_usage;
mod echo;
mod free_space;
mod hashes;
mod head;
mod help;
mod ls;
mod mkdir;
mod mv;
mod parts;
mod pwd;
mod rm;
mod rmdir;
mod stat;
mod tail;
mod touch;
mod true_false;
mod wc;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{ExecContext, ExitOutcome};
use crate::jail::{JailError, VirtualPath};

pub(crate) use io::{Gone, Io};
pub(crate) use streams::Streams;

/// Largest piece of output sent at once, and of stdin read at once.
pub const OUTPUT_CHUNK_BYTES: usize = 32 * 1024;

/// Deepest directory recursion of `ls -R`, `du`, `rm -r`, `cp -r`, `chmod -R`.
pub const MAX_DEPTH: usize = 64;

/// What runs a built-in on the blocking side: `args` excludes argv[0]; the
/// result is the exit status.
type Run = fn(&mut Io, &[Vec<u8>]) -> Result<u32, Gone>;

/// One built-in command, as its file declares it.
pub(crate) struct Command {
    /// The name the client types, matched exactly.
    name: &'static str,
    /// The arguments part of the one-line synopsis `help` and `--help` show.
    synopsis: &'static str,
    /// Whether the interactive shell offers it (`echo`, `true` and `false`
    /// only make sense in scripts).
    in_shell: bool,
    /// The command's body.
    run: Run,
}

/// Every built-in, one slice per command file, in the order `help` lists
/// them.
const REGISTRY: &[&[Command]] = &[
    ls::COMMANDS,
    pwd::COMMANDS,
    cat::COMMANDS,
    head::COMMANDS,
    tail::COMMANDS,
    wc::COMMANDS,
    stat::COMMANDS,
    hashes::COMMANDS,
    disk_usage::COMMANDS,
    free_space::COMMANDS,
    mkdir::COMMANDS,
    rmdir::COMMANDS,
    rm::COMMANDS,
    mv::COMMANDS,
    cp::COMMANDS,
    touch::COMMANDS,
    chmod::COMMANDS,
    date::COMMANDS,
    echo::COMMANDS,
    help::COMMANDS,
    true_false::COMMANDS,
];

/// Every registered command, in registry order.
fn commands() -> impl Iterator<Item = &'static Command> {
    REGISTRY.iter().flat_map(|family| family.iter())
}

/// A built-in command, as dispatch finds it by name.
#[derive(Clone, Copy)]
pub struct Builtin(&'static Command);

impl Builtin {
    /// The built-in called `name`, matched exactly (no path, no case folding).
    pub fn from_name(name: &[u8]) -> Option<Builtin> {
        commands()
            .find(|command| command.name.as_bytes() == name)
            .map(Builtin)
    }

    /// The command's name.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Whether the interactive shell offers this command: everything but
    /// `echo`, `true` and `false`, which only make sense in scripts.
    pub fn is_in_shell(self) -> bool {
        self.0.in_shell
    }

    /// The one-line synopsis `help` and `--help` show (after the name).
    fn synopsis(self) -> &'static str {
        self.0.synopsis
    }
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Builtin").field(&self.0.name).finish()
    }
}

impl PartialEq for Builtin {
    fn eq(&self, other: &Builtin) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Builtin {}

/// The text GNU tools print for an error (`strerror` wording), e.g. `No
/// such file or directory`; the quota keeps its own explicit message.
pub(crate) fn reason(err: &JailError) -> String {
    err.strerror()
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
    let (events, mut queue) = mpsc::channel(io::EVENT_QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let mut io = Io::new(
        ctx.jail.clone(),
        ctx.account.clone(),
        cwd,
        streams.stderr.is_none(),
        events,
        Arc::clone(&stop),
    );
    let body = builtin.0.run;
    let task = tokio::task::spawn_blocking(move || {
        let args = argv.get(1..).unwrap_or_default();
        let status = body(&mut io, args);
        status.and_then(|status| io.flush().map(|()| status))
    });
    let pumped =
        tokio::time::timeout(ctx.command_timeout, streams::pump(&mut queue, &mut streams)).await;
    stop.store(true, Ordering::Relaxed);
    drop(queue);
    let outcome = match pumped {
        Err(_elapsed) => {
            let message = format!("sftpbox: {}: timed out\n", builtin.name());
            let _ = streams::write(&mut streams, true, message.as_bytes()).await;
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

#[cfg(test)]
mod tests;
