//! The gateway's live picture of node health: liveness (when each node was
//! last heard from), audit scores, shards known to be bad, and shards being
//! written right now (which garbage collection must not touch).
//!
//! Shared by the data path (read strikes, in-flight writes), the node view
//! (placement sees health and reputation), and the background loops.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mesh::ShardId;
use serde::Serialize;

use super::HealthConfig;
use super::reputation::Score;
use crate::admin::metrics::GatewayMetrics;
use crate::meta::{MetaStore, NodeHealthRecord};

/// Where a node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Heard from recently; gets new shards unless suspended.
    Alive,
    /// Audit score below the suspension threshold: no new shards.
    Suspended,
    /// Silent past `suspect_after`: avoided for writes and read last.
    Suspect,
    /// Silent past `dead_after`.
    Dead,
    /// Audit score fell below the disqualification threshold: its shards
    /// are lost for good.
    Disqualified,
}

impl NodeState {
    /// The lower-case name (as in metrics and `cairn status`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Suspended => "suspended",
            NodeState::Suspect => "suspect",
            NodeState::Dead => "dead",
            NodeState::Disqualified => "disqualified",
        }
    }
}

/// What an audit concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    /// A valid proof in time.
    Passed,
    /// A wrong proof, or the node said the shard is missing or corrupt.
    Failed,
    /// No answer within the deadline while the node was reachable.
    TimedOut,
}

#[derive(Debug)]
struct NodeEntry {
    record: NodeHealthRecord,
    score: Score,
    /// When this gateway first knew of the node (its grace starts there if
    /// it is never heard from).
    known_since: Instant,
    last_seen: Option<Instant>,
    /// The latest audits since this gateway started (unix ms, outcome),
    /// oldest first, at most [`AUDIT_HISTORY`].
    recent_audits: std::collections::VecDeque<(u64, AuditOutcome)>,
    /// Changed since last persisted.
    dirty: bool,
}

/// How many of a node's latest audits the gateway remembers for the
/// console (in memory only).
pub const AUDIT_HISTORY: usize = 50;

impl AuditOutcome {
    /// The outcome's name, as metrics and the console show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::TimedOut => "timed out",
        }
    }
}

/// One node as `cairn status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    /// Node id bytes.
    #[serde(skip)]
    pub id: Vec<u8>,
    /// Peer id.
    pub peer_id: String,
    /// State.
    pub state: NodeState,
    /// Audit score in [0, 1].
    pub reputation: f64,
    /// Audits passed, failed, timed out.
    pub audits: (u64, u64, u64),
    /// Seconds since the last audit, if any.
    pub last_audit_secs: Option<u64>,
    /// Seconds since last heard from, if ever.
    pub last_seen_secs: Option<u64>,
}

struct Inner {
    config: HealthConfig,
    meta: MetaStore,
    metrics: GatewayMetrics,
    nodes: Mutex<HashMap<Vec<u8>, NodeEntry>>,
    bad: Mutex<HashSet<(Vec<u8>, [u8; 32])>>,
    inflight: Mutex<Inflight>,
    /// Rings when a segment was queued for repair outside the checker (a
    /// read found a bad shard), so the repair loop starts at once.
    repair_wanted: tokio::sync::Notify,
    /// This gateway runs the audit, check, repair and collection loops and
    /// persists health (always, alone on its store; while it holds the
    /// health lease, when gateways share one: see [`super::lease`]).
    leads: std::sync::atomic::AtomicBool,
}

/// Shards being written, and those written in the last ten minutes.
#[derive(Default)]
struct Inflight {
    /// Shard id → `None` while being written, `Some(t)` once done at `t`.
    shards: HashMap<[u8; 32], Option<Instant>>,
    /// Finished shards in the order they finished, to expire them without
    /// scanning the map.
    finished: std::collections::VecDeque<(Instant, [u8; 32])>,
}

