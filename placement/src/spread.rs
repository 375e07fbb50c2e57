//! Spreading out a segment whose shards doubled up on some nodes, once
//! nodes that hold none of it are available again.

use crate::fallback::Loads;
use crate::repair::Survey;
use crate::select::{Request, Tally};
use crate::{Cluster, NodeId, PlacementError, RepairPlan};

impl Cluster {
    /// Chooses new nodes for the shards of a segment that share a node with
    /// another of its shards, so that every shard has a node of its own.
    ///
    /// On a node holding several shards, the lowest index stays and the
    /// others move; when there are fewer free nodes than shards to move, the
    /// shards of the most crowded nodes move first. The new nodes follow the
    /// rules of [`Cluster::plan_repair`] (no node of `current`, distinct
    /// subnets with the subnet rule on, the staying shards counted against
    /// the region caps), in the same rendezvous order.
    ///
    /// The plan's assignments are the moves, sorted by shard index; the
    /// shards that should move but found no node are in
    /// [`RepairPlan::unplaced`]; `in_place`, `doubled` and `shared_subnet`
    /// are empty; the region verdict is for the segment after the moves.
    /// No doubled-up shard gives an empty plan.
    ///
    /// Fails with [`PlacementError::ShapeMismatch`] when
    /// `current.len() != k + m` and [`PlacementError::InvalidShape`] when
    /// `k == 0`.
    pub fn plan_spread(
        &self,
        key: &[u8],
        k: usize,
        m: usize,
        current: &[Option<NodeId>],
        shard_len: u64,
    ) -> Result<RepairPlan, PlacementError> {
        // Shards to move: all but the first on each crowded node, those of
        // the most crowded nodes first.
        let mut crowd: Vec<(usize, usize)> = Vec::new();
        for (i, holder) in current.iter().enumerate() {
            let Some(id) = holder else { continue };
            let on_node = current.iter().filter(|h| h.as_ref() == Some(id)).count();
            let first = current.iter().position(|h| h.as_ref() == Some(id)) == Some(i);
            if on_node > 1 && !first {
                crowd.push((on_node, i));
            }
        }
        crowd.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let movers: Vec<usize> = crowd.into_iter().map(|(_, i)| i).collect();

        let survey: Survey = self.survey(k, m, current, &movers)?;
        let mut request = Request {
            key,
            want: movers.len(),
            shards: survey.shards,
            m,
            shard_len,
            base: survey.base.clone(),
            excluded: &survey.excluded,
        };
        let sel = self.select_most(&mut request)?;
        let mut moving = movers[..sel.chosen.len()].to_vec();
        moving.sort_unstable();
        let mut unplaced = movers[sel.chosen.len()..].to_vec();
        unplaced.sort_unstable();
        let assignments: Vec<(usize, u32)> = moving
            .into_iter()
            .zip(&sel.chosen)
            .map(|(i, &c)| (i, self.cand.node[c as usize]))
            .collect();

        // The region verdict after the moves: movers that stay count where
        // they are.
        let mut tally: Tally = survey.base;
        let mut loads = Loads::default();
        for &(_, n) in &assignments {
            tally.add(self.node_region[n as usize], self.node_subnet[n as usize]);
            loads.add(self, n);
        }
        for &i in &unplaced {
            if let Some(n) = current[i].as_ref().and_then(|id| self.index_of(id)) {
                tally.add(self.node_region[n], self.node_subnet[n]);
            }
        }
        let shortfall = self.shortfall(&tally, survey.shards, m, shard_len);
        Ok(RepairPlan {
            assignments: assignments
                .into_iter()
                .map(|(i, n)| (i, self.nodes[n as usize].id.clone()))
                .collect(),
            in_place: Vec::new(),
            doubled: Vec::new(),
            shared_subnet: Vec::new(),
            unplaced,
            region_tolerant: shortfall.is_none(),
            shortfall,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Cluster, Health, NodeId, NodeInfo, Policy};

    fn cluster(ids: &[(&str, &str)], dead: &[&str]) -> Cluster {
        let nodes = ids.iter().map(|(id, region)| {
            let n = NodeInfo::new(*id, *region, *id, 1 << 40);
            if dead.contains(id) {
                n.with_health(Health::Dead)
            } else {
                n
            }
        });
        Cluster::new(nodes, Policy::default()).unwrap()
    }

    fn current(ids: &[&str]) -> Vec<Option<NodeId>> {
        ids.iter().map(|s| Some(NodeId::from(*s))).collect()
    }

    const SIX: [(&str, &str); 6] = [
        ("a0", "a"),
        ("a1", "a"),
        ("b0", "b"),
        ("b1", "b"),
        ("c0", "c"),
        ("c1", "c"),
    ];

    #[test]
    fn nothing_doubled_is_an_empty_plan() {
        let c = cluster(&SIX, &[]);
        let cur = current(&["a0", "a1", "b0", "b1", "c0", "c1"]);
        let plan = c.plan_spread(b"s", 4, 2, &cur, 1).unwrap();
        assert!(plan.assignments.is_empty());
        assert!(plan.unplaced.is_empty());
        assert!(plan.region_tolerant);
    }

    #[test]
    fn a_new_node_takes_the_doubled_shard() {
        // c1 died, shard 5 was doubled up on c0; a node joined in c.
        let mut ids = SIX.to_vec();
        ids.push(("c2", "c"));
        let c = cluster(&ids, &["c1"]);
        let cur = current(&["a0", "a1", "b0", "b1", "c0", "c0"]);
        let plan = c.plan_spread(b"s", 4, 2, &cur, 1).unwrap();
        assert_eq!(plan.assignments, [(5, NodeId::from("c2"))]);
        assert!(plan.unplaced.is_empty());
        assert!(plan.region_tolerant);
    }

    #[test]
    fn no_free_node_leaves_it_unplaced() {
        let c = cluster(&SIX, &["c1"]);
        let cur = current(&["a0", "a1", "b0", "b1", "c0", "c0"]);
        let plan = c.plan_spread(b"s", 4, 2, &cur, 1).unwrap();
        assert!(plan.assignments.is_empty());
        assert_eq!(plan.unplaced, [5]);
    }

    #[test]
    fn the_most_crowded_node_goes_first() {
        // a0 holds three shards, b0 two; one free node.
        let ids = [("a0", "a"), ("b0", "b"), ("c0", "c"), ("d0", "d")];
        let c = cluster(&ids, &[]);
        let cur = current(&["a0", "b0", "a0", "b0", "a0", "c0"]);
        let plan = c.plan_spread(b"s", 4, 2, &cur, 1).unwrap();
        assert_eq!(plan.assignments, [(2, NodeId::from("d0"))]);
        assert_eq!(plan.unplaced, [3, 4]);
    }
}
