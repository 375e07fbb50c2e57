//! The reusable view of the nodes a gateway knows, precomputed for fast
//! placement.

use crate::hash::{NODE_SEED, hash_bytes};
use crate::policy::MIN_RTT;
use crate::{Health, NodeId, NodeInfo, PlacementError, Policy};

/// A snapshot of the known nodes under one [`Policy`], ready for many
/// placement decisions.
///
/// Building it sorts the nodes by id, interns regions and subnets as small
/// integers, and precomputes for every node that may receive new shards
/// (alive, reputation at or above the floor) its 64-bit id hash and its
/// rendezvous weight. [`Cluster::place`] then costs one hash mix and one
/// logarithm per candidate. Rebuild it when membership or measurements change.
///
/// Nothing depends on the order the nodes were given in.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub(crate) policy: Policy,
    /// All nodes, sorted by id.
    pub(crate) nodes: Vec<NodeInfo>,
    /// Region index of each node (parallel to `nodes`).
    pub(crate) node_region: Vec<u32>,
    /// Subnet index of each node; with the subnet rule off, the node's own
    /// index, so that only the node itself conflicts with itself.
    pub(crate) node_subnet: Vec<u32>,
    /// Distinct region names, sorted; a region index points in here.
    pub(crate) regions: Vec<String>,
    /// Candidates (nodes that may receive new shards), in id order.
    pub(crate) cand: Candidates,
    /// Per region index, the distinct subnets among its candidates (the
    /// candidates themselves with the subnet rule off).
    pub(crate) region_slots: Vec<u32>,
}

/// Structure-of-arrays over the candidate nodes; index `c` is candidate `c`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Candidates {
    /// Index into `Cluster::nodes`.
    pub(crate) node: Vec<u32>,
    /// Hash of the node id.
    pub(crate) hash: Vec<u64>,
    /// `1 / weight`, normalised so the heaviest candidate has 1.
    pub(crate) inv_weight: Vec<f64>,
    /// Free bytes.
    pub(crate) free: Vec<u64>,
    /// Region index.
    pub(crate) region: Vec<u32>,
    /// Subnet index (see `Cluster::node_subnet`).
    pub(crate) subnet: Vec<u32>,
}

impl Cluster {
    /// Builds the view. Fails if the policy is invalid or an id repeats.
    pub fn new(
        nodes: impl IntoIterator<Item = NodeInfo>,
        policy: Policy,
    ) -> Result<Self, PlacementError> {
        policy.validate()?;
        let mut nodes: Vec<NodeInfo> = nodes.into_iter().collect();
        nodes.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        if let Some(w) = nodes.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(PlacementError::DuplicateNode(w[0].id.clone()));
        }
        assert!(
            u32::try_from(nodes.len()).is_ok(),
            "more than u32::MAX nodes"
        );

        let mut regions: Vec<String> = nodes.iter().map(|n| n.region.clone()).collect();
        regions.sort_unstable();
        regions.dedup();
        let node_region: Vec<u32> = nodes
            .iter()
            .map(|n| regions.binary_search(&n.region).expect("interned") as u32)
            .collect();

        let node_subnet: Vec<u32> = if policy.distinct_subnets {
            let mut by_subnet: Vec<u32> = (0..nodes.len() as u32).collect();
            by_subnet
                .sort_unstable_by(|&a, &b| nodes[a as usize].subnet.cmp(&nodes[b as usize].subnet));
            let mut out = vec![0u32; nodes.len()];
            let mut next = 0u32;
            for (pos, &i) in by_subnet.iter().enumerate() {
                if pos > 0 && nodes[by_subnet[pos - 1] as usize].subnet != nodes[i as usize].subnet
                {
                    next += 1;
                }
                out[i as usize] = next;
            }
            out
        } else {
            (0..nodes.len() as u32).collect()
        };

