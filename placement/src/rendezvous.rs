//! Weighted rendezvous (highest-random-weight) ranking of candidates.
//!
//! For a placement key and candidate `i` with weight `w_i`, let `u_i` be a
//! uniform number in `(0, 1)` derived from a hash of (key, node id). The
//! candidate's score is `-ln(u_i) / w_i`, an exponential variable with rate
//! `w_i`; ranking candidates by ascending score is the same as drawing them
//! one by one without replacement with probability proportional to weight.
//! Because a candidate's score depends only on the key and that candidate,
//! adding or removing one node moves only the placements that node enters or
//! leaves.
//!
//! Ranks are packed into a `u128`: the score's bits (scores are positive, so
//! their IEEE bits sort like the numbers) above the candidate index, which
//! breaks exact ties by node id.

use std::collections::BinaryHeap;

use crate::Cluster;
use crate::hash::{KEY_SEED, hash_bytes, pair, unit};

/// A candidate's rank for one key: score bits above candidate index.
pub(crate) type Rank = u128;

/// Candidate index of a rank.
#[inline]
pub(crate) fn rank_candidate(rank: Rank) -> u32 {
    rank as u32
}

/// Hashes a placement key.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    hash_bytes(KEY_SEED, key)
}

/// The rank of candidate `c` with uniform draw `u` and inverse weight `inv_w`.
#[inline]
fn rank(u: f64, inv_w: f64, c: usize) -> Rank {
    let score = -u.ln() * inv_w;
    (u128::from(score.to_bits()) << 32) | c as u128
}

/// Slightly below 1: `(1 - u) * SLACK` is a lower bound of the computed
/// `-ln(u)` even allowing for the last-bit error of `ln`.
const SLACK: f64 = 1.0 - 1.0 / (1u64 << 40) as f64;

impl Cluster {
    /// Candidates with room for a shard of `shard_len` bytes, as
    /// (candidate index, uniform draw for this key, inverse weight).
    #[inline]
    fn draws(&self, key_hash: u64, shard_len: u64) -> impl Iterator<Item = (usize, f64, f64)> {
        let cand = &self.cand;
        cand.hash
            .iter()
            .zip(&cand.inv_weight)
            .zip(&cand.free)
            .enumerate()
            .filter(move |(_, (_, free))| **free >= shard_len)
            .map(move |(c, ((&h, &inv_w), _))| (c, unit(pair(key_hash, h)), inv_w))
    }

    /// The `limit` best-ranked candidates with room for the shard, best first.
    ///
    /// Exactly the first `limit` entries of [`Cluster::all_ranks`], but the
    /// logarithm is skipped for a candidate whose lower bound
    /// `(1 - u) / w <= -ln(u) / w` already ranks it below the current worst
    /// of the kept ones, which is nearly every candidate once the heap is
    /// full.
    pub(crate) fn top_ranks(&self, key_hash: u64, shard_len: u64, limit: usize) -> Vec<Rank> {
        if limit == 0 {
            return Vec::new();
        }
        let mut heap: BinaryHeap<Rank> = BinaryHeap::with_capacity(limit);
        let mut worst_rank = Rank::MAX;
        let mut worst_score = f64::INFINITY;
        for (c, u, inv_w) in self.draws(key_hash, shard_len) {
            if (1.0 - u) * SLACK * inv_w > worst_score {
                continue;
            }
            let r = rank(u, inv_w, c);
            if heap.len() < limit {
                heap.push(r);
            } else if r < worst_rank {
                *heap.peek_mut().expect("full heap") = r;
            } else {
                continue;
            }
            if heap.len() == limit {
                worst_rank = *heap.peek().expect("full heap");
                worst_score = f64::from_bits((worst_rank >> 32) as u64);
            }
        }
        heap.into_sorted_vec()
    }

    /// Every candidate with room for the shard, best first.
    pub(crate) fn all_ranks(&self, key_hash: u64, shard_len: u64) -> Vec<Rank> {
        let mut all: Vec<Rank> = self
            .draws(key_hash, shard_len)
            .map(|(c, u, inv_w)| rank(u, inv_w, c))
            .collect();
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeInfo, Policy};

    fn cluster(n: usize) -> Cluster {
        let nodes = (0..n)
            .map(|i| NodeInfo::new(format!("node-{i}").as_str(), "r", format!("s{i}"), 1 << 30));
        Cluster::new(nodes, Policy::default()).unwrap()
    }

    #[test]
    fn top_is_prefix_of_all() {
        let c = cluster(500);
        for key in 0u32..20 {
            let kh = key_hash(&key.to_le_bytes());
            let all = c.all_ranks(kh, 1);
            assert_eq!(all.len(), 500);
            let top = c.top_ranks(kh, 1, 40);
            assert_eq!(top[..], all[..40]);
            assert_eq!(c.top_ranks(kh, 1, 1000), all);
        }
    }

    #[test]
    fn free_space_filters() {
        let nodes = vec![
            NodeInfo::new("a", "r", "1", 10),
            NodeInfo::new("b", "r", "2", 100),
        ];
        let c = Cluster::new(nodes, Policy::default()).unwrap();
        let ranks = c.all_ranks(key_hash(b"k"), 50);
        assert_eq!(ranks.len(), 1);
        assert_eq!(rank_candidate(ranks[0]), 1);
    }

    #[test]
    fn first_choice_follows_weights() {
        // Equal weights: each of 4 nodes is first for about a quarter of keys.
        let c = cluster(4);
        let mut first = [0u32; 4];
        for key in 0u32..8000 {
            let top = c.top_ranks(key_hash(&key.to_le_bytes()), 1, 1);
            first[rank_candidate(top[0]) as usize] += 1;
        }
        for f in first {
            assert!((1800..2200).contains(&f), "{first:?}");
        }
    }
}
