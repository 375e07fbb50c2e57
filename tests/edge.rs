//! The S3 edge end to end, against real devnets: which signatures the
//! gateway takes (SigV2 refused, or enforced behind `--allow-sigv2`;
//! presigned URLs bounded to a week), how it answers bad signatures,
//! AWS's limits on metadata and keys, secrets at rest, and connection
//! handling under a flood of idle and slow-header connections, over plain
//! TCP and TLS.

mod common;

use common::raw_http::RawResponse;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use common::devnet::Devnet;

const SMALL_DEVNET: [&str; 6] = ["--nodes", "3", "--k", "2", "--m", "1"];

// ---- time and encodings ----

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `Tue, 14 Nov 2023 22:13:20 GMT`.
fn http_date(unix: i64) -> String {
    DateTime::from_secs(unix)
        .fmt(DateTimeFormat::HttpDate)
        .unwrap()
}

/// `20231114T221320Z`.
fn amz_date(unix: i64) -> String {
    DateTime::from_secs(unix)
        .fmt(DateTimeFormat::DateTime)
        .unwrap()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

fn hex(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64(raw: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// AWS's URI encoding: unreserved characters as they are, the rest `%XX`.
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hmac256(key: &[u8], data: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, data.as_bytes()).as_ref().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

#[test]
fn helpers_match_known_values() {
    assert_eq!(http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_eq!(amz_date(1_700_000_000), "20231114T221320Z");
    assert_eq!(b64(b"hello"), "aGVsbG8=");
    assert_eq!(uri_encode("a/b c~"), "a%2Fb%20c~");
    // AWS's SigV2 example (GET /photos/puppy.jpg on awsexamplebucket1).
    let to_sign = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg";
    assert_eq!(
        sigv2_signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", to_sign),
        "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
    );
}

// ---- raw requests ----

/// An access key.
#[derive(Clone)]
struct Keys {
    access: String,
    secret: String,
}

impl Keys {
    fn of(devnet: &Devnet) -> Self {
        Self {
            access: devnet.info["access_key"].as_str().unwrap().to_owned(),
            secret: devnet.info["secret_key"].as_str().unwrap().to_owned(),
        }
    }
}

/// A request built and signed by hand.
#[derive(Clone)]
struct Raw {
    method: String,
    /// The path as sent (already percent-encoded).
    path: String,
    /// The query as sent (already encoded), without `?`.
    query: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_lowercase(), value.to_owned()));
        self
    }

    fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// The request head; `close` asks the server to close afterwards.
    fn head(&self, host: &str, close: bool) -> Vec<u8> {
        let target = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        let mut head = format!("{} {target} HTTP/1.1\r\nhost: {host}\r\n", self.method);
        for (n, v) in &self.headers {
            if n != "host" {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
        }
        head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        if close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// Signs with SigV2 in the `Authorization` header (the string to sign
    /// as AWS defines it: the Date line is empty when x-amz-date is sent).
    fn sign_v2(mut self, keys: &Keys) -> Self {
        let get = |name: &str| {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut amz: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-amz-"))
            .cloned()
            .collect();
        amz.sort();
        let date = if amz.iter().any(|(n, _)| n == "x-amz-date") {
            String::new()
        } else {
            get("date")
        };
        let mut to_sign = format!(
            "{}\n{}\n{}\n{date}\n",
            self.method,
            get("content-md5"),
            get("content-type")
        );
        for (n, v) in &amz {
            to_sign.push_str(&format!("{n}:{}\n", v.trim()));
        }
        to_sign.push_str(&self.path);
        let signature = sigv2_signature(&keys.secret, &to_sign);
        self.set_header("authorization", &format!("AWS {}:{signature}", keys.access));
        self
    }

    /// Presigns with SigV2 (query parameters), expiring at `expires`.
    fn presign_v2(mut self, keys: &Keys, expires: i64) -> Self {
        let to_sign = format!("{}\n\n\n{expires}\n{}", self.method, self.path);
        let signature = sigv2_signature(&keys.secret, &to_sign);
        self.query = format!(
            "AWSAccessKeyId={}&Expires={expires}&Signature={}",
            keys.access,
            uri_encode(&signature)
        );
        self
    }

    /// Signs with SigV4 in the `Authorization` header, dated `at`, over
    /// every header set so far (and host); the body is UNSIGNED-PAYLOAD.
    fn sign_v4(mut self, keys: &Keys, host: &str, at: i64) -> Self {
        let stamp = amz_date(at);
        self.set_header("x-amz-date", &stamp);
        self.set_header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        let mut headers = self.headers.clone();
        headers.push(("host".into(), host.to_owned()));
        headers.sort();
        let signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        let signed = signed.join(";");
        let canonical_headers: String = headers
            .iter()
            .map(|(n, v)| format!("{n}:{}\n", v.trim()))
            .collect();
        let canonical = format!(
            "{}\n{}\n{}\n{canonical_headers}\n{signed}\nUNSIGNED-PAYLOAD",
            self.method, self.path, self.query
        );
        let (scope, signature) = sigv4_signature(keys, &stamp, &canonical);
        self.set_header(
            "authorization",
            &format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, \
                 Signature={signature}",
                keys.access
            ),
        );
        self
    }

    /// Presigns with SigV4 (query parameters), dated `at`, with
    /// `X-Amz-Expires` as given.
    fn presign_v4(mut self, keys: &Keys, host: &str, at: i64, expires: &str) -> Self {
        let stamp = amz_date(at);
        let scope = format!("{}/us-east-1/s3/aws4_request", &stamp[..8]);
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={stamp}\
             &X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
            uri_encode(&format!("{}/{scope}", keys.access))
        );
        let canonical = format!(
            "{}\n{}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD",
            self.method, self.path
        );
        let (_, signature) = sigv4_signature(keys, &stamp, &canonical);
        self.query = format!("{query}&X-Amz-Signature={signature}");
        self
    }
}

fn sigv2_signature(secret: &str, to_sign: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    b64(ring::hmac::sign(&key, to_sign.as_bytes()).as_ref())
}

/// The credential scope and SigV4 signature of `canonical`.
fn sigv4_signature(keys: &Keys, stamp: &str, canonical: &str) -> (String, String) {
    let day = &stamp[..8];
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac256(format!("AWS4{}", keys.secret).as_bytes(), day);
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac256(&key, part);
    }
    (scope, hex(&hmac256(&key, &to_sign)))
}

impl RawResponse {
    /// The S3 error code of an XML error body.
    fn code(&self) -> String {
        let text = self.text();
        let start = text.find("<Code>").map(|i| i + 6);
        let end = text.find("</Code>");
        match (start, end) {
            (Some(s), Some(e)) if s <= e => text[s..e].to_owned(),
            _ => String::new(),
        }
    }

    /// (status, S3 error code).
    fn outcome(&self) -> (u16, String) {
        (self.status, self.code())
    }
}

/// Sends `raw` over a fresh plain-TCP connection and reads the response.
fn send(addr: &str, raw: &Raw) -> RawResponse {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(&raw.head(addr, true)).unwrap();
    stream.write_all(&raw.body).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    RawResponse::parse(&out)
}

fn sdk_code<E: ProvideErrorMetadata>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (u16, String) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (status, e.code().unwrap_or_default().to_owned())
}

