//! Gateway-wide settings kept with the metadata (`settings`: name → bytes).
//!
//! Only one for now: the check value of the master key the manifests' object
//! keys are wrapped under (see `crate::data::keywrap`), so that a gateway started
//! with a missing or different `master.key` refuses to start instead of
//! failing every read.

use redb::{ReadableDatabase, TableDefinition};

use super::{MetaError, MetaStore};

pub(super) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

const MASTER_KEY_CHECK: &str = "master_key_check";

impl MetaStore {
    /// The check value of the master key recorded by
    /// [`MetaStore::set_master_key_check`], if any.
    pub fn master_key_check(&self) -> Result<Option<Vec<u8>>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SETTINGS)?;
        Ok(table.get(MASTER_KEY_CHECK)?.map(|v| v.value().to_vec()))
    }

    /// Records the check value of the master key in use.
    pub fn set_master_key_check(&self, check: &[u8]) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        txn.open_table(SETTINGS)?.insert(MASTER_KEY_CHECK, check)?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_key_check_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let s = MetaStore::open(&path).unwrap();
            assert_eq!(s.master_key_check().unwrap(), None);
            s.set_master_key_check(&[7; 32]).unwrap();
        }
        let s = MetaStore::open(&path).unwrap();
        assert_eq!(s.master_key_check().unwrap(), Some(vec![7; 32]));
    }
}
