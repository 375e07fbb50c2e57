//! The repair loop: the repair queue riskiest first, then the rebalance
//! queue, both under one upload rate limit.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use placement::Cluster;

use super::{RepairError, Repaired, rebalance_one, repair_one};
use crate::data::DataPath;
use crate::health::Health;
use crate::health::registry::now_ms;
use crate::meta::{MetaError, SegmentKey};

/// Segments repaired (or spread out) at the same time.
const REPAIRS_IN_FLIGHT: usize = 4;

/// How long an idle loop waits before looking at the queues again (a read
/// that queues a segment wakes it at once).
const IDLE: Duration = Duration::from_secs(1);

/// How long a loop that could not progress waits before trying again.
const STUCK: Duration = Duration::from_secs(5);

/// Segments that could not be spread out are tried again this often even
/// if the nodes seem unchanged (free space, for one, is not watched).
const REBALANCE_RETRY: Duration = Duration::from_secs(60);

/// Works through the queues forever (run as a task): the repair queue,
/// riskiest segment first, then the rebalance queue; pausing as needed to
/// stay under `repair_rate`. A queue that cannot be read is an error,
/// logged and retried, never an empty queue.
pub async fn run(data: DataPath) {
    let health = data.health().clone();
    let pace = Pace::new(health.config().repair_rate);
    let mut spreading = Spreading::default();
    loop {
        if !health.leads() {
            wait(&health, IDLE).await;
            continue;
        }
        let queue = match health.meta().repair_queue().await {
            Ok(queue) => queue,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the repair queue; retrying");
                wait(&health, STUCK).await;
                continue;
            }
        };
        health.metrics().repair_queue.set(queue.len() as i64);
        let at_risk = !queue.is_empty();
        let mut progressed = false;
        if at_risk {
            progressed |= repair_pass(&data, queue, &pace).await;
        }
        // Last: whole segments whose shards doubled up, when nodes allow.
        match spreading.pass(&data, &pace).await {
            Ok(moved) => progressed |= moved,
            Err(e) => tracing::error!(error = %e, "cannot read the rebalance queue; retrying"),
        }
        if progressed {
            continue;
        }
        if at_risk {
            // Nothing could be done (no node to place on, too few shards
            // reachable): wait before trying the same segments again.
            wait(&health, STUCK).await;
        } else {
            // Idle: the rate limit measures from the next repair on.
            pace.restart();
            wait(&health, IDLE).await;
        }
    }
}

/// Sleeps for `period`, or less if a segment is queued meanwhile.
async fn wait(health: &Health, period: Duration) {
    tokio::select! {
        () = tokio::time::sleep(period) => {}
        () = health.repair_wanted() => {}
    }
}

/// Removes finished segments from a queue.
async fn dequeue(health: &Health, done: Vec<SegmentKey>, rebalance: bool) {
    if done.is_empty() {
        return;
    }
    let meta = health.meta();
    let result = if rebalance {
        meta.update_rebalance_queue(&[], &done, now_ms()).await
    } else {
        meta.update_repair_queue(&[], &done, now_ms()).await
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot update a repair queue");
    }
}

/// One pass over the repair queue. Returns whether anything was repaired.
async fn repair_pass(
    data: &DataPath,
    queue: Vec<(SegmentKey, crate::meta::RepairEntry)>,
    pace: &Pace,
) -> bool {
    let mut progressed = false;
    // A few segments at once: fetching, rebuilding and uploading overlap,
    // and one slow node does not hold up the queue. The rate limit holds
    // back the start of the next repair, never one that is uploading (a
    // stalled upload would be cut as slow).
    let mut attempts = futures_util::stream::iter(queue)
        .map(|(at, _)| async move {
            pace.turn().await;
            let outcome = repair_one(data, &at).await;
            pace.account(&outcome);
            (at, outcome)
        })
        .buffer_unordered(REPAIRS_IN_FLIGHT);
    let mut done = Vec::new();
    while let Some((at, outcome)) = attempts.next().await {
        match outcome {
            Ok(Repaired::Moved(..)) => {
                progressed = true;
                done.push(at);
            }
            Ok(Repaired::Nothing | Repaired::Raced) => done.push(at),
            Ok(Repaired::NoRoom) => {}
            Err(e) => {
                tracing::warn!(bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment, error = %e, "repair failed; will retry");
            }
        }
    }
    drop(attempts);
    dequeue(data.health(), done, false).await;
    progressed
}

