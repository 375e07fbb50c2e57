//! Choosing new homes for a segment's lost shards.

use crate::select::{Request, Tally};
use crate::{Cluster, NodeId, PlacementError, RegionShortfall};

/// New homes for lost shards.
#[derive(Clone, Debug, PartialEq)]
pub struct RepairPlan {
    /// `(shard index, new node)`, sorted by shard index.
    pub assignments: Vec<(usize, NodeId)>,
    /// Whether, after the repair, losing any single region still leaves at
    /// least `k` shards (no region holds more than `m`, survivors included).
    pub region_tolerant: bool,
    /// Why not, when `region_tolerant` is false.
    pub shortfall: Option<RegionShortfall>,
}

impl Cluster {
    /// Chooses new nodes for the lost shards of a `k + m` segment.
    ///
    /// `current[i]` is the node that held shard `i` (`None` if it has none).
    /// The shards to re-place are those listed in `lost` plus any `None`
    /// entry. The same rules as [`Cluster::place`] apply, with the surviving
    /// shards counted: a new node never shares a subnet with a survivor
    /// (when the subnet rule is on), and survivors count toward each
    /// region's cap of `m`. No node that appears anywhere in `current`,
    /// lost shards' nodes included, is chosen. A surviving holder this
    /// cluster does not know is not counted against the caps (its region and
    /// subnet are unknown); if it is gone, list its shard in `lost`.
    ///
    /// Deterministic in `key` and the inputs: the new nodes are the
    /// best-ranked allowed nodes in the same rendezvous order as `place`,
    /// assigned to the lost shard indices in ascending order.
    ///
    /// Fails with [`PlacementError::NotEnoughNodes`] (`needed` = shards to
    /// re-place) when too few allowed nodes or subnets remain,
    /// [`PlacementError::ShapeMismatch`] when `current.len() != k + m`, and
    /// [`PlacementError::ShardIndexOutOfRange`] for a bad index in `lost`.
    pub fn plan_repair(
        &self,
        key: &[u8],
        k: usize,
        m: usize,
        current: &[Option<NodeId>],
        lost: &[usize],
        shard_len: u64,
    ) -> Result<RepairPlan, PlacementError> {
        if k == 0 {
            return Err(PlacementError::InvalidShape { k, m });
        }
        let shards = k + m;
        if current.len() != shards {
            return Err(PlacementError::ShapeMismatch {
                k,
                m,
                len: current.len(),
            });
        }
        let mut to_place = vec![false; shards];
        for &i in lost {
            if i >= shards {
                return Err(PlacementError::ShardIndexOutOfRange { index: i, shards });
            }
            to_place[i] = true;
        }

        let mut base = Tally::default();
        let mut excluded = Vec::new();
        for (i, holder) in current.iter().enumerate() {
            let Some(id) = holder else {
                to_place[i] = true;
                continue;
            };
            let Some(n) = self.index_of(id) else {
                continue;
            };
            if !to_place[i] {
                base.add(self.node_region[n], self.node_subnet[n]);
            }
            excluded.extend(self.candidate_of(n));
        }
        excluded.sort_unstable();
        excluded.dedup();
        let targets: Vec<usize> = (0..shards).filter(|&i| to_place[i]).collect();

        let req = Request {
            key,
            want: targets.len(),
            shards,
            m,
            shard_len,
            base,
            excluded: &excluded,
        };
        let sel = self.select(&req)?;
        let assignments = targets
            .into_iter()
            .zip(&sel.chosen)
            .map(|(i, &c)| {
                let node = self.cand.node[c as usize] as usize;
                (i, self.nodes[node].id.clone())
            })
            .collect();
        Ok(RepairPlan {
            assignments,
            region_tolerant: sel.shortfall.is_none(),
            shortfall: sel.shortfall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeInfo, Policy};

    fn cluster(regions: &[(&str, usize)]) -> Cluster {
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
        Cluster::new(nodes, Policy::default()).unwrap()
    }

    fn current(ids: &[&str]) -> Vec<Option<NodeId>> {
        ids.iter().map(|s| Some(NodeId::from(*s))).collect()
    }

    #[test]
    fn repairs_into_the_region_with_room() {
        let c = cluster(&[("a", 5), ("b", 5), ("c", 5)]);
        // a and b hold two each, c holds two of which one is lost.
        let cur = current(&["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]);
        let plan = c.plan_repair(b"seg", 4, 2, &cur, &[5], 1).unwrap();
        assert_eq!(plan.assignments.len(), 1);
        let (i, id) = &plan.assignments[0];
        assert_eq!(*i, 5);
        let n = c.node(id).unwrap();
        assert_eq!(n.region, "c");
        assert_ne!(id.as_bytes(), b"c-1");
        assert_ne!(id.as_bytes(), b"c-0");
        assert!(plan.region_tolerant);
    }

    #[test]
    fn never_reuses_current_nodes() {
        // Only the current nodes plus one spare exist.
        let c = cluster(&[("a", 3), ("b", 2), ("c", 2)]);
        let cur = current(&["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]);
        let plan = c.plan_repair(b"seg", 4, 2, &cur, &[0], 1).unwrap();
        assert_eq!(plan.assignments, [(0, NodeId::from("a-2"))]);
        let err = c.plan_repair(b"seg", 4, 2, &cur, &[0, 2], 1).unwrap_err();
        assert_eq!(
            err,
            PlacementError::NotEnoughNodes {
                needed: 2,
                eligible: 1,
                subnets: true
            }
        );
    }

    #[test]
    fn none_entries_are_replaced_too() {
        let c = cluster(&[("a", 4), ("b", 4), ("c", 4)]);
        let mut cur = current(&["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]);
        cur[3] = None;
        let plan = c.plan_repair(b"seg", 4, 2, &cur, &[1], 1).unwrap();
        let idx: Vec<usize> = plan.assignments.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, [1, 3]);
        let mut regions: Vec<&str> = plan
            .assignments
            .iter()
            .map(|(_, id)| c.node(id).unwrap().region.as_str())
            .collect();
        regions.sort_unstable();
        assert_eq!(regions, ["a", "b"]);
    }

    #[test]
    fn rejects_bad_input() {
        let c = cluster(&[("a", 4)]);
        let cur = current(&["a-0", "a-1"]);
        assert!(matches!(
            c.plan_repair(b"s", 1, 2, &cur, &[0], 1),
            Err(PlacementError::ShapeMismatch { len: 2, .. })
        ));
        assert!(matches!(
            c.plan_repair(b"s", 1, 1, &cur, &[2], 1),
            Err(PlacementError::ShardIndexOutOfRange {
                index: 2,
                shards: 2
            })
        ));
    }

    #[test]
    fn nothing_lost_is_an_empty_plan() {
        let c = cluster(&[("a", 4), ("b", 4), ("c", 4)]);
        let cur = current(&["a-0", "b-0", "c-0"]);
        let plan = c.plan_repair(b"s", 2, 1, &cur, &[], 1).unwrap();
        assert!(plan.assignments.is_empty());
        assert!(plan.region_tolerant);
    }

    #[test]
    fn overfull_survivors_are_reported() {
        let c = cluster(&[("a", 6), ("b", 6)]);
        // Three survivors in a, more than m = 2.
        let cur = current(&["a-0", "a-1", "a-2", "b-0", "b-1", "b-2"]);
        let plan = c.plan_repair(b"s", 4, 2, &cur, &[5], 1).unwrap();
        assert!(!plan.region_tolerant);
        assert_eq!(plan.shortfall.unwrap().max_in_one_region, 3);
    }
}
