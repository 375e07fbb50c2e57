//! Property tests of placement and repair over random clusters.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{Rng, Spec, domain, eligible, gen_nodes, min_cap, slots_per_region};
use placement::{
    Cluster, Fallbacks, NodeId, NodeInfo, Placement, PlacementError, Policy, RepairRequest,
};
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

/// The failure-domain key of every node in `ids` that the test knows.
fn domains_of(by_id: &HashMap<NodeId, NodeInfo>, policy: &Policy, ids: &[NodeId]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| by_id.get(id))
        .map(|x| domain(x, policy))
        .collect()
}

/// Shards per node id.
fn node_counts<'a>(ids: impl IntoIterator<Item = &'a NodeId>) -> HashMap<NodeId, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id.clone()).or_insert(0) += 1;
    }
    counts
}

/// Clusters a few times the size of a segment, where repairs run short.
fn small_spec_strategy() -> impl Strategy<Value = Spec> {
    (any::<u64>(), 4usize..=40, 1usize..=6, 1usize..=3).prop_map(
        |(seed, nodes, regions, per_subnet)| Spec {
            seed,
            nodes,
            regions,
            per_subnet,
            spanning: false,
        },
    )
}

fn fallbacks_strategy() -> impl Strategy<Value = Fallbacks> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(all, rewrite_in_place, double_up)| {
        if all {
            Fallbacks::ALL
        } else {
            Fallbacks {
                rewrite_in_place,
                double_up,
            }
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    })]

    /// With fallbacks, a repair places every lost shard it can: by the
    /// strict rules as far as they go, then back onto a healthy node that
    /// held a bad copy, then doubled up on the least loaded nodes, never
    /// on a node holding a shard of the segment while an eligible node
    /// holds none.
    #[test]
    fn relaxed_repair_leaves_no_redundancy_on_the_table(
        spec in small_spec_strategy(),
        policy in policy_strategy(),
        k in 1usize..=8,
        m in 0usize..=4,
        key in any::<[u8; 32]>(),
        lost_bits in any::<u32>(),
        kill_bits in any::<u32>(),
        thin in any::<u64>(),
        fallbacks in fallbacks_strategy(),
    ) {
        let n = k + m;
        let mut nodes = gen_nodes(&spec);
        let cluster = Cluster::new(nodes.clone(), policy.clone()).unwrap();
        let Ok(placed) = cluster.place(&key, k, m, SHARD_LEN) else {
            return Ok(());
        };
        let mut current: Vec<Option<NodeId>> = placed.nodes.iter().cloned().map(Some).collect();
        let lost: Vec<usize> = (0..n).filter(|i| lost_bits >> (i % 32) & 1 == 1).collect();
        if n > 1 && lost_bits & (1 << 31) != 0 {
            current[n - 1] = None;
        }
        // Some lost holders die; the others stay up (their copy went bad).
        let dead: BTreeSet<NodeId> = lost
            .iter()
            .filter(|&&i| kill_bits >> (i % 32) & 1 == 1)
            .filter_map(|&i| current[i].clone())
            .collect();
        // Often the rest of the cluster thins out too, so nodes run short.
        let mut rng = Rng::new(thin);
        let thinning = thin & 1 == 1;
        for x in &mut nodes {
            if dead.contains(&x.id) || (thinning && rng.below(3) != 0) {
                x.health = placement::Health::Dead;
            }
        }
        let cluster = Cluster::new(nodes.clone(), policy.clone()).unwrap();
        let req = RepairRequest {
            key: &key,
            k,
            m,
            current: &current,
            lost: &lost,
            shard_len: SHARD_LEN,
            fallbacks,
        };
        let result = cluster.plan_repair_with(&req);
        prop_assert_eq!(&result, &cluster.plan_repair_with(&req), "deterministic");
        let strict = cluster.plan_repair(&key, k, m, &current, &lost, SHARD_LEN);
        if fallbacks == Fallbacks::NONE || strict.is_ok() {
            // Nothing is given up when the rules can be met.
            prop_assert_eq!(result, strict);
            return Ok(());
        }

        let by_id: HashMap<NodeId, NodeInfo> = nodes.iter().map(|x| (x.id.clone(), x.clone())).collect();
        let candidate = |id: &NodeId| {
            by_id.get(id).is_some_and(|x| {
                x.health == placement::Health::Alive && x.reputation >= policy.reputation_floor
            })
        };
        let mut targets = lost.clone();
        targets.extend((0..n).filter(|&i| current[i].is_none()));
        targets.sort_unstable();
        targets.dedup();
        let in_place_ok = |i: usize| {
            fallbacks.rewrite_in_place && current[i].as_ref().is_some_and(candidate)
        };
        let survivors: Vec<NodeId> = (0..n)
            .filter(|i| !targets.contains(i))
            .filter_map(|i| current[i].clone())
            .collect();
        let in_current: BTreeSet<&NodeId> = current.iter().flatten().collect();
        // Holders a shard may go back to count as taken for fresh nodes.
        let rewritable: Vec<NodeId> = targets
            .iter()
            .filter(|&&i| in_place_ok(i))
            .filter_map(|&i| current[i].clone())
            .collect();
        let mut survivor_domains: BTreeSet<String> =
            domains_of(&by_id, &policy, &survivors).into_iter().collect();
        survivor_domains.extend(domains_of(&by_id, &policy, &rewritable));
        let strict_slots: BTreeSet<String> = nodes
            .iter()
            .filter(|x| eligible(x, &policy, SHARD_LEN) && !in_current.contains(&x.id))
            .map(|x| domain(x, &policy))
            .filter(|d| !survivor_domains.contains(d))
            .collect();
        // Holders of lost shards that may not take their own shard back.
        let own: BTreeSet<&NodeId> = targets
            .iter()
            .filter(|&&i| !in_place_ok(i))
            .filter_map(|&i| current[i].as_ref())
            .collect();
        let any_eligible_elsewhere = targets.iter().any(|&i| {
            nodes
                .iter()
                .any(|x| eligible(x, &policy, SHARD_LEN) && current[i].as_ref() != Some(&x.id))
        });

        let plan = match result {
            Err(e) => {
                // Only when not one shard could be placed.
                prop_assert_eq!(e, PlacementError::NotEnoughNodes {
                    needed: targets.len(),
                    eligible: 0,
                    subnets: policy.distinct_subnets,
                });
                prop_assert!(strict_slots.is_empty());
                prop_assert!(targets.iter().all(|&i| !in_place_ok(i)));
                // (A shard never doubles up onto its own holder: that would
                // be a rewrite in place.)
                prop_assert!(!fallbacks.double_up || !any_eligible_elsewhere);
                return Ok(());
            }
            Ok(plan) => plan,
        };
        // Every target is placed or said to be unplaced, once.
        let idx: Vec<usize> = plan.assignments.iter().map(|(i, _)| *i).collect();
        prop_assert!(idx.windows(2).all(|w| w[0] < w[1]), "sorted: {:?}", idx);
        let mut covered = idx.clone();
        covered.extend(plan.unplaced.iter().copied());
        covered.sort_unstable();
        prop_assert_eq!(&covered, &targets);
        // Nodes: eligible, or the holder of the bad copy, rewritten.
        let mut in_place = Vec::new();
        for (i, id) in &plan.assignments {
            if current[*i].as_ref() == Some(id) {
                prop_assert!(in_place_ok(*i), "in place without leave: {}", i);
                in_place.push(*i);
            } else {
                prop_assert!(eligible(&by_id[id], &policy, SHARD_LEN), "ineligible {}", id);
            }
        }
        prop_assert_eq!(&plan.in_place, &in_place);
        // The strict rules were used as far as they go.
        let fresh: BTreeSet<String> = plan
            .assignments
            .iter()
            .filter(|(_, id)| !in_current.contains(id))
            .map(|(_, id)| domain(&by_id[id], &policy))
            .filter(|d| !survivor_domains.contains(d))
            .collect();
        prop_assert!(
            fresh.len() >= strict_slots.len().min(targets.len()),
            "{} fresh domains used of {}", fresh.len(), strict_slots.len()
        );
        // What is reported as doubled or sharing a subnet is so.
        let mut after: Vec<NodeId> = survivors.clone();
        after.extend(plan.assignments.iter().map(|(_, id)| id.clone()));
        let on_node = node_counts(&after);
        let mut on_subnet: HashMap<String, usize> = HashMap::new();
        for d in domains_of(&by_id, &policy, &after) {
            *on_subnet.entry(d).or_insert(0) += 1;
        }
        let doubled: Vec<usize> = plan
            .assignments
            .iter()
            .filter(|(_, id)| on_node[id] >= 2)
            .map(|(i, _)| *i)
            .collect();
        prop_assert_eq!(&plan.doubled, &doubled);
        let shared: Vec<usize> = plan
            .assignments
            .iter()
            .filter(|(_, id)| {
                policy.distinct_subnets
                    && on_node[id] < 2
                    && on_subnet[&domain(&by_id[id], &policy)] >= 2
            })
            .map(|(i, _)| *i)
            .collect();
        prop_assert_eq!(&plan.shared_subnet, &shared);
        if !fallbacks.double_up {
            prop_assert!(plan.doubled.is_empty() && plan.shared_subnet.is_empty());
        }
        // Never doubled up while an eligible node holds none; the doubled
        // shards went to the least loaded nodes that still had room.
        let spent = node_counts(
            plan.assignments
                .iter()
                .filter(|(i, _)| !plan.in_place.contains(i))
                .map(|(_, id)| id),
        );
        let room_left = |x: &NodeInfo| {
            eligible(x, &policy, SHARD_LEN)
                && x.free_bytes - SHARD_LEN * spent.get(&x.id).copied().unwrap_or(0) as u64
                    >= SHARD_LEN
        };
        let least = nodes
            .iter()
            .filter(|x| room_left(x) && !own.contains(&x.id))
            .map(|x| on_node.get(&x.id).copied().unwrap_or(0))
            .min();
        for (i, id) in &plan.assignments {
            if plan.in_place.contains(i) {
                continue;
            }
            if on_node[id] >= 2 {
                prop_assert!(
                    nodes
                        .iter()
                        .filter(|x| eligible(x, &policy, SHARD_LEN) && !own.contains(&x.id))
                        .all(|x| on_node.contains_key(&x.id)),
                    "shard {} doubled up on {} while an eligible node held none", i, id
                );
            }
            if let Some(least) = least {
                prop_assert!(on_node[id] <= least + 1, "{} holds {}, some node {}", id, on_node[id], least);
            }
        }
        // Unplaced only when nothing could take it.
        for &i in &plan.unplaced {
            prop_assert!(!in_place_ok(i));
            if fallbacks.double_up {
                prop_assert!(least.is_none(), "shard {} unplaced with room left", i);
            }
        }
        // The region verdict is the layout's.
        let counts = region_counts(&by_id, &after.iter().filter(|id| by_id.contains_key(id)).cloned().collect::<Vec<_>>());
        let max = counts.values().copied().max().unwrap_or(0);
        prop_assert_eq!(plan.region_tolerant, max <= m);
        prop_assert_eq!(plan.region_tolerant, plan.shortfall.is_none());
    }

    /// Spreading moves every doubled-up shard it can onto a node of its
    /// own, by the strict rules, the most crowded nodes first.
    #[test]
    fn spreading_gives_doubled_shards_their_own_nodes(
        spec in spec_strategy(false),
        policy in policy_strategy(),
        k in 1usize..=16,
        m in 0usize..=8,
        key in any::<[u8; 32]>(),
        dup_bits in any::<u32>(),
    ) {
        let n = k + m;
        let nodes = gen_nodes(&spec);
        let cluster = Cluster::new(nodes.clone(), policy.clone()).unwrap();
        let Ok(placed) = cluster.place(&key, k, m, SHARD_LEN) else {
            return Ok(());
        };
        let mut current: Vec<Option<NodeId>> = placed.nodes.iter().cloned().map(Some).collect();
        for i in 1..n {
            if dup_bits >> (i % 32) & 1 == 1 {
                current[i] = current[i - 1].clone();
            }
        }
        let plan = cluster.plan_spread(&key, k, m, &current, SHARD_LEN).unwrap();
        prop_assert_eq!(&plan, &cluster.plan_spread(&key, k, m, &current, SHARD_LEN).unwrap());
        prop_assert!(plan.in_place.is_empty() && plan.doubled.is_empty());

        let before = node_counts(current.iter().flatten());
        let movers: Vec<usize> = (0..n)
            .filter(|&i| {
                let id = current[i].as_ref().unwrap();
                before[id] > 1 && current.iter().position(|h| h.as_ref() == Some(id)) != Some(i)
            })
            .collect();
        let idx: Vec<usize> = plan.assignments.iter().map(|(i, _)| *i).collect();
        let mut covered = idx.clone();
        covered.extend(plan.unplaced.iter().copied());
        covered.sort_unstable();
        prop_assert_eq!(&covered, &movers);

        let by_id: HashMap<NodeId, NodeInfo> = nodes.iter().map(|x| (x.id.clone(), x.clone())).collect();
        let in_current: BTreeSet<&NodeId> = current.iter().flatten().collect();
        let kept: Vec<NodeId> = (0..n)
            .filter(|i| !movers.contains(i))
            .filter_map(|i| current[i].clone())
            .collect();
        let mut domains: BTreeSet<String> = domains_of(&by_id, &policy, &kept).into_iter().collect();
        let available = nodes
            .iter()
            .filter(|x| eligible(x, &policy, SHARD_LEN) && !in_current.contains(&x.id))
            .map(|x| domain(x, &policy))
            .filter(|d| !domains.contains(d))
            .collect::<BTreeSet<_>>()
            .len();
        prop_assert_eq!(plan.assignments.len(), movers.len().min(available));
        for (_, id) in &plan.assignments {
            prop_assert!(eligible(&by_id[id], &policy, SHARD_LEN));
            prop_assert!(!in_current.contains(id));
            prop_assert!(domains.insert(domain(&by_id[id], &policy)), "domain reused by {}", id);
        }
        for (i, _) in &plan.assignments {
            for j in &plan.unplaced {
                let (a, b) = (current[*i].as_ref().unwrap(), current[*j].as_ref().unwrap());
                prop_assert!(before[a] >= before[b], "moved from a node of {} before one of {}", before[a], before[b]);
            }
        }
        let mut after = current.clone();
        for (i, id) in &plan.assignments {
            after[*i] = Some(id.clone());
        }
        let after_ids: Vec<NodeId> = after.into_iter().flatten().collect();
        let after_counts = node_counts(&after_ids);
        if plan.unplaced.is_empty() {
            prop_assert!(after_counts.values().all(|&c| c == 1));
        }
        let counts = region_counts(&by_id, &after_ids);
        let max = counts.values().copied().max().unwrap_or(0);
        prop_assert_eq!(plan.region_tolerant, max <= m);
    }
}
