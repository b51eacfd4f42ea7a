//! The `[limits]` and `[penalties]` tables of sftpbox.toml: what the
//! server holds for each source, account and connection, and the
//! per-source penalties.

use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::{SandboxSettings, networks};
use crate::diagnostics::Report;

/// Limits and timeouts, the `[limits]` table. Each field's doc names its key
/// in the file and its default; none may be zero except `shutdown_grace`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Failed authentication attempts before the connection is closed
    /// (`max_auth_attempts`, default 6, as OpenSSH's MaxAuthTries).
    pub max_auth_attempts: usize,
    /// Time from connect to successful login (`login_grace_seconds`, default 30).
    pub login_grace: Duration,
    /// A connection with no traffic for this long is closed
    /// (`idle_timeout_seconds`, default 600).
    pub idle_timeout: Duration,
    /// Connections open at once, all sources together (`max_connections`,
    /// default 1000).
    pub max_connections: usize,
    /// Connections open at once from one IP address
    /// (`max_connections_per_address`, default 64).
    pub max_connections_per_address: usize,
    /// Sessions (channels) open at once by one account over all its
    /// connections (`max_sessions_per_account`, default 32).
    pub max_sessions_per_account: usize,
    /// Channels open at once on one connection
    /// (`max_channels_per_connection`, default 10, as OpenSSH's MaxSessions).
    pub max_channels_per_connection: usize,
    /// After SIGTERM/SIGINT, how long running transfers may finish
    /// (`shutdown_grace_seconds`, default 30; 0 = stop at once).
    pub shutdown_grace: Duration,
    /// Longest run of an external command (`command_timeout_seconds`,
    /// default 300).
    pub command_timeout: Duration,
    /// Connections that have not logged in yet (`max_startups`, default
    /// `"10:30:100"`, as OpenSSH's MaxStartups): from `start` on, a new one
    /// is dropped at random with a chance rising from `rate` % to 100 % at
    /// `full`, so an unauthenticated flood cannot hold every slot.
    pub max_startups: MaxStartups,
    /// The receive window a connection starts with, in MiB
    /// (`receive_window_mib`, default 4). Uploads run at most window /
    /// round-trip time; the window doubles (up to 64 MiB) when a client is
    /// seen waiting for it, so this is the floor. Larger windows cost memory
    /// and, measured on loopback, slow many concurrent uploads.
    pub receive_window_mib: usize,
    /// Files and directories one account may hold open at once over all its
    /// sessions (`max_open_handles_per_account`, default 1024). Each holds a
    /// descriptor: whatever this says, an account gets at most a quarter of
    /// what the process's open-files limit leaves once a reserve is kept
    /// back for new connections and logins (see `budget`).
    pub max_open_handles_per_account: usize,
    /// What sandboxed programs run as and may hold: the `[sandbox]` table
    /// (kept here so that it reaches the exec service with the rest).
    pub sandbox: SandboxSettings,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_auth_attempts: 6,
            login_grace: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            max_connections: 1000,
            max_connections_per_address: 64,
            max_sessions_per_account: 32,
            max_channels_per_connection: 10,
            shutdown_grace: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            max_startups: MaxStartups {
                start: 10,
                rate_percent: 30,
                full: 100,
            },
            receive_window_mib: 4,
            max_open_handles_per_account: 1024,
            sandbox: SandboxSettings::default(),
        }
    }
}

/// `max_startups = "start:rate:full"`: unauthenticated connections up to
/// `start` are always accepted; beyond it, each new one is refused with a
/// probability that grows linearly from `rate_percent` to 100 % at `full`.
/// A single number `n` means `n:100:n` (a hard cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxStartups {
    /// Unauthenticated connections always accepted.
    pub start: usize,
    /// Chance, in percent, of refusing a new one once `start` are open.
    pub rate_percent: u8,
    /// Unauthenticated connections at which every new one is refused.
    pub full: usize,
}

