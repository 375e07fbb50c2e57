//! Choosing the nodes for a new segment's shards.

use crate::select::{Request, Tally};
use crate::{Cluster, NodeId, PlacementError, RegionShortfall};

/// Where a segment's shards go.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// `nodes[i]` receives shard `i`; `k + m` distinct nodes, best-ranked
    /// first.
    pub nodes: Vec<NodeId>,
    /// Whether losing any single region still leaves at least `k` shards
    /// (no region holds more than `m`).
    pub region_tolerant: bool,
    /// Why not, when `region_tolerant` is false.
    pub shortfall: Option<RegionShortfall>,
}

impl Cluster {
    /// Chooses `k + m` nodes for the shards of the segment identified by
    /// `key`, each shard being `shard_len` bytes.
    ///
    /// Rules, in order:
    /// 1. only alive nodes with reputation at or above the floor and at least
    ///    `shard_len` free bytes;
    /// 2. never two shards on one node, nor (with
    ///    [`Policy::distinct_subnets`](crate::Policy::distinct_subnets)) two
    ///    in one subnet;
    /// 3. at most `m` shards per region, so losing any one region leaves at
    ///    least `k`. When the nodes allow no such placement the result is
    ///    still a valid placement under rules 1 and 2, with the busiest region
    ///    as small as the greedy can make it, `region_tolerant == false`
    ///    and a [`RegionShortfall`] saying why. This is exact when every
    ///    subnet lies within one region; see the crate docs;
    /// 4. among the rest, weighted rendezvous order: more free capacity and
    ///    lower RTT rank higher, per the policy weights;
    /// 5. deterministic in the inputs (not in their order), and adding or
    ///    removing a node changes few placements.
    ///
    /// Fails with [`PlacementError::NotEnoughNodes`] when fewer than `k + m`
    /// distinct eligible nodes (distinct subnets, with the subnet rule on)
    /// exist, and with [`PlacementError::InvalidShape`] when `k == 0`.
    pub fn place(
        &self,
        key: &[u8],
        k: usize,
        m: usize,
        shard_len: u64,
    ) -> Result<Placement, PlacementError> {
        if k == 0 {
            return Err(PlacementError::InvalidShape { k, m });
        }
        let req = Request {
            key,
            want: k + m,
            shards: k + m,
            m,
            shard_len,
            base: Tally::default(),
            excluded: &[],
        };
        let sel = self.select(&req)?;
        Ok(Placement {
            nodes: sel
                .chosen
                .iter()
                .map(|&c| self.nodes[self.cand.node[c as usize] as usize].id.clone())
                .collect(),
            region_tolerant: sel.shortfall.is_none(),
            shortfall: sel.shortfall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Health, NodeInfo, Policy};

    /// `per_region` nodes in each named region, each in its own subnet.
    fn cluster(regions: &[(&str, usize)], policy: Policy) -> Cluster {
        let mut nodes = Vec::new();
        for (r, n) in regions {
            for i in 0..*n {
                nodes.push(NodeInfo::new(
                    format!("{r}-{i}").as_str(),
                    *r,
                    format!("{r}/{i}"),
                    1 << 40,
                ));
            }
        }
        Cluster::new(nodes, policy).unwrap()
    }

    fn region_counts(c: &Cluster, p: &Placement) -> Vec<usize> {
        let mut counts = vec![0; c.regions().len()];
        for id in &p.nodes {
            let r = &c.node(id).unwrap().region;
            counts[c.regions().iter().position(|x| x == r).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn tolerant_when_possible() {
        let c = cluster(&[("a", 10), ("b", 10), ("c", 10)], Policy::default());
        for key in 0u32..200 {
            let p = c.place(&key.to_le_bytes(), 4, 2, 1 << 20).unwrap();
            assert_eq!(p.nodes.len(), 6);
            assert!(p.region_tolerant);
            assert!(p.shortfall.is_none());
            assert!(region_counts(&c, &p).iter().all(|&n| n <= 2));
        }
    }

    #[test]
    fn best_effort_when_regions_too_few() {
        // Two regions can hold at most 2 + 2 = 4 of 6 shards under the cap.
        let c = cluster(&[("a", 10), ("b", 10)], Policy::default());
        let p = c.place(b"seg", 4, 2, 1).unwrap();
        assert_eq!(p.nodes.len(), 6);
        assert!(!p.region_tolerant);
        let s = p.shortfall.unwrap();
        assert_eq!(s.max_in_one_region, 3, "busiest region kept minimal");
        assert_eq!(s.max_allowed, 2);
        assert_eq!(s.regions_used, 2);
        assert_eq!(s.eligible_regions, 2);
        assert!(s.to_string().contains("not region-tolerant"), "{s}");
    }

    #[test]
    fn lopsided_regions_fill_the_small_one_first() {
        // a has plenty, b only one node: tolerant needs a <= 2, b <= 2: 3 < 6.
        let c = cluster(&[("a", 10), ("b", 1)], Policy::default());
        let p = c.place(b"seg", 4, 2, 1).unwrap();
        assert_eq!(region_counts(&c, &p), [5, 1]);
        assert!(!p.region_tolerant);
    }

    #[test]
    fn m_zero_is_never_tolerant() {
        let c = cluster(&[("a", 5), ("b", 5)], Policy::default());
        let p = c.place(b"seg", 2, 0, 1).unwrap();
        assert_eq!(p.nodes.len(), 2);
        assert_eq!(region_counts(&c, &p), [1, 1]);
        assert!(!p.region_tolerant);
    }

    #[test]
    fn errors_when_too_few_nodes_or_subnets() {
        let c = cluster(&[("a", 3), ("b", 2)], Policy::default());
        assert_eq!(
            c.place(b"seg", 4, 2, 1),
            Err(PlacementError::NotEnoughNodes {
                needed: 6,
                eligible: 5,
                subnets: true
            })
        );
        // Everyone in one subnet: only one shard possible with the rule on.
        let nodes: Vec<_> = (0..8)
            .map(|i| NodeInfo::new(format!("n{i}").as_str(), "local", "127.0.0.0/24", 1 << 30))
            .collect();
        let on = Cluster::new(nodes.clone(), Policy::default()).unwrap();
        let err = on.place(b"seg", 4, 2, 1).unwrap_err();
        assert_eq!(
            err,
            PlacementError::NotEnoughNodes {
                needed: 6,
                eligible: 1,
                subnets: true
            }
        );
        assert!(err.to_string().contains("distinct subnets"), "{err}");
        let off = Cluster::new(nodes, Policy::devnet()).unwrap();
        let p = off.place(b"seg", 4, 2, 1).unwrap();
        assert_eq!(p.nodes.len(), 6);
        assert!(!p.region_tolerant);
    }

    #[test]
    fn skips_ineligible() {
        let nodes = vec![
            NodeInfo::new("dead", "a", "1", 1 << 30).with_health(Health::Dead),
            NodeInfo::new("suspect", "a", "2", 1 << 30).with_health(Health::Suspect),
            NodeInfo::new("shady", "a", "3", 1 << 30).with_reputation(0.5),
            NodeInfo::new("full", "a", "4", 10),
            NodeInfo::new("ok", "a", "5", 1 << 30),
        ];
        let c = Cluster::new(nodes, Policy::default()).unwrap();
        let p = c.place(b"seg", 1, 0, 100).unwrap();
        assert_eq!(p.nodes, [NodeId::from("ok")]);
        assert!(matches!(
            c.place(b"seg", 2, 0, 100),
            Err(PlacementError::NotEnoughNodes { eligible: 1, .. })
        ));
    }

    #[test]
    fn falls_back_to_the_full_order_when_the_top_is_one_region() {
        // 300 huge nodes in "big" outrank everything; the tolerant choice
        // needs the small regions, which sit far down the order.
        let mut nodes = Vec::new();
        for i in 0..300 {
            nodes.push(NodeInfo::new(
                format!("big-{i}").as_str(),
                "big",
                format!("b{i}"),
                1 << 50,
            ));
        }
        for r in ["s1", "s2"] {
            for i in 0..2 {
                nodes.push(NodeInfo::new(
                    format!("{r}-{i}").as_str(),
                    r,
                    format!("{r}/{i}"),
                    1 << 21,
                ));
            }
        }
        let c = Cluster::new(nodes, Policy::default()).unwrap();
        for key in 0u32..20 {
            let p = c.place(&key.to_le_bytes(), 4, 2, 1 << 20).unwrap();
            assert!(p.region_tolerant);
            assert_eq!(region_counts(&c, &p), [2, 2, 2]);
        }
    }

    #[test]
    fn k_zero_is_rejected() {
        let c = cluster(&[("a", 3)], Policy::default());
        assert_eq!(
            c.place(b"x", 0, 2, 1),
            Err(PlacementError::InvalidShape { k: 0, m: 2 })
        );
    }

    #[test]
    fn different_keys_spread() {
        let c = cluster(&[("a", 20), ("b", 20), ("c", 20)], Policy::default());
        let a = c.place(b"one", 4, 2, 1).unwrap();
        let b = c.place(b"two", 4, 2, 1).unwrap();
        assert_ne!(a.nodes, b.nodes);
        assert_eq!(a, c.place(b"one", 4, 2, 1).unwrap());
    }
}
