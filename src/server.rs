//! The listener side: accept loop, connection caps (overall, per source
//! address, unauthenticated), the russh configuration built in one place, a
//! span per connection, graceful shutdown and swapping in reloaded accounts.
//!
//! A connection from a trusted load balancer (`proxy_protocol_from`) first
//! has its PROXY header read (`proxy`), within [`proxy::HEADER_TIMEOUT`]
//! and the login grace, holding only its place under `max_connections`
//! (never a per-address or unauthenticated slot: whose they would be is
//! not known yet); from then on the client it names is the connection's peer for every
//! check, log line and the sessions table, and the balancer is logged as
//! `via`. Any other peer's bytes go to SSH untouched, so a header from an
//! untrusted address fails the banner exchange and is never believed.
//!
//! The control socket's answers (sessions, kick, reload) are `control.rs`'s.
//!
//! It does not know how authentication is decided nor any channel protocol:
//! each accepted socket is handed to a [`Connection`].

mod activity;
mod control;
mod limits;
mod proxy;
mod sessions;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use russh::keys::PrivateKey;
use russh::server::Config as SshConfig;
use russh::{MethodKind, MethodSet, Preferred, SshId, cipher, compression};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::field::display;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::accounts::Accounts;
use crate::config::{Limits, PenaltySettings};
use crate::connection::{Connection, ConnectionContext, ObjectStorage};
use crate::metrics::{Figures, LiveFigures, Metrics};
use crate::penalties::{Admission, Offence, Penalties};

use limits::AddressSlots;
use proxy::Announced;
use sessions::SessionTable;

/// The identification string we send: it names the product, not the SSH library.
const SERVER_ID: &str = concat!("SSH-2.0-sftpbox_", env!("CARGO_PKG_VERSION"));

/// Largest receive window a configuration may ask for.
const MAX_WINDOW_MIB: usize = 1024;

/// Largest SSH packet we accept from clients; russh logs an error above 65535.
const MAX_PACKET_BYTES: u32 = 65535;

/// How long to wait before accepting again after `accept` failed (e.g. EMFILE).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Everything the server needs to start, loaded by the caller.
pub struct ServerSettings {
    /// Limits and timeouts from sftpbox.toml.
    pub limits: Limits,
    /// Per-source penalties from sftpbox.toml.
    pub penalties: PenaltySettings,
    /// The accounts in force at start.
    pub accounts: Accounts,
    /// Where the accounts came from, for SIGHUP reloads.
    pub accounts_path: PathBuf,
    /// Folder holding one home per account.
    pub homes: PathBuf,
    /// Host keys, the preferred one first.
    pub host_keys: Vec<PrivateKey>,
    /// Load balancers whose connections start with a PROXY protocol header
    /// (`proxy_protocol_from`); empty: none.
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
}

/// Where a connection comes from, once any PROXY header is read.
#[derive(Debug, Clone, Copy)]
struct Origin {
    /// The client: the socket's peer, or the address a trusted balancer
    /// announced for it.
    peer: SocketAddr,
    /// The trusted balancer that announced `peer`, if one did.
    via: Option<SocketAddr>,
    /// When the socket was accepted: the login grace counts from here.
    accepted: Instant,
}

/// A running (or ready) sftpbox server; cheap to clone.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    ssh_config: Arc<SshConfig>,
    context: Arc<ConnectionContext>,
    accounts_path: PathBuf,
    address_slots: AddressSlots,
    connections: Arc<tokio::sync::Semaphore>,
    startups: Arc<tokio::sync::Semaphore>,
    /// Trusted balancers (`proxy_protocol_from`).
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Set once a listener is on a non-loopback address: reloads must not
    /// bring back the public example password then.
    is_public: std::sync::atomic::AtomicBool,
    /// A cluster node: the accounts come from the database, not the file.
    accounts_from_database: bool,
    /// Live connections, for `sessions` and `kick`.
    sessions: SessionTable,
    /// Counters and live figures for `/metrics`.
    metrics: Arc<Metrics>,
}

impl Server {
    /// Builds a server from loaded settings; nothing is bound yet.
    pub fn new(settings: ServerSettings) -> Server {
        Server::build(settings, None)
    }