/// The `[penalties]` table: per-source penalties after OpenSSH's
/// PerSourcePenalties. Each offence adds its duration to the source's
/// penalty (capped at `max`); while the penalty exceeds `min`, the source's
/// new connections are closed before the SSH banner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PenaltySettings {
    /// Whether penalties apply at all (`enabled`, default true).
    pub enabled: bool,
    /// Added per refused password or key signature (`authfail`, default 5 s).
    pub authfail: Duration,
    /// Added when a connection ends without logging in or trying to
    /// (`noauth`, default 1 s).
    pub noauth: Duration,
    /// Added when a connection does not log in within the login grace time
    /// (`grace_exceeded`, default 10 s).
    pub grace_exceeded: Duration,
    /// Added when a connection is refused by `max_startups`
    /// (`max_startups`, default 10 s).
    pub max_startups: Duration,
    /// Penalty a source must exceed before it is refused (`min`, default 15 s).
    pub min: Duration,
    /// The most penalty a source can accrue (`max`, default 600 s).
    pub max: Duration,
    /// Addresses and networks never penalized (`exempt`, default none).
    pub exempt: Vec<ipnet::IpNet>,
}

impl Default for PenaltySettings {
    fn default() -> PenaltySettings {
        PenaltySettings {
            enabled: true,
            authfail: Duration::from_secs(5),
            noauth: Duration::from_secs(1),
            grace_exceeded: Duration::from_secs(10),
            max_startups: Duration::from_secs(10),
            min: Duration::from_secs(15),
            max: Duration::from_secs(600),
            exempt: Vec::new(),
        }
    }
}

/// How a `[limits]` key is stored.
#[derive(Clone, Copy)]
enum LimitField {
    Count(fn(&mut Limits) -> &mut usize),
    Seconds(fn(&mut Limits) -> &mut Duration),
}

/// One key of `[limits]`.
struct LimitKey {
    name: &'static str,
    field: LimitField,
    /// Whether 0 means something (only "no grace period" does).
    zero_ok: bool,
}

const LIMIT_KEYS: &[LimitKey] = {
    use LimitField::{Count, Seconds};
    const fn key(name: &'static str, field: LimitField, zero_ok: bool) -> LimitKey {
        LimitKey {
            name,
            field,
            zero_ok,
        }
    }
    &[
        key(
            "max_auth_attempts",
            Count(|l| &mut l.max_auth_attempts),
            false,
        ),
        key(
            "login_grace_seconds",
            Seconds(|l| &mut l.login_grace),
            false,
        ),
        key(
            "idle_timeout_seconds",
            Seconds(|l| &mut l.idle_timeout),
            false,
        ),
        key("max_connections", Count(|l| &mut l.max_connections), false),
        key(
            "max_connections_per_address",
            Count(|l| &mut l.max_connections_per_address),
            false,
        ),
        key(
            "max_sessions_per_account",
            Count(|l| &mut l.max_sessions_per_account),
            false,
        ),
        key(
            "max_channels_per_connection",
            Count(|l| &mut l.max_channels_per_connection),
            false,
        ),
        key(
            "shutdown_grace_seconds",
            Seconds(|l| &mut l.shutdown_grace),
            true,
        ),
        key(
            "command_timeout_seconds",
            Seconds(|l| &mut l.command_timeout),
            false,
        ),
        key(
            "receive_window_mib",
            Count(|l| &mut l.receive_window_mib),
            false,
        ),
        key(
            "max_open_handles_per_account",
            Count(|l| &mut l.max_open_handles_per_account),
            false,
        ),
    ]
};

/// Where a `[penalties]` duration goes.
type PenaltySlot = fn(&mut PenaltySettings) -> &mut Duration;

/// The `[penalties]` keys holding a duration in seconds, and where each goes.
const PENALTY_SECONDS: &[(&str, PenaltySlot)] = &[
    ("authfail", |p| &mut p.authfail),
    ("noauth", |p| &mut p.noauth),
    ("grace_exceeded", |p| &mut p.grace_exceeded),
    ("max_startups", |p| &mut p.max_startups),
    ("min", |p| &mut p.min),
    ("max", |p| &mut p.max),
];

pub(super) fn parse_penalties(
    report: &mut Report<'_>,
    value: &Spanned<DeValue<'_>>,
    settings: &mut PenaltySettings,
) {
    let DeValue::Table(table) = value.get_ref() else {
        report.at(&value.span(), "`penalties` must be a table: [penalties]");
        return;
    };
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        match name {
            "enabled" => match value.get_ref() {
                DeValue::Boolean(on) => settings.enabled = *on,
                _ => report.at(&value.span(), "`enabled` must be true or false"),
            },
            "exempt" => {
                if let Some(exempt) = networks(report, value, "exempt") {
                    settings.exempt = exempt;
                }
            }
            _ => {
                let Some((_, slot)) = PENALTY_SECONDS.iter().find(|(key, _)| *key == name) else {
                    report.at(
                        &key.span(),
                        format!(
                            "unknown penalty setting `{name}`; they are enabled, authfail, noauth, grace_exceeded, max_startups, min, max and exempt"
                        ),
                    );
                    continue;
                };
                let seconds = match value.get_ref() {
                    DeValue::Integer(int) => i128::from_str_radix(int.as_str(), int.radix())
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|n| *n <= MAX_SECONDS),
                    _ => None,
                };
                match seconds {
                    Some(seconds) => *slot(settings) = Duration::from_secs(seconds),
                    None => report.at(
                        &value.span(),
                        format!("`{name}` must be a whole number of seconds, 0 to {MAX_SECONDS}"),
                    ),
                }
            }
        }
    }
    if settings.max < settings.min {
        report.at(
            &value.span(),
            "in [penalties], `max` may not be below `min`",
        );
    }
}

