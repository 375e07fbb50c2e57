//! The checker: one pass over every manifest (and every uploaded part of
//! multipart uploads in progress) that counts each segment's healthy
//! shards, queues the segments at or below the repair threshold, removes
//! healed ones from the queue, queues the fully healthy segments whose
//! shards doubled up on some node for rebalancing, and picks the shards to
//! audit next.
//!
//! A shard is healthy when its node still counts as holding it (not
//! disqualified, not silent past the dead deadline plus the repair grace)
//! and it is not known bad. The pass reads one metadata snapshot; at a
//! scale where that is too slow it would become incremental, as Storj's
//! segment loop is.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use mesh::ShardId;
use mesh::codec::TAG_LEN;
use rand::Rng;
use serde::Serialize;

use super::registry::now_ms;
use super::{Health, NodeState};
use crate::meta::{MetaError, SegmentKey, SegmentLayout, ShardCopy};

/// Segment counts by health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SegmentCounts {
    /// Every shard on a node that answers.
    pub full: u64,
    /// Some shard on a node that is silent (within its grace period) or
    /// lost, still above the repair threshold.
    pub degraded: u64,
    /// At or below the repair threshold (queued for repair).
    pub queued: u64,
    /// Fewer healthy shards than needed to read (k): data lost unless a
    /// node comes back.
    pub lost: u64,
    /// Segments (of any of the above) with two or more shards on one node:
    /// losing that node costs more than one shard. Repair does this when
    /// too few nodes are left; rebalancing undoes it when nodes join.
    pub reduced_diversity: u64,
}

/// What the last pass found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// Segments of S3 objects by health.
    pub segments: SegmentCounts,
    /// Segments of the gateway's metadata backups by health (repaired
    /// alike, counted apart).
    pub backup_segments: SegmentCounts,
    /// Segments of content kept by its CID (published through this
    /// gateway or pinned here) by health (repaired alike, counted apart).
    pub content_segments: SegmentCounts,
    /// Objects whose manifests the last pass read.
    pub objects: u64,
    /// Their bytes (plaintext sizes).
    pub object_bytes: u64,
    /// Shards referenced on each node.
    pub held: HashMap<Vec<u8>, u64>,
    /// Per node, the shards chosen for its next audits.
    pub samples: HashMap<Vec<u8>, Vec<Sample>>,
    /// Unix ms when the pass finished.
    pub at: u64,
    /// Passes finished since the gateway started (this one included).
    pub pass: u64,
}

/// The latest [`CheckReport`], shared with the auditor and status.
#[derive(Clone, Default)]
pub struct Survey(Arc<Mutex<Arc<CheckReport>>>);

impl Survey {
    /// The latest report.
    pub fn latest(&self) -> Arc<CheckReport> {
        self.0.lock().expect("not poisoned").clone()
    }

    /// Stores `report` as the latest, numbering it; returns its number.
    fn set(&self, mut report: CheckReport) -> u64 {
        let mut latest = self.0.lock().expect("not poisoned");
        report.pass = latest.pass + 1;
        let pass = report.pass;
        *latest = Arc::new(report);
        pass
    }
}

/// Length of each shard of a segment under `k`.
pub fn shard_len(plain_len: u64, k: u8) -> u64 {
    (plain_len + TAG_LEN as u64).div_ceil(u64::from(k.max(1)))
}

/// A shard to audit: its id, length, and the segment that names it (to
/// tell a failure from a reference that went stale since the check).
#[derive(Clone, Debug)]
pub struct Sample {
    /// The shard id.
    pub shard: ShardId,
    /// Its length.
    pub len: u64,
    /// The segment whose manifest names it.
    pub at: SegmentKey,
}

/// Reservoir sampling of up to `want` shards per node.
struct Sampler {
    want: usize,
    seen: HashMap<Vec<u8>, u64>,
    picked: HashMap<Vec<u8>, Vec<Sample>>,
}

impl Sampler {
    fn offer(&mut self, node: &[u8], shard: Sample, rng: &mut impl Rng) {
        let seen = self.seen.entry(node.to_vec()).or_default();
        *seen += 1;
        let picked = self.picked.entry(node.to_vec()).or_default();
        if picked.len() < self.want {
            picked.push(shard);
        } else {
            let j = rng.gen_range(0..*seen);
            if (j as usize) < self.want {
                picked[j as usize] = shard;
            }
        }
    }
}

