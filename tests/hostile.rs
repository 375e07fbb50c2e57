//! A devnet under attack by strangers with nothing but throwaway libp2p
//! identities: filling the nodes' disks, squatting on shard ids, and fake
//! or lying nodes trying to get data. Real processes, real clients.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::bytes;
use common::devnet::{Devnet, read_object};
use libp2p::identity::Keypair;
use mesh::ShardId;
use mesh::net::{ClientError, MeshClient};
use mesh::wire::ErrorCode;

const TIMEOUT: Duration = Duration::from_secs(20);
const MIB: usize = 1 << 20;

fn stranger() -> MeshClient {
    MeshClient::spawn(Keypair::generate_ed25519(), TIMEOUT).unwrap()
}

/// Shard ids stored as files on node `index` (copies of every owner).
fn shard_files(devnet: &Devnet, index: usize) -> BTreeSet<ShardId> {
    let dir = std::path::PathBuf::from(devnet.node_field(index, "data_dir")).join("shards");
    common::files_under(&dir)
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_cannot_fill_the_nodes_and_their_junk_expires() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(
        &dir.path().join("dn"),
        &[
            "--capacity=256MiB",
            "--lease=20s",
            "--gateway-arg=--gc-every=4s",
        ],
    );
    let s3 = devnet.client();
    s3.create_bucket().bucket("fill").send().await.unwrap();
    let before = bytes(3 * MIB, 1);
    s3.put_object()
        .bucket("fill")
        .key("before")
        .body(ByteStream::from(before.clone()))
        .send()
        .await
        .unwrap();

    // Two throwaway identities put 1 MiB junk shards into every node until
    // refused: each is stopped at its quota (5 % of 256 MiB: 12 shards).
    let nodes = devnet.info["nodes"].as_array().unwrap().len();
    let attackers = [stranger(), stranger()];
    for (a, attacker) in attackers.iter().enumerate() {
        for n in 0..nodes {
            let peer = attacker.dial(&devnet.bootstrap(n)).await.unwrap();
            let mut shards = attacker.shards();
            let mut stored = 0;
            let refusal = loop {
                let junk = bytes(MIB, (a * 100_000 + n * 1000 + stored) as u64);
                match shards.put(peer, ShardId::of(&junk), &junk).await {
                    Ok(_) => stored += 1,
                    Err(ClientError::Remote { code, .. }) => break code,
                    Err(e) => panic!("attacker {a} on node {n}: {e}"),
                }
                assert!(stored <= 64, "node {n} took more junk than the quota");
            };
            assert_eq!(
                (stored, refusal),
                (12, ErrorCode::QuotaExceeded),
                "attacker {a} on node {n}"
            );
        }
    }

    // A normal client is unaffected: a 10 MiB PutObject succeeds and reads
    // back.
    let big = bytes(10 * MIB, 2);
    s3.put_object()
        .bucket("fill")
        .key("after")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    assert!(read_object(&s3, "fill", "after", "after the attack").await == big);

    // Nobody renews the junk: it is gone after the lease, while the
    // gateway's own shards (renewed by its garbage collection) stay.
    let started = Instant::now();
    for attacker in &attackers {
        for n in 0..nodes {
            let peer = attacker.dial(&devnet.bootstrap(n)).await.unwrap();
            loop {
                let (left, _) = attacker.shards().list(peer, None, 100).await.unwrap();
                if left.is_empty() {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "junk still on node {n}"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    println!("junk gone {:?} after the attack ended", started.elapsed());
    assert!(read_object(&s3, "fill", "before", "after the lease").await == before);
    assert!(read_object(&s3, "fill", "after", "after the lease").await == big);

    // Every node's signed usage report about the gateway shows in status.
    let status = devnet.status();
    for n in 0..nodes {
        let node = Devnet::node_status(&status, &devnet.node_field(n, "peer_id"));
        assert_eq!(node["admitted"], true, "{node:#}");
        assert!(
            node["usage"]["bytes_stored"].as_u64().unwrap() > 0,
            "{node:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squatting_on_shard_ids_blocks_no_repair() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("dn"), &["--nodes=7"]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("squat").send().await.unwrap();
    let objects: Vec<Vec<u8>> = (0..4).map(|i| bytes(2 * MIB, 10 + i)).collect();
    for (i, body) in objects.iter().enumerate() {
        s3.put_object()
            .bucket("squat")
            .key(format!("o{i}"))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }

    // Which node holds which shard (read off the nodes' disks).
    let nodes = 7;
    let mut holders: BTreeMap<ShardId, BTreeSet<usize>> = BTreeMap::new();
    for n in 0..nodes {
        for id in shard_files(&devnet, n) {
            holders.entry(id).or_default().insert(n);
        }
    }
    assert!(holders.len() >= 4 * 6, "{} shard files", holders.len());

    // The attacker fetches every shard (reads by id are open) and stores a
    // copy under its own identity on every node that does not hold it.
    let attacker = stranger();
    let mut peers = Vec::new();
    for n in 0..nodes {
        peers.push(attacker.dial(&devnet.bootstrap(n)).await.unwrap());
    }
    let mut squatted = 0;
    for (id, held_by) in &holders {
        let from = *held_by.iter().next().unwrap();
        let data = attacker.shards().get(peers[from], *id).await.unwrap();
        for n in (0..nodes).filter(|n| !held_by.contains(n)) {
            attacker.shards().put(peers[n], *id, &data).await.unwrap();
            squatted += 1;
        }
    }
    assert!(squatted > 0);

    // An honest holder dies; repair must put its shards where the attacker
    // squats.
    let victim = 0;
    devnet.kill_node(victim);
    let total = objects.len() as u64;
    devnet.wait_status(
        "the dead node's shards rebuilt on the squatted nodes",
        Duration::from_secs(120),
        |s| {
            assert_eq!(s["segments"]["lost"], 0, "{s:#}");
            Devnet::node_status(s, &devnet.node_field(victim, "peer_id"))["state"] == "dead"
                && s["segments"]["full"] == total
                && s["repair_queue"] == 0
        },
    );
    for (i, body) in objects.iter().enumerate() {
        let got = read_object(&s3, "squat", &format!("o{i}"), "after repair").await;
        assert!(&got == body, "object {i} came back different");
    }
    // The attacker's copies were never the gateway's: they are still its
    // own, and the gateway's are independent of them.
    let (mine, _) = attacker.shards().list(peers[1], None, 1000).await.unwrap();
    assert!(!mine.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_fail_their_probe_get_no_shards() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("dn"), &[]);
    // A node that lies from its first proof, and one whose operator does
    // not accept this gateway. Both claim lots of free space.
    let mut liar = devnet.joining_node(&dir.path().join("liar"), "eu-west", "1TiB", 0);
    liar.extra.push("--test-only-lie-proofs".into());
    liar.spawn();
    let mut closed = devnet.joining_node(&dir.path().join("closed"), "us-east", "1TiB", 0);
    closed.extra = vec![
        "--accept".into(),
        Keypair::generate_ed25519()
            .public()
            .to_peer_id()
            .to_string(),
    ];
    closed.spawn();
    let (liar_id, closed_id) = (liar.peer.to_string(), closed.peer.to_string());
    // Both are found and heard from, and stay unadmitted.
    devnet.wait_status("both outsiders seen", Duration::from_secs(60), |s| {
        [&liar_id, &closed_id]
            .iter()
            .all(|id| Devnet::node_status(s, id)["state"] == "alive")
    });
    tokio::time::sleep(Duration::from_secs(8)).await;
    let s3 = devnet.client();
    s3.create_bucket().bucket("probe").send().await.unwrap();
    let objects: Vec<Vec<u8>> = (0..12)
        .map(|i| bytes(600_000 + i * 1000, 20 + i as u64))
        .collect();
    for (i, body) in objects.iter().enumerate() {
        s3.put_object()
            .bucket("probe")
            .key(format!("o{i}"))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }
    let status = devnet.wait_status(
        "a check pass over the new objects",
        Duration::from_secs(30),
        |s| s["segments"]["full"].as_u64().unwrap_or(0) >= objects.len() as u64,
    );
    for id in [&liar_id, &closed_id] {
        let node = Devnet::node_status(&status, id);
        assert_eq!(node["admitted"], false, "{node:#}");
        assert_eq!(node["shards"], 0, "{node:#}");
    }
    assert!(common::files_under(&liar.data.join("shards")).is_empty());
    assert!(common::files_under(&closed.data.join("shards")).is_empty());
    for (i, body) in objects.iter().enumerate() {
        assert!(&read_object(&s3, "probe", &format!("o{i}"), "with outsiders").await == body);
    }
}