        let mut cand = Candidates::default();
        let mut ln_weights = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            if !is_candidate(n, &policy) {
                continue;
            }
            cand.node.push(i as u32);
            cand.hash.push(hash_bytes(NODE_SEED, n.id.as_bytes()));
            cand.free.push(n.free_bytes);
            cand.region.push(node_region[i]);
            cand.subnet.push(node_subnet[i]);
            ln_weights.push(ln_weight(n, &policy));
        }
        let max_ln = ln_weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        cand.inv_weight = ln_weights
            .iter()
            .map(|&lw| (max_ln - lw).exp().min(f64::MAX))
            .collect();

        let mut pairs: Vec<(u32, u32)> = cand
            .region
            .iter()
            .copied()
            .zip(cand.subnet.iter().copied())
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut region_slots = vec![0u32; regions.len()];
        for (r, _) in pairs {
            region_slots[r as usize] += 1;
        }

        Ok(Self {
            policy,
            region_slots,
            nodes,
            node_region,
            node_subnet,
            regions,
            cand,
        })
    }

    /// The policy this view was built with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// All known nodes, sorted by id.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// Number of known nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is known.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of nodes that may receive new shards (alive, reputation at or
    /// above the floor), before the per-request free-space check.
    pub fn candidate_count(&self) -> usize {
        self.cand.node.len()
    }

    /// The distinct regions of the known nodes, sorted.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// Looks a node up by id.
    pub fn node(&self, id: &NodeId) -> Option<&NodeInfo> {
        self.index_of(id).map(|i| &self.nodes[i])
    }

    /// Index of a node in `self.nodes`.
    pub(crate) fn index_of(&self, id: &NodeId) -> Option<usize> {
        self.nodes.binary_search_by(|n| n.id.cmp(id)).ok()
    }

    /// Candidate index of a node, if it is a candidate.
    pub(crate) fn candidate_of(&self, node_index: usize) -> Option<u32> {
        self.cand
            .node
            .binary_search(&(node_index as u32))
            .ok()
            .map(|c| c as u32)
    }
}

/// Rule 1 minus the per-request free-space check.
fn is_candidate(n: &NodeInfo, policy: &Policy) -> bool {
    // `>=` is false for a NaN reputation, which is what we want.
    n.health == Health::Alive && n.reputation >= policy.reputation_floor
}

/// Natural log of a candidate's rendezvous weight.
fn ln_weight(n: &NodeInfo, policy: &Policy) -> f64 {
    let mut lw = 0.0;
    if policy.capacity_weight > 0.0 {
        lw += policy.capacity_weight * (n.free_bytes.max(1) as f64).ln();
    }
    if policy.latency_weight > 0.0 {
        let rtt = n.rtt.unwrap_or(policy.unknown_rtt).max(MIN_RTT);
        lw -= policy.latency_weight * rtt.as_secs_f64().ln();
    }
    lw
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn node(id: &str, region: &str, subnet: &str) -> NodeInfo {
        NodeInfo::new(id, region, subnet, 1 << 30)
    }

    #[test]
    fn rejects_duplicate_ids() {
        let err = Cluster::new(
            vec![
                node("a", "r", "s1"),
                node("b", "r", "s2"),
                node("a", "q", "s3"),
            ],
            Policy::default(),
        )
        .unwrap_err();
        assert_eq!(err, PlacementError::DuplicateNode(NodeId::from("a")));
    }

    #[test]
    fn filters_candidates_and_interns() {
        let nodes = vec![
            node("c", "eu", "10.0.0.0/24"),
            node("a", "us", "10.0.1.0/24"),
            node("b", "eu", "10.0.0.0/24").with_health(Health::Suspect),
            node("d", "ap", "10.0.2.0/24").with_reputation(0.1),
            node("e", "ap", "10.0.3.0/24").with_reputation(f64::NAN),
        ];
        let c = Cluster::new(nodes, Policy::default()).unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c.candidate_count(), 2);
        assert_eq!(c.regions(), ["ap", "eu", "us"]);
        let ids: Vec<_> = c.nodes().iter().map(|n| n.id.to_string()).collect();
        assert_eq!(ids, ["61", "62", "63", "64", "65"]);
        // b and c share a subnet.
        assert_eq!(c.node_subnet[1], c.node_subnet[2]);
        assert_ne!(c.node_subnet[0], c.node_subnet[1]);
        assert!(c.node(&NodeId::from("d")).is_some());
        assert!(c.node(&NodeId::from("z")).is_none());
    }

    #[test]
    fn weights_follow_policy() {
        let nodes = vec![
            node("a", "r", "1").with_rtt(Duration::from_millis(10)),
            node("b", "r", "2").with_rtt(Duration::from_millis(40)),
        ];
        let policy = Policy {
            latency_weight: 1.0,
            capacity_weight: 0.0,
            ..Policy::default()
        };
        let c = Cluster::new(nodes, policy).unwrap();
        assert!((c.cand.inv_weight[0] - 1.0).abs() < 1e-12);
        assert!((c.cand.inv_weight[1] - 4.0).abs() < 1e-9);
    }
}
