//! Legacy scp (`scp -O`, `pscp -scp`): the server side of `scp -t TARGET`
//! (sink, the client uploads) and `scp -f SOURCE…` (source, the client
//! downloads), in-process over the account's [`Jail`], so the box and the
//! quota hold by construction.
//!
//! Only the server roles exist: `-t`, `-f` and the flags a client sends
//! with them (`-r -p -d -v -q`, `--`); every other option (`-S -o -F -P -i
//! -J -3 -l …`) is refused, which closes the scponly/rssh class of escapes
//! through a "client" scp. The wire format is in `protocol.rs`, the state
//! machines in `sink.rs` and `source.rs`. This module knows nothing of SSH
//! nor of the command dispatcher that hands it the words: it gets the box,
//! the account name, argv and a byte stream, and returns an exit status, 0
//! or 1 as OpenSSH. What it moves counts into the connection's transfer
//! counters, one log line per file; with `-v` it tells the client's stderr
//! each record, as OpenSSH's scp does, names escaped where not printable.

pub(crate) mod protocol;
mod sink;
mod source;
mod upload;

use std::io;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use std::sync::Arc;
use std::time::Instant;

use tracing::info;

use crate::jail::{Jail, JailError, VirtualPath, escaped};
use crate::transfer::{Direction, FileInfo, FileTransfer, Moved, Transferred};
use protocol::{ACK_ERROR, ACK_OK, MAX_LINE_BYTES};

/// Size of one data chunk read from or written to a file.
const CHUNK_BYTES: usize = 64 * 1024;

/// The flags of a server-side scp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Options {
    /// `-t`: receive into the target.
    sink: bool,
    /// `-f`: send the sources.
    source: bool,
    /// `-r`: directories too.
    recursive: bool,
    /// `-p`: keep modes and times.
    preserve: bool,
    /// `-d`: the target must be a directory.
    target_is_dir: bool,
    /// `-v`: tell stderr every record sent or received.
    verbose: bool,
    /// The paths, as typed (after the caller's tokenizing and globbing),
    /// byte for byte.
    operands: Vec<Vec<u8>>,
}

/// Runs `scp` with `argv` (`argv[0]` is `scp`) in `jail` over
/// `stdin`/`stdout`; `account` names the box's root when a client fetches
/// `/` itself; what files move is counted into `moved`; usage errors and
/// `-v`'s lines go to `stderr`. Returns exit status 0 when no error was sent
/// or received, else 1.
pub async fn run<R, W, E>(
    jail: &Jail,
    account: &str,
    moved: &Arc<Transferred>,
    argv: &[Vec<u8>],
    stdin: R,
    stdout: W,
    mut stderr: E,
) -> u32
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let options = match parse_options(argv.get(1..).unwrap_or_default()) {
        Ok(options) => options,
        Err(message) => {
            // Best effort: the client may already be gone.
            let _ = stderr
                .write_all(format!("scp: {message}\n").as_bytes())
                .await;
            let _ = stderr.flush().await;
            return 1;
        }
    };
    let mut peer = Peer {
        reader: BufReader::new(stdin),
        writer: stdout,
        errors: 0,
        stderr: options.verbose.then_some(stderr),
        moved: moved.clone(),
    };
    let result = if options.sink {
        sink::run(&mut peer, jail, &options).await
    } else {
        source::run(&mut peer, jail, &options, account).await
    };
    let _ = peer.writer.flush().await;
    if let Some(stderr) = peer.stderr.as_mut() {
        let _ = stderr.flush().await;
    }
    match result {
        Ok(()) if peer.errors == 0 => 0,
        Ok(()) | Err(Stop) => 1,
    }
}

/// getopt-style parsing of `-t`/`-f` and their flags.
fn parse_options(args: &[Vec<u8>]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut rest = args.iter();
    for arg in rest.by_ref() {
        if arg == b"--" {
            break;
        }
        let Some(flags) = arg.strip_prefix(b"-").filter(|flags| !flags.is_empty()) else {
            options.operands.push(arg.clone());
            break;
        };
        for &flag in flags {
            match flag {
                b't' => options.sink = true,
                b'f' => options.source = true,
                b'r' => options.recursive = true,
                b'p' => options.preserve = true,
                b'd' => options.target_is_dir = true,
                b'v' => options.verbose = true,
                b'q' => {}
                other => {
                    return Err(format!("unsupported option -- {}", escaped(&[other])));
                }
            }
        }
    }
    options.operands.extend(rest.cloned());
    if options.sink == options.source {
        return Err("exactly one of -t and -f is required (only the server side runs here)".into());
    }
    if options.source && options.operands.is_empty() {
        return Err("-f needs at least one source".into());
    }
    Ok(options)
}

/// The session ended early (lost connection or a fatal protocol error that
/// was already reported): exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stop;

/// An acknowledgement from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ack {
    /// `\0`.
    Ok,
    /// `\x01MSG\n`: this item failed; go on.
    Error,
}