    /// Builds a node of a cluster: every box lives on `storage`, and the
    /// accounts come from the cluster's database (installed with
    /// [`Server::install_accounts`]), so SIGHUP and `reload` do not read
    /// accounts.toml.
    pub fn new_node(settings: ServerSettings, storage: ObjectStorage) -> Server {
        Server::build(settings, Some(storage))
    }

    fn build(settings: ServerSettings, storage: Option<ObjectStorage>) -> Server {
        let accounts_from_database = storage.is_some();
        let limits = settings.limits;
        let ssh_config = Arc::new(ssh_config(&limits, settings.host_keys));
        let metrics = Arc::new(Metrics::new());
        let context = Arc::new(ConnectionContext::new(
            settings.accounts,
            settings.homes,
            limits.clone(),
            Arc::new(Penalties::new(settings.penalties)),
            metrics.clone(),
            storage,
        ));
        let server = Server {
            inner: Arc::new(Inner {
                ssh_config,
                context,
                accounts_path: settings.accounts_path,
                address_slots: AddressSlots::new(limits.max_connections_per_address),
                connections: Arc::new(tokio::sync::Semaphore::new(limits.max_connections)),
                startups: Arc::new(tokio::sync::Semaphore::new(limits.max_startups.full)),
                trusted_proxies: settings.proxy_protocol_from,
                is_public: std::sync::atomic::AtomicBool::new(false),
                accounts_from_database,
                sessions: SessionTable::default(),
                metrics: metrics.clone(),
            }),
        };
        // A weak link: the metrics must not keep a stopped server alive.
        metrics.attach(Arc::new(ServerFigures(Arc::downgrade(&server.inner))));
        server
    }

