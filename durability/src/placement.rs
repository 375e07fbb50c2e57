//! Where a segment's shards sit, as far as the model cares: their regions.
//!
//! Cairn places a segment on `k + m` distinct nodes by weighted rendezvous
//! hashing, at most `m` per region so that losing a region leaves `k`
//! (the cap is raised when there are too few regions). With equal weights
//! that is the first `k + m` nodes of a random order that fit under the
//! cap, which is what [`sample_regions`] draws.

use crate::rng::Rng;

/// The per-region cap Cairn applies: `m`, raised until the regions can
/// hold all `n` shards.
pub fn region_cap(nodes_per_region: &[usize], n: usize, m: usize) -> usize {
    let mut cap = m.max(1);
    while nodes_per_region.iter().map(|&c| c.min(cap)).sum::<usize>() < n {
        cap += 1;
    }
    cap
}

/// Draws the regions of one segment's `n` shards: distinct nodes chosen
/// uniformly, skipping nodes of regions already at `cap`.
pub fn sample_regions(nodes_per_region: &[usize], n: usize, cap: usize, rng: &mut Rng) -> Vec<u16> {
    let mut free: Vec<usize> = nodes_per_region.to_vec();
    let mut used = vec![0usize; free.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let open: usize = free
            .iter()
            .zip(&used)
            .filter(|(_, u)| **u < cap)
            .map(|(f, _)| *f)
            .sum();
        let mut pick = rng.below(open);
        for (r, (f, u)) in free.iter_mut().zip(used.iter_mut()).enumerate() {
            if *u >= cap {
                continue;
            }
            if pick < *f {
                *f -= 1;
                *u += 1;
                out.push(r as u16);
                break;
            }
            pick -= *f;
        }
    }
    out
}

/// How many shards of a segment a region holds: `share[c]` is the chance
/// that a given region holds exactly `c` of a segment's shards, averaged
/// over regions (weighted by their size, so a region loss picks a region
/// uniformly).
#[derive(Clone, Debug)]
pub struct RegionProfile {
    /// Index `c`: the chance a region holds `c` shards of a segment.
    pub share: Vec<f64>,
}

impl RegionProfile {
    /// Estimates the profile from `samples` placements drawn from a fixed
    /// stream (so the analytic model is deterministic).
    pub fn sample(nodes_per_region: &[usize], n: usize, m: usize, samples: usize) -> Self {
        let cap = region_cap(nodes_per_region, n, m);
        let mut rng = Rng::new(0x00c0_ffee);
        let regions = nodes_per_region.len();
        let mut counts = vec![0u64; n + 1];
        let mut per_region = vec![0usize; regions];
        for _ in 0..samples {
            per_region.iter_mut().for_each(|c| *c = 0);
            for r in sample_regions(nodes_per_region, n, cap, &mut rng) {
                per_region[r as usize] += 1;
            }
            for &c in &per_region {
                counts[c] += 1;
            }
        }
        let total = (samples * regions) as f64;
        Self {
            share: counts.iter().map(|&c| c as f64 / total).collect(),
        }
    }

    /// Mean shards of a segment in one region.
    pub fn mean(&self) -> f64 {
        self.share
            .iter()
            .enumerate()
            .map(|(c, p)| c as f64 * p)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_m_unless_regions_are_too_few() {
        assert_eq!(region_cap(&[2, 2, 2], 6, 2), 2);
        assert_eq!(region_cap(&[10, 10], 6, 2), 3);
        assert_eq!(region_cap(&[100], 6, 2), 6);
        assert_eq!(region_cap(&[5, 5, 5], 4, 0), 2);
    }

    #[test]
    fn placements_respect_the_cap_and_use_distinct_nodes() {
        let mut rng = Rng::new(3);
        let npr = [2usize, 2, 2];
        for _ in 0..100 {
            let regions = sample_regions(&npr, 6, 2, &mut rng);
            let mut per = [0; 3];
            regions.iter().for_each(|&r| per[r as usize] += 1);
            assert_eq!(per, [2, 2, 2]);
        }
        let npr = [334, 333, 333];
        for _ in 0..100 {
            let regions = sample_regions(&npr, 6, 2, &mut rng);
            let mut per = [0; 3];
            regions.iter().for_each(|&r| per[r as usize] += 1);
            assert!(per.iter().all(|&c| c <= 2));
        }
    }

    #[test]
    fn profile_of_three_regions_is_two_shards_each() {
        let p = RegionProfile::sample(&[334, 333, 333], 6, 2, 1000);
        assert!((p.share[2] - 1.0).abs() < 1e-12);
        assert!((p.mean() - 2.0).abs() < 1e-12);
        let p = RegionProfile::sample(&[100; 10], 6, 2, 4000);
        assert!((p.mean() - 0.6).abs() < 1e-9);
        assert!(p.share[1] > p.share[2]);
    }
}
