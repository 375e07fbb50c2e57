//! Repair: takes queued segments riskiest first, fetches k healthy shards,
//! rebuilds exactly the lost ones (Reed-Solomon, no decryption: the gateway
//! never needs the plaintext to repair), places them with
//! `placement::plan_repair` away from the segment's other nodes, uploads
//! them, and swaps them into the manifest in one transaction that first
//! checks the object is still the version that was repaired. If it is not
//! (overwritten or deleted meanwhile), the new copies are deleted again.
//! Upload bandwidth is held under `repair_rate`.
//!
//! The queue lives in the metadata store, so a restarted gateway resumes
//! it; a crash between upload and manifest swap leaves only unreferenced
//! copies, which garbage collection removes.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use libp2p::PeerId;
use mesh::ShardId;
use mesh::codec::{EncodedSegment, Scheme};
use placement::NodeId;

use super::checker::shard_len;
use super::registry::now_ms;
use crate::data::{DataError, DataPath};
use crate::meta::{MetaError, SegmentKey, ShardLocation};

/// Segments repaired at the same time.
const REPAIRS_IN_FLIGHT: usize = 4;

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

/// What one repair attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Repaired {
    /// The lost shards were rebuilt and moved: (shards, bytes uploaded).
    Moved(usize, u64),
    /// Nothing to do (healed, gone, or above the threshold now).
    Nothing,
    /// The object changed while repairing; the new copies were dropped.
    Raced,
}

/// Repairs one queued segment.
pub async fn repair_one(data: &DataPath, at: &SegmentKey) -> Result<Repaired, RepairError> {
    let health = data.health();
    let meta = health.meta();
    let Some(object) = meta.object(&at.bucket, &at.key)? else {
        return Ok(Repaired::Nothing);
    };
    let Some(layout) = object
        .parts
        .get(at.part as usize)
        .and_then(|p| p.segments.get(at.segment as usize))
        .cloned()
    else {
        return Ok(Repaired::Nothing);
    };
    let scheme = Scheme {
        k: object.k as usize,
        m: object.m as usize,
    };
    let total = layout.shards.len();
    let healthy: Vec<usize> = (0..total)
        .filter(|&i| {
            let s = &layout.shards[i];
            health.node_holds(&s.node) && !health.is_bad(&s.node, &s.id)
        })
        .collect();
    let lost: Vec<usize> = (0..total).filter(|i| !healthy.contains(i)).collect();
    if lost.is_empty() || healthy.len() > health.config().threshold(scheme.k, total) {
        return Ok(Repaired::Nothing);
    }
    // Somewhere to put them first: no fetching for a segment that cannot
    // be placed yet.
    let len = shard_len(layout.plain_len, object.k);
    let ids: Vec<ShardId> = layout.shards.iter().map(|s| ShardId(s.id)).collect();
    let current: Vec<Option<NodeId>> = layout
        .shards
        .iter()
        .map(|s| (!s.node.is_empty()).then(|| NodeId::new(s.node.clone())))
        .collect();
    let plan = data
        .nodes()
        .cluster()
        .plan_repair(&ids[0].0, scheme.k, scheme.m, &current, &lost, len)
        .map_err(DataError::from)?;
    // Fetch k shards, from the healthy ones first, then from any holder
    // that still answers (a dead node may be back).
    let (mut slots, got) = data.fetch_shards(&layout, healthy, scheme.k).await?;
    let mut got = got;
    if got < scheme.k {
        let (more, extra) = data
            .fetch_shards(&layout, lost.clone(), scheme.k - got)
            .await?;
        for (i, s) in more.into_iter().enumerate() {
            if s.is_some() && slots[i].is_none() {
                slots[i] = s;
            }
        }
        got += extra;
    }
    if got < scheme.k {
        return Err(DataError::Unavailable {
            got,
            need: scheme.k,
        }
        .into());
    }
    // Lost copies that were fetched anyway (verified) are used as they are;
    // only the others are rebuilt.
    let missing: Vec<usize> = lost
        .iter()
        .copied()
        .filter(|&i| slots[i].is_none())
        .collect();
    let codec = data.codec(scheme)?;
    let fetched = slots.clone();
    let missing2 = missing.clone();
    let rebuilt = tokio::task::spawn_blocking(move || codec.rebuild(&slots, &missing2))
        .await
        .expect("rebuilding does not panic")
        .map_err(DataError::from)?;
    for (bytes, &i) in rebuilt.iter().zip(&missing) {
        if ShardId::of(bytes) != ids[i] {
            return Err(RepairError::Mismatch);
        }
    }
    // An encoded segment holding only the lost shards at their indices.
    let mut shards = vec![bytes::Bytes::new(); total];
    for (bytes, &i) in rebuilt.into_iter().zip(&missing) {
        shards[i] = bytes;
    }
    for &i in &lost {
        if let Some(bytes) = &fetched[i] {
            shards[i] = bytes.clone();
        }
    }
    let segment = EncodedSegment {
        plain_len: layout.plain_len as usize,
        shard_len: len as usize,
        shards,
        ids: ids.clone(),
    };
    let lost_ids: Vec<ShardId> = lost.iter().map(|&i| ids[i]).collect();
    health.writing(&lost_ids);
    let failed = data.upload(&segment, plan.assignments.clone()).await;
    let outcome = finish(data, at, &object, &layout, &plan.assignments, failed, len).await;
    health.written(&lost_ids);
    outcome
}

