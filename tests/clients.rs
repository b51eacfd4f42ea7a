//! Interoperability with SFTP clients other than OpenSSH: PuTTY `psftp`, curl
//! (libssh2), lftp (over `ssh`), rclone and paramiko. Each one logs in, puts
//! and gets a 3 MiB file byte-exact, resumes both ways where the client can,
//! and cannot read or list outside the home.
//!
//! The resume checks seed the partial file with *other* bytes than the source
//! has: a client that resumes keeps them and sends only the rest, so the
//! result proves the transfer continued rather than started over.
//!
//! `RUST_LOG=debug cargo test --test clients` shows the server's log.
// The fixtures below run outside #[test] fns, where clippy.toml's test allowances do not apply.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::files::{pattern, set_mode, sha1_hex, sha256_hex};
use common::process::{assert_ok, fingerprint, require_paramiko, require_tool, text, with_timeout};
use common::{AccountSpec, TestServer};

/// The size of the transferred file: a little over 3 MiB.
const SIZE: usize = 3 * 1024 * 1024 + 321;
/// How much of an interrupted upload is already on the server.
const UP_DONE: usize = 1024 * 1024 + 5;
/// How much of an interrupted download is already on the client.
const DOWN_DONE: usize = 700_001;
/// A file planted in the box at the path the host's password file has.
const DECOY: &[u8] = b"decoy passwd, inside the box\n";
/// A file beside the homes, which no account may read.
const SECRET: &[u8] = b"TOP SECRET, outside every home\n";
/// A file in the home, which a listing of `..` must show.
const MARKER: &str = "marker-in-home";

/// A server with alice, her box seeded with the decoy and the marker, a
/// secret beside the homes, and a local folder holding the source file.
struct Fixture {
    server: TestServer,
    local: PathBuf,
    data: Vec<u8>,
}

impl Fixture {
    fn new(seed: u64) -> Fixture {
        let server = TestServer::start(&[AccountSpec::new("alice")]);
        let home = server.home("alice");
        std::fs::create_dir_all(home.join("etc")).unwrap();
        set_mode(&home, 0o700);
        std::fs::write(home.join("etc/passwd"), DECOY).unwrap();
        std::fs::write(home.join(MARKER), b"here").unwrap();
        std::fs::write(server.dir.path().join("secret.txt"), SECRET).unwrap();
        let data = pattern(SIZE, seed);
        let local = server
            .local_file("full", &data)
            .parent()
            .unwrap()
            .to_owned();
        Fixture {
            server,
            local,
            data,
        }
    }

    fn port(&self) -> String {
        self.server.port().to_string()
    }

    fn local(&self, name: &str) -> PathBuf {
        self.local.join(name)
    }

    /// `SHA256:...` of the server's host key, as `ssh-keygen -lf` prints it.
    fn host_key_fingerprint(&self) -> String {
        fingerprint(&self.server.host_key_pub())
    }

    /// A known_hosts file naming this server's host key and nothing else.
    fn known_hosts(&self) -> PathBuf {
        let public = std::fs::read_to_string(self.server.host_key_pub()).unwrap();
        let mut fields = public.split_whitespace();
        let (kind, blob) = (fields.next().unwrap(), fields.next().unwrap());
        let path = self.local("known_hosts");
        std::fs::write(
            &path,
            format!("[127.0.0.1]:{} {kind} {blob}\n", self.server.port()),
        )
        .unwrap();
        path
    }

    /// Leaves the first `UP_DONE` bytes of an interrupted upload at `name`
    /// in the home: different bytes from the source's, see the module doc.
    fn seed_partial_upload(&self, name: &str) {
        std::fs::write(self.server.home("alice").join(name), sentinel(UP_DONE)).unwrap();
    }

    /// Leaves the first `DOWN_DONE` bytes of an interrupted download at the
    /// local `name`.
    fn seed_partial_download(&self, name: &str) {
        std::fs::write(self.local(name), sentinel(DOWN_DONE)).unwrap();
    }

    /// The home's `name` holds exactly the source.
    fn assert_stored(&self, name: &str) {
        let stored = std::fs::read(self.server.home("alice").join(name))
            .unwrap_or_else(|e| panic!("{name} was not stored: {e}"));
        assert_eq!(stored.len(), SIZE, "stored {name}: length");
        assert_eq!(sha256_hex(&stored), sha256_hex(&self.data), "stored {name}");
    }

