//! Bucket configuration documents (`bucket_configs`: (bucket, kind) →
//! bytes): a bucket's policy, CORS rules, public access block, each kept
//! as the S3 layer encodes it. Written with the bucket or later (one or
//! several together, conditioned on others), removed with the bucket.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::journal::Marks;
use super::{BUCKETS, RedbStore};
use crate::meta::MetaError;

pub(super) const BUCKET_CONFIGS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("bucket_configs");

/// Removes every configuration of bucket `name` inside `txn`; returns
/// their kinds.
pub(super) fn remove_all(txn: &WriteTransaction, name: &str) -> Result<Vec<String>, MetaError> {
    let mut table = txn.open_table(BUCKET_CONFIGS)?;
    let kinds: Vec<String> = configs_in(&table, name)?.into_iter().map(|c| c.0).collect();
    for kind in &kinds {
        table.remove((name, kind.as_str()))?;
    }
    Ok(kinds)
}

/// The configurations of bucket `name` in `table`, sorted by kind.
fn configs_in<T>(table: &T, name: &str) -> Result<Vec<(String, Vec<u8>)>, MetaError>
where
    T: ReadableTable<(&'static str, &'static str), &'static [u8]>,
{
    let mut out = Vec::new();
    for entry in table.range((name, "")..)? {
        let (k, v) = entry?;
        let (bucket, kind) = k.value();
        if bucket != name {
            break;
        }
        out.push((kind.to_owned(), v.value().to_vec()));
    }
    Ok(out)
}

impl RedbStore {
    /// The configurations of `bucket`.
    pub(super) fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, Vec<u8>)>, MetaError> {
        let txn = self.db.begin_read()?;
        configs_in(&txn.open_table(BUCKET_CONFIGS)?, bucket)
    }

    /// Sets (or with `None` removes) configurations of `bucket` together,
    /// if those of `expect` hold what they are expected to; whether it did.
    pub(super) fn set_bucket_configs(
        &self,
        bucket: &str,
        set: &[(&str, Option<&[u8]>)],
        expect: &[(&str, Option<&[u8]>)],
    ) -> Result<bool, MetaError> {
        let txn = self.db.begin_write()?;
        if txn.open_table(BUCKETS)?.get(bucket)?.is_none() {
            return Err(MetaError::NoSuchBucket);
        }
        let mut marks = Marks::default();
        {
            let mut table = txn.open_table(BUCKET_CONFIGS)?;
            for (kind, value) in expect {
                let held = table.get((bucket, *kind))?;
                if held.as_ref().map(|v| v.value()) != *value {
                    return Ok(false);
                }
            }
            for (kind, value) in set {
                match value {
                    Some(value) => table.insert((bucket, *kind), *value)?,
                    None => table.remove((bucket, *kind))?,
                };
                marks.config(bucket, kind);
            }
        }
        txn.commit()?;
        self.journal.record(marks);
        Ok(true)
    }
}

/// Writes configurations `configs` of bucket `name` inside `txn` (a
/// bucket being created), marking them.
pub(super) fn put_all(
    txn: &WriteTransaction,
    name: &str,
    configs: &[(&str, &[u8])],
    marks: &mut Marks,
) -> Result<(), MetaError> {
    let mut table = txn.open_table(BUCKET_CONFIGS)?;
    for (kind, value) in configs {
        table.insert((name, *kind), *value)?;
        marks.config(name, kind);
    }
    Ok(())
}
