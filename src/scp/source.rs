//! The source, `scp -f SOURCE…`: the client downloads from the box.
//!
//! Follows OpenSSH `source()`/`rsource()`. Each operand is resolved in the
//! box (symlinks followed inside it) and sent under its basename, which the
//! client checks against what it asked for (CVE-2019-6111); the box's root
//! has no basename and is sent under the account name (the client refuses
//! `.` and `/`). With `-r`, directories are walked depth-first with an
//! explicit stack, at most [`MAX_DIR_DEPTH`] deep, and a directory that is
//! its own ancestor (a symlink loop) is reported and skipped. A file that
//! shrinks while being sent is padded with zeros to the announced size and
//! reported, so the stream never desynchronises. A name holding a newline
//! cannot be framed: it is reported and skipped.

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

use super::protocol::{self, MAX_DIR_DEPTH, Times, strerror};
use super::{Ack, CHUNK_BYTES, Options, Peer, Stop, blocking, log_download};
use crate::jail::{DirEntry, Jail, JailFile, OpenOptions, Stat, VirtualPath, escaped};
use crate::transfer::{Direction, FileTransfer};

/// Name sent for the box's root when the account name cannot be one.
const ROOT_FALLBACK_NAME: &[u8] = b"home";

/// A directory being sent: the entries not yet sent.
struct DirFrame {
    path: VirtualPath,
    display: String,
    entries: std::vec::IntoIter<DirEntry>,
    key: (u64, u64),
}

/// Sends every operand of `options`, after the sink's ready byte.
pub(super) async fn run<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
    account: &str,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    peer.read_ack().await?;
    for operand in &options.operands {
        send_operand(peer, jail, options, account, operand).await?;
    }
    Ok(())
}

async fn send_operand<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
    account: &str,
    operand: &[u8],
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let mut trimmed = operand;
    while let Some(rest) = trimmed.strip_suffix(b"/") {
        trimmed = rest;
    }
    let typed: &[u8] = if trimmed.is_empty() && !operand.is_empty() {
        b"/"
    } else {
        trimmed
    };
    // Messages name the path as typed, escaped where it is not text.
    let display = &*escaped(typed);
    let resolved = VirtualPath::resolve(&VirtualPath::root(), typed);
    let path = match resolved {
        Ok(path) => path,
        Err(err) => {
            return peer
                .send_error(&format!("{display}: {}", strerror(&err)))
                .await;
        }
    };
    let probe = path.clone();
    let stat = match blocking(jail, move |jail| jail.stat(&probe)).await {
        Ok(stat) => stat,
        Err(err) => {
            return peer
                .send_error(&format!("{display}: {}", strerror(&err)))
                .await;
        }
    };
    let name = match path.file_name() {
        Some(name) => name.to_vec(),
        None if VirtualPath::root().join(account.as_bytes()).is_ok() => account.as_bytes().to_vec(),
        None => ROOT_FALLBACK_NAME.to_vec(),
    };
    if stat.is_file() {
        send_file(peer, jail, options, path, display, &name).await
    } else if stat.is_dir() && options.recursive {
        send_tree(peer, jail, options, path, display.to_owned(), &name, stat).await
    } else {
        peer.send_error(&format!("{display}: not a regular file"))
            .await
    }
}

/// Sends directory `path` and everything below it.
async fn send_tree<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
    path: VirtualPath,
    display: String,
    name: &[u8],
    stat: Stat,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let mut stack = Vec::new();
    if let Some(frame) = enter_dir(peer, jail, options, path, display, name, stat).await? {
        stack.push(frame);
    }
    loop {
        let next = match stack.last_mut() {
            None => return Ok(()),
            Some(frame) => frame
                .entries
                .next()
                .map(|entry| (entry, frame.path.clone(), frame.display.clone())),
        };
        let Some((entry, parent, parent_display)) = next else {
            stack.pop();
            peer.send(protocol::END_RECORD).await?;
            peer.read_ack().await?;
            continue;
        };
        let display = format!("{parent_display}/{}", escaped(&entry.name));
        let path = match parent.join(&entry.name) {
            Ok(path) => path,
            Err(err) => {
                peer.send_error(&format!("{display}: {}", strerror(&err)))
                    .await?;
                continue;
            }
        };
        // Follow a symlink inside the box, as OpenSSH's open() follows it.
        let probe = path.clone();
        let stat = match blocking(jail, move |jail| jail.stat(&probe)).await {
            Ok(stat) => stat,
            Err(err) => {
                peer.send_error(&format!("{display}: {}", strerror(&err)))
                    .await?;
                continue;
            }
        };
        if stat.is_file() {
            send_file(peer, jail, options, path, &display, &entry.name).await?;
        } else if !stat.is_dir() {
            peer.send_error(&format!("{display}: not a regular file"))
                .await?;
        } else if stack.len() >= MAX_DIR_DEPTH {
            peer.send_error(&format!("{display}: directories nested too deep"))
                .await?;
        } else if stack.iter().any(|frame| frame.key == (stat.dev, stat.ino)) {
            peer.send_error(&format!("{display}: directory loop, skipped"))
                .await?;
        } else if let Some(frame) =
            enter_dir(peer, jail, options, path, display, &entry.name, stat).await?
        {
            stack.push(frame);
        }
    }
}