    /// The local `name` holds exactly the source.
    fn assert_fetched(&self, name: &str) {
        let back = std::fs::read(self.local(name))
            .unwrap_or_else(|e| panic!("{name} was not downloaded: {e}"));
        assert_eq!(back.len(), SIZE, "downloaded {name}: length");
        assert_eq!(
            sha256_hex(&back),
            sha256_hex(&self.data),
            "downloaded {name}"
        );
    }

    /// The home's `name` kept its seeded head and got the source's tail.
    fn assert_upload_resumed(&self, name: &str) {
        let stored = std::fs::read(self.server.home("alice").join(name)).unwrap();
        assert_resumed(&format!("upload of {name}"), &stored, &self.data, UP_DONE);
    }

    /// The local `name` kept its seeded head and got the source's tail.
    fn assert_download_resumed(&self, name: &str) {
        let back = std::fs::read(self.local(name)).unwrap();
        assert_resumed(&format!("download of {name}"), &back, &self.data, DOWN_DONE);
    }
}

/// Bytes that differ from every `pattern` the tests transfer.
fn sentinel(len: usize) -> Vec<u8> {
    pattern(len, 0xdead_beef)
}

fn assert_resumed(what: &str, got: &[u8], source: &[u8], done: usize) {
    assert_eq!(got.len(), source.len(), "{what}: length");
    assert!(
        got.get(..done) == Some(&sentinel(done)[..]),
        "{what}: the part already there was rewritten (the client started over)"
    );
    assert!(
        got.get(done..) == source.get(done..),
        "{what}: the resumed tail differs from the source"
    );
}

/// A local file a client downloaded, `None` when it is absent or empty.
fn downloaded(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok().filter(|b| !b.is_empty())
}

/// What a client read at an escaping path naming the host's password file:
/// nothing (an error) or the box's own `/etc/passwd`, never the host's.
fn assert_not_host_passwd(what: &str, read: Option<Vec<u8>>) {
    let Some(bytes) = read else { return };
    let host = std::fs::read("/etc/passwd").unwrap_or_default();
    assert_ne!(bytes, host, "{what}: read the host's /etc/passwd");
    assert_eq!(
        text(&bytes),
        text(DECOY),
        "{what}: read something other than the box's /etc/passwd"
    );
}

/// What a client read at `../secret.txt`: it must have failed.
fn assert_nothing_read(what: &str, read: Option<Vec<u8>>) {
    if let Some(bytes) = read {
        panic!("{what}: read {:?} from outside the home", text(&bytes));
    }
}

/// A listing of `..` or `../..` from the home: the home's own entries.
fn assert_lists_the_home(what: &str, listing: &str) {
    assert!(
        listing.contains(MARKER),
        "{what}: the home's {MARKER} is not listed:\n{listing}"
    );
    for outside in ["accounts.toml", "secret.txt", "client_ed25519"] {
        assert!(
            !listing.contains(outside),
            "{what}: lists {outside} from outside the home:\n{listing}"
        );
    }
}

