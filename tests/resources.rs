//! Resource attacks by one logged-in account: it must not starve the
//! blocking pool, wedge connections past the idle timeout, use up the
//! process's descriptors, or make the server's memory balloon, and one exec
//! line must not burn the CPU. Each test runs the attack for real against a
//! real server and asserts what another account (or the process) sees.
//!
//! The heavy ones take a lock so that they do not load the machine at the
//! same time and skew each other's timings. Figures are printed as
//! `figure: name = value` lines (`--nocapture`), which benches/abuse.sh
//! collects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::attack::{
    ChannelSender, Fields, Ssh, key_login_from, kind, list_root_from, loopback, pflags, sftp_on,
    wedged_connection,
};
use common::binary::{Launch, ServedBinary, figure, mib};
use common::{AccountSpec, TestServer};
use sftpbox::config::Limits;

/// Serialises the tests that load the whole machine. An async lock: each
/// test has its own runtime, and the guard is held across awaits.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.lock().await
}

// ------------------------------------------------------------ 1. the blocking pool

/// The sparse file's size: 1 TiB of zeros costs no disk and hours to hash.
const HUGE_FILE_BYTES: u64 = 1 << 40;

/// check-file-handle requests the attacker sends, one per handle (each
/// handle has its own lane): more than tokio's default of 512 blocking
/// threads.
const HASH_JOBS: usize = 600;

/// Settings for the pool tests: a short grace so SIGTERM can be timed.
const POOL_SETTINGS: &str = "[limits]\nshutdown_grace_seconds = 2\n";

/// Grace given in [`POOL_SETTINGS`].
const POOL_GRACE: Duration = Duration::from_secs(2);

/// The attacker's side of finding 1: as `mallory` (no quota), set a file's
/// size to 1 TiB and ask for its sha256 on [`HASH_JOBS`] handles at once.
/// Returns the connection and its SFTP sender (to keep or drop) and how many
/// hashes were asked.
async fn start_hashing(server: &ServedBinary) -> (Ssh, ChannelSender, usize) {
    let handle = key_login_from(loopback(2), server.addr(), "mallory", &server.client_key())
        .await
        .unwrap();
    let mut sftp = sftp_on(&handle).await.unwrap();
    sftp.put(b"huge", b"").await.unwrap();
    let code = sftp
        .status_of(
            kind::SETSTAT,
            Fields::new().string(b"huge").size_attrs(HUGE_FILE_BYTES),
        )
        .await
        .unwrap();
    assert_eq!(code, 0, "setting the size of a file without quota failed");
    let (handles, refusal) = sftp.open_many(b"huge", pflags::READ, HASH_JOBS).await;
    if let Some(refusal) = refusal {
        println!("after {} handles: {refusal}", handles.len());
    }
    // Replies are read (and dropped) by a task of their own, so that a
    // server that refuses quickly cannot stall this client.
    let (mut sender, _drain) = sftp.drain_replies();
    sender.send_checksums(&handles, "sha256").await.unwrap();
    (handle, sender, handles.len())
}

