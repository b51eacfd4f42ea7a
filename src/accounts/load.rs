//! Reading accounts.toml into [`Accounts`], with every problem reported as
//! `file:line:column: message`.
//!
//! The file is parsed into toml's span-carrying document tree (`DeTable`) and
//! walked by hand rather than through `#[derive(Deserialize)]`: serde stops at
//! the first error, and an administrator fixing a file wants all of them at
//! once. Keys point at the key (unknown field, bad account name); values at
//! the value (bad hash, bad key line, bad quota); `crate::diagnostics` turns
//! those spans into lines and columns.
//!
//! Besides the file this module reads only the directories of
//! [`COMMAND_DIRS`], to check that each external command exists. It knows
//! nothing of sockets, SSH sessions or SFTP.

use std::ops::Range;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use russh::keys::{Algorithm, PublicKey};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    Account, AccountName, Accounts, AccountsError, AccountsLoadError, PasswordHash, SandboxLimits,
};
use crate::diagnostics::{Report, syntax_error};

/// Commands that run inside the server (exec's built-ins and scp): the one
/// table in `builtin_names`, which exec dispatches from too. An account may
/// list them in `commands` without them existing on disk.
pub const BUILTIN_COMMANDS: &[&str] = crate::builtin_names::BUILTIN_NAMES;

/// Where external commands are looked up, in this order. A fixed list, not
/// `$PATH`: the server's environment must not decide what a client can run.
pub const COMMAND_DIRS: &[&str] = &["/usr/bin", "/bin", "/usr/local/bin"];

/// Words of `commands` that stand for several programs. `git` allows what a
/// git client runs over SSH for clone, fetch, push and `archive --remote`
/// (the programs git-shell allows), not the `git` program itself.
pub const COMMAND_ALIASES: &[(&str, &[&str])] = &[(
    "git",
    &["git-upload-pack", "git-receive-pack", "git-upload-archive"],
)];

/// Programs a host may lack that accounts commonly list, with the Debian
/// package that installs them, for the message that says one is missing.
const PACKAGES: &[(&str, &str)] = &[
    ("rsync", "rsync"),
    ("git", "git"),
    ("git-upload-pack", "git"),
    ("git-receive-pack", "git"),
    ("git-upload-archive", "git"),
];

/// The programs a word of `commands` allows: those of its alias, or the
/// word itself.
pub fn programs_of(name: &str) -> Vec<&str> {
    COMMAND_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or_else(|| vec![name], |(_, programs)| programs.to_vec())
}

/// The fields of a `[users.NAME]` table.
const ACCOUNT_FIELDS: &[&str] = &[
    "password",
    "keys",
    "quota",
    "max_files",
    "upload_rate",
    "download_rate",
    "commands",
    "home",
    "readonly",
    "disabled",
    "sandbox_memory",
    "sandbox_processes",
    "sandbox_cpu_weight",
];

/// authorized_keys options that only restrict what the server never allows
/// anyway (ptys are only for the built-in shell, forwarding is always refused),
/// so accepting them keeps their promise. Options that would need enforcing
/// (`from=`, `command=`, `expiry-time=`, ...) are refused instead of being
/// silently ignored.
const HARMLESS_KEY_OPTIONS: &[&str] = &[
    "restrict",
    "no-agent-forwarding",
    "no-port-forwarding",
    "no-x11-forwarding",
    "no-user-rc",
    "no-pty",
    "no-touch-required",
];

/// Finds `name` as an executable file in [`COMMAND_DIRS`]. `None` for names
/// that are not a plain program name.
pub fn resolve_command(name: &str) -> Option<PathBuf> {
    if check_command_name(name).is_err() {
        return None;
    }
    COMMAND_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| {
            std::fs::metadata(path)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Parses a quota: a byte count with an optional unit, such as `0`, `1024`,
/// `500 MiB`, `2GB`, `1.5 GiB`. Units are case-insensitive: `B`, decimal
/// `KB MB GB TB PB` (powers of 1000), binary `KiB MiB GiB TiB PiB` (powers of
/// 1024). A fraction of a byte is rounded down.
pub fn parse_quota(text: &str) -> Result<u64, String> {
    crate::config::parse_size(text, "quota")
}

/// Parses a rate (`upload_rate`, `download_rate`): a size as [`parse_quota`]
/// reads one, per second, such as `"4 MiB/s"`, `"500 KB/s"`, `"1.5 GiB/s"`
/// (the `/s` may be left out). Zero is refused: an account that may move
/// nothing is better disabled, and an absent rate is no limit.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let usage = "write a rate as a size per second like \"4 MiB/s\" or \"500 KB/s\"";
    let trimmed = text.trim();
    let size = trimmed
        .strip_suffix("/s")
        .or_else(|| trimmed.strip_suffix("/S"))
        .unwrap_or(trimmed);
    match crate::config::parse_size_as(size, "rate", usage)? {
        0 => Err(format!(
            "a rate of zero would stop every transfer; leave the rate out for no limit ({usage})"
        )),
        bytes => Ok(bytes),
    }
}

pub(super) fn load_file(path: &Path) -> Result<Accounts, AccountsLoadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, path),
        Err(err) => Err(AccountsLoadError {
            problems: vec![AccountsError::whole_file(
                path,
                format!("cannot read the accounts file: {err}"),
            )],
        }),
    }
}

