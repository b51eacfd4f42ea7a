//! The command line: `serve`, `hash-password`, `check`, `account`, and
//! the commands that steer a running server through its control socket
//! (`sessions`, `kick`, `reload`); their exit codes (0 ok, 1 runtime
//! failure or no server answering, 2 usage or configuration error),
//! logging set-up (text, coloured only on a terminal, or JSON lines) and the
//! signals that stop the server or reload its accounts.
//!
//! It knows no protocol: it loads the deployment, binds the listeners (SSH,
//! the control socket, metrics) and hands them to [`crate::server::Server`];
//! `account` (`account.rs`) reads what it needs from the terminal or
//! stdin, hands the change to [`crate::admin`] and then asks a running
//! server to reload, as `reload` does.

mod account;
mod cluster_accounts;
mod sessions;

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::accounts::{self, Accounts};
use crate::cluster;
use crate::config::{LogFormat, ServerConfig};
use crate::control::{self, ControlError, Request, Response};
use crate::host_keys;
use crate::server::{Server, ServerSettings};
use account::{AccountArgs, account};

/// Exit status for a usage or configuration error.
const EXIT_CONFIG: u8 = 2;
/// Exit status for a failure while running.
const EXIT_RUNTIME: u8 = 1;

/// An SSH/SFTP server in which every account lives in its own box.
#[derive(Parser, Debug)]
#[command(name = "sftpbox", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server in the foreground (logs go to stderr).
    Serve(ServeArgs),
    /// Read one password line from stdin and print its hash for accounts.toml.
    HashPassword,
    /// Validate sftpbox.toml and accounts.toml; print every problem as file:line:column.
    Check(CheckArgs),
    /// List, show, add, change or remove accounts in accounts.toml (a running
    /// server is told to reload).
    Account(AccountArgs),
    /// List the running server's sessions and their open transfers.
    Sessions(SessionsArgs),
    /// End sessions of the running server: one by id, or all of an account.
    Kick(KickArgs),
    /// Reload the running server's accounts.toml, as SIGHUP does, and print the outcome.
    Reload(ControlArgs),
}

