//! Hostile clients for the abuse and resource tests: connections from a
//! chosen loopback source address, a raw SFTP v3 client that can pipeline
//! requests, leave replies unread and send malformed bytes, a stream whose
//! reading can be stopped, and probes that tell a banner from a closed door.
//!
//! Every helper returns errors instead of panicking: an attack is expected to
//! be refused part of the way once the server defends itself.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use russh::client::{Handle, Msg};
use russh::keys::PrivateKeyWithHashAlg;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use super::AcceptAnyHostKey;

/// An SSH connection from the russh client, as the tests hold it.
pub type Ssh = Handle<AcceptAnyHostKey>;

/// A raw SFTP session over a russh channel.
pub type ChannelSftp = RawSftp<russh::ChannelStream<Msg>>;

/// The sending side of a [`ChannelSftp`] whose replies are drained.
pub type ChannelSender = SftpSender<tokio::io::WriteHalf<russh::ChannelStream<Msg>>>;

/// `127.0.0.n`: on Linux every address of 127/8 is the loopback interface,
/// so distinct `n` are distinct sources to the server.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A TCP connection to `server` whose source address is `source`.
pub async fn tcp_from(source: IpAddr, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// An unauthenticated SSH connection (key exchange done) from `source`.
pub async fn ssh_from(source: IpAddr, server: SocketAddr) -> Result<Ssh, String> {
    let stream = tcp_from(source, server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    ssh_over(stream).await
}

/// An SSH connection over an already connected stream.
pub async fn ssh_over<S>(stream: S) -> Result<Ssh, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = Arc::new(russh::client::Config::default());
    russh::client::connect_stream(config, stream, AcceptAnyHostKey)
        .await
        .map_err(|e| format!("ssh handshake: {e}"))
}

/// Logs `handle` in as `user` with the private key at `key`.
pub async fn key_login(handle: &mut Ssh, user: &str, key: &Path) -> Result<(), String> {
    let key = russh::keys::load_secret_key(key, None).map_err(|e| e.to_string())?;
    let result = handle
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), None))
        .await
        .map_err(|e| format!("key login as {user}: {e}"))?;
    if result.success() {
        Ok(())
    } else {
        Err(format!("key login as {user} refused"))
    }
}

/// A connection from `source` logged in as `user` with the key at `key`.
pub async fn key_login_from(
    source: IpAddr,
    server: SocketAddr,
    user: &str,
    key: &Path,
) -> Result<Ssh, String> {
    let mut handle = ssh_from(source, server).await?;
    key_login(&mut handle, user, key).await?;
    Ok(handle)
}

/// What one password attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordOutcome {
    /// The server let the client in.
    Accepted,
    /// The server said no.
    Refused,
    /// The connection or handshake failed before an answer (e.g. closed
    /// before the banner).
    NoAnswer(String),
}

/// One connection from `source` that tries `password` once for `user`, then
/// hangs up.
pub async fn password_attempt_from(
    source: IpAddr,
    server: SocketAddr,
    user: &str,
    password: &str,
) -> PasswordOutcome {
    let mut handle = match ssh_from(source, server).await {
        Ok(handle) => handle,
        Err(err) => return PasswordOutcome::NoAnswer(err),
    };
    let outcome = match handle.authenticate_password(user, password).await {
        Ok(result) if result.success() => PasswordOutcome::Accepted,
        Ok(_) => PasswordOutcome::Refused,
        Err(err) => PasswordOutcome::NoAnswer(err.to_string()),
    };
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    outcome
}

/// Opens a session channel on `handle` and starts a raw SFTP session on it.
pub async fn sftp_on(handle: &Ssh) -> Result<ChannelSftp, String> {
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| format!("channel: {e}"))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| format!("subsystem: {e}"))?;
    RawSftp::start(channel.into_stream())
        .await
        .map_err(|e| format!("sftp init: {e}"))
}

/// Logs in from `source` as `user` and lists `/` over SFTP; the number of
/// entries. The victim's side of the starvation tests.
pub async fn list_root_from(
    source: IpAddr,
    server: SocketAddr,
    user: &str,
    key: &Path,
) -> Result<usize, String> {
    let handle = key_login_from(source, server, user, key).await?;
    let mut sftp = sftp_on(&handle).await?;
    let names = sftp.list(b"/").await?;
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    Ok(names.len())
}

