//! Live state per account, shared by all its connections: the [`Quota`] every
//! session of the account charges (its bytes and its files), its
//! [`AccountBudget`] (blocking jobs and open handles), its [`AccountRates`]
//! (one token bucket per direction, so its sessions share its rates), the
//! open [`Jail`] (one home descriptor for all of them), how many sessions it
//! has open and what they all moved since the server started. The box is
//! closed with the account's last session; the figures and the rates stay.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::accounts::{Account, Accounts};
use crate::budget::{AccountBudget, ProcessBudget};
use crate::jail::{Jail, JailError, ObjectStorage, Quota};
use crate::metrics::AccountFigures;
use crate::rate::AccountRates;
use crate::transfer::Transferred;

/// Per-account quota, open box and session count; clones share them.
#[derive(Default, Clone)]
pub struct AccountRegistry {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

#[derive(Default)]
struct Entry {
    quota: Option<Arc<Quota>>,
    /// What the account may hold of the process (blocking jobs, open
    /// handles); kept while it has handles open, so a new session shares it.
    budget: Option<AccountBudget>,
    /// The buckets of `upload_rate` and `download_rate`, shared by all its
    /// sessions and kept for the server's life, so a reload reaches them.
    rates: Option<AccountRates>,
    sessions: usize,
    /// The open box while the account has sessions, with the home and the
    /// read-only flag it was opened for (a reload may change either).
    jail: Option<(PathBuf, bool, Jail)>,
    /// What all its sessions moved since the server started.
    moved: Arc<Transferred>,
}

/// One open session of an account; dropping it frees the slot.
pub struct AccountSessionSlot {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    account: String,
    moved: Arc<Transferred>,
}

impl AccountSessionSlot {
    /// The account's figures, which its sessions count into.
    pub fn moved(&self) -> Arc<Transferred> {
        self.moved.clone()
    }
}

impl AccountRegistry {
    /// The quota shared by every session of `account`, created on first use.
    pub fn quota_for(&self, account: &Account) -> Arc<Quota> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.entry(account.name.to_string()).or_default();
        entry
            .quota
            .get_or_insert_with(|| {
                Arc::new(Quota::new(account.quota_bytes).with_max_files(account.max_files))
            })
            .clone()
    }

    /// The budget shared by every session of `account`, drawn from
    /// `process` on first use.
    pub fn budget_for(&self, account: &str, process: &ProcessBudget) -> AccountBudget {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.entry(account.to_owned()).or_default();
        entry
            .budget
            .get_or_insert_with(|| process.for_account())
            .clone()
    }

    /// The rates shared by every session of `account`, created on first use.
    pub fn rates_for(&self, account: &Account) -> AccountRates {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.entry(account.name.to_string()).or_default();
        entry
            .rates
            .get_or_insert_with(|| AccountRates::new(account.upload_rate, account.download_rate))
            .clone()
    }

    /// The open box of `account` at `home` (or on `storage`, a cluster's
    /// object storage), shared by its sessions; opened (and its usage
    /// counted) on first use. Blocking.
    /// `owner`: the uid a root server gives a home it creates (or finds
    /// root's or `nobody`'s), the account's sandbox uid.
    pub fn jail_for(
        &self,
        account: &Account,
        home: &Path,
        storage: Option<&ObjectStorage>,
        owner: Option<u32>,
    ) -> Result<Jail, JailError> {
        let name = account.name.to_string();
        let readonly = account.readonly;
        if let Some(jail) = self.cached_jail(&name, home, readonly) {
            return Ok(jail);
        }
        // Opened without the lock: counting a large home takes a while.
        let jail = match storage {
            Some(storage) => Jail::open_object(
                storage,
                account.name.as_str(),
                self.quota_for(account),
                readonly,
            )?,
            None => Jail::open_as(home, self.quota_for(account), readonly, owner)?,
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.entry(name).or_default();
        match &entry.jail {
            Some((cached_home, cached_readonly, cached))
                if cached_home == home && *cached_readonly == readonly =>
            {
                Ok(cached.clone())
            }
            _ => {
                entry.jail = Some((home.to_owned(), readonly, jail.clone()));
                Ok(jail)
            }
        }
    }

    fn cached_jail(&self, name: &str, home: &Path, readonly: bool) -> Option<Jail> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match &entries.get(name)?.jail {
            Some((cached_home, cached_readonly, jail))
                if cached_home == home && *cached_readonly == readonly =>
            {
                Some(jail.clone())
            }
            _ => None,
        }
    }

    /// Applies reloaded quota limits (bytes and files) and rates to the
    /// accounts that have live state; running transfers follow the new
    /// rates at once.
    pub fn apply_limits(&self, accounts: &Accounts) {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, entry) in entries.iter() {
            let Some(account) = accounts.get(name) else {
                continue;
            };
            if let Some(quota) = &entry.quota {
                quota.set_limit(account.quota_bytes);
                quota.set_max_files(account.max_files);
            }
            if let Some(rates) = &entry.rates {
                rates.set(account.upload_rate, account.download_rate);
            }
        }
    }

    /// Takes a session slot for `account`, or `None` when it has `max` already.
    pub fn try_take_session(&self, account: &str, max: usize) -> Option<AccountSessionSlot> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.entry(account.to_owned()).or_default();
        if entry.sessions >= max {
            return None;
        }
        entry.sessions += 1;
        Some(AccountSessionSlot {
            entries: self.entries.clone(),
            account: account.to_owned(),
            moved: entry.moved.clone(),
        })
    }

    /// Every account with live state: bytes moved, quota used (once its
    /// home was counted) and allowed; sorted by name.
    pub fn figures(&self) -> Vec<AccountFigures> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut figures: Vec<AccountFigures> = entries
            .iter()
            .map(|(name, entry)| {
                let moved = entry.moved.snapshot();
                AccountFigures {
                    account: name.clone(),
                    received_bytes: moved.bytes_written,
                    sent_bytes: moved.bytes_read,
                    quota_used_bytes: entry.quota.as_ref().map(|q| q.used_bytes()),
                    quota_allowed_bytes: entry.quota.as_ref().and_then(|q| q.limit_bytes()),
                }
            })
            .collect();
        figures.sort_by(|a, b| a.account.cmp(&b.account));
        figures
    }
}

impl Drop for AccountSessionSlot {
    fn drop(&mut self) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&self.account) {
            entry.sessions = entry.sessions.saturating_sub(1);
            if entry.sessions == 0 {
                // Close the home descriptor with the account's last session.
                entry.jail = None;
            }
        }
    }
}
