//! Per-account rates (`upload_rate`, `download_rate`): one token bucket per
//! account and direction, shared by every session of the account, so that
//! eight parallel sessions together get the account's rate, not eight times
//! it.
//!
//! The bucket is the generic cell rate algorithm with reservations: each
//! taker reserves its bytes at the end of the queue (a "theoretical arrival
//! time" that moves on by `bytes / rate`) and waits until its turn, less a
//! small tolerance that lets an idle account start at once. Takers are
//! served in the order they reserved, so no session starves another, and a
//! reservation may be of any size. Waiting is a timer on the async side:
//! it never holds a thread of the blocking pool.
//!
//! A rate is enforced as flow control, never by failing a request: SFTP
//! lanes wait before they run a READ or a WRITE (so replies come later and
//! a client's own limit on requests in flight holds it back), and command
//! channels read and write through [`Metered`] streams. A new rate (a
//! reload) applies at once, to the takers already waiting too: what each
//! still had to wait is rescaled to the new rate.
//!
//! It knows nothing of accounts, sessions or protocols.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The least an idle account may move at once before the rate applies:
/// one SFTP packet of the largest size we serve (255 KiB and its header),
/// so that a single request never waits for want of tolerance.
const MIN_BURST_BYTES: u64 = 256 << 10;

/// Beyond [`MIN_BURST_BYTES`], the tolerance is this much of the rate: a
/// tenth of a second keeps fast rates smooth without letting an account
/// run far ahead of its rate.
const BURST_TIME: Duration = Duration::from_millis(100);

/// Most bytes a [`Metered`] writer hands its stream at once, so that one
/// large write waits its turn in pieces, as SFTP packets do.
const MAX_METERED_CHUNK: usize = 256 << 10;

/// One account's bucket for one direction; shared through an `Arc`.
#[derive(Debug)]
pub struct TokenBucket {
    /// The rate in bytes per second; 0 = unlimited (read without the lock).
    rate: AtomicU64,
    /// When the bytes reserved so far will all have moved at the rate.
    next_free: Mutex<Instant>,
    /// Wakes the waiting takers when the rate changes.
    changed: Notify,
}

/// A reservation that has to wait: until when, at which rate.
#[derive(Debug, Clone, Copy)]
pub struct Reservation {
    deadline: Instant,
    rate: u64,
}

