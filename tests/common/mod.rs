//! The test harness: a real sftpbox on an ephemeral port in a temp deployment
//! folder, driven by the russh client and the OpenSSH binaries, and the
//! helpers every test file shares (`client`, `files`, `host`, `process`,
//! and `binary` for the binary run as a child process).
//!
//! Each test crate uses a part of this, hence `dead_code`; the helpers run
//! outside `#[test]` fns, where clippy.toml's test allowances do not reach.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

pub mod attack;
pub mod binary;
pub mod client;
pub mod files;
pub mod host;
pub mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use russh::keys::PrivateKeyWithHashAlg;
use sftpbox::accounts::Accounts;
use sftpbox::config::Limits;
use sftpbox::server::{Server, ServerSettings};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use client::AcceptAnyHostKey;
use process::{assert_ok, generate_key, require_tool, run_with_stdin};

/// Sends the server's log to the test output when RUST_LOG is set
/// (`RUST_LOG=debug cargo test --test clients`).
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// One account of a test deployment.
#[derive(Clone)]
pub struct AccountSpec {
    pub name: String,
    pub password: Option<String>,
    pub with_key: bool,
    pub quota: Option<u64>,
    pub max_files: Option<u64>,
    pub readonly: bool,
    pub commands: Vec<String>,
    /// `upload_rate` and `download_rate` as written in accounts.toml.
    pub upload_rate: Option<String>,
    pub download_rate: Option<String>,
    /// More lines of the account's table, as written.
    pub extra: Vec<String>,
}

impl AccountSpec {
    /// An account with a password and the harness's client key.
    pub fn new(name: &str) -> AccountSpec {
        AccountSpec {
            name: name.to_owned(),
            password: Some(format!("{name}-secret")),
            with_key: true,
            quota: None,
            max_files: None,
            readonly: false,
            commands: Vec::new(),
            upload_rate: None,
            download_rate: None,
            extra: Vec::new(),
        }
    }

    /// `upload_rate = "{upload}"` and `download_rate = "{download}"`.
    pub fn rates(mut self, upload: &str, download: &str) -> AccountSpec {
        self.upload_rate = Some(upload.to_owned());
        self.download_rate = Some(download.to_owned());
        self
    }

    /// Adds `line` (`key = value`) to the account's table.
    pub fn with(mut self, line: &str) -> AccountSpec {
        self.extra.push(line.to_owned());
        self
    }

    pub fn quota(mut self, bytes: u64) -> AccountSpec {
        self.quota = Some(bytes);
        self
    }

    pub fn max_files(mut self, files: u64) -> AccountSpec {
        self.max_files = Some(files);
        self
    }

    pub fn readonly(mut self) -> AccountSpec {
        self.readonly = true;
        self
    }

    pub fn commands(mut self, commands: &[&str]) -> AccountSpec {
        self.commands = commands.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    pub fn password_only(mut self) -> AccountSpec {
        self.with_key = false;
        self
    }
}

/// A running server in its own temp deployment folder; stops on drop.
pub struct TestServer {
    pub dir: TempDir,
    addr: SocketAddr,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    server: Option<Server>,
    pub accounts: Vec<AccountSpec>,
    limits: Limits,
    /// Names the next file [`TestServer::sftp_put`] writes on the client side.
    uploads: AtomicUsize,
}

/// The client key pair every key-enabled test account trusts.
pub fn client_key_path(dir: &Path) -> PathBuf {
    dir.join("client_ed25519")
}

impl TestServer {
    /// Writes a deployment for `accounts` and starts a server on 127.0.0.1:0.
    pub fn start(accounts: &[AccountSpec]) -> TestServer {
        TestServer::start_with_limits(
            accounts,
            Limits {
                shutdown_grace: Duration::from_secs(3),
                ..Limits::default()
            },
        )
    }

