//! The last hour of the gateway's activity, sampled every
//! [`SAMPLE_EVERY`] from its metrics into a ring kept in memory (no extra
//! database), for the console's charts.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::admin::metrics::{GatewayMetrics, LATENCY_BOUNDS_MS};

/// Time between samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Samples kept: one hour.
pub const KEPT: usize = 360;

/// One sample: what happened in the [`SAMPLE_EVERY`] before `at`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Point {
    /// Unix seconds.
    pub at: u64,
    /// S3 requests per second.
    pub requests: f64,
    /// 5xx answers per second.
    pub errors: f64,
    /// Mean latency to the response head, milliseconds.
    pub mean_ms: f64,
    /// 99th percentile latency (bucket bound), milliseconds.
    pub p99_ms: f64,
    /// Object bytes received per second.
    pub bytes_in: f64,
    /// Object bytes sent per second.
    pub bytes_out: f64,
    /// Bytes rebuilt by repair per second.
    pub repaired: f64,
    /// Segments waiting for repair.
    pub repair_queue: f64,
}

/// Totals at one instant, to take differences of.
#[derive(Clone, Copy, Default)]
struct Totals {
    requests: u64,
    errors: u64,
    latency_us: u64,
    buckets: [u64; LATENCY_BOUNDS_MS.len() + 1],
    bytes_in: u64,
    bytes_out: u64,
    repaired: u64,
}

impl Totals {
    fn read(metrics: &GatewayMetrics) -> Self {
        let recent = &metrics.recent;
        let mut buckets = [0; LATENCY_BOUNDS_MS.len() + 1];
        for (out, b) in buckets.iter_mut().zip(&recent.buckets) {
            *out = b.load(Relaxed);
        }
        Self {
            requests: recent.requests.load(Relaxed),
            errors: recent.server_errors.load(Relaxed),
            latency_us: recent.latency_us.load(Relaxed),
            buckets,
            bytes_in: metrics.bytes_in.get(),
            bytes_out: metrics.bytes_out.get(),
            repaired: metrics.repaired_bytes.get(),
        }
    }
}

/// The sampled hour. Cheap to clone; clones share the samples.
#[derive(Clone, Default)]
pub struct History {
    points: Arc<Mutex<VecDeque<Point>>>,
}

impl History {
    /// Every sample kept, oldest first.
    pub fn points(&self) -> Vec<Point> {
        self.points
            .lock()
            .expect("not poisoned")
            .iter()
            .copied()
            .collect()
    }

    fn push(&self, point: Point) {
        let mut points = self.points.lock().expect("not poisoned");
        if points.len() == KEPT {
            points.pop_front();
        }
        points.push_back(point);
    }

    /// Samples `metrics` every [`SAMPLE_EVERY`], forever.
    pub async fn run(self, metrics: GatewayMetrics) {
        let mut before = Totals::read(&metrics);
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = Totals::read(&metrics);
            self.push(point(
                &before,
                &now,
                SAMPLE_EVERY.as_secs_f64(),
                metrics.repair_queue.get().max(0) as f64,
            ));
            before = now;
        }
    }
}

/// What happened between `a` and `b`, `secs` apart.
fn point(a: &Totals, b: &Totals, secs: f64, repair_queue: f64) -> Point {
    let rate = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
    let requests = b.requests.saturating_sub(a.requests);
    let mut p99_ms = 0.0;
    if requests > 0 {
        let wanted = (requests as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        for (i, (x, y)) in a.buckets.iter().zip(&b.buckets).enumerate() {
            seen += y.saturating_sub(*x);
            if seen >= wanted {
                // The slowest bucket has no bound: say at least its floor.
                p99_ms = LATENCY_BOUNDS_MS
                    .get(i)
                    .or(LATENCY_BOUNDS_MS.last())
                    .copied()
                    .unwrap_or(0) as f64;
                break;
            }
        }
    }
    Point {
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        requests: requests as f64 / secs,
        errors: rate(a.errors, b.errors),
        mean_ms: if requests > 0 {
            b.latency_us.saturating_sub(a.latency_us) as f64 / requests as f64 / 1000.0
        } else {
            0.0
        },
        p99_ms,
        bytes_in: rate(a.bytes_in, b.bytes_in),
        bytes_out: rate(a.bytes_out, b.bytes_out),
        repaired: rate(a.repaired, b.repaired),
        repair_queue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_rates_and_percentiles_of_the_interval() {
        let metrics = GatewayMetrics::new();
        let a = Totals::read(&metrics);
        for _ in 0..98 {
            metrics.request("GetObject", 200, 0.0015);
        }
        metrics.request("GetObject", 200, 0.3);
        metrics.request("PutObject", 503, 0.3);
        metrics.bytes_in.inc_by(1000);
        let b = Totals::read(&metrics);
        let p = point(&a, &b, 10.0, 3.0);
        assert_eq!(p.requests, 10.0);
        assert_eq!(p.errors, 0.1);
        assert_eq!(p.bytes_in, 100.0);
        assert_eq!(
            p.p99_ms, 500.0,
            "99 of 100 within 2 ms, the 99th percentile is not"
        );
        assert!((p.mean_ms - 7.47).abs() < 0.01, "{}", p.mean_ms);
        assert_eq!(p.repair_queue, 3.0);
        let idle = point(&b, &b, 10.0, 0.0);
        assert_eq!((idle.requests, idle.p99_ms, idle.mean_ms), (0.0, 0.0, 0.0));
    }

    #[test]
    fn an_hour_is_kept() {
        let history = History::default();
        for i in 0..(KEPT + 5) {
            history.push(Point {
                at: i as u64,
                ..Point::default()
            });
        }
        let points = history.points();
        assert_eq!(points.len(), KEPT);
        assert_eq!(points[0].at, 5);
    }
}
