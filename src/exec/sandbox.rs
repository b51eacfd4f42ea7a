//! External programs (an account's `commands`) in an operating-system
//! sandbox: Landlock, mount/network/IPC/UTS/pid namespaces whose root is
//! the home served through the jail (`view.rs`), resource limits,
//! no_new_privs, an unprivileged uid, an empty environment, cwd = `/` =
//! the home, and a wall-clock timeout.
//!
//! Fail closed: a layer that cannot be set up refuses the command with
//! exit 126 and `sftpbox: NAME: cannot start in a sandbox: WHY`; it never
//! runs with less. `plan.rs` builds everything in the parent, `child.rs`
//! applies it between fork and exec; this file supervises the run.
//!
//! Supervision: the spawned process is a supervisor that stays outside
//! the new pid namespace and whose child, pid 1 inside it, becomes the
//! program. Killing the supervisor's process group (timeout, quota, a
//! dropped future) kills pid 1 (same group, and `PR_SET_PDEATHSIG`), and
//! the kernel then kills everything else in the namespace. stdin, stdout
//! and stderr are copied concurrently, so a large output never stalls;
//! after exit the output pipes are drained to EOF for as long as they keep
//! moving, and given up only after [`DRAIN_GRACE`] without a byte (a pipe
//! an escaped process holds open), so no output the program wrote is lost.
//!
//! Quota: the program reaches the home only through the view, whose every
//! write and new name goes through the jail and its shared `Quota`, so
//! usage is exact as it writes; the write that would cross the quota fails
//! with `EDQUOT` in the program. The view's threads end when the mount
//! does, with the sandbox's last process; the run waits for them (at most
//! [`VIEW_END_GRACE`]).
//!
//! Limits per account (`cgroup.rs`): an account's programs run in a cgroup
//! of their own (`memory`, `pids`, CPU weight over all of them together),
//! and, on a root server, under a uid of their own from `[sandbox] uids`
//! (chosen by `service`), so `RLIMIT_NPROC` and signals never cross
//! accounts. Without cgroups each process gets `RLIMIT_AS` = the account's
//! memory; with them `RLIMIT_AS` is off, as the cgroup bounds what is
//! really used (an address-space limit only fails large reservations).
//!
//! Privilege: a root server drops to the account's uid after building the
//! namespaces; any other server makes a user namespace first (its own uid
//! mapped to itself, `setgroups` denied), in which the other namespaces,
//! the mounts, Landlock and the rlimits work as they do for root. The
//! kernel mounts FUSE there only from a `/dev/fuse` opened inside that user
//! namespace, so the sandbox opens it after entering and passes it to the
//! server over a socket pair (`SCM_RIGHTS`) before it mounts the view. A
//! kernel that allows no unprivileged user namespace refuses the program
//! (126, naming the layer and the error).

// The one reviewed exception to `#![deny(unsafe_code)]`: `pre_exec` and
// the raw syscalls between fork and exec (see the `//!` of child.rs).
mod cgroup;
#[allow(unsafe_code)]
mod child;
mod plan;
mod view;

pub use cgroup::{Cgroups, ProgramLimits};
use std::sync::Arc;

/// How an account's programs are bounded: its cgroup limits and its uid.
#[derive(Clone, Debug)]
pub struct Programs {
    /// The server's cgroups, in which the account gets one.
    pub cgroups: Arc<Cgroups>,
    /// What the account's programs may hold together.
    pub limits: ProgramLimits,
    /// The uid (and gid, the same number) a root server runs them as.
    pub uid: u32,
}

