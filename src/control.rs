//! The control socket: how `sftpbox sessions`, `kick` and `reload` talk to
//! a running server. A Unix socket at `control_socket`, mode 0600, owned by
//! the server's user; a peer whose uid (`SO_PEERCRED`) is not the server's
//! is refused even when the file's mode would let it in.
//!
//! The protocol is JSON lines: the client sends one [`Request`] line, the
//! server answers one [`Response`] line and closes. Anyone who can open the
//! socket and has the server's uid is trusted; nothing it sends can make
//! the server panic (a request line is bounded and parsed into our types).
//!
//! It knows no SSH, no sessions and no accounts file: the server answers
//! requests through [`Handler`].

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

/// Longest request line the server reads.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// Longest answer a client reads (a sessions list of thousands of rows
/// stays well under it).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// How long either side waits for the other: a reload verifies no
/// passwords, so seconds are plenty.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait before accepting again after `accept` failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The sessions open now, with their transfers.
    Sessions,
    /// End sessions: the one numbered `id`, or every one of `account`.
    Kick {
        /// The session's number, as `sessions` shows it.
        id: Option<u64>,
        /// An account name.
        account: Option<String>,
    },
    /// Load accounts.toml again, as SIGHUP does.
    Reload,
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// The sessions open now.
    Sessions {
        /// One entry per authenticated session.
        sessions: Vec<SessionInfo>,
    },
    /// These sessions are being ended.
    Kicked {
        /// Their numbers.
        ids: Vec<u64>,
    },
    /// The accounts were reloaded.
    Reloaded {
        /// How many accounts are in force now.
        accounts: usize,
    },
    /// The request failed; `message` says why (for a reload, the file's
    /// problems as `file:line:column: message` lines).
    Error {
        /// What went wrong.
        message: String,
    },
}

/// One authenticated session, as scripts see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Its number, for `kick`.
    pub id: u64,
    /// The account it logged in as.
    pub account: String,
    /// The client's address, `ip:port`.
    pub peer: String,
    /// When it connected, RFC 3339 in UTC.
    pub started: String,
    /// The kinds of its channels being served: `sftp`, `exec`, `shell`, `scp`.
    pub channels: Vec<String>,
    /// Files being moved now.
    pub transfers: Vec<TransferInfo>,
}

/// One open file of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferInfo {
    /// The path as the session sees it (bytes that are not UTF-8 escaped).
    pub path: String,
    /// `upload` or `download`.
    pub direction: String,
    /// Bytes moved so far.
    pub bytes: u64,
    /// The file's size where known in advance.
    pub size: Option<u64>,
    /// Bytes per second since the file was opened.
    pub rate: u64,
}

/// Answers control requests (the server). Called off the async threads:
/// it may block (a reload reads a file).
pub trait Handler: Send + Sync + 'static {
    /// The answer to `request`.
    fn handle(&self, request: Request) -> Response;
}

