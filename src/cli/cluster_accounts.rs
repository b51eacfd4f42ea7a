//! The cluster's accounts document as the `account` commands see it: the
//! text and the usage are read from the database, and a change replaces
//! the text in one transaction that also sets the ledger's limits, unless
//! another change came first. Every node polls the document, so there is
//! no server to ask to reload.

use std::collections::HashMap;
use std::path::Path;

use crate::accounts::{Account, Accounts};
use crate::admin::{AccountsDocument, AdminError};
use crate::cluster::{self, Cluster};
use crate::config::ClusterSettings;

/// A connection to the cluster's database for one `account` command.
pub(super) struct ClusterDocument {
    runtime: tokio::runtime::Runtime,
    cluster: Cluster,
    /// Read once: `list` asks for every account's.
    usage: HashMap<String, u64>,
}

/// A database failure as the admin error of reading or writing the document.
fn database(err: &anyhow::Error) -> std::io::Error {
    std::io::Error::other(format!("{err:#}"))
}

impl ClusterDocument {
    pub(super) fn connect(settings: &ClusterSettings) -> anyhow::Result<ClusterDocument> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let cluster = runtime.block_on(cluster::connect(settings))?;
        let usage = runtime.block_on(cluster.usage())?;
        Ok(ClusterDocument {
            runtime,
            cluster,
            usage,
        })
    }

    /// `account import FILE`: checks `path` as the server checks
    /// accounts.toml and makes it the whole document; how many accounts
    /// are in force.
    pub(super) fn import(&self, path: &Path) -> anyhow::Result<usize> {
        let accounts = Accounts::load(path).map_err(|err| anyhow::anyhow!("{err}"))?;
        let source = std::fs::read_to_string(path)
            .map_err(|err| anyhow::anyhow!("reading {}: {err}", path.display()))?;
        self.runtime
            .block_on(self.cluster.replace_document(None, &source, &accounts))?;
        Ok(accounts.len())
    }
}

impl AccountsDocument for ClusterDocument {
    fn name(&self) -> &Path {
        Path::new(cluster::DOCUMENT_NAME)
    }

    fn read(&self) -> Result<String, AdminError> {
        self.runtime
            .block_on(self.cluster.read_document())
            .map_err(|err| AdminError::Read {
                path: self.name().to_owned(),
                source: database(&err),
            })
    }

    fn replace(&self, before: &str, after: &str, accounts: &Accounts) -> Result<(), AdminError> {
        let replaced = self
            .runtime
            .block_on(self.cluster.replace_document(Some(before), after, accounts))
            .map_err(|err| AdminError::Write {
                path: self.name().to_owned(),
                source: database(&err),
            })?;
        if replaced {
            Ok(())
        } else {
            Err(AdminError::Raced {
                path: self.name().to_owned(),
            })
        }
    }

    fn used(&self, account: &Account) -> Option<u64> {
        // No ledger row yet: the account has never logged in nor been imported.
        Some(self.usage.get(account.name.as_str()).copied().unwrap_or(0))
    }

    fn home(&self, _account: &Account) -> String {
        "the cluster's storage".to_owned()
    }

    fn kept_after_remove(&self) -> String {
        "its files stay in the cluster's storage".to_owned()
    }
}
