//! Per-source penalties, after OpenSSH's `PerSourcePenalties`: a source that
//! fails to log in, lingers without logging in, or keeps hitting the startup
//! limit accrues penalty time; while what it has accrued exceeds the
//! threshold (`min`), its new connections are closed before the SSH banner.
//! Penalty time runs out as wall time passes, and never exceeds `max`.
//!
//! A source is an IPv4 address or an IPv6 /64 (one customer's network, as
//! OpenSSH groups them); an IPv4-mapped IPv6 address is its IPv4 address.
//! The table is bounded ([`MAX_SOURCES`]): when it is full, expired entries
//! go first, then the one closest to expiry, so a flood of addresses costs a
//! bounded amount of memory and never blocks anyone it did not earn.
//! Nothing here knows of sockets or SSH; callers say what happened.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::PenaltySettings;

/// Most sources tracked at once (OpenSSH's `max-sources4` default). Each
/// entry is a few dozen bytes: a few MiB at most.
pub const MAX_SOURCES: usize = 65_536;

/// Refusals of one blocked source are logged at most this often, so that a
/// flood cannot fill the log.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What a source did to earn a penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence {
    /// A password (or signed key) was refused.
    AuthFailed,
    /// The connection ended without ever logging in or trying to.
    NoAuth,
    /// The connection did not log in within the login grace time.
    GraceExceeded,
    /// The connection was refused for exceeding `max_startups`.
    StartupsFull,
}

impl Offence {
    /// The name logs use.
    pub fn name(self) -> &'static str {
        match self {
            Offence::AuthFailed => "authfail",
            Offence::NoAuth => "noauth",
            Offence::GraceExceeded => "grace_exceeded",
            Offence::StartupsFull => "max_startups",
        }
    }
}

/// The identity a penalty is kept under: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// One IPv4 address.
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6([u8; 8]),
}

impl Source {
    /// The source `ip` belongs to.
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let octets = v6.octets();
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(octets.split_at(8).0);
                    Source::V6(prefix)
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::V4(octets) => write!(f, "{}", std::net::Ipv4Addr::from(*octets)),
            Source::V6(prefix) => {
                let mut octets = [0u8; 16];
                octets
                    .iter_mut()
                    .zip(prefix.iter())
                    .for_each(|(to, from)| *to = *from);
                write!(f, "{}/64", std::net::Ipv6Addr::from(octets))
            }
        }
    }
}

/// One source's state.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// When the accrued penalty runs out.
    expires: Instant,
    /// When a refusal of this source was last logged.
    last_logged: Option<Instant>,
    /// Refusals since then, for that log line.
    refused_since_log: u64,
}

/// What [`Penalties::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The source's accrued penalty after this offence.
    pub accrued: Duration,
    /// Whether this offence took the source over the threshold.
    pub newly_blocked: bool,
}

/// Whether a new connection from a source may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Not under penalty (or exempt, or penalties off).
    Allowed,
    /// Refused: the source's penalty still runs for `remaining`. `log` says
    /// whether to log this refusal, with `refused` connections refused since
    /// the last line (this one included).
    Refused {
        /// Penalty time left.
        remaining: Duration,
        /// Whether this refusal should be logged.
        log: bool,
        /// Connections refused since the last logged one, this one included.
        refused: u64,
    },
}

/// The penalty table, shared by the accept loop and every connection.
#[derive(Debug)]
pub struct Penalties {
    settings: PenaltySettings,
    table: Mutex<HashMap<Source, Entry>>,
}

impl Penalties {
    /// An empty table applying `settings`.
    pub fn new(settings: PenaltySettings) -> Penalties {
        Penalties {
            settings,
            table: Mutex::default(),
        }
    }

    fn is_exempt(&self, ip: IpAddr) -> bool {
        !self.settings.enabled || self.settings.exempt.iter().any(|net| net.contains(&ip))
    }

    fn penalty_of(&self, offence: Offence) -> Duration {
        match offence {
            Offence::AuthFailed => self.settings.authfail,
            Offence::NoAuth => self.settings.noauth,
            Offence::GraceExceeded => self.settings.grace_exceeded,
            Offence::StartupsFull => self.settings.max_startups,
        }
    }

    /// Whether a new connection from `ip` may go on at `now`.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Admission {
        if self.is_exempt(ip) {
            return Admission::Allowed;
        }
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = table.get_mut(&Source::of(ip)) else {
            return Admission::Allowed;
        };
        let remaining = entry.expires.saturating_duration_since(now);
        if remaining <= self.settings.min {
            return Admission::Allowed;
        }
        entry.refused_since_log += 1;
        let log = entry
            .last_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= REFUSAL_LOG_INTERVAL);
        let refused = entry.refused_since_log;
        if log {
            entry.last_logged = Some(now);
            entry.refused_since_log = 0;
        }
        Admission::Refused {
            remaining: remaining.saturating_sub(self.settings.min),
            log,
            refused,
        }
    }

    /// Whether `ip` is over the threshold now (a connection already open
    /// may be ended when its source becomes blocked).
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        if self.is_exempt(ip) {
            return false;
        }
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table
            .get(&Source::of(ip))
            .is_some_and(|entry| entry.expires.saturating_duration_since(now) > self.settings.min)
    }

    /// Adds the penalty for `offence` to `ip`'s source: to what it still
    /// has, capped at `max`. `None` when `ip` is exempt or penalties are off.
    pub fn record(&self, ip: IpAddr, offence: Offence, now: Instant) -> Option<Recorded> {
        if self.is_exempt(ip) {
            return None;
        }
        let penalty = self.penalty_of(offence);
        let source = Source::of(ip);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if !table.contains_key(&source) && table.len() >= MAX_SOURCES {
            make_room(&mut table, now);
        }
        let entry = table.entry(source).or_insert(Entry {
            expires: now,
            last_logged: None,
            refused_since_log: 0,
        });
        let before = entry.expires.saturating_duration_since(now);
        let accrued = before.saturating_add(penalty).min(self.settings.max);
        entry.expires = now + accrued;
        Some(Recorded {
            accrued,
            newly_blocked: before <= self.settings.min && accrued > self.settings.min,
        })
    }

    /// Adds `offence` to `peer`'s source, as [`Penalties::record`], and logs
    /// once when that takes the source over the threshold.
    pub fn penalize(&self, peer: std::net::SocketAddr, offence: Offence) {
        if let Some(recorded) = self.record(peer.ip(), offence, Instant::now())
            && recorded.newly_blocked
        {
            tracing::warn!(
                %peer,
                source = %Source::of(peer.ip()),
                offence = offence.name(),
                penalty_seconds = recorded.accrued.as_secs(),
                "source penalized: its new connections are refused"
            );
        }
    }

    /// Sources whose penalty keeps them out now.
    pub fn sources_blocked(&self, now: Instant) -> usize {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table
            .values()
            .filter(|entry| entry.expires.saturating_duration_since(now) > self.settings.min)
            .count()
    }

    /// Forgets sources whose penalty has run out (called now and then, so
    /// the table holds only live penalties).
    pub fn purge(&self, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.retain(|_, entry| entry.expires > now);
    }
}

