//! Versioning, object lock, lifecycle and tagging against one shared
//! devnet with aws-sdk-s3: every version stays readable byte for byte,
//! delete markers hide and unhide keys, locked versions resist every
//! deletion, lifecycle rules expire what they name (a lifecycle "day" is
//! two seconds on this devnet) and spare what is locked, tags are held to
//! AWS's limits. Each scenario uses buckets of its own.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    DefaultRetention, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier, ObjectLockConfiguration,
    ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule, Tag, Tagging,
    VersioningConfiguration,
};
use common::devnet::{Devnet, shared_devnet};

fn devnet() -> &'static Devnet {
    shared_devnet(&["--gateway-arg=--lifecycle-day=2s"])
}

/// The error code of a failed request, or `ok`.
fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("(no code)").to_owned(),
    }
}

async fn set_versioning(s3: &aws_sdk_s3::Client, bucket: &str, status: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> Option<String> {
    let done = s3.put_object().bucket(bucket).key(key);
    let done = done.body(ByteStream::from(body.to_vec())).send().await;
    done.unwrap().version_id().map(str::to_owned)
}

async fn get_version(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, v: &str) -> Vec<u8> {
    let got = s3.get_object().bucket(bucket).key(key).version_id(v);
    let got = got.send().await.unwrap();
    assert_eq!(got.version_id(), Some(v));
    got.body.collect().await.unwrap().into_bytes().to_vec()
}

/// (key, version id, is latest, delete marker) of every entry of a
/// bucket's version listing, versions first.
async fn listed(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String, bool, bool)> {
    let page = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let mut out: Vec<_> = page
        .versions()
        .iter()
        .map(|v| {
            let id = v.version_id().unwrap().to_owned();
            (
                v.key().unwrap().to_owned(),
                id,
                v.is_latest().unwrap(),
                false,
            )
        })
        .collect();
    out.extend(page.delete_markers().iter().map(|m| {
        let id = m.version_id().unwrap().to_owned();
        (
            m.key().unwrap().to_owned(),
            id,
            m.is_latest().unwrap(),
            true,
        )
    }));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn overwritten_and_deleted_objects_keep_every_version_readable() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("v-keep").send().await.unwrap();
    assert!(
        s3.get_bucket_versioning()
            .bucket("v-keep")
            .send()
            .await
            .unwrap()
            .status()
            .is_none(),
        "never enabled"
    );
    assert_eq!(put(&s3, "v-keep", "k", b"before").await, None);
    set_versioning(&s3, "v-keep", BucketVersioningStatus::Enabled).await;
    let status = s3.get_bucket_versioning().bucket("v-keep").send().await;
    assert_eq!(
        status.unwrap().status(),
        Some(&BucketVersioningStatus::Enabled)
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let v1 = put(&s3, "v-keep", "k", b"one").await.unwrap();
    let v2 = put(&s3, "v-keep", "k", &big).await.unwrap();
    let v3 = put(&s3, "v-keep", "k", b"three").await.unwrap();
    assert!(v1 != v2 && v2 != v3);

    // A delete leaves a marker; the key reads as missing.
    let deleted = s3.delete_object().bucket("v-keep").key("k").send().await;
    let deleted = deleted.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().unwrap().to_owned();
    let gone = s3.get_object().bucket("v-keep").key("k").send().await;
    assert_eq!(code(gone), "NoSuchKey");
    let on_marker = s3
        .head_object()
        .bucket("v-keep")
        .key("k")
        .version_id(&marker);
    assert_eq!(
        on_marker
            .send()
            .await
            .unwrap_err()
            .raw_response()
            .unwrap()
            .status()
            .as_u16(),
        405
    );

    // Every version is listed, newest first, and reads back as written.
    let all = listed(&s3, "v-keep").await;
    let ids: Vec<&str> = all.iter().map(|(_, id, _, _)| id.as_str()).collect();
    assert_eq!(ids, [v3.as_str(), &v2, &v1, "null", &marker]);
    assert_eq!(
        all.iter()
            .filter(|e| e.2)
            .map(|e| e.1.as_str())
            .collect::<Vec<_>>(),
        [marker.as_str()],
        "only the marker is latest"
    );
    assert_eq!(get_version(&s3, "v-keep", "k", &v1).await, b"one");
    assert_eq!(get_version(&s3, "v-keep", "k", &v2).await, big);
    assert_eq!(get_version(&s3, "v-keep", "k", &v3).await, b"three");
    assert_eq!(get_version(&s3, "v-keep", "k", "null").await, b"before");
    let head = s3.head_object().bucket("v-keep").key("k").version_id(&v2);
    assert_eq!(
        head.send().await.unwrap().content_length(),
        Some(big.len() as i64)
    );

    // Deleting the marker brings the newest version back.
    let undo = s3
        .delete_object()
        .bucket("v-keep")
        .key("k")
        .version_id(&marker);
    let undo = undo.send().await.unwrap();
    assert_eq!(undo.delete_marker(), Some(true));
    let back = s3
        .get_object()
        .bucket("v-keep")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(back.version_id(), Some(v3.as_str()));
    assert_eq!(
        back.body.collect().await.unwrap().into_bytes().as_ref(),
        b"three"
    );

    // Deleting the current version for good promotes the one before.
    let drop = s3.delete_object().bucket("v-keep").key("k").version_id(&v3);
    drop.send().await.unwrap();
    let now = s3
        .get_object()
        .bucket("v-keep")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(now.version_id(), Some(v2.as_str()));
    let missing = s3.get_object().bucket("v-keep").key("k").version_id(&v3);
    assert_eq!(code(missing.send().await), "NoSuchVersion");
    let bad = s3.get_object().bucket("v-keep").key("k").version_id("nope");
    assert_eq!(code(bad.send().await), "InvalidArgument");

    // An old version copied over the key becomes the newest.
    let copy = s3.copy_object().bucket("v-keep").key("k");
    let copy = copy.copy_source(format!("v-keep/k?versionId={v1}"));
    let copied = copy.send().await.unwrap();
    assert_eq!(copied.copy_source_version_id(), Some(v1.as_str()));
    let restored = copied.version_id().unwrap().to_owned();
    assert_eq!(get_version(&s3, "v-keep", "k", &restored).await, b"one");

    // A bucket holding versions is not empty.
    let refused = s3.delete_bucket().bucket("v-keep").send().await;
    assert_eq!(code(refused), "BucketNotEmpty");
}

#[tokio::test(flavor = "multi_thread")]
async fn suspended_versioning_replaces_only_the_null_version() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("v-suspend").send().await.unwrap();
    set_versioning(&s3, "v-suspend", BucketVersioningStatus::Enabled).await;
    let kept = put(&s3, "v-suspend", "k", b"versioned").await.unwrap();
    set_versioning(&s3, "v-suspend", BucketVersioningStatus::Suspended).await;
    assert_eq!(
        put(&s3, "v-suspend", "k", b"null 1").await.as_deref(),
        Some("null")
    );
    assert_eq!(
        put(&s3, "v-suspend", "k", b"null 2").await.as_deref(),
        Some("null")
    );
    let ids: Vec<String> = listed(&s3, "v-suspend")
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(ids, ["null".to_owned(), kept.clone()]);
    assert_eq!(get_version(&s3, "v-suspend", "k", "null").await, b"null 2");
    // A delete while suspended is a null delete marker over the null
    // version.
    let deleted = s3.delete_object().bucket("v-suspend").key("k").send().await;
    assert_eq!(deleted.unwrap().version_id(), Some("null"));
    let all = listed(&s3, "v-suspend").await;
    assert_eq!(
        all,
        [
            ("k".into(), kept.clone(), false, false),
            ("k".into(), "null".into(), true, true)
        ]
    );
    // Enabled again: new versions on top, the old ones kept.
    set_versioning(&s3, "v-suspend", BucketVersioningStatus::Enabled).await;
    let newest = put(&s3, "v-suspend", "k", b"again").await.unwrap();
    let ids: Vec<String> = listed(&s3, "v-suspend")
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(ids, [newest, kept.clone(), "null".to_owned()]);
    assert_eq!(
        get_version(&s3, "v-suspend", "k", &kept).await,
        b"versioned"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_completions_of_one_upload_make_one_version() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("v-race").send().await.unwrap();
    set_versioning(&s3, "v-race", BucketVersioningStatus::Enabled).await;
    let upload = s3.create_multipart_upload().bucket("v-race").key("k");
    let upload = upload.send().await.unwrap();
    let id = upload.upload_id().unwrap().to_owned();
    let body = vec![7u8; 300_000];
    let part = s3.upload_part().bucket("v-race").key("k").upload_id(&id);
    let part = part.part_number(1).body(ByteStream::from(body.clone()));
    let etag = part.send().await.unwrap().e_tag().unwrap().to_owned();
    let completions: Vec<_> = (0..4)
        .map(|_| {
            let (s3, id, etag) = (s3.clone(), id.clone(), etag.clone());
            tokio::spawn(async move {
                let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder().parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(etag)
                        .build(),
                );
                let done = s3.complete_multipart_upload().bucket("v-race").key("k");
                let done = done.upload_id(id).multipart_upload(parts.build());
                code(done.send().await)
            })
        })
        .collect();
    for completion in completions {
        let answer = completion.await.unwrap();
        assert!(answer == "ok" || answer == "NoSuchUpload", "{answer}");
    }
    // One version, not one per completion naming the same shards.
    let versions = listed(&s3, "v-race").await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    let version = versions[0].1.clone();
    assert_eq!(get_version(&s3, "v-race", "k", &version).await, body);
    let delete = s3.delete_object().bucket("v-race").key("k");
    delete.version_id(&version).send().await.unwrap();
    assert!(listed(&s3, "v-race").await.is_empty());
    let uploads = s3.list_multipart_uploads().bucket("v-race").send().await;
    assert!(uploads.unwrap().uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_sent_twice_keeps_its_shards() {
    // A client retrying UploadPart after a time-out sends the same bytes
    // again: sealed and placed as before, they are the same shards, which
    // replacing the "old" part must not delete (deletes wait 30 s).
    let s3 = devnet().client();
    s3.create_bucket().bucket("v-retry").send().await.unwrap();
    let upload = s3.create_multipart_upload().bucket("v-retry").key("k");
    let id = upload.send().await.unwrap().upload_id().unwrap().to_owned();
    let body = common::bytes(333_333, 9);
    let mut etags = Vec::new();
    for _ in 0..2 {
        let part = s3.upload_part().bucket("v-retry").key("k").upload_id(&id);
        let part = part.part_number(1).body(ByteStream::from(body.clone()));
        etags.push(part.send().await.unwrap().e_tag().unwrap().to_owned());
    }
    assert_eq!(etags[0], etags[1]);
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder().parts(
        aws_sdk_s3::types::CompletedPart::builder()
            .part_number(1)
            .e_tag(&etags[0])
            .build(),
    );
    let done = s3.complete_multipart_upload().bucket("v-retry").key("k");
    let done = done.upload_id(&id).multipart_upload(parts.build());
    done.send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(35)).await;
    let got = s3
        .get_object()
        .bucket("v-retry")
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(got.body.collect().await.unwrap().into_bytes() == body);
}

#[tokio::test(flavor = "multi_thread")]
async fn version_listings_page_through_markers_and_prefixes() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("v-pages").send().await.unwrap();
    set_versioning(&s3, "v-pages", BucketVersioningStatus::Enabled).await;
    for key in ["a", "dir/x", "dir/y", "b"] {
        for n in 0..3 {
            put(&s3, "v-pages", key, format!("{key}{n}").as_bytes()).await;
        }
    }
    let (mut seen, mut prefixes) = (Vec::new(), Vec::new());
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    for _ in 0..20 {
        let page = s3
            .list_object_versions()
            .bucket("v-pages")
            .delimiter("/")
            .max_keys(2)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.versions().iter().map(|v| v.key().unwrap().to_owned()));
        prefixes.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_owned()),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    assert_eq!(seen, ["a", "a", "a", "b", "b", "b"]);
    assert_eq!(prefixes, ["dir/"]);
    let under = s3.list_object_versions().bucket("v-pages").prefix("dir/");
    assert_eq!(under.send().await.unwrap().versions().len(), 6);
}

