//! Choosing new homes for a segment's lost shards.
//!
//! A repair first tries the rules of a new placement ([`Cluster::place`]):
//! distinct nodes (and subnets) that hold nothing of the segment, regions
//! capped at `m` shards. When too few such nodes remain, the fallbacks the
//! request allows take over, from the least to the most harmful:
//!
//! 1. **Rewrite in place**: a lost shard whose holder is still alive and
//!    reputable (its copy went bad, not the node) goes back onto that node,
//!    replacing the bad copy. Diversity is exactly what it was.
//! 2. **Double up** (see [`fallback`](crate::fallback)): the shard goes onto
//!    the node that holds the fewest shards of the segment, then the
//!    emptiest subnet, then the region holding the fewest, then the one with
//!    the most free space, so two shards share a node only once every
//!    eligible node holds one.
//!
//! The shards are restored either way; [`RepairPlan::doubled`] and
//! [`RepairPlan::shared_subnet`] say which of them sit with others (reduced
//! diversity), for a later [`Cluster::plan_spread`] to move apart.

use crate::fallback::{Loads, NodeLoad};
use crate::select::{Request, Selection, Tally};
use crate::{Cluster, NodeId, PlacementError, RegionShortfall};

/// What a repair may do for a lost shard once no node satisfies every rule
/// of a new placement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fallbacks {
    /// A lost shard whose holder in `current` is still a candidate (alive,
    /// reputable) may be written to that node again, replacing its bad copy.
    /// The caller must remove the bad copy first: a node that already holds a
    /// shard id does not store it again.
    pub rewrite_in_place: bool,
    /// A shard may share a subnet, and then a node, with other shards of its
    /// segment. Only for shards whose bytes differ: a node keeps one copy of
    /// a given shard id, so two identical replicas on one node are one.
    pub double_up: bool,
}

impl Fallbacks {
    /// No fallback: the rules of a new placement, or an error.
    pub const NONE: Self = Self {
        rewrite_in_place: false,
        double_up: false,
    };
    /// Every fallback: restore every lost shard if any node has room.
    pub const ALL: Self = Self {
        rewrite_in_place: true,
        double_up: true,
    };

    fn any(self) -> bool {
        self.rewrite_in_place || self.double_up
    }
}

/// One repair to plan (see [`Cluster::plan_repair_with`]).
#[derive(Clone, Copy, Debug)]
pub struct RepairRequest<'a> {
    /// The placement key (the segment's id, as given to [`Cluster::place`]).
    pub key: &'a [u8],
    /// Data shards of the segment.
    pub k: usize,
    /// Parity shards of the segment.
    pub m: usize,
    /// `current[i]` is the node that holds (or held) shard `i`; `None` if it
    /// has none.
    pub current: &'a [Option<NodeId>],
    /// Shard indices to re-place (`None` entries of `current` are added).
    pub lost: &'a [usize],
    /// Bytes per shard.
    pub shard_len: u64,
    /// What may be done when the strict rules leave shards without a home.
    pub fallbacks: Fallbacks,
}

/// New homes for lost shards.
#[derive(Clone, Debug, PartialEq)]
pub struct RepairPlan {
    /// `(shard index, new node)`, sorted by shard index.
    pub assignments: Vec<(usize, NodeId)>,
    /// Assigned shard indices that go back onto the node that held them,
    /// replacing a bad copy there (sorted).
    pub in_place: Vec<usize>,
    /// Assigned shard indices whose node holds another shard of the segment
    /// after the repair (reduced diversity: losing that node costs both).
    pub doubled: Vec<usize>,
    /// Assigned shard indices on a node of their own but in a subnet that
    /// another shard of the segment uses (only with the subnet rule on).
    pub shared_subnet: Vec<usize>,
    /// Shard indices that had to be re-placed but found no node at all
    /// (sorted); empty unless a fallback was allowed.
    pub unplaced: Vec<usize>,
    /// Whether, after the repair, losing any single region still leaves at
    /// least `k` shards (no region holds more than `m`, survivors included).
    pub region_tolerant: bool,
    /// Why not, when `region_tolerant` is false.
    pub shortfall: Option<RegionShortfall>,
}

