//! Doubling up: where a shard goes when every node that could take it
//! under the rules already holds a shard of its segment.
//!
//! Each such shard goes to the candidate with room that minimises, in
//! order: the shards of the segment on the node, then in its subnet (with
//! the subnet rule on), then in its region, then the most free space left;
//! ties go to the better rendezvous rank. So two shards share a node only
//! once every eligible node holds one, and the extra shards spread over the
//! least loaded regions and the emptiest nodes.

use crate::Cluster;
use crate::rendezvous::{Rank, rank_candidate};

/// Shards of one segment per node, subnet and region, and the free space
/// this plan has already used on each candidate.
#[derive(Clone, Debug, Default)]
pub(crate) struct Loads {
    /// (node index, shards on it).
    nodes: Vec<(u32, usize)>,
    /// (subnet index, shards in it).
    subnets: Vec<(u32, usize)>,
    /// (region index, shards in it).
    regions: Vec<(u32, usize)>,
    /// (candidate index, bytes this plan puts on it).
    spent: Vec<(u32, u64)>,
}

/// The shards of a segment around one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeLoad {
    /// On the node.
    pub(crate) node: usize,
    /// In its subnet (the node itself with the subnet rule off).
    pub(crate) subnet: usize,
}

fn get<K: PartialEq + Copy, V: Copy + Default>(list: &[(K, V)], key: K) -> V {
    list.iter()
        .find(|(k, _)| *k == key)
        .map_or_else(V::default, |&(_, v)| v)
}

fn bump<K: PartialEq + Copy, V: Copy + std::ops::AddAssign>(list: &mut Vec<(K, V)>, key: K, by: V) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => *v += by,
        None => list.push((key, by)),
    }
}

impl Loads {
    /// Counts one shard on node `n` (an index into `Cluster::nodes`).
    pub(crate) fn add(&mut self, cluster: &Cluster, n: u32) {
        bump(&mut self.nodes, n, 1);
        bump(&mut self.subnets, cluster.node_subnet[n as usize], 1);
        bump(&mut self.regions, cluster.node_region[n as usize], 1);
    }

    /// Records `len` more bytes going to candidate `c`.
    pub(crate) fn spend(&mut self, c: u32, len: u64) {
        bump(&mut self.spent, c, len);
    }

    /// The shards on and around node `n`.
    pub(crate) fn of(&self, cluster: &Cluster, n: u32) -> NodeLoad {
        NodeLoad {
            node: get(&self.nodes, n),
            subnet: get(&self.subnets, cluster.node_subnet[n as usize]),
        }
    }
}

/// How a doubling-up candidate compares (less is better): shards of the
/// segment on the node, in its subnet, in its region, then most room.
type Preference = (usize, usize, usize, std::cmp::Reverse<u64>);

impl Cluster {
    /// The candidate (from `ranks`, best first) that the next doubled-up
    /// shard of `len` bytes should go to, or `None` if none has room.
    /// Never the node `avoid` (the shard's own holder: going back there is
    /// a rewrite in place, not a doubling).
    pub(crate) fn least_loaded(
        &self,
        ranks: &[Rank],
        loads: &Loads,
        len: u64,
        avoid: Option<usize>,
    ) -> Option<u32> {
        let mut best: Option<(u32, Preference)> = None;
        for &rank in ranks {
            let c = rank_candidate(rank);
            if avoid == Some(self.cand.node[c as usize] as usize) {
                continue;
            }
            let room = self.cand.free[c as usize].saturating_sub(get(&loads.spent, c));
            if room < len {
                continue;
            }
            let n = self.cand.node[c as usize];
            let around = loads.of(self, n);
            let subnet = if self.policy.distinct_subnets {
                around.subnet
            } else {
                0
            };
            let key = (
                around.node,
                subnet,
                get(&loads.regions, self.cand.region[c as usize]),
                std::cmp::Reverse(room),
            );
            if best.as_ref().is_none_or(|(_, b)| key < *b) {
                best = Some((c, key));
            }
        }
        best.map(|(c, _)| c)
    }
}
