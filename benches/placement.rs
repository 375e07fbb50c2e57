//! Placement hot paths: choosing k+m nodes for one segment among 100, 1,000
//! and 10,000 nodes in 8 regions, building the cluster view, and planning a
//! repair.
//!
//! `cargo bench --bench placement`. The cluster view is built outside the
//! timed loop; the placement key changes every iteration.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use placement::{Cluster, Health, NodeId, NodeInfo, Policy};

const REGIONS: u64 = 8;
/// An 8 MiB segment cut into 4 data shards.
const SHARD_LEN: u64 = 2 << 20;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` nodes with peer-id-like 38-byte ids, 8 regions, one /24 each, varied
/// free space and RTT, and a few suspect, dead or low-reputation nodes.
fn nodes(n: u64) -> Vec<NodeInfo> {
    (0..n)
        .map(|i| {
            let r = mix(i + 1);
            let mut id = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
            for j in 0..4 {
                id.extend_from_slice(&mix(r ^ j).to_le_bytes());
            }
            let health = match r % 50 {
                0 => Health::Dead,
                1 => Health::Suspect,
                _ => Health::Alive,
            };
            NodeInfo {
                id: NodeId::new(id),
                region: format!("region-{}", r % REGIONS),
                subnet: format!("10.{}.{}.0/24", i / 256, i % 256).into(),
                free_bytes: (50 << 30) + (r >> 20) % (4 << 40),
                rtt: Some(Duration::from_micros(1_000 + (r >> 8) % 200_000)),
                health,
                reputation: if r % 40 == 2 { 0.3 } else { 0.95 },
            }
        })
        .collect()
}

fn key(i: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    for (j, chunk) in k.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(i ^ ((j as u64) << 56)).to_le_bytes());
    }
    k
}

fn place(c: &mut Criterion) {
    let mut group = c.benchmark_group("placement/place");
    for n in [100u64, 1_000, 10_000] {
        let cluster = Cluster::new(nodes(n), Policy::default()).unwrap();
        for (k, m) in [(4usize, 2usize), (16, 8)] {
            group.bench_function(BenchmarkId::new(format!("{k}+{m}"), n), |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i += 1;
                    cluster.place(black_box(&key(i)), k, m, SHARD_LEN).unwrap()
                })
            });
        }
    }
    group.finish();
}

fn cluster_new(c: &mut Criterion) {
    let mut group = c.benchmark_group("placement/cluster_new");
    let all = nodes(10_000);
    group.bench_function(BenchmarkId::from_parameter(10_000), |b| {
        b.iter_batched(
            || all.clone(),
            |nodes| Cluster::new(nodes, Policy::default()).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn plan_repair(c: &mut Criterion) {
    let mut group = c.benchmark_group("placement/plan_repair");
    let cluster = Cluster::new(nodes(1_000), Policy::default()).unwrap();
    // 4+2 segments with shards 1 and 4 lost.
    let segments: Vec<([u8; 32], Vec<Option<NodeId>>)> = (0..1024)
        .map(|i| {
            let k = key(i);
            let placed = cluster.place(&k, 4, 2, SHARD_LEN).unwrap();
            (k, placed.nodes.into_iter().map(Some).collect())
        })
        .collect();
    group.bench_function(BenchmarkId::new("4+2 lose 2", 1_000), |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % segments.len();
            let (k, current) = &segments[i];
            cluster
                .plan_repair(black_box(k), 4, 2, current, &[1, 4], SHARD_LEN)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, place, cluster_new, plan_repair);
criterion_main!(benches);
