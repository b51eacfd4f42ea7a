//! Two sftpbox nodes behind a real HAProxy (Debian's package) that sends
//! PROXY v2 (`send-proxy-v2`): OpenSSH `sftp` uploads through it, and each
//! node logs the client's own address and source port, the one HAProxy's
//! log shows for that connection, not HAProxy's connection to the node.
//!
//! HAProxy runs as this test's child, in the foreground (`-db`), with its
//! own config in a temp folder and ephemeral ports; never the system
//! service.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::AccountSpec;
use common::binary::ServedBinary;
use common::process::{describe, require_tool, run_with_stdin, with_timeout};

/// Generous bound for HAProxy to listen and to log a closed connection.
const PROMPTLY: Duration = Duration::from_secs(15);

/// HAProxy in the foreground, logging to its stdout; killed on drop.
struct HaProxy {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl HaProxy {
    /// Starts HAProxy in `dir` in front of the nodes on `backends`.
    fn start(dir: &Path, backends: &[u16]) -> HaProxy {
        let binary = require_tool("haproxy");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(n, backend)| format!("    server node{n} 127.0.0.1:{backend} send-proxy-v2\n"))
            .collect();
        // tcplog: one line per connection when it ends, starting with the
        // client's address and port and naming the node it went to.
        let config = format!(
            "global\n    log stdout format raw local0 info\n    maxconn 64\n\n\
             defaults\n    mode tcp\n    log global\n    option tcplog\n    \
             timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\n\
             frontend ssh\n    bind 127.0.0.1:{port}\n    default_backend nodes\n\n\
             backend nodes\n    balance roundrobin\n{servers}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let check = Command::new(&binary)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(check.status.success(), "haproxy -c\n{}", describe(&check));
        let mut child = Command::new(&binary)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(line);
                }
            });
        }
        let mut haproxy = HaProxy { child, port, log };
        let deadline = Instant::now() + PROMPTLY;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = haproxy.child.try_wait().unwrap() {
                panic!("haproxy exited ({status}):\n{}", haproxy.log());
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen:\n{}",
                haproxy.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // That probe was a connection too; wait for its line to keep counts exact.
        haproxy.wait_for_lines(1);
        haproxy
    }

    fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    /// The tcplog lines: (client port, `backend/server`).
    fn connections(&self) -> Vec<(u16, String)> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let client = words.next()?.strip_prefix("127.0.0.1:")?.parse().ok()?;
                let node = words.nth(2)?.to_owned();
                Some((client, node))
            })
            .collect()
    }

    fn wait_for_lines(&self, count: usize) {
        let deadline = Instant::now() + PROMPTLY;
        while self.connections().len() < count {
            assert!(
                Instant::now() < deadline,
                "haproxy logged fewer than {count} connections:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `peer=` and `via=` of `node`'s accepted login lines.
fn logins(node: &ServedBinary) -> Vec<(String, String)> {
    node.log()
        .lines()
        .filter(|line| line.contains("login") && line.contains("result=\"accepted\""))
        .filter_map(|line| {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_owned)
            };
            Some((field("peer=")?, field("via=")?))
        })
        .collect()
}

#[test]
fn sftp_uploads_through_haproxy_reach_two_nodes_that_log_the_clients_own_address() {
    require_tool("sftp");
    let trust = "proxy_protocol_from = [\"127.0.0.1/32\"]\n";
    let nodes = [
        ServedBinary::start(&[AccountSpec::new("alice")], trust),
        ServedBinary::start(&[AccountSpec::new("alice")], trust),
    ];
    let dir = tempfile::tempdir().unwrap();
    let haproxy = HaProxy::start(
        dir.path(),
        &[nodes[0].addr().port(), nodes[1].addr().port()],
    );
    let probes = haproxy.connections().len();

    let mut uploads = Vec::new();
    for n in 0..2u8 {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i * 7 + u32::from(n)) as u8)
            .collect();
        let local = dir.path().join(format!("up{n}.bin"));
        std::fs::write(&local, &data).unwrap();
        let mut sftp = with_timeout(&require_tool("sftp"), dir.path());
        sftp.args([
            "-b",
            "-",
            "-P",
            &haproxy.port.to_string(),
            "-F",
            "/dev/null",
        ])
        .args(["-o", "StrictHostKeyChecking=no", "-o", "IdentitiesOnly=yes"])
        .args(["-o", "IdentityAgent=none", "-o", "LogLevel=ERROR"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            dir.path().join("known_hosts").display()
        ))
        // One client key per node: the client offers both.
        .arg("-i")
        .arg(nodes[0].client_key())
        .arg("-i")
        .arg(nodes[1].client_key())
        .arg("alice@127.0.0.1");
        let script = format!("put {} /up{n}.bin\n", local.display());
        let out = run_with_stdin(sftp, script.as_bytes());
        assert!(
            out.status.success(),
            "upload {n} through haproxy\n{}\n--- haproxy:\n{}\n--- node0:\n{}\n--- node1:\n{}",
            describe(&out),
            haproxy.log(),
            nodes[0].log(),
            nodes[1].log()
        );
        uploads.push(data);
    }
    haproxy.wait_for_lines(probes + 2);

    // Round robin: one upload on each node, byte for byte.
    let mut placed = Vec::new();
    for (n, data) in uploads.iter().enumerate() {
        let on: Vec<usize> = (0..2)
            .filter(|&node| {
                nodes[node]
                    .home("alice")
                    .join(format!("up{n}.bin"))
                    .exists()
            })
            .collect();
        assert_eq!(on.len(), 1, "upload {n} is on nodes {on:?}");
        let stored = std::fs::read(nodes[on[0]].home("alice").join(format!("up{n}.bin"))).unwrap();
        assert!(stored == *data, "upload {n} differs on node {}", on[0]);
        placed.push(on[0]);
    }
    assert_ne!(placed[0], placed[1], "both uploads went to one node");

    // Each node logged the client's own port, the one HAProxy saw, and
    // HAProxy's own connection to the node as `via`.
    let connections = haproxy.connections();
    for (index, node) in nodes.iter().enumerate() {
        let name = format!("nodes/node{index}");
        let client_ports: Vec<u16> = connections
            .iter()
            .skip(probes)
            .filter(|(_, to)| *to == name)
            .map(|(port, _)| *port)
            .collect();
        assert_eq!(
            client_ports.len(),
            1,
            "{name}: {connections:?}\n{}",
            haproxy.log()
        );
        let logins = logins(node);
        assert_eq!(logins.len(), 1, "{name} logins {logins:?}:\n{}", node.log());
        let (peer, via) = &logins[0];
        assert_eq!(
            *peer,
            format!("127.0.0.1:{}", client_ports[0]),
            "{name}:\n{}",
            node.log()
        );
        assert!(
            via.starts_with("127.0.0.1:") && via != peer,
            "{name}: via {via}, peer {peer}"
        );
        let figure = format!(
            "haproxy.{name}: client 127.0.0.1:{} logged as peer={peer} via={via}",
            client_ports[0]
        );
        println!("figure: {figure}");
    }
}
