//! The table of live connections, for the control socket: each gets a
//! number when it is accepted and leaves the table when its task ends.
//! `sessions` lists the authenticated ones with their channels and open
//! files; `kick` ends them the way the idle watch does (the connection's
//! services are cancelled, which drops their channels and closes their
//! files, and its socket is shut under russh's feet, so the client sees
//! the connection close).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::connection::ConnectionState;
use crate::control::{SessionInfo, TransferInfo};
use crate::listing::calendar;

use super::activity::SocketCloser;

/// One live connection.
struct Entry {
    peer: SocketAddr,
    /// Seconds since the epoch when it was accepted.
    started: i64,
    state: Arc<ConnectionState>,
    closer: Arc<SocketCloser>,
}

/// Every live connection, by number.
#[derive(Default)]
pub struct SessionTable {
    next_id: AtomicU64,
    entries: Arc<Mutex<BTreeMap<u64, Entry>>>,
}

/// A connection's place in the table; dropping it takes it out.
pub struct Registered {
    id: u64,
    entries: Arc<Mutex<BTreeMap<u64, Entry>>>,
}

fn lock(entries: &Mutex<BTreeMap<u64, Entry>>) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
    entries.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionTable {
    /// Adds a connection from `peer`; it stays until the guard drops.
    pub fn register(
        &self,
        peer: SocketAddr,
        state: Arc<ConnectionState>,
        closer: Arc<SocketCloser>,
    ) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Entry {
            peer,
            started: calendar::now(),
            state,
            closer,
        };
        lock(&self.entries).insert(id, entry);
        Registered {
            id,
            entries: self.entries.clone(),
        }
    }

    /// The authenticated sessions now, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        lock(&self.entries)
            .iter()
            .filter_map(|(id, entry)| {
                let account = entry.state.account()?;
                let transfers = entry
                    .state
                    .moved()
                    .open_files()
                    .into_iter()
                    .map(|file| TransferInfo {
                        rate: file.rate(),
                        path: file.info.path,
                        direction: file.info.direction.as_str().to_owned(),
                        bytes: file.bytes,
                        size: file.info.size,
                    })
                    .collect();
                Some(SessionInfo {
                    id: *id,
                    account,
                    peer: entry.peer.to_string(),
                    started: calendar::rfc3339(entry.started),
                    channels: entry
                        .state
                        .channels()
                        .kinds()
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                    transfers,
                })
            })
            .collect()
    }

    /// How many sessions are authenticated now.
    pub fn open_count(&self) -> usize {
        lock(&self.entries)
            .values()
            .filter(|entry| entry.state.is_authenticated())
            .count()
    }

    /// Ends the authenticated sessions `which` picks; returns their numbers.
    pub fn kick(&self, which: impl Fn(u64, &str) -> bool) -> Vec<u64> {
        let chosen: Vec<(u64, Arc<ConnectionState>, Arc<SocketCloser>)> = lock(&self.entries)
            .iter()
            .filter_map(|(id, entry)| {
                let account = entry.state.account()?;
                which(*id, &account).then(|| (*id, entry.state.clone(), entry.closer.clone()))
            })
            .collect();
        for (_, state, closer) in &chosen {
            state.close_now();
            closer.close();
        }
        chosen.into_iter().map(|(id, _, _)| id).collect()
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let removed = lock(&self.entries).remove(&self.id);
        drop(removed);
    }
}
