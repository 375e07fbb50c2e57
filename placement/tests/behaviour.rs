//! Statistical behaviour: preferences and movement under membership change.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::peer_id;
use placement::{Cluster, NodeId, NodeInfo, Policy};

const KEYS: u32 = 10_000;

/// `n` nodes over 8 regions, each in its own subnet.
fn nodes(
    n: usize,
    free: impl Fn(usize) -> u64,
    rtt: impl Fn(usize) -> Option<Duration>,
) -> Vec<NodeInfo> {
    (0..n)
        .map(|i| {
            let mut x = NodeInfo::new(
                peer_id(i as u64),
                format!("region-{}", i % 8),
                format!("10.0.{i}.0/24"),
                free(i),
            );
            x.rtt = rtt(i);
            x
        })
        .collect()
}

fn key(i: u32) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k[31] = 0xc0;
    k
}

/// Shards landing on even- vs odd-numbered nodes over `keys` 4+2 placements.
fn even_odd(cluster: &Cluster, all: &[NodeInfo], keys: u32) -> (u32, u32) {
    let even: BTreeSet<NodeId> = all.iter().step_by(2).map(|x| x.id.clone()).collect();
    let (mut e, mut o) = (0, 0);
    for i in 0..keys {
        for id in cluster.place(&key(i), 4, 2, 1 << 20).unwrap().nodes {
            if even.contains(&id) {
                e += 1;
            } else {
                o += 1;
            }
        }
    }
    (e, o)
}

#[test]
fn low_rtt_gets_more_shards() {
    let ms = Duration::from_millis;
    // Even nodes 5 ms away, odd ones 100 ms.
    let all = nodes(
        200,
        |_| 1 << 40,
        |i| Some(if i % 2 == 0 { ms(5) } else { ms(100) }),
    );
    let policy = Policy {
        latency_weight: 1.0,
        capacity_weight: 0.0,
        ..Policy::default()
    };
    let cluster = Cluster::new(all.clone(), policy).unwrap();
    let (fast, slow) = even_odd(&cluster, &all, 2000);
    println!("latency_weight 1: fast nodes {fast} shards, slow nodes {slow}");
    assert!(fast > 5 * slow, "fast {fast} slow {slow}");

    // latency_weight 0 ignores RTT.
    let cluster = Cluster::new(
        all.clone(),
        Policy {
            latency_weight: 0.0,
            capacity_weight: 0.0,
            ..Policy::default()
        },
    )
    .unwrap();
    let (fast, slow) = even_odd(&cluster, &all, 2000);
    let ratio = f64::from(fast) / f64::from(slow);
    assert!((0.85..1.18).contains(&ratio), "fast {fast} slow {slow}");
}

#[test]
fn unknown_rtt_counts_as_policy_default() {
    let ms = Duration::from_millis;
    // Even nodes unmeasured (default 250 ms), odd ones 25 ms.
    let all = nodes(
        200,
        |_| 1 << 40,
        |i| if i % 2 == 0 { None } else { Some(ms(25)) },
    );
    let policy = Policy {
        latency_weight: 1.0,
        capacity_weight: 0.0,
        ..Policy::default()
    };
    let cluster = Cluster::new(all.clone(), policy).unwrap();
    let (unknown, known) = even_odd(&cluster, &all, 2000);
    assert!(known > 5 * unknown, "known {known} unknown {unknown}");
}

#[test]
fn more_free_capacity_gets_more_shards() {
    // Even nodes 4 TiB free, odd ones 1 TiB.
    let all = nodes(
        200,
        |i| if i % 2 == 0 { 4 << 40 } else { 1 << 40 },
        |_| None,
    );
    let policy = Policy {
        latency_weight: 0.0,
        capacity_weight: 1.0,
        ..Policy::default()
    };
    let cluster = Cluster::new(all.clone(), policy).unwrap();
    let (big, small) = even_odd(&cluster, &all, 2000);
    println!("capacity_weight 1: 4 TiB nodes {big} shards, 1 TiB nodes {small}");
    assert!(2 * big > 5 * small, "big {big} small {small}");
}

/// The nodes of every key's placement.
fn placements(cluster: &Cluster) -> Vec<Vec<NodeId>> {
    (0..KEYS)
        .map(|i| cluster.place(&key(i), 4, 2, 1 << 20).unwrap().nodes)
        .collect()
}

/// (shard memberships that changed, shards that changed index or node).
fn moved(before: &[Vec<NodeId>], after: &[Vec<NodeId>]) -> (usize, usize) {
    let mut set_moves = 0;
    let mut slot_moves = 0;
    for (a, b) in before.iter().zip(after) {
        set_moves += a.iter().filter(|x| !b.contains(x)).count();
        slot_moves += a.iter().zip(b).filter(|(x, y)| x != y).count();
    }
    (set_moves, slot_moves)
}

fn realistic(n: usize) -> Vec<NodeInfo> {
    nodes(
        n,
        |i| (1 << 40) + (i as u64 * 7919 % 1000) * (1 << 30),
        |i| Some(Duration::from_micros(2000 + (i as u64 * 104_729) % 150_000)),
    )
}

#[test]
fn adding_a_node_moves_about_one_in_n() {
    let all = realistic(101);
    let before = Cluster::new(all[..100].to_vec(), Policy::default()).unwrap();
    let after = Cluster::new(all.clone(), Policy::default()).unwrap();
    let (a, b) = (placements(&before), placements(&after));
    let (set_moves, slot_moves) = moved(&a, &b);
    let total = (KEYS * 6) as f64;
    let frac = set_moves as f64 / total;
    let new_id = &all[100].id;
    let on_new: usize = b.iter().filter(|p| p.contains(new_id)).count();
    println!(
        "add 1 node to 100: {:.3}% of shard memberships moved ({set_moves} of {total}); \
         {on_new} keys now use the new node; shard index changes {:.2}%",
        100.0 * frac,
        100.0 * slot_moves as f64 / total
    );
    // Measured: 0.782% (469 of 60000), every one of them onto the new node
    // (the new node's share of the total weight); removal below: 0 extra.
    assert!(frac < 0.03, "{frac}");
    assert!(set_moves <= on_new + on_new / 2);
}

#[test]
fn removing_a_node_moves_little_beyond_its_own_shards() {
    let all = realistic(100);
    let gone = all[37].id.clone();
    let before = Cluster::new(all.clone(), Policy::default()).unwrap();
    let mut rest = all.clone();
    rest.remove(37);
    let after = Cluster::new(rest, Policy::default()).unwrap();
    let (a, b) = (placements(&before), placements(&after));
    let (set_moves, _) = moved(&a, &b);
    let held: usize = a.iter().filter(|p| p.contains(&gone)).count();
    let extra = set_moves - held;
    let total = (KEYS * 6) as f64;
    println!(
        "remove 1 of 100 nodes: it held {held} shards ({:.3}%); {extra} other shards moved ({:.3}%)",
        100.0 * held as f64 / total,
        100.0 * extra as f64 / total
    );
    assert!(held as f64 / total < 0.03);
    assert!((extra as f64) / total < 0.005, "{extra}");
}
