//! The admin endpoint (plain HTTP, meant for loopback or a private
//! network): `GET /metrics` (Prometheus text) and `GET /status` (JSON, what
//! `cairn status` prints).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::health::Health;
use crate::health::checker::{SegmentCounts, Survey};
use crate::nodes::NodeView;

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
}

impl From<SegmentCounts> for SegmentStatus {
    fn from(c: SegmentCounts) -> Self {
        Self {
            full: c.full,
            degraded: c.degraded,
            queued: c.queued,
            lost: c.lost,
        }
    }
}

/// The gateway's health report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    /// Every known node.
    pub nodes: Vec<NodeStatus>,
    /// Segments by health at the last check.
    pub segments: SegmentStatus,
    /// Segments in the repair queue now.
    pub repair_queue: u64,
    /// Seconds since the last check pass (none yet: `None`).
    pub last_check_secs: Option<u64>,
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
}

impl Admin {
    /// The status report now.
    pub fn status(&self) -> Status {
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
        Status {
            nodes,
            segments: survey.segments.into(),
            repair_queue: self
                .health
                .meta()
                .repair_queue()
                .map_or(0, |q| q.len() as u64),
            last_check_secs: (survey.at > 0).then(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64)
                    .saturating_sub(survey.at)
                    / 1000
            }),
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
                    async move { Ok::<_, Infallible>(admin.respond(&req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    fn respond(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let (status, kind, body) = match (req.method().as_str(), req.uri().path()) {
            ("GET", "/metrics") => (
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.health.metrics().render(),
            ),
            ("GET", "/status") => (
                StatusCode::OK,
                "application/json",
                serde_json::to_string_pretty(&self.status()).expect("serializable"),
            ),
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
