//! `sftpbox account list | show | add | set | remove`: the accounts file
//! read for people and scripts, and changed in place.
//!
//! A change is made to the text (`edit.rs`, comments and layout kept),
//! checked by the same loader the server uses, and only then written: to a
//! temporary file beside accounts.toml, synced, renamed over it. A change
//! that does not load is refused and the file stays byte for byte what it
//! was. Telling a running server to reload is the command line's part,
//! through the control socket as `sftpbox reload` does it.
//! `remove` takes the account out of the file and never touches its home.
//!
//! The accounts live in an [`AccountsDocument`]: accounts.toml beside its
//! homes ([`Deployment`]), or a cluster's document in its database (the
//! command line's `cli/cluster_accounts.rs`). Either way the text is
//! edited and checked here; the document only reads it, replaces it when
//! no one else changed it meanwhile, and says what each account uses
//! (counted from the homes on disk, as a starting server counts them, or
//! read from the cluster's ledger). No password hash is ever printed.

mod edit;

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::accounts::{Account, Accounts, AccountsLoadError};
use crate::jail::Jail;

pub(crate) use edit::{Change, Edit, EditError};

/// Where the accounts and their homes are.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    /// accounts.toml.
    pub accounts: PathBuf,
    /// The folder of homes.
    pub homes: PathBuf,
}

/// Where an accounts document is kept, and what its accounts use.
pub(crate) trait AccountsDocument {
    /// What to call the document in messages.
    fn name(&self) -> &Path;
    /// The document's text as it is now.
    fn read(&self) -> Result<String, AdminError>;
    /// Replaces the document with `after` (which loads as `accounts`),
    /// unless it is no longer `before`: then `AdminError::Raced`, and
    /// nothing is written.
    fn replace(&self, before: &str, after: &str, accounts: &Accounts) -> Result<(), AdminError>;
    /// Bytes `account` stores; `None` when they cannot be counted.
    fn used(&self, account: &Account) -> Option<u64>;
    /// Where `account`'s files are, for `show`.
    fn home(&self, account: &Account) -> String;
    /// What `remove` leaves behind, said after "account NAME removed; ".
    fn kept_after_remove(&self) -> String;
}

impl AccountsDocument for Deployment {
    fn name(&self) -> &Path {
        &self.accounts
    }

    fn read(&self) -> Result<String, AdminError> {
        read(&self.accounts)
    }

    fn replace(&self, before: &str, after: &str, _accounts: &Accounts) -> Result<(), AdminError> {
        // Write beside the real file when accounts.toml is a symlink, so
        // the rename replaces the file and not the link.
        let path = std::fs::canonicalize(&self.accounts).map_err(|source| AdminError::Read {
            path: self.accounts.clone(),
            source,
        })?;
        if read(&path)? != before {
            return Err(AdminError::Raced { path });
        }
        write_atomically(&path, after).map_err(|source| AdminError::Write {
            path: self.accounts.clone(),
            source,
        })
    }

    fn used(&self, account: &Account) -> Option<u64> {
        match Jail::usage_on_disk(&self.homes.join(&account.home)) {
            Ok(used) => Some(used.unwrap_or(0)),
            Err(_) => None,
        }
    }

    fn home(&self, account: &Account) -> String {
        self.homes.join(&account.home).display().to_string()
    }

    fn kept_after_remove(&self) -> String {
        format!("its home under {} stays", self.homes.display())
    }
}

/// Why an account command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminError {
    /// The accounts file cannot be read.
    #[error("{}: cannot read the accounts file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file as it is does not load.
    #[error("{0}")]
    Load(AccountsLoadError),
    /// The edit cannot be made.
    #[error("{}: {source}", path.display())]
    Edit {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: EditError,
    },
    /// The edited file would not load; nothing was written.
    #[error("the change was refused and accounts.toml is unchanged:\n{0}")]
    Refused(AccountsLoadError),
    /// Writing the new file failed; the old one is still in place.
    #[error("{}: cannot write the accounts file: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Someone else changed the file while this change was made.
    #[error("{}: the file changed while it was being edited; nothing was written, try again", path.display())]
    Raced {
        /// The file.
        path: PathBuf,
    },
}