/// Swaps the uploaded shards into the manifest (or drops them).
async fn finish(
    data: &DataPath,
    at: &SegmentKey,
    object: &crate::meta::ObjectMeta,
    layout: &crate::meta::SegmentLayout,
    assignments: &[(usize, NodeId)],
    failed: Result<Vec<usize>, DataError>,
    len: u64,
) -> Result<Repaired, RepairError> {
    let health = data.health();
    let failed = failed?;
    let moves: Vec<(usize, ShardLocation, ShardLocation)> = assignments
        .iter()
        .filter(|(i, _)| !failed.contains(i))
        .map(|(i, node)| {
            (
                *i,
                layout.shards[*i].clone(),
                ShardLocation {
                    id: layout.shards[*i].id,
                    node: node.as_bytes().to_vec(),
                },
            )
        })
        .collect();
    if moves.is_empty() {
        return Err(DataError::Store(mesh::net::ClientError::Unexpected(
            "no rebuilt shard could be stored",
        ))
        .into());
    }
    let moved = {
        let (meta, at, etag, modified, moves) = (
            health.meta().clone(),
            at.clone(),
            object.etag.clone(),
            object.last_modified,
            moves.clone(),
        );
        tokio::task::spawn_blocking(move || meta.move_shards(&at, (&etag, modified), &moves))
            .await
            .expect("the metadata update does not panic")?
    };
    let mesh = data.mesh().clone();
    if !moved {
        // The object changed: the copies just made belong to nothing.
        for (_, _, to) in &moves {
            if let Ok(peer) = PeerId::from_bytes(&to.node) {
                let _ = mesh.shards().delete(peer, ShardId(to.id)).await;
            }
        }
        return Ok(Repaired::Raced);
    }
    let cleared: Vec<(Vec<u8>, [u8; 32])> = moves
        .iter()
        .map(|(_, from, _)| (from.node.clone(), from.id))
        .collect();
    health.clear_bad(&cleared);
    // Best effort: drop the old copies where their nodes still answer (a
    // bad copy, or one on a disqualified node). Garbage collection catches
    // the rest when dead nodes return.
    tokio::spawn(async move {
        for (node, id) in cleared {
            if let Ok(peer) = PeerId::from_bytes(&node) {
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    mesh.shards().delete(peer, ShardId(id)),
                )
                .await;
            }
        }
    });
    let bytes = len * moves.len() as u64;
    let metrics = health.metrics();
    metrics.repaired_bytes.inc_by(bytes);
    metrics.repaired_shards.inc_by(moves.len() as u64);
    tracing::info!(
        bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment,
        shards = moves.len(), "segment repaired"
    );
    Ok(Repaired::Moved(moves.len(), bytes))
}

/// Works through the queue forever (run as a task): riskiest segment
/// first, pausing as needed to stay under `repair_rate`.
pub async fn run(data: DataPath) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let health = data.health().clone();
    let rate = health.config().repair_rate.max(1) as f64;
    let mut started = Instant::now();
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    loop {
        let queue = match health.meta().repair_queue() {
            Ok(queue) => queue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the repair queue");
                Vec::new()
            }
        };
        health.metrics().repair_queue.set(queue.len() as i64);
        if queue.is_empty() {
            // Idle: the rate limit measures from the next repair on.
            started = Instant::now();
            sent.store(0, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let mut progressed = false;
        // A few segments at once: fetching, rebuilding and uploading
        // overlap, and one slow node does not hold up the queue. The rate
        // limit holds back the start of the next repair, never one that is
        // uploading (a stalled upload would be cut as slow).
        let mut attempts = futures_util::stream::iter(queue)
            .map(|(at, _)| {
                let (data, sent) = (data.clone(), sent.clone());
                async move {
                    let due = Duration::from_secs_f64(sent.load(Ordering::Relaxed) as f64 / rate);
                    let elapsed = started.elapsed();
                    if due > elapsed {
                        tokio::time::sleep(due - elapsed).await;
                    }
                    let outcome = repair_one(&data, &at).await;
                    if let Ok(Repaired::Moved(_, bytes)) = &outcome {
                        sent.fetch_add(*bytes, Ordering::Relaxed);
                    }
                    (at, outcome)
                }
            })
            .buffer_unordered(REPAIRS_IN_FLIGHT);
        while let Some((at, outcome)) = attempts.next().await {
            let done = match &outcome {
                Ok(Repaired::Moved(..)) => {
                    progressed = true;
                    true
                }
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment, error = %e, "repair failed; will retry");
                    false
                }
            };
            if done {
                let meta = health.meta().clone();
                let result = tokio::task::spawn_blocking(move || {
                    meta.update_repair_queue(&[], &[at], now_ms())
                })
                .await;
                if let Ok(Err(e)) = result {
                    tracing::warn!(error = %e, "cannot update the repair queue");
                }
            }
        }
        drop(attempts);
        if !progressed {
            // Nothing could be done (no node to place on, too few shards
            // reachable): wait before trying the same segments again.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}
