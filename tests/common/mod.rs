//! The test harness: a real sftpbox on an ephemeral port in a temp deployment
//! folder, driven by the russh client and the OpenSSH binaries.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKeyWithHashAlg;
use sftpbox::accounts::Accounts;
use sftpbox::config::Limits;
use sftpbox::server::{Server, ServerSettings};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// Fails the test when a tool it needs is not installed.
pub fn require_tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("this test needs `{name}`, which is not installed (see .ci/run)");
}

/// One account of a test deployment.
#[derive(Clone)]
pub struct AccountSpec {
    pub name: String,
    pub password: Option<String>,
    pub with_key: bool,
    pub quota: Option<u64>,
    pub readonly: bool,
    pub commands: Vec<String>,
}

impl AccountSpec {
    /// An account with a password and the harness's client key.
    pub fn new(name: &str) -> AccountSpec {
        AccountSpec {
            name: name.to_owned(),
            password: Some(format!("{name}-secret")),
            with_key: true,
            quota: None,
            readonly: false,
            commands: Vec::new(),
        }
    }

    pub fn quota(mut self, bytes: u64) -> AccountSpec {
        self.quota = Some(bytes);
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
        let dir = tempfile::tempdir().unwrap();
        let key = client_key_path(dir.path());
        let keygen = require_tool("ssh-keygen");
        let status = Command::new(keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@client", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
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
        self.server.as_ref().unwrap().reload_accounts();
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
        let sftp = require_tool("sftp");
        let mut cmd = Command::new(sftp);
        cmd.args(self.openssh_options("-P"))
            .args(["-o", "BatchMode=yes", "-i"])
            .arg(self.client_key())
            .args(extra)
            .args(["-b", "-"])
            .arg(format!("{user}@127.0.0.1"));
        run_with_stdin(cmd, script.as_bytes())
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
        let ssh = require_tool("ssh");
        let mut cmd = Command::new(ssh);
        cmd.args(self.openssh_options("-p"))
            .args(["-o", "BatchMode=yes", "-i"])
            .arg(self.client_key())
            .args(flags)
            .arg(format!("{user}@127.0.0.1"))
            .args(command_args);
        run_with_stdin(cmd, stdin)
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
        let config = Arc::new(russh::client::Config::default());
        russh::client::connect(config, self.addr, AcceptAnyHostKey)
            .await
            .unwrap()
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

/// A russh client handler that trusts any host key (tests only).
pub struct AcceptAnyHostKey;

impl russh::client::Handler for AcceptAnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
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
        if a.readonly {
            text.push_str("readonly = true\n");
        }
        if !a.commands.is_empty() {
            let list: Vec<String> = a.commands.iter().map(|c| format!("\"{c}\"")).collect();
            text.push_str(&format!("commands = [{}]\n", list.join(", ")));
        }
        text.push('\n');
    }
    text
}

/// Runs `cmd` with `input` on stdin and collects its output.
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 of `data` as hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Text of an output stream, for assertions.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a command succeeded, printing its streams when it did not.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "command failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Creates (or truncates) `name` and writes `data` through the russh SFTP client;
/// the error text is the server's status message.
pub async fn put(
    sftp: &russh_sftp::client::SftpSession,
    name: &str,
    data: &[u8],
) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut file = sftp.create(name).await.map_err(|e| e.to_string())?;
    file.write_all(data).await.map_err(|e| e.to_string())?;
    file.shutdown().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Status, stdout and stderr of a command, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// The non-empty lines of the host's /etc/passwd, which no client may see.
pub fn host_passwd_lines() -> Vec<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let lines: Vec<String> = passwd
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!lines.is_empty());
    lines
}

/// Asserts that no line of the host's /etc/passwd occurs in `seen`.
pub fn assert_no_host_passwd_in(seen: &str, what: &str) {
    for line in host_passwd_lines() {
        assert!(
            !seen.contains(&line),
            "{what} shows the host's /etc/passwd line {line:?}:\n{seen}"
        );
    }
}

pub mod attack;
pub mod binary;
