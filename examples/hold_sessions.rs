//! Opens N authenticated, idle SFTP sessions to one server and holds them.
//!
//! ```sh
//! cargo run --release --example hold_sessions -- PORT N [USER] [KEY] [HOST] [PARALLEL]
//! ```
//!
//! Each session is one TCP connection: key login, a session channel, the
//! `sftp` subsystem and an SFTP INIT/VERSION exchange, then nothing. When all
//! attempts are done it prints `held OK of N failed F` and keeps the sessions
//! open until SIGTERM/SIGINT (or stdin closes, if it is not a terminal), so a
//! caller can measure the server meanwhile. Used by `benches/compare.sh`.
//! USER defaults to `bench`, KEY to `id_ed25519`, HOST to 127.0.0.1, PARALLEL
//! (logins in flight at once) to 32.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use russh::keys::PrivateKeyWithHashAlg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct AnyHostKey;

impl russh::client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

type Held = (
    russh::client::Handle<AnyHostKey>,
    russh::ChannelStream<russh::client::Msg>,
);

async fn open_one(
    addr: (String, u16),
    user: String,
    key: Arc<russh::keys::PrivateKey>,
    config: Arc<russh::client::Config>,
) -> anyhow::Result<Held> {
    let mut handle = russh::client::connect(config, (addr.0.as_str(), addr.1), AnyHostKey).await?;
    let auth = handle
        .authenticate_publickey(&user, PrivateKeyWithHashAlg::new(key, None))
        .await?;
    anyhow::ensure!(auth.success(), "key login refused");
    let channel = handle.channel_open_session().await?;
    channel.request_subsystem(true, "sftp").await?;
    let mut stream = channel.into_stream();
    // SSH_FXP_INIT, version 3.
    stream.write_all(&[0, 0, 0, 5, 1, 0, 0, 0, 3]).await?;
    stream.flush().await?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await?;
    anyhow::ensure!(body.first() == Some(&2), "no SSH_FXP_VERSION reply");
    Ok((handle, stream))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: hold_sessions PORT N [USER] [KEY] [HOST] [PARALLEL]");
        std::process::exit(2);
    }
    let port: u16 = args[1].parse()?;
    let n: usize = args[2].parse()?;
    let user = args.get(3).cloned().unwrap_or_else(|| "bench".into());
    let key_path = args.get(4).cloned().unwrap_or_else(|| "id_ed25519".into());
    let host = args.get(5).cloned().unwrap_or_else(|| "127.0.0.1".into());
    let parallel: usize = args.get(6).map(|s| s.parse()).transpose()?.unwrap_or(32);

    let key = Arc::new(russh::keys::load_secret_key(&key_path, None)?);
    let config = Arc::new(russh::client::Config {
        inactivity_timeout: None,
        ..Default::default()
    });
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let (host, user, key, config) = (host.clone(), user.clone(), key.clone(), config.clone());
        let (failed, first_error) = (failed.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let r = tokio::time::timeout(
                Duration::from_secs(60),
                open_one((host, port), user, key, config),
            )
            .await;
            drop(permit);
            match r {
                Ok(Ok(held)) => Some(held),
                Ok(Err(e)) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    first_error.lock().unwrap().get_or_insert(format!("{e:#}"));
                    None
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    first_error
                        .lock()
                        .unwrap()
                        .get_or_insert("timed out".into());
                    None
                }
            }
        }));
    }
    let mut held = Vec::with_capacity(n);
    for t in tasks {
        if let Some(h) = t.await? {
            held.push(h);
        }
    }
    if let Some(e) = first_error.lock().unwrap().take() {
        eprintln!("hold_sessions: first error: {e}");
    }
    println!(
        "held {} of {} failed {} in {:.1}s",
        held.len(),
        n,
        failed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(held);
    Ok(())
}