/// Handle on the health registry. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Health {
    /// Loads persisted audit history and bad-shard marks from `meta`.
    pub async fn load(
        config: HealthConfig,
        meta: MetaStore,
        metrics: GatewayMetrics,
    ) -> Result<Self, crate::meta::MetaError> {
        let now = Instant::now();
        let wall = now_ms();
        let mut nodes = HashMap::new();
        for (id, record) in meta.node_health().await? {
            let score = Score {
                alpha: record.alpha,
                beta: record.beta,
            };
            // A restart forgives no silence: a node last heard from before
            // it keeps that age (the first heartbeat, sent before anything
            // else runs, clears it for nodes that are up).
            let last_seen = (record.last_seen > 0).then(|| {
                let age = Duration::from_millis(wall.saturating_sub(record.last_seen));
                // Older than this machine's clock can express: as old as
                // it can, never "just now".
                now.checked_sub(age)
                    .or_else(|| now.checked_sub(config.dead_after + config.repair_grace))
                    .unwrap_or(now)
            });
            nodes.insert(
                id,
                NodeEntry {
                    recent_audits: Default::default(),
                    record,
                    score,
                    known_since: last_seen.unwrap_or(now),
                    last_seen,
                    dirty: false,
                },
            );
        }
        let bad = meta.bad_shards().await?.into_iter().collect();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                meta,
                metrics,
                nodes: Mutex::new(nodes),
                bad: Mutex::new(bad),
                inflight: Mutex::default(),
                repair_wanted: tokio::sync::Notify::new(),
                leads: std::sync::atomic::AtomicBool::new(true),
            }),
        })
    }

    /// Whether this gateway runs the health loops now.
    pub fn leads(&self) -> bool {
        self.inner.leads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `pass` whenever this gateway leads, at once when `wake` is
    /// notified and otherwise every `every`, forever (the pin and job
    /// workers' loop).
    pub async fn lead_passes<F, Fut>(
        &self,
        wake: &tokio::sync::Notify,
        every: std::time::Duration,
        mut pass: F,
    ) where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        loop {
            if self.leads() {
                pass().await;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Records whether this gateway holds the health lease.
    pub(crate) fn set_leads(&self, leads: bool) {
        self.inner
            .leads
            .store(leads, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes the audit scores and bad-shard marks the leading gateway
    /// persisted (a gateway that does not lead still places shards by
    /// them). Liveness stays this gateway's own view.
    pub async fn reload(&self) -> Result<(), crate::meta::MetaError> {
        let records = self.inner.meta.node_health().await?;
        let bad: HashSet<(Vec<u8>, [u8; 32])> =
            self.inner.meta.bad_shards().await?.into_iter().collect();
        {
            let mut nodes = self.inner.nodes.lock().expect("not poisoned");
            for (id, record) in records {
                let score = Score {
                    alpha: record.alpha,
                    beta: record.beta,
                };
                match nodes.get_mut(&id) {
                    Some(entry) => {
                        entry.score = score;
                        // Keep this gateway's own last_seen.
                        entry.record = NodeHealthRecord {
                            last_seen: entry.record.last_seen,
                            ..record
                        };
                    }
                    None => {
                        let now = Instant::now();
                        nodes.insert(
                            id,
                            NodeEntry {
                                recent_audits: Default::default(),
                                record,
                                score,
                                known_since: now,
                                last_seen: None,
                                dirty: false,
                            },
                        );
                    }
                }
            }
        }
        *self.inner.bad.lock().expect("not poisoned") = bad;
        Ok(())
    }

    /// The settings.
    pub fn config(&self) -> &HealthConfig {
        &self.inner.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &GatewayMetrics {
        &self.inner.metrics
    }

    /// The metadata store.
    pub fn meta(&self) -> &MetaStore {
        &self.inner.meta
    }

    /// Tells the repair loop that the queue has new work (it stops waiting).
    pub fn wake_repair(&self) {
        self.inner.repair_wanted.notify_one();
    }

    /// Resolves when [`Health::wake_repair`] was called since the last
    /// time this resolved (at most one waiter: the repair loop).
    pub async fn repair_wanted(&self) {
        self.inner.repair_wanted.notified().await;
    }

    fn with_entry<T>(&self, node: &[u8], f: impl FnOnce(&mut NodeEntry) -> T) -> T {
        let mut nodes = self.inner.nodes.lock().expect("not poisoned");
        let policy = self.inner.config.reputation;
        let entry = nodes.entry(node.to_vec()).or_insert_with(|| {
            let score = Score::fresh(&policy);
            NodeEntry {
                recent_audits: Default::default(),
                record: NodeHealthRecord {
                    alpha: score.alpha,
                    beta: score.beta,
                    ..Default::default()
                },
                score,
                known_since: Instant::now(),
                last_seen: None,
                dirty: true,
            }
        });
        f(entry)
    }

    /// Makes `node` known (its silence is counted from now if it never
    /// answers).
    pub fn know(&self, node: &[u8]) {
        if node.is_empty() {
            return;
        }
        self.with_entry(node, |_| ());
    }

    /// Records that `node` answered just now.
    pub fn seen(&self, node: &[u8]) {
        self.with_entry(node, |e| {
            e.last_seen = Some(Instant::now());
            e.record.last_seen = now_ms();
            e.dirty = true;
        });
    }

    /// Applies an audit outcome to `node`'s score. Returns its new state.
    pub fn record_audit(&self, node: &[u8], outcome: AuditOutcome) -> NodeState {
        let policy = self.inner.config.reputation;
        self.with_entry(node, |e| {
            e.score.record(&policy, outcome == AuditOutcome::Passed);
            e.record.alpha = e.score.alpha;
            e.record.beta = e.score.beta;
            e.record.last_audit = now_ms();
            if e.recent_audits.len() == AUDIT_HISTORY {
                e.recent_audits.pop_front();
            }
            e.recent_audits.push_back((e.record.last_audit, outcome));
            match outcome {
                AuditOutcome::Passed => e.record.passed += 1,
                AuditOutcome::Failed => e.record.failed += 1,
                AuditOutcome::TimedOut => e.record.timed_out += 1,
            }
            if e.record.disqualified.is_none() && e.score.value() < policy.disqualify_below {
                e.record.disqualified = Some(now_ms());
                tracing::warn!(node = %peer_name(node), score = e.score.value(), "node disqualified: its shards will be repaired elsewhere");
            }
            e.dirty = true;
        });
        self.inner.metrics.audit(match outcome {
            AuditOutcome::Passed => "passed",
            AuditOutcome::Failed => "failed",
            AuditOutcome::TimedOut => "timed_out",
        });
        self.state(node)
    }

    /// Records that `node`'s copy of `shard` is bad (failed verification on
    /// a read, or the node says it is missing or corrupt). Returns whether
    /// it was not known bad before.
    pub fn mark_bad(&self, node: &[u8], shard: &[u8; 32]) -> bool {
        let fresh = self
            .inner
            .bad
            .lock()
            .expect("not poisoned")
            .insert((node.to_vec(), *shard));
        if fresh {
            tracing::warn!(node = %peer_name(node), shard = %ShardId(*shard), "shard marked bad");
            let (meta, node, shard) = (self.inner.meta.clone(), node.to_vec(), *shard);
            off_async(async move {
                if let Err(e) = meta.mark_bad_shard(&node, &shard, now_ms()).await {
                    tracing::warn!(error = %e, "cannot persist a bad shard mark");
                }
            });
        }
        fresh
    }

    /// Whether `node`'s copy of `shard` is known bad.
    pub fn is_bad(&self, node: &[u8], shard: &[u8; 32]) -> bool {
        let bad = self.inner.bad.lock().expect("not poisoned");
        // Asked for every shard of every read: no key allocation in the
        // usual case of nothing known bad.
        !bad.is_empty() && bad.contains(&(node.to_vec(), *shard))
    }

    /// Forgets bad marks for shards that repair has moved away.
    pub fn clear_bad(&self, pairs: &[(Vec<u8>, [u8; 32])]) {
        {
            let mut bad = self.inner.bad.lock().expect("not poisoned");
            for p in pairs {
                bad.remove(p);
            }
        }
        let (meta, pairs) = (self.inner.meta.clone(), pairs.to_vec());
        off_async(async move {
            if let Err(e) = meta.clear_bad_shards(&pairs).await {
                tracing::warn!(error = %e, "cannot clear bad shard marks");
            }
        });
    }

    /// `node`'s state now.
    pub fn state(&self, node: &[u8]) -> NodeState {
        let config = &self.inner.config;
        self.with_entry(node, |e| entry_state(e, config, Instant::now()))
    }

    /// `node`'s audit score.
    pub fn reputation(&self, node: &[u8]) -> f64 {
        self.with_entry(node, |e| e.score.value())
    }

    /// Whether a shard on `node` still counts: the node is not
    /// disqualified, and not silent past `dead_after + repair_grace`.
    pub fn node_holds(&self, node: &[u8]) -> bool {
        if node.is_empty() {
            // A shard that was never stored (written short).
            return false;
        }
        let config = &self.inner.config;
        self.with_entry(node, |e| {
            if e.record.disqualified.is_some() {
                return false;
            }
            let since = e.last_seen.unwrap_or(e.known_since);
            since.elapsed() < config.dead_after + config.repair_grace
        })
    }

    /// Node `node`'s latest audits since this gateway started (unix ms,
    /// outcome), newest first.
    pub fn audit_history(&self, node: &[u8]) -> Vec<(u64, AuditOutcome)> {
        let nodes = self.inner.nodes.lock().expect("not poisoned");
        nodes
            .get(node)
            .map(|e| e.recent_audits.iter().rev().copied().collect())
            .unwrap_or_default()
    }

    /// Every known node, for status and metrics.
    pub fn report(&self) -> Vec<NodeReport> {
        let config = &self.inner.config;
        let now = Instant::now();
        let now_ms = now_ms();
        let nodes = self.inner.nodes.lock().expect("not poisoned");
        let mut out: Vec<NodeReport> = nodes
            .iter()
            .map(|(id, e)| NodeReport {
                id: id.clone(),
                peer_id: peer_name(id),
                state: entry_state(e, config, now),
                reputation: e.score.value(),
                audits: (e.record.passed, e.record.failed, e.record.timed_out),
                last_audit_secs: (e.record.last_audit > 0)
                    .then(|| now_ms.saturating_sub(e.record.last_audit) / 1000),
                last_seen_secs: e.last_seen.map(|t| now.duration_since(t).as_secs()),
            })
            .collect();
        out.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        out
    }

    /// Every known node id.
    pub fn node_ids(&self) -> Vec<Vec<u8>> {
        self.inner
            .nodes
            .lock()
            .expect("not poisoned")
            .keys()
            .cloned()
            .collect()
    }

    /// Writes changed audit histories to the metadata store.
    pub async fn persist(&self) {
        if !self.leads() {
            // The leading gateway's records are the ones kept.
            return;
        }
        let dirty: Vec<(Vec<u8>, NodeHealthRecord)> = {
            let mut nodes = self.inner.nodes.lock().expect("not poisoned");
            nodes
                .iter_mut()
                .filter(|(_, e)| e.dirty)
                .map(|(id, e)| {
                    e.dirty = false;
                    (id.clone(), e.record.clone())
                })
                .collect()
        };
        if dirty.is_empty() {
            return;
        }
        if let Err(e) = self.inner.meta.put_node_health(&dirty).await {
            tracing::warn!(error = %e, "cannot persist node health");
        }
    }

    /// Marks shards as being written (garbage collection leaves them be).
    pub fn writing(&self, ids: &[ShardId]) {
        let mut inflight = self.inner.inflight.lock().expect("not poisoned");
        for id in ids {
            inflight.shards.insert(id.0, None);
        }
    }

    /// Marks shards as written (their manifest commits right after);
    /// entries older than ten minutes are dropped.
    pub fn written(&self, ids: &[ShardId]) {
        let now = Instant::now();
        let mut inflight = self.inner.inflight.lock().expect("not poisoned");
        let Inflight { shards, finished } = &mut *inflight;
        for id in ids {
            shards.insert(id.0, Some(now));
            finished.push_back((now, id.0));
        }
        while let Some(&(at, id)) = finished.front() {
            if now.duration_since(at) < TEN_MINUTES {
                break;
            }
            finished.pop_front();
            // Only if it was not written again since.
            if shards.get(&id) == Some(&Some(at)) {
                shards.remove(&id);
            }
        }
    }

    /// Whether garbage collection that started at `since` must spare
    /// `shard`: it is being written, or was finished shortly before (its
    /// manifest may not have been in the collector's snapshot).
    pub fn protected(&self, shard: &[u8; 32], since: Instant) -> bool {
        match self
            .inner
            .inflight
            .lock()
            .expect("not poisoned")
            .shards
            .get(shard)
        {
            Some(None) => true,
            Some(Some(done)) => *done + COMMIT_MARGIN > since,
            None => false,
        }
    }
}

/// Shards of one write, protected from garbage collection from upload
/// until this guard is dropped (by the caller, after it commits the
/// manifest or gives up), then for [`COMMIT_MARGIN`] more.
pub struct InflightGuard {
    health: Health,
    ids: Mutex<Vec<ShardId>>,
}

impl InflightGuard {
    /// A guard with no shards yet.
    pub fn new(health: Health) -> Self {
        Self {
            health,
            ids: Mutex::default(),
        }
    }

    /// Protects `ids` (call before uploading them).
    pub fn add(&self, ids: &[ShardId]) {
        self.health.writing(ids);
        self.ids
            .lock()
            .expect("not poisoned")
            .extend_from_slice(ids);
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().expect("not poisoned"));
        self.health.written(&ids);
    }
}

/// Runs a metadata write in the background: callers (the read path) must
/// not wait for its commit.
fn off_async(work: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(work);
}

const TEN_MINUTES: Duration = Duration::from_secs(600);
/// How long after a shard is written its manifest may still be uncommitted.
const COMMIT_MARGIN: Duration = Duration::from_secs(60);

fn entry_state(e: &NodeEntry, config: &HealthConfig, now: Instant) -> NodeState {
    if e.record.disqualified.is_some() {
        return NodeState::Disqualified;
    }
    let silent = now.duration_since(e.last_seen.unwrap_or(e.known_since));
    if silent >= config.dead_after {
        NodeState::Dead
    } else if silent >= config.suspect_after || e.last_seen.is_none() {
        NodeState::Suspect
    } else if e.score.value() < config.reputation.suspend_below {
        NodeState::Suspended
    } else {
        NodeState::Alive
    }
}

/// A node id as a peer id string (or hex if it is not one).
pub fn peer_name(node: &[u8]) -> String {
    libp2p::PeerId::from_bytes(node)
        .map(|p| p.to_string())
        .unwrap_or_else(|_| crate::data::hex(node))
}

impl NodeState {
    /// The placement view of this state.
    pub fn placement_health(self) -> placement::Health {
        match self {
            NodeState::Alive | NodeState::Suspended => placement::Health::Alive,
            NodeState::Suspect => placement::Health::Suspect,
            NodeState::Dead | NodeState::Disqualified => placement::Health::Dead,
        }
    }
}