fn endpoint_addr(devnet: &Devnet) -> String {
    let endpoint = devnet.info["s3_endpoint"].as_str().unwrap();
    endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned()
}

/// The gateway's metric `name` (a counter or gauge, summed over labels
/// matching `label`).
fn gateway_metric(devnet: &Devnet, name: &str, label: &str) -> f64 {
    let url = devnet.info["gateway"]["metrics"].as_str().unwrap();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    common::metrics_text(addr)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split([' ', '{']).next() == Some(name) && (label.is_empty() || l.contains(label))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Open descriptors of the gateway process.
fn gateway_fds(devnet: &Devnet) -> usize {
    let pid = devnet.info["gateway"]["pid"].as_u64().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

// ---- signatures, authentication and limits (SigV2 off) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_limits_secrets_and_a_connection_flood() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = SMALL_DEVNET.to_vec();
    args.extend([
        "--gateway-arg=--max-connections=2000",
        "--gateway-arg=--header-timeout=3s",
        "--gateway-arg=--idle-timeout=6s",
        "--gateway-arg=--body-timeout=3s",
    ]);
    let devnet = Devnet::start(&dir.path().join("dn"), &args);
    let s3 = devnet.client();
    let keys = Keys::of(&devnet);
    let addr = endpoint_addr(&devnet);
    s3.create_bucket().bucket("edge").send().await.unwrap();
    s3.put_object()
        .bucket("edge")
        .key("k")
        .body(ByteStream::from_static(b"edge data"))
        .send()
        .await
        .unwrap();

    check_sigv2_refused(&addr, &keys);
    check_presigned_v4(&s3, &addr, &keys).await;
    check_bad_signatures(&devnet, &addr, &keys).await;
    check_metadata_limit(&s3).await;
    check_non_ascii_metadata(&s3).await;
    check_chunked_put_needs_a_length(&addr, &keys);
    check_keys(&s3, &addr, &keys).await;
    check_connection_flood(&devnet, &addr).await;
    check_idle_and_body_timeouts(&addr, &keys);

    // Stopped, the metadata file is private and holds no secret in clear.
    let gateway_dir = devnet.gateway_dir();
    drop(devnet);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&gateway_dir.join("meta.redb")), 0o600);
    assert_eq!(mode(&gateway_dir.join("master.key")), 0o600);
    assert_eq!(mode(&gateway_dir), 0o700);
    let file = std::fs::read(gateway_dir.join("meta.redb")).unwrap();
    assert!(
        file.windows(keys.access.len())
            .any(|w| w == keys.access.as_bytes()),
        "the key id is stored"
    );
    assert!(
        !file
            .windows(keys.secret.len())
            .any(|w| w == keys.secret.as_bytes()),
        "the secret is not stored in clear"
    );
    let meta = s3_gateway::open_meta(&gateway_dir).unwrap();
    let master = s3_gateway::keywrap::MasterKey::load(&gateway_dir).unwrap();
    assert_eq!(
        meta.secret_for(&keys.access, &master).await.unwrap(),
        Some(keys.secret.clone())
    );
}

