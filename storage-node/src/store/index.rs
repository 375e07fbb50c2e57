//! The redb index: one record per stored copy, keyed by (shard id, owner).
//!
//! A copy is one owner's shard: two owners storing the same bytes hold two
//! independent copies (each deletable, provable and leased on its own), so
//! storing an id first never blocks anyone else's put, repair or delete.
//! Owners are aliased to small integers (`owners` / `owner_names`), so a key
//! is 36 bytes whatever the peer id's length.
//!
//! Tables:
//! * `copies`: (id, owner) → length, created, last verified and last
//!   touched (the owner's lease) times;
//! * `copies_by_owner`: (owner, id) → (), so an owner's copies are one
//!   range in id order (listing, renewing);
//! * `copy_outboards`: (id, owner) → the [`proofs::Outboard`] bytes,
//!   written in the same transaction as the record;
//! * `copy_inline`: (id, owner) → the bytes of small copies (at most
//!   [`INLINE_MAX`]), which live here instead of in a file, again in the
//!   record's transaction. Their outboards are not stored: they are rebuilt
//!   from the bytes when a proof needs one.
//! * `owners` / `owner_names`: owner id bytes ↔ alias;
//! * `owner_usage`: alias → the owner's accounting counters
//!   ([`super::usage`]).

use std::collections::HashMap;
use std::path::Path;

use proofs::{Outboard, ShardId};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::error::StoreError;
use super::owner::Owner;

/// An owner's alias: a small integer standing for its peer id.
pub(crate) type Alias = u32;
/// The key of one copy.
type CopyKey = ([u8; 32], Alias);

pub(crate) const COPIES: TableDefinition<CopyKey, &[u8]> = TableDefinition::new("copies");
pub(crate) const BY_OWNER: TableDefinition<(Alias, [u8; 32]), ()> =
    TableDefinition::new("copies_by_owner");
pub(crate) const OUTBOARDS: TableDefinition<CopyKey, &[u8]> =
    TableDefinition::new("copy_outboards");
pub(crate) const INLINE: TableDefinition<CopyKey, &[u8]> = TableDefinition::new("copy_inline");
pub(crate) const OWNERS: TableDefinition<&[u8], Alias> = TableDefinition::new("owners");
pub(crate) const OWNER_NAMES: TableDefinition<Alias, &[u8]> = TableDefinition::new("owner_names");
pub(crate) const OWNER_USAGE: TableDefinition<Alias, &[u8]> = TableDefinition::new("owner_usage");

/// Shards up to this many bytes are stored in the index, not in files: a
/// file costs an fsync of its own, a rename and a directory fsync, while a
/// batch of inline shards shares one index commit.
pub const INLINE_MAX: u64 = 32 * 1024;

const RECORD_VERSION: u8 = 2;
/// Version, length, created, last verified, touched.
const RECORD_LEN: usize = 1 + 8 * 4;

/// What the index knows about one stored copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard id (its blake3 hash).
    pub id: ShardId,
    /// Length in bytes.
    pub len: u64,
    /// Who stored this copy (and may delete, renew and audit it).
    pub owner: Owner,
    /// When it was committed, in seconds since the Unix epoch.
    pub created: u64,
    /// When its bytes were last hashed and found intact (the commit counts),
    /// in seconds since the Unix epoch.
    pub last_verified: u64,
    /// When its owner last stored or renewed it, in seconds since the Unix
    /// epoch: the start of its current lease.
    pub touched: u64,
}

/// The record of a copy without its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) len: u64,
    pub(crate) created: u64,
    pub(crate) last_verified: u64,
    pub(crate) touched: u64,
}

