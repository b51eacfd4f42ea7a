//! Server settings: sftpbox.toml → [`ServerConfig`] and its [`Limits`]
//! (`[limits]` and `[penalties]` are read in `limits`, `[sandbox]` in
//! `sandbox`, `[cluster]` and `[storage]` in `cluster`).
//!
//! Every setting is optional and has a default, so a deployment folder works
//! without the file. Relative paths in the file are relative to the file's own
//! folder, so `sftpbox serve --config /srv/box/sftpbox.toml` works from any
//! current directory. Problems are reported as `file:line:column: message`,
//! all of them at once, like accounts.toml (both through `crate::diagnostics`).
//!
//! This module must not know russh, accounts or sockets beyond parsing
//! `SocketAddr`s: the server reads these numbers and applies them. Command-line
//! overrides (`--listen`, `--accounts`, `--homes`, `--keys`) are applied by the
//! caller through the public fields.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::DeValue;

use crate::diagnostics::{Problem, Report, render, syntax_error};

mod cluster;
mod limits;
mod sandbox;

pub use cluster::{ClusterSettings, StorageSettings};
pub use limits::{Limits, MaxStartups, PenaltySettings};
pub use sandbox::{DEFAULT_SANDBOX_UIDS, MAX_CPU_WEIGHT, MIN_SANDBOX_MEMORY, SandboxSettings};
pub(crate) use sandbox::{sandbox_cpu_weight, sandbox_memory, sandbox_processes};

/// The config file looked up in the current directory when none is given.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "sftpbox.toml";

/// The control socket's file name, beside the config file (or in the
/// working directory without one).
const DEFAULT_CONTROL_SOCKET: &str = "sftpbox.sock";

/// Where the server listens by default: loopback only, so a fresh clone with
/// the public example account is not reachable from the network.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:2222";

/// Settings for one server process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerConfig {
    /// The config file these settings came from, if any.
    pub source: Option<PathBuf>,
    /// Addresses to listen on (`listen`, a string or a list). Default
    /// `127.0.0.1:2222`.
    pub listen: Vec<SocketAddr>,
    /// Folder of host keys (`keys_dir`). Default `keys`.
    pub keys_dir: PathBuf,
    /// The accounts file (`accounts`). Default `accounts.toml`.
    pub accounts: PathBuf,
    /// Folder holding one home per account (`homes`). Default `homes`.
    pub homes: PathBuf,
    /// Limits and timeouts (`[limits]`).
    pub limits: Limits,
    /// Per-source penalties (`[penalties]`).
    pub penalties: PenaltySettings,
    /// The control socket `sftpbox sessions`, `kick` and `reload` talk to
    /// (`control_socket`). Default `sftpbox.sock` beside the config file.
    pub control_socket: PathBuf,
    /// Where Prometheus metrics are served at `/metrics`
    /// (`metrics_listen`). Default: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Load balancers whose connections start with a PROXY protocol
    /// header naming the client (`proxy_protocol_from`, addresses or
    /// networks). Default: none, so no header is ever honoured.
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
    /// How log lines are written (`log_format`). Default text.
    pub log_format: LogFormat,
    /// This server as a node of a cluster (`[cluster]` and `[storage]`):
    /// accounts, namespace and quota in PostgreSQL, contents in S3.
    /// Default: none, a standalone server with local homes.
    pub cluster: Option<ClusterSettings>,
}

/// `log_format`: how the server writes its log on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// `"text"`: one readable line per event, coloured only on a terminal.
    #[default]
    Text,
    /// `"json"`: one JSON object per line, for log collectors.
    Json,
}

/// One problem in sftpbox.toml, at its place in the file.
pub(crate) type ConfigProblem = Problem;

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The config file could not be read.
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file was read and has problems; `Display` prints one per line as
    /// `file:line:column: message`.
    #[error("{}", render(problems))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<ConfigProblem>,
    },
}

