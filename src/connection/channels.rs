//! The one table of a connection's open channels. The handler adds a
//! channel when the client opens it and takes it out for a service at its
//! first request; the entry stays, counting against the cap, until the
//! client closes the channel or its service ends, whichever comes first.
//! Shared by the handler and the service tasks, hence the lock; it is held
//! only to look up or change one entry.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use russh::server::Msg;
use russh::{Channel, ChannelId};

/// A channel opened by the client, waiting for its first request.
pub struct OpenChannel {
    /// The channel itself, until a service takes it.
    pub channel: Channel<Msg>,
    /// Terminal size from `pty-req`, when the client asked for one.
    pub pty: Option<(u32, u32)>,
}

/// Where an open channel is.
enum Entry {
    /// Waiting for its first request.
    Waiting(OpenChannel),
    /// Handed to a service of this kind (`sftp`, `exec`, `shell`, `scp`).
    Serving(&'static str),
}

/// The open channels of one connection.
#[derive(Default)]
pub struct ChannelTable {
    entries: Mutex<HashMap<ChannelId, Entry>>,
}

impl ChannelTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<ChannelId, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `channel`, waiting for its first request, unless `max`
    /// channels are open already (then it is dropped: `false`).
    pub fn try_open(&self, channel: Channel<Msg>, max: usize) -> bool {
        let mut entries = self.lock();
        if entries.len() >= max {
            return false;
        }
        entries.insert(
            channel.id(),
            Entry::Waiting(OpenChannel { channel, pty: None }),
        );
        true
    }

    /// Records the terminal asked for on waiting channel `id`; `false`
    /// when no channel `id` waits for a request.
    pub fn set_pty(&self, id: ChannelId, columns: u32, rows: u32) -> bool {
        match self.lock().get_mut(&id) {
            Some(Entry::Waiting(open)) => {
                open.pty = Some((columns, rows));
                true
            }
            Some(Entry::Serving(_)) | None => false,
        }
    }

    /// Takes waiting channel `id` for a service of `kind`; `None` when no
    /// channel `id` waits for a request (unknown, or already served).
    pub fn start_service(&self, id: ChannelId, kind: &'static str) -> Option<OpenChannel> {
        let mut entries = self.lock();
        let entry = entries.get_mut(&id)?;
        match entry {
            Entry::Waiting(_) => match std::mem::replace(entry, Entry::Serving(kind)) {
                Entry::Waiting(open) => Some(open),
                Entry::Serving(_) => None,
            },
            Entry::Serving(_) => None,
        }
    }

    /// The kinds of the channels being served now, in channel order.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut served: Vec<(ChannelId, &'static str)> = self
            .lock()
            .iter()
            .filter_map(|(id, entry)| match entry {
                Entry::Serving(kind) => Some((*id, *kind)),
                Entry::Waiting(_) => None,
            })
            .collect();
        served.sort_by_key(|(id, _)| u32::from(*id));
        served.into_iter().map(|(_, kind)| kind).collect()
    }

    /// Channel `id` is closed, by the client or because its service
    /// ended: it no longer counts against the cap.
    pub fn close(&self, id: ChannelId) {
        let removed = self.lock().remove(&id);
        // A waiting channel is dropped here, outside the lock.
        drop(removed);
    }
}
