//! The redb index: one record per committed shard, plus its proof outboard.
//!
//! Three tables keyed by the 32-byte shard id:
//! * `shards`: length, owner, created and last-verified times (a small
//!   versioned record, so listing and reconciling scan little data);
//! * `outboards`: the [`proofs::Outboard`] bytes (32 bytes per 16 KiB of
//!   shard), written in the same transaction as the record, so a shard is
//!   either fully indexed with its outboard or not at all;
//! * `inline`: the bytes of small shards (at most [`INLINE_MAX`]), which
//!   live here instead of in a file of their own, again in the same
//!   transaction as the record. Their outboards are not stored (one insert
//!   less per shard): they are rebuilt from the bytes when a proof needs
//!   one.

use std::path::Path;

use proofs::{Outboard, ShardId};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::error::StoreError;
use super::owner::Owner;

const SHARDS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("shards");
const OUTBOARDS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("outboards");
const INLINE: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("inline");

/// Shards up to this many bytes are stored in the index, not in files: a
/// file costs an fsync of its own, a rename and a directory fsync, while a
/// batch of inline shards shares one index commit.
pub const INLINE_MAX: u64 = 32 * 1024;

const RECORD_VERSION: u8 = 1;
/// Version, length, created, last verified, owner length.
const RECORD_HEADER: usize = 1 + 8 + 8 + 8 + 1;

/// What the index knows about one stored shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard id (its blake3 hash).
    pub id: ShardId,
    /// Length in bytes.
    pub len: u64,
    /// Who stored it (and may delete it).
    pub owner: Owner,
    /// When it was committed, in seconds since the Unix epoch.
    pub created: u64,
    /// When its bytes were last hashed and found intact (the commit counts),
    /// in seconds since the Unix epoch.
    pub last_verified: u64,
}

impl ShardInfo {
    fn encode(&self) -> Vec<u8> {
        let owner = self.owner.as_bytes();
        let mut out = Vec::with_capacity(RECORD_HEADER + owner.len());
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.created.to_le_bytes());
        out.extend_from_slice(&self.last_verified.to_le_bytes());
        out.push(owner.len() as u8);
        out.extend_from_slice(owner);
        out
    }

    fn decode(id: ShardId, bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = |reason| StoreError::CorruptIndex { id, reason };
        if bytes.len() < RECORD_HEADER {
            return Err(corrupt("truncated record"));
        }
        if bytes[0] != RECORD_VERSION {
            return Err(corrupt("unknown record version"));
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let owner_len = usize::from(bytes[25]);
        if bytes.len() != RECORD_HEADER + owner_len {
            return Err(corrupt("owner length"));
        }
        let owner = Owner::new(&bytes[RECORD_HEADER..]).map_err(|_| corrupt("invalid owner"))?;
        Ok(Self {
            id,
            len: u64_at(1),
            created: u64_at(9),
            last_verified: u64_at(17),
            owner,
        })
    }
}

/// Opens (or creates) the index and makes sure its tables exist.
pub(crate) fn open(path: &Path) -> Result<Database, StoreError> {
    let db = Database::create(path)?;
    let txn = db.begin_write()?;
    txn.open_table(SHARDS)?;
    txn.open_table(OUTBOARDS)?;
    txn.open_table(INLINE)?;
    txn.commit()?;
    Ok(db)
}

/// The record of shard `id`, if indexed.
pub(crate) fn get(db: &Database, id: &ShardId) -> Result<Option<ShardInfo>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(SHARDS)?;
    let value = table.get(id.0)?;
    value.map(|v| ShardInfo::decode(*id, v.value())).transpose()
}

/// A shard's record, its outboard and, if it is stored inline, its bytes.
pub(crate) type Stored = (ShardInfo, Outboard, Option<Vec<u8>>);

/// The record, outboard and inline bytes of shard `id`, read in one
/// snapshot.
pub(crate) fn get_with_outboard(db: &Database, id: &ShardId) -> Result<Option<Stored>, StoreError> {
    let txn = db.begin_read()?;
    let Some((info, inline)) = record_and_inline(&txn, id)? else {
        return Ok(None);
    };
    let outboard = match (txn.open_table(OUTBOARDS)?.get(id.0)?, &inline) {
        (Some(bytes), _) => {
            Outboard::from_bytes(bytes.value()).map_err(|_| StoreError::CorruptIndex {
                id: *id,
                reason: "outboard unreadable",
            })?
        }
        // An inline shard's outboard is not stored: it is rebuilt from the
        // bytes (a few microseconds for at most INLINE_MAX bytes).
        (None, Some(bytes)) => {
            Outboard::build(bytes.as_slice())
                .expect("reading from memory")
                .0
        }
        (None, None) => {
            return Err(StoreError::CorruptIndex {
                id: *id,
                reason: "outboard missing",
            });
        }
    };
    Ok(Some((info, outboard, inline)))
}

/// A shard's record and, if it is stored inline, its bytes.
pub(crate) type WithInline = (ShardInfo, Option<Vec<u8>>);