impl Record {
    pub(crate) fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0] = RECORD_VERSION;
        for (i, v) in [self.len, self.created, self.last_verified, self.touched]
            .into_iter()
            .enumerate()
        {
            out[1 + 8 * i..9 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub(crate) fn decode(id: ShardId, bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = |reason| StoreError::CorruptIndex { id, reason };
        if bytes.len() != RECORD_LEN {
            return Err(corrupt("record length"));
        }
        if bytes[0] != RECORD_VERSION {
            return Err(corrupt("unknown record version"));
        }
        let u64_at =
            |i: usize| u64::from_le_bytes(bytes[1 + 8 * i..9 + 8 * i].try_into().expect("8 bytes"));
        Ok(Self {
            len: u64_at(0),
            created: u64_at(1),
            last_verified: u64_at(2),
            touched: u64_at(3),
        })
    }

    pub(crate) fn info(self, id: ShardId, owner: Owner) -> ShardInfo {
        ShardInfo {
            id,
            len: self.len,
            owner,
            created: self.created,
            last_verified: self.last_verified,
            touched: self.touched,
        }
    }
}

/// The owners known to the index, both ways.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    by_name: HashMap<Owner, Alias>,
    names: HashMap<Alias, Owner>,
    next: Alias,
}

impl Owners {
    /// Reads every owner from the index.
    pub(crate) fn load(db: &Database) -> Result<Self, StoreError> {
        let txn = db.begin_read()?;
        let table = txn.open_table(OWNER_NAMES)?;
        let mut owners = Self::default();
        for entry in table.iter()? {
            let (alias, name) = entry?;
            let owner = Owner::new(name.value()).map_err(|_| StoreError::CorruptIndex {
                id: ShardId([0; 32]),
                reason: "invalid owner name",
            })?;
            owners.learn(alias.value(), owner);
        }
        Ok(owners)
    }

    fn learn(&mut self, alias: Alias, owner: Owner) {
        self.next = self.next.max(alias + 1);
        self.by_name.insert(owner.clone(), alias);
        self.names.insert(alias, owner);
    }

    /// The alias of `owner`, if it ever stored anything.
    pub(crate) fn alias(&self, owner: &Owner) -> Option<Alias> {
        self.by_name.get(owner).copied()
    }

    /// The owner an alias stands for.
    pub(crate) fn name(&self, alias: Alias) -> Option<&Owner> {
        self.names.get(&alias)
    }

    /// The alias of `owner`, making one within `txn` if it has none yet.
    /// New aliases are returned in `fresh`; call [`Owners::adopt`] with them
    /// once `txn` has committed (they are not known before).
    pub(crate) fn alias_in(
        &self,
        txn: &WriteTransaction,
        owner: &Owner,
        fresh: &mut Vec<(Alias, Owner)>,
    ) -> Result<Alias, StoreError> {
        if let Some(alias) = self.alias(owner) {
            return Ok(alias);
        }
        if let Some((alias, _)) = fresh.iter().find(|(_, o)| o == owner) {
            return Ok(*alias);
        }
        let alias = fresh
            .iter()
            .map(|(a, _)| a + 1)
            .max()
            .unwrap_or(self.next)
            .max(self.next);
        txn.open_table(OWNERS)?.insert(owner.as_bytes(), alias)?;
        txn.open_table(OWNER_NAMES)?
            .insert(alias, owner.as_bytes())?;
        fresh.push((alias, owner.clone()));
        Ok(alias)
    }

    /// Learns aliases made by a committed transaction.
    pub(crate) fn adopt(&mut self, fresh: Vec<(Alias, Owner)>) {
        for (alias, owner) in fresh {
            self.learn(alias, owner);
        }
    }
}

/// Opens (or creates) the index and makes sure its tables exist.
pub(crate) fn open(path: &Path) -> Result<Database, StoreError> {
    let db = Database::create(path)?;
    let txn = db.begin_write()?;
    txn.open_table(COPIES)?;
    txn.open_table(BY_OWNER)?;
    txn.open_table(OUTBOARDS)?;
    txn.open_table(INLINE)?;
    txn.open_table(OWNERS)?;
    txn.open_table(OWNER_NAMES)?;
    txn.open_table(OWNER_USAGE)?;
    txn.open_table(super::pointers::POINTERS)?;
    txn.commit()?;
    Ok(db)
}

/// The record of `alias`'s copy of `id`, if indexed.
pub(crate) fn get(
    txn: &ReadTransaction,
    id: &ShardId,
    alias: Alias,
) -> Result<Option<Record>, StoreError> {
    let table = txn.open_table(COPIES)?;
    let value = table.get((id.0, alias))?;
    value.map(|v| Record::decode(*id, v.value())).transpose()
}