/// `max_startups`: a whole number (a hard cap) or `"start:rate:full"`.
fn max_startups(value: &DeValue<'_>) -> Result<MaxStartups, String> {
    const USAGE: &str =
        "`max_startups` must be a whole number or \"start:rate:full\" (e.g. \"10:30:100\")";
    let startups = match value {
        DeValue::Integer(int) => {
            let full = i128::from_str_radix(int.as_str(), int.radix())
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| USAGE.to_owned())?;
            MaxStartups {
                start: full,
                rate_percent: 100,
                full,
            }
        }
        DeValue::String(text) => {
            let parts: Vec<&str> = text.split(':').collect();
            let [start, rate, full] = parts.as_slice() else {
                return Err(USAGE.to_owned());
            };
            let number = |part: &str| part.trim().parse::<usize>().map_err(|_| USAGE.to_owned());
            let rate = number(rate)?;
            MaxStartups {
                start: number(start)?,
                rate_percent: u8::try_from(rate)
                    .ok()
                    .filter(|rate| *rate <= 100)
                    .ok_or_else(|| {
                        "the rate of `max_startups` is a percentage, 0 to 100".to_owned()
                    })?,
                full: number(full)?,
            }
        }
        _ => return Err(USAGE.to_owned()),
    };
    if startups.full == 0 {
        return Err("`max_startups` must allow at least 1 connection".to_owned());
    }
    if startups.start > startups.full {
        return Err("in `max_startups` \"start:rate:full\", start may not exceed full".to_owned());
    }
    Ok(startups)
}

/// The largest number of seconds accepted: a day. Longer timeouts are almost
/// certainly a unit mistake (milliseconds written as seconds).
const MAX_SECONDS: u64 = 86_400;

pub(super) fn parse_limits(
    report: &mut Report<'_>,
    value: &Spanned<DeValue<'_>>,
    limits: &mut Limits,
) {
    let DeValue::Table(table) = value.get_ref() else {
        report.at(&value.span(), "`limits` must be a table: [limits]");
        return;
    };
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        if name == "max_startups" {
            match max_startups(value.get_ref()) {
                Ok(startups) => limits.max_startups = startups,
                Err(message) => report.at(&value.span(), message),
            }
            continue;
        }
        let Some(LimitKey { field, zero_ok, .. }) = LIMIT_KEYS.iter().find(|k| k.name == name)
        else {
            let mut known: Vec<&str> = LIMIT_KEYS.iter().map(|k| k.name).collect();
            known.push("max_startups");
            report.at(
                &key.span(),
                format!(
                    "unknown limit `{name}`; the limits are {}",
                    known.join(", ")
                ),
            );
            continue;
        };
        let number = match value.get_ref() {
            DeValue::Integer(int) => i128::from_str_radix(int.as_str(), int.radix())
                .ok()
                .and_then(|n| u64::try_from(n).ok()),
            _ => None,
        };
        let Some(number) = number else {
            report.at(
                &value.span(),
                format!("`{name}` must be a whole number of at least 0"),
            );
            continue;
        };
        if number == 0 && !zero_ok {
            report.at(&value.span(), format!("`{name}` must be at least 1"));
            continue;
        }
        match field {
            LimitField::Count(slot) => match usize::try_from(number) {
                Ok(n) => *slot(limits) = n,
                Err(_) => report.at(&value.span(), format!("`{name}` is too large")),
            },
            LimitField::Seconds(slot) => {
                if number > MAX_SECONDS {
                    report.at(
                        &value.span(),
                        format!("`{name}` must be at most {MAX_SECONDS} seconds (a day)"),
                    );
                } else {
                    *slot(limits) = Duration::from_secs(number);
                }
            }
        }
    }
}
