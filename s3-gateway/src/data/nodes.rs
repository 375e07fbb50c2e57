//! The gateway's view of the storage nodes: discovered through the DHT,
//! dialled, admitted by a probe, weighed by ping RTT and by what each node
//! actually accepts from this gateway, and handed to placement.
//!
//! A node record is only the node's own claim. Before a node gets any
//! shard, the gateway must have reached it at an address it advertises (and
//! heard its pings there), stored a probe shard on it and had that probe
//! proven ([`probe`]); until then its free space counts as zero, so
//! placement passes it by (reads may still use it). The free space
//! placement weighs is capped by the node's signed usage report for this
//! gateway (its quota left here), fetched on every refresh, and set to zero
//! at once when the node refuses a put for quota or room.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::multiaddr::Protocol;
use mesh::ShardId;
use mesh::net::{ClientError, MeshClient, NodeRecord, SignedUsageReport, UsageReport};
use placement::{Cluster, NodeInfo, Policy, Subnet};

use crate::health::{Health, NodeState};

/// Length of a probe shard: above the nodes' inline limit, so the probe
/// exercises a real file write, fsync and proof from disk.
pub const PROBE_LEN: usize = 40 * 1024;
/// How long a probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon a node that failed its probe is probed again.
const PROBE_RETRY: Duration = Duration::from_secs(30);
/// How long a usage request may take.
const USAGE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A request failed.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The node's proof of the probe shard is wrong.
    #[error("the probe shard's proof does not verify: {0}")]
    Proof(#[from] proofs::VerifyError),
    /// The probe took too long.
    #[error("the probe timed out")]
    Timeout,
}

/// Stores a random probe shard on `peer`, challenges it, checks the proof
/// and deletes the probe again.
pub async fn probe(mesh: &MeshClient, health: &Health, peer: PeerId) -> Result<(), ProbeError> {
    let bytes: Vec<u8> = (0..PROBE_LEN).map(|_| rand::random::<u8>()).collect();
    let id = ShardId::of(&bytes);
    let len = bytes.len() as u64;
    // Garbage collection must not take the probe for junk meanwhile.
    health.writing(&[id]);
    let mut client = mesh.shards();
    let attempt = async {
        client.put(peer, id, &bytes).await?;
        let challenge = proofs::Challenge::random(id, len, 4);
        let proof = client.challenge(peer, &challenge).await;
        if let Err(e) = client.delete(peer, id).await {
            tracing::debug!(node = %peer, error = %e, "could not delete a probe shard");
        }
        proofs::verify(&id, len, &challenge, &proof?)?;
        Ok(())
    };
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, attempt)
        .await
        .unwrap_or(Err(ProbeError::Timeout));
    health.written(&[id]);
    outcome
}

/// The nodes a gateway currently knows, as a placement view.
#[derive(Clone)]
pub struct NodeView {
    mesh: MeshClient,
    health: Health,
    policy: Policy,
    current: Arc<RwLock<Arc<Cluster>>>,
    records: Arc<RwLock<Vec<NodeRecord>>>,
    admission: Arc<RwLock<Admission>>,
    usage: Arc<RwLock<HashMap<PeerId, Usage>>>,
}

/// Which nodes passed their probe, and when the others were last tried.
#[derive(Default)]
struct Admission {
    admitted: HashSet<PeerId>,
    tried: HashMap<PeerId, Instant>,
}

