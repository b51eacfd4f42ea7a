//! A TCP forwarder that delays every byte by a fixed time in each direction:
//! a stand-in for `tc netem delay` where the kernel has no netem.
//!
//! ```sh
//! cargo run --release --example delay_proxy -- LISTEN_PORT TARGET_PORT DELAY_MS
//! ```
//!
//! Listens on 127.0.0.1:LISTEN_PORT and forwards each connection to
//! 127.0.0.1:TARGET_PORT. Data read from one side is written to the other
//! DELAY_MS later (so a round trip gains 2 × DELAY_MS); the queue in between is
//! unbounded, like a long pipe, so what limits throughput is the end points'
//! flow control (the SSH channel windows), not the proxy. Runs until killed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, buf)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&buf).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    loop {
        let mut buf = vec![0u8; 256 << 10];
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.send((Instant::now() + delay, buf)).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: delay_proxy LISTEN_PORT TARGET_PORT DELAY_MS");
        std::process::exit(2);
    }
    let listen: u16 = args[1].parse()?;
    let target: u16 = args[2].parse()?;
    let delay = Duration::from_millis(args[3].parse()?);
    let listener = TcpListener::bind(("127.0.0.1", listen)).await?;
    loop {
        let (client, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::join!(pipe(cr, sw, delay), pipe(sr, cw, delay));
        });
    }
}
