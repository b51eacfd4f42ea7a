//! One SSH connection: the russh [`Handler`](russh::server::Handler). It asks
//! [`accounts`](crate::accounts) who may log in, keeps the table of open
//! channels and routes each channel to its service: `sftp`, a command, the
//! shell (with scp among the commands), through [`service`](crate::service).
//!
//! It routes and decides nothing else: no paths, SFTP packets or command
//! semantics, no box to open. The account's [`AccountServices`] are built
//! by the service side, once, at the connection's first channel.
//!
//! russh awaits each handler method inside the connection's event loop, so
//! nothing slow runs inline: password hashing goes to `spawn_blocking`, and
//! services run in their own tasks.

mod auth;
mod channels;
mod commands;
mod state;
mod window;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet};
use tokio::sync::{OnceCell, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span, info, info_span, warn};

use crate::accounts::Accounts;
use crate::config::Limits;
use crate::metrics::{AccountFigures, LoginResult, Metrics};
use crate::service::{AccountServices, AccountSessionSlot, Services};
use channels::OpenChannel;
use commands::Program;

pub use crate::service::ObjectStorage;
pub use state::ConnectionState;

/// What every connection shares with the server.
pub struct ConnectionContext {
    /// The accounts in force, for logins; swapped whole on reload.
    accounts: Arc<ArcSwap<Accounts>>,
    /// What logged-in accounts can do.
    services: Services,
    /// Limits and timeouts.
    pub limits: Limits,
    /// Per-source penalties, shared with the accept loop.
    pub penalties: Arc<crate::penalties::Penalties>,
    /// Cancelled when the server stops accepting: no new channels.
    pub shutdown: CancellationToken,
    /// Tracks every connection and service task, for the shutdown grace period.
    pub tracker: TaskTracker,
    /// Login and command counters.
    metrics: Arc<Metrics>,
}

impl ConnectionContext {
    /// The context for connections to accounts `accounts`, whose homes are
    /// under `homes`, with the source penalties the accept loop shares.
    pub fn new(
        accounts: Accounts,
        homes: PathBuf,
        limits: Limits,
        penalties: Arc<crate::penalties::Penalties>,
        metrics: Arc<Metrics>,
        storage: Option<ObjectStorage>,
    ) -> ConnectionContext {
        let accounts = Arc::new(ArcSwap::from_pointee(accounts));
        ConnectionContext {
            services: Services::new(accounts.clone(), homes, &limits, storage),
            accounts,
            limits,
            penalties,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            metrics,
        }
    }

    /// Live figures of every account that has logged in since start.
    pub fn account_figures(&self) -> Vec<AccountFigures> {
        self.services.account_figures()
    }

    /// Puts reloaded accounts in force: for logins from now on, and their
    /// quota limits at once.
    pub fn replace_accounts(&self, accounts: Accounts) {
        self.services.apply_limits(&accounts);
        self.accounts.store(Arc::new(accounts));
    }
}

/// The logged-in account of a connection.
struct Login {
    account_name: String,
    /// Held for the life of the connection; frees the account's session slot on drop.
    _session_slot: AccountSessionSlot,
    /// What the account can do: built by the first channel that needs it,
    /// then shared by every channel of the connection.
    services: Arc<OnceCell<AccountServices>>,
}

/// One SSH connection's handler.
pub struct Connection {
    context: Arc<ConnectionContext>,
    /// Grows the receive window when the client waits for it (long links).
    window: window::WindowTuner,
    /// The client: the socket's peer, or whom a trusted balancer announced.
    peer: SocketAddr,
    /// The trusted balancer the connection came through, if any.
    via: Option<SocketAddr>,
    span: Span,
    state: Arc<ConnectionState>,
    /// Counts against the cap on unauthenticated connections until login.
    startup_permit: Option<OwnedSemaphorePermit>,
    login: Option<Login>,
}

/// The methods a client may go on trying after a failure; russh's plain
/// `Auth::reject()` would drop the failed one and OpenSSH would stop asking.
fn rejection() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(
            &[MethodKind::PublicKey, MethodKind::Password][..],
        )),
        partial_success: false,
    }
}

impl Connection {
    /// A handler for a connection from `peer` (through the balancer `via`,
    /// if any), logging in `span`.
    pub fn new(
        context: Arc<ConnectionContext>,
        peer: SocketAddr,
        via: Option<SocketAddr>,
        startup_permit: OwnedSemaphorePermit,
        span: Span,
    ) -> Connection {
        Connection {
            window: window::WindowTuner::default(),
            state: Arc::new(ConnectionState::new(span.clone())),
            context,
            peer,
            via,
            span,
            startup_permit: Some(startup_permit),
            login: None,
        }
    }

