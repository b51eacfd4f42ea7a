//! The client side in-process: the russh client and its SFTP session, and
//! raw TCP for what happens before SSH starts.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// An unauthenticated SSH connection from the russh client to `addr`.
pub async fn connect(addr: SocketAddr) -> russh::client::Handle<AcceptAnyHostKey> {
    let config = Arc::new(russh::client::Config::default());
    russh::client::connect(config, addr, AcceptAnyHostKey)
        .await
        .unwrap()
}

/// The most writes the russh SFTP client keeps in flight on one file, with
/// room to spare: after a failed write, each `shutdown` reports one more of
/// them, and the last one closes the file.
const MAX_UNANSWERED_WRITES: usize = 1024;

/// Creates (or truncates) `name` and writes `data` through the russh SFTP
/// client; the error text is the server's status message for the first
/// write (or the close) it refused. The file is closed before this returns,
/// after a failed write too, so the server has answered every write: what
/// the file and the quota hold afterwards stays as it is.
pub async fn put(
    sftp: &russh_sftp::client::SftpSession,
    name: &str,
    data: &[u8],
) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut file = sftp.create(name).await.map_err(|e| e.to_string())?;
    let mut first_error = file.write_all(data).await.err();
    for _ in 0..MAX_UNANSWERED_WRITES {
        match file.shutdown().await {
            Ok(()) => break,
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err.to_string()),
        None => Ok(()),
    }
}

/// Connects to `addr` over TCP and reads until the server's SSH
/// identification line has arrived, the server closed the connection, or
/// `within` has passed since the connect; returns the stream and what it
/// received.
pub fn connect_for_banner(addr: SocketAddr, within: Duration) -> (TcpStream, Vec<u8>) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut received = Vec::new();
    let mut buf = [0_u8; 256];
    while !received.windows(2).any(|w| w == b"\r\n") {
        let Some(left) = within
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    (stream, received)
}