/// SigV2, in the header or presigned, answers AWS's error for an
/// unsupported signature version, even correctly signed and fresh.
fn check_sigv2_refused(addr: &str, keys: &Keys) {
    let refused = (400, "InvalidRequest".to_owned());
    let header = Raw::new("GET", "/edge/k")
        .header("date", &http_date(unix_now()))
        .sign_v2(keys);
    let answer = send(addr, &header);
    assert_eq!(answer.outcome(), refused, "{}", answer.text());
    assert!(
        answer.text().contains("Please use AWS4-HMAC-SHA256"),
        "{}",
        answer.text()
    );
    assert!(answer.header("x-amz-request-id").is_some());
    let presigned = Raw::new("GET", "/edge/k").presign_v2(keys, unix_now() + 300);
    assert_eq!(send(addr, &presigned).outcome(), refused);
    let put = Raw::new("PUT", "/edge/v2")
        .header("date", &http_date(unix_now()))
        .body(b"replayed")
        .sign_v2(keys);
    assert_eq!(send(addr, &put).outcome(), refused);
}

/// Presigned SigV4 URLs: valid for at most a week; an expired one is
/// AccessDenied.
async fn check_presigned_v4(s3: &aws_sdk_s3::Client, addr: &str, keys: &Keys) {
    // The SDK's own presigning, for the longest validity it allows.
    let presigned = s3
        .get_object()
        .bucket("edge")
        .key("k")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(604_800))
                .unwrap(),
        )
        .await
        .unwrap();
    let uri: http::Uri = presigned.uri().parse().unwrap();
    let mut by_sdk = Raw::new("GET", uri.path());
    by_sdk.query = uri.query().unwrap().to_owned();
    let answer = send(addr, &by_sdk);
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &b"edge data"[..])
    );

    let now = unix_now();
    let url =
        |at: i64, expires: &str| Raw::new("GET", "/edge/k").presign_v4(keys, addr, at, expires);
    assert_eq!(send(addr, &url(now, "3600")).status, 200);
    let too_long = (400, "AuthorizationQueryParametersError".to_owned());
    let answer = send(addr, &url(now, "604801"));
    assert_eq!(answer.outcome(), too_long);
    assert!(
        answer
            .text()
            .contains("X-Amz-Expires must be less than a week"),
        "{}",
        answer.text()
    );
    // Signed ten years ago to last 2^32-1 seconds.
    let decade = now - 10 * 365 * 86_400;
    assert_eq!(send(addr, &url(decade, "4294967295")).outcome(), too_long);
    let expired = send(addr, &url(now - 120, "60"));
    assert_eq!(expired.outcome(), (403, "AccessDenied".to_owned()));
    assert!(
        expired.text().contains("Request has expired"),
        "{}",
        expired.text()
    );
}

