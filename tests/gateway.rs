//! The S3 gateway end to end: a real devnet (six `cairn node` processes and a
//! `cairn gateway`), driven with the `aws-sdk-s3` crate.

mod common;

use common::raw_http::{RawResponse, exchange};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::bytes;
use common::devnet::Devnet;

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

fn code<E: ProvideErrorMetadata>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (String, u16) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (e.code().unwrap_or_default().to_owned(), status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_operations_through_the_mesh() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("dn"), &[]);
    let s3 = devnet.client();

    // Buckets.
    s3.create_bucket().bucket("photos").send().await.unwrap();
    s3.head_bucket().bucket("photos").send().await.unwrap();
    // Creating a bucket one already owns: 200 in us-east-1 (AWS's legacy
    // answer there), BucketAlreadyOwnedByYou in any other region.
    s3.create_bucket().bucket("photos").send().await.unwrap();
    let elsewhere = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    s3.create_bucket()
        .bucket("photos-eu")
        .create_bucket_configuration(elsewhere.clone())
        .send()
        .await
        .unwrap();
    let again = s3
        .create_bucket()
        .bucket("photos-eu")
        .create_bucket_configuration(elsewhere)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(again), ("BucketAlreadyOwnedByYou".into(), 409));
    s3.delete_bucket().bucket("photos-eu").send().await.unwrap();
    let bad = s3
        .create_bucket()
        .bucket("Bad_Name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(bad).0, "InvalidBucketName");
    let missing = s3.head_bucket().bucket("nope").send().await.unwrap_err();
    assert_eq!(code(missing).1, 404);
    let listed = s3.list_buckets().send().await.unwrap();
    assert_eq!(listed.buckets().len(), 1);
    assert_eq!(listed.buckets()[0].name(), Some("photos"));

    // A small object (replicated) with metadata; a 20 MiB one (erasure-coded
    // over three segments).
    let small = b"hello, mesh".to_vec();
    let put = s3
        .put_object()
        .bucket("photos")
        .key("notes/hello.txt")
        .content_type("text/plain")
        .metadata("origin", "test")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.e_tag(),
        Some(format!("\"{}\"", md5_hex(&small)).as_str())
    );
    let big = bytes(20 << 20, 7);
    s3.put_object()
        .bucket("photos")
        .key("big.bin")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&s3, "photos", "notes/hello.txt").await, small);
    assert!(
        get(&s3, "photos", "big.bin").await == big,
        "20 MiB object differs"
    );

    let head = s3
        .head_object()
        .bucket("photos")
        .key("notes/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(small.len() as i64));
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("test")
    );

    // Ranges: closed, suffix, across a segment boundary, unsatisfiable.
    let range = s3
        .get_object()
        .bucket("photos")
        .key("big.bin")
        .range("bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(range.content_range(), Some("bytes 100-199/20971520"));
    let body = range.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], &big[100..200]);
    let boundary = (8 << 20) - 10;
    let across = s3
        .get_object()
        .bucket("photos")
        .key("big.bin")
        .range(format!("bytes={boundary}-{}", boundary + 19))
        .send()
        .await
        .unwrap();
    let body = across.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], &big[boundary..boundary + 20]);
    let suffix = s3
        .get_object()
        .bucket("photos")
        .key("big.bin")
        .range("bytes=-10")
        .send()
        .await
        .unwrap();
    let body = suffix.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], &big[big.len() - 10..]);
    let invalid = s3
        .get_object()
        .bucket("photos")
        .key("notes/hello.txt")
        .range("bytes=500-600")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(invalid), ("InvalidRange".into(), 416));

    // Listing with prefix, delimiter and pagination.
    for key in ["a/1", "a/2", "b/1", "c"] {
        s3.put_object()
            .bucket("photos")
            .key(key)
            .body(ByteStream::from(key.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    let listing = s3
        .list_objects_v2()
        .bucket("photos")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = listing
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["a/", "b/", "notes/"]);
    let keys: Vec<_> = listing.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["big.bin", "c"]);
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("photos")
            .max_keys(2)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        all.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
    }
    assert_eq!(
        all,
        ["a/1", "a/2", "b/1", "big.bin", "c", "notes/hello.txt"]
    );

    // Multipart: 5 MiB + 1 MiB parts; ETag is md5-of-md5s-2.
    let part1 = bytes(5 << 20, 1);
    let part2 = bytes(1 << 20, 2);
    let upload = s3
        .create_multipart_upload()
        .bucket("photos")
        .key("multi")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut etags = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let out = s3
            .upload_part()
            .bucket("photos")
            .key("multi")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_owned());
    }
    let parts = |order: [i32; 2]| {
        CompletedMultipartUpload::builder()
            .set_parts(Some(
                order
                    .iter()
                    .map(|&n| {
                        CompletedPart::builder()
                            .part_number(n)
                            .e_tag(etags[n as usize - 1].clone())
                            .build()
                    })
                    .collect(),
            ))
            .build()
    };
    let wrong = s3
        .complete_multipart_upload()
        .bucket("photos")
        .key("multi")
        .upload_id(id)
        .multipart_upload(parts([2, 1]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(wrong).0, "InvalidPartOrder");
    let done = s3
        .complete_multipart_upload()
        .bucket("photos")
        .key("multi")
        .upload_id(id)
        .multipart_upload(parts([1, 2]))
        .send()
        .await
        .unwrap();
    assert!(
        done.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    // Sent again after it succeeded (a client retrying after a time-out):
    // the same success, as AWS answers; other parts are NoSuchUpload.
    let again = s3
        .complete_multipart_upload()
        .bucket("photos")
        .key("multi")
        .upload_id(id)
        .multipart_upload(parts([1, 2]))
        .send()
        .await
        .unwrap();
    assert_eq!(again.e_tag(), done.e_tag());
    let other = s3
        .complete_multipart_upload()
        .bucket("photos")
        .key("multi")
        .upload_id(id)
        .multipart_upload(parts([2, 1]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(other), ("NoSuchUpload".into(), 404));
    // A list of content codings comes back as it was sent.
    s3.put_object()
        .bucket("photos")
        .key("encoded")
        .content_encoding("deflate, gzip")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("photos")
        .key("encoded")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_encoding(), Some("deflate, gzip"));
    assert!(get(&s3, "photos", "multi").await == [part1.clone(), part2.clone()].concat());

    // One part by number (206, Content-Range, parts count), by GET and
    // HEAD; a part it does not have is 400 InvalidPartNumber; a part
    // number with a Range is InvalidRequest.
    let second = s3
        .get_object()
        .bucket("photos")
        .key("multi")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(second.parts_count(), Some(2));
    assert_eq!(
        second.content_range(),
        Some(format!("bytes {}-{}/{}", 5 << 20, (6 << 20) - 1, 6 << 20).as_str())
    );
    assert!(second.e_tag().unwrap().ends_with("-2\""));
    assert!(second.body.collect().await.unwrap().into_bytes() == part2);
    let head = s3
        .head_object()
        .bucket("photos")
        .key("multi")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (head.content_length(), head.parts_count()),
        (Some(5 << 20), Some(2))
    );
    let missing = s3
        .get_object()
        .bucket("photos")
        .key("multi")
        .part_number(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(missing), ("InvalidPartNumber".into(), 400));
    let both = s3
        .get_object()
        .bucket("photos")
        .key("multi")
        .part_number(1)
        .range("bytes=0-9")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(both).0, "InvalidRequest");
    // An object uploaded in one piece is its own part 1, and has no other.
    let whole = s3
        .get_object()
        .bucket("photos")
        .key("notes/hello.txt")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(whole.parts_count(), None);
    assert!(whole.content_range().unwrap().starts_with("bytes 0-"));
    let none = s3
        .get_object()
        .bucket("photos")
        .key("notes/hello.txt")
        .part_number(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(none), ("InvalidPartNumber".into(), 400));

    // HEAD with a Range answers like the GET would, without the body.
    let head = s3
        .head_object()
        .bucket("photos")
        .key("multi")
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(10));
    assert_eq!(
        head.content_range(),
        Some(format!("bytes 10-19/{}", 6 << 20).as_str())
    );

    // response-* parameters replace the stored headers in one response.
    let over = s3
        .get_object()
        .bucket("photos")
        .key("notes/hello.txt")
        .response_content_type("application/x-test")
        .response_content_disposition("attachment; filename=\"h.txt\"")
        .response_cache_control("no-store")
        .response_content_language("de")
        .send()
        .await
        .unwrap();
    assert_eq!(over.content_type(), Some("application/x-test"));
    assert_eq!(
        over.content_disposition(),
        Some("attachment; filename=\"h.txt\"")
    );
    assert_eq!(over.cache_control(), Some("no-store"));
    assert_eq!(over.content_language(), Some("de"));

    // Copy: same bucket keeping metadata, across buckets replacing it; a
    // multi-segment object; copying onto itself unchanged is refused.
    s3.create_bucket().bucket("archive").send().await.unwrap();
    s3.copy_object()
        .bucket("photos")
        .key("notes/copy.txt")
        .copy_source("photos/notes/hello.txt")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("photos")
        .key("notes/copy.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("test")
    );
    let copied = s3
        .copy_object()
        .bucket("archive")
        .key("big-copy")
        .copy_source("photos/big.bin")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("copied", "yes")
        .send()
        .await
        .unwrap();
    let copy_etag = copied.copy_object_result().and_then(|r| r.e_tag()).unwrap();
    assert_eq!(copy_etag, format!("\"{}\"", md5_hex(&big)));
    assert!(
        get(&s3, "archive", "big-copy").await == big,
        "copied object differs"
    );
    let onto_itself = s3
        .copy_object()
        .bucket("photos")
        .key("c")
        .copy_source("photos/c")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(onto_itself).0, "InvalidRequest");

    // Every object is its only version ("null") until versioning exists.
    let versions = s3
        .list_object_versions()
        .bucket("photos")
        .prefix("a/")
        .send()
        .await
        .unwrap();
    let listed: Vec<_> = versions
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap(), v.is_latest()))
        .collect();
    assert_eq!(
        listed,
        [("a/1", "null", Some(true)), ("a/2", "null", Some(true))]
    );

    // Batch delete, including a key that does not exist.
    let batch = aws_sdk_s3::types::Delete::builder()
        .set_objects(Some(
            ["a/1", "a/2", "missing"]
                .iter()
                .map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(*k)
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .build()
        .unwrap();
    let out = s3
        .delete_objects()
        .bucket("photos")
        .delete(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 3);
    let left = s3
        .list_objects_v2()
        .bucket("photos")
        .prefix("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(left.key_count(), Some(0));
    // An empty delimiter is not echoed; objects' owner (the bucket's) only
    // with fetch-owner in v2, always in v1.
    let v2 = s3
        .list_objects_v2()
        .bucket("photos")
        .delimiter("")
        .send()
        .await
        .unwrap();
    assert_eq!(v2.delimiter(), None);
    assert!(v2.contents().iter().all(|o| o.owner().is_none()));
    let owned = s3
        .list_objects_v2()
        .bucket("photos")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let me = devnet.info["access_key"].as_str().unwrap();
    assert!(!owned.contents().is_empty());
    for object in owned.contents() {
        assert_eq!(object.owner().and_then(|o| o.id()), Some(me));
    }
    let v1 = s3.list_objects().bucket("photos").send().await.unwrap();
    assert!(
        v1.contents()
            .iter()
            .all(|o| o.owner().and_then(|o| o.id()) == Some(me))
    );

    // Deletes.
    let busy = s3
        .delete_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(busy), ("BucketNotEmpty".into(), 409));
    s3.delete_object()
        .bucket("photos")
        .key("c")
        .send()
        .await
        .unwrap();
    let gone = s3
        .get_object()
        .bucket("photos")
        .key("c")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(gone), ("NoSuchKey".into(), 404));
    // A bucket holding only an unfinished multipart upload is deleted, the
    // upload with it (as on AWS).
    s3.create_bucket()
        .bucket("uploads-only")
        .send()
        .await
        .unwrap();
    let pending = s3
        .create_multipart_upload()
        .bucket("uploads-only")
        .key("half")
        .send()
        .await
        .unwrap();
    let pending_id = pending.upload_id().unwrap();
    s3.upload_part()
        .bucket("uploads-only")
        .key("half")
        .upload_id(pending_id)
        .part_number(1)
        .body(ByteStream::from_static(b"never finished"))
        .send()
        .await
        .unwrap();
    s3.delete_bucket()
        .bucket("uploads-only")
        .send()
        .await
        .unwrap();
    let head = s3.head_bucket().bucket("uploads-only").send().await;
    assert_eq!(
        head.unwrap_err().raw_response().unwrap().status().as_u16(),
        404
    );
    // Unsigned requests are refused, with a request id in the header and the
    // same one in the error body.
    let endpoint = devnet.info["s3_endpoint"].as_str().unwrap().to_owned();
    let anonymous = std::process::Command::new("curl")
        .args(["-s", "-i"])
        .arg(format!("{endpoint}/photos/notes/hello.txt"))
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&anonymous.stdout).to_string();
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-request-id: "))
        .expect("an x-amz-request-id header")
        .trim()
        .to_owned();
    assert!(
        text.contains(&format!("<RequestId>{id}</RequestId>")),
        "{text}"
    );
    // `cairn bench` drives the same endpoint and reports what it did.
    let bench = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "bench",
            "--op",
            "mixed",
            "--size",
            "4KiB",
            "--concurrency",
            "4",
        ])
        .args(["--duration", "1s", "--json", "--endpoint", &endpoint])
        .args(["--access-key", devnet.info["access_key"].as_str().unwrap()])
        .args(["--secret-key", devnet.info["secret_key"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    for result in report["results"].as_array().unwrap() {
        assert!(result["requests"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(result["errors"], 0, "{report}");
        assert!(result["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    }
    // Successful responses carry one too.
    use aws_sdk_s3::operation::RequestId;
    let ok = s3.head_bucket().bucket("photos").send().await.unwrap();
    assert!(ok.request_id().is_some_and(|r| !r.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_survive_two_killed_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("dn"), &[]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("keep").send().await.unwrap();
    let sizes = [0usize, 1, 5000, 16 << 10, 100_000, 3 << 20, 9 << 20];
    let mut objects = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let data = bytes(*size, 100 + i as u64);
        let key = format!("obj-{i}");
        s3.put_object()
            .bucket("keep")
            .key(&key)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        objects.push((key, data));
    }
    devnet.kill_node(1);
    devnet.kill_node(4);
    for (key, data) in &objects {
        assert!(
            get(&s3, "keep", key).await == *data,
            "{key} differs after losing 2 nodes"
        );
    }
    // At start the gateway logged its durability estimate for the six
    // nodes in three regions it found.
    let log = dir.path().join("dn").join("gateway.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("durability estimate: 4+2 on 6 nodes in 3 regions") {
            assert!(text.contains("nines per segment"), "{text}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no durability estimate in the gateway log:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

// ---- conditional requests, UploadPartCopy, checksums ----

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType};

type SdkErr<E> = aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

/// Code, status and message of a failed request.
fn failure<E: ProvideErrorMetadata>(e: SdkErr<E>) -> (String, u16, String) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let message = e.message().unwrap_or_default().to_owned();
    (e.code().unwrap_or_default().to_owned(), status, message)
}

/// A conditional GET: the body, or the status and code it failed with.
async fn get_if(
    s3: &aws_sdk_s3::Client,
    key: &str,
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    if_modified_since: Option<i64>,
    if_unmodified_since: Option<i64>,
) -> Result<Vec<u8>, (u16, String)> {
    let sent = s3
        .get_object()
        .bucket("cond")
        .key(key)
        .set_if_match(if_match.map(str::to_owned))
        .set_if_none_match(if_none_match.map(str::to_owned))
        .set_if_modified_since(if_modified_since.map(DateTime::from_secs))
        .set_if_unmodified_since(if_unmodified_since.map(DateTime::from_secs))
        .send()
        .await;
    match sent {
        Ok(out) => Ok(out.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            Err((status, e.code().unwrap_or_default().to_owned()))
        }
    }
}

/// Status and code of a CopyObject (or UploadPartCopy) result.
fn outcome<T, E: ProvideErrorMetadata>(r: Result<T, SdkErr<E>>) -> (u16, String) {
    match r {
        Ok(_) => (200, String::new()),
        Err(e) => {
            let (code, status, _) = failure(e);
            (status, code)
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_requests_and_part_copies() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("dn"), &[]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("cond").send().await.unwrap();

    // AWS's message for an invalid name, even when s3s raises the error.
    let (code, status, message) = failure(
        s3.create_bucket()
            .bucket("Bad_Name")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code.as_str(), status, message.as_str()),
        (
            "InvalidBucketName",
            400,
            "The specified bucket is not valid."
        )
    );
    let (code, _, message) = failure(
        s3.get_object()
            .bucket("cond")
            .key("absent")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("NoSuchKey", "The specified key does not exist.")
    );

    // ---- GET and HEAD preconditions ----
    let data = b"conditional body".to_vec();
    let expires = DateTime::from_secs(1_900_000_000);
    let put = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .expires(expires)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let tag = put.e_tag().unwrap().to_owned();
    let bare = tag.trim_matches('"').to_owned();
    let head = s3
        .head_object()
        .bucket("cond")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(head.expires_string(), Some("Sun, 17 Mar 2030 17:46:40 GMT"));
    let at = head.last_modified().unwrap().secs();
    let (past, future) = (at - 86_400, unix_now() + 86_400);
    let ok = Ok(data.clone());
    let modified = Err((304, String::new()));
    let failed = Err((412, "PreconditionFailed".to_owned()));
    type Expected = Result<Vec<u8>, (u16, String)>;
    let cases: Vec<(_, _, _, _, &Expected)> = vec![
        (Some(tag.as_str()), None, None, None, &ok),
        (Some(bare.as_str()), None, None, None, &ok),
        (Some("*"), None, None, None, &ok),
        (Some("\"0123\""), None, None, None, &failed),
        (None, Some(tag.as_str()), None, None, &modified),
        (None, Some(bare.as_str()), None, None, &modified),
        (None, Some("*"), None, None, &modified),
        (None, Some("\"0123\""), None, None, &ok),
        (None, None, Some(past), None, &ok),
        (None, None, Some(at), None, &modified),
        // A date in the future is not a valid validator: ignored.
        (None, None, Some(future), None, &ok),
        (None, None, None, Some(past), &failed),
        (None, None, None, Some(at), &ok),
        // AWS: If-Match true and If-Unmodified-Since false is 200 ...
        (Some(tag.as_str()), None, None, Some(past), &ok),
        // ... If-None-Match false and If-Modified-Since true is 304.
        (None, Some(tag.as_str()), Some(past), None, &modified),
        (
            Some("\"0123\""),
            Some("\"0123\""),
            Some(past),
            None,
            &failed,
        ),
        (
            Some(tag.as_str()),
            Some(tag.as_str()),
            None,
            None,
            &modified,
        ),
    ];
    for (i, (im, inm, ims, ius, expected)) in cases.into_iter().enumerate() {
        let got = get_if(&s3, "k", im, inm, ims, ius).await;
        // The SDK has no code for an empty 304; compare the status only.
        let got = got.map_err(|(s, c)| (s, if s == 304 { String::new() } else { c }));
        assert_eq!(&got, expected, "case {i}: {im:?} {inm:?} {ims:?} {ius:?}");
    }
    // A range with a condition that holds.
    let ranged = s3
        .get_object()
        .bucket("cond")
        .key("k")
        .if_match(&tag)
        .range("bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &ranged.body.collect().await.unwrap().into_bytes()[..],
        &data[..4]
    );
    // HEAD: the same verdicts (no bodies either way).
    let head_if = |im: Option<&str>, inm: Option<&str>| {
        s3.head_object()
            .bucket("cond")
            .key("k")
            .set_if_match(im.map(str::to_owned))
            .set_if_none_match(inm.map(str::to_owned))
            .send()
    };
    assert_eq!(outcome(head_if(Some(&tag), None).await).0, 200);
    assert_eq!(outcome(head_if(None, Some(&tag)).await).0, 304);
    assert_eq!(outcome(head_if(Some("\"0123\""), None).await).0, 412);
    // A 304 on the wire: validators, no body, no content type.
    let raw = raw_request(
        &devnet,
        "GET",
        "/cond/k",
        &[("if-none-match", tag.clone())],
        "UNSIGNED-PAYLOAD",
        b"",
    );
    assert_eq!(raw.status, 304, "{raw:?}");
    assert!(raw.body.is_empty(), "{raw:?}");
    assert_eq!(raw.header("etag"), Some(tag.as_str()));
    assert!(raw.header("last-modified").is_some(), "{raw:?}");
    assert!(raw.header("content-type").is_none(), "{raw:?}");
    assert!(raw.header("x-amz-request-id").is_some(), "{raw:?}");

    // ---- conditional writes ----
    let put_if = |key: &str, im: Option<&str>, inm: Option<&str>, body: &[u8]| {
        s3.put_object()
            .bucket("cond")
            .key(key)
            .set_if_match(im.map(str::to_owned))
            .set_if_none_match(inm.map(str::to_owned))
            .body(ByteStream::from(body.to_vec()))
            .send()
    };
    assert_eq!(
        outcome(put_if("fresh", None, Some("*"), b"one").await).0,
        200
    );
    assert_eq!(
        outcome(put_if("fresh", None, Some("*"), b"two").await),
        (412, "PreconditionFailed".into())
    );
    assert_eq!(get(&s3, "cond", "fresh").await, b"one");
    let replaced = put_if("k", Some(&tag), None, b"replaced").await.unwrap();
    let new_tag = replaced.e_tag().unwrap().to_owned();
    assert_ne!(new_tag, tag);
    assert_eq!(
        outcome(put_if("k", Some(&tag), None, b"stale").await),
        (412, "PreconditionFailed".into())
    );
    assert_eq!(
        outcome(put_if("k", Some(&bare), None, b"stale").await).0,
        412
    );
    assert_eq!(get(&s3, "cond", "k").await, b"replaced");
    assert_eq!(
        outcome(put_if("missing", Some(&new_tag), None, b"x").await),
        (404, "NoSuchKey".into())
    );
    // Only `*` is supported in If-None-Match, and not with If-Match.
    assert_eq!(
        outcome(put_if("k", None, Some(&new_tag), b"x").await),
        (501, "NotImplemented".into())
    );
    assert_eq!(
        outcome(put_if("k", Some(&new_tag), Some("*"), b"x").await),
        (501, "NotImplemented".into())
    );
    // CompleteMultipartUpload honours them too; a refusal keeps the upload.
    let upload = s3
        .create_multipart_upload()
        .bucket("cond")
        .key("fresh")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("cond")
        .key("fresh")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(b"mp".to_vec()))
        .send()
        .await
        .unwrap();
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    let complete = |inm: Option<&str>| {
        s3.complete_multipart_upload()
            .bucket("cond")
            .key("fresh")
            .upload_id(id)
            .multipart_upload(parts.clone())
            .set_if_none_match(inm.map(str::to_owned))
            .send()
    };
    assert_eq!(outcome(complete(Some("*")).await).0, 412);
    assert_eq!(get(&s3, "cond", "fresh").await, b"one");
    complete(None).await.unwrap();
    assert_eq!(get(&s3, "cond", "fresh").await, b"mp");

    // ---- CopyObject: x-amz-copy-source-if-* (every failure is 412) ----
    let copy_if = |im: Option<&str>, inm: Option<&str>, ims: Option<i64>, ius: Option<i64>| {
        s3.copy_object()
            .bucket("cond")
            .key("copied")
            .copy_source("cond/k")
            .set_copy_source_if_match(im.map(str::to_owned))
            .set_copy_source_if_none_match(inm.map(str::to_owned))
            .set_copy_source_if_modified_since(ims.map(DateTime::from_secs))
            .set_copy_source_if_unmodified_since(ius.map(DateTime::from_secs))
            .send()
    };
    let at = s3
        .head_object()
        .bucket("cond")
        .key("k")
        .send()
        .await
        .unwrap()
        .last_modified()
        .unwrap()
        .secs();
    let precondition = (412, "PreconditionFailed".to_owned());
    assert_eq!(
        outcome(copy_if(Some("\"0123\""), None, None, None).await),
        precondition
    );
    assert_eq!(
        outcome(copy_if(None, Some(&new_tag), None, None).await),
        precondition
    );
    assert_eq!(
        outcome(copy_if(None, None, Some(at), None).await),
        precondition
    );
    assert_eq!(
        outcome(copy_if(None, None, None, Some(past)).await),
        precondition
    );
    assert_eq!(
        outcome(copy_if(None, Some(&new_tag), Some(past), None).await),
        precondition
    );
    assert_eq!(
        outcome(s3.head_object().bucket("cond").key("copied").send().await).0,
        404
    );
    assert_eq!(
        outcome(copy_if(None, None, Some(future), None).await).0,
        200
    );
    assert_eq!(
        outcome(copy_if(Some(&new_tag), None, None, Some(past)).await).0,
        200
    );
    assert_eq!(
        outcome(copy_if(None, Some("\"0123\""), Some(past), None).await).0,
        200
    );
    assert_eq!(get(&s3, "cond", "copied").await, b"replaced");

    // ---- UploadPartCopy ----
    // Sources: 12 MiB (two segments) and a multipart object of 5 + 1 MiB.
    let src = bytes(12 << 20, 21);
    s3.put_object()
        .bucket("cond")
        .key("src")
        .body(ByteStream::from(src.clone()))
        .send()
        .await
        .unwrap();
    let (m1, m2) = (bytes(5 << 20, 22), bytes(1 << 20, 23));
    let up = s3
        .create_multipart_upload()
        .bucket("cond")
        .key("msrc")
        .send()
        .await
        .unwrap();
    let mid = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (n, data) in [(1, &m1), (2, &m2)] {
        let out = s3
            .upload_part()
            .bucket("cond")
            .key("msrc")
            .upload_id(mid)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket("cond")
        .key("msrc")
        .upload_id(mid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let msrc = [m1, m2].concat();
    let src_tag = s3
        .head_object()
        .bucket("cond")
        .key("src")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();

    let up = s3
        .create_multipart_upload()
        .bucket("cond")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap().to_owned();
    let part_copy = |n: i32, source: &str, range: Option<String>| {
        s3.upload_part_copy()
            .bucket("cond")
            .key("assembled")
            .upload_id(&uid)
            .part_number(n)
            .copy_source(source)
            .set_copy_source_range(range)
    };
    // Part 1: 6 MiB of `src` across its segment boundary (8 MiB).
    let (a, b) = (3u64 << 20, (9u64 << 20) - 1);
    let p1 = part_copy(1, "cond/src", Some(format!("bytes={a}-{b}")))
        .copy_source_if_match(&src_tag)
        .send()
        .await
        .unwrap();
    let r1 = p1.copy_part_result().unwrap();
    let want1 = &src[a as usize..=b as usize];
    assert_eq!(r1.e_tag(), Some(format!("\"{}\"", md5_hex(want1)).as_str()));
    assert!(r1.last_modified().is_some());
    // Part 2: 5.5 MiB of the multipart source, across its part boundary.
    let (c, d) = (512u64 << 10, (6u64 << 20) - 1);
    let p2 = part_copy(2, "cond/msrc", Some(format!("bytes={c}-{d}")))
        .send()
        .await
        .unwrap();
    let want2 = &msrc[c as usize..=d as usize];
    let e2 = p2.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    assert_eq!(e2, format!("\"{}\"", md5_hex(want2)));
    // Part 3: a whole small object, no range.
    let p3 = part_copy(3, "cond/fresh", None).send().await.unwrap();
    let e3 = p3.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let listed = s3
        .list_parts()
        .bucket("cond")
        .key("assembled")
        .upload_id(&uid)
        .send()
        .await
        .unwrap();
    let sizes: Vec<_> = listed
        .parts()
        .iter()
        .map(|p| (p.part_number().unwrap(), p.size().unwrap()))
        .collect();
    assert_eq!(
        sizes,
        [(1, want1.len() as i64), (2, want2.len() as i64), (3, 2)]
    );

    // Refusals: malformed ranges, ranges past the end, failed conditions,
    // missing sources and uploads, bad part numbers.
    for bad in [
        "0-2",
        "bytes=0",
        "bytes=hello-world",
        "bytes=0-bar",
        "bytes=5-",
        "bytes=-5",
        "bytes=0-2,3-5",
        "bytes=200-100",
    ] {
        let (code, status, _) = failure(
            part_copy(4, "cond/src", Some(bad.to_owned()))
                .send()
                .await
                .unwrap_err(),
        );
        assert_eq!((code.as_str(), status), ("InvalidArgument", 400), "{bad}");
    }
    let size = src.len();
    let (code, status, message) = failure(
        part_copy(4, "cond/src", Some(format!("bytes=100-{size}")))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((code.as_str(), status), ("InvalidRange", 416));
    assert_eq!(
        message,
        format!("Range specified is not valid for source object of size: {size}")
    );
    let refused = [
        part_copy(4, "cond/src", None)
            .copy_source_if_match("\"0123\"")
            .send()
            .await,
        part_copy(4, "cond/src", None)
            .copy_source_if_none_match(&src_tag)
            .send()
            .await,
        part_copy(4, "cond/src", None)
            .copy_source_if_unmodified_since(DateTime::from_secs(past))
            .send()
            .await,
    ];
    for r in refused {
        assert_eq!(outcome(r), precondition);
    }
    assert_eq!(
        outcome(part_copy(4, "cond/nothing", None).send().await),
        (404, "NoSuchKey".into())
    );
    assert_eq!(
        outcome(part_copy(4, "nobucket/src", None).send().await),
        (404, "NoSuchBucket".into())
    );
    for n in [0, 10_001] {
        assert_eq!(
            outcome(part_copy(n, "cond/src", None).send().await),
            (400, "InvalidArgument".into())
        );
    }
    assert_eq!(
        outcome(
            s3.upload_part_copy()
                .bucket("cond")
                .key("assembled")
                .upload_id("no-such-upload")
                .part_number(1)
                .copy_source("cond/src")
                .send()
                .await
        ),
        (404, "NoSuchUpload".into())
    );
    // None of the refusals left a part behind.
    let listed = s3
        .list_parts()
        .bucket("cond")
        .key("assembled")
        .upload_id(&uid)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 3);

    let completed = s3
        .complete_multipart_upload()
        .bucket("cond")
        .key("assembled")
        .upload_id(&uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(
                    [(1, r1.e_tag().unwrap().to_owned()), (2, e2), (3, e3)]
                        .into_iter()
                        .map(|(n, e)| CompletedPart::builder().part_number(n).e_tag(e).build())
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(completed.e_tag().unwrap().ends_with("-3\""));
    let assembled = get(&s3, "cond", "assembled").await;
    assert!(
        assembled == [want1, want2, b"mp"].concat(),
        "assembled object differs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_are_verified_stored_and_returned() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("dn"), &[]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let head_sums = |key: &'static str| {
        s3.head_object()
            .bucket("sums")
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
    };

    // The SDK's default: CRC32 in a header, for an in-memory body. Stored,
    // echoed, returned with x-amz-checksum-mode: ENABLED only.
    let data = bytes(100_000, 31);
    let put = s3
        .put_object()
        .bucket("sums")
        .key("crc32")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let crc = b64(&crc32(&data));
    assert_eq!(put.checksum_crc32(), Some(crc.as_str()));
    assert_eq!(put.checksum_type(), Some(&ChecksumType::FullObject));
    let head = head_sums("crc32").await.unwrap();
    assert_eq!(head.checksum_crc32(), Some(crc.as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    let plain = s3
        .head_object()
        .bucket("sums")
        .key("crc32")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.checksum_crc32(), None);
    // GET: the SDK asks for the checksum and validates the body against it;
    // a range gets no checksum (it covers the whole object).
    let got = s3
        .get_object()
        .bucket("sums")
        .key("crc32")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_crc32(), Some(crc.as_str()));
    assert!(got.body.collect().await.unwrap().into_bytes() == data);
    let ranged = s3
        .get_object()
        .bucket("sums")
        .key("crc32")
        .checksum_mode(ChecksumMode::Enabled)
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.checksum_crc32(), None);

    // SHA-256 asked for: still a header.
    let put = s3
        .put_object()
        .bucket("sums")
        .key("sha256")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let sha = b64(ring::digest::digest(&ring::digest::SHA256, &data).as_ref());
    assert_eq!(put.checksum_sha256(), Some(sha.as_str()));
    assert_eq!(
        head_sums("sha256").await.unwrap().checksum_sha256(),
        Some(sha.as_str())
    );

    // A streaming body: aws-chunked with the checksum as a trailer, over
    // two segments.
    let big = bytes(9 << 20, 32);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &big).unwrap();
    let put = s3
        .put_object()
        .bucket("sums")
        .key("trailer")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap();
    let crc32c_value = b64(&crc32c(&big));
    assert_eq!(put.checksum_crc32_c(), Some(crc32c_value.as_str()));
    assert_eq!(
        head_sums("trailer").await.unwrap().checksum_crc32_c(),
        Some(crc32c_value.as_str())
    );
    assert!(get(&s3, "sums", "trailer").await == big);

    // Without a checksum from the client AWS stores a CRC64NVME.
    let bare_client = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build(),
    );
    let put = bare_client
        .put_object()
        .bucket("sums")
        .key("default")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let crc64 = b64(&crc64nvme(&data));
    assert_eq!(put.checksum_crc64_nvme(), Some(crc64.as_str()));
    assert_eq!(
        head_sums("default").await.unwrap().checksum_crc64_nvme(),
        Some(crc64.as_str())
    );

    // Refusals commit nothing.
    let client = &s3;
    let refused = |key: &'static str| async move {
        let head = client.head_object().bucket("sums").key(key).send().await;
        assert_eq!(outcome(head).0, 404, "{key} was committed");
    };
    let (code, status, message) = failure(
        s3.put_object()
            .bucket("sums")
            .key("wrong")
            .checksum_crc32(b64(&[0, 0, 0, 0]))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code.as_str(), status, message.as_str()),
        (
            "BadDigest",
            400,
            "The CRC32 you specified did not match the calculated checksum."
        )
    );
    refused("wrong").await;
    let (code, status, message) = failure(
        s3.put_object()
            .bucket("sums")
            .key("wrong")
            .checksum_sha1("not base64!")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code.as_str(), status, message.as_str()),
        (
            "InvalidRequest",
            400,
            "Value for x-amz-checksum-sha1 header is invalid."
        )
    );
    let (code, status, _) = failure(
        s3.put_object()
            .bucket("sums")
            .key("wrong")
            .checksum_crc32(crc.clone())
            .checksum_sha256(sha.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((code.as_str(), status), ("InvalidRequest", 400));
    let md5_of = |d: &[u8]| {
        use md5::Digest;
        b64(&md5::Md5::digest(d))
    };
    let (code, status, _) = failure(
        bare_client
            .put_object()
            .bucket("sums")
            .key("wrong")
            .content_md5(md5_of(b"something else"))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((code.as_str(), status), ("BadDigest", 400));
    let (code, status, _) = failure(
        bare_client
            .put_object()
            .bucket("sums")
            .key("wrong")
            .content_md5("AAAA")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((code.as_str(), status), ("InvalidDigest", 400));
    refused("wrong").await;
    bare_client
        .put_object()
        .bucket("sums")
        .key("md5")
        .content_md5(md5_of(&data))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();

    // A trailer the SDK would never get wrong, sent by hand: STREAMING-
    // UNSIGNED-PAYLOAD-TRAILER, signed headers, the checksum after the body.
    let chunked = |trailer: Option<String>| {
        let mut body = format!("{:x}\r\n", data.len()).into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n0\r\n");
        if let Some(t) = trailer {
            body.extend_from_slice(format!("x-amz-checksum-crc32:{t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body
    };
    let headers = |len: usize| {
        [
            ("content-encoding", "aws-chunked".to_owned()),
            ("x-amz-decoded-content-length", len.to_string()),
            ("x-amz-trailer", "x-amz-checksum-crc32".to_owned()),
        ]
    };
    let trailer_put = |key: &str, trailer: Option<String>| {
        raw_request(
            &devnet,
            "PUT",
            &format!("/sums/{key}"),
            &headers(data.len()),
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            &chunked(trailer),
        )
    };
    let ok = trailer_put("raw-ok", Some(crc.clone()));
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.header("x-amz-checksum-crc32"), Some(crc.as_str()));
    assert!(get(&s3, "sums", "raw-ok").await == data);
    let bad = trailer_put("raw-bad", Some(b64(&[1, 2, 3, 4])));
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.text().contains("<Code>BadDigest</Code>"), "{bad:?}");
    refused("raw-bad").await;
    let missing = trailer_put("raw-missing", None);
    assert_eq!(missing.status, 400, "{missing:?}");
    assert!(
        missing
            .text()
            .contains("Value for x-amz-checksum-crc32 trailing header is invalid."),
        "{missing:?}"
    );
    refused("raw-missing").await;

    // CopyObject keeps the source's algorithm (recomputed), or takes the
    // one asked for.
    let copied = s3
        .copy_object()
        .bucket("sums")
        .key("sha256-copy")
        .copy_source("sums/sha256")
        .send()
        .await
        .unwrap();
    let result = copied.copy_object_result().unwrap();
    assert_eq!(result.checksum_sha256(), Some(sha.as_str()));
    let copied = s3
        .copy_object()
        .bucket("sums")
        .key("crc32c-copy")
        .copy_source("sums/sha256")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .unwrap();
    let crc32c_small = b64(&crc32c(&data));
    assert_eq!(
        copied.copy_object_result().unwrap().checksum_crc32_c(),
        Some(crc32c_small.as_str())
    );
    let head = head_sums("crc32c-copy").await.unwrap();
    assert_eq!(head.checksum_crc32_c(), Some(crc32c_small.as_str()));
    assert_eq!(head.checksum_sha256(), None);

    // UploadPart: a part's checksum is checked and echoed; a bad one or a
    // bad Content-MD5 leaves no part.
    let upload = s3
        .create_multipart_upload()
        .bucket("sums")
        .key("multi")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("sums")
        .key("multi")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(part.checksum_crc32(), Some(crc.as_str()));
    let part = s3
        .upload_part()
        .bucket("sums")
        .key("multi")
        .upload_id(id)
        .part_number(2)
        .checksum_algorithm(ChecksumAlgorithm::Sha1)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let sha1 = b64(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &data).as_ref());
    assert_eq!(part.checksum_sha1(), Some(sha1.as_str()));
    let bad_part = s3
        .upload_part()
        .bucket("sums")
        .key("multi")
        .upload_id(id)
        .part_number(3)
        .checksum_crc32(b64(&[9, 9, 9, 9]))
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    assert_eq!(outcome(bad_part), (400, "BadDigest".into()));
    let bad_md5 = bare_client
        .upload_part()
        .bucket("sums")
        .key("multi")
        .upload_id(id)
        .part_number(4)
        .content_md5(md5_of(b"other"))
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    assert_eq!(outcome(bad_md5), (400, "BadDigest".into()));
    let parts = s3
        .list_parts()
        .bucket("sums")
        .key("multi")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    let numbers: Vec<_> = parts
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, [1, 2]);

    // An upload created with CRC32 keeps its parts' checksums (computed
    // when a part comes without one) and gets a composite checksum: the
    // CRC32 of the parts' CRC32s, then -N.
    let upload = s3
        .create_multipart_upload()
        .bucket("sums")
        .key("composite")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.checksum_algorithm(), Some(&ChecksumAlgorithm::Crc32));
    assert_eq!(upload.checksum_type(), Some(&ChecksumType::Composite));
    let id = upload.upload_id().unwrap();
    let first = bytes(5 << 20, 41);
    let second = bytes(1 << 20, 42);
    let mut completed = Vec::new();
    for (n, body) in [(1, &first), (2, &second)] {
        let part = s3
            .upload_part()
            .bucket("sums")
            .key("composite")
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(part.checksum_crc32(), Some(b64(&crc32(body)).as_str()));
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .checksum_crc32(part.checksum_crc32().unwrap())
                .build(),
        );
    }
    let listed = s3
        .list_parts()
        .bucket("sums")
        .key("composite")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.parts()[1].checksum_crc32(),
        Some(b64(&crc32(&second)).as_str())
    );
    // A part checksum that is not the uploaded part's is InvalidPart.
    let wrong = s3
        .complete_multipart_upload()
        .bucket("sums")
        .key("composite")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(completed[0].clone())
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(completed[1].e_tag().unwrap())
                        .checksum_crc32(b64(&[1, 2, 3, 4]))
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    assert_eq!(outcome(wrong), (400, "InvalidPart".into()));
    let done = s3
        .complete_multipart_upload()
        .bucket("sums")
        .key("composite")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let expected = format!(
        "{}-2",
        b64(&crc32(&[crc32(&first), crc32(&second)].concat()))
    );
    assert_eq!(done.checksum_crc32(), Some(expected.as_str()));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    let head = head_sums("composite").await.unwrap();
    assert_eq!(head.checksum_crc32(), Some(expected.as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));
    let got = s3
        .get_object()
        .bucket("sums")
        .key("composite")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_crc32(), Some(expected.as_str()));
    assert!(got.body.collect().await.unwrap().into_bytes() == [first, second].concat());

    // AWS's rules: CRC64NVME is full-object only, a type needs an
    // algorithm, and a part must use the upload's algorithm. A copied part
    // gets its checksum computed.
    let refused = s3
        .create_multipart_upload()
        .bucket("sums")
        .key("bad")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_type(ChecksumType::Composite)
        .send()
        .await;
    assert_eq!(outcome(refused), (400, "InvalidRequest".into()));
    let refused = s3
        .create_multipart_upload()
        .bucket("sums")
        .key("bad")
        .checksum_type(ChecksumType::Composite)
        .send()
        .await;
    assert_eq!(outcome(refused), (400, "InvalidRequest".into()));
    let upload = s3
        .create_multipart_upload()
        .bucket("sums")
        .key("copied")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let other = s3
        .upload_part()
        .bucket("sums")
        .key("copied")
        .upload_id(id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    assert_eq!(outcome(other), (400, "InvalidRequest".into()));
    s3.upload_part_copy()
        .bucket("sums")
        .key("copied")
        .upload_id(id)
        .part_number(1)
        .copy_source("sums/crc32")
        .send()
        .await
        .unwrap();
    let listed = s3
        .list_parts()
        .bucket("sums")
        .key("copied")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.parts()[0].checksum_crc32_c(),
        Some(b64(&crc32c(&data)).as_str())
    );
}

// ---- helpers: checksums computed independently of the gateway ----

/// Reflected CRC over `data` (init and final XOR all ones), big-endian.
fn reflected_crc(data: &[u8], poly: u64, width: u32) -> Vec<u8> {
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1 << width) - 1
    };
    let mut crc = mask;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ poly
            } else {
                crc >> 1
            };
        }
    }
    let crc = !crc & mask;
    crc.to_be_bytes()[(8 - width as usize / 8)..].to_vec()
}

fn crc32(data: &[u8]) -> Vec<u8> {
    reflected_crc(data, 0xEDB8_8320, 32)
}

fn crc32c(data: &[u8]) -> Vec<u8> {
    reflected_crc(data, 0x82F6_3B78, 32)
}

fn crc64nvme(data: &[u8]) -> Vec<u8> {
    reflected_crc(data, 0x9A6C_9329_AC4B_C9B5, 64)
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

#[test]
fn test_helpers_match_published_check_values() {
    let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(crc32(b"123456789")), "cbf43926");
    assert_eq!(hex(crc32c(b"123456789")), "e3069283");
    assert_eq!(hex(crc64nvme(b"123456789")), "ae8b14860a799888");
    assert_eq!(b64(b"hello"), "aGVsbG8=");
    assert_eq!(b64(b"hi"), "aGk=");
    assert_eq!(b64(b"abc"), "YWJj");
}

// ---- helpers: requests signed by hand (SigV4 header auth) ----

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, data.as_bytes()).as_ref().to_vec()
}