/// Why a client got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing listens at the socket (no file, or a stale one).
    #[error("no server answers at {}: {source}", path.display())]
    NoServer {
        /// The socket path.
        path: PathBuf,
        /// What connecting said.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke, timed out or the answer was not ours.
    #[error("the server at {} did not answer properly: {message}", path.display())]
    BadAnswer {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Binds the control socket at `path`, mode 0600. A socket file left by
/// a server that is gone is replaced; one a live server answers on is not.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("another server answers at {}", path.display()),
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(_) => {}
    }
    // Bind with a umask-independent window as short as can be: the file
    // is made, then narrowed to 0600 before anyone is accepted.
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Answers requests on `listener` with `handler` for as long as the task runs.
pub async fn serve(listener: UnixListener, handler: Arc<dyn Handler>) {
    let own_uid = rustix::process::geteuid().as_raw();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let handler = handler.clone();
                tokio::spawn(async move {
                    if let Err(err) = answer(stream, own_uid, handler).await {
                        debug!(%err, "control request failed");
                    }
                });
            }
            Err(err) => {
                warn!(%err, "control socket accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Checks the peer, reads one request, answers it.
async fn answer(
    mut stream: UnixStream,
    own_uid: u32,
    handler: Arc<dyn Handler>,
) -> std::io::Result<()> {
    let peer_uid = stream.peer_cred()?.uid();
    if peer_uid != own_uid {
        warn!(
            peer_uid,
            server_uid = own_uid,
            "control connection refused: not the server's user"
        );
        let refusal = Response::Error {
            message: format!("refused: uid {peer_uid} is not the server's user"),
        };
        return write_line(&mut stream, &refusal).await;
    }
    let (reader, mut writer) = stream.split();
    let mut line = Vec::new();
    let read = tokio::time::timeout(
        TIMEOUT,
        tokio::io::BufReader::new(reader.take(MAX_REQUEST_BYTES)).read_until(b'\n', &mut line),
    )
    .await;
    let response = match read {
        Err(_) => return Ok(()),
        Ok(Err(err)) => return Err(err),
        Ok(Ok(_)) => match serde_json::from_slice::<Request>(&line) {
            Ok(request) => tokio::task::spawn_blocking(move || handler.handle(request))
                .await
                .unwrap_or_else(|_| Response::Error {
                    message: "the request was interrupted".into(),
                }),
            Err(err) => Response::Error {
                message: format!("not a request: {err}"),
            },
        },
    };
    write_line(&mut writer, &response).await
}

async fn write_line<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    response: &Response,
) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(response).map_err(std::io::Error::other)?;
    text.push(b'\n');
    writer.write_all(&text).await?;
    writer.shutdown().await
}

/// Sends `request` to the server at `path` and returns its answer
/// (blocking; for the command line).
pub fn ask(path: &Path, request: &Request) -> Result<Response, ControlError> {
    let bad = |message: String| ControlError::BadAnswer {
        path: path.to_owned(),
        message,
    };
    let mut stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| ControlError::NoServer {
            path: path.to_owned(),
            source,
        })?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let mut line = serde_json::to_vec(request).map_err(|err| bad(err.to_string()))?;
    line.push(b'\n');
    // A refused peer may find the socket closed before it writes: read the
    // refusal all the same.
    let _ = stream.write_all(&line);
    let mut answer = Vec::new();
    BufReader::new(std::io::Read::take(&mut stream, MAX_RESPONSE_BYTES))
        .read_until(b'\n', &mut answer)
        .map_err(|err| bad(err.to_string()))?;
    if answer.is_empty() {
        return Err(bad("it closed the connection without an answer".into()));
    }
    serde_json::from_slice(&answer).map_err(|err| bad(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Handler for Echo {
        fn handle(&self, request: Request) -> Response {
            match request {
                Request::Kick { id, .. } => Response::Kicked {
                    ids: id.into_iter().collect(),
                },
                _ => Response::Reloaded { accounts: 3 },
            }
        }
    }

    #[test]
    fn requests_are_one_json_object_with_a_tag() {
        let text = serde_json::to_string(&Request::Kick {
            id: Some(4),
            account: None,
        })
        .unwrap();
        assert_eq!(text, r#"{"request":"kick","id":4,"account":null}"#);
        let back: Request = serde_json::from_str(r#"{"request":"sessions"}"#).unwrap();
        assert_eq!(back, Request::Sessions);
    }

    #[tokio::test]
    async fn a_request_gets_its_answer_and_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let task = tokio::spawn(serve(listener, Arc::new(Echo)));
        assert!(bind(&path).is_err(), "a live socket must not be taken over");
        let asked = path.clone();
        let answer = tokio::task::spawn_blocking(move || {
            ask(
                &asked,
                &Request::Kick {
                    id: Some(9),
                    account: None,
                },
            )
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(answer, Response::Kicked { ids: vec![9] });
        task.abort();
    }

    #[test]
    fn no_server_is_told_apart_from_a_bad_answer() {
        let dir = tempfile::tempdir().unwrap();
        let err = ask(&dir.path().join("none.sock"), &Request::Sessions).unwrap_err();
        assert!(matches!(err, ControlError::NoServer { .. }));
        assert!(err.to_string().contains("no server answers at"));
    }
}
