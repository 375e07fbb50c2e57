//! Cairn's durability model: how likely an object is to be lost within a
//! year, for a configuration of erasure code, repair policy, mesh and
//! failure rates. Pure logic, no I/O; `cairn simulate` prints it and the
//! gateway logs a one-line [`estimate`] at start.
//!
//! # The model
//!
//! A segment is `k + m` shards on distinct nodes, at most `m` per region
//! (as Cairn places them). It is **lost** when more than `m` of its shards
//! are destroyed or rotten at the same time. What happens to shards:
//!
//! * **Node loss** (rate per node-year, from an annual failure rate or a
//!   monthly churn): the node and its shards are gone for good. The mesh
//!   keeps its size (a new node replaces it).
//! * **Rot** (rate per shard-year): a shard goes bad on a node that stays
//!   up; only an audit finds it.
//! * **Transient outages** (rate per node-year, fixed duration) and
//!   **region outages** (rate per region-year, fixed duration): nodes go
//!   silent and come back with their shards. They destroy nothing, but an
//!   outage that outlasts the deadline gets its shards rebuilt (repair
//!   traffic, and work ahead of other repairs in the queue), and while
//!   nodes are silent a repair may not find `k` shards to read.
//! * **Region losses** (rate per region-year): every node of a region is
//!   lost at once (the correlated failure that region-capped placement is
//!   for).
//!
//! What the gateway does about it, as in `s3_gateway::health`:
//!
//! * A silent node's shards count as lost (not *held*) at the first check
//!   pass after `dead_after + repair_grace`; a rotten shard once an audit
//!   hits it (audits reach each shard about once per `audit_cycle`,
//!   exponentially distributed) and a check pass follows.
//! * A segment whose held shards are at most the repair threshold is
//!   queued. The queue is served riskiest first (fewest held), oldest
//!   first within a level, at the mesh's repair throughput: the gateways'
//!   repair rate, or the nodes' repair bandwidth if that binds (each
//!   rebuilt byte costs `k` bytes read and one written on the nodes). A
//!   repair rebuilds every shard the gateway counts as lost, from `k`
//!   intact shards that answer; without `k` it waits until nodes return.
//!
//! # How it is computed
//!
//! Three layers, each checkable against the others:
//!
//! 1. [`queue`]: the mesh-wide repair queue is simulated as a fluid of
//!    batches (a lost node's segments, a region's) with preemptive
//!    priority by held level. It yields the distribution of how long a
//!    segment waits for its repair, by cause and level, and the repair
//!    traffic.
//! 2. [`montecarlo`]: an event-driven, seeded simulation of single
//!    segments over many segment-years, drawing repair waits from the
//!    queue. Quiet periods cost one random draw per event that changes
//!    anything, which gives over a million segment-years per second per
//!    core for 4+2. Plain counting cannot see a loss per 10¹⁰
//!    segment-years, so a second run uses importance sampling: losses of a
//!    segment at risk are made more frequent and each cycle is weighted by
//!    its likelihood ratio (a regenerative ratio estimator, unbiased), which
//!    makes 10–20 nines measurable to a few percent in a second.
//! 3. [`analytic`]: a renewal model whose loss probability per excursion
//!    is integrated over the geometry of the repair windows (fixed
//!    deadlines, check passes, queue waits, priority after a second
//!    sighting, audits for rot), correct to leading order in
//!    `n × loss rate × repair window` (below 10⁻³ for Cairn). It is cheap,
//!    so the gateway's start-up line and `cairn simulate --recommend` use
//!    it, and the Monte Carlo checks it: `cairn simulate` prints both and
//!    whether the analytic figure lies within the Monte Carlo's 95 %
//!    interval. Where outages or rot dominate it can be off by tens of
//!    percent, and says so.
//!
//! [`closed_form`] holds two published models, printed side by side:
//! Backblaze's binomial-in-a-repair-window model and the Poisson churn
//! bound of Storj's whitepaper (v3, section 3.4).
//!
//! # What is not modelled
//!
//! * Node loss, rot and outages are memoryless and independent across
//!   nodes (except whole-region events); real hardware has infant
//!   mortality and batches of bad disks.
//! * Segments of one object are taken as independent (objects' segments
//!   are placed independently; shared nodes make losses of one object's
//!   segments coincide, so the per-object figure errs on the safe side).
//! * Placement never doubles shards up on one node (Cairn's planner may,
//!   on a mesh with no spare node, until a node joins), and a rebuilt
//!   shard goes to a node in the same region as the one it replaces.
//! * Reads that find rot and queue it at once (heal on read) are not
//!   counted: rot is found by audits only, which errs on the safe side.
//! * The gateway itself, its metadata and its master key are taken as
//!   durable; losing the master key loses everything.
//! * Byzantine nodes are modelled only through rot (a shard that fails
//!   audits is rebuilt like a rotten one).

pub mod analytic;
pub mod closed_form;
pub mod config;
pub mod montecarlo;
pub mod placement;
pub mod queue;
pub mod recommend;
pub mod report;
pub mod rng;

pub use config::{Config, ConfigError, SECONDS_PER_YEAR, rate_from_monthly_churn};
pub use recommend::{Candidate, pick, sweep};
pub use report::{Budget, Durability, Estimate, Report, estimate, evaluate};
