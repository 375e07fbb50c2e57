//! Which erasure code and repair threshold to pick for a durability
//! target: a sweep of the analytic model over candidate schemes.

use serde::Serialize;

use crate::config::Config;
use crate::report::estimate;

/// One scheme and what the analytic model says of it.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    /// Data shards.
    pub k: usize,
    /// Parity shards.
    pub m: usize,
    /// Repair threshold (held shards at or below which a segment is
    /// repaired).
    pub threshold: usize,
    /// Storage overhead, `(k + m) / k`.
    pub overhead: f64,
    /// Nines per segment.
    pub segment_nines: f64,
    /// Nines per object.
    pub object_nines: f64,
    /// Repair traffic per node per day, bytes.
    pub repair_bytes_per_node_per_day: f64,
}

/// The data shard counts tried.
pub const KS: [usize; 8] = [2, 3, 4, 6, 8, 10, 12, 16];
/// The most parity tried.
pub const MAX_M: usize = 8;

/// Evaluates every candidate scheme (`k` in [`KS`], `1 ≤ m ≤ MAX_M`,
/// thresholds from `k + 1` to `k + m - 1`) on `base`'s mesh and churn,
/// using `threads` workers. Schemes the mesh cannot hold are skipped.
pub fn sweep(base: &Config, threads: usize) -> Vec<Candidate> {
    let mut schemes = Vec::new();
    for k in KS {
        for m in 1..=MAX_M {
            if k + m > base.nodes || k + m > crate::config::MAX_SHARDS {
                continue;
            }
            let highest = k + m - 1;
            let lowest = (k + 1).min(highest);
            for threshold in lowest..=highest {
                schemes.push((k, m, threshold));
            }
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Candidate>>> = schemes
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(k, m, threshold)) = schemes.get(i) else {
                        break;
                    };
                    let config = Config {
                        k,
                        m,
                        repair_threshold: threshold,
                        ..base.clone()
                    };
                    if let Ok(e) = estimate(&config) {
                        *results[i].lock().expect("not poisoned") = Some(Candidate {
                            k,
                            m,
                            threshold,
                            overhead: (k + m) as f64 / k as f64,
                            segment_nines: e.durability.segment_nines,
                            object_nines: e.durability.object_nines,
                            repair_bytes_per_node_per_day: e.repair_bytes_per_node_per_day,
                        });
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .filter_map(|r| r.into_inner().expect("not poisoned"))
        .collect()
}

/// For each `k`, the cheapest candidate reaching `target` nines per
/// object (least parity, then least repair traffic, which is the laziest
/// threshold that still reaches it); sorted by storage overhead.
pub fn pick(candidates: &[Candidate], target: f64) -> Vec<&Candidate> {
    let mut best: Vec<&Candidate> = Vec::new();
    for c in candidates.iter().filter(|c| c.object_nines >= target) {
        match best.iter_mut().find(|b| b.k == c.k) {
            Some(b) => {
                let cheaper = c.m < b.m
                    || (c.m == b.m
                        && c.repair_bytes_per_node_per_day < b.repair_bytes_per_node_per_day);
                if cheaper {
                    *b = c;
                }
            }
            None => best.push(c),
        }
    }
    best.sort_by(|a, b| a.overhead.total_cmp(&b.overhead).then(a.k.cmp(&b.k)));
    best
}
