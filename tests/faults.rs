//! Rot and lies, end to end: beside a six-node devnet run a node that
//! answers challenges with garbage, one that acknowledges writes and throws
//! them away (both through the test-only flags, switched on only once the
//! gateway has admitted them: a node that lies from the start never passes
//! its admission probe), and an honest node whose disk rots (a byte flipped
//! in a shard file). Audits and reads find all three; the liars are
//! disqualified; every affected shard is rebuilt elsewhere; no read ever
//! returns wrong bytes.

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::bytes;
use common::devnet::{Devnet, read_object};
use common::{flip_byte, intact, shard_file};

fn size_of(i: usize) -> usize {
    if i % 4 == 3 { 3_000 } else { 1 << 20 }
}

async fn check_all(s3: &aws_sdk_s3::Client, count: usize, when: &str) {
    for i in 0..count {
        let got = read_object(s3, "faults", &format!("o{i}"), when).await;
        assert!(
            got == bytes(size_of(i), i as u64),
            "{when}: object {i} came back different"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liars_are_disqualified_and_rot_is_repaired() {
    const OBJECTS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(
        &dir.path().join("dn"),
        &[
            "--gateway-arg=--audit-every=1s",
            "--gateway-arg=--check-every=2s",
        ],
    );
    let extra = |name: &str, region: usize, flags: &[&str]| {
        let mut node = devnet.joining_node(
            &dir.path().join(name),
            &devnet.node_field(region, "region"),
            "10GiB",
            0,
        );
        node.extra.extend(flags.iter().map(|f| (*f).to_owned()));
        node.spawn();
        node
    };
    // Honest long enough to be admitted, then liars.
    const HONEST_FOR: Duration = Duration::from_secs(12);
    let started = std::time::Instant::now();
    let liar = extra(
        "liar",
        0,
        &["--test-only-lie-proofs", "--test-only-faults-after=12s"],
    );
    let dropper = extra(
        "dropper",
        1,
        &["--test-only-drop-writes", "--test-only-faults-after=12s"],
    );
    let rotting = extra("rotting", 2, &["--scrub-every", "2"]);
    let ids = [
        liar.peer.to_string(),
        dropper.peer.to_string(),
        rotting.peer.to_string(),
    ];
    devnet.wait_status(
        "all nine nodes alive and admitted",
        Duration::from_secs(60),
        |s| {
            ids.iter().all(|id| {
                let node = Devnet::node_status(s, id);
                node["state"] == "alive" && node["admitted"] == true
            })
        },
    );
    assert!(
        started.elapsed() < HONEST_FOR,
        "the liars were admitted only after they began to lie; raise HONEST_FOR"
    );
    tokio::time::sleep(HONEST_FOR.saturating_sub(started.elapsed()) + Duration::from_secs(1)).await;

    let s3 = devnet.client();
    s3.create_bucket().bucket("faults").send().await.unwrap();
    for i in 0..OBJECTS {
        s3.put_object()
            .bucket("faults")
            .key(format!("o{i}"))
            .body(ByteStream::from(bytes(size_of(i), i as u64)))
            .send()
            .await
            .unwrap();
    }
    // Reads are right even while the liars hold shards.
    check_all(&s3, OBJECTS, "with liars in the mesh").await;

    // The honest node's disk rots.
    let files = rotting.files_under("shards");
    assert!(!files.is_empty(), "the rotting node holds shards");
    let victim = &files[files.len() / 2];
    let id = victim.file_name().unwrap().to_str().unwrap().to_owned();
    flip_byte(victim);
    // Reads stay right while the rot is there.
    check_all(&s3, OBJECTS, "with a rotten shard").await;

    // The rotten shard is rebuilt: an intact copy of it is on a node again
    // (in place, or elsewhere).
    let mut dirs: Vec<std::path::PathBuf> = (0..6)
        .map(|i| devnet.node_field(i, "data_dir").into())
        .collect();
    dirs.extend([&liar, &dropper, &rotting].map(|n| n.data.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    while !dirs.iter().any(|d| intact(&shard_file(d, &id), &id)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the rotten shard {id} was never rebuilt"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let total: u64 = (0..OBJECTS).filter(|&i| size_of(i) > 0).count() as u64;
    devnet.wait_status(
        "liars disqualified, their shards rebuilt",
        Duration::from_secs(150),
        |s| {
            assert_eq!(s["segments"]["lost"], 0, "segments lost: {s:#}");
            let (l, d) = (
                Devnet::node_status(s, &ids[0]),
                Devnet::node_status(s, &ids[1]),
            );
            l["state"] == "disqualified"
                && d["state"] == "disqualified"
                && l["shards"] == 0
                && d["shards"] == 0
                && s["segments"]["full"] == total
                && s["repair_queue"] == 0
        },
    );
    // A check pass that began after all that agrees: every segment full,
    // nothing queued.
    let healed = devnet.fresh_status(Duration::from_secs(30));
    assert_eq!(healed["segments"]["full"], total, "{healed:#}");
    assert_eq!(healed["segments"]["lost"], 0, "{healed:#}");
    assert_eq!(healed["repair_queue"], 0, "{healed:#}");
    let rot = Devnet::node_status(&healed, &ids[2]);
    assert!(rot["audits_failed"].as_u64().unwrap_or(0) >= 1, "{rot:#}");
    assert!(rot["reputation"].as_f64().unwrap() < 1.0, "{rot:#}");
    assert_ne!(
        rot["state"], "disqualified",
        "one rotten shard is not a lie: {rot:#}"
    );
    check_all(&s3, OBJECTS, "after repair").await;
    drop((liar, dropper, rotting));
}
