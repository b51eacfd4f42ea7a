//! The `[sandbox]` table of sftpbox.toml, and the checks of a sandbox's
//! memory, processes and CPU weight that accounts.toml's per-account
//! overrides share.

use toml::Spanned;
use toml::de::DeValue;

use super::parse_size;
use crate::diagnostics::Report;

/// The `[sandbox]` table: the uids sandboxed programs run as and the
/// server-wide defaults of what each account's programs may hold together
/// (accounts.toml's `sandbox_memory`, `sandbox_processes` and
/// `sandbox_cpu_weight` override the last three per account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxSettings {
    /// The uids (and gids, the same numbers) a root server gives to
    /// accounts, one each (`uids = "FIRST-LAST"`). Default
    /// `1879048192-1879113727`: 65 536 ids above what systemd hands out to
    /// containers and below the ids some tools read as negative.
    pub uids: std::ops::RangeInclusive<u32>,
    /// Memory all of one account's programs may use together (`memory`,
    /// default `"1 GiB"`): the cgroup's `memory.max`, or each process's
    /// `RLIMIT_AS` where there is no cgroup.
    pub memory_bytes: u64,
    /// Processes and threads one account's programs may have together
    /// (`processes`, default 256): `pids.max` and `RLIMIT_NPROC`.
    pub processes: u64,
    /// The share of the CPU one account's programs get against another's
    /// when both want it (`cpu_weight`, 1 to 10 000, default 100): cgroup v2's
    /// `cpu.weight`, v1's `cpu.shares` (× 1024 / 100).
    pub cpu_weight: u32,
}

/// The default range of sandbox uids (see [`SandboxSettings::uids`]).
pub const DEFAULT_SANDBOX_UIDS: std::ops::RangeInclusive<u32> = 1_879_048_192..=1_879_113_727;

impl Default for SandboxSettings {
    fn default() -> SandboxSettings {
        SandboxSettings {
            uids: DEFAULT_SANDBOX_UIDS,
            memory_bytes: 1 << 30,
            processes: 256,
            cpu_weight: 100,
        }
    }
}

/// The most `cpu_weight` may be (cgroup v2's own bound).
pub const MAX_CPU_WEIGHT: u32 = 10_000;

/// The least memory a sandbox may be given: below this even `/usr/bin/true`
/// cannot be loaded, which is a mistake of units rather than a limit.
pub const MIN_SANDBOX_MEMORY: u64 = 4 << 20;

pub(super) fn parse_sandbox(
    report: &mut Report<'_>,
    value: &Spanned<DeValue<'_>>,
    settings: &mut SandboxSettings,
) {
    let DeValue::Table(table) = value.get_ref() else {
        report.at(&value.span(), "`sandbox` must be a table: [sandbox]");
        return;
    };
    for (key, value) in table.iter() {
        let span = value.span();
        match key.get_ref().as_ref() {
            "uids" => match value.get_ref() {
                DeValue::String(text) => match parse_uid_range(text) {
                    Ok(range) => settings.uids = range,
                    Err(message) => report.at(&span, message),
                },
                other => report.at(
                    &span,
                    format!(
                        "`uids` must be a string \"FIRST-LAST\", such as \"100000-165535\", not {}",
                        other.type_str()
                    ),
                ),
            },
            "memory" => match sandbox_memory(value.get_ref(), "memory") {
                Ok(bytes) => settings.memory_bytes = bytes,
                Err(message) => report.at(&span, message),
            },
            "processes" => match sandbox_processes(value.get_ref(), "processes") {
                Ok(count) => settings.processes = count,
                Err(message) => report.at(&span, message),
            },
            "cpu_weight" => match sandbox_cpu_weight(value.get_ref(), "cpu_weight") {
                Ok(weight) => settings.cpu_weight = weight,
                Err(message) => report.at(&span, message),
            },
            other => report.at(
                &key.span(),
                format!(
                    "unknown sandbox setting `{other}`; they are uids, memory, processes and cpu_weight"
                ),
            ),
        }
    }
}

/// `"FIRST-LAST"`: uids that are not root's, nor `nobody`'s, nor -1.
fn parse_uid_range(text: &str) -> Result<std::ops::RangeInclusive<u32>, String> {
    let usage = "write the sandbox uids as \"FIRST-LAST\", such as \"100000-165535\"";
    let (first, last) = text.split_once('-').ok_or_else(|| usage.to_owned())?;
    let number = |part: &str| part.trim().parse::<u32>().map_err(|_| usage.to_owned());
    let (first, last) = (number(first)?, number(last)?);
    if first > last {
        return Err(format!("in `uids`, {first} is above {last}; {usage}"));
    }
    if first < 1000 {
        return Err(format!(
            "`uids` may not start below 1000 ({first}): those are the system's own users"
        ));
    }
    if (first..=last).contains(&65534) || last == u32::MAX {
        return Err("`uids` may not hold 65534 (nobody) or 4294967295 (-1)".to_owned());
    }
    Ok(first..=last)
}

/// A sandbox memory limit: a size like `"256 MiB"` or a number of bytes, at
/// least [`MIN_SANDBOX_MEMORY`]. `key` names the setting in messages.
pub(crate) fn sandbox_memory(value: &DeValue<'_>, key: &str) -> Result<u64, String> {
    let bytes = match value {
        DeValue::Integer(int) => i128::from_str_radix(int.as_str(), int.radix())
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("`{key}` must be a positive number of bytes"))?,
        DeValue::String(text) => parse_size(text, key)?,
        other => {
            return Err(format!(
                "`{key}` must be a size like \"256 MiB\" or a number of bytes, not {}",
                other.type_str()
            ));
        }
    };
    if bytes < MIN_SANDBOX_MEMORY {
        return Err(format!(
            "`{key}` must be at least 4 MiB (no program starts in less)"
        ));
    }
    Ok(bytes)
}

/// A sandbox process limit: a whole number from 1 to 2^22 (the kernel's
/// most pids).
pub(crate) fn sandbox_processes(value: &DeValue<'_>, key: &str) -> Result<u64, String> {
    const MAX_PROCESSES: u64 = 1 << 22;
    match value {
        DeValue::Integer(int) => i128::from_str_radix(int.as_str(), int.radix())
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| (1..=MAX_PROCESSES).contains(n))
            .ok_or_else(|| format!("`{key}` must be a whole number from 1 to {MAX_PROCESSES}")),
        other => Err(format!(
            "`{key}` must be a whole number of processes, not {}",
            other.type_str()
        )),
    }
}

/// A CPU weight: a whole number from 1 to [`MAX_CPU_WEIGHT`].
pub(crate) fn sandbox_cpu_weight(value: &DeValue<'_>, key: &str) -> Result<u32, String> {
    match value {
        DeValue::Integer(int) => i128::from_str_radix(int.as_str(), int.radix())
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=MAX_CPU_WEIGHT).contains(n))
            .ok_or_else(|| format!("`{key}` must be a whole number from 1 to {MAX_CPU_WEIGHT}")),
        other => Err(format!(
            "`{key}` must be a whole number from 1 to {MAX_CPU_WEIGHT}, not {}",
            other.type_str()
        )),
    }
}
