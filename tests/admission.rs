//! A node that is safe to open: who may store and how much, leases, limits
//! a stranger cannot multiply, signed usage reports, loud test-only faults.
//! Real `cairn node` processes on 127.0.0.1, real libp2p clients.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{NodeProc, bytes};
use futures_util::AsyncWriteExt;
use libp2p::StreamProtocol;
use libp2p::identity::Keypair;
use mesh::ShardId;
use mesh::net::{ClientError, MeshClient, SignedUsageReport};
use mesh::wire::{ErrorCode, Request, SHARD_PROTOCOL};

const TIMEOUT: Duration = Duration::from_secs(20);
const MIB: usize = 1 << 20;

fn client_of(keypair: &Keypair) -> MeshClient {
    MeshClient::spawn(keypair.clone(), TIMEOUT).unwrap()
}

fn code_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Remote { code, .. }) => code,
        other => panic!("expected a refusal from the node, got {other:?}"),
    }
}

/// A node accepting `friend` by name and `flags` more.
fn node_with(dir: &std::path::Path, capacity: &str, flags: &[String]) -> NodeProc {
    let mut node = NodeProc::new(dir, "eu-west", capacity, &[]);
    node.extra = flags.to_vec();
    node.spawn();
    node
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A counter or gauge from the node's metrics text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Puts 1 MiB junk shards as `who` until the node refuses one; returns how
/// many it took and the refusal.
async fn fill(who: &MeshClient, node: &NodeProc, salt: u64) -> (usize, ErrorCode) {
    let peer = who.dial(&node.addr).await.unwrap();
    let mut shards = who.shards();
    for i in 0..1000u64 {
        let junk = bytes(MIB, salt * 1000 + i);
        if let Err(e) = shards.put(peer, ShardId::of(&junk), &junk).await {
            return (i as usize, code_of::<()>(Err(e)));
        }
    }
    panic!("the node took 1000 MiB of junk")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_held_to_their_quotas_and_listed_owners_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let friend = Keypair::generate_ed25519();
    let node = node_with(
        &dir.path().join("n"),
        "1GiB",
        &flags(&[
            "--accept",
            &friend.public().to_peer_id().to_string(),
            "--accept",
            "any",
            "--owner-quota",
            "3MiB",
            "--strangers-quota",
            "5MiB",
        ]),
    );
    // One stranger: its own quota; a second: what strangers have left.
    let a = client_of(&Keypair::generate_ed25519());
    assert_eq!(fill(&a, &node, 1).await, (3, ErrorCode::QuotaExceeded));
    let b = client_of(&Keypair::generate_ed25519());
    assert_eq!(fill(&b, &node, 2).await, (2, ErrorCode::QuotaExceeded));
    // A fresh identity gets nothing more: peer ids are free, quotas are not.
    let c = client_of(&Keypair::generate_ed25519());
    assert_eq!(fill(&c, &node, 3).await, (0, ErrorCode::QuotaExceeded));

    // A refusal comes before the bytes: a 60 MiB put is answered at once
    // and the node reads next to nothing of it.
    let received = metric(
        &node.metrics_text(),
        "cairn_node_received_bytes_total{kind=\"put\"}",
    );
    let peer = c.dial(&node.addr).await.unwrap();
    let big = bytes(60 * MIB, 4);
    let started = Instant::now();
    assert_eq!(
        code_of(c.shards().put(peer, ShardId::of(&big), &big).await),
        ErrorCode::QuotaExceeded
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let after = metric(
        &node.metrics_text(),
        "cairn_node_received_bytes_total{kind=\"put\"}",
    );
    assert!(
        after - received < MIB as f64,
        "the node read {} bytes",
        after - received
    );

    // The listed owner stores past every stranger quota.
    let friend = client_of(&friend);
    let friend_peer = friend.dial(&node.addr).await.unwrap();
    for i in 0..12u64 {
        let data = bytes(MIB, 100 + i);
        friend
            .shards()
            .put(friend_peer, ShardId::of(&data), &data)
            .await
            .unwrap();
    }
    // Per-owner figures in the metrics (refreshed every few seconds).
    let owner_bytes = |text: &str, peer: libp2p::PeerId| {
        metric(
            text,
            &format!("cairn_node_owner_stored_bytes{{owner=\"{peer}\"}}"),
        )
    };
    let started = Instant::now();
    loop {
        let text = node.metrics_text();
        if owner_bytes(&text, friend.peer_id()) == 12.0 * MIB as f64 {
            assert_eq!(owner_bytes(&text, a.peer_id()), 3.0 * MIB as f64, "{text}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_listed_owners_may_store_when_the_operator_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let friend = Keypair::generate_ed25519();
    let list = dir.path().join("accept.txt");
    std::fs::write(
        &list,
        format!("# who may store\n{}\n", friend.public().to_peer_id()),
    )
    .unwrap();
    let node = node_with(
        &dir.path().join("n"),
        "1GiB",
        &flags(&["--accept-file", list.to_str().unwrap()]),
    );
    let stranger_key = Keypair::generate_ed25519();
    let stranger = client_of(&stranger_key);
    let peer = stranger.dial(&node.addr).await.unwrap();
    let data = bytes(100_000, 1);
    let id = ShardId::of(&data);
    assert_eq!(
        code_of(stranger.shards().put(peer, id, &data).await),
        ErrorCode::NotAccepted
    );
    let friend = client_of(&friend);
    let friend_peer = friend.dial(&node.addr).await.unwrap();
    friend.shards().put(friend_peer, id, &data).await.unwrap();
    // Reads by id stay open to anyone: the bytes are checked by the reader.
    assert_eq!(stranger.shards().get(peer, id).await.unwrap(), data);

    // The operator adds the stranger with a quota; the running node follows.
    std::fs::write(
        &list,
        format!(
            "{}\n{}=1MiB\n",
            friend.peer_id(),
            stranger_key.public().to_peer_id()
        ),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match stranger.shards().put(peer, id, &data).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "still refused: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let more = bytes(MIB, 2);
    assert_eq!(
        code_of(stranger.shards().put(peer, ShardId::of(&more), &more).await),
        ErrorCode::QuotaExceeded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_whose_lease_runs_out_is_deleted_and_renewed_shards_stay() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(&dir.path().join("n"), "1GiB", &flags(&["--lease", "3s"]));
    let owner = client_of(&Keypair::generate_ed25519());
    let junk = client_of(&Keypair::generate_ed25519());
    let owner_peer = owner.dial(&node.addr).await.unwrap();
    let junk_peer = junk.dial(&node.addr).await.unwrap();
    let kept: Vec<Vec<u8>> = (0..3).map(|i| bytes(50_000 * (i + 1), i as u64)).collect();
    let kept_ids: Vec<ShardId> = kept.iter().map(|b| ShardId::of(b)).collect();
    for (data, id) in kept.iter().zip(&kept_ids) {
        owner.shards().put(owner_peer, *id, data).await.unwrap();
    }
    for i in 0..3u64 {
        let data = bytes(40_000, 10 + i);
        junk.shards()
            .put(junk_peer, ShardId::of(&data), &data)
            .await
            .unwrap();
    }
    // The owner renews (as a gateway's garbage collection does); the junk's
    // owner never does.
    let started = Instant::now();
    let gone = loop {
        let missing = owner.shards().renew(owner_peer, &kept_ids).await.unwrap();
        assert!(missing.is_empty(), "renewed shards must stay: {missing:?}");
        let (left, _) = junk.shards().list(junk_peer, None, 100).await.unwrap();
        if left.is_empty() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "junk still there"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!("junk gone {gone:?} after it was stored (lease 3 s)");
    for (data, id) in kept.iter().zip(&kept_ids) {
        assert_eq!(&owner.shards().get(owner_peer, *id).await.unwrap(), data);
    }
    assert!(metric(&node.metrics_text(), "cairn_node_expired_shards_total") >= 3.0);
    assert!(node.files_under("shards").len() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_put_frees_its_room_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(
        &dir.path().join("n"),
        "10MiB",
        &flags(&["--owner-quota", "10MiB", "--strangers-quota", "10MiB"]),
    );
    let client = client_of(&Keypair::generate_ed25519());
    let peer = client.dial(&node.addr).await.unwrap();
    // Declare 8 MiB, send 4 MiB, then give up (close the stream).
    let data = bytes(8 * MIB, 1);
    let id = ShardId::of(&data);
    {
        let mut stream = client
            .stream_control()
            .open_stream(peer, StreamProtocol::new(SHARD_PROTOCOL))
            .await
            .unwrap();
        mesh::wire::write_frame(
            &mut stream,
            &Request::PutShard {
                id,
                len: data.len() as u64,
            },
        )
        .await
        .unwrap();
        stream.write_all(&data[..4 * MIB]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = stream.close().await;
    }
    // The room is back well before any idle timeout: a full 8 MiB put fits.
    let started = Instant::now();
    let other = bytes(8 * MIB, 2);
    loop {
        match client.shards().put(peer, ShardId::of(&other), &other).await {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "room not freed: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let stat = client.shards().stat(peer).await.unwrap();
    assert_eq!(stat.free, 2 * MIB as u64);
    assert!(node.files_under("tmp").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_per_address_limit_get_busy_and_listed_owners_are_spared() {
    let dir = tempfile::tempdir().unwrap();
    let friend = Keypair::generate_ed25519();
    let node = node_with(
        &dir.path().join("n"),
        "1GiB",
        &flags(&[
            "--streams-per-ip",
            "3",
            "--accept",
            &friend.public().to_peer_id().to_string(),
            "--accept",
            "any",
        ]),
    );
    // Three identities from one address each hold a put open, sending
    // nothing.
    let mut held = Vec::new();
    for i in 0..3u64 {
        let client = client_of(&Keypair::generate_ed25519());
        let peer = client.dial(&node.addr).await.unwrap();
        let mut stream = client
            .stream_control()
            .open_stream(peer, StreamProtocol::new(SHARD_PROTOCOL))
            .await
            .unwrap();
        let id = ShardId::of(&i.to_le_bytes());
        mesh::wire::write_frame(&mut stream, &Request::PutShard { id, len: 1 << 20 })
            .await
            .unwrap();
        stream.flush().await.unwrap();
        held.push((client, stream));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A fourth identity from the same address is told the node is busy.
    let late = client_of(&Keypair::generate_ed25519());
    let late_peer = late.dial(&node.addr).await.unwrap();
    assert_eq!(
        code_of(late.shards().stat(late_peer).await),
        ErrorCode::Busy
    );
    // The listed owner is served meanwhile.
    let friend = client_of(&friend);
    let friend_peer = friend.dial(&node.addr).await.unwrap();
    let data = bytes(200_000, 9);
    friend
        .shards()
        .put(friend_peer, ShardId::of(&data), &data)
        .await
        .unwrap();
    drop(held);
    // Once the held streams are gone, the late one is served.
    let started = Instant::now();
    while late.shards().stat(late_peer).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        metric(
            &node.metrics_text(),
            "cairn_node_rejected_streams_total{reason=\"busy\"}"
        ) >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_address_cap_are_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(
        &dir.path().join("n"),
        "1GiB",
        &flags(&["--connections-per-ip", "4"]),
    );
    let client = client_of(&Keypair::generate_ed25519());
    let peer = client.dial(&node.addr).await.unwrap();
    let data = bytes(100_000, 1);
    let id = ShardId::of(&data);
    client.shards().put(peer, id, &data).await.unwrap();

    let port = node
        .addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    let raw: Vec<std::net::TcpStream> = (0..20)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // Those over the cap are closed by the node straight away (end of
    // stream); the few within it wait for a handshake that never comes.
    let mut closed = 0;
    for mut stream in raw.iter() {
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            _ => {}
        }
    }
    assert!(
        closed >= 16,
        "only {closed} of 20 connections over the cap were closed"
    );
    // The connected client is not disturbed.
    assert_eq!(client.shards().get(peer, id).await.unwrap(), data);
    drop(raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_reports_are_signed_monotonic_and_checked_by_cairn_usage_verify() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(&dir.path().join("n"), "1GiB", &[]);
    let identity = dir.path().join("owner");
    std::fs::create_dir_all(&identity).unwrap();
    let (keypair, _) = mesh::identity::load_or_create(&identity).unwrap();
    let owner = client_of(&keypair);
    let peer = owner.dial(&node.addr).await.unwrap();
    let data = bytes(300_000, 1);
    let id = ShardId::of(&data);
    owner.shards().put(peer, id, &data).await.unwrap();
    owner.shards().get(peer, id).await.unwrap();

    let fetch = |out: &std::path::Path| {
        let status = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args([
                "shard",
                "usage",
                "--peer",
                &node.addr.to_string(),
                "--identity",
            ])
            .arg(&identity)
            .arg("--out")
            .arg(out)
            .status()
            .unwrap();
        assert!(status.success());
    };
    let (first, second) = (dir.path().join("r1"), dir.path().join("r2"));
    fetch(&first);
    owner.shards().get(peer, id).await.unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    fetch(&second);

    let report = SignedUsageReport::verify(&std::fs::read(&second).unwrap()).unwrap();
    assert_eq!(report.node, node.peer.to_bytes());
    assert_eq!(report.owner, owner.peer_id().to_bytes());
    assert_eq!((report.shards, report.bytes_stored), (1, 300_000));
    assert_eq!(report.bytes_served, 600_000);
    assert_eq!(report.bytes_received, 300_000);

    let verify = |files: &[&std::path::Path]| {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["usage", "verify"])
            .args(files)
            .output()
            .unwrap()
    };
    let out = verify(&[&second, &first]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
    // A tampered report fails.
    let mut bytes = std::fs::read(&second).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x40;
    let forged = dir.path().join("forged");
    std::fs::write(&forged, bytes).unwrap();
    let out = verify(&[&forged]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID"));
}

#[test]
fn test_only_faults_are_hidden_and_loud() {
    let help = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["node", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--accept"), "{help}");
    assert!(!help.contains("test-only"), "{help}");
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(
        &dir.path().join("n"),
        "1GiB",
        &flags(&["--test-only-lie-proofs"]),
    );
    assert!(node.log().contains("TEST-ONLY FAULT"), "{}", node.log());
    assert_eq!(
        metric(
            &node.metrics_text(),
            "cairn_node_test_faults{fault=\"lie_proofs\"}"
        ),
        1.0
    );
}
