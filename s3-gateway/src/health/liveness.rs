//! Liveness: every `heartbeat`, each known node is sent a `Stat` request
//! over the mesh; an answer within `heartbeat_timeout` plus twice the
//! node's measured round trip marks it seen (a far but healthy node is
//! never late for being far). A
//! frozen node (its port open, nothing answering) times out just like a
//! dead one. Nodes that come back are heard by the next heartbeat and are
//! alive again at once.

use std::collections::HashMap;

use libp2p::PeerId;
use mesh::net::MeshClient;

use super::{Health, NodeState};
use crate::data::nodes::NodeView;

/// One heartbeat round: asks every known node at once.
pub async fn beat(health: &Health, nodes: &NodeView, mesh: &MeshClient) {
    let mut ids = health.node_ids();
    for info in nodes.cluster().nodes() {
        if !ids.iter().any(|id| id.as_slice() == info.id.as_bytes()) {
            health.know(info.id.as_bytes());
            ids.push(info.id.as_bytes().to_vec());
        }
    }
    let timeout = health.config().heartbeat_timeout;
    let mut tasks = Vec::new();
    for id in ids {
        let Ok(peer) = PeerId::from_bytes(&id) else {
            continue;
        };
        let timeout = super::allow_for_rtt(timeout, mesh.rtt(&peer));
        let mut client = mesh.shards();
        tasks.push(tokio::spawn(async move {
            let ok = matches!(
                tokio::time::timeout(timeout, client.stat(peer)).await,
                Ok(Ok(_))
            );
            (id, ok)
        }));
    }
    for task in tasks {
        if let Ok((id, true)) = task.await {
            let before = health.state(&id);
            health.seen(&id);
            if before == NodeState::Dead {
                tracing::info!(node = %super::peer_name(&id), was = before.as_str(), "node answers again");
            }
        }
    }
    let mut by_state: HashMap<&'static str, u64> =
        ["alive", "suspended", "suspect", "dead", "disqualified"]
            .into_iter()
            .map(|s| (s, 0))
            .collect();
    for report in health.report() {
        *by_state.entry(report.state.as_str()).or_default() += 1;
    }
    for (state, count) in by_state {
        health.metrics().set_nodes(state, count);
    }
}

/// Beats every `heartbeat` forever (run as a task); also persists changed
/// audit histories.
pub async fn run(health: Health, nodes: NodeView, mesh: MeshClient) {
    let mut tick = tokio::time::interval(health.config().heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        beat(&health, &nodes, &mesh).await;
        nodes.rebuild();
        health.persist().await;
    }
}