fn hex(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends one request signed with the devnet's key (SigV4 in the
/// Authorization header; `payload` is the x-amz-content-sha256 value) over a
/// fresh connection, and reads the whole response.
fn raw_request(
    devnet: &Devnet,
    method: &str,
    path: &str,
    extra: &[(&str, String)],
    payload: &str,
    body: &[u8],
) -> RawResponse {
    let endpoint = devnet.info["s3_endpoint"].as_str().unwrap();
    let host = endpoint.trim_start_matches("http://");
    let access = devnet.info["access_key"].as_str().unwrap();
    let secret = devnet.info["secret_key"].as_str().unwrap();
    let stamp = DateTime::from_secs(unix_now())
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap();
    let amz_date: String = stamp.chars().filter(|c| *c != '-' && *c != ':').collect();
    let day = &amz_date[..8];
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host.to_owned()),
        ("x-amz-content-sha256".into(), payload.to_owned()),
        ("x-amz-date".into(), amz_date.clone()),
    ];
    headers.extend(extra.iter().map(|(n, v)| (n.to_lowercase(), v.clone())));
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let signed = signed.join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", v.trim()))
        .collect();
    let canonical = format!("{method}\n{path}\n\n{canonical_headers}\n{signed}\n{payload}");
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), day);
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex(&hmac(&key, &to_sign));
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    for (n, v) in &headers {
        request.push_str(&format!("{n}: {v}\r\n"));
    }
    request.push_str(&format!(
        "authorization: AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, \
         Signature={signature}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    exchange(host, request.as_bytes(), body)
}

/// Sends a request head and body over a fresh plain-TCP connection to
/// `addr` and reads the whole response (the request asks to close).
// ---- public-read buckets, virtual-hosted style, TLS, master key ----
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, Owner, Permission, Type,
};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};