/// The record of shard `id` and, if it is stored inline, its bytes, read
/// in one snapshot.
pub(crate) fn get_with_inline(
    db: &Database,
    id: &ShardId,
) -> Result<Option<WithInline>, StoreError> {
    record_and_inline(&db.begin_read()?, id)
}

fn record_and_inline(
    txn: &redb::ReadTransaction,
    id: &ShardId,
) -> Result<Option<WithInline>, StoreError> {
    let Some(record) = txn.open_table(SHARDS)?.get(id.0)? else {
        return Ok(None);
    };
    let info = ShardInfo::decode(*id, record.value())?;
    let bytes = txn
        .open_table(INLINE)?
        .get(id.0)?
        .map(|v| v.value().to_vec());
    Ok(Some((info, bytes)))
}

/// The lengths of the bytes of every inline shard, by id.
pub(crate) fn inline_lengths(
    db: &Database,
) -> Result<std::collections::HashMap<ShardId, u64>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(INLINE)?;
    let mut out = std::collections::HashMap::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        out.insert(ShardId(key.value()), value.value().len() as u64);
    }
    Ok(out)
}

/// Every record, in id order. `filter` picks which to keep.
pub(crate) fn scan(
    db: &Database,
    mut filter: impl FnMut(&ShardInfo) -> bool,
) -> Result<Vec<ShardInfo>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(SHARDS)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        let info = ShardInfo::decode(ShardId(key.value()), value.value())?;
        if filter(&info) {
            out.push(info);
        }
    }
    Ok(out)
}

/// Whether `id` is indexed, as seen by the write transaction `txn`.
pub(crate) fn contains_in(txn: &WriteTransaction, id: &ShardId) -> Result<bool, StoreError> {
    Ok(txn.open_table(SHARDS)?.get(id.0)?.is_some())
}

/// Adds a shard's record and its outboard (none for an inline shard,
/// whose outboard is rebuilt from its bytes when needed) within `txn`.
pub(crate) fn insert(
    txn: &WriteTransaction,
    info: &ShardInfo,
    outboard: Option<&Outboard>,
) -> Result<(), StoreError> {
    txn.open_table(SHARDS)?
        .insert(info.id.0, info.encode().as_slice())?;
    if let Some(outboard) = outboard {
        txn.open_table(OUTBOARDS)?
            .insert(info.id.0, outboard.to_bytes().as_slice())?;
    }
    Ok(())
}

/// Adds the bytes of an inline shard within `txn` (next to its record).
pub(crate) fn insert_inline(
    txn: &WriteTransaction,
    id: &ShardId,
    bytes: &[u8],
) -> Result<(), StoreError> {
    txn.open_table(INLINE)?.insert(id.0, bytes)?;
    Ok(())
}

/// Removes a shard's record, outboard and inline bytes within `txn`;
/// returns the record if there was one.
pub(crate) fn remove(
    txn: &WriteTransaction,
    id: &ShardId,
) -> Result<Option<ShardInfo>, StoreError> {
    txn.open_table(OUTBOARDS)?.remove(id.0)?;
    txn.open_table(INLINE)?.remove(id.0)?;
    let mut shards = txn.open_table(SHARDS)?;
    let removed = shards.remove(id.0)?;
    removed
        .map(|v| ShardInfo::decode(*id, v.value()))
        .transpose()
}

/// Removes shard `id` within `txn` if `requester` owns it: the record if
/// so, else why not ([`StoreError::NotFound`], [`StoreError::NotOwner`]).
pub(crate) fn remove_owned_by(
    txn: &WriteTransaction,
    id: &ShardId,
    requester: &Owner,
) -> Result<Result<ShardInfo, StoreError>, StoreError> {
    let info = {
        let shards = txn.open_table(SHARDS)?;
        let Some(value) = shards.get(id.0)? else {
            return Ok(Err(StoreError::NotFound(*id)));
        };
        ShardInfo::decode(*id, value.value())?
    };
    if info.owner != *requester {
        return Ok(Err(StoreError::NotOwner(*id)));
    }
    remove(txn, id)?;
    Ok(Ok(info))
}

/// Records that the shards `ids` were verified intact at `now`.
pub(crate) fn set_verified(db: &Database, ids: &[ShardId], now: u64) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(SHARDS)?;
        for id in ids {
            let updated = match table.get(id.0)? {
                Some(value) => {
                    let mut info = ShardInfo::decode(*id, value.value())?;
                    info.last_verified = now;
                    Some(info.encode())
                }
                None => None,
            };
            if let Some(bytes) = updated {
                table.insert(id.0, bytes.as_slice())?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_damage() {
        let info = ShardInfo {
            id: ShardId::of(b"x"),
            len: 123,
            owner: Owner::new(b"peer".to_vec()).unwrap(),
            created: 1_700_000_000,
            last_verified: 1_700_000_100,
        };
        let bytes = info.encode();
        assert_eq!(ShardInfo::decode(info.id, &bytes).unwrap(), info);
        assert!(ShardInfo::decode(info.id, &bytes[..bytes.len() - 1]).is_err());
        let mut versioned = bytes;
        versioned[0] = 9;
        assert!(ShardInfo::decode(info.id, &versioned).is_err());
    }
}
