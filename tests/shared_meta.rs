//! Several gateways, one namespace: `cairn devnet --gateways 2 --meta URL`
//! over a real PostgreSQL server (started here from the installed
//! `postgresql` package), real gateway and node processes, aws-sdk-s3.
//!
//! Each scenario that kills something (a gateway, the database) has its
//! own devnet; the others share one.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::devnet::{Devnet, read_object};
use s3_gateway::meta::postgres::local::LocalPostgres;

/// A devnet of two gateways over a database of its own. Field order is
/// drop order: the gateways stop before the database.
struct Shared {
    devnet: Devnet,
    pg: Option<LocalPostgres>,
    pg_dir: std::path::PathBuf,
    port: u16,
    url: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts PostgreSQL (fsync off: a test) and the devnet over it.
fn start(extra: &[&str]) -> Shared {
    let dir = tempfile::tempdir().unwrap();
    let pg_dir = dir.path().join("pg");
    let port = free_port();
    let pg = LocalPostgres::start(&pg_dir, port, false).expect("PostgreSQL starts");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(pg.create_database("cairn")).unwrap();
    let url = pg.url("cairn");
    let mut args = vec!["--meta", &url, "--gateways", "2"];
    args.extend_from_slice(extra);
    let devnet = Devnet::start(&dir.path().join("devnet"), &args);
    Shared {
        devnet,
        pg: Some(pg),
        pg_dir,
        port,
        url,
        _dir: dir,
    }
}

/// The devnet the scenarios that harm nothing share, stopped when the
/// test process exits (its PostgreSQL server stops with this process).
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let shared = start(&[]);
        common::devnet::stop_at_exit(shared.devnet.child.id());
        shared
    })
}

