//! Metrics in the Prometheus text format, served at `/metrics` on
//! `metrics_listen` (off unless set).
//!
//! Two kinds of figures: counters of events, bumped as they happen (logins
//! by method and result, commands by outcome), and live figures read from
//! the running server at each scrape through [`Figures`] (sessions open,
//! bytes per account, quota per account, sources under penalty), so that
//! nothing has to be kept in step twice. The names are listed in the
//! README; every one starts with `sftpbox_`.
//!
//! It knows no SSH and no accounts file: the server hands it what to show.
//! The HTTP side is the least that Prometheus needs: one `GET` per
//! connection, a bounded request, one reply, then close.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

/// Longest HTTP request head we read; a scrape's is a few hundred bytes.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// How long a scraper may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before accepting again after `accept` failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The content type of the OpenMetrics text `prometheus-client` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One account's live figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFigures {
    /// The account name.
    pub account: String,
    /// Bytes received from its clients (written into its box) since start.
    pub received_bytes: u64,
    /// Bytes sent to its clients (read from its box) since start.
    pub sent_bytes: u64,
    /// Bytes stored in its home, once the server has counted them.
    pub quota_used_bytes: Option<u64>,
    /// Its quota; `None` when it has none.
    pub quota_allowed_bytes: Option<u64>,
}

/// The server's live figures at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveFigures {
    /// Authenticated sessions open now.
    pub sessions_open: u64,
    /// Sources whose penalty keeps them out now.
    pub sources_under_penalty: u64,
    /// Accounts that have logged in since the server started.
    pub accounts: Vec<AccountFigures>,
}

/// Where live figures come from (the server).
pub trait Figures: Send + Sync + 'static {
    /// The figures now.
    fn figures(&self) -> LiveFigures;
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    method: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    outcome: String,
}

/// How a login attempt ended, for `sftpbox_logins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    /// Logged in.
    Accepted,
    /// Wrong password or key, or no such account.
    Refused,
}

/// How a command ended, for `sftpbox_commands_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Exit status 0.
    Success,
    /// Exit status 127: the account may not run it.
    NotAllowed,
    /// Any other exit status.
    Failure,
    /// Ended by a signal (timeout, resource limit).
    Signal,
}

impl CommandOutcome {
    fn label(self) -> &'static str {
        match self {
            CommandOutcome::Success => "success",
            CommandOutcome::NotAllowed => "not_allowed",
            CommandOutcome::Failure => "failure",
            CommandOutcome::Signal => "signal",
        }
    }
}

/// The server's metrics: event counters plus the live figures of a
/// [`Figures`] source attached later.
pub struct Metrics {
    registry: Registry,
    logins: Family<LoginLabels, Counter>,
    commands: Family<CommandLabels, Counter>,
    source: Arc<LiveCollector>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty counters and no live source yet.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register(
            "sftpbox_logins",
            "Login attempts by method (password, publickey) and result (accepted, refused)",
            logins.clone(),
        );
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register(
            "sftpbox_commands",
            "Commands run by outcome (success, failure, not_allowed, signal)",
            commands.clone(),
        );
        let source = Arc::new(LiveCollector::default());
        registry.register_collector(Box::new(source.clone()));
        Metrics {
            registry,
            logins,
            commands,
            source,
        }
    }

    /// Attaches where the live figures come from; a second call is ignored.
    pub fn attach(&self, figures: Arc<dyn Figures>) {
        let _ = self.source.figures.set(figures);
    }

    /// Counts a login attempt by `method` (`password`, `publickey`).
    pub fn login(&self, method: &str, result: LoginResult) {
        let result = match result {
            LoginResult::Accepted => "accepted",
            LoginResult::Refused => "refused",
        };
        self.logins
            .get_or_create(&LoginLabels {
                method: method.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts a command that ended with `outcome`.
    pub fn command(&self, outcome: CommandOutcome) {
        self.commands
            .get_or_create(&CommandLabels {
                outcome: outcome.label().to_owned(),
            })
            .inc();
    }

    /// Everything, in the text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would leave
        // a partial text, which a scraper rejects.
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            warn!("metrics could not be encoded");
        }
        text
    }
}

/// Reads the live figures at each scrape.
#[derive(Default)]
struct LiveCollector {
    figures: OnceLock<Arc<dyn Figures>>,
}

impl std::fmt::Debug for LiveCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCollector").finish_non_exhaustive()
    }
}

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(source) = self.figures.get() else {
            return Ok(());
        };
        let live = source.figures();
        let gauge = |encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64| {
            let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            let descriptor = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
            metric.encode(descriptor)
        };
        gauge(
            &mut encoder,
            "sftpbox_sessions_open",
            "Authenticated SSH sessions open now",
            live.sessions_open,
        )?;
        gauge(
            &mut encoder,
            "sftpbox_sources_under_penalty",
            "Source addresses (IPv4, IPv6 /64) whose penalty refuses their connections now",
            live.sources_under_penalty,
        )?;
        per_account(
            &mut encoder,
            Figure::Counter,
            "sftpbox_received_bytes",
            "Bytes received from clients and written into the account's box",
            &live.accounts,
            |a| Some(a.received_bytes),
        )?;
        per_account(
            &mut encoder,
            Figure::Counter,
            "sftpbox_sent_bytes",
            "Bytes read from the account's box and sent to clients",
            &live.accounts,
            |a| Some(a.sent_bytes),
        )?;
        per_account(
            &mut encoder,
            Figure::Gauge,
            "sftpbox_quota_used_bytes",
            "Bytes stored in the account's home",
            &live.accounts,
            |a| a.quota_used_bytes,
        )?;
        per_account(
            &mut encoder,
            Figure::Gauge,
            "sftpbox_quota_allowed_bytes",
            "The account's quota (absent: no quota)",
            &live.accounts,
            |a| a.quota_allowed_bytes,
        )?;
        Ok(())
    }
}

