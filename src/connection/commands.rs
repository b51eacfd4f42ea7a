//! Exec and shell channels: hands the channel's byte streams to the
//! account's services and reports how the command ended (`exit-status` or
//! `exit-signal`, always before EOF and close).

use std::sync::Arc;

use russh::server::{Handle, Msg};
use russh::{Channel, ChannelId, Sig};
use tokio::io::AsyncWriteExt;

use crate::metrics::{CommandOutcome, Metrics};
use crate::service::{AccountServices, ExitOutcome, ExitSignal, Transferred};

/// What a channel runs.
pub enum Program {
    /// `ssh HOST CMD`: one command line.
    Command(Vec<u8>),
    /// `ssh -t HOST`: the interactive shell.
    Shell,
    /// A shell request without a terminal: refused with a pointer to exec.
    RefusedShell,
}

/// The message a shell request without a terminal gets.
const NO_TERMINAL: &str =
    "sftpbox: no interactive shell without a terminal; use: ssh USER@HOST COMMAND\n";

/// Runs `program` for the account of `services` on `channel` (`pty`: the
/// client asked for a terminal) and reports its outcome through `handle`;
/// what it moves counts into `moved`.
pub async fn run(
    channel: Channel<Msg>,
    handle: Handle,
    services: &AccountServices,
    program: Program,
    pty: bool,
    moved: Arc<Transferred>,
    metrics: &Metrics,
) {
    let id = channel.id();
    let mut stderr = channel.make_writer_ext(Some(1));
    let (mut input, mut output) = tokio::io::split(channel.into_stream());
    let outcome = match program {
        Program::Command(line) => {
            let outcome = services
                .run_command(&line, pty, moved, &mut input, &mut output, &mut stderr)
                .await;
            metrics.command(match &outcome {
                ExitOutcome::Status(0) => CommandOutcome::Success,
                ExitOutcome::Status(127) => CommandOutcome::NotAllowed,
                ExitOutcome::Status(_) => CommandOutcome::Failure,
                ExitOutcome::Signal(_) => CommandOutcome::Signal,
            });
            outcome
        }
        Program::Shell => services.run_shell(&mut input, &mut output, moved).await,
        Program::RefusedShell => {
            let _ = stderr.write_all(NO_TERMINAL.as_bytes()).await;
            ExitOutcome::Status(1)
        }
    };
    let _ = output.flush().await;
    let _ = stderr.flush().await;
    report(&handle, id, outcome).await;
    let _ = handle.eof(id).await;
    let _ = handle.close(id).await;
}

/// Sends `exit-status` or `exit-signal`.
async fn report(handle: &Handle, id: ChannelId, outcome: ExitOutcome) {
    match outcome {
        ExitOutcome::Status(code) => {
            let _ = handle.exit_status_request(id, code).await;
        }
        ExitOutcome::Signal(signal) => {
            let _ = handle
                .exit_signal_request(id, ssh_signal(signal), false, String::new(), String::new())
                .await;
        }
    }
}

/// The one place an exit signal becomes SSH's: RFC 4254's names where
/// russh has them, the same bare name (`USR2`, `XCPU`, …) otherwise, as
/// the client prints it. Deliberately a total match: a new signal must be
/// given its name here.
fn ssh_signal(signal: ExitSignal) -> Sig {
    let custom = |name: &str| Sig::Custom(name.to_owned());
    match signal {
        ExitSignal::Abrt => Sig::ABRT,
        ExitSignal::Alrm => Sig::ALRM,
        ExitSignal::Fpe => Sig::FPE,
        ExitSignal::Hup => Sig::HUP,
        ExitSignal::Ill => Sig::ILL,
        ExitSignal::Int => Sig::INT,
        ExitSignal::Kill => Sig::KILL,
        ExitSignal::Pipe => Sig::PIPE,
        ExitSignal::Quit => Sig::QUIT,
        ExitSignal::Segv => Sig::SEGV,
        ExitSignal::Term => Sig::TERM,
        ExitSignal::Usr1 => Sig::USR1,
        ExitSignal::Usr2 => custom("USR2"),
        ExitSignal::Bus => custom("BUS"),
        ExitSignal::Sys => custom("SYS"),
        ExitSignal::Trap => custom("TRAP"),
        ExitSignal::Xcpu => custom("XCPU"),
        ExitSignal::Xfsz => custom("XFSZ"),
    }
}
