//! What a connection's handler shares with the task that drives it and
//! with its service tasks: whether it has logged in, its channel table, how
//! many services are running (for the shutdown grace period) and what
//! its services moved, logged when it ends.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::sync::Notify;
use tracing::{Span, info};

use super::channels::ChannelTable;
use crate::service::Transferred;

/// How often a shutting-down connection looks again for open SFTP handles.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a connection must stay idle before a shutdown closes it.
const IDLE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Shared state of one connection.
pub struct ConnectionState {
    span: Span,
    started: Instant,
    authenticated: AtomicBool,
    account: OnceLock<String>,
    running_services: AtomicUsize,
    /// Files and directories SFTP clients of this connection hold open.
    open_handles: Arc<AtomicUsize>,
    idle: Notify,
    /// What its services moved, counted as it moves.
    moved: Arc<Transferred>,
    /// Passwords or key signatures refused on this connection.
    auth_failures: std::sync::atomic::AtomicU32,
    /// Cancelled when the connection must end now (no progress, login
    /// grace over): its services stop and drop their channels.
    closing: tokio_util::sync::CancellationToken,
    /// Channels open now. The handler adds them; whoever closes one (the
    /// client, or a service task when it ends) removes it.
    channels: ChannelTable,
}

/// Marks a running service; dropping it may make the connection idle.
pub struct ServiceGuard {
    state: Arc<ConnectionState>,
}

impl ConnectionState {
    /// Fresh state for a connection logging in `span`.
    pub fn new(span: Span) -> ConnectionState {
        ConnectionState {
            span,
            started: Instant::now(),
            authenticated: AtomicBool::new(false),
            account: OnceLock::new(),
            running_services: AtomicUsize::new(0),
            open_handles: Arc::default(),
            idle: Notify::new(),
            moved: Arc::default(),
            auth_failures: std::sync::atomic::AtomicU32::new(0),
            closing: tokio_util::sync::CancellationToken::new(),
            channels: ChannelTable::default(),
        }
    }

    /// The connection's open channels.
    pub fn channels(&self) -> &ChannelTable {
        &self.channels
    }

    /// Counts a refused password or key signature.
    pub fn count_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Passwords or key signatures refused so far.
    pub fn auth_failures(&self) -> u32 {
        self.auth_failures.load(Ordering::Relaxed)
    }

    /// Ends the connection's services now.
    pub fn close_now(&self) {
        self.closing.cancel();
    }

    /// Cancelled when the connection must end now; services select on it.
    pub fn closing(&self) -> tokio_util::sync::CancellationToken {
        self.closing.clone()
    }

    /// Records a successful login.
    pub fn set_authenticated(&self, account: &str) {
        let _ = self.account.set(account.to_owned());
        self.authenticated.store(true, Ordering::SeqCst);
    }

    /// The account it logged in as; `None` before login.
    pub fn account(&self) -> Option<String> {
        if !self.is_authenticated() {
            return None;
        }
        self.account.get().cloned()
    }

    /// Whether the connection has logged in.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::SeqCst)
    }

    /// Counts a service (SFTP, command, shell) as running until the guard drops.
    pub fn start_service(self: &Arc<Self>) -> ServiceGuard {
        self.running_services.fetch_add(1, Ordering::SeqCst);
        ServiceGuard {
            state: self.clone(),
        }
    }

    /// The counter SFTP sessions keep of their open handles.
    pub fn open_handles(&self) -> Arc<AtomicUsize> {
        self.open_handles.clone()
    }

    fn is_idle(&self) -> bool {
        self.running_services.load(Ordering::SeqCst) == 0
            && self.open_handles.load(Ordering::SeqCst) == 0
    }

    /// Waits until no command or shell runs and no SFTP handle is open: an
    /// SFTP session sitting at its prompt is idle, a transfer is not. The
    /// connection must stay idle for [`IDLE_LINGER`], so that a batch client
    /// whose last transfer just ended can close by itself and exit 0.
    pub async fn wait_until_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.is_idle() {
                tokio::time::sleep(IDLE_LINGER).await;
                if self.is_idle() {
                    return;
                }
                continue;
            }
            // Handles close without a notification: look again shortly.
            let _ = tokio::time::timeout(IDLE_POLL, notified).await;
        }
    }

    /// The counters its services count what they move into.
    pub fn moved(&self) -> Arc<Transferred> {
        self.moved.clone()
    }

    /// Logs the end of the connection with its totals.
    pub fn log_end(&self) {
        let _entered = self.span.enter();
        if !self.is_authenticated() {
            return;
        }
        let moved = self.moved.snapshot();
        info!(
            target: "audit",
            duration_ms = self.started.elapsed().as_millis() as u64,
            bytes_read = moved.bytes_read,
            bytes_written = moved.bytes_written,
            files = moved.files,
            "session ended"
        );
    }
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        if self.state.running_services.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.state.idle.notify_waiters();
        }
    }
}
