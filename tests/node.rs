//! The storage node as an operator runs it: real `cairn node` processes on
//! 127.0.0.1, a real libp2p client, real faults (`kill -9`, garbage bytes,
//! a full node).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{NodeProc, bytes};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::identity::Keypair;
use mesh::ShardId;
use mesh::net::{ClientError, MeshClient};
use mesh::wire::{ErrorCode, SHARD_PROTOCOL};

const TIMEOUT: Duration = Duration::from_secs(20);

fn client() -> MeshClient {
    MeshClient::spawn(Keypair::generate_ed25519(), TIMEOUT).unwrap()
}

fn remote_code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Remote { code, .. }) => code,
        other => panic!("expected a refusal from the node, got {other:?}"),
    }
}

#[test]
fn nodes_find_a_third_only_through_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let a = NodeProc::start(&dir.path().join("a"), "eu-west", "1GiB", &[]);
    let b = NodeProc::start(
        &dir.path().join("b"),
        "us-east",
        "1GiB",
        std::slice::from_ref(&a.addr),
    );
    let c = NodeProc::start(
        &dir.path().join("c"),
        "ap-south",
        "1GiB",
        std::slice::from_ref(&a.addr),
    );
    // A client that knows only B finds all three, C included, through the DHT,
    // and every record it prints was signed by its node.
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "nodes",
            "--min",
            "3",
            "--wait",
            "30",
            "--json",
            "--bootstrap",
        ])
        .arg(b.addr.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut found: Vec<(String, String)> = list
        .iter()
        .map(|n| {
            (
                n["peer_id"].as_str().unwrap().to_owned(),
                n["region"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let mut expected = vec![
        (a.peer.to_string(), "eu-west".to_owned()),
        (b.peer.to_string(), "us-east".to_owned()),
        (c.peer.to_string(), "ap-south".to_owned()),
    ];
    expected.sort();
    assert_eq!(found, expected);
    assert!(list.iter().all(|n| n["capacity"] == 1u64 << 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_challenge_delete_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start(&dir.path().join("n"), "eu-west", "1GiB", &[]);
    let owner = client();
    let peer = owner.dial(&node.addr).await.unwrap();
    let mut shards = owner.shards();

    let data = bytes(2 << 20, 1);
    let id = ShardId::of(&data);
    assert!(!shards.put(peer, id, &data).await.unwrap());
    assert!(
        shards.put(peer, id, &data).await.unwrap(),
        "second put is a no-op"
    );
    assert_eq!(shards.get(peer, id).await.unwrap(), data);
    let range = shards.get_range(peer, id, 1000, Some(5000)).await.unwrap();
    assert_eq!(range, &data[1000..6000]);
    assert_eq!(
        remote_code(shards.get_range(peer, id, (2 << 20) - 10, Some(11)).await),
        ErrorCode::OutOfRange
    );

    for count in [1, 4, 16] {
        let challenge = proofs::Challenge::random(id, data.len() as u64, count);
        let proof = shards.challenge(peer, &challenge).await.unwrap();
        assert_eq!(
            proofs::verify(&id, data.len() as u64, &challenge, &proof),
            Ok(())
        );
    }
    let stat = shards.stat(peer).await.unwrap();
    assert_eq!((stat.region.as_str(), stat.shards), ("eu-west", 1));
    // ping has measured the round trip placement will use.
    let rtt = owner
        .rtt(&peer)
        .expect("a ping RTT after the first round trips");
    assert!(rtt < Duration::from_secs(1), "{rtt:?}");
    assert_eq!(stat.bytes_stored, 2 << 20);
    let (listed, more) = shards.list(peer, None, 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!more);

    // Bytes that do not hash to the id are refused and leave nothing behind.
    let mut forged = data.clone();
    forged[12345] ^= 1;
    let other_id = ShardId::of(&bytes(2 << 20, 2));
    assert_eq!(
        remote_code(shards.put(peer, other_id, &forged).await),
        ErrorCode::HashMismatch
    );
    assert_eq!(
        remote_code(shards.get(peer, other_id).await),
        ErrorCode::NotFound
    );

    // Copies are per owner: a stranger cannot delete the owner's copy, and
    // storing the same id (squatting) only gives it a copy of its own.
    let stranger = client();
    let stranger_peer = stranger.dial(&node.addr).await.unwrap();
    assert_eq!(
        remote_code(stranger.shards().delete(stranger_peer, id).await),
        ErrorCode::NotFound,
        "a stranger has no copy of its own to delete"
    );
    let (theirs, _) = stranger
        .shards()
        .list(stranger_peer, None, 100)
        .await
        .unwrap();
    assert!(
        theirs.is_empty(),
        "a stranger lists none of the owner's shards"
    );
    let small = bytes(64 << 10, 3);
    let small_id = ShardId::of(&small);
    shards.put(peer, small_id, &small).await.unwrap();
    assert!(
        !stranger
            .shards()
            .put(stranger_peer, small_id, &small)
            .await
            .unwrap(),
        "the squatter's copy is new, not the owner's"
    );
    stranger
        .shards()
        .delete(stranger_peer, small_id)
        .await
        .unwrap();
    assert_eq!(shards.get(peer, small_id).await.unwrap(), small);
    let challenge = proofs::Challenge::random(small_id, small.len() as u64, 4);
    assert_eq!(
        remote_code(stranger.shards().challenge(stranger_peer, &challenge).await),
        ErrorCode::NotFound,
        "a proof is about the requester's own copy"
    );
    shards.delete(peer, small_id).await.unwrap();
    shards.delete(peer, id).await.unwrap();
    assert_eq!(remote_code(shards.get(peer, id).await), ErrorCode::NotFound);
    let missing = proofs::Challenge::random(id, data.len() as u64, 4);
    assert_eq!(
        remote_code(shards.challenge(peer, &missing).await),
        ErrorCode::NotFound
    );

    // Nothing is left on disk but the index, the identity and the node file.
    assert!(node.files_under("shards").is_empty());
    assert!(node.files_under("tmp").is_empty());
    let metrics = node.metrics_text();
    for name in [
        "cairn_node_shards",
        "cairn_node_free_bytes",
        "cairn_node_requests_total",
        "cairn_node_challenges_total",
        "cairn_node_peers",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }
    assert!(node.terminate().success(), "SIGTERM stops the node cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_keeps_only_whole_verified_shards() {
    let dir = tempfile::tempdir().unwrap();
    let keypair = Keypair::generate_ed25519();
    let mut node = NodeProc::new(&dir.path().join("n"), "eu-west", "4GiB", &[]);
    node.extra = vec!["--accept".into(), keypair.public().to_peer_id().to_string()];
    node.spawn();
    let owner = MeshClient::spawn(keypair.clone(), TIMEOUT).unwrap();
    let peer = owner.dial(&node.addr).await.unwrap();

    // Eight writers put 512 KiB shards as fast as they can.
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let mut shards = owner.shards();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..1000u64 {
                let data = bytes(512 << 10, w * 10_000 + i);
                let id = ShardId::of(&data);
                match shards.put(peer, id, &data).await {
                    Ok(_) => acked.push(id),
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill9();
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    assert!(!acked.is_empty(), "some puts completed before the kill");

    node.spawn();
    let owner = MeshClient::spawn(keypair, TIMEOUT).unwrap();
    let peer = owner.dial(&node.addr).await.unwrap();
    let mut shards = owner.shards();
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let (page, more) = shards.list(peer, after, 1000).await.unwrap();
        after = page.last().map(|(id, _)| *id);
        listed.extend(page);
        if !more {
            break;
        }
    }
    // Every acknowledged shard survived; every listed shard reads back and
    // verifies (get checks the hash); no partial file remains.
    for id in &acked {
        assert!(listed.iter().any(|(l, _)| l == id), "acked shard {id} lost");
    }
    for (id, len) in &listed {
        assert_eq!(*len, 512 << 10);
        shards.get(peer, *id).await.unwrap();
    }
    assert!(node.files_under("tmp").is_empty());
    assert_eq!(node.files_under("shards").len(), listed.len());
    println!(
        "{} puts acknowledged before kill -9, {} shards after restart",
        acked.len(),
        listed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_wire_closes_that_stream_not_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&dir.path().join("n"), "eu-west", "1GiB", &[]);

    // Raw garbage at the TCP port, before any handshake.
    let tcp_port = node
        .addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    for salt in 0..5 {
        use std::io::Write;
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
        let _ = raw.write_all(&bytes(64 << 10, salt));
    }

    // Garbage inside authenticated shard-protocol streams.
    let client = client();
    let peer = client.dial(&node.addr).await.unwrap();
    let control = || {
        let swarm_control = client.stream_control();
        (swarm_control, StreamProtocol::new(SHARD_PROTOCOL))
    };
    let cases: Vec<Vec<u8>> = vec![
        bytes(4096, 7),                                              // random bytes
        u32::MAX.to_le_bytes().to_vec(),                             // absurd length prefix
        [(3u32 << 20).to_le_bytes().to_vec(), vec![1; 64]].concat(), // over the frame limit
        [8u32.to_le_bytes().to_vec(), vec![9; 8]].concat(),          // unknown version
        vec![5, 0], // truncated header, then silence
    ];
    for case in cases {
        let (mut control, protocol) = control();
        let mut stream = control.open_stream(peer, protocol).await.unwrap();
        let _ = stream.write_all(&case).await;
        let _ = stream.close().await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "the node closed the stream instead of hanging"
        );
    }

    // A stalled stream does not block anyone else.
    let (mut control, protocol) = control();
    let _stalled = control.open_stream(peer, protocol).await.unwrap();

    let data = bytes(100_000, 3);
    let id = ShardId::of(&data);
    let mut shards = client.shards();
    shards.put(peer, id, &data).await.unwrap();
    assert_eq!(shards.get(peer, id).await.unwrap(), data);
    let metrics = node.metrics_text();
    assert!(
        metrics.contains("cairn_node_rejected_streams_total{reason=\"malformed\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_refuses_cleanly_and_keeps_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProc::new(&dir.path().join("n"), "eu-west", "1MiB", &[]);
    node.extra = ["--owner-quota", "1MiB", "--strangers-quota", "1MiB"]
        .map(String::from)
        .to_vec();
    node.spawn();
    let client = client();
    let peer = client.dial(&node.addr).await.unwrap();
    let mut shards = client.shards();
    let first = bytes(600 << 10, 1);
    let first_id = ShardId::of(&first);
    shards.put(peer, first_id, &first).await.unwrap();
    let second = bytes(600 << 10, 2);
    assert_eq!(
        remote_code(shards.put(peer, ShardId::of(&second), &second).await),
        ErrorCode::CapacityExceeded
    );
    assert_eq!(shards.get(peer, first_id).await.unwrap(), first);
    assert!(node.files_under("tmp").is_empty());
    assert_eq!(node.files_under("shards").len(), 1);
    let stat = shards.stat(peer).await.unwrap();
    assert_eq!(stat.free, (1 << 20) - (600 << 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_configured_from_toml_serves_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("q");
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "data = {:?}\ncapacity = \"64MiB\"\nregion = \"sa-east\"\n\
             listen = [\"/ip4/127.0.0.1/udp/0/quic-v1\"]\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let mut node = NodeProc::new(&data, "ignored", "ignored", &[]);
    node.listen.clear();
    node.metrics = false;
    node.config = Some(config);
    node.spawn();
    assert!(node.addr.to_string().contains("/quic-v1/"), "{}", node.addr);

    let client = client();
    let peer = client.dial(&node.addr).await.unwrap();
    let mut shards = client.shards();
    let data = bytes(3 << 20, 5);
    let id = ShardId::of(&data);
    shards.put(peer, id, &data).await.unwrap();
    assert_eq!(shards.get(peer, id).await.unwrap(), data);
    let stat = shards.stat(peer).await.unwrap();
    assert_eq!((stat.region.as_str(), stat.capacity), ("sa-east", 64 << 20));
}
