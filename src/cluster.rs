//! `cluster`: what makes a server one stateless node of many. It connects
//! to the cluster's PostgreSQL (the accounts, the namespace, the quota
//! ledger) and S3 bucket (file contents), prepares the tables, and runs
//! the node's background work. The `account` commands connect to the
//! database alone ([`Database`]): no bucket, no table set-up but for
//! `account import`, which may come before any node started.
//!
//! - **Accounts** live in the database as one accounts.toml document
//!   (`sftpbox account import`, or `account add/set/remove`, which edit it
//!   as they edit the file), checked by the same loader as the file,
//!   so a cluster account means what a local one means. Each node polls
//!   the document's version every [`ACCOUNTS_POLL`] and puts a new one in
//!   force at once, as SIGHUP does with the file.
//! - **Heartbeat and reaper**: each node stamps its row in `sftpbox_nodes`
//!   every [`HEARTBEAT`] and gives back the upload reservations of nodes
//!   whose stamp is older than `node_timeout_seconds`; at start it gives
//!   back its own from an earlier life. Orphaned objects are swept too.
//!
//! What a box on object storage does is the jail's (`jail/object.rs`);
//! this module only hands it an [`ObjectStorage`]. It must not know SSH,
//! sessions or the server.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tracing::{info, warn};

use crate::accounts::Accounts;
use crate::config::ClusterSettings;
use crate::jail::{OBJECT_SCHEMA, ObjectStorage, reap_reservations, sweep_orphans};

/// How often a node looks for a new accounts document: twice a second, so
/// a change is in force everywhere within a second.
pub const ACCOUNTS_POLL: Duration = Duration::from_millis(500);

/// How often a node stamps its heartbeat and reaps dead nodes' reservations.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Database connections one node keeps at most: each SFTP request that
/// touches the namespace holds one for a few statements.
const MAX_DATABASE_CONNECTIONS: usize = 16;

/// The tables of this module: the accounts document.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sftpbox_accounts_document (
    id          integer     PRIMARY KEY CHECK (id = 1),
    source      text        NOT NULL,
    version     bigint      NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now()
);";

/// What the accounts document is called in its problems.
pub const DOCUMENT_NAME: &str = "accounts.toml (cluster database)";

/// A connected node: the database pool and the bucket, shared by its boxes.
#[derive(Clone, Debug)]
pub struct Cluster {
    database: Database,
    storage: ObjectStorage,
    node_timeout: Duration,
}

/// The cluster's database alone: the accounts document and the ledger's
/// figures, without the bucket. What the `account` commands need.
#[derive(Clone, Debug)]
pub struct Database {
    pool: deadpool_postgres::Pool,
}

/// Connects to the database (preparing the tables) and the bucket. Runs
/// on the runtime the node serves on.
pub async fn connect(settings: &ClusterSettings) -> anyhow::Result<Cluster> {
    let database = Database::connect(settings).await?;
    database.prepare_tables().await?;
    let storage = &settings.storage;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(key_id), Some(secret)) = (
        storage
            .access_key_id
            .clone()
            .or_else(|| env("AWS_ACCESS_KEY_ID")),
        storage
            .secret_access_key
            .clone()
            .or_else(|| env("AWS_SECRET_ACCESS_KEY")),
    ) else {
        bail!(
            "no credentials for the bucket: set access_key_id and secret_access_key in [storage], or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        );
    };
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&storage.endpoint)
        .with_allow_http(storage.endpoint.starts_with("http://"))
        .with_region(&storage.region)
        .with_bucket_name(&storage.bucket)
        .with_access_key_id(key_id)
        .with_secret_access_key(secret)
        .build()
        .context("setting up the S3 client")?;
    Ok(Cluster {
        storage: ObjectStorage {
            pool: database.pool.clone(),
            store: Arc::new(store),
            node: settings.node.clone(),
            runtime: tokio::runtime::Handle::current(),
        },
        database,
        node_timeout: settings.node_timeout,
    })
}

fn pool(settings: &ClusterSettings) -> anyhow::Result<deadpool_postgres::Pool> {
    let mut config: tokio_postgres::Config = settings
        .database
        .parse()
        .context("reading the database connection")?;
    config.application_name(format!("sftpbox {}", settings.node));
    config.connect_timeout(Duration::from_secs(5));
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(MAX_DATABASE_CONNECTIONS)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("setting up the database pool")
}

impl Database {
    /// Connects to the database and checks that it answers; no table is
    /// prepared and the bucket is not touched.
    pub async fn connect(settings: &ClusterSettings) -> anyhow::Result<Database> {
        let pool = pool(settings)?;
        let client = pool
            .get()
            .await
            .context("connecting to the cluster database")?;
        // Back into the pool, for the first statement.
        drop(client);
        Ok(Database { pool })
    }

