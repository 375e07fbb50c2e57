//! Bucket ACLs: which buckets anonymous clients may read.
//!
//! Kept in their own table (`bucket_acls`: name → [`BucketAcl`]) rather than
//! in the bucket record, so bucket records written before ACLs existed read
//! unchanged; a bucket without an entry is private. The entry is written in
//! the transaction that creates the bucket and removed in the one that
//! deletes it.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::types::{decode, encode};
use super::{BUCKETS, MetaError, MetaStore};

pub(super) const BUCKET_ACLS: TableDefinition<&str, &[u8]> = TableDefinition::new("bucket_acls");

/// A bucket's access control list, as far as Cairn models one: the owner
/// always has full control; the only other grant is READ for everyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketAcl {
    /// Only signed requests (the canned ACL `private`).
    #[default]
    Private,
    /// Anonymous requests may list the bucket and read its objects (the
    /// canned ACL `public-read`).
    PublicRead,
}

impl BucketAcl {
    /// The ACL a canned ACL name stands for (`private`, `public-read`);
    /// `None` for the canned ACLs Cairn does not implement.
    pub fn from_canned(name: &str) -> Option<Self> {
        match name {
            "private" => Some(Self::Private),
            "public-read" => Some(Self::PublicRead),
            _ => None,
        }
    }

    /// The canned ACL name.
    pub fn canned(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::PublicRead => "public-read",
        }
    }
}

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

impl MetaStore {
    /// The ACL of bucket `name`, or `None` if there is no such bucket.
    pub fn bucket_acl(&self, name: &str) -> Result<Option<BucketAcl>, MetaError> {
        let txn = self.db.begin_read()?;
        if txn.open_table(BUCKETS)?.get(name)?.is_none() {
            return Ok(None);
        }
        get(&txn.open_table(BUCKET_ACLS)?, name).map(Some)
    }

    /// Replaces the ACL of bucket `name`.
    pub fn set_bucket_acl(&self, name: &str, acl: BucketAcl) -> Result<(), MetaError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, MetaStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = MetaStore::open(&dir.path().join("meta.redb")).unwrap();
        (dir, store)
    }

    #[test]
    fn buckets_are_private_unless_made_public() {
        let (_dir, s) = store();
        assert_eq!(s.bucket_acl("nope").unwrap(), None);
        s.create_bucket("plain", "r", "o").unwrap();
        assert_eq!(s.bucket_acl("plain").unwrap(), Some(BucketAcl::Private));
        assert_eq!(s.bucket("plain").unwrap().unwrap().acl, BucketAcl::Private);
        s.create_bucket_with_acl("open", "r", "o", BucketAcl::PublicRead)
            .unwrap();
        assert_eq!(s.bucket_acl("open").unwrap(), Some(BucketAcl::PublicRead));
        assert_eq!(
            s.bucket("open").unwrap().unwrap().acl,
            BucketAcl::PublicRead
        );
        let listed: Vec<_> = s
            .list_buckets()
            .unwrap()
            .into_iter()
            .map(|b| b.acl)
            .collect();
        assert_eq!(listed, [BucketAcl::PublicRead, BucketAcl::Private]);

        s.set_bucket_acl("plain", BucketAcl::PublicRead).unwrap();
        assert_eq!(s.bucket_acl("plain").unwrap(), Some(BucketAcl::PublicRead));
        s.set_bucket_acl("plain", BucketAcl::Private).unwrap();
        assert_eq!(s.bucket_acl("plain").unwrap(), Some(BucketAcl::Private));
        assert!(matches!(
            s.set_bucket_acl("nope", BucketAcl::PublicRead),
            Err(MetaError::NoSuchBucket)
        ));
    }

    #[test]
    fn a_recreated_bucket_does_not_inherit_the_old_acl() {
        let (_dir, s) = store();
        s.create_bucket_with_acl("bkt", "r", "o", BucketAcl::PublicRead)
            .unwrap();
        s.delete_bucket("bkt").unwrap();
        s.create_bucket("bkt", "r", "o").unwrap();
        assert_eq!(s.bucket_acl("bkt").unwrap(), Some(BucketAcl::Private));
    }

    #[test]
    fn acls_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let s = MetaStore::open(&path).unwrap();
            s.create_bucket_with_acl("bkt", "r", "o", BucketAcl::PublicRead)
                .unwrap();
        }
        let s = MetaStore::open(&path).unwrap();
        assert_eq!(s.bucket_acl("bkt").unwrap(), Some(BucketAcl::PublicRead));
    }

    #[test]
    fn stores_from_before_acls_read_as_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let s = MetaStore::open(&path).unwrap();
            s.create_bucket("old", "r", "o").unwrap();
            // What a store written by an earlier build looks like.
            let txn = s.db.begin_write().unwrap();
            assert!(txn.delete_table(BUCKET_ACLS).unwrap());
            txn.commit().unwrap();
        }
        let s = MetaStore::open(&path).unwrap();
        let old = s.bucket("old").unwrap().unwrap();
        assert_eq!((old.owner.as_str(), old.acl), ("o", BucketAcl::Private));
        s.set_bucket_acl("old", BucketAcl::PublicRead).unwrap();
        assert_eq!(s.bucket_acl("old").unwrap(), Some(BucketAcl::PublicRead));
    }

    #[test]
    fn canned_names_map_both_ways() {
        for acl in [BucketAcl::Private, BucketAcl::PublicRead] {
            assert_eq!(BucketAcl::from_canned(acl.canned()), Some(acl));
        }
        for unsupported in ["public-read-write", "authenticated-read", "", "PUBLIC-READ"] {
            assert_eq!(BucketAcl::from_canned(unsupported), None);
        }
    }
}