/// The other end of the session: a buffered reader (records and data share
/// it), the writer, the count of errors sent or received, stderr when `-v`
/// asked for the records there, and the counters files count into.
struct Peer<R, W, E> {
    reader: BufReader<R>,
    writer: W,
    errors: u32,
    stderr: Option<E>,
    moved: Arc<Transferred>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin, E: AsyncWrite + Unpin> Peer<R, W, E> {
    /// With `-v`, writes `what: RECORD` on stderr as OpenSSH's scp does
    /// (`Sink: C0644 5 name`), the record without its newline and escaped
    /// where it is not printable UTF-8. A client that stopped reading its
    /// stderr only loses these lines' flush, not the transfer.
    async fn tell(&mut self, what: &str, record: &[u8]) {
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(stderr) = self.stderr.as_mut() {
            let line = format!("{what}: {}\n", escaped(record));
            let _ = stderr.write_all(line.as_bytes()).await;
        }
    }

    /// A transfer of the file at `path`, of `size` bytes, going
    /// `direction`, counted into the connection's figures.
    fn start_file(&self, path: &VirtualPath, direction: Direction, size: u64) -> FileTransfer {
        let info = FileInfo {
            path: escaped(path.as_bytes()).into_owned(),
            direction,
            size: Some(size),
        };
        FileTransfer::new(self.moved.clone(), info)
    }

    /// An upload of `size` bytes to `path`, begun at `started`, counted
    /// into the connection's figures and hashed as it is written; logged
    /// when dropped.
    fn start_upload(&self, path: VirtualPath, size: u64, started: Instant) -> UploadAudit {
        let transfer = self.start_file(&path, Direction::Upload, size);
        UploadAudit {
            path,
            transfer,
            started,
            size,
            kept: false,
        }
    }

    /// Sends `bytes` and flushes, so the peer sees every record at once.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.writer.write_all(bytes).await.map_err(|_| Stop)?;
        self.writer.flush().await.map_err(|_| Stop)
    }

    /// Writes file data without flushing (the caller flushes at the end).
    async fn write_data(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.writer.write_all(bytes).await.map_err(|_| Stop)
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        self.writer.flush().await.map_err(|_| Stop)
    }

    /// Sends `\x01scp: MESSAGE\n` and counts it (OpenSSH `run_err`).
    async fn send_error(&mut self, message: &str) -> Result<(), Stop> {
        self.errors = self.errors.saturating_add(1);
        self.send(&protocol::error_line(message)).await
    }

    /// Sends a fatal protocol error and ends the session.
    async fn fail<T>(&mut self, message: &str) -> Result<T, Stop> {
        self.send_error(message).await?;
        Err(Stop)
    }

    /// Reads one record line, without its newline; `None` at EOF before
    /// its first byte. Longer than [`MAX_LINE_BYTES`] or cut by EOF: fatal.
    async fn read_line(&mut self) -> Result<Option<Vec<u8>>, Stop> {
        let mut line = Vec::new();
        let cap = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX);
        let read = (&mut self.reader)
            .take(cap)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|_| Stop)?;
        if read == 0 {
            return Ok(None);
        }
        if line.pop() != Some(b'\n') {
            return if read >= MAX_LINE_BYTES {
                self.fail("protocol error: line too long").await
            } else {
                Err(Stop) // lost connection inside a line
            };
        }
        Ok(Some(line))
    }

    /// Reads one acknowledgement (OpenSSH `response()`): an error line is
    /// counted; a fatal one, any unknown byte or EOF ends the session.
    async fn read_ack(&mut self) -> Result<Ack, Stop> {
        let mut byte = [0_u8; 1];
        self.reader.read_exact(&mut byte).await.map_err(|_| Stop)?;
        match byte {
            [ACK_OK] => Ok(Ack::Ok),
            [kind] => {
                // The message is only for the client's own stderr: skip it.
                let mut message = Vec::new();
                let cap = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX);
                (&mut self.reader)
                    .take(cap)
                    .read_until(b'\n', &mut message)
                    .await
                    .map_err(|_| Stop)?;
                self.errors = self.errors.saturating_add(1);
                if kind == ACK_ERROR {
                    Ok(Ack::Error)
                } else {
                    Err(Stop)
                }
            }
        }
    }
}

/// The target of audit events, as SFTP's.
const AUDIT: &str = "audit";

/// Finishes the download of the file at `path` and logs it like SFTP's close.
fn log_download(path: &VirtualPath, transfer: &FileTransfer, started: Instant) {
    let Moved { bytes_read, .. } = transfer.finish();
    info!(
        target: AUDIT,
        path = %path,
        bytes_read,
        duration_ms = started.elapsed().as_millis() as u64,
        "download finished"
    );
}

/// One upload's audit line, written when it is dropped, however the upload
/// ended: "upload finished" like SFTP's, with the sha256 when the file was
/// kept whole (the sink writes in order from the start), else with
/// `result = "failed"`.
struct UploadAudit {
    /// Where the file goes.
    path: VirtualPath,
    /// What was written, counted and hashed.
    transfer: FileTransfer,
    started: Instant,
    /// The size the `C` record announced.
    size: u64,
    /// Set once the file is in place.
    kept: bool,
}

impl Drop for UploadAudit {
    fn drop(&mut self) {
        let Moved { bytes_written, .. } = self.transfer.finish();
        let duration_ms = self.started.elapsed().as_millis() as u64;
        if self.kept {
            let sha256 = self.transfer.sha256(self.size);
            info!(
                target: AUDIT,
                path = %self.path,
                size = self.size,
                bytes_written,
                duration_ms,
                sha256,
                "upload finished"
            );
        } else {
            info!(
                target: AUDIT,
                path = %self.path,
                size = self.size,
                bytes_written,
                duration_ms,
                result = "failed",
                "upload finished"
            );
        }
    }
}

/// Runs a blocking jail operation on the blocking pool.
async fn blocking<T, F>(jail: &Jail, op: F) -> Result<T, JailError>
where
    T: Send + 'static,
    F: FnOnce(&Jail) -> Result<T, JailError> + Send + 'static,
{
    let jail = jail.clone();
    tokio::task::spawn_blocking(move || op(&jail))
        .await
        .unwrap_or_else(|err| Err(JailError::Io(io::Error::other(err))))
}

#[cfg(test)]
mod tests;
