//! Whether a connection makes progress: a wrapper around the socket that
//! notes when bytes last moved in either direction, and a closer that shuts
//! the socket from outside.
//!
//! russh runs each connection in a task of its own; if that task waits for
//! ever (a channel queue nobody drains, a peer that stops reading), nothing
//! inside it notices, and its idle timeout never fires. The accept side
//! watches this record instead and, when a connection has moved nothing
//! for the idle timeout (or has not logged in within the login grace), shuts
//! the socket down under russh's feet so that its task ends and the
//! connection's slots are freed.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// When bytes last moved on a connection.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    /// Milliseconds after `started` of the last read or write that moved bytes.
    last_progress_ms: AtomicU64,
}

impl Activity {
    /// A record that starts now.
    pub fn new() -> Activity {
        Activity {
            started: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_progress_ms.fetch_max(elapsed, Ordering::Relaxed);
    }

    /// How long nothing has moved.
    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// A stream that records its progress in an [`Activity`].
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// Wraps `inner`, recording into `activity`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Shuts a socket down from outside the task that owns it: its reads see
/// end of stream and its writes fail, whatever that task is waiting for.
#[derive(Debug)]
pub struct SocketCloser {
    /// A duplicate of the socket's descriptor (shutdown acts on the socket,
    /// not the descriptor, so it reaches the owner's copy too).
    socket: std::net::TcpStream,
}

impl SocketCloser {
    /// A closer for `socket`; `None` if its descriptor cannot be duplicated
    /// (descriptors exhausted: the caller should refuse the connection).
    pub fn for_socket(socket: &TcpStream) -> Option<SocketCloser> {
        let fd: OwnedFd = socket.as_fd().try_clone_to_owned().ok()?;
        Some(SocketCloser {
            socket: std::net::TcpStream::from(fd),
        })
    }

    /// Shuts both directions down.
    pub fn close(&self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn moving_bytes_resets_the_idle_time_and_waiting_does_not() {
        let (client, server) = tokio::io::duplex(64);
        let activity = Arc::new(Activity::new());
        let mut watched = Watched::new(server, activity.clone());
        let mut client = client;
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(activity.idle_for() >= Duration::from_millis(50));
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        watched.read_exact(&mut buf).await.unwrap();
        assert!(activity.idle_for() < Duration::from_millis(50));
        tokio::time::sleep(Duration::from_millis(60)).await;
        watched.write_all(b"back").await.unwrap();
        assert!(activity.idle_for() < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn the_closer_ends_the_owners_pending_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut socket, _) = listener.accept().await.unwrap();
        let closer = SocketCloser::for_socket(&socket).unwrap();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            socket.read(&mut buf).await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        closer.close();
        let read = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the pending read ended")
            .unwrap();
        assert_eq!(read.unwrap(), 0);
    }
}