pub(super) fn load_str(text: &str, file: &Path) -> Result<Accounts, AccountsLoadError> {
    let mut report = Report::new(text, file);
    let accounts = match report.parse(|message, span| syntax_message(text, message, span)) {
        Some(document) => check_document(&mut report, document.get_ref()),
        None => Vec::new(),
    };
    report
        .finish()
        .map_err(|problems| AccountsLoadError { problems })?;
    Ok(Accounts::from_accounts(accounts))
}

/// The accounts of a parsed file; every problem goes to `report`.
fn check_document(report: &mut Report<'_>, document: &DeTable<'_>) -> Vec<Account> {
    let mut accounts = Vec::new();
    for (key, value) in document.iter() {
        if key.get_ref() != "users" {
            report.at(
                &key.span(),
                format!(
                    "unknown field `{}`; accounts.toml holds only [users.NAME] tables",
                    key.get_ref()
                ),
            );
            continue;
        }
        let DeValue::Table(users) = value.get_ref() else {
            report.at(
                &value.span(),
                "`users` must be a table of accounts, written as [users.NAME] sections",
            );
            continue;
        };
        for (name, table) in users.iter() {
            if let Some(account) = check_account(report, name, table) {
                accounts.push(account);
            }
        }
    }
    accounts
}

/// Makes toml's messages speak of accounts where they are about accounts.
fn syntax_message(text: &str, message: &str, span: &Range<usize>) -> String {
    if message.starts_with("duplicate key") {
        let key = text.get(span.clone()).unwrap_or_default().trim_matches('"');
        let line_start = text
            .get(..span.start)
            .and_then(|before| before.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line = text.get(line_start..).unwrap_or_default().trim_start();
        let header = line.replace([' ', '\t', '"', '\''], "");
        if header.starts_with("[users.") {
            return format!(
                "duplicate account `{key}`: [users.{key}] appears more than once; merge the two tables"
            );
        }
        return format!("duplicate key `{key}`: each key may appear only once in a table");
    }
    syntax_error(message)
}

fn check_account(
    report: &mut Report<'_>,
    name: &Spanned<std::borrow::Cow<'_, str>>,
    table: &Spanned<DeValue<'_>>,
) -> Option<Account> {
    let problems_before = report.count();
    let account_name = match AccountName::new(name.get_ref()) {
        Ok(n) => Some(n),
        Err(message) => {
            report.at(&name.span(), message);
            None
        }
    };
    let DeValue::Table(fields) = table.get_ref() else {
        report.at(
            &table.span(),
            format!(
                "account `{}` must be a table ([users.{}])",
                name.get_ref(),
                name.get_ref()
            ),
        );
        return None;
    };

    let mut password = None;
    let mut keys = Vec::new();
    let mut quota_bytes = None;
    let mut max_files = None;
    let mut upload_rate = None;
    let mut download_rate = None;
    let mut commands = Vec::new();
    let mut home = None;
    let mut readonly = false;
    let mut disabled = false;
    let mut sandbox = SandboxLimits::default();
    for (key, value) in fields.iter() {
        let span = value.span();
        match key.get_ref().as_ref() {
            "password" => {
                if let Some(text) = string(report, value, "password") {
                    match PasswordHash::parse(text) {
                        Ok(hash) => password = Some(hash),
                        Err(err) => report.at(&span, err.to_string()),
                    }
                }
            }
            "keys" => {
                for line in strings(report, value, "keys", "authorized_keys lines") {
                    match check_key(line.get_ref()) {
                        Ok(key) => keys.push(key),
                        Err(message) => report.at(&line.span(), message),
                    }
                }
            }
            "quota" => match value.get_ref() {
                DeValue::Integer(int) => {
                    match i128::from_str_radix(int.as_str(), int.radix())
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                    {
                        Some(n) => quota_bytes = Some(n),
                        None => report.at(&span, "quota must be zero or a positive number of bytes"),
                    }
                }
                DeValue::String(text) => match parse_quota(text) {
                    Ok(n) => quota_bytes = Some(n),
                    Err(message) => report.at(&span, message),
                },
                other => report.at(
                    &span,
                    format!(
                        "quota must be an integer number of bytes or a string like \"500 MiB\", not {}",
                        other.type_str()
                    ),
                ),
            },
            "max_files" => match value.get_ref() {
                DeValue::Integer(int) => {
                    match i128::from_str_radix(int.as_str(), int.radix())
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                    {
                        Some(n) => max_files = Some(n),
                        None => report.at(&span, "max_files must be zero or a positive number"),
                    }
                }
                other => report.at(
                    &span,
                    format!(
                        "max_files must be a whole number of files and folders, not {}",
                        other.type_str()
                    ),
                ),
            },
            "upload_rate" => upload_rate = rate(report, value, "upload_rate"),
            "download_rate" => download_rate = rate(report, value, "download_rate"),
            "commands" => {
                for command in strings(report, value, "commands", "program names") {
                    match check_command(command.get_ref()) {
                        Ok(()) => commands.push((*command.get_ref()).to_owned()),
                        Err(message) => report.at(&command.span(), message),
                    }
                }
            }
            "home" => {
                if let Some(text) = string(report, value, "home") {
                    match check_home(text) {
                        Ok(()) => home = Some(text.to_owned()),
                        Err(message) => report.at(&span, message),
                    }
                }
            }
            "readonly" => readonly = boolean(report, value, "readonly").unwrap_or(false),
            "disabled" => disabled = boolean(report, value, "disabled").unwrap_or(false),
            "sandbox_memory" => match crate::config::sandbox_memory(value.get_ref(), "sandbox_memory") {
                Ok(bytes) => sandbox.memory_bytes = Some(bytes),
                Err(message) => report.at(&span, message),
            },
            "sandbox_processes" => {
                match crate::config::sandbox_processes(value.get_ref(), "sandbox_processes") {
                    Ok(count) => sandbox.processes = Some(count),
                    Err(message) => report.at(&span, message),
                }
            }
            "sandbox_cpu_weight" => {
                match crate::config::sandbox_cpu_weight(value.get_ref(), "sandbox_cpu_weight") {
                    Ok(weight) => sandbox.cpu_weight = Some(weight),
                    Err(message) => report.at(&span, message),
                }
            }
            unknown => report.at(
                &key.span(),
                format!(
                    "unknown field `{unknown}` in account `{}`; the fields are {}",
                    name.get_ref(),
                    ACCOUNT_FIELDS.join(", ")
                ),
            ),
        }
    }
    if report.count() > problems_before {
        return None;
    }
    let name = account_name?;
    Some(Account {
        home: home.unwrap_or_else(|| name.as_str().to_owned()),
        name,
        password,
        keys,
        quota_bytes,
        max_files,
        upload_rate,
        download_rate,
        commands,
        readonly,
        disabled,
        sandbox,
    })
}

/// A rate in bytes per second: an integer, or a string such as "4 MiB/s".
fn rate(report: &mut Report<'_>, value: &Spanned<DeValue<'_>>, field: &str) -> Option<u64> {
    let span = value.span();
    match value.get_ref() {
        DeValue::Integer(int) => {
            match i128::from_str_radix(int.as_str(), int.radix())
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n > 0)
            {
                Some(n) => Some(n),
                None => {
                    report.at(
                        &span,
                        format!("{field} must be a positive number of bytes per second"),
                    );
                    None
                }
            }
        }
        DeValue::String(text) => match parse_rate(text) {
            Ok(n) => Some(n),
            Err(message) => {
                report.at(&span, format!("{field}: {message}"));
                None
            }
        },
        other => {
            report.at(
                &span,
                format!(
                    "{field} must be a string like \"4 MiB/s\" or an integer of bytes per second, not {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

fn string<'v>(
    report: &mut Report<'_>,
    value: &'v Spanned<DeValue<'_>>,
    field: &str,
) -> Option<&'v str> {
    match value.get_ref() {
        DeValue::String(text) => Some(text),
        other => {
            report.at(
                &value.span(),
                format!("`{field}` must be a string, not {}", other.type_str()),
            );
            None
        }
    }
}

fn boolean(report: &mut Report<'_>, value: &Spanned<DeValue<'_>>, field: &str) -> Option<bool> {
    match value.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        other => {
            report.at(
                &value.span(),
                format!("`{field}` must be true or false, not {}", other.type_str()),
            );
            None
        }
    }
}

/// The strings of an array, each with its span; reports anything else.
fn strings<'v>(
    report: &mut Report<'_>,
    value: &'v Spanned<DeValue<'_>>,
    field: &str,
    what: &str,
) -> Vec<Spanned<&'v str>> {
    let DeValue::Array(items) = value.get_ref() else {
        report.at(
            &value.span(),
            format!(
                "`{field}` must be an array of {what}, not {}",
                value.get_ref().type_str()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(text) => out.push(Spanned::new(item.span(), text.as_ref())),
            other => report.at(
                &item.span(),
                format!("`{field}` must hold only strings, not {}", other.type_str()),
            ),
        }
    }
    out
}

/// Key types the server verifies. `ssh-rsa` keys sign with rsa-sha2-256/512
/// when the client supports it; which signature algorithms are acceptable is
/// the connection's decision, not the key list's.
const SUPPORTED_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
];

