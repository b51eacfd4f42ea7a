//! Abuse from the network before and around login: unauthenticated
//! connections that hold slots, password guessing (per-source penalties,
//! SPEC "Protection from abuse"), and a client changing its own home's mode.
//!
//! 127.0.0.2, 127.0.0.3, … are distinct sources on Linux loopback; each test
//! picks its own so that one source's penalty is visibly not another's.
//! Figures are printed as `figure: name = value` lines (`--nocapture`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::attack::{
    Fields, Greeting, PasswordOutcome, greeting_from, key_login_from, kind, loopback,
    password_attempt_from, sftp_on, ssh_from, tcp_from, wait_until_closed, wait_until_disconnected,
};
use common::binary::{ServedBinary, figure};
use common::{AccountSpec, TestServer};
use sftpbox::config::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long a probe waits for the server's first bytes.
const PROBE_WAIT: Duration = Duration::from_secs(3);

/// A client's identification line, and nothing after it.
const CLIENT_BANNER: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 probe\r\n";

/// A connection from `source` that sends only a client banner.
async fn banner_only(source: IpAddr, server: SocketAddr) -> TcpStream {
    let mut stream = tcp_from(source, server).await.unwrap();
    stream.write_all(CLIENT_BANNER).await.unwrap();
    stream
}

/// A connection from `source` that sends a banner, then the start of a
/// packet and one more byte every `pause`, so the packet never completes:
/// how long until the server closed it, `None` if still open after `within`.
async fn trickle_from(
    source: IpAddr,
    server: SocketAddr,
    pause: Duration,
    within: Duration,
) -> Option<Duration> {
    let stream = tcp_from(source, server).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(CLIENT_BANNER).await.unwrap();
    write.write_all(&[0, 0, 1, 0]).await.unwrap();
    let dribble = tokio::spawn(async move {
        while write.write_all(b"x").await.is_ok() {
            tokio::time::sleep(pause).await;
        }
    });
    let closed = wait_until_closed(&mut read, within).await;
    dribble.abort();
    closed
}