fn pool_accounts() -> Vec<AccountSpec> {
    vec![AccountSpec::new("mallory"), AccountSpec::new("alice")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_a_huge_sparse_file_cannot_starve_another_accounts_listing() {
    let _heavy = heavy().await;
    let server = ServedBinary::start(&pool_accounts(), POOL_SETTINGS);
    let (_attacker, _sftp, asked) = start_hashing(&server).await;
    // Let the hashes take the pool.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = server.stats();
    let (threads, busy) = (stats.threads, stats.busy_threads);
    let started = Instant::now();
    let listing = tokio::time::timeout(
        Duration::from_secs(20),
        list_root_from(loopback(3), server.addr(), "alice", &server.client_key()),
    )
    .await;
    let waited = started.elapsed();
    figure("pool.hashes_asked", asked);
    figure("pool.server_threads_during_attack", threads);
    figure("pool.busy_threads_during_attack", busy);
    figure(
        "pool.victim_listing_seconds",
        format!("{:.1}", waited.as_secs_f64()),
    );
    match listing {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => panic!("alice's listing failed after {waited:?}: {err}"),
        Err(_) => panic!(
            "alice's listing did not answer within {waited:?} while mallory had {asked} \
             sha256 requests over a 1 TiB sparse file running ({threads} server threads, \
             {busy} busy)"
        ),
    }
    assert!(
        waited < Duration::from_secs(10),
        "alice's listing took {waited:?} while mallory's hashes ran"
    );
}

/// The most busy threads seen over a second (five samples).
async fn busy_threads_over_a_second(server: &ServedBinary) -> usize {
    let mut most = 0;
    for _ in 0..5 {
        most = most.max(server.stats().busy_threads);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_stops_when_the_client_that_asked_for_it_disconnects() {
    let _heavy = heavy().await;
    let server = ServedBinary::start(&pool_accounts(), POOL_SETTINGS);
    let (attacker, sender, asked) = start_hashing(&server).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy_during = busy_threads_over_a_second(&server).await;
    let cpu_during = server.cpu_share_over(Duration::from_secs(2)).await;
    let _ = attacker
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    drop(sender);
    drop(attacker);
    let left = Instant::now();
    // The server may finish the block it is hashing; then it must go quiet.
    // Busy threads, not CPU time, tell: a loaded machine gives the hashes
    // little CPU, but they stay runnable.
    let mut busy_after = usize::MAX;
    while left.elapsed() < Duration::from_secs(15) {
        busy_after = busy_threads_over_a_second(&server).await;
        if busy_after <= 2 {
            break;
        }
    }
    let cpu_after = server.cpu_share_over(Duration::from_secs(2)).await;
    let threads = server.stats().threads;
    figure("pool.hashes_asked", asked);
    figure("pool.busy_threads_during_attack", busy_during);
    figure("pool.cpu_cores_during_attack", format!("{cpu_during:.2}"));
    figure("pool.busy_threads_after_disconnect", busy_after);
    figure("pool.cpu_cores_after_disconnect", format!("{cpu_after:.2}"));
    figure("pool.threads_after_disconnect", threads);
    assert!(
        busy_after <= 2,
        "{:?} after mallory disconnected, {busy_after} server threads are still busy \
         ({busy_during} during the attack; {threads} threads; {cpu_after:.2} cores): \
         the hashes go on for nobody",
        left.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_server_within_the_grace_period_while_hashes_run() {
    let _heavy = heavy().await;
    let mut server = ServedBinary::start(&pool_accounts(), POOL_SETTINGS);
    let (_attacker, _sftp, _) = start_hashing(&server).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let signalled = Instant::now();
    server.signal("TERM");
    // Grace, plus time to close sessions and exit on a loaded machine.
    let within = POOL_GRACE + Duration::from_secs(10);
    let status = server.wait_exit(within);
    figure(
        "pool.sigterm_exit_seconds",
        match status {
            Some(_) => format!("{:.1}", signalled.elapsed().as_secs_f64()),
            None => format!("none within {}", within.as_secs()),
        },
    );
    let Some(status) = status else {
        panic!(
            "the server did not exit within {within:?} of SIGTERM (grace {POOL_GRACE:?}); \
             it logged \"stopped\" {} time(s):\n{}",
            server.log_count(": stopped"),
            server.log()
        );
    };
    assert!(status.success(), "exit status {status} after SIGTERM");
}

// ------------------------------------------------------------ 2. wedged connections

/// The idle timeout the wedge tests configure.
const WEDGE_IDLE: Duration = Duration::from_secs(3);

/// Slack on top of the idle timeout for a loaded machine.
const WEDGE_SLACK: Duration = Duration::from_secs(12);

fn wedge_limits(max_sessions_per_account: usize, max_connections_per_address: usize) -> Limits {
    Limits {
        idle_timeout: WEDGE_IDLE,
        max_sessions_per_account,
        max_connections_per_address,
        shutdown_grace: Duration::from_secs(1),
        ..Limits::default()
    }
}

/// Tries `login` now, then (if it failed) again from the idle timeout on,
/// every few seconds, until it succeeds or the slack is used up; when it
/// first worked after the wedges went quiet, and whether it failed at first.
/// Few attempts, so that a server that penalises refused logins is not
/// provoked by the test itself.
async fn first_login_after<F, Fut>(quiet: Instant, mut login: F) -> (Option<Duration>, bool)
where
    F: FnMut(u8) -> Fut,
    Fut: std::future::Future<Output = Result<Ssh, String>>,
{
    let mut attempt = 0u8;
    let refused_at_first = match login(attempt).await {
        Ok(_) => return (Some(quiet.elapsed()), false),
        Err(err) => {
            println!("at first: {err}");
            true
        }
    };
    let wake = quiet + WEDGE_IDLE + Duration::from_secs(1);
    tokio::time::sleep_until(wake.into()).await;
    while quiet.elapsed() < WEDGE_IDLE + WEDGE_SLACK {
        attempt += 1;
        match tokio::time::timeout(Duration::from_secs(5), login(attempt)).await {
            Ok(Ok(_)) => return (Some(quiet.elapsed()), refused_at_first),
            Ok(Err(err)) => println!("{:?}: {err}", quiet.elapsed()),
            Err(_) => println!("{:?}: login timed out", quiet.elapsed()),
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    (None, refused_at_first)
}

/// Two connections of mallory's from the same address, wedged (see
/// [`wedged_connection`]); they hold the server until dropped.
async fn two_wedged_from_mallory(server: &TestServer) -> Vec<impl Sized> {
    let key = server.client_key();
    let mut wedged = Vec::new();
    for _ in 0..2 {
        wedged.push(
            wedged_connection(loopback(2), server.addr(), "mallory", &key)
                .await
                .unwrap(),
        );
    }
    wedged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wedged_connections_give_their_account_back_within_the_idle_timeout() {
    let server = TestServer::start_with_limits(&[AccountSpec::new("mallory")], wedge_limits(2, 64));
    let key = server.client_key();
    let wedged = two_wedged_from_mallory(&server).await;
    let quiet = Instant::now();
    // Each attempt from a fresh address: only the account is at stake here.
    let (back, refused_at_first) = first_login_after(quiet, |attempt| {
        key_login_from(loopback(10 + attempt), server.addr(), "mallory", &key)
    })
    .await;
    figure("wedge.account_refused_while_wedged", refused_at_first);
    figure(
        "wedge.account_back_after_seconds",
        back.map_or("never".into(), |d| format!("{:.1}", d.as_secs_f64())),
    );
    assert!(
        back.is_some(),
        "mallory still cannot log in {:?} after two wedged connections went quiet \
         (idle timeout {WEDGE_IDLE:?}): they hold the account's 2 session slots",
        quiet.elapsed()
    );
    drop(wedged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wedged_connections_give_their_address_back_within_the_idle_timeout() {
    let server = TestServer::start_with_limits(
        &[AccountSpec::new("mallory"), AccountSpec::new("alice")],
        wedge_limits(32, 2),
    );
    let key = server.client_key();
    let wedged = two_wedged_from_mallory(&server).await;
    let quiet = Instant::now();
    let (back, refused_at_first) = first_login_after(quiet, |_| {
        key_login_from(loopback(2), server.addr(), "alice", &key)
    })
    .await;
    figure("wedge.address_refused_while_wedged", refused_at_first);
    figure(
        "wedge.address_back_after_seconds",
        back.map_or("never".into(), |d| format!("{:.1}", d.as_secs_f64())),
    );
    assert!(
        back.is_some(),
        "alice still cannot log in from 127.0.0.2 {:?} after two wedged connections \
         from there went quiet (idle timeout {WEDGE_IDLE:?}): they hold the address's 2 slots",
        quiet.elapsed()
    );
    drop(wedged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sftp_session_ended_by_a_protocol_error_leaves_its_connection_reading() {
    let server = TestServer::start(&[AccountSpec::new("mallory")]);
    let handle = key_login_from(loopback(2), server.addr(), "mallory", &server.client_key())
        .await
        .unwrap();
    let mut sftp = sftp_on(&handle).await.unwrap();
    sftp.put(b"f", b"x").await.unwrap();
    // A request whose reply is still pending, then a frame longer than any
    // packet may be: the session ends on it.
    let file = sftp.open(b"f", pflags::READ).await.unwrap();
    sftp.send(kind::READ, Fields::new().string(&file).u64(0).u32(1))
        .await
        .unwrap();
    sftp.send_raw(&u32::MAX.to_be_bytes()).await.unwrap();
    // The client goes on writing: 8 MiB, more than the channel's window and
    // queue hold unless the server reads them. The server may read them or
    // close the channel; stopping to read an open channel is the wedge.
    let (mut sender, drained) = sftp.drain_replies();
    let junk = vec![0x5a_u8; 64 * 1024];
    let flood = async {
        for _ in 0..128 {
            if sender.send_raw(&junk).await.is_err() {
                break;
            }
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            () = flood => None,
            replies = drained => Some(replies.unwrap_or(0)),
        }
    })
    .await;
    match outcome {
        Err(_) => panic!(
            "writing after the protocol error stalled while the channel stayed open: \
             the server stopped reading it"
        ),
        // Closed: the READ's reply, already made, went out first (it is
        // the only reply this client left unread).
        Ok(Some(replies)) => assert!(replies >= 1, "the pending READ got no reply"),
        Ok(None) => {}
    }
    // The same connection serves a new session.
    let listed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut again = sftp_on(&handle).await?;
        again.list(b"/").await
    })
    .await;
    match listed {
        Ok(Ok(names)) => assert!(names.iter().any(|n| n == b"f"), "{names:?}"),
        Ok(Err(err)) => panic!("a new session on the same connection failed: {err}"),
        Err(_) => panic!("a new session on the same connection did not answer: it is wedged"),
    }
}

// ------------------------------------------------------------ 3. descriptors

/// RLIMIT_NOFILE for the descriptor test's server: small enough that one
/// account can reach it with the 1024 handles a channel allows.
const OPEN_FILES_LIMIT: u64 = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_holding_handles_cannot_keep_another_from_logging_in_and_opening_a_file() {
    let server = ServedBinary::launch(
        &[AccountSpec::new("mallory"), AccountSpec::new("alice")],
        Launch {
            settings: "[limits]\nshutdown_grace_seconds = 2\n".into(),
            open_files_limit: Some(OPEN_FILES_LIMIT),
            ..Launch::default()
        },
    );
    let key = server.client_key();
    let mut held = Vec::new();
    let mut handles_held = 0;
    for connection in 0..3 {
        let attack = async {
            let handle = key_login_from(loopback(2), server.addr(), "mallory", &key).await?;
            let mut sftp = sftp_on(&handle).await?;
            sftp.put(b"f", b"x").await?;
            let (handles, refusal) = sftp.open_many(b"f", pflags::READ, 400).await;
            Ok::<_, String>((handle, sftp, handles, refusal))
        };
        // Once the server stops answering, the attack has done what it can.
        match tokio::time::timeout(Duration::from_secs(5), attack).await {
            Ok(Ok((handle, sftp, handles, refusal))) => {
                println!(
                    "connection {connection}: {} handles; {}",
                    handles.len(),
                    refusal.unwrap_or_else(|| "no refusal".into())
                );
                handles_held += handles.len();
                held.push((handle, sftp, handles));
            }
            Ok(Err(err)) => {
                println!("connection {connection}: {err}");
                break;
            }
            Err(_) => {
                println!("connection {connection}: timed out");
                break;
            }
        }
    }
    let stats = server.stats();
    let started = Instant::now();
    let victim = tokio::time::timeout(Duration::from_secs(15), async {
        let handle = key_login_from(loopback(3), server.addr(), "alice", &key).await?;
        let mut sftp = sftp_on(&handle).await?;
        sftp.put(b"note.txt", b"still here\n").await?;
        Ok::<_, String>(())
    })
    .await;
    let waited = started.elapsed();
    figure("fds.attacker_handles_held", handles_held);
    figure("fds.server_open_files", stats.open_files);
    figure(
        "fds.accept_failures_logged",
        server.log_count("accept failed"),
    );
    match victim {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!(
            "alice failed after {waited:?} while mallory held {handles_held} handles \
             ({} descriptors of {OPEN_FILES_LIMIT}): {err}",
            stats.open_files
        ),
        Err(_) => panic!(
            "alice could not log in and write a file within {waited:?} while mallory held \
             {handles_held} handles ({} descriptors of {OPEN_FILES_LIMIT}; \"accept failed\" \
             logged {} times)",
            stats.open_files,
            server.log_count("accept failed")
        ),
    }
    assert_eq!(
        std::fs::read(server.home("alice").join("note.txt")).unwrap(),
        b"still here\n"
    );
    drop(held);
}

// ------------------------------------------------------------ 4. memory

/// Files in the listed folder, and directory handles open on it at once.
const LISTED_FILES: usize = 20_000;
const DIR_HANDLES: usize = 150;

/// Most the server's resident memory may grow while the directory handles
/// are open: a listing read as READDIR asks for it costs a descriptor and a
/// buffer per handle, not the whole folder.
const MAX_OPENDIR_GROWTH_BYTES: u64 = 100 << 20;

/// Most it may stay above where it started once they are closed.
const MAX_OPENDIR_KEPT_BYTES: u64 = 64 << 20;

/// Most an idle server may keep after a burst of failed password logins:
/// argon2 takes 19 MiB per verification, so this allows about ten at once.
const MAX_PASSWORD_KEPT_BYTES: u64 = 200 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_handles_on_a_big_folder_cost_bounded_memory() {
    let _heavy = heavy().await;
    let server = ServedBinary::start(&[AccountSpec::new("mallory")], POOL_SETTINGS);
    let handle = key_login_from(loopback(2), server.addr(), "mallory", &server.client_key())
        .await
        .unwrap();
    let mut sftp = sftp_on(&handle).await.unwrap();
    // Empty files cost nothing against a quota; made on the host for speed.
    let folder = server.home("mallory").join("many");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..LISTED_FILES {
        std::fs::File::create(folder.join(format!("file-{i:05}"))).unwrap();
    }
    sftp.list(b"/many").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.stats().rss_bytes;
    let started = Instant::now();
    let (handles, refusal) = sftp.open_dir_many(b"/many", DIR_HANDLES).await;
    let opened_in = started.elapsed();
    let open = server.stats().rss_bytes;
    for dir in &handles {
        sftp.close(dir).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.stats().rss_bytes;
    let grown = open.saturating_sub(before);
    let kept = after.saturating_sub(before);
    figure("memory.opendir_handles", handles.len());
    figure(
        "memory.opendir_seconds",
        format!("{:.1}", opened_in.as_secs_f64()),
    );
    figure(
        "memory.opendir_rss_before_mib",
        format!("{:.0}", mib(before)),
    );
    figure("memory.opendir_rss_open_mib", format!("{:.0}", mib(open)));
    figure(
        "memory.opendir_rss_after_close_mib",
        format!("{:.0}", mib(after)),
    );
    if let Some(refusal) = refusal {
        println!("after {} directory handles: {refusal}", handles.len());
    }
    assert!(
        grown < MAX_OPENDIR_GROWTH_BYTES && kept < MAX_OPENDIR_KEPT_BYTES,
        "{} directory handles on a folder of {LISTED_FILES} empty files: resident memory \
         {:.0} MiB -> {:.0} MiB while open (+{:.0}), {:.0} MiB after closing them (+{:.0}); \
         bounds +{:.0} and +{:.0}",
        handles.len(),
        mib(before),
        mib(open),
        mib(grown),
        mib(after),
        mib(kept),
        mib(MAX_OPENDIR_GROWTH_BYTES),
        mib(MAX_OPENDIR_KEPT_BYTES),
    );
}

/// Failed password logins made at once, and the source addresses they
/// come from (under the default 64 connections per address).
const PARALLEL_GUESSES: usize = 100;
const GUESS_SOURCES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_failed_password_logins_leave_the_server_small() {
    let _heavy = heavy().await;
    let server = ServedBinary::start(
        &[AccountSpec::new("alice")],
        "[limits]\nmax_startups = 200\nshutdown_grace_seconds = 2\n",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.stats().rss_bytes;
    let addr = server.addr();
    let attempts: Vec<_> = (0..PARALLEL_GUESSES)
        .map(|i| {
            let source = loopback(2 + (i % GUESS_SOURCES) as u8);
            tokio::spawn(common::attack::password_attempt_from(
                source,
                addr,
                "alice",
                "not-the-password",
            ))
        })
        .collect();
    let mut refused = 0;
    let mut no_answer = 0;
    let started = Instant::now();
    for attempt in attempts {
        match tokio::time::timeout(Duration::from_secs(60), attempt).await {
            Ok(Ok(common::attack::PasswordOutcome::Refused)) => refused += 1,
            Ok(Ok(common::attack::PasswordOutcome::Accepted)) => panic!("a wrong password worked"),
            _ => no_answer += 1,
        }
    }
    let took = started.elapsed();
    let peak_seen = server.stats().rss_bytes;
    // Idle now: what the server keeps is what every later client pays for.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.stats().rss_bytes;
    let kept = after.saturating_sub(before);
    figure("memory.password_guesses_refused", refused);
    figure("memory.password_guesses_unanswered", no_answer);
    figure(
        "memory.password_guesses_seconds",
        format!("{:.1}", took.as_secs_f64()),
    );
    figure(
        "memory.password_rss_before_mib",
        format!("{:.0}", mib(before)),
    );
    figure(
        "memory.password_rss_idle_after_mib",
        format!("{:.0}", mib(after)),
    );
    assert!(
        kept < MAX_PASSWORD_KEPT_BYTES,
        "{PARALLEL_GUESSES} parallel failed password logins ({refused} refused, {no_answer} \
         unanswered, {took:?}) left the idle server at {:.0} MiB resident (+{:.0} from {:.0}; \
         {:.0} MiB just after); bound +{:.0}",
        mib(after),
        mib(kept),
        mib(before),
        mib(peak_seen),
        mib(MAX_PASSWORD_KEPT_BYTES),
    );
}

// ------------------------------------------------------------ 7. CPU for one command line

/// Files in the home the globs are matched against.
const GLOB_HOME_FILES: usize = 400;

/// CPU one command line may cost the server, at most.
const MAX_COMMAND_LINE_CPU: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_kib_line_of_globs_that_match_nothing_is_answered_cheaply() {
    let _heavy = heavy().await;
    let GlobLine {
        line,
        answer,
        waited,
        cpu,
    } = glob_line(POOL_SETTINGS, GLOB_HOME_FILES, Duration::from_secs(20)).await;
    figure("exec.glob_line_bytes", line.len());
    figure(
        "exec.glob_line_seconds",
        format!("{:.1}", waited.as_secs_f64()),
    );
    figure(
        "exec.glob_line_cpu_seconds",
        format!("{:.1}", cpu.as_secs_f64()),
    );
    let status = match answer {
        Ok(Ok(output)) => output.status,
        Ok(Err(err)) => panic!("the command failed after {waited:?}: {err}"),
        Err(_) => panic!(
            "a {} byte line of globs was not answered within {waited:?}; the server has \
             spent {cpu:?} of CPU on it so far",
            line.len()
        ),
    };
    assert!(status.is_some(), "no exit status after {waited:?}");
    assert!(
        cpu < MAX_COMMAND_LINE_CPU,
        "a {} byte line of globs cost the server {cpu:?} of CPU ({waited:?}) before it \
         answered with exit status {status:?}",
        line.len()
    );
}

/// What one line of globs that match nothing cost the server.
struct GlobLine {
    /// The line sent.
    line: Vec<u8>,
    /// The command's output, or `Err` if it got none in time.
    answer: Result<Result<common::attack::CommandOutput, String>, tokio::time::error::Elapsed>,
    /// How long the answer took.
    waited: Duration,
    /// The server's CPU time meanwhile.
    cpu: Duration,
}

/// Starts a server with `settings` whose account mallory holds `files`
/// empty files and runs `ls *q* *q* …` in it, a line of about 16 000 globs
/// (just under 64 KiB) that match none of them, waiting at most `limit`.
async fn glob_line(settings: &str, files: usize, limit: Duration) -> GlobLine {
    let server = ServedBinary::start(&[AccountSpec::new("mallory")], settings);
    let handle = key_login_from(loopback(2), server.addr(), "mallory", &server.client_key())
        .await
        .unwrap();
    let home = server.home("mallory");
    std::fs::create_dir_all(&home).unwrap();
    for i in 0..files {
        std::fs::File::create(home.join(format!("file-{i:05}.txt"))).unwrap();
    }
    let mut line = b"ls".to_vec();
    while line.len() + 4 < 64 * 1024 - 256 {
        line.extend_from_slice(b" *q*");
    }
    let cpu_before = server.stats().cpu;
    let started = Instant::now();
    let answer = tokio::time::timeout(limit, common::attack::exec_on(&handle, &line)).await;
    let waited = started.elapsed();
    let cpu = server.stats().cpu.saturating_sub(cpu_before);
    GlobLine {
        line,
        answer,
        waited,
        cpu,
    }
}

// ------------------------------------------------------------ full scale (benches/abuse.sh)

/// Seconds from the environment variable `name`, or `default`.
fn seconds_from_env(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Finding 1 at default settings, watched for longer: how long the victim
/// waits, whether the hashes outlive their client, whether SIGTERM ends
/// the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full scale; run by benches/abuse.sh"]
async fn full_scale_blocking_pool_starvation() {
    let _heavy = heavy().await;
    let victim_wait = seconds_from_env("ABUSE_VICTIM_WAIT", 120);
    let mut server = ServedBinary::start(&pool_accounts(), "");
    let (attacker, sender, asked) = start_hashing(&server).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = server.stats();
    let started = Instant::now();
    let listing = tokio::time::timeout(
        victim_wait,
        list_root_from(loopback(3), server.addr(), "alice", &server.client_key()),
    )
    .await;
    figure("full.pool.hashes_asked", asked);
    figure("full.pool.threads_during_attack", during.threads);
    figure("full.pool.busy_threads_during_attack", during.busy_threads);
    figure(
        "full.pool.victim_listing",
        match listing {
            Ok(Ok(n)) => format!("{n} entries after {:.1} s", started.elapsed().as_secs_f64()),
            Ok(Err(err)) => format!(
                "failed after {:.1} s: {err}",
                started.elapsed().as_secs_f64()
            ),
            Err(_) => format!("no answer within {} s", victim_wait.as_secs()),
        },
    );
    let _ = attacker
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    drop((sender, attacker));
    tokio::time::sleep(Duration::from_secs(30)).await;
    figure(
        "full.pool.busy_threads_30s_after_disconnect",
        busy_threads_over_a_second(&server).await,
    );
    figure(
        "full.pool.cpu_cores_30s_after_disconnect",
        format!("{:.2}", server.cpu_share_over(Duration::from_secs(5)).await),
    );
    figure(
        "full.pool.threads_30s_after_disconnect",
        server.stats().threads,
    );
    let signalled = Instant::now();
    server.signal("TERM");
    // The default grace is 30 s; give it twice that.
    let status = server.wait_exit(Duration::from_secs(60));
    figure(
        "full.pool.sigterm",
        match status {
            Some(status) => format!(
                "exited ({status}) after {:.1} s",
                signalled.elapsed().as_secs_f64()
            ),
            None => format!(
                "still running after 60 s; logged \"stopped\": {}",
                server.log_count(": stopped") > 0
            ),
        },
    );
}

/// Finding 2 at default limits (idle timeout shortened to `ABUSE_IDLE`
/// seconds, 60 by default): 32 wedged connections lock the account out,
/// 64 lock out every account from their address, and they are still held
/// well past the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full scale; run by benches/abuse.sh"]
async fn full_scale_wedged_connections() {
    let idle = seconds_from_env("ABUSE_IDLE", 60);
    let server = TestServer::start_with_limits(
        &[
            AccountSpec::new("mallory"),
            AccountSpec::new("mallet"),
            AccountSpec::new("alice"),
        ],
        Limits {
            idle_timeout: idle,
            ..Limits::default()
        },
    );
    let key = server.client_key();
    let addr = server.addr();
    let mut wedged = Vec::new();
    for user in ["mallory", "mallet"] {
        for _ in 0..32 {
            match wedged_connection(loopback(2), addr, user, &key).await {
                Ok(connection) => wedged.push(connection),
                Err(err) => println!("wedging as {user}: {err}"),
            }
        }
    }
    let quiet = Instant::now();
    let report = |when: &str, account: &Result<Ssh, String>, address: &Result<Ssh, String>| {
        let show = |r: &Result<Ssh, String>| match r {
            Ok(_) => "logs in".to_owned(),
            Err(err) => format!("refused ({err})"),
        };
        figure(
            &format!("full.wedge.mallory_from_127.0.0.3_{when}"),
            show(account),
        );
        figure(
            &format!("full.wedge.alice_from_127.0.0.2_{when}"),
            show(address),
        );
    };
    figure("full.wedge.connections_wedged", wedged.len());
    let account = key_login_from(loopback(3), addr, "mallory", &key).await;
    let address = key_login_from(loopback(2), addr, "alice", &key).await;
    report("at_once", &account, &address);
    drop((account, address));
    let wait = idle + Duration::from_secs(30);
    tokio::time::sleep_until((quiet + wait).into()).await;
    let account = key_login_from(loopback(4), addr, "mallory", &key).await;
    let address = key_login_from(loopback(2), addr, "alice", &key).await;
    report(
        &format!("after_{}s_idle_timeout_{}s", wait.as_secs(), idle.as_secs()),
        &account,
        &address,
    );
    drop(wedged);
}

/// Finding 3 at the machine's own descriptor limit: how many connections
/// of one account it takes, and whether another account still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full scale; run by benches/abuse.sh"]
async fn full_scale_descriptor_exhaustion() {
    let _heavy = heavy().await;
    let server = ServedBinary::start(
        &[AccountSpec::new("mallory"), AccountSpec::new("alice")],
        "",
    );
    let key = server.client_key();
    let mut logins: Vec<Ssh> = Vec::new();
    let mut held = Vec::new();
    let mut handles_held = 0;
    // Up to 10 channels (max_channels_per_connection) of 1024 handles each
    // per connection, until the server refuses or stops answering.
    'attack: for _ in 0..32 {
        let Ok(Ok(handle)) = tokio::time::timeout(
            Duration::from_secs(10),
            key_login_from(loopback(2), server.addr(), "mallory", &key),
        )
        .await
        else {
            break;
        };
        logins.push(handle);
        let handle = logins.last().unwrap();
        for _ in 0..10 {
            let Ok(Ok(mut sftp)) =
                tokio::time::timeout(Duration::from_secs(10), sftp_on(handle)).await
            else {
                break 'attack;
            };
            if handles_held == 0 {
                sftp.put(b"f", b"x").await.unwrap();
            }
            let (handles, refusal) = sftp.open_many(b"f", pflags::READ, 1024).await;
            handles_held += handles.len();
            held.push((sftp, handles));
            if let Some(refusal) = refusal {
                println!("after {handles_held} handles: {refusal}");
                break 'attack;
            }
        }
    }
    let connections = logins.len();
    let stats = server.stats();
    let started = Instant::now();
    let victim = tokio::time::timeout(Duration::from_secs(30), async {
        let handle = key_login_from(loopback(3), server.addr(), "alice", &key).await?;
        let mut sftp = sftp_on(&handle).await?;
        sftp.put(b"note.txt", b"still here\n").await
    })
    .await;
    figure("full.fds.attacker_connections", connections);
    figure("full.fds.attacker_handles", handles_held);
    figure("full.fds.server_open_files", stats.open_files);
    figure(
        "full.fds.victim",
        match victim {
            Ok(Ok(())) => format!(
                "wrote a file after {:.1} s",
                started.elapsed().as_secs_f64()
            ),
            Ok(Err(err)) => format!("failed: {err}"),
            Err(_) => "no answer within 30 s".into(),
        },
    );
    figure(
        "full.fds.accept_failures_logged",
        server.log_count("accept failed"),
    );
}

/// Finding 7 with a home of 1000 files: how much CPU one line costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full scale; run by benches/abuse.sh"]
async fn full_scale_glob_line() {
    let _heavy = heavy().await;
    let GlobLine {
        answer,
        waited,
        cpu,
        ..
    } = glob_line("", 1000, Duration::from_secs(300)).await;
    figure(
        "full.exec.glob_line_1000_files",
        format!(
            "{} after {:.1} s, {:.1} s of server CPU",
            match answer {
                Ok(Ok(o)) => format!("exit {:?}", o.status),
                Ok(Err(err)) => format!("failed ({err})"),
                Err(_) => "no answer".into(),
            },
            waited.as_secs_f64(),
            cpu.as_secs_f64()
        ),
    );
}