/// A retain-until date `secs` from now.
fn in_secs(secs: u64) -> DateTime {
    DateTime::from(SystemTime::now() + Duration::from_secs(secs))
}

async fn locked_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    let create = s3.create_bucket().bucket(bucket);
    create
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let status = s3.get_bucket_versioning().bucket(bucket).send().await;
    assert_eq!(
        status.unwrap().status(),
        Some(&BucketVersioningStatus::Enabled),
        "object lock enables versioning"
    );
}

/// Writes `body` as key `k` of `bucket` under a COMPLIANCE retention of an
/// hour; its version id.
async fn put_compliance_locked(s3: &aws_sdk_s3::Client, bucket: &str, body: &[u8]) -> String {
    let put = s3.put_object().bucket(bucket).key("k");
    let put = put
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_secs(3600))
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
    put.version_id().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn compliance_locked_versions_resist_every_deletion() {
    let s3 = devnet().client();
    locked_bucket(&s3, "v-comply").await;
    let v = put_compliance_locked(&s3, "v-comply", b"kept").await;
    for bypass in [false, true] {
        let delete = s3
            .delete_object()
            .bucket("v-comply")
            .key("k")
            .version_id(&v);
        let delete = delete.bypass_governance_retention(bypass).send().await;
        assert_eq!(code(delete), "AccessDenied", "bypass {bypass}");
    }
    // An overwrite is a new version; the locked one stays.
    let over = s3.put_object().bucket("v-comply").key("k");
    over.body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_version(&s3, "v-comply", "k", &v).await, b"kept");
    // Its retention can be extended, never shortened or weakened.
    let retain = |until: DateTime, mode: ObjectLockRetentionMode| {
        s3.put_object_retention()
            .bucket("v-comply")
            .key("k")
            .version_id(&v)
            .bypass_governance_retention(true)
            .retention(
                ObjectLockRetention::builder()
                    .mode(mode)
                    .retain_until_date(until)
                    .build(),
            )
            .send()
    };
    assert_eq!(
        code(retain(in_secs(60), ObjectLockRetentionMode::Compliance).await),
        "AccessDenied"
    );
    assert_eq!(
        code(retain(in_secs(7200), ObjectLockRetentionMode::Governance).await),
        "AccessDenied"
    );
    assert_eq!(
        code(retain(in_secs(7200), ObjectLockRetentionMode::Compliance).await),
        "ok"
    );
    let got = s3
        .get_object_retention()
        .bucket("v-comply")
        .key("k")
        .version_id(&v);
    let got = got.send().await.unwrap();
    assert_eq!(
        got.retention().unwrap().mode(),
        Some(&ObjectLockRetentionMode::Compliance)
    );
    let head = s3.head_object().bucket("v-comply").key("k").version_id(&v);
    let head = head.send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    // DeleteObjects says so key by key.
    let batch = Delete::builder()
        .objects(
            ObjectIdentifier::builder()
                .key("k")
                .version_id(&v)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let answer = s3.delete_objects().bucket("v-comply").delete(batch);
    let answer = answer.send().await.unwrap();
    assert_eq!(answer.errors()[0].code(), Some("AccessDenied"));
    // Versioning cannot be suspended on a locked bucket.
    let suspend = s3
        .put_bucket_versioning()
        .bucket("v-comply")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        );
    assert_eq!(code(suspend.send().await), "InvalidBucketState");
}

