//! The S3 gateway end to end: a real devnet (six `cairn node` processes and a
//! `cairn gateway`), driven with the `aws-sdk-s3` crate.

mod common;

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
    let again = s3
        .create_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(again), ("BucketAlreadyOwnedByYou".into(), 409));
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
    assert!(get(&s3, "photos", "multi").await == [part1, part2].concat());

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
}
