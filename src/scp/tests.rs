//! Sink and source driven over `tokio::io::duplex` by a scripted peer that
//! plays the OpenSSH client's side byte for byte.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::run;
use crate::jail::tests::{Fixture, vp};
use crate::jail::{Jail, OpenOptions, Quota};
use crate::transfer::{Moved, Transferred};

mod records;
mod sink;
mod source;
mod verbose;

/// Starts `scp ARGS` in the box; returns the client's end of the stream
/// and the task that ends with the exit status.
fn start(fixture: &Fixture, args: &[&str]) -> (DuplexStream, JoinHandle<u32>) {
    let args: Vec<&[u8]> = args.iter().map(|word| word.as_bytes()).collect();
    let (client, counted) = start_counted(fixture, &args);
    let task = tokio::spawn(async move { counted.await.unwrap().0 });
    (client, task)
}

async fn expect(client: &mut DuplexStream, wanted: &[u8]) {
    let mut got = vec![0_u8; wanted.len()];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(wanted)
    );
}

async fn send(client: &mut DuplexStream, bytes: &[u8]) {
    client.write_all(bytes).await.unwrap();
}

/// Closes the client's side and returns the exit status.
async fn finish(client: DuplexStream, task: JoinHandle<u32>) -> u32 {
    drop(client);
    task.await.unwrap()
}

fn names(fixture: &Fixture, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture.home().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn put(jail: &Jail, path: &str, data: &[u8]) {
    let opts = OpenOptions {
        read: false,
        write: true,
        create: true,
        truncate: true,
        ..OpenOptions::default()
    };
    jail.open_file(&vp(path), &opts)
        .unwrap()
        .write_at(data, 0)
        .unwrap();
}

/// Runs `scp ARGS` in the box with its stderr and the connection's counters
/// kept: the client's stream, the task, and (stderr, counters) once it ends.
fn start_counted(
    fixture: &Fixture,
    args: &[&[u8]],
) -> (DuplexStream, JoinHandle<(u32, Vec<u8>, Moved)>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let argv: Vec<Vec<u8>> = std::iter::once(&b"scp"[..])
        .chain(args.iter().copied())
        .map(<[u8]>::to_vec)
        .collect();
    let jail = fixture.jail.clone();
    let task = tokio::spawn(async move {
        let moved = Arc::new(Transferred::default());
        let mut stderr = Vec::new();
        let (read, write) = tokio::io::split(server);
        let status = run(&jail, "alice", &moved, &argv, read, write, &mut stderr).await;
        (status, stderr, moved.snapshot())
    });
    (client, task)
}