/// What this host gives sandboxed programs, one line each: how they are
/// kept apart (root and uids, or a user namespace) and what bounds their
/// memory and processes (`cgroups`). For the start-up log and `check`.
pub fn host_report(cgroups: &Cgroups) -> Vec<String> {
    let privilege = if rustix::process::geteuid().is_root() {
        "running as root: each account's programs run as a uid of its own from [sandbox] uids"
            .to_owned()
    } else {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
        };
        let off = if read("/proc/sys/user/max_user_namespaces") == Some(0) {
            Some("user.max_user_namespaces is 0")
        } else if read("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
            Some("kernel.unprivileged_userns_clone is 0")
        } else if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
            Some("kernel.apparmor_restrict_unprivileged_userns is 1")
        } else {
            None
        };
        match off {
            Some(why) => format!(
                "not root and {why}: programs are refused (exit 126); SFTP, scp and the built-ins are served"
            ),
            None => "not root: programs run in an unprivileged user namespace as the server's own uid (RLIMIT_NPROC per sandbox, signals kept in by the pid namespace)".to_owned(),
        }
    };
    vec![privilege, cgroups.holds()]
}

impl Default for Programs {
    /// No cgroups, the default limits, `nobody`.
    fn default() -> Programs {
        Programs {
            cgroups: Cgroups::unavailable("none were set up"),
            limits: ProgramLimits::default(),
            uid: plan::SANDBOX_ID,
        }
    }
}

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::{ExecContext, ExitOutcome, ExitSignal};

/// After the program exited, how long stdout/stderr may stay open without
/// moving a byte before they are given up.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// How long the view may outlive the program's last process before the
/// run stops waiting for it (the kernel ends it with the mount).
const VIEW_END_GRACE: Duration = Duration::from_secs(5);

/// Why the supervisor killed the sandbox.
enum Killed {
    Timeout,
}

