//! One segment's repair or rebalance: plan, gather the shards' bytes
//! (fetched, or rebuilt from k others), upload, swap into the manifest.

use std::time::Duration;

use bytes::Bytes;
use libp2p::PeerId;
use mesh::ShardId;
use mesh::codec::{EncodedSegment, Scheme};
use mesh::net::ClientError;
use mesh::wire::ErrorCode;
use placement::{Fallbacks, NodeId, RepairPlan, RepairRequest};

use super::{RepairError, Repaired};
use crate::data::{DELETE_DELAY, DataError, DataPath};
use crate::health::checker::shard_len;
use crate::health::peer_name;
use crate::meta::{ObjectMeta, SegmentKey, SegmentLayout, ShardLocation};

/// The segment at `at` in its current manifest, with the object.
async fn load(
    data: &DataPath,
    at: &SegmentKey,
) -> Result<Option<(ObjectMeta, SegmentLayout)>, RepairError> {
    let Some(object) = data.health().meta().object(&at.bucket, &at.key).await? else {
        return Ok(None);
    };
    let layout = object
        .parts
        .get(at.part as usize)
        .and_then(|p| p.segments.get(at.segment as usize))
        .cloned();
    Ok(layout.map(|layout| (object, layout)))
}

/// Shard indices of `layout` that still count: the node holds it and the
/// copy is not known bad.
fn healthy(data: &DataPath, layout: &SegmentLayout) -> Vec<usize> {
    let health = data.health();
    (0..layout.shards.len())
        .filter(|&i| {
            let s = &layout.shards[i];
            health.node_holds(&s.node) && !health.is_bad(&s.node, &s.id)
        })
        .collect()
}

/// The nodes of `layout` as placement sees them.
fn current(layout: &SegmentLayout) -> Vec<Option<NodeId>> {
    layout
        .shards
        .iter()
        .map(|s| (!s.node.is_empty()).then(|| NodeId::new(s.node.clone())))
        .collect()
}

/// Whether every shard of the segment has its own bytes (a replicated
/// segment's copies share one id, and a node keeps one copy of an id).
fn distinct_ids(layout: &SegmentLayout) -> bool {
    let shards = &layout.shards;
    shards
        .iter()
        .enumerate()
        .all(|(i, a)| shards[i + 1..].iter().all(|b| b.id != a.id))
}

/// Repairs one queued segment: rebuilds its lost shards and places them,
/// on fresh nodes if any are left, else back where a copy went bad, else
/// doubled up (see the module docs).
pub async fn repair_one(data: &DataPath, at: &SegmentKey) -> Result<Repaired, RepairError> {
    let Some((object, layout)) = load(data, at).await? else {
        return Ok(Repaired::Nothing);
    };
    let scheme = Scheme {
        k: object.k as usize,
        m: object.m as usize,
    };
    let total = layout.shards.len();
    let healthy = healthy(data, &layout);
    let lost: Vec<usize> = (0..total).filter(|i| !healthy.contains(i)).collect();
    if lost.is_empty() || healthy.len() > data.health().config().threshold(scheme.k, total) {
        return Ok(Repaired::Nothing);
    }
    // Somewhere to put them first: no fetching for a segment that cannot
    // be placed yet.
    let len = shard_len(layout.plain_len, object.k);
    let current = current(&layout);
    let plan = data
        .nodes()
        .cluster()
        .plan_repair_with(&RepairRequest {
            key: &layout.shards[0].id,
            k: scheme.k,
            m: scheme.m,
            current: &current,
            lost: &lost,
            shard_len: len,
            fallbacks: Fallbacks {
                rewrite_in_place: true,
                double_up: distinct_ids(&layout),
            },
        })
        .map_err(DataError::from)?;
    if !plan.unplaced.is_empty() {
        tracing::warn!(
            bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment,
            shards = plan.unplaced.len(), "no node can take some lost shards yet"
        );
    }
    // Fetch k shards, from the healthy ones first, then from any holder
    // that still answers (a dead node may be back).
    let (mut slots, mut got) = data.fetch_shards(&layout, healthy, scheme.k, None).await?;
    if got < scheme.k {
        let (more, extra) = data
            .fetch_shards(&layout, lost.clone(), scheme.k - got, None)
            .await?;
        merge(&mut slots, more);
        got += extra;
    }
    if got < scheme.k {
        return Err(DataError::Unavailable {
            got,
            need: scheme.k,
        }
        .into());
    }
    let segment = complete(data, scheme, &layout, len, slots, &plan).await?;
    if plan.reduces_diversity() {
        tracing::info!(
            bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment,
            doubled = ?plan.doubled, shared_subnet = ?plan.shared_subnet,
            "too few nodes: repairing with reduced diversity"
        );
    }
    store(data, at, &object, &layout, &segment, &plan, Kind::Repair).await
}

