//! Regions with real distance: `cairn devnet --wan` puts each region in a
//! network namespace of its own, joined by a router that delays every
//! packet between regions. Three regions, two nodes each, at 2 ms, 40 ms
//! and 120 ms round trip from the gateway: its own (`us-east`, the gateway
//! in a namespace of its own 1 ms each way from that region's nodes),
//! `eu-west` 20 ms away each way and `ap-south` 60 ms away. Needs root, as the WAN does; the
//! devnet is started by the test and stopped with it (scripts/test.sh runs
//! this binary with sudo when it is not root; every test name starts with
//! `wan_` so that the rest can skip them).
//!
//! Each scenario has a devnet of its own (stopping nodes would disturb
//! any other on the same devnet); they run one at a time, so that one's
//! 64 MiB transfers do not skew the other's latencies.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::devnet::{Devnet, read_object};

const REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-south"];
/// The round trip from the gateway's region to each region, ms.
const RTT_MS: [f64; 3] = [2.0, 40.0, 120.0];

/// One WAN devnet at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn start(dir: &std::path::Path) -> Devnet {
    Devnet::start(
        dir,
        &[
            // A stopped node's shards stay where they are while the test
            // runs, so that reads can come back to them.
            "--gateway-arg=--repair-grace=10m",
            "--wan",
            "--gateway-delay",
            "1ms",
            "--regions",
            "3",
            "--delay",
            "us-east:eu-west=20ms",
            "--delay",
            "us-east:ap-south=60ms",
            "--delay",
            "eu-west:ap-south=70ms",
        ],
    )
}

/// Starts a WAN devnet in a new directory, off the async runtime.
async fn start_devnet() -> (tempfile::TempDir, Devnet) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet");
    let devnet = tokio::task::spawn_blocking(move || start(&path))
        .await
        .unwrap();
    (dir, devnet)
}

