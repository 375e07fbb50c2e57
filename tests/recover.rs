//! Losing the gateway's disk loses nothing: the gateway backs its metadata
//! up into the mesh, and `cairn gateway recover` rebuilds it on a new
//! directory from the key file alone. Real devnets (node and gateway
//! processes), `kill -9`, aws-sdk-s3.
//!
//! Scenarios that kill the gateway have a devnet of their own; the refusals
//! share one whose gateway keeps running.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use common::devnet::{Devnet, complete, multipart, read_object, shared_devnet, upload_parts};

const PASSPHRASE: &str = "a passphrase for tests";

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env("CAIRN_KEYS_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The gateway's metric `name` (without the `cairn_gateway_` prefix).
fn metric(devnet: &Devnet, name: &str) -> Option<f64> {
    let addr = devnet.info["gateway"]["metrics"].as_str()?;
    let addr = addr
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let text = std::panic::catch_unwind(|| common::metrics_text(addr)).ok()?;
    let prefix = format!("cairn_gateway_{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until a published backup read the store at or after `t` (unix
/// ms); returns how long after `t` that was seen.
fn wait_backed_up(devnet: &Devnet, t: u64) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if metric(devnet, "backup_point_ms").is_some_and(|p| p as u64 >= t) {
            return Duration::from_millis(now_ms().saturating_sub(t));
        }
        assert!(Instant::now() < deadline, "no backup after {t} within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Exports the devnet gateway's keys into `out`.
fn backup_keys(devnet: &Devnet, out: &Path) {
    let data = devnet.gateway_dir();
    ok(
        cairn(&[
            "gateway",
            "backup-keys",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]),
        "backup-keys",
    );
}

/// Runs `cairn gateway recover --data DIR --bootstrap <node 0> ARGS`.
fn recover(devnet: &Devnet, dir: &Path, args: &[&str]) -> Output {
    let boot = devnet.bootstrap(0).to_string();
    let mut all = vec![
        "gateway",
        "recover",
        "--data",
        dir.to_str().unwrap(),
        "--bootstrap",
        &boot,
    ];
    all.extend_from_slice(args);
    cairn(&all)
}

/// A gateway started by the test on a recovered directory; killed on drop.
struct Gateway {
    child: Child,
    endpoint: String,
    admin: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    // The child moves into the returned `Gateway`, whose `Drop` reaps it.
    #[allow(clippy::zombie_processes)]
    fn start(devnet: &Devnet, dir: &Path, min_nodes: usize, extra: &[&str]) -> Self {
        let _ = std::fs::remove_file(dir.join("gateway.json"));
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
        command
            .args(["gateway", "--data"])
            .arg(dir)
            .args(["--s3", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--devnet"])
            .args(["--min-nodes", &min_nodes.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log);
        for i in 0..devnet.info["nodes"].as_array().unwrap().len() {
            command.args(["--bootstrap", &devnet.bootstrap(i).to_string()]);
        }
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(text) = std::fs::read_to_string(dir.join("gateway.json"))
                && let Ok(info) = serde_json::from_str::<serde_json::Value>(&text)
            {
                return Self {
                    child,
                    endpoint: info["s3_endpoint"].as_str().unwrap().to_owned(),
                    admin: info["admin"].as_str().unwrap_or_default().to_owned(),
                };
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the recovered gateway did not start: {}",
                    std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn client(&self, devnet: &Devnet) -> aws_sdk_s3::Client {
        let config = devnet
            .config_for(&self.endpoint)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

/// A key made through the running gateway: (id, secret).
fn new_key(devnet: &Devnet) -> (String, String) {
    let data = devnet.gateway_dir();
    let out = ok(
        cairn(&["gateway", "key", "create", "--data", data.to_str().unwrap()]),
        "key create",
    );
    let made: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        made["access_key"].as_str().unwrap().to_owned(),
        made["secret_key"].as_str().unwrap().to_owned(),
    )
}

fn client_as(devnet: &Devnet, endpoint: &str, id: &str, secret: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(id, secret, None, None, "test");
    let config = devnet
        .config_for(endpoint)
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_gateway_disk_comes_back_from_the_mesh_with_the_key_file() {
    let tmp = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&tmp.path().join("devnet"), &[]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("docs").send().await.unwrap();
    s3.create_bucket()
        .bucket("public")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let objects: Vec<(&str, &str, Vec<u8>)> = vec![
        ("docs", "empty", Vec::new()),
        ("docs", "tiny.txt", b"hello".to_vec()),
        ("docs", "dir/100k", bytes(100 << 10, 1)),
        ("docs", "dir/9m", bytes(9 << 20, 2)),
        ("public", "page.html", b"<p>open</p>".to_vec()),
    ];
    for (bucket, key, body) in &objects {
        put(&s3, bucket, key, body).await;
    }
    let parts = vec![bytes(5 << 20, 3), bytes(1 << 20, 4)];
    multipart(&s3, "docs", "multi", &parts).await;
    let (reader, reader_secret) = new_key(&devnet);
    let data = devnet.gateway_dir();
    ok(
        cairn(&[
            "gateway",
            "bucket",
            "allow",
            "docs",
            "--key",
            &reader,
            "--read",
            "--data",
            data.to_str().unwrap(),
        ]),
        "bucket allow",
    );
    let acknowledged = now_ms();
    let seen_after = wait_backed_up(&devnet, acknowledged);
    eprintln!("recovery point: a backup read the store {seen_after:?} after the last write");

    let keys = tmp.path().join("gateway.keys");
    backup_keys(&devnet, &keys);
    devnet.lose_gateway();
    let new_dir = tmp.path().join("recovered");
    let out = ok(
        recover(
            &devnet,
            &new_dir,
            &["--keys", keys.to_str().unwrap(), "--json"],
        ),
        "recover",
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["objects"], 6, "{report}");
    assert_eq!(report["buckets"], 2, "{report}");
    assert_eq!(report["keys"], 2, "{report}");
    assert_eq!(report["missing_copies"], 0, "{report}");
    eprintln!("recovery report: {report}");

    let gateway = Gateway::start(&devnet, &new_dir, 6, &[]);
    let s3 = gateway.client(&devnet);
    for (bucket, key, body) in &objects {
        let got = read_object(&s3, bucket, key, "after recovery").await;
        assert!(got == *body, "{bucket}/{key} differs after recovery");
    }
    let whole = parts.concat();
    assert!(read_object(&s3, "docs", "multi", "after recovery").await == whole);
    // And through aws-cli (its own ranged multipart download).
    for (key, body) in [("dir/9m", &objects[3].2), ("multi", &whole)] {
        let file = tmp.path().join("via-aws-cli");
        let out = Command::new("aws")
            .args(["--endpoint-url", &gateway.endpoint, "s3", "cp", "--quiet"])
            .arg(format!("s3://docs/{key}"))
            .arg(&file)
            .env(
                "AWS_ACCESS_KEY_ID",
                devnet.info["access_key"].as_str().unwrap(),
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                devnet.info["secret_key"].as_str().unwrap(),
            )
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .expect("aws-cli (installed by scripts/test.sh) runs");
        assert!(
            out.status.success(),
            "aws s3 cp {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            std::fs::read(&file).unwrap() == *body,
            "{key} differs through aws-cli"
        );
    }
    // The grant and the key came back: the reader reads, and may not write.
    let other = client_as(&devnet, &gateway.endpoint, &reader, &reader_secret);
    assert_eq!(
        read_object(&other, "docs", "tiny.txt", "as reader").await,
        b"hello"
    );
    let denied = other
        .put_object()
        .bucket("docs")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("AccessDenied"));
    // The public ACL came back: an unsigned GET reads the page.
    let url = format!("{}/public/page.html", gateway.endpoint);
    let curl = Command::new("curl").args(["-sf", &url]).output().unwrap();
    assert_eq!(
        curl.stdout, b"<p>open</p>",
        "anonymous GET of a public object"
    );
    // Old objects can be overwritten and deleted.
    put(&s3, "docs", "dir/100k", b"new").await;
    assert_eq!(
        read_object(&s3, "docs", "dir/100k", "overwritten").await,
        b"new"
    );
    s3.delete_object()
        .bucket("docs")
        .key("dir/9m")
        .send()
        .await
        .unwrap();
    let gone = s3.get_object().bucket("docs").key("dir/9m").send().await;
    assert_eq!(gone.unwrap_err().code(), Some("NoSuchKey"));
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_are_read_with_two_nodes_down() {
    let tmp = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&tmp.path().join("devnet"), &[]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let body = bytes(3 << 20, 9);
    put(&s3, "bkt", "k", &body).await;
    for i in 0..50 {
        put(&s3, "bkt", &format!("small/{i}"), format!("{i}").as_bytes()).await;
    }
    wait_backed_up(&devnet, now_ms());
    // The two key files, as an operator would have copied them off.
    let master = tmp.path().join("master.key");
    let identity = tmp.path().join("identity.key");
    write_private(
        &master,
        &std::fs::read(devnet.gateway_dir().join("master.key")).unwrap(),
    );
    write_private(
        &identity,
        &std::fs::read(devnet.gateway_dir().join("identity.key")).unwrap(),
    );
    devnet.lose_gateway();
    devnet.kill_node(4);
    devnet.kill_node(5);
    let new_dir = tmp.path().join("recovered");
    let out = ok(
        recover(
            &devnet,
            &new_dir,
            &[
                "--master-key",
                master.to_str().unwrap(),
                "--identity",
                identity.to_str().unwrap(),
                "--json",
            ],
        ),
        "recover with two nodes down",
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["objects"], 51, "{report}");
    let gateway = Gateway::start(&devnet, &new_dir, 4, &[]);
    let s3 = gateway.client(&devnet);
    assert!(read_object(&s3, "bkt", "k", "two nodes down").await == body);
    assert_eq!(
        read_object(&s3, "bkt", "small/49", "two nodes down").await,
        b"49"
    );
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// The shared devnet, backed up at least once, and its key file.
fn backed_up() -> (&'static Devnet, PathBuf) {
    let devnet = shared_devnet(&[]);
    static KEYS: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, keys) = KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("gateway.keys");
        backup_keys(devnet, &keys);
        (dir, keys)
    });
    wait_backed_up(devnet, 1);
    (devnet, keys.clone())
}

fn refused(out: Output) -> String {
    assert!(
        !out.status.success(),
        "accepted: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_nothing_left(dir: &Path) {
    for name in [
        "meta.redb",
        "meta.redb.partial",
        "master.key",
        "identity.key",
    ] {
        assert!(
            !dir.join(name).exists(),
            "{name} was left in {}",
            dir.display()
        );
    }
}

#[test]
fn a_wrong_passphrase_is_refused_and_leaves_nothing() {
    let (devnet, keys) = backed_up();
    let dir = tempfile::tempdir().unwrap();
    let new_dir = dir.path().join("r");
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["gateway", "recover", "--data"])
        .arg(&new_dir)
        .args(["--bootstrap", &devnet.bootstrap(0).to_string(), "--keys"])
        .arg(&keys)
        .env("CAIRN_KEYS_PASSPHRASE", "not the passphrase")
        .output()
        .unwrap();
    let err = refused(out);
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_nothing_left(&new_dir);
}

/// Runs a recovery with these two key files' bytes, expects it refused,
/// checks it left nothing, and returns what it said.
fn refused_with_files(devnet: &Devnet, master: &[u8], identity: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (master_file, identity_file) = (
        dir.path().join("master.key"),
        dir.path().join("identity.key"),
    );
    write_private(&master_file, master);
    write_private(&identity_file, identity);
    let new_dir = dir.path().join("r");
    let err = refused(recover(
        devnet,
        &new_dir,
        &[
            "--master-key",
            master_file.to_str().unwrap(),
            "--identity",
            identity_file.to_str().unwrap(),
        ],
    ));
    assert_nothing_left(&new_dir);
    err
}

#[test]
fn another_identity_finds_no_pointer() {
    let (devnet, _) = backed_up();
    let master = std::fs::read(devnet.gateway_dir().join("master.key")).unwrap();
    let stranger = libp2p::identity::Keypair::generate_ed25519();
    let err = refused_with_files(devnet, &master, &stranger.to_protobuf_encoding().unwrap());
    assert!(
        err.contains("no node holds a metadata backup pointer signed by"),
        "{err}"
    );
}

#[test]
fn a_wrong_master_key_is_refused_and_leaves_nothing() {
    let (devnet, _) = backed_up();
    let identity = std::fs::read(devnet.gateway_dir().join("identity.key")).unwrap();
    let err = refused_with_files(devnet, &[0x5a; 32], &identity);
    assert!(err.contains("master key does not open"), "{err}");
}

#[test]
fn recovery_into_a_directory_with_a_store_is_refused() {
    let (devnet, keys) = backed_up();
    let err = refused(recover(
        devnet,
        &devnet.gateway_dir(),
        &["--keys", keys.to_str().unwrap()],
    ));
    assert!(err.contains("already holds a metadata store"), "{err}");
}

/// Shards of an object of `size` bytes on the default devnet: none when
/// empty, three copies below 16 KiB, else six per 8 MiB segment (4+2).
fn shards_of(size: usize) -> usize {
    match size {
        0 => 0,
        s if s < 16 << 10 => 3,
        s => 6 * s.div_ceil(8 << 20),
    }
}

/// Starts a PUT of `len` bytes to a presigned URL over a raw connection
/// and sends only `sent` of them (the connection is returned open).
async fn start_put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    len: usize,
    sent: usize,
) -> std::net::TcpStream {
    use std::io::Write;
    let presigned = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap(),
        )
        .await
        .unwrap();
    let uri: http::Uri = presigned.uri().parse().unwrap();
    let host = uri.authority().unwrap().as_str().to_owned();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "PUT {} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\n\r\n",
        uri.path_and_query().unwrap()
    )
    .unwrap();
    stream.write_all(&bytes(sent, 77)).unwrap();
    stream.flush().unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_killed_mid_write_shows_the_old_object_or_the_new_and_leaks_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // No metadata backups here: the shards on the nodes are then exactly
    // the objects' (the backups' own are checked by the other scenarios).
    let devnet = Devnet::start(&tmp.path().join("devnet"), &["--gateway-arg=--no-backup"]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("crash").send().await.unwrap();
    let old = bytes(20 << 20, 5);
    put(&s3, "crash", "big", &old).await;
    let old_multi = bytes(100 << 10, 6);
    put(&s3, "crash", "multi", &old_multi).await;
    // A multipart upload of a new "multi", all parts stored, completed
    // while the gateway is killed.
    let parts = [bytes(5 << 20, 7), bytes(3 << 20, 8)];
    let (upload_id, done) = upload_parts(&s3, "crash", "multi", &parts).await;
    // A 40 MiB overwrite of "big" is 16 MiB in (two segments stored) ...
    let _half_sent = start_put(&s3, "crash", "big", 40 << 20, 16 << 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ... and the completion is on its way, when the gateway dies.
    let completing = {
        let (s3, upload_id) = (s3.clone(), upload_id.clone());
        tokio::spawn(async move { complete(&s3, "crash", "multi", &upload_id, done).await })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    devnet.kill_gateway();
    let _ = completing.await;

    // Restarted on the same directory: the old object or the new, whole.
    let gateway = Gateway::start(&devnet, &devnet.gateway_dir(), 6, &["--no-backup"]);
    let s3 = gateway.client(&devnet);
    assert!(read_object(&s3, "crash", "big", "after the crash").await == old);
    let multi = read_object(&s3, "crash", "multi", "after the crash").await;
    let completed = multi == parts.concat();
    assert!(
        completed || multi == old_multi,
        "multi is neither the old object nor the new"
    );
    if !completed {
        s3.abort_multipart_upload()
            .bucket("crash")
            .key("multi")
            .upload_id(&upload_id)
            .send()
            .await
            .unwrap();
    }
    eprintln!(
        "the completion {}",
        if completed {
            "committed"
        } else {
            "did not commit"
        }
    );

    // Garbage collection takes the half-written object's shards (and the
    // parts or the replaced object): what stays is what the manifests name.
    let expected = shards_of(old.len())
        + if completed {
            parts.iter().map(|p| shards_of(p.len())).sum()
        } else {
            shards_of(old_multi.len())
        };
    let dirs: Vec<String> = (0..6).map(|i| devnet.node_field(i, "data_dir")).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let stored: usize = dirs
            .iter()
            .map(|d| common::stored_shards(Path::new(d)))
            .sum();
        if stored == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stored} shards on the nodes ({:?}), the manifests name {expected}; status: {}",
            dirs.iter()
                .map(|d| common::stored_shards(Path::new(d)))
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(
                &cairn(&["status", "--admin", &gateway.admin, "--json"]).stdout
            )
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
