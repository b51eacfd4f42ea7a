//! The cluster's accounts document as the `account` commands see it: the
//! text and the usage are read from the database, and a change replaces
//! the text in one transaction that also sets the ledger's limits, unless
//! another change came first. Every node polls the document, so there is
//! no server to ask to reload. The commands connect to the database alone:
//! the bucket is never set up, and the ledger's usage is read only when
//! `list` or `show` prints it.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::Path;

use crate::accounts::{Account, Accounts};
use crate::admin::{AccountsDocument, AdminError};
use crate::cluster::{self, Database};
use crate::config::ClusterSettings;

/// A connection to the cluster's database for one `account` command.
pub(super) struct ClusterDocument {
    runtime: tokio::runtime::Runtime,
    database: Database,
    /// Read at the first account's figure (`list` asks for every
    /// account's); `None` when the ledger cannot be read.
    usage: OnceCell<Option<HashMap<String, u64>>>,
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
        let database = runtime.block_on(Database::connect(settings))?;
        Ok(ClusterDocument {
            runtime,
            database,
            usage: OnceCell::new(),
        })
    }

    /// `account import FILE`: checks `path` as the server checks
    /// accounts.toml and makes it the whole document; how many accounts
    /// are in force. The first import may come before any node started,
    /// so it prepares the tables.
    pub(super) fn import(&self, path: &Path) -> anyhow::Result<usize> {
        let accounts = Accounts::load(path).map_err(|err| anyhow::anyhow!("{err}"))?;
        let source = std::fs::read_to_string(path)
            .map_err(|err| anyhow::anyhow!("reading {}: {err}", path.display()))?;
        self.runtime.block_on(async {
            self.database.prepare_tables().await?;
            self.database
                .replace_document(None, &source, &accounts)
                .await
        })?;
        Ok(accounts.len())
    }
}

impl AccountsDocument for ClusterDocument {
    fn name(&self) -> &Path {
        Path::new(cluster::DOCUMENT_NAME)
    }

    fn read(&self) -> Result<String, AdminError> {
        self.runtime
            .block_on(self.database.read_document())
            .map_err(|err| AdminError::Read {
                path: self.name().to_owned(),
                source: database(&err),
            })
    }

    fn replace(&self, before: &str, after: &str, accounts: &Accounts) -> Result<(), AdminError> {
        let replaced = self
            .runtime
            .block_on(
                self.database
                    .replace_document(Some(before), after, accounts),
            )
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
        let usage = self
            .usage
            .get_or_init(|| self.runtime.block_on(self.database.usage()).ok())
            .as_ref()?;
        // No ledger row yet: the account has never logged in nor been imported.
        Some(usage.get(account.name.as_str()).copied().unwrap_or(0))
    }

    fn home(&self, _account: &Account) -> String {
        "the cluster's storage".to_owned()
    }

    fn kept_after_remove(&self) -> String {
        "its files stay in the cluster's storage".to_owned()
    }
}
