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
