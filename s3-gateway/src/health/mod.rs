//! Keeping the data alive: liveness, audits, reputation, repair and garbage
//! collection, run by the gateway for the shards it owns.
//!
//! * [`Health`] (registry): when each node was last heard from, its audit
//!   score, shards known bad, shards being written.
//! * [`liveness`]: a heartbeat (a `Stat` request) to every known node.
//! * [`audit`]: random proof-of-storage challenges against random shards.
//! * [`checker`]: a pass over every manifest counting each segment's
//!   healthy shards, queueing the degraded ones, and choosing audit samples.
//! * [`repair`]: rebuilds the lost shards of queued segments elsewhere.
//! * [`gc`]: deletes shards on nodes that no manifest references.
//! * [`lifecycle`]: expires versions and aborts stale uploads as the
//!   buckets' lifecycle rules say.
//! * [`lease`]: which of several gateways sharing a store runs the loops
//!   above (all of them send heartbeats).

pub mod audit;
pub mod checker;
pub mod durability_estimate;
pub mod gc;
pub mod lease;
pub mod lifecycle;
pub mod liveness;
mod registry;
pub mod repair;
pub mod reputation;

use std::time::Duration;

pub use registry::{AuditOutcome, Health, InflightGuard, NodeReport, NodeState, peer_name};
pub use reputation::ReputationPolicy;

/// A time limit for an answer from a node whose measured round trip is
/// `rtt`: `base` (the node's own work) plus two round trips, so a far but
/// healthy node is never late merely for being far.
pub(crate) fn allow_for_rtt(base: Duration, rtt: Option<Duration>) -> Duration {
    base + 2 * rtt.unwrap_or_default()
}

#[cfg(test)]
mod rtt_tests {
    use super::*;

    #[test]
    fn far_nodes_get_two_round_trips_on_top() {
        let ms = Duration::from_millis;
        assert_eq!(allow_for_rtt(ms(1500), None), ms(1500));
        assert_eq!(allow_for_rtt(ms(1500), Some(ms(240))), ms(1980));
    }
}

/// Timings and thresholds of the health loops.
#[derive(Clone, Debug)]
pub struct HealthConfig {
    /// How often every node is sent a heartbeat.
    pub heartbeat: Duration,
    /// How long a heartbeat may take.
    pub heartbeat_timeout: Duration,
    /// Silent this long: suspect (no new shards, read last).
    pub suspect_after: Duration,
    /// Silent this long: dead.
    pub dead_after: Duration,
    /// Dead this long: its shards count as lost and are repaired.
    pub repair_grace: Duration,
    /// How often each node is audited.
    pub audit_every: Duration,
    /// How long a node may take to answer an audit.
    pub audit_deadline: Duration,
    /// Chunks (1 KiB each) challenged per audit.
    pub audit_chunks: u16,
    /// Shards every stored shard should expect to be audited within, on
    /// average (more audits per round when a node holds many shards).
    pub audit_cycle: Duration,
    /// Audit score rules.
    pub reputation: ReputationPolicy,
    /// How often every manifest is checked.
    pub check_every: Duration,
    /// Repair a segment when its healthy shards are at most this many;
    /// `None`: k + m - 1 (repair at the first loss).
    pub repair_threshold: Option<usize>,
    /// Most shard bytes per second that repair uploads.
    pub repair_rate: u64,
    /// How often nodes are asked for the shards they keep for this gateway,
    /// to delete those nothing references.
    pub gc_every: Duration,
    /// Gateways share the metadata store (PostgreSQL): one of them, the
    /// holder of the health lease, runs audits, checks, repair and garbage
    /// collection.
    pub shared_store: bool,
    /// How long the health lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// With a shared store, a shard nothing references is deleted only
    /// once it has been seen unreferenced for this long (another gateway
    /// may be writing it, and only that gateway knows).
    pub collect_grace: Duration,
    /// What lifecycle rules count as a day (24 hours; tests scale it
    /// down to seconds).
    pub lifecycle_day: Duration,
}

impl Default for HealthConfig {
    /// Production: minutes, so that a reboot does not set off repairs.
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(5),
            suspect_after: Duration::from_secs(60),
            dead_after: Duration::from_secs(300),
            repair_grace: Duration::from_secs(600),
            audit_every: Duration::from_secs(300),
            audit_deadline: Duration::from_secs(10),
            audit_chunks: 4,
            audit_cycle: Duration::from_secs(86_400),
            reputation: ReputationPolicy::default(),
            check_every: Duration::from_secs(300),
            repair_threshold: None,
            repair_rate: 64 << 20,
            gc_every: Duration::from_secs(3600),
            shared_store: false,
            lease_ttl: Duration::from_secs(30),
            collect_grace: Duration::from_secs(3600),
            lifecycle_day: Duration::from_secs(86_400),
        }
    }
}

impl HealthConfig {
    /// How often lifecycle rules are applied: every hour of a lifecycle
    /// day (at least every half second, at most hourly).
    pub fn lifecycle_every(&self) -> Duration {
        (self.lifecycle_day / 24).clamp(Duration::from_millis(500), Duration::from_secs(3600))
    }

    /// Devnet: seconds, so failures are seen and repaired while you watch
    /// (dead after 10 s, repaired 10 s later).
    pub fn devnet() -> Self {
        Self {
            heartbeat: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_millis(1500),
            suspect_after: Duration::from_secs(3),
            dead_after: Duration::from_secs(10),
            repair_grace: Duration::from_secs(10),
            audit_every: Duration::from_secs(5),
            audit_deadline: Duration::from_secs(2),
            check_every: Duration::from_secs(5),
            repair_rate: 256 << 20,
            gc_every: Duration::from_secs(20),
            lease_ttl: Duration::from_secs(6),
            collect_grace: Duration::from_secs(60),
            ..Self::default()
        }
    }

    /// The repair threshold for a segment of `k + m` shards.
    pub fn threshold(&self, k: usize, total: usize) -> usize {
        // Default: repair at the first loss. With m > 2 a threshold of
        // k + 1 would wait for several losses and throw most of the extra
        // parity away (docs/DURABILITY.md: 4+3 gets 8.0 nines per segment
        // at k + 1, 12.3 at k + m - 1).
        self.repair_threshold
            .unwrap_or(total.saturating_sub(1))
            .min(total.saturating_sub(1))
            .max(k.min(total.saturating_sub(1)))
    }
}
