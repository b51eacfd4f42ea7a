//! `Io`: a built-in's view of its session, on the blocking side.
//!
//! A built-in never touches a stream: it queues output and error lines and
//! asks for stdin through a bounded channel of [`Event`]s, which
//! `streams.rs` drains on the async side. Every call fails with [`Gone`]
//! once the command timed out or the client went away, so a body that
//! checks in its loops stops soon after.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::OUTPUT_CHUNK_BYTES;
use crate::jail::{Jail, JailError, VirtualPath};

/// Events queued between a built-in and the streams: a few chunks, so that
/// a slow client slows the built-in down instead of filling memory.
pub(super) const EVENT_QUEUE: usize = 4;

/// What the blocking side asks of the streams.
pub(super) enum Event {
    /// Bytes for stdout.
    Stdout(Vec<u8>),
    /// Bytes for stderr (stdout on a terminal).
    Stderr(Vec<u8>),
    /// The next piece of stdin, sent back on the channel; empty at its end.
    ReadStdin(oneshot::Sender<Vec<u8>>),
}

/// The client is gone or the command timed out: stop now.
#[derive(Debug)]
pub(crate) struct Gone;

/// A built-in's view of its session, used on the blocking side.
pub(crate) struct Io {
    /// The account's box.
    pub jail: Jail,
    /// The account name, shown as owner and group.
    pub account: String,
    /// Where relative paths start.
    pub cwd: VirtualPath,
    /// Whether stdout is a terminal (`ls` then prints columns).
    pub is_terminal: bool,
    events: mpsc::Sender<Event>,
    pending: Vec<u8>,
    stop: Arc<AtomicBool>,
}

impl Io {
    /// A view that sends its events to `events` and stops once `stop` is
    /// raised.
    pub(super) fn new(
        jail: Jail,
        account: String,
        cwd: VirtualPath,
        is_terminal: bool,
        events: mpsc::Sender<Event>,
        stop: Arc<AtomicBool>,
    ) -> Io {
        Io {
            jail,
            account,
            cwd,
            is_terminal,
            events,
            pending: Vec::new(),
            stop,
        }
    }

    /// Queues `data` for stdout.
    pub fn out(&mut self, data: &[u8]) -> Result<(), Gone> {
        self.check()?;
        self.pending.extend_from_slice(data);
        if self.pending.len() >= OUTPUT_CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what is queued for stdout.
    pub fn flush(&mut self) -> Result<(), Gone> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.pending);
        self.send(Event::Stdout(chunk))
    }

    /// Writes `NAME: MESSAGE` and a newline to stderr, after what stdout
    /// has so far, so the two keep their order on a terminal. The message
    /// is bytes: GNU writes some names in it raw.
    pub fn err(&mut self, name: &str, message: impl AsRef<[u8]>) -> Result<(), Gone> {
        self.flush()?;
        let message = message.as_ref();
        let mut line = Vec::with_capacity(name.len() + message.len() + 3);
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(message);
        line.push(b'\n');
        self.send(Event::Stderr(line))
    }

    /// Reports a usage error GNU-style and returns `status`.
    pub fn usage(
        &mut self,
        name: &str,
        message: impl AsRef<[u8]>,
        status: u32,
    ) -> Result<u32, Gone> {
        self.err(name, message)?;
        let line = format!("Try '{name} --help' for more information.\n").into_bytes();
        self.send(Event::Stderr(line))?;
        Ok(status)
    }

    /// The next piece of stdin; empty at end of input.
    pub fn read_stdin(&mut self) -> Result<Vec<u8>, Gone> {
        self.flush()?;
        let (reply, answer) = oneshot::channel();
        self.send(Event::ReadStdin(reply))?;
        answer.blocking_recv().map_err(|_| Gone)
    }

    /// Fails once the command should stop.
    pub fn check(&self) -> Result<(), Gone> {
        if self.stop.load(Ordering::Relaxed) || self.events.is_closed() {
            Err(Gone)
        } else {
            Ok(())
        }
    }

    /// Resolves a client argument against the current directory.
    pub fn resolve(&self, arg: &[u8]) -> Result<VirtualPath, JailError> {
        VirtualPath::resolve(&self.cwd, arg)
    }

    fn send(&self, event: Event) -> Result<(), Gone> {
        self.events.blocking_send(event).map_err(|_| Gone)
    }
}
