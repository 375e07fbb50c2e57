//! What the gateway remembers about the health of its data: each node's
//! audit history, shards known to be bad, and the repair queue. Kept in the
//! same database as the manifests so that a restart forgives no one and
//! resumes every repair.
//!
//! Tables:
//! * `node_health`: node id → [`NodeHealthRecord`];
//! * `bad_shards`: `node id length (u8) ‖ node id ‖ shard id` → unix ms when
//!   found bad (failed an audit or a read, or the node lost it);
//! * `repair_queue`: [`SegmentKey`] bytes → [`RepairEntry`];
//! * `rebalance_queue`: [`SegmentKey`] bytes → unix ms when queued: segments
//!   whose shards doubled up on some node (a repair that ran short of
//!   nodes), to spread out again when nodes join.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{OBJECTS, PARTS, RedbStore};
use crate::meta::types::{decode, encode, object_key};
use crate::meta::{
    MetaError, NodeHealthRecord, ObjectMeta, PartLayout, RepairEntry, SegmentKey, ShardCopy,
    ShardMove,
};

pub(super) const NODE_HEALTH: TableDefinition<&[u8], &[u8]> = TableDefinition::new("node_health");
pub(super) const BAD_SHARDS: TableDefinition<&[u8], u64> = TableDefinition::new("bad_shards");
pub(super) const REPAIR_QUEUE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("repair_queue");
pub(super) const REBALANCE_QUEUE: TableDefinition<&[u8], u64> =
    TableDefinition::new("rebalance_queue");

fn bad_key(node: &[u8], shard: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + node.len() + 32);
    k.push(node.len() as u8);
    k.extend_from_slice(node);
    k.extend_from_slice(shard);
    k
}

fn split_bad_key(k: &[u8]) -> Option<ShardCopy> {
    let (&len, rest) = k.split_first()?;
    let len = len as usize;
    if rest.len() != len + 32 {
        return None;
    }
    Some((rest[..len].to_vec(), rest[len..].try_into().ok()?))
}

impl RedbStore {
    pub(super) fn open_health_tables(txn: &redb::WriteTransaction) -> Result<(), MetaError> {
        txn.open_table(NODE_HEALTH)?;
        txn.open_table(BAD_SHARDS)?;
        txn.open_table(REPAIR_QUEUE)?;
        txn.open_table(REBALANCE_QUEUE)?;
        Ok(())
    }

