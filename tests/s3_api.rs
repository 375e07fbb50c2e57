//! S3 operations beyond reading and writing bytes, as AWS answers them,
//! against one shared devnet with aws-sdk-s3: GetObjectAttributes and
//! object ACLs. Each scenario uses buckets of its own.

mod common;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectAttributes};
use common::devnet::{Devnet, shared_devnet};

fn devnet() -> &'static Devnet {
    shared_devnet(&[])
}

/// The error code of a failed request, or `ok`.
fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("(no code)").to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn object_attributes_answer_etag_size_class_checksum_and_parts() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("attrs").send().await.unwrap();
    let put = s3.put_object().bucket("attrs").key("small");
    let put = put
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"hello attributes"))
        .send()
        .await
        .unwrap();
    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectParts,
        ObjectAttributes::StorageClass,
        ObjectAttributes::ObjectSize,
    ];
    let got = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("small")
        .set_object_attributes(Some(all.to_vec()))
        .send()
        .await
        .unwrap();
    // Unquoted in this answer, as on AWS.
    assert_eq!(got.e_tag(), Some(put.e_tag().unwrap().trim_matches('"')));
    assert_eq!(got.object_size(), Some(16));
    assert_eq!(got.storage_class().map(|c| c.as_str()), Some("STANDARD"));
    assert_eq!(
        got.checksum().and_then(|c| c.checksum_crc32()),
        put.checksum_crc32()
    );
    assert!(got.object_parts().is_none(), "a simple PUT has no parts");
    assert!(got.last_modified().is_some());

    // A multipart object lists its parts, a page at a time.
    let up = s3.create_multipart_upload().bucket("attrs").key("multi");
    let id = up.send().await.unwrap().upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for n in 1..=3 {
        let size = if n < 3 { 5 << 20 } else { 1000 };
        let body = ByteStream::from(vec![n as u8; size]);
        let part = s3.upload_part().bucket("attrs").key("multi").upload_id(&id);
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
    let done = s3.complete_multipart_upload().bucket("attrs").key("multi");
    let done = done.upload_id(&id).multipart_upload(complete).send().await;
    done.unwrap();
    let page = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("multi")
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::ObjectSize)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.object_size(), Some((10 << 20) + 1000));
    assert!(page.e_tag().is_none(), "only what was asked");
    let p = page.object_parts().unwrap();
    assert_eq!(p.total_parts_count(), Some(3));
    assert_eq!(p.is_truncated(), Some(true));
    assert_eq!(p.next_part_number_marker(), Some("2"));
    let sizes: Vec<_> = p
        .parts()
        .iter()
        .map(|x| (x.part_number(), x.size()))
        .collect();
    assert_eq!(sizes, [(Some(1), Some(5 << 20)), (Some(2), Some(5 << 20))]);
    let rest = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("multi")
        .object_attributes(ObjectAttributes::ObjectParts)
        .part_number_marker("2")
        .send()
        .await
        .unwrap();
    let rest = rest.object_parts().unwrap();
    assert_eq!(rest.is_truncated(), Some(false));
    assert_eq!(rest.parts().len(), 1);
    assert_eq!(rest.parts()[0].size(), Some(1000));

    let missing = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("nope")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await;
    assert_eq!(code(missing), "NoSuchKey");
}

