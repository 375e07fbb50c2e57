//! Greedy selection under the subnet and region caps, shared by placement
//! and repair.
//!
//! Candidates are taken in rendezvous order; one is skipped if its subnet is
//! already used or its region already holds `cap` shards. When every subnet
//! lies within one region, the two rules form a laminar matroid, so this
//! greedy finds a full selection whenever one exists (and then the
//! best-ranked one): a region-tolerant placement is found exactly when
//! `sum over regions of min(usable subnets in region, m) >= shards`.
//! A subnet that spans regions breaks the laminar structure; the greedy is
//! then best effort for the region rule (the subnet rule always holds).
//!
//! If the cap of `m` per region cannot be met, the cap is raised one at a
//! time and the first cap that fills wins, so a best-effort placement still
//! keeps the busiest region as small as the greedy can make it. Caps that
//! cannot fill even in principle (per-region counts of candidate subnets,
//! precomputed by [`Cluster::new`]) are skipped without ranking anything,
//! so a single-region cluster stays on the fast path.

use std::fmt;

use crate::rendezvous::{Rank, key_hash, rank_candidate};
use crate::{Cluster, PlacementError};

/// Why a placement is not region-tolerant: some region holds more than `m`
/// shards, so losing it would leave fewer than `k`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionShortfall {
    /// Shards of the segment (`k + m`).
    pub shards: usize,
    /// Shards the segment can lose (`m`): the most any one region may hold.
    pub max_allowed: usize,
    /// The region holding the most shards.
    pub busiest_region: String,
    /// Shards in that region.
    pub max_in_one_region: usize,
    /// Regions holding at least one shard.
    pub regions_used: usize,
    /// Regions that had at least one eligible node for this request.
    pub eligible_regions: usize,
}

impl fmt::Display for RegionShortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not region-tolerant: region {:?} holds {} of {} shards, more than the {} the segment can lose; \
             {} region(s) used, {} region(s) had eligible nodes",
            self.busiest_region,
            self.max_in_one_region,
            self.shards,
            self.max_allowed,
            self.regions_used,
            self.eligible_regions,
        )
    }
}

/// Shards per region and subnets in use for one segment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    /// (region index, shards in it).
    regions: Vec<(u32, usize)>,
    /// Subnet indices in use.
    subnets: Vec<u32>,
}

impl Tally {
    /// Shards in `region`.
    pub(crate) fn count(&self, region: u32) -> usize {
        self.regions
            .iter()
            .find(|(r, _)| *r == region)
            .map_or(0, |&(_, n)| n)
    }

    /// Records one shard in `region` and `subnet`.
    pub(crate) fn add(&mut self, region: u32, subnet: u32) {
        match self.regions.iter_mut().find(|(r, _)| *r == region) {
            Some((_, n)) => *n += 1,
            None => self.regions.push((region, 1)),
        }
        self.subnets.push(subnet);
    }

    /// The busiest region and its count, ties to the lowest index.
    fn busiest(&self) -> Option<(u32, usize)> {
        self.regions
            .iter()
            .copied()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
    }
}

/// One selection request.
pub(crate) struct Request<'a> {
    /// The placement key (segment id).
    pub(crate) key: &'a [u8],
    /// New shards to place.
    pub(crate) want: usize,
    /// Shards of the whole segment (`k + m`).
    pub(crate) shards: usize,
    /// Region cap for tolerance.
    pub(crate) m: usize,
    /// Shard size; candidates need this much free space.
    pub(crate) shard_len: u64,
    /// Shards already placed (repair survivors).
    pub(crate) base: Tally,
    /// Candidate indices never to use, sorted.
    pub(crate) excluded: &'a [u32],
}

/// The outcome: chosen candidates in rank order plus the region verdict.
pub(crate) struct Selection {
    pub(crate) chosen: Vec<u32>,
    pub(crate) shortfall: Option<RegionShortfall>,
}