/// Whether a per-account family counts up (bytes moved) or goes both ways
/// (bytes stored).
#[derive(Clone, Copy)]
enum Figure {
    Counter,
    Gauge,
}

/// Writes the family `name` with one sample per account that has a
/// `value`, as a counter or a gauge.
fn per_account(
    encoder: &mut DescriptorEncoder,
    figure: Figure,
    name: &str,
    help: &str,
    accounts: &[AccountFigures],
    value: impl Fn(&AccountFigures) -> Option<u64>,
) -> Result<(), std::fmt::Error> {
    let kind = match figure {
        Figure::Counter => ConstCounter::new(0u64).metric_type(),
        Figure::Gauge => ConstGauge::new(0i64).metric_type(),
    };
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for account in accounts {
        if let Some(value) = value(account) {
            let labels = [("account", account.account.clone())];
            let sample = family.encode_family(&labels)?;
            match figure {
                Figure::Counter => ConstCounter::new(value).encode(sample)?,
                Figure::Gauge => {
                    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(sample)?;
                }
            }
        }
    }
    Ok(())
}

/// Serves `metrics` over HTTP on `listener` for as long as the task runs.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "metrics served at /metrics");
    }
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(err) = answer(socket, &metrics).await {
                        debug!(%peer, %err, "metrics request failed");
                    }
                });
            }
            Err(err) => {
                warn!(%err, "metrics accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    Metrics,
    NotFound,
    BadRequest,
}

/// Reads one request head and answers it.
async fn answer(mut socket: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let head = tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut socket))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request too slow"))??;
    let (status, content_type, body) = match wanted(&head) {
        Wanted::Metrics => ("200 OK", CONTENT_TYPE, metrics.render()),
        Wanted::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "metrics are at /metrics\n".to_owned(),
        ),
        Wanted::BadRequest => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".to_owned(),
        ),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(reply.as_bytes()).await?;
    socket.shutdown().await
}

/// Reads until the blank line that ends a request head, within
/// [`MAX_REQUEST_BYTES`].
async fn read_head(socket: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(head);
        }
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() >= MAX_REQUEST_BYTES {
            return Ok(head);
        }
    }
}

/// The request line decides: `GET /metrics` (a query string allowed).
fn wanted(head: &[u8]) -> Wanted {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|b| *b == b' ');
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return Wanted::BadRequest;
    };
    if method != b"GET" && method != b"HEAD" {
        return Wanted::BadRequest;
    }
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    if path == b"/metrics" {
        Wanted::Metrics
    } else {
        Wanted::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(LiveFigures);

    impl Figures for Fixed {
        fn figures(&self) -> LiveFigures {
            self.0.clone()
        }
    }

    #[test]
    fn only_get_of_metrics_is_answered_with_them() {
        assert_eq!(wanted(b"GET /metrics HTTP/1.1\r\n\r\n"), Wanted::Metrics);
        assert_eq!(
            wanted(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Wanted::Metrics
        );
        assert_eq!(wanted(b"GET / HTTP/1.1\r\n\r\n"), Wanted::NotFound);
        assert_eq!(
            wanted(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Wanted::BadRequest
        );
        assert_eq!(wanted(b""), Wanted::BadRequest);
    }

    #[test]
    fn counters_and_live_figures_appear_by_name() {
        let metrics = Metrics::new();
        metrics.login("password", LoginResult::Accepted);
        metrics.login("password", LoginResult::Refused);
        metrics.login("password", LoginResult::Refused);
        metrics.command(CommandOutcome::NotAllowed);
        metrics.attach(Arc::new(Fixed(LiveFigures {
            sessions_open: 2,
            sources_under_penalty: 1,
            accounts: vec![AccountFigures {
                account: "alice".into(),
                received_bytes: 100,
                sent_bytes: 7,
                quota_used_bytes: Some(100),
                quota_allowed_bytes: None,
            }],
        })));
        let text = metrics.render();
        for line in [
            "sftpbox_logins_total{method=\"password\",result=\"refused\"} 2",
            "sftpbox_logins_total{method=\"password\",result=\"accepted\"} 1",
            "sftpbox_commands_total{outcome=\"not_allowed\"} 1",
            "sftpbox_sessions_open 2",
            "sftpbox_sources_under_penalty 1",
            "sftpbox_received_bytes_total{account=\"alice\"} 100",
            "sftpbox_sent_bytes_total{account=\"alice\"} 7",
            "sftpbox_quota_used_bytes{account=\"alice\"} 100",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(!text.contains("sftpbox_quota_allowed_bytes{"));
    }
}
