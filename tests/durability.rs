//! Repair that never gives up, end to end on real processes: a rotten
//! shard on a node that every other node of its segment also holds a shard
//! of is rewritten in place; a mesh left with fewer nodes than shards
//! repairs every segment back to k+m by doubling up, and spreads out again
//! when a node joins; a read that hits rot heals it at once.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::devnet::{Devnet, read_object};
use common::{bytes, flip_byte, intact, shard_file};
use futures_util::StreamExt;

/// Mixed sizes: empty, tiny (replicated), inline shards, file shards, one
/// and several segments.
const SIZES: [usize; 8] = [
    0, 700, 5_000, 40_000, 300_000, 1_100_000, 2_500_000, 9_000_000,
];

fn size_of(i: usize) -> usize {
    SIZES[i % SIZES.len()]
}

fn key_of(i: usize) -> String {
    format!("obj/{i:03}")
}

/// Segments (8 MiB of plaintext each) of objects `0..count`.
fn segments(count: usize) -> u64 {
    (0..count)
        .map(|i| (size_of(i) as u64).div_ceil(8 << 20))
        .sum()
}

/// Segments of objects `0..count` stored as 4+2 (not replicated).
fn coded_segments(count: usize) -> u64 {
    (0..count)
        .filter(|&i| size_of(i) >= 16 << 10)
        .map(|i| (size_of(i) as u64).div_ceil(8 << 20))
        .sum()
}