/// Runs `program` (absolute) with `argv[1..]` in the sandbox, each word
/// byte for byte; `argv[0]` is the name the program sees and messages use.
pub async fn run_external<R, W, E>(
    program: &Path,
    argv: &[Vec<u8>],
    ctx: &ExecContext,
    mut stdin: R,
    mut stdout: W,
    mut stderr: E,
) -> ExitOutcome
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let name = argv.first().map_or_else(
        || program.display().to_string(),
        |word| crate::jail::escaped(word).into_owned(),
    );
    let arg0 = argv
        .first()
        .map_or_else(|| program.as_os_str().to_owned(), |word| os_word(word));
    let (mut report_reader, report_writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(err) => return refuse(&mut stderr, &name, &err.to_string()).await,
    };
    let (kill_reader, kill_writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(err) => return refuse(&mut stderr, &name, &err.to_string()).await,
    };
    // Making a cgroup writes to /sys/fs/cgroup under a lock shared by every
    // account, and removing one waits for its last processes to go: both
    // run on the blocking pool, never on a thread serving sessions.
    let entering = {
        let (cgroups, account, limits) = (
            Arc::clone(&ctx.programs.cgroups),
            ctx.account.clone(),
            ctx.programs.limits,
        );
        tokio::task::spawn_blocking(move || cgroups.enter(&account, &limits)).await
    };
    let cgroup = match entering {
        Ok(Ok(cgroup)) => cgroup,
        Ok(Err(why)) => return refuse(&mut stderr, &name, &why).await,
        Err(err) => return refuse(&mut stderr, &name, &format!("cgroup: {err}")).await,
    };
    let oom_kills = cgroup.as_ref().map_or(0, cgroup::AccountCgroup::oom_kills);
    let home_runs = plan::HomeExec::for_program(argv.first().map_or(&[][..], Vec::as_slice));
    let (plan, serving) =
        match plan::build(ctx, home_runs, report_writer, kill_reader, cgroup.as_ref()) {
            Ok(built) => built,
            Err(why) => return refuse(&mut stderr, &name, &why).await,
        };
    let steps = plan.describe_steps();
    let view_ended = match serve_view(ctx, serving) {
        Ok(ended) => ended,
        Err(err) => return refuse(&mut stderr, &name, &format!("view: {err}")).await,
    };
    let mut command = std::process::Command::new(program);
    command
        .arg0(&arg0)
        .args(
            argv.get(1..)
                .unwrap_or_default()
                .iter()
                .map(|word| os_word(word)),
        )
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    child::install(&mut command, plan);
    // No `kill_on_drop`: killing the supervisor would orphan pid 1 as a
    // zombie; dropping the kill switch makes the supervisor kill it, and
    // tokio reaps a dropped child in the background.
    let mut command = tokio::process::Command::from(command);
    let spawned = command.spawn();
    // Dropping the command closes the parent's copy of the report pipe.
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            let _ = rustix::io::ioctl_fionbio(&report_reader, true);
            let mut step = [0_u8; 2];
            return match report_reader.read(&mut step) {
                Ok(read @ 1..) => {
                    let [layer, index] = step;
                    let layer = child::STEP_NAMES
                        .get(usize::from(layer))
                        .unwrap_or(&"setup");
                    let at = match steps.get(usize::from(index)) {
                        Some(step) if read > 1 => format!(" ({step})"),
                        _ => String::new(),
                    };
                    refuse(&mut stderr, &name, &format!("{layer}{at}: {err}")).await
                }
                _ => exec_failed(&mut stderr, &name, &err).await,
            };
        }
    };
    let group = child
        .id()
        .and_then(|pid| Pid::from_raw(pid.try_into().ok()?));
    let mut switch = KillSwitch {
        writer: Some(kill_writer),
        group,
    };
    let (status, killed) = {
        let child_in = child.stdin.take();
        let child_out = child.stdout.take();
        let child_err = child.stderr.take();
        let feed = async {
            if let Some(mut child_in) = child_in {
                let _ = tokio::io::copy(&mut stdin, &mut child_in).await;
                let _ = child_in.shutdown().await;
            }
        };
        let moved = AtomicU64::new(0);
        let drain_out = async {
            if let Some(mut child_out) = child_out {
                copy_counting(&mut child_out, &mut stdout, &moved).await;
            }
        };
        let drain_err = async {
            if let Some(mut child_err) = child_err {
                copy_counting(&mut child_err, &mut stderr, &moved).await;
            }
        };
        let drains = Drains {
            out: drain_out,
            err: drain_err,
            moved: &moved,
        };
        supervise(ctx, &mut child, &mut switch, feed, drains).await
    };
    let _ = stdout.flush().await;
    if let Some(cgroup) = &cgroup
        && cgroup.oom_kills() > oom_kills
    {
        let mib = ctx.programs.limits.memory_bytes >> 20;
        note(
            &mut stderr,
            &format!(
                "sftpbox: {name}: a process was killed for want of memory (this account's programs may use {mib} MiB together)\n"
            ),
        )
        .await;
    }
    if let Some(cgroup) = cgroup {
        // Awaited, so the account's cgroup is gone (when this was its last
        // program) by the time the client hears the exit status.
        let _ = tokio::task::spawn_blocking(move || drop(cgroup)).await;
    }
    if tokio::time::timeout(VIEW_END_GRACE, view_ended)
        .await
        .is_err()
    {
        tracing::warn!(
            command = name,
            "the program's view is still mounted after its end"
        );
    }
    match killed {
        Some(Killed::Timeout) => {
            let seconds = ctx.command_timeout.as_secs_f64();
            note(
                &mut stderr,
                &format!("sftpbox: {name}: timed out after {seconds}s\n"),
            )
            .await;
            ExitOutcome::Signal(ExitSignal::Kill)
        }
        None => status.map_or(ExitOutcome::Status(1), outcome_of),
    }
}