/// Lists `path`, then sends `T` (with `-p`) and `D`; `None` when it was
/// reported unreadable or the sink refused it.
async fn enter_dir<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
    path: VirtualPath,
    display: String,
    name: &[u8],
    stat: Stat,
) -> Result<Option<DirFrame>, Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    if name.contains(&b'\n') {
        peer.send_error(&format!("{display}: name contains a newline, skipped"))
            .await?;
        return Ok(None);
    }
    let listed = path.clone();
    let mut entries = match blocking(jail, move |jail| jail.read_dir(&listed)).await {
        Ok(entries) => entries,
        Err(err) => {
            peer.send_error(&format!("{display}: {}", strerror(&err)))
                .await?;
            return Ok(None);
        }
    };
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    if options.preserve && send_times(peer, &stat).await? == Ack::Error {
        return Ok(None);
    }
    let record = protocol::dir_record(stat.mode, name);
    peer.tell("Entering directory", &record).await;
    peer.send(&record).await?;
    if peer.read_ack().await? == Ack::Error {
        return Ok(None);
    }
    Ok(Some(DirFrame {
        path,
        display,
        entries: entries.into_iter(),
        key: (stat.dev, stat.ino),
    }))
}

async fn send_times<R, W, E>(peer: &mut Peer<R, W, E>, stat: &Stat) -> Result<Ack, Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let times = Times {
        mtime: stat.mtime,
        atime: stat.atime,
    };
    peer.send(&protocol::times_record(times)).await?;
    peer.read_ack().await
}

/// Sends one regular file: `T` (with `-p`), `C`, the bytes, `\0`.
async fn send_file<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
    path: VirtualPath,
    display: &str,
    name: &[u8],
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    if name.contains(&b'\n') {
        return peer
            .send_error(&format!("{display}: name contains a newline, skipped"))
            .await;
    }
    let started = Instant::now();
    let opened_path = path.clone();
    let opened = blocking(jail, move |jail| {
        let file = jail.open_file(&opened_path, &OpenOptions::default())?;
        let stat = file.stat()?;
        Ok((Arc::new(file), stat))
    })
    .await;
    let (file, stat) = match opened {
        Ok(opened) => opened,
        Err(err) => {
            return peer
                .send_error(&format!("{display}: {}", strerror(&err)))
                .await;
        }
    };
    if options.preserve && send_times(peer, &stat).await? == Ack::Error {
        return Ok(());
    }
    let record = protocol::file_record(stat.mode, stat.size, name);
    peer.tell("Sending file modes", &record).await;
    peer.send(&record).await?;
    if peer.read_ack().await? == Ack::Error {
        return Ok(());
    }
    let transfer = peer.start_file(&path, Direction::Download, stat.size);
    let intact = stream_data(peer, &file, stat.size, &transfer).await;
    log_download(&path, &transfer, started);
    if intact? {
        peer.send(&[protocol::ACK_OK]).await?;
    } else {
        peer.send_error(&format!("{display}: read error")).await?;
    }
    peer.read_ack().await.map(drop)
}

/// Sends exactly `size` bytes of `file`; zeros once it cannot be read
/// (shrunk, I/O error), counting what it sends into `transfer`. Returns
/// whether every byte came from the file.
async fn stream_data<R, W, E>(
    peer: &mut Peer<R, W, E>,
    file: &Arc<JailFile>,
    size: u64,
    transfer: &FileTransfer,
) -> Result<bool, Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let chunk = usize::try_from(size)
        .unwrap_or(CHUNK_BYTES)
        .min(CHUNK_BYTES);
    let mut buf = vec![0_u8; chunk];
    let mut intact = true;
    let mut offset = 0_u64;
    while offset < size {
        let want = usize::try_from(size - offset).unwrap_or(chunk).min(chunk);
        if intact {
            let reader = Arc::clone(file);
            let data = std::mem::take(&mut buf);
            let joined =
                tokio::task::spawn_blocking(move || read_full(&reader, data, want, offset)).await;
            let (data, complete) = joined.unwrap_or_else(|_| (vec![0_u8; chunk], false));
            buf = data;
            intact = complete;
        }
        peer.write_data(buf.get(..want).unwrap_or_default()).await?;
        transfer.add_read(u64::try_from(want).unwrap_or(u64::MAX));
        if !intact {
            // Zeros from here on (`read_full` zeroed only this round's tail).
            buf.fill(0);
        }
        offset = offset.saturating_add(u64::try_from(want).unwrap_or(u64::MAX));
    }
    peer.flush().await?;
    Ok(intact)
}

/// Reads `want` bytes at `offset` into `buf`, zero-filling what the file
/// no longer has; returns the buffer and whether it was all file data.
fn read_full(file: &JailFile, mut buf: Vec<u8>, want: usize, offset: u64) -> (Vec<u8>, bool) {
    let mut filled = 0;
    let complete = loop {
        let Some(rest) = buf.get_mut(filled..want) else {
            break false;
        };
        if rest.is_empty() {
            break true;
        }
        let at = offset.saturating_add(u64::try_from(filled).unwrap_or(u64::MAX));
        match file.read_at(rest, at) {
            Ok(0) | Err(_) => break false,
            Ok(n) => filled += n,
        }
    };
    if let Some(rest) = buf.get_mut(filled..) {
        rest.fill(0);
    }
    (buf, complete)
}