/// Parses one authorized_keys line (options allowed) into a public key of a
/// type the server verifies.
fn check_key(line: &str) -> Result<PublicKey, String> {
    let line = line.trim();
    if line.is_empty() {
        return Err("empty key: write an OpenSSH public key line such as \"ssh-ed25519 AAAA... alice@laptop\"".to_owned());
    }
    if line.contains(['\n', '\r']) {
        return Err("a key must be a single authorized_keys line".to_owned());
    }
    // As sshd does: if the line does not start with a key type, it starts
    // with options. (ssh-key's AuthorizedKeys is not used: it refuses a line
    // with options but no comment.)
    let first_word = line.split_whitespace().next().unwrap_or_default();
    let (options, key_text) = if is_key_type_name(first_word) {
        (None, line)
    } else {
        let (options, rest) = split_options(line);
        (Some(options), rest)
    };
    let key_type = key_text.split_whitespace().next().unwrap_or_default();
    if key_type == "ssh-dss" {
        return Err(
            "DSA keys (ssh-dss) are refused: they are insecure; use an ed25519 key".to_owned(),
        );
    }
    if !SUPPORTED_KEY_TYPES.contains(&key_type) {
        let shown = if key_type.is_empty() {
            first_word
        } else {
            key_type
        };
        return Err(format!(
            "unsupported or missing key type `{}`; use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa",
            shown.escape_default()
        ));
    }
    if let Some(options) = options {
        check_key_options(options)?;
    }
    let key = PublicKey::from_openssh(key_text).map_err(|err| {
        format!("malformed {key_type} key ({err}); paste the whole line of the .pub file")
    })?;
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } | Algorithm::Rsa { .. } => Ok(key),
        other => Err(format!(
            "unsupported key type `{other}`; use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa"
        )),
    }
}