#[tokio::test(flavor = "multi_thread")]
async fn governance_retention_yields_to_a_permitted_bypass_and_legal_holds_to_release() {
    let s3 = devnet().client();
    locked_bucket(&s3, "v-govern").await;
    // A default retention applies to versions written without one.
    let config = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(
                    DefaultRetention::builder()
                        .mode(ObjectLockRetentionMode::Governance)
                        .days(1)
                        .build(),
                )
                .build(),
        )
        .build();
    let set = s3.put_object_lock_configuration().bucket("v-govern");
    set.object_lock_configuration(config).send().await.unwrap();
    let v = put(&s3, "v-govern", "k", b"governed").await.unwrap();
    let head = s3
        .head_object()
        .bucket("v-govern")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));

    // A key allowed to write, but not to bypass governance.
    let (writer_id, writer) = devnet().new_key();
    let allow = [
        "bucket", "allow", "v-govern", "--key", &writer_id, "--read", "--write",
    ];
    devnet().gateway_cli(&allow).unwrap();
    let delete = |client: &aws_sdk_s3::Client, bypass: bool| {
        client
            .delete_object()
            .bucket("v-govern")
            .key("k")
            .version_id(&v)
            .bypass_governance_retention(bypass)
            .send()
    };
    assert_eq!(code(delete(&writer, false).await), "AccessDenied");
    assert_eq!(code(delete(&writer, true).await), "AccessDenied");
    assert_eq!(code(delete(&s3, false).await), "AccessDenied");

    // A legal hold outlasts even a permitted bypass until released.
    let hold = |on: ObjectLockLegalHoldStatus| {
        s3.put_object_legal_hold()
            .bucket("v-govern")
            .key("k")
            .version_id(&v)
            .legal_hold(ObjectLockLegalHold::builder().status(on).build())
            .send()
    };
    hold(ObjectLockLegalHoldStatus::On).await.unwrap();
    let status = s3
        .get_object_legal_hold()
        .bucket("v-govern")
        .key("k")
        .version_id(&v);
    assert_eq!(
        status.send().await.unwrap().legal_hold().unwrap().status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(code(delete(&s3, true).await), "AccessDenied");
    hold(ObjectLockLegalHoldStatus::Off).await.unwrap();
    // The bucket's owner may bypass; then the version is gone.
    assert_eq!(code(delete(&s3, true).await), "ok");
    let gone = s3.get_object().bucket("v-govern").key("k").version_id(&v);
    assert_eq!(code(gone.send().await), "NoSuchVersion");

    // A policy may let another key bypass governance too.
    let v2 = put(&s3, "v-govern", "k2", b"governed too").await.unwrap();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": writer_id},
            "Action": "s3:BypassGovernanceRetention",
            "Resource": "arn:aws:s3:::v-govern/*"
        }]
    });
    let set = s3
        .put_bucket_policy()
        .bucket("v-govern")
        .policy(policy.to_string());
    set.send().await.unwrap();
    let by_writer = |bypass: bool| {
        writer
            .delete_object()
            .bucket("v-govern")
            .key("k2")
            .version_id(&v2)
            .bypass_governance_retention(bypass)
            .send()
    };
    assert_eq!(
        code(by_writer(false).await),
        "AccessDenied",
        "no bypass asked"
    );
    assert_eq!(code(by_writer(true).await), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_name_version_actions_apart_from_object_actions() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("v-policy").send().await.unwrap();
    set_versioning(&s3, "v-policy", BucketVersioningStatus::Enabled).await;
    let old = put(&s3, "v-policy", "k", b"old").await.unwrap();
    put(&s3, "v-policy", "k", b"new").await.unwrap();
    let (writer_id, writer) = devnet().new_key();
    let allow = [
        "bucket", "allow", "v-policy", "--key", &writer_id, "--read", "--write",
    ];
    devnet().gateway_cli(&allow).unwrap();
    // The writer may read and delete objects, but not particular versions:
    // history it cannot see or destroy.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Principal": {"AWS": writer_id},
            "Action": ["s3:GetObjectVersion", "s3:DeleteObjectVersion"],
            "Resource": "arn:aws:s3:::v-policy/*"
        }]
    });
    let set = s3.put_bucket_policy().bucket("v-policy");
    set.policy(policy.to_string()).send().await.unwrap();
    let current = writer.get_object().bucket("v-policy").key("k").send().await;
    assert_eq!(code(current), "ok");
    let by_version = writer.get_object().bucket("v-policy").key("k");
    assert_eq!(
        code(by_version.version_id(&old).send().await),
        "AccessDenied"
    );
    let head = writer.head_object().bucket("v-policy").key("k");
    assert!(head.version_id(&old).send().await.is_err());
    let delete = writer.delete_object().bucket("v-policy").key("k");
    assert_eq!(code(delete.version_id(&old).send().await), "AccessDenied");
    let batch = Delete::builder()
        .objects(
            ObjectIdentifier::builder()
                .key("k")
                .version_id(&old)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let many = writer.delete_objects().bucket("v-policy").delete(batch);
    let many = many.send().await.unwrap();
    assert_eq!(many.errors()[0].code(), Some("AccessDenied"));
    // A plain delete only adds a marker, which the writer may do.
    let marker = writer
        .delete_object()
        .bucket("v-policy")
        .key("k")
        .send()
        .await;
    assert_eq!(marker.unwrap().delete_marker(), Some(true));
    assert_eq!(get_version(&s3, "v-policy", "k", &old).await, b"old");
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_kept_per_version_and_held_to_aws_limits() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("v-tags").send().await.unwrap();
    set_versioning(&s3, "v-tags", BucketVersioningStatus::Enabled).await;
    let put = s3
        .put_object()
        .bucket("v-tags")
        .key("k")
        .tagging("team=a%20b&tier=1");
    let v1 = put
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    let v1 = v1.version_id().unwrap().to_owned();
    let got = s3
        .get_object()
        .bucket("v-tags")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tag_count(), Some(2));
    let tags = s3
        .get_object_tagging()
        .bucket("v-tags")
        .key("k")
        .send()
        .await;
    let tags = tags.unwrap();
    let pairs: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(pairs, [("team", "a b"), ("tier", "1")]);
    // A new version has its own tags; the old keeps its.
    let v2 = put_tags_version(&s3).await;
    let set = Tagging::builder()
        .tag_set(Tag::builder().key("only").value("v2").build().unwrap())
        .build()
        .unwrap();
    let tagged = s3
        .put_object_tagging()
        .bucket("v-tags")
        .key("k")
        .tagging(set);
    assert_eq!(tagged.send().await.unwrap().version_id(), Some(v2.as_str()));
    let old = s3
        .get_object_tagging()
        .bucket("v-tags")
        .key("k")
        .version_id(&v1);
    assert_eq!(old.send().await.unwrap().tag_set().len(), 2);
    // A copy takes the source's tags unless told to replace them.
    let copy = s3
        .copy_object()
        .bucket("v-tags")
        .key("copy")
        .copy_source("v-tags/k");
    copy.send().await.unwrap();
    let copied = s3
        .get_object_tagging()
        .bucket("v-tags")
        .key("copy")
        .send()
        .await;
    assert_eq!(copied.unwrap().tag_set()[0].key(), "only");
    // AWS's limits.
    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    let too_many = s3
        .put_object()
        .bucket("v-tags")
        .key("x")
        .tagging(eleven.join("&"));
    assert_eq!(code(too_many.send().await), "InvalidTag");
    let long_key = format!("{}=v", "k".repeat(129));
    let too_long = s3.put_object().bucket("v-tags").key("x").tagging(long_key);
    assert_eq!(code(too_long.send().await), "InvalidTag");
    let twice = s3.put_object().bucket("v-tags").key("x").tagging("a=1&a=2");
    assert_eq!(code(twice.send().await), "InvalidTag");
    s3.delete_object_tagging()
        .bucket("v-tags")
        .key("k")
        .send()
        .await
        .unwrap();
    let none = s3
        .get_object_tagging()
        .bucket("v-tags")
        .key("k")
        .send()
        .await;
    assert!(none.unwrap().tag_set().is_empty());

    // Bucket tags.
    let missing = s3.get_bucket_tagging().bucket("v-tags").send().await;
    assert_eq!(code(missing), "NoSuchTagSet");
    let set = Tagging::builder()
        .tag_set(Tag::builder().key("cost").value("archive").build().unwrap())
        .build()
        .unwrap();
    let put = s3.put_bucket_tagging().bucket("v-tags").tagging(set);
    put.send().await.unwrap();
    let got = s3
        .get_bucket_tagging()
        .bucket("v-tags")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tag_set()[0].value(), "archive");
    s3.delete_bucket_tagging()
        .bucket("v-tags")
        .send()
        .await
        .unwrap();
    let gone = s3.get_bucket_tagging().bucket("v-tags").send().await;
    assert_eq!(code(gone), "NoSuchTagSet");
}

