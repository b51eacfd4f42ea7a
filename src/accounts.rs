//! The account set: who may log in, with which password hash or public keys,
//! into which home, under which quota and file limit, with which extra
//! commands.
//!
//! `load` (accounts/load.rs) turns accounts.toml into [`Accounts`], reporting
//! every problem as `file:line:column: message`; `password` (accounts/password.rs)
//! verifies and makes hashes. An [`Accounts`] value is immutable: a reload builds
//! a new one and the server swaps it in whole, so a bad file never leaves a
//! half-applied account set.
//!
//! This module must not know sockets, russh server types, SFTP or the layout of
//! homes on disk: it hands out names, hashes, keys and numbers, and the callers
//! decide what they mean for a connection.

mod load;
mod password;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use russh::keys::PublicKey;

use crate::diagnostics::{Problem, render};

pub use load::{COMMAND_ALIASES, programs_of};
pub(crate) use load::{parse_quota, resolve_command};
pub use password::hash_password;
pub(crate) use password::{
    MAX_CONCURRENT_VERIFIES, PUBLIC_EXAMPLE_PASSWORD, PasswordHash, release_verify_memory,
    verify_dummy_password,
};

/// A value that must not reach logs or error messages: `Debug` and `Display`
/// print `<secret>`. Reach the value with [`Secret::expose`], on purpose.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The wrapped value; the name makes each use visible in review.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Secret<T> {
        Secret(value)
    }
}

/// The name of an account: 1 to 32 characters of `[a-z0-9_.-]`, not starting
/// with `-` or `.`, so it is safe as a directory name and in log lines.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) struct AccountName(String);

/// The longest account name, as for Linux user names.
pub(crate) const MAX_ACCOUNT_NAME_CHARS: usize = 32;