/// Whether `word` names a key type, known or not (`ssh-foo`,
/// `sk-ssh-ed25519@openssh.com`), rather than starting an option list.
fn is_key_type_name(word: &str) -> bool {
    !word.contains(['=', ',', '"'])
        && (word.starts_with("ssh-")
            || word.starts_with("ecdsa-")
            || word.starts_with("sk-")
            || word.contains('@'))
}

/// Splits `options key...` at the first space outside double quotes.
fn split_options(line: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                let (options, rest) = line.split_at(i);
                return (options, rest.trim_start());
            }
            _ => {}
        }
    }
    (line, "")
}

fn check_key_options(options: &str) -> Result<(), String> {
    // Split at commas outside double quotes, as sshd does; ssh-key's
    // ConfigOpts refuses spaces inside quoted values, which sshd allows.
    let mut names = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in options.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                names.push(options.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(format!(
            "malformed key options `{options}`: a `\"` is not closed"
        ));
    }
    names.push(options.get(start..).unwrap_or_default());
    for option in names {
        let option_name = option.split('=').next().unwrap_or(option);
        if option_name.is_empty() {
            return Err(format!(
                "malformed key options `{options}`: an option is empty"
            ));
        }
        if !HARMLESS_KEY_OPTIONS
            .iter()
            .any(|ok| ok.eq_ignore_ascii_case(option_name))
        {
            return Err(format!(
                "key option `{option_name}` is not supported by sftpbox and would not be enforced; remove it (accepted: {})",
                HARMLESS_KEY_OPTIONS.join(", ")
            ));
        }
    }
    Ok(())
}

/// A plain program name: what may follow `ssh host` as argv[0].
fn check_command_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a command must not be empty".to_owned());
    }
    if name.contains('/') {
        return Err(format!(
            "command `{name}` must be a plain program name without `/`; it is looked up in {}",
            COMMAND_DIRS.join(", ")
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "command `{}` must be a single program name without spaces or arguments",
            name.escape_default()
        ));
    }
    if name.starts_with('-') || name == "." || name == ".." {
        return Err(format!("`{name}` is not a program name"));
    }
    Ok(())
}

fn check_command(name: &str) -> Result<(), String> {
    check_command_name(name)?;
    if BUILTIN_COMMANDS.contains(&name) {
        return Ok(());
    }
    let programs = programs_of(name);
    let Some(missing) = programs
        .iter()
        .find(|program| resolve_command(program).is_none())
    else {
        return Ok(());
    };
    let dirs = COMMAND_DIRS.join(", ");
    let install = PACKAGES
        .iter()
        .find(|(program, _)| program == missing)
        .map(|(_, package)| format!(" (Debian: `apt install {package}`)"))
        .unwrap_or_default();
    if programs == [name] {
        Err(format!(
            "command `{name}` is neither a built-in nor installed on this host: \
             no executable `{name}` in {dirs}{install}"
        ))
    } else {
        Err(format!(
            "command `{name}` allows {}, but `{missing}` is not installed on this host: \
             no executable `{missing}` in {dirs}{install}",
            programs.join(", ")
        ))
    }
}

