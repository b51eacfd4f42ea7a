//! What a logged-in account can do, independent of SSH: serve SFTP over a
//! byte stream, run a command line, run the interactive shell.
//!
//! [`Services`] is the server-wide side: the accounts in force, the folder
//! of homes, and the live state every connection of an account shares
//! (`registry`: its quota, its rates, its open box, its session count). For
//! each connection it builds, once, at the first channel, an account's
//! [`AccountServices`]: its box, its name, the external commands it may run
//! (resolved on disk then) and the command timeout. Every channel of the
//! connection then runs on that one value, so a reload of accounts.toml
//! (new commands, a home made read-only) applies to connections from their
//! first channel after it, never halfway through one's channels. Quota
//! limits and rates are the exception: a reload changes them at once.
//!
//! It must not know russh, channels or sockets, nor how a login is
//! decided: `connection` hands it byte streams and an account name, and
//! turns what comes back ([`ExitOutcome`]) into SSH; what files move is
//! counted, as it moves, into the connection's [`Transferred`].

mod registry;
mod uids;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::info;

use crate::accounts::{self, Accounts};
use crate::budget::{AccountBudget, ProcessBudget};
use crate::config::Limits;
use crate::exec::ExecContext;
use crate::exec::sandbox::{Cgroups, ProgramLimits, Programs};
pub use crate::jail::ObjectStorage;
use crate::jail::{Jail, JailError};
use crate::rate::AccountRates;
use registry::AccountRegistry;

pub use crate::exec::{ExitOutcome, ExitSignal};
pub use crate::transfer::Transferred;
pub use registry::AccountSessionSlot;

/// Why an account's services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The account was removed by a reload after it logged in.
    #[error("account {0} no longer exists")]
    NoSuchAccount(String),
    /// The home could not be created, opened or counted.
    #[error("cannot open the home: {0}")]
    Home(#[from] JailError),
    /// The blocking task that opens the home did not finish.
    #[error("opening the home was interrupted")]
    Interrupted,
    /// No sandbox uid could be given to the account.
    #[error("no sandbox uid: {0}")]
    Uid(String),
}

/// The services side of the server, shared by every connection.
pub struct Services {
    /// The accounts in force; swapped whole on reload.
    accounts: Arc<ArcSwap<Accounts>>,
    /// Per-account quota, open home and session count.
    registry: AccountRegistry,
    /// Folder holding one home per account.
    homes: PathBuf,
    /// How long a command may run before it is stopped.
    command_timeout: Duration,
    /// How many sessions an account may have open at once.
    max_sessions_per_account: usize,
    /// The process's blocking jobs and descriptors, shared out to accounts.
    budget: ProcessBudget,
    /// Where boxes live on a cluster node; `None`: local homes.
    storage: Option<ObjectStorage>,
    /// Each account's sandbox uid, on a root server (`None` otherwise:
    /// programs then run as the server's own uid in a user namespace).
    uids: Option<Arc<uids::UidTable>>,
    /// The per-account cgroups of sandboxed programs.
    cgroups: Arc<Cgroups>,
    /// The `[sandbox]` defaults of what an account's programs may hold.
    program_limits: ProgramLimits,
}

impl Services {
    /// Services for the accounts in `accounts`, with homes under `homes`.
    /// The descriptor limit is read now: raise it before.
    pub fn new(
        accounts: Arc<ArcSwap<Accounts>>,
        homes: PathBuf,
        limits: &Limits,
        storage: Option<ObjectStorage>,
    ) -> Services {
        let budget = ProcessBudget::for_this_process(limits.max_open_handles_per_account);
        info!(
            handles = budget.max_handles(),
            handles_per_account = budget.max_handles_per_account(),
            "open handle ceilings"
        );
        let uids = rustix::process::geteuid()
            .is_root()
            .then(|| Arc::new(uids::UidTable::load(&homes, limits.sandbox.uids.clone())));
        let cgroups = Cgroups::set_up();
        for line in crate::exec::sandbox::host_report(&cgroups) {
            info!(holds = %line, "limits of sandboxed programs");
        }
        Services {
            accounts,
            registry: AccountRegistry::default(),
            homes,
            command_timeout: limits.command_timeout,
            max_sessions_per_account: limits.max_sessions_per_account,
            budget,
            storage,
            uids,
            cgroups,
            program_limits: ProgramLimits {
                memory_bytes: limits.sandbox.memory_bytes,
                processes: limits.sandbox.processes,
                cpu_weight: limits.sandbox.cpu_weight,
            },
        }
    }

    /// Takes a session slot for `account`, or `None` when it has as many
    /// sessions open as it may.
    pub fn try_take_session(&self, account: &str) -> Option<AccountSessionSlot> {
        self.registry
            .try_take_session(account, self.max_sessions_per_account)
    }

    /// Live figures of every account that has logged in since start.
    pub fn account_figures(&self) -> Vec<crate::metrics::AccountFigures> {
        self.registry.figures()
    }

    /// Applies reloaded quota limits and rates to the accounts that have
    /// live state.
    pub fn apply_limits(&self, accounts: &Accounts) {
        self.registry.apply_limits(accounts);
    }