/// Starts the thread serving the program's view; the receiver completes
/// when it has ended.
fn serve_view(
    ctx: &ExecContext,
    serving: plan::Serving,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
    let (ended, view_ended) = tokio::sync::oneshot::channel();
    let jail = ctx.jail.clone();
    std::thread::Builder::new()
        .name("sftpbox-view".into())
        .spawn(move || {
            let served = match serving.device {
                plan::Device::Opened(device) => Ok(Some(device)),
                plan::Device::Passed(socket) => receive_device(&socket),
            }
            .and_then(|device| match device {
                Some(device) => view::serve(jail, serving.reserved, device, serving.mounted),
                // The child ended (or never started) before sending it.
                None => Ok(()),
            });
            if let Err(err) = served {
                tracing::warn!(%err, "serving a program's view failed");
            }
            let _ = ended.send(());
        })?;
    Ok(view_ended)
}

/// The `/dev/fuse` the child opened in its user namespace, sent on
/// `socket` with one byte; `None` when the child closed its end first.
fn receive_device(socket: &std::os::fd::OwnedFd) -> std::io::Result<Option<std::os::fd::OwnedFd>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0_u8; 1];
    let received = loop {
        match rustix::net::recvmsg(
            socket,
            &mut [std::io::IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => {}
            other => break other?,
        }
    };
    let mut device = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for fd in fds {
                device.get_or_insert(fd);
            }
        }
    }
    if received.bytes == 0 && device.is_none() {
        return Ok(None);
    }
    device.map(Some).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the sandbox sent no /dev/fuse descriptor",
        )
    })
}

/// Runs the copies and waits for the supervisor, killing the group on
/// timeout. Returns the exit status (`None`
/// if waiting failed) and why it was killed, if it was.
async fn supervise<O, E>(
    ctx: &ExecContext,
    child: &mut tokio::process::Child,
    switch: &mut KillSwitch,
    feed: impl Future<Output = ()>,
    drains: Drains<'_, O, E>,
) -> (Option<ExitStatus>, Option<Killed>)
where
    O: Future<Output = ()>,
    E: Future<Output = ()>,
{
    let Drains {
        out: drain_out,
        err: drain_err,
        moved,
    } = drains;
    let mut moved_at_deadline = 0;
    let deadline = Instant::now() + ctx.command_timeout;
    let (mut fed, mut out_done, mut err_done) = (false, false, false);
    let mut status = None;
    let mut exited = false;
    let mut drain_deadline = deadline;
    let mut killed = None;
    let mut last_resort = deadline;
    let wait = child.wait();
    tokio::pin!(feed, drain_out, drain_err, wait);
    loop {
        if exited && out_done && err_done {
            break;
        }
        tokio::select! {
            waited = &mut wait, if !exited => {
                exited = true;
                status = waited.ok();
                switch.group = None; // reaped: the pid may be reused now
                drain_deadline = Instant::now() + DRAIN_GRACE;
            }
            () = &mut drain_out, if !out_done => out_done = true,
            () = &mut drain_err, if !err_done => err_done = true,
            () = &mut feed, if !fed => fed = true,
            () = tokio::time::sleep_until(deadline), if !exited && killed.is_none() => {
                last_resort = switch.pull();
                killed = Some(Killed::Timeout);
            }
            () = tokio::time::sleep_until(last_resort), if !exited && killed.is_some() => {
                switch.kill_group();
            }
            () = tokio::time::sleep_until(drain_deadline), if exited => {
                // Still moving: the pipes hold what the program wrote.
                let now_moved = moved.load(Ordering::Relaxed);
                if now_moved == moved_at_deadline {
                    break;
                }
                moved_at_deadline = now_moved;
                drain_deadline = Instant::now() + DRAIN_GRACE;
            }
        }
    }
    (status, killed)
}

/// The copies of the program's stdout and stderr, and the bytes they have
/// moved together (the supervisor waits for them while that grows).
struct Drains<'a, O, E> {
    out: O,
    err: E,
    moved: &'a AtomicU64,
}

/// Copies `reader` to `writer` until EOF or an error, counting into `moved`.
async fn copy_counting<R, W>(reader: &mut R, writer: &mut W, moved: &AtomicU64)
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let Some(chunk) = buf.get(..n) else { return };
        if writer.write_all(chunk).await.is_err() {
            return;
        }
        moved.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// How long the supervisor gets to kill and reap the program once the