fn output(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

// ---------------------------------------------------------------- psftp

#[test]
fn putty_psftp_logs_in_transfers_resumes_and_stays_in_the_home() {
    let psftp = require_tool("psftp");
    let puttygen = require_tool("puttygen");
    let fx = Fixture::new(21);
    let fingerprint = fx.host_key_fingerprint();
    let base = |auth: &[&OsStr], script: &str, extra: &[&str]| {
        let batch = fx.local("batch");
        std::fs::write(&batch, script).unwrap();
        let mut cmd = with_timeout(&psftp, &fx.local);
        cmd.args(["-P", &fx.port(), "-hostkey", &fingerprint, "-batch"])
            .args(auth)
            .args(extra)
            .arg("-b")
            .arg(&batch)
            .arg("alice@127.0.0.1");
        output(cmd)
    };

    // Password login: put, get, reput and reget.
    fx.seed_partial_upload("partial_up");
    fx.seed_partial_download("partial_down");
    let password = fx.server.password("alice");
    let out = base(
        &["-pw".as_ref(), password.as_ref()],
        "put full up\nget up down\nreput full partial_up\nreget up partial_down\n",
        &[],
    );
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("reput: restarting at file position {UP_DONE}")),
        "{said}"
    );
    assert!(
        said.contains(&format!("reget: restarting at file position {DOWN_DONE}")),
        "{said}"
    );
    fx.assert_stored("up");
    fx.assert_fetched("down");
    fx.assert_upload_resumed("partial_up");
    fx.assert_download_resumed("partial_down");

    // Key login (the OpenSSH key converted to PuTTY's format) and escapes;
    // `-be` carries on past the failing commands.
    let ppk = fx.local("client.ppk");
    let out = Command::new(puttygen)
        .arg(fx.server.client_key())
        .args(["-O", "private", "-o"])
        .arg(&ppk)
        .output()
        .unwrap();
    assert_ok(&out);
    let key_login = [OsStr::new("-i"), ppk.as_os_str()];
    let out = base(&key_login, "cd ../..\npwd\nls\n", &[]);
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("Remote directory is now /\n") && said.contains("Remote directory is /\n"),
        "cd ../.. left /:\n{said}"
    );
    assert_lists_the_home("psftp ls after cd ../..", &said);
    let out = base(
        &key_login,
        "get ../../etc/passwd esc_rel\nget /etc/passwd esc_abs\nget ../secret.txt esc_secret\n",
        &["-be"],
    );
    assert!(
        text(&out.stdout).contains("Remote working directory is /"),
        "the escape session did not log in:\n{}",
        text(&out.stderr)
    );
    assert_not_host_passwd("psftp ../../etc/passwd", downloaded(&fx.local("esc_rel")));
    assert_not_host_passwd("psftp /etc/passwd", downloaded(&fx.local("esc_abs")));
    assert_nothing_read("psftp ../secret.txt", downloaded(&fx.local("esc_secret")));
}

// ---------------------------------------------------------------- curl