/// Shard bytes each region's nodes have sent for reads so far, asking
/// every node but those in `stopped` (a stopped node would not answer).
fn sent_by_region(devnet: &Devnet, stopped: &[usize]) -> BTreeMap<String, u64> {
    let mut sent = BTreeMap::new();
    for (i, node) in devnet.info["nodes"].as_array().unwrap().iter().enumerate() {
        if stopped.contains(&i) {
            continue;
        }
        let addr = node["metrics"].as_str().unwrap();
        let addr = addr
            .trim_start_matches("http://")
            .trim_end_matches("/metrics");
        let text = common::metrics_text(addr);
        let bytes: u64 = text
            .lines()
            .filter(|l| l.starts_with("cairn_node_sent_bytes_total") && l.contains("kind=\"get\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64;
        *sent.entry(devnet.node_field(i, "region")).or_default() += bytes;
    }
    sent
}

/// What each region sent while `read` ran (nodes in `stopped` not asked).
async fn read_from(
    devnet: &Devnet,
    stopped: &[usize],
    read: impl std::future::Future<Output = ()>,
) -> BTreeMap<String, u64> {
    let before = sent_by_region(devnet, stopped);
    read.await;
    let after = sent_by_region(devnet, stopped);
    after
        .into_iter()
        .map(|(region, bytes)| {
            let was = before.get(&region).copied().unwrap_or(0);
            (region, bytes - was)
        })
        .collect()
}

/// The share of `sent` from the two regions nearer than `ap-south`.
fn near_share(sent: &BTreeMap<String, u64>) -> f64 {
    let total: u64 = sent.values().sum();
    let near: u64 = REGIONS[..2]
        .iter()
        .map(|r| sent.get(*r).copied().unwrap_or(0))
        .sum();
    near as f64 / total.max(1) as f64
}

/// Every node is alive in the gateway's status.
fn all_alive(status: &serde_json::Value) -> bool {
    status["nodes"]
        .as_array()
        .is_some_and(|nodes| nodes.len() == 6 && nodes.iter().all(|n| n["state"] == "alive"))
}

/// Watches the gateway's status every half second from a thread of its
/// own, recording every node seen in any state but `alive`.
struct StateWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl StateWatch {
    fn start(devnet: &Devnet) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let dir = devnet.dir.clone();
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
                        .args(["status", "--json", "--dir"])
                        .arg(&dir)
                        .output()
                        .unwrap();
                    if let Ok(status) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
                        for node in status["nodes"].as_array().into_iter().flatten() {
                            if node["state"] != "alive" {
                                seen.push(format!(
                                    "{} ({}) {}",
                                    node["peer_id"], node["region"], node["state"]
                                ));
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                seen
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops watching; every non-alive state seen.
    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Waits until the gateway has measured a round trip to every node and
/// admitted it (placement counts only admitted nodes: a PUT sent before
/// is refused for want of nodes), and checks each RTT against the WAN's
/// table; returns the status.
fn measured_rtts(devnet: &Devnet) -> serde_json::Value {
    let what = "RTTs to every node, every node admitted";
    let status = devnet.wait_status(what, Duration::from_secs(60), |s| {
        s["nodes"].as_array().is_some_and(|nodes| {
            nodes.len() == 6
                && nodes
                    .iter()
                    .all(|n| n["rtt_ms"].is_number() && n["admitted"] == true)
        })
    });
    for node in status["nodes"].as_array().unwrap() {
        let region = node["region"].as_str().unwrap();
        let at = REGIONS.iter().position(|r| *r == region).unwrap();
        let rtt = node["rtt_ms"].as_f64().unwrap();
        assert!(
            rtt >= RTT_MS[at] && rtt <= RTT_MS[at] + 15.0,
            "{region}: measured {rtt} ms, the WAN applies {} ms",
            RTT_MS[at]
        );
    }
    status
}

#[tokio::test(flavor = "multi_thread")]
async fn wan_small_reads_wait_only_for_the_nearest_holders_and_distance_is_not_ill_health() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_dir, devnet) = start_devnet().await;
    let s3 = devnet.client();
    let status = measured_rtts(&devnet);
    let watch = StateWatch::start(&devnet);

    s3.create_bucket().bucket("small").send().await.unwrap();
    let body = common::bytes(4 << 10, 4);
    let mut puts = Vec::new();
    for i in 0..20 {
        let began = Instant::now();
        s3.put_object()
            .bucket("small")
            .key(format!("k{i}"))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        puts.push(began.elapsed());
    }
    // The k nearest holders of each object answer its reads (a small
    // object is replicated, k = 1): the round trip to the farthest of them
    // bounds a read's latency.
    let rtt_of: BTreeMap<String, f64> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["peer_id"].as_str().unwrap().to_owned(),
                n["rtt_ms"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut gets = Vec::new();
    let mut kth = Vec::new();
    for i in 0..20 {
        let key = format!("k{i}");
        let object = devnet.object_status("small", &key);
        let mut rtts: Vec<f64> = object["segments"][0]["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| rtt_of[s["node"].as_str().unwrap()])
            .collect();
        rtts.sort_by(f64::total_cmp);
        let k = object["k"].as_u64().unwrap() as usize;
        kth.push(rtts[k - 1]);
        for _ in 0..3 {
            let began = Instant::now();
            assert_eq!(read_object(&s3, "small", &key, "4 KiB").await, body);
            gets.push(began.elapsed());
        }
    }
    puts.sort();
    gets.sort();
    kth.sort_by(f64::total_cmp);
    let (get_p50, kth_p50) = (gets[gets.len() / 2], kth[kth.len() / 2]);
    eprintln!(
        "4 KiB on the WAN: PUT p50 {:?} p99 {:?}; GET p50 {get_p50:?} p99 {:?}; k-th nearest holder (p50) {kth_p50:.1} ms",
        puts[puts.len() / 2],
        puts[puts.len() - 1],
        gets[gets.len() - 1]
    );
    assert!(
        get_p50.as_secs_f64() * 1000.0 <= kth_p50 + 10.0,
        "4 KiB GET p50 {get_p50:?}; the k-th nearest holder is {kth_p50:.1} ms away"
    );

    let not_alive = watch.finish();
    assert!(not_alive.is_empty(), "healthy nodes marked: {not_alive:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wan_reads_follow_latency_and_fall_back_to_the_far_region() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_dir, devnet) = start_devnet().await;
    let s3 = devnet.client();
    measured_rtts(&devnet);
    let watch = StateWatch::start(&devnet);

    s3.create_bucket().bucket("wan").send().await.unwrap();
    let body = common::bytes(64 << 20, 20);
    s3.put_object()
        .bucket("wan")
        .key("big")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();

    // Placement keeps every region at most m = 2 shards of any segment, so
    // losing a region loses nothing.
    let object = devnet.object_status("wan", "big");
    let regions_of: BTreeMap<String, String> = devnet.info["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["peer_id"].as_str().unwrap().to_owned(),
                n["region"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for segment in object["segments"].as_array().unwrap() {
        let mut per_region: BTreeMap<&str, usize> = BTreeMap::new();
        for shard in segment["shards"].as_array().unwrap() {
            let region = &regions_of[shard["node"].as_str().unwrap()];
            *per_region.entry(region).or_default() += 1;
        }
        assert!(per_region.values().all(|&n| n <= 2), "{per_region:?}");
    }

    // All up: the reads come from the two near regions.
    let sent = read_from(&devnet, &[], async {
        assert_eq!(read_object(&s3, "wan", "big", "all up").await, body);
    })
    .await;
    assert!(near_share(&sent) >= 0.9, "read from {sent:?}");
    // Distance is not ill health: nobody was marked down meanwhile.
    let not_alive = watch.finish();
    assert!(not_alive.is_empty(), "healthy nodes marked: {not_alive:?}");

    // The gateway's own region goes quiet: the far region serves.
    for i in [0, 3] {
        devnet.signal_node(i, "-STOP");
    }
    let sent = read_from(&devnet, &[0, 3], async {
        assert_eq!(
            read_object(&s3, "wan", "big", "near nodes stopped").await,
            body
        );
    })
    .await;
    assert!(sent["ap-south"] > 0, "read from {sent:?}");

    // Back: once the gateway hears them again, reads come back near.
    for i in [0, 3] {
        devnet.signal_node(i, "-CONT");
    }
    devnet.wait_status("every node alive again", Duration::from_secs(60), all_alive);
    let sent = read_from(&devnet, &[], async {
        assert_eq!(
            read_object(&s3, "wan", "big", "near nodes back").await,
            body
        );
    })
    .await;
    assert!(near_share(&sent) >= 0.9, "read from {sent:?}");
}
