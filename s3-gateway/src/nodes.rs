//! The gateway's view of the storage nodes: discovered through the DHT,
//! dialled, weighed by ping RTT, and handed to placement.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use libp2p::PeerId;
use libp2p::multiaddr::Protocol;
use mesh::net::{MeshClient, NodeRecord};
use placement::{Cluster, NodeInfo, Policy, Subnet};

use crate::health::{Health, NodeState};

/// The nodes a gateway currently knows, as a placement view.
#[derive(Clone)]
pub struct NodeView {
    mesh: MeshClient,
    health: Health,
    policy: Policy,
    current: Arc<RwLock<Arc<Cluster>>>,
    records: Arc<RwLock<Vec<NodeRecord>>>,
    count: Arc<RwLock<usize>>,
}

impl NodeView {
    /// An empty view over `mesh`, placing with `policy`, weighing nodes by
    /// their state and audit score in `health`.
    pub fn new(mesh: MeshClient, policy: Policy, health: Health) -> Self {
        let empty = Cluster::new(Vec::new(), policy.clone()).expect("an empty cluster is valid");
        Self {
            mesh,
            health,
            policy,
            current: Arc::new(RwLock::new(Arc::new(empty))),
            records: Default::default(),
            count: Arc::new(RwLock::new(0)),
        }
    }

    /// The latest placement view.
    pub fn cluster(&self) -> Arc<Cluster> {
        self.current.read().expect("not poisoned").clone()
    }

    /// Nodes in the latest view.
    pub fn len(&self) -> usize {
        *self.count.read().expect("not poisoned")
    }

    /// Whether no node is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks the nodes up in the DHT, dials new ones, and rebuilds the view.
    pub async fn refresh(&self, dialled: &mut HashSet<PeerId>) {
        let records = match self.mesh.find_nodes().await {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(error = %e, "node discovery failed");
                return;
            }
        };
        for record in &records {
            let Ok(peer) = record.peer() else { continue };
            // New nodes, and known ones not connected (restarted, or back
            // from an outage), are dialled.
            if dialled.insert(peer) || self.mesh.rtt(&peer).is_none() {
                for addr in record.multiaddrs() {
                    let full = addr.with(Protocol::P2p(peer));
                    if self.mesh.dial(&full).await.is_ok() {
                        break;
                    }
                }
            }
        }
        {
            // Merge: a node missing from one lookup stays known (its health
            // decides whether it gets shards), a newer record replaces an
            // older one.
            let mut known = self.records.write().expect("not poisoned");
            for record in records {
                match known
                    .iter_mut()
                    .find(|r| r.peer().ok() == record.peer().ok())
                {
                    Some(old) => *old = record,
                    None => known.push(record),
                }
            }
        }
        self.rebuild();
    }

    /// Rebuilds the placement view from the known records with the latest
    /// health and RTTs (run after every heartbeat).
    pub fn rebuild(&self) {
        let records = self.records.read().expect("not poisoned").clone();
        let infos: Vec<NodeInfo> = records
            .iter()
            .filter_map(|record| Some(self.info(record.peer().ok()?, record)))
            .collect();
        match Cluster::new(infos, self.policy.clone()) {
            Ok(cluster) => {
                *self.count.write().expect("not poisoned") = records.len();
                *self.current.write().expect("not poisoned") = Arc::new(cluster);
            }
            Err(e) => tracing::warn!(error = %e, "cannot build the placement view"),
        }
    }

    fn info(&self, peer: PeerId, record: &NodeRecord) -> NodeInfo {
        let subnet = record
            .multiaddrs()
            .iter()
            .find_map(|a| {
                a.iter().find_map(|p| match p {
                    Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
                    Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
                    _ => None,
                })
            })
            .map_or_else(|| Subnet::new(peer.to_string()), Subnet::from_ip);
        let mut info = NodeInfo::new(peer.to_bytes(), record.region.clone(), subnet, record.free);
        if let Some(rtt) = self.mesh.rtt(&peer) {
            info = info.with_rtt(rtt);
        }
        let id = peer.to_bytes();
        self.health.know(&id);
        let state = self.health.state(&id);
        let reputation = match state {
            NodeState::Disqualified => 0.0,
            _ => self.health.reputation(&id),
        };
        info.with_health(state.placement_health())
            .with_reputation(reputation)
    }

    /// The region and RTT of `node`, if it is in the view.
    pub fn region_of(&self, node: &[u8]) -> Option<(String, Option<Duration>)> {
        let cluster = self.cluster();
        let info = cluster.node(&placement::NodeId::new(node.to_vec()))?;
        Some((info.region.clone(), info.rtt))
    }

    /// Refreshes every `period` forever (run as a task).
    pub async fn keep_fresh(self, period: Duration) {
        let mut dialled = HashSet::new();
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            self.refresh(&mut dialled).await;
        }
    }
}
