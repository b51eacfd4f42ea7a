//! A cluster on one machine, started by `scripts/cluster.sh` as a newcomer
//! would: one PostgreSQL, a three-node Garage with replication 3, and
//! three sftpbox nodes sharing accounts, namespace and quota. Driven by
//! OpenSSH's sftp, scp and ssh, checked byte for byte and against the
//! ledger in PostgreSQL (psql).
//!
//! Garage comes from `GARAGE` or the tool folders (CI installs it, see
//! .ci/run); PostgreSQL from Debian's package. A missing one fails.
//
// The cluster's helpers run outside `#[test]` fns, where clippy.toml's
// test allowances do not reach.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::files::{pattern, sha256_hex};
use common::process::{assert_ok, describe, generate_key, require_tool, text, with_timeout};

const BIN: &str = env!("CARGO_BIN_EXE_sftpbox");

/// How long a node may miss heartbeats before its reservations go back.
const NODE_TIMEOUT_SECONDS: u64 = 2;

fn garage() -> PathBuf {
    match std::env::var_os("GARAGE") {
        Some(path) => PathBuf::from(path),
        None => require_tool("garage"),
    }
}

/// One sftpbox node: its folder, port and process, with its log.
struct Node {
    port: u16,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    fn start(dir: PathBuf, port: u16) -> Node {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(dir.join("sftpbox.toml"))
            .current_dir(&dir)
            .env("RUST_LOG", "info,russh=error")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let listening = line.contains("listening");
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(line);
                    if listening {
                        let _ = tx.send(());
                    }
                }
            });
        }
        let mut node = Node {
            port,
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while rx.recv_timeout(Duration::from_millis(100)).is_err() {
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                panic!("node exited ({status}):\n{}", node.log());
            }
            assert!(
                Instant::now() < deadline,
                "node did not listen:\n{}",
                node.log()
            );
        }
        node
    }

    fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    /// SIGKILL: the node has no chance to give anything back.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One cluster at a time: each is seven processes, and the machine may
/// have two cores. A turn is held by a value that can move between
/// threads (a `MutexGuard` cannot), given back when it is dropped.
static BUSY: Mutex<bool> = Mutex::new(false);
static FREED: std::sync::Condvar = std::sync::Condvar::new();

struct Turn;

impl Turn {
    fn take() -> Turn {
        let mut busy = BUSY.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy {
            busy = FREED.wait(busy).unwrap_or_else(PoisonError::into_inner);
        }
        *busy = true;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *BUSY.lock().unwrap_or_else(PoisonError::into_inner) = false;
        FREED.notify_one();
    }
}

/// The whole cluster; stopped (and its folder removed) on drop.
struct Cluster {
    _turn: Turn,
    dir: tempfile::TempDir,
    script: PathBuf,
    nodes: Vec<Node>,
    postgres_port: u16,
    client_key: PathBuf,
}

impl Cluster {
    /// Starts PostgreSQL, Garage and three nodes; imports `accounts`
    /// (accounts.toml text, `KEY` replaced by the client's public key).
    fn start(accounts: &str) -> Cluster {
        let turn = Turn::take();
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh");
        let up = Command::new(require_tool("bash"))
            .arg(&script)
            .arg("up")
            .arg(dir.path())
            .arg("3")
            .env("GARAGE", garage())
            .env("SFTPBOX", BIN)
            .env("NODE_TIMEOUT", NODE_TIMEOUT_SECONDS.to_string())
            .output()
            .unwrap();
        let mut cluster = Cluster {
            _turn: turn,
            script,
            nodes: Vec::new(),
            postgres_port: 0,
            client_key: dir.path().join("client_ed25519"),
            dir,
        };
        assert_ok(&up);
        let ports = std::fs::read_to_string(cluster.dir.path().join("ports")).unwrap();
        let field = |name: &str| -> Vec<u16> {
            ports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap()
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect()
        };
        cluster.postgres_port = field("postgres")[0];
        generate_key(&cluster.client_key);
        let public = std::fs::read_to_string(cluster.client_key.with_extension("pub")).unwrap();
        let accounts_file = cluster.dir.path().join("accounts.toml");
        std::fs::write(&accounts_file, accounts.replace("KEY", public.trim())).unwrap();
        let import = Command::new(BIN)
            .args(["account", "import", "--config"])
            .arg(cluster.dir.path().join("node-1/sftpbox.toml"))
            .arg(&accounts_file)
            .output()
            .unwrap();
        assert_ok(&import);
        for (i, port) in field("ssh").into_iter().enumerate() {
            let node_dir = cluster.dir.path().join(format!("node-{}", i + 1));
            cluster.nodes.push(Node::start(node_dir, port));
        }
        cluster
    }

