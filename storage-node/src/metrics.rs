//! Prometheus metrics and the HTTP endpoint that serves them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

type Labels = Vec<(&'static str, &'static str)>;
type OwnerLabels = Vec<(&'static str, String)>;

/// Owners given their own metric series (the largest by bytes held); the
/// rest are summed under `owner="other"`, so strangers cannot blow up the
/// number of series.
pub const OWNER_SERIES: usize = 50;

/// The node's metrics.
#[derive(Clone)]
pub struct NodeMetrics {
    registry: Arc<Registry>,
    /// Shards stored.
    pub shards: Gauge,
    /// Bytes of shards stored.
    pub bytes_stored: Gauge,
    /// Capacity offered.
    pub capacity: Gauge,
    /// Capacity still free.
    pub free: Gauge,
    /// Connected peers.
    pub peers: Gauge,
    /// Requests served, by kind and outcome.
    requests: Family<Labels, Counter>,
    /// Shard bytes received, by request kind.
    bytes_in: Family<Labels, Counter>,
    /// Shard bytes sent, by request kind.
    bytes_out: Family<Labels, Counter>,
    /// Challenges answered, by result.
    challenges: Family<Labels, Counter>,
    /// Streams closed for malformed input or over a limit, by reason.
    rejected_streams: Family<Labels, Counter>,
    /// Shards found corrupt by the scrubber.
    pub corrupt_shards: Counter,
    /// Copies deleted because their owner's lease ran out.
    pub expired_shards: Counter,
    /// Per owner: copies held.
    owner_shards: Family<OwnerLabels, Gauge>,
    /// Per owner: bytes held.
    owner_bytes: Family<OwnerLabels, Gauge>,
    /// Per owner: bytes served from its copies (monotonic).
    owner_served: Family<OwnerLabels, Gauge>,
    /// Per owner: copies held integrated over time, in copy-hours.
    owner_shard_hours: Family<OwnerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Test-only faults switched on (1), by fault.
    test_faults: Family<Labels, Gauge>,
    /// Compute tasks ended, by outcome.
    compute_tasks: Family<Labels, Counter>,
    /// Compute tasks running now.
    pub compute_running: Gauge,
    /// Shard bytes compute tasks read, by source (local disk or fetched).
    compute_input: Family<Labels, Counter>,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeMetrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cairn_node");
        let metrics = Self {
            registry: Arc::new(Registry::default()),
            shards: Gauge::default(),
            bytes_stored: Gauge::default(),
            capacity: Gauge::default(),
            free: Gauge::default(),
            peers: Gauge::default(),
            requests: Family::default(),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            challenges: Family::default(),
            rejected_streams: Family::default(),
            corrupt_shards: Counter::default(),
            expired_shards: Counter::default(),
            owner_shards: Family::default(),
            owner_bytes: Family::default(),
            owner_served: Family::default(),
            owner_shard_hours: Family::default(),
            test_faults: Family::default(),
            compute_tasks: Family::default(),
            compute_running: Gauge::default(),
            compute_input: Family::default(),
        };
        registry.register("shards", "Shards stored", metrics.shards.clone());
        registry.register(
            "stored_bytes",
            "Bytes of shards stored",
            metrics.bytes_stored.clone(),
        );
        registry.register(
            "capacity_bytes",
            "Capacity offered",
            metrics.capacity.clone(),
        );
        registry.register("free_bytes", "Capacity still free", metrics.free.clone());
        registry.register("peers", "Connected peers", metrics.peers.clone());
        registry.register(
            "requests",
            "Shard-protocol requests by kind and outcome",
            metrics.requests.clone(),
        );
        registry.register(
            "received_bytes",
            "Shard bytes received by request kind",
            metrics.bytes_in.clone(),
        );
        registry.register(
            "sent_bytes",
            "Shard bytes sent by request kind",
            metrics.bytes_out.clone(),
        );
        registry.register(
            "challenges",
            "Storage challenges answered by result",
            metrics.challenges.clone(),
        );
        registry.register(
            "rejected_streams",
            "Streams closed for malformed input or over a limit, by reason",
            metrics.rejected_streams.clone(),
        );
        registry.register(
            "corrupt_shards",
            "Shards found corrupt by scrubbing",
            metrics.corrupt_shards.clone(),
        );
        registry.register(
            "expired_shards",
            "Copies deleted because their owner's lease ran out",
            metrics.expired_shards.clone(),
        );
        registry.register(
            "owner_shards",
            "Copies held per owner",
            metrics.owner_shards.clone(),
        );
        registry.register(
            "owner_stored_bytes",
            "Bytes held per owner",
            metrics.owner_bytes.clone(),
        );
        registry.register(
            "owner_served_bytes",
            "Bytes served from each owner's copies since they were first stored",
            metrics.owner_served.clone(),
        );
        registry.register(
            "owner_shard_hours",
            "Copies held per owner, integrated over time",
            metrics.owner_shard_hours.clone(),
        );
        registry.register(
            "test_faults",
            "Test-only faults switched on (never in production)",
            metrics.test_faults.clone(),
        );
        registry.register(
            "compute_tasks",
            "Compute tasks ended, by outcome (ok, failed, input_failed, refused)",
            metrics.compute_tasks.clone(),
        );
        registry.register(
            "compute_running",
            "Compute tasks running now",
            metrics.compute_running.clone(),
        );
        registry.register(
            "compute_input_bytes",
            "Shard bytes compute tasks read, by source (local, fetched)",
            metrics.compute_input.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// Counts a compute task that ended with `outcome`.
    pub fn compute_task(&self, outcome: &'static str) {
        self.compute_tasks
            .get_or_create(&vec![("outcome", outcome)])
            .inc();
    }

    /// Counts shard bytes a compute task read from `source`.
    pub fn compute_input(&self, source: &'static str, bytes: u64) {
        self.compute_input
            .get_or_create(&vec![("source", source)])
            .inc_by(bytes);
    }

    /// Marks a test-only fault as switched on.
    pub fn set_test_fault(&self, fault: &'static str) {
        self.test_faults
            .get_or_create(&vec![("fault", fault)])
            .set(1);
    }

    /// Replaces the per-owner series with `accounts` (the largest
    /// [`OWNER_SERIES`] owners by bytes each get their own, the rest are
    /// summed under `other`).
    pub fn set_owners(&self, accounts: &[(crate::store::Owner, crate::store::OwnerAccount)]) {
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut sorted: Vec<_> = accounts.iter().collect();
        sorted.sort_by_key(|(_, a)| std::cmp::Reverse(a.usage.bytes));
        for family in [&self.owner_shards, &self.owner_bytes, &self.owner_served] {
            family.clear();
        }
        self.owner_shard_hours.clear();
        let mut other = crate::store::OwnerAccount::default();
        for (i, (owner, account)) in sorted.into_iter().enumerate() {
            if i >= OWNER_SERIES {
                other.usage.shards += account.usage.shards;
                other.usage.bytes += account.usage.bytes;
                other.counters.bytes_served += account.counters.bytes_served;
                other.counters.shard_seconds += account.counters.shard_seconds;
                continue;
            }
            let name = libp2p::PeerId::from_bytes(owner.as_bytes())
                .map_or_else(|_| format!("{owner:?}"), |p| p.to_string());
            self.set_owner(name, account, clamp);
        }
        if other != crate::store::OwnerAccount::default() {
            self.set_owner("other".to_owned(), &other, clamp);
        }
    }

    fn set_owner(
        &self,
        name: String,
        account: &crate::store::OwnerAccount,
        clamp: impl Fn(u64) -> i64,
    ) {
        let labels = vec![("owner", name)];
        self.owner_shards
            .get_or_create(&labels)
            .set(clamp(account.usage.shards));
        self.owner_bytes
            .get_or_create(&labels)
            .set(clamp(account.usage.bytes));
        self.owner_served
            .get_or_create(&labels)
            .set(clamp(account.counters.bytes_served));
        self.owner_shard_hours
            .get_or_create(&labels)
            .set(account.counters.shard_seconds as f64 / 3600.0);
    }

    /// Counts a request of `kind` that ended with `outcome`.
    pub fn request(&self, kind: &'static str, outcome: &'static str) {
        self.requests
            .get_or_create(&vec![("kind", kind), ("outcome", outcome)])
            .inc();
    }

    /// Counts shard bytes received for `kind`.
    pub fn received(&self, kind: &'static str, bytes: u64) {
        self.bytes_in
            .get_or_create(&vec![("kind", kind)])
            .inc_by(bytes);
    }

    /// Counts shard bytes sent for `kind`.
    pub fn sent(&self, kind: &'static str, bytes: u64) {
        self.bytes_out
            .get_or_create(&vec![("kind", kind)])
            .inc_by(bytes);
    }

    /// Counts a challenge answered with `result` (`proved`, `missing`, `error`).
    pub fn challenge(&self, result: &'static str) {
        self.challenges
            .get_or_create(&vec![("result", result)])
            .inc();
    }

    /// Counts a stream closed for `reason`.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected_streams
            .get_or_create(&vec![("reason", reason)])
            .inc();
    }

    /// Updates the storage gauges from the store's figures.
    pub fn set_store(&self, stats: &crate::store::StoreStats) {
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.shards.set(clamp(stats.shards));
        self.bytes_stored.set(clamp(stats.bytes_stored));
        self.capacity.set(clamp(stats.capacity));
        self.free.set(clamp(stats.free));
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String does not fail");
        out
    }

    /// Serves `GET /metrics` on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors or similar: back off, don't spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let metrics = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(metrics.respond(&req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    fn respond(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let (status, body) = match (req.method().as_str(), req.uri().path()) {
            ("GET", "/metrics") => (StatusCode::OK, self.render()),
            ("GET", _) => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n".to_owned(),
            ),
        };
        Response::builder()
            .status(status)
            .header(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")
    }
}

/// Binds the metrics listener (so a bad address fails at start-up).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