impl RepairPlan {
    /// Whether some assigned shard shares a node or subnet with another
    /// shard of its segment.
    pub fn reduces_diversity(&self) -> bool {
        !self.doubled.is_empty() || !self.shared_subnet.is_empty()
    }
}

/// A validated request: which shards to place and what survives.
pub(crate) struct Survey {
    /// Shards of the segment.
    pub(crate) shards: usize,
    /// Shard indices to place, ascending.
    pub(crate) targets: Vec<usize>,
    /// Regions and subnets of the survivors this cluster knows.
    pub(crate) base: Tally,
    /// Candidate indices of every node in `current`, sorted.
    pub(crate) excluded: Vec<u32>,
}

impl Cluster {
    /// Chooses new nodes for the lost shards of a `k + m` segment, by the
    /// rules of a new placement only.
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
    /// [`Cluster::plan_repair_with`] can do more when nodes run short.
    pub fn plan_repair(
        &self,
        key: &[u8],
        k: usize,
        m: usize,
        current: &[Option<NodeId>],
        lost: &[usize],
        shard_len: u64,
    ) -> Result<RepairPlan, PlacementError> {
        self.plan_repair_with(&RepairRequest {
            key,
            k,
            m,
            current,
            lost,
            shard_len,
            fallbacks: Fallbacks::NONE,
        })
    }