/// Spreads out one segment whose shards doubled up on some node: moves the
/// extra shards to nodes that hold none of it, when there are such nodes.
pub async fn rebalance_one(data: &DataPath, at: &SegmentKey) -> Result<Repaired, RepairError> {
    let Some((object, layout)) = load(data, at).await? else {
        return Ok(Repaired::Nothing);
    };
    let total = layout.shards.len();
    // A segment missing shards is the repair's (which comes first).
    if !crate::health::checker::doubled_up(&layout) || healthy(data, &layout).len() < total {
        return Ok(Repaired::Nothing);
    }
    let scheme = Scheme {
        k: object.k as usize,
        m: object.m as usize,
    };
    let len = shard_len(layout.plain_len, object.k);
    let plan = data
        .nodes()
        .cluster()
        .plan_spread(
            &layout.shards[0].id,
            scheme.k,
            scheme.m,
            &current(&layout),
            len,
        )
        .map_err(DataError::from)?;
    if plan.assignments.is_empty() {
        return Ok(Repaired::NoRoom);
    }
    // The moving shards themselves, straight from their nodes; whatever
    // cannot be fetched is rebuilt from k others.
    let moving: Vec<usize> = plan.assignments.iter().map(|(i, _)| *i).collect();
    let (mut slots, mut got) = data
        .fetch_shards(&layout, moving.clone(), moving.len(), None)
        .await?;
    if got < moving.len() && got < scheme.k {
        let others: Vec<usize> = (0..total).filter(|i| slots[*i].is_none()).collect();
        let (more, extra) = data
            .fetch_shards(&layout, others, scheme.k - got, None)
            .await?;
        merge(&mut slots, more);
        got += extra;
        if got < scheme.k {
            return Err(DataError::Unavailable {
                got,
                need: scheme.k,
            }
            .into());
        }
    }
    let segment = complete(data, scheme, &layout, len, slots, &plan).await?;
    store(data, at, &object, &layout, &segment, &plan, Kind::Rebalance).await
}

/// Fills the empty slots of `slots` from `more`.
fn merge(slots: &mut [Option<Bytes>], more: Vec<Option<Bytes>>) {
    for (slot, s) in slots.iter_mut().zip(more) {
        if slot.is_none() {
            *slot = s;
        }
    }
}

/// An encoded segment holding the bytes of the plan's shards at their
/// indices: fetched copies (verified) as they are, the others rebuilt from
/// the fetched shards (at least k of them) and checked against their ids.
async fn complete(
    data: &DataPath,
    scheme: Scheme,
    layout: &SegmentLayout,
    len: u64,
    slots: Vec<Option<Bytes>>,
    plan: &RepairPlan,
) -> Result<EncodedSegment, RepairError> {
    let ids: Vec<ShardId> = layout.shards.iter().map(|s| ShardId(s.id)).collect();
    let wanted: Vec<usize> = plan.assignments.iter().map(|(i, _)| *i).collect();
    let missing: Vec<usize> = wanted
        .iter()
        .copied()
        .filter(|&i| slots[i].is_none())
        .collect();
    let mut shards = vec![Bytes::new(); layout.shards.len()];
    for &i in &wanted {
        if let Some(bytes) = &slots[i] {
            shards[i] = bytes.clone();
        }
    }
    if !missing.is_empty() {
        let codec = data.codec(scheme)?;
        let which = missing.clone();
        let rebuilt = tokio::task::spawn_blocking(move || codec.rebuild(&slots, &which))
            .await
            .expect("rebuilding does not panic")
            .map_err(DataError::from)?;
        for (bytes, &i) in rebuilt.into_iter().zip(&missing) {
            if ShardId::of(&bytes) != ids[i] {
                return Err(RepairError::Mismatch);
            }
            shards[i] = bytes;
        }
    }
    Ok(EncodedSegment {
        plain_len: layout.plain_len as usize,
        shard_len: len as usize,
        shards,
        ids,
    })
}

/// What a swap was for (the metrics and logs differ).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Repair,
    Rebalance,
}