    /// The server's metrics, for whoever serves `/metrics`.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.inner.metrics.clone()
    }

    /// Serves `/metrics` on `listener` for as long as the returned task runs.
    pub fn serve_metrics(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        tokio::spawn(crate::metrics::serve(listener, self.metrics()))
    }

    /// Serves on `listeners` until `shutdown` is cancelled, then lets running
    /// sessions finish for the grace period and returns.
    pub async fn run(
        &self,
        listeners: Vec<TcpListener>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut accept_tasks = Vec::new();
        for listener in listeners {
            let addr = listener
                .local_addr()
                .context("reading the listening address")?;
            info!(%addr, "listening");
            let server = self.clone();
            let stop = shutdown.clone();
            accept_tasks.push(tokio::spawn(async move {
                server.accept_loop(listener, stop).await;
            }));
        }
        if !self.inner.trusted_proxies.is_empty() {
            let from: Vec<String> = self
                .inner
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect();
            info!(from = %from.join(", "), "PROXY protocol headers read from these balancers");
        }
        accept_tasks.push(tokio::spawn(
            forget_expired_penalties(self.inner.context.penalties.clone()).in_current_span(),
        ));
        shutdown.cancelled().await;
        for task in accept_tasks {
            task.abort();
        }
        let context = &self.inner.context;
        context.shutdown.cancel();
        context.tracker.close();
        let grace = context.limits.shutdown_grace;
        info!(
            sessions = context.tracker.len(),
            grace_seconds = grace.as_secs(),
            "stopped accepting; waiting for running sessions"
        );
        if tokio::time::timeout(grace, context.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                sessions = context.tracker.len(),
                "grace period over; closing the remaining sessions"
            );
        }
        info!("stopped");
        Ok(())
    }

    /// Loads the accounts file again; on failure the old accounts stay in
    /// force. Blocking (it may verify password hashes): call it from a
    /// blocking context. Returns how many accounts are in force, or why
    /// the file was refused (its problems as `file:line:column: message`).
    pub fn reload_accounts(&self) -> Result<usize, String> {
        if self.inner.accounts_from_database {
            let text = "this node's accounts come from the cluster database and are reloaded by themselves; change them with `sftpbox account import`";
            warn!("{text}");
            return Err(text.to_owned());
        }
        let path = &self.inner.accounts_path;
        let accounts = match Accounts::load(path) {
            Ok(accounts) => accounts,
            Err(err) => {
                error!(path = %path.display(), "accounts not reloaded, the old ones stay in force:\n{err}");
                return Err(err.to_string());
            }
        };
        if self
            .inner
            .is_public
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            let weak = accounts.with_public_example_password();
            if !weak.is_empty() {
                let names: Vec<String> = weak.iter().map(|n| n.to_string()).collect();
                error!(
                    path = %path.display(),
                    accounts = %names.join(", "),
                    "accounts not reloaded: these accounts have the public example password and the server listens beyond loopback"
                );
                return Err(format!(
                    "{}: not reloaded: these accounts have the public example password and the server listens beyond loopback: {}",
                    path.display(),
                    names.join(", ")
                ));
            }
        }
        let count = accounts.len();
        self.inner.context.replace_accounts(accounts);
        info!(path = %path.display(), accounts = count, "accounts reloaded");
        Ok(count)
    }

    /// Puts `accounts` in force, as a reload does (quota limits at once,
    /// the rest at each connection's next first channel): for a cluster
    /// node, whose accounts come from the database. Returns their number.
    pub fn install_accounts(&self, accounts: Accounts) -> usize {
        let count = accounts.len();
        self.inner.context.replace_accounts(accounts);
        count
    }

    async fn accept_loop(&self, listener: TcpListener, shutdown: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((socket, peer)) => self.accept(socket, peer),
                Err(err) => {
                    // Transient errors (EMFILE, ECONNABORTED) must not end the server.
                    warn!(%err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }

    /// Sends a new connection on: a trusted balancer's to have its PROXY
    /// header read first, any other's straight to [`admit`](Self::admit).
    fn accept(&self, socket: TcpStream, peer: SocketAddr) {
        let accepted = Instant::now();
        // A dual-stack listener shows IPv4 peers as IPv4-mapped IPv6.
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let inner = &self.inner;
        if !inner
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&peer.ip()))
        {
            let origin = Origin {
                peer,
                via: None,
                accepted,
            };
            self.admit(socket, origin, None);
            return;
        }
        // Whose address this is, and so which per-address slot it takes,
        // is not known until the header is read: only the overall cap.
        let Ok(connection_permit) = inner.connections.clone().try_acquire_owned() else {
            warn!(via = %peer, "connection refused: too many connections");
            return;
        };
        let wait = inner.context.limits.login_grace.min(proxy::HEADER_TIMEOUT);
        let server = self.clone();
        inner.context.tracker.spawn(async move {
            let mut socket = socket;
            let read = tokio::time::timeout(wait, proxy::read_header(&mut socket)).await;
            let origin = match read {
                Ok(Ok(Announced::Client(client))) => Origin {
                    peer: client,
                    via: Some(peer),
                    accepted,
                },
                Ok(Ok(Announced::Balancer)) => Origin {
                    peer,
                    via: None,
                    accepted,
                },
                Ok(Err(err)) => {
                    warn!(via = %peer, %err, "connection refused: bad PROXY header");
                    return;
                }
                Err(_) => {
                    warn!(via = %peer, wait_ms = wait.as_millis(), "connection refused: no PROXY header in time");
                    return;
                }
            };
            server.admit(socket, origin, Some(connection_permit));
        });
    }

    /// Takes the permits a new connection needs (its place under
    /// `max_connections` may already be taken), or closes it at once
    /// (before the SSH banner).
    fn admit(
        &self,
        socket: TcpStream,
        origin: Origin,
        connection_permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        let inner = &self.inner;
        let penalties = &inner.context.penalties;
        let Origin { peer, via, .. } = origin;
        let via = via.map(display);
        let now = Instant::now();
        if let Admission::Refused {
            remaining,
            log,
            refused,
        } = penalties.admit(peer.ip(), now)
        {
            if log {
                warn!(%peer, via, refused, remaining_seconds = remaining.as_secs(), "connection refused: source under penalty");
            }
            return;
        }
        let Some(connection_permit) =
            connection_permit.or_else(|| inner.connections.clone().try_acquire_owned().ok())
        else {
            warn!(%peer, via, "connection refused: too many connections");
            return;
        };
        let Some(address_slot) = inner.address_slots.try_take(peer.ip()) else {
            warn!(%peer, via, "connection refused: too many connections from this address");
            return;
        };
        let startups = &inner.context.limits.max_startups;
        let unauthenticated = startups
            .full
            .saturating_sub(inner.startups.available_permits());
        let roll = rand::random_range(0..100u8);
        let admitted = if limits::early_drop(startups, unauthenticated, roll) {
            None
        } else {
            inner.startups.clone().try_acquire_owned().ok()
        };
        let Some(startup_permit) = admitted else {
            warn!(%peer, via, unauthenticated, "connection refused: too many unauthenticated connections");
            inner
                .context
                .penalties
                .penalize(peer, Offence::StartupsFull);
            return;
        };
        let _ = socket.set_nodelay(true);
        let span = info_span!("conn", %peer, via, user = tracing::field::Empty);
        let handler = Connection::new(
            inner.context.clone(),
            peer,
            origin.via,
            startup_permit,
            span.clone(),
        );
        let config = inner.ssh_config.clone();
        let context = inner.context.clone();
        let server = self.clone();
        inner.context.tracker.spawn(
            async move {
                let _permits = (connection_permit, address_slot);
                run_connection(
                    config,
                    socket,
                    handler,
                    context,
                    origin,
                    &server.inner.sessions,
                )
                .await;
            }
            .instrument(span),
        );
    }
}