/// Every copy of `id`, by owner alias.
pub(crate) fn copies_of(
    txn: &ReadTransaction,
    id: &ShardId,
) -> Result<Vec<(Alias, Record)>, StoreError> {
    let table = txn.open_table(COPIES)?;
    let mut out = Vec::new();
    for entry in table.range((id.0, 0)..=(id.0, Alias::MAX))? {
        let (key, value) = entry?;
        out.push((key.value().1, Record::decode(*id, value.value())?));
    }
    Ok(out)
}

/// A copy's record, its outboard and, if it is stored inline, its bytes.
pub(crate) type Stored = (Record, Outboard, Option<Vec<u8>>);

/// The record, outboard and inline bytes of a copy, read in one snapshot.
pub(crate) fn get_with_outboard(
    txn: &ReadTransaction,
    id: &ShardId,
    alias: Alias,
) -> Result<Option<Stored>, StoreError> {
    let Some(record) = get(txn, id, alias)? else {
        return Ok(None);
    };
    let inline = inline_bytes(txn, id, alias)?;
    let outboard = match (txn.open_table(OUTBOARDS)?.get((id.0, alias))?, &inline) {
        (Some(bytes), _) => {
            Outboard::from_bytes(bytes.value()).map_err(|_| StoreError::CorruptIndex {
                id: *id,
                reason: "outboard unreadable",
            })?
        }
        // An inline copy's outboard is not stored: it is rebuilt from the
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
    Ok(Some((record, outboard, inline)))
}

/// The bytes of a copy stored inline, if it is.
pub(crate) fn inline_bytes(
    txn: &ReadTransaction,
    id: &ShardId,
    alias: Alias,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(txn
        .open_table(INLINE)?
        .get((id.0, alias))?
        .map(|v| v.value().to_vec()))
}

/// The lengths of the bytes of every inline copy.
pub(crate) fn inline_lengths(db: &Database) -> Result<HashMap<(ShardId, Alias), u64>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(INLINE)?;
    let mut out = HashMap::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        let (id, alias) = key.value();
        out.insert((ShardId(id), alias), value.value().len() as u64);
    }
    Ok(out)
}

/// Every copy, in (id, owner) order, as (alias, id, record).
pub(crate) fn scan(db: &Database) -> Result<Vec<(Alias, ShardId, Record)>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(COPIES)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        let (id, alias) = key.value();
        let id = ShardId(id);
        out.push((alias, id, Record::decode(id, value.value())?));
    }
    Ok(out)
}

/// Up to `limit` of `alias`'s copies in id order, after `after`; and
/// whether more follow.
pub(crate) fn page(
    db: &Database,
    alias: Alias,
    after: Option<ShardId>,
    limit: usize,
) -> Result<(Vec<(ShardId, Record)>, bool), StoreError> {
    let txn = db.begin_read()?;
    let by_owner = txn.open_table(BY_OWNER)?;
    let copies = txn.open_table(COPIES)?;
    let start = after.map_or([0u8; 32], |a| a.0);
    let mut out = Vec::new();
    for entry in by_owner.range((alias, start)..=(alias, [0xff; 32]))? {
        let (key, _) = entry?;
        let id = key.value().1;
        if after.is_some_and(|a| a.0 == id) {
            continue;
        }
        if out.len() == limit {
            return Ok((out, true));
        }
        let id = ShardId(id);
        let Some(value) = copies.get((id.0, alias))? else {
            return Err(StoreError::CorruptIndex {
                id,
                reason: "owner index names a copy that is not indexed",
            });
        };
        out.push((id, Record::decode(id, value.value())?));
    }
    Ok((out, false))
}

/// Whether `alias`'s copy of `id` is indexed, as seen by `txn`.
pub(crate) fn contains_in(
    txn: &WriteTransaction,
    id: &ShardId,
    alias: Alias,
) -> Result<bool, StoreError> {
    Ok(txn.open_table(COPIES)?.get((id.0, alias))?.is_some())
}