/// How a server greeted a new TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Greeting {
    /// It sent its SSH identification line.
    Banner(String),
    /// It closed (or reset, or refused) the connection without a byte.
    ClosedBeforeBanner,
    /// Nothing came within the wait, and the connection stayed open.
    Silent,
}

/// Connects from `source` and waits up to `wait` for the server's first bytes.
pub async fn greeting_from(source: IpAddr, server: SocketAddr, wait: Duration) -> Greeting {
    let mut stream = match tcp_from(source, server).await {
        Ok(stream) => stream,
        Err(_) => return Greeting::ClosedBeforeBanner,
    };
    let mut buf = vec![0u8; 256];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Err(_) => Greeting::Silent,
        Ok(Ok(0)) | Ok(Err(_)) => Greeting::ClosedBeforeBanner,
        Ok(Ok(n)) => {
            let line = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
            Greeting::Banner(line.trim_end().to_owned())
        }
    }
}

/// Reads and discards until the server closes `stream`; how long that took,
/// or `None` when it was still open after `within`.
pub async fn wait_until_closed<R: AsyncRead + Unpin>(
    stream: &mut R,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let drain = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, drain)
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// Waits until the server has closed `handle`'s connection; how long that
/// took, or `None` when it was still open after `within`.
pub async fn wait_until_disconnected(handle: &Ssh, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if handle.is_closed() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

// ------------------------------------------------------------ raw SFTP

/// SFTP v3 packet types (draft-ietf-secsh-filexfer-02).
pub mod kind {
    pub const INIT: u8 = 1;
    pub const VERSION: u8 = 2;
    pub const OPEN: u8 = 3;
    pub const CLOSE: u8 = 4;
    pub const READ: u8 = 5;
    pub const WRITE: u8 = 6;
    pub const SETSTAT: u8 = 9;
    pub const FSETSTAT: u8 = 10;
    pub const OPENDIR: u8 = 11;
    pub const READDIR: u8 = 12;
    pub const STAT: u8 = 17;
    pub const STATUS: u8 = 101;
    pub const HANDLE: u8 = 102;
    pub const DATA: u8 = 103;
    pub const NAME: u8 = 104;
    pub const ATTRS: u8 = 105;
    pub const EXTENDED: u8 = 200;
    pub const EXTENDED_REPLY: u8 = 201;
}

/// OPEN flags.
pub mod pflags {
    pub const READ: u32 = 0x01;
    pub const WRITE: u32 = 0x02;
    pub const CREATE: u32 = 0x08;
    pub const TRUNCATE: u32 = 0x10;
}

/// Attribute flags.
const ATTR_SIZE: u32 = 0x01;
const ATTR_UIDGID: u32 = 0x02;
const ATTR_PERMISSIONS: u32 = 0x04;
const ATTR_ACMODTIME: u32 = 0x08;
const ATTR_EXTENDED: u32 = 0x8000_0000;

/// Status code for end of file / directory.
pub const STATUS_EOF: u32 = 1;

/// A request body under construction (everything after type and id).
#[derive(Default, Clone)]
pub struct Fields(pub Vec<u8>);

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    pub fn u32(mut self, value: u32) -> Fields {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn u64(mut self, value: u64) -> Fields {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn string(mut self, value: &[u8]) -> Fields {
        self = self.u32(value.len() as u32);
        self.0.extend_from_slice(value);
        self
    }

    /// Attributes with only a size.
    pub fn size_attrs(self, size: u64) -> Fields {
        self.u32(ATTR_SIZE).u64(size)
    }

    /// Attributes with only permissions.
    pub fn mode_attrs(self, mode: u32) -> Fields {
        self.u32(ATTR_PERMISSIONS).u32(mode)
    }

    /// Empty attributes.
    pub fn no_attrs(self) -> Fields {
        self.u32(0)
    }
}

/// A decoded reply, as much of it as the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Version,
    Status {
        id: u32,
        code: u32,
        message: String,
    },
    Handle {
        id: u32,
        handle: Vec<u8>,
    },
    Data {
        id: u32,
        len: usize,
    },
    Name {
        id: u32,
        names: Vec<Vec<u8>>,
    },
    Attrs {
        id: u32,
        size: Option<u64>,
        permissions: Option<u32>,
    },
    Extended {
        id: u32,
        data: Vec<u8>,
    },
    Other {
        kind: u8,
    },
}

impl Reply {
    /// The request id the reply answers (0 for VERSION and unknown types).
    pub fn id(&self) -> u32 {
        match self {
            Reply::Status { id, .. }
            | Reply::Handle { id, .. }
            | Reply::Data { id, .. }
            | Reply::Name { id, .. }
            | Reply::Attrs { id, .. }
            | Reply::Extended { id, .. } => *id,
            Reply::Version | Reply::Other { .. } => 0,
        }
    }
}

/// Reads big-endian fields from a reply body.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn u32(&mut self) -> io::Result<u32> {
        let (head, rest) = self.bytes.split_at_checked(4).ok_or_else(short)?;
        self.bytes = rest;
        Ok(u32::from_be_bytes(head.try_into().map_err(|_| short())?))
    }

    fn u64(&mut self) -> io::Result<u64> {
        let (head, rest) = self.bytes.split_at_checked(8).ok_or_else(short)?;
        self.bytes = rest;
        Ok(u64::from_be_bytes(head.try_into().map_err(|_| short())?))
    }

    fn string(&mut self) -> io::Result<Vec<u8>> {
        let len = self.u32()? as usize;
        let (head, rest) = self.bytes.split_at_checked(len).ok_or_else(short)?;
        self.bytes = rest;
        Ok(head.to_vec())
    }

    /// Skips attributes; their size and permissions.
    fn attrs(&mut self) -> io::Result<(Option<u64>, Option<u32>)> {
        let flags = self.u32()?;
        let size = if flags & ATTR_SIZE != 0 {
            Some(self.u64()?)
        } else {
            None
        };
        if flags & ATTR_UIDGID != 0 {
            self.u32()?;
            self.u32()?;
        }
        let permissions = if flags & ATTR_PERMISSIONS != 0 {
            Some(self.u32()?)
        } else {
            None
        };
        if flags & ATTR_ACMODTIME != 0 {
            self.u32()?;
            self.u32()?;
        }
        if flags & ATTR_EXTENDED != 0 {
            for _ in 0..self.u32()? {
                self.string()?;
                self.string()?;
            }
        }
        Ok((size, permissions))
    }
}