/// A home is a relative path of plain names under the homes folder.
fn check_home(home: &str) -> Result<(), String> {
    if home.starts_with('/') {
        return Err(format!(
            "home `{home}` must be relative to the homes folder, not absolute"
        ));
    }
    let plain = |c: &str| !c.is_empty() && c != "." && c != ".." && !c.contains('\0');
    if !home.split('/').all(plain) {
        return Err(format!(
            "home `{}` must be plain folder names separated by `/` (no `..`, `.` or empty parts)",
            home.escape_default()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARGON2: &str = "$argon2id$v=19$m=19456,t=2,p=1$2/7ShcLt/t8MHsR38ApCOw$qrVhreicMW0ClFgXUqU56jhNfcFDHlz7ZEtRovWyZyk";
    const ED25519_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAofZ54gtpxq9sGaJb7QEfpJ/eEgEEe4vpUxi+lTf9lG x";
    const ED25519_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPiuqr9vZC4MZVbeCneYkJi9kH8/9yGHVU9iRqoWHWqR y";
    const NISTP256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOimfVz6ZowqmCga8IYeMC1+xrByu6o7gwdXYghvLIley+hyL0woimVzUyck8puHFSWDwLMvyCRr4J9RKy6raZE= root@vm";

    fn load(text: &str) -> Result<Accounts, AccountsLoadError> {
        load_str(text, Path::new("accounts.toml"))
    }

    /// The problems as `line:column: message` strings.
    fn problems(text: &str) -> Vec<String> {
        load(text)
            .expect_err("the file should be refused")
            .problems
            .iter()
            .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
            .collect()
    }

    fn only_problem(text: &str) -> String {
        let all = problems(text);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.into_iter().next().unwrap()
    }

    #[test]
    fn a_full_account_loads() {
        let text = format!(
            r#"
[users.alice]
password = "{ARGON2}"
keys = ["{ED25519_A}", "restrict {NISTP256}"]
quota = "500 MiB"
max_files = 10_000
commands = ["wc", "sh"]
home = "customers/alice"
readonly = true

[users.bob]
keys = ["{ED25519_B}"]
quota = 1000
disabled = true
"#
        );
        let accounts = load(&text).unwrap();
        assert_eq!(accounts.len(), 2);
        let alice = accounts.get("alice").unwrap();
        assert!(matches!(alice.password, Some(PasswordHash::Argon2(_))));
        assert_eq!(alice.keys.len(), 2);
        assert_eq!(alice.quota_bytes, Some(500 << 20));
        assert_eq!(alice.max_files, Some(10_000));
        assert_eq!(alice.commands, ["wc", "sh"]);
        assert_eq!(alice.home, "customers/alice");
        assert!(alice.readonly && !alice.disabled);
        let bob = accounts.get("bob").unwrap();
        assert_eq!(bob.home, "bob");
        assert_eq!(bob.quota_bytes, Some(1000));
        assert_eq!(bob.max_files, None);
        assert!(bob.password.is_none() && bob.disabled && !bob.readonly);
        let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
    }

    #[test]
    fn an_empty_file_has_no_accounts() {
        assert_eq!(load("# nothing yet\n").unwrap().len(), 0);
    }

    #[test]
    fn a_syntax_error_names_its_place() {
        let p = only_problem("[users.alice]\nreadonly = tru\n");
        assert!(p.starts_with("2:12: TOML syntax error"), "{p}");
    }

    #[test]
    fn an_unknown_field_is_named_at_its_key() {
        let p = only_problem("[users.alice]\nkeys = []\n  quotas = 5\n");
        assert!(
            p.starts_with("3:3: unknown field `quotas` in account `alice`"),
            "{p}"
        );
    }

    #[test]
    fn an_unknown_top_level_field_is_refused() {
        let p = only_problem("user = 1\n");
        assert!(p.starts_with("1:1: unknown field `user`"), "{p}");
    }

    #[test]
    fn a_plaintext_password_is_refused_with_a_hint() {
        let p = only_problem("[users.alice]\npassword = \"hunter2\"\n");
        assert!(
            p.starts_with("2:12: the password is stored in plain text"),
            "{p}"
        );
        assert!(p.contains("sftpbox hash-password"), "{p}");
    }

    #[test]
    fn a_hash_that_does_not_parse_is_refused() {
        let p = only_problem("[users.alice]\npassword = \"$argon2id$v=19$nonsense\"\n");
        assert!(p.starts_with("2:12: malformed argon2 password hash"), "{p}");
        let p = only_problem("[users.alice]\npassword = \"$6$salt$tooshort\"\n");
        assert!(
            p.starts_with("2:12: malformed SHA-512 crypt password hash"),
            "{p}"
        );
    }

    #[test]
    fn a_sha512_crypt_password_loads_and_verifies() {
        let text = "[users.alice]\npassword = \"$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1\"\n";
        let accounts = load(text).unwrap();
        let alice = accounts.get("alice").unwrap();
        assert!(alice.verify_password("secret"));
        assert!(!alice.verify_password("wrong"));
    }

    #[test]
    fn an_unknown_key_type_is_refused_at_the_key() {
        let p = only_problem(
            "[users.alice]\nkeys = [\n  \"ssh-foo AAAAB3NzaC1yc2EAAAADAQABAAAAgQ alice\",\n]\n",
        );
        assert!(
            p.starts_with("3:3: unsupported or missing key type `ssh-foo`"),
            "{p}"
        );
        let p = only_problem(
            "[users.alice]\nkeys = [\"sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIBDT7Qd7QHvYIkq1JG0jNz/W7wJ8TaBRyIR+nBw7U1UaAAAABHNzaDo= x\"]\n",
        );
        assert!(
            p.starts_with("2:9: unsupported or missing key type `sk-ssh-ed25519@openssh.com`"),
            "{p}"
        );
        let p = only_problem("[users.alice]\nkeys = [\"AAAAC3NzaC1lZDI1NTE5\"]\n");
        assert!(p.starts_with("2:9: unsupported or missing key type"), "{p}");
    }

    #[test]
    fn a_malformed_key_is_refused_at_the_key() {
        let text =
            format!("[users.alice]\nkeys = [\"{ED25519_A}\", \"ssh-ed25519 AAAAnotbase64!!\"]\n");
        let p = only_problem(&text);
        assert!(
            p.starts_with(&format!("2:{}: malformed", 9 + ED25519_A.len() + 2 + 2)),
            "{p}"
        );
    }

    #[test]
    fn every_supported_key_type_loads() {
        let keys = [
            ED25519_A,
            NISTP256,
            "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBOT9LWHOSFXYG56t/F2zSzqDoNip0HHtJu8/GH91QZyye+QzF47OFtJ4Tzha5UBdmqyt+nt4lvRcaI6x7l/MpY/b1iIsZO/GnhHPRAT//yVTRQqahDJ9q0khyxU1sDP2ug==",
            "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBABwQDS/1xBe0+uLM7pD/hdx0/cnLNkevbYwkgjcXernwbYLy8S5+37LZR49BRJAnJpEmKhP9t2sDysG55Rinxw+qQC2vIdF/Xyjq0UVtWgvTStGjFuCn/NgIxzJKZk9dBDDFHnz1GEnsjWJ9j478+SoJj1Aq9K1LOhL17OlHfpDkmntUA==",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC9dv6nKKQikIhAnBk7PaK5dGK0Yo0x48q0yomUAlu3Wu+XKOdNwzn7241pIiV96fR7g4dHvCZRc1MErxXUKki7f/VoALZv8KdlmORGoxX93W0roiYpKa866M+ac0c0HhPnqzd6vw8zOrKs3piG6k0NzMDi6T417OthH9HcH/MW3c3v2BiK+AS6xdFNqGA6lb9HciifK8mTeOEzRkGy/jtbT4kIne3QuX7XbpFjsuv3F7SKZwoyYE59uo4D+mQ8IK/5tb7MPuKp2udWjec2BXhid5gYC9rQJe/ARTJFtW0BKFgFUPz8zfmXWbOqa1bIygVO1FHqg/lhvRtpv7QSIsPP",
        ];
        let text = format!("[users.alice]\nkeys = {keys:?}\n");
        let accounts = load(&text).unwrap();
        let algorithms: Vec<String> = accounts
            .get("alice")
            .unwrap()
            .keys
            .iter()
            .map(|k| k.algorithm().to_string())
            .collect();
        assert_eq!(
            algorithms,
            [
                "ssh-ed25519",
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521",
                "ssh-rsa"
            ]
        );
    }

    #[test]
    fn a_dsa_key_is_refused() {
        let p = only_problem(
            "[users.alice]\nkeys = [\"ssh-dss AAAAB3NzaC1kc3MAAACBAI1wlYyLNNu5I6Wfx72O6TG51dP1q6Ur/4R9JxBOOffioPxemNhjiIQis292vjPjOJTfYNHOWusp8JCbC2W6XlgAJPdgxz2jYx2S0UKd2NJf7PdctzgkkQOR+ws7hhjjbqe+Rf9W5hzvFXSrlikfupmfDrb3nY8krGb3R80U/X5J d\"]\n",
        );
        assert!(p.starts_with("2:9: DSA keys (ssh-dss) are refused"), "{p}");
    }

    #[test]
    fn key_options_that_would_need_enforcing_are_refused() {
        let text = format!("[users.alice]\nkeys = ['from=\"10.0.0.0/8\" {ED25519_A}']\n");
        let p = only_problem(&text);
        assert!(p.starts_with("2:9: key option `from`"), "{p}");
        let text = format!("[users.alice]\nkeys = ['no-pty,no-port-forwarding {ED25519_A}']\n");
        assert!(load(&text).is_ok());
        // With options and without a comment (ssh-key's own parser refuses this).
        let bare = ED25519_A.trim_end_matches(" x");
        let text = format!("[users.alice]\nkeys = ['restrict {bare}']\n");
        assert_eq!(load(&text).unwrap().get("alice").unwrap().keys.len(), 1);
        let text = format!("[users.alice]\nkeys = ['command=\"ls -l\" {bare}']\n");
        let p = only_problem(&text);
        assert!(p.starts_with("2:9: key option `command`"), "{p}");
    }

    #[test]
    fn a_duplicate_account_is_named_clearly() {
        let p = only_problem("[users.alice]\nreadonly = true\n\n[users.alice]\ndisabled = true\n");
        assert!(p.starts_with("4:8: duplicate account `alice`"), "{p}");
    }

    #[test]
    fn a_duplicate_field_is_named() {
        let p = only_problem("[users.alice]\nreadonly = true\nreadonly = false\n");
        assert!(p.starts_with("3:1: duplicate key `readonly`"), "{p}");
    }

    #[test]
    fn invalid_account_names_are_refused_at_the_name() {
        let p = only_problem("[users.Alice]\nreadonly = true\n");
        assert!(
            p.starts_with("1:8: account name `Alice` contains 'A'"),
            "{p}"
        );
        let p = only_problem("[users.\"-x\"]\n");
        assert!(
            p.starts_with("1:8: account name `-x` must not start"),
            "{p}"
        );
        let long = "a".repeat(33);
        let p = only_problem(&format!("[users.{long}]\n"));
        assert!(p.starts_with("1:8: account name"), "{p}");
    }

    #[test]
    fn homes_that_could_leave_the_homes_folder_are_refused() {
        for bad in ["/srv/alice", "..", "a/../b", "a//b", "./a", "a/"] {
            let p = only_problem(&format!("[users.alice]\nhome = \"{bad}\"\n"));
            assert!(p.starts_with("2:8: home"), "{bad}: {p}");
        }
        assert_eq!(
            load("[users.alice]\nhome = \"x/y\"\n")
                .unwrap()
                .get("alice")
                .unwrap()
                .home,
            "x/y"
        );
    }

    #[test]
    fn bad_quotas_are_refused_at_the_value() {
        let p = only_problem("[users.alice]\nquota = \"5 parsecs\"\n");
        assert!(p.starts_with("2:9: unknown quota unit `parsecs`"), "{p}");
        let p = only_problem("[users.alice]\nquota = -1\n");
        assert!(
            p.starts_with("2:9: quota must be zero or a positive"),
            "{p}"
        );
        let p = only_problem("[users.alice]\nquota = 1.5\n");
        assert!(p.starts_with("2:9: quota must be an integer"), "{p}");
    }

    #[test]
    fn rates_are_sizes_per_second() {
        let accounts = load(
            "[users.alice]\nupload_rate = \"4 MiB/s\"\ndownload_rate = 1000\n[users.bob]\nkeys = []\n",
        )
        .unwrap();
        let alice = accounts.get("alice").unwrap();
        assert_eq!(alice.upload_rate, Some(4 << 20));
        assert_eq!(alice.download_rate, Some(1000));
        let bob = accounts.get("bob").unwrap();
        assert_eq!((bob.upload_rate, bob.download_rate), (None, None));
        for (text, bytes) in [
            ("500 KB/s", 500_000),
            ("1.5 GiB/s", 3 << 29),
            ("10MiB", 10 << 20),
            ("64 kib/s", 64 << 10),
        ] {
            assert_eq!(parse_rate(text), Ok(bytes), "{text}");
        }
        for bad in ["0", "0 MiB/s", "fast", "4 MiB/h", "/s", "-1 MiB/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_rates_are_refused_at_the_value() {
        let p = only_problem("[users.alice]\nupload_rate = \"4 parsecs/s\"\n");
        assert!(
            p.starts_with("2:15: upload_rate: unknown rate unit `parsecs`"),
            "{p}"
        );
        let p = only_problem("[users.alice]\ndownload_rate = 0\n");
        assert!(
            p.starts_with("2:17: download_rate must be a positive number"),
            "{p}"
        );
        let p = only_problem("[users.alice]\ndownload_rate = \"0 B/s\"\n");
        assert!(
            p.contains("a rate of zero would stop every transfer"),
            "{p}"
        );
        let p = only_problem("[users.alice]\nupload_rate = true\n");
        assert!(p.starts_with("2:15: upload_rate must be a string"), "{p}");
    }

    #[test]
    fn sandbox_limits_are_read_per_account_and_checked_at_the_value() {
        let accounts = load(
            "[users.alice]\nsandbox_memory = \"256 MiB\"\nsandbox_processes = 50\nsandbox_cpu_weight = 10\n[users.bob]\n",
        )
        .unwrap();
        let alice = accounts.get("alice").unwrap();
        assert_eq!(
            alice.sandbox,
            SandboxLimits {
                memory_bytes: Some(256 << 20),
                processes: Some(50),
                cpu_weight: Some(10),
            }
        );
        assert_eq!(
            accounts.get("bob").unwrap().sandbox,
            SandboxLimits::default()
        );
        assert_eq!(
            problems(
                "[users.alice]\nsandbox_memory = \"1 TB of it\"\nsandbox_processes = -1\nsandbox_cpu_weight = \"high\"\n"
            ),
            [
                "2:18: unknown memory unit `TB of it`: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (write a sandbox_memory as a number of bytes or a size like \"500 MiB\", \"2 GB\" or \"1.5 GiB\")".replace("memory unit", "sandbox_memory unit"),
                "3:21: `sandbox_processes` must be a whole number from 1 to 4194304".to_owned(),
                "4:22: `sandbox_cpu_weight` must be a whole number from 1 to 10000, not string".to_owned(),
            ]
        );
    }

    #[test]
    fn bad_file_limits_are_refused_at_the_value() {
        let p = only_problem("[users.alice]\nmax_files = -3\n");
        assert!(
            p.starts_with("2:13: max_files must be zero or a positive number"),
            "{p}"
        );
        let p = only_problem("[users.alice]\nmax_files = \"lots\"\n");
        assert!(
            p.starts_with(
                "2:13: max_files must be a whole number of files and folders, not string"
            ),
            "{p}"
        );
        let p = only_problem("[users.alice]\nmax_files = 2.5\n");
        assert!(p.contains("not float"), "{p}");
        let accounts = load("[users.alice]\nmax_files = 0\n").unwrap();
        assert_eq!(accounts.get("alice").unwrap().max_files, Some(0));
    }

    #[test]
    fn quota_sizes_parse() {
        let table: &[(&str, u64)] = &[
            ("0", 0),
            ("1024", 1024),
            ("100 B", 100),
            ("100 KiB", 100 * 1024),
            ("500 MiB", 500 << 20),
            ("500mib", 500 << 20),
            ("2GB", 2_000_000_000),
            ("2 gb", 2_000_000_000),
            ("1.5 GiB", 3 << 29),
            ("1.1 GB", 1_100_000_000),
            ("3 TB", 3_000_000_000_000),
            ("1 TiB", 1 << 40),
            ("  7 KB ", 7000),
            ("1_000", 1000),
            ("0.5 B", 0),
        ];
        for (text, bytes) in table {
            assert_eq!(parse_quota(text), Ok(*bytes), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "1.2.3 GB",
            "1. GB",
            ".5 GB",
            "-1",
            "5 parsecs",
            "1e3",
            "99999999999 TB",
        ] {
            assert!(parse_quota(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands_must_be_plain_names_that_exist() {
        let p = only_problem("[users.alice]\ncommands = [\"/bin/sh\"]\n");
        assert!(
            p.starts_with("2:13: command `/bin/sh` must be a plain program name"),
            "{p}"
        );
        let p = only_problem("[users.alice]\ncommands = [\"ls -l\"]\n");
        assert!(
            p.starts_with("2:13: command `ls -l` must be a single program name"),
            "{p}"
        );
        let p = only_problem("[users.alice]\ncommands = [\"ls\", \"no-such-program-here\"]\n");
        assert!(
            p.starts_with(
                "2:19: command `no-such-program-here` is neither a built-in nor installed on \
                 this host: no executable `no-such-program-here` in /usr/bin, /bin, /usr/local/bin"
            ),
            "{p}"
        );
    }

    #[test]
    fn git_stands_for_the_three_programs_a_git_client_runs() {
        assert_eq!(
            programs_of("git"),
            ["git-upload-pack", "git-receive-pack", "git-upload-archive"]
        );
        assert_eq!(programs_of("rsync"), ["rsync"]);
        // Accepted (git is installed where the tests run; see .ci/run) and
        // kept as written.
        let accounts = load("[users.alice]\ncommands = [\"git\"]\n").unwrap();
        assert_eq!(accounts.get("alice").unwrap().commands, ["git"]);
    }

    #[test]
    fn built_in_commands_need_no_program_on_disk() {
        let accounts = load("[users.alice]\ncommands = [\"md5sum\", \"help\", \"scp\"]\n").unwrap();
        assert_eq!(
            accounts.get("alice").unwrap().commands,
            ["md5sum", "help", "scp"]
        );
    }

    #[test]
    fn resolve_command_finds_programs_in_the_fixed_folders_only() {
        let sh = resolve_command("sh").unwrap();
        assert!(
            COMMAND_DIRS.iter().any(|d| sh.starts_with(d)),
            "{}",
            sh.display()
        );
        assert_eq!(resolve_command("../bin/sh"), None);
        assert_eq!(resolve_command("no-such-program-here"), None);
    }

    #[test]
    fn wrong_value_types_are_refused() {
        let p = problems(
            "[users.alice]\nreadonly = \"yes\"\nkeys = \"ssh-ed25519 AAAA\"\npassword = 5\n",
        );
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(
            p[0].starts_with("2:12: `readonly` must be true or false, not string"),
            "{p:#?}"
        );
        assert!(p[1].starts_with("3:8: `keys` must be an array"), "{p:#?}");
        assert!(
            p[2].starts_with("4:12: `password` must be a string"),
            "{p:#?}"
        );
    }

    #[test]
    fn every_problem_is_reported_in_file_order() {
        let text = "\
[users.zed]
password = \"plain\"

[users.alice]
quota = \"lots\"
colour = \"blue\"

[users.Bad]
";
        let p = problems(text);
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(
            p[0].starts_with("2:12: the password is stored in plain text"),
            "{p:#?}"
        );
        assert!(p[1].starts_with("5:9: "), "{p:#?}");
        assert!(p[2].starts_with("6:1: unknown field `colour`"), "{p:#?}");
        assert!(p[3].starts_with("8:8: account name `Bad`"), "{p:#?}");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let p = only_problem("[users.alice] # é\nhome = \"ü/..\"\n");
        assert!(p.starts_with("2:8: home"), "{p}");
    }

    #[test]
    fn an_unreadable_file_is_one_problem_without_a_position() {
        let err = Accounts::load(Path::new("/nonexistent/accounts.toml")).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert!(
            err.to_string()
                .starts_with("/nonexistent/accounts.toml: cannot read the accounts file"),
            "{err}"
        );
    }

    #[test]
    fn errors_display_as_file_line_column_message() {
        let err = load("[users.alice]\npassword = \"x\"\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("accounts.toml:2:12: the password"),
            "{err}"
        );
    }

    #[test]
    fn the_committed_example_loads_with_the_public_password() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("accounts.toml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return; // the scratch crate has no example; sftpbox does
        };
        let accounts = load_str(&text, &path).unwrap();
        let demo = accounts.get("demo").unwrap();
        assert_eq!(demo.quota_bytes, Some(1 << 30));
        let weak: Vec<&str> = accounts
            .with_public_example_password()
            .iter()
            .map(|n| n.as_str())
            .collect();
        assert_eq!(weak, ["demo"]);
    }
}