/// Uploads the plan's shards (rewrites in place replace the bad copy
/// first), then swaps the stored ones into the manifest, or drops them if
/// the object changed meanwhile.
async fn store(
    data: &DataPath,
    at: &SegmentKey,
    object: &ObjectMeta,
    layout: &SegmentLayout,
    segment: &EncodedSegment,
    plan: &RepairPlan,
    kind: Kind,
) -> Result<Repaired, RepairError> {
    let health = data.health();
    let (in_place, elsewhere): (Vec<_>, Vec<_>) = plan
        .assignments
        .iter()
        .cloned()
        .partition(|(i, _)| plan.in_place.contains(i));
    let ids: Vec<ShardId> = plan
        .assignments
        .iter()
        .map(|(i, _)| segment.ids[*i])
        .collect();
    health.writing(&ids);
    let (uploaded, rewritten) = futures_util::join!(
        data.upload(segment, elsewhere),
        rewrite_in_place(data, segment, in_place)
    );
    let outcome = async {
        let mut failed = uploaded?;
        failed.extend(rewritten);
        finish(
            data,
            at,
            object,
            layout,
            plan,
            &failed,
            segment.shard_len as u64,
            kind,
        )
        .await
    }
    .await;
    health.written(&ids);
    outcome
}

/// Writes each shard back onto the node that held a bad copy of it: the
/// bad copy is deleted first (the node would otherwise answer "already
/// stored" and keep it), then the shard is put. Returns the indices that
/// failed.
async fn rewrite_in_place(
    data: &DataPath,
    segment: &EncodedSegment,
    targets: Vec<(usize, NodeId)>,
) -> Vec<usize> {
    let mut failed = Vec::new();
    for (i, node) in targets {
        let Ok(peer) = PeerId::from_bytes(node.as_bytes()) else {
            failed.push(i);
            continue;
        };
        let id = segment.ids[i];
        let mut client = data.mesh().shards();
        match client.delete(peer, id).await {
            Ok(()) => {}
            // Already gone (the node's scrubber removed it).
            Err(ClientError::Remote {
                code: ErrorCode::NotFound,
                ..
            }) => {}
            Err(e) => {
                tracing::warn!(node = %peer_name(node.as_bytes()), shard = %id, error = %e, "cannot remove a bad copy to replace it");
                failed.push(i);
                continue;
            }
        }
        match client.put(peer, id, &segment.shards[i]).await {
            Ok(false) => {
                data.health().metrics().shards_written.inc();
            }
            Ok(true) => {
                tracing::warn!(node = %peer_name(node.as_bytes()), shard = %id, "the node still holds a copy; not replaced");
                failed.push(i);
            }
            Err(e) => {
                tracing::warn!(node = %peer_name(node.as_bytes()), shard = %id, error = %e, "rewriting a shard in place failed");
                failed.push(i);
            }
        }
    }
    failed
}

/// Swaps the stored shards into the manifest (or drops them).
#[allow(clippy::too_many_arguments)]
async fn finish(
    data: &DataPath,
    at: &SegmentKey,
    object: &ObjectMeta,
    layout: &SegmentLayout,
    plan: &RepairPlan,
    failed: &[usize],
    len: u64,
    kind: Kind,
) -> Result<Repaired, RepairError> {
    let health = data.health();
    let moves: Vec<(usize, ShardLocation, ShardLocation)> = plan
        .assignments
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
        return Err(
            DataError::Store(ClientError::Unexpected("no rebuilt shard could be stored")).into(),
        );
    }
    let moved = health
        .meta()
        .move_shards(at, (&object.etag, object.last_modified), &moves)
        .await?;
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
    let mut after = layout.shards.clone();
    for (i, _, to) in &moves {
        after[*i] = to.clone();
    }
    let cleared: Vec<(Vec<u8>, [u8; 32])> = moves
        .iter()
        .map(|(_, from, _)| (from.node.clone(), from.id))
        .collect();
    health.clear_bad(&cleared);
    // Best effort: drop the old copies where their nodes still answer (a
    // bad copy, a doubled-up shard's old place, or a copy on a
    // disqualified node), unless the manifest still names that very copy
    // (rewritten in place). Garbage collection catches the rest when dead
    // nodes return.
    let stale: Vec<(Vec<u8>, [u8; 32])> = cleared
        .into_iter()
        .filter(|(node, id)| !after.iter().any(|s| &s.node == node && &s.id == id))
        .collect();
    tokio::spawn(async move {
        if kind == Kind::Rebalance {
            // The old copies are good: a read that started on the old
            // manifest may still want them.
            tokio::time::sleep(DELETE_DELAY).await;
        }
        for (node, id) in stale {
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
    match kind {
        Kind::Repair => {
            metrics.repaired_bytes.inc_by(bytes);
            metrics.repaired_shards.inc_by(moves.len() as u64);
            tracing::info!(
                bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment,
                shards = moves.len(), in_place = plan.in_place.len(), "segment repaired"
            );
        }
        Kind::Rebalance => {
            metrics.rebalanced_shards.inc_by(moves.len() as u64);
            tracing::info!(
                bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment,
                shards = moves.len(), "doubled-up shards spread out"
            );
        }
    }
    Ok(Repaired::Moved(moves.len(), bytes))
}