    /// `psql -c sql` on the cluster's database: the one line it prints.
    fn sql(&self, sql: &str) -> String {
        let out = Command::new(require_tool("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "sftpbox",
                "-tA",
                "-p",
            ])
            .arg(self.postgres_port.to_string())
            .arg("-c")
            .arg(sql)
            .output()
            .unwrap();
        assert_ok(&out);
        text(&out.stdout).trim().to_owned()
    }

    fn used(&self, account: &str) -> u64 {
        self.sql(&format!(
            "SELECT used_bytes FROM sftpbox_ledger WHERE account = '{account}'"
        ))
        .parse()
        .unwrap()
    }

    /// The sum of the sizes of `account`'s files, as the namespace has them.
    fn stored(&self, account: &str) -> u64 {
        self.sql(&format!(
            "SELECT coalesce(sum(size), 0) FROM sftpbox_entries WHERE account = '{account}'"
        ))
        .parse()
        .unwrap()
    }

    fn ssh_options(&self, port: u16, port_flag: &str) -> Vec<String> {
        vec![
            port_flag.to_owned(),
            port.to_string(),
            "-i".into(),
            self.client_key.display().to_string(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ]
    }

    /// `sftp -b -` through node `n` (0-based) with `script`.
    fn sftp(&self, n: usize, user: &str, script: &str) -> Output {
        let mut cmd = with_timeout(&require_tool("sftp"), self.dir.path());
        cmd.args(self.ssh_options(self.nodes[n].port, "-P"))
            .args(["-b", "-"])
            .arg(format!("{user}@127.0.0.1"));
        common::process::run_with_stdin(cmd, script.as_bytes())
    }

    /// `ssh user@node CMD` through node `n`.
    fn ssh(&self, n: usize, user: &str, line: &str) -> Output {
        let mut cmd = with_timeout(&require_tool("ssh"), self.dir.path());
        cmd.args(self.ssh_options(self.nodes[n].port, "-p"))
            .arg(format!("{user}@127.0.0.1"))
            .arg(line);
        cmd.output().unwrap()
    }

    /// A client-side scratch file.
    fn local(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `scripts/cluster.sh WHAT DIR [ARG]`: stop or start PostgreSQL or
    /// one Garage node.
    fn script(&self, what: &str, arg: Option<&str>) {
        let mut cmd = Command::new(require_tool("bash"));
        cmd.arg(&self.script)
            .arg(what)
            .arg(self.dir.path())
            .env("GARAGE", garage());
        if let Some(arg) = arg {
            cmd.arg(arg);
        }
        assert_ok(&cmd.output().unwrap());
    }

    /// Makes `accounts` (as in [`Cluster::start`]) the cluster's accounts.
    fn import(&self, accounts: &str) {
        let public = std::fs::read_to_string(self.client_key.with_extension("pub")).unwrap();
        let accounts_file = self.dir.path().join("accounts.toml");
        std::fs::write(&accounts_file, accounts.replace("KEY", public.trim())).unwrap();
        let import = Command::new(BIN)
            .args(["account", "import", "--config"])
            .arg(self.dir.path().join("node-1/sftpbox.toml"))
            .arg(&accounts_file)
            .output()
            .unwrap();
        assert_ok(&import);
    }

    /// Retries `sftp` through node `n` until it succeeds, for up to
    /// `patience`; the last outcome.
    fn sftp_until_ok(&self, n: usize, user: &str, script: &str, patience: Duration) -> Output {
        let deadline = Instant::now() + patience;
        loop {
            let out = self.sftp(n, user, script);
            if out.status.success() || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A raw SFTP session through node `n` as `user`, on `runtime`.
    fn raw_sftp(
        &self,
        runtime: &tokio::runtime::Runtime,
        n: usize,
        user: &str,
    ) -> (common::attack::Ssh, common::attack::ChannelSftp) {
        let addr: std::net::SocketAddr =
            format!("127.0.0.1:{}", self.nodes[n].port).parse().unwrap();
        runtime.block_on(async {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut handle = common::attack::ssh_over(stream).await.unwrap();
            common::attack::key_login(&mut handle, user, &self.client_key)
                .await
                .unwrap();
            let sftp = common::attack::sftp_on(&handle).await.unwrap();
            (handle, sftp)
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("down")
            .arg(self.dir.path())
            .output();
    }
}

fn alice(quota: &str) -> String {
    format!("[users.alice]\nkeys = [\"KEY\"]\n{quota}commands = [\"wc\", \"sh\"]\n")
}

#[test]
fn an_upload_through_one_node_reads_back_byte_exact_through_another() {
    let cluster = Cluster::start(&alice(""));
    let data = pattern(20 << 20, 13);
    std::fs::write(cluster.local("up.bin"), &data).unwrap();
    std::fs::write(cluster.local("small.txt"), b"hello cluster\n").unwrap();
    let up = cluster.sftp(
        0,
        "alice",
        &format!(
            "put {} /big.bin\nput {} /small.txt\n",
            cluster.local("up.bin").display(),
            cluster.local("small.txt").display()
        ),
    );
    assert_ok(&up);
    let down = cluster.sftp(
        1,
        "alice",
        &format!("get /big.bin {}\n", cluster.local("down.bin").display()),
    );
    assert_ok(&down);
    let back = std::fs::read(cluster.local("down.bin")).unwrap();
    assert_eq!(back.len(), data.len());
    assert_eq!(sha256_hex(&back), sha256_hex(&data));
    // Built-ins on node C read the same box.
    let cat = cluster.ssh(2, "alice", "cat /small.txt");
    assert_ok(&cat);
    assert_eq!(cat.stdout, b"hello cluster\n");
    let sum = cluster.ssh(2, "alice", "sha256sum /big.bin");
    assert_ok(&sum);
    assert_eq!(
        text(&sum.stdout),
        format!("{}  /big.bin\n", sha256_hex(&data))
    );
    // The ledger holds exactly the bytes of the files, nothing reserved.
    assert_eq!(cluster.used("alice"), (20 << 20) + 14);
    assert_eq!(cluster.stored("alice"), cluster.used("alice"));
    assert_eq!(
        cluster.sql("SELECT count(*) FROM sftpbox_reservations"),
        "0"
    );
    // Legacy scp into node A, read through node B.
    let mut scp = with_timeout(&require_tool("scp"), cluster.dir.path());
    scp.arg("-O")
        .args(cluster.ssh_options(cluster.nodes[0].port, "-P"))
        .arg(cluster.local("small.txt"))
        .arg("alice@127.0.0.1:/via-scp.txt");
    let scp = scp.output().unwrap();
    assert_ok(&scp);
    let cat = cluster.ssh(1, "alice", "cat /via-scp.txt");
    assert_ok(&cat);
    assert_eq!(cat.stdout, b"hello cluster\n");
}

#[test]
fn a_rename_through_one_node_is_seen_at_once_through_another() {
    let cluster = Cluster::start(&alice(""));
    let data = pattern(3 << 20, 5);
    std::fs::write(cluster.local("f.bin"), &data).unwrap();
    let made = cluster.sftp(
        0,
        "alice",
        &format!(
            "mkdir /reports\nmkdir /reports/2026\nput {} /reports/2026/q4.bin\n",
            cluster.local("f.bin").display()
        ),
    );
    assert_ok(&made);
    let renamed = cluster.sftp(1, "alice", "rename /reports /archive\n");
    assert_ok(&renamed);
    let listed = cluster.ssh(2, "alice", "ls /archive/2026");
    assert_ok(&listed);
    assert_eq!(text(&listed.stdout), "q4.bin\n");
    let old = cluster.ssh(2, "alice", "ls /reports");
    assert!(!old.status.success(), "{}", describe(&old));
    let got = cluster.sftp(
        2,
        "alice",
        &format!(
            "get /archive/2026/q4.bin {}\n",
            cluster.local("back.bin").display()
        ),
    );
    assert_ok(&got);
    assert_eq!(std::fs::read(cluster.local("back.bin")).unwrap(), data);
    // What object storage cannot do is refused with OP_UNSUPPORTED and a
    // reason; nothing changes.
    let link = cluster.sftp(0, "alice", "ln /archive/2026/q4.bin /hard\n");
    assert!(!link.status.success(), "{}", describe(&link));
    refusals_on_object_storage(&cluster);
    // `wc` is a built-in: it works on object storage, through the jail.
    let wc = cluster.ssh(0, "alice", "wc -c /archive/2026/q4.bin");
    assert_ok(&wc);
    assert!(text(&wc.stdout).starts_with("3145728"), "{}", describe(&wc));
    // `sh` is an external program: it needs a home on a local disk.
    let sh = cluster.ssh(0, "alice", "sh -c true");
    assert_eq!(sh.status.code(), Some(126), "{}", describe(&sh));
    assert!(
        text(&sh.stderr).contains("object storage"),
        "{}",
        describe(&sh)
    );
    // The moved file and the 64 KiB the refusals left in /patched.bin.
    assert_eq!(cluster.used("alice"), (3 << 20) + (64 << 10));
    assert_eq!(cluster.stored("alice"), (3 << 20) + (64 << 10));
}

/// Read-write opens, writes behind what was already sent and hard links,
/// each refused with `SSH_FX_OP_UNSUPPORTED` and a message saying why.
fn refusals_on_object_storage(cluster: &Cluster) {
    use common::attack::{Fields, Reply, kind, pflags};
    const OP_UNSUPPORTED: u32 = 8;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The SSH session and channel below are dropped while this guard holds
    // the runtime's context: their drop spawns a task.
    let _context = runtime.enter();
    let (_ssh, mut sftp) = cluster.raw_sftp(&runtime, 1, "alice");
    runtime.block_on(async {
        let expect_refusal = |reply: Reply, what: &str| match reply {
            Reply::Status { code, message, .. } => {
                assert_eq!(code, OP_UNSUPPORTED, "{what}: {message}");
                assert!(message.contains("object storage"), "{what}: {message}");
                message
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        };
        // Read and write at once.
        let open_rw = Fields::new()
            .string(b"/archive/2026/q4.bin")
            .u32(pflags::READ | pflags::WRITE)
            .no_attrs();
        let reply = sftp.call(kind::OPEN, open_rw).await.unwrap();
        let message = expect_refusal(reply, "read-write open");
        eprintln!("read-write open: {message}");
        // A write behind what was already sent: 64 KiB out, then offset 0.
        let handle = sftp
            .open(
                b"/patched.bin",
                pflags::WRITE | pflags::CREATE | pflags::TRUNCATE,
            )
            .await
            .unwrap();
        let chunk = vec![7u8; 32 << 10];
        for offset in [0u64, 32 << 10] {
            let fields = Fields::new().string(&handle).u64(offset).string(&chunk);
            assert_eq!(sftp.status_of(kind::WRITE, fields).await.unwrap(), 0);
        }
        let fields = Fields::new().string(&handle).u64(4096).string(b"patch");
        let reply = sftp.call(kind::WRITE, fields).await.unwrap();
        let message = expect_refusal(reply, "write behind the sent bytes");
        eprintln!("write behind: {message}");
        assert_eq!(sftp.close(&handle).await.unwrap(), 0);
        // A hard link.
        let fields = Fields::new()
            .string(b"hardlink@openssh.com")
            .string(b"/patched.bin")
            .string(b"/linked.bin");
        let reply = sftp.call(kind::EXTENDED, fields).await.unwrap();
        let message = expect_refusal(reply, "hard link");
        eprintln!("hard link: {message}");
    });
    // The refused write changed nothing: the file is the 64 KiB sent.
    let got = cluster.sftp(
        2,
        "alice",
        &format!(
            "get /patched.bin {}\n",
            cluster.local("patched.bin").display()
        ),
    );
    assert_ok(&got);
    assert_eq!(
        std::fs::read(cluster.local("patched.bin")).unwrap(),
        vec![7u8; 64 << 10]
    );
    assert!(!cluster.ssh(0, "alice", "ls /linked.bin").status.success());
}

#[test]
fn twenty_writers_over_three_nodes_never_pass_one_quota() {
    const QUOTA: u64 = 10 << 20;
    let cluster = Arc::new(Cluster::start(&alice(&format!("quota = {QUOTA}\n"))));
    std::fs::write(cluster.local("one.bin"), pattern(1 << 20, 3)).unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (cluster, done) = (cluster.clone(), done.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(cluster.used("alice"));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let cluster = cluster.clone();
            std::thread::spawn(move || {
                cluster.sftp(
                    i % 3,
                    "alice",
                    &format!("put {} /w{i}.bin\n", cluster.local("one.bin").display()),
                )
            })
        })
        .collect();
    let outcomes: Vec<Output> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = watcher.join().unwrap();
    let refused = outcomes.iter().filter(|o| !o.status.success()).count();
    for failed in outcomes.iter().filter(|o| !o.status.success()) {
        assert!(
            text(&failed.stderr).contains("quota exceeded")
                || text(&failed.stdout).contains("quota exceeded")
                || text(&failed.stderr).contains("Failure"),
            "{}",
            describe(failed)
        );
    }
    let used = cluster.used("alice");
    eprintln!("peak ledger {peak} B, final {used} B of {QUOTA} B; {refused} of 20 uploads refused");
    assert!(peak <= QUOTA, "the ledger reached {peak} > {QUOTA}");
    assert!(
        refused >= 10,
        "only {refused} refused for 20 MiB into 10 MiB"
    );
    assert_eq!(used, cluster.stored("alice"));
    assert!(used <= QUOTA);
    assert_eq!(
        cluster.sql("SELECT count(*) FROM sftpbox_reservations"),
        "0"
    );
}

#[test]
fn a_node_killed_mid_upload_leaves_usage_equal_to_the_stored_files() {
    let mut cluster = Cluster::start(&alice("quota = \"1 GiB\"\n"));
    let kept = pattern(1 << 20, 1);
    std::fs::write(cluster.local("kept.bin"), &kept).unwrap();
    assert_ok(&cluster.sftp(
        0,
        "alice",
        &format!("put {} /kept.bin\n", cluster.local("kept.bin").display()),
    ));
    // A client that sends slowly enough to be caught midway: 64 MiB at
    // 1 MB/s (`-l` is in Kbit/s).
    let big = cluster.local("big.bin");
    std::fs::write(&big, pattern(64 << 20, 9)).unwrap();
    let mut cmd = with_timeout(&require_tool("sftp"), cluster.dir.path());
    cmd.args(cluster.ssh_options(cluster.nodes[0].port, "-P"))
        .args(["-b", "-", "-l", "8000"])
        .arg("alice@127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut upload = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = upload.stdin.take().unwrap();
        writeln!(stdin, "put {} /big.bin", big.display()).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.used("alice") <= (1 << 20) {
        assert!(Instant::now() < deadline, "the upload never reserved bytes");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = cluster.used("alice");
    cluster.nodes[0].kill();
    let _ = upload.wait();
    assert!(held > 1 << 20, "nothing was reserved: {held}");
    // The survivors' reaper gives the dead node's reservation back.
    let deadline = Instant::now() + Duration::from_secs(NODE_TIMEOUT_SECONDS * 5 + 5);
    while cluster.used("alice") != cluster.stored("alice") {
        assert!(
            Instant::now() < deadline,
            "usage {} never came back to the stored {} (held {held})\n{}",
            cluster.used("alice"),
            cluster.stored("alice"),
            cluster.nodes[1].log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(cluster.used("alice"), 1 << 20);
    assert_eq!(
        cluster.sql("SELECT count(*) FROM sftpbox_reservations"),
        "0"
    );
    // What node A had not completed is gone: the file is as it was
    // before the upload (new, so empty). `reput` through node B sends it.
    assert_eq!(cluster.stored("alice"), 1 << 20);
    let again = cluster.sftp(1, "alice", &format!("reput {} /big.bin\n", big.display()));
    assert_ok(&again);
    assert_eq!(cluster.used("alice"), (1 << 20) + (64 << 20));
    let back = cluster.sftp(
        2,
        "alice",
        &format!("get /big.bin {}\n", cluster.local("back.bin").display()),
    );
    assert_ok(&back);
    assert_eq!(
        sha256_hex(&std::fs::read(cluster.local("back.bin")).unwrap()),
        sha256_hex(&std::fs::read(&big).unwrap())
    );
}

#[test]
fn an_upload_resumed_through_another_node_appends_only_what_is_missing() {
    let cluster = Cluster::start(&alice("quota = \"1 GiB\"\n"));
    let full = pattern((12 << 20) + 4321, 21);
    let cut = (5 << 20) + 77;
    std::fs::write(cluster.local("full.bin"), &full).unwrap();
    std::fs::write(cluster.local("part.bin"), &full[..cut]).unwrap();
    assert_ok(&cluster.sftp(
        0,
        "alice",
        &format!("put {} /r.bin\n", cluster.local("part.bin").display()),
    ));
    assert_eq!(cluster.used("alice"), cut as u64);
    let resumed = cluster.sftp(
        1,
        "alice",
        &format!("reput {} /r.bin\n", cluster.local("full.bin").display()),
    );
    assert_ok(&resumed);
    // Two objects: the first part as it was, and what `reput` added.
    assert_eq!(
        cluster.sql("SELECT array_length(objects, 1), sizes::text FROM sftpbox_entries WHERE name = 'r.bin'::bytea"),
        format!("2|{{{cut},{}}}", full.len() - cut)
    );
    assert_eq!(cluster.used("alice"), full.len() as u64);
    let back = cluster.sftp(
        2,
        "alice",
        &format!("get /r.bin {}\n", cluster.local("back.bin").display()),
    );
    assert_ok(&back);
    let back = std::fs::read(cluster.local("back.bin")).unwrap();
    assert_eq!(back.len(), full.len());
    assert_eq!(sha256_hex(&back), sha256_hex(&full));
    // `sftp -a` (resume on get) reads across the two objects too.
    let tail = cluster.local("tail.bin");
    std::fs::write(&tail, &full[..cut - 1000]).unwrap();
    let got = cluster.sftp(0, "alice", &format!("reget /r.bin {}\n", tail.display()));
    assert_ok(&got);
    assert_eq!(
        sha256_hex(&std::fs::read(&tail).unwrap()),
        sha256_hex(&full)
    );
    // scp's built-in sum reads them through a third node.
    let sum = cluster.ssh(2, "alice", "sha256sum /r.bin");
    assert_ok(&sum);
    assert_eq!(
        text(&sum.stdout),
        format!("{}  /r.bin\n", sha256_hex(&full))
    );
}

#[test]
fn transfers_go_on_with_one_garage_node_of_three_stopped() {
    let cluster = Cluster::start(&alice(""));
    let before = pattern(9 << 20, 31);
    std::fs::write(cluster.local("before.bin"), &before).unwrap();
    assert_ok(&cluster.sftp(
        0,
        "alice",
        &format!(
            "put {} /before.bin\n",
            cluster.local("before.bin").display()
        ),
    ));
    // Garage node c goes away (node-3 talks to it; node-1 and node-2 talk
    // to a and b, which still hold a quorum of the three replicas).
    cluster.script("garage-stop", Some("c"));
    let during = pattern(11 << 20, 37);
    std::fs::write(cluster.local("during.bin"), &during).unwrap();
    let up = cluster.sftp_until_ok(
        0,
        "alice",
        &format!(
            "put {} /during.bin\n",
            cluster.local("during.bin").display()
        ),
        Duration::from_secs(60),
    );
    assert_ok(&up);
    let down = cluster.sftp_until_ok(
        1,
        "alice",
        &format!(
            "get /before.bin {}\nget /during.bin {}\n",
            cluster.local("before.back").display(),
            cluster.local("during.back").display()
        ),
        Duration::from_secs(60),
    );
    assert_ok(&down);
    assert_eq!(std::fs::read(cluster.local("before.back")).unwrap(), before);
    assert_eq!(std::fs::read(cluster.local("during.back")).unwrap(), during);
    // Back again: node c serves what was written while it was away.
    cluster.script("garage-start", Some("c"));
    let back = cluster.sftp_until_ok(
        2,
        "alice",
        &format!("get /during.bin {}\n", cluster.local("during.c").display()),
        Duration::from_secs(90),
    );
    assert_ok(&back);
    assert_eq!(std::fs::read(cluster.local("during.c")).unwrap(), during);
    assert_eq!(cluster.used("alice"), (9 << 20) + (11 << 20));
}

#[test]
fn nodes_reconnect_after_a_postgres_restart_and_see_account_changes() {
    let cluster = Cluster::start(&alice(""));
    assert_ok(&cluster.sftp(0, "alice", "mkdir /kept\n"));
    cluster.script("pg-stop", None);
    let refused = cluster.sftp(1, "alice", "ls /kept\n");
    assert!(!refused.status.success(), "{}", describe(&refused));
    cluster.script("pg-start", None);
    let data = pattern(2 << 20, 41);
    std::fs::write(cluster.local("after.bin"), &data).unwrap();
    for n in 0..3 {
        let out = cluster.sftp_until_ok(
            n,
            "alice",
            &format!(
                "ls /kept\nput {} /after-{n}.bin\n",
                cluster.local("after.bin").display()
            ),
            Duration::from_secs(60),
        );
        assert_ok(&out);
    }
    assert_eq!(cluster.used("alice"), 3 * (2 << 20));
    // A new account and a quota, imported once, reach every node.
    cluster.import(&format!(
        "{}[users.bob]\nkeys = [\"KEY\"]\nquota = 1000\n",
        alice("")
    ));
    let imported = Instant::now();
    for n in 0..3 {
        let out = cluster.sftp_until_ok(
            n,
            "bob",
            "mkdir /hello\nrmdir /hello\n",
            Duration::from_secs(30),
        );
        assert_ok(&out);
        eprintln!(
            "node {n}: bob in after {:?} (since the import)",
            imported.elapsed()
        );
    }
    std::fs::write(cluster.local("too-big.bin"), pattern(1001, 1)).unwrap();
    let over = cluster.sftp(
        2,
        "bob",
        &format!(
            "put {} /too-big.bin\n",
            cluster.local("too-big.bin").display()
        ),
    );
    assert!(!over.status.success(), "{}", describe(&over));
    assert_eq!(cluster.used("bob"), 0);
    // Removed from the document: refused everywhere.
    cluster.import(&alice(""));
    for n in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while cluster.sftp(n, "bob", "ls /\n").status.success() {
            assert!(Instant::now() < deadline, "node {n} still lets bob in");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn account_commands_edit_the_clusters_accounts_and_max_files_holds_on_every_node() {
    let cluster = Cluster::start(&alice(""));
    let account = |args: &[&str]| -> Output {
        let out = Command::new(BIN)
            .arg("account")
            .args(args)
            .arg("--config")
            .arg(cluster.dir.path().join("node-1/sftpbox.toml"))
            .output()
            .unwrap();
        assert_ok(&out);
        out
    };
    let key = cluster.client_key.with_extension("pub");
    let added = account(&[
        "add",
        "carol",
        "--key",
        key.to_str().unwrap(),
        "--max-files",
        "2",
    ]);
    assert!(
        text(&added.stdout).contains("every node of the cluster"),
        "{}",
        describe(&added)
    );
    for n in 0..3 {
        let out = cluster.sftp_until_ok(n, "carol", "ls /\n", Duration::from_secs(30));
        assert_ok(&out);
    }
    // Two names, made through two nodes; a third through the last node is
    // refused, and the ledger counts two.
    std::fs::write(cluster.local("b.bin"), pattern(5000, 9)).unwrap();
    assert_ok(&cluster.sftp(0, "carol", "mkdir /a\n"));
    assert_ok(&cluster.sftp(
        1,
        "carol",
        &format!("put {} /b.bin\n", cluster.local("b.bin").display()),
    ));
    let third = cluster.sftp(2, "carol", "mkdir /c\n");
    assert!(!third.status.success(), "{}", describe(&third));
    let count = || cluster.sql("SELECT used_files FROM sftpbox_ledger WHERE account = 'carol'");
    assert_eq!(count(), "2");
    assert!(!cluster.ssh(0, "carol", "ls /c").status.success());
    // Removing a name makes room for one.
    assert_ok(&cluster.sftp(2, "carol", "rmdir /a\nmkdir /c\n"));
    assert_eq!(count(), "2");
    // `list` and `show` read the ledger.
    let listed = account(&["list", "--json"]);
    let all: serde_json::Value = serde_json::from_str(&text(&listed.stdout)).unwrap();
    let carol = all
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "carol")
        .unwrap();
    assert_eq!(carol["used"], 5000);
    assert_eq!(carol["max_files"], 2);
    let shown = text(&account(&["show", "carol"]).stdout);
    assert!(
        shown.contains("home:      the cluster's storage"),
        "{shown}"
    );
    assert!(shown.contains("max files: 2\n"), "{shown}");
    // The commands need the database alone: with no credentials for the
    // bucket and its endpoint a closed port, `show` still reads carol
    // (a node could not start with these settings).
    let settings = cluster.dir.path().join("node-1/sftpbox.toml");
    let no_bucket = cluster.dir.path().join("node-1/no-bucket.toml");
    let without: String = std::fs::read_to_string(&settings)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("access_key_id") && !l.starts_with("secret_access_key"))
        .map(|l| {
            if l.starts_with("endpoint") {
                "endpoint = \"http://127.0.0.1:9\"\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&no_bucket, without).unwrap();
    let blind = Command::new(BIN)
        .args(["account", "show", "carol", "--config"])
        .arg(&no_bucket)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_ok(&blind);
    assert!(
        text(&blind.stdout).contains("max files: 2\n"),
        "{}",
        describe(&blind)
    );
    // `set` lifts the limit for every node at once.
    account(&["set", "carol", "--max-files", "none"]);
    assert_ok(&cluster.sftp_until_ok(0, "carol", "mkdir /d\nmkdir /e\n", Duration::from_secs(30)));
    assert_eq!(count(), "4");
    // `remove` takes carol out everywhere; her files stay.
    let removed = account(&["remove", "carol"]);
    assert!(
        text(&removed.stdout).contains("its files stay"),
        "{}",
        describe(&removed)
    );
    for n in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while cluster.sftp(n, "carol", "ls /\n").status.success() {
            assert!(Instant::now() < deadline, "node {n} still lets carol in");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert_eq!(cluster.used("carol"), 5000);
    // alice, imported at the start, was never touched.
    assert_ok(&cluster.sftp(1, "alice", "ls /\n"));
}
