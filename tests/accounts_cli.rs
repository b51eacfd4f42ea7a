//! Accounts from the command line, through the real binary: `sftpbox
//! account …` editing accounts.toml under a running `serve` (which it
//! reloads through the control socket), and the JSON log with its audit
//! events.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::binary::{ServeChild, free_port, sftpbox_in};
use common::files::sha256_hex;
use common::process::{assert_ok, describe, generate_key, require_tool, run_with_stdin, text};
use russh::keys::PrivateKeyWithHashAlg;
use serde_json::Value;

/// A `serve` process in its own deployment folder, logging JSON lines,
/// which the test reads.
struct Served {
    dir: tempfile::TempDir,
    port: u16,
    served: ServeChild,
}

impl Served {
    /// Writes `accounts` (with `{KEY}` replaced by the client's public key)
    /// and starts `serve` there.
    fn start(accounts: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("client_ed25519");
        generate_key(&key);
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        std::fs::write(
            dir.path().join("accounts.toml"),
            accounts.replace("{KEY}", public.trim()),
        )
        .unwrap();
        let port = free_port();
        std::fs::write(
            dir.path().join("sftpbox.toml"),
            format!("listen = \"127.0.0.1:{port}\"\nlog_format = \"json\"\n"),
        )
        .unwrap();
        let served = ServeChild::start(dir.path(), &[], |lines| {
            lines.iter().any(|l| l.contains("\"listening\""))
        });
        Served { dir, port, served }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Every log line so far, each parsed as JSON (a line that is not
    /// JSON fails the test).
    fn events(&self) -> Vec<Value> {
        self.served
            .lines()
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
            })
            .collect()
    }

