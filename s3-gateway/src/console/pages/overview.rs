//! `GET /`: the cluster at a glance, refreshed live (`?fragment=1` gives
//! the part that changes).

use std::collections::BTreeMap;

use serde::Serialize;

use super::super::chart::{Series, svg};
use super::super::{Answer, Console, Ctx, render};
use super::{show, v};
use crate::admin::{JobCounts, PinCounts, SegmentStatus};

/// What the overview shows.
#[derive(Serialize)]
struct Overview {
    nodes: usize,
    by_state: BTreeMap<String, usize>,
    regions: usize,
    free_bytes: u64,
    stored_bytes: u64,
    objects: u64,
    object_bytes: u64,
    segments: SegmentStatus,
    content_segments: SegmentStatus,
    repair_queue: u64,
    rebalance_queue: u64,
    repair_rate: f64,
    audits_passed: u64,
    audits_failed: u64,
    audits_timed_out: u64,
    last_check: Option<u64>,
    durability: String,
    pins: PinCounts,
    jobs: JobCounts,
    charts: Vec<String>,
}

/// The overview page, or its live part alone with `?fragment=1`.
pub async fn page(console: &Console, ctx: &Ctx) -> Answer {
    let admin = &console.inner.admin;
    let status = match admin.status().await {
        Ok(status) => status,
        Err(e) => {
            return render::html(
                503,
                format!("<p>Metadata: {}</p>", render::escape(&e.to_string())),
            );
        }
    };
    let survey = admin.survey.latest();
    let cluster = admin.nodes.cluster();
    let mut by_state = BTreeMap::new();
    for n in &status.nodes {
        *by_state.entry(n.state.clone()).or_insert(0) += 1;
    }
    let points = console.inner.history.points();
    let overview = Overview {
        nodes: status.nodes.len(),
        by_state,
        regions: cluster.regions().len(),
        free_bytes: cluster.nodes().iter().map(|n| n.free_bytes).sum(),
        stored_bytes: status
            .nodes
            .iter()
            .filter_map(|n| n.usage.as_ref())
            .map(|u| u.bytes_stored)
            .sum(),
        objects: survey.objects,
        object_bytes: survey.object_bytes,
        segments: status.segments,
        content_segments: status.content_segments,
        repair_queue: status.repair_queue,
        rebalance_queue: status.rebalance_queue,
        repair_rate: points.last().map_or(0.0, |p| p.repaired),
        audits_passed: status.nodes.iter().map(|n| n.audits_passed).sum(),
        audits_failed: status.nodes.iter().map(|n| n.audits_failed).sum(),
        audits_timed_out: status.nodes.iter().map(|n| n.audits_timed_out).sum(),
        last_check: status.last_check_secs,
        durability: console.durability().await,
        pins: status.pins,
        jobs: status.jobs,
        charts: charts(&points),
    };
    if ctx.q("fragment") == "1" {
        return render::page(
            &console.inner.templates,
            "overview_stats.html",
            minijinja::context! { o => v(&overview) },
        );
    }
    show(
        console,
        ctx,
        "overview.html",
        "Overview",
        "overview",
        vec![("o", v(&overview))],
    )
}

/// The charts of the last hour.
fn charts(points: &[super::super::history::Point]) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let series = |name, colour, f: fn(&super::super::history::Point) -> f64| Series {
        name,
        colour,
        values: points.iter().map(|p| (p.at, f(p))).collect(),
    };
    vec![
        svg(
            "S3 requests per second",
            "/s",
            now,
            &[
                series("requests", "#2f6fdf", |p| p.requests),
                series("5xx", "#d23", |p| p.errors),
            ],
        ),
        svg(
            "Latency to first byte",
            " ms",
            now,
            &[
                series("mean", "#2f6fdf", |p| p.mean_ms),
                series("p99", "#e80", |p| p.p99_ms),
            ],
        ),
        svg(
            "Object bytes",
            "B/s",
            now,
            &[
                series("in", "#2a2", |p| p.bytes_in),
                series("out", "#2f6fdf", |p| p.bytes_out),
            ],
        ),
        svg(
            "Repair",
            "",
            now,
            &[series("segments queued", "#d23", |p| p.repair_queue)],
        ),
    ]
}
