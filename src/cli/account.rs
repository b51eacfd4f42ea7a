//! `sftpbox account list | show | add | set | remove | import`: the flags
//! read into a [`Change`] (the password asked on the terminal or read from
//! stdin, key files read), the document chosen (accounts.toml, or a
//! cluster's database when the settings file has `[cluster]`), the change
//! handed to [`crate::admin`], and a running server then told to reload as
//! `reload` does (a cluster's nodes poll instead).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::cluster_accounts::ClusterDocument;
use super::{Failure, ReloadOutcome, ask_reload, read_password};
use crate::accounts::{self, AccountName};
use crate::admin::{self, Change, Deployment, Edit};
use crate::cluster;
use crate::config::ServerConfig;

#[derive(Args, Debug)]
pub(super) struct AccountArgs {
    #[command(subcommand)]
    action: AccountAction,
    /// Server settings file (default: ./sftpbox.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Accounts file, overriding the settings file.
    #[arg(long, global = true)]
    accounts: Option<PathBuf>,
    /// Folder of homes, overriding the settings file (for usage figures).
    #[arg(long, global = true)]
    homes: Option<PathBuf>,
    /// The running server's control socket, overriding the settings file's
    /// `control_socket` (the server told to reload after a change).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum AccountAction {
    /// One line per account; --json prints one JSON array.
    List {
        /// One JSON array of objects (name, quota, used, keys, commands, readonly, disabled).
        #[arg(long)]
        json: bool,
    },
    /// Every field of one account (never the password hash).
    Show {
        /// The account.
        name: String,
        /// The account as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Add an account.
    Add {
        /// The new account's name.
        name: String,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Change fields of an account; the others stay as they are.
    Set {
        /// The account.
        name: String,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Remove an account from accounts.toml; its home is left on disk.
    Remove {
        /// The account.
        name: String,
    },
    /// Check an accounts.toml and make it a cluster's accounts (the
    /// settings file's [cluster]); every node has them within a second.
    Import {
        /// The accounts file to import.
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
struct FieldArgs {
    /// Set a password: asked twice without echo on a terminal, else one line from stdin.
    #[arg(long)]
    password: bool,
    /// authorized_keys file whose keys the account gets (`-` = stdin; repeatable;
    /// with `set`, they replace the account's keys).
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// Quota: bytes or a size such as "500 MiB"; "none" removes it.
    #[arg(long, value_name = "SIZE")]
    quota: Option<String>,
    /// Most files and folders the home may hold; "none" removes the limit.
    #[arg(long = "max-files", value_name = "N")]
    max_files: Option<String>,
    /// External programs the account may run, comma-separated ("" for none).
    #[arg(long, value_name = "a,b")]
    commands: Option<String>,
    /// Refuse every write.
    #[arg(long, conflicts_with = "writable")]
    readonly: bool,
    /// Allow writes again.
    #[arg(long)]
    writable: bool,
    /// Refuse every login.
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    /// Allow logins again.
    #[arg(long)]
    enable: bool,
}

/// `sftpbox account ...`: its outcome as an exit code.
pub(super) fn account(args: AccountArgs) -> ExitCode {
    match run_account(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn run_account(args: AccountArgs) -> Result<(), Failure> {
    let config = ServerConfig::load(args.config.as_deref())
        .map_err(|err| Failure::usage(err.to_string()))?;
    let deployment = Deployment {
        accounts: args.accounts.unwrap_or_else(|| config.accounts.clone()),
        homes: args.homes.unwrap_or_else(|| config.homes.clone()),
    };
    let socket = args.socket.unwrap_or_else(|| config.control_socket.clone());
    let fail = |err: admin::AdminError| {
        if err.is_usage() {
            Failure::usage(err.to_string())
        } else {
            Failure::runtime(err.to_string())
        }
    };
    let cluster_document = match &config.cluster {
        Some(settings) => Some(ClusterDocument::connect(settings).map_err(|err| {
            Failure::runtime(format!("cannot reach the cluster's database: {err:#}"))
        })?),
        None => None,
    };
    let document: &dyn admin::AccountsDocument = match &cluster_document {
        Some(cluster) => cluster,
        None => &deployment,
    };
    let written = match args.action {
        AccountAction::Import { file } => {
            return import_into_cluster(cluster_document.as_ref(), &file);
        }
        AccountAction::List { json } => {
            print!("{}", admin::list(document, json).map_err(fail)?);
            return Ok(());
        }
        AccountAction::Show { name, json } => {
            print!("{}", admin::show(document, &name, json).map_err(fail)?);
            return Ok(());
        }
        AccountAction::Add { name, fields } => {
            AccountName::new(&name).map_err(Failure::usage)?;
            let change = read_change(fields)?;
            admin::change(document, Edit::Add(&name, &change)).map_err(fail)?
        }
        AccountAction::Set { name, fields } => {
            let change = read_change(fields)?;
            admin::change(document, Edit::Set(&name, &change)).map_err(fail)?
        }
        AccountAction::Remove { name } => {
            admin::change(document, Edit::Remove(&name)).map_err(fail)?
        }
    };
    println!("{}", written.summary);
    for note in &written.notes {
        eprintln!("sftpbox: note: {note}");
    }
    if !written.changed {
        println!("the file is unchanged; nothing to reload");
        return Ok(());
    }
    if cluster_document.is_some() {
        println!(
            "every node of the cluster puts it in force within {} ms",
            2 * cluster::ACCOUNTS_POLL.as_millis()
        );
        return Ok(());
    }
    // The file is written whatever the server says; only a server that is
    // there and did not take the change is a failure.
    match ask_reload(&socket) {
        ReloadOutcome::Reloaded(count) => {
            println!("the running server reloaded: {count} account(s) in force");
            Ok(())
        }
        ReloadOutcome::NoServer(why) => {
            println!("{why}; no server is running, so the change takes effect when one starts");
            Ok(())
        }
        ReloadOutcome::Refused(problems) => {
            eprintln!("{problems}");
            Err(Failure::runtime(
                "the file was written, but the running server did not reload it; its old accounts stay in force",
            ))
        }
        ReloadOutcome::Failed(err) => Err(Failure::runtime(format!(
            "the file was written, but the running server could not be asked to reload it: {err}"
        ))),
    }
}

/// The change the flags ask for: the password read and hashed, the key
/// files read, the quota checked.
fn read_change(fields: FieldArgs) -> Result<Change, Failure> {
    let stdin_keys = fields.keys.iter().filter(|k| k.as_os_str() == "-").count();
    if stdin_keys > 1 {
        return Err(Failure::usage("`--key -` may be given once"));
    }
    if stdin_keys == 1 && fields.password && !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "--password and `--key -` cannot both read stdin; give the key as a file",
        ));
    }
    let quota = match fields.quota.as_deref().map(str::trim) {
        None => None,
        Some("none") => Some(None),
        Some(text) => {
            accounts::parse_quota(text).map_err(|err| Failure::usage(format!("--quota: {err}")))?;
            Some(Some(text.to_owned()))
        }
    };
    let mut keys = None;
    for file in &fields.keys {
        let text = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(file)
        }
        .map_err(|err| Failure::runtime(format!("cannot read {}: {err}", file.display())))?;
        let found: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect();
        if found.is_empty() {
            return Err(Failure::usage(format!("{}: no key in it", file.display())));
        }
        keys.get_or_insert_with(Vec::new).extend(found);
    }
    let password_hash = if fields.password {
        let password = read_password(true)?;
        Some(
            accounts::hash_password(password.expose())
                .map_err(|err| Failure::runtime(err.to_string()))?,
        )
    } else {
        None
    };
    let max_files = match fields.max_files.as_deref().map(str::trim) {
        None => None,
        Some("none") => Some(None),
        Some(text) => Some(Some(text.parse::<u64>().map_err(|_| {
            Failure::usage(format!(
                "--max-files: `{text}` is not a whole number of files (or \"none\")"
            ))
        })?)),
    };
    let flag = |on: bool, off: bool| match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    Ok(Change {
        password_hash,
        keys,
        quota,
        max_files,
        commands: fields.commands.map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        readonly: flag(fields.readonly, fields.writable),
        disabled: flag(fields.disable, fields.enable),
    })
}

/// `account import FILE`: the file's accounts become the cluster's.
fn import_into_cluster(document: Option<&ClusterDocument>, file: &Path) -> Result<(), Failure> {
    let Some(document) = document else {
        return Err(Failure::usage(
            "no [cluster] section in the settings file; `account import` puts accounts into a cluster's database"
                .to_owned(),
        ));
    };
    let count = document
        .import(file)
        .map_err(|err| Failure::usage(format!("accounts not imported:\n{err:#}")))?;
    println!("imported {count} account(s) into the cluster");
    Ok(())
}