    /// How many events with `message` there are now.
    fn count(&self, message: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e["message"] == message)
            .count()
    }

    /// Waits for an event with `message` that `matches`, and returns it.
    fn wait_for(&self, message: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(event) = self
                .events()
                .into_iter()
                .find(|e| e["message"] == message && matches(e))
            {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "no `{message}` event; the log:\n{}",
                self.served.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until there are more than `before` events with `message`.
    fn wait_for_more(&self, message: &str, before: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.count(message) <= before {
            assert!(Instant::now() < deadline, "no new `{message}` event");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `sftpbox account ARGS` in the deployment folder, `stdin` piped in.
    fn account(&self, args: &[&str], stdin: &str) -> Output {
        account_in(self.dir.path(), args, stdin)
    }

    fn openssh(&self, program: &str) -> Command {
        let mut cmd = Command::new(require_tool(program));
        cmd.args(["-P", &self.port.to_string(), "-F", "/dev/null"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.path("known_hosts").display()
            ))
            .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
            .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"]);
        cmd
    }

    /// An OpenSSH `sftp -b -` batch as `user` with the client key.
    fn sftp_key(&self, user: &str, script: &str) -> Output {
        let mut cmd = self.openssh("sftp");
        cmd.args(["-o", "BatchMode=yes", "-i"])
            .arg(self.path("client_ed25519"))
            .args(["-b", "-", &format!("{user}@127.0.0.1")]);
        run_with_stdin(cmd, script.as_bytes())
    }

    /// An OpenSSH `sftp -b -` batch as `user` logging in with `password`.
    fn sftp_password(&self, user: &str, password: &str, script: &str) -> Output {
        let secret = self.path("askpass.txt");
        std::fs::write(&secret, password).unwrap();
        let askpass = self.path("askpass");
        std::fs::write(&askpass, format!("#!/bin/sh\ncat '{}'\n", secret.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut cmd = self.openssh("sftp");
        cmd.args(["-o", "PreferredAuthentications=password"])
            .args(["-o", "PubkeyAuthentication=no"])
            .args(["-o", "NumberOfPasswordPrompts=1", "-o", "BatchMode=no"])
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .args(["-b", "-", &format!("{user}@127.0.0.1")]);
        run_with_stdin(cmd, script.as_bytes())
    }

    /// Writes `data` to a local file and `put`s it as `remote`.
    fn put(&self, user: &str, local: &str, remote: &str, data: &[u8]) -> Output {
        let local = self.path(local);
        std::fs::write(&local, data).unwrap();
        self.sftp_key(user, &format!("put {} {remote}\n", local.display()))
    }
}

/// `sftpbox account ARGS` in `dir`, `stdin` piped in.
fn account_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let args: Vec<&str> = std::iter::once("account")
        .chain(args.iter().copied())
        .collect();
    sftpbox_in(dir, &args, stdin.as_bytes())
}

const HEADER: &str = "\
# Accounts of the operations tests.
# This comment must survive every edit.

";

#[test]
fn an_added_account_logs_in_with_its_password_without_a_restart() {
    let served = Served::start(&format!("{HEADER}[users.bob]\nkeys = [\"{{KEY}}\"]\n"));
    let refused = served.sftp_password("alice", "n3w-secret", "pwd\n");
    assert!(
        !refused.status.success(),
        "alice logged in before she existed"
    );
    let reloads = served.count("accounts reloaded");
    let added = served.account(&["add", "alice", "--password"], "n3w-secret\n");
    assert_ok(&added);
    let said = text(&added.stdout);
    assert!(said.contains("account alice added"), "{said}");
    assert!(
        said.contains("the running server reloaded: 2 account(s) in force"),
        "the running server was not told: {said}"
    );
    assert!(!said.contains("n3w-secret") && !text(&added.stderr).contains("n3w-secret"));
    served.wait_for_more("accounts reloaded", reloads);
    assert_ok(&served.sftp_password("alice", "n3w-secret", "pwd\n"));
    let wrong = served.sftp_password("alice", "not-it", "pwd\n");
    assert!(!wrong.status.success());
    let file = std::fs::read_to_string(served.path("accounts.toml")).unwrap();
    assert!(file.starts_with(HEADER), "{file}");
    assert!(file.contains("password = \"$argon2id$"), "{file}");
    assert!(!file.contains("n3w-secret"));
    assert!(
        !served.served.lines().join("\n").contains("n3w-secret"),
        "the password reached the log"
    );
    let login = served.wait_for("login", |e| {
        e["account"] == "alice" && e["result"] == "accepted"
    });
    assert_eq!(login["method"], "password");
    assert!(login["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[test]
fn a_quota_set_while_serving_holds_at_the_next_write() {
    let served = Served::start("[users.carol]\nkeys = [\"{KEY}\"]\n");
    assert_ok(&served.put("carol", "a", "a.bin", &vec![7u8; 20_000]));
    let reloads = served.count("accounts reloaded");
    assert_ok(&served.account(&["set", "carol", "--quota", "30000"], ""));
    served.wait_for_more("accounts reloaded", reloads);
    let over = served.put("carol", "b", "b.bin", &vec![8u8; 20_000]);
    assert!(!over.status.success(), "a write over the new quota passed");
    let stored = |name: &str| {
        std::fs::metadata(served.path("homes/carol").join(name)).map_or(0, |m| m.len())
    };
    assert!(
        stored("a.bin") + stored("b.bin") <= 30_000,
        "the home holds more than the new quota"
    );
    // Raised again, the next write passes.
    let reloads = served.count("accounts reloaded");
    assert_ok(&served.account(&["set", "carol", "--quota", "100000"], ""));
    served.wait_for_more("accounts reloaded", reloads);
    assert_ok(&served.put("carol", "c", "c.bin", &vec![9u8; 20_000]));
    let listed = served.account(&["list", "--json"], "");
    assert_ok(&listed);
    let all: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let carol = &all[0];
    assert_eq!(carol["name"], "carol");
    assert_eq!(carol["quota"], 100000);
    let on_disk: u64 = std::fs::read_dir(served.path("homes/carol"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    // Usage counts the files' bytes (and what the folder itself takes).
    let used = carol["used"].as_u64().unwrap();
    assert!(
        (on_disk..on_disk + 65_536).contains(&used),
        "used {used}, files {on_disk}"
    );
    assert_eq!(carol["keys"].as_array().unwrap().len(), 1);
}

#[test]
fn edits_keep_comments_and_a_refused_change_leaves_the_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let original = format!(
        "{HEADER}# dave's own comment\n[users.dave]\nquota = \"1 GiB\"   # agreed in March\n\n# the end\n"
    );
    let path = dir.path().join("accounts.toml");
    std::fs::write(&path, &original).unwrap();

    // No server runs for this file: the change is written, and said so.
    let added = account_in(dir.path(), &["add", "erin", "--quota", "5 MiB"], "");
    assert_ok(&added);
    let said = text(&added.stdout);
    assert!(
        said.contains("no server is running, so the change takes effect when one starts"),
        "{said}"
    );
    let after_add = std::fs::read_to_string(&path).unwrap();
    assert!(after_add.starts_with(&original), "{after_add}");
    assert!(after_add.ends_with("[users.erin]\nquota = \"5 MiB\"\n"));

    assert_ok(&account_in(
        dir.path(),
        &["set", "dave", "--quota", "2 GiB"],
        "",
    ));
    let after_set = std::fs::read_to_string(&path).unwrap();
    assert!(after_set.contains("quota = \"2 GiB\"   # agreed in March\n"));
    assert!(after_set.starts_with(HEADER) && after_set.contains("# the end\n"));

    assert_ok(&account_in(dir.path(), &["remove", "erin"], ""));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        original.replace("1 GiB", "2 GiB")
    );
    assert_ok(&account_in(dir.path(), &["remove", "dave"], ""));
    let after_remove = std::fs::read_to_string(&path).unwrap();
    assert!(
        after_remove.starts_with(HEADER.trim_end()),
        "{after_remove}"
    );
    assert!(after_remove.contains("# the end"), "{after_remove}");
    assert!(!after_remove.contains("dave"), "{after_remove}");

    std::fs::write(&path, &original).unwrap();
    let bad_key = dir.path().join("bad.pub");
    std::fs::write(&bad_key, "ssh-dss AAAAB3NzaC1kc3MAAACBAP bad@key\n").unwrap();
    let refused: [&[&str]; 5] = [
        &["set", "dave", "--commands", "no-such-program-here"],
        &["add", "dave"],
        &["set", "nobody", "--readonly"],
        &["set", "dave", "--key", bad_key.to_str().unwrap()],
        &["set", "dave", "--quota", "lots"],
    ];
    for args in refused {
        let out = account_in(dir.path(), args, "");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            original.as_bytes(),
            "{args:?} changed the file"
        );
    }
    let out = account_in(
        dir.path(),
        &["set", "dave", "--key", bad_key.to_str().unwrap()],
        "",
    );
    assert!(
        text(&out.stderr).contains("accounts.toml:"),
        "the refusal names no place: {}",
        text(&out.stderr)
    );
}

#[test]
fn account_list_json_never_shows_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("accounts.toml"), "").unwrap();
    assert_ok(&account_in(
        dir.path(),
        &["add", "fay", "--password", "--readonly", "--commands", "wc"],
        "pw-of-fay\n",
    ));
    let listed = account_in(dir.path(), &["list", "--json"], "");
    assert_ok(&listed);
    let shown = text(&listed.stdout);
    assert!(!shown.contains("argon2"), "{shown}");
    let all: Value = serde_json::from_str(&shown).unwrap();
    let fay = &all[0];
    for field in [
        "name", "quota", "used", "keys", "commands", "readonly", "disabled",
    ] {
        assert!(fay.get(field).is_some(), "no {field} in {fay}");
    }
    assert_eq!(fay["readonly"], true);
    assert_eq!(fay["disabled"], false);
    assert_eq!(fay["quota"], Value::Null);
    assert_eq!(fay["commands"], serde_json::json!(["wc"]));
    assert_eq!(fay["max_files"], Value::Null);
    assert_ok(&account_in(
        dir.path(),
        &["set", "fay", "--disable", "--max-files", "3"],
        "",
    ));
    let written = std::fs::read_to_string(dir.path().join("accounts.toml")).unwrap();
    assert!(written.contains("max_files = 3\n"), "{written}");
    let shown = account_in(dir.path(), &["show", "fay"], "");
    assert!(text(&shown.stdout).contains("disabled:  yes"));
    assert!(text(&shown.stdout).contains("max files: 3\n"));
    assert!(!text(&shown.stdout).contains("argon2"));
    let bad = account_in(dir.path(), &["set", "fay", "--max-files", "lots"], "");
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    assert!(
        text(&bad.stderr).contains("--max-files"),
        "{}",
        describe(&bad)
    );
    assert_ok(&account_in(
        dir.path(),
        &["set", "fay", "--max-files", "none"],
        "",
    ));
    let written = std::fs::read_to_string(dir.path().join("accounts.toml")).unwrap();
    assert!(!written.contains("max_files"), "{written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_log_has_the_upload_sha256_only_for_files_written_in_order() {
    let served = Served::start("[users.gus]\nkeys = [\"{KEY}\"]\n");
    let data = common::files::pattern(300_000, 11);
    let put = tokio::task::block_in_place(|| served.put("gus", "in-order", "up.bin", &data));
    assert_ok(&put);
    let upload = served.wait_for("upload finished", |e| e["path"] == "/up.bin");
    assert_eq!(upload["target"], "audit");
    assert_eq!(upload["size"], data.len() as u64);
    let on_disk = std::fs::read(served.path("homes/gus/up.bin")).unwrap();
    assert_eq!(upload["sha256"], sha256_hex(&on_disk));
    assert_eq!(upload["sha256"], sha256_hex(&data));
    assert!(upload["duration_ms"].is_u64());

    // The second half first, then the first: no digest is claimed.
    let mut ssh = common::client::connect(([127, 0, 0, 1], served.port).into()).await;
    let key = russh::keys::load_secret_key(served.path("client_ed25519"), None).unwrap();
    assert!(
        ssh.authenticate_publickey("gus", PrivateKeyWithHashAlg::new(Arc::new(key), None))
            .await
            .unwrap()
            .success()
    );
    let channel = ssh.channel_open_session().await.unwrap();
    channel.request_subsystem(true, "sftp").await.unwrap();
    let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
        .await
        .unwrap();
    {
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        let mut file = sftp.create("ooo.bin").await.unwrap();
        let (first, second) = data.split_at(100_000);
        file.seek(std::io::SeekFrom::Start(100_000)).await.unwrap();
        file.write_all(second).await.unwrap();
        file.flush().await.unwrap();
        file.seek(std::io::SeekFrom::Start(0)).await.unwrap();
        file.write_all(first).await.unwrap();
        file.shutdown().await.unwrap();
    }
    let remove_target = sftp.remove_file("up.bin").await;
    assert!(remove_target.is_ok());
    sftp.create_dir("d").await.unwrap();
    sftp.rename("ooo.bin", "d/ooo.bin").await.unwrap();
    drop(sftp);
    let _ = ssh
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;

    let out_of_order = served.wait_for("upload finished", |e| e["path"] == "/ooo.bin");
    assert_eq!(out_of_order["size"], data.len() as u64);
    assert!(
        out_of_order.get("sha256").is_none(),
        "a digest for an out-of-order upload: {out_of_order}"
    );
    assert_eq!(
        std::fs::read(served.path("homes/gus/d/ooo.bin")).unwrap(),
        data
    );
    served.wait_for("remove", |e| e["path"] == "/up.bin" && e["result"] == "ok");
    served.wait_for("mkdir", |e| e["path"] == "/d");
    served.wait_for("rename", |e| {
        e["from"] == "/ooo.bin" && e["to"] == "/d/ooo.bin"
    });
    let ended = served.wait_for("session ended", |e| e["bytes_written"] == data.len() as u64);
    assert_eq!(ended["files"], 1);
    // Every line of the log is one JSON object.
    assert!(served.events().iter().all(Value::is_object));
}
