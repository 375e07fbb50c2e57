//! Bucket ACLs (which buckets anonymous clients may read) and the grants
//! of other keys in a bucket.
//!
//! Kept in their own table (`bucket_acls`: name → [`BucketAcl`]) rather than
//! in the bucket record, so bucket records written before ACLs existed read
//! unchanged; a bucket without an entry is private. The entry is written in
//! the transaction that creates the bucket and removed in the one that
//! deletes it.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::journal::{Marks, Table};
use super::{BUCKETS, RedbStore};
use crate::meta::types::{decode, encode};
use crate::meta::{BucketAcl, BucketPerms, MetaError};

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
        let mut marks = Marks::default();
        marks.row(Table::BucketAcls, name);
        self.journal.record(marks);
        tracing::info!(bucket = name, acl = acl.canned(), "bucket ACL set");
        Ok(())
    }
}

/// Grants to keys other than a bucket's creator: (bucket, key id) →
/// [`BucketPerms::bits`]. Removed with the bucket.
pub(super) const BUCKET_GRANTS: TableDefinition<(&str, &str), u8> =
    TableDefinition::new("bucket_grants");

/// Removes every grant on bucket `name` inside `txn`; returns the key ids
/// that had one.
pub(super) fn remove_grants(txn: &WriteTransaction, name: &str) -> Result<Vec<String>, MetaError> {
    let mut table = txn.open_table(BUCKET_GRANTS)?;
    let keys: Vec<String> = grants_in(&table, name)?.into_iter().map(|g| g.0).collect();
    for key in &keys {
        table.remove((name, key.as_str()))?;
    }
    Ok(keys)
}

/// The grants on bucket `name` in `table`, sorted by key id.
fn grants_in<T>(table: &T, name: &str) -> Result<Vec<(String, BucketPerms)>, MetaError>
where
    T: ReadableTable<(&'static str, &'static str), u8>,
{
    let mut out = Vec::new();
    for entry in table.range((name, "")..)? {
        let (k, v) = entry?;
        let (bucket, key) = k.value();
        if bucket != name {
            break;
        }
        out.push((key.to_owned(), BucketPerms::from_bits(v.value())));
    }
    Ok(out)
}

impl RedbStore {
    /// Sets (or, with no permission, removes) what `key` may do in
    /// `bucket`.
    pub(super) fn set_bucket_grant(
        &self,
        bucket: &str,
        key: &str,
        perms: BucketPerms,
    ) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        if txn.open_table(BUCKETS)?.get(bucket)?.is_none() {
            return Err(MetaError::NoSuchBucket);
        }
        {
            let mut table = txn.open_table(BUCKET_GRANTS)?;
            if perms.is_none() {
                table.remove((bucket, key))?;
            } else {
                table.insert((bucket, key), perms.bits())?;
            }
        }
        txn.commit()?;
        let mut marks = Marks::default();
        marks.grant(bucket, key);
        self.journal.record(marks);
        Ok(())
    }

    /// The grants on `bucket`.
    pub(super) fn bucket_grants(
        &self,
        bucket: &str,
    ) -> Result<Vec<(String, BucketPerms)>, MetaError> {
        let txn = self.db.begin_read()?;
        grants_in(&txn.open_table(BUCKET_GRANTS)?, bucket)
    }

    /// The buckets `key` has a grant in.
    pub(super) fn key_grants(&self, key: &str) -> Result<Vec<(String, BucketPerms)>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BUCKET_GRANTS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            let (bucket, holder) = k.value();
            if holder == key {
                out.push((bucket.to_owned(), BucketPerms::from_bits(v.value())));
            }
        }
        Ok(out)
    }
}