/// Runs one pass. Returns the report (also stored in `survey`).
pub async fn check(health: &Health, survey: &Survey) -> Result<CheckReport, MetaError> {
    let meta = health.meta();
    let config = health.config();
    let queued: HashSet<SegmentKey> = meta
        .repair_queue()
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let rebalancing: HashSet<SegmentKey> = meta.rebalance_queue().await?.into_iter().collect();
    let mut nodes: HashMap<Vec<u8>, (bool, bool)> = HashMap::new();
    // (Sendable: the pass awaits the metadata store.)
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
    // Enough samples for the audits of one check interval.
    let rounds = (config.check_every.as_secs_f64() / config.audit_every.as_secs_f64()).ceil();
    let mut sampler = Sampler {
        want: (rounds as usize).clamp(1, 1024) * 4,
        seen: HashMap::new(),
        picked: HashMap::new(),
    };
    let mut counts = SegmentCounts::default();
    let mut backup_counts = SegmentCounts::default();
    let mut content_counts = SegmentCounts::default();
    let mut degraded = Vec::new();
    let mut healed = Vec::new();
    let mut seen_queued = HashSet::new();
    let mut crowded = Vec::new();
    let mut spread = Vec::new();

    let mut visit_segment = |layout: &SegmentLayout, k: u8, at: SegmentKey| {
        let len = shard_len(layout.plain_len, k);
        // `held`: still counts (repair waits for the grace period);
        // `live`: on a node answering right now.
        let (mut held, mut live) = (0usize, 0usize);
        for shard in &layout.shards {
            if shard.node.is_empty() {
                // Written short: no copy anywhere.
                continue;
            }
            let (holds, answering) = *nodes.entry(shard.node.clone()).or_insert_with(|| {
                let state = health.state(&shard.node);
                (
                    health.node_holds(&shard.node),
                    matches!(state, NodeState::Alive | NodeState::Suspended),
                )
            });
            let good = !health.is_bad(&shard.node, &shard.id);
            held += usize::from(holds && good);
            live += usize::from(answering && good);
            if good {
                let sample = Sample {
                    shard: ShardId(shard.id),
                    len,
                    at: at.clone(),
                };
                sampler.offer(&shard.node, sample, &mut rng);
            }
        }
        let healthy = held;
        let total = layout.shards.len();
        let counts = match at.bucket.as_str() {
            crate::backup::INTERNAL_BUCKET => &mut backup_counts,
            crate::s3::content::CONTENT_BUCKET => &mut content_counts,
            _ => &mut counts,
        };
        let threshold = config.threshold(k as usize, total);
        if held < k as usize {
            counts.lost += 1;
        } else if held <= threshold && held < total {
            counts.queued += 1;
        } else if live < total {
            counts.degraded += 1;
        } else {
            counts.full += 1;
        }
        if healthy < total && healthy <= threshold {
            degraded.push((at.clone(), healthy as u8));
        } else if queued.contains(&at) {
            healed.push(at.clone());
        }
        // Doubled up: spread out once nothing else is wrong with it.
        let doubled = doubled_up(layout);
        counts.reduced_diversity += u64::from(doubled);
        if doubled && healthy == total {
            if !rebalancing.contains(&at) {
                crowded.push(at.clone());
            }
        } else if rebalancing.contains(&at) {
            spread.push(at.clone());
        }
        if queued.contains(&at) || rebalancing.contains(&at) {
            seen_queued.insert(at);
        }
    };
    let (mut objects, mut object_bytes) = (0u64, 0u64);
    meta.for_each_object(|bucket, key, object| {
        objects += 1;
        object_bytes += object.size;
        for (p, part) in object.parts.iter().enumerate() {
            for (s, layout) in part.segments.iter().enumerate() {
                let at = SegmentKey {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    part: p as u32,
                    segment: s as u32,
                };
                visit_segment(layout, object.k, at);
            }
        }
    })
    .await?;
    // Parts of multipart uploads in progress are neither audited nor
    // repaired until the upload completes (their manifest does not exist
    // yet); garbage collection still counts them as referenced.
    // Queue entries whose object is gone or replaced.
    healed.extend(queued.difference(&seen_queued).cloned());
    spread.extend(rebalancing.difference(&seen_queued).cloned());
    let now = now_ms();
    meta.update_repair_queue(&degraded, &healed, now).await?;
    meta.update_rebalance_queue(&crowded, &spread, now).await?;
    for node in nodes.keys() {
        health.know(node);
    }
    let report = CheckReport {
        segments: counts,
        backup_segments: backup_counts,
        content_segments: content_counts,
        objects,
        object_bytes,
        held: sampler.seen,
        samples: sampler.picked,
        at: now_ms(),
        pass: 0,
    };
    let metrics = health.metrics();
    metrics.set_segments("full", counts.full);
    metrics.set_segments("degraded", counts.degraded);
    metrics.set_segments("queued", counts.queued);
    metrics.set_segments("lost", counts.lost);
    metrics
        .reduced_diversity
        .set(counts.reduced_diversity as i64);
    metrics
        .repair_queue
        .set(meta.repair_queue().await?.len() as i64);
    metrics
        .rebalance_queue
        .set(meta.rebalance_queue().await?.len() as i64);
    if counts.lost > 0 {
        tracing::error!(
            segments = counts.lost,
            "segments have fewer than k healthy shards"
        );
    }
    let pass = survey.set(report.clone());
    Ok(CheckReport { pass, ..report })
}