fn short() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "short SFTP reply")
}

/// A hand-driven SFTP v3 client: requests can be pipelined, replies left
/// unread, and any bytes written.
pub struct RawSftp<S> {
    stream: S,
    next_id: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawSftp<S> {
    /// Sends INIT (version 3) and waits for VERSION.
    pub async fn start(stream: S) -> io::Result<RawSftp<S>> {
        let mut sftp = RawSftp { stream, next_id: 1 };
        let mut init = vec![0, 0, 0, 5, kind::INIT];
        init.extend_from_slice(&3u32.to_be_bytes());
        sftp.stream.write_all(&init).await?;
        match sftp.recv().await? {
            Reply::Version => Ok(sftp),
            other => Err(io::Error::other(format!("expected VERSION, got {other:?}"))),
        }
    }

    /// Writes `bytes` as they are, with no framing.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Sends a request of `kind` with a fresh id; returns the id.
    pub async fn send(&mut self, kind: u8, fields: Fields) -> io::Result<u32> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut packet = Vec::with_capacity(9 + fields.0.len());
        packet.extend_from_slice(&(5 + fields.0.len() as u32).to_be_bytes());
        packet.push(kind);
        packet.extend_from_slice(&id.to_be_bytes());
        packet.extend_from_slice(&fields.0);
        self.stream.write_all(&packet).await?;
        Ok(id)
    }

    /// Sends an EXTENDED request named `name`; returns the id.
    pub async fn send_extended(&mut self, name: &str, fields: Fields) -> io::Result<u32> {
        let mut body = Fields::new().string(name.as_bytes());
        body.0.extend_from_slice(&fields.0);
        self.send(kind::EXTENDED, body).await
    }

