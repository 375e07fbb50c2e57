//! ListObjects over the objects table.
//!
//! Object records are keyed by `bucket 0x00 key`, so one bucket's keys are a
//! contiguous range in binary (UTF-8 byte) order, which is S3's order; the
//! walk over them (and the seeks past common prefixes) is
//! [`PageWalk`]'s.

use std::ops::Bound;

use redb::ReadableTable;

use crate::meta::listing::{Next, PageWalk};
use crate::meta::types::{bucket_base, decode, object_key};
use crate::meta::{ListPage, ListQuery, MetaError};

/// Lists `bucket` (whose existence the caller has checked) as `q` asks.
pub(super) fn list<T>(table: &T, bucket: &str, q: &ListQuery) -> Result<ListPage, MetaError>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let mut walk = PageWalk::new(q);
    let Some(start) = walk.start() else {
        return Ok(walk.finish());
    };
    let base = bucket_base(bucket);
    let full_prefix = object_key(bucket, &q.prefix);
    let in_bucket = |k: Vec<u8>| [base.as_slice(), &k].concat();
    let mut lower = start.map(in_bucket);
    'seek: loop {
        let bounds = (lower.as_ref().map(Vec::as_slice), Bound::<&[u8]>::Unbounded);
        for entry in table.range::<&[u8]>(bounds)? {
            let (k, v) = entry?;
            let raw = k.value();
            if !raw.starts_with(&full_prefix) {
                break 'seek;
            }
            let key = std::str::from_utf8(&raw[base.len()..])
                .map_err(|_| MetaError::Corrupt(format!("object key in {bucket} is not UTF-8")))?;
            match walk.offer(key) {
                Next::Object => walk.push(key.to_owned(), decode(v.value(), "object")?),
                Next::SeekTo(next) => {
                    lower = Bound::Included(in_bucket(next));
                    continue 'seek;
                }
                Next::Stop => break 'seek,
            }
        }
        break;
    }
    Ok(walk.finish())
}