/// A customer key for SSE-C: (base64 key, base64 MD5, raw bytes).
fn customer_key(fill: u8) -> (String, String, [u8; 32]) {
    use base64::Engine;
    use md5::Digest;
    let raw = [fill; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    (b64.encode(raw), b64.encode(md5::Md5::digest(raw)), raw)
}

/// The HTTP status of a failed request.
fn status<T, E>(
    result: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> u16 {
    match result {
        Ok(_) => 200,
        Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_c_objects_need_their_key_for_every_read() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("ssec").send().await.unwrap();
    let (key, md5, raw) = customer_key(0x5a);
    let (other, other_md5, _) = customer_key(0x33);
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let put = s3
        .put_object()
        .bucket("ssec")
        .key("secret")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(put.sse_customer_key_md5(), Some(md5.as_str()));
    // Its ETag is not the MD5 of the plaintext (anyone could check a guess
    // against a listing), as on AWS.
    let plain_md5 = {
        use md5::Digest;
        let digest = md5::Md5::digest(&body);
        format!(
            "\"{}\"",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    let sealed_etag = put.e_tag().unwrap().to_owned();
    assert_ne!(sealed_etag, plain_md5);
    let listed = s3.list_objects_v2().bucket("ssec").send().await.unwrap();
    assert_eq!(listed.contents()[0].e_tag(), Some(sealed_etag.as_str()));

    // With the key: whole and ranged reads, HEAD echoes the key's MD5.
    let get = s3.get_object().bucket("ssec").key("secret");
    let get = get
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5);
    let got = get.clone().send().await.unwrap();
    assert_eq!(got.sse_customer_key_md5(), Some(md5.as_str()));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), body);
    let part = get.range("bytes=100000-100009").send().await.unwrap();
    assert_eq!(
        part.body.collect().await.unwrap().into_bytes(),
        body[100_000..100_010]
    );
    let head = s3.head_object().bucket("ssec").key("secret");
    let head = head
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5);
    assert_eq!(head.send().await.unwrap().content_length(), Some(300_000));
    // Without it, 400; with another, 403; a key on a plain object, 400.
    let bare = s3.get_object().bucket("ssec").key("secret").send().await;
    assert_eq!(code(bare), "InvalidRequest");
    assert_eq!(
        status(s3.head_object().bucket("ssec").key("secret").send().await),
        400
    );
    let wrong = s3.get_object().bucket("ssec").key("secret");
    let wrong = wrong
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other)
        .sse_customer_key_md5(&other_md5);
    assert_eq!(code(wrong.send().await), "AccessDenied");
    let bad_md5 = s3.get_object().bucket("ssec").key("secret");
    let bad_md5 = bad_md5
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&other_md5);
    assert_eq!(code(bad_md5.send().await), "InvalidArgument");
    s3.put_object()
        .bucket("ssec")
        .key("plain")
        .body(ByteStream::from_static(b"p"))
        .send()
        .await
        .unwrap();
    let keyed = s3.get_object().bucket("ssec").key("plain");
    let keyed = keyed
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5);
    assert_eq!(code(keyed.send().await), "InvalidRequest");

    // Copies: out of SSE-C with the source key, into SSE-C with a new one.
    let copy = s3
        .copy_object()
        .bucket("ssec")
        .key("opened")
        .copy_source("ssec/secret");
    let copy = copy
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&key)
        .copy_source_sse_customer_key_md5(&md5);
    copy.send().await.unwrap();
    let opened = s3
        .get_object()
        .bucket("ssec")
        .key("opened")
        .send()
        .await
        .unwrap();
    assert_eq!(
        opened.e_tag(),
        Some(plain_md5.as_str()),
        "a plain copy has the plain MD5"
    );
    assert_eq!(opened.body.collect().await.unwrap().into_bytes(), body);
    let copy = s3
        .copy_object()
        .bucket("ssec")
        .key("resealed")
        .copy_source("ssec/opened");
    let copy = copy
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other)
        .sse_customer_key_md5(&other_md5);
    let copied = copy.send().await.unwrap();
    assert_eq!(copied.sse_customer_key_md5(), Some(other_md5.as_str()));
    let no_source_key = s3
        .copy_object()
        .bucket("ssec")
        .key("x")
        .copy_source("ssec/secret");
    assert_eq!(code(no_source_key.send().await), "InvalidRequest");

    // Multipart: every part brings the key the upload started with.
    let up = s3.create_multipart_upload().bucket("ssec").key("multi");
    let up = up
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5);
    let id = up.send().await.unwrap().upload_id().unwrap().to_owned();
    let part = |n: i32, data: Vec<u8>| {
        s3.upload_part()
            .bucket("ssec")
            .key("multi")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data))
    };
    assert_eq!(code(part(1, vec![1; 10]).send().await), "InvalidRequest");
    let mut done = Vec::new();
    for (n, data) in [(1, vec![1u8; 5 << 20]), (2, vec![2u8; 1000])] {
        let p = part(n, data)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key);
        let p = p.sse_customer_key_md5(&md5).send().await.unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    let complete = s3
        .complete_multipart_upload()
        .bucket("ssec")
        .key("multi")
        .upload_id(&id);
    let parts = CompletedMultipartUpload::builder()
        .set_parts(Some(done))
        .build();
    complete.multipart_upload(parts).send().await.unwrap();
    let get = s3
        .get_object()
        .bucket("ssec")
        .key("multi")
        .range("bytes=5242878-5242881");
    let get = get
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5);
    let got = get
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(got.as_ref(), [1, 1, 2, 2]);
    assert_eq!(
        code(s3.get_object().bucket("ssec").key("multi").send().await),
        "InvalidRequest"
    );

    // The gateway keeps the key's MD5, never the key.
    let store = std::fs::read(devnet().gateway_dir().join("meta.redb")).unwrap();
    assert!(
        !store.windows(32).any(|w| w == raw),
        "the raw key is stored"
    );
    assert!(
        !store.windows(key.len()).any(|w| w == key.as_bytes()),
        "the key is stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_prefix_comes_back_as_given_unless_url_encoding_is_asked() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("prefixes").send().await.unwrap();
    for key in ["a b/c+d%e", "a b/\u{e9}t\u{e9}"] {
        let put = s3.put_object().bucket("prefixes").key(key);
        put.body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let v2 = s3
        .list_objects_v2()
        .bucket("prefixes")
        .prefix("a b/")
        .send()
        .await
        .unwrap();
    assert_eq!(v2.prefix(), Some("a b/"));
    let keys: Vec<_> = v2.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a b/c+d%e", "a b/\u{e9}t\u{e9}"]);
    let v1 = s3
        .list_objects()
        .bucket("prefixes")
        .prefix("a b/c+")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.prefix(), Some("a b/c+"));
    assert_eq!(v1.contents().len(), 1);
}