/// `count` connections from `source`, each trying one wrong password for
/// `user`, all at once; their outcomes.
async fn wrong_passwords(
    source: IpAddr,
    server: SocketAddr,
    user: &str,
    count: usize,
) -> Vec<PasswordOutcome> {
    let attempts: Vec<_> = (0..count)
        .map(|_| {
            let user = user.to_owned();
            tokio::spawn(async move {
                password_attempt_from(source, server, &user, "not-the-password").await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.unwrap());
    }
    outcomes
}

/// Probes `source` every half second for up to `within` until the server
/// closes its connections before the banner; how long that took, or the
/// last greeting seen.
async fn until_closed_before_banner(
    source: IpAddr,
    server: SocketAddr,
    within: Duration,
) -> Result<Duration, Greeting> {
    let started = Instant::now();
    loop {
        let greeting = greeting_from(source, server, PROBE_WAIT).await;
        if greeting == Greeting::ClosedBeforeBanner {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= within {
            return Err(greeting);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ------------------------------------------------------------ 5. unauthenticated slots

/// The login grace the slot tests configure.
const GRACE: Duration = Duration::from_secs(2);

/// Slack on top of the grace for a loaded machine.
const GRACE_SLACK: Duration = Duration::from_secs(8);

fn short_grace() -> Limits {
    Limits {
        login_grace: GRACE,
        shutdown_grace: Duration::from_secs(1),
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_does_not_log_in_is_closed_after_the_login_grace_whatever_it_sends() {
    let server = TestServer::start_with_limits(&[AccountSpec::new("alice")], short_grace());
    let addr = server.addr();
    let within = GRACE + GRACE_SLACK;

    // Only a banner.
    let banner = async {
        let mut stream = banner_only(loopback(2), addr).await;
        wait_until_closed(&mut stream, within).await
    };
    // A banner, then the start of a packet and one more byte every half
    // second: it never completes.
    let trickle = trickle_from(loopback(3), addr, Duration::from_millis(500), within);
    // A finished key exchange and no authentication request.
    let kex = async {
        let handle = ssh_from(loopback(4), addr).await.unwrap();
        wait_until_disconnected(&handle, within).await
    };
    let (banner, trickle, kex) = tokio::join!(banner, trickle, kex);
    let shown = |closed: Option<Duration>| {
        closed.map_or(format!("open after {}", within.as_secs()), |d| {
            format!("{:.1}", d.as_secs_f64())
        })
    };
    figure("startup.banner_only_closed_after_seconds", shown(banner));
    figure("startup.trickle_closed_after_seconds", shown(trickle));
    figure("startup.kex_only_closed_after_seconds", shown(kex));
    assert!(
        banner.is_some() && trickle.is_some() && kex.is_some(),
        "with a {GRACE:?} login grace, still open after {within:?}: banner only {}, \
         banner and a trickle {}, key exchange only {}",
        banner.is_none(),
        trickle.is_none(),
        kex.is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_client_logs_in_once_connections_filling_max_startups_are_dropped() {
    let server = TestServer::start_with_limits(
        &[AccountSpec::new("alice")],
        Limits {
            max_startups: sftpbox::config::MaxStartups {
                start: 3,
                rate_percent: 100,
                full: 3,
            },
            ..short_grace()
        },
    );
    let addr = server.addr();
    let key = server.client_key();
    let filled = Instant::now();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(banner_only(loopback(2), addr).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Few attempts, spaced: a refusal for max_startups may add to the
    // penalty of the source (SPEC), and this source has done nothing wrong.
    let refused_at_first = key_login_from(loopback(3), addr, "alice", &key)
        .await
        .is_err();
    tokio::time::sleep_until((filled + GRACE + Duration::from_secs(1)).into()).await;
    let mut logged_in = None;
    while filled.elapsed() < GRACE + GRACE_SLACK + Duration::from_secs(4) {
        match tokio::time::timeout(
            Duration::from_secs(5),
            key_login_from(loopback(3), addr, "alice", &key),
        )
        .await
        {
            Ok(Ok(_)) => {
                logged_in = Some(filled.elapsed());
                break;
            }
            Ok(Err(err)) => println!("{:?}: {err}", filled.elapsed()),
            Err(_) => println!("{:?}: login timed out", filled.elapsed()),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    figure("startup.refused_while_full", refused_at_first);
    figure(
        "startup.real_client_in_after_seconds",
        logged_in.map_or("never".into(), |d| format!("{:.1}", d.as_secs_f64())),
    );
    assert!(
        logged_in.is_some(),
        "alice could not log in {:?} after 3 banner-only connections filled max_startups = 3 \
         (login grace {GRACE:?}): they are never dropped",
        filled.elapsed()
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_startups_start_rate_full_refuses_new_connections_early() {
    // OpenSSH's MaxStartups form: from 2 unauthenticated connections on,
    // refuse new ones with probability 100% (rising to 100% at 4).
    // Penalties off: this is about the startup cap alone.
    let server = ServedBinary::start(
        &[AccountSpec::new("alice")],
        "[limits]\nmax_startups = \"2:100:4\"\nlogin_grace_seconds = 30\n\
         shutdown_grace_seconds = 1\n\n[penalties]\nenabled = false\n",
    );
    let addr = server.addr();
    let first = banner_only(loopback(2), addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let below_start = greeting_from(loopback(3), addr, PROBE_WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = banner_only(loopback(2), addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut at_start = Vec::new();
    for _ in 0..5 {
        at_start.push(greeting_from(loopback(3), addr, PROBE_WAIT).await);
    }
    drop((first, second));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = greeting_from(loopback(3), addr, PROBE_WAIT).await;
    assert!(
        matches!(below_start, Greeting::Banner(_)),
        "below start: {below_start:?}"
    );
    assert!(
        at_start.iter().all(|g| *g == Greeting::ClosedBeforeBanner),
        "at start with rate 100%: {at_start:?}"
    );
    assert!(
        matches!(after, Greeting::Banner(_)),
        "once the unauthenticated ones left: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_startups_early_refusals_are_random_between_start_and_full() {
    let server = ServedBinary::start(
        &[AccountSpec::new("alice")],
        "[limits]\nmax_startups = \"1:50:10\"\nlogin_grace_seconds = 30\n\
         shutdown_grace_seconds = 1\n\n[penalties]\nenabled = false\n",
    );
    let addr = server.addr();
    let _held = banner_only(loopback(2), addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut banners, mut refused) = (0, 0);
    for _ in 0..40 {
        // A probe that gets the banner closes at once, so the count of
        // unauthenticated connections stays at about one.
        match greeting_from(loopback(3), addr, PROBE_WAIT).await {
            Greeting::Banner(_) => banners += 1,
            Greeting::ClosedBeforeBanner => refused += 1,
            Greeting::Silent => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // At 50% each way the chance of 40 alike is 2^-39.
    assert!(
        banners > 0 && refused > 0,
        "40 probes at 50%: {banners} banners, {refused} refused"
    );
}

/// Finding 5 at full scale (benches/abuse.sh): how long connections that
/// never log in are really held, with the default 30 s login grace and the
/// idle timeout shortened to `ABUSE_IDLE` seconds (60 by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full scale; run by benches/abuse.sh"]
async fn full_scale_unauthenticated_connections_held() {
    let idle = Duration::from_secs(
        std::env::var("ABUSE_IDLE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    );
    let server = TestServer::start_with_limits(
        &[AccountSpec::new("alice")],
        Limits {
            idle_timeout: idle,
            ..Limits::default()
        },
    );
    let addr = server.addr();
    let within = idle + Duration::from_secs(30);
    let banner = async {
        let mut stream = banner_only(loopback(2), addr).await;
        wait_until_closed(&mut stream, within).await
    };
    let trickle = trickle_from(loopback(3), addr, Duration::from_secs(1), within);
    let (banner, trickle) = tokio::join!(banner, trickle);
    let shown = |closed: Option<Duration>| {
        closed.map_or(format!("still open after {} s", within.as_secs()), |d| {
            format!("closed after {:.1} s", d.as_secs_f64())
        })
    };
    let setting = format!("grace_30s_idle_{}s", idle.as_secs());
    figure(
        &format!("full.startup.banner_only_{setting}"),
        shown(banner),
    );
    figure(&format!("full.startup.trickle_{setting}"), shown(trickle));
}

// ------------------------------------------------------------ 6. per-source penalties

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_close_the_source_before_the_banner_and_spare_other_sources() {
    // SPEC defaults: authfail 5 s each, enforced above min = 15 s, so four
    // failures (20 s) put the source under penalty.
    let server = TestServer::start_with_limits(&[AccountSpec::new("alice")], short_grace());
    let addr = server.addr();
    let outcomes = wrong_passwords(loopback(2), addr, "alice", 4).await;
    assert!(
        outcomes.iter().all(|o| *o == PasswordOutcome::Refused),
        "{outcomes:?}"
    );
    let closed = until_closed_before_banner(loopback(2), addr, Duration::from_secs(5)).await;
    let with_right_password =
        password_attempt_from(loopback(2), addr, "alice", &server.password("alice")).await;
    let started = Instant::now();
    let other_source =
        password_attempt_from(loopback(3), addr, "alice", &server.password("alice")).await;
    let other_took = started.elapsed();
    figure(
        "penalty.guessing_source_after_4_failures",
        match &closed {
            Ok(_) => "closed before the banner".to_owned(),
            Err(greeting) => format!("{greeting:?}"),
        },
    );
    figure(
        "penalty.guessing_source_right_password",
        format!("{with_right_password:?}"),
    );
    assert!(
        closed.is_ok(),
        "after 4 failed logins from 127.0.0.2 its new connections still get {:?}",
        closed.unwrap_err()
    );
    assert!(
        matches!(with_right_password, PasswordOutcome::NoAnswer(_)),
        "under penalty the right password got {with_right_password:?}"
    );
    assert_eq!(
        other_source,
        PasswordOutcome::Accepted,
        "127.0.0.3 was caught by 127.0.0.2's penalty"
    );
    assert!(
        other_took < Duration::from_secs(5),
        "127.0.0.3 was slowed to {other_took:?}"
    );
}

/// Small penalties: 2 s per failure, enforced above 3 s, at most 6 s.
const SHORT_PENALTIES: &str = "[limits]\nshutdown_grace_seconds = 1\n\n\
    [penalties]\nenabled = true\nauthfail = 2\nnoauth = 1\nmin = 3\nmax = 6\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penalty_runs_out_and_the_source_logs_in_again() {
    let server = ServedBinary::start(&[AccountSpec::new("alice")], SHORT_PENALTIES);
    let addr = server.addr();
    let password = server.password("alice");
    wrong_passwords(loopback(2), addr, "alice", 3).await;
    let last_failure = Instant::now();
    let closed = until_closed_before_banner(loopback(2), addr, Duration::from_secs(5)).await;
    assert!(
        closed.is_ok(),
        "after 3 failed logins (2 s each, min 3 s) 127.0.0.2 still gets {:?}",
        closed.unwrap_err()
    );
    assert_eq!(
        password_attempt_from(loopback(3), addr, "alice", &password).await,
        PasswordOutcome::Accepted,
        "another source was refused"
    );
    // The penalty is at most `max` = 6 s; probe sparingly after it.
    tokio::time::sleep_until((last_failure + Duration::from_secs(7)).into()).await;
    let mut back = None;
    while last_failure.elapsed() < Duration::from_secs(25) {
        if password_attempt_from(loopback(2), addr, "alice", &password).await
            == PasswordOutcome::Accepted
        {
            back = Some(last_failure.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    figure(
        "penalty.source_back_after_seconds",
        back.map_or("never".into(), |d| format!("{:.1}", d.as_secs_f64())),
    );
    assert!(
        back.is_some(),
        "127.0.0.2 still cannot log in {:?} after its last failure (max 6 s)",
        last_failure.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_sources_are_never_penalised() {
    let server = ServedBinary::start(
        &[AccountSpec::new("alice")],
        "[penalties]\nauthfail = 5\nmin = 3\nmax = 60\n\
         exempt = [\"127.0.0.4\", \"127.0.1.0/24\"]\n",
    );
    let addr = server.addr();
    let password = server.password("alice");
    for source in [loopback(4), "127.0.1.9".parse().unwrap(), loopback(5)] {
        wrong_passwords(source, addr, "alice", 3).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for source in [loopback(4), "127.0.1.9".parse().unwrap()] {
        assert!(
            matches!(
                greeting_from(source, addr, PROBE_WAIT).await,
                Greeting::Banner(_)
            ),
            "exempt {source} was penalised"
        );
        assert_eq!(
            password_attempt_from(source, addr, "alice", &password).await,
            PasswordOutcome::Accepted,
            "exempt {source} could not log in"
        );
    }
    // The same failures from a source that is not exempt do count.
    assert!(
        until_closed_before_banner(loopback(5), addr, Duration::from_secs(5))
            .await
            .is_ok(),
        "127.0.0.5 is not exempt and was not penalised"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letting_the_login_grace_run_out_puts_the_source_under_penalty() {
    let server = ServedBinary::start(
        &[AccountSpec::new("alice")],
        "[limits]\nlogin_grace_seconds = 1\n\n\
         [penalties]\ngrace_exceeded = 10\nmin = 5\nmax = 20\n",
    );
    let addr = server.addr();
    let mut stream = banner_only(loopback(6), addr).await;
    let closed = wait_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "a banner-only connection outlived a 1 s login grace by 10 s"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        greeting_from(loopback(6), addr, PROBE_WAIT).await,
        Greeting::ClosedBeforeBanner,
        "127.0.0.6 let the login grace run out (10 s > min 5 s) and was not penalised"
    );
    assert!(
        matches!(
            greeting_from(loopback(7), addr, PROBE_WAIT).await,
            Greeting::Banner(_)
        ),
        "another source was penalised"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn penalties_can_be_turned_off() {
    let server = ServedBinary::start(
        &[AccountSpec::new("alice")],
        "[penalties]\nenabled = false\n",
    );
    let addr = server.addr();
    wrong_passwords(loopback(8), addr, "alice", 6).await;
    assert_eq!(
        password_attempt_from(loopback(8), addr, "alice", &server.password("alice")).await,
        PasswordOutcome::Accepted
    );
}

/// Full-scale guessing rate (benches/abuse.sh): as many wrong passwords as
/// one address gets through in about six seconds, then the right one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full scale; run by benches/abuse.sh"]
async fn full_scale_password_guessing_from_one_address() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let addr = server.addr();
    let started = Instant::now();
    // 34 connections x 6 attempts (max_auth_attempts) = 204 guesses.
    let guessers: Vec<_> = (0..34)
        .map(|_| {
            tokio::spawn(async move {
                let Ok(mut handle) = ssh_from(loopback(2), addr).await else {
                    return (0, 1);
                };
                let (mut refused, mut unanswered) = (0, 0);
                for _ in 0..6 {
                    match handle.authenticate_password("alice", "guess").await {
                        Ok(r) if !r.success() => refused += 1,
                        _ => {
                            unanswered += 1;
                            break;
                        }
                    }
                }
                (refused, unanswered)
            })
        })
        .collect();
    let (mut refused, mut unanswered) = (0, 0);
    for guesser in guessers {
        let (r, u) = guesser.await.unwrap();
        refused += r;
        unanswered += u;
    }
    let took = started.elapsed();
    let right = Instant::now();
    let outcome =
        password_attempt_from(loopback(2), addr, "alice", &server.password("alice")).await;
    figure("guessing.wrong_passwords_answered", refused);
    figure("guessing.connections_cut_short", unanswered);
    figure("guessing.seconds", format!("{:.1}", took.as_secs_f64()));
    figure("guessing.right_password_then", format!("{outcome:?}"));
    figure(
        "guessing.right_password_seconds",
        format!("{:.1}", right.elapsed().as_secs_f64()),
    );
}

// ------------------------------------------------------------ 7. the home's own mode

/// The home's mode on the host, permission bits only.
fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setstat_of_the_root_keeps_the_home_private() {
    let server = TestServer::start(&[AccountSpec::new("alice")]);
    let handle = key_login_from(loopback(2), server.addr(), "alice", &server.client_key())
        .await
        .unwrap();
    let mut sftp = sftp_on(&handle).await.unwrap();
    let home = server.home("alice");
    let private = mode_of(&home);
    assert_eq!(private & 0o077, 0, "a new home is {private:o}");

    let mut opened = Vec::new();
    for spelling in [&b"/"[..], b".", b"", b"/..", b"/./", b"//"] {
        let fields = Fields::new().string(spelling).mode_attrs(0o777);
        let code = sftp.status_of(kind::SETSTAT, fields).await.unwrap();
        let mode = mode_of(&home);
        if mode & 0o077 != 0 {
            opened.push(format!(
                "SETSTAT {:?} (status {code}) -> {mode:o}",
                String::from_utf8_lossy(spelling)
            ));
        }
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(private)).unwrap();
    }
    let lsetstat = Fields::new().string(b"/").mode_attrs(0o777);
    let id = sftp
        .send_extended("lsetstat@openssh.com", lsetstat)
        .await
        .unwrap();
    let reply = sftp.recv().await.unwrap();
    assert_eq!(reply.id(), id);
    if mode_of(&home) & 0o077 != 0 {
        opened.push(format!("lsetstat@openssh.com / -> {:o}", mode_of(&home)));
    }
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(private)).unwrap();
    let root = sftp.open_dir(b"/").await.unwrap();
    let code = sftp
        .status_of(
            kind::FSETSTAT,
            Fields::new().string(&root).mode_attrs(0o777),
        )
        .await
        .unwrap();
    if mode_of(&home) & 0o077 != 0 {
        opened.push(format!(
            "FSETSTAT on OPENDIR / (status {code}) -> {:o}",
            mode_of(&home)
        ));
    }
    figure("home.requests_that_opened_it", opened.len());
    assert!(
        opened.is_empty(),
        "a client made its home ({private:o}) open to other local users:\n{}",
        opened.join("\n")
    );
}
