//! Writing an object's row (PutObject, CopyObject, CompleteMultipartUpload
//! on an unversioned bucket) in two round trips.
//!
//! The transaction is the one described in `put_object`: READ COMMITTED,
//! the bucket row share-locked, the object row locked for update, then an
//! update or an insert-if-absent. Through tokio-postgres's `Transaction`
//! that is four round trips (BEGIN, the two reads together, the write,
//! COMMIT). Here BEGIN goes out with the reads and COMMIT with the write,
//! since the server runs a connection's statements in the order they
//! arrive: two round trips, and half the wake-ups on both sides, which is
//! what a small PUT costs on a busy machine.
//!
//! The work runs in a task of its own so that a request dropped halfway
//! (its client went away) still ends the transaction before the
//! connection goes back to the pool; any failure sends ROLLBACK.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use deadpool_postgres::Client;
use tokio_postgres::types::ToSql;

use super::{LOCK_BUCKET, RETRIES, backoff, pool_error, sql};
use crate::meta::types::decode;
use crate::meta::{ConditionFailed, MetaError, ObjectMeta, WriteCondition};

/// The row an object write replaced (attributes, layout), if any, or the
/// condition that refused it.
pub(super) type RowOutcome = Result<Option<(Vec<u8>, Vec<u8>)>, ConditionFailed>;

const LOCK_ROW: &str =
    "SELECT attrs, layout FROM objects WHERE bucket = $1 AND key = $2 FOR UPDATE";
const INSERT: &str = "INSERT INTO objects (bucket, key, attrs, layout) VALUES ($1, $2, $3, $4)
     ON CONFLICT (bucket, key) DO NOTHING";
const UPDATE: &str = "UPDATE objects SET attrs = $3, layout = $4 WHERE bucket = $1 AND key = $2";

/// What one object write needs.
pub(super) struct RowWrite {
    pub bucket: String,
    pub key: Vec<u8>,
    pub attrs: Vec<u8>,
    pub layout: Vec<u8>,
    pub condition: WriteCondition,
}

/// Writes `write` on a connection from `pool`, again (with jittered
/// backoff) when it loses a deadlock or a race.
pub(super) async fn write_row(
    pool: &deadpool_postgres::Pool,
    write: RowWrite,
) -> Result<RowOutcome, MetaError> {
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut attempt = 0usize;
        loop {
            let client = pool.get().await.map_err(pool_error)?;
            // A panic halfway must not hand the pool a connection inside
            // an open transaction.
            let attempt_result = match AssertUnwindSafe(attempt_write(&client, &write))
                .catch_unwind()
                .await
            {
                Ok(result) => result,
                Err(panic) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    std::panic::resume_unwind(panic);
                }
            };
            // The connection goes back to the pool before any backoff.
            drop(client);
            match attempt_result {
                Err(MetaError::Retry) if attempt < RETRIES => {
                    attempt += 1;
                    backoff(attempt).await;
                }
                other => return other,
            }
        }
    })
    .await
    .map_err(|e| MetaError::Unavailable(format!("object write task: {e}")))?
}

/// The write in as many transactions as it takes (a few at most: a pass
/// that finds no row and then loses the insert to another writer commits
/// nothing and starts over, and the next pass locks and checks that
/// writer's row). ROLLBACK after anything but a commit.
async fn attempt_write(client: &Client, write: &RowWrite) -> Result<RowOutcome, MetaError> {
    for _ in 0..8 {
        match transaction(client, write).await {
            Ok(Some(outcome)) => return Ok(outcome),
            Ok(None) => continue,
            Err(e) => {
                // Ends the transaction (whatever failed); if the
                // connection itself is gone, this fails too and the pool
                // drops it.
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    Err(MetaError::Retry)
}

/// One transaction, COMMIT sent behind the write: `None` when the insert
/// lost to another writer (and nothing was written).
async fn transaction(client: &Client, write: &RowWrite) -> Result<Option<RowOutcome>, MetaError> {
    let (lock_bucket, lock_row, insert, update) = tokio::try_join!(
        client.prepare_cached(LOCK_BUCKET),
        client.prepare_cached(LOCK_ROW),
        client.prepare_cached(INSERT),
        client.prepare_cached(UPDATE),
    )
    .map_err(sql)?;
    let bucket_params: [&(dyn ToSql + Sync); 1] = [&write.bucket];
    let row_params: [&(dyn ToSql + Sync); 2] = [&write.bucket, &write.key];
    let params: [&(dyn ToSql + Sync); 4] = [&write.bucket, &write.key, &write.attrs, &write.layout];
    // `biased`: first polled in this order, and each sends its statement
    // when first polled, so BEGIN is on the wire first.
    let ((), bucket_row, row) = tokio::try_join!(
        biased;
        client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED"),
        client.query_opt(&lock_bucket, &bucket_params),
        client.query_opt(&lock_row, &row_params),
    )
    .map_err(sql)?;
    if bucket_row.is_none() {
        return Err(MetaError::NoSuchBucket);
    }
    let current: Option<(Vec<u8>, Vec<u8>)> = row.map(|r| (r.get(0), r.get(1)));
    let etag = match &current {
        Some((attrs, _)) => Some(decode::<ObjectMeta>(attrs, "object")?.etag),
        None => None,
    };
    if let Err(refused) = write.condition.check(etag.as_deref()) {
        client.batch_execute("ROLLBACK").await.map_err(sql)?;
        return Ok(Some(Err(refused)));
    }
    let statement = if current.is_some() { &update } else { &insert };
    let (written, ()) = tokio::try_join!(
        biased;
        client.execute(statement, &params),
        client.batch_execute("COMMIT"),
    )
    .map_err(sql)?;
    Ok((written == 1).then_some(Ok(current)))
}
