//! Access keys: each key id with its secret sealed under the gateway's
//! master key (`access_keys`: id → sealed secret, see
//! [`MasterKey::seal_secret`]), so the metadata file alone (a backup, a
//! copied disk) reveals no secret; only a process holding `master.key` can
//! check signatures.
//!
//! Databases from before sealing keep the secrets in clear in the table
//! `keys` (id → secret). [`RedbStore::seal_plain_keys`] moves them into
//! `access_keys`, sealed, and drops `keys` in one transaction; the gateway
//! does it on every start (a no-op once done), as does `cairn gateway key
//! create`. redb reuses the freed pages but does not overwrite them at once,
//! so an old secret may linger in unused space of the file until then: rotate
//! keys that were stored in clear where that matters.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::RedbStore;
use super::journal::{Marks, Table};
use crate::data::keywrap::MasterKey;
use crate::meta::{AccessKey, MetaError};

/// Key id → secret sealed under the master key.
pub(super) const ACCESS_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("access_keys");
/// The table of secrets in clear, from before sealing (migrated away).
const PLAIN_KEYS: TableDefinition<&str, &str> = TableDefinition::new("keys");

impl RedbStore {
    /// Stores `sealed` as the secret of key `id` (with `create_only`, not
    /// over an existing id: then `false`).
    pub(super) fn put_key(
        &self,
        id: &str,
        sealed: &[u8],
        create_only: bool,
    ) -> Result<bool, MetaError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ACCESS_KEYS)?;
            if create_only && table.get(id)?.is_some() {
                return Ok(false);
            }
            table.insert(id, sealed)?;
        }
        txn.commit()?;
        let mut marks = Marks::default();
        marks.row(Table::AccessKeys, id);
        self.journal.record(marks);
        Ok(true)
    }

    /// The sealed secret of key `id`.
    pub(super) fn key_secret(&self, id: &str) -> Result<Option<Vec<u8>>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACCESS_KEYS)?;
        Ok(table.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Every access key id, sorted (including any not yet sealed).
    pub(super) fn key_ids(&self) -> Result<Vec<String>, MetaError> {
        let txn = self.db.begin_read()?;
        let mut ids = Vec::new();
        for entry in txn.open_table(ACCESS_KEYS)?.iter()? {
            ids.push(entry?.0.value().to_owned());
        }
        if txn.list_tables()?.any(|t| t.name() == PLAIN_KEYS.name()) {
            for entry in txn.open_table(PLAIN_KEYS)?.iter()? {
                ids.push(entry?.0.value().to_owned());
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Seals every secret still stored in clear (a database from before
    /// sealing) under `master` and drops the clear table, in one
    /// transaction. Returns how many were sealed (0 once migrated).
    pub fn seal_plain_keys(&self, master: &MasterKey) -> Result<usize, MetaError> {
        let txn = self.db.begin_write()?;
        if !txn.list_tables()?.any(|t| t.name() == PLAIN_KEYS.name()) {
            return Ok(0);
        }
        let mut sealed = 0;
        {
            let plain = txn.open_table(PLAIN_KEYS)?;
            let mut table = txn.open_table(ACCESS_KEYS)?;
            for entry in plain.iter()? {
                let (id, secret) = entry?;
                let id = id.value();
                // A key already sealed (created after an interrupted
                // migration? never: this is one transaction) keeps its
                // sealed secret.
                if table.get(id)?.is_none() {
                    let value = master.seal_secret(id, secret.value());
                    table.insert(id, value.as_slice())?;
                    sealed += 1;
                }
            }
        }
        txn.delete_table(PLAIN_KEYS)?;
        txn.commit()?;
        // Rare (once per old database): every key row is marked.
        let mut marks = Marks::default();
        for id in self.key_ids()? {
            marks.row(Table::AccessKeys, id);
        }
        self.journal.record(marks);
        if sealed > 0 {
            tracing::info!(
                keys = sealed,
                "access-key secrets stored in clear were sealed under the master key"
            );
        }
        Ok(sealed)
    }

    /// Stores `key` with its secret in clear, as databases did before
    /// sealing (for migration tests).
    #[doc(hidden)]
    pub fn insert_plain_key_for_tests(&self, key: &AccessKey) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        txn.open_table(PLAIN_KEYS)?
            .insert(key.access_key_id.as_str(), key.secret_key.as_str())?;
        txn.commit()?;
        Ok(())
    }
}

/// Key id → flags (bit 0: may not create buckets); no entry: none set.
pub(super) const KEY_FLAGS: TableDefinition<&str, u8> = TableDefinition::new("key_flags");
/// Key id → the name the operator gave it (`cairn gateway key rename`).
pub(super) const KEY_NAMES: TableDefinition<&str, &str> = TableDefinition::new("key_names");
/// The flag bit of a key that may not create buckets.
const NO_CREATE_BUCKET: u8 = 1;

impl RedbStore {
    /// Deletes key `id`, its flags and its grants; `false` if there was no
    /// such key.
    pub(super) fn delete_key(&self, id: &str) -> Result<bool, MetaError> {
        let txn = self.db.begin_write()?;
        let mut marks = Marks::default();
        let existed = txn.open_table(ACCESS_KEYS)?.remove(id)?.is_some();
        txn.open_table(KEY_FLAGS)?.remove(id)?;
        txn.open_table(KEY_NAMES)?.remove(id)?;
        {
            let mut grants = txn.open_table(super::acl::BUCKET_GRANTS)?;
            let mut buckets = Vec::new();
            for entry in grants.iter()? {
                let (k, _) = entry?;
                let (bucket, holder) = k.value();
                if holder == id {
                    buckets.push(bucket.to_owned());
                }
            }
            for bucket in &buckets {
                grants.remove((bucket.as_str(), id))?;
                marks.grant(bucket, id);
            }
        }
        txn.commit()?;
        marks.row(Table::AccessKeys, id);
        marks.row(Table::KeyFlags, id);
        marks.row(Table::KeyNames, id);
        self.journal.record(marks);
        Ok(existed)
    }

    /// Whether key `id` may create buckets (a missing key may not).
    pub(super) fn key_may_create_buckets(&self, id: &str) -> Result<bool, MetaError> {
        let txn = self.db.begin_read()?;
        if txn.open_table(ACCESS_KEYS)?.get(id)?.is_none() {
            return Ok(false);
        }
        let flags = txn.open_table(KEY_FLAGS)?.get(id)?.map_or(0, |v| v.value());
        Ok(flags & NO_CREATE_BUCKET == 0)
    }

    /// Lets key `id` create buckets or not; `false` if there is no such
    /// key.
    pub(super) fn set_key_may_create_buckets(
        &self,
        id: &str,
        may: bool,
    ) -> Result<bool, MetaError> {
        let txn = self.db.begin_write()?;
        if txn.open_table(ACCESS_KEYS)?.get(id)?.is_none() {
            return Ok(false);
        }
        {
            let mut flags = txn.open_table(KEY_FLAGS)?;
            if may {
                flags.remove(id)?;
            } else {
                flags.insert(id, NO_CREATE_BUCKET)?;
            }
        }
        txn.commit()?;
        let mut marks = Marks::default();
        marks.row(Table::KeyFlags, id);
        self.journal.record(marks);
        Ok(true)
    }
}

impl RedbStore {
    /// The name of key `id`.
    pub(super) fn key_name(&self, id: &str) -> Result<Option<String>, MetaError> {
        let txn = self.db.begin_read()?;
        Ok(txn
            .open_table(KEY_NAMES)?
            .get(id)?
            .map(|v| v.value().to_owned()))
    }

    /// Names key `id`; `false` if there is no such key.
    pub(super) fn set_key_name(&self, id: &str, name: Option<&str>) -> Result<bool, MetaError> {
        let txn = self.db.begin_write()?;
        if txn.open_table(ACCESS_KEYS)?.get(id)?.is_none() {
            return Ok(false);
        }
        {
            let mut names = txn.open_table(KEY_NAMES)?;
            match name {
                Some(name) => names.insert(id, name)?,
                None => names.remove(id)?,
            };
        }
        txn.commit()?;
        let mut marks = Marks::default();
        marks.row(Table::KeyNames, id);
        self.journal.record(marks);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::MetaStore;

    #[tokio::test]
    async fn secrets_stored_in_clear_are_sealed_on_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        let master = MasterKey::load_or_create(dir.path()).unwrap().0;
        let old = AccessKey {
            access_key_id: "CAOLDKEY".into(),
            secret_key: "old secret".into(),
        };
        {
            let store = RedbStore::open(&path).unwrap();
            store.insert_plain_key_for_tests(&old).unwrap();
            assert_eq!(store.key_ids().unwrap(), ["CAOLDKEY"]);
            assert_eq!(store.seal_plain_keys(&master).unwrap(), 1);
            assert_eq!(store.seal_plain_keys(&master).unwrap(), 0);
        }
        let meta = MetaStore::open_redb(&path).unwrap();
        assert_eq!(
            meta.secret_for("CAOLDKEY", &master)
                .await
                .unwrap()
                .as_deref(),
            Some("old secret")
        );
        let raw = std::fs::read(&path).unwrap();
        assert!(
            !raw.windows(10).any(|w| w == b"old secret"),
            "the sealed secret is not in the file in clear"
        );
    }
}
