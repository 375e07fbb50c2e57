//! Bucket ACLs: which buckets anonymous clients may read.
//!
//! Kept in their own table (`bucket_acls`: name → [`BucketAcl`]) rather than
//! in the bucket record, so bucket records written before ACLs existed read
//! unchanged; a bucket without an entry is private. The entry is written in
//! the transaction that creates the bucket and removed in the one that
//! deletes it.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{BUCKETS, RedbStore};
use crate::meta::types::{decode, encode};
use crate::meta::{BucketAcl, MetaError};

pub(super) const BUCKET_ACLS: TableDefinition<&str, &[u8]> = TableDefinition::new("bucket_acls");

/// Records `acl` for bucket `name` inside `txn` (private is stored as no
/// entry).
pub(super) fn put(txn: &WriteTransaction, name: &str, acl: BucketAcl) -> Result<(), MetaError> {
    let mut table = txn.open_table(BUCKET_ACLS)?;
    match acl {
        BucketAcl::Private => {
            table.remove(name)?;
        }
        other => {
            table.insert(name, encode(&other).as_slice())?;
        }
    }
    Ok(())
}

/// The ACL recorded for bucket `name` in `table` (private if none).
pub(super) fn get<T>(table: &T, name: &str) -> Result<BucketAcl, MetaError>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    table
        .get(name)?
        .map(|v| decode(v.value(), "bucket acl"))
        .transpose()
        .map(Option::unwrap_or_default)
}

impl RedbStore {
    /// Replaces the ACL of bucket `name`.
    pub(super) fn set_bucket_acl(&self, name: &str, acl: BucketAcl) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        if txn.open_table(BUCKETS)?.get(name)?.is_none() {
            return Err(MetaError::NoSuchBucket);
        }
        put(&txn, name, acl)?;
        txn.commit()?;
        tracing::info!(bucket = name, acl = acl.canned(), "bucket ACL set");
        Ok(())
    }
}
