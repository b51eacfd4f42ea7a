//! The async end of a built-in: the client's streams, fed from the events
//! `Io` queues on the blocking side.
//!
//! Without a terminal, stdout and stderr are the channel's two streams; on
//! a terminal (`stderr == None`) both go to stdout with `\n` turned into
//! `\r\n`, as a real pty does. Stdin is read only when the built-in asks.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::OUTPUT_CHUNK_BYTES;
use super::io::Event;
use crate::exec::crlf;

/// The streams a built-in runs with. `stderr == None` means a terminal:
/// stderr is merged into stdout and `\n` becomes `\r\n`.
pub(crate) struct Streams<'a> {
    /// Where stdin comes from; `None` reads as empty.
    pub stdin: Option<&'a mut (dyn AsyncRead + Unpin + Send)>,
    /// Where output goes.
    pub stdout: &'a mut (dyn AsyncWrite + Unpin + Send),
    /// Where error messages go; `None` on a terminal.
    pub stderr: Option<&'a mut (dyn AsyncWrite + Unpin + Send)>,
}

/// Moves events to the streams until the built-in is done or a stream fails.
pub(super) async fn pump(
    queue: &mut mpsc::Receiver<Event>,
    streams: &mut Streams<'_>,
) -> std::io::Result<()> {
    let mut stdin_ended = streams.stdin.is_none();
    while let Some(event) = queue.recv().await {
        match event {
            Event::Stdout(data) => write(streams, false, &data).await?,
            Event::Stderr(data) => write(streams, true, &data).await?,
            Event::ReadStdin(reply) => {
                let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
                let mut read = 0;
                if let (false, Some(stdin)) = (stdin_ended, streams.stdin.as_mut()) {
                    read = stdin.read(&mut buf).await.unwrap_or(0);
                }
                stdin_ended |= read == 0;
                buf.truncate(read);
                // The built-in may have stopped waiting; nothing to do then.
                let _ = reply.send(buf);
            }
        }
    }
    Ok(())
}

/// Writes to stdout or stderr; on a terminal both go to stdout with `\r\n`.
pub(super) async fn write(
    streams: &mut Streams<'_>,
    to_stderr: bool,
    data: &[u8],
) -> std::io::Result<()> {
    match (&mut streams.stderr, to_stderr) {
        (Some(stderr), true) => {
            stderr.write_all(data).await?;
            stderr.flush().await
        }
        (Some(_), false) => {
            streams.stdout.write_all(data).await?;
            streams.stdout.flush().await
        }
        (None, _) => {
            streams.stdout.write_all(&crlf(data)).await?;
            streams.stdout.flush().await
        }
    }
}