/// The domain the test gateways serve virtual-hosted-style requests under.
const DOMAIN: &str = "s3.cairn.test";
/// The URI of the everyone group in ACLs.
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// A DNS resolver for the SDK: names under `cairn.test` are 127.0.0.1,
/// anything else fails; every name asked for is recorded, so a test can
/// tell which host the SDK really connected to.
#[derive(Clone, Debug, Default)]
struct TestZone(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl TestZone {
    fn asked(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl ResolveDns for TestZone {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        self.0.lock().unwrap().push(name.to_owned());
        DnsFuture::ready(if name.ends_with(".cairn.test") || name == "cairn.test" {
            Ok(vec![std::net::Ipv4Addr::LOCALHOST.into()])
        } else {
            Err(ResolveDnsError::new(format!(
                "{name} is not in the test zone"
            )))
        })
    }
}

/// An SDK HTTP client resolving names with `zone` and trusting only
/// `root_pem` (the platform's roots when `None`).
fn http_client(zone: &TestZone, root_pem: Option<&str>) -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let trust = match root_pem {
        Some(pem) => TrustStore::empty().with_pem_certificate(pem.as_bytes()),
        None => TrustStore::default(),
    };
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_with_resolver(zone.clone())
}

/// A virtual-hosted-style client: `<bucket>.s3.cairn.test:<port>`.
fn vhost_client(
    devnet: &Devnet,
    scheme: &str,
    zone: &TestZone,
    root_pem: Option<&str>,
) -> aws_sdk_s3::Client {
    let endpoint = format!("{scheme}://{DOMAIN}:{}", devnet.s3_port());
    aws_sdk_s3::Client::from_conf(
        devnet
            .config_for(&endpoint)
            .http_client(http_client(zone, root_pem))
            .force_path_style(false)
            .build(),
    )
}

/// One unsigned request (no Authorization header) with the given Host
/// header, over plain HTTP to the devnet's S3 port.
fn anonymous(devnet: &Devnet, method: &str, host: &str, path: &str) -> RawResponse {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    exchange(
        &format!("127.0.0.1:{}", devnet.s3_port()),
        head.as_bytes(),
        b"",
    )
}

/// The (grantee type, id or URI, permission) triples of an ACL.
fn grants_of(grants: &[Grant]) -> Vec<(String, String, String)> {
    grants
        .iter()
        .map(|g| {
            let grantee = g.grantee().unwrap();
            (
                grantee.r#type().as_str().to_owned(),
                grantee
                    .id()
                    .or(grantee.uri())
                    .unwrap_or_default()
                    .to_owned(),
                g.permission().unwrap().as_str().to_owned(),
            )
        })
        .collect()
}

/// The mode bits of the master key file in the gateway's data directory.
fn master_key_mode(devnet: &Devnet) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(devnet.gateway_dir().join("master.key")).unwrap();
    assert_eq!(meta.len(), 32);
    meta.permissions().mode() & 0o777
}