/// A wrong secret, an unknown key id, and a header changed after signing,
/// each with AWS's status and code.
async fn check_bad_signatures(devnet: &Devnet, addr: &str, keys: &Keys) {
    let client_with = |access: &str, secret: &str| {
        let creds = aws_sdk_s3::config::Credentials::new(access, secret, None, None, "edge-test");
        aws_sdk_s3::Client::from_conf(
            devnet
                .config_for(devnet.info["s3_endpoint"].as_str().unwrap())
                .credentials_provider(creds)
                .force_path_style(true)
                .build(),
        )
    };
    let wrong_secret = client_with(&keys.access, &"x".repeat(40));
    let e = wrong_secret
        .get_object()
        .bucket("edge")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), (403, "SignatureDoesNotMatch".to_owned()));
    let e = wrong_secret
        .put_object()
        .bucket("edge")
        .key("forged")
        .body(ByteStream::from_static(b"no"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), (403, "SignatureDoesNotMatch".to_owned()));
    let unknown = client_with("CANOSUCHKEY000000000", &keys.secret);
    let e = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(sdk_code(e), (403, "InvalidAccessKeyId".to_owned()));

    // Signed over one value of a header, sent with another.
    let signed = Raw::new("PUT", "/edge/tampered")
        .header("x-amz-meta-owner", "alice")
        .body(b"payload")
        .sign_v4(keys, addr, unix_now());
    assert_eq!(
        send(addr, &signed).status,
        200,
        "the untampered request works"
    );
    let mut tampered = signed.clone();
    tampered.set_header("x-amz-meta-owner", "mallory");
    let answer = send(addr, &tampered);
    assert_eq!(answer.outcome(), (403, "SignatureDoesNotMatch".to_owned()));
    // Nor may the signed request be moved to another key.
    let mut moved = signed.clone();
    moved.path = "/edge/elsewhere".into();
    assert_eq!(
        send(addr, &moved).outcome(),
        (403, "SignatureDoesNotMatch".to_owned())
    );
    // SigV4 requests are held to the same 15-minute window.
    let stale = Raw::new("GET", "/edge/k").sign_v4(keys, addr, unix_now() - 16 * 60);
    assert_eq!(
        send(addr, &stale).outcome(),
        (403, "RequestTimeTooSkewed".to_owned())
    );
}

/// More than 2 KB of user metadata is refused where it would be stored.
/// A PUT with `Transfer-Encoding: chunked` and no length (neither
/// Content-Length nor aws-chunked's x-amz-decoded-content-length) answers
/// 411 MissingContentLength, as AWS does, and stores nothing.
fn check_chunked_put_needs_a_length(addr: &str, keys: &Keys) {
    let raw = Raw::new("PUT", "/edge/chunked").sign_v4(keys, addr, unix_now());
    let mut head = format!("PUT /edge/chunked HTTP/1.1\r\nhost: {addr}\r\n");
    for (n, v) in &raw.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"5\r\nhello\r\n0\r\n\r\n").unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    let response = RawResponse::parse(&out);
    assert_eq!(response.outcome(), (411, "MissingContentLength".to_owned()));
    let head = Raw::new("HEAD", "/edge/chunked").sign_v4(keys, addr, unix_now());
    assert_eq!(send(addr, &head).status, 404, "nothing was stored");
}

/// User metadata beyond ASCII is stored as text and returned as AWS
/// documents it ("encoded as per RFC 2047 to make them mail-safe before
/// returning"): one or more `=?UTF-8?B?...?=` words, which decode to what
/// was stored; ASCII values come back as they are.
async fn check_non_ascii_metadata(s3: &aws_sdk_s3::Client) {
    use base64::Engine;
    for value in [
        "Hello World\u{e9}",
        "caf\u{e9} \u{20ac}5 \u{4e2d}\u{6587}",
        "plain",
    ] {
        s3.put_object()
            .bucket("edge")
            .key("meta-text")
            .metadata("note", value)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket("edge")
            .key("meta-text")
            .send()
            .await;
        let got = head.unwrap().metadata().unwrap()["note"].clone();
        if value.is_ascii() {
            assert_eq!(got, value);
            continue;
        }
        let mut bytes = Vec::new();
        for word in got.split_whitespace() {
            let text = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="));
            let text = text.unwrap_or_else(|| panic!("not an encoded word: {got}"));
            let decoded = base64::engine::general_purpose::STANDARD.decode(text);
            bytes.extend(decoded.unwrap());
        }
        assert_eq!(String::from_utf8(bytes).unwrap(), value, "{got}");
    }
}