/// Frees one slot of a full table: every expired entry, or else the one
/// that expires first.
fn make_room(table: &mut HashMap<Source, Entry>, now: Instant) {
    table.retain(|_, entry| entry.expires > now);
    if table.len() < MAX_SOURCES {
        return;
    }
    if let Some(soonest) = table
        .iter()
        .min_by_key(|(_, entry)| entry.expires)
        .map(|(source, _)| *source)
    {
        table.remove(&soonest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PenaltySettings {
        PenaltySettings::default()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn three_failed_passwords_are_tolerated_and_the_fourth_blocks() {
        let penalties = Penalties::new(settings());
        let now = Instant::now();
        let attacker = ip("192.0.2.7");
        for _ in 0..3 {
            let recorded = penalties
                .record(attacker, Offence::AuthFailed, now)
                .unwrap();
            assert!(!recorded.newly_blocked);
            assert_eq!(penalties.admit(attacker, now), Admission::Allowed);
        }
        let fourth = penalties
            .record(attacker, Offence::AuthFailed, now)
            .unwrap();
        assert_eq!(fourth.accrued, Duration::from_secs(20));
        assert!(fourth.newly_blocked);
        assert!(matches!(
            penalties.admit(attacker, now),
            Admission::Refused { log: true, .. }
        ));
        // Another source is never slowed by this one's penalty.
        assert_eq!(penalties.admit(ip("192.0.2.8"), now), Admission::Allowed);
        // Five seconds later the accrued 20 s are down to 15: allowed again.
        let later = now + Duration::from_secs(5);
        assert_eq!(penalties.admit(attacker, later), Admission::Allowed);
    }

    #[test]
    fn a_penalty_never_exceeds_the_maximum_and_runs_out() {
        let penalties = Penalties::new(settings());
        let now = Instant::now();
        let attacker = ip("198.51.100.1");
        for _ in 0..1000 {
            penalties.record(attacker, Offence::GraceExceeded, now);
        }
        let last = penalties
            .record(attacker, Offence::AuthFailed, now)
            .unwrap();
        assert_eq!(last.accrued, Duration::from_secs(600));
        assert!(penalties.is_blocked(attacker, now + Duration::from_secs(584)));
        assert!(!penalties.is_blocked(attacker, now + Duration::from_secs(586)));
        penalties.purge(now + Duration::from_secs(601));
        assert_eq!(penalties.sources_blocked(now), 0);
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_share_a_penalty_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:192.0.2.1")),
            Source::of(ip("192.0.2.1"))
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn exempt_sources_and_disabled_penalties_record_nothing() {
        let mut exempting = settings();
        exempting.exempt = vec!["10.0.0.0/8".parse().unwrap()];
        let penalties = Penalties::new(exempting);
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(
                penalties.record(ip("10.1.2.3"), Offence::AuthFailed, now),
                None
            );
        }
        assert_eq!(penalties.admit(ip("10.1.2.3"), now), Admission::Allowed);
        let mut off = settings();
        off.enabled = false;
        let penalties = Penalties::new(off);
        assert_eq!(
            penalties.record(ip("192.0.2.1"), Offence::AuthFailed, now),
            None
        );
    }

    #[test]
    fn refusals_of_a_flood_are_logged_once_per_interval_with_a_count() {
        let penalties = Penalties::new(settings());
        let now = Instant::now();
        let attacker = ip("203.0.113.5");
        for _ in 0..20 {
            penalties.record(attacker, Offence::AuthFailed, now);
        }
        assert!(matches!(
            penalties.admit(attacker, now),
            Admission::Refused {
                log: true,
                refused: 1,
                ..
            }
        ));
        for _ in 0..9 {
            assert!(matches!(
                penalties.admit(attacker, now),
                Admission::Refused { log: false, .. }
            ));
        }
        assert!(matches!(
            penalties.admit(attacker, now + REFUSAL_LOG_INTERVAL),
            Admission::Refused {
                log: true,
                refused: 10,
                ..
            }
        ));
    }

    #[test]
    fn a_full_table_makes_room_without_growing() {
        let penalties = Penalties::new(settings());
        let now = Instant::now();
        for n in 0..MAX_SOURCES as u32 + 10 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            penalties.record(addr, Offence::NoAuth, now);
        }
        let table = penalties.table.lock().unwrap();
        assert_eq!(table.len(), MAX_SOURCES);
    }
}