    /// Reads the next reply.
    pub async fn recv(&mut self) -> io::Result<Reply> {
        let len = self.stream.read_u32().await? as usize;
        if len == 0 || len > 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("SFTP reply length {len}"),
            ));
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await?;
        let (&kind, rest) = body.split_first().ok_or_else(short)?;
        let mut r = Reader { bytes: rest };
        Ok(match kind {
            kind::VERSION => Reply::Version,
            kind::STATUS => {
                let id = r.u32()?;
                let code = r.u32()?;
                let message = String::from_utf8_lossy(&r.string().unwrap_or_default()).into_owned();
                Reply::Status { id, code, message }
            }
            kind::HANDLE => Reply::Handle {
                id: r.u32()?,
                handle: r.string()?,
            },
            kind::DATA => Reply::Data {
                id: r.u32()?,
                len: r.string()?.len(),
            },
            kind::NAME => {
                let id = r.u32()?;
                let count = r.u32()?;
                let mut names = Vec::new();
                for _ in 0..count {
                    names.push(r.string()?);
                    r.string()?;
                    r.attrs()?;
                }
                Reply::Name { id, names }
            }
            kind::ATTRS => {
                let id = r.u32()?;
                let (size, permissions) = r.attrs()?;
                Reply::Attrs {
                    id,
                    size,
                    permissions,
                }
            }
            kind::EXTENDED_REPLY => Reply::Extended {
                id: r.u32()?,
                data: r.bytes.to_vec(),
            },
            other => Reply::Other { kind: other },
        })
    }

    /// Sends one request and waits for its reply (no other request may be
    /// outstanding).
    pub async fn call(&mut self, kind: u8, fields: Fields) -> Result<Reply, String> {
        let id = self.send(kind, fields).await.map_err(|e| e.to_string())?;
        let reply = self.recv().await.map_err(|e| e.to_string())?;
        if reply.id() != id {
            return Err(format!("reply {reply:?} does not answer request {id}"));
        }
        Ok(reply)
    }

    /// OPEN `path` with `flags`; the handle.
    pub async fn open(&mut self, path: &[u8], flags: u32) -> Result<Vec<u8>, String> {
        let fields = Fields::new().string(path).u32(flags).no_attrs();
        match self.call(kind::OPEN, fields).await? {
            Reply::Handle { handle, .. } => Ok(handle),
            other => Err(format!("open {}: {other:?}", show(path))),
        }
    }

    /// OPENDIR `path`; the handle.
    pub async fn open_dir(&mut self, path: &[u8]) -> Result<Vec<u8>, String> {
        match self.call(kind::OPENDIR, Fields::new().string(path)).await? {
            Reply::Handle { handle, .. } => Ok(handle),
            other => Err(format!("opendir {}: {other:?}", show(path))),
        }
    }

    /// CLOSE `handle`; the status code.
    pub async fn close(&mut self, handle: &[u8]) -> Result<u32, String> {
        self.status_of(kind::CLOSE, Fields::new().string(handle))
            .await
    }

    /// Sends a request whose answer is a STATUS; its code.
    pub async fn status_of(&mut self, kind: u8, fields: Fields) -> Result<u32, String> {
        match self.call(kind, fields).await? {
            Reply::Status { code, .. } => Ok(code),
            other => Err(format!("expected a status, got {other:?}")),
        }
    }

    /// Creates (or truncates) `path` and writes `data` to it.
    pub async fn put(&mut self, path: &[u8], data: &[u8]) -> Result<(), String> {
        let flags = pflags::WRITE | pflags::CREATE | pflags::TRUNCATE;
        let handle = self.open(path, flags).await?;
        let mut offset = 0u64;
        for chunk in data.chunks(32 * 1024) {
            let fields = Fields::new().string(&handle).u64(offset).string(chunk);
            let code = self.status_of(kind::WRITE, fields).await?;
            if code != 0 {
                return Err(format!("write {}: status {code}", show(path)));
            }
            offset += chunk.len() as u64;
        }
        match self.close(&handle).await? {
            0 => Ok(()),
            code => Err(format!("close {}: status {code}", show(path))),
        }
    }

    /// The names in directory `path` (OPENDIR, READDIR to EOF, CLOSE).
    pub async fn list(&mut self, path: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let handle = self.open_dir(path).await?;
        let mut names = Vec::new();
        loop {
            match self
                .call(kind::READDIR, Fields::new().string(&handle))
                .await?
            {
                Reply::Name { names: more, .. } => names.extend(more),
                Reply::Status {
                    code: STATUS_EOF, ..
                } => break,
                other => return Err(format!("readdir {}: {other:?}", show(path))),
            }
        }
        self.close(&handle).await?;
        Ok(names)
    }

    /// Pipelines `count` OPENs of `path` and collects the handles granted,
    /// stopping at the first refusal; the handles and that refusal, if any.
    pub async fn open_many(
        &mut self,
        path: &[u8],
        flags: u32,
        count: usize,
    ) -> (Vec<Vec<u8>>, Option<String>) {
        self.many(count, |_| {
            (kind::OPEN, Fields::new().string(path).u32(flags).no_attrs())
        })
        .await
    }

    /// Pipelines `count` OPENDIRs of `path`, like [`open_many`](Self::open_many).
    pub async fn open_dir_many(
        &mut self,
        path: &[u8],
        count: usize,
    ) -> (Vec<Vec<u8>>, Option<String>) {
        self.many(count, |_| (kind::OPENDIR, Fields::new().string(path)))
            .await
    }

    /// Sends `count` requests, keeping at most [`PIPELINE_DEPTH`] unanswered,
    /// and collects the handles granted; the first refusal, if any.
    async fn many(
        &mut self,
        count: usize,
        request: impl Fn(usize) -> (u8, Fields),
    ) -> (Vec<Vec<u8>>, Option<String>) {
        let mut handles = Vec::new();
        let mut refusal = None;
        let (mut sent, mut answered) = (0, 0);
        while answered < count {
            while sent < count && sent - answered < PIPELINE_DEPTH {
                let (kind, fields) = request(sent);
                if let Err(err) = self.send(kind, fields).await {
                    return (handles, Some(err.to_string()));
                }
                sent += 1;
            }
            match self.recv().await {
                Ok(Reply::Handle { handle, .. }) => handles.push(handle),
                Ok(other) => {
                    refusal.get_or_insert_with(|| format!("{other:?}"));
                }
                Err(err) => return (handles, Some(refusal.unwrap_or(err.to_string()))),
            }
            answered += 1;
        }
        (handles, refusal)
    }
}