/// How a command finds the running server.
#[derive(Args, Debug)]
struct ControlArgs {
    /// Server settings file naming `control_socket` (default: ./sftpbox.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The control socket itself, overriding the settings file.
    #[arg(long)]
    socket: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct SessionsArgs {
    #[command(flatten)]
    control: ControlArgs,
    /// Print one JSON array, for scripts.
    #[arg(long, conflicts_with = "watch")]
    json: bool,
    /// Redraw the table once a second until q or Ctrl-C.
    #[arg(long)]
    watch: bool,
}

#[derive(Args, Debug)]
struct KickArgs {
    #[command(flatten)]
    control: ControlArgs,
    /// The session's id, as `sessions` shows it.
    #[arg(required_unless_present = "account", conflicts_with = "account")]
    id: Option<u64>,
    /// End every session of this account.
    #[arg(long)]
    account: Option<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Server settings file (default: ./sftpbox.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, overriding the settings file (repeatable).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Accounts file, overriding the settings file.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// Folder holding one home per account, overriding the settings file.
    #[arg(long)]
    homes: Option<PathBuf>,
    /// Folder of host keys, overriding the settings file.
    #[arg(long)]
    keys: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Server settings file (default: ./sftpbox.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Accounts file, overriding the settings file.
    #[arg(long)]
    accounts: Option<PathBuf>,
}

/// Parses argv, runs the chosen command and turns its outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help and version to stdout with exit 0, usage errors to stderr with 2.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::HashPassword => hash_password(),
        Command::Check(args) => check(args),
        Command::Account(args) => account(args),
        Command::Sessions(args) => list_sessions(args),
        Command::Kick(args) => kick(args),
        Command::Reload(args) => reload(args),
    }
}

/// Logs to stderr as `format` says: text, coloured only when stderr is a
/// terminal (a log file or journald gets no escape codes), or one JSON
/// object per line.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // russh warns about client quirks (e.g. PuTTY's `simple@putty…` request)
        // that are not ours to act on; RUST_LOG brings them back.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,russh=error"));
    // Colours only on a terminal: a log file or journal gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let mut config = match ServerConfig::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(config.log_format);
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    if let Some(path) = args.accounts {
        config.accounts = path;
    }
    if let Some(path) = args.homes {
        config.homes = path;
    }
    if let Some(path) = args.keys {
        config.keys_dir = path;
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            error!(%err, "cannot start the runtime");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    // A cluster node takes its accounts from the database, not the file.
    let node = match &config.cluster {
        Some(settings) => match runtime.block_on(cluster::connect(settings)) {
            Ok(node) => match runtime.block_on(node.database().load_accounts()) {
                Ok((version, accounts)) => Some((node, version, accounts)),
                Err(err) => {
                    error!(
                        err = format!("{err:#}"),
                        "cannot load the cluster's accounts"
                    );
                    return ExitCode::from(EXIT_RUNTIME);
                }
            },
            Err(err) => {
                error!(err = format!("{err:#}"), "cannot join the cluster");
                return ExitCode::from(EXIT_RUNTIME);
            }
        },
        None => None,
    };
    let (accounts, node) = match node {
        Some((node, version, accounts)) => {
            info!(node = %node.storage().node, accounts = accounts.len(), "cluster node; accounts from the database");
            (accounts, Some((node, version)))
        }
        None => match Accounts::load(&config.accounts) {
            Ok(accounts) => (accounts, None),
            Err(err) => {
                error!("cannot load accounts:\n{err}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    if let Some(addr) = config.listen.iter().find(|a| !a.ip().is_loopback()) {
        let weak = accounts.with_public_example_password();
        if !weak.is_empty() {
            let names: Vec<String> = weak.iter().map(|n| n.to_string()).collect();
            error!(
                listen = %addr,
                accounts = %names.join(", "),
                "refusing to listen on a non-loopback address while these accounts still have the public example password; give them a new one with `sftpbox hash-password`"
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let host_keys = match host_keys::load_or_create(&config.keys_dir) {
        Ok(keys) => keys,
        Err(err) => {
            error!("{err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for key in &host_keys {
        info!(
            algorithm = %key.algorithm(),
            fingerprint = %host_keys::fingerprint(key),
            "host key"
        );
    }

    let settings = ServerSettings {
        limits: config.limits.clone(),
        penalties: config.penalties.clone(),
        accounts,
        accounts_path: config.accounts.clone(),
        homes: config.homes.clone(),
        host_keys,
        proxy_protocol_from: config.proxy_protocol_from.clone(),
    };
    let code = runtime.block_on(run_until_signalled(settings, &config, node));
    // The grace period is over: work still running on the blocking pool
    // (a long hash, a stuck disk) must not keep the process alive.
    runtime.shutdown_timeout(RUNTIME_STOP_WAIT);
    code
}

/// How long the process waits, after the grace period, for blocking work
/// to finish before it exits anyway.
const RUNTIME_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

async fn run_until_signalled(
    settings: ServerSettings,
    config: &ServerConfig,
    node: Option<(cluster::Cluster, i64)>,
) -> ExitCode {
    raise_open_files_limit();
    let mut listeners = Vec::new();
    for addr in &config.listen {
        match TcpListener::bind(addr).await {
            Ok(listener) => listeners.push(listener),
            Err(err) => {
                error!(%addr, %err, "cannot listen");
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    }
    let mut node_tasks = Vec::new();
    let server = match node {
        Some((node, version)) => {
            let server = Server::new_node(settings, node.storage().clone());
            let installer = server.clone();
            node_tasks.push(node.watch_accounts(version, move |accounts| {
                installer.install_accounts(accounts);
            }));
            node_tasks.push(node.spawn_heartbeat());
            server
        }
        None => Server::new(settings),
    };
    // Signals first: whoever waits for the lines below may signal at once.
    let shutdown = CancellationToken::new();
    let signals = match watch_signals(server.clone(), shutdown.clone()) {
        Ok(task) => task,
        Err(err) => {
            error!(%err, "cannot install signal handlers");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let socket_path = &config.control_socket;
    let control_task = match control::bind(socket_path) {
        Ok(listener) => {
            info!(path = %socket_path.display(), "control socket open");
            server.serve_control(listener)
        }
        Err(err) => {
            error!(path = %socket_path.display(), %err, "cannot open the control socket");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let metrics_task = match config.metrics_listen {
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(listener) => Some(server.serve_metrics(listener)),
            Err(err) => {
                error!(%addr, %err, "cannot listen for metrics");
                let _ = std::fs::remove_file(socket_path);
                return ExitCode::from(EXIT_RUNTIME);
            }
        },
        None => None,
    };
    let outcome = server.run(listeners, shutdown).await;
    for task in node_tasks {
        task.abort();
    }
    signals.abort();
    control_task.abort();
    if let Some(task) = metrics_task {
        task.abort();
    }
    // The socket file goes with the server; a later start would replace
    // it anyway.
    let _ = std::fs::remove_file(socket_path);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(err = format!("{err:#}"), "server failed");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// SIGTERM and SIGINT cancel `shutdown`; SIGHUP reloads the accounts.
fn watch_signals(
    server: Server,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { info!("SIGTERM received, shutting down"); shutdown.cancel(); }
                _ = int.recv() => { info!("SIGINT received, shutting down"); shutdown.cancel(); }
                _ = hup.recv() => {
                    let server = server.clone();
                    // The outcome is logged by the reload itself.
                    let _ = tokio::task::spawn_blocking(move || server.reload_accounts()).await;
                }
            }
        }
    }))
}

/// Many idle sessions each hold a socket; lift the soft open-files limit to the hard one.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(err) = setrlimit(Resource::Nofile, limit) {
            warn!(%err, "cannot raise the open-files limit");
        }
    }
}

/// A failure of a command, with its exit status and what stderr is told.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_CONFIG,
            message: message.into(),
        }
    }

    fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_RUNTIME,
            message: message.into(),
        }
    }

    fn report(self) -> ExitCode {
        eprintln!("sftpbox: {}", self.message);
        ExitCode::from(self.code)
    }
}

/// A password from the terminal without echo (asked twice when `confirm`)
/// or one line of stdin; never empty. Held as a [`accounts::Secret`] so it
/// cannot reach a log line by accident.
fn read_password(confirm: bool) -> Result<accounts::Secret<String>, Failure> {
    let cannot = |err: std::io::Error| Failure::runtime(format!("cannot read the password: {err}"));
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ").map_err(cannot)?;
        if confirm {
            let again = rpassword::prompt_password("password again: ").map_err(cannot)?;
            if again != first {
                return Err(Failure::usage(
                    "the two passwords differ; nothing was changed",
                ));
            }
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(cannot)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    if password.is_empty() {
        return Err(Failure::usage("the password is empty"));
    }
    Ok(accounts::Secret::new(password))
}

fn hash_password() -> ExitCode {
    let password = match read_password(false) {
        Ok(password) => password,
        Err(failure) => return failure.report(),
    };
    match accounts::hash_password(password.expose()) {
        Ok(hash) => {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{hash}").is_err() {
                return ExitCode::from(EXIT_RUNTIME);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("sftpbox: {err}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn check(args: CheckArgs) -> ExitCode {
    let mut config = match ServerConfig::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(path) = args.accounts {
        config.accounts = path;
    }
    match Accounts::load(&config.accounts) {
        Ok(accounts) => {
            println!(
                "{}: {} account(s), ok",
                display(&config.accounts),
                accounts.len()
            );
            let cgroups = crate::exec::sandbox::Cgroups::set_up();
            for line in crate::exec::sandbox::host_report(&cgroups) {
                println!("sandbox: {line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// The control socket `args` point to: `--socket`, or the settings file's
/// `control_socket`; `Err` (exit 2) when the settings file is bad.
fn control_socket(args: &ControlArgs) -> Result<PathBuf, ExitCode> {
    if let Some(path) = &args.socket {
        return Ok(path.clone());
    }
    match ServerConfig::load(args.config.as_deref()) {
        Ok(config) => Ok(config.control_socket),
        Err(err) => {
            eprintln!("{err}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

/// Sends `request` to the server `args` point to; prints why not (exit 1).
fn ask(args: &ControlArgs, request: &Request) -> Result<Response, ExitCode> {
    let path = control_socket(args)?;
    match control::ask(&path, request) {
        Ok(Response::Error { message }) => {
            eprintln!("sftpbox: {message}");
            Err(ExitCode::from(EXIT_RUNTIME))
        }
        Ok(response) => Ok(response),
        Err(err) => {
            eprintln!("sftpbox: {err}");
            Err(ExitCode::from(EXIT_RUNTIME))
        }
    }
}

/// An answer of the wrong kind: a server of another version.
fn unexpected(response: &Response) -> ExitCode {
    eprintln!("sftpbox: unexpected answer from the server: {response:?}");
    ExitCode::from(EXIT_RUNTIME)
}

fn fetch_sessions(args: &ControlArgs) -> Result<Vec<control::SessionInfo>, ExitCode> {
    match ask(args, &Request::Sessions)? {
        Response::Sessions { sessions } => Ok(sessions),
        other => Err(unexpected(&other)),
    }
}

fn list_sessions(args: SessionsArgs) -> ExitCode {
    if args.watch {
        // Check once before taking the terminal, so that "no server" is a
        // plain message and exit 1.
        if let Err(code) = fetch_sessions(&args.control) {
            return code;
        }
        let path = match control_socket(&args.control) {
            Ok(path) => path,
            Err(code) => return code,
        };
        let fetch = || match control::ask(&path, &Request::Sessions) {
            Ok(Response::Sessions { sessions }) => Ok(sessions),
            Ok(Response::Error { message }) => Err(message),
            Ok(other) => Err(format!("unexpected answer: {other:?}")),
            Err(err) => Err(err.to_string()),
        };
        return match sessions::watch(fetch) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("sftpbox: cannot drive the terminal: {err}");
                ExitCode::from(EXIT_RUNTIME)
            }
        };
    }
    let sessions = match fetch_sessions(&args.control) {
        Ok(sessions) => sessions,
        Err(code) => return code,
    };
    let text = if args.json {
        match serde_json::to_string_pretty(&sessions) {
            Ok(json) => json,
            Err(err) => {
                eprintln!("sftpbox: {err}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    } else {
        sessions::table(&sessions).join("\n")
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").is_err() {
        return ExitCode::from(EXIT_RUNTIME);
    }
    ExitCode::SUCCESS
}

fn kick(args: KickArgs) -> ExitCode {
    let request = Request::Kick {
        id: args.id,
        account: args.account,
    };
    match ask(&args.control, &request) {
        Ok(Response::Kicked { ids }) => {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            println!("kicked session(s) {}", ids.join(", "));
            ExitCode::SUCCESS
        }
        Ok(other) => unexpected(&other),
        Err(code) => code,
    }
}

/// What became of asking the server at a control socket to reload.
enum ReloadOutcome {
    /// Reloaded; this many accounts are in force.
    Reloaded(usize),
    /// Nothing listens there: no server is running (what connecting said).
    NoServer(String),
    /// The server kept its old accounts; the file's problems, one
    /// `file:line:column: message` a line.
    Refused(String),
    /// A server may be there but did not answer properly (or this user may
    /// not talk to it).
    Failed(String),
}

/// Asks the server at `path` to reload its accounts: the one way both
/// `reload` and `account` do it.
fn ask_reload(path: &Path) -> ReloadOutcome {
    match control::ask(path, &Request::Reload) {
        Ok(Response::Reloaded { accounts }) => ReloadOutcome::Reloaded(accounts),
        Ok(Response::Error { message }) => ReloadOutcome::Refused(message),
        Ok(other) => ReloadOutcome::Failed(format!("unexpected answer from the server: {other:?}")),
        Err(err) => {
            // No socket file, or one nobody listens on: no server. Anything
            // else (another uid's socket, a broken answer) is a failure.
            let absent = matches!(
                &err,
                ControlError::NoServer { source, .. } if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                )
            );
            if absent {
                ReloadOutcome::NoServer(err.to_string())
            } else {
                ReloadOutcome::Failed(err.to_string())
            }
        }
    }
}

fn reload(args: ControlArgs) -> ExitCode {
    let path = match control_socket(&args) {
        Ok(path) => path,
        Err(code) => return code,
    };
    match ask_reload(&path) {
        ReloadOutcome::Reloaded(accounts) => {
            println!("accounts reloaded: {accounts} account(s) in force");
            ExitCode::SUCCESS
        }
        ReloadOutcome::Refused(problems) => {
            eprintln!("{problems}");
            eprintln!("sftpbox: accounts not reloaded; the old ones stay in force");
            ExitCode::from(EXIT_RUNTIME)
        }
        ReloadOutcome::NoServer(why) => {
            eprintln!("sftpbox: {why}");
            ExitCode::from(EXIT_RUNTIME)
        }
        ReloadOutcome::Failed(err) => {
            eprintln!("sftpbox: {err}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