async fn put_all(s3: &aws_sdk_s3::Client, bucket: &str, count: usize) {
    futures_util::stream::iter(0..count)
        .map(|i| {
            let s3 = s3.clone();
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(key_of(i))
                    .body(ByteStream::from(bytes(size_of(i), i as u64)))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {i}: {e:?}"));
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

async fn check_all(s3: &aws_sdk_s3::Client, bucket: &str, count: usize, when: &str) {
    futures_util::stream::iter(0..count)
        .map(|i| {
            let s3 = s3.clone();
            async move {
                let got = read_object(&s3, bucket, &key_of(i), when).await;
                assert!(
                    got == bytes(size_of(i), i as u64),
                    "{when}: object {i} came back different"
                );
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

/// The bytes `first..=last` of `bucket/key` by a ranged GET.
async fn read_range(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    first: usize,
    last: usize,
) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .range(format!("bytes={first}-{last}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("ranged get {key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .to_vec()
}

/// Shard `index` of segment `segment` (of part 0) in an object report:
/// (node peer id, shard id hex).
fn shard_at(object: &serde_json::Value, segment: usize, index: usize) -> (String, String) {
    let shard = &object["segments"][segment]["shards"][index];
    (
        shard["node"].as_str().unwrap().to_owned(),
        shard["id"].as_str().unwrap().to_owned(),
    )
}

/// Reads `key` (whole, and the bytes `range` of it) until a read has
/// touched the rotten shard in `file`: the gateway marked it bad or has
/// already rewritten it. Reads prefer data shards, but a node whose ping
/// was slow is asked later, so one read may not reach it. Every read must
/// return the right bytes.
async fn read_until_found(
    s3: &aws_sdk_s3::Client,
    devnet: &Devnet,
    key: &str,
    original: &[u8],
    range: std::ops::RangeInclusive<usize>,
    (file, id, index): (&std::path::Path, &str, usize),
) {
    for _ in 0..40 {
        let got = read_object(s3, "dur", key, "with a rotten data shard").await;
        assert!(got == original, "the whole object came back different");
        let got = read_range(s3, "dur", key, *range.start(), *range.end()).await;
        assert!(
            got == original[range.clone()],
            "the range came back different"
        );
        let report = devnet.object_status("dur", key);
        if intact(file, id) || report["segments"][0]["shards"][index]["state"] != "healthy" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no read reached the rotten shard");
}

/// Waits until every segment is counted at full redundancy with nothing
/// queued, nothing lost, and the killed nodes dead and holding nothing.
fn wait_healed(devnet: &Devnet, killed: &[usize], total: u64, what: &str) -> serde_json::Value {
    devnet.wait_status(what, Duration::from_secs(150), |s| {
        assert_eq!(s["segments"]["lost"], 0, "segments lost: {s:#}");
        s["segments"]["full"] == total
            && s["segments"]["queued"] == 0
            && s["repair_queue"] == 0
            && killed.iter().all(|&i| {
                let node = Devnet::node_status(s, &devnet.node_field(i, "peer_id"));
                node["state"] == "dead" && node["shards"] == 0
            })
    })
}

/// The scenario: 8 nodes in 4 regions, 4+2. Two nodes die and are
/// repaired around, so every segment then uses all six live nodes; one
/// byte rots in a shard on a live node (nowhere else for it to go: it is
/// rewritten in place); two more nodes die; every object still reads back
/// and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rot_with_no_free_node_is_rewritten_in_place_and_nothing_is_lost() {
    const OBJECTS: usize = 24;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(
        &dir.path().join("dn"),
        &[
            "--nodes=8",
            "--regions=4",
            "--k=4",
            "--m=2",
            "--gateway-arg=--check-every=2s",
        ],
    );
    let s3 = devnet.client();
    s3.create_bucket().bucket("dur").send().await.unwrap();
    put_all(&s3, "dur", OBJECTS).await;
    let total = segments(OBJECTS);
    devnet.wait_status("every segment full", Duration::from_secs(30), |s| {
        s["segments"]["full"] == total
    });

    // Two nodes die; their shards are rebuilt on the other six.
    devnet.kill_node(0);
    devnet.kill_node(1);
    check_all(&s3, "dur", OBJECTS, "with two nodes dead").await;
    wait_healed(&devnet, &[0, 1], total, "the first two losses repaired");

    // A byte rots in a data shard (2 MiB, a file) on a live node. Every
    // live node holds a shard of that segment.
    let victim = key_of(7);
    let before = devnet.object_status("dur", &victim);
    let seg = &before["segments"][0];
    assert_eq!(seg["healthy"], 6, "{before:#}");
    let holders: std::collections::BTreeSet<&str> = seg["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["node"].as_str().unwrap())
        .collect();
    assert_eq!(holders.len(), 6, "six distinct live nodes: {before:#}");
    let (node, id) = shard_at(&before, 0, 0);
    let index = devnet.node_index(&node).expect("a devnet node");
    let file = shard_file(
        std::path::Path::new(&devnet.node_field(index, "data_dir")),
        &id,
    );
    flip_byte(&file);
    assert!(!intact(&file, &id));

    // Reads stay right; the first one to touch the rotten shard finds it.
    check_all(&s3, "dur", OBJECTS, "with a rotten shard").await;
    let original = bytes(size_of(7), 7);
    read_until_found(
        &s3,
        &devnet,
        &victim,
        &original,
        0..=999_999,
        (&file, &id, 0),
    )
    .await;
    // Repaired: the segment has six healthy shards again, the rotten one
    // rewritten on the same node (there is no other).
    devnet.wait_object(
        ("dur", &victim),
        "the rotten shard rewritten in place",
        Duration::from_secs(60),
        |o| {
            let shard = &o["segments"][0]["shards"][0];
            o["segments"][0]["healthy"] == 6 && shard["state"] == "healthy" && shard["node"] == node
        },
    );
    assert!(intact(&file, &id), "the node's copy was replaced");

    // Two more nodes die: every segment still has four shards.
    devnet.kill_node(2);
    devnet.kill_node(3);
    check_all(&s3, "dur", OBJECTS, "with four nodes dead").await;
    // After their grace, each segment is repaired back to six shards on
    // the four nodes left (doubled up); nothing is ever lost.
    let healed = wait_healed(&devnet, &[0, 1, 2, 3], total, "six shards on four nodes");
    assert_eq!(
        healed["segments"]["reduced_diversity"].as_u64(),
        Some(coded_segments(OBJECTS)),
        "{healed:#}"
    );
    check_all(&s3, "dur", OBJECTS, "after repair on four nodes").await;
    let last = devnet.fresh_status(Duration::from_secs(30));
    assert_eq!(last["segments"]["lost"], 0, "{last:#}");
    eprintln!("scenario took {:.0?}", started.elapsed());
}

/// The default devnet (6 nodes, 4+2). A read that hits a rotten shard
/// heals it at once (the node's scrubber and the gateway's audits are
/// slowed to an hour, so only the read can find it). Then one node dies:
/// every segment returns to six healthy shards on five nodes (reduced
/// diversity); a node joins and the doubled-up shards spread out to it;
/// then any two nodes can die and everything still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_heal_rot_and_a_small_mesh_doubles_up_then_spreads_out() {
    const OBJECTS: usize = 24;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(
        &dir.path().join("dn"),
        &[
            "--node-arg=--scrub-every=3600",
            "--gateway-arg=--audit-every=1h",
            "--gateway-arg=--check-every=2s",
        ],
    );
    let s3 = devnet.client();
    s3.create_bucket().bucket("dur").send().await.unwrap();
    put_all(&s3, "dur", OBJECTS).await;
    let total = segments(OBJECTS);
    devnet.wait_status("every segment full", Duration::from_secs(30), |s| {
        s["segments"]["full"] == total
    });

    // Heal on read: rot in data shard 1 of a 2.5 MB object.
    let victim = key_of(6);
    let original = bytes(size_of(6), 6);
    let (node, id) = shard_at(&devnet.object_status("dur", &victim), 0, 1);
    let index = devnet.node_index(&node).expect("a devnet node");
    let file = shard_file(
        std::path::Path::new(&devnet.node_field(index, "data_dir")),
        &id,
    );
    flip_byte(&file);
    // Whole, and a range inside that shard (shard 1 holds the plaintext
    // from byte ~625 000): the right bytes.
    let healed_at = Instant::now();
    let range = 700_000..=1_200_000;
    read_until_found(&s3, &devnet, &victim, &original, range, (&file, &id, 1)).await;
    devnet.wait_object(
        ("dur", &victim),
        "the shard a read found rotten rebuilt",
        Duration::from_secs(30),
        |o| {
            let shard = &o["segments"][0]["shards"][1];
            o["segments"][0]["healthy"] == 6 && shard["state"] == "healthy" && shard["node"] == node
        },
    );
    eprintln!("heal on read took {:.1?}", healed_at.elapsed());
    assert!(intact(&file, &id), "rewritten in place, intact");
    // No audit ran: only the read found it.
    let status = devnet.status();
    for n in status["nodes"].as_array().unwrap() {
        assert_eq!(n["audits_passed"], 0, "an audit ran: {n:#}");
    }

    // One node dies: with five nodes for six shards, every segment is
    // still repaired to six healthy shards, one node holding two.
    devnet.kill_node(0);
    let doubled = wait_healed(&devnet, &[0], total, "six shards on five nodes");
    assert_eq!(
        doubled["segments"]["reduced_diversity"].as_u64(),
        Some(coded_segments(OBJECTS)),
        "every 4+2 segment doubled up once: {doubled:#}"
    );
    check_all(&s3, "dur", OBJECTS, "doubled up on five nodes").await;
    let admin = devnet.info["gateway"]["admin"].as_str().unwrap();
    let metrics = common::metrics_text(admin.trim_start_matches("http://"));
    let gauge = format!(
        "cairn_gateway_segments_reduced_diversity {}",
        coded_segments(OBJECTS)
    );
    assert!(
        metrics.lines().any(|l| l == gauge),
        "the gateway's metrics say {gauge}: {metrics}"
    );

    // A node joins: the doubled-up shards spread out to it.
    let mut fresh = devnet.joining_node(
        &dir.path().join("fresh"),
        &devnet.node_field(0, "region"),
        "10GiB",
        1,
    );
    fresh.spawn();
    let spread = devnet.wait_status("diversity restored", Duration::from_secs(90), |s| {
        assert_eq!(s["segments"]["lost"], 0, "segments lost: {s:#}");
        s["segments"]["reduced_diversity"] == 0
            && s["segments"]["full"] == total
            && s["rebalance_queue"] == 0
            && s["repair_queue"] == 0
    });
    let on_fresh = Devnet::node_status(&spread, &fresh.peer.to_string())["shards"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        on_fresh >= coded_segments(OBJECTS),
        "the new node took a shard of every 4+2 segment: {spread:#}"
    );

    // Any two nodes may now die.
    devnet.kill_node(1);
    devnet.kill_node(2);
    check_all(&s3, "dur", OBJECTS, "with two more nodes dead").await;
    drop(fresh);
    eprintln!("small mesh test took {:.0?}", started.elapsed());
}