const SMALL_DEVNET: [&str; 6] = ["--nodes", "3", "--k", "2", "--m", "1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_read_buckets_and_virtual_hosted_style() {
    let dir = tempfile::tempdir().unwrap();
    let dn_dir = dir.path().join("dn");
    let domain_arg = format!("--gateway-arg=--domain={DOMAIN}");
    let mut args = SMALL_DEVNET.to_vec();
    args.push(&domain_arg);
    let devnet = Devnet::start(&dn_dir, &args);
    let s3 = devnet.client();
    let owner = devnet.info["access_key"].as_str().unwrap().to_owned();
    assert_eq!(master_key_mode(&devnet), 0o600);

    // A public-read bucket (canned ACL at creation) and a private one.
    s3.create_bucket()
        .bucket("open")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    s3.create_bucket().bucket("closed").send().await.unwrap();
    let text = b"readable by anyone".to_vec();
    for bucket in ["open", "closed"] {
        s3.put_object()
            .bucket(bucket)
            .key("dir/a.txt")
            .content_type("text/plain")
            .body(ByteStream::from(text.clone()))
            .send()
            .await
            .unwrap();
    }
    let acl = s3.get_bucket_acl().bucket("open").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(owner.as_str()));
    let full = |who: &str| {
        (
            "CanonicalUser".to_owned(),
            who.to_owned(),
            "FULL_CONTROL".to_owned(),
        )
    };
    let everyone_reads = ("Group".to_owned(), ALL_USERS.to_owned(), "READ".to_owned());
    assert_eq!(
        grants_of(acl.grants()),
        [full(&owner), everyone_reads.clone()]
    );
    let acl = s3.get_bucket_acl().bucket("closed").send().await.unwrap();
    assert_eq!(grants_of(acl.grants()), [full(&owner)]);

    // Anonymous reads of the public bucket, path style.
    let here = format!("127.0.0.1:{}", devnet.s3_port());
    let got = anonymous(&devnet, "GET", &here, "/open/dir/a.txt");
    assert_eq!((got.status, &got.body), (200, &text), "{got:?}");
    assert_eq!(got.header("content-type"), Some("text/plain"));
    let head = anonymous(&devnet, "HEAD", &here, "/open/dir/a.txt");
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("content-length"), Some("18"));
    // Anonymous requests may not override response headers (as on AWS).
    let over = anonymous(
        &devnet,
        "GET",
        &here,
        "/open/dir/a.txt?response-content-type=text/html",
    );
    assert_eq!(over.status, 400, "{over:?}");
    assert!(String::from_utf8_lossy(&over.body).contains("<Code>InvalidRequest</Code>"));
    let v2 = anonymous(&devnet, "GET", &here, "/open?list-type=2&prefix=dir/");
    assert_eq!(v2.status, 200, "{v2:?}");
    assert!(v2.text().contains("<Key>dir/a.txt</Key>"), "{}", v2.text());
    let v1 = anonymous(&devnet, "GET", &here, "/open");
    assert_eq!(v1.status, 200, "{v1:?}");
    assert!(v1.text().contains("<Key>dir/a.txt</Key>"), "{}", v1.text());
    let missing = anonymous(&devnet, "GET", &here, "/open/nope");
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(missing.text().contains("<Code>NoSuchKey</Code>"));
    // ... and everything else refused: writes, ACLs, other buckets.
    for (method, path) in [
        ("PUT", "/open/new.txt"),
        ("DELETE", "/open/dir/a.txt"),
        ("POST", "/open/dir/a.txt?uploads"),
        ("GET", "/open?acl"),
        ("PUT", "/open?acl"),
        ("DELETE", "/open"),
        ("PUT", "/fresh"),
        ("GET", "/closed/dir/a.txt"),
        ("GET", "/closed?list-type=2"),
        ("GET", "/nosuch/dir/a.txt"),
        ("GET", "/"),
    ] {
        let refused = anonymous(&devnet, method, &here, path);
        assert_eq!(refused.status, 403, "{method} {path}: {refused:?}");
        assert!(
            refused.text().contains("<Code>AccessDenied</Code>"),
            "{method} {path}: {}",
            refused.text()
        );
    }
    assert_eq!(get(&s3, "open", "dir/a.txt").await, text, "still there");

    // Virtual-hosted style: the Host header names the bucket.
    let host = |bucket: &str| format!("{bucket}.{DOMAIN}:{}", devnet.s3_port());
    let got = anonymous(&devnet, "GET", &host("open"), "/dir/a.txt");
    assert_eq!((got.status, &got.body), (200, &text), "{got:?}");
    let listed = anonymous(&devnet, "GET", &host("open"), "/?list-type=2");
    assert!(
        listed.text().contains("<Name>open</Name>"),
        "{}",
        listed.text()
    );
    let refused = anonymous(&devnet, "GET", &host("closed"), "/dir/a.txt");
    assert_eq!(refused.status, 403, "{refused:?}");
    let refused = anonymous(&devnet, "PUT", &host("open"), "/new.txt");
    assert_eq!(refused.status, 403, "{refused:?}");
    // The bare domain and other host names are path style.
    let got = anonymous(&devnet, "GET", &format!("{DOMAIN}:1"), "/open/dir/a.txt");
    assert_eq!(got.status, 200, "{got:?}");
    let got = anonymous(&devnet, "GET", "localhost:9000", "/open/dir/a.txt");
    assert_eq!(got.status, 200, "{got:?}");

    // Signed virtual-hosted-style requests from the SDK; the resolver
    // proves it connected to <bucket>.s3.cairn.test.
    let zone = TestZone::default();
    let vh = vhost_client(&devnet, "http", &zone, None);
    vh.create_bucket().bucket("vhosted").send().await.unwrap();
    vh.put_object()
        .bucket("vhosted")
        .key("k/1")
        .body(ByteStream::from_static(b"via the Host header"))
        .send()
        .await
        .unwrap();
    let body = get(&vh, "vhosted", "k/1").await;
    assert_eq!(body, b"via the Host header");
    let listed = vh.list_objects_v2().bucket("vhosted").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["k/1"]);
    vh.head_object()
        .bucket("open")
        .key("dir/a.txt")
        .send()
        .await
        .unwrap();
    assert!(
        zone.asked().iter().all(|n| n != DOMAIN),
        "the SDK used path style: {:?}",
        zone.asked()
    );
    assert!(zone.asked().contains(&format!("vhosted.{DOMAIN}")));
    // Path style sees the same bucket and object.
    assert_eq!(get(&s3, "vhosted", "k/1").await, b"via the Host header");

    // PutBucketAcl: canned private closes the bucket again; a policy
    // document with the owner's FULL_CONTROL and everyone's READ opens one.
    s3.put_bucket_acl()
        .bucket("open")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let closed_now = anonymous(&devnet, "GET", &here, "/open/dir/a.txt");
    assert_eq!(closed_now.status, 403, "{closed_now:?}");
    let policy = AccessControlPolicy::builder()
        .owner(Owner::builder().id(&owner).build())
        .grants(
            Grant::builder()
                .grantee(
                    Grantee::builder()
                        .r#type(Type::CanonicalUser)
                        .id(&owner)
                        .build()
                        .unwrap(),
                )
                .permission(Permission::FullControl)
                .build(),
        )
        .grants(
            Grant::builder()
                .grantee(
                    Grantee::builder()
                        .r#type(Type::Group)
                        .uri(ALL_USERS)
                        .build()
                        .unwrap(),
                )
                .permission(Permission::Read)
                .build(),
        )
        .build();
    s3.put_bucket_acl()
        .bucket("closed")
        .access_control_policy(policy)
        .send()
        .await
        .unwrap();
    let acl = s3.get_bucket_acl().bucket("closed").send().await.unwrap();
    assert_eq!(
        grants_of(acl.grants()),
        [full(&owner), everyone_reads.clone()]
    );
    let open_now = anonymous(&devnet, "GET", &here, "/closed/dir/a.txt");
    assert_eq!((open_now.status, &open_now.body), (200, &text));

    // What Cairn does not model is refused, not narrowed.
    let e = s3
        .create_bucket()
        .bucket("everyone-writes")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), ("NotImplemented".into(), 501));
    let e = s3
        .put_bucket_acl()
        .bucket("closed")
        .grant_write(format!("uri=\"{ALL_USERS}\""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), ("NotImplemented".into(), 501));
    let e = s3
        .put_bucket_acl()
        .bucket("nosuch")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), ("NoSuchBucket".into(), 404));

    // A restart on the same directory: the same master key unwraps every
    // object key, and the ACLs are still there.
    let big = bytes(3 << 20, 11);
    s3.put_object()
        .bucket("vhosted")
        .key("big")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    s3.copy_object()
        .bucket("vhosted")
        .key("copy")
        .copy_source("open/dir/a.txt")
        .send()
        .await
        .unwrap();
    let upload = s3
        .create_multipart_upload()
        .bucket("vhosted")
        .key("multi")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("vhosted")
        .key("multi")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"one small part"))
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket("vhosted")
        .key("multi")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let before = std::fs::read(devnet.gateway_dir().join("master.key")).unwrap();
    drop(devnet);
    let devnet = Devnet::start(&dn_dir, &args);
    let s3 = devnet.client();
    assert_eq!(
        std::fs::read(devnet.gateway_dir().join("master.key")).unwrap(),
        before
    );
    assert!(get(&s3, "vhosted", "big").await == big);
    assert_eq!(get(&s3, "open", "dir/a.txt").await, text);
    let here = format!("127.0.0.1:{}", devnet.s3_port());
    let still_open = anonymous(&devnet, "GET", &here, "/closed/dir/a.txt");
    assert_eq!((still_open.status, &still_open.body), (200, &text));
    let still_closed = anonymous(&devnet, "GET", &here, "/open/dir/a.txt");
    assert_eq!(still_closed.status, 403);
    assert_eq!(get(&s3, "vhosted", "copy").await, text);
    assert_eq!(get(&s3, "vhosted", "multi").await, b"one small part");

    // Stopped, the metadata shows no object key in the clear: every
    // manifest (put, copy, multipart) holds a wrapped key that only the
    // master key opens.
    let gateway_dir = devnet.gateway_dir();
    drop(devnet);
    let meta = s3_gateway::open_meta(&gateway_dir).unwrap();
    let master = s3_gateway::keywrap::MasterKey::load(&gateway_dir).unwrap();
    let stranger = s3_gateway::keywrap::MasterKey::generate();
    let mut seen = 0;
    for bucket in ["open", "closed", "vhosted"] {
        let page = meta
            .list_objects(bucket, &s3_gateway::meta::ListQuery::default())
            .await
            .unwrap();
        for (key, object) in page.objects {
            assert!(
                s3_gateway::keywrap::is_wrapped(&object.encryption_key),
                "{bucket}/{key}: {} bytes",
                object.encryption_key.len()
            );
            master.unwrap(&object.encryption_key).unwrap();
            assert!(stranger.unwrap(&object.encryption_key).is_err());
            seen += 1;
        }
    }
    assert_eq!(seen, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec![
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
        DOMAIN.to_owned(),
        format!("*.{DOMAIN}"),
    ])
    .unwrap();
    let cert_pem = cert.cert.pem();
    let cert_file = dir.path().join("gateway.crt");
    let key_file = dir.path().join("gateway.key");
    std::fs::write(&cert_file, &cert_pem).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let tls_args = [
        format!("--gateway-arg=--tls-cert={}", cert_file.display()),
        format!("--gateway-arg=--tls-key={}", key_file.display()),
        format!("--gateway-arg=--domain={DOMAIN}"),
    ];
    let mut args = SMALL_DEVNET.to_vec();
    args.extend(tls_args.iter().map(String::as_str));
    let devnet = Devnet::start(&dir.path().join("dn"), &args);
    let endpoint = devnet.info["s3_endpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");

    // Path style over HTTPS, trusting the test certificate.
    let zone = TestZone::default();
    let s3 = aws_sdk_s3::Client::from_conf(
        devnet
            .config_for(&endpoint)
            .http_client(http_client(&zone, Some(&cert_pem)))
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket("secure").send().await.unwrap();
    let data = bytes(1 << 20, 21);
    s3.put_object()
        .bucket("secure")
        .key("one-mib")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert!(get(&s3, "secure", "one-mib").await == data);
    let listed = s3.list_objects_v2().bucket("secure").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));

    // Virtual-hosted style over HTTPS (the certificate covers *.s3.cairn.test).
    let vh = vhost_client(&devnet, "https", &zone, Some(&cert_pem));
    vh.put_object()
        .bucket("secure")
        .key("small")
        .body(ByteStream::from_static(b"tls + vhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&vh, "secure", "small").await, b"tls + vhost");
    assert!(zone.asked().contains(&format!("secure.{DOMAIN}")));
    assert_eq!(get(&s3, "secure", "small").await, b"tls + vhost");

    // A client that does not trust the certificate gets no answer at all.
    let untrusting = aws_sdk_s3::Client::from_conf(
        devnet
            .config_for(&endpoint)
            .http_client(http_client(&zone, None))
            .force_path_style(true)
            .build(),
    );
    let e = untrusting
        .head_bucket()
        .bucket("secure")
        .send()
        .await
        .unwrap_err();
    assert!(e.raw_response().is_none(), "{e:?}");
    // Nor does plain HTTP on the TLS port.
    let plain = {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(format!("127.0.0.1:{}", devnet.s3_port())).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        stream
            .write_all(b"GET /secure/small HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        raw
    };
    assert!(
        !plain.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&plain)
    );
    assert_eq!(master_key_mode(&devnet), 0o600);
}
