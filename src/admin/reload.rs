//! Telling a running server that accounts.toml changed.
//!
//! [`reload_running_server`] is the one place that does it. Until the server
//! has a control socket it finds the servers by their process: every
//! `sftpbox serve` (the same program as this one, or one named `sftpbox`)
//! whose accounts file, worked out from its command line and working
//! directory as `serve` itself works it out, is this same file, gets
//! SIGHUP, which reloads accounts as documented. A server this user may not
//! signal, or none at all, is reported, so the administrator knows to
//! reload it by hand.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{DEFAULT_CONFIG_FILE, ServerConfig};

/// What became of the reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reloaded {
    /// The file did not change, so there was nothing to reload.
    NotNeeded,
    /// These servers were sent SIGHUP.
    Signalled(Vec<u32>),
    /// No running server serves this file.
    NoServer,
    /// A server was found but could not be told.
    Failed {
        /// Its process id.
        pid: u32,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Reloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reloaded::NotNeeded => f.write_str("the file is unchanged; nothing to reload"),
            Reloaded::Signalled(pids) => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "asked the running server (pid {}) to reload; its log says whether it did",
                    pids.join(", ")
                )
            }
            Reloaded::NoServer => f.write_str(
                "no running server found for this file; a server started elsewhere must be reloaded (SIGHUP) to see the change",
            ),
            Reloaded::Failed { pid, reason } => write!(
                f,
                "the running server (pid {pid}) could not be told ({reason}); reload it with `kill -HUP {pid}`"
            ),
        }
    }
}

/// Tells every running server of `accounts` to load it again.
pub(crate) fn reload_running_server(accounts: &Path) -> Reloaded {
    let Ok(wanted) = std::fs::canonicalize(accounts) else {
        return Reloaded::NoServer;
    };
    let mut signalled = Vec::new();
    for pid in servers_of(&wanted) {
        let Some(target) = rustix::process::Pid::from_raw(pid as i32) else {
            continue;
        };
        match rustix::process::kill_process(target, rustix::process::Signal::HUP) {
            Ok(()) => signalled.push(pid),
            Err(err) => {
                return Reloaded::Failed {
                    pid,
                    reason: err.to_string(),
                };
            }
        }
    }
    if signalled.is_empty() {
        Reloaded::NoServer
    } else {
        Reloaded::Signalled(signalled)
    }
}

/// The ids of the `sftpbox serve` processes whose accounts file is `wanted`
/// (canonical).
fn servers_of(wanted: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    let my_exe = std::fs::read_link("/proc/self/exe").ok();
    let mut found: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            let proc_dir = PathBuf::from(format!("/proc/{pid}"));
            is_sftpbox(&proc_dir, my_exe.as_deref())
                && served_accounts(&proc_dir).is_some_and(|served| served == wanted)
        })
        .collect();
    found.sort_unstable();
    found
}

/// Whether the process runs this program or one called `sftpbox`.
fn is_sftpbox(proc_dir: &Path, my_exe: Option<&Path>) -> bool {
    let Ok(exe) = std::fs::read_link(proc_dir.join("exe")) else {
        return false;
    };
    Some(exe.as_path()) == my_exe || exe.file_name().is_some_and(|name| name == "sftpbox")
}

/// The canonical accounts file of a `serve` process, from its argv and
/// working directory; `None` for another command or when it cannot be told.
fn served_accounts(proc_dir: &Path) -> Option<PathBuf> {
    let cmdline = std::fs::read(proc_dir.join("cmdline")).ok()?;
    let cwd = std::fs::read_link(proc_dir.join("cwd")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    accounts_of_serve(&args, &cwd).and_then(|path| std::fs::canonicalize(path).ok())
}

/// Where `serve` with `args` (argv, from the program name on) run in `cwd`
/// reads its accounts, as `serve` decides it: `--accounts`, else the
/// config file's `accounts`, else `accounts.toml`; relative to `cwd`.
fn accounts_of_serve(args: &[&[u8]], cwd: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut words = args.iter().skip(1).map(|a| std::ffi::OsStr::from_bytes(a));
    if words.next()? != "serve" {
        return None;
    }
    let mut config = None;
    let mut accounts = None;
    let rest: Vec<&std::ffi::OsStr> = words.collect();
    let mut i = 0;
    while let Some(word) = rest.get(i) {
        let text = word.to_string_lossy();
        for (flag, slot) in [("--config", &mut config), ("--accounts", &mut accounts)] {
            if text == flag {
                *slot = rest.get(i + 1).map(|v| cwd.join(v));
                i += 1;
            } else if let Some(value) = text.strip_prefix(&format!("{flag}=")) {
                *slot = Some(cwd.join(value));
            }
        }
        i += 1;
    }
    if accounts.is_some() {
        return accounts;
    }
    let config = config.or_else(|| {
        let default = cwd.join(DEFAULT_CONFIG_FILE);
        default.exists().then_some(default)
    });
    match config {
        Some(file) => ServerConfig::load(Some(&file)).ok().map(|c| c.accounts),
        None => Some(cwd.join("accounts.toml")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&'static str]) -> Vec<&'static [u8]> {
        words.iter().map(|w| w.as_bytes()).collect()
    }

    #[test]
    fn serve_reads_accounts_from_its_flag_or_its_folder() {
        let cwd = Path::new("/srv/box");
        assert_eq!(
            accounts_of_serve(&args(&["sftpbox", "serve"]), cwd),
            Some(PathBuf::from("/srv/box/accounts.toml"))
        );
        assert_eq!(
            accounts_of_serve(&args(&["sftpbox", "serve", "--accounts", "a.toml"]), cwd),
            Some(PathBuf::from("/srv/box/a.toml"))
        );
        assert_eq!(
            accounts_of_serve(&args(&["sftpbox", "serve", "--accounts=/etc/a.toml"]), cwd),
            Some(PathBuf::from("/etc/a.toml"))
        );
        assert_eq!(accounts_of_serve(&args(&["sftpbox", "check"]), cwd), None);
    }

    #[test]
    fn a_config_file_names_the_accounts_relative_to_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/sftpbox.toml"),
            "accounts = \"users.toml\"\n",
        )
        .unwrap();
        assert_eq!(
            accounts_of_serve(
                &args(&["sftpbox", "serve", "--config", "etc/sftpbox.toml"]),
                dir.path()
            ),
            Some(dir.path().join("etc/users.toml"))
        );
    }
}
