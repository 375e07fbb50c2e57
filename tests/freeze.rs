//! A frozen node (`kill -STOP`: its port still accepts connections, it
//! never answers) during a stream of PUTs and GETs: hedged reads and
//! tail-cutting writes carry on, and no request takes 2 s, before, during
//! or after the node is declared dead; `kill -CONT` brings it back.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::bytes;
use common::devnet::{Devnet, read_object};

/// PUTs a fresh object and GETs an older one, again and again, for
/// `length`; returns the slowest request and what it was.
async fn traffic(
    s3: &aws_sdk_s3::Client,
    next: &mut usize,
    length: Duration,
) -> (Duration, String) {
    let mut slowest = (Duration::ZERO, String::new());
    let end = Instant::now() + length;
    while Instant::now() < end {
        let i = *next;
        *next += 1;
        let size = if i.is_multiple_of(3) { 2_000 } else { 300_000 };
        let started = Instant::now();
        s3.put_object()
            .bucket("freeze")
            .key(format!("o{i}"))
            .body(ByteStream::from(bytes(size, i as u64)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {i}: {e:?}"));
        let took = started.elapsed();
        if took > slowest.0 {
            slowest = (took, format!("put {i}"));
        }
        let j = i / 2;
        let size = if j.is_multiple_of(3) { 2_000 } else { 300_000 };
        let started = Instant::now();
        let got = read_object(s3, "freeze", &format!("o{j}"), "during traffic").await;
        let took = started.elapsed();
        assert!(got == bytes(size, j as u64), "object {j} differs");
        if took > slowest.0 {
            slowest = (took, format!("get {j}"));
        }
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_never_stalls_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("dn"), &[]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("freeze").send().await.unwrap();
    let mut next = 0;
    let limit = Duration::from_secs(2);

    let before = traffic(&s3, &mut next, Duration::from_secs(5)).await;
    assert!(before.0 < limit, "before the freeze: {before:?}");

    let frozen = devnet.node_field(3, "peer_id");
    devnet.signal_node(3, "-STOP");
    let early = traffic(&s3, &mut next, Duration::from_secs(6)).await;
    let status = devnet.status();
    assert_ne!(
        Devnet::node_status(&status, &frozen)["state"],
        "alive",
        "{status:#}"
    );
    let late = traffic(&s3, &mut next, Duration::from_secs(12)).await;
    let status = devnet.status();
    assert_eq!(
        Devnet::node_status(&status, &frozen)["state"],
        "dead",
        "{status:#}"
    );
    devnet.signal_node(3, "-CONT");
    devnet.wait_status("the thawed node alive", Duration::from_secs(30), |s| {
        Devnet::node_status(s, &frozen)["state"] == "alive"
    });
    let after = traffic(&s3, &mut next, Duration::from_secs(5)).await;
    for (phase, slowest) in [
        ("frozen, not yet dead", early),
        ("frozen and dead", late),
        ("thawed", after),
    ] {
        assert!(slowest.0 < limit, "{phase}: slowest request {slowest:?}");
    }
    let last = devnet.status();
    assert_eq!(last["segments"]["lost"], 0, "{last:#}");
}