/// kill switch is pulled, before its whole process group is killed.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The parent's end of the kill switch; closing it (also on drop, when
/// the session is cancelled) makes the supervisor kill the program.
struct KillSwitch {
    writer: Option<std::io::PipeWriter>,
    /// The supervisor's process group, while it has not been reaped.
    group: Option<Pid>,
}

impl KillSwitch {
    /// Pulls the switch; returns when to fall back to [`Self::kill_group`].
    fn pull(&mut self) -> Instant {
        self.writer = None;
        Instant::now() + KILL_GRACE
    }

    /// Last resort if the supervisor did not end: SIGKILL to its group.
    fn kill_group(&mut self) {
        if let Some(group) = self.group.take() {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
    }
}

/// The exit status, or the signal.
fn outcome_of(status: ExitStatus) -> ExitOutcome {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitOutcome::Status(u32::try_from(code).unwrap_or(1)),
        (None, Some(signal)) => ExitOutcome::Signal(signal_of(signal)),
        (None, None) => ExitOutcome::Status(1),
    }
}

/// The signal numbered `signal`. Numbers are an open set (real-time
/// signals, ones a kernel may add): those without a name here are
/// reported as `KILL`, as the program was killed.
fn signal_of(signal: i32) -> ExitSignal {
    match signal {
        libc::SIGABRT => ExitSignal::Abrt,
        libc::SIGALRM => ExitSignal::Alrm,
        libc::SIGFPE => ExitSignal::Fpe,
        libc::SIGHUP => ExitSignal::Hup,
        libc::SIGILL => ExitSignal::Ill,
        libc::SIGINT => ExitSignal::Int,
        libc::SIGPIPE => ExitSignal::Pipe,
        libc::SIGQUIT => ExitSignal::Quit,
        libc::SIGSEGV => ExitSignal::Segv,
        libc::SIGTERM => ExitSignal::Term,
        libc::SIGUSR1 => ExitSignal::Usr1,
        libc::SIGUSR2 => ExitSignal::Usr2,
        libc::SIGXCPU => ExitSignal::Xcpu,
        libc::SIGXFSZ => ExitSignal::Xfsz,
        libc::SIGBUS => ExitSignal::Bus,
        libc::SIGSYS => ExitSignal::Sys,
        libc::SIGTRAP => ExitSignal::Trap,
        _ => ExitSignal::Kill,
    }
}

async fn note<E: AsyncWrite + Unpin>(stderr: &mut E, text: &str) {
    let _ = stderr.write_all(text.as_bytes()).await;
    let _ = stderr.flush().await;
}

/// Exit 126: a sandbox layer could not be set up.
async fn refuse<E: AsyncWrite + Unpin>(stderr: &mut E, name: &str, why: &str) -> ExitOutcome {
    tracing::warn!(command = name, why, "external command refused: no sandbox");
    note(
        stderr,
        &format!("sftpbox: {name}: cannot start in a sandbox: {why}\n"),
    )
    .await;
    ExitOutcome::Status(126)
}

/// The sandbox was set up but `exec` failed: 127 when the program is
/// missing, 126 otherwise, as a shell says it.
async fn exec_failed<E: AsyncWrite + Unpin>(
    stderr: &mut E,
    name: &str,
    err: &std::io::Error,
) -> ExitOutcome {
    note(stderr, &format!("sftpbox: {name}: {err}\n")).await;
    if err.kind() == std::io::ErrorKind::NotFound {
        ExitOutcome::Status(127)
    } else {
        ExitOutcome::Status(126)
    }
}

/// A word of the command line as the program gets it: the same bytes.
fn os_word(word: &[u8]) -> std::ffi::OsString {
    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(word).to_owned()
}

#[cfg(test)]
mod tests;
