//! One leader among gateways that share a metadata store.
//!
//! Every gateway serves S3 and sends its own heartbeats, but audits, the
//! manifest check, repair and garbage collection must run once per
//! namespace, not once per gateway: two repairers would rebuild the same
//! segment twice, and two auditors would double every node's load. The
//! gateway holding the `health` lease in the store runs them; it renews the
//! lease every third of its time to live, and when it stops renewing
//! (killed, cut off from the database) another gateway takes the lease
//! over once it expires. Gateways that do not lead reload the leader's
//! audit scores and bad-shard marks at each renewal, so they place shards
//! by the same judgement.
//!
//! Alone on a redb store a gateway always leads and this never runs.

use std::time::Duration;

use super::Health;

/// The lease's name in the store.
pub const HEALTH_LEASE: &str = "health";

/// Tries once to take or renew the lease and records the outcome in
/// `health`. A store that cannot be reached counts as not holding it.
pub async fn renew(health: &Health, holder: &str, ttl: Duration) -> bool {
    let held = match health.meta().try_lease(HEALTH_LEASE, holder, ttl).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "cannot renew the health lease");
            false
        }
    };
    let was = health.leads();
    if held != was {
        if held {
            tracing::info!(
                holder,
                "this gateway now runs audits, checks, repair and garbage collection"
            );
        } else {
            tracing::info!(holder, "another gateway runs the health loops now");
        }
    }
    health.set_leads(held);
    health.metrics().health_leader.set(i64::from(held));
    if !held && let Err(e) = health.reload().await {
        tracing::debug!(error = %e, "cannot reload the leader's health records");
    }
    held
}

/// Renews the lease forever (run as a task).
pub async fn run(health: Health, holder: String, ttl: Duration) {
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        renew(&health, &holder, ttl).await;
    }
}

/// Gives the lease up (at shutdown), so another gateway takes over at
/// once rather than when it expires.
pub async fn release(health: &Health, holder: &str) {
    if let Err(e) = health.meta().release_lease(HEALTH_LEASE, holder).await {
        tracing::debug!(error = %e, "cannot release the health lease");
    }
}
