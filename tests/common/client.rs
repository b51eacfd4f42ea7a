//! The russh client and its SFTP session, in-process.

use std::net::SocketAddr;
use std::sync::Arc;

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
