//! ListObjects over the `objects` primary key `(bucket, key BYTEA)`.
//!
//! The same walk as the redb backend's: keys in binary order from the
//! lower bound, each either an entry or the start of a common prefix; after
//! a common prefix the walk seeks past every key under it with a new range
//! query (`key >= successor(prefix)`) instead of reading them, so a page
//! costs a few index range scans whatever the bucket holds.

use std::ops::Bound;

use tokio_postgres::types::ToSql;

use super::{PgStore, pool_error, sql};
use crate::meta::{ListPage, ListQuery, MetaError};

/// Rows fetched per range query (a page needs at most `max_keys + 1`
/// entries, but common prefixes restart the scan).
const BATCH: i64 = 256;

/// The smallest byte string greater than every string starting with `p`.
fn successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut out = p.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xff {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// Lists `bucket` (whose existence the caller has checked) as `q` asks.
pub(super) async fn list(
    store: &PgStore,
    bucket: &str,
    q: &ListQuery,
) -> Result<ListPage, MetaError> {
    let mut page = ListPage::default();
    if q.max_keys == 0 {
        return Ok(page);
    }
    let prefix = q.prefix.as_bytes();
    let upper = successor(prefix);
    let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
    let start_after = q.start_after.as_deref();
    let mut lower: Bound<Vec<u8>> = Bound::Included(prefix.to_vec());
    if let Some(after) = start_after
        && after.as_bytes() >= prefix
    {
        lower = Bound::Excluded(after.as_bytes().to_vec());
    }
    let mut count = 0usize;
    let mut last: Option<String> = None;
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
            let key = String::from_utf8(raw.clone())
                .map_err(|_| MetaError::Corrupt(format!("object key in {bucket} is not UTF-8")))?;
            let rest = &key[q.prefix.len()..];
            if let Some(d) = delimiter
                && let Some(at) = rest.find(d)
            {
                let common = &key[..q.prefix.len() + at + d.len()];
                if start_after.is_none_or(|after| common > after) {
                    if count == q.max_keys {
                        page.is_truncated = true;
                        break 'seek;
                    }
                    page.common_prefixes.push(common.to_owned());
                    last = Some(common.to_owned());
                    count += 1;
                }
                match successor(common.as_bytes()) {
                    Some(next) => lower = Bound::Included(next),
                    None => break 'seek,
                }
                continue 'seek;
            }
            if count == q.max_keys {
                page.is_truncated = true;
                break 'seek;
            }
            let meta = store.decode_object(row.get(1), row.get(2)).await?;
            page.objects.push((key.clone(), meta));
            last = Some(key);
            count += 1;
            lower = Bound::Excluded(raw);
        }
        if (fetched as i64) < BATCH {
            break;
        }
    }
    if page.is_truncated {
        page.next_marker = last;
    }
    Ok(page)
}
