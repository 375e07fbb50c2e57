//! Shared helpers for the integration tests: a tiny deterministic RNG and a
//! random cluster generator.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use placement::{Health, NodeId, NodeInfo, Policy};

/// splitmix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }

    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
}

/// A peer-id-like node id (38 bytes, common multihash-like prefix).
pub fn peer_id(i: u64) -> NodeId {
    let mut b = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    for j in 0..4u64 {
        b.extend_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ j).to_le_bytes());
    }
    NodeId::new(b)
}

/// Parameters of a random cluster.
#[derive(Clone, Debug)]
pub struct Spec {
    pub seed: u64,
    pub nodes: usize,
    pub regions: usize,
    /// Average nodes per subnet.
    pub per_subnet: usize,
    /// When false every subnet lies within one region (laminar); when true a
    /// node's region is drawn independently of its subnet.
    pub spanning: bool,
}

/// Builds the nodes of a random cluster.
pub fn gen_nodes(spec: &Spec) -> Vec<NodeInfo> {
    let mut rng = Rng::new(spec.seed);
    // Skewed region sizes: some regions tiny.
    let region_w: Vec<f64> = (0..spec.regions)
        .map(|_| {
            let x = 0.05 + rng.unit();
            x * x
        })
        .collect();
    let total: f64 = region_w.iter().sum();
    let pick_region = |rng: &mut Rng| {
        let mut x = rng.unit() * total;
        for (r, w) in region_w.iter().enumerate() {
            if x < *w {
                return r;
            }
            x -= w;
        }
        spec.regions - 1
    };
    let subnets = (spec.nodes / spec.per_subnet.max(1)).max(1);
    let subnet_region: Vec<usize> = (0..subnets).map(|_| pick_region(&mut rng)).collect();
    (0..spec.nodes)
        .map(|i| {
            let s = rng.below(subnets as u64) as usize;
            let region = if spec.spanning {
                pick_region(&mut rng)
            } else {
                subnet_region[s]
            };
            let health = match rng.below(10) {
                0 => Health::Dead,
                1 => Health::Suspect,
                _ => Health::Alive,
            };
            let free = if rng.below(10) == 0 {
                rng.below(1 << 20)
            } else {
                rng.below(1 << 36)
            };
            let rtt = if rng.below(5) == 0 {
                None
            } else {
                Some(Duration::from_micros(100 + rng.below(300_000)))
            };
            NodeInfo {
                id: peer_id(spec.seed ^ (i as u64) << 20),
                region: format!("region-{region}"),
                subnet: format!("10.{}.{}.0/24", s / 256, s % 256).into(),
                free_bytes: free,
                rtt,
                health,
                reputation: rng.unit(),
            }
        })
        .collect()
}

/// Whether placement may use this node for a shard of `shard_len` bytes.
pub fn eligible(n: &NodeInfo, policy: &Policy, shard_len: u64) -> bool {
    n.health == Health::Alive
        && n.reputation >= policy.reputation_floor
        && n.free_bytes >= shard_len
}

/// The failure-domain key of a node: its subnet, or its id with the subnet
/// rule off.
pub fn domain(n: &NodeInfo, policy: &Policy) -> String {
    if policy.distinct_subnets {
        format!("subnet:{}", n.subnet)
    } else {
        format!("node:{}", n.id)
    }
}

/// Per region, the distinct usable domains among `nodes` that pass `ok`.
pub fn slots_per_region<'a>(
    nodes: impl IntoIterator<Item = &'a NodeInfo>,
    policy: &Policy,
    mut ok: impl FnMut(&NodeInfo) -> bool,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in nodes {
        if ok(n) {
            map.entry(n.region.clone())
                .or_default()
                .insert(domain(n, policy));
        }
    }
    map
}

/// The smallest per-region cap `c >= floor` such that
/// `sum over regions of min(slots_r, c - base_r) >= want`, where `base_r`
/// shards are already in region `r`; `None` if no cap fits `want`.
pub fn min_cap(
    slots: &BTreeMap<String, usize>,
    base: &BTreeMap<String, usize>,
    want: usize,
    floor: usize,
) -> Option<usize> {
    let fits = |c: usize| -> usize {
        let mut regions: BTreeSet<&String> = slots.keys().collect();
        regions.extend(base.keys());
        regions
            .into_iter()
            .map(|r| {
                let s = slots.get(r).copied().unwrap_or(0);
                let b = base.get(r).copied().unwrap_or(0);
                s.min(c.saturating_sub(b))
            })
            .sum()
    };
    let top = want + base.values().copied().max().unwrap_or(0);
    (floor..=top.max(floor)).find(|&c| fits(c) >= want)
}