/// Adds a copy's record and its outboard (none for an inline copy, whose
/// outboard is rebuilt from its bytes when needed) within `txn`.
pub(crate) fn insert(
    txn: &WriteTransaction,
    id: &ShardId,
    alias: Alias,
    record: &Record,
    outboard: Option<&Outboard>,
) -> Result<(), StoreError> {
    txn.open_table(COPIES)?
        .insert((id.0, alias), record.encode().as_slice())?;
    txn.open_table(BY_OWNER)?.insert((alias, id.0), ())?;
    if let Some(outboard) = outboard {
        txn.open_table(OUTBOARDS)?
            .insert((id.0, alias), outboard.to_bytes().as_slice())?;
    }
    Ok(())
}

/// Adds the bytes of an inline copy within `txn` (next to its record).
pub(crate) fn insert_inline(
    txn: &WriteTransaction,
    id: &ShardId,
    alias: Alias,
    bytes: &[u8],
) -> Result<(), StoreError> {
    txn.open_table(INLINE)?.insert((id.0, alias), bytes)?;
    Ok(())
}

/// Removes a copy's record, owner entry, outboard and inline bytes within
/// `txn`; returns the record if there was one.
pub(crate) fn remove(
    txn: &WriteTransaction,
    id: &ShardId,
    alias: Alias,
) -> Result<Option<Record>, StoreError> {
    txn.open_table(OUTBOARDS)?.remove((id.0, alias))?;
    txn.open_table(INLINE)?.remove((id.0, alias))?;
    txn.open_table(BY_OWNER)?.remove((alias, id.0))?;
    let mut copies = txn.open_table(COPIES)?;
    let removed = copies.remove((id.0, alias))?;
    removed.map(|v| Record::decode(*id, v.value())).transpose()
}

/// Rewrites the records of `alias`'s copies of `ids` with `update`, within
/// `txn`; returns the ids that have no copy.
pub(crate) fn update(
    txn: &WriteTransaction,
    alias: Alias,
    ids: &[ShardId],
    mut update: impl FnMut(&mut Record),
) -> Result<Vec<ShardId>, StoreError> {
    let mut table = txn.open_table(COPIES)?;
    let mut missing = Vec::new();
    for id in ids {
        let record = match table.get((id.0, alias))? {
            Some(value) => Some(Record::decode(*id, value.value())?),
            None => None,
        };
        match record {
            Some(mut record) => {
                update(&mut record);
                table.insert((id.0, alias), record.encode().as_slice())?;
            }
            None => missing.push(*id),
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_damage() {
        let record = Record {
            len: 123,
            created: 1_700_000_000,
            last_verified: 1_700_000_100,
            touched: 1_700_000_050,
        };
        let id = ShardId::of(b"x");
        let bytes = record.encode();
        assert_eq!(Record::decode(id, &bytes).unwrap(), record);
        assert!(Record::decode(id, &bytes[..bytes.len() - 1]).is_err());
        let mut versioned = bytes;
        versioned[0] = 9;
        assert!(Record::decode(id, &versioned).is_err());
    }

    #[test]
    fn aliases_are_made_once_and_known_after_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir.path().join("index.redb")).unwrap();
        let mut owners = Owners::load(&db).unwrap();
        let (a, b) = (
            Owner::new(b"a".to_vec()).unwrap(),
            Owner::new(b"b".to_vec()).unwrap(),
        );
        let txn = db.begin_write().unwrap();
        let mut fresh = Vec::new();
        let alias_a = owners.alias_in(&txn, &a, &mut fresh).unwrap();
        let alias_b = owners.alias_in(&txn, &b, &mut fresh).unwrap();
        assert_eq!(owners.alias_in(&txn, &a, &mut fresh).unwrap(), alias_a);
        assert_ne!(alias_a, alias_b);
        assert_eq!(owners.alias(&a), None, "not known before the commit");
        txn.commit().unwrap();
        owners.adopt(fresh);
        assert_eq!(owners.alias(&b), Some(alias_b));
        let reloaded = Owners::load(&db).unwrap();
        assert_eq!(reloaded.alias(&a), Some(alias_a));
        assert_eq!(reloaded.name(alias_b), Some(&b));
    }
}
