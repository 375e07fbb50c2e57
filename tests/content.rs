//! Published content against one shared devnet: `cairn publish` through
//! the gateway, then `GET /cid/<cid>` by anyone, whole, in ranges and
//! conditionally; the same bytes get one CID; bad CIDs and callers
//! without rights are refused. Each scenario uses buckets of its own.

mod common;

use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use common::bytes;
use common::devnet::{Devnet, free_port, shared_devnet};
use common::raw_http::{RawResponse, exchange};
use mesh::content::ContentId;

fn devnet() -> &'static Devnet {
    shared_devnet(&[])
}

/// Sends an unsigned request to the devnet's S3 port (HTTP/1.1, closed
/// after the answer) and reads the whole answer.
fn request(method: &str, path: &str, extra: &[(&str, &str)]) -> RawResponse {
    request_at(devnet().s3_port(), method, path, extra)
}

/// [`request`] to the S3 port `port`.
fn request_at(port: u16, method: &str, path: &str, extra: &[(&str, &str)]) -> RawResponse {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    exchange(&format!("127.0.0.1:{port}"), head.as_bytes(), b"").dechunked()
}

/// Runs `cairn publish s3://BUCKET/KEY` with `keys` (the devnet's if
/// `None`); its stdout, or its stderr as the error.
fn publish(object: &str, keys: Option<(&str, &str)>) -> Result<String, String> {
    publish_on(devnet(), object, keys)
}