async fn put_tags_version(s3: &aws_sdk_s3::Client) -> String {
    let put = s3.put_object().bucket("v-tags").key("k");
    let put = put
        .body(ByteStream::from_static(b"2"))
        .send()
        .await
        .unwrap();
    put.version_id().unwrap().to_owned()
}

/// A lifecycle rule `id` on keys under `prefix`, its actions to add.
fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn set_rules(s3: &aws_sdk_s3::Client, bucket: &str, rules: Vec<LifecycleRule>) {
    let config = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .unwrap();
    let put = s3.put_bucket_lifecycle_configuration().bucket(bucket);
    put.lifecycle_configuration(config).send().await.unwrap();
}

/// Polls `check` every half second for up to 40 s (lifecycle passes run
/// every half second of a two-second day).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..80 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{what}: not within 40 s");
}

/// Every shard file on the devnet's nodes, with its size.
fn shard_files() -> std::collections::BTreeMap<std::path::PathBuf, u64> {
    let nodes = devnet().info["nodes"].as_array().unwrap().len();
    (0..nodes)
        .flat_map(|i| {
            let dir = std::path::PathBuf::from(devnet().node_field(i, "data_dir"));
            common::files_under(&dir.join("shards"))
        })
        .filter_map(|path| Some((path.clone(), std::fs::metadata(&path).ok()?.len())))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_rules_expire_versions_markers_and_uploads_on_a_scaled_clock() {
    let s3 = devnet().client();
    s3.create_bucket().bucket("v-life").send().await.unwrap();
    set_versioning(&s3, "v-life", BucketVersioningStatus::Enabled).await;
    let mut docs = Vec::new();
    for n in 0..3 {
        docs.push(
            put(&s3, "v-life", "docs/a", format!("doc {n}").as_bytes())
                .await
                .unwrap(),
        );
    }
    put(&s3, "v-life", "tmp/x", b"scratch").await.unwrap();
    let up = s3.create_multipart_upload().bucket("v-life").key("up");
    let upload = up.send().await.unwrap().upload_id().unwrap().to_owned();
    let part = s3
        .upload_part()
        .bucket("v-life")
        .key("up")
        .upload_id(&upload);
    // A part of a size no other scenario writes, so that its shards can be
    // told on the nodes' disks: ~278 KB each (a quarter of the part).
    let before = shard_files();
    part.part_number(1)
        .body(ByteStream::from(vec![5u8; 1_111_111]))
        .send()
        .await
        .unwrap();
    let part_shards: Vec<_> = shard_files()
        .into_iter()
        .filter(|(path, size)| !before.contains_key(path) && (270_000..300_000).contains(size))
        .map(|(path, _)| path)
        .collect();
    assert!(part_shards.len() >= 6, "{part_shards:?}");
    let one_day = || {
        NoncurrentVersionExpiration::builder()
            .noncurrent_days(1)
            .build()
    };
    set_rules(
        &s3,
        "v-life",
        vec![
            rule("docs", "docs/")
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .newer_noncurrent_versions(1)
                        .build(),
                )
                .build()
                .unwrap(),
            rule("tmp", "tmp/")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .noncurrent_version_expiration(one_day())
                .build()
                .unwrap(),
            rule("markers", "tmp/")
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
            rule("uploads", "")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    let got = s3
        .get_bucket_lifecycle_configuration()
        .bucket("v-life")
        .send()
        .await;
    assert_eq!(got.unwrap().rules().len(), 4);

    // The oldest noncurrent doc goes; the newest noncurrent one is kept.
    eventually("noncurrent docs expire", || async {
        let ids: Vec<String> = listed(&s3, "v-life")
            .await
            .into_iter()
            .filter(|e| e.0 == "docs/a")
            .map(|e| e.1)
            .collect();
        ids == [docs[2].clone(), docs[1].clone()]
    })
    .await;
    // The scratch object expires, its version then, and the marker left
    // alone last.
    eventually("tmp/x leaves no version behind", || async {
        listed(&s3, "v-life").await.iter().all(|e| e.0 != "tmp/x")
    })
    .await;
    eventually("the upload is aborted", || async {
        let uploads = s3.list_multipart_uploads().bucket("v-life").send().await;
        uploads.unwrap().uploads().is_empty()
    })
    .await;
    eventually("the aborted part's shards are deleted", || async {
        part_shards.iter().all(|path| !path.exists())
    })
    .await;
    let late = s3
        .upload_part()
        .bucket("v-life")
        .key("up")
        .upload_id(&upload);
    let late = late
        .part_number(2)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await;
    assert_eq!(code(late), "NoSuchUpload");
    assert_eq!(
        get_version(&s3, "v-life", "docs/a", &docs[1]).await,
        b"doc 1"
    );

    s3.delete_bucket_lifecycle()
        .bucket("v-life")
        .send()
        .await
        .unwrap();
    let gone = s3
        .get_bucket_lifecycle_configuration()
        .bucket("v-life")
        .send()
        .await;
    assert_eq!(code(gone), "NoSuchLifecycleConfiguration");
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_never_deletes_a_locked_version() {
    let s3 = devnet().client();
    locked_bucket(&s3, "v-life-lock").await;
    let locked = put_compliance_locked(&s3, "v-life-lock", b"locked").await;
    set_rules(
        &s3,
        "v-life-lock",
        vec![
            rule("all", "")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    // The current version expires behind a delete marker...
    eventually("the locked object is hidden", || async {
        let head = s3.head_object().bucket("v-life-lock").key("k").send().await;
        code(head) != "ok"
    })
    .await;
    // ...and outlives several noncurrent-expiry deadlines.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        get_version(&s3, "v-life-lock", "k", &locked).await,
        b"locked"
    );
}