impl AccountName {
    /// Checks `name` against the rules above; the error says which one it breaks.
    pub fn new(name: &str) -> Result<AccountName, String> {
        if name.is_empty() {
            return Err("an account name must not be empty".to_owned());
        }
        if name.chars().count() > MAX_ACCOUNT_NAME_CHARS {
            return Err(format!(
                "account name `{name}` is longer than {MAX_ACCOUNT_NAME_CHARS} characters"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-'))
        {
            return Err(format!(
                "account name `{}` contains {:?}; use only a-z, 0-9, `_`, `.` and `-`",
                name.escape_default(),
                bad
            ));
        }
        if name.starts_with('-') || name.starts_with('.') {
            return Err(format!(
                "account name `{name}` must not start with `-` or `.`"
            ));
        }
        Ok(AccountName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for AccountName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One `[users.NAME]` table of accounts.toml, checked.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    /// The login name.
    pub name: AccountName,
    /// The password hash; `None` means password login is off for this account.
    /// Its `Debug` prints `<secret>`.
    pub password: Option<PasswordHash>,
    /// Public keys that may log in (options of the authorized_keys lines are
    /// checked at load and not kept).
    pub keys: Vec<PublicKey>,
    /// The most bytes the home may hold; `None` = no quota.
    pub quota_bytes: Option<u64>,
    /// The most files (inodes of any kind: files, folders, symlinks) the
    /// home may hold below itself; `None` = no limit.
    pub max_files: Option<u64>,
    /// Bytes per second all sessions of the account together may upload
    /// (`upload_rate`); `None` = no limit.
    pub upload_rate: Option<u64>,
    /// Bytes per second all sessions of the account together may download
    /// (`download_rate`); `None` = no limit.
    pub download_rate: Option<u64>,
    /// External programs this account may run besides the built-ins, as plain
    /// names or aliases ([`COMMAND_ALIASES`]: `git`), as written; each
    /// program was found by [`resolve_command`] (or is a built-in) at load.
    pub commands: Vec<String>,
    /// The home, relative to the homes folder: one or more plain path
    /// components (no `..`, not absolute). Defaults to the account name.
    pub home: String,
    /// Whether every write is refused.
    pub readonly: bool,
    /// Whether every login is refused.
    pub disabled: bool,
    /// What this account's sandboxed programs may hold together, where it
    /// differs from sftpbox.toml's `[sandbox]` defaults.
    pub sandbox: SandboxLimits,
}

/// Per-account overrides of the `[sandbox]` defaults (`sandbox_memory`,
/// `sandbox_processes`, `sandbox_cpu_weight`); `None` keeps the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Bytes of memory all the account's programs may use together.
    pub memory_bytes: Option<u64>,
    /// Processes and threads the account's programs may have together.
    pub processes: Option<u64>,
    /// The CPU weight of the account's programs.
    pub cpu_weight: Option<u32>,
}

impl Account {
    /// Whether `password` matches the stored hash; `false` without a hash or
    /// when the account is disabled. Blocking and slow by design (argon2):
    /// call from `spawn_blocking`.
    pub fn verify_password(&self, password: &str) -> bool {
        match &self.password {
            Some(hash) if !self.disabled => hash.verify(password),
            Some(_) => {
                // Same cost either way, so timing does not reveal the state.
                verify_dummy_password(password);
                false
            }
            None => {
                verify_dummy_password(password);
                false
            }
        }
    }

    /// Whether `key` is one of the account's keys. Compares the key material
    /// only: the comment of an authorized_keys line does not matter.
    pub fn accepts_key(&self, key: &PublicKey) -> bool {
        !self.disabled
            && self
                .keys
                .iter()
                .any(|known| known.key_data() == key.key_data())
    }
}

/// The accounts of one accounts.toml, by name.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    by_name: BTreeMap<String, Account>,
}

impl Accounts {
    /// Reads and checks the file. Every problem found is reported, each with
    /// its `file:line:column`.
    pub fn load(path: &Path) -> Result<Accounts, AccountsLoadError> {
        load::load_file(path)
    }

    /// Checks accounts.toml text as [`Accounts::load`] checks the file it
    /// reads; `file` names it in the problems. For the fuzz targets.
    pub(crate) fn from_toml_str(text: &str, file: &Path) -> Result<Accounts, AccountsLoadError> {
        load::load_str(text, file)
    }

    /// Builds a set from accounts already made (for tests and tools). A later
    /// account replaces an earlier one of the same name.
    pub(crate) fn from_accounts(accounts: impl IntoIterator<Item = Account>) -> Accounts {
        Accounts {
            by_name: accounts
                .into_iter()
                .map(|a| (a.name.as_str().to_owned(), a))
                .collect(),
        }
    }

    /// The account called `name`, if any.
    pub(crate) fn get(&self, name: &str) -> Option<&Account> {
        self.by_name.get(name)
    }

    /// All accounts, in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Account> {
        self.by_name.values()
    }

    /// How many accounts there are.
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// The accounts whose password is still the README's public example
    /// password ([`PUBLIC_EXAMPLE_PASSWORD`]), disabled ones included (a reload
    /// could enable them). Runs one slow verify per account with a password,
    /// so it is computed only when asked (at startup and after a reload) and
    /// spread over the available cores: a thousand accounts would otherwise
    /// take tens of seconds.
    pub(crate) fn with_public_example_password(&self) -> Vec<&AccountName> {
        let with_password: Vec<&Account> = self.iter().filter(|a| a.password.is_some()).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = with_password.len().div_ceil(threads).max(1);
        let uses_example = |a: &Account| {
            a.password
                .as_ref()
                .is_some_and(|hash| hash.verify(PUBLIC_EXAMPLE_PASSWORD))
        };
        std::thread::scope(|scope| {
            let workers: Vec<_> = with_password
                .chunks(chunk)
                .map(|part| {
                    let worker = scope.spawn(move || {
                        part.iter()
                            .filter(|a| uses_example(a))
                            .map(|a| &a.name)
                            .collect::<Vec<_>>()
                    });
                    (part, worker)
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|(part, worker)| {
                    // A worker only fails if argon2 panics; then count its
                    // accounts as weak rather than let them pass unchecked.
                    worker
                        .join()
                        .unwrap_or_else(|_| part.iter().map(|a| &a.name).collect())
                })
                .collect()
        })
    }
}

/// One problem in accounts.toml, at its place in the file (none when the
/// file cannot be read).
pub type AccountsError = Problem;

/// Every problem found in accounts.toml, in file order; `Display` prints one
/// per line.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{}", render(problems))]
pub struct AccountsLoadError {
    /// At least one problem.
    pub problems: Vec<AccountsError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHeDUfqVDWDcNZT/X0hLTk3ZOyp5YvNzuHLhYbb7dEuE";

    fn account(password: Option<&str>, keys: &[&str]) -> Account {
        Account {
            name: AccountName::new("alice").unwrap(),
            password: password.map(|p| PasswordHash::parse(&hash_password(p).unwrap()).unwrap()),
            keys: keys
                .iter()
                .map(|k| PublicKey::from_openssh(k).unwrap())
                .collect(),
            quota_bytes: None,
            max_files: None,
            upload_rate: None,
            download_rate: None,
            commands: Vec::new(),
            home: "alice".to_owned(),
            readonly: false,
            disabled: false,
            sandbox: SandboxLimits::default(),
        }
    }

    #[test]
    fn secrets_print_as_a_placeholder() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s}"), "<secret>");
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn account_debug_does_not_print_the_hash() {
        let a = account(Some("pw"), &[]);
        let Some(PasswordHash::Argon2(hash)) = &a.password else {
            panic!("expected argon2");
        };
        let debug = format!("{a:?}");
        assert!(!debug.contains(hash.expose().as_str()));
        assert!(!debug.contains("argon2id"));
        assert!(debug.contains("<secret>"));
    }

    #[test]
    fn key_matching_ignores_the_comment() {
        let a = account(None, &[&format!("{ED25519} alice@laptop")]);
        let offered = PublicKey::from_openssh(&format!("{ED25519} something-else")).unwrap();
        assert!(a.accepts_key(&offered));
        let other = PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDbU6hK0ZB6PdTg0E0gqoR/UuWMRt5Ivtq61c0oSA6hA",
        )
        .unwrap();
        assert!(!a.accepts_key(&other));
    }

    #[test]
    fn a_disabled_account_accepts_neither_password_nor_key() {
        let mut a = account(Some("pw"), &[ED25519]);
        assert!(a.verify_password("pw"));
        a.disabled = true;
        assert!(!a.verify_password("pw"));
        assert!(!a.accepts_key(&PublicKey::from_openssh(ED25519).unwrap()));
    }

    #[test]
    fn an_account_without_password_refuses_every_password() {
        let a = account(None, &[ED25519]);
        assert!(!a.verify_password(""));
        assert!(!a.verify_password("pw"));
        assert!(a.accepts_key(&PublicKey::from_openssh(ED25519).unwrap()));
    }

    #[test]
    fn account_names_follow_the_rules() {
        for good in ["alice", "a", "bob.smith", "x_1-2", "0day", &"a".repeat(32)] {
            assert!(AccountName::new(good).is_ok(), "{good}");
        }
        for bad in ["", "Alice", "-x", ".x", "a b", "a/b", "é", &"a".repeat(33)] {
            assert!(AccountName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accounts_with_the_public_example_password_are_named() {
        let mut demo = account(Some(PUBLIC_EXAMPLE_PASSWORD), &[]);
        demo.name = AccountName::new("demo").unwrap();
        let accounts = Accounts::from_accounts([demo, account(Some("something else"), &[])]);
        let weak: Vec<&str> = accounts
            .with_public_example_password()
            .iter()
            .map(|n| n.as_str())
            .collect();
        assert_eq!(weak, ["demo"]);
    }

    #[test]
    fn the_load_error_prints_one_problem_per_line() {
        let err = AccountsLoadError {
            problems: vec![
                AccountsError {
                    file: "a.toml".into(),
                    line: 3,
                    column: 7,
                    message: "first".into(),
                },
                AccountsError {
                    file: "a.toml".into(),
                    line: 0,
                    column: 0,
                    message: "second".into(),
                },
            ],
        };
        assert_eq!(err.to_string(), "a.toml:3:7: first\na.toml: second");
    }
}