impl TokenBucket {
    /// A bucket of `rate` bytes per second; `None` = unlimited.
    pub fn new(rate: Option<u64>) -> TokenBucket {
        TokenBucket {
            rate: AtomicU64::new(rate.unwrap_or(0)),
            next_free: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    /// The rate in bytes per second; `None` = unlimited.
    pub fn rate(&self) -> Option<u64> {
        match self.rate.load(Ordering::Acquire) {
            0 => None,
            rate => Some(rate),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Instant> {
        self.next_free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets a new rate (`None` = unlimited); takers already waiting have
    /// what they still had to wait rescaled to it.
    pub fn set_rate(&self, rate: Option<u64>) {
        let mut next_free = self.lock();
        let old = self.rate();
        if old == rate {
            return;
        }
        let now = Instant::now();
        *next_free = match (old, rate) {
            (Some(old), Some(new)) => rescale(*next_free, now, old, new),
            _ => now,
        };
        self.rate.store(rate.unwrap_or(0), Ordering::Release);
        drop(next_free);
        self.changed.notify_waiters();
    }

    /// Reserves `bytes`; `None` when they may move now.
    pub fn reserve(&self, bytes: u64) -> Option<Reservation> {
        self.reserve_if(bytes, false)
    }

    /// Reserves `bytes` only if they may move now; whether they were.
    pub fn try_take(&self, bytes: u64) -> bool {
        self.rate().is_none() || self.reserve_if(bytes, true).is_none()
    }

    fn reserve_if(&self, bytes: u64, only_if_ready: bool) -> Option<Reservation> {
        self.rate()?;
        let mut next_free = self.lock();
        // Read again under the lock: a reload may have just changed it.
        let rate = self.rate()?;
        let now = Instant::now();
        let ends = (*next_free).max(now) + time_for(bytes, rate);
        let deadline = ends.checked_sub(tolerance(rate)).unwrap_or(now);
        if deadline <= now {
            *next_free = ends;
            return None;
        }
        if only_if_ready {
            return Some(Reservation { deadline, rate });
        }
        *next_free = ends;
        Some(Reservation { deadline, rate })
    }

    /// Waits until `reservation`'s turn, following rate changes meanwhile.
    pub async fn wait(&self, reservation: Reservation) {
        let Reservation {
            mut deadline,
            mut rate,
        } = reservation;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            match self.rate() {
                None => return,
                Some(current) if current != rate => {
                    deadline = rescale(deadline, now, rate, current);
                    rate = current;
                }
                Some(_) => {}
            }
            if deadline <= now {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return,
                () = &mut notified => {}
            }
        }
    }

    /// Reserves `bytes` and waits until they may move.
    pub async fn take(&self, bytes: u64) {
        if let Some(reservation) = self.reserve(bytes) {
            self.wait(reservation).await;
        }
    }

    /// Gives back `bytes` that were taken but did not move (a READ that
    /// found less than it asked for), for the takers after it.
    pub fn give_back(&self, bytes: u64) {
        let Some(rate) = self.rate() else {
            return;
        };
        if bytes == 0 {
            return;
        }
        let mut next_free = self.lock();
        let back = time_for(bytes, rate);
        *next_free = next_free.checked_sub(back).unwrap_or(*next_free);
    }
}

/// How long `bytes` take at `rate` bytes per second.
fn time_for(bytes: u64, rate: u64) -> Duration {
    Duration::from_secs_f64(bytes as f64 / rate.max(1) as f64)
}

/// How far ahead of its rate an account may run, as time.
fn tolerance(rate: u64) -> Duration {
    let burst = MIN_BURST_BYTES.max((rate as f64 * BURST_TIME.as_secs_f64()) as u64);
    time_for(burst, rate)
}

/// `at`, a moment reckoned at `old` bytes per second, reckoned at `new`:
/// what lies ahead of `now` stretches or shrinks by `old / new`.
fn rescale(at: Instant, now: Instant, old: u64, new: u64) -> Instant {
    match at.checked_duration_since(now) {
        Some(ahead) if !ahead.is_zero() => now + ahead.mul_f64(old as f64 / new.max(1) as f64),
        _ => at,
    }
}

/// An account's two buckets; clones share them.
#[derive(Debug, Clone)]
pub struct AccountRates {
    /// Bytes from the client into the box.
    pub upload: Arc<TokenBucket>,
    /// Bytes from the box to the client.
    pub download: Arc<TokenBucket>,
}

impl AccountRates {
    /// Buckets for `upload` and `download` bytes per second (`None` =
    /// unlimited).
    pub fn new(upload: Option<u64>, download: Option<u64>) -> AccountRates {
        AccountRates {
            upload: Arc::new(TokenBucket::new(upload)),
            download: Arc::new(TokenBucket::new(download)),
        }
    }

    /// Buckets without a limit, for sessions run without a server.
    #[cfg(test)]
    pub fn unlimited() -> AccountRates {
        AccountRates::new(None, None)
    }

    /// Applies reloaded rates.
    pub fn set(&self, upload: Option<u64>, download: Option<u64>) {
        self.upload.set_rate(upload);
        self.download.set_rate(download);
    }
}

/// A stream whose reads (or writes) are paced by a bucket: after bytes
/// pass, the next read or write waits for their turn. Reading a command's
/// stdin later is how an upload over a command channel is slowed (the SSH
/// connection then stops taking the client's data); writing its stdout
/// later, a download.
pub struct Metered<S> {
    inner: S,
    bucket: Arc<TokenBucket>,
    wait: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<S> Metered<S> {
    /// `inner`, paced by `bucket`.
    pub fn new(inner: S, bucket: Arc<TokenBucket>) -> Metered<S> {
        Metered {
            inner,
            bucket,
            wait: None,
        }
    }

    /// Waits for the turn of what passed last, if it has to.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(wait) = self.wait.as_mut() {
            ready!(wait.as_mut().poll(cx));
            self.wait = None;
        }
        Poll::Ready(())
    }

    /// Counts `n` bytes that passed; the next read or write waits for them.
    fn charge(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(reservation) = self.bucket.reserve(n as u64) {
            let bucket = self.bucket.clone();
            self.wait = Some(Box::pin(async move { bucket.wait(reservation).await }));
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_turn(cx));
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let n = buf.filled().len().saturating_sub(before);
        this.charge(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_turn(cx));
        let part = buf.get(..buf.len().min(MAX_METERED_CHUNK)).unwrap_or(buf);
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, part))?;
        this.charge(n);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const MIB: u64 = 1 << 20;

    #[tokio::test(start_paused = true)]
    async fn takers_together_move_at_the_rate() {
        let bucket = Arc::new(TokenBucket::new(Some(4 * MIB)));
        let started = tokio::time::Instant::now();
        let mut takers = Vec::new();
        for _ in 0..8 {
            let bucket = bucket.clone();
            takers.push(tokio::spawn(async move {
                for _ in 0..32 {
                    bucket.take(32 << 10).await;
                }
            }));
        }
        for taker in takers {
            taker.await.unwrap();
        }
        // 8 MiB at 4 MiB/s, less the tolerance of one 400 KiB burst.
        let elapsed = started.elapsed().as_secs_f64();
        assert!((1.85..=2.05).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unlimited_bucket_never_waits_and_an_idle_one_lets_a_packet_through() {
        let unlimited = TokenBucket::new(None);
        assert!(unlimited.reserve(u64::MAX).is_none());
        // At 1 KiB/s the tolerance is the least burst, 256 KiB: a whole
        // packet and its header go at once, one byte more waits.
        let bucket = TokenBucket::new(Some(1024));
        assert!(bucket.reserve(MIN_BURST_BYTES).is_none());
        assert!(bucket.reserve(1).is_some());
        assert!(!bucket.try_take(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_faster_rate_shortens_the_wait_of_a_taker_already_waiting() {
        let bucket = Arc::new(TokenBucket::new(Some(MIB)));
        bucket.take(MIB).await;
        let started = tokio::time::Instant::now();
        let waiting = {
            let bucket = bucket.clone();
            tokio::spawn(async move { bucket.take(10 * MIB).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        bucket.set_rate(Some(100 * MIB));
        waiting.await.unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        assert!(elapsed < 1.2, "{elapsed}");
        bucket.set_rate(None);
        assert!(bucket.reserve(u64::MAX).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_given_back_are_not_waited_for() {
        let bucket = TokenBucket::new(Some(MIB));
        bucket.take(MIB).await;
        bucket.give_back(MIB);
        let started = tokio::time::Instant::now();
        bucket.take(MIB).await;
        assert!(started.elapsed() < Duration::from_millis(800));
    }

    #[tokio::test(start_paused = true)]
    async fn a_metered_stream_paces_its_writes_and_reads() {
        let bucket = Arc::new(TokenBucket::new(Some(MIB)));
        let (near, far) = tokio::io::duplex(64 << 10);
        let mut writer = Metered::new(near, bucket.clone());
        let mut reader = far;
        let started = tokio::time::Instant::now();
        let sent = tokio::spawn(async move {
            writer
                .write_all(&vec![7u8; 3 * MIB as usize])
                .await
                .unwrap();
            writer.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap();
        sent.await.unwrap();
        assert_eq!(got.len(), 3 * MIB as usize);
        let elapsed = started.elapsed().as_secs_f64();
        assert!(elapsed >= 2.0, "{elapsed}");

        let (mut near, far) = tokio::io::duplex(64 << 10);
        let mut reader = Metered::new(far, bucket);
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            near.write_all(&vec![7u8; 2 * MIB as usize]).await.unwrap();
        });
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 2 * MIB as usize);
        assert!(started.elapsed().as_secs_f64() >= 1.5);
    }
}
