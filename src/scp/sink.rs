//! The sink, `scp -t TARGET`: the client uploads into the box.
//!
//! Follows OpenSSH `sink()` (see `protocol.rs` for the records). Every
//! file is received into a temporary file in the destination's directory
//! and renamed over the destination only once all its bytes arrived, were
//! written and synced: a client that vanishes midway leaves an older file
//! of that name intact, and the temporary file is removed (also when this
//! future is dropped).
//!
//! Quota, decided at the `C` record before it is acknowledged: the
//! temporary file is sized to SIZE at once (`set_len`, a sparse file), which
//! reserves SIZE atomically against concurrent sessions. The old file still
//! counts until the rename, so a replace needs SIZE *plus* the old size free
//! for a moment; that is the price of never losing the old file (writing in
//! place would need no more room, but a client that vanished midway would
//! leave half a file). Refused → `\x01scp: NAME: quota exceeded
//! (used X of Y bytes)` instead of the ack; the source skips the file.
//!
//! Modes lose setuid, setgid and sticky. Without `-p` a new file gets the
//! sent mode minus the umask 022 and a replaced file keeps its old mode, as
//! OpenSSH writing in place would; with `-p` the sent mode and times apply.
//! A destination that is a symlink is followed inside the box, so the link
//! stays and its target is replaced. Hard links of a replaced file keep the
//! old content (a rename, not an in-place write).

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

use super::protocol::{self, MAX_DIR_DEPTH, Record, Times, strerror};
use super::upload::{self, Upload};
use super::{Ack, Options, Peer, Stop, blocking};
use crate::jail::{Jail, JailError, SetAttrs, VirtualPath, escaped};
use protocol::ACK_OK;

/// The umask applied to sent modes without `-p` (OpenSSH uses the
/// process umask; the server's is not the account's business).
const UMASK: u32 = 0o022;

/// A directory being filled, and what to apply to it after its `E`.
struct Frame {
    dir: VirtualPath,
    display: String,
    finish: SetAttrs,
}

/// Where records land: the target, or a directory being filled.
struct Destination<'a> {
    target: &'a VirtualPath,
    target_text: &'a str,
    target_is_dir: bool,
}

/// Receives into the single operand of `options` until the source's EOF or
/// its top-level `E`.
pub(super) async fn run<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let [target_bytes] = options.operands.as_slice() else {
        return peer.fail("ambiguous target").await;
    };
    let target_text = &*escaped(target_bytes);
    let target = match VirtualPath::resolve(&VirtualPath::root(), target_bytes) {
        Ok(target) => target,
        Err(err) => {
            return peer
                .fail(&format!("{target_text}: {}", strerror(&err)))
                .await;
        }
    };
    let stat_target = target.clone();
    let target_is_dir = match blocking(jail, move |jail| jail.stat(&stat_target)).await {
        Ok(st) if st.is_dir() => true,
        Ok(_) if options.target_is_dir => {
            return peer.fail(&format!("{target_text}: Not a directory")).await;
        }
        Err(err) if options.target_is_dir => {
            return peer
                .fail(&format!("{target_text}: {}", strerror(&err)))
                .await;
        }
        _ => false,
    };
    peer.send(&[ACK_OK]).await?;
    let destination = Destination {
        target: &target,
        target_text,
        target_is_dir,
    };
    let mut frames = Vec::new();
    let result = receive(peer, jail, options, &destination, &mut frames).await;
    // Directories left open (EOF without their `E`) still get their times.
    while let Some(frame) = frames.pop() {
        finish_dir(jail, frame).await;
    }
    result
}

async fn receive<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
    destination: &Destination<'_>,
    frames: &mut Vec<Frame>,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let mut times: Option<Times> = None;
    loop {
        let Some(line) = peer.read_line().await? else {
            return Ok(());
        };
        peer.tell("Sink", &line).await;
        let record = match protocol::parse_record(&line) {
            Ok(record) => record,
            Err(err) => return peer.fail(&err.to_string()).await,
        };
        match record {
            Record::Error { fatal, .. } => {
                peer.errors = peer.errors.saturating_add(1);
                if fatal {
                    return Err(Stop);
                }
            }
            Record::End => {
                peer.send(&[ACK_OK]).await?;
                match frames.pop() {
                    Some(frame) => finish_dir(jail, frame).await,
                    None => return Ok(()),
                }
            }
            Record::Times(sent) => {
                times = sent;
                peer.send(&[ACK_OK]).await?;
            }
            Record::Dir { mode, name } => {
                let times = times.take();
                if !options.recursive {
                    return peer
                        .fail("protocol error: received directory without -r")
                        .await;
                }
                if frames.len() >= MAX_DIR_DEPTH {
                    return peer
                        .fail("protocol error: directories nested too deep")
                        .await;
                }
                let Some((dir, display)) = place(peer, destination, frames, &name).await? else {
                    continue;
                };
                if let Some(frame) =
                    enter_dir(peer, jail, options, dir, display, mode, times).await?
                {
                    frames.push(frame);
                    // The nested sink's "ready" is the ack of `D`.
                    peer.send(&[ACK_OK]).await?;
                }
            }
            Record::File { mode, size, name } => {
                let times = times.take();
                let Some((path, display)) = place(peer, destination, frames, &name).await? else {
                    continue;
                };
                receive_file(peer, jail, options, path, &display, mode, size, times).await?;
            }
        }
    }
}

