//! `cairn bench`: an S3 load generator for any S3 endpoint (Cairn or not).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

/// Arguments of `cairn bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint, e.g. http://127.0.0.1:9000.
    #[arg(long)]
    endpoint: String,
    /// Access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key: String,
    /// Secret key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_key: String,
    /// Region to sign for.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Bucket to use (created if missing).
    #[arg(long, default_value = "cairn-bench")]
    bucket: String,
    /// put, get, or mixed (half and half).
    #[arg(long, default_value = "put")]
    op: Op,
    /// Object size, e.g. 4KiB, 1MiB, 256MiB.
    #[arg(long, default_value = "1MiB")]
    size: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// How long to run, e.g. 30s, 2m.
    #[arg(long, default_value = "10s")]
    duration: humantime::Duration,
    /// Put this many distinct objects (obj-0 to obj-N-1) once each and
    /// stop, instead of running for --duration over a small pool of keys
    /// (to fill a bucket, e.g. before measuring a recovery).
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    objects: Option<u64>,
    /// Turn versioning on in the bucket first (every put then keeps the
    /// version it replaces).
    #[arg(long)]
    versioned: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Op {
    Put,
    Get,
    Mixed,
}

/// Latencies and byte counts of one operation kind.
#[derive(Default)]
struct Tally {
    latencies: std::sync::Mutex<Vec<Duration>>,
    bytes: AtomicU64,
    errors: AtomicU64,
}

impl Tally {
    fn record(&self, took: Duration, bytes: u64) {
        self.latencies.lock().expect("not poisoned").push(took);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a failed request; the first failure of each kind is shown
    /// on stderr (the rest only counted).
    fn failed(&self, op: &str, key: &str, error: &dyn std::fmt::Display) {
        if self.errors.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!("bench: {op} {key} failed (later failures only counted): {error}");
        }
    }

    fn report(&self, op: &str, wall: Duration) -> serde_json::Value {
        let mut lat = self.latencies.lock().expect("not poisoned").clone();
        lat.sort();
        let pct = |p: f64| {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
            lat[i].as_secs_f64() * 1e3
        };
        let secs = wall.as_secs_f64();
        serde_json::json!({
            "op": op,
            "requests": lat.len(),
            "errors": self.errors.load(Ordering::Relaxed),
            "mb_per_s": self.bytes.load(Ordering::Relaxed) as f64 / 1e6 / secs,
            "objects_per_s": lat.len() as f64 / secs,
            "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)},
        })
    }
}

fn client(args: &BenchArgs) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(
        &args.access_key,
        &args.secret_key,
        None,
        None,
        "cairn-bench",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(&args.endpoint)
        .region(aws_sdk_s3::config::Region::new(args.region.clone()))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Runs the load and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let size = storage_node::config::parse_size(&args.size)? as usize;
    let s3 = client(&args);
    if s3.head_bucket().bucket(&args.bucket).send().await.is_err() {
        s3.create_bucket()
            .bucket(&args.bucket)
            .send()
            .await
            .context("creating the bench bucket")?;
    }
    if args.versioned {
        let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        s3.put_bucket_versioning()
            .bucket(&args.bucket)
            .versioning_configuration(enabled)
            .send()
            .await
            .context("turning versioning on")?;
    }
    let mut body = vec![0u8; size];
    blake3::Hasher::new()
        .update(&size.to_le_bytes())
        .finalize_xof()
        .fill(&mut body);
    let body = Bytes::from(body);
    // A pool of objects to read; gets need something to fetch.
    let pool = args.concurrency.max(1) * 4;
    if args.op != Op::Put {
        for i in 0..pool {
            s3.put_object()
                .bucket(&args.bucket)
                .key(format!("obj-{i}"))
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .context("seeding objects to read")?;
        }
    }
    let puts = Arc::new(Tally::default());
    let gets = Arc::new(Tally::default());
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + *args.duration;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (s3, body, puts, gets, next) = (
            s3.clone(),
            body.clone(),
            puts.clone(),
            gets.clone(),
            next.clone(),
        );
        let (bucket, op, objects) = (args.bucket.clone(), args.op, args.objects);
        workers.push(tokio::spawn(async move {
            while objects.is_some() || Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let put = match op {
                    Op::Put => true,
                    Op::Get => false,
                    Op::Mixed => n % 2 == 0,
                };
                let key = match objects {
                    Some(limit) if n >= limit => break,
                    Some(_) => format!("obj-{n}"),
                    None => format!("obj-{}", n % pool as u64),
                };
                let put = put || objects.is_some();
                let t = Instant::now();
                if put {
                    let sent = s3
                        .put_object()
                        .bucket(&bucket)
                        .key(&key)
                        .body(ByteStream::from(body.clone()))
                        .send()
                        .await;
                    match sent {
                        Ok(_) => puts.record(t.elapsed(), body.len() as u64),
                        Err(e) => puts.failed("put", &key, &DisplayErrorContext(e)),
                    }
                } else {
                    let got = match s3.get_object().bucket(&bucket).key(&key).send().await {
                        Ok(out) => out
                            .body
                            .collect()
                            .await
                            .map(|b| b.into_bytes().len())
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(DisplayErrorContext(e).to_string()),
                    };
                    match got {
                        Ok(len) => gets.record(t.elapsed(), len as u64),
                        Err(e) => gets.failed("get", &key, &e),
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let wall = started.elapsed();
    let mut reports = Vec::new();
    if args.op != Op::Get {
        reports.push(puts.report("put", wall));
    }
    if args.op != Op::Put {
        reports.push(gets.report("get", wall));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "endpoint": args.endpoint,
                "size": size,
                "concurrency": args.concurrency,
                "seconds": wall.as_secs_f64(),
                "results": reports,
            }))?
        );
    } else {
        println!(
            "{} bytes per object, {} in flight, {:.1} s",
            size,
            args.concurrency,
            wall.as_secs_f64()
        );
        for r in &reports {
            println!(
                "{:<4} {:>7} requests ({} errors)  {:>8.1} MB/s  {:>8.1} objects/s  latency p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms",
                r["op"].as_str().unwrap_or_default(),
                r["requests"],
                r["errors"],
                r["mb_per_s"].as_f64().unwrap_or_default(),
                r["objects_per_s"].as_f64().unwrap_or_default(),
                r["latency_ms"]["p50"].as_f64().unwrap_or_default(),
                r["latency_ms"]["p90"].as_f64().unwrap_or_default(),
                r["latency_ms"]["p99"].as_f64().unwrap_or_default(),
            );
        }
    }
    let failed = reports.iter().any(|r| r["errors"].as_u64() != Some(0));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
