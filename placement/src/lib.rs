//! Placement for Cairn: which nodes receive a segment's `k + m` shards, where
//! lost shards go, and which holders to read from first.
//!
//! Pure logic, no I/O. Build a [`Cluster`] from the [`NodeInfo`] a gateway
//! currently knows and a [`Policy`]; then [`Cluster::place`] picks nodes for a
//! new segment, [`Cluster::plan_repair`] picks nodes for lost shards
//! ([`Cluster::plan_repair_with`] also when the nodes run short: rewriting a
//! bad copy in place, doubling up), [`Cluster::plan_spread`] moves doubled-up
//! shards apart again, and [`order_for_read`] ranks a segment's holders for a
//! read; [`rank_for_task`] picks the compute node for a task over an
//! object's shards.
//!
//! ```
//! use placement::{Cluster, NodeInfo, Policy};
//!
//! let nodes = (0..12).map(|i| {
//!     let region = format!("region-{}", i % 3);
//!     NodeInfo::new(format!("node-{i}").as_str(), region, format!("10.0.{i}.0/24"), 1 << 40)
//! });
//! let cluster = Cluster::new(nodes, Policy::default())?;
//! let placed = cluster.place(b"segment id", 4, 2, 2 << 20)?;
//! assert_eq!(placed.nodes.len(), 6);
//! assert!(placed.region_tolerant);
//!
//! // Shard 1's node died: find it a new home.
//! let current: Vec<_> = placed.nodes.iter().cloned().map(Some).collect();
//! let plan = cluster.plan_repair(b"segment id", 4, 2, &current, &[1], 2 << 20)?;
//! assert_eq!(plan.assignments.len(), 1);
//!
//! // Whom to ask first when reading (positions in `placed.nodes`).
//! let order = cluster.order_for_read(&placed.nodes);
//! assert_eq!(order.len(), 6);
//! # Ok::<(), placement::PlacementError>(())
//! ```
//!
//! # Rules
//! 1. Only alive nodes with reputation at or above the floor and room for the
//!    shard receive shards.
//! 2. Never two shards of a segment on one node, nor in one subnet (unless
//!    [`Policy::distinct_subnets`] is off).
//! 3. At most `m` shards per region, so that losing any one region leaves at
//!    least `k` — whenever the nodes allow it. When they don't, placement is
//!    best effort and says so ([`Placement::region_tolerant`],
//!    [`RegionShortfall`]). Too few distinct eligible nodes (or subnets) is an
//!    error, [`PlacementError::NotEnoughNodes`] — except for a repair with
//!    [`Fallbacks`], which then rewrites bad copies in place and doubles up on
//!    the least loaded nodes (never on a node holding a shard of the segment
//!    while an eligible node holds none) and says so in its [`RepairPlan`].
//! 4. Among the rest, more free capacity and lower RTT are preferred, by the
//!    policy's weights.
//! 5. Deterministic: weighted rendezvous hashing of (segment id, node id), so
//!    the same inputs (in any order) give the same answer, and adding or
//!    removing one node moves about that node's share of the total weight
//!    of shard placements (~1% for one node in a hundred).
//!
//! # Exactness of the region rule
//! Candidates are taken greedily in rendezvous order, skipping a node whose
//! subnet is taken or whose region is at its cap. When each subnet lies
//! within a single region (the normal case: a /24 or /48 does not span
//! regions), the subnet and region caps form a laminar matroid, and the
//! greedy finds a region-tolerant placement if and only if one exists, i.e.
//! iff `sum over regions of min(distinct eligible subnets there, m) >= k + m`
//! (nodes instead of subnets with the subnet rule off). If some subnet spans
//! regions, the subnet rule still always holds but the region rule is best
//! effort: the greedy may report a shortfall where a cleverer assignment
//! exists.
//!
//! # Cost
//! [`Cluster::new`] does the per-node work once (sorting, interning, id
//! hashes, weights, per-region subnet counts). [`Cluster::place`] then costs
//! one 64-bit hash mix per candidate; it keeps the best `4 (k + m) + 16` in a
//! small heap, and computes the logarithm only for candidates whose cheap
//! lower bound could still make that cut. The greedy runs on those; only if
//! they cannot satisfy the rules does it rank every candidate.
//!
//! # Determinism
//! The answer depends on the set of nodes and their attributes, the policy,
//! the key and the shard shape, never on input order. Hashing is fixed and
//! platform-independent; the scores also use `f64::ln` and `f64::exp`, so two
//! different platforms' maths libraries could in principle order two
//! near-identical scores differently. Placements are recorded in manifests,
//! so this never affects reading data back.

#![warn(missing_docs)]

mod cluster;
mod compute;
mod error;
mod fallback;
mod hash;
mod node;
mod place;
mod policy;
mod read;
mod rendezvous;
mod repair;
mod select;
mod spread;

pub use cluster::Cluster;
pub use compute::{ComputeNode, HeldShard, rank_for_task};
pub use error::PlacementError;
pub use node::{Health, NodeId, NodeInfo, Subnet};
pub use place::Placement;
pub use policy::{MIN_RTT, Policy};
pub use read::{RTT_STEP, order_for_read};
pub use repair::{Fallbacks, RepairPlan, RepairRequest};
pub use select::RegionShortfall;