impl Cluster {
    pub(crate) fn select(&self, req: &Request<'_>) -> Result<Selection, PlacementError> {
        let kh = key_hash(req.key);
        let mut chosen = Vec::with_capacity(req.want);
        let mut tally = req.base.clone();
        if req.want == 0 {
            return Ok(self.finish(chosen, &tally, req));
        }

        // Caps below `first_cap` cannot fill even counting every candidate
        // regardless of free space; `max_cap` never binds.
        let max_cap = req.want + req.base.busiest().map_or(0, |(_, n)| n);
        let first_cap = (req.m..max_cap)
            .find(|&cap| self.slot_bound(&req.base, cap) >= req.want)
            .unwrap_or(max_cap);

        // Fast path: the best few candidates almost always suffice, and the
        // greedy over a prefix of the full order gives the same answer as the
        // greedy over the full order when it fills.
        let limit = (4 * req.want + 16 + req.excluded.len()).min(self.cand.node.len());
        let top = self.top_ranks(kh, req.shard_len, limit);
        if self.greedy(&top, req, first_cap, &mut tally, &mut chosen) {
            return Ok(self.finish(chosen, &tally, req));
        }

        // Slow path: everything, in order; carry on where the prefix stopped.
        let all = self.all_ranks(kh, req.shard_len);
        if self.greedy(&all[top.len()..], req, first_cap, &mut tally, &mut chosen) {
            return Ok(self.finish(chosen, &tally, req));
        }

        // Is there any choice at all?
        if first_cap < max_cap {
            chosen.clear();
            tally.clone_from(&req.base);
            self.greedy(&all, req, max_cap, &mut tally, &mut chosen);
        }
        if chosen.len() < req.want {
            return Err(PlacementError::NotEnoughNodes {
                needed: req.want,
                eligible: chosen.len(),
                subnets: self.policy.distinct_subnets,
            });
        }
        // Best effort: the smallest cap that fills.
        for cap in first_cap + 1..max_cap {
            let mut c = Vec::with_capacity(req.want);
            let mut t = req.base.clone();
            if self.greedy(&all, req, cap, &mut t, &mut c) {
                return Ok(self.finish(c, &t, req));
            }
        }
        Ok(self.finish(chosen, &tally, req))
    }

    /// An upper bound on how many new shards fit under a region cap of
    /// `cap`: `sum over regions of min(candidate subnets there, cap - base)`.
    fn slot_bound(&self, base: &Tally, cap: usize) -> usize {
        let slots = |r: u32| self.region_slots[r as usize] as usize;
        let mut total: usize = self
            .region_slots
            .iter()
            .map(|&s| (s as usize).min(cap))
            .sum();
        for &(r, n) in &base.regions {
            total -= slots(r).min(cap);
            total += slots(r).min(cap.saturating_sub(n));
        }
        total
    }

    /// Takes candidates from `order` until `chosen` holds `req.want`.
    fn greedy(
        &self,
        order: &[Rank],
        req: &Request<'_>,
        cap: usize,
        tally: &mut Tally,
        chosen: &mut Vec<u32>,
    ) -> bool {
        for &rank in order {
            if chosen.len() == req.want {
                break;
            }
            let c = rank_candidate(rank);
            let subnet = self.cand.subnet[c as usize];
            let region = self.cand.region[c as usize];
            if tally.subnets.contains(&subnet)
                || tally.count(region) >= cap
                || req.excluded.binary_search(&c).is_ok()
            {
                continue;
            }
            tally.add(region, subnet);
            chosen.push(c);
        }
        chosen.len() == req.want
    }

    fn finish(&self, chosen: Vec<u32>, tally: &Tally, req: &Request<'_>) -> Selection {
        let shortfall = self.shortfall(tally, req.shards, req.m, req.shard_len);
        Selection { chosen, shortfall }
    }

    /// The region verdict on a segment of `shards` shards laid out as
    /// `tally` says: `None` when no region holds more than `m`.
    pub(crate) fn shortfall(
        &self,
        tally: &Tally,
        shards: usize,
        m: usize,
        shard_len: u64,
    ) -> Option<RegionShortfall> {
        match tally.busiest() {
            Some((region, n)) if n > m => Some(RegionShortfall {
                shards,
                max_allowed: m,
                busiest_region: self.regions[region as usize].clone(),
                max_in_one_region: n,
                regions_used: tally.regions.iter().filter(|(_, n)| *n > 0).count(),
                eligible_regions: self.eligible_regions(shard_len),
            }),
            _ => None,
        }
    }

    /// Regions with at least one candidate that has room for the shard.
    fn eligible_regions(&self, shard_len: u64) -> usize {
        let mut seen = vec![false; self.regions.len()];
        for (&r, &free) in self.cand.region.iter().zip(&self.cand.free) {
            if free >= shard_len {
                seen[r as usize] = true;
            }
        }
        seen.into_iter().filter(|&s| s).count()
    }
}