/// [`publish`] through `d`'s gateway.
fn publish_on(d: &Devnet, object: &str, keys: Option<(&str, &str)>) -> Result<String, String> {
    let (access, secret) = keys.unwrap_or((
        d.info["access_key"].as_str().unwrap(),
        d.info["secret_key"].as_str().unwrap(),
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["publish", object, "--endpoint"])
        .arg(d.info["s3_endpoint"].as_str().unwrap())
        .env("AWS_ACCESS_KEY_ID", access)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn cid_of(data: &[u8]) -> String {
    ContentId::from_hash(*blake3::hash(data).as_bytes()).to_string()
}

async fn put(bucket: &str, key: &str, data: &[u8], content_type: Option<&str>) {
    put_on(devnet(), bucket, key, data, content_type).await
}

async fn put_on(d: &Devnet, bucket: &str, key: &str, data: &[u8], content_type: Option<&str>) {
    let s3 = d.client();
    let _ = s3.create_bucket().bucket(bucket).send().await;
    let put = s3.put_object().bucket(bucket).key(key);
    let put = put.set_content_type(content_type.map(str::to_owned));
    put.body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn published_content_is_served_by_its_cid_whole_and_in_ranges() {
    // Three segments (8 MiB each by default), the last one short.
    let data = bytes((20 << 20) + 12_345, 15);
    put("pub-big", "dir/film.mp4", &data, Some("video/mp4")).await;
    let cid = publish("s3://pub-big/dir/film.mp4", None).unwrap();
    assert_eq!(cid, cid_of(&data), "the CID is blake3 of the bytes");
    assert!(cid.starts_with("bafkr4i"), "{cid}");

    let whole = request("GET", &format!("/cid/{cid}"), &[]);
    assert_eq!(whole.status, 200);
    assert!(whole.body == data, "the content is the object's bytes");
    assert_eq!(whole.header("etag"), Some(format!("\"{cid}\"").as_str()));
    assert_eq!(whole.header("x-cairn-cid"), Some(cid.as_str()));
    assert_eq!(whole.header("content-type"), Some("video/mp4"));
    assert_eq!(
        whole.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        whole.header("content-disposition"),
        Some("inline; filename=\"film.mp4\"")
    );

    // A range across the first segment boundary, and a suffix.
    let (from, to) = ((8 << 20) - 1000, (8 << 20) + 999);
    let ranged = request(
        "GET",
        &format!("/cid/{cid}"),
        &[("Range", &format!("bytes={from}-{to}"))],
    );
    assert_eq!(ranged.status, 206);
    assert!(ranged.body[..] == data[from..=to]);
    let span = format!("bytes {from}-{to}/{}", data.len());
    assert_eq!(ranged.header("content-range"), Some(span.as_str()));
    let suffix = request("GET", &format!("/cid/{cid}"), &[("Range", "bytes=-100")]);
    assert_eq!(suffix.status, 206);
    assert!(suffix.body[..] == data[data.len() - 100..]);
    let past = request(
        "GET",
        &format!("/cid/{cid}"),
        &[("Range", "bytes=999999999-")],
    );
    assert_eq!(past.status, 416);

    let head = request("HEAD", &format!("/cid/{cid}"), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
    let etag = format!("\"{cid}\"");
    let cached = request("GET", &format!("/cid/{cid}"), &[("If-None-Match", &etag)]);
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_bytes_published_twice_get_one_cid() {
    let data = bytes(300_000, 16);
    put("pub-one", "a.bin", &data, None).await;
    put("pub-two", "b.bin", &data, None).await;
    let first = publish("s3://pub-one/a.bin", None).unwrap();
    let second = publish("s3://pub-two/b.bin", None).unwrap();
    assert_eq!(first, second);
    assert_eq!(first, cid_of(&data));
    let got = request("GET", &format!("/cid/{first}"), &[]);
    assert_eq!(got.status, 200);
    assert!(got.body == data);
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));

    // Empty content too.
    put("pub-one", "empty", b"", None).await;
    let empty = publish("s3://pub-one/empty", None).unwrap();
    assert_eq!(empty, cid_of(b""));
    let got = request("GET", &format!("/cid/{empty}"), &[]);
    assert_eq!((got.status, got.body.len()), (200, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_cids_are_a_400_saying_why_and_unknown_ones_a_404() {
    let cases = [
        ("not-a-cid", "not a CID"),
        ("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n", "CIDv0"),
        (
            "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
            "codec 0x70",
        ),
        (
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
            "hash 0x12",
        ),
    ];
    for (cid, why) in cases {
        let got = request("GET", &format!("/cid/{cid}"), &[]);
        let body = String::from_utf8_lossy(&got.body);
        assert_eq!(got.status, 400, "{cid}: {body}");
        assert!(body.contains("<Code>InvalidArgument</Code>"), "{body}");
        assert!(body.contains(why), "{cid}: {body}");
    }
    let unknown = cid_of(b"never published anywhere");
    let got = request("GET", &format!("/cid/{unknown}"), &[]);
    assert_eq!(got.status, 404);
    assert!(String::from_utf8_lossy(&got.body).contains("NoSuchKey"));
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_needs_a_key_that_may_read_and_write_the_object() {
    put("pub-private", "secret.txt", b"not for everyone", None).await;
    // Unsigned.
    let anonymous = request("POST", "/pub-private/secret.txt?publish", &[]);
    assert_eq!(anonymous.status, 403);
    // A key with no grant on the bucket.
    let made = devnet().gateway_cli(&["key", "create"]).unwrap();
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    let keys = (
        made["access_key"].as_str().unwrap(),
        made["secret_key"].as_str().unwrap(),
    );
    let refused = publish("s3://pub-private/secret.txt", Some(keys)).unwrap_err();
    assert!(refused.contains("AccessDenied"), "{refused}");
    let content = cid_of(b"not for everyone");
    assert_eq!(request("GET", &format!("/cid/{content}"), &[]).status, 404);
    // The owner publishes; a missing object is NoSuchKey.
    let missing = publish("s3://pub-private/nothing-here", None).unwrap_err();
    assert!(missing.contains("NoSuchKey"), "{missing}");
    assert_eq!(
        publish("s3://pub-private/secret.txt", None).unwrap(),
        content
    );
}

/// The stdout of a command that must have succeeded (else its stderr in
/// the panic).
fn succeeded(out: std::process::Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Makes an access key in the gateway data directory `dir/data` (before
/// the gateway starts there); its id and pinning token.
fn pinning_key(dir: &std::path::Path) -> (String, String) {
    let made = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["gateway", "key", "create", "--data"])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    let key: serde_json::Value = serde_json::from_slice(&succeeded(made)).unwrap();
    let (id, secret) = (
        key["access_key"].as_str().unwrap(),
        key["secret_key"].as_str().unwrap(),
    );
    (id.to_owned(), s3_gateway::pins::token::make(id, secret))
}

/// `cairn status --json` of the gateway whose admin endpoint is `admin`
/// (with `--object BUCKET/KEY` if given), or why it failed.
fn admin_status(admin: &str, object: Option<&str>) -> Result<serde_json::Value, String> {
    let mut status = Command::new(env!("CARGO_BIN_EXE_cairn"));
    status.args(["status", "--json", "--admin", &format!("http://{admin}")]);
    if let Some(object) = object {
        status.args(["--object", object]);
    }
    let out = status.output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// A gateway started on an empty data directory, joining `devnet`'s mesh
/// through its first node; stopped on drop.
struct SecondGateway(std::process::Child, u16);

impl SecondGateway {
    fn start(devnet: &Devnet, dir: &std::path::Path, extra: &[&str]) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("gateway")
            .arg("--data")
            .arg(dir.join("data"))
            .args([
                "--s3",
                &format!("127.0.0.1:{port}"),
                "--devnet",
                "--no-backup",
            ])
            .arg("--bootstrap")
            .arg(devnet.bootstrap(0).to_string())
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("gateway-b.log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !dir.join("data/gateway.json").exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "gateway B did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Self(child, port)
    }
}

impl Drop for SecondGateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Content published through gateway A, whose process is then killed and
/// its data directory deleted, is served by gateway B started on an empty
/// directory: B finds the record in the DHT, follows its pointer to the
/// manifest (fetched from the nodes, checked against the CID), and reads
/// every segment from the nodes, checked too; so does `cairn get`, with no
/// gateway.
#[tokio::test(flavor = "multi_thread")]
async fn content_outlives_the_gateway_that_published_it() {
    let dir = tempfile::tempdir().unwrap();
    // 64 KiB segments: the content's 145 segments make a manifest too
    // large for a DHT record, so it is kept as content of its own and the
    // record points to it.
    let devnet = Devnet::start(
        &dir.path().join("devnet"),
        &["--gateway-arg=--segment-size=64KiB"],
    );
    let data = bytes((9 << 20) + 777, 17);
    put_on(
        &devnet,
        "archive",
        "report.pdf",
        &data,
        Some("application/pdf"),
    )
    .await;
    let cid = publish_on(&devnet, "s3://archive/report.pdf", None).unwrap();
    assert_eq!(cid, cid_of(&data));

    // A is gone, with everything it knew.
    devnet.lose_gateway();

    // A stranger announces a forged manifest for the same CID (sealed
    // under the CID's key, naming other segment hashes), newer than the
    // publisher's: B must skip it.
    forge_record(&devnet, &cid).await;

    let admin = format!("127.0.0.1:{}", free_port());
    let b = SecondGateway::start(&devnet, dir.path(), &["--admin", &admin]);
    let path = format!("/cid/{cid}");
    // B may need a moment to know the nodes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let whole = loop {
        let got = request_at(b.1, "GET", &path, &[]);
        if got.status == 200 || std::time::Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(
        whole.status,
        200,
        "{}",
        String::from_utf8_lossy(&whole.body)
    );
    assert!(whole.body == data, "B serves the published bytes");
    // The forger's record was refused and its publisher struck.
    let status = admin_status(&admin, None).unwrap();
    assert!(
        status["content_records_refused"].as_u64().unwrap() >= 1,
        "{status:#}"
    );
    assert_eq!(whole.header("content-type"), Some("application/pdf"));
    assert_eq!(whole.header("etag"), Some(format!("\"{cid}\"").as_str()));
    let (from, to) = ((8 << 20) - 5, (8 << 20) + 5);
    let range = format!("bytes={from}-{to}");
    let ranged = request_at(b.1, "GET", &path, &[("Range", &range)]);
    assert_eq!(ranged.status, 206);
    assert!(ranged.body[..] == data[from..=to]);
    // Content nobody published is still a 404 there.
    let unknown = cid_of(b"nobody published this");
    assert_eq!(
        request_at(b.1, "GET", &format!("/cid/{unknown}"), &[]).status,
        404
    );

    // No gateway at all: `cairn get` with one node's address.
    let out = dir.path().join("report.pdf");
    cairn_get(&devnet, &cid, &out).unwrap();
    assert!(
        std::fs::read(&out).unwrap() == data,
        "cairn get fetches the bytes"
    );
    // Interrupted after the first segment, with garbage after it: the
    // next run keeps the checked segment and fetches the rest.
    let again = dir.path().join("again.pdf");
    let mut partial = data[..8 << 20].to_vec();
    partial.extend_from_slice(&[0xee; 4096]);
    std::fs::write(dir.path().join("again.pdf.cairn-part"), &partial).unwrap();
    let said = cairn_get(&devnet, &cid, &again).unwrap();
    assert!(
        std::fs::read(&again).unwrap() == data,
        "the resumed download is whole"
    );
    assert!(said.contains("8388608 bytes were already there"), "{said}");
    assert!(!dir.path().join("again.pdf.cairn-part").exists());
}

/// Runs `cairn get CID -o OUT --bootstrap <node 1>`; its stderr, or why
/// it failed.
fn cairn_get(devnet: &Devnet, cid: &str, out: &std::path::Path) -> Result<String, String> {
    let run = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["get", cid, "-o"])
        .arg(out)
        .arg("--bootstrap")
        .arg(devnet.bootstrap(1).to_string())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stderr).into_owned();
    if run.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}

/// A node holding a data shard of published content serves other bytes
/// (its copy rotted, or it lies): the gateway and `cairn get` both notice
/// (the bytes do not hash to the shard id), fetch a parity shard instead
/// and return the right bytes; the gateway marks the copy bad.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_serving_wrong_shard_bytes_does_not_change_what_a_cid_returns() {
    let d = devnet();
    let data = bytes(3 << 20, 59);
    put("liar-src", "map.bin", &data, None).await;
    let cid = publish("s3://liar-src/map.bin", None).unwrap();
    let report = d.object_status(".cairn-content", &cid);
    let shard = &report["segments"][0]["shards"][0];
    let (node, id) = (
        shard["node"].as_str().unwrap(),
        shard["id"].as_str().unwrap(),
    );
    let index = d.node_index(node).expect("a devnet node");
    let file = common::shard_file(std::path::Path::new(&d.node_field(index, "data_dir")), id);
    common::flip_byte(&file);
    assert!(!common::intact(&file, id));

    let got = request("GET", &format!("/cid/{cid}"), &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got.body == data, "the gateway returns the published bytes");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("map.bin");
    cairn_get(d, &cid, &out).unwrap();
    assert!(
        std::fs::read(&out).unwrap() == data,
        "cairn get returns the published bytes"
    );
    // The gateway found the rotten copy: marked bad (then repaired).
    d.wait_object(
        (".cairn-content", &cid),
        "the rotten copy marked or rewritten",
        std::time::Duration::from_secs(60),
        |o| {
            let now = &o["segments"][0]["shards"][0];
            now["state"] != "healthy" || now["id"] != id || common::intact(&file, id)
        },
    );
}

/// Announces, from a fresh identity joined to `devnet`'s mesh, a record
/// for `cid` whose manifest is sealed under the CID's key but names segment
/// hashes that do not make the CID.
async fn forge_record(devnet: &Devnet, cid: &str) {
    use mesh::content::{ContentManifest, ManifestSegment};
    let forged = ContentManifest {
        size: (9 << 20) + 777,
        segment_size: 8 << 20,
        k: 4,
        m: 2,
        content_type: Some("text/html".into()),
        disposition: None,
        nodes: Vec::new(),
        segments: (0..2)
            .map(|i| ManifestSegment {
                hash: [i; 32],
                shards: vec![([i; 32], mesh::content::NO_NODE); 6],
            })
            .collect(),
    };
    announce_forged(devnet, cid, forged).await;
}

/// Announces `forged` as the manifest of `cid` from a fresh identity
/// joined to `devnet`'s mesh.
async fn announce_forged(devnet: &Devnet, cid: &str, forged: mesh::content::ContentManifest) {
    use mesh::content::{SignedContentRecord, locator};
    let cid = ContentId::parse(cid).unwrap();
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let client =
        mesh::net::MeshClient::spawn(keypair.clone(), std::time::Duration::from_secs(10)).unwrap();
    for node in 0..3 {
        client.dial(&devnet.bootstrap(node)).await.unwrap();
    }
    let locator = locator(&cid);
    let (key, value) = SignedContentRecord::sign(&locator, forged.seal(&cid), &keypair);
    // Let the DHT routing table fill before storing.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    client.publish_content(locator, key, value).await.unwrap();
    // `publish_content` returns once one node has the record and the
    // provider entry: let the others get theirs before the client goes.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
}

/// Sends `method path` with `body` (JSON) and `Authorization: Bearer
/// token` (if any) to the S3 port `port`; the answer.
fn pins_request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> RawResponse {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!(
            "Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        ));
    }
    head.push_str("\r\n");
    exchange(
        &format!("127.0.0.1:{port}"),
        head.as_bytes(),
        body.as_bytes(),
    )
    .dechunked()
}

fn json_of(response: &RawResponse) -> serde_json::Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| panic!("not JSON ({}): {}", response.status, response.text()))
}

/// The pinning scenario: A publishes, B (another gateway, on an
/// empty directory, with its own key, keeping pins with an extra parity
/// shard) pins the CID through the Pinning Service API; A is then killed and its data directory deleted, and two
/// nodes holding B's shards are killed: B repairs its copy, serves every
/// byte, and lets go of it when the pin is removed.
#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_cid_is_kept_and_repaired_by_the_pinner() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), &["--nodes", "9"]);
    let data = bytes((9 << 20) + 321, 23);
    put_on(&devnet, "pub", "film.bin", &data, None).await;
    let cid = publish_on(&devnet, "s3://pub/film.bin", None).unwrap();

    // B's own key, made before it starts.
    let (id, token) = pinning_key(dir.path());
    let id = id.as_str();
    let admin = format!("127.0.0.1:{}", free_port());
    // B keeps what it pins with one more parity shard than objects get.
    let b = SecondGateway::start(
        &devnet,
        dir.path(),
        &["--admin", &admin, "--pin-extra-parity", "1"],
    );
    let b_status = || admin_status(&admin, None).unwrap_or(serde_json::Value::Null);
    let wait_b = |what: &str, done: &dyn Fn(&serde_json::Value) -> bool| -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(150);
        loop {
            let status = b_status();
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };

    // No token, a wrong token, a bad CID: refused as the spec says.
    let anonymous = pins_request(b.1, "GET", "/pins", None, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(json_of(&anonymous)["error"]["reason"], "UNAUTHORIZED");
    let forged = s3_gateway::pins::token::make(id, "not the secret");
    assert_eq!(
        pins_request(b.1, "GET", "/pins", Some(&forged), None).status,
        401
    );
    let bad = pins_request(
        b.1,
        "POST",
        "/pins",
        Some(&token),
        Some(serde_json::json!({"cid": "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"})),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(json_of(&bad)["error"]["reason"], "BAD_REQUEST");

    // A stranger announces, newer than A's, a manifest with the right
    // segment hashes (it checks against the CID) naming shards nobody
    // holds: B's probe finds no node with them and takes A's instead
    // (shards that cannot be fetched are no proof of a lie: nodes may be
    // down, so nobody is struck for it).
    let forged = mesh::content::ContentManifest {
        size: data.len() as u64,
        segment_size: 8 << 20,
        k: 4,
        m: 2,
        content_type: None,
        disposition: None,
        nodes: vec![
            devnet
                .bootstrap(0)
                .iter()
                .find_map(|p| match p {
                    libp2p::multiaddr::Protocol::P2p(peer) => Some(peer.to_bytes()),
                    _ => None,
                })
                .unwrap(),
        ],
        segments: data
            .chunks(8 << 20)
            .enumerate()
            .map(|(i, chunk)| mesh::content::ManifestSegment {
                hash: mesh::content::segment_hash(i as u64, 8 << 20, chunk),
                shards: vec![([0xab; 32], 0); 6],
            })
            .collect(),
    };
    forged.check(&ContentId::parse(&cid).unwrap()).unwrap();
    announce_forged(&devnet, &cid, forged).await;

    // Pin: queued at once, pinned soon. The CID is given in another
    // multibase (base32 upper case) and kept in the one standard form.
    let shouted = format!("B{}", cid[1..].to_uppercase());
    let pin = serde_json::json!({"cid": shouted, "name": "film", "meta": {"app": "tests"}});
    let made = pins_request(b.1, "POST", "/pins", Some(&token), Some(pin));
    assert_eq!(made.status, 202, "{}", made.text());
    let made = json_of(&made);
    assert_eq!(made["status"], "queued");
    assert_eq!(made["pin"]["cid"], cid.as_str());
    assert!(!made["delegates"].as_array().unwrap().is_empty());
    let request = made["requestid"].as_str().unwrap().to_owned();
    let path = format!("/pins/{request}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = json_of(&pins_request(b.1, "GET", &path, Some(&token), None));
        match now["status"].as_str().unwrap() {
            "pinned" => break,
            "queued" | "pinning" => {}
            other => panic!("pin went {other}: {now:#}"),
        }
        assert!(Instant::now() < deadline, "not pinned: {now:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed = json_of(&pins_request(
        b.1,
        "GET",
        "/pins?name=FIL&match=ipartial",
        Some(&token),
        None,
    ));
    assert_eq!(listed["count"], 1, "{listed:#}");
    assert_eq!(listed["results"][0]["requestid"], request.as_str());
    let status = wait_b("the pin counted", &|s| s["pins"]["pinned"] == 1);
    assert_eq!(status["pins"]["failed"], 0);

    // The publisher is gone with everything it knew.
    devnet.lose_gateway();

    // Two nodes holding B's copy die; B repairs around them.
    let shards = admin_status(&admin, Some(&format!(".cairn-content/{cid}"))).unwrap();
    for segment in shards["segments"].as_array().unwrap() {
        assert_eq!(
            segment["shards"].as_array().unwrap().len(),
            7,
            "4+3: {shards:#}"
        );
    }
    let holder = |segment: usize, index: usize| {
        let peer = shards["segments"][segment]["shards"][index]["node"]
            .as_str()
            .unwrap();
        devnet.node_index(peer).unwrap()
    };
    let first = holder(0, 0);
    let second = (1..6).map(|i| holder(0, i)).find(|&n| n != first).unwrap();
    devnet.kill_node(first);
    devnet.kill_node(second);
    let (first_peer, second_peer) = (
        devnet.node_field(first, "peer_id"),
        devnet.node_field(second, "peer_id"),
    );
    let healed = wait_b("B's repair of the pinned content", &|s| {
        let dead = |peer: &str| {
            let node = Devnet::node_status(s, peer);
            node["state"] == "dead" && node["shards"] == 0
        };
        s["content_segments"]["lost"] == 0
            && s["content_segments"]["full"] == 2
            && s["repair_queue"] == 0
            && dead(&first_peer)
            && dead(&second_peer)
    });
    assert_eq!(healed["content_segments"]["degraded"], 0, "{healed:#}");

    let whole = request_at(b.1, "GET", &format!("/cid/{cid}"), &[]);
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert!(whole.body == data, "B serves the pinned bytes after repair");
    let ranged = request_at(
        b.1,
        "GET",
        &format!("/cid/{cid}"),
        &[("Range", "bytes=8388600-8388620")],
    );
    assert_eq!(ranged.status, 206);
    assert!(ranged.body[..] == data[8_388_600..=8_388_620]);

    // Unpinned: the request is gone and B lets go of its copy.
    assert_eq!(
        pins_request(b.1, "DELETE", &path, Some(&token), None).status,
        202
    );
    assert_eq!(
        pins_request(b.1, "GET", &path, Some(&token), None).status,
        404
    );
    wait_b("B letting go of the content", &|s| {
        s["content_segments"]["full"] == 0 && s["pins"]["pinned"] == 0
    });
}

/// An operator's denylist: the gateway that has it answers 451 for the
/// CID and refuses to pin it; the gateway that published it still serves
/// it; taking the CID off the list serves it again, without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_denylisted_cid_is_refused_by_that_gateway_only() {
    let data = bytes(70_000, 41);
    put("deny-src", "leaflet.txt", &data, Some("text/plain")).await;
    let cid = publish("s3://deny-src/leaflet.txt", None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("denylist.txt");
    std::fs::write(&list, format!("# refused here\n{cid}\n")).unwrap();
    let (_, token) = pinning_key(dir.path());
    let b = SecondGateway::start(
        devnet(),
        dir.path(),
        &["--denylist", list.to_str().unwrap()],
    );
    let path = format!("/cid/{cid}");

    let refused = request_at(b.1, "GET", &path, &[]);
    assert_eq!(refused.status, 451, "{}", refused.text());
    assert!(refused.text().contains("UnavailableForLegalReasons"));
    let pin = serde_json::json!({ "cid": cid });
    let pinned = pins_request(b.1, "POST", "/pins", Some(&token), Some(pin));
    assert_eq!(pinned.status, 451, "{}", pinned.text());
    assert_eq!(json_of(&pinned)["error"]["reason"], "DENYLISTED");
    // The publishing gateway has no such list.
    let served = request("GET", &path, &[]);
    assert_eq!(served.status, 200);
    assert!(served.body == data);

    std::fs::write(&list, "# nothing refused now\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = request_at(b.1, "GET", &path, &[]);
        if got.status == 200 {
            assert!(got.body == data, "B serves the bytes once allowed");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {}: {}",
            got.status,
            got.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// A bucket tagged `cairn:publish` = `true` publishes every object
/// written to it: a PUT answers with the CID in `x-cairn-cid` and the
/// content is served by it at once; a completed multipart upload is
/// published too. A bucket without the tag publishes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_tagged_to_publish_publishes_every_object_written() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Tag, Tagging};
    let s3 = devnet().client();
    for bucket in ["autopub", "autopub-off"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let tag = Tag::builder()
        .key("cairn:publish")
        .value("true")
        .build()
        .unwrap();
    let tagging = Tagging::builder().tag_set(tag).build().unwrap();
    s3.put_bucket_tagging()
        .bucket("autopub")
        .tagging(tagging)
        .send()
        .await
        .unwrap();

    // A PUT, through a presigned URL to see the answer's headers.
    let put_raw = |bucket: &'static str, data: Vec<u8>| {
        let s3 = s3.clone();
        async move {
            let presigned = s3
                .put_object()
                .bucket(bucket)
                .key("note.txt")
                .presigned(
                    aws_sdk_s3::presigning::PresigningConfig::expires_in(
                        std::time::Duration::from_secs(300),
                    )
                    .unwrap(),
                )
                .await
                .unwrap();
            let uri: http::Uri = presigned.uri().parse().unwrap();
            let port = devnet().s3_port();
            let head = format!(
                "PUT {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                uri.path_and_query().unwrap(),
                data.len()
            );
            exchange(&format!("127.0.0.1:{port}"), head.as_bytes(), &data).dechunked()
        }
    };
    let data = bytes(50_000, 71);
    let put = put_raw("autopub", data.clone()).await;
    assert_eq!(put.status, 200, "{}", put.text());
    let cid = cid_of(&data);
    assert_eq!(put.header("x-cairn-cid"), Some(cid.as_str()));
    let got = request("GET", &format!("/cid/{cid}"), &[]);
    assert_eq!(got.status, 200);
    assert!(got.body == data);

    let other = bytes(50_000, 72);
    let put = put_raw("autopub-off", other.clone()).await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.header("x-cairn-cid"), None);
    let unpublished = request("GET", &format!("/cid/{}", cid_of(&other)), &[]);
    assert_eq!(unpublished.status, 404);

    // A multipart upload, published when it completes.
    let up = s3
        .create_multipart_upload()
        .bucket("autopub")
        .key("big.bin");
    let id = up.send().await.unwrap().upload_id().unwrap().to_owned();
    let whole = bytes((5 << 20) + 999, 73);
    let mut parts = Vec::new();
    for (n, chunk) in whole.chunks(5 << 20).enumerate() {
        let n = n as i32 + 1;
        let part = s3
            .upload_part()
            .bucket("autopub")
            .key("big.bin")
            .upload_id(&id);
        let body = ByteStream::from(chunk.to_vec());
        let done = part.part_number(n).body(body).send().await.unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(done.e_tag().unwrap())
                .build(),
        );
    }
    let complete = CompletedMultipartUpload::builder()
        .set_parts(Some(parts))
        .build();
    s3.complete_multipart_upload()
        .bucket("autopub")
        .key("big.bin")
        .upload_id(&id)
        .multipart_upload(complete)
        .send()
        .await
        .unwrap();
    let got = request("GET", &format!("/cid/{}", cid_of(&whole)), &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(
        got.body == whole,
        "the completed upload is served by its CID"
    );
}

/// `cairn add` publishes a file with no gateway: the CID is the one any
/// gateway gives the same bytes, and the devnet's gateway (which never
/// saw them) serves them by it, found through the DHT; so does `cairn get`.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_added_from_a_light_client_is_served_by_any_gateway() {
    let d = devnet();
    let dir = tempfile::tempdir().unwrap();
    let data = bytes((8 << 20) + 4321, 83);
    let file = dir.path().join("atlas.bin");
    std::fs::write(&file, &data).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("add")
        .arg(&file)
        .arg("--bootstrap")
        .arg(d.bootstrap(2).to_string())
        .arg("--identity")
        .arg(dir.path().join("client"))
        .output()
        .unwrap();
    let cid = String::from_utf8_lossy(&succeeded(out)).trim().to_owned();
    assert_eq!(cid, cid_of(&data));
    assert!(dir.path().join("client/identity.key").exists());

    let got = request("GET", &format!("/cid/{cid}"), &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got.body == data, "the gateway serves the added bytes");
    assert_eq!(
        got.header("content-disposition"),
        Some("inline; filename=\"atlas.bin\"")
    );
    let fetched = dir.path().join("fetched.bin");
    cairn_get(d, &cid, &fetched).unwrap();
    assert!(std::fs::read(&fetched).unwrap() == data);
}
