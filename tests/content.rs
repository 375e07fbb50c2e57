//! Published content against one shared devnet: `cairn publish` through
//! the gateway, then `GET /cid/<cid>` by anyone, whole, in ranges and
//! conditionally; the same bytes get one CID; bad CIDs and callers
//! without rights are refused. Each scenario uses buckets of its own.

mod common;

use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use common::bytes;
use common::devnet::{Devnet, shared_devnet};
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

/// A gateway started on an empty data directory, joining `devnet`'s mesh
/// through its first node; stopped on drop.
struct SecondGateway(std::process::Child, u16);

impl SecondGateway {
    fn start(devnet: &Devnet, dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
/// directory: B finds the record in the DHT, opens and checks the
/// manifest against the CID, and reads every segment from the nodes,
/// checked too.
#[tokio::test(flavor = "multi_thread")]
async fn content_outlives_the_gateway_that_published_it() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), &[]);
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
    let pid = devnet.info["gateway"]["pid"].as_u64().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::remove_dir_all(devnet.gateway_dir()).unwrap();

    // A stranger announces a forged manifest for the same CID (sealed
    // under the CID's key, naming other segment hashes), newer than the
    // publisher's: B must skip it.
    forge_record(&devnet, &cid).await;

    let b = SecondGateway::start(&devnet, dir.path());
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
}

/// Announces, from a fresh identity joined to `devnet`'s mesh, a record
/// for `cid` whose manifest is sealed under the CID's key but names segment
/// hashes that do not make the CID.
async fn forge_record(devnet: &Devnet, cid: &str) {
    use mesh::content::{ContentManifest, ManifestSegment, SignedContentRecord, locator};
    let cid = ContentId::parse(cid).unwrap();
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let client =
        mesh::net::MeshClient::spawn(keypair.clone(), std::time::Duration::from_secs(10)).unwrap();
    for node in 0..3 {
        client.dial(&devnet.bootstrap(node)).await.unwrap();
    }
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
    let locator = locator(&cid);
    let (key, value) = SignedContentRecord::sign(&locator, forged.seal(&cid), &keypair);
    // Let the DHT routing table fill before storing.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    client.publish_content(locator, key, value).await.unwrap();
}
