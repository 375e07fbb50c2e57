//! Where a compute task runs: on the node that already holds the most of
//! its input.
//!
//! With systematic Reed-Solomon a data shard is plain ciphertext of a slice
//! of its segment, so a node holding data shards decodes with the least
//! work; data shard bytes count twice, parity bytes once. Ties go to the
//! node with more of the input's other holders in its region (the shards it
//! must fetch are nearer), then to the node with more free slots, then to
//! the lower id (so the choice is deterministic).

use std::collections::HashMap;

use crate::NodeId;

/// A compute node as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComputeNode {
    /// Its identity.
    pub id: NodeId,
    /// Its region.
    pub region: String,
    /// Task slots it has free (offered minus what this gateway runs there).
    pub free_slots: usize,
}

/// One shard of a task's input: who holds it, its length, and whether it
/// is a data shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldShard {
    /// Its holder.
    pub holder: NodeId,
    /// Its holder's region, when known.
    pub region: Option<String>,
    /// Its length in bytes.
    pub len: u64,
    /// Whether its index is below `k`.
    pub data: bool,
}

/// A candidate's score for one task, best first when sorted descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    held: u64,
    near: usize,
    free: usize,
}

/// The compute nodes in `nodes` ranked for a task over `shards`, best first.
/// Nodes with no free slot and those in `exclude` are left out.
pub fn rank_for_task(
    nodes: &[ComputeNode],
    shards: &[HeldShard],
    exclude: &[NodeId],
) -> Vec<NodeId> {
    let mut held: HashMap<&NodeId, u64> = HashMap::new();
    let mut holders_in: HashMap<&str, usize> = HashMap::new();
    for shard in shards {
        let weight = if shard.data { 2 } else { 1 };
        *held.entry(&shard.holder).or_default() += shard.len * weight;
        if let Some(region) = &shard.region {
            *holders_in.entry(region).or_default() += 1;
        }
    }
    let mut scored: Vec<(Score, &NodeId)> = nodes
        .iter()
        .filter(|n| n.free_slots > 0 && !exclude.contains(&n.id))
        .map(|n| {
            let own = held.get(&n.id).copied().unwrap_or(0);
            let own_shards = shards.iter().filter(|s| s.holder == n.id).count();
            let near = holders_in
                .get(n.region.as_str())
                .copied()
                .unwrap_or(0)
                .saturating_sub(own_shards);
            let score = Score {
                held: own,
                near,
                free: n.free_slots,
            };
            (score, &n.id)
        })
        .collect();
    scored.sort_by(|(a, a_id), (b, b_id)| b.cmp(a).then_with(|| a_id.cmp(b_id)));
    scored.into_iter().map(|(_, id)| id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, region: &str, free: usize) -> ComputeNode {
        ComputeNode {
            id: NodeId::from(id),
            region: region.into(),
            free_slots: free,
        }
    }

    fn shard(holder: &str, region: &str, len: u64, data: bool) -> HeldShard {
        HeldShard {
            holder: NodeId::from(holder),
            region: Some(region.into()),
            len,
            data,
        }
    }

    #[test]
    fn the_holder_of_the_most_data_bytes_wins() {
        let nodes = [node("a", "r1", 2), node("b", "r1", 2), node("c", "r2", 2)];
        let shards = [
            shard("a", "r1", 100, false),
            shard("a", "r1", 100, false),
            shard("b", "r1", 150, true),
        ];
        // b: 300 (data counts twice) beats a: 200 of parity; c holds none.
        let ranked = rank_for_task(&nodes, &shards, &[]);
        assert_eq!(
            ranked,
            vec![NodeId::from("b"), NodeId::from("a"), NodeId::from("c")]
        );
    }

    #[test]
    fn ties_go_to_nearer_holders_then_free_slots_then_id() {
        let nodes = [node("x", "r2", 1), node("y", "r1", 1), node("z", "r1", 3)];
        let shards = [shard("h1", "r1", 10, true), shard("h2", "r1", 10, true)];
        let ranked = rank_for_task(&nodes, &shards, &[]);
        // Neither holds a shard; y and z are in the holders' region, z has
        // more free slots.
        assert_eq!(
            ranked,
            vec![NodeId::from("z"), NodeId::from("y"), NodeId::from("x")]
        );
        let even = [node("q", "r9", 1), node("p", "r9", 1)];
        assert_eq!(
            rank_for_task(&even, &shards, &[]),
            vec![NodeId::from("p"), NodeId::from("q")]
        );
    }

    #[test]
    fn busy_and_excluded_nodes_are_left_out() {
        let nodes = [node("a", "r1", 0), node("b", "r1", 1), node("c", "r1", 1)];
        let shards = [shard("a", "r1", 100, true), shard("b", "r1", 100, true)];
        assert_eq!(
            rank_for_task(&nodes, &shards, &[NodeId::from("b")]),
            vec![NodeId::from("c")]
        );
        assert!(rank_for_task(&[], &shards, &[]).is_empty());
    }
}