    /// Every node's persisted health.
    pub(super) fn node_health(&self) -> Result<Vec<(Vec<u8>, NodeHealthRecord)>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(NODE_HEALTH)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_vec(), decode(v.value(), "node health")?));
        }
        Ok(out)
    }

    /// Stores the health of several nodes in one commit.
    pub(super) fn put_node_health(
        &self,
        records: &[(Vec<u8>, NodeHealthRecord)],
    ) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(NODE_HEALTH)?;
            for (node, record) in records {
                table.insert(node.as_slice(), encode(record).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Records that `node`'s copy of `shard` is bad.
    pub(super) fn mark_bad_shard(
        &self,
        node: &[u8],
        shard: &[u8; 32],
        at: u64,
    ) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        txn.open_table(BAD_SHARDS)?
            .insert(bad_key(node, shard).as_slice(), at)?;
        txn.commit()?;
        Ok(())
    }

    /// Every (node, shard) known to be bad.
    pub(super) fn bad_shards(&self) -> Result<Vec<ShardCopy>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BAD_SHARDS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, _) = entry?;
            if let Some(pair) = split_bad_key(k.value()) {
                out.push(pair);
            }
        }
        Ok(out)
    }

    /// Forgets bad-shard marks (once the shard has been moved elsewhere).
    pub(super) fn clear_bad_shards(&self, pairs: &[ShardCopy]) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(BAD_SHARDS)?;
            for (node, shard) in pairs {
                table.remove(bad_key(node, shard).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Queues (or re-ranks) segments for repair, and removes `healed` ones,
    /// in one commit. A segment already queued keeps its queue time.
    pub(super) fn update_repair_queue(
        &self,
        degraded: &[(SegmentKey, u8)],
        healed: &[SegmentKey],
        now: u64,
    ) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(REPAIR_QUEUE)?;
            for (segment, healthy) in degraded {
                let k = segment.to_bytes();
                let queued = match table.get(k.as_slice())? {
                    Some(v) => decode::<RepairEntry>(v.value(), "repair entry")?.queued,
                    None => now,
                };
                let entry = RepairEntry {
                    healthy: *healthy,
                    queued,
                };
                table.insert(k.as_slice(), encode(&entry).as_slice())?;
            }
            for segment in healed {
                table.remove(segment.to_bytes().as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The repair queue, riskiest first (fewest healthy shards, then
    /// longest waiting).
    pub(super) fn repair_queue(&self) -> Result<Vec<(SegmentKey, RepairEntry)>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REPAIR_QUEUE)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((
                SegmentKey::from_bytes(k.value())?,
                decode::<RepairEntry>(v.value(), "repair entry")?,
            ));
        }
        out.sort_by_key(|(_, entry)| (entry.healthy, entry.queued));
        Ok(out)
    }

    /// Queues segments for rebalancing (those already queued keep their
    /// time) and removes `done` ones, in one commit.
    pub(super) fn update_rebalance_queue(
        &self,
        crowded: &[SegmentKey],
        done: &[SegmentKey],
        now: u64,
    ) -> Result<(), MetaError> {
        if crowded.is_empty() && done.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(REBALANCE_QUEUE)?;
            for segment in crowded {
                let k = segment.to_bytes();
                if table.get(k.as_slice())?.is_none() {
                    table.insert(k.as_slice(), now)?;
                }
            }
            for segment in done {
                table.remove(segment.to_bytes().as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The segments waiting to be spread out, longest waiting first.
    pub(super) fn rebalance_queue(&self) -> Result<Vec<SegmentKey>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REBALANCE_QUEUE)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((v.value(), SegmentKey::from_bytes(k.value())?));
        }
        out.sort();
        Ok(out.into_iter().map(|(_, k)| k).collect())
    }

    /// Up to `limit` objects after `after`, in (bucket, key) order.
    pub(super) fn objects_after(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, String, ObjectMeta)>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OBJECTS)?;
        let start = after.map(|(b, k)| object_key(&b, &k));
        let bounds = match &start {
            Some(s) => (
                std::ops::Bound::Excluded(s.as_slice()),
                std::ops::Bound::Unbounded,
            ),
            None => (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
        };
        let mut out = Vec::new();
        for entry in table.range::<&[u8]>(bounds)? {
            if out.len() == limit {
                break;
            }
            let (k, v) = entry?;
            let k = k.value();
            let nul = k
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| MetaError::Corrupt("object key without bucket".into()))?;
            let (Ok(bucket), Ok(key)) = (
                std::str::from_utf8(&k[..nul]),
                std::str::from_utf8(&k[nul + 1..]),
            ) else {
                continue;
            };
            match decode::<ObjectMeta>(v.value(), "object") {
                Ok(meta) => out.push((bucket.to_owned(), key.to_owned(), meta)),
                Err(e) => {
                    tracing::warn!(bucket, key, error = %e, "skipping an unreadable manifest")
                }
            }
        }
        Ok(out)
    }

    /// Every (node, shard) that a manifest or an uploaded part names, read
    /// from one snapshot (so an upload completing meanwhile is seen either
    /// as parts or as an object). Fails on any record it cannot read:
    /// garbage collection must never take an unreadable manifest's shards
    /// for garbage.
    pub(super) fn shard_references(
        &self,
    ) -> Result<std::collections::HashSet<ShardCopy>, MetaError> {
        let txn = self.db.begin_read()?;
        let mut refs = std::collections::HashSet::new();
        let mut add = |layouts: &[PartLayout]| {
            for layout in layouts.iter().flat_map(|p| &p.segments) {
                for shard in &layout.shards {
                    refs.insert((shard.node.clone(), shard.id));
                }
            }
        };
        for entry in txn.open_table(OBJECTS)?.iter()? {
            let (_, v) = entry?;
            add(&decode::<ObjectMeta>(v.value(), "object")?.parts);
        }
        for entry in txn.open_table(PARTS)?.iter()? {
            let (_, v) = entry?;
            add(&[decode::<PartLayout>(v.value(), "part")?]);
        }
        Ok(refs)
    }

    /// Moves shards of one segment to new nodes, if the object is still the
    /// version that was repaired (same ETag and modification time) and each
    /// replaced shard is still where the repair found it. Returns whether
    /// the manifest was updated; `false` means the object changed meanwhile
    /// and the new copies are garbage.
    pub(super) fn move_shards(
        &self,
        segment: &SegmentKey,
        version: (&str, u64),
        moves: &[ShardMove],
    ) -> Result<bool, MetaError> {
        let txn = self.db.begin_write()?;
        let moved = {
            let mut objects = txn.open_table(OBJECTS)?;
            let k = object_key(&segment.bucket, &segment.key);
            let Some(v) = objects.get(k.as_slice())? else {
                return Ok(false);
            };
            let mut meta: ObjectMeta = decode(v.value(), "object")?;
            drop(v);
            if meta.etag != version.0 || meta.last_modified != version.1 {
                return Ok(false);
            }
            let Some(layout) = meta
                .parts
                .get_mut(segment.part as usize)
                .and_then(|p| p.segments.get_mut(segment.segment as usize))
            else {
                return Ok(false);
            };
            for (index, from, _) in moves {
                if layout.shards.get(*index) != Some(from) {
                    return Ok(false);
                }
            }
            for (index, _, to) in moves {
                layout.shards[*index] = to.clone();
            }
            objects.insert(k.as_slice(), encode(&meta).as_slice())?;
            true
        };
        txn.commit()?;
        let mut marks = super::journal::Marks::default();
        marks.row(
            super::journal::Table::Objects,
            object_key(&segment.bucket, &segment.key),
        );
        self.journal.record(marks);
        Ok(moved)
    }
}
