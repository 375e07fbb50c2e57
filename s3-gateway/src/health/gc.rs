//! Garbage collection and lease renewal: asks every answering node for the
//! shards it keeps for this gateway (nodes list by owner), renews the
//! leases of those a manifest or uploaded part references (a node deletes
//! copies whose owner lets the lease run out), and deletes those that no
//! manifest or uploaded part references: copies left on a node that was
//! dead while its shards were rebuilt elsewhere, on a disqualified node,
//! or by deletes that the node missed.
//!
//! Safety against racing writes: the reference set is read after the pass
//! starts, so anything committed before is in it; shards being written, or
//! written shortly before (their manifest may commit just after the
//! snapshot), are spared (`Health::protected`). When gateways share the
//! store, another gateway may be writing a shard this one has never heard
//! of: a shard is then deleted only once it has been seen unreferenced for
//! `collect_grace` (longer than any write takes).

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;
use mesh::ShardId;
use mesh::net::MeshClient;
use mesh::wire::MAX_RENEW;

use super::{Health, NodeState, checker};

/// Shards listed per request.
const PAGE: u32 = 1000;

/// Shards seen unreferenced, by node: when first and last seen so.
pub type Unreferenced = HashMap<(Vec<u8>, [u8; 32]), (Instant, Instant)>;

/// One pass over every node that answers. Returns how many shards were
/// deleted.
pub async fn collect(health: &Health, mesh: &MeshClient, seen: &mut Unreferenced) -> u64 {
    let since = Instant::now();
    let refs = match checker::references(health).await {
        Ok(refs) => refs,
        Err(e) => {
            tracing::warn!(error = %e, "garbage collection: cannot read references");
            return 0;
        }
    };
    let mut deleted = 0;
    for node in health.node_ids() {
        if matches!(health.state(&node), NodeState::Dead | NodeState::Suspect) {
            continue;
        }
        let Ok(peer) = PeerId::from_bytes(&node) else {
            continue;
        };
        let mut client = mesh.shards();
        let mut after = None;
        let mut garbage = Vec::new();
        let mut keep = Vec::new();
        loop {
            let (ids, more) = match client.list(peer, after, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::debug!(node = %peer, error = %e, "garbage collection: cannot list");
                    break;
                }
            };
            after = ids.last().map(|(id, _)| *id);
            for (id, _) in ids {
                if refs.contains(&(node.clone(), id.0)) {
                    keep.push(id);
                } else if !health.protected(&id.0, since)
                    && old_enough(health, seen, &node, id.0, since)
                {
                    garbage.push(id);
                }
            }
            if !more || after.is_none() {
                break;
            }
        }
        for batch in keep.chunks(MAX_RENEW) {
            match client.renew(peer, batch).await {
                Ok(missing) => {
                    if !missing.is_empty() {
                        tracing::debug!(node = %peer, shards = missing.len(), "renewing: the node no longer holds some shards");
                    }
                    let renewed = (batch.len() - missing.len()) as u64;
                    health.metrics().renewed_shards.inc_by(renewed);
                }
                Err(e) => {
                    tracing::warn!(node = %peer, error = %e, "cannot renew the leases of this gateway's shards");
                    break;
                }
            }
        }
        for id in garbage {
            if health.protected(&id.0, since) {
                continue;
            }
            match client.delete(peer, ShardId(id.0)).await {
                Ok(()) => {
                    deleted += 1;
                    health.metrics().collected_shards.inc();
                }
                Err(e) => {
                    tracing::debug!(node = %peer, shard = %id, error = %e, "garbage collection: delete failed")
                }
            }
        }
    }
    // Forget what was not seen unreferenced in this pass (referenced by
    // now, or deleted).
    seen.retain(|_, (_, last)| *last >= since);
    if deleted > 0 {
        tracing::info!(
            shards = deleted,
            "garbage collection deleted unreferenced shards"
        );
    }
    deleted
}

/// Collects every `gc_every` forever (run as a task).
pub async fn run(health: Health, mesh: MeshClient) {
    let mut tick = tokio::time::interval(health.config().gc_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut seen = Unreferenced::new();
    loop {
        tick.tick().await;
        if health.leads() {
            collect(&health, &mesh, &mut seen).await;
        } else {
            seen.clear();
        }
    }
}

/// Whether an unreferenced shard may go: always when this gateway is the
/// only writer; with a shared store, once it has been unreferenced for
/// `collect_grace`. Records the sighting either way.
fn old_enough(
    health: &Health,
    seen: &mut Unreferenced,
    node: &[u8],
    id: [u8; 32],
    now: Instant,
) -> bool {
    let config = health.config();
    if !config.shared_store {
        return true;
    }
    let (first, last) = seen.entry((node.to_vec(), id)).or_insert((now, now));
    *last = now;
    now.duration_since(*first) >= config.collect_grace
}