/// The path and display name of record `name` (kept byte for byte; the
/// display escapes what is not text); `None` after reporting a name the box
/// cannot hold.
async fn place<R, W, E>(
    peer: &mut Peer<R, W, E>,
    destination: &Destination<'_>,
    frames: &[Frame],
    name: &[u8],
) -> Result<Option<(VirtualPath, String)>, Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let (parent, parent_text) = match frames.last() {
        Some(frame) => (&frame.dir, frame.display.as_str()),
        None if destination.target_is_dir => (destination.target, destination.target_text),
        None => {
            return Ok(Some((
                destination.target.clone(),
                destination.target_text.to_owned(),
            )));
        }
    };
    let shown = escaped(name);
    let display = if parent_text == "/" {
        format!("/{shown}")
    } else {
        format!("{parent_text}/{shown}")
    };
    match parent.join(name) {
        Ok(path) => Ok(Some((path, display))),
        Err(err) => {
            peer.send_error(&format!("{display}: {}", strerror(&err)))
                .await?;
            Ok(None)
        }
    }
}

/// Creates or reuses directory `dir` for a `D` record; `None` after
/// reporting why it cannot be filled.
async fn enter_dir<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
    dir: VirtualPath,
    display: String,
    mode: u32,
    times: Option<Times>,
) -> Result<Option<Frame>, Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let mode = if options.preserve {
        mode & 0o777
    } else {
        mode & 0o777 & !UMASK
    };
    let probe = dir.clone();
    let created = blocking(jail, move |jail| match jail.stat(&probe) {
        Ok(st) if st.is_dir() => Ok(false),
        Ok(_) => Err(JailError::NotADirectory),
        // Owner rwx while filling, the final mode after the `E`.
        Err(JailError::NotFound) => jail.create_dir(&probe, mode | 0o700).map(|()| true),
        Err(err) => Err(err),
    })
    .await;
    let created = match created {
        Ok(created) => created,
        Err(err) => {
            peer.send_error(&format!("{display}: {}", strerror(&err)))
                .await?;
            return Ok(None);
        }
    };
    let finish = SetAttrs {
        size: None,
        mode: (created || options.preserve).then_some(mode),
        atime: times.map(|t| t.atime),
        mtime: times.map(|t| t.mtime),
    };
    Ok(Some(Frame {
        dir,
        display,
        finish,
    }))
}

/// Applies a finished directory's mode and times; failures are ignored, as
/// OpenSSH ignores them.
async fn finish_dir(jail: &Jail, frame: Frame) {
    if frame.finish != SetAttrs::default() {
        let Frame { dir, finish, .. } = frame;
        let _ = blocking(jail, move |jail| jail.set_attrs(&dir, &finish, true)).await;
    }
}

/// Handles one `C` record: quota and open, ack, data, the source's trailing
/// byte, then the rename and the final ack (or the noted error).
#[allow(clippy::too_many_arguments)]
async fn receive_file<R, W, E>(
    peer: &mut Peer<R, W, E>,
    jail: &Jail,
    options: &Options,
    dest: VirtualPath,
    display: &str,
    mode: u32,
    size: u64,
    times: Option<Times>,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let started = Instant::now();
    let upload = match blocking(jail, move |jail| upload::prepare(jail, dest, size)).await {
        Ok(upload) => upload,
        Err(JailError::QuotaExceeded { used, limit }) => {
            return peer
                .send_error(&protocol::quota_message(display, used, limit))
                .await;
        }
        Err(err) => {
            return peer
                .send_error(&format!("{display}: {}", strerror(&err)))
                .await;
        }
    };
    let Upload {
        file,
        temp,
        dest,
        old_mode,
    } = upload;
    let mut audit = peer.start_upload(dest.clone(), size, started);
    let copied = match peer.send(&[ACK_OK]).await {
        Ok(()) => upload::copy_data(peer, &file, size, &audit.transfer).await,
        Err(stop) => Err(stop),
    };
    let write_error = match copied {
        Ok(write_error) => write_error,
        Err(stop) => {
            temp.remove().await;
            return Err(stop);
        }
    };
    match peer.read_ack().await {
        Ok(Ack::Ok) => {}
        Ok(Ack::Error) => {
            // The source could not read its file: keep the old one.
            temp.remove().await;
            return peer.send(&[ACK_OK]).await;
        }
        Err(stop) => {
            temp.remove().await;
            return Err(stop);
        }
    }
    if let Some(err) = write_error {
        temp.remove().await;
        return peer
            .send_error(&format!("{display}: {}", strerror(&err)))
            .await;
    }
    let mode = match (options.preserve, old_mode) {
        (true, _) => mode & 0o777,
        (false, Some(old)) => old & 0o777,
        (false, None) => mode & 0o777 & !UMASK,
    };
    let attrs = SetAttrs {
        size: None,
        mode: Some(mode),
        atime: times.map(|t| t.atime),
        mtime: times.map(|t| t.mtime),
    };
    let temp_path = temp.path().clone();
    let committed = blocking(jail, move |jail| {
        file.set_attrs(&attrs)?;
        file.sync_all()?;
        jail.rename(&temp_path, &dest, true)
    })
    .await;
    match committed {
        Ok(()) => {
            temp.keep();
            audit.kept = true;
            drop(audit);
            peer.send(&[ACK_OK]).await
        }
        Err(err) => {
            temp.remove().await;
            peer.send_error(&format!("{display}: {}", strerror(&err)))
                .await
        }
    }
}