/// Requests a [`RawSftp`] keeps unanswered at most when it pipelines. The
/// russh client queues at most 100 messages per channel before its session
/// loop stops (and with it our own sends), so a client that sends without
/// reading must stay well under that.
pub const PIPELINE_DEPTH: usize = 32;

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> RawSftp<S> {
    /// Hands the reading side to a task that reads and counts replies until
    /// the stream ends, so the client never stalls however many requests
    /// it sends; the sending side and that task (its count).
    pub fn drain_replies(self) -> (SftpSender<tokio::io::WriteHalf<S>>, JoinHandle<usize>) {
        let (mut reader, writer) = tokio::io::split(self.stream);
        let drain = tokio::spawn(async move {
            let mut replies = 0;
            loop {
                let Ok(len) = reader.read_u32().await else {
                    return replies;
                };
                if len > 1 << 20 {
                    return replies;
                }
                let mut body = vec![0u8; len as usize];
                if reader.read_exact(&mut body).await.is_err() {
                    return replies;
                }
                replies += 1;
            }
        });
        (
            SftpSender {
                writer,
                next_id: self.next_id,
            },
            drain,
        )
    }
}

/// The sending side of a [`RawSftp`] whose replies are drained elsewhere.
pub struct SftpSender<W> {
    writer: W,
    next_id: u32,
}

impl<W: AsyncWrite + Unpin> SftpSender<W> {
    /// Writes `bytes` as they are, with no framing.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// Sends `check-file-handle` (whole file, one hash) for each handle.
    pub async fn send_checksums(&mut self, handles: &[Vec<u8>], algorithm: &str) -> io::Result<()> {
        for handle in handles {
            let fields = Fields::new()
                .string(b"check-file-handle")
                .string(handle)
                .string(algorithm.as_bytes())
                .u64(0)
                .u64(0)
                .u32(0);
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            let mut packet = Vec::with_capacity(9 + fields.0.len());
            packet.extend_from_slice(&(5 + fields.0.len() as u32).to_be_bytes());
            packet.push(kind::EXTENDED);
            packet.extend_from_slice(&id.to_be_bytes());
            packet.extend_from_slice(&fields.0);
            self.writer.write_all(&packet).await?;
        }
        self.writer.flush().await
    }
}

/// A path for messages.
pub fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

// ------------------------------------------------------------ a stream that stops reading

/// Stops (and restarts) the reading side of a [`Gated`] stream, as a client
/// that no longer reads its socket: the peer's writes then pile up in the
/// kernel buffers.
#[derive(Default)]
pub struct ReadGate {
    closed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ReadGate {
    /// No more reads until [`open`](Self::open).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Reads go on.
    pub fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
        if let Some(waker) = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            waker.wake();
        }
    }
}

