//! What a connection's handler shares with the task that drives it: whether
//! it has logged in, how many services are running (for the shutdown grace
//! period) and the totals logged when it ends.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::sync::Notify;
use tracing::{Span, info};

use crate::sftp::SessionTotals;

/// Shared state of one connection.
pub struct ConnectionState {
    span: Span,
    started: Instant,
    authenticated: AtomicBool,
    account: OnceLock<String>,
    running_services: AtomicUsize,
    idle: Notify,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    files_closed: AtomicU64,
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
            idle: Notify::new(),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            files_closed: AtomicU64::new(0),
        }
    }

    /// Records a successful login.
    pub fn set_authenticated(&self, account: &str) {
        let _ = self.account.set(account.to_owned());
        self.authenticated.store(true, Ordering::SeqCst);
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

    /// Waits until no service is running.
    pub async fn wait_until_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.running_services.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Adds a finished service's transfer totals.
    pub fn add_totals(&self, totals: &SessionTotals) {
        self.bytes_read
            .fetch_add(totals.bytes_read, Ordering::Relaxed);
        self.bytes_written
            .fetch_add(totals.bytes_written, Ordering::Relaxed);
        self.files_closed
            .fetch_add(totals.files_closed, Ordering::Relaxed);
    }

    /// Logs the end of the connection with its totals.
    pub fn log_end(&self) {
        let _entered = self.span.enter();
        if !self.is_authenticated() {
            return;
        }
        info!(
            duration_ms = self.started.elapsed().as_millis() as u64,
            bytes_read = self.bytes_read.load(Ordering::Relaxed),
            bytes_written = self.bytes_written.load(Ordering::Relaxed),
            files = self.files_closed.load(Ordering::Relaxed),
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
