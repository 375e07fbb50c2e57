//! The gateway's Prometheus metrics (served by the admin endpoint).

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric the gateway exports. Cheap to clone; clones share values.
#[derive(Clone)]
pub struct GatewayMetrics {
    registry: Arc<Registry>,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    /// Object bytes received from S3 clients.
    pub bytes_in: Counter,
    /// Object bytes sent to S3 clients.
    pub bytes_out: Counter,
    /// Shards stored on nodes.
    pub shards_written: Counter,
    /// Shards fetched and verified.
    pub shards_read: Counter,
    /// Extra shard fetches started because the first ones were slow.
    pub hedged_reads: Counter,
    failed_reads: Family<Labels, Counter>,
    audits: Family<Labels, Counter>,
    /// Segments waiting in the repair queue.
    pub repair_queue: Gauge,
    /// 1 while this gateway runs the health loops (it holds the lease).
    pub health_leader: Gauge,
    /// Shard bytes rebuilt and stored by repair.
    pub repaired_bytes: Counter,
    /// Shards rebuilt by repair.
    pub repaired_shards: Counter,
    /// Segments waiting to have doubled-up shards spread out.
    pub rebalance_queue: Gauge,
    /// Shards moved off a node that held another shard of their segment.
    pub rebalanced_shards: Counter,
    /// Segments with two or more shards on one node at the last check.
    pub reduced_diversity: Gauge,
    segments: Family<Labels, Gauge>,
    nodes: Family<Labels, Gauge>,
    pins: Family<Labels, Gauge>,
    jobs: Family<Labels, Gauge>,
    compute_tasks: Family<Labels, Counter>,
    compute_input: Family<Labels, Counter>,
    /// Unreferenced shards deleted by garbage collection.
    pub collected_shards: Counter,
    /// Content records refused: forged or malformed manifests, and
    /// records of publishers struck for one.
    pub content_records_refused: Counter,
    /// Shard leases renewed on the nodes.
    pub renewed_shards: Counter,
    /// S3 connections open now.
    pub connections_open: Gauge,
    /// S3 connections closed at once because the cap was reached.
    pub connections_refused: Counter,
    /// S3 connection gauge cap (for comparison with `connections_open`).
    pub connections_cap: Gauge,
    timeouts: Family<Labels, Counter>,
    /// When the newest metadata backup read the store (unix ms; 0: none
    /// yet): everything acknowledged before it survives losing the disk.
    pub backup_point_ms: Gauge,
    /// Sequence number of the newest published backup pointer.
    pub backup_seq: Gauge,
    /// Metadata backups stored in the mesh (snapshots and logs).
    pub backups: Family<Labels, Counter>,
    /// Compressed bytes of metadata backups stored in the mesh.
    pub backup_bytes: Counter,
    /// Running totals of S3 requests, for the console's charts.
    pub recent: Arc<RequestTotals>,
}

/// Upper bounds (milliseconds) of [`RequestTotals`]' latency buckets; the
/// last bucket takes everything slower.
pub const LATENCY_BOUNDS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// S3 request totals since start, kept with atomics so that counting costs
/// the request path no lock; the console samples them into its history.
#[derive(Default)]
pub struct RequestTotals {
    /// Requests answered.
    pub requests: std::sync::atomic::AtomicU64,
    /// Of which answered with a 5xx status.
    pub server_errors: std::sync::atomic::AtomicU64,
    /// Latencies (to the response head) summed, microseconds.
    pub latency_us: std::sync::atomic::AtomicU64,
    /// Requests per latency bucket ([`LATENCY_BOUNDS_MS`], then slower).
    pub buckets: [std::sync::atomic::AtomicU64; LATENCY_BOUNDS_MS.len() + 1],
}