/// The rebalance queue's state between passes: which segments were tried
/// with which nodes, so a segment with nowhere to go is tried again only
/// when the candidate nodes change (or after [`REBALANCE_RETRY`]).
#[derive(Default)]
struct Spreading {
    /// Fingerprint of the candidate nodes when `tried` was started.
    nodes: u64,
    /// When `tried` was started.
    since: Option<Instant>,
    /// Segments tried since.
    tried: HashSet<SegmentKey>,
}

impl Spreading {
    /// Tries every queued segment not tried with the current nodes.
    /// Returns whether any shard moved.
    async fn pass(&mut self, data: &DataPath, pace: &Pace) -> Result<bool, MetaError> {
        let health = data.health();
        let queue = health.meta().rebalance_queue().await?;
        health.metrics().rebalance_queue.set(queue.len() as i64);
        let nodes = fingerprint(&data.nodes().cluster());
        if nodes != self.nodes || self.since.is_none_or(|t| t.elapsed() >= REBALANCE_RETRY) {
            self.nodes = nodes;
            self.since = Some(Instant::now());
            self.tried.clear();
        }
        let todo: Vec<SegmentKey> = queue
            .into_iter()
            .filter(|at| !self.tried.contains(at))
            .collect();
        if todo.is_empty() {
            return Ok(false);
        }
        let mut progressed = false;
        let mut attempts = futures_util::stream::iter(todo)
            .map(|at| async move {
                pace.turn().await;
                let outcome = rebalance_one(data, &at).await;
                pace.account(&outcome);
                (at, outcome)
            })
            .buffer_unordered(REPAIRS_IN_FLIGHT);
        let mut done = Vec::new();
        while let Some((at, outcome)) = attempts.next().await {
            self.tried.insert(at.clone());
            match outcome {
                Ok(Repaired::Moved(..)) => {
                    progressed = true;
                    done.push(at);
                }
                Ok(Repaired::Nothing | Repaired::Raced) => done.push(at),
                Ok(Repaired::NoRoom) => {}
                Err(e) => {
                    tracing::warn!(bucket = %at.bucket, key = %at.key, part = at.part, segment = at.segment, error = %e, "rebalance failed; will retry");
                }
            }
        }
        drop(attempts);
        dequeue(health, done, true).await;
        Ok(progressed)
    }
}

/// A hash of the ids of the nodes that may receive shards.
fn fingerprint(cluster: &Cluster) -> u64 {
    let floor = cluster.policy().reputation_floor;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for n in cluster.nodes() {
        if n.health == placement::Health::Alive && n.reputation >= floor {
            n.id.hash(&mut h);
        }
    }
    h.finish()
}

/// The upload rate limit shared by repair and rebalancing: the next
/// segment starts only while the bytes sent since `started` are within
/// `rate` per second.
struct Pace {
    rate: f64,
    started: Mutex<Instant>,
    sent: AtomicU64,
}

impl Pace {
    fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1) as f64,
            started: Mutex::new(Instant::now()),
            sent: AtomicU64::new(0),
        }
    }

    /// Waits until the next segment may start.
    async fn turn(&self) {
        let due = Duration::from_secs_f64(self.sent.load(Ordering::Relaxed) as f64 / self.rate);
        let elapsed = self.started.lock().expect("not poisoned").elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }

    /// Counts the bytes an attempt uploaded.
    fn account(&self, outcome: &Result<Repaired, RepairError>) {
        if let Ok(Repaired::Moved(_, bytes)) = outcome {
            self.sent.fetch_add(*bytes, Ordering::Relaxed);
        }
    }

    /// Starts measuring afresh (after idling).
    fn restart(&self) {
        *self.started.lock().expect("not poisoned") = Instant::now();
        self.sent.store(0, Ordering::Relaxed);
    }
}
