//! Pointer records: one small record per owner, kept for it without being
//! read (see `mesh::wire::Request::PutPointer`). A gateway keeps in it where
//! its metadata backups are, so that it can find them with only its
//! identity key.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::Store;
use super::error::StoreError;
use super::owner::Owner;

/// Owner id → sequence number (8 bytes, little endian) ‖ record.
pub(crate) const POINTERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pointers");

/// Most owners whose pointer a node keeps: each record is at most
/// [`mesh::wire::MAX_POINTER_LEN`] bytes, so pointers take at most 256 MiB
/// of index however many identities strangers make.
pub const MAX_POINTERS: u64 = 4096;

impl Store {
    /// Keeps `record` as `owner`'s pointer unless one with a sequence
    /// number of `seq` or more is kept already; `true` if it was stored.
    pub fn put_pointer(&self, owner: &Owner, seq: u64, record: &[u8]) -> Result<bool, StoreError> {
        let db = &self.inner.db;
        let txn = db.begin_write()?;
        let stored = {
            let mut table = txn.open_table(POINTERS)?;
            let current = table.get(owner.as_bytes())?.map(|v| seq_of(v.value()));
            match current {
                Some(kept) if kept >= seq => false,
                Some(_) => {
                    table.insert(owner.as_bytes(), encode(seq, record).as_slice())?;
                    true
                }
                None => {
                    if table.len()? >= MAX_POINTERS {
                        return Err(StoreError::TooManyPointers(MAX_POINTERS));
                    }
                    table.insert(owner.as_bytes(), encode(seq, record).as_slice())?;
                    true
                }
            }
        };
        txn.commit()?;
        Ok(stored)
    }

    /// `owner`'s pointer record and its sequence number, if one is kept.
    pub fn pointer(&self, owner: &[u8]) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(POINTERS)?;
        let found = table.get(owner)?.map(|v| {
            let bytes = v.value();
            (seq_of(bytes), bytes.get(8..).unwrap_or_default().to_vec())
        });
        Ok(found)
    }
}

fn encode(seq: u64, record: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + record.len());
    value.extend_from_slice(&seq.to_le_bytes());
    value.extend_from_slice(record);
    value
}

fn seq_of(value: &[u8]) -> u64 {
    value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}
