//! Upgrading a store written before copies were kept per owner.
//!
//! The old index had one record per shard id (tables `shards`, `outboards`,
//! `inline`, each keyed by the id, the owner inside the record) and its
//! files sat at `shards/ab/cd/<id>`. The upgrade runs on open, before
//! reconciliation, in three crash-safe steps:
//!
//! 1. one transaction gives every old owner an alias (committed first, so
//!    a crash after it and a rerun agree on where files go);
//! 2. each old file is renamed to its owner's tree (a file already moved by
//!    an interrupted run is left alone), and the new directories fsynced;
//! 3. one transaction writes the new records, outboards and inline bytes
//!    and deletes the old tables.
//!
//! Reconciliation afterwards removes whatever a crash left half-way.

use std::collections::BTreeSet;

use proofs::ShardId;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::error::{IoContext, StoreError};
use super::index::{self, Owners, Record};
use super::layout::{Layout, ensure_dir, sync_dir};
use super::owner::Owner;

const OLD_SHARDS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("shards");
const OLD_OUTBOARDS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("outboards");
const OLD_INLINE: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("inline");

/// Version, length, created, last verified, owner length (then the owner).
const OLD_HEADER: usize = 1 + 8 + 8 + 8 + 1;

/// One record of the old index.
struct OldRecord {
    id: ShardId,
    owner: Owner,
    record: Record,
}

fn decode_old(id: ShardId, bytes: &[u8]) -> Result<OldRecord, StoreError> {
    let corrupt = |reason| StoreError::CorruptIndex { id, reason };
    if bytes.len() < OLD_HEADER || bytes[0] != 1 {
        return Err(corrupt("unreadable record of the old index"));
    }
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
    if bytes.len() != OLD_HEADER + usize::from(bytes[25]) {
        return Err(corrupt("owner length in the old index"));
    }
    let owner = Owner::new(&bytes[OLD_HEADER..]).map_err(|_| corrupt("invalid owner"))?;
    let created = u64_at(9);
    Ok(OldRecord {
        id,
        owner,
        record: Record {
            len: u64_at(1),
            created,
            last_verified: u64_at(17),
            // The lease starts now: the upgrade must not expire anything.
            touched: super::now_unix().max(created),
        },
    })
}