#[test]
fn curl_logs_in_transfers_resumes_and_stays_in_the_home() {
    let curl = require_tool("curl");
    let fx = Fixture::new(22);
    // curl wants the fingerprint as bare base64.
    let fingerprint = fx.host_key_fingerprint();
    let pinned = fingerprint.trim_start_matches("SHA256:").to_owned();
    let url = |path: &str| format!("sftp://127.0.0.1:{}{path}", fx.port());
    let password = format!("alice:{}", fx.server.password("alice"));
    let key = fx.server.client_key();
    let public = key.with_extension("pub");
    let run = |args: &[&OsStr]| {
        let mut cmd = with_timeout(&curl, &fx.local);
        cmd.args(["-sS", "--connect-timeout", "20", "--hostpubsha256", &pinned])
            .args(args);
        output(cmd)
    };
    let with_password = |args: &[&str]| {
        let mut all: Vec<&OsStr> = vec!["-u".as_ref(), password.as_ref()];
        all.extend(args.iter().map(OsStr::new));
        run(&all)
    };
    // An empty password: only the key can log in.
    let with_key = |args: &[&str]| {
        let mut all: Vec<&OsStr> = vec![
            "-u".as_ref(),
            "alice:".as_ref(),
            "--key".as_ref(),
            key.as_os_str(),
            "--pubkey".as_ref(),
            public.as_os_str(),
        ];
        all.extend(args.iter().map(OsStr::new));
        run(&all)
    };

    // A wrong pin is refused, so the pin is checked.
    let out = run(&[
        "-u".as_ref(),
        password.as_ref(),
        "--hostpubsha256".as_ref(),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU".as_ref(),
        "-o".as_ref(),
        "/dev/null".as_ref(),
        url("/~/anything").as_ref(),
    ]);
    assert!(!out.status.success(), "a wrong host key pin was accepted");

    // Put with the password, get with the key (OpenSSH-format ed25519).
    assert_ok(&with_password(&["-T", "full", &url("/~/up")]));
    fx.assert_stored("up");
    assert_ok(&with_key(&["-o", "down", &url("/~/up")]));
    fx.assert_fetched("down");

    // `-C -` continues from the size already on the other side.
    fx.seed_partial_upload("partial_up");
    assert_ok(&with_password(&[
        "-C",
        "-",
        "-T",
        "full",
        &url("/~/partial_up"),
    ]));
    fx.assert_upload_resumed("partial_up");
    fx.seed_partial_download("partial_down");
    assert_ok(&with_key(&["-C", "-", "-o", "partial_down", &url("/~/up")]));
    fx.assert_download_resumed("partial_down");

    // Escapes. `--path-as-is` keeps curl from folding the `..` itself.
    for (label, path) in [
        ("esc_rel", "/~/../../etc/passwd"),
        ("esc_abs", "/etc/passwd"),
        ("esc_root", "/../../etc/passwd"),
    ] {
        let out = with_key(&["--path-as-is", "-o", label, &url(path)]);
        // 0 with the box's file, or 78: remote file not found.
        assert!(
            matches!(out.status.code(), Some(0 | 78)),
            "curl {path}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
        assert_not_host_passwd(&format!("curl {path}"), downloaded(&fx.local(label)));
    }
    let out = with_key(&["--path-as-is", "-o", "esc_secret", &url("/~/../secret.txt")]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "curl ../secret.txt: {}",
        text(&out.stderr)
    );
    assert_nothing_read("curl ../secret.txt", downloaded(&fx.local("esc_secret")));
    for path in ["/~/../../", "/../"] {
        let out = with_key(&["--path-as-is", &url(path)]);
        assert_ok(&out);
        assert_lists_the_home(&format!("curl listing of {path}"), &text(&out.stdout));
    }
}

// ---------------------------------------------------------------- lftp

#[test]
fn lftp_logs_in_transfers_resumes_and_stays_in_the_home() {
    let lftp = require_tool("lftp");
    require_tool("ssh");
    let fx = Fixture::new(23);
    let known_hosts = fx.known_hosts();
    // lftp drives `ssh`; this one checks the host key against the pinned file.
    let ssh = format!(
        "ssh -a -x -F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} \
         -o IdentityAgent=none -o LogLevel=ERROR -o ConnectTimeout=20",
        known_hosts.display()
    );
    let run = |user: &str, connect: &str, commands: &str| {
        let mut cmd = with_timeout(&lftp, &fx.local);
        cmd.env("HOME", &fx.local)
            .args(["-p", &fx.port(), "-u", user, "-e"])
            .arg(format!(
                "set sftp:connect-program \"{connect}\"; set net:max-retries 1; \
                 set net:timeout 20; {commands}; bye"
            ))
            .arg("sftp://127.0.0.1");
        output(cmd)
    };
    let password_login = format!(
        "{ssh} -o PubkeyAuthentication=no -o PreferredAuthentications=password \
         -o NumberOfPasswordPrompts=1"
    );
    let key_login = format!(
        "{ssh} -o BatchMode=yes -o IdentitiesOnly=yes -i {}",
        fx.server.client_key().display()
    );
    let password = format!("alice,{}", fx.server.password("alice"));

    // Password login (lftp answers ssh's prompt): put and get.
    let out = run(
        &password,
        &password_login,
        "set cmd:fail-exit yes; put full -o up; get up -o down",
    );
    assert_ok(&out);
    fx.assert_stored("up");
    fx.assert_fetched("down");

    // Key login, an empty password: `put -c` and `get -c` continue.
    fx.seed_partial_upload("partial_up");
    fx.seed_partial_download("partial_down");
    let out = run(
        "alice,",
        &key_login,
        "set cmd:fail-exit yes; put -c full -o partial_up; get -c up -o partial_down",
    );
    assert_ok(&out);
    fx.assert_upload_resumed("partial_up");
    fx.assert_download_resumed("partial_down");

    // Escapes: the failing gets do not stop the script.
    let out = run(
        "alice,",
        &key_login,
        "get ../../etc/passwd -o esc_rel; get /etc/passwd -o esc_abs; \
         get ../secret.txt -o esc_secret; cls -1 ..; cls -1 ../..",
    );
    // stdout holds only the listings (errors go to stderr).
    assert_lists_the_home("lftp cls of .. and ../..", &text(&out.stdout));
    assert_eq!(
        text(&out.stdout).matches(MARKER).count(),
        2,
        "both listings show the home:\n{}",
        text(&out.stdout)
    );
    assert_not_host_passwd("lftp ../../etc/passwd", downloaded(&fx.local("esc_rel")));
    assert_not_host_passwd("lftp /etc/passwd", downloaded(&fx.local("esc_abs")));
    assert_nothing_read("lftp ../secret.txt", downloaded(&fx.local("esc_secret")));
}

// ---------------------------------------------------------------- rclone

#[test]
fn rclone_logs_in_transfers_and_stays_in_the_home() {
    let rclone = require_tool("rclone");
    let fx = Fixture::new(24);
    let known_hosts = fx.known_hosts();
    // An old mtime on the source, which `--sftp-set-modtime` (the default) carries over.
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800);
    std::fs::File::options()
        .write(true)
        .open(fx.local("full"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    // An on-the-fly remote `box:` from the environment; no config file.
    let run = |args: &[&OsStr]| {
        let mut cmd = with_timeout(&rclone, &fx.local);
        cmd.env("HOME", &fx.local)
            .env("RCLONE_CONFIG", fx.local("rclone.conf"))
            .env("RCLONE_CONFIG_BOX_TYPE", "sftp")
            .env("RCLONE_CONFIG_BOX_HOST", "127.0.0.1")
            .env("RCLONE_CONFIG_BOX_PORT", fx.port())
            .env("RCLONE_CONFIG_BOX_USER", "alice")
            .env("RCLONE_CONFIG_BOX_KNOWN_HOSTS_FILE", &known_hosts)
            .args([
                "--retries",
                "1",
                "--low-level-retries",
                "1",
                "--contimeout",
                "20s",
            ])
            .args(args);
        output(cmd)
    };
    let out = run(&["obscure".as_ref(), fx.server.password("alice").as_ref()]);
    assert_ok(&out);
    let obscured = text(&out.stdout).trim().to_owned();
    let key = fx.server.client_key();
    let with_key = |args: &[&str]| {
        let mut all: Vec<&OsStr> = vec!["--sftp-key-file".as_ref(), key.as_os_str()];
        all.extend(args.iter().map(OsStr::new));
        run(&all)
    };

    // Put with the password, get with the key.
    assert_ok(&run(&[
        "--sftp-pass".as_ref(),
        obscured.as_ref(),
        "copyto".as_ref(),
        "full".as_ref(),
        "box:up".as_ref(),
    ]));
    fx.assert_stored("up");
    let stored_mtime = std::fs::metadata(fx.server.home("alice").join("up"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(stored_mtime, mtime, "rclone's set-modtime was not kept");
    assert_ok(&with_key(&["copyto", "box:up", "down"]));
    fx.assert_fetched("down");
    // rclone hashes remotely by running `sha1sum` over ssh (its shell detection
    // falls back to unix); the box's sha1sum must agree with the bytes.
    let out = with_key(&["sha1sum", "box:up"]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).starts_with(&format!("{}  up", sha1_hex(&fx.data))),
        "{}",
        text(&out.stdout)
    );
    // (Resume: rclone copies a changed file whole; there is nothing to resume.)

    // Escapes.
    for path in ["box:../../etc/passwd", "box:/etc/passwd"] {
        let out = with_key(&["cat", path]);
        let read = out.status.success().then(|| out.stdout.clone());
        assert_not_host_passwd(&format!("rclone cat {path}"), read);
    }
    let out = with_key(&["cat", "box:../secret.txt"]);
    assert!(!out.status.success(), "rclone read ../secret.txt");
    assert_nothing_read(
        "rclone cat ../secret.txt",
        Some(out.stdout).filter(|b| !b.is_empty()),
    );
    for path in ["box:..", "box:../..", "box:/.."] {
        let out = with_key(&["lsf", path]);
        assert_ok(&out);
        assert_lists_the_home(&format!("rclone lsf {path}"), &text(&out.stdout));
    }
}

// ---------------------------------------------------------------- paramiko

const PARAMIKO_SCRIPT: &str = r#"
import hashlib, os, sys
import paramiko

port, password, key, local = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
full = os.path.join(local, "full")

def connect(**auth):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=port, username="alice", look_for_keys=False,
                   allow_agent=False, timeout=20, banner_timeout=20, auth_timeout=20, **auth)
    return client

def report(name, value):
    print(f"{name}={value}", flush=True)

# Password login: put and get.
client = connect(password=password)
sftp = client.open_sftp()
sftp.put(full, "up")
sftp.get("up", os.path.join(local, "down"))
with sftp.open("up", "rb") as f:
    report("check_up", f.check("sha256").hex())
    report("check_up_blocks", f.check("sha256", 0, 0, 1024 * 1024).hex())
client.close()

# Key login: resume both ways, verifying the part already there with check-file.
client = connect(pkey=paramiko.Ed25519Key.from_private_key_file(key))
sftp = client.open_sftp()
done = sftp.stat("partial_up").st_size
report("partial_up_size", done)
with sftp.open("partial_up", "rb") as f:
    report("check_partial_up", f.check("sha256", 0, done).hex())
with open(full, "rb") as src, sftp.open("partial_up", "ab") as dst:
    src.seek(done)
    dst.write(src.read())
with sftp.open("partial_up", "rb") as f:
    report("check_partial_up_after", f.check("sha256").hex())
partial = os.path.join(local, "partial_down")
have = os.path.getsize(partial)
report("partial_down_size", have)
with sftp.open("up", "rb") as src:
    report("check_up_head", src.check("sha256", 0, have).hex())
    src.seek(have)
    with open(partial, "ab") as dst:
        dst.write(src.read())

# Escapes.
report("normalize_dotdot", sftp.normalize("../.."))
report("list_dotdot", ",".join(sorted(sftp.listdir(".."))))
report("list_root_dotdot", ",".join(sorted(sftp.listdir("/../.."))))
for name, path in [("esc_rel", "../../etc/passwd"), ("esc_abs", "/etc/passwd"),
                   ("esc_secret", "../secret.txt")]:
    try:
        with sftp.open(path, "rb") as f:
            report(name, "ok:" + f.read().hex())
    except IOError as e:
        report(name, "err:" + str(e).replace("\n", " "))
client.close()
report("done", "yes")
"#;

#[test]
fn paramiko_logs_in_transfers_resumes_with_check_file_and_stays_in_the_home() {
    let python = require_paramiko();
    let fx = Fixture::new(25);
    let script = fx.local("client.py");
    std::fs::write(&script, PARAMIKO_SCRIPT).unwrap();
    fx.seed_partial_download("partial_down");
    // The head of this interrupted upload is right: the script checks it with
    // check-file before appending the rest.
    std::fs::write(
        fx.server.home("alice").join("partial_up"),
        &fx.data[..UP_DONE],
    )
    .unwrap();

    let mut cmd = with_timeout(&python, &fx.local);
    cmd.arg(&script)
        .arg(fx.port())
        .arg(fx.server.password("alice"))
        .arg(fx.server.client_key())
        .arg(&fx.local);
    let out = output(cmd);
    assert_ok(&out);
    let said = text(&out.stdout);
    let value = |name: &str| -> String {
        said.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("the script did not report {name}:\n{said}"))
            .to_owned()
    };
    assert_eq!(value("done"), "yes");

    fx.assert_stored("up");
    fx.assert_fetched("down");
    assert_eq!(value("check_up"), sha256_hex(&fx.data), "check-file of up");
    let blocks: String = fx.data.chunks(1024 * 1024).map(sha256_hex).collect();
    assert_eq!(
        value("check_up_blocks"),
        blocks,
        "check-file by 1 MiB blocks"
    );

    assert_eq!(value("partial_up_size"), UP_DONE.to_string());
    assert_eq!(
        value("check_partial_up"),
        sha256_hex(&fx.data[..UP_DONE]),
        "check-file of the partial upload"
    );
    assert_eq!(value("check_partial_up_after"), sha256_hex(&fx.data));
    fx.assert_stored("partial_up");
    assert_eq!(value("partial_down_size"), DOWN_DONE.to_string());
    assert_eq!(value("check_up_head"), sha256_hex(&fx.data[..DOWN_DONE]));
    fx.assert_download_resumed("partial_down");

    assert_eq!(value("normalize_dotdot"), "/");
    assert_lists_the_home("paramiko listdir('..')", &value("list_dotdot"));
    assert_lists_the_home("paramiko listdir('/../..')", &value("list_root_dotdot"));
    for name in ["esc_rel", "esc_abs"] {
        let read = value(name)
            .strip_prefix("ok:")
            .map(|h| hex::decode(h).unwrap());
        assert_not_host_passwd(&format!("paramiko {name}"), read);
    }
    let secret = value("esc_secret");
    assert!(
        secret.starts_with("err:"),
        "paramiko read ../secret.txt: {secret}"
    );
}
