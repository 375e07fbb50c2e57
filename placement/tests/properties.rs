//! Property tests of placement and repair over random clusters.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{Rng, Spec, domain, eligible, gen_nodes, min_cap, slots_per_region};
use placement::{Cluster, NodeId, NodeInfo, Placement, PlacementError, Policy};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const SHARD_LEN: u64 = 1 << 20;

fn spec_strategy(spanning: bool) -> impl Strategy<Value = Spec> {
    // Small clusters are where the edge cases (errors, shortfalls) live.
    let nodes = prop_oneof![1usize..=60, 1usize..=2000];
    (any::<u64>(), nodes, 1usize..=8, 1usize..=4).prop_map(
        move |(seed, nodes, regions, per_subnet)| Spec {
            seed,
            nodes,
            regions,
            per_subnet,
            spanning,
        },
    )
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (any::<bool>(), 0.0f64..2.0, 0.0f64..2.0, 0.3f64..0.8).prop_map(
        |(distinct_subnets, latency_weight, capacity_weight, reputation_floor)| Policy {
            reputation_floor,
            distinct_subnets,
            latency_weight,
            capacity_weight,
            ..Policy::default()
        },
    )
}

/// Shards per region of a list of node ids.
fn region_counts(by_id: &HashMap<NodeId, NodeInfo>, ids: &[NodeId]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(by_id[id].region.clone()).or_insert(0) += 1;
    }
    counts
}

