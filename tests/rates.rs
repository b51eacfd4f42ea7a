//! Per-account rates: `upload_rate` and `download_rate` are shared by every
//! session of the account, slow transfers down (never fail them), reach
//! SFTP, legacy scp and the built-ins, and follow a reload at once.
//!
//! The elapsed times asserted are lower bounds with a wide margin (what the
//! rate cannot let happen sooner); the measured rates of 1 and 8 sessions
//! are in benches/rates.sh.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::files::{pattern, sha256_hex};
use common::process::assert_ok;
use common::{AccountSpec, TestServer};

const MIB: usize = 1 << 20;

/// Each transfer's size: two of them at 4 MiB/s take 4 s, less the burst
/// an idle account is allowed (under half a second).
const SIZE: usize = 8 * MIB;

/// Two at once take at least this long at 4 MiB/s (4 s in theory).
const TWO_AT_FOUR_MIB: Duration = Duration::from_secs(3);

fn server() -> TestServer {
    TestServer::start(&[
        AccountSpec::new("alice").rates("4 MiB/s", "4 MiB/s"),
        AccountSpec::new("bob"),
    ])
}

#[test]
fn two_sftp_uploads_of_one_account_share_its_upload_rate() {
    let server = server();
    let files: Vec<Vec<u8>> = (0..2).map(|i| pattern(SIZE, 10 + i)).collect();
    let started = Instant::now();
    thread::scope(|scope| {
        for (i, data) in files.iter().enumerate() {
            let server = &server;
            scope.spawn(move || assert_ok(&server.sftp_put("alice", &format!("up{i}"), data)));
        }
    });
    let elapsed = started.elapsed();
    for (i, data) in files.iter().enumerate() {
        let stored = std::fs::read(server.home("alice").join(format!("up{i}"))).unwrap();
        assert_eq!(sha256_hex(&stored), sha256_hex(data), "up{i}");
    }
    assert!(
        elapsed >= TWO_AT_FOUR_MIB,
        "2 × 8 MiB went up in {elapsed:?}, faster than 4 MiB/s allows"
    );
}

#[test]
fn two_sftp_downloads_of_one_account_share_its_download_rate() {
    let server = server();
    let home = server.create_home("alice");
    let files: Vec<Vec<u8>> = (0..2).map(|i| pattern(SIZE, 20 + i)).collect();
    for (i, data) in files.iter().enumerate() {
        std::fs::write(home.join(format!("down{i}")), data).unwrap();
    }
    let started = Instant::now();
    thread::scope(|scope| {
        for i in 0..2 {
            let server = &server;
            scope.spawn(move || {
                let local = server.local(&format!("down{i}"));
                let script = format!("get down{i} {}\n", local.display());
                assert_ok(&server.sftp_batch("alice", &script));
            });
        }
    });
    let elapsed = started.elapsed();
    for (i, data) in files.iter().enumerate() {
        let got = std::fs::read(server.local(&format!("down{i}"))).unwrap();
        assert_eq!(sha256_hex(&got), sha256_hex(data), "down{i}");
    }
    assert!(
        elapsed >= TWO_AT_FOUR_MIB,
        "2 × 8 MiB came down in {elapsed:?}, faster than 4 MiB/s allows"
    );
}

#[test]
fn an_account_without_rates_moves_files_intact() {
    let server = server();
    let data = pattern(4 * SIZE, 30);
    assert_ok(&server.sftp_put("bob", "big", &data));
    let stored = std::fs::read(server.home("bob").join("big")).unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&data));
    let local = server.local("big-back");
    assert_ok(&server.sftp_batch("bob", &format!("get big {}\n", local.display())));
    assert_eq!(
        sha256_hex(&std::fs::read(&local).unwrap()),
        sha256_hex(&data)
    );
}

#[test]
fn legacy_scp_and_cat_follow_the_rates_too() {
    let server = server();
    let home = server.create_home("alice");
    let data = pattern(SIZE, 40);
    let local = server.local_file("scp-up", &data);

    // Up with `scp -O` (the server runs `scp -t`): 8 MiB at 4 MiB/s.
    let started = Instant::now();
    assert_ok(&server.scp(&["-O", local.to_str().unwrap(), "alice@127.0.0.1:scp-up"]));
    let up = started.elapsed();
    let stored = std::fs::read(home.join("scp-up")).unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&data));

    // Down with `scp -O` (`scp -f`).
    let back = server.local("scp-down");
    let started = Instant::now();
    assert_ok(&server.scp(&["-O", "alice@127.0.0.1:scp-up", back.to_str().unwrap()]));
    let down = started.elapsed();
    assert_eq!(
        sha256_hex(&std::fs::read(&back).unwrap()),
        sha256_hex(&data)
    );

    // Down with the `cat` built-in.
    let started = Instant::now();
    let output = server.ssh("alice", &["cat", "scp-up"], b"");
    let cat = started.elapsed();
    assert_ok(&output);
    assert_eq!(sha256_hex(&output.stdout), sha256_hex(&data));

    let least = Duration::from_millis(1500);
    assert!(up >= least, "scp -t took 8 MiB in {up:?}");
    assert!(down >= least, "scp -f sent 8 MiB in {down:?}");
    assert!(cat >= least, "cat sent 8 MiB in {cat:?}");
}

#[test]
fn a_reload_that_lifts_a_rate_speeds_up_a_running_upload() {
    let server = TestServer::start(&[AccountSpec::new("carol").rates("64 KiB/s", "64 KiB/s")]);
    let data = pattern(SIZE, 50);
    let started = Instant::now();
    thread::scope(|scope| {
        let upload = scope.spawn(|| server.sftp_put("carol", "slow", &data));
        // At 64 KiB/s the upload would take two minutes; lift the rate
        // while it runs.
        thread::sleep(Duration::from_secs(2));
        let path = server.dir.path().join("accounts.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("upload_rate = \"64 KiB/s\""), "{text}");
        let lifted: String = text
            .lines()
            .filter(|line| !line.starts_with("upload_rate"))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(&path, lifted).unwrap();
        server.reload_accounts();
        assert_ok(&upload.join().unwrap());
    });
    let elapsed = started.elapsed();
    let stored = std::fs::read(server.home("carol").join("slow")).unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&data));
    assert!(
        elapsed < Duration::from_secs(60),
        "the upload still ran at the old rate: {elapsed:?}"
    );
}
