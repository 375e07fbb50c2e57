//! ListObjects over the `objects` primary key `(bucket, key BYTEA)`.
//!
//! [`PageWalk`]'s walk, fed by range queries in batches: keys in binary
//! order from the lower bound; after a common prefix a new range query
//! starts past every key under it (`key >= successor(prefix)`) instead of
//! reading them, so a page costs a few index range scans whatever the
//! bucket holds.

use std::ops::Bound;

use tokio_postgres::types::ToSql;

use super::{PgStore, pool_error, sql};
use crate::meta::listing::{Next, PageWalk, prefix_successor};
use crate::meta::{ListPage, ListQuery, MetaError};

/// Rows fetched per range query (a page needs at most `max_keys + 1`
/// entries, but common prefixes restart the scan).
const BATCH: i64 = 256;

/// Lists `bucket` (whose existence the caller has checked) as `q` asks.
pub(super) async fn list(
    store: &PgStore,
    bucket: &str,
    q: &ListQuery,
) -> Result<ListPage, MetaError> {
    let mut walk = PageWalk::new(q);
    let Some(mut lower) = walk.start() else {
        return Ok(walk.finish());
    };
    let upper = prefix_successor(q.prefix.as_bytes());
    let client = store.pool.get().await.map_err(pool_error)?;
    'seek: loop {
        let (op, from) = match &lower {
            Bound::Included(k) => (">=", k.clone()),
            Bound::Excluded(k) => (">", k.clone()),
            Bound::Unbounded => (">=", Vec::new()),
        };
        let statement = match upper {
            Some(_) => format!(
                "SELECT key, attrs, layout FROM objects
                 WHERE bucket = $1 AND key {op} $2 AND key < $3 ORDER BY key LIMIT $4"
            ),
            None => format!(
                "SELECT key, attrs, layout FROM objects
                 WHERE bucket = $1 AND key {op} $2 ORDER BY key LIMIT $3"
            ),
        };
        let statement = client.prepare_cached(&statement).await.map_err(sql)?;
        let rows = match &upper {
            Some(up) => {
                let params: [&(dyn ToSql + Sync); 4] = [&bucket, &from, up, &BATCH];
                client.query(&statement, &params).await
            }
            None => {
                let params: [&(dyn ToSql + Sync); 3] = [&bucket, &from, &BATCH];
                client.query(&statement, &params).await
            }
        }
        .map_err(sql)?;
        let fetched = rows.len();
        for row in &rows {
            let raw: Vec<u8> = row.get(0);
            let key = std::str::from_utf8(&raw)
                .map_err(|_| MetaError::Corrupt(format!("object key in {bucket} is not UTF-8")))?;
            match walk.offer(key) {
                Next::Object => {
                    let meta = store.decode_object(row.get(1), row.get(2)).await?;
                    walk.push(key.to_owned(), meta);
                    lower = Bound::Excluded(raw.clone());
                }
                Next::SeekTo(next) => {
                    lower = Bound::Included(next);
                    continue 'seek;
                }
                Next::Stop => break 'seek,
            }
        }
        if (fetched as i64) < BATCH {
            break;
        }
    }
    Ok(walk.finish())
}