impl ServerConfig {
    /// Loads `path`, or `./sftpbox.toml` when `path` is `None` and that file
    /// exists, or else the defaults relative to the current directory.
    pub fn load(path: Option<&Path>) -> Result<ServerConfig, ConfigError> {
        let path = match path {
            Some(path) => path.to_owned(),
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_FILE);
                if !default.exists() {
                    return Ok(ServerConfig::defaults_in(Path::new("")));
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        ServerConfig::from_toml_str(&text, &path)
    }

    /// The defaults, with the default relative paths placed under `base`
    /// (`""` keeps them relative to the current directory).
    pub fn defaults_in(base: &Path) -> ServerConfig {
        ServerConfig {
            source: None,
            listen: default_listen(),
            keys_dir: base.join("keys"),
            accounts: base.join("accounts.toml"),
            homes: base.join("homes"),
            limits: Limits::default(),
            penalties: PenaltySettings::default(),
            control_socket: base.join(DEFAULT_CONTROL_SOCKET),
            metrics_listen: None,
            proxy_protocol_from: Vec::new(),
            log_format: LogFormat::default(),
            cluster: None,
        }
    }

    /// Parses sftpbox.toml text read from `file`; relative paths are placed
    /// under `file`'s folder.
    pub fn from_toml_str(text: &str, file: &Path) -> Result<ServerConfig, ConfigError> {
        let base = file.parent().unwrap_or(Path::new(""));
        let mut config = ServerConfig::defaults_in(base);
        config.source = Some(file.to_owned());
        let mut report = Report::new(text, file);
        let mut cluster = cluster::Sections::default();
        if let Some(document) = report.parse(|message, _| syntax_error(message)) {
            for (key, value) in document.get_ref().iter() {
                match key.get_ref().as_ref() {
                    "listen" => {
                        if let Some(listen) = listen(&mut report, value) {
                            config.listen = listen;
                        }
                    }
                    "keys_dir" => set_path(&mut report, value, "keys_dir", base, &mut config.keys_dir),
                    "accounts" => set_path(&mut report, value, "accounts", base, &mut config.accounts),
                    "homes" => set_path(&mut report, value, "homes", base, &mut config.homes),
                    "control_socket" => set_path(
                        &mut report,
                        value,
                        "control_socket",
                        base,
                        &mut config.control_socket,
                    ),
                    "metrics_listen" => {
                        if let Some(addr) = metrics_listen(&mut report, value) {
                            config.metrics_listen = Some(addr);
                        }
                    }
                    "proxy_protocol_from" => {
                        if let Some(networks) = networks(&mut report, value, "proxy_protocol_from")
                        {
                            config.proxy_protocol_from = networks;
                        }
                    }
                    "limits" => limits::parse_limits(&mut report, value, &mut config.limits),
                    "penalties" => limits::parse_penalties(&mut report, value, &mut config.penalties),
                    "sandbox" => sandbox::parse_sandbox(&mut report, value, &mut config.limits.sandbox),
                    "log_format" => {
                        if let Some(format) = log_format(&mut report, value) {
                            config.log_format = format;
                        }
                    }
                    "cluster" => cluster.cluster(&mut report, value),
                    "storage" => cluster.storage(&mut report, value),
                    other => report.at(
                        &key.span(),
                        format!(
                            "unknown setting `{other}`; the settings are listen, keys_dir, accounts, homes, control_socket, metrics_listen, log_format, proxy_protocol_from, [limits], [penalties], [sandbox], [cluster] and [storage]"
                        ),
                    ),
                }
            }
        }
        config.cluster = cluster.finish(&mut report);
        report
            .finish()
            .map(|()| config)
            .map_err(|problems| ConfigError::Invalid { problems })
    }
}

fn log_format(report: &mut Report<'_>, value: &Spanned<DeValue<'_>>) -> Option<LogFormat> {
    match value.get_ref() {
        DeValue::String(text) if text == "text" => Some(LogFormat::Text),
        DeValue::String(text) if text == "json" => Some(LogFormat::Json),
        _ => {
            report.at(&value.span(), "`log_format` must be \"text\" or \"json\"");
            None
        }
    }
}

fn default_listen() -> Vec<SocketAddr> {
    DEFAULT_LISTEN
        .parse()
        .map(|addr| vec![addr])
        .unwrap_or_default()
}

fn listen(report: &mut Report<'_>, value: &Spanned<DeValue<'_>>) -> Option<Vec<SocketAddr>> {
    let parse = |report: &mut Report<'_>, item: &Spanned<DeValue<'_>>| match item.get_ref() {
        DeValue::String(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                report.at(
                    &item.span(),
                    format!(
                        "`{text}` is not an address to listen on; write IP:PORT, such as \"0.0.0.0:2222\" or \"[::]:2222\""
                    ),
                );
                None
            }
        },
        other => {
            report.at(
                &item.span(),
                format!(
                    "a listen address must be a string, not {}",
                    other.type_str()
                ),
            );
            None
        }
    };
    match value.get_ref() {
        DeValue::Array(items) => {
            if items.is_empty() {
                report.at(&value.span(), "`listen` needs at least one address");
                return None;
            }
            let before = report.count();
            let addrs: Vec<SocketAddr> = items.iter().filter_map(|i| parse(report, i)).collect();
            (report.count() == before).then_some(addrs)
        }
        _ => parse(report, value).map(|addr| vec![addr]),
    }
}