    /// State shared with the task that drives this connection.
    pub fn state(&self) -> Arc<ConnectionState> {
        self.state.clone()
    }

    /// Takes a session slot for `user`; `None` (and a log line) when the account is full.
    fn admit(&mut self, user: &str, method: &str) -> Auth {
        match self.context.services.try_take_session(user) {
            Some(slot) => {
                info!(target: "audit", account = user, method, peer = %self.peer, via = self.via.map(tracing::field::display), result = "accepted", "login");
                self.context.metrics.login(method, LoginResult::Accepted);
                // What this connection moves counts into the account's figures too.
                self.state.moved().count_into(slot.moved());
                self.login = Some(Login {
                    account_name: user.to_owned(),
                    _session_slot: slot,
                    services: Arc::default(),
                });
                Auth::Accept
            }
            None => {
                warn!(target: "audit", account = user, method, peer = %self.peer, via = self.via.map(tracing::field::display), result = "refused", reason = "too many sessions for this account", "login");
                self.context.metrics.login(method, LoginResult::Refused);
                rejection()
            }
        }
    }

    /// Counts a refused password or signature against the source; once that
    /// puts the source under penalty, the connection ends (its next
    /// connections are refused before the banner anyway).
    fn refused_attempt(&mut self, method: &str) -> Result<Auth, anyhow::Error> {
        self.state.count_auth_failure();
        self.context.metrics.login(method, LoginResult::Refused);
        let penalties = &self.context.penalties;
        penalties.penalize(self.peer, crate::penalties::Offence::AuthFailed);
        if penalties.is_blocked(self.peer.ip(), std::time::Instant::now()) {
            return Err(anyhow::anyhow!("source under penalty"));
        }
        Ok(rejection())
    }

    /// The logged-in account's services, for a channel task to build (the
    /// first time) or share: `None` before login.
    fn account_services(&self) -> Option<LoginServices> {
        let login = self.login.as_ref()?;
        Some(LoginServices {
            context: self.context.clone(),
            account_name: login.account_name.clone(),
            cell: login.services.clone(),
        })
    }

    /// Starts the SFTP service on `channel` in its own task; when the client
    /// ends it, exit status 0 goes out before EOF and close, as sshd does
    /// (`scp` in SFTP mode reports failure without it). `client_id` is the
    /// SSH version string the client sent, from which SFTP tells how it
    /// orders SYMLINK's paths.
    fn start_sftp(
        &mut self,
        channel: Channel<Msg>,
        handle: russh::server::Handle,
        client_id: Vec<u8>,
    ) {
        let Some(login) = self.account_services() else {
            return;
        };
        let state = self.state.clone();
        let span = info_span!(parent: &self.span, "channel", id = %channel.id(), kind = "sftp");
        self.context.tracker.spawn(
            async move {
                let Some(services) = login.get().await else {
                    return;
                };
                let id = channel.id();
                let stderr = channel.make_writer_ext(Some(1));
                let serving = services.serve_sftp(
                    channel.into_stream(),
                    stderr,
                    state.open_handles(),
                    &client_id,
                    state.moved(),
                );
                let closing = state.closing();
                let stream = tokio::select! {
                    served = serving => served,
                    _ = closing.cancelled() => {
                        state.channels().close(id);
                        return;
                    }
                };
                let _ = handle.exit_status_request(id, 0).await;
                let _ = handle.eof(id).await;
                let _ = handle.close(id).await;
                drop(stream);
                state.channels().close(id);
            }
            .instrument(span),
        );
    }

    /// Starts a command, the shell, or the refusal of a terminal-less shell on
    /// `open`, in its own task.
    fn start_program(
        &mut self,
        open: OpenChannel,
        program: Program,
        handle: russh::server::Handle,
    ) {
        let Some(login) = self.account_services() else {
            return;
        };
        let kind = match program {
            Program::Command(_) => "exec",
            Program::Shell | Program::RefusedShell => "shell",
        };
        let span = info_span!(parent: &self.span, "channel", id = %open.channel.id(), kind);
        let busy = self.state.start_service();
        let state = self.state.clone();
        let context = self.context.clone();
        let pty = open.pty.is_some();
        self.context.tracker.spawn(
            async move {
                let _busy = busy;
                let Some(services) = login.get().await else {
                    return;
                };
                let id = open.channel.id();
                let closing = state.closing();
                let metrics = &context.metrics;
                tokio::select! {
                    () = commands::run(open.channel, handle, services, program, pty, state.moved(), metrics) => {}
                    _ = closing.cancelled() => {}
                }
                state.channels().close(id);
            }
            .instrument(span),
        );
    }
}