    /// Creates the cluster's tables where they are missing.
    pub async fn prepare_tables(&self) -> anyhow::Result<()> {
        let client = self
            .pool
            .get()
            .await
            .context("connecting to the cluster database")?;
        // One node at a time prepares the tables; IF NOT EXISTS alone races.
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(7370656); {OBJECT_SCHEMA} {SCHEMA} COMMIT;"
            ))
            .await
            .context("preparing the cluster tables")
    }

    /// The accounts document in force and its version (0 and no accounts
    /// before the first import).
    pub async fn load_accounts(&self) -> anyhow::Result<(i64, Accounts)> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT version, source FROM sftpbox_accounts_document WHERE id = 1",
                &[],
            )
            .await?;
        let Some(row) = row else {
            return Ok((0, Accounts::default()));
        };
        let version: i64 = row.try_get(0)?;
        let source: String = row.try_get(1)?;
        let accounts = Accounts::from_toml_str(&source, Path::new(DOCUMENT_NAME))
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        Ok((version, accounts))
    }

    async fn document_version(&self) -> anyhow::Result<i64> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT version FROM sftpbox_accounts_document WHERE id = 1",
                &[],
            )
            .await?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => 0,
        })
    }

    /// The accounts document's text: empty before the first import.
    pub async fn read_document(&self) -> anyhow::Result<String> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT source FROM sftpbox_accounts_document WHERE id = 1",
                &[],
            )
            .await
            .map_err(|err| {
                if err.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
                    anyhow::anyhow!(
                        "the database has no cluster tables yet: `sftpbox account import` a file, or start a node, first"
                    )
                } else {
                    err.into()
                }
            })?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => String::new(),
        })
    }

    /// Makes `source` (which loads as `accounts`) the accounts document,
    /// and each account's `quota` and `max_files` its ledger row's (its
    /// usage stays), in one transaction. With `before`, only if the
    /// document is still that text: `Ok(false)` when someone changed it
    /// meanwhile, and nothing is written.
    pub async fn replace_document(
        &self,
        before: Option<&str>,
        source: &str,
        accounts: &Accounts,
    ) -> anyhow::Result<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let current = tx
            .query_opt(
                "SELECT source FROM sftpbox_accounts_document WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?
            .map(|row| row.try_get::<_, String>(0))
            .transpose()?;
        if let Some(before) = before
            && current.as_deref().unwrap_or("") != before
        {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO sftpbox_accounts_document (id, source, version) VALUES (1, $1, 1)
             ON CONFLICT (id) DO UPDATE SET source = $1, version = sftpbox_accounts_document.version + 1, imported_at = now()",
            &[&source],
        )
        .await?;
        for account in accounts.iter() {
            let as_sql = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            let quota = account.quota_bytes.map(as_sql);
            let max_files = account.max_files.map(as_sql);
            tx.execute(
                "INSERT INTO sftpbox_ledger (account, quota_bytes, max_files) VALUES ($1, $2, $3)
                 ON CONFLICT (account) DO UPDATE SET quota_bytes = $2, max_files = $3",
                &[&account.name.as_str(), &quota, &max_files],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Bytes each account with a ledger row uses, reservations included.
    pub async fn usage(&self) -> anyhow::Result<HashMap<String, u64>> {
        let client = self.pool.get().await?;
        let rows = client
            .query("SELECT account, used_bytes FROM sftpbox_ledger", &[])
            .await?;
        let mut usage = HashMap::with_capacity(rows.len());
        for row in &rows {
            let used: i64 = row.try_get(1)?;
            usage.insert(row.try_get(0)?, u64::try_from(used).unwrap_or(0));
        }
        Ok(usage)
    }
}

impl Cluster {
    /// What the node's boxes share.
    pub fn storage(&self) -> &ObjectStorage {
        &self.storage
    }

    /// The database alone.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Polls the accounts document and hands each new version to
    /// `install`; `version` is the one already in force.
    pub fn watch_accounts(
        &self,
        mut version: i64,
        install: impl Fn(Accounts) + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let cluster = self.clone();
        let install = Arc::new(install);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ACCOUNTS_POLL);
            loop {
                tick.tick().await;
                let current = match cluster.database.document_version().await {
                    Ok(current) => current,
                    Err(err) => {
                        warn!(err = format!("{err:#}"), "cannot read the accounts version");
                        continue;
                    }
                };
                if current == version {
                    continue;
                }
                match cluster.database.load_accounts().await {
                    Ok((loaded, accounts)) => {
                        let count = accounts.len();
                        let install = Arc::clone(&install);
                        // Installing may verify hashes: off the async threads.
                        let _ = tokio::task::spawn_blocking(move || (*install)(accounts)).await;
                        info!(
                            version = loaded,
                            accounts = count,
                            "accounts from the database in force"
                        );
                        version = loaded;
                    }
                    Err(err) => {
                        warn!(
                            err = format!("{err:#}"),
                            "accounts document refused, the old accounts stay in force"
                        );
                        version = current;
                    }
                }
            }
        })
    }

    /// Stamps this node's heartbeat every [`HEARTBEAT`], reaps the
    /// reservations of dead nodes and sweeps orphaned objects. The first
    /// round also gives back this node's reservations from an earlier life.
    pub fn spawn_heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            let mut restarted = Some(cluster.storage.node.clone());
            loop {
                tick.tick().await;
                match cluster.heartbeat(restarted.as_deref()).await {
                    Ok(()) => restarted = None,
                    Err(err) => warn!(err = format!("{err:#}"), "heartbeat failed"),
                }
            }
        })
    }

    async fn heartbeat(&self, restarted: Option<&str>) -> anyhow::Result<()> {
        let client = self.storage.pool.get().await?;
        client
            .execute(
                "INSERT INTO sftpbox_nodes (name, heartbeat_at) VALUES ($1, now())
                 ON CONFLICT (name) DO UPDATE SET heartbeat_at = now()",
                &[&self.storage.node],
            )
            .await?;
        let reaped = reap_reservations(&client, self.node_timeout.as_secs_f64(), restarted).await?;
        if reaped > 0 {
            info!(
                accounts = reaped,
                "reservations of stopped nodes given back"
            );
        }
        sweep_orphans(&client, self.storage.store.as_ref())
            .await
            .map_err(|err| anyhow::anyhow!("sweeping orphans: {err}"))?;
        Ok(())
    }
}