/// Checks one placement against the rules, computing feasibility
/// independently. `laminar` says whether subnets stay within regions.
fn check_place(
    nodes: &[NodeInfo],
    policy: &Policy,
    result: &Result<Placement, PlacementError>,
    k: usize,
    m: usize,
    laminar: bool,
) -> Result<(), TestCaseError> {
    let n = k + m;
    let by_id: HashMap<NodeId, NodeInfo> =
        nodes.iter().map(|x| (x.id.clone(), x.clone())).collect();
    let usable: BTreeSet<String> = nodes
        .iter()
        .filter(|x| eligible(x, policy, SHARD_LEN))
        .map(|x| domain(x, policy))
        .collect();
    let p = match result {
        Err(e) => {
            prop_assert!(
                usable.len() < n,
                "error {e} with {} usable domains",
                usable.len()
            );
            prop_assert_eq!(
                e,
                &PlacementError::NotEnoughNodes {
                    needed: n,
                    eligible: usable.len(),
                    subnets: policy.distinct_subnets
                }
            );
            return Ok(());
        }
        Ok(p) => p,
    };
    prop_assert!(usable.len() >= n);
    prop_assert_eq!(p.nodes.len(), n);
    // Rule 1: eligible only.
    for id in &p.nodes {
        prop_assert!(eligible(&by_id[id], policy, SHARD_LEN), "ineligible {id}");
    }
    // Rule 2: distinct nodes, distinct subnets when on.
    let distinct: BTreeSet<&NodeId> = p.nodes.iter().collect();
    prop_assert_eq!(distinct.len(), n);
    if policy.distinct_subnets {
        let subnets: BTreeSet<&str> = p.nodes.iter().map(|id| by_id[id].subnet.as_str()).collect();
        prop_assert_eq!(subnets.len(), n);
    }
    // Rule 3: what is reported holds.
    let counts = region_counts(&by_id, &p.nodes);
    let max = counts.values().copied().max().unwrap_or(0);
    prop_assert_eq!(p.region_tolerant, max <= m);
    prop_assert_eq!(p.region_tolerant, p.shortfall.is_none());
    if let Some(s) = &p.shortfall {
        prop_assert_eq!(s.max_in_one_region, max);
        prop_assert_eq!(counts[&s.busiest_region], max);
        prop_assert_eq!(s.max_allowed, m);
        prop_assert_eq!(s.shards, n);
        prop_assert_eq!(s.regions_used, counts.len());
    }
    if laminar {
        // Exactness: tolerant iff sum_r min(slots_r, m) >= n, and when not,
        // the busiest region is as small as possible.
        let slots: BTreeMap<String, usize> =
            slots_per_region(nodes, policy, |x| eligible(x, policy, SHARD_LEN))
                .into_iter()
                .map(|(r, s)| (r, s.len()))
                .collect();
        let feasible: usize = slots.values().map(|&s| s.min(m)).sum();
        prop_assert_eq!(
            p.region_tolerant,
            feasible >= n,
            "feasible {} of {}",
            feasible,
            n
        );
        if !p.region_tolerant {
            let best = min_cap(&slots, &BTreeMap::new(), n, m.max(1)).expect("fits uncapped");
            prop_assert_eq!(max, best);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn placement_follows_the_rules(
        spec in spec_strategy(false),
        policy in policy_strategy(),
        k in 1usize..=16,
        m in 0usize..=8,
        key in any::<[u8; 32]>(),
    ) {
        let nodes = gen_nodes(&spec);
        let cluster = Cluster::new(nodes.clone(), policy.clone()).unwrap();
        let result = cluster.place(&key, k, m, SHARD_LEN);
        check_place(&nodes, &policy, &result, k, m, true)?;

        // Determinism: same inputs, and the same nodes in another order.
        prop_assert_eq!(&result, &cluster.place(&key, k, m, SHARD_LEN));
        let mut shuffled = nodes.clone();
        Rng::new(spec.seed ^ 0x5555).shuffle(&mut shuffled);
        let again = Cluster::new(shuffled, policy).unwrap();
        prop_assert_eq!(&result, &again.place(&key, k, m, SHARD_LEN));
    }

    #[test]
    fn spanning_subnets_still_follow_the_hard_rules(
        spec in spec_strategy(true),
        policy in policy_strategy(),
        k in 1usize..=16,
        m in 0usize..=8,
        key in any::<[u8; 32]>(),
    ) {
        let nodes = gen_nodes(&spec);
        let cluster = Cluster::new(nodes.clone(), policy.clone()).unwrap();
        let result = cluster.place(&key, k, m, SHARD_LEN);
        check_place(&nodes, &policy, &result, k, m, false)?;
    }

    #[test]
    fn repair_follows_the_rules(
        spec in spec_strategy(false),
        policy in policy_strategy(),
        k in 1usize..=16,
        m in 0usize..=8,
        key in any::<[u8; 32]>(),
        lost_bits in any::<u32>(),
        kill in any::<bool>(),
    ) {
        let n = k + m;
        let mut nodes = gen_nodes(&spec);
        let cluster = Cluster::new(nodes.clone(), policy.clone()).unwrap();
        let Ok(placed) = cluster.place(&key, k, m, SHARD_LEN) else {
            return Ok(());
        };
        let mut current: Vec<Option<NodeId>> = placed.nodes.iter().cloned().map(Some).collect();
        let mut lost: Vec<usize> = (0..n).filter(|i| lost_bits >> (i % 32) & 1 == 1).collect();
        // One shard without a holder at all, when there are several.
        if n > 1 && lost_bits & (1 << 31) != 0 {
            current[n - 1] = None;
        }
        // Optionally the lost holders die (the usual cause).
        if kill {
            let dead: BTreeSet<NodeId> = lost.iter().filter_map(|&i| current[i].clone()).collect();
            for x in &mut nodes {
                if dead.contains(&x.id) {
                    x.health = placement::Health::Dead;
                }
            }
        }
        let cluster = Cluster::new(nodes.clone(), policy.clone()).unwrap();
        let result = cluster.plan_repair(&key, k, m, &current, &lost, SHARD_LEN);
        if current[n - 1].is_none() {
            lost.push(n - 1);
        }
        lost.sort_unstable();
        lost.dedup();

        let by_id: HashMap<NodeId, NodeInfo> = nodes.iter().map(|x| (x.id.clone(), x.clone())).collect();
        let in_current: BTreeSet<&NodeId> = current.iter().flatten().collect();
        let survivors: Vec<NodeId> = (0..n)
            .filter(|i| !lost.contains(i))
            .filter_map(|i| current[i].clone())
            .collect();
        let survivor_domains: BTreeSet<String> =
            survivors.iter().map(|id| domain(&by_id[id], &policy)).collect();
        let base = region_counts(&by_id, &survivors);
        let allowed = |x: &NodeInfo| {
            eligible(x, &policy, SHARD_LEN)
                && !in_current.contains(&x.id)
                && !survivor_domains.contains(&domain(x, &policy))
        };
        let slots: BTreeMap<String, usize> = slots_per_region(&nodes, &policy, allowed)
            .into_iter()
            .map(|(r, s)| (r, s.len()))
            .collect();
        let available: usize = slots.values().sum();

        let plan = match result {
            Err(e) => {
                prop_assert!(available < lost.len(), "{e} but {available} available");
                prop_assert_eq!(e, PlacementError::NotEnoughNodes {
                    needed: lost.len(),
                    eligible: available,
                    subnets: policy.distinct_subnets,
                });
                return Ok(());
            }
            Ok(plan) => plan,
        };
        prop_assert!(available >= lost.len());
        let idx: Vec<usize> = plan.assignments.iter().map(|(i, _)| *i).collect();
        prop_assert_eq!(&idx, &lost);
        let new: Vec<NodeId> = plan.assignments.iter().map(|(_, id)| id.clone()).collect();
        let mut domains = survivor_domains.clone();
        for id in &new {
            let x = &by_id[id];
            prop_assert!(eligible(x, &policy, SHARD_LEN), "ineligible {id}");
            prop_assert!(!in_current.contains(id), "reused {id}");
            prop_assert!(domains.insert(domain(x, &policy)), "domain reused by {id}");
        }
        let mut all = survivors.clone();
        all.extend(new.iter().cloned());
        let counts = region_counts(&by_id, &all);
        let max = counts.values().copied().max().unwrap_or(0);
        prop_assert_eq!(plan.region_tolerant, max <= m);
        prop_assert_eq!(plan.region_tolerant, plan.shortfall.is_none());
        // Caps count survivors: with room for everything under m, every
        // region that gained a shard stays within m; otherwise within the
        // smallest cap that fits.
        let cap = min_cap(&slots, &base, lost.len(), m).expect("fits uncapped");
        let gained = region_counts(&by_id, &new);
        for r in gained.keys() {
            prop_assert!(counts[r] <= cap, "region {} has {} > cap {}", r, counts[r], cap);
        }
        let base_max = base.values().copied().max().unwrap_or(0);
        if cap == m && base_max <= m {
            prop_assert!(plan.region_tolerant);
        }
        // Deterministic.
        prop_assert_eq!(
            Ok(plan),
            cluster.plan_repair(&key, k, m, &current, &lost, SHARD_LEN)
        );
    }
}
