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
use serde::{Deserialize, Serialize};

use super::error::MetaError;
use super::list::object_key;
use super::types::{ObjectMeta, PartLayout, ShardLocation, decode, encode};
use super::{MetaStore, OBJECTS, PARTS};

pub(super) const NODE_HEALTH: TableDefinition<&[u8], &[u8]> = TableDefinition::new("node_health");
pub(super) const BAD_SHARDS: TableDefinition<&[u8], u64> = TableDefinition::new("bad_shards");
pub(super) const REPAIR_QUEUE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("repair_queue");
pub(super) const REBALANCE_QUEUE: TableDefinition<&[u8], u64> =
    TableDefinition::new("rebalance_queue");

/// A node's copy of a shard: (node id, shard id).
pub type ShardCopy = (Vec<u8>, [u8; 32]);

/// A node's audit history, as persisted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeHealthRecord {
    /// Decaying weight of passed audits.
    pub alpha: f64,
    /// Decaying weight of failed audits.
    pub beta: f64,
    /// Audits answered with a valid proof.
    pub passed: u64,
    /// Audits answered wrongly (bad proof, shard missing or corrupt).
    pub failed: u64,
    /// Audits not answered within the deadline.
    pub timed_out: u64,
    /// Unix ms of the last audit, 0 if never.
    pub last_audit: u64,
    /// Unix ms the node was last heard from, 0 if never.
    pub last_seen: u64,
    /// Unix ms the node was disqualified, if it was.
    pub disqualified: Option<u64>,
}

/// One segment of one object: what the repair queue holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentKey {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// Index into the object's `parts`.
    pub part: u32,
    /// Index into that part's `segments`.
    pub segment: u32,
}

impl SegmentKey {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = object_key(&self.bucket, &self.key);
        out.extend_from_slice(&self.part.to_be_bytes());
        out.extend_from_slice(&self.segment.to_be_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, MetaError> {
        let bad = || MetaError::Corrupt("repair queue key".into());
        if bytes.len() < 9 {
            return Err(bad());
        }
        let (name, tail) = bytes.split_at(bytes.len() - 8);
        let part = u32::from_be_bytes(tail[..4].try_into().expect("4 bytes"));
        let segment = u32::from_be_bytes(tail[4..].try_into().expect("4 bytes"));
        let nul = name.iter().position(|&b| b == 0).ok_or_else(bad)?;
        let bucket = std::str::from_utf8(&name[..nul]).map_err(|_| bad())?;
        let key = std::str::from_utf8(&name[nul + 1..]).map_err(|_| bad())?;
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            part,
            segment,
        })
    }
}

/// A segment waiting for repair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairEntry {
    /// Healthy shards when last checked (fewest are repaired first).
    pub healthy: u8,
    /// Unix ms when first queued.
    pub queued: u64,
}

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

impl MetaStore {
    pub(super) fn open_health_tables(txn: &redb::WriteTransaction) -> Result<(), MetaError> {
        txn.open_table(NODE_HEALTH)?;
        txn.open_table(BAD_SHARDS)?;
        txn.open_table(REPAIR_QUEUE)?;
        txn.open_table(REBALANCE_QUEUE)?;
        Ok(())
    }