/// The live figures `/metrics` shows, read from the server if it still runs.
struct ServerFigures(std::sync::Weak<Inner>);

impl Figures for ServerFigures {
    fn figures(&self) -> LiveFigures {
        let Some(inner) = self.0.upgrade() else {
            return LiveFigures::default();
        };
        let now = std::time::Instant::now();
        LiveFigures {
            sessions_open: inner.sessions.open_count() as u64,
            sources_under_penalty: inner.context.penalties.sources_blocked(now) as u64,
            accounts: inner.context.account_figures(),
        }
    }
}

/// How often sources whose penalty ran out are forgotten.
const PENALTY_PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Forgets expired penalties now and then, so the table holds live ones only.
async fn forget_expired_penalties(penalties: Arc<Penalties>) {
    let mut tick = tokio::time::interval(PENALTY_PURGE_INTERVAL);
    loop {
        tick.tick().await;
        let now = std::time::Instant::now();
        penalties.purge(now);
        debug!(
            sources_blocked = penalties.sources_blocked(now),
            "expired penalties forgotten"
        );
    }
}

/// How often a connection's progress and login deadline are looked at.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// After its socket is shut, how long a connection's russh task may take to
/// notice before its slots are given back regardless.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Why the watch ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Not logged in within the login grace time.
    GraceExceeded,
    /// Nothing moved in either direction for the idle timeout.
    NoProgress,
}

