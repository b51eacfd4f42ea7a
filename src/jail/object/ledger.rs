//! The exact quota of object boxes: `sftpbox_ledger`, one row per account,
//! changed only by statements that check and change it at once.
//!
//! A grant is `UPDATE … SET used = used + n WHERE used + n <= quota`: the
//! row lock makes concurrent grants from any number of nodes take turns,
//! and each sees the others' result, so together they never pass the
//! quota (a read-then-write version over-granted 26.6× in the same test).
//! An upload's bytes are held in a `sftpbox_reservations` row of its node
//! until it ends; row locks are always taken reservation first, ledger
//! second (here, at commit and in the reaper), so they cannot deadlock.

use deadpool_postgres::GenericClient;
use object_store::{ObjectStore, ObjectStoreExt};

use super::super::{JailError, Usage};
use super::db;

/// Makes `account`'s ledger row if it has none, with its limits; an
/// existing row (set by `account import` or `add`) is left as it is.
pub(crate) async fn ensure_account(
    client: &impl GenericClient,
    account: &str,
    limit: Option<u64>,
    max_files: Option<u64>,
) -> Result<(), JailError> {
    let limit = limit.map(as_sql);
    let max_files = max_files.map(as_sql);
    client
        .execute(
            "INSERT INTO sftpbox_ledger (account, quota_bytes, max_files) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&account, &limit, &max_files],
        )
        .await
        .map_err(db)?;
    Ok(())
}

/// What `account` uses: bytes (reservations included) and names.
pub(crate) async fn used(client: &impl GenericClient, account: &str) -> Result<Usage, JailError> {
    let row = client
        .query_opt(
            "SELECT used_bytes, used_files FROM sftpbox_ledger WHERE account = $1",
            &[&account],
        )
        .await
        .map_err(db)?;
    let (bytes, files): (i64, i64) = match row {
        Some(row) => (row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?),
        None => (0, 0),
    };
    Ok(Usage {
        bytes: u64::try_from(bytes).unwrap_or(0),
        files: u64::try_from(files).unwrap_or(0),
    })
}

/// Counts one more file or folder for `account` inside a transaction,
/// within its `max_files`; the same check-and-change statement as a byte
/// grant, so nodes creating names at once never pass the limit.
pub(crate) async fn count_name(tx: &impl GenericClient, account: &str) -> Result<(), JailError> {
    let counted = tx
        .execute(
            "UPDATE sftpbox_ledger SET used_files = used_files + 1
             WHERE account = $1 AND (max_files IS NULL OR used_files + 1 <= max_files)",
            &[&account],
        )
        .await
        .map_err(db)?;
    if counted > 0 {
        return Ok(());
    }
    Err(refusal(tx, account, Figure::Files).await.map_err(db)?)
}

/// The refusal for `account`, with its figures as they are now (none when
/// they cannot be read).
async fn exceeded(client: &impl GenericClient, account: &str) -> JailError {
    refusal(client, account, Figure::Bytes)
        .await
        .unwrap_or_else(|_| Figure::Bytes.refusal(0, 0))
}

/// What a refusal is about: the bytes against the quota, or the names
/// against `max_files`.
#[derive(Clone, Copy)]
enum Figure {
    Bytes,
    Files,
}

impl Figure {
    /// The ledger's columns of this figure: used, then the limit.
    fn columns(self) -> &'static str {
        match self {
            Figure::Bytes => "used_bytes, quota_bytes",
            Figure::Files => "used_files, max_files",
        }
    }

    fn refusal(self, used: u64, limit: u64) -> JailError {
        match self {
            Figure::Bytes => JailError::QuotaExceeded { used, limit },
            Figure::Files => JailError::TooManyFiles { used, limit },
        }
    }
}