/// A channel task's handle on the logged-in account's services.
struct LoginServices {
    context: Arc<ConnectionContext>,
    account_name: String,
    cell: Arc<OnceCell<AccountServices>>,
}

impl LoginServices {
    /// The account's services: built by the first channel (the others wait
    /// for it), shared after. `None`, logged, when they cannot be built; the
    /// next channel tries again.
    async fn get(&self) -> Option<&AccountServices> {
        let built = self
            .cell
            .get_or_try_init(|| self.context.services.open(&self.account_name))
            .await;
        match built {
            Ok(services) => Some(services),
            Err(err) => {
                warn!(%err, "channel not served");
                None
            }
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = anyhow::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(rejection())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let accounts = self.context.accounts.load_full();
        let verified = auth::verify_password(accounts, user, password).await;
        if verified {
            Ok(self.admit(user, "password"))
        } else {
            info!(target: "audit", account = user, method = "password", peer = %self.peer, via = self.via.map(tracing::field::display), result = "refused", "login");
            self.refused_attempt("password")
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let accounts = self.context.accounts.load();
        if auth::key_is_allowed(&accounts, user, offer.public_key, offer.algorithm) {
            Ok(Auth::Accept)
        } else {
            info!(
                target: "audit",
                account = user,
                method = "publickey",
                peer = %self.peer,
                via = self.via.map(tracing::field::display),
                key = %offer.public_key.fingerprint(russh::keys::HashAlg::Sha256),
                result = "refused",
                "login"
            );
            Ok(rejection())
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let allowed = {
            let accounts = self.context.accounts.load();
            auth::key_is_allowed(&accounts, user, key.public_key, key.algorithm)
        };
        if allowed {
            Ok(self.admit(user, "publickey"))
        } else {
            self.refused_attempt("publickey")
        }
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(rejection())
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        self.startup_permit = None;
        if let Some(login) = &self.login {
            self.span.record("user", login.account_name.as_str());
            self.state.set_authenticated(&login.account_name);
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.login.is_none() || self.context.shutdown.is_cancelled() {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        // Only channels open at once are capped: a connection may open many
        // over its life (rclone runs a command per checksum).
        let max = self.context.limits.max_channels_per_connection;
        if !self.state.channels().try_open(channel, max) {
            warn!("channel refused: too many channels on this connection");
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self
            .state
            .channels()
            .set_pty(channel, col_width, row_height)
        {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The environment is set by the server alone.
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name != "sftp" {
            warn!(subsystem = name, "unknown subsystem refused");
            session.channel_failure(channel)?;
            return Ok(());
        }
        match self.state.channels().start_service(channel, "sftp") {
            Some(open) => {
                session.channel_success(channel)?;
                let client_id = session.remote_sshid().to_vec();
                self.start_sftp(open.channel, session.handle(), client_id);
            }
            None => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // scp's legacy protocol runs as a command; it is shown as scp.
        let kind = if data.starts_with(b"scp ") {
            "scp"
        } else {
            "exec"
        };
        match self.state.channels().start_service(channel, kind) {
            Some(open) => {
                session.channel_success(channel)?;
                let program = Program::Command(data.to_vec());
                self.start_program(open, program, session.handle());
            }
            None => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.state.channels().start_service(channel, "shell") {
            Some(open) => {
                session.channel_success(channel)?;
                let program = if open.pty.is_some() {
                    Program::Shell
                } else {
                    Program::RefusedShell
                };
                self.start_program(open, program, session.handle());
            }
            None => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        _channel: ChannelId,
        _data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The bytes themselves reach the services through their channel streams.
        self.window.data_arrived(std::time::Instant::now());
        Ok(())
    }

    fn adjust_window(&mut self, _channel: ChannelId, current: u32) -> u32 {
        self.window.next_window(current, std::time::Instant::now())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The channel no longer counts against the cap; one closed before
        // any request is forgotten too.
        self.state.channels().close(channel);
        Ok(())
    }
}