    /// Builds what `account_name` can do: opens its box (shared with its
    /// other sessions; the first open counts its usage) and finds its
    /// external commands on disk, off the async threads.
    pub async fn open(&self, account_name: &str) -> Result<AccountServices, ServiceError> {
        let account = self
            .accounts
            .load()
            .get(account_name)
            .cloned()
            .ok_or_else(|| ServiceError::NoSuchAccount(account_name.to_owned()))?;
        let registry = self.registry.clone();
        let rates = registry.rates_for(&account);
        let home = self.homes.join(&account.home);
        let storage = self.storage.clone();
        let defaults = self.program_limits;
        let limits = ProgramLimits {
            memory_bytes: account
                .sandbox
                .memory_bytes
                .unwrap_or(defaults.memory_bytes),
            processes: account.sandbox.processes.unwrap_or(defaults.processes),
            cpu_weight: account.sandbox.cpu_weight.unwrap_or(defaults.cpu_weight),
        };
        let table = self.uids.clone();
        let (jail, commands, uid) = tokio::task::spawn_blocking(move || {
            let uid = match &table {
                Some(table) => Some(
                    table
                        .uid_for(account.name.as_str())
                        .map_err(ServiceError::Uid)?,
                ),
                None => None,
            };
            let jail = registry.jail_for(&account, &home, storage.as_ref(), uid)?;
            let commands = account
                .commands
                .iter()
                .flat_map(|name| accounts::programs_of(name))
                .filter_map(|program| {
                    accounts::resolve_command(program).map(|path| (program.to_owned(), path))
                })
                .collect();
            Ok::<_, ServiceError>((jail, commands, uid))
        })
        .await
        .map_err(|_| ServiceError::Interrupted)??;
        let programs = Programs {
            cgroups: Arc::clone(&self.cgroups),
            limits,
            uid: uid.unwrap_or_else(|| rustix::process::geteuid().as_raw()),
        };
        Ok(AccountServices {
            jail,
            account: account_name.to_owned(),
            commands,
            command_timeout: self.command_timeout,
            budget: self.registry.budget_for(account_name, &self.budget),
            rates,
            programs,
        })
    }
}

/// What one logged-in account can do: built once per connection, shared
/// by its channels.
#[derive(Debug)]
pub struct AccountServices {
    /// The account's box.
    jail: Jail,
    /// The account name, shown as owner and group in listings.
    account: String,
    /// Programs the account may run besides the built-ins: the name the
    /// client types and the absolute path found on disk.
    commands: Vec<(String, PathBuf)>,
    /// How long a command may run before it is stopped.
    command_timeout: Duration,
    /// The account's share of the process, shared with its other sessions.
    budget: AccountBudget,
    /// The account's rates, shared with its other sessions.
    rates: AccountRates,
    /// What the account's sandboxed programs run as and may hold.
    programs: Programs,
}

impl AccountServices {
    /// Serves SFTP over `stream` until the client ends it; counts the
    /// handles it holds open in `open_handles`. `client_id` is the SSH
    /// version string the client sent, which tells how it orders SYMLINK's
    /// paths; `stderr` gets the reasons its status replies carry but
    /// clients do not show; what files move is counted into `moved`.
    /// Returns the stream, when it is still whole.
    pub async fn serve_sftp<S, E>(
        &self,
        stream: S,
        stderr: E,
        open_handles: Arc<AtomicUsize>,
        client_id: &[u8],
        moved: Arc<Transferred>,
    ) -> Option<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        E: AsyncWrite + Unpin + Send + 'static,
    {
        let context = crate::sftp::SessionContext {
            jail: self.jail.clone(),
            owner: self.account.clone(),
            open_handles,
            symlink_order: crate::sftp::SymlinkOrder::for_client(client_id),
            budget: self.budget.clone(),
            rates: self.rates.clone(),
            stderr: Some(Box::new(stderr)),
            moved,
        };
        crate::sftp::serve(stream, context).await
    }

    /// Runs one command line (`ssh HOST CMD`): scp, a built-in or an
    /// allowed external program. `pty` says whether the client has a
    /// terminal (stderr then merges into stdout); what scp moves is
    /// counted into `moved`.
    pub async fn run_command<R, W, E>(
        &self,
        line: &[u8],
        pty: bool,
        moved: Arc<Transferred>,
        stdin: R,
        stdout: W,
        stderr: E,
    ) -> ExitOutcome
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
        E: AsyncWrite + Unpin + Send,
    {
        let started = std::time::Instant::now();
        let outcome =
            crate::exec::run_command(line, &self.exec_context(pty, moved), stdin, stdout, stderr)
                .await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let command = crate::jail::escaped(line);
        match outcome {
            ExitOutcome::Status(status) => info!(
                target: "audit",
                command = %command,
                exit_status = status,
                duration_ms,
                "command run"
            ),
            ExitOutcome::Signal(signal) => info!(
                target: "audit",
                command = %command,
                signal = ?signal,
                duration_ms,
                "command run"
            ),
        }
        outcome
    }

    /// Runs the interactive shell on a terminal until the client leaves.
    pub async fn run_shell<R, W>(&self, input: R, output: W, moved: Arc<Transferred>) -> ExitOutcome
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        crate::exec::run_shell(&self.exec_context(true, moved), input, output).await
    }

    /// What one command or shell of this account runs with.
    fn exec_context(&self, pty: bool, moved: Arc<Transferred>) -> ExecContext {
        ExecContext {
            jail: self.jail.clone(),
            account: self.account.clone(),
            external: self.commands.clone(),
            command_timeout: self.command_timeout,
            pty,
            moved,
            rates: self.rates.clone(),
            programs: self.programs.clone(),
        }
    }
}