/// The refusal of `figure` for `account`, read from its ledger row as it
/// is now (0 for a missing row or limit).
async fn refusal(
    client: &impl GenericClient,
    account: &str,
    figure: Figure,
) -> Result<JailError, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {} FROM sftpbox_ledger WHERE account = $1",
                figure.columns()
            ),
            &[&account],
        )
        .await?;
    let (used, limit) = match row {
        Some(row) => (
            row.try_get::<_, i64>(0).unwrap_or(0),
            row.try_get::<_, Option<i64>>(1).ok().flatten().unwrap_or(0),
        ),
        None => (0, 0),
    };
    Ok(figure.refusal(
        u64::try_from(used).unwrap_or(0),
        u64::try_from(limit).unwrap_or(0),
    ))
}

fn as_sql(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Grants `bytes` to a new reservation of `node` for `account`; its id,
/// or `QuotaExceeded` when the grant would pass the quota.
pub(crate) async fn reserve(
    client: &impl GenericClient,
    account: &str,
    node: &str,
    bytes: u64,
) -> Result<i64, JailError> {
    let row = client
        .query_opt(
            "WITH granted AS (
                 UPDATE sftpbox_ledger SET used_bytes = used_bytes + $2
                 WHERE account = $1 AND (quota_bytes IS NULL OR used_bytes + $2 <= quota_bytes)
                 RETURNING account)
             INSERT INTO sftpbox_reservations (account, node, bytes)
             SELECT account, $3, $2 FROM granted RETURNING id",
            &[&account, &as_sql(bytes), &node],
        )
        .await
        .map_err(db)?;
    match row {
        Some(row) => row.try_get(0).map_err(db),
        None => Err(exceeded(client, account).await),
    }
}

/// Adds `bytes` to reservation `id`; `QuotaExceeded` when that would pass
/// the quota, an error when the reservation is gone (reaped while this
/// node was thought dead).
pub(crate) async fn grow(
    client: &mut deadpool_postgres::Object,
    account: &str,
    id: i64,
    bytes: u64,
) -> Result<(), JailError> {
    let tx = client.transaction().await.map_err(db)?;
    let held = tx
        .execute(
            "UPDATE sftpbox_reservations SET bytes = bytes + $2 WHERE id = $1",
            &[&id, &as_sql(bytes)],
        )
        .await
        .map_err(db)?;
    if held == 0 {
        return Err(JailError::Io(std::io::Error::other(
            "the upload's reservation was given back; upload the file again",
        )));
    }
    let granted = tx
        .execute(
            "UPDATE sftpbox_ledger SET used_bytes = used_bytes + $2
             WHERE account = $1 AND (quota_bytes IS NULL OR used_bytes + $2 <= quota_bytes)",
            &[&account, &as_sql(bytes)],
        )
        .await
        .map_err(db)?;
    if granted == 0 {
        drop(tx);
        return Err(exceeded(&*client, account).await);
    }
    tx.commit().await.map_err(db)
}

/// Gives reservation `id`'s bytes back and removes it.
pub(crate) async fn cancel(client: &impl GenericClient, id: i64) -> Result<(), JailError> {
    client
        .execute(
            "WITH r AS (DELETE FROM sftpbox_reservations WHERE id = $1 RETURNING account, bytes)
             UPDATE sftpbox_ledger l SET used_bytes = l.used_bytes - r.bytes FROM r
             WHERE l.account = r.account",
            &[&id],
        )
        .await
        .map_err(db)?;
    Ok(())
}

/// Removes reservation `id` inside a transaction; the bytes it held, or
/// `None` when it is gone.
pub(crate) async fn take(tx: &impl GenericClient, id: i64) -> Result<Option<u64>, JailError> {
    let row = tx
        .query_opt(
            "DELETE FROM sftpbox_reservations WHERE id = $1 RETURNING bytes",
            &[&id],
        )
        .await
        .map_err(db)?;
    match row {
        Some(row) => Ok(Some(
            u64::try_from(row.try_get::<_, i64>(0).map_err(db)?).unwrap_or(0),
        )),
        None => Ok(None),
    }
}