impl RequestTotals {
    fn record(&self, status: u16, seconds: f64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.requests.fetch_add(1, Relaxed);
        if status >= 500 {
            self.server_errors.fetch_add(1, Relaxed);
        }
        let us = (seconds * 1e6) as u64;
        self.latency_us.fetch_add(us, Relaxed);
        let bucket = LATENCY_BOUNDS_MS
            .iter()
            .position(|&ms| us <= ms * 1000)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
    }
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cairn_gateway");
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let m = Self {
            registry: Arc::new(Registry::default()),
            requests: Family::default(),
            latency,
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            shards_written: Counter::default(),
            shards_read: Counter::default(),
            hedged_reads: Counter::default(),
            failed_reads: Family::default(),
            audits: Family::default(),
            repair_queue: Gauge::default(),
            health_leader: Gauge::default(),
            repaired_bytes: Counter::default(),
            repaired_shards: Counter::default(),
            rebalance_queue: Gauge::default(),
            rebalanced_shards: Counter::default(),
            reduced_diversity: Gauge::default(),
            segments: Family::default(),
            pins: Family::default(),
            jobs: Family::default(),
            compute_tasks: Family::default(),
            compute_input: Family::default(),
            nodes: Family::default(),
            collected_shards: Counter::default(),
            content_records_refused: Counter::default(),
            renewed_shards: Counter::default(),
            connections_open: Gauge::default(),
            connections_refused: Counter::default(),
            connections_cap: Gauge::default(),
            timeouts: Family::default(),
            backup_point_ms: Gauge::default(),
            backup_seq: Gauge::default(),
            backups: Family::default(),
            backup_bytes: Counter::default(),
            recent: Arc::default(),
        };
        registry.register(
            "backup_point_ms",
            "When the newest metadata backup in the mesh read the store (unix ms)",
            m.backup_point_ms.clone(),
        );
        registry.register(
            "backup_seq",
            "Sequence number of the newest published backup pointer",
            m.backup_seq.clone(),
        );
        registry.register(
            "backups",
            "Metadata backups stored in the mesh, by kind (snapshot, log)",
            m.backups.clone(),
        );
        registry.register(
            "backup_stored_bytes",
            "Compressed bytes of metadata backups stored in the mesh",
            m.backup_bytes.clone(),
        );
        registry.register(
            "s3_requests",
            "S3 requests by operation and HTTP status",
            m.requests.clone(),
        );
        registry.register(
            "s3_request_seconds",
            "S3 request latency (to the response head) by operation",
            m.latency.clone(),
        );
        registry.register("s3_in_bytes", "Object bytes received", m.bytes_in.clone());
        registry.register("s3_out_bytes", "Object bytes sent", m.bytes_out.clone());
        registry.register(
            "shards_written",
            "Shards stored on nodes",
            m.shards_written.clone(),
        );
        registry.register(
            "shards_read",
            "Shards fetched and verified",
            m.shards_read.clone(),
        );
        registry.register(
            "hedged_shard_reads",
            "Extra shard fetches started because earlier ones were slow",
            m.hedged_reads.clone(),
        );
        registry.register(
            "failed_shard_reads",
            "Shard fetches that failed, by reason",
            m.failed_reads.clone(),
        );
        registry.register(
            "audits",
            "Storage audits by result (passed, failed, timed_out, unreachable)",
            m.audits.clone(),
        );
        registry.register(
            "health_leader",
            "1 while this gateway runs audits, checks, repair and garbage collection",
            m.health_leader.clone(),
        );
        registry.register(
            "repair_queue_segments",
            "Segments waiting for repair",
            m.repair_queue.clone(),
        );
        registry.register(
            "repaired_bytes",
            "Shard bytes rebuilt by repair",
            m.repaired_bytes.clone(),
        );
        registry.register(
            "repaired_shards",
            "Shards rebuilt by repair",
            m.repaired_shards.clone(),
        );
        registry.register(
            "rebalance_queue_segments",
            "Segments waiting to have doubled-up shards spread out to nodes of their own",
            m.rebalance_queue.clone(),
        );
        registry.register(
            "rebalanced_shards",
            "Shards moved off a node that held another shard of their segment",
            m.rebalanced_shards.clone(),
        );
        registry.register(
            "jobs",
            "Compute jobs by state (queued, running, done, failed, cancelled) at the job worker's last pass",
            m.jobs.clone(),
        );
        registry.register(
            "compute_tasks",
            "Compute task attempts ended, by outcome (done, failed, retried)",
            m.compute_tasks.clone(),
        );
        registry.register(
            "compute_input_bytes",
            "Shard bytes compute tasks read, by source (local: the running node's disk; fetched: other nodes)",
            m.compute_input.clone(),
        );
        registry.register(
            "pins",
            "Pin requests by status (queued, pinning, pinned, failed) at the pin worker's last pass",
            m.pins.clone(),
        );
        registry.register(
            "segments",
            "Segments by health (full, degraded, queued, lost) at the last check",
            m.segments.clone(),
        );
        registry.register(
            "segments_reduced_diversity",
            "Segments with two or more shards on one node (any health) at the last check",
            m.reduced_diversity.clone(),
        );
        registry.register("nodes", "Known nodes by state", m.nodes.clone());
        registry.register(
            "content_records_refused",
            "Content records refused: manifests that do not match their CID, and records of publishers struck for one",
            m.content_records_refused.clone(),
        );
        registry.register(
            "collected_shards",
            "Unreferenced shards deleted by garbage collection",
            m.collected_shards.clone(),
        );
        registry.register(
            "renewed_shards",
            "Shard leases renewed on the nodes",
            m.renewed_shards.clone(),
        );
        registry.register(
            "s3_connections",
            "S3 connections open",
            m.connections_open.clone(),
        );
        registry.register(
            "s3_connection_cap",
            "Most S3 connections open at once",
            m.connections_cap.clone(),
        );
        registry.register(
            "s3_connections_refused",
            "S3 connections closed at once because the cap was reached",
            m.connections_refused.clone(),
        );
        registry.register(
            "s3_timeouts",
            "S3 connections and requests cut by a timeout, by kind (header, idle, body, \
             write, handshake)",
            m.timeouts.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..m
        }
    }

    /// Counts one S3 request.
    pub fn request(&self, op: &str, status: u16, seconds: f64) {
        self.recent.record(status, seconds);
        self.requests
            .get_or_create(&vec![("op", op.to_owned()), ("status", status.to_string())])
            .inc();
        self.latency
            .get_or_create(&vec![("op", op.to_owned())])
            .observe(seconds);
    }

    /// Counts a connection or request cut by timeout `kind`.
    pub fn timed_out(&self, kind: &str) {
        self.timeouts
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    /// Counts one failed shard fetch.
    pub fn failed_read(&self, reason: &str) {
        self.failed_reads
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// Counts one audit.
    pub fn audit(&self, result: &str) {
        self.audits
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
    }

    /// Sets the number of pin requests in `status`.
    pub fn set_pins(&self, status: &str, count: u64) {
        self.pins
            .get_or_create(&vec![("status", status.to_owned())])
            .set(count as i64);
    }

    /// Sets the number of jobs in `state`.
    pub fn set_jobs(&self, state: &str, count: u64) {
        self.jobs
            .get_or_create(&vec![("state", state.to_owned())])
            .set(count as i64);
    }

    /// The number of jobs in `state` last set.
    pub fn jobs(&self, state: &str) -> u64 {
        self.jobs
            .get_or_create(&vec![("state", state.to_owned())])
            .get()
            .max(0) as u64
    }

    /// Counts a compute task attempt that ended with `outcome`.
    pub fn compute_task(&self, outcome: &str) {
        self.compute_tasks
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    /// Counts compute input bytes read from `source`.
    pub fn compute_input(&self, source: &str, bytes: u64) {
        self.compute_input
            .get_or_create(&vec![("source", source.to_owned())])
            .inc_by(bytes);
    }

    /// Compute input bytes read from `source` so far.
    pub fn compute_input_total(&self, source: &str) -> u64 {
        self.compute_input
            .get_or_create(&vec![("source", source.to_owned())])
            .get()
    }

    /// The number of pin requests in `status` last set.
    pub fn pins(&self, status: &str) -> u64 {
        self.pins
            .get_or_create(&vec![("status", status.to_owned())])
            .get()
            .max(0) as u64
    }

    /// Sets the segment counts by health.
    pub fn set_segments(&self, health: &str, count: u64) {
        self.segments
            .get_or_create(&vec![("health", health.to_owned())])
            .set(count as i64);
    }

    /// Sets the node counts by state.
    pub fn set_nodes(&self, state: &str, count: u64) {
        self.nodes
            .get_or_create(&vec![("state", state.to_owned())])
            .set(count as i64);
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