/// A stream whose reads wait while its [`ReadGate`] is closed; writes always go through.
pub struct Gated<S> {
    inner: S,
    gate: Arc<ReadGate>,
}

impl<S> Gated<S> {
    pub fn new(inner: S) -> (Gated<S>, Arc<ReadGate>) {
        let gate = Arc::new(ReadGate::default());
        (
            Gated {
                inner,
                gate: gate.clone(),
            },
            gate,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Gated<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.gate.closed.load(Ordering::SeqCst) {
            *self
                .gate
                .waker
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            // Re-check: `open` may have run before the waker was stored.
            if self.gate.closed.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gated<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ------------------------------------------------------------ the wedge

/// Bytes of READ replies a wedging client leaves unread: more than the
/// russh client's 2 MiB window, so the server's SFTP writer waits for a
/// window adjustment that never comes.
pub const WEDGE_UNREAD_BYTES: usize = 3 << 20;

/// Tiny channel messages a wedging client sends after the SFTP stream is
/// broken: more than the server's 100-message channel queue.
pub const WEDGE_TINY_MESSAGES: usize = 150;

/// A connection logged in as `user` from `source` that wedges itself, as
/// the issue measured it: it opens a file, stops reading its socket, asks
/// for [`WEDGE_UNREAD_BYTES`] of READ replies, sends a zero-length SFTP
/// packet and [`WEDGE_TINY_MESSAGES`] one-byte channel messages, then goes
/// quiet. The returned connection must be kept (dropping it closes the
/// socket, which frees the server).
pub async fn wedged_connection(
    source: IpAddr,
    server: SocketAddr,
    user: &str,
    key: &Path,
) -> Result<(Ssh, ChannelSftp), String> {
    let stream = tcp_from(source, server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (stream, gate) = Gated::new(stream);
    let mut handle = ssh_over(stream).await?;
    key_login(&mut handle, user, key).await?;
    let mut sftp = sftp_on(&handle).await?;
    let name = format!("wedge-{}", std::process::id()).into_bytes();
    let file = sftp
        .open(&name, pflags::READ | pflags::WRITE | pflags::CREATE)
        .await?;
    // A sparse file: its reads cost nothing on disk and are all full.
    let size = 2 * WEDGE_UNREAD_BYTES as u64;
    let code = sftp
        .status_of(kind::FSETSTAT, Fields::new().string(&file).size_attrs(size))
        .await?;
    if code != 0 {
        return Err(format!("fsetstat size: status {code}"));
    }
    gate.close();
    let chunk = 32 * 1024;
    for i in 0..WEDGE_UNREAD_BYTES / chunk {
        let fields = Fields::new()
            .string(&file)
            .u64((i * chunk) as u64)
            .u32(chunk as u32);
        sftp.send(kind::READ, fields)
            .await
            .map_err(|e| format!("read request: {e}"))?;
    }
    sftp.send_raw(&[0, 0, 0, 0])
        .await
        .map_err(|e| format!("zero-length packet: {e}"))?;
    for _ in 0..WEDGE_TINY_MESSAGES {
        sftp.send_raw(b"x")
            .await
            .map_err(|e| format!("tiny message: {e}"))?;
    }
    Ok((handle, sftp))
}

// ------------------------------------------------------------ commands

/// What a command run over an exec channel came to.
#[derive(Debug, Default)]
pub struct CommandOutput {
    /// The exit status, when the server sent one.
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `line` on a new exec channel of `handle` and collects its output
/// until the channel closes.
pub async fn exec_on(handle: &Ssh, line: &[u8]) -> Result<CommandOutput, String> {
    let mut channel = handle
        .channel_open_session()
        .await
        .map_err(|e| format!("channel: {e}"))?;
    channel
        .exec(true, line)
        .await
        .map_err(|e| format!("exec: {e}"))?;
    let mut output = CommandOutput::default();
    while let Some(message) = channel.wait().await {
        match message {
            russh::ChannelMsg::Data { data } => output.stdout.extend_from_slice(&data),
            russh::ChannelMsg::ExtendedData { data, .. } => output.stderr.extend_from_slice(&data),
            russh::ChannelMsg::ExitStatus { exit_status } => output.status = Some(exit_status),
            _ => {}
        }
    }
    Ok(output)
}