/// Migrates an old-format index in `db` (and its files) if there is one.
pub(crate) fn migrate(layout: &Layout, db: &Database) -> Result<(), StoreError> {
    let has_old = db
        .begin_read()?
        .list_tables()?
        .any(|table| table.name() == OLD_SHARDS.name());
    if !has_old {
        return Ok(());
    }
    let old = {
        let txn = db.begin_read()?;
        let table = txn.open_table(OLD_SHARDS)?;
        let mut old = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let id = ShardId(key.value());
            match decode_old(id, value.value()) {
                Ok(record) => old.push(record),
                // Dropped: reconciliation removes its file as an orphan.
                Err(error) => tracing::warn!(%error, "dropping an unreadable old index record"),
            }
        }
        old
    };
    tracing::info!(
        shards = old.len(),
        "upgrading the shard store to per-owner copies"
    );

    // 1. Aliases, committed before any file moves.
    let mut owners = Owners::load(db)?;
    let txn = db.begin_write()?;
    let mut fresh = Vec::new();
    for record in &old {
        owners.alias_in(&txn, &record.owner, &mut fresh)?;
    }
    txn.commit()?;
    owners.adopt(fresh);
    let alias_of = |owner: &Owner| owners.alias(owner).expect("made above");

    // 2. Files into their owners' trees.
    let mut dirs = BTreeSet::new();
    for record in &old {
        let from = layout.unowned_shard_path(&record.id);
        let alias = alias_of(&record.owner);
        let to = layout.shard_path(&record.id, alias);
        if !from.exists() {
            // Inline, already moved by an interrupted upgrade, or lost (then
            // reconciliation drops the record).
            continue;
        }
        let dir = layout.shard_dir(&record.id, alias);
        ensure_dir(&dir)?;
        std::fs::rename(&from, &to).at("moving into its owner's tree", &to)?;
        dirs.insert(dir);
        if let Some(parent) = from.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for dir in &dirs {
        sync_dir(dir)?;
    }

    // 3. New records, then the old tables go.
    let txn = db.begin_write()?;
    {
        let outboards = txn.open_table(OLD_OUTBOARDS)?;
        let inline = txn.open_table(OLD_INLINE)?;
        for record in &old {
            let alias = alias_of(&record.owner);
            let outboard = outboards
                .get(record.id.0)?
                .map(|v| proofs::Outboard::from_bytes(v.value()))
                .transpose()
                .map_err(|_| StoreError::CorruptIndex {
                    id: record.id,
                    reason: "outboard unreadable in the old index",
                })?;
            let bytes = inline.get(record.id.0)?.map(|v| v.value().to_vec());
            index::insert(&txn, &record.id, alias, &record.record, outboard.as_ref())?;
            if let Some(bytes) = bytes {
                index::insert_inline(&txn, &record.id, alias, &bytes)?;
            }
        }
    }
    txn.delete_table(OLD_SHARDS)?;
    txn.delete_table(OLD_OUTBOARDS)?;
    txn.delete_table(OLD_INLINE)?;
    txn.commit()?;
    tracing::info!(shards = old.len(), "shard store upgraded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old_record(len: u64, owner: &[u8]) -> Vec<u8> {
        let mut out = vec![1];
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&100u64.to_le_bytes());
        out.extend_from_slice(&200u64.to_le_bytes());
        out.push(owner.len() as u8);
        out.extend_from_slice(owner);
        out
    }

    #[test]
    fn an_old_store_is_upgraded_to_per_owner_copies() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create_dirs().unwrap();
        // An old-format store: one file shard, one inline shard.
        let big = vec![7u8; 40_000];
        let small = b"small shard".to_vec();
        let (big_id, small_id) = (ShardId::of(&big), ShardId::of(&small));
        {
            let db = Database::create(layout.index()).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut shards = txn.open_table(OLD_SHARDS).unwrap();
                shards
                    .insert(big_id.0, old_record(40_000, b"alice").as_slice())
                    .unwrap();
                shards
                    .insert(small_id.0, old_record(11, b"bob").as_slice())
                    .unwrap();
                let (outboard, _) = proofs::Outboard::build(big.as_slice()).unwrap();
                txn.open_table(OLD_OUTBOARDS)
                    .unwrap()
                    .insert(big_id.0, outboard.to_bytes().as_slice())
                    .unwrap();
                txn.open_table(OLD_INLINE)
                    .unwrap()
                    .insert(small_id.0, small.as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let old_path = layout.unowned_shard_path(&big_id);
        ensure_dir(old_path.parent().unwrap()).unwrap();
        std::fs::write(&old_path, &big).unwrap();

        let store = super::super::Store::open(dir.path(), 1 << 30).unwrap();
        assert!(
            store.reconcile_report().is_clean(),
            "{:?}",
            store.reconcile_report()
        );
        let alice = Owner::new(b"alice".to_vec()).unwrap();
        let bob = Owner::new(b"bob".to_vec()).unwrap();
        let info = store.info(&alice, &big_id).unwrap().unwrap();
        assert_eq!(
            (info.len, info.created, info.last_verified),
            (40_000, 100, 200)
        );
        assert!(store.info(&bob, &small_id).unwrap().is_some());
        assert!(!old_path.exists());
        let mut read = Vec::new();
        use std::io::Read;
        store
            .read_range(&big_id, 0, 40_000)
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, big);
        let challenge = proofs::Challenge::random(big_id, 40_000, 4);
        let proof = store.prove(&challenge, &alice).unwrap();
        assert!(proofs::verify(&big_id, 40_000, &challenge, &proof).is_ok());
        // Bob's copy is his alone.
        assert!(store.prove(&challenge, &bob).is_err());
        drop(store);
        // Opening again finds nothing to migrate and nothing to clean.
        let store = super::super::Store::open(dir.path(), 1 << 30).unwrap();
        assert!(store.reconcile_report().is_clean());
        assert_eq!(store.stats().unwrap().shards, 2);
    }
}