    /// Chooses new nodes for the lost shards of a segment, falling back as
    /// `req.fallbacks` allows when the rules of [`Cluster::plan_repair`]
    /// leave some without a home.
    ///
    /// When `plan_repair` would succeed, the plan is exactly its plan.
    /// Otherwise as many shards as possible are placed by its rules (on the
    /// best-ranked allowed nodes, the region caps kept as well as they can
    /// be), preferring the shards that have no node to go back to; then each
    /// remaining shard is rewritten in place if allowed and possible, else
    /// doubled up if allowed (see the module docs): never onto a node that
    /// already holds a shard of the segment while an eligible node holds
    /// none. Shards that find no node at all are listed in
    /// [`RepairPlan::unplaced`].
    ///
    /// Fails like `plan_repair` on bad input; with a fallback allowed,
    /// fails with [`PlacementError::NotEnoughNodes`] only when not a single
    /// shard could be placed.
    pub fn plan_repair_with(&self, req: &RepairRequest<'_>) -> Result<RepairPlan, PlacementError> {
        let survey = self.survey(req.k, req.m, req.current, req.lost)?;
        let mut in_place_ok = vec![false; survey.shards];
        if req.fallbacks.rewrite_in_place {
            for &i in &survey.targets {
                in_place_ok[i] = req.current[i]
                    .as_ref()
                    .and_then(|id| self.index_of(id))
                    .and_then(|n| self.candidate_of(n))
                    .is_some();
            }
        }
        let mut request = Request {
            key: req.key,
            want: survey.targets.len(),
            shards: survey.shards,
            m: req.m,
            shard_len: req.shard_len,
            base: survey.base.clone(),
            excluded: &survey.excluded,
        };
        let mut loads = Loads::default();
        for (i, holder) in req.current.iter().enumerate() {
            if let Some(n) = holder.as_ref().and_then(|id| self.index_of(id))
                && !survey.targets.contains(&i)
            {
                loads.add(self, n as u32);
            }
        }
        let mut assignments: Vec<(usize, u32)> = Vec::new();
        let mut take = |targets: &[usize], chosen: &[u32], loads: &mut Loads| {
            for (&i, &c) in targets.iter().zip(chosen) {
                let n = self.cand.node[c as usize];
                loads.add(self, n);
                loads.spend(c, req.shard_len);
                assignments.push((i, n));
            }
        };
        match self.select(&request) {
            Ok(sel) => {
                take(&survey.targets, &sel.chosen, &mut loads);
                return Ok(self.plan_from(req, &survey, assignments, vec![], vec![], &loads));
            }
            Err(PlacementError::NotEnoughNodes { .. }) if req.fallbacks.any() => {}
            Err(e) => return Err(e),
        }

        // Too few fresh nodes for all. The shards with no node to go back
        // to get them first, counting the holders of the others as if they
        // were rewritten in place (so no fresh node shares their subnet);
        // fresh nodes left over go to those others.
        let (rewritable, homeless): (Vec<usize>, Vec<usize>) =
            survey.targets.iter().partition(|&&i| in_place_ok[i]);
        let holder = |i: usize| {
            self.index_of(req.current[i].as_ref().expect("rewritable has a holder"))
                .expect("rewritable is known")
        };
        for &i in &rewritable {
            let n = holder(i);
            request.base.add(self.node_region[n], self.node_subnet[n]);
        }
        request.want = homeless.len();
        let sel = self.select_most(&mut request)?;
        let (fresh, homeless) = homeless.split_at(sel.chosen.len());
        take(fresh, &sel.chosen, &mut loads);
        for &c in &sel.chosen {
            let n = self.cand.node[c as usize] as usize;
            request.base.add(self.node_region[n], self.node_subnet[n]);
        }
        request.want = rewritable.len();
        let sel = self.select_most(&mut request)?;
        let (fresh, rewritten) = rewritable.split_at(sel.chosen.len());
        take(fresh, &sel.chosen, &mut loads);
        let mut in_place = Vec::new();
        for &i in rewritten {
            let n = holder(i) as u32;
            loads.add(self, n);
            assignments.push((i, n));
            in_place.push(i);
        }
        let homeless = homeless.to_vec();
        let mut unplaced = Vec::new();
        if req.fallbacks.double_up && !homeless.is_empty() {
            let ranks = self.all_ranks(crate::rendezvous::key_hash(req.key), req.shard_len);
            for i in homeless {
                let own = req.current[i].as_ref().and_then(|id| self.index_of(id));
                match self.least_loaded(&ranks, &loads, req.shard_len, own) {
                    Some(c) => {
                        let n = self.cand.node[c as usize];
                        loads.add(self, n);
                        loads.spend(c, req.shard_len);
                        assignments.push((i, n));
                    }
                    None => unplaced.push(i),
                }
            }
        } else {
            unplaced = homeless;
        }
        if assignments.is_empty() && !unplaced.is_empty() {
            return Err(PlacementError::NotEnoughNodes {
                needed: unplaced.len(),
                eligible: 0,
                subnets: self.policy.distinct_subnets,
            });
        }
        assignments.sort_unstable();
        Ok(self.plan_from(req, &survey, assignments, in_place, unplaced, &loads))
    }

    /// Checks the shape and indices and gathers the survivors.
    pub(crate) fn survey(
        &self,
        k: usize,
        m: usize,
        current: &[Option<NodeId>],
        lost: &[usize],
    ) -> Result<Survey, PlacementError> {
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
        Ok(Survey {
            shards,
            targets: (0..shards).filter(|&i| to_place[i]).collect(),
            base,
            excluded,
        })
    }

    /// Selects up to `req.want` candidates by the strict rules: all of them
    /// if possible, else as many as there are.
    pub(crate) fn select_most(&self, req: &mut Request<'_>) -> Result<Selection, PlacementError> {
        match self.select(req) {
            Err(PlacementError::NotEnoughNodes { eligible, .. }) => {
                req.want = eligible;
                self.select(req)
            }
            other => other,
        }
    }

