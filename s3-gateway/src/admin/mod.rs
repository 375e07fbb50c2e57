//! The admin endpoint (plain HTTP, meant for loopback or a private
//! network): `GET /metrics` (Prometheus text), `GET /status` (JSON, what
//! `cairn status` prints) and `GET /object?bucket=B&key=K` (JSON: where
//! each shard of one object is and whether it counts, what
//! `cairn status --object B/K` prints); and, for the holder of the token in
//! `<data>/admin.token` (`Authorization: Bearer TOKEN`), key and bucket
//! management (see [`manage`]): `GET /keys[?key=K]`, `POST /keys`,
//! `POST /keys?name=N` (a key with a name), `POST /keys/rename?key=K&name=N`,
//! `POST /keys/delete?key=K`, `POST /keys/allow?key=K` and
//! `POST /keys/deny?key=K` (the right to create buckets; with
//! `&right=admin`, to administer the gateway in the web console), `GET /buckets`,
//! `GET /buckets?name=B`, `POST /buckets/allow?bucket=B&key=K&perms=read,write`
//! and `POST /buckets/deny?...`, `POST
//! /buckets/allow-compute?bucket=B&nodes=P1,P2&regions=R1&replace=true`.

pub mod manage;
pub mod metrics;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::data::nodes::NodeView;
use crate::health::checker::{SegmentCounts, Survey, doubled_up};
use crate::health::{Health, peer_name};
use crate::meta::MetaError;
use crate::metrics::GatewayMetrics;

/// One node as the gateway sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Peer id.
    pub peer_id: String,
    /// Region it advertises, if it is in the current view.
    pub region: Option<String>,
    /// Latest ping round trip, milliseconds.
    pub rtt_ms: Option<f64>,
    /// alive, suspended, suspect, dead or disqualified.
    pub state: String,
    /// Audit score in [0, 1].
    pub reputation: f64,
    /// Shards of this gateway's manifests on the node (at the last check).
    pub shards: u64,
    /// Audits passed.
    pub audits_passed: u64,
    /// Audits failed.
    pub audits_failed: u64,
    /// Audits timed out.
    pub audits_timed_out: u64,
    /// Seconds since the last audit.
    pub last_audit_secs: Option<u64>,
    /// Seconds since the node last answered.
    pub last_seen_secs: Option<u64>,
    /// Whether the node stored and proved this gateway's probe shard (only
    /// admitted nodes get shards).
    #[serde(default)]
    pub admitted: bool,
    /// What the node says it holds and did for this gateway (its latest
    /// signed usage report).
    #[serde(default)]
    pub usage: Option<NodeUsage>,
}

/// A node's signed usage report about this gateway's data, as `/status`
/// shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeUsage {
    /// Copies held.
    pub shards: u64,
    /// Bytes held.
    pub bytes_stored: u64,
    /// Bytes served from them, ever.
    pub bytes_served: u64,
    /// Bytes received for them, ever.
    pub bytes_received: u64,
    /// Copies held integrated over time.
    pub shard_hours: f64,
    /// This gateway's quota on the node.
    pub quota: u64,
    /// What the node still accepts from this gateway.
    pub free_for_owner: u64,
    /// Seconds since the report was fetched.
    pub age_secs: u64,
}

/// Segment counts, as `/status` reports them.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct SegmentStatus {
    /// Every shard healthy.
    pub full: u64,
    /// Some shard lost, above the repair threshold.
    pub degraded: u64,
    /// Queued for repair.
    pub queued: u64,
    /// Fewer than k healthy shards.
    pub lost: u64,
    /// Segments (of any of the above) with two or more shards on one node.
    #[serde(default)]
    pub reduced_diversity: u64,
}

impl From<SegmentCounts> for SegmentStatus {
    fn from(c: SegmentCounts) -> Self {
        Self {
            full: c.full,
            degraded: c.degraded,
            queued: c.queued,
            lost: c.lost,
            reduced_diversity: c.reduced_diversity,
        }
    }
}