/// Moves `account`'s usage by `delta` bytes (negative: given back), with
/// no quota check: for settling what was granted before.
pub(crate) async fn adjust(
    tx: &impl GenericClient,
    account: &str,
    delta: i64,
) -> Result<(), JailError> {
    if delta == 0 {
        return Ok(());
    }
    tx.execute(
        "UPDATE sftpbox_ledger SET used_bytes = greatest(used_bytes + $2, 0) WHERE account = $1",
        &[&account, &delta],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// Charges `bytes` to `account` inside a transaction, within the quota.
pub(crate) async fn charge(
    tx: &impl GenericClient,
    account: &str,
    bytes: u64,
) -> Result<(), JailError> {
    let granted = tx
        .execute(
            "UPDATE sftpbox_ledger SET used_bytes = used_bytes + $2
             WHERE account = $1 AND (quota_bytes IS NULL OR used_bytes + $2 <= quota_bytes)",
            &[&account, &as_sql(bytes)],
        )
        .await
        .map_err(db)?;
    if granted == 0 {
        return Err(exceeded(tx, account).await);
    }
    Ok(())
}

/// Gives `bytes` back to `account` (a removed or truncated file).
pub(crate) async fn release(
    tx: &impl GenericClient,
    account: &str,
    bytes: u64,
) -> Result<(), JailError> {
    adjust(tx, account, -as_sql(bytes)).await
}

/// Records `object` as no longer referenced, to be deleted from the store.
pub(crate) async fn add_orphan(tx: &impl GenericClient, object: &str) -> Result<(), JailError> {
    tx.execute(
        "INSERT INTO sftpbox_orphans (object) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&object],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// Deletes orphan `object` from the store, then its record; a failure
/// leaves the record for the sweeper.
pub(crate) async fn delete_orphan(
    client: &impl GenericClient,
    store: &dyn ObjectStore,
    object: &str,
) {
    let location = object_store::path::Path::from(object);
    match store.delete(&location).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {
            if let Err(err) = client
                .execute("DELETE FROM sftpbox_orphans WHERE object = $1", &[&object])
                .await
            {
                tracing::warn!(%err, object, "orphan deleted but not its record");
            }
        }
        Err(err) => tracing::warn!(%err, object, "orphan left for the sweeper"),
    }
}

/// Deletes up to 100 orphaned objects; how many were handled.
pub async fn sweep_orphans(
    client: &deadpool_postgres::Object,
    store: &dyn ObjectStore,
) -> Result<usize, JailError> {
    let rows = client
        .query("SELECT object FROM sftpbox_orphans LIMIT 100", &[])
        .await
        .map_err(db)?;
    for row in &rows {
        let object: String = row.try_get(0).map_err(db)?;
        delete_orphan(client, store, &object).await;
    }
    Ok(rows.len())
}

/// Gives back the reservations of nodes whose last heartbeat is older
/// than `stale_seconds`, and those of `restarted`, a node starting again
/// under the same name (its earlier life's uploads are gone). One
/// statement: rows are deleted and their bytes leave the ledger together.
/// Returns how many accounts got bytes back.
pub async fn reap_reservations(
    client: &deadpool_postgres::Object,
    stale_seconds: f64,
    restarted: Option<&str>,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "WITH dead AS (
                 DELETE FROM sftpbox_reservations r
                 WHERE r.node = $2
                    OR r.node IN (SELECT name FROM sftpbox_nodes
                                  WHERE heartbeat_at < now() - make_interval(secs => $1))
                 RETURNING r.account, r.bytes),
             totals AS (SELECT account, sum(bytes)::bigint AS bytes FROM dead GROUP BY account)
             UPDATE sftpbox_ledger l SET used_bytes = greatest(l.used_bytes - t.bytes, 0)
             FROM totals t WHERE l.account = t.account",
            &[&stale_seconds, &restarted],
        )
        .await
}
