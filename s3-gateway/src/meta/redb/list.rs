//! ListObjects over the objects table.
//!
//! Object records are keyed by `bucket 0x00 key`, so one bucket's keys are a
//! contiguous range in binary (UTF-8 byte) order, which is S3's order. The
//! listing is the sorted sequence of *entries* — keys without the delimiter
//! after the prefix, and distinct common prefixes — restricted to entries
//! greater than `start_after`. A common prefix sorts before every key under
//! it and after every key before them, so one in-order pass over the keys
//! meets the entries in sorted order; after a common prefix the pass seeks
//! past all keys under it instead of reading them.

use std::ops::Bound;

use redb::ReadableTable;

use crate::meta::types::{decode, object_key};
use crate::meta::{ListPage, ListQuery, MetaError, ObjectMeta};

/// The smallest byte string greater than every string starting with `p`, or
/// `None` if there is none (`p` empty or all `0xff`).
pub(super) fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
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
pub(super) fn list<T>(table: &T, bucket: &str, q: &ListQuery) -> Result<ListPage, MetaError>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let mut page = ListPage::default();
    if q.max_keys == 0 {
        return Ok(page);
    }
    let base_len = bucket.len() + 1;
    let full_prefix = object_key(bucket, &q.prefix);
    let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
    let start_after = q.start_after.as_deref();

    let mut lower = Bound::Included(full_prefix.clone());
    if let Some(after) = start_after {
        let after = object_key(bucket, after);
        if after >= full_prefix {
            lower = Bound::Excluded(after);
        }
    }
    let mut count = 0usize;
    let mut last: Option<String> = None;

    'seek: loop {
        let bounds = (lower.as_ref().map(Vec::as_slice), Bound::<&[u8]>::Unbounded);
        let mut range = table.range::<&[u8]>(bounds)?;
        loop {
            let Some(entry) = range.next() else {
                break 'seek;
            };
            let (k, v) = entry?;
            let raw = k.value();
            if !raw.starts_with(&full_prefix) {
                break 'seek;
            }
            let key = std::str::from_utf8(&raw[base_len..])
                .map_err(|_| MetaError::Corrupt(format!("object key in {bucket} is not UTF-8")))?;
            let rest = &key[q.prefix.len()..];
            if let Some(d) = delimiter
                && let Some(at) = rest.find(d)
            {
                let common = &key[..q.prefix.len() + at + d.len()];
                // A common prefix at or before `start_after` was returned on
                // an earlier page (or lies before the requested start).
                if start_after.is_none_or(|after| common > after) {
                    if count == q.max_keys {
                        page.is_truncated = true;
                        break 'seek;
                    }
                    page.common_prefixes.push(common.to_owned());
                    last = Some(common.to_owned());
                    count += 1;
                }
                match prefix_successor(&object_key(bucket, common)) {
                    Some(next) => lower = Bound::Included(next),
                    None => break 'seek,
                }
                continue 'seek;
            }
            if count == q.max_keys {
                page.is_truncated = true;
                break 'seek;
            }
            let meta: ObjectMeta = decode(v.value(), "object")?;
            page.objects.push((key.to_owned(), meta));
            last = Some(key.to_owned());
            count += 1;
        }
    }
    if page.is_truncated {
        page.next_marker = last;
    }
    Ok(page)
}