/// A node's latest usage report about this gateway, and when it came.
#[derive(Clone, Debug)]
pub struct Usage {
    /// The verified report.
    pub report: UsageReport,
    /// When it was fetched.
    pub at: Instant,
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
            admission: Default::default(),
            usage: Default::default(),
        }
    }

    /// The latest placement view.
    pub fn cluster(&self) -> Arc<Cluster> {
        self.current.read().expect("not poisoned").clone()
    }

    /// Nodes admitted (probed and proven): those that may get shards.
    pub fn len(&self) -> usize {
        self.admission.read().expect("not poisoned").admitted.len()
    }

    /// Whether no node is admitted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `peer` passed its probe.
    pub fn is_admitted(&self, peer: &PeerId) -> bool {
        self.admission
            .read()
            .expect("not poisoned")
            .admitted
            .contains(peer)
    }

    /// The latest usage report of `peer` about this gateway.
    pub fn usage_of(&self, peer: &PeerId) -> Option<Usage> {
        self.usage.read().expect("not poisoned").get(peer).cloned()
    }

    /// Looks the nodes up in the DHT, dials new ones, probes the ones not
    /// admitted yet, fetches the admitted ones' usage reports, and rebuilds
    /// the view.
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
        self.admit_new().await;
        self.fetch_usage().await;
        self.rebuild();
    }

    /// Probes the known nodes that are not admitted yet, are connected and
    /// answer pings (so their advertised address works), and were not
    /// tried in the last [`PROBE_RETRY`].
    async fn admit_new(&self) {
        let due: Vec<PeerId> = {
            let admission = self.admission.read().expect("not poisoned");
            self.records
                .read()
                .expect("not poisoned")
                .iter()
                .filter_map(|r| r.peer().ok())
                .filter(|peer| !admission.admitted.contains(peer))
                .filter(|peer| self.mesh.rtt(peer).is_some())
                .filter(|peer| {
                    admission
                        .tried
                        .get(peer)
                        .is_none_or(|at| at.elapsed() >= PROBE_RETRY)
                })
                .collect()
        };
        let probes = due
            .into_iter()
            .map(|peer| async move { (peer, probe(&self.mesh, &self.health, peer).await) });
        for (peer, outcome) in futures_util::future::join_all(probes).await {
            let mut admission = self.admission.write().expect("not poisoned");
            match outcome {
                Ok(()) => {
                    tracing::info!(node = %peer, "node admitted: it stored and proved a probe shard");
                    admission.admitted.insert(peer);
                    admission.tried.remove(&peer);
                }
                Err(e) => {
                    tracing::warn!(node = %peer, error = %e, "node not admitted: its probe failed; trying again later");
                    admission.tried.insert(peer, Instant::now());
                }
            }
        }
    }

    /// Fetches and verifies every admitted node's usage report about this
    /// gateway.
    async fn fetch_usage(&self) {
        let admitted: Vec<PeerId> = self
            .admission
            .read()
            .expect("not poisoned")
            .admitted
            .iter()
            .copied()
            .collect();
        let me = self.mesh.peer_id().to_bytes();
        let fetches = admitted.into_iter().map(|peer| {
            let mut client = self.mesh.shards();
            async move {
                let fetched = tokio::time::timeout(USAGE_TIMEOUT, client.usage(peer)).await;
                (peer, fetched)
            }
        });
        for (peer, fetched) in futures_util::future::join_all(fetches).await {
            let Ok(Ok(bytes)) = fetched else { continue };
            match SignedUsageReport::verify(&bytes) {
                Ok(report) if report.node == peer.to_bytes() && report.owner == me => {
                    self.usage.write().expect("not poisoned").insert(
                        peer,
                        Usage {
                            report,
                            at: Instant::now(),
                        },
                    );
                }
                Ok(_) => tracing::warn!(node = %peer, "a usage report names another node or owner"),
                Err(e) => {
                    tracing::warn!(node = %peer, error = %e, "a node sent an invalid usage report")
                }
            }
        }
    }

    /// A node refused a put from this gateway (quota, room, or not
    /// accepted): it takes no more shards until its next usage report says
    /// otherwise (or, if it no longer accepts this gateway at all, until it
    /// passes a new probe).
    pub fn note_refusal(&self, peer: PeerId, code: mesh::wire::ErrorCode) {
        use mesh::wire::ErrorCode;
        if code == ErrorCode::NotAccepted {
            let mut admission = self.admission.write().expect("not poisoned");
            admission.admitted.remove(&peer);
            admission.tried.insert(peer, Instant::now());
        }
        if let Some(usage) = self.usage.write().expect("not poisoned").get_mut(&peer) {
            usage.report.free_for_owner = 0;
        } else if code != ErrorCode::NotAccepted {
            // No report yet: remember the refusal as a report of no room.
            let report = UsageReport {
                node: peer.to_bytes(),
                owner: self.mesh.peer_id().to_bytes(),
                issued_at: 0,
                shards: 0,
                bytes_stored: 0,
                free_for_owner: 0,
                quota: 0,
                bytes_served: 0,
                bytes_received: 0,
                shard_seconds: 0,
                byte_seconds: 0,
            };
            self.usage.write().expect("not poisoned").insert(
                peer,
                Usage {
                    report,
                    at: Instant::now(),
                },
            );
        }
        tracing::info!(node = %peer, ?code, "a node refused a shard; placing elsewhere");
        self.rebuild();
    }

    /// Rebuilds the placement view from the known records with the latest
    /// health, RTTs, admissions and usage reports (run after every
    /// heartbeat).
    pub fn rebuild(&self) {
        let records = self.records.read().expect("not poisoned").clone();
        let infos: Vec<NodeInfo> = records
            .iter()
            .filter_map(|record| Some(self.info(record.peer().ok()?, record)))
            .collect();
        match Cluster::new(infos, self.policy.clone()) {
            Ok(cluster) => {
                *self.current.write().expect("not poisoned") = Arc::new(cluster);
            }
            Err(e) => tracing::warn!(error = %e, "cannot build the placement view"),
        }
    }

    /// What placement may count on from `peer`: nothing before its probe
    /// passed, then the free space it claims capped by what it says it
    /// still accepts from this gateway.
    fn free_for_us(&self, peer: &PeerId, record: &NodeRecord) -> u64 {
        if !self.is_admitted(peer) {
            return 0;
        }
        match self.usage.read().expect("not poisoned").get(peer) {
            Some(usage) => record.free.min(usage.report.free_for_owner),
            None => record.free,
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
        let free = self.free_for_us(&peer, record);
        let mut info = NodeInfo::new(peer.to_bytes(), record.region.clone(), subnet, free);
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

    /// The admitted nodes that run compute tasks, with their region and
    /// what they offer (disqualified nodes left out).
    pub fn compute_nodes(&self) -> Vec<(PeerId, String, mesh::compute::ComputeOffer)> {
        let records = self.records.read().expect("not poisoned");
        records
            .iter()
            .filter_map(|record| {
                let offer = record.compute?;
                let peer = record.peer().ok()?;
                let usable = self.is_admitted(&peer)
                    && !matches!(
                        self.health.state(&peer.to_bytes()),
                        NodeState::Disqualified | NodeState::Dead
                    );
                usable.then(|| (peer, record.region.clone(), offer))
            })
            .collect()
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
