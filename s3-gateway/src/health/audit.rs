//! Audits: every `audit_every`, each live node is challenged to prove it
//! holds shards picked at random by the checker, with a fresh random seed
//! and random chunks. The proof must arrive within `audit_deadline` (plus
//! twice the node's measured round trip: distance is not a lie) and
//! verify against the shard id (which the gateway knows; the node cannot
//! forge it). A wrong proof, or a node saying the shard is gone or corrupt,
//! is a failure and marks that shard bad; no answer in time from a node
//! that answers heartbeats is a time-out. A node that cannot be reached at
//! all is left to liveness and not scored (an outage is not a lie).

use std::time::Duration;

use libp2p::PeerId;
use mesh::net::{ClientError, MeshClient};
use mesh::wire::ErrorCode;
use rand::seq::SliceRandom;

use super::checker::{Sample, Survey};
use super::{AuditOutcome, Health, NodeState};

/// Whether the manifest still names `node`'s copy of the sampled shard (a
/// sample can be a check interval old: the object may have been replaced,
/// deleted or repaired since, and its copy rightly removed).
async fn still_referenced(health: &Health, node: &[u8], sample: &Sample) -> bool {
    let at = &sample.at;
    let Ok(Some(object)) = health.meta().object(&at.bucket, &at.key).await else {
        return false;
    };
    object
        .parts
        .get(at.part as usize)
        .and_then(|p| p.segments.get(at.segment as usize))
        .is_some_and(|layout| {
            layout
                .shards
                .iter()
                .any(|s| s.id == sample.shard.0 && s.node == node)
        })
}

/// Audits one shard of `node`. Returns `None` if the node was unreachable
/// or the sample had gone stale (neither is scored).
pub async fn audit_one(
    health: &Health,
    mesh: &MeshClient,
    node: &[u8],
    sample: &Sample,
) -> Option<AuditOutcome> {
    let (shard, len) = (sample.shard, sample.len);
    let peer = PeerId::from_bytes(node).ok()?;
    let config = health.config();
    let challenge = proofs::Challenge::random(shard, len, config.audit_chunks);
    let answer = tokio::time::timeout(
        super::allow_for_rtt(config.audit_deadline, mesh.rtt(&peer)),
        mesh.shards().challenge(peer, &challenge),
    )
    .await;
    let outcome = match answer {
        Ok(Ok(proof)) => match proofs::verify(&shard, len, &challenge, &proof) {
            Ok(()) => AuditOutcome::Passed,
            Err(e) => {
                tracing::warn!(node = %peer, %shard, error = %e, "audit: invalid proof");
                AuditOutcome::Failed
            }
        },
        Ok(Err(ClientError::Remote { code, message }))
            if matches!(code, ErrorCode::NotFound | ErrorCode::Corrupt) =>
        {
            tracing::warn!(node = %peer, %shard, ?code, message, "audit: the node does not have the shard");
            AuditOutcome::Failed
        }
        Ok(Err(ClientError::Timeout)) | Err(_) => AuditOutcome::TimedOut,
        Ok(Err(ClientError::Unexpected(what))) => {
            tracing::warn!(node = %peer, %shard, what, "audit: unusable answer");
            AuditOutcome::Failed
        }
        Ok(Err(e)) => {
            tracing::debug!(node = %peer, error = %e, "audit: node unreachable");
            health.metrics().audit("unreachable");
            return None;
        }
    };
    // A time-out only counts against a node that is otherwise answering.
    if outcome == AuditOutcome::TimedOut && health.state(node) != NodeState::Alive {
        health.metrics().audit("unreachable");
        return None;
    }
    match outcome {
        AuditOutcome::Passed => health.seen(node),
        AuditOutcome::Failed => {
            if !still_referenced(health, node, sample).await {
                health.metrics().audit("stale");
                return None;
            }
            // One lost copy is one failure, however often it is asked for.
            if !health.mark_bad(node, &shard.0) {
                return Some(outcome);
            }
        }
        // Slow is not wrong: the copy is not marked bad, only the score
        // pays.
        AuditOutcome::TimedOut => {}
    }
    let state = health.record_audit(node, outcome);
    tracing::debug!(node = %peer, %shard, ?outcome, state = state.as_str(), "audit");
    Some(outcome)
}

/// How many audits each node gets per round so that, on average, every
/// shard it holds is audited once per `audit_cycle`.
pub fn audits_per_round(held: u64, every: Duration, cycle: Duration) -> usize {
    let rounds_per_cycle = (cycle.as_secs_f64() / every.as_secs_f64()).max(1.0);
    ((held as f64 / rounds_per_cycle).ceil() as usize).max(1)
}

/// One round: audits every live, non-disqualified node that holds shards.
pub async fn round(health: &Health, mesh: &MeshClient, survey: &Survey) {
    let report = survey.latest();
    let config = health.config();
    let mut tasks = Vec::new();
    for (node, samples) in &report.samples {
        if !matches!(health.state(node), NodeState::Alive | NodeState::Suspended) {
            continue;
        }
        let held = report.held.get(node).copied().unwrap_or(0);
        let count = audits_per_round(held, config.audit_every, config.audit_cycle);
        let picks: Vec<Sample> = samples
            .choose_multiple(&mut rand::thread_rng(), count)
            .cloned()
            .collect();
        let (health, mesh, node) = (health.clone(), mesh.clone(), node.clone());
        tasks.push(tokio::spawn(async move {
            for sample in picks {
                // Unreachable or slow: the rest of this node's round waits
                // for the next one (one freeze is one time-out, not many).
                match audit_one(&health, &mesh, &node, &sample).await {
                    None | Some(AuditOutcome::TimedOut) => break,
                    Some(_) => {}
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Audits every `audit_every` forever (run as a task).
pub async fn run(health: Health, mesh: MeshClient, survey: Survey) {
    let mut tick = tokio::time::interval(health.config().audit_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if health.leads() {
            round(&health, &mesh, &survey).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_is_audited_once_per_cycle_on_average() {
        let minute = Duration::from_secs(60);
        let day = Duration::from_secs(86_400);
        assert_eq!(audits_per_round(0, minute, day), 1);
        assert_eq!(audits_per_round(1440, minute, day), 1);
        assert_eq!(audits_per_round(1441, minute, day), 2);
        assert_eq!(audits_per_round(1_000_000, minute, day), 695);
    }
}