impl Shared {
    /// An S3 client for gateway `i`, not retrying (so a 503 is seen).
    fn client(&self, i: usize) -> aws_sdk_s3::Client {
        let endpoint = self.devnet.info["gateways"][i]["s3_endpoint"]
            .as_str()
            .unwrap();
        let config = self
            .devnet
            .config_for(endpoint)
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Gateway `i`'s field `name` in devnet.json.
    fn gateway_field(&self, i: usize, name: &str) -> String {
        self.devnet.info["gateways"][i][name]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Gateway `i`'s metric `name` (without the `cairn_gateway_` prefix).
    fn metric(&self, i: usize, name: &str) -> Option<f64> {
        let admin = self.gateway_field(i, "admin");
        let addr = admin.trim_start_matches("http://");
        let text = std::panic::catch_unwind(|| common::metrics_text(addr)).ok()?;
        let prefix = format!("cairn_gateway_{name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Waits until gateway `i`'s metric `name` satisfies `done`.
    fn wait_metric(&self, i: usize, name: &str, within: Duration, done: impl Fn(f64) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            let value = self.metric(i, name);
            if value.is_some_and(&done) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gateway {i}: {name} is {value:?} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `kill -9` gateway `i`.
    fn kill_gateway(&self, i: usize) {
        let pid = self.devnet.info["gateways"][i]["pid"].as_u64().unwrap();
        assert!(
            Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    }
}

/// The S3 error code of a failed call.
fn code<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread")]
async fn what_one_gateway_writes_the_other_reads_lists_and_deletes() {
    let shared = tokio::task::spawn_blocking(shared).await.unwrap();
    let (a, b) = (shared.client(0), shared.client(1));
    a.create_bucket().bucket("both").send().await.unwrap();
    let body = common::bytes(3 << 20, 7);
    a.put_object()
        .bucket("both")
        .key("dir/big")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        read_object(&b, "both", "dir/big", "through the other").await,
        body
    );
    let listed = b
        .list_objects_v2()
        .bucket("both")
        .prefix("dir/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/big"]);
    b.delete_object()
        .bucket("both")
        .key("dir/big")
        .send()
        .await
        .unwrap();
    let gone = a
        .head_object()
        .bucket("both")
        .key("dir/big")
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.raw_response().map(|r| r.status().as_u16()), Some(404));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_upload_runs_across_both_gateways() {
    let shared = tokio::task::spawn_blocking(shared).await.unwrap();
    let clients = [shared.client(0), shared.client(1)];
    clients[0]
        .create_bucket()
        .bucket("parts")
        .send()
        .await
        .unwrap();
    let upload = clients[0]
        .create_multipart_upload()
        .bucket("parts")
        .key("whole")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut completed = Vec::new();
    let mut whole = Vec::new();
    for n in 1..=3i32 {
        let part = common::bytes(if n < 3 { 5 << 20 } else { 1 << 20 }, n as u64);
        whole.extend_from_slice(&part);
        let out = clients[n as usize % 2]
            .upload_part()
            .bucket("parts")
            .key("whole")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(part))
            .send()
            .await
            .unwrap();
        completed.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let listed = clients[0]
        .list_parts()
        .bucket("parts")
        .key("whole")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 3);
    clients[1]
        .complete_multipart_upload()
        .bucket("parts")
        .key("whole")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        read_object(&clients[0], "parts", "whole", "completed").await,
        whole
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_conditional_puts_across_gateways_have_one_winner() {
    let shared = tokio::task::spawn_blocking(shared).await.unwrap();
    let clients = [shared.client(0), shared.client(1)];
    clients[0]
        .create_bucket()
        .bucket("race")
        .send()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let client = clients[i as usize % 2].clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("writer {i}");
            let out = client
                .put_object()
                .bucket("race")
                .key("once")
                .if_none_match("*")
                .body(ByteStream::from(body.clone().into_bytes()))
                .send()
                .await;
            (body, out)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (body, out) = task.await.unwrap();
        match out {
            Ok(_) => winners.push(body),
            Err(e) => assert_eq!(
                e.raw_response().map(|r| r.status().as_u16()),
                Some(412),
                "a losing writer gets 412, not {e:?}"
            ),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    for client in &clients {
        let stored = read_object(client, "race", "once", "after the race").await;
        assert_eq!(stored, winners[0].as_bytes());
    }
}

#[test]
fn a_gateway_without_the_shared_secrets_is_refused() {
    let shared = shared();
    let dir = tempfile::tempdir().unwrap();
    let run = |data: &Path, url: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("gateway")
            .arg("--data")
            .arg(data)
            .args(["--meta", url, "--s3", "127.0.0.1:0", "--devnet"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "the gateway must refuse to start");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Neither file: its new master key is not the store's.
    let fresh = dir.path().join("fresh");
    let err = run(&fresh, &shared.url);
    assert!(err.contains("master.key"), "{err}");
    // The master key but its own identity: nodes would not let it manage
    // the others' shards.
    let half = dir.path().join("half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::copy(
        Path::new(&shared.gateway_field(0, "data_dir")).join("master.key"),
        half.join("master.key"),
    )
    .unwrap();
    let err = run(&half, &shared.url);
    assert!(err.contains("identity.key"), "{err}");
    // A database that does not answer: a clear error that keeps the
    // password out.
    let err = run(
        &dir.path().join("nodb"),
        &format!("postgres://cairn:s3cret@127.0.0.1:{}/cairn", free_port()),
    );
    assert!(err.contains("unavailable"), "{err}");
    assert!(!err.contains("s3cret"), "the password leaked: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_made_with_the_master_key_file_works_on_every_gateway() {
    let shared = shared();
    let dir = tempfile::tempdir().unwrap();
    let key_create = |key_file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["gateway", "key", "create", "--data"])
            .arg(dir.path().join("cli"))
            .args(["--meta", &shared.url, "--master-key-file"])
            .arg(key_file)
            .output()
            .unwrap()
    };
    // An operator's machine with the shared key file somewhere else than
    // a gateway data directory.
    let shared_key = Path::new(&shared.gateway_field(0, "data_dir")).join("master.key");
    let out = key_create(&shared_key);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("cli/master.key").exists());
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Its secret was sealed under the shared key: both gateways take it.
    for i in 0..2 {
        let endpoint = shared.gateway_field(i, "s3_endpoint");
        let creds = aws_sdk_s3::config::Credentials::new(
            made["access_key"].as_str().unwrap(),
            made["secret_key"].as_str().unwrap(),
            None,
            None,
            "made",
        );
        let config = shared
            .devnet
            .config_for(&endpoint)
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
            .list_buckets()
            .send()
            .await
            .unwrap_or_else(|e| panic!("gateway {i}: {e:?}"));
    }
    // Another key file is refused, by its path.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, [7u8; 32]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = key_create(&wrong);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong.key"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_leader_dies_mid_repair_the_other_finishes_it() {
    // Repair slowed to about one segment a second, so that it is still
    // under way when the leader is killed.
    let shared = std::sync::Arc::new(
        tokio::task::spawn_blocking(|| start(&["--gateway-arg=--repair-rate=256KiB"]))
            .await
            .unwrap(),
    );
    // One of the two leads; the other follows.
    let leader = tokio::task::spawn_blocking({
        let shared = shared.clone();
        move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let flags = [
                    shared.metric(0, "health_leader"),
                    shared.metric(1, "health_leader"),
                ];
                if flags == [Some(1.0), Some(0.0)] || flags == [Some(0.0), Some(1.0)] {
                    return usize::from(flags[1] == Some(1.0));
                }
                assert!(Instant::now() < deadline, "no single leader: {flags:?}");
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    })
    .await
    .unwrap();
    let follower = 1 - leader;
    let s3 = shared.client(follower);
    s3.create_bucket().bucket("heal").send().await.unwrap();
    // Twelve one-segment objects, each with a shard on every node.
    const OBJECTS: u64 = 12;
    let mut bodies = Vec::new();
    for i in 0..OBJECTS {
        let body = common::bytes(1 << 20, 11 + i);
        s3.put_object()
            .bucket("heal")
            .key(format!("obj-{i}"))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        bodies.push(body);
    }
    shared.devnet.kill_node(0);
    // The leader starts repairing (node dead after 10 s, queued 10 s
    // later) and is killed with most of the queue still to do.
    let started = tokio::task::spawn_blocking({
        let shared = shared.clone();
        move || {
            shared.wait_metric(
                leader,
                "repaired_shards_total",
                Duration::from_secs(90),
                |v| v >= 1.0,
            );
            let done = shared.metric(leader, "repaired_shards_total").unwrap();
            shared.kill_gateway(leader);
            done
        }
    })
    .await
    .unwrap();
    assert!(
        started < OBJECTS as f64,
        "the leader finished before it was killed"
    );
    // The follower takes the lease over (6 s on a devnet) and works the
    // rest of the shared queue down, without redoing what the leader
    // finished.
    let shared2 = shared.clone();
    tokio::task::spawn_blocking(move || {
        shared2.wait_metric(follower, "health_leader", Duration::from_secs(30), |v| {
            v == 1.0
        });
        shared2.wait_metric(
            follower,
            "repaired_shards_total",
            Duration::from_secs(90),
            |v| v >= 1.0,
        );
        shared2.wait_metric(
            follower,
            "repair_queue_segments",
            Duration::from_secs(90),
            |v| v == 0.0,
        );
    })
    .await
    .unwrap();
    let by_follower = shared.metric(follower, "repaired_shards_total").unwrap();
    assert!(
        by_follower <= OBJECTS as f64 - started,
        "the follower rebuilt {by_follower} shards; the leader had already rebuilt {started}"
    );
    for (i, body) in bodies.iter().enumerate() {
        let key = format!("obj-{i}");
        assert_eq!(&read_object(&s3, "heal", &key, "after repair").await, body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_answers_503_until_it_is_back() {
    let mut shared = tokio::task::spawn_blocking(|| start(&[])).await.unwrap();
    let s3 = shared.client(0);
    s3.create_bucket().bucket("outage").send().await.unwrap();
    s3.put_object()
        .bucket("outage")
        .key("k")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    // The database stops: requests fail with 503, none hangs.
    shared.pg.take().unwrap().stop();
    let started = Instant::now();
    let err = s3
        .get_object()
        .bucket("outage")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(503),
        "{err:?}"
    );
    assert_eq!(code(&err).as_deref(), Some("ServiceUnavailable"));
    assert!(started.elapsed() < Duration::from_secs(30));
    // Back on the same port: the gateways reconnect by themselves.
    let (dir, port) = (shared.pg_dir.clone(), shared.port);
    shared.pg = Some(
        tokio::task::spawn_blocking(move || LocalPostgres::start(&dir, port, false))
            .await
            .unwrap()
            .expect("PostgreSQL restarts"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match s3.get_object().bucket("outage").key("k").send().await {
            Ok(out) => {
                let got = out.body.collect().await.unwrap().into_bytes();
                assert_eq!(&got[..], b"kept");
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "not back after 30 s: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let other = shared.client(1);
    assert_eq!(
        read_object(&other, "outage", "k", "through the other").await,
        b"kept"
    );
}