async fn check_metadata_limit(s3: &aws_sdk_s3::Client) {
    let too_large = (400, "MetadataTooLarge".to_owned());
    // 5 + 2043 = 2048 bytes: the most AWS takes.
    let fits = "v".repeat(2043);
    s3.put_object()
        .bucket("edge")
        .key("meta-fits")
        .metadata("owner", &fits)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("edge")
        .key("meta-fits")
        .send()
        .await
        .unwrap();
    assert_eq!(head.metadata().unwrap()["owner"], fits);
    let big = "v".repeat(2044);
    let e = s3
        .put_object()
        .bucket("edge")
        .key("meta-big")
        .metadata("owner", &big)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), too_large);
    // The 350 KB of the report.
    let huge = "v".repeat(350_000);
    let e = s3
        .put_object()
        .bucket("edge")
        .key("meta-huge")
        .metadata("a", &huge)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), too_large);
    let e = s3
        .head_object()
        .bucket("edge")
        .key("meta-big")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e).0, 404, "nothing was stored");
    let e = s3
        .copy_object()
        .bucket("edge")
        .key("meta-copy")
        .copy_source("edge/k")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("owner", &big)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), too_large);
    // Copying keeps the source's (small enough) metadata.
    s3.copy_object()
        .bucket("edge")
        .key("meta-copy")
        .copy_source("edge/meta-fits")
        .send()
        .await
        .unwrap();
    let e = s3
        .create_multipart_upload()
        .bucket("edge")
        .key("meta-multi")
        .metadata("owner", &big)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), too_large);
    // Many small entries count together.
    let mut many = s3
        .put_object()
        .bucket("edge")
        .key("meta-many")
        .body(ByteStream::from_static(b"x"));
    for i in 0..30 {
        many = many.metadata(format!("k{i:02}"), "v".repeat(80));
    }
    assert_eq!(sdk_code(many.send().await.unwrap_err()), too_large);
}