/// Drives one SSH connection to its end: login grace, progress, shutdown,
/// errors, and the penalty of a source that never logged in.
async fn run_connection(
    config: Arc<SshConfig>,
    socket: TcpStream,
    handler: Connection,
    context: Arc<ConnectionContext>,
    origin: Origin,
    sessions: &SessionTable,
) {
    let peer = origin.peer;
    let state = handler.state();
    let limits = &context.limits;
    let Some(closer) = activity::SocketCloser::for_socket(&socket) else {
        warn!("connection refused: no descriptor left to watch it");
        return;
    };
    let closer = Arc::new(closer);
    let _listed = sessions.register(peer, state.clone(), closer.clone());
    let progress = Arc::new(activity::Activity::new());
    let stream = activity::Watched::new(socket, progress.clone());
    let started = origin.accepted;
    let session = match tokio::time::timeout_at(
        (started + limits.login_grace).into(),
        russh::server::run_stream(config, stream, handler),
    )
    .await
    {
        Ok(Ok(session)) => session,
        Ok(Err(err)) => {
            debug!(err = format!("{err:#}"), "handshake failed");
            context.penalties.penalize(peer, Offence::NoAuth);
            return;
        }
        Err(_) => {
            info!("login grace time over during the handshake");
            context.penalties.penalize(peer, Offence::GraceExceeded);
            return;
        }
    };
    let shutdown_watch = {
        let handle = session.handle();
        let state = state.clone();
        let shutdown = context.shutdown.clone();
        async move {
            shutdown.cancelled().await;
            // Let running transfers finish; idle connections go at once.
            state.wait_until_idle().await;
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    "server shutting down".into(),
                    String::new(),
                )
                .await;
        }
    };
    let shutdown_watch = tokio::spawn(shutdown_watch.in_current_span());
    let mut session = std::pin::pin!(session);
    let mut ended = None;
    loop {
        tokio::select! {
            result = &mut session => {
                if let Err(err) = result {
                    debug!(err = format!("{err:#}"), "connection ended with an error");
                }
                break;
            }
            _ = tokio::time::sleep(WATCH_INTERVAL), if ended.is_none() => {
                if !state.is_authenticated() && started.elapsed() >= limits.login_grace {
                    info!("login grace time over, closing the connection");
                    ended = Some(Ended::GraceExceeded);
                } else if progress.idle_for() >= limits.idle_timeout {
                    info!(idle_seconds = progress.idle_for().as_secs(), "no progress within the idle timeout, closing the connection");
                    ended = Some(Ended::NoProgress);
                }
                if ended.is_some() {
                    // Its services stop (their channels are dropped, which
                    // unblocks russh's queue), and its socket reads end.
                    state.close_now();
                    closer.close();
                }
            }
            _ = tokio::time::sleep(CLOSE_WAIT), if ended.is_some() => {
                warn!("connection did not end after its socket was shut; releasing its slots");
                break;
            }
        }
    }
    shutdown_watch.abort();
    if !state.is_authenticated() {
        let offence = match ended {
            Some(Ended::GraceExceeded) => Some(Offence::GraceExceeded),
            // Failed attempts were penalized one by one.
            _ if state.auth_failures() > 0 => None,
            _ => Some(Offence::NoAuth),
        };
        if let Some(offence) = offence {
            context.penalties.penalize(peer, offence);
        }
    }
    state.log_end();
}

/// The russh configuration, built in one place.
fn ssh_config(limits: &Limits, host_keys: Vec<PrivateKey>) -> SshConfig {
    let preferred = Preferred {
        // AES-GCM runs on AES-NI and is about twice ChaCha20's speed here; the
        // client's order still decides, so both stay on offer.
        cipher: std::borrow::Cow::Borrowed(&[
            cipher::AES_128_GCM,
            cipher::AES_256_GCM,
            cipher::CHACHA20_POLY1305,
            cipher::AES_256_CTR,
            cipher::AES_192_CTR,
            cipher::AES_128_CTR,
        ]),
        // No zlib: compression is pre-auth attack surface and never helps on fast links.
        compression: std::borrow::Cow::Borrowed(&[compression::NONE]),
        // No ssh-rsa (SHA-1) signatures.
        key: std::borrow::Cow::Owned(
            Preferred::DEFAULT
                .key
                .iter()
                .filter(|alg| **alg != russh::keys::Algorithm::Rsa { hash: None })
                .cloned()
                .collect(),
        ),
        // The default kex list keeps ext-info-s and the strict-kex marker (Terrapin).
        ..Preferred::default()
    };
    SshConfig {
        server_id: SshId::Standard(SERVER_ID.into()),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
        auth_rejection_time: Duration::from_secs(1),
        // OpenSSH opens with a "none" probe; making it wait would slow every login.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: host_keys,
        window_size: (limits.receive_window_mib.min(MAX_WINDOW_MIB) << 20) as u32,
        maximum_packet_size: MAX_PACKET_BYTES,
        event_buffer_size: 100,
        preferred,
        max_auth_attempts: limits.max_auth_attempts,
        inactivity_timeout: Some(limits.idle_timeout),
        // No keepalives: russh counts our own keepalives as activity, which
        // would keep idle sessions alive for ever.
        keepalive_interval: None,
        nodelay: true,
        ..SshConfig::default()
    }
}