    /// The plan for `assignments` (shard index, node index), sorted.
    fn plan_from(
        &self,
        req: &RepairRequest<'_>,
        survey: &Survey,
        assignments: Vec<(usize, u32)>,
        in_place: Vec<usize>,
        unplaced: Vec<usize>,
        loads: &Loads,
    ) -> RepairPlan {
        let mut tally = survey.base.clone();
        let mut doubled = Vec::new();
        let mut shared_subnet = Vec::new();
        for &(i, n) in &assignments {
            let n = n as usize;
            tally.add(self.node_region[n], self.node_subnet[n]);
            match loads.of(self, n as u32) {
                NodeLoad { node, .. } if node >= 2 => doubled.push(i),
                NodeLoad { subnet, .. } if subnet >= 2 && self.policy.distinct_subnets => {
                    shared_subnet.push(i)
                }
                _ => {}
            }
        }
        let shortfall = self.shortfall(&tally, survey.shards, req.m, req.shard_len);
        RepairPlan {
            assignments: assignments
                .into_iter()
                .map(|(i, n)| (i, self.nodes[n as usize].id.clone()))
                .collect(),
            in_place,
            doubled,
            shared_subnet,
            unplaced,
            region_tolerant: shortfall.is_none(),
            shortfall,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Health, NodeInfo, Policy};

    fn nodes(regions: &[(&str, usize)]) -> Vec<NodeInfo> {
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
        nodes
    }

    fn cluster(regions: &[(&str, usize)]) -> Cluster {
        Cluster::new(nodes(regions), Policy::default()).unwrap()
    }

    fn current(ids: &[&str]) -> Vec<Option<NodeId>> {
        ids.iter().map(|s| Some(NodeId::from(*s))).collect()
    }

    fn request<'a>(
        current: &'a [Option<NodeId>],
        lost: &'a [usize],
        fallbacks: Fallbacks,
    ) -> RepairRequest<'a> {
        RepairRequest {
            key: b"seg",
            k: 4,
            m: 2,
            current,
            lost,
            shard_len: 1,
            fallbacks,
        }
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
        assert!(!plan.reduces_diversity());
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
        assert!(matches!(
            c.plan_repair_with(&request(&cur, &[0], Fallbacks::ALL)),
            Err(PlacementError::ShapeMismatch { len: 2, .. })
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

    #[test]
    fn a_bad_copy_on_a_healthy_node_is_rewritten_in_place() {
        // Every node holds a shard of the segment; shard 2's copy on b-0
        // went bad. The issue's case: nowhere else to go.
        let c = cluster(&[("a", 2), ("b", 2), ("c", 2)]);
        let cur = current(&["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]);
        assert!(c.plan_repair(b"seg", 4, 2, &cur, &[2], 1).is_err());
        let only_in_place = Fallbacks {
            rewrite_in_place: true,
            double_up: false,
        };
        let plan = c
            .plan_repair_with(&request(&cur, &[2], only_in_place))
            .unwrap();
        assert_eq!(plan.assignments, [(2, NodeId::from("b-0"))]);
        assert_eq!(plan.in_place, [2]);
        assert!(plan.doubled.is_empty());
        assert!(plan.region_tolerant);
        // A fresh node is better than the node that let its copy rot.
        let mut more = nodes(&[("a", 2), ("b", 2), ("c", 2)]);
        more.push(NodeInfo::new("b-9", "b", "b/9", 1 << 40));
        let c = Cluster::new(more, Policy::default()).unwrap();
        let plan = c
            .plan_repair_with(&request(&cur, &[2], Fallbacks::ALL))
            .unwrap();
        assert_eq!(plan.assignments, [(2, NodeId::from("b-9"))]);
        assert!(plan.in_place.is_empty());
    }

    #[test]
    fn a_dead_holder_is_not_rewritten_in_place() {
        let mut all = nodes(&[("a", 2), ("b", 2), ("c", 2)]);
        all[2].health = Health::Dead;
        let c = Cluster::new(all, Policy::default()).unwrap();
        let cur = current(&["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]);
        let only_in_place = Fallbacks {
            rewrite_in_place: true,
            double_up: false,
        };
        assert_eq!(
            c.plan_repair_with(&request(&cur, &[2], only_in_place)),
            Err(PlacementError::NotEnoughNodes {
                needed: 1,
                eligible: 0,
                subnets: true
            })
        );
        // Doubling up puts it on b's other node: same region, least loaded.
        let plan = c
            .plan_repair_with(&request(&cur, &[2], Fallbacks::ALL))
            .unwrap();
        assert_eq!(plan.assignments.len(), 1);
        assert_eq!(plan.doubled, [2]);
        assert!(plan.in_place.is_empty());
        assert!(plan.reduces_diversity());
    }

    #[test]
    fn five_nodes_for_six_shards_doubles_up_once() {
        // The default devnet after one node died: 5 alive, 4+2.
        let mut all = nodes(&[("a", 2), ("b", 2), ("c", 2)]);
        all[5].health = Health::Dead;
        let c = Cluster::new(all, Policy::devnet()).unwrap();
        let cur = current(&["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]);
        let plan = c
            .plan_repair_with(&request(&cur, &[5], Fallbacks::ALL))
            .unwrap();
        assert_eq!(plan.assignments.len(), 1);
        // c's other node, so that the region keeps its share.
        assert_eq!(plan.assignments[0], (5, NodeId::from("c-0")));
        assert_eq!(plan.doubled, [5]);
        assert!(plan.unplaced.is_empty());
    }

    #[test]
    fn never_doubles_while_a_node_is_free() {
        // Two spares; three shards lost on dead nodes.
        let mut all = nodes(&[("a", 3), ("b", 3), ("c", 2)]);
        for n in &mut all {
            if ["a-0", "b-0", "c-0"].contains(&std::str::from_utf8(n.id.as_bytes()).unwrap()) {
                n.health = Health::Dead;
            }
        }
        let c = Cluster::new(all, Policy::devnet()).unwrap();
        let cur = current(&["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]);
        let plan = c
            .plan_repair_with(&request(&cur, &[0, 2, 4], Fallbacks::ALL))
            .unwrap();
        let ids: Vec<&[u8]> = plan.assignments.iter().map(|(_, n)| n.as_bytes()).collect();
        assert!(ids.contains(&b"a-2".as_slice()), "{ids:?}");
        assert!(ids.contains(&b"b-2".as_slice()), "{ids:?}");
        assert_eq!(plan.doubled.len(), 1, "{plan:?}");
    }

    #[test]
    fn replicas_without_doubling_are_placed_as_far_as_they_go() {
        let mut all = nodes(&[("a", 2), ("b", 1)]);
        all[0].health = Health::Dead;
        all[1].health = Health::Dead;
        let c = Cluster::new(all, Policy::devnet()).unwrap();
        let cur = current(&["a-0", "a-1", "x"]);
        let only_in_place = Fallbacks {
            rewrite_in_place: true,
            double_up: false,
        };
        let req = RepairRequest {
            key: b"r",
            k: 1,
            m: 2,
            current: &cur,
            lost: &[0, 1, 2],
            shard_len: 1,
            fallbacks: only_in_place,
        };
        let plan = c.plan_repair_with(&req).unwrap();
        assert_eq!(plan.assignments, [(0, NodeId::from("b-0"))]);
        assert_eq!(plan.unplaced, [1, 2]);
    }

    #[test]
    fn no_room_anywhere_is_an_error() {
        let mut all = nodes(&[("a", 2)]);
        for n in &mut all {
            n.free_bytes = 0;
        }
        let c = Cluster::new(all, Policy::devnet()).unwrap();
        let cur = vec![Some(NodeId::from("gone")), Some(NodeId::from("a-0"))];
        let req = RepairRequest {
            key: b"r",
            k: 1,
            m: 1,
            current: &cur,
            lost: &[0],
            shard_len: 1,
            fallbacks: Fallbacks::ALL,
        };
        assert!(matches!(
            c.plan_repair_with(&req),
            Err(PlacementError::NotEnoughNodes { eligible: 0, .. })
        ));
    }
}