/// Keys: NUL and other characters XML cannot carry refused, too long
/// refused, a carriage return stored and listed intact.
async fn check_keys(s3: &aws_sdk_s3::Client, addr: &str, keys: &Keys) {
    for bad in ["nul\0key", "bell\u{7}", "\u{1f}unit"] {
        let e = s3
            .put_object()
            .bucket("edge")
            .key(bad)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(sdk_code(e), (400, "InvalidURI".to_owned()), "{bad:?}");
        let e = s3
            .create_multipart_upload()
            .bucket("edge")
            .key(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(sdk_code(e), (400, "InvalidURI".to_owned()), "{bad:?}");
    }
    let e = s3
        .copy_object()
        .bucket("edge")
        .key("copy\0here")
        .copy_source("edge/k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), (400, "InvalidURI".to_owned()));
    // Invalid UTF-8 in the path (raw, since the SDK only sends strings).
    let raw = Raw::new("PUT", "/edge/bad%FFutf8")
        .body(b"x")
        .sign_v4(keys, addr, unix_now());
    assert_eq!(send(addr, &raw).outcome(), (400, "InvalidURI".to_owned()));

    let longest = "k".repeat(1024);
    s3.put_object()
        .bucket("edge")
        .key(&longest)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = s3
        .put_object()
        .bucket("edge")
        .key("k".repeat(1025))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), (400, "KeyTooLongError".to_owned()));
    // Multi-byte characters count as their UTF-8 bytes.
    let e = s3
        .put_object()
        .bucket("edge")
        .key("é".repeat(513))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_code(e), (400, "KeyTooLongError".to_owned()));

    // Tab, line feed and carriage return are keys XML can carry: stored,
    // and listed (without encoding-type) as XML that parses back to them.
    let odd = ["tab\there", "line\nfeed", "carriage\rreturn", "a&b<c>\"'"];
    for key in odd {
        s3.put_object()
            .bucket("edge")
            .key(key)
            .body(ByteStream::from(key.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    let listed = s3.list_objects_v2().bucket("edge").send().await.unwrap();
    let listed: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    for key in odd {
        assert!(listed.contains(&key), "{key:?} not in {listed:?}");
    }
    let v1 = s3.list_objects().bucket("edge").send().await.unwrap();
    assert!(
        v1.contents()
            .iter()
            .any(|o| o.key() == Some("carriage\rreturn"))
    );
    let raw = send(
        addr,
        &Raw::new("GET", "/edge").sign_v4(keys, addr, unix_now()),
    );
    assert_eq!(raw.status, 200);
    assert!(!raw.body.contains(&b'\r'), "no raw carriage return in XML");
    assert!(raw.text().contains("carriage&#13;return"), "{}", raw.text());
    // Listing parameters XML cannot carry need encoding-type=url.
    let mut prefix = Raw::new("GET", "/edge");
    prefix.query = "list-type=2&prefix=nul%00".into();
    let answer = send(addr, &prefix.clone().sign_v4(keys, addr, unix_now()));
    assert_eq!(answer.outcome(), (400, "InvalidArgument".to_owned()));
    prefix.query = "encoding-type=url&list-type=2&prefix=nul%00".into();
    assert_eq!(
        send(addr, &prefix.sign_v4(keys, addr, unix_now())).status,
        200
    );
}

// ---- connection handling ----

/// Flood connections held open by the test: silent ones, and ones that
/// send a request line and then a header line every half second, never
/// finishing the head.
struct Flood {
    streams: Vec<TcpStream>,
    stop: Arc<AtomicBool>,
    drip: Option<std::thread::JoinHandle<()>>,
}

impl Flood {
    fn open(addr: &str, silent: usize, slow: usize) -> Self {
        let mut streams = Vec::with_capacity(silent + slow);
        let mut dripping = Vec::with_capacity(slow);
        for i in 0..silent + slow {
            let mut stream = TcpStream::connect(addr).unwrap();
            if i >= silent {
                let _ = stream.write_all(b"GET /edge/k HTTP/1.1\r\nhost: flood\r\n");
                dripping.push(stream.try_clone().unwrap());
            }
            stream.set_nonblocking(true).unwrap();
            streams.push(stream);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let drip = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                for stream in &mut dripping {
                    let _ = stream.write_all(b"x-slow: 1\r\n");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        Self {
            streams,
            stop,
            drip: Some(drip),
        }
    }

    /// How many of the connections the gateway has closed.
    fn closed(&self) -> usize {
        self.streams.iter().filter(|s| is_closed(s)).count()
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(drip) = self.drip.take() {
            let _ = drip.join();
        }
    }
}

/// Whether the peer has closed `stream` (non-blocking).
fn is_closed(mut stream: &TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Polls `done` until it holds or `within` passes; returns how long it took.
fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if done() {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A signed GET from a fresh client, retried until it succeeds; panics if
/// that takes 5 s or more.
async fn signed_get_within_5s(devnet: &Devnet) -> Duration {
    let s3 = devnet.client();
    let started = Instant::now();
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(2), async {
            let out = s3.get_object().bucket("edge").key("k").send().await?;
            let body = out.body.collect().await.map_err(|e| e.to_string());
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(body?.into_bytes())
        })
        .await;
        if let Ok(Ok(body)) = attempt {
            assert_eq!(&body[..], b"edge data");
            let took = started.elapsed();
            assert!(took < Duration::from_secs(5), "signed GET took {took:?}");
            return took;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no signed GET within 5 s: {attempt:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Descriptors the gateway holds besides S3 connections (the metadata
/// store, listeners, the mesh, logs): about 20 in a small devnet.
const OTHER_FDS: usize = 64;

/// Thousands of idle and slow-header connections: under the cap they are
/// held (and a signed GET is served at once), closed by the header
/// timeout; over the cap the rest are closed as they arrive, the
/// gateway's descriptors stay under the cap, and a signed GET succeeds
/// within 5 s.
async fn check_connection_flood(devnet: &Devnet, addr: &str) {
    let cap = 2000;
    assert_eq!(
        gateway_metric(devnet, "cairn_gateway_s3_connection_cap", ""),
        cap as f64
    );
    let before = gateway_fds(devnet);

    // Under the cap: 1600 connections held open.
    let started = Instant::now();
    let flood = Flood::open(addr, 800, 800);
    eprintln!("1600 connections opened in {:?}", started.elapsed());
    wait_until(
        "the gateway holding the flood",
        Duration::from_secs(5),
        || gateway_metric(devnet, "cairn_gateway_s3_connections", "") >= 1600.0,
    );
    let took = signed_get_within_5s(devnet).await;
    eprintln!("signed GET under a 1600-connection flood: {took:?}");
    let fds = gateway_fds(devnet);
    assert!(
        fds >= 1600 && fds < cap + OTHER_FDS,
        "{fds} descriptors (cap {cap}, {before} before)"
    );
    // The header timeout (3 s) closes all of them, slow or silent.
    let took = wait_until(
        "the flood closed by the header timeout",
        Duration::from_secs(8),
        || flood.closed() == 1600,
    );
    eprintln!("1600 idle and slow-header connections closed after {took:?}");
    drop(flood);
    assert!(gateway_metric(devnet, "cairn_gateway_s3_timeouts_total", "kind=\"header\"") >= 1600.0);

    // Over the cap: 3000 connections; those beyond 2000 are closed at once.
    let refused_before = gateway_metric(devnet, "cairn_gateway_s3_connections_refused_total", "");
    let started = Instant::now();
    let flood = Flood::open(addr, 1500, 1500);
    let opened = started.elapsed();
    // Before any header timeout could have fired (3 s after accepting).
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(opened));
    let closed = flood.closed();
    let fds = gateway_fds(devnet);
    let open = gateway_metric(devnet, "cairn_gateway_s3_connections", "");
    eprintln!(
        "3000-connection flood opened in {opened:?}: {closed} closed at once, {fds} descriptors, \
         {open} open"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "the flood took too long to open to tell refusals from timeouts"
    );
    assert!(closed >= 1000 - 10, "{closed} closed at once");
    assert!(open <= cap as f64, "{open} open");
    assert!(
        fds < cap + OTHER_FDS,
        "{fds} descriptors (cap {cap}, {before} before)"
    );
    assert!(
        gateway_metric(devnet, "cairn_gateway_s3_connections_refused_total", "") - refused_before
            >= 990.0
    );
    let took = signed_get_within_5s(devnet).await;
    eprintln!("signed GET under a 3000-connection flood: {took:?}");
    wait_until("the second flood closed", Duration::from_secs(8), || {
        flood.closed() == 3000
    });
    drop(flood);
    wait_until("descriptors back", Duration::from_secs(5), || {
        gateway_fds(devnet) <= before + 20
    });
}

/// An idle keep-alive connection lasts the idle timeout (not the header
/// timeout); a request body that stops arriving fails the request.
fn check_idle_and_body_timeouts(addr: &str, keys: &Keys) {
    // One request on a keep-alive connection, then silence.
    let mut stream = TcpStream::connect(addr).unwrap();
    let get = Raw::new("GET", "/edge/k").sign_v4(keys, addr, unix_now());
    stream.write_all(&get.head(addr, false)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !response.ends_with(b"edge data") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the response");
        response.extend_from_slice(&buf[..n]);
    }
    assert!(response.starts_with(b"HTTP/1.1 200"));
    stream.set_nonblocking(true).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !is_closed(&stream),
        "closed after 4 s idle (idle timeout is 6 s)"
    );
    let took = 4.0
        + wait_until("the idle connection closed", Duration::from_secs(6), || {
            is_closed(&stream)
        })
        .as_secs_f64();
    assert!((5.5..10.0).contains(&took), "closed after {took} s idle");

    // A PUT declaring 1000 bytes that sends 10, then nothing.
    let mut put = Raw::new("PUT", "/edge/stalled").sign_v4(keys, addr, unix_now());
    put.body = vec![b'x'; 1000];
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&put.head(addr, true)).unwrap();
    stream.write_all(&put.body[..10]).unwrap();
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let took = started.elapsed();
    let answer = RawResponse::parse(&raw);
    assert_eq!(
        answer.outcome(),
        (400, "IncompleteBody".to_owned()),
        "{}",
        answer.text()
    );
    assert!(
        (Duration::from_millis(2500)..Duration::from_secs(10)).contains(&took),
        "answered after {took:?}"
    );
}

// ---- SigV2 allowed, over TLS ----

/// A TLS client trusting `cert_pem`, offering `alpn`.
fn tls_connector(cert_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Sends `raw` over a fresh TLS connection and reads the response.
async fn send_tls(addr: &str, connector: &tokio_rustls::TlsConnector, raw: &Raw) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(&raw.head(addr, true)).await.unwrap();
    tls.write_all(&raw.body).await.unwrap();
    let mut out = Vec::new();
    // A peer closing without close_notify is the end of the response too.
    let _ = tokio::time::timeout(Duration::from_secs(60), tls.read_to_end(&mut out)).await;
    RawResponse::parse(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv2_allowed_within_its_window_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let cert_file = dir.path().join("gateway.crt");
    let key_file = dir.path().join("gateway.key");
    std::fs::write(&cert_file, &cert_pem).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let flags = [
        format!("--gateway-arg=--tls-cert={}", cert_file.display()),
        format!("--gateway-arg=--tls-key={}", key_file.display()),
        "--gateway-arg=--allow-sigv2".to_owned(),
        "--gateway-arg=--header-timeout=3s".to_owned(),
    ];
    let mut args = SMALL_DEVNET.to_vec();
    args.extend(flags.iter().map(String::as_str));
    let devnet = Devnet::start(&dir.path().join("dn"), &args);
    let addr = endpoint_addr(&devnet);
    let keys = Keys::of(&devnet);
    let h1 = tls_connector(&cert_pem, &[b"http/1.1"]);

    // Quiet TLS connections, h2 and HTTP/1.1, and a TCP connection that
    // never starts the handshake are all closed.
    let quiet = {
        let addr = addr.clone();
        let cert_pem = cert_pem.clone();
        tokio::spawn(async move { quiet_tls_connections_close(&addr, &cert_pem).await })
    };

    // A bucket and an object, through SigV2 itself.
    let create = Raw::new("PUT", "/old")
        .header("date", &http_date(unix_now()))
        .sign_v2(&keys);
    assert_eq!(send_tls(&addr, &h1, &create).await.status, 200);
    let put = Raw::new("PUT", "/old/obj")
        .header("date", &http_date(unix_now()))
        .header("content-type", "text/plain")
        .body(b"signed the old way")
        .sign_v2(&keys);
    let answer = send_tls(&addr, &h1, &put).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let get = |date: String| {
        Raw::new("GET", "/old/obj")
            .header("date", &date)
            .sign_v2(&keys)
    };
    let answer = send_tls(&addr, &h1, &get(http_date(unix_now()))).await;
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (200, "signed the old way")
    );
    // x-amz-date, when sent, is the date the signature covers.
    let amz = Raw::new("GET", "/old/obj")
        .header("x-amz-date", &http_date(unix_now()))
        .sign_v2(&keys);
    assert_eq!(send_tls(&addr, &h1, &amz).await.status, 200);

    // Dated in 2000, in 2100, or 16 minutes off: refused however well signed.
    let skewed = (403, "RequestTimeTooSkewed".to_owned());
    for date in [
        "Sat, 01 Jan 2000 00:00:00 GMT".to_owned(),
        "Fri, 01 Jan 2100 00:00:00 GMT".to_owned(),
        http_date(unix_now() - 16 * 60),
        http_date(unix_now() + 16 * 60),
    ] {
        assert_eq!(
            send_tls(&addr, &h1, &get(date.clone())).await.outcome(),
            skewed,
            "{date}"
        );
    }
    // A captured PUT replayed years later with another body.
    let replay = Raw::new("PUT", "/old/obj")
        .header("date", "Sat, 01 Jan 2000 00:00:00 GMT")
        .body(b"replayed")
        .sign_v2(&keys);
    assert_eq!(send_tls(&addr, &h1, &replay).await.outcome(), skewed);
    let delete = Raw::new("DELETE", "/old/obj")
        .header("date", "Fri, 01 Jan 2100 00:00:00 GMT")
        .sign_v2(&keys);
    assert_eq!(send_tls(&addr, &h1, &delete).await.outcome(), skewed);
    let no_date = Raw::new("GET", "/old/obj").sign_v2(&keys);
    assert_eq!(
        send_tls(&addr, &h1, &no_date).await.outcome(),
        (403, "AccessDenied".to_owned())
    );
    let wrong = Keys {
        secret: "y".repeat(40),
        ..keys.clone()
    };
    let forged = Raw::new("GET", "/old/obj")
        .header("date", &http_date(unix_now()))
        .sign_v2(&wrong);
    assert_eq!(
        send_tls(&addr, &h1, &forged).await.outcome(),
        (403, "SignatureDoesNotMatch".to_owned())
    );

    // Presigned SigV2: in the future, at most a week ahead.
    let url = |expires: i64| Raw::new("GET", "/old/obj").presign_v2(&keys, expires);
    let answer = send_tls(&addr, &h1, &url(unix_now() + 300)).await;
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (200, "signed the old way")
    );
    let expired = send_tls(&addr, &h1, &url(unix_now() - 10)).await;
    assert_eq!(expired.outcome(), (403, "AccessDenied".to_owned()));
    assert!(expired.text().contains("Request has expired"));
    assert_eq!(
        send_tls(&addr, &h1, &url(unix_now() + 8 * 86_400))
            .await
            .outcome(),
        (400, "AuthorizationQueryParametersError".to_owned())
    );
    assert_eq!(
        send_tls(&addr, &h1, &url(4_102_444_800)).await.outcome(),
        (400, "AuthorizationQueryParametersError".to_owned())
    );

    quiet.await.unwrap();
}

/// Connections that complete TLS (offering h2, or HTTP/1.1) and send
/// nothing are closed by the header timeout (3 s here); one that never
/// starts the handshake, by the handshake's 10 s.
async fn quiet_tls_connections_close(addr: &str, cert_pem: &str) {
    use tokio::io::AsyncReadExt;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut handshaken = Vec::new();
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let connector = tls_connector(cert_pem, &[alpn]);
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = connector.connect(name.clone(), tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        handshaken.push(tls);
    }
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    for mut tls in handshaken {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a quiet TLS connection still open after 10 s");
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(7),
        "quiet TLS connections closed after {took:?}"
    );
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), silent.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "a connection without a handshake still open after 15 s"
    );
}