impl AdminError {
    /// Whether the fault is the input's (exit 2) rather than the system's (exit 1).
    pub fn is_usage(&self) -> bool {
        match self {
            AdminError::Read { .. } | AdminError::Write { .. } | AdminError::Raced { .. } => false,
            AdminError::Load(_) | AdminError::Edit { .. } | AdminError::Refused(_) => true,
        }
    }
}

/// What a written change did.
#[derive(Debug)]
pub(crate) struct Written {
    /// One line saying what changed.
    pub summary: String,
    /// Notes for the administrator (an account that cannot log in, ...).
    pub notes: Vec<String>,
    /// Whether the file changed (so a running server has something to
    /// reload).
    pub changed: bool,
}

fn read(path: &Path) -> Result<String, AdminError> {
    std::fs::read_to_string(path).map_err(|source| AdminError::Read {
        path: path.to_owned(),
        source,
    })
}

fn load(document: &dyn AccountsDocument) -> Result<Accounts, AdminError> {
    let text = document.read()?;
    Accounts::from_toml_str(&text, document.name()).map_err(AdminError::Load)
}

/// Applies `edit`, validates the result with the loader, and has the
/// document replace its text with it.
pub(crate) fn change(
    document: &dyn AccountsDocument,
    edit: Edit<'_>,
) -> Result<Written, AdminError> {
    let before = document.read()?;
    let after = edit::apply(&before, edit).map_err(|source| AdminError::Edit {
        path: document.name().to_owned(),
        source,
    })?;
    let accounts = Accounts::from_toml_str(&after, document.name()).map_err(AdminError::Refused)?;
    let (summary, name) = match edit {
        Edit::Add(name, _) => (format!("account {name} added"), Some(name)),
        Edit::Set(name, change) if change.is_empty() => {
            (format!("account {name}: nothing to change"), None)
        }
        Edit::Set(name, _) => (format!("account {name} changed"), Some(name)),
        Edit::Remove(name) => (
            format!("account {name} removed; {}", document.kept_after_remove()),
            None,
        ),
    };
    let mut notes = Vec::new();
    if let Some(account) = name.and_then(|name| accounts.get(name))
        && account.password.is_none()
        && account.keys.is_empty()
    {
        notes.push(format!(
            "account {} has neither a password nor a key and cannot log in until it gets one",
            account.name
        ));
    }
    let changed = after != before;
    if changed {
        document.replace(&before, &after, &accounts)?;
    }
    Ok(Written {
        summary,
        notes,
        changed,
    })
}

/// Replaces `path` with `text` in one rename: a temporary file in the same
/// folder, with the old file's mode (and owner, when allowed), synced
/// before the rename and the folder synced after it.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let old = std::fs::metadata(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(old.permissions().mode() & 0o7777)
            .open(&temp)?;
        // The umask may have taken bits the old file had.
        file.set_permissions(old.permissions())?;
        if rustix::process::geteuid().is_root() {
            rustix::fs::fchown(
                &file,
                Some(rustix::process::Uid::from_raw(old.uid())),
                Some(rustix::process::Gid::from_raw(old.gid())),
            )?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()
}

fn key_line(key: &russh::keys::PublicKey) -> String {
    key.to_openssh()
        .unwrap_or_else(|_| key.algorithm().to_string())
}

fn account_json(document: &dyn AccountsDocument, account: &Account) -> serde_json::Value {
    serde_json::json!({
        "name": account.name.as_str(),
        "quota": account.quota_bytes,
        "max_files": account.max_files,
        "used": document.used(account),
        "keys": account.keys.iter().map(key_line).collect::<Vec<_>>(),
        "commands": account.commands,
        "readonly": account.readonly,
        "disabled": account.disabled,
        "password": account.password.is_some(),
        "home": account.home,
    })
}