/// A part number uploaded again with other bytes (each write of a part is
/// sealed under a key of its own, from a random salt in its layout): the
/// upload holds the new bytes, the old ETag is no longer a part of it,
/// and the completed object reads back as the new bytes, in a range too.
#[tokio::test(flavor = "multi_thread")]
async fn a_part_uploaded_again_with_other_bytes_reads_as_the_new_bytes() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("reparts").send().await.unwrap();
    let up = s3.create_multipart_upload().bucket("reparts").key("k");
    let id = up.send().await.unwrap().upload_id().unwrap().to_owned();
    let upload = |n: i32, body: Vec<u8>| {
        let part = s3.upload_part().bucket("reparts").key("k").upload_id(&id);
        part.part_number(n).body(ByteStream::from(body)).send()
    };
    let first: Vec<u8> = (0..5 << 20).map(|i: u32| (i % 251) as u8).collect();
    let second: Vec<u8> = (0..5 << 20).map(|i: u32| (i % 241) as u8).collect();
    let old = upload(1, first).await.unwrap().e_tag().unwrap().to_owned();
    let new = upload(1, second.clone())
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    let last = upload(2, b"tail".to_vec())
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    assert_ne!(old, new);
    let listed = s3.list_parts().bucket("reparts").key("k").upload_id(&id);
    let listed = listed.send().await.unwrap();
    let etags: Vec<_> = listed.parts().iter().map(|p| p.e_tag().unwrap()).collect();
    assert_eq!(etags, [new.as_str(), last.as_str()]);
    let complete = |first: &str| {
        let parts = [(1, first), (2, last.as_str())]
            .map(|(n, etag)| CompletedPart::builder().part_number(n).e_tag(etag).build());
        let parts = CompletedMultipartUpload::builder().set_parts(Some(parts.to_vec()));
        let done = s3.complete_multipart_upload().bucket("reparts").key("k");
        done.upload_id(&id).multipart_upload(parts.build()).send()
    };
    assert_eq!(code(complete(&old).await), "InvalidPart");
    complete(&new).await.unwrap();
    let mut expected = second;
    expected.extend_from_slice(b"tail");
    let got = s3
        .get_object()
        .bucket("reparts")
        .key("k")
        .send()
        .await
        .unwrap();
    let got = got.body.collect().await.unwrap().into_bytes();
    assert!(got[..] == expected[..], "the object is the second write");
    let range = s3
        .get_object()
        .bucket("reparts")
        .key("k")
        .range("bytes=5242000-5242885");
    let range = range
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&range[..], &expected[5_242_000..]);
}