/// Pin requests by status.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct PinCounts {
    /// Waiting to be taken on.
    pub queued: u64,
    /// Being taken on.
    pub pinning: u64,
    /// Kept here.
    pub pinned: u64,
    /// Given up.
    pub failed: u64,
}

impl PinCounts {
    /// The counts the pin worker last published in `metrics`.
    fn of(metrics: &GatewayMetrics) -> Self {
        Self {
            queued: metrics.pins("queued"),
            pinning: metrics.pins("pinning"),
            pinned: metrics.pins("pinned"),
            failed: metrics.pins("failed"),
        }
    }
}

/// Compute jobs by state, and what their tasks read.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct JobCounts {
    /// Waiting to start.
    pub queued: u64,
    /// Running.
    pub running: u64,
    /// Ended well.
    pub done: u64,
    /// Ended with a failed task.
    pub failed: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Shard bytes tasks read from their own node's disk since start.
    pub read_local: u64,
    /// Shard bytes tasks fetched from other nodes since start.
    pub fetched: u64,
}

impl JobCounts {
    /// The counts the job worker last published in `metrics`.
    fn of(metrics: &GatewayMetrics) -> Self {
        Self {
            queued: metrics.jobs("queued"),
            running: metrics.jobs("running"),
            done: metrics.jobs("done"),
            failed: metrics.jobs("failed"),
            cancelled: metrics.jobs("cancelled"),
            read_local: metrics.compute_input_total("local"),
            fetched: metrics.compute_input_total("fetched"),
        }
    }
}

/// The gateway's health report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    /// Every known node.
    pub nodes: Vec<NodeStatus>,
    /// Segments of S3 objects by health at the last check.
    pub segments: SegmentStatus,
    /// Segments of the gateway's metadata backups by health.
    #[serde(default)]
    pub backup_segments: SegmentStatus,
    /// Segments of content kept by its CID (published or pinned) by
    /// health.
    #[serde(default)]
    pub content_segments: SegmentStatus,
    /// Pin requests by status, at the pin worker's last pass.
    #[serde(default)]
    pub pins: PinCounts,
    /// Compute jobs by state, at the job worker's last pass.
    #[serde(default)]
    pub jobs: JobCounts,
    /// Content records refused since start: manifests that do not match
    /// their CID, and records of publishers struck for one.
    #[serde(default)]
    pub content_records_refused: u64,
    /// Segments in the repair queue now.
    pub repair_queue: u64,
    /// Segments waiting to have doubled-up shards spread out now.
    #[serde(default)]
    pub rebalance_queue: u64,
    /// Seconds since the last check pass (none yet: `None`).
    pub last_check_secs: Option<u64>,
    /// Check passes finished since the gateway started: a pass numbered
    /// `n + 2` began after pass `n + 1` was reported, so it saw everything
    /// that happened before that.
    #[serde(default)]
    pub check_passes: u64,
}

/// One shard of an object, as `/object` reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardStatus {
    /// Its index in the segment (data shards first).
    pub index: usize,
    /// The shard id, hex.
    pub id: String,
    /// The peer id of the node holding it (empty if never stored).
    pub node: String,
    /// `healthy` (it counts), `bad` (the copy failed verification),
    /// `lost` (its node is gone past the grace period, or disqualified) or
    /// `missing` (never stored).
    pub state: String,
}

/// One segment of an object, as `/object` reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SegmentHealth {
    /// Index of its part in the manifest.
    pub part: u32,
    /// Index of the segment in the part.
    pub segment: u32,
    /// Shards that count.
    pub healthy: usize,
    /// Whether two or more of its shards are on one node.
    pub reduced_diversity: bool,
    /// Every shard.
    pub shards: Vec<ShardStatus>,
}

/// Where one object's shards are, as `/object` reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectHealth {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Data shards per segment.
    pub k: u8,
    /// Parity shards per segment.
    pub m: u8,
    /// Every segment, part by part.
    pub segments: Vec<SegmentHealth>,
}

