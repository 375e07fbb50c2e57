//! Repair: takes queued segments riskiest first (fewest healthy shards),
//! fetches k healthy shards, rebuilds exactly the lost ones (Reed-Solomon,
//! no decryption: the gateway never needs the plaintext to repair), places
//! them with `placement::plan_repair_with`, uploads them, and swaps them
//! into the manifest in one transaction that first checks the object is
//! still the version that was repaired. If it is not (overwritten or
//! deleted meanwhile), the new copies are deleted again. Upload bandwidth
//! is held under `repair_rate`.
//!
//! Repair never leaves redundancy on the table: a lost shard goes to a node
//! that holds nothing of its segment if one is left; else back onto the
//! node whose copy went bad, if that node is otherwise healthy (the bad copy
//! is deleted first, since a node does not store a shard id it already
//! holds); else onto the least loaded node that holds a shard of the
//! segment already (reduced diversity). Such segments are queued for
//! rebalancing, which moves the doubled-up shards to nodes of their own
//! once nodes join, by the same upload-then-swap, after the repair queue
//! (the riskiest work first, rebalancing last).
//!
//! A read that finds a bad shard queues its segment at once
//! ([`queue_now`]) and wakes the loop.
//!
//! The queues live in the metadata store, so a restarted gateway resumes
//! them; a crash between upload and manifest swap leaves only unreferenced
//! copies, which garbage collection removes.

mod run;
mod segment;

pub use run::run;
pub use segment::{rebalance_one, repair_one};

use super::Health;
use super::registry::now_ms;
use crate::data::DataError;
use crate::meta::{MetaError, SegmentKey, SegmentLayout};

/// Why a segment could not be repaired this time.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// Metadata.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Fetching, rebuilding, placing or storing.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Rebuilt bytes do not hash to the recorded id: the fetched shards
    /// were inconsistent.
    #[error("a rebuilt shard does not match its id")]
    Mismatch,
}

/// What one repair or rebalance attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Repaired {
    /// Shards were rebuilt (or copied) and moved: (shards, bytes uploaded).
    Moved(usize, u64),
    /// Nothing to do (healed, gone, or above the threshold now).
    Nothing,
    /// The object changed meanwhile; the new copies were dropped.
    Raced,
    /// Rebalancing only: no node is free to take a doubled-up shard yet.
    NoRoom,
}

/// Queues segment `at` for repair now, if its healthy shards (of `layout`,
/// `k` needed) are at or below the repair threshold, and wakes the repair
/// loop. Called by a read that found one of its shards bad; the metadata
/// write runs in the background, so this returns at once.
pub fn queue_now(health: &Health, at: SegmentKey, layout: &SegmentLayout, k: usize) {
    let total = layout.shards.len();
    let healthy = layout
        .shards
        .iter()
        .filter(|s| health.node_holds(&s.node) && !health.is_bad(&s.node, &s.id))
        .count();
    if healthy >= total || healthy > health.config().threshold(k, total) {
        return;
    }
    tracing::info!(
        bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment,
        healthy, "a read found a bad shard; segment queued for repair"
    );
    let health = health.clone();
    tokio::spawn(async move {
        match health
            .meta()
            .update_repair_queue(&[(at, healthy as u8)], &[], now_ms())
            .await
        {
            Ok(()) => health.wake_repair(),
            Err(e) => tracing::warn!(error = %e, "cannot queue a segment for repair"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::metrics::GatewayMetrics;
    use crate::health::HealthConfig;
    use crate::meta::{MetaStore, ShardLocation};

    fn layout() -> SegmentLayout {
        SegmentLayout {
            plain_len: 1000,
            shards: (0..6u8)
                .map(|i| ShardLocation {
                    id: [i + 1; 32],
                    node: vec![i + 1; 8],
                })
                .collect(),
        }
    }

    fn at() -> SegmentKey {
        SegmentKey {
            bucket: "b".into(),
            key: "k".into(),
            part: 0,
            segment: 3,
        }
    }

    #[tokio::test]
    async fn a_read_that_finds_a_bad_shard_queues_its_segment_and_wakes_repair() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open_redb(&dir.path().join("meta.redb")).unwrap();
        let health = Health::load(HealthConfig::devnet(), meta.clone(), GatewayMetrics::new())
            .await
            .unwrap();
        let layout = layout();
        // Nothing bad: nothing queued.
        queue_now(&health, at(), &layout, 4);
        assert!(
            tokio::time::timeout(
                std::time::Duration::from_millis(200),
                health.repair_wanted()
            )
            .await
            .is_err()
        );
        assert!(meta.repair_queue().await.unwrap().is_empty());
        // One bad copy: queued with five healthy shards, and the loop woken.
        health.mark_bad(&layout.shards[2].node, &layout.shards[2].id);
        queue_now(&health, at(), &layout, 4);
        tokio::time::timeout(std::time::Duration::from_secs(5), health.repair_wanted())
            .await
            .expect("the repair loop is woken");
        let queue = meta.repair_queue().await.unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].0, at());
        assert_eq!(queue[0].1.healthy, 5);
    }

    #[tokio::test]
    async fn above_the_threshold_nothing_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open_redb(&dir.path().join("meta.redb")).unwrap();
        let config = HealthConfig {
            repair_threshold: Some(4),
            ..HealthConfig::devnet()
        };
        let health = Health::load(config, meta.clone(), GatewayMetrics::new())
            .await
            .unwrap();
        let layout = layout();
        health.mark_bad(&layout.shards[0].node, &layout.shards[0].id);
        queue_now(&health, at(), &layout, 4);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(meta.repair_queue().await.unwrap().is_empty());
    }
}