/// Whether two or more shards of `layout` are on one node.
pub fn doubled_up(layout: &SegmentLayout) -> bool {
    let shards = &layout.shards;
    shards
        .iter()
        .enumerate()
        .any(|(i, a)| !a.node.is_empty() && shards[i + 1..].iter().any(|b| b.node == a.node))
}

/// Every (node, shard) that a manifest or an uploaded part references (one
/// snapshot; an unreadable record is an error, never "unreferenced").
pub async fn references(health: &Health) -> Result<HashSet<ShardCopy>, MetaError> {
    health.meta().shard_references().await
}

/// Checks every `check_every` forever (run as a task).
pub async fn run(health: Health, survey: Survey) {
    let mut tick = tokio::time::interval(health.config().check_every);
    loop {
        tick.tick().await;
        if !health.leads() {
            continue;
        }
        match check(&health, &survey).await {
            Ok(report) => tracing::debug!(segments = ?report.segments, "check pass done"),
            Err(e) => tracing::warn!(error = %e, "check pass failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::metrics::GatewayMetrics;
    use crate::health::HealthConfig;
    use crate::meta::{MetaStore, ObjectMeta, PartLayout, ShardLocation};

    /// Segment number `seg` with its shards on `nodes` (ids unique to it).
    fn layout(seg: u8, nodes: &[u8]) -> SegmentLayout {
        SegmentLayout {
            plain_len: 1000,
            shards: nodes
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let mut id = [i as u8 + 1; 32];
                    id[0] = seg;
                    ShardLocation {
                        id,
                        node: vec![n; 8],
                    }
                })
                .collect(),
        }
    }

    fn object(segments: Vec<SegmentLayout>) -> ObjectMeta {
        ObjectMeta {
            k: 4,
            m: 2,
            parts: vec![PartLayout {
                part_number: 1,
                size: 1000 * segments.len() as u64,
                etag: "\"e\"".into(),
                segments,
                key_salt: None,
            }],
            ..ObjectMeta::default()
        }
    }

    fn at(segment: u32) -> SegmentKey {
        SegmentKey {
            bucket: "bkt".into(),
            key: "k".into(),
            part: 0,
            segment,
        }
    }

    #[tokio::test]
    async fn doubled_up_segments_are_counted_and_queued_for_rebalancing_once_whole() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open_redb(&dir.path().join("meta.redb")).unwrap();
        meta.create_private_bucket("bkt", "us-east-1", "owner")
            .await
            .unwrap();
        // Segment 0: six nodes. Segment 1: node 1 holds two shards.
        // Segment 2: node 1 holds two, and another copy is bad.
        let segments = vec![
            layout(0, &[1, 2, 3, 4, 5, 6]),
            layout(1, &[1, 2, 3, 4, 5, 1]),
            layout(2, &[1, 2, 3, 4, 5, 1]),
        ];
        meta.put_object_always("bkt", "k", &object(segments.clone()))
            .await
            .unwrap();
        let health = Health::load(HealthConfig::devnet(), meta.clone(), GatewayMetrics::new())
            .await
            .unwrap();
        for n in 1..=7 {
            health.seen(&[n; 8]);
        }
        assert!(health.mark_bad(&[2; 8], &segments[2].shards[1].id));
        let survey = Survey::default();
        let report = check(&health, &survey).await.unwrap();
        assert_eq!(report.segments.reduced_diversity, 2);
        assert_eq!(report.segments.full, 2);
        assert_eq!(report.segments.queued, 1);
        assert_eq!(report.pass, 1);
        assert_eq!(meta.rebalance_queue().await.unwrap(), [at(1)]);
        let queued: Vec<SegmentKey> = meta
            .repair_queue()
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(queued, [at(2)]);

        // Spread out (by a rebalance): it leaves the queue at the next pass.
        let mut object = object(segments);
        object.parts[0].segments[1] = layout(1, &[1, 2, 3, 4, 5, 7]);
        meta.put_object_always("bkt", "k", &object).await.unwrap();
        let report = check(&health, &survey).await.unwrap();
        assert_eq!(report.segments.reduced_diversity, 1);
        assert_eq!(report.pass, 2);
        assert!(meta.rebalance_queue().await.unwrap().is_empty());
    }

    #[test]
    fn doubling_is_about_nodes_not_empty_slots() {
        assert!(!doubled_up(&layout(0, &[1, 2, 3])));
        assert!(doubled_up(&layout(0, &[1, 2, 1])));
        let mut short = layout(0, &[1, 2, 3]);
        short.shards[0].node.clear();
        short.shards[1].node.clear();
        assert!(!doubled_up(&short), "written short twice is not doubled");
    }
}