    /// Every node's persisted health.
    pub fn node_health(&self) -> Result<Vec<(Vec<u8>, NodeHealthRecord)>, MetaError> {
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
    pub fn put_node_health(
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
    pub fn mark_bad_shard(&self, node: &[u8], shard: &[u8; 32], at: u64) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        txn.open_table(BAD_SHARDS)?
            .insert(bad_key(node, shard).as_slice(), at)?;
        txn.commit()?;
        Ok(())
    }

    /// Every (node, shard) known to be bad.
    pub fn bad_shards(&self) -> Result<Vec<ShardCopy>, MetaError> {
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
    pub fn clear_bad_shards(&self, pairs: &[ShardCopy]) -> Result<(), MetaError> {
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
    pub fn update_repair_queue(
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
    pub fn repair_queue(&self) -> Result<Vec<(SegmentKey, RepairEntry)>, MetaError> {
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
    pub fn update_rebalance_queue(
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
    pub fn rebalance_queue(&self) -> Result<Vec<SegmentKey>, MetaError> {
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

    /// Calls `visit` with every object (bucket, key, manifest), in key
    /// order, from one consistent snapshot.
    pub fn for_each_object(
        &self,
        mut visit: impl FnMut(&str, &str, &ObjectMeta),
    ) -> Result<(), MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OBJECTS)?;
        for entry in table.iter()? {
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
                Ok(meta) => visit(bucket, key, &meta),
                Err(e) => {
                    tracing::warn!(bucket, key, error = %e, "skipping an unreadable manifest")
                }
            }
        }
        Ok(())
    }

    /// Every (node, shard) that a manifest or an uploaded part names, read
    /// from one snapshot (so an upload completing meanwhile is seen either
    /// as parts or as an object). Fails on any record it cannot read:
    /// garbage collection must never take an unreadable manifest's shards
    /// for garbage.
    pub fn shard_references(&self) -> Result<std::collections::HashSet<ShardCopy>, MetaError> {
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

    /// Calls `visit` with every part of every multipart upload in progress.
    pub fn for_each_pending_part(
        &self,
        mut visit: impl FnMut(&PartLayout),
    ) -> Result<(), MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PARTS)?;
        for entry in table.iter()? {
            let (_, v) = entry?;
            if let Ok(part) = decode::<PartLayout>(v.value(), "part") {
                visit(&part);
            }
        }
        Ok(())
    }

    /// Moves shards of one segment to new nodes, if the object is still the
    /// version that was repaired (same ETag and modification time) and each
    /// replaced shard is still where the repair found it. Returns whether
    /// the manifest was updated; `false` means the object changed meanwhile
    /// and the new copies are garbage.
    pub fn move_shards(
        &self,
        segment: &SegmentKey,
        version: (&str, u64),
        moves: &[(usize, ShardLocation, ShardLocation)],
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
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_round_trip_even_with_odd_object_keys() {
        for key in ["a", "", "with\0nul", "ünïcode/%20 x"] {
            let s = SegmentKey {
                bucket: "b".into(),
                key: key.into(),
                part: 3,
                segment: 70_000,
            };
            assert_eq!(SegmentKey::from_bytes(&s.to_bytes()).unwrap(), s);
        }
    }

    fn segment(key: &str) -> SegmentKey {
        SegmentKey {
            bucket: "b".into(),
            key: key.into(),
            part: 0,
            segment: 0,
        }
    }

    #[test]
    fn the_rebalance_queue_keeps_first_queue_times() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open(&dir.path().join("meta.redb")).unwrap();
        meta.update_rebalance_queue(&[segment("late")], &[], 20)
            .unwrap();
        meta.update_rebalance_queue(&[segment("early")], &[], 10)
            .unwrap();
        // Queued again later: keeps its place.
        meta.update_rebalance_queue(&[segment("late"), segment("early")], &[], 30)
            .unwrap();
        assert_eq!(
            meta.rebalance_queue().unwrap(),
            [segment("early"), segment("late")]
        );
        meta.update_rebalance_queue(&[], &[segment("early")], 40)
            .unwrap();
        assert_eq!(meta.rebalance_queue().unwrap(), [segment("late")]);
        // Survives reopening (the gateway restarting).
        drop(meta);
        let meta = MetaStore::open(&dir.path().join("meta.redb")).unwrap();
        assert_eq!(meta.rebalance_queue().unwrap(), [segment("late")]);
    }

    #[test]
    fn bad_shard_keys_round_trip() {
        let node = vec![7u8; 38];
        let k = bad_key(&node, &[9; 32]);
        assert_eq!(split_bad_key(&k), Some((node, [9; 32])));
        assert_eq!(split_bad_key(&k[1..]), None);
    }
}
