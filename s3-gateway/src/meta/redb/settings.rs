//! Gateway-wide settings (`settings`: name → bytes; e.g. the check value
//! of the master key the manifests' object keys are wrapped under), and
//! leases (`leases`: name → holder and expiry), which decide which gateway
//! runs the background loops. With redb one gateway owns the file, so the
//! lease is always its own; the table keeps the behaviour the same as on
//! shared backends (and the conformance suite checks both).

use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::RedbStore;
use super::journal::{Marks, Table};
use crate::meta::MetaError;

pub(super) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");
/// Lease name → expiry (unix ms, 8 bytes LE) ‖ holder.
pub(super) const LEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("leases");

fn now_ms() -> u64 {
    super::now_ms()
}

impl RedbStore {
    pub(super) fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SETTINGS)?;
        Ok(table.get(name)?.map(|v| v.value().to_vec()))
    }

    pub(super) fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        txn.open_table(SETTINGS)?.insert(name, value)?;
        txn.commit()?;
        let mut marks = Marks::default();
        marks.row(Table::Settings, name);
        self.journal.record(marks);
        Ok(())
    }

    pub(super) fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, MetaError> {
        let now = now_ms();
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(LEASES)?;
            if let Some(v) = table.get(name)? {
                let v = v.value();
                let expires = v
                    .get(..8)
                    .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
                let current = v.get(8..).unwrap_or_default();
                if current != holder.as_bytes() && expires > now {
                    return Ok(false);
                }
            }
            let mut value = (now + ttl.as_millis() as u64).to_le_bytes().to_vec();
            value.extend_from_slice(holder.as_bytes());
            table.insert(name, value.as_slice())?;
        }
        txn.commit()?;
        Ok(true)
    }

    pub(super) fn release_lease(&self, name: &str, holder: &str) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(LEASES)?;
            let mine = table
                .get(name)?
                .is_some_and(|v| v.value().get(8..) == Some(holder.as_bytes()));
            if mine {
                table.remove(name)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}
