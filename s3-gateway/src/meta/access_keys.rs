//! Access keys: each key id with its secret sealed under the gateway's
//! master key (`access_keys`: id → sealed secret, see
//! [`MasterKey::seal_secret`]), so the metadata file alone (a backup, a
//! copied disk) reveals no secret; only a process holding `master.key` can
//! check signatures.
//!
//! Databases from before sealing keep the secrets in clear in the table
//! `keys` (id → secret). [`MetaStore::seal_plain_keys`] moves them into
//! `access_keys`, sealed, and drops `keys` in one transaction; the gateway
//! does it on every start (a no-op once done), as does `cairn gateway key
//! create`. redb reuses the freed pages but does not overwrite them at once,
//! so an old secret may linger in unused space of the file until then: rotate
//! keys that were stored in clear where that matters.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::{AccessKey, MetaError, MetaStore, names};
use crate::data::keywrap::MasterKey;

/// Key id → secret sealed under the master key.
pub(super) const ACCESS_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("access_keys");
/// The table of secrets in clear, from before sealing (migrated away).
const PLAIN_KEYS: TableDefinition<&str, &str> = TableDefinition::new("keys");

impl MetaStore {
    /// Creates and stores a new random access key, its secret sealed under
    /// `master`.
    pub fn create_key(&self, master: &MasterKey) -> Result<AccessKey, MetaError> {
        let txn = self.db.begin_write()?;
        let key = {
            let mut table = txn.open_table(ACCESS_KEYS)?;
            let key = loop {
                let id = names::new_access_key_id();
                if table.get(id.as_str())?.is_none() {
                    break AccessKey {
                        access_key_id: id,
                        secret_key: names::new_secret(),
                    };
                }
            };
            let sealed = master.seal_secret(&key.access_key_id, &key.secret_key);
            table.insert(key.access_key_id.as_str(), sealed.as_slice())?;
            key
        };
        txn.commit()?;
        tracing::info!(access_key_id = %key.access_key_id, "access key created");
        Ok(key)
    }

    /// Stores a given access key (secret sealed under `master`), replacing
    /// the secret if the id exists.
    pub fn insert_key(&self, key: &AccessKey, master: &MasterKey) -> Result<(), MetaError> {
        let sealed = master.seal_secret(&key.access_key_id, &key.secret_key);
        let txn = self.db.begin_write()?;
        txn.open_table(ACCESS_KEYS)?
            .insert(key.access_key_id.as_str(), sealed.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The secret of `access_key_id`, if that key exists, opened with
    /// `master`. A secret that does not open (another master key, a
    /// tampered record) is [`MetaError::Corrupt`].
    pub fn secret_for(
        &self,
        access_key_id: &str,
        master: &MasterKey,
    ) -> Result<Option<String>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACCESS_KEYS)?;
        let Some(sealed) = table.get(access_key_id)? else {
            return Ok(None);
        };
        master
            .open_secret(access_key_id, sealed.value())
            .map(Some)
            .map_err(|e| MetaError::Corrupt(format!("secret of access key {access_key_id}: {e}")))
    }

    /// Every access key id, sorted (including any not yet sealed).
    pub fn list_key_ids(&self) -> Result<Vec<String>, MetaError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, MetaStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(&dir.path().join("meta.redb")).unwrap();
        (dir, s)
    }

    fn key(id: &str, secret: &str) -> AccessKey {
        AccessKey {
            access_key_id: id.into(),
            secret_key: secret.into(),
        }
    }

    #[test]
    fn secrets_are_stored_sealed_and_open_only_with_the_master_key() {
        let (dir, s) = store();
        let master = MasterKey::generate();
        let k = s.create_key(&master).unwrap();
        assert_eq!(
            s.secret_for(&k.access_key_id, &master).unwrap().as_deref(),
            Some(k.secret_key.as_str())
        );
        assert_eq!(s.secret_for("CANOTHERE", &master).unwrap(), None);
        assert!(matches!(
            s.secret_for(&k.access_key_id, &MasterKey::generate()),
            Err(MetaError::Corrupt(_))
        ));
        let path = dir.path().join("meta.redb");
        drop(s);
        let file = std::fs::read(&path).unwrap();
        assert!(
            !file
                .windows(k.secret_key.len())
                .any(|w| w == k.secret_key.as_bytes()),
            "the secret is not in the file in clear"
        );
        assert!(
            file.windows(k.access_key_id.len())
                .any(|w| w == k.access_key_id.as_bytes())
        );
    }

    #[test]
    fn plain_secrets_are_migrated_once_and_leave_no_clear_table() {
        let (dir, s) = store();
        let master = MasterKey::generate();
        let old = [
            key("CAOLD0000000000000001", &"a".repeat(40)),
            key("CAOLD0000000000000002", &"b".repeat(40)),
        ];
        for k in &old {
            s.insert_plain_key_for_tests(k).unwrap();
        }
        let fresh = s.create_key(&master).unwrap();
        let mut ids: Vec<String> = old.iter().map(|k| k.access_key_id.clone()).collect();
        ids.push(fresh.access_key_id.clone());
        ids.sort();
        assert_eq!(s.list_key_ids().unwrap(), ids, "listed before migration");
        for k in &old {
            assert_eq!(
                s.secret_for(&k.access_key_id, &master).unwrap(),
                None,
                "a secret in clear is never used to check signatures"
            );
        }

        assert_eq!(s.seal_plain_keys(&master).unwrap(), 2);
        assert_eq!(s.seal_plain_keys(&master).unwrap(), 0, "done once");
        assert_eq!(s.list_key_ids().unwrap(), ids);
        for k in old.iter().chain([&fresh]) {
            assert_eq!(
                s.secret_for(&k.access_key_id, &master).unwrap().as_deref(),
                Some(k.secret_key.as_str())
            );
        }
        let txn = s.db.begin_read().unwrap();
        assert!(
            !txn.list_tables()
                .unwrap()
                .any(|t| t.name() == PLAIN_KEYS.name()),
            "the clear table is gone"
        );
        drop(txn);

        // Reopened (a restart), the migrated keys still open.
        let path = dir.path().join("meta.redb");
        drop(s);
        let s = MetaStore::open(&path).unwrap();
        assert_eq!(s.seal_plain_keys(&master).unwrap(), 0);
        assert_eq!(
            s.secret_for(&old[1].access_key_id, &master)
                .unwrap()
                .as_deref(),
            Some(old[1].secret_key.as_str())
        );
    }

    #[test]
    fn inserting_a_key_replaces_its_secret() {
        let (_dir, s) = store();
        let master = MasterKey::generate();
        let id = "CADEVNET0000000000AA";
        s.insert_key(&key(id, &"s".repeat(40)), &master).unwrap();
        s.insert_key(&key(id, &"t".repeat(40)), &master).unwrap();
        assert_eq!(s.secret_for(id, &master).unwrap(), Some("t".repeat(40)));
        assert_eq!(s.list_key_ids().unwrap(), [id]);
    }
}
