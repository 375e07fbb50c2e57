//! Self-healing end to end: a real devnet loses two of its six nodes to
//! `kill -9`; every object still reads back; after the dead deadline the
//! gateway rebuilds every lost shard onto fresh nodes, resuming its
//! persisted repair queue after being killed itself; the rebuilt shards
//! alone (with two original holders stopped) read back; when the killed
//! nodes return, their stale copies are garbage-collected.

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::devnet::{Devnet, read_object};
use common::{NodeProc, bytes, stored_shards};
use futures_util::StreamExt;

/// Mixed sizes: empty, tiny (replicated), one segment, several segments.
fn size_of(i: usize) -> usize {
    if i.is_multiple_of(50) {
        return 9_000_000;
    }
    [
        0, 1, 700, 5_000, 16_384, 40_000, 300_000, 1_100_000, 2_500_000, 70_000,
    ][i % 10]
}

async fn put_all(s3: &aws_sdk_s3::Client, bucket: &str, count: usize) {
    futures_util::stream::iter(0..count)
        .map(|i| {
            let s3 = s3.clone();
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(format!("obj/{i:04}"))
                    .body(ByteStream::from(bytes(size_of(i), i as u64)))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {i}: {e:?}"));
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

async fn check_all(s3: &aws_sdk_s3::Client, bucket: &str, count: usize, when: &str) {
    futures_util::stream::iter(0..count)
        .map(|i| {
            let s3 = s3.clone();
            async move {
                let got = read_object(&s3, bucket, &format!("obj/{i:04}"), when).await;
                assert!(
                    got == bytes(size_of(i), i as u64),
                    "{when}: object {i} came back different"
                );
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// Shards the node on `data_dir` stores (files and inline).
fn shard_count(data_dir: &str) -> usize {
    stored_shards(std::path::Path::new(data_dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_killed_nodes_are_healed_and_their_leftovers_collected() {
    const OBJECTS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    // Repair starts slow (4 MiB/s) so that the gateway can be killed in
    // the middle of it.
    let devnet = Devnet::start(
        &dir.path().join("dn"),
        &[
            "--gateway-arg=--check-every=2s",
            "--gateway-arg=--gc-every=3s",
            "--gateway-arg=--repair-rate=4MiB",
            // The shards on the nodes are counted against the objects'
            // below; metadata backups (tests/recover.rs) would add theirs.
            "--gateway-arg=--no-backup",
        ],
    );
    let s3 = devnet.client();
    s3.create_bucket().bucket("heal").send().await.unwrap();
    put_all(&s3, "heal", OBJECTS).await;
    // Every segment (8 MiB of plaintext; none for an empty object) is seen
    // at full redundancy.
    let total: u64 = (0..OBJECTS)
        .map(|i| (size_of(i) as u64).div_ceil(8 << 20))
        .sum();
    let before = devnet.wait_status(
        "a full check of every segment",
        Duration::from_secs(30),
        |s| s["segments"]["full"] == total,
    );
    assert_eq!(before["segments"]["lost"], 0);

    // Two nodes die.
    let killed: Vec<usize> = vec![0, 1];
    for &i in &killed {
        devnet.kill_node(i);
    }
    check_all(&s3, "heal", OBJECTS, "with two nodes dead").await;

    // Two fresh nodes join, in the regions of the dead.
    let fresh: Vec<NodeProc> = killed
        .iter()
        .map(|&i| {
            let mut node = devnet.joining_node(
                &dir.path().join(format!("fresh-{i}")),
                &devnet.node_field(i, "region"),
                "10GiB",
                2,
            );
            node.spawn();
            node
        })
        .collect();

    // The gateway notices: both are declared dead.
    let dead = devnet.wait_status(
        "the killed nodes declared dead",
        Duration::from_secs(60),
        |s| {
            killed.iter().all(|&i| {
                Devnet::node_status(s, &devnet.node_field(i, "peer_id"))["state"] == "dead"
            })
        },
    );
    assert_eq!(dead["segments"]["lost"], 0, "{dead:#}");
    devnet.wait_status(
        "the loss seen by the checker",
        Duration::from_secs(30),
        |s| s["segments"]["full"] != total,
    );

    // Repair begins; the gateway is killed mid-way and started again: the
    // queue resumes from the metadata store.
    devnet.wait_status("repair under way", Duration::from_secs(60), |s| {
        s["repair_queue"].as_u64().unwrap_or(0) > 0
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    devnet.kill_gateway();
    // The queue itself survived the crash: it is in the gateway's metadata
    // store, which the restarted gateway resumes from (read here before
    // it starts, so its own checker cannot have refilled it).
    let queue = persisted_repair_queue(&devnet.gateway_dir()).await;
    assert!(
        !queue.is_empty(),
        "the repair queue was lost with the gateway"
    );
    for (at, entry) in &queue {
        assert_eq!(at.bucket, "heal", "{at:?}");
        assert!(
            usize::from(entry.healthy) < 6,
            "a queued segment is degraded: {at:?} {entry:?}"
        );
    }
    let gateway = devnet.restart_gateway(
        &["--check-every=2s", "--gc-every=3s", "--no-backup"],
        &dir.path().join("gateway-2.log"),
    );

    // After the dead deadline and the grace, every segment is rebuilt to
    // full redundancy; nothing is ever lost.
    devnet.wait_status("full redundancy again", Duration::from_secs(180), |s| {
        assert_eq!(s["segments"]["lost"], 0, "segments lost: {s:#}");
        s["segments"]["full"] == total
            && s["segments"]["queued"] == 0
            && s["segments"]["degraded"] == 0
            && s["repair_queue"] == 0
            && killed
                .iter()
                .all(|&i| Devnet::node_status(s, &devnet.node_field(i, "peer_id"))["shards"] == 0)
    });
    // A check pass begun after that agrees.
    let healed = devnet.fresh_status(Duration::from_secs(30));
    assert_eq!(healed["segments"]["full"], total, "{healed:#}");
    assert_eq!(healed["repair_queue"], 0, "{healed:#}");
    for &i in &killed {
        let node = Devnet::node_status(&healed, &devnet.node_field(i, "peer_id"));
        assert_eq!(node["state"], "dead", "{node:#}");
        assert_eq!(
            node["shards"], 0,
            "no shard is still counted on a dead node: {node:#}"
        );
    }
    let on_fresh: u64 = fresh
        .iter()
        .map(|n| {
            Devnet::node_status(&healed, &n.peer.to_string())["shards"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    assert!(
        on_fresh > 0,
        "the fresh nodes took rebuilt shards: {healed:#}"
    );
    check_all(&s3, "heal", OBJECTS, "after repair").await;

    // The rebuilt shards are real: with two of the surviving original
    // holders stopped, every 4+2 segment has exactly four shards left to
    // read, two of them rebuilt on the fresh nodes.
    let stopped = [2, 3];
    for &i in &stopped {
        devnet.signal_node(i, "-STOP");
    }
    devnet.wait_status("the stopped nodes suspect", Duration::from_secs(30), |s| {
        stopped
            .iter()
            .all(|&i| Devnet::node_status(s, &devnet.node_field(i, "peer_id"))["state"] != "alive")
    });
    let reading = std::time::Instant::now();
    check_all(&s3, "heal", OBJECTS, "from the rebuilt shards").await;
    eprintln!(
        "read everything with two original holders stopped in {:.1?}",
        reading.elapsed()
    );
    for &i in &stopped {
        devnet.signal_node(i, "-CONT");
    }
    devnet.wait_status(
        "the stopped nodes alive again",
        Duration::from_secs(30),
        |s| {
            stopped.iter().all(|&i| {
                Devnet::node_status(s, &devnet.node_field(i, "peer_id"))["state"] == "alive"
            })
        },
    );

    // The killed nodes come back: they are alive again, and the copies
    // they kept (rebuilt elsewhere meanwhile) are collected.
    let mut returned = Vec::new();
    for &i in &killed {
        let data = devnet.node_field(i, "data_dir");
        returned.push(NodeProc::start(
            std::path::Path::new(&data),
            &devnet.node_field(i, "region"),
            "10GiB",
            &[devnet.bootstrap(2)],
        ));
        // (Read as it starts, before garbage collection reaches it.)
        assert!(shard_count(&data) > 0, "node {i} kept its shards");
    }
    devnet.wait_status(
        "the killed nodes alive again",
        Duration::from_secs(60),
        |s| {
            killed.iter().all(|&i| {
                Devnet::node_status(s, &devnet.node_field(i, "peer_id"))["state"] == "alive"
            })
        },
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let left: Vec<usize> = killed
            .iter()
            .map(|&i| shard_count(&devnet.node_field(i, "data_dir")))
            .collect();
        if left.iter().all(|&n| n == 0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stale shards not collected: {left:?} left"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    check_all(&s3, "heal", OBJECTS, "after garbage collection").await;
    let last = devnet.status();
    assert_eq!(last["segments"]["full"], total, "{last:#}");

    // Nothing leaked or stored twice: once garbage collection has run, the
    // shards on all eight live nodes are exactly those the manifests
    // name (copies made by the interrupted repair included).
    let expected: usize = (0..OBJECTS).map(|i| shards_of(size_of(i))).sum();
    let mut dirs: Vec<String> = (0..6).map(|i| devnet.node_field(i, "data_dir")).collect();
    dirs.extend(fresh.iter().map(|n| n.data.display().to_string()));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored: usize = dirs.iter().map(|d| shard_count(d)).sum();
        if stored == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{stored} shards on the nodes, the manifests name {expected}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(returned);
    drop(fresh);
    drop(gateway);
}

/// Shards of an object of `size` bytes: none when empty, three
/// copies below 16 KiB (replicated), else six per 8 MiB segment (4+2).
fn shards_of(size: usize) -> usize {
    match size {
        0 => 0,
        s if s < 16 << 10 => 3,
        s => 6 * s.div_ceil(8 << 20),
    }
}

/// The repair queue in a stopped gateway's metadata store (waiting for a
/// killed gateway's last file handles to close).
async fn persisted_repair_queue(
    gateway_dir: &std::path::Path,
) -> Vec<(s3_gateway::meta::SegmentKey, s3_gateway::meta::RepairEntry)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match s3_gateway::open_meta(gateway_dir) {
            Ok(meta) => return meta.repair_queue().await.expect("the repair queue reads"),
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "cannot open the gateway's metadata: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
