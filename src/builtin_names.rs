//! The names of the commands sftpbox serves in-process: exec's built-ins
//! and scp. A leaf module, so that both `accounts` (the `commands` check of
//! accounts.toml) and `exec` (dispatch) read the same table without one
//! importing the other; a test in `exec` holds this table and exec's
//! registry of built-ins equal.

/// Every command served inside the server, whatever an account's
/// `commands` says; an account may list them without them existing on disk.
pub const BUILTIN_NAMES: &[&str] = &[
    "ls",
    "pwd",
    "cat",
    "head",
    "tail",
    "wc",
    "stat",
    "md5sum",
    "sha1sum",
    "sha224sum",
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "du",
    "df",
    "quota",
    "mkdir",
    "rmdir",
    "rm",
    "mv",
    "cp",
    "touch",
    "chmod",
    "date",
    "echo",
    "help",
    "true",
    "false",
    "scp",
];