    /// Like [`TestServer::start`] with chosen limits.
    pub fn start_with_limits(accounts: &[AccountSpec], limits: Limits) -> TestServer {
        init_logging();
        let dir = tempfile::tempdir().unwrap();
        let key = client_key_path(dir.path());
        generate_key(&key);
        std::fs::create_dir_all(dir.path().join("homes")).unwrap();
        let text = accounts_toml(
            accounts,
            &std::fs::read_to_string(key.with_extension("pub")).unwrap(),
        );
        std::fs::write(dir.path().join("accounts.toml"), text).unwrap();
        let mut server = TestServer {
            dir,
            addr: "127.0.0.1:0".parse().unwrap(),
            shutdown: CancellationToken::new(),
            thread: None,
            server: None,
            accounts: accounts.to_vec(),
            limits,
            uploads: AtomicUsize::new(0),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let base = self.dir.path().to_owned();
        let accounts = Accounts::load(&base.join("accounts.toml")).unwrap();
        let host_keys = sftpbox::host_keys::load_or_create(&base.join("keys")).unwrap();
        let limits = self.limits.clone();
        let settings = ServerSettings {
            limits,
            penalties: sftpbox::config::PenaltySettings::default(),
            accounts,
            accounts_path: base.join("accounts.toml"),
            homes: base.join("homes"),
            host_keys,
            proxy_protocol_from: Vec::new(),
        };
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        self.addr = std_listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        self.shutdown = shutdown.clone();
        let server = Server::new(settings);
        self.server = Some(server.clone());
        self.thread = Some(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                server.run(vec![listener], shutdown).await.unwrap();
            });
        }));
    }

    /// Stops the server (as SIGTERM would) and waits for it.
    pub fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    /// Stops and starts again on the same folder (a new port).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Reloads accounts.toml as SIGHUP does.
    pub fn reload_accounts(&self) {
        let _ = self.server.as_ref().unwrap().reload_accounts();
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The host path of `user`'s home.
    pub fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join("homes").join(user)
    }

    /// Logs `user` in once, so that the server creates the home, and
    /// returns the home's host path.
    pub fn create_home(&self, user: &str) -> PathBuf {
        assert_ok(&self.sftp_batch(user, "pwd\n"));
        let home = self.home(user);
        assert!(home.is_dir(), "no home at {} after a login", home.display());
        home
    }

    /// The server's public host key file.
    pub fn host_key_pub(&self) -> PathBuf {
        self.dir.path().join("keys/ssh_host_ed25519_key.pub")
    }

    /// The path of `name` in the client's folder: in the deployment folder,
    /// outside every home (the folder is created the first time).
    pub fn local(&self, name: &str) -> PathBuf {
        let local = self.dir.path().join("local");
        std::fs::create_dir_all(&local).unwrap();
        local.join(name)
    }

    /// Writes `data` to [`local`](Self::local)`(name)` and returns its path.
    pub fn local_file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.local(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    /// Uploads `data` as `remote` with OpenSSH `sftp` (`put`) as `user`.
    pub fn sftp_put(&self, user: &str, remote: &str, data: &[u8]) -> Output {
        let n = self.uploads.fetch_add(1, Ordering::Relaxed);
        let local = self.local_file(&format!("upload-{n}"), data);
        self.sftp_batch(user, &format!("put {} {remote}\n", local.display()))
    }

    pub fn client_key(&self) -> PathBuf {
        client_key_path(self.dir.path())
    }

    pub fn password(&self, user: &str) -> String {
        self.accounts
            .iter()
            .find(|a| a.name == user)
            .and_then(|a| a.password.clone())
            .unwrap_or_default()
    }

    /// Options every OpenSSH client gets: this server's port, a private
    /// known_hosts, no agent, no config.
    pub fn openssh_options(&self, port_flag: &str) -> Vec<String> {
        let known_hosts = self.dir.path().join("known_hosts");
        vec![
            port_flag.to_owned(),
            self.port().to_string(),
            "-F".into(),
            "/dev/null".into(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "IdentityAgent=none".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-o".into(),
            "ConnectTimeout=20".into(),
        ]
    }

    /// Runs an OpenSSH `sftp -b -` batch as `user` with the client key.
    pub fn sftp_batch(&self, user: &str, script: &str) -> Output {
        self.sftp_batch_with(user, script, &[])
    }

    /// Like [`sftp_batch`] with extra `sftp` arguments (e.g. `-a`, `-c aes128-gcm@openssh.com`).
    pub fn sftp_batch_with(&self, user: &str, script: &str, extra: &[&str]) -> Output {
        self.sftp_batch_bytes(user, script.as_bytes(), extra)
    }

    /// Like [`sftp_batch_with`] with a script of any bytes (names that are
    /// not UTF-8).
    pub fn sftp_batch_bytes(&self, user: &str, script: &[u8], extra: &[&str]) -> Output {
        let sftp = require_tool("sftp");
        let mut cmd = Command::new(sftp);
        cmd.args(self.openssh_options("-P"))
            .args(["-o", "BatchMode=yes", "-i"])
            .arg(self.client_key())
            .args(extra)
            .args(["-b", "-"])
            .arg(format!("{user}@127.0.0.1"));
        run_with_stdin(cmd, script)
    }

    /// Runs the paramiko `script` (python source) with this server's port,
    /// the client key's path and `args` as its arguments, under the
    /// harness's client timeout.
    pub fn paramiko(&self, script: &str, args: &[&str]) -> Output {
        let path = self.dir.path().join(format!(
            "paramiko-{}.py",
            files::sha256_hex(script.as_bytes())
        ));
        std::fs::write(&path, script).unwrap();
        let mut cmd = process::with_timeout(&process::require_paramiko(), self.dir.path());
        cmd.arg(&path)
            .arg(self.port().to_string())
            .arg(self.client_key())
            .args(args);
        cmd.output().unwrap()
    }

    /// Runs the OpenSSH `ssh` client as `user` with the client key and no
    /// terminal (`-T`): `command_args` is the remote command (ssh joins the
    /// words with spaces; none asks for a shell), `stdin` is piped in.
    pub fn ssh(&self, user: &str, command_args: &[&str], stdin: &[u8]) -> Output {
        self.ssh_with(user, &["-T"], command_args, stdin)
    }

    /// Like [`ssh`] with other client flags instead of `-T` (e.g. `-tt`).
    pub fn ssh_with(
        &self,
        user: &str,
        flags: &[&str],
        command_args: &[&str],
        stdin: &[u8],
    ) -> Output {
        run_with_stdin(self.ssh_command(user, flags, command_args), stdin)
    }

    /// The OpenSSH `ssh` command line of [`ssh_with`](Self::ssh_with), to
    /// run after setting more of it (such as the client's environment).
    pub fn ssh_command(&self, user: &str, flags: &[&str], command_args: &[&str]) -> Command {
        let mut cmd = Command::new(require_tool("ssh"));
        cmd.args(self.openssh_options("-p"))
            .args(["-o", "BatchMode=yes", "-i"])
            .arg(self.client_key())
            .args(flags)
            .arg(format!("{user}@127.0.0.1"))
            .args(command_args);
        cmd
    }

    /// The OpenSSH `scp` client with this server's options, `BatchMode` and
    /// the client key; `args` follow (add `-O` for the legacy protocol;
    /// remote paths as `alice@127.0.0.1:path`).
    pub fn scp_command(&self, args: &[&str]) -> Command {
        let scp = require_tool("scp");
        let mut cmd = Command::new(scp);
        cmd.args(self.openssh_options("-P"))
            .args(["-o", "BatchMode=yes", "-i"])
            .arg(self.client_key())
            .args(args);
        cmd
    }

    /// Runs [`scp_command`](Self::scp_command) to the end, stdin empty.
    pub fn scp(&self, args: &[&str]) -> Output {
        run_with_stdin(self.scp_command(args), b"")
    }

    /// The OpenSSH `ssh` command line that rsync's `-e` and git's
    /// `GIT_SSH_COMMAND` run: this server's options and the client key
    /// (the words hold no spaces: temp paths).
    pub fn ssh_line(&self) -> String {
        let mut words = vec![require_tool("ssh").display().to_string()];
        words.extend(self.openssh_options("-p"));
        words.extend(["-o".into(), "BatchMode=yes".into(), "-i".into()]);
        words.push(self.client_key().display().to_string());
        words.join(" ")
    }

    /// The real `rsync` client over [`ssh_line`](Self::ssh_line), under the
    /// harness's client timeout, run in the client's folder
    /// ([`local`](Self::local)); remote paths as `alice@127.0.0.1:path`.
    pub fn rsync_command(&self, args: &[&str]) -> Command {
        let mut cmd = process::with_timeout(&require_tool("rsync"), &self.local(""));
        cmd.arg("-e").arg(self.ssh_line()).args(args);
        cmd
    }

    /// Runs [`rsync_command`](Self::rsync_command) to the end.
    pub fn rsync(&self, args: &[&str]) -> Output {
        self.rsync_command(args).output().unwrap()
    }

    /// The real `git` client in `dir`, reaching this server through
    /// [`ssh_line`](Self::ssh_line), with no system or user configuration
    /// of the host (its HOME is the deployment folder) and a fixed author.
    pub fn git_command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = process::with_timeout(&require_tool("git"), dir);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_SSH_COMMAND", self.ssh_line())
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.org")
            .env("GIT_COMMITTER_NAME", "Alice")
            .env("GIT_COMMITTER_EMAIL", "alice@example.org")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "advice.detachedHead=false",
            ])
            .args(args);
        cmd
    }

    /// Runs [`git_command`](Self::git_command) to the end.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Output {
        self.git_command(dir, args).output().unwrap()
    }

    /// Runs an OpenSSH `sftp -b -` batch as `user` logging in with `password`.
    pub fn sftp_batch_password(&self, user: &str, password: &str, script: &str) -> Output {
        let sftp = require_tool("sftp");
        let askpass = self.askpass(password);
        let mut cmd = Command::new(sftp);
        cmd.args(self.openssh_options("-P"))
            .args([
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "BatchMode=no",
            ])
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .args(["-b", "-"])
            .arg(format!("{user}@127.0.0.1"));
        run_with_stdin(cmd, script.as_bytes())
    }

    /// A script that prints `password`, for SSH_ASKPASS.
    pub fn askpass(&self, password: &str) -> PathBuf {
        let path = self.dir.path().join(format!("askpass-{}", password.len()));
        let secret = self
            .dir
            .path()
            .join(format!("askpass-{}.txt", password.len()));
        std::fs::write(&secret, password).unwrap();
        std::fs::write(&path, format!("#!/bin/sh\ncat '{}'\n", secret.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        path
    }

    /// An SSH connection from the russh client, logged in as `user` with the client key.
    pub async fn russh_login(&self, user: &str) -> russh::client::Handle<AcceptAnyHostKey> {
        let mut handle = self.russh_connect().await;
        let key = russh::keys::load_secret_key(self.client_key(), None).unwrap();
        let result = handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), None))
            .await
            .unwrap();
        assert!(result.success(), "key login as {user} failed");
        handle
    }

    /// An unauthenticated SSH connection from the russh client.
    pub async fn russh_connect(&self) -> russh::client::Handle<AcceptAnyHostKey> {
        client::connect(self.addr).await
    }

    /// An SFTP session over the russh client, as `user`.
    pub async fn russh_sftp(&self, user: &str) -> russh_sftp::client::SftpSession {
        let handle = self.russh_login(user).await;
        let channel = handle.channel_open_session().await.unwrap();
        channel.request_subsystem(true, "sftp").await.unwrap();
        let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
            .await
            .unwrap();
        // Keep the connection alive as long as the session: leak the handle into a task.
        tokio::spawn(async move {
            let _handle = handle;
            std::future::pending::<()>().await;
        });
        sftp
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accounts_toml(accounts: &[AccountSpec], public_key: &str) -> String {
    let mut text = String::new();
    for a in accounts {
        text.push_str(&format!("[users.{}]\n", a.name));
        if let Some(pw) = &a.password {
            let hash = sftpbox::accounts::hash_password(pw).unwrap();
            text.push_str(&format!("password = \"{hash}\"\n"));
        }
        if a.with_key {
            text.push_str(&format!("keys = [\"{}\"]\n", public_key.trim()));
        }
        if let Some(q) = a.quota {
            text.push_str(&format!("quota = {q}\n"));
        }
        if let Some(n) = a.max_files {
            text.push_str(&format!("max_files = {n}\n"));
        }
        if a.readonly {
            text.push_str("readonly = true\n");
        }
        if let Some(rate) = &a.upload_rate {
            text.push_str(&format!("upload_rate = \"{rate}\"\n"));
        }
        if let Some(rate) = &a.download_rate {
            text.push_str(&format!("download_rate = \"{rate}\"\n"));
        }
        if !a.commands.is_empty() {
            let list: Vec<String> = a.commands.iter().map(|c| format!("\"{c}\"")).collect();
            text.push_str(&format!("commands = [{}]\n", list.join(", ")));
        }
        for line in &a.extra {
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
    }
    text
}