/// Serves the admin endpoint.
#[derive(Clone)]
pub struct Admin {
    /// Health registry.
    pub health: Health,
    /// Node view (regions, RTTs).
    pub nodes: NodeView,
    /// The checker's latest report.
    pub survey: Survey,
    /// Key and bucket management, and the token it needs.
    pub manage: Option<(manage::Manage, String)>,
}

impl Admin {
    /// The status report now. Fails if the queues cannot be read (a queue
    /// that cannot be read is not reported as empty).
    pub async fn status(&self) -> Result<Status, MetaError> {
        let survey = self.survey.latest();
        let nodes = self
            .health
            .report()
            .into_iter()
            .map(|n| {
                let (region, rtt) = self
                    .nodes
                    .region_of(&n.id)
                    .map_or((None, None), |(r, rtt)| (Some(r), rtt));
                let peer = libp2p::PeerId::from_bytes(&n.id).ok();
                let usage = peer
                    .and_then(|p| self.nodes.usage_of(&p))
                    .map(|u| NodeUsage {
                        shards: u.report.shards,
                        bytes_stored: u.report.bytes_stored,
                        bytes_served: u.report.bytes_served,
                        bytes_received: u.report.bytes_received,
                        shard_hours: u.report.shard_hours(),
                        quota: u.report.quota,
                        free_for_owner: u.report.free_for_owner,
                        age_secs: u.at.elapsed().as_secs(),
                    });
                NodeStatus {
                    admitted: peer.is_some_and(|p| self.nodes.is_admitted(&p)),
                    usage,
                    shards: survey.held.get(&n.id).copied().unwrap_or(0),
                    peer_id: n.peer_id,
                    region,
                    rtt_ms: rtt.map(|d| d.as_secs_f64() * 1000.0),
                    state: n.state.as_str().to_owned(),
                    reputation: n.reputation,
                    audits_passed: n.audits.0,
                    audits_failed: n.audits.1,
                    audits_timed_out: n.audits.2,
                    last_audit_secs: n.last_audit_secs,
                    last_seen_secs: n.last_seen_secs,
                }
            })
            .collect();
        let meta = self.health.meta();
        Ok(Status {
            nodes,
            segments: survey.segments.into(),
            backup_segments: survey.backup_segments.into(),
            content_segments: survey.content_segments.into(),
            pins: PinCounts::of(self.health.metrics()),
            jobs: JobCounts::of(self.health.metrics()),
            content_records_refused: self.health.metrics().content_records_refused.get(),
            repair_queue: meta.repair_queue().await?.len() as u64,
            rebalance_queue: meta.rebalance_queue().await?.len() as u64,
            last_check_secs: (survey.at > 0).then(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64)
                    .saturating_sub(survey.at)
                    / 1000
            }),
            check_passes: survey.pass,
        })
    }

    /// Where the shards of `bucket/key` are and whether each counts;
    /// `None` if there is no such object.
    pub async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectHealth>, MetaError> {
        let Some(object) = self.health.meta().object(bucket, key).await? else {
            return Ok(None);
        };
        let health = &self.health;
        let mut segments = Vec::new();
        for (p, part) in object.parts.iter().enumerate() {
            for (s, layout) in part.segments.iter().enumerate() {
                let shards: Vec<ShardStatus> = layout
                    .shards
                    .iter()
                    .enumerate()
                    .map(|(index, shard)| {
                        let state = if shard.node.is_empty() {
                            "missing"
                        } else if health.is_bad(&shard.node, &shard.id) {
                            "bad"
                        } else if !health.node_holds(&shard.node) {
                            "lost"
                        } else {
                            "healthy"
                        };
                        ShardStatus {
                            index,
                            id: crate::data::hex(&shard.id),
                            node: if shard.node.is_empty() {
                                String::new()
                            } else {
                                peer_name(&shard.node)
                            },
                            state: state.to_owned(),
                        }
                    })
                    .collect();
                segments.push(SegmentHealth {
                    part: p as u32,
                    segment: s as u32,
                    healthy: shards.iter().filter(|s| s.state == "healthy").count(),
                    reduced_diversity: doubled_up(layout),
                    shards,
                });
            }
        }
        Ok(Some(ObjectHealth {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            k: object.k,
            m: object.m,
            segments,
        }))
    }

    /// A key or bucket management request: refused without the token.
    async fn manage_route(&self, req: &Request<Incoming>) -> (StatusCode, &'static str, String) {
        use manage::ManageError;
        let text = |status, body: String| (status, "text/plain", body);
        let Some((manage, token)) = &self.manage else {
            return text(StatusCode::NOT_FOUND, "management is off\n".into());
        };
        let given = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !manage::authorized(given, token) {
            return text(
                StatusCode::UNAUTHORIZED,
                "the admin token (admin.token in the gateway's data directory) is needed\n".into(),
            );
        }
        let query = req.uri().query().unwrap_or("");
        let param = |name| query_param(query, name);
        let result: Result<String, ManageError> = async {
            Ok(match (req.method().as_str(), req.uri().path()) {
                ("GET", "/keys") => match param("key") {
                    Some(key) => pretty(&manage.key(&key).await?),
                    None => pretty(&manage.keys().await?),
                },
                ("POST", "/keys") => pretty(&manage.create_key(param("name").as_deref()).await?),
                ("POST", "/keys/rename") => {
                    let (Some(key), Some(name)) = (param("key"), param("name")) else {
                        return Err(ManageError::BadRequest("key= and name= are needed".into()));
                    };
                    pretty(&manage.rename_key(&key, &name).await?)
                }
                ("POST", path @ ("/keys/delete" | "/keys/allow" | "/keys/deny")) => {
                    let Some(key) = param("key") else {
                        return Err(ManageError::BadRequest("key= is needed".into()));
                    };
                    match path {
                        "/keys/delete" => {
                            manage.delete_key(&key).await?;
                            pretty(&serde_json::json!({ "deleted": key }))
                        }
                        _ => {
                            let may = path.ends_with("allow");
                            match param("right").as_deref() {
                                None | Some("create-bucket") => {
                                    pretty(&manage.set_create_bucket(&key, may).await?)
                                }
                                Some("admin") => pretty(&manage.set_admin(&key, may).await?),
                                Some(other) => {
                                    return Err(ManageError::BadRequest(format!(
                                        "unknown right {other:?}: create-bucket or admin"
                                    )));
                                }
                            }
                        }
                    }
                }
                ("GET", "/buckets") => match param("name") {
                    Some(name) => pretty(&manage.bucket(&name).await?),
                    None => pretty(&manage.buckets().await?),
                },
                ("POST", "/buckets/create") => {
                    let (Some(bucket), Some(owner)) = (param("bucket"), param("owner")) else {
                        return Err(ManageError::BadRequest(
                            "bucket= and owner= are needed".into(),
                        ));
                    };
                    let region = param("region").unwrap_or_else(|| "us-east-1".into());
                    pretty(&manage.create_bucket(&bucket, &owner, &region).await?)
                }
                ("POST", "/buckets/delete") => {
                    let Some(bucket) = param("bucket") else {
                        return Err(ManageError::BadRequest("bucket= is needed".into()));
                    };
                    manage.delete_bucket(&bucket).await?;
                    pretty(&serde_json::json!({ "deleted": bucket }))
                }
                ("POST", "/buckets/allow-compute") => {
                    let Some(bucket) = param("bucket") else {
                        return Err(ManageError::BadRequest("bucket= is needed".into()));
                    };
                    let list = |value: Option<String>| -> Vec<String> {
                        value
                            .map(|v| {
                                v.split(',')
                                    .filter(|s| !s.is_empty())
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    let (nodes, regions) = (list(param("nodes")), list(param("regions")));
                    let replace = param("replace").is_some_and(|v| v == "true");
                    let view = manage
                        .allow_compute(&bucket, &nodes, &regions, replace)
                        .await?;
                    pretty(&view)
                }
                ("POST", path @ ("/buckets/allow" | "/buckets/deny")) => {
                    let (Some(bucket), Some(key), Some(perms)) =
                        (param("bucket"), param("key"), param("perms"))
                    else {
                        return Err(ManageError::BadRequest(
                            "bucket=, key= and perms= are needed".into(),
                        ));
                    };
                    let perms = manage::parse_perms(&perms)?;
                    let view = if path.ends_with("allow") {
                        manage.allow(&bucket, &key, perms).await?
                    } else {
                        manage.deny(&bucket, &key, perms).await?
                    };
                    pretty(&view)
                }
                _ => return Ok(String::new()),
            })
        }
        .await;
        match result {
            Ok(body) if body.is_empty() => text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n".into(),
            ),
            Ok(body) => (StatusCode::OK, "application/json", body),
            Err(e @ (ManageError::NoSuchBucket(_) | ManageError::NoSuchKey(_))) => {
                text(StatusCode::NOT_FOUND, format!("{e}\n"))
            }
            Err(e @ (ManageError::BadPerms(_) | ManageError::BadRequest(_))) => {
                text(StatusCode::BAD_REQUEST, format!("{e}\n"))
            }
            Err(e @ ManageError::Conflict(_)) => text(StatusCode::CONFLICT, format!("{e}\n")),
            Err(e) => {
                tracing::error!(error = %e, "admin: management request failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
            }
        }
    }

    /// Serves until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let admin = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.respond(&req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn respond(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        fn json(value: &impl Serialize) -> (StatusCode, &'static str, String) {
            let body = serde_json::to_string_pretty(value).expect("serializable");
            (StatusCode::OK, "application/json", body)
        }
        let failed = |e: MetaError| {
            tracing::error!(error = %e, "admin: cannot read the metadata");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("cannot read the metadata: {e}\n"),
            )
        };
        let path = req.uri().path();
        let (status, kind, body) = match (req.method().as_str(), path) {
            (
                _,
                "/keys"
                | "/keys/delete"
                | "/keys/allow"
                | "/keys/deny"
                | "/keys/rename"
                | "/buckets"
                | "/buckets/allow"
                | "/buckets/deny"
                | "/buckets/create"
                | "/buckets/allow-compute"
                | "/buckets/delete",
            ) => self.manage_route(req).await,
            ("GET", "/metrics") => (
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.health.metrics().render(),
            ),
            ("GET", "/status") => match self.status().await {
                Ok(status) => json(&status),
                Err(e) => failed(e),
            },
            ("GET", "/object") => {
                let query = req.uri().query().unwrap_or("");
                match (query_param(query, "bucket"), query_param(query, "key")) {
                    (Some(bucket), Some(key)) => match self.object(&bucket, &key).await {
                        Ok(Some(object)) => json(&object),
                        Ok(None) => (
                            StatusCode::NOT_FOUND,
                            "text/plain",
                            "no such object\n".into(),
                        ),
                        Err(e) => failed(e),
                    },
                    _ => (
                        StatusCode::BAD_REQUEST,
                        "text/plain",
                        "usage: /object?bucket=BUCKET&key=KEY (percent-encoded)\n".into(),
                    ),
                }
            }
            ("GET", _) => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "method not allowed\n".into(),
            ),
        };
        Response::builder()
            .status(status)
            .header("content-type", kind)
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")
    }
}

/// `value` as indented JSON.
fn pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).expect("serializable")
}

/// The percent-decoded value of `name` in a query string (`+` is kept as
/// is: clients encode a space as `%20`).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))?
    })
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not
/// UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a
/// query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_round_trip() {
        for value in ["obj/0001", "a b+c%d&e=f", "ünï", ""] {
            let query = format!("bucket=b&key={}", percent_encode(value));
            assert_eq!(query_param(&query, "key").as_deref(), Some(value));
            assert_eq!(query_param(&query, "bucket").as_deref(), Some("b"));
        }
        assert_eq!(query_param("key=%zz", "key"), None);
        assert_eq!(query_param("key=%4", "key"), None);
        assert_eq!(query_param("bucket=b", "key"), None);
    }
}