/// `account list`: a table, or (`json`) one JSON array of objects.
pub(crate) fn list(document: &dyn AccountsDocument, json: bool) -> Result<String, AdminError> {
    let accounts = load(document)?;
    if json {
        let all: Vec<serde_json::Value> =
            accounts.iter().map(|a| account_json(document, a)).collect();
        return Ok(format!("{}\n", serde_json::Value::Array(all)));
    }
    let mut rows = vec![[
        "NAME".to_owned(),
        "LOGIN".to_owned(),
        "USED".to_owned(),
        "QUOTA".to_owned(),
        "FLAGS".to_owned(),
        "COMMANDS".to_owned(),
    ]];
    for account in accounts.iter() {
        rows.push([
            account.name.to_string(),
            login_methods(account),
            document.used(account).map_or_else(|| "?".to_owned(), size),
            account.quota_bytes.map_or_else(|| "-".to_owned(), size),
            flags(account),
            if account.commands.is_empty() {
                "-".to_owned()
            } else {
                account.commands.join(",")
            },
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// `account show NAME`: every field but the hash, one per line, or (`json`)
/// the object `list --json` prints for it.
pub(crate) fn show(
    document: &dyn AccountsDocument,
    name: &str,
    json: bool,
) -> Result<String, AdminError> {
    let accounts = load(document)?;
    let account = accounts.get(name).ok_or_else(|| AdminError::Edit {
        path: document.name().to_owned(),
        source: EditError::Missing(name.to_owned()),
    })?;
    if json {
        return Ok(format!("{}\n", account_json(document, account)));
    }
    let mut out = String::new();
    let _ = writeln!(out, "name:      {}", account.name);
    let _ = writeln!(
        out,
        "password:  {}",
        account.password.as_ref().map_or("none", |_| "set")
    );
    if account.keys.is_empty() {
        let _ = writeln!(out, "keys:      none");
    }
    for key in &account.keys {
        let _ = writeln!(
            out,
            "key:       {} {} {}",
            key.algorithm(),
            key.fingerprint(russh::keys::HashAlg::Sha256),
            key.comment()
        );
    }
    let _ = writeln!(out, "home:      {}", document.home(account));
    let _ = writeln!(
        out,
        "used:      {}",
        document
            .used(account)
            .map_or_else(|| "cannot be counted".to_owned(), size)
    );
    let _ = writeln!(
        out,
        "quota:     {}",
        account.quota_bytes.map_or_else(|| "none".to_owned(), size)
    );
    let _ = writeln!(
        out,
        "max files: {}",
        account
            .max_files
            .map_or_else(|| "none".to_owned(), |n| n.to_string())
    );
    let _ = writeln!(
        out,
        "commands:  {}",
        if account.commands.is_empty() {
            "built-ins only".to_owned()
        } else {
            account.commands.join(", ")
        }
    );
    let _ = writeln!(out, "readonly:  {}", yes_no(account.readonly));
    let _ = writeln!(out, "disabled:  {}", yes_no(account.disabled));
    Ok(out)
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

fn login_methods(account: &Account) -> String {
    let mut methods = Vec::new();
    if account.password.is_some() {
        methods.push("password".to_owned());
    }
    match account.keys.len() {
        0 => {}
        1 => methods.push("1 key".to_owned()),
        n => methods.push(format!("{n} keys")),
    }
    if methods.is_empty() {
        "none".to_owned()
    } else {
        methods.join("+")
    }
}

fn flags(account: &Account) -> String {
    let flags: Vec<&str> = [
        (account.readonly, "readonly"),
        (account.disabled, "disabled"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if flags.is_empty() {
        "-".to_owned()
    } else {
        flags.join(",")
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `2.0 GiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_binary_units() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(1 << 30), "1.0 GiB");
    }

    #[test]
    fn an_atomic_write_keeps_the_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.toml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["accounts.toml"]);
    }
}