fn metrics_listen(report: &mut Report<'_>, value: &Spanned<DeValue<'_>>) -> Option<SocketAddr> {
    match value.get_ref() {
        DeValue::String(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                report.at(
                    &value.span(),
                    format!(
                        "`{text}` is not an address for metrics; write IP:PORT, such as \"127.0.0.1:9184\""
                    ),
                );
                None
            }
        },
        other => {
            report.at(
                &value.span(),
                format!(
                    "`metrics_listen` must be an address string, not {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

/// A list of addresses and networks (`"192.0.2.1"`, `"10.0.0.0/8"`,
/// `"2001:db8::/32"`); `None`, with the problems reported, when any item
/// is not one. A bare address is its own /32 or /128.
fn networks(
    report: &mut Report<'_>,
    value: &Spanned<DeValue<'_>>,
    key: &str,
) -> Option<Vec<ipnet::IpNet>> {
    let DeValue::Array(items) = value.get_ref() else {
        report.at(
            &value.span(),
            format!(
                "`{key}` must be a list of addresses or networks, e.g. [\"10.0.0.0/8\", \"2001:db8::/32\"]"
            ),
        );
        return None;
    };
    let before = report.count();
    let mut networks = Vec::new();
    for item in items.iter() {
        let parsed = match item.get_ref() {
            DeValue::String(text) => text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .ok(),
            _ => None,
        };
        match parsed {
            Some(net) => networks.push(net),
            None => report.at(
                &item.span(),
                "not an address or network (e.g. \"192.0.2.1\" or \"10.0.0.0/8\")",
            ),
        }
    }
    (report.count() == before).then_some(networks)
}

fn set_path(
    report: &mut Report<'_>,
    value: &Spanned<DeValue<'_>>,
    key: &str,
    base: &Path,
    target: &mut PathBuf,
) {
    match value.get_ref() {
        DeValue::String(text) if !text.is_empty() => *target = base.join(text.as_ref()),
        DeValue::String(_) => report.at(&value.span(), format!("`{key}` must not be empty")),
        other => report.at(
            &value.span(),
            format!("`{key}` must be a path string, not {}", other.type_str()),
        ),
    }
}

/// Parses a size: a byte count with an optional unit, such as `0`, `1024`,
/// `500 MiB`, `2GB`, `1.5 GiB`. Units are case-insensitive: `B`, decimal
/// `KB MB GB TB PB` (powers of 1000), binary `KiB MiB GiB TiB PiB` (powers of
/// 1024). A fraction of a byte is rounded down. `what` names the setting in
/// messages ("quota", "memory").
pub(crate) fn parse_size(text: &str, what: &str) -> Result<u64, String> {
    let usage = format!(
        "write a {what} as a number of bytes or a size like \"500 MiB\", \"2 GB\" or \"1.5 GiB\""
    );
    parse_size_as(text, what, &usage)
}

/// [`parse_size`] with its own hint: `usage` says how to write the setting
/// (a rate reads a size per second).
pub(crate) fn parse_size_as(text: &str, what: &str, usage: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let unit_start = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(unit_start);
    let number = number.replace('_', "");
    let unit = unit.trim();
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "pib" => 1 << 50,
        _ => {
            return Err(format!(
                "unknown {what} unit `{unit}`: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB ({usage})"
            ));
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
    let digits_only = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) || number.ends_with('.') {
        return Err(format!("`{}` is not a size; {usage}", text.trim()));
    }
    let too_big = || format!("{what} `{}` is too large", text.trim());
    let whole: u128 = whole.parse().map_err(|_| too_big())?;
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(too_big)?;
    if !fraction.is_empty() {
        // Exact decimal arithmetic: 1.1 GB must be 1_100_000_000, which f64
        // would not promise. More than 18 digits cannot matter for a u64.
        let fraction = fraction.get(..18).unwrap_or(fraction);
        let scale = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| too_big())?);
        let numerator: u128 = fraction.parse().map_err(|_| too_big())?;
        let part = numerator.checked_mul(multiplier).ok_or_else(too_big)? / scale;
        bytes = bytes.checked_add(part).ok_or_else(too_big)?;
    }
    u64::try_from(bytes).map_err(|_| too_big())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match ServerConfig::from_toml_str(text, Path::new("/srv/box/sftpbox.toml")) {
            Err(ConfigError::Invalid { problems }) => problems
                .iter()
                .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
                .collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_file_gives_the_defaults_beside_it() {
        let config = ServerConfig::from_toml_str("", Path::new("/srv/box/sftpbox.toml")).unwrap();
        assert_eq!(
            config.listen,
            ["127.0.0.1:2222".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(config.keys_dir, Path::new("/srv/box/keys"));
        assert_eq!(config.accounts, Path::new("/srv/box/accounts.toml"));
        assert_eq!(config.homes, Path::new("/srv/box/homes"));
        assert_eq!(config.limits, Limits::default());
        assert_eq!(
            config.source.as_deref(),
            Some(Path::new("/srv/box/sftpbox.toml"))
        );
    }

    #[test]
    fn log_format_is_text_unless_json_is_asked_for() {
        let file = Path::new("/srv/box/sftpbox.toml");
        let text = ServerConfig::from_toml_str("", file).unwrap();
        assert_eq!(text.log_format, LogFormat::Text);
        let json = ServerConfig::from_toml_str("log_format = \"json\"\n", file).unwrap();
        assert_eq!(json.log_format, LogFormat::Json);
        let p = problems("log_format = \"xml\"\n");
        assert_eq!(p, ["1:14: `log_format` must be \"text\" or \"json\""]);
    }

    #[test]
    fn the_documented_limit_defaults_hold() {
        let l = Limits::default();
        assert_eq!(l.max_auth_attempts, 6);
        assert_eq!(l.login_grace, Duration::from_secs(30));
        assert_eq!(l.idle_timeout, Duration::from_secs(600));
        assert_eq!(l.max_connections, 1000);
        assert_eq!(l.max_connections_per_address, 64);
        assert_eq!(l.max_sessions_per_account, 32);
        assert_eq!(l.max_channels_per_connection, 10);
        assert_eq!(l.shutdown_grace, Duration::from_secs(30));
        assert_eq!(l.command_timeout, Duration::from_secs(300));
        assert_eq!(
            l.max_startups,
            MaxStartups {
                start: 10,
                rate_percent: 30,
                full: 100
            }
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_config_folder_and_absolute_ones_stay() {
        let text = "keys_dir = \"hostkeys\"\naccounts = \"/etc/sftpbox/accounts.toml\"\nhomes = \"data/homes\"\n";
        let config = ServerConfig::from_toml_str(text, Path::new("/srv/box/sftpbox.toml")).unwrap();
        assert_eq!(config.keys_dir, Path::new("/srv/box/hostkeys"));
        assert_eq!(config.accounts, Path::new("/etc/sftpbox/accounts.toml"));
        assert_eq!(config.homes, Path::new("/srv/box/data/homes"));
        let config = ServerConfig::from_toml_str(text, Path::new("sftpbox.toml")).unwrap();
        assert_eq!(config.keys_dir, Path::new("hostkeys"));
    }

    #[test]
    fn the_control_socket_sits_beside_the_config_and_metrics_are_off_by_default() {
        let config = ServerConfig::from_toml_str("", Path::new("/srv/box/sftpbox.toml")).unwrap();
        assert_eq!(config.control_socket, Path::new("/srv/box/sftpbox.sock"));
        assert_eq!(config.metrics_listen, None);
        let text = "control_socket = \"/run/sftpbox.sock\"\nmetrics_listen = \"127.0.0.1:9184\"\n";
        let config = ServerConfig::from_toml_str(text, Path::new("/srv/box/sftpbox.toml")).unwrap();
        assert_eq!(config.control_socket, Path::new("/run/sftpbox.sock"));
        assert_eq!(config.metrics_listen, "127.0.0.1:9184".parse().ok());
        assert!(
            problems("metrics_listen = \"localhost\"")[0]
                .starts_with("1:18: `localhost` is not an address for metrics")
        );
    }

    #[test]
    fn listen_takes_a_string_or_a_list() {
        let one =
            ServerConfig::from_toml_str("listen = \"0.0.0.0:22\"", Path::new("c.toml")).unwrap();
        assert_eq!(one.listen, ["0.0.0.0:22".parse::<SocketAddr>().unwrap()]);
        let two = ServerConfig::from_toml_str(
            "listen = [\"127.0.0.1:2222\", \"[::1]:2222\"]",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(two.listen.len(), 2);
        assert!(two.listen[1].is_ipv6());
    }

    #[test]
    fn bad_listen_addresses_are_refused_at_the_value() {
        let p = problems("listen = [\"127.0.0.1:2222\", \"localhost:22\"]\n");
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].starts_with("1:29: `localhost:22` is not an address"),
            "{p:#?}"
        );
        assert!(problems("listen = []")[0].starts_with("1:10: `listen` needs at least one"));
        assert!(problems("listen = 22")[0].starts_with("1:10: a listen address must be a string"));
    }

    #[test]
    fn limits_are_read_with_units() {
        let text = "[limits]\nlogin_grace_seconds = 5\nmax_connections_per_address = 3\nshutdown_grace_seconds = 0\n";
        let config = ServerConfig::from_toml_str(text, Path::new("c.toml")).unwrap();
        assert_eq!(config.limits.login_grace, Duration::from_secs(5));
        assert_eq!(config.limits.max_connections_per_address, 3);
        assert_eq!(config.limits.shutdown_grace, Duration::ZERO);
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(600));
    }

    #[test]
    fn penalties_are_read_with_their_defaults_kept() {
        let text = "[penalties]\nauthfail = 2\nmin = 4\nexempt = [\"10.0.0.0/8\", \"192.0.2.1\"]\n";
        let config = ServerConfig::from_toml_str(text, Path::new("c.toml")).unwrap();
        let p = &config.penalties;
        assert!(p.enabled);
        assert_eq!(p.authfail, Duration::from_secs(2));
        assert_eq!(p.min, Duration::from_secs(4));
        assert_eq!(p.max, Duration::from_secs(600));
        assert_eq!(p.noauth, Duration::from_secs(1));
        assert_eq!(p.exempt.len(), 2);
        assert!(p.exempt[1].contains(&"192.0.2.1".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(
            problems("[penalties]\nexempt = [\"nonsense\"]\nauthfail = -1\nbogus = 1\n"),
            [
                "2:11: not an address or network (e.g. \"192.0.2.1\" or \"10.0.0.0/8\")",
                "3:12: `authfail` must be a whole number of seconds, 0 to 86400",
                "4:1: unknown penalty setting `bogus`; they are enabled, authfail, noauth, grace_exceeded, max_startups, min, max and exempt",
            ]
        );
    }

    #[test]
    fn proxy_protocol_from_takes_addresses_and_networks() {
        let config = ServerConfig::from_toml_str("", Path::new("c.toml")).unwrap();
        assert!(config.proxy_protocol_from.is_empty());
        let text = "proxy_protocol_from = [\"127.0.0.1/32\", \"::1\", \"10.1.0.0/16\"]\n";
        let config = ServerConfig::from_toml_str(text, Path::new("c.toml")).unwrap();
        let nets: Vec<String> = config
            .proxy_protocol_from
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["127.0.0.1/32", "::1/128", "10.1.0.0/16"]);
        assert_eq!(
            problems("proxy_protocol_from = [\"127.0.0.1\", \"balancer\", 7]\n"),
            [
                "1:37: not an address or network (e.g. \"192.0.2.1\" or \"10.0.0.0/8\")",
                "1:49: not an address or network (e.g. \"192.0.2.1\" or \"10.0.0.0/8\")",
            ]
        );
        assert_eq!(
            problems("\nproxy_protocol_from = \"127.0.0.1/32\"\n"),
            [
                "2:23: `proxy_protocol_from` must be a list of addresses or networks, e.g. [\"10.0.0.0/8\", \"2001:db8::/32\"]"
            ]
        );
    }

    #[test]
    fn max_startups_takes_a_cap_or_start_rate_full() {
        let read = |value: &str| {
            ServerConfig::from_toml_str(
                &format!("[limits]\nmax_startups = {value}\n"),
                Path::new("c.toml"),
            )
            .map(|c| c.limits.max_startups)
        };
        assert_eq!(
            read("\"5:50:20\"").unwrap(),
            MaxStartups {
                start: 5,
                rate_percent: 50,
                full: 20
            }
        );
        assert_eq!(
            read("40").unwrap(),
            MaxStartups {
                start: 40,
                rate_percent: 100,
                full: 40
            }
        );
        for bad in [
            "\"5:50\"",
            "\"20:30:10\"",
            "\"1:101:5\"",
            "0",
            "\"a:b:c\"",
            "true",
        ] {
            assert!(
                problems(&format!("[limits]\nmax_startups = {bad}\n"))
                    .iter()
                    .any(|p| p.starts_with("2:16:")),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = "\
listen = \"127.0.0.1:2222\"
colour = \"blue\"

[limits]
max_auth_attempts = 0
idle_timeout_seconds = \"10m\"
login_grace = 5
command_timeout_seconds = 100000
";
        let p = problems(text);
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(p[0].starts_with("2:1: unknown setting `colour`"), "{p:#?}");
        assert!(
            p[1].starts_with("5:21: `max_auth_attempts` must be at least 1"),
            "{p:#?}"
        );
        assert!(
            p[2].starts_with("6:24: `idle_timeout_seconds` must be a whole number"),
            "{p:#?}"
        );
        assert!(
            p[3].starts_with("7:1: unknown limit `login_grace`"),
            "{p:#?}"
        );
        assert!(
            p[4].starts_with("8:27: `command_timeout_seconds` must be at most"),
            "{p:#?}"
        );
    }

    #[test]
    fn the_sandbox_table_is_read_and_checked_at_each_value() {
        let config = ServerConfig::from_toml_str("", Path::new("c.toml")).unwrap();
        assert_eq!(config.limits.sandbox, SandboxSettings::default());
        assert_eq!(config.limits.sandbox.uids, 1_879_048_192..=1_879_113_727);
        let text = "[sandbox]\nuids = \"100000-165535\"\nmemory = \"256 MiB\"\nprocesses = 64\ncpu_weight = 50\n";
        let config = ServerConfig::from_toml_str(text, Path::new("c.toml")).unwrap();
        assert_eq!(
            config.limits.sandbox,
            SandboxSettings {
                uids: 100_000..=165_535,
                memory_bytes: 256 << 20,
                processes: 64,
                cpu_weight: 50,
            }
        );
        assert_eq!(
            problems(
                "[sandbox]\nuids = \"5-1\"\nmemory = \"1 KiB\"\nprocesses = 0\ncpu_weight = 20000\ncolour = 1\n"
            ),
            [
                "2:8: in `uids`, 5 is above 1; write the sandbox uids as \"FIRST-LAST\", such as \"100000-165535\"",
                "3:10: `memory` must be at least 4 MiB (no program starts in less)",
                "4:13: `processes` must be a whole number from 1 to 4194304",
                "5:14: `cpu_weight` must be a whole number from 1 to 10000",
                "6:1: unknown sandbox setting `colour`; they are uids, memory, processes and cpu_weight",
            ]
        );
        assert!(
            problems("[sandbox]\nuids = \"0-100\"\n")[0]
                .starts_with("2:8: `uids` may not start below 1000")
        );
        assert!(problems("[sandbox]\nuids = \"60000-70000\"\n")[0].contains("65534"));
        assert!(
            problems("[sandbox]\nmemory = \"1..5 GiB\"\n")[0]
                .starts_with("2:10: `1..5 GiB` is not a size; write a memory as")
        );
        assert!(problems("sandbox = 3\n")[0].starts_with("1:11: `sandbox` must be a table"));
    }

    #[test]
    fn a_syntax_error_is_reported_with_file_line_and_column() {
        let err = ServerConfig::from_toml_str("homes = \n", Path::new("/srv/box/sftpbox.toml"))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/srv/box/sftpbox.toml:1:"), "{text}");
        assert!(text.contains("TOML syntax error"), "{text}");
    }

    #[test]
    fn a_missing_explicit_config_file_is_an_error() {
        let err = ServerConfig::load(Some(Path::new("/nonexistent/sftpbox.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/sftpbox.toml: cannot read")
        );
    }

    #[test]
    fn a_config_file_on_disk_places_paths_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sftpbox.toml");
        std::fs::write(&path, "homes = \"h\"\n").unwrap();
        let config = ServerConfig::load(Some(&path)).unwrap();
        assert_eq!(config.homes, dir.path().join("h"));
        assert_eq!(config.keys_dir, dir.path().join("keys"));
    }

    #[test]
    fn defaults_without_a_base_are_relative_to_the_current_directory() {
        let config = ServerConfig::defaults_in(Path::new(""));
        assert_eq!(config.accounts, Path::new("accounts.toml"));
        assert_eq!(config.keys_dir, Path::new("keys"));
        assert_eq!(config.homes, Path::new("homes"));
    }
}
