//! The metadata store's conformance suite: every behaviour the gateway
//! relies on, run against every backend (the embedded redb store, and a
//! PostgreSQL server started by the test itself; see `common/postgres.rs`),
//! the way Garage's db crate tests each engine with one suite.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Engine, Fixture};
use proptest::prelude::*;
use s3_gateway::meta::versions::{VersionPage, VersionQuery, Versioning};
use s3_gateway::meta::{
    AccessKey, BatchRefused, BucketAcl, BucketPerms, Completion, ConditionFailed, ListPage,
    ListQuery, Lookup, MetaError, MetaStore, NodeHealthRecord, ObjectMeta, ObjectWrite, PartLayout,
    RowCondition, SegmentKey, SegmentLayout, ShardLocation, WriteCondition, versions_namespace,
};

fn part(number: u32, segments: usize) -> PartLayout {
    PartLayout {
        part_number: number,
        size: 1000 * segments as u64,
        etag: format!("\"{number:032x}\""),
        segments: (0..segments)
            .map(|s| SegmentLayout {
                plain_len: 1000,
                shards: (0..6u8)
                    .map(|i| ShardLocation {
                        id: [i ^ s as u8 ^ number as u8; 32],
                        node: vec![i; 38],
                    })
                    .collect(),
            })
            .collect(),
        // Parts of multipart uploads are salted; 0 (a simple PUT) is not.
        key_salt: (number != 0).then_some([number as u8; 16]),
    }
}

fn meta(tag: u64) -> ObjectMeta {
    ObjectMeta {
        size: tag,
        etag: "\"9e107d9d372bb6826bd81d3542a419d6\"".into(),
        last_modified: 1_700_000_000_000 + tag,
        content_type: Some("text/plain".into()),
        content_encoding: None,
        content_disposition: Some("attachment; filename=\"x.txt\"".into()),
        content_language: None,
        cache_control: Some("no-cache".into()),
        expires: None,
        user_metadata: vec![("color".into(), "blue".into()), ("x".into(), "ü".into())],
        checksum: Some(("CRC32".into(), "AAAAAA==".into())),
        encryption_key: vec![7; 40],
        segment_size: 8 << 20,
        k: 4,
        m: 2,
        parts: vec![part(1, 1)],
        ..Default::default()
    }
}

fn small_meta() -> ObjectMeta {
    ObjectMeta {
        parts: Vec::new(),
        ..meta(0)
    }
}

fn q(
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    max_keys: usize,
) -> ListQuery {
    ListQuery {
        prefix: prefix.into(),
        delimiter: delimiter.map(Into::into),
        start_after: start_after.map(Into::into),
        max_keys,
    }
}

fn keys(page: &ListPage) -> Vec<&str> {
    page.objects.iter().map(|(k, _)| k.as_str()).collect()
}

/// The fixture's store with bucket `bkt` holding `names`.
async fn with_keys(f: &Fixture, names: &[&str]) -> MetaStore {
    let s = f.store();
    s.create_private_bucket("bkt", "r1", "CAOWNER")
        .await
        .unwrap();
    for k in names {
        s.put_object_always("bkt", k, &small_meta()).await.unwrap();
    }
    s
}

/// Pages through a whole listing; returns the entries in order (common
/// prefixes marked with a trailing " (cp)") and the pages.
async fn page_through(s: &MetaStore, base: &ListQuery) -> (Vec<String>, Vec<ListPage>) {
    let mut q = base.clone();
    let mut entries = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = s.list_objects("bkt", &q).await.unwrap();
        let mut mine: Vec<String> = page.objects.iter().map(|(k, _)| k.clone()).collect();
        mine.extend(page.common_prefixes.iter().map(|p| format!("{p} (cp)")));
        mine.sort_by(|a, b| a.trim_end_matches(" (cp)").cmp(b.trim_end_matches(" (cp)")));
        assert!(mine.len() <= q.max_keys);
        entries.extend(mine);
        let truncated = page.is_truncated;
        let next = page.next_marker.clone();
        pages.push(page);
        if !truncated {
            assert_eq!(next, None);
            break;
        }
        assert!(pages.len() < 10_000, "listing does not end");
        q.start_after = Some(next.expect("a truncated page has a marker"));
    }
    (entries, pages)
}

async fn bucket_names_follow_aws_rules(f: &Fixture) {
    let s = f.store();
    for good in [
        "abc",
        "my-bucket",
        "my.bucket.name",
        "a1b2c3",
        "123",
        "1.2.3",
        "1.2.3.4.5",
        "xn-abc",
        &"a".repeat(63),
    ] {
        s.create_private_bucket(good, "r", "o")
            .await
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in [
        "ab",
        "",
        &"a".repeat(64),
        "MyBucket",
        "my_bucket",
        "-abc",
        "abc-",
        ".abc",
        "abc.",
        "a..b",
        "192.168.5.4",
        "10.0.0.1",
        "xn--abc",
        "sthree-abc",
        "abc-s3alias",
        "abc--ol-s3",
        "my bucket",
        "bücket",
    ] {
        match s.create_private_bucket(bad, "r", "o").await {
            Err(MetaError::InvalidBucketName(_)) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

async fn buckets_create_twice_list_and_delete(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("zeta", "eu", "alice")
        .await
        .unwrap();
    s.create_private_bucket("alpha", "us", "bob").await.unwrap();
    assert!(matches!(
        s.create_private_bucket("zeta", "eu", "alice").await,
        Err(MetaError::BucketAlreadyOwnedByYou)
    ));
    assert!(matches!(
        s.create_private_bucket("zeta", "eu", "bob").await,
        Err(MetaError::BucketAlreadyExists)
    ));
    let info = s.bucket("zeta").await.unwrap().unwrap();
    assert_eq!((info.region.as_str(), info.owner.as_str()), ("eu", "alice"));
    assert!(info.created > 1_600_000_000_000);
    assert!(s.bucket("nope").await.unwrap().is_none());
    let names: Vec<_> = s
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    s.delete_bucket("alpha").await.unwrap();
    assert!(matches!(
        s.delete_bucket("alpha").await,
        Err(MetaError::NoSuchBucket)
    ));
    assert!(s.bucket("alpha").await.unwrap().is_none());
}

async fn non_empty_buckets_cannot_be_deleted(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("full", "r", "o").await.unwrap();
    // A bucket whose name extends another's must not count as its content.
    s.create_private_bucket("full2", "r", "o").await.unwrap();
    s.put_object_always("full2", "k", &meta(1)).await.unwrap();
    s.put_object_always("full", "k", &meta(1)).await.unwrap();
    assert!(matches!(
        s.delete_bucket("full").await,
        Err(MetaError::BucketNotEmpty)
    ));
    s.delete_object("full", "k").await.unwrap();
    s.delete_bucket("full").await.unwrap();

    // Unfinished uploads go with their bucket (as on AWS), and only its.
    s.create_private_bucket("upl", "r", "o").await.unwrap();
    s.create_private_bucket("upl2", "r", "o").await.unwrap();
    let id = s.create_upload("upl", "big", &small_meta()).await.unwrap();
    s.put_part(&id, &part(1, 2), Some("c1")).await.unwrap();
    let other = s.create_upload("upl2", "big", &small_meta()).await.unwrap();
    s.put_part(&other, &part(1, 1), None).await.unwrap();
    s.delete_bucket("upl").await.unwrap();
    assert!(s.upload(&id).await.unwrap().is_none());
    assert!(s.part_checksums(&id).await.unwrap().is_empty());
    assert!(s.remove_upload(&id).await.unwrap().is_none());
    assert!(s.upload(&other).await.unwrap().is_some());
    // A new bucket of the same name starts with none.
    s.create_private_bucket("upl", "r", "o").await.unwrap();
    assert!(s.list_uploads("upl", "").await.unwrap().is_empty());
    assert!(matches!(
        s.delete_bucket("full2").await,
        Err(MetaError::BucketNotEmpty)
    ));
}

async fn objects_round_trip_replace_delete_and_survive_reopen(f: &Fixture) {
    let mut big = meta(5);
    big.parts = vec![part(1, 3), part(2, 2), part(3, 1)];
    {
        let s = f.store();
        assert!(matches!(
            s.put_object_always("nob", "k", &big).await,
            Err(MetaError::NoSuchBucket)
        ));
        s.create_private_bucket("bkt", "r", "o").await.unwrap();
        assert_eq!(
            s.put_object_always("bkt", "k", &meta(1)).await.unwrap(),
            None
        );
        assert_eq!(
            s.put_object_always("bkt", "k", &big).await.unwrap(),
            Some(meta(1))
        );
        assert_eq!(s.object("bkt", "k").await.unwrap(), Some(big.clone()));
        s.put_object_always("bkt", "gone", &meta(2)).await.unwrap();
        assert_eq!(s.delete_object("bkt", "gone").await.unwrap(), Some(meta(2)));
        assert_eq!(s.delete_object("bkt", "gone").await.unwrap(), None);
        assert!(matches!(
            s.delete_object("nob", "k").await,
            Err(MetaError::NoSuchBucket)
        ));
        assert_eq!(s.object("bkt", "gone").await.unwrap(), None);
        assert_eq!(s.object("nob", "k").await.unwrap(), None);
    }
    let s = f.reopen().await;
    assert_eq!(s.object("bkt", "k").await.unwrap(), Some(big));
    assert_eq!(s.object("bkt", "gone").await.unwrap(), None);
    assert!(s.bucket("bkt").await.unwrap().is_some());
}

async fn listing_prefix_and_delimiter(f: &Fixture) {
    let s = with_keys(
        f,
        &[
            "a.txt",
            "docs/",
            "docs/a.md",
            "docs/b/c.md",
            "docs/b/d.md",
            "docs/e.md",
            "img/1.png",
            "img/2.png",
            "z",
        ],
    )
    .await;
    let p = s
        .list_objects("bkt", &q("", None, None, 1000))
        .await
        .unwrap();
    assert_eq!(keys(&p).len(), 9);
    assert!(p.common_prefixes.is_empty() && !p.is_truncated && p.next_marker.is_none());

    let p = s
        .list_objects("bkt", &q("docs/", None, None, 1000))
        .await
        .unwrap();
    assert_eq!(
        keys(&p),
        [
            "docs/",
            "docs/a.md",
            "docs/b/c.md",
            "docs/b/d.md",
            "docs/e.md"
        ]
    );

    let p = s
        .list_objects("bkt", &q("", Some("/"), None, 1000))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["a.txt", "z"]);
    assert_eq!(p.common_prefixes, ["docs/", "img/"]);

    let p = s
        .list_objects("bkt", &q("docs/", Some("/"), None, 1000))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["docs/", "docs/a.md", "docs/e.md"]);
    assert_eq!(p.common_prefixes, ["docs/b/"]);

    let p = s
        .list_objects("bkt", &q("docs", Some("/"), None, 1000))
        .await
        .unwrap();
    assert!(keys(&p).is_empty());
    assert_eq!(p.common_prefixes, ["docs/"]);

    // A multi-character delimiter.
    let p = s
        .list_objects("bkt", &q("", Some(".m"), None, 1000))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["a.txt", "docs/", "img/1.png", "img/2.png", "z"]);
    assert_eq!(
        p.common_prefixes,
        ["docs/a.m", "docs/b/c.m", "docs/b/d.m", "docs/e.m"]
    );

    // Truncation right before a common prefix, then resuming from it.
    let p = s
        .list_objects("bkt", &q("", Some("/"), None, 1))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["a.txt"]);
    assert!(p.is_truncated);
    assert_eq!(p.next_marker.as_deref(), Some("a.txt"));
    let p = s
        .list_objects("bkt", &q("", Some("/"), Some("a.txt"), 1))
        .await
        .unwrap();
    assert_eq!(p.common_prefixes, ["docs/"]);
    assert_eq!(p.next_marker.as_deref(), Some("docs/"));
    let p = s
        .list_objects("bkt", &q("", Some("/"), Some("docs/"), 1))
        .await
        .unwrap();
    assert_eq!(p.common_prefixes, ["img/"]);
    assert!(p.is_truncated);
    let p = s
        .list_objects("bkt", &q("", Some("/"), Some("img/"), 1))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["z"]);
    assert!(!p.is_truncated && p.next_marker.is_none());

    // A marker inside a rolled-up prefix does not return that prefix again.
    let p = s
        .list_objects("bkt", &q("", Some("/"), Some("docs/a.md"), 1000))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["z"]);
    assert_eq!(p.common_prefixes, ["img/"]);

    assert!(matches!(
        s.list_objects("nob", &q("", None, None, 10)).await,
        Err(MetaError::NoSuchBucket)
    ));
}

async fn listing_max_keys_zero_and_start_after_edges(f: &Fixture) {
    let s = with_keys(f, &["a", "b", "c"]).await;
    let p = s.list_objects("bkt", &q("", None, None, 0)).await.unwrap();
    assert_eq!(p, ListPage::default());
    let p = s
        .list_objects("bkt", &q("", None, Some("zzz"), 10))
        .await
        .unwrap();
    assert_eq!(p, ListPage::default());
    let p = s
        .list_objects("bkt", &q("", None, Some("b"), 10))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["c"]);
    let p = s
        .list_objects("bkt", &q("", None, Some(""), 10))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["a", "b", "c"]);
    // start_after before the prefix: the prefix wins.
    let p = s
        .list_objects("bkt", &q("b", None, Some("a"), 10))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["b"]);
    // Exactly max_keys left: not truncated.
    let p = s.list_objects("bkt", &q("", None, None, 3)).await.unwrap();
    assert!(!p.is_truncated && p.next_marker.is_none());
    let p = s.list_objects("bkt", &q("", None, None, 2)).await.unwrap();
    assert!(p.is_truncated);
    assert_eq!(p.next_marker.as_deref(), Some("b"));
    // Buckets whose names extend each other stay apart.
    s.create_private_bucket("bkt2", "r", "o").await.unwrap();
    s.put_object_always("bkt2", "0", &small_meta())
        .await
        .unwrap();
    let p = s.list_objects("bkt", &q("", None, None, 10)).await.unwrap();
    assert_eq!(keys(&p), ["a", "b", "c"]);
}

async fn paging_through_a_thousand_keys(f: &Fixture) {
    let names: Vec<String> = (0..1000)
        .map(|i| format!("k/{:04}/{}", (i * 7919) % 1000, i % 3))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let s = with_keys(f, &refs).await;
    let (entries, pages) = page_through(&s, &q("", None, None, 7)).await;
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(entries, expected);
    assert_eq!(pages.len(), 1000usize.div_ceil(7));
    assert!(
        pages[..pages.len() - 1]
            .iter()
            .all(|p| p.objects.len() == 7)
    );

    // With a delimiter: each of the 1000 "folders" exactly once.
    let (entries, _) = page_through(&s, &q("k/", Some("/"), None, 7)).await;
    let expected: Vec<String> = (0..1000).map(|i| format!("k/{i:04}/ (cp)")).collect();
    assert_eq!(entries, expected);
}

async fn unicode_space_and_percent_keys_sort_binary(f: &Fixture) {
    let names = [
        "a b",
        "a%20b",
        "a+b",
        "ä",
        "z",
        "Z",
        "日本/語",
        "日本/x",
        "😀",
        "\u{ffff}",
        "a\u{7f}",
        "a/b c/%",
        "",
    ];
    let s = with_keys(f, &names[..names.len() - 1]).await;
    let p = s
        .list_objects("bkt", &q("", None, None, 1000))
        .await
        .unwrap();
    let mut expected: Vec<&str> = names[..names.len() - 1].to_vec();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(keys(&p), expected);
    let p = s
        .list_objects("bkt", &q("日本/", None, None, 1000))
        .await
        .unwrap();
    assert_eq!(keys(&p), ["日本/x", "日本/語"]);
    let p = s
        .list_objects("bkt", &q("", Some("/"), None, 1000))
        .await
        .unwrap();
    assert_eq!(p.common_prefixes, ["a/", "日本/"]);
    let (entries, _) = page_through(&s, &q("", Some("/"), None, 2)).await;
    assert_eq!(entries.len(), names.len() - 1 - 3 + 2);
}

async fn delimiter_paging_never_repeats_a_common_prefix(f: &Fixture) {
    let mut names = Vec::new();
    for d in 0..30 {
        for f in 0..5 {
            names.push(format!("dir{d:02}/f{f}"));
        }
        names.push(format!("file{d:02}"));
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let s = with_keys(f, &refs).await;
    for max in 1..=8 {
        let (entries, _) = page_through(&s, &q("", Some("/"), None, max)).await;
        let set: BTreeSet<&String> = entries.iter().collect();
        assert_eq!(set.len(), entries.len(), "max_keys {max}: repeated entries");
        assert_eq!(entries.len(), 60);
        assert_eq!(entries[0], "dir00/ (cp)");
        assert_eq!(entries[59], "file29");
    }
}

async fn multipart_upload_state_round_trip(f: &Fixture) {
    let s = f.store();
    assert!(matches!(
        s.create_upload("nob", "k", &small_meta()).await,
        Err(MetaError::NoSuchBucket)
    ));
    s.create_private_bucket("bkt", "r", "o").await.unwrap();
    let template = small_meta();
    let a = s
        .create_upload("bkt", "videos/b.mp4", &template)
        .await
        .unwrap();
    let b = s
        .create_upload("bkt", "videos/a.mp4", &template)
        .await
        .unwrap();
    let c = s
        .create_upload("bkt", "videos/a.mp4", &template)
        .await
        .unwrap();
    let d = s.create_upload("bkt", "other", &template).await.unwrap();
    assert_ne!(b, c);
    assert!(a.chars().all(|ch| ch.is_ascii_alphanumeric()));

    assert_eq!(s.put_part(&a, &part(3, 1), None).await.unwrap(), None);
    assert_eq!(s.put_part(&a, &part(1, 2), None).await.unwrap(), None);
    assert_eq!(s.put_part(&a, &part(10_000, 1), None).await.unwrap(), None);
    let mut replacement = part(1, 1);
    replacement.etag = "\"new\"".into();
    assert_eq!(
        s.put_part(&a, &replacement, None).await.unwrap(),
        Some(part(1, 2))
    );
    assert!(matches!(
        s.put_part("nosuchupload", &part(1, 1), None).await,
        Err(MetaError::NoSuchUpload)
    ));

    let (bucket, key, tmpl, parts) = s.upload(&a).await.unwrap().unwrap();
    assert_eq!((bucket.as_str(), key.as_str()), ("bkt", "videos/b.mp4"));
    assert_eq!(tmpl, template);
    assert_eq!(
        parts,
        vec![replacement.clone(), part(3, 1), part(10_000, 1)]
    );
    assert_eq!(s.upload(&b).await.unwrap().unwrap().3, Vec::new());
    assert!(s.upload("nope").await.unwrap().is_none());

    let listed = s.list_uploads("bkt", "videos/").await.unwrap();
    let ids: Vec<(&str, &str)> = listed
        .iter()
        .map(|(k, id, _)| (k.as_str(), id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("videos/a.mp4", b.as_str()),
            ("videos/a.mp4", c.as_str()),
            ("videos/b.mp4", a.as_str())
        ]
    );
    assert_eq!(s.list_uploads("bkt", "").await.unwrap().len(), 4);
    assert!(matches!(
        s.list_uploads("nob", "").await,
        Err(MetaError::NoSuchBucket)
    ));

    assert_eq!(
        s.remove_upload(&a).await.unwrap(),
        Some(vec![replacement, part(3, 1), part(10_000, 1)])
    );
    assert_eq!(s.remove_upload(&a).await.unwrap(), None);
    assert!(s.upload(&a).await.unwrap().is_none());
    assert!(matches!(
        s.put_part(&a, &part(1, 1), None).await,
        Err(MetaError::NoSuchUpload)
    ));
    s.remove_upload(&b).await.unwrap().unwrap();
    s.remove_upload(&c).await.unwrap().unwrap();
    let left = s.list_uploads("bkt", "").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].0.as_str(), left[0].1.as_str()),
        ("other", d.as_str())
    );
}

async fn access_keys_create_insert_lookup(f: &Fixture) {
    let s = f.store();
    let master = s3_gateway::keywrap::MasterKey::generate();
    let k = s.create_key(&master).await.unwrap();
    assert_eq!(k.access_key_id.len(), 20);
    assert!(k.access_key_id.starts_with("CA"));
    assert!(
        k.access_key_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(k.secret_key.len(), 40);
    assert!(
        k.secret_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    );
    assert_eq!(
        s.secret_for(&k.access_key_id, &master)
            .await
            .unwrap()
            .as_deref(),
        Some(k.secret_key.as_str())
    );
    assert_eq!(s.secret_for("CANOTHERE", &master).await.unwrap(), None);

    let fixed = AccessKey {
        access_key_id: "CADEVNET0000000000AA".into(),
        secret_key: "s".repeat(40),
    };
    s.insert_key(&fixed, &master).await.unwrap();
    s.insert_key(&fixed, &master).await.unwrap();
    let k2 = s.create_key(&master).await.unwrap();
    assert_ne!(k.access_key_id, k2.access_key_id);
    let mut expected = vec![k.access_key_id, k2.access_key_id, fixed.access_key_id];
    expected.sort();
    assert_eq!(s.list_key_ids().await.unwrap(), expected);
}

/// The reference: every entry (key or common prefix) in sorted order.
fn reference(keys: &BTreeSet<String>, prefix: &str, delimiter: Option<&str>) -> Vec<String> {
    let mut entries = BTreeMap::new();
    for k in keys.iter().filter(|k| k.starts_with(prefix)) {
        let rest = &k[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|at| (d, at))) {
            Some((d, at)) => entries.insert(k[..prefix.len() + at + d.len()].to_owned(), true),
            None => entries.insert(k.clone(), false),
        };
    }
    entries
        .into_iter()
        .map(|(e, cp)| if cp { format!("{e} (cp)") } else { e })
        .collect()
}

/// One random listing checked against the reference model.
async fn listing_case(
    engine: Engine,
    keys: BTreeSet<String>,
    prefix: String,
    delimiter: Option<String>,
    start_after: Option<String>,
    max_keys: usize,
) {
    let f = Fixture::new(engine).await;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let s = with_keys(&f, &refs).await;
    let expected: Vec<String> = reference(&keys, &prefix, delimiter.as_deref())
        .into_iter()
        .filter(|e| {
            start_after
                .as_ref()
                .is_none_or(|a| e.trim_end_matches(" (cp)") > a.as_str())
        })
        .collect();
    let base = ListQuery {
        prefix,
        delimiter,
        start_after,
        max_keys,
    };
    let (entries, pages) = page_through(&s, &base).await;
    assert_eq!(entries, expected);
    assert_eq!(pages.len(), expected.len().div_ceil(max_keys).max(1));
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn listing_matches_a_reference_model_on_redb(
        keys in prop::collection::btree_set("[ab/]{1,6}", 0..40),
        prefix in "[ab/]{0,2}",
        delimiter in prop::option::of(prop_oneof![Just("/".to_owned()), Just("b".to_owned()), Just("/a".to_owned())]),
        start_after in prop::option::of("[ab/]{0,4}"),
        max_keys in 1usize..20,
    ) {
        block_on(listing_case(Engine::Redb, keys, prefix, delimiter, start_after, max_keys));
    }
}

proptest! {
    // Each case is a fresh database: fewer of them.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn listing_matches_a_reference_model_on_postgres(
        keys in prop::collection::btree_set("[ab/]{1,6}", 0..40),
        prefix in "[ab/]{0,2}",
        delimiter in prop::option::of(prop_oneof![Just("/".to_owned()), Just("b".to_owned()), Just("/a".to_owned())]),
        start_after in prop::option::of("[ab/]{0,4}"),
        max_keys in 1usize..20,
    ) {
        block_on(listing_case(Engine::Postgres, keys, prefix, delimiter, start_after, max_keys));
    }
}

async fn conditional_puts_are_decided_inside_the_transaction(f: &Fixture) {
    let s = f.store();
    assert!(matches!(
        s.put_object("nob", "k", meta(1), WriteCondition::IfAbsent)
            .await,
        Err(MetaError::NoSuchBucket)
    ));
    s.create_private_bucket("bkt", "r", "o").await.unwrap();
    // Only if absent: succeeds once, then refuses and writes nothing.
    assert_eq!(
        s.put_object("bkt", "k", meta(1), WriteCondition::IfAbsent)
            .await
            .unwrap(),
        Ok(None)
    );
    assert_eq!(
        s.put_object("bkt", "k", meta(2), WriteCondition::IfAbsent)
            .await
            .unwrap(),
        Err(ConditionFailed::PreconditionFailed)
    );
    assert_eq!(s.object("bkt", "k").await.unwrap(), Some(meta(1)));
    // If-Match: the current ETag (quotes or not), not another; the
    // replaced object comes back.
    assert_eq!(
        s.put_object("bkt", "k", meta(3), WriteCondition::IfMatch("0000".into()))
            .await
            .unwrap(),
        Err(ConditionFailed::PreconditionFailed)
    );
    assert_eq!(
        s.put_object(
            "bkt",
            "k",
            meta(3),
            WriteCondition::IfMatch("9e107d9d372bb6826bd81d3542a419d6".into())
        )
        .await
        .unwrap(),
        Ok(Some(meta(1)))
    );
    assert_eq!(
        s.put_object("bkt", "none", meta(3), WriteCondition::IfExists)
            .await
            .unwrap(),
        Err(ConditionFailed::NoSuchKey)
    );
    assert_eq!(s.object("bkt", "none").await.unwrap(), None);
    assert_eq!(s.object("bkt", "k").await.unwrap(), Some(meta(3)));
}

async fn racing_if_absent_puts_have_one_winner(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("bkt", "r", "o").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.put_object("bkt", "race", meta(i), WriteCondition::IfAbsent)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

async fn racing_unconditional_puts_each_replace_the_one_before(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("bkt", "r", "o").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.put_object_always("bkt", "race", &meta(i)).await.unwrap()
        }));
    }
    let mut replaced = Vec::new();
    let mut first = 0;
    for t in tasks {
        match t.await.unwrap() {
            Some(old) => replaced.push(old.size),
            None => first += 1,
        }
    }
    // Every manifest but the last one standing was handed back exactly
    // once (its shards are deleted by the caller): none leaks, none is
    // handed back twice.
    assert_eq!(first, 1, "one put found the key empty");
    let last = s.object("bkt", "race").await.unwrap().unwrap().size;
    replaced.push(last);
    replaced.sort_unstable();
    assert_eq!(replaced, (0..16).collect::<Vec<_>>());
}

async fn a_bucket_deleted_while_puts_race_keeps_no_object(f: &Fixture) {
    let s = f.store();
    for round in 0..6 {
        let bucket = format!("race-{round}");
        s.create_private_bucket(&bucket, "r", "o").await.unwrap();
        let mut puts = Vec::new();
        for i in 0..8u64 {
            let (s, bucket) = (s.clone(), bucket.clone());
            puts.push(tokio::spawn(async move {
                s.put_object(&bucket, &format!("k{i}"), meta(i), WriteCondition::Always)
                    .await
            }));
        }
        let deleted = s.delete_bucket(&bucket).await;
        let mut stored = 0;
        for p in puts {
            match p.await.unwrap() {
                Ok(Ok(_)) => stored += 1,
                Err(MetaError::NoSuchBucket) => {}
                other => panic!("unexpected put outcome {other:?}"),
            }
        }
        let left = s
            .objects_after(None, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|(b, _, _)| *b == bucket)
            .count();
        match deleted {
            Ok(()) => {
                assert_eq!(
                    stored, 0,
                    "round {round}: a put succeeded into a deleted bucket"
                );
                assert_eq!(left, 0, "round {round}: objects outlived their bucket");
                assert!(s.bucket(&bucket).await.unwrap().is_none());
            }
            Err(MetaError::BucketNotEmpty) => {
                assert_eq!(left, stored, "round {round}");
                assert!(s.bucket(&bucket).await.unwrap().is_some());
            }
            Err(e) => panic!("round {round}: {e}"),
        }
    }
}

async fn lookups_tell_a_missing_bucket_from_a_missing_key(f: &Fixture) {
    let s = f.store();
    assert!(matches!(
        s.object_in_bucket("none", "k").await.unwrap(),
        Lookup::NoSuchBucket
    ));
    s.create_private_bucket("bkt", "r", "o").await.unwrap();
    assert!(matches!(
        s.object_in_bucket("bkt", "k").await.unwrap(),
        Lookup::NoSuchKey
    ));
    s.put_object_always("bkt", "k", &meta(5)).await.unwrap();
    match s.object_in_bucket("bkt", "k").await.unwrap() {
        Lookup::Found(found) => assert_eq!(*found, meta(5)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.object_in_bucket("bkt", "K").await.unwrap(),
        Lookup::NoSuchKey
    ));
}

async fn bucket_acls_are_kept_with_the_bucket(f: &Fixture) {
    let s = f.store();
    s.create_bucket_with_acl("pub", "r", "o", BucketAcl::PublicRead)
        .await
        .unwrap();
    s.create_private_bucket("priv", "r", "o").await.unwrap();
    assert_eq!(
        s.bucket_acl("pub").await.unwrap(),
        Some(BucketAcl::PublicRead)
    );
    assert_eq!(
        s.bucket_acl("priv").await.unwrap(),
        Some(BucketAcl::Private)
    );
    assert_eq!(s.bucket_acl("none").await.unwrap(), None);
    s.set_bucket_acl("priv", BucketAcl::PublicRead)
        .await
        .unwrap();
    assert_eq!(
        s.bucket("priv").await.unwrap().unwrap().acl,
        BucketAcl::PublicRead
    );
    assert!(matches!(
        s.set_bucket_acl("none", BucketAcl::Private).await,
        Err(MetaError::NoSuchBucket)
    ));
    // A deleted and recreated bucket starts private.
    s.delete_bucket("pub").await.unwrap();
    s.create_private_bucket("pub", "r", "o").await.unwrap();
    assert_eq!(s.bucket_acl("pub").await.unwrap(), Some(BucketAcl::Private));
}

async fn bucket_grants_are_set_changed_removed_and_go_with_the_bucket(f: &Fixture) {
    let s = f.store();
    let read = BucketPerms {
        read: true,
        ..Default::default()
    };
    let rw = BucketPerms {
        write: true,
        ..read
    };
    s.create_private_bucket("bk1", "r", "A").await.unwrap();
    s.create_private_bucket("bk2", "r", "A").await.unwrap();
    s.set_bucket_grant("bk1", "B", read).await.unwrap();
    s.set_bucket_grant("bk2", "B", rw).await.unwrap();
    s.set_bucket_grant("bk1", "C", BucketPerms::ALL)
        .await
        .unwrap();
    assert_eq!(
        s.bucket_grants("bk1").await.unwrap(),
        [("B".to_owned(), read), ("C".to_owned(), BucketPerms::ALL)]
    );
    assert_eq!(
        s.key_grants("B").await.unwrap(),
        [("bk1".to_owned(), read), ("bk2".to_owned(), rw)]
    );
    // Replaced, then removed by granting nothing.
    s.set_bucket_grant("bk1", "B", rw).await.unwrap();
    assert_eq!(s.bucket_grants("bk1").await.unwrap()[0].1, rw);
    s.set_bucket_grant("bk1", "B", BucketPerms::default())
        .await
        .unwrap();
    assert_eq!(s.key_grants("B").await.unwrap(), [("bk2".to_owned(), rw)]);
    assert!(matches!(
        s.set_bucket_grant("none", "B", read).await,
        Err(MetaError::NoSuchBucket)
    ));
    // The cached view the access check reads follows each change.
    let info = s.bucket_access("bk1").await.unwrap().unwrap();
    assert_eq!(info.owner, "A");
    assert_eq!(info.perms_of("C"), BucketPerms::ALL);
    assert!(info.perms_of("B").is_none());
    s.set_bucket_grant("bk1", "B", read).await.unwrap();
    let info = s.bucket_access("bk1").await.unwrap().unwrap();
    assert_eq!(info.perms_of("B"), read);
    // A deleted and recreated bucket starts with no grants.
    s.delete_bucket("bk1").await.unwrap();
    assert!(s.bucket_access("bk1").await.unwrap().is_none());
    s.create_private_bucket("bk1", "r", "D").await.unwrap();
    assert!(s.bucket_grants("bk1").await.unwrap().is_empty());
    assert!(s.key_grants("C").await.unwrap().is_empty());
    let info = s.bucket_access("bk1").await.unwrap().unwrap();
    assert_eq!(
        (info.owner.as_str(), info.perms_of("C")),
        ("D", BucketPerms::default())
    );
    // A bucket created through another gateway (another cache) is seen at
    // once, even right after it was looked up missing here.
    assert!(s.bucket_access("late").await.unwrap().is_none());
    let other = s.without_cache();
    other.create_private_bucket("late", "r", "E").await.unwrap();
    assert_eq!(s.bucket_access("late").await.unwrap().unwrap().owner, "E");
}

async fn bucket_configs_are_set_replaced_removed_and_go_with_the_bucket(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("cfg", "r", "A").await.unwrap();
    s.create_private_bucket("cfg2", "r", "A").await.unwrap();
    assert!(s.bucket_configs("cfg").await.unwrap().is_empty());
    s.set_bucket_config("cfg", "policy", Some(b"{\"v\":1}"))
        .await
        .unwrap();
    s.set_bucket_config("cfg", "cors", Some(b"rules"))
        .await
        .unwrap();
    s.set_bucket_config("cfg2", "policy", Some(b"other"))
        .await
        .unwrap();
    assert_eq!(
        s.bucket_configs("cfg").await.unwrap(),
        [
            ("cors".to_owned(), b"rules".to_vec()),
            ("policy".to_owned(), b"{\"v\":1}".to_vec())
        ]
    );
    // Replaced, then removed.
    s.set_bucket_config("cfg", "policy", Some(b"{\"v\":2}"))
        .await
        .unwrap();
    assert_eq!(
        s.bucket_config("cfg", "policy").await.unwrap().as_deref(),
        Some(&b"{\"v\":2}"[..])
    );
    s.set_bucket_config("cfg", "cors", None).await.unwrap();
    assert_eq!(s.bucket_config("cfg", "cors").await.unwrap(), None);
    assert!(matches!(
        s.set_bucket_config("none", "policy", Some(b"x")).await,
        Err(MetaError::NoSuchBucket)
    ));
    // The access view parses the policy and the public access block.
    s.set_bucket_config(
        "cfg",
        "policy",
        Some(br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::cfg/*"}}"#),
    )
    .await
    .unwrap();
    s.set_bucket_config("cfg", "public-access-block", Some(&[0b1001]))
        .await
        .unwrap();
    let info = s.bucket_access("cfg").await.unwrap().unwrap();
    assert!(info.policy.as_ref().unwrap().is_public());
    assert!(info.public_access.block_public_acls && info.public_access.restrict_public_buckets);
    assert!(!info.public_access.ignore_public_acls);
    // A deleted and recreated bucket starts with none.
    s.delete_bucket("cfg").await.unwrap();
    s.create_private_bucket("cfg", "r", "A").await.unwrap();
    assert!(s.bucket_configs("cfg").await.unwrap().is_empty());
    assert!(
        s.bucket_access("cfg")
            .await
            .unwrap()
            .unwrap()
            .policy
            .is_none()
    );
    assert_eq!(s.bucket_configs("cfg2").await.unwrap().len(), 1);
}

async fn bucket_configs_are_written_with_the_bucket_and_as_expected(f: &Fixture) {
    let s = f.store();
    let configs: &[(&str, &[u8])] = &[("versioning", &[1]), ("object-lock", b"on")];
    s.create_configured_bucket("locked", "r", "A", BucketAcl::Private, configs)
        .await
        .unwrap();
    let held = s.bucket_configs("locked").await.unwrap();
    assert_eq!(
        held,
        [
            ("object-lock".to_owned(), b"on".to_vec()),
            ("versioning".to_owned(), vec![1])
        ]
    );
    // A write expecting what no longer holds writes nothing.
    let suspend = |expect: &'static [(&'static str, Option<&'static [u8]>)]| {
        s.set_bucket_config_if("locked", "versioning", Some(&[2]), expect)
    };
    assert!(!suspend(&[("object-lock", None)]).await.unwrap());
    assert_eq!(
        s.bucket_config("locked", "versioning").await.unwrap(),
        Some(vec![1])
    );
    assert!(!suspend(&[("object-lock", Some(b"off"))]).await.unwrap());
    assert!(suspend(&[("object-lock", Some(b"on"))]).await.unwrap());
    assert_eq!(
        s.bucket_config("locked", "versioning").await.unwrap(),
        Some(vec![2])
    );
    // Expecting absence, and removing.
    let tag = s.set_bucket_config_if("locked", "tagging", Some(b"t"), &[("tagging", None)]);
    assert!(tag.await.unwrap());
    let again = s.set_bucket_config_if("locked", "tagging", Some(b"u"), &[("tagging", None)]);
    assert!(!again.await.unwrap());
    let gone = s.set_bucket_config_if("locked", "tagging", None, &[("tagging", Some(b"t"))]);
    assert!(gone.await.unwrap());
    assert_eq!(s.bucket_config("locked", "tagging").await.unwrap(), None);
    assert!(matches!(
        s.set_bucket_config_if("nobucket", "tagging", None, &[])
            .await,
        Err(MetaError::NoSuchBucket)
    ));
    // Created again: refused, its configurations untouched.
    let again = s
        .create_configured_bucket(
            "locked",
            "r",
            "A",
            BucketAcl::Private,
            &[("versioning", &[0])],
        )
        .await;
    assert!(matches!(again, Err(MetaError::BucketAlreadyOwnedByYou)));
    assert_eq!(
        s.bucket_config("locked", "versioning").await.unwrap(),
        Some(vec![2])
    );
}

async fn batched_writes_apply_together_or_not_at_all(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("batch", "r", "A").await.unwrap();
    let history = versions_namespace("batch");
    let write = |bucket: &str, key: &str, value: Option<ObjectMeta>, condition| ObjectWrite {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        value,
        condition,
    };
    let (a, b) = (meta(1), meta(2));
    let done = s
        .write_objects(
            "batch",
            vec![
                write("batch", "k", Some(a.clone()), RowCondition::Absent),
                write(&history, "k\0v1", Some(b.clone()), RowCondition::Absent),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(done, Ok(()));
    assert_eq!(s.object("batch", "k").await.unwrap(), Some(a.clone()));
    assert_eq!(s.object(&history, "k\0v1").await.unwrap(), Some(b.clone()));
    // The second row's condition fails: the first is not written either.
    let refused = s
        .write_objects(
            "batch",
            vec![
                write("batch", "k", None, RowCondition::Is(Box::new(a.clone()))),
                write(
                    &history,
                    "k\0v1",
                    None,
                    RowCondition::Is(Box::new(a.clone())),
                ),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(refused, Err(BatchRefused::Row(1)));
    assert_eq!(s.object("batch", "k").await.unwrap(), Some(a.clone()));
    assert_eq!(
        s.write_objects(
            "batch",
            vec![write("batch", "k", Some(b.clone()), RowCondition::Absent)],
            None,
        )
        .await
        .unwrap(),
        Err(BatchRefused::Row(0))
    );
    // The versions namespace lists like a bucket, and keeps it from being
    // deleted.
    let page = s
        .list_objects(&history, &q("", None, None, 10))
        .await
        .unwrap();
    assert_eq!(keys(&page), ["k\0v1"]);
    s.delete_object("batch", "k").await.unwrap();
    assert!(matches!(
        s.delete_bucket("batch").await,
        Err(MetaError::BucketNotEmpty)
    ));
    let emptied = s
        .write_objects(
            "batch",
            vec![write(&history, "k\0v1", None, RowCondition::Any)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(emptied, Ok(()));
    s.delete_bucket("batch").await.unwrap();
    assert!(matches!(
        s.write_objects(
            "batch",
            vec![write("batch", "k", None, RowCondition::Any)],
            None
        )
        .await,
        Err(MetaError::NoSuchBucket)
    ));
}

async fn completing_an_upload_forgets_it_in_the_same_transaction(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("done", "r", "A").await.unwrap();
    let id = s.create_upload("done", "k", &small_meta()).await.unwrap();
    s.put_part(&id, &part(1, 2), Some("c1")).await.unwrap();
    s.put_part(&id, &part(2, 1), None).await.unwrap();
    let completion = Completion {
        upload_id: id.clone(),
        parts: vec![part(1, 2), part(2, 1)],
    };
    let object = ObjectMeta {
        parts: completion.parts.clone(),
        ..meta(1)
    };
    // Two completions of one upload race (in a versioned bucket, both
    // committing would make two versions naming the same shards): one
    // commits, the other is refused and writes nothing.
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (s, object, completion) = (s.clone(), object.clone(), completion.clone());
            tokio::spawn(async move {
                s.complete_version(
                    "done",
                    "k",
                    object,
                    WriteCondition::Always,
                    Versioning::Enabled,
                    &completion,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap().map(|c| c.version_id.is_some()));
    }
    outcomes.sort_by_key(|o| o.is_ok());
    assert_eq!(outcomes, [Err(ConditionFailed::NoSuchUpload), Ok(true)]);
    assert_eq!(all_versions(&s, "done").await.entries.len(), 1);
    assert_eq!(s.upload(&id).await.unwrap(), None);
    assert!(s.part_checksums(&id).await.unwrap().is_empty());
    assert_eq!(s.remove_upload(&id).await.unwrap(), None);
    assert!(s.list_uploads("done", "").await.unwrap().is_empty());
    // A part uploaded again after the completion read it: refused, the
    // upload kept.
    let again = s.create_upload("done", "k", &small_meta()).await.unwrap();
    s.put_part(&again, &part(1, 2), None).await.unwrap();
    s.put_part(&again, &part(1, 1), None).await.unwrap();
    let stale = Completion {
        upload_id: again.clone(),
        parts: vec![part(1, 2)],
    };
    let refused = s
        .complete_version(
            "done",
            "k",
            meta(2),
            WriteCondition::Always,
            Versioning::Unversioned,
            &stale,
        )
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err(), ConditionFailed::NoSuchUpload);
    assert!(s.upload(&again).await.unwrap().is_some());
    // A refused object condition keeps the upload too.
    let fresh = Completion {
        upload_id: again.clone(),
        parts: vec![part(1, 1)],
    };
    let refused = s
        .complete_version(
            "done",
            "k",
            meta(3),
            WriteCondition::IfAbsent,
            Versioning::Suspended,
            &fresh,
        )
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err(), ConditionFailed::PreconditionFailed);
    assert!(s.upload(&again).await.unwrap().is_some());
    // Suspended: the null version goes on top, the version before kept;
    // the upload is gone.
    let done = s
        .complete_version(
            "done",
            "k",
            meta(4),
            WriteCondition::Always,
            Versioning::Suspended,
            &fresh,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.version_id, None);
    assert_eq!(s.upload(&again).await.unwrap(), None);
    assert_eq!(s.object("done", "k").await.unwrap().unwrap().size, 4);
    assert_eq!(all_versions(&s, "done").await.entries.len(), 2);
}

/// The ids of a version listing's entries, `!` marking delete markers
/// and `*` the latest.
fn shown(page: &VersionPage) -> Vec<String> {
    page.entries
        .iter()
        .map(|e| {
            format!(
                "{}@{}{}{}",
                e.key,
                e.meta.size,
                if e.meta.delete_marker { "!" } else { "" },
                if e.is_latest { "*" } else { "" }
            )
        })
        .collect()
}

async fn all_versions(s: &MetaStore, bucket: &str) -> VersionPage {
    s.list_versions(
        bucket,
        &VersionQuery {
            max_keys: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn versions_are_kept_hidden_promoted_and_deleted(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("ver", "r", "A").await.unwrap();
    let put = |tag: u64, v: Versioning| {
        let s = s.clone();
        async move {
            s.put_version("ver", "k", meta(tag), WriteCondition::Always, v)
                .await
                .unwrap()
                .unwrap()
        }
    };
    // Before versioning: one null version, replaced in place.
    assert_eq!(put(1, Versioning::Unversioned).await.version_id, None);
    let first = put(2, Versioning::Enabled).await;
    assert!(first.displaced.is_none(), "the null version is kept");
    let v2 = first.version_id.clone().unwrap();
    let v3 = put(3, Versioning::Enabled).await.version_id.unwrap();
    assert_eq!(
        shown(&all_versions(&s, "ver").await),
        ["k@3*", "k@2", "k@1"]
    );
    // A delete marker hides the key; every version stays readable.
    let marker = s
        .delete_latest("ver", "k", Versioning::Enabled)
        .await
        .unwrap();
    assert!(s.object("ver", "k").await.unwrap().is_none());
    let marker_id = marker.version_id.unwrap();
    assert_eq!(
        s.hiding_marker("ver", "k")
            .await
            .unwrap()
            .unwrap()
            .version_id,
        Some(marker_id.clone())
    );
    assert_eq!(
        shown(&all_versions(&s, "ver").await),
        ["k@0!*", "k@3", "k@2", "k@1"]
    );
    let (old, _, latest) = s.version("ver", "k", &v2).await.unwrap().unwrap();
    assert_eq!((old.size, latest), (2, false));
    assert_eq!(
        s.version("ver", "k", "null").await.unwrap().unwrap().0.size,
        1
    );
    // Deleting the marker brings the newest version back.
    let gone = s
        .delete_version("ver", "k", &marker_id, |_| Ok::<_, ()>(()))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(gone.delete_marker);
    assert_eq!(s.object("ver", "k").await.unwrap().unwrap().size, 3);
    // Deleting the current version promotes the one before.
    let gone = s
        .delete_version("ver", "k", &v3, |_| Ok::<_, ()>(()))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(gone.size, 3);
    assert_eq!(s.object("ver", "k").await.unwrap().unwrap().size, 2);
    assert_eq!(shown(&all_versions(&s, "ver").await), ["k@2*", "k@1"]);
    // A refusal deletes nothing.
    let refused = s
        .delete_version("ver", "k", &v2, |_| Err("locked"))
        .await
        .unwrap();
    assert_eq!(refused, Err("locked"));
    // Suspended: writes replace the null version (its shards are the
    // caller's to delete) and keep the others.
    let suspended = put(4, Versioning::Suspended).await;
    assert_eq!(suspended.version_id, None);
    assert_eq!(suspended.displaced.unwrap().size, 1, "the old null version");
    let again = put(5, Versioning::Suspended).await;
    assert_eq!(again.displaced.unwrap().size, 4);
    assert_eq!(shown(&all_versions(&s, "ver").await), ["k@5*", "k@2"]);
    // Unknown versions are not found.
    assert!(s.version("ver", "k", &v3).await.unwrap().is_none());
    assert!(s.version("ver", "nokey", "null").await.unwrap().is_none());
}

async fn expiring_the_latest_version_spares_one_written_since_it_was_read(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("exp", "r", "A").await.unwrap();
    for versioning in [Versioning::Unversioned, Versioning::Enabled] {
        let key = format!("{versioning:?}");
        let put = |tag| s.put_version("exp", &key, meta(tag), WriteCondition::Always, versioning);
        put(1).await.unwrap().unwrap();
        let listed = s.object("exp", &key).await.unwrap().unwrap();
        put(2).await.unwrap().unwrap();
        let stale = s.expire_latest("exp", &key, versioning, &listed).await;
        assert!(stale.unwrap().is_none(), "{versioning:?}");
        let current = s.object("exp", &key).await.unwrap().unwrap();
        assert_eq!(current.size, 2);
        let done = s.expire_latest("exp", &key, versioning, &current).await;
        let done = done.unwrap().unwrap();
        assert_eq!(s.object("exp", &key).await.unwrap(), None);
        match versioning {
            Versioning::Unversioned => assert_eq!(done.displaced, Some(current)),
            _ => assert!(done.version_id.is_some() && done.displaced.is_none()),
        }
    }
}

async fn a_first_version_and_a_delete_marker_racing_stay_in_order(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("order", "r", "A").await.unwrap();
    for i in 0..24 {
        let key = format!("k{i}");
        let (a, b, k1, k2) = (s.clone(), s.clone(), key.clone(), key.clone());
        let put = tokio::spawn(async move {
            let v = Versioning::Enabled;
            a.put_version("order", &k1, meta(i), WriteCondition::Always, v)
                .await
        });
        let delete =
            tokio::spawn(async move { b.delete_latest("order", &k2, Versioning::Enabled).await });
        put.await.unwrap().unwrap().unwrap();
        delete.await.unwrap().unwrap();
        // The invariant: a current row is the newest version; with none,
        // the newest entry is a delete marker. Never a current version
        // under a newer marker.
        let current = s.object("order", &key).await.unwrap();
        let namespace = versions_namespace("order");
        let query = q(&format!("{key}\0"), None, None, 10);
        let history = s.list_objects(&namespace, &query).await.unwrap().objects;
        match current {
            // The marker first, then the version over it.
            Some(c) => assert!(
                history.len() == 1
                    && history[0].1.delete_marker
                    && history[0].1.version_seq < c.version_seq,
                "{key}: a marker newer than the current version"
            ),
            // The version first, then hidden by the marker.
            None => assert!(
                history.len() == 2 && history[0].1.delete_marker && !history[1].1.delete_marker,
                "{key}"
            ),
        }
    }
}

async fn racing_versioned_puts_keep_every_version(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("race", "r", "A").await.unwrap();
    let puts: Vec<_> = (1..=8)
        .map(|tag| {
            let s = s.clone();
            tokio::spawn(async move {
                s.put_version(
                    "race",
                    "k",
                    meta(tag),
                    WriteCondition::Always,
                    Versioning::Enabled,
                )
                .await
                .unwrap()
                .unwrap()
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for put in puts {
        let committed = put.await.unwrap();
        assert!(committed.displaced.is_none());
        ids.insert(committed.version_id.unwrap());
    }
    let page = all_versions(&s, "race").await;
    assert_eq!(page.entries.len(), 8, "{:?}", shown(&page));
    let listed: BTreeSet<String> = page
        .entries
        .iter()
        .map(|e| e.meta.version_id.clone().unwrap())
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(page.entries.iter().filter(|e| e.is_latest).count(), 1);
    assert!(page.entries[0].is_latest);
}

async fn a_version_written_after_one_from_a_clock_ahead_still_sorts_newest(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("skew", "r", "A").await.unwrap();
    // Another gateway's clock an hour ahead wrote the current version.
    let ahead = ObjectMeta {
        version_id: Some(format!("{:016x}{:016x}", (u64::MAX >> 4), 1u64)),
        version_seq: u64::MAX >> 4,
        ..meta(1)
    };
    s.put_object_always("skew", "k", &ahead).await.unwrap();
    let next = s
        .put_version(
            "skew",
            "k",
            meta(2),
            WriteCondition::Always,
            Versioning::Enabled,
        )
        .await
        .unwrap()
        .unwrap();
    let page = all_versions(&s, "skew").await;
    assert_eq!(shown(&page), ["k@2*", "k@1"]);
    assert_eq!(page.entries[0].meta.version_id, next.version_id);
    assert!(page.entries[0].meta.version_seq > ahead.version_seq);
    // The same above a delete marker with no current version.
    s.delete_latest("skew", "k", Versioning::Enabled)
        .await
        .unwrap();
    s.put_version(
        "skew",
        "k",
        meta(3),
        WriteCondition::Always,
        Versioning::Enabled,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        shown(&all_versions(&s, "skew").await),
        ["k@3*", "k@0!", "k@2", "k@1"]
    );
    // A condition over the current version still holds the write back.
    let refused = s
        .put_version(
            "skew",
            "k",
            meta(4),
            WriteCondition::IfAbsent,
            Versioning::Enabled,
        )
        .await
        .unwrap();
    assert_eq!(refused, Err(ConditionFailed::PreconditionFailed));
    assert_eq!(all_versions(&s, "skew").await.entries.len(), 4);
}

async fn version_listings_page_by_key_and_version_markers(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("pages", "r", "A").await.unwrap();
    for key in ["a", "d/1", "d/2", "e", "z"] {
        for tag in 1..=3 {
            s.put_version(
                "pages",
                key,
                meta(tag),
                WriteCondition::Always,
                Versioning::Enabled,
            )
            .await
            .unwrap()
            .unwrap();
        }
    }
    s.delete_latest("pages", "e", Versioning::Enabled)
        .await
        .unwrap();
    let whole = all_versions(&s, "pages").await;
    assert_eq!(whole.entries.len(), 16);
    for (delimiter, prefix) in [(None, ""), (Some("/"), ""), (None, "d/")] {
        let full = s
            .list_versions(
                "pages",
                &VersionQuery {
                    prefix: prefix.into(),
                    delimiter: delimiter.map(Into::into),
                    max_keys: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for max_keys in [1, 2, 3, 5] {
            let (mut entries, mut prefixes) = (Vec::new(), Vec::new());
            let (mut key_marker, mut version_id_marker) = (None, None);
            for _ in 0..40 {
                let page = s
                    .list_versions(
                        "pages",
                        &VersionQuery {
                            prefix: prefix.into(),
                            delimiter: delimiter.map(Into::into),
                            key_marker: key_marker.clone(),
                            version_id_marker: version_id_marker.clone(),
                            max_keys,
                        },
                    )
                    .await
                    .unwrap();
                assert!(page.entries.len() + page.common_prefixes.len() <= max_keys);
                entries.extend(page.entries.clone());
                prefixes.extend(page.common_prefixes.clone());
                if !page.is_truncated {
                    break;
                }
                key_marker = page.next_key_marker;
                version_id_marker = page.next_version_id_marker;
            }
            assert_eq!(entries, full.entries, "{delimiter:?} {prefix} {max_keys}");
            assert_eq!(prefixes, full.common_prefixes);
        }
    }
    let rolled = s
        .list_versions(
            "pages",
            &VersionQuery {
                delimiter: Some("/".into()),
                max_keys: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rolled.common_prefixes, ["d/"]);
    assert_eq!(
        shown(&rolled),
        [
            "a@3*", "a@2", "a@1", "e@0!*", "e@3", "e@2", "e@1", "z@3*", "z@2", "z@1"
        ]
    );
}

async fn keys_are_named_renamed_and_lose_their_name_with_them(f: &Fixture) {
    let s = f.store();
    s.put_key("NAMED", &[1; 60], true).await.unwrap();
    assert_eq!(s.key_name("NAMED").await.unwrap(), None);
    assert!(s.set_key_name("NAMED", Some("alice")).await.unwrap());
    assert_eq!(s.key_name("NAMED").await.unwrap().as_deref(), Some("alice"));
    assert!(s.set_key_name("NAMED", Some("bob ünïcode")).await.unwrap());
    assert_eq!(
        s.key_name("NAMED").await.unwrap().as_deref(),
        Some("bob ünïcode")
    );
    assert!(!s.set_key_name("NOSUCH", Some("x")).await.unwrap());
    assert_eq!(s.key_name("NOSUCH").await.unwrap(), None);
    assert!(s.set_key_name("NAMED", None).await.unwrap());
    assert_eq!(s.key_name("NAMED").await.unwrap(), None);
    s.set_key_name("NAMED", Some("carol")).await.unwrap();
    assert!(s.delete_key("NAMED").await.unwrap());
    s.put_key("NAMED", &[2; 60], true).await.unwrap();
    assert_eq!(
        s.key_name("NAMED").await.unwrap(),
        None,
        "a new key of the same id"
    );
    s.delete_key("NAMED").await.unwrap();
}

async fn keys_lose_and_regain_bucket_creation_and_deleting_one_drops_its_grants(f: &Fixture) {
    let s = f.store();
    let master = s3_gateway::keywrap::MasterKey::generate();
    let a = s.create_key(&master).await.unwrap().access_key_id;
    let b = s.create_key(&master).await.unwrap().access_key_id;
    assert!(s.key_may_create_buckets(&a).await.unwrap(), "new keys may");
    assert!(!s.key_may_create_buckets("CANOKEY").await.unwrap());
    assert!(s.set_key_may_create_buckets(&a, false).await.unwrap());
    assert!(!s.key_may_create_buckets(&a).await.unwrap());
    assert!(s.key_may_create_buckets(&b).await.unwrap(), "only a");
    assert!(s.set_key_may_create_buckets(&a, true).await.unwrap());
    assert!(s.key_may_create_buckets(&a).await.unwrap());
    assert!(
        !s.set_key_may_create_buckets("CANOKEY", false)
            .await
            .unwrap()
    );

    s.create_private_bucket("kept", "r", &a).await.unwrap();
    let read = BucketPerms {
        read: true,
        ..Default::default()
    };
    s.set_bucket_grant("kept", &b, read).await.unwrap();
    s.set_key_may_create_buckets(&b, false).await.unwrap();
    assert!(s.delete_key(&b).await.unwrap());
    assert!(!s.delete_key(&b).await.unwrap(), "already gone");
    assert_eq!(s.key_secret(&b).await.unwrap(), None);
    assert!(s.bucket_grants("kept").await.unwrap().is_empty());
    assert!(s.key_grants(&b).await.unwrap().is_empty());
    assert_eq!(s.list_key_ids().await.unwrap(), [a]);
    assert!(s.bucket("kept").await.unwrap().is_some());
}

async fn part_checksums_are_kept_with_their_parts(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("bkt", "r", "o").await.unwrap();
    let id = s.create_upload("bkt", "k", &small_meta()).await.unwrap();
    s.put_part(&id, &part(2, 1), Some("BBBB")).await.unwrap();
    s.put_part(&id, &part(1, 1), Some("AAAA")).await.unwrap();
    s.put_part(&id, &part(3, 1), None).await.unwrap();
    assert_eq!(
        s.part_checksums(&id).await.unwrap(),
        [(1, "AAAA".to_owned()), (2, "BBBB".to_owned())]
    );
    // Replacing a part without a checksum forgets the old one.
    s.put_part(&id, &part(2, 1), None).await.unwrap();
    assert_eq!(
        s.part_checksums(&id).await.unwrap(),
        [(1, "AAAA".to_owned())]
    );
    s.remove_upload(&id).await.unwrap();
    assert!(s.part_checksums(&id).await.unwrap().is_empty());
}

fn seg(key: &str, segment: u32) -> SegmentKey {
    SegmentKey {
        bucket: "bkt".into(),
        key: key.into(),
        part: 0,
        segment,
    }
}

async fn health_state_survives_a_reopen(f: &Fixture) {
    {
        let s = f.store();
        let record = NodeHealthRecord {
            alpha: 19.5,
            beta: 0.5,
            passed: 40,
            failed: 1,
            timed_out: 2,
            last_audit: 5,
            last_seen: 6,
            disqualified: None,
        };
        s.put_node_health(&[(vec![1; 38], record.clone())])
            .await
            .unwrap();
        s.mark_bad_shard(&[1; 38], &[9; 32], 7).await.unwrap();
        s.mark_bad_shard(&[2; 38], &[8; 32], 7).await.unwrap();
        s.clear_bad_shards(&[(vec![2; 38], [8; 32])]).await.unwrap();
        // Riskiest first: fewest healthy, then oldest.
        s.update_repair_queue(&[(seg("a", 0), 5), (seg("b", 1), 4)], &[], 100)
            .await
            .unwrap();
        s.update_repair_queue(&[(seg("c", 0), 4)], &[], 200)
            .await
            .unwrap();
        // Re-ranking keeps the first queue time.
        s.update_repair_queue(&[(seg("a", 0), 4)], &[seg("x", 9)], 300)
            .await
            .unwrap();
        s.update_rebalance_queue(&[seg("r", 2)], &[], 50)
            .await
            .unwrap();
        s.update_rebalance_queue(&[seg("q", 1), seg("r", 2)], &[], 60)
            .await
            .unwrap();
        s.set_setting("answer", b"42").await.unwrap();
    }
    let s = f.reopen().await;
    let nodes = s.node_health().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].1.passed, 40);
    assert_eq!(s.bad_shards().await.unwrap(), [(vec![1; 38], [9; 32])]);
    let queue: Vec<(SegmentKey, u8, u64)> = s
        .repair_queue()
        .await
        .unwrap()
        .into_iter()
        .map(|(k, e)| (k, e.healthy, e.queued))
        .collect();
    assert_eq!(
        queue,
        [
            (seg("a", 0), 4, 100),
            (seg("b", 1), 4, 100),
            (seg("c", 0), 4, 200)
        ]
    );
    s.update_repair_queue(&[], &[seg("a", 0)], 400)
        .await
        .unwrap();
    assert_eq!(s.repair_queue().await.unwrap().len(), 2);
    assert_eq!(
        s.rebalance_queue().await.unwrap(),
        [seg("r", 2), seg("q", 1)]
    );
    s.update_rebalance_queue(&[], &[seg("r", 2)], 70)
        .await
        .unwrap();
    assert_eq!(s.rebalance_queue().await.unwrap(), [seg("q", 1)]);
    assert_eq!(
        s.setting("answer").await.unwrap().as_deref(),
        Some(&b"42"[..])
    );
    assert_eq!(s.setting("nothing").await.unwrap(), None);
}

async fn passes_over_objects_and_references_see_everything(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("bkt", "r", "o").await.unwrap();
    s.create_private_bucket("bkt2", "r", "o").await.unwrap();
    let mut want = Vec::new();
    for i in 0..25u64 {
        let (b, k) = if i % 2 == 0 {
            ("bkt", format!("k{i:02}"))
        } else {
            ("bkt2", format!("k{i:02}"))
        };
        let mut m = meta(i);
        m.parts = vec![part(i as u32 + 1, 1)];
        s.put_object_always(b, &k, &m).await.unwrap();
        want.push((b.to_owned(), k));
    }
    want.sort();
    let mut seen = Vec::new();
    s.for_each_object(|b, k, _| seen.push((b.to_owned(), k.to_owned())))
        .await
        .unwrap();
    assert_eq!(seen, want);
    let page = s
        .objects_after(Some(("bkt".into(), "k10".into())), 3)
        .await
        .unwrap();
    let got: Vec<&str> = page.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(got, ["k12", "k14", "k16"]);
    // References: every shard of objects and of uploaded parts.
    let upload = s.create_upload("bkt", "mp", &small_meta()).await.unwrap();
    s.put_part(&upload, &part(200, 2), None).await.unwrap();
    let refs = s.shard_references().await.unwrap();
    for p in [part(1, 1), part(200, 2)] {
        for shard in p.segments.iter().flat_map(|s| &s.shards) {
            assert!(refs.contains(&(shard.node.clone(), shard.id)));
        }
    }
}

async fn moving_shards_checks_the_version_and_the_old_place(f: &Fixture) {
    let s = f.store();
    s.create_private_bucket("bkt", "r", "o").await.unwrap();
    let m = meta(1);
    s.put_object_always("bkt", "k", &m).await.unwrap();
    let at = seg("k", 0);
    let from = m.parts[0].segments[0].shards[2].clone();
    let to = ShardLocation {
        id: from.id,
        node: vec![99; 38],
    };
    let version = (m.etag.as_str(), m.last_modified);
    // Another version, or a shard no longer where it was: nothing moves.
    assert!(
        !s.move_shards(&at, (m.etag.as_str(), 1), &[(2, from.clone(), to.clone())])
            .await
            .unwrap()
    );
    assert!(
        !s.move_shards(&at, version, &[(2, to.clone(), to.clone())])
            .await
            .unwrap()
    );
    assert!(
        s.move_shards(&at, version, &[(2, from.clone(), to.clone())])
            .await
            .unwrap()
    );
    let moved = s.object("bkt", "k").await.unwrap().unwrap();
    assert_eq!(moved.parts[0].segments[0].shards[2], to);
    assert!(!s.move_shards(&seg("gone", 0), version, &[]).await.unwrap());
}

async fn leases_go_to_one_holder_until_they_expire(f: &Fixture) {
    let s = f.store();
    let ttl = Duration::from_millis(400);
    assert!(s.try_lease("health", "a", ttl).await.unwrap());
    assert!(!s.try_lease("health", "b", ttl).await.unwrap());
    assert!(s.try_lease("health", "a", ttl).await.unwrap(), "renewed");
    assert!(s.try_lease("other", "b", ttl).await.unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        s.try_lease("health", "b", ttl).await.unwrap(),
        "taken over once expired"
    );
    assert!(!s.try_lease("health", "a", ttl).await.unwrap());
    s.release_lease("health", "a").await.unwrap();
    assert!(
        !s.try_lease("health", "a", ttl).await.unwrap(),
        "only the holder releases"
    );
    s.release_lease("health", "b").await.unwrap();
    assert!(s.try_lease("health", "a", ttl).await.unwrap());
}

/// Runs every scenario against each backend, one test per (scenario,
/// backend), each on a fresh store.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = super::Fixture::new(super::Engine::Redb).await;
                    super::$name(&f).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = super::Fixture::new(super::Engine::Postgres).await;
                    super::$name(&f).await;
                }
            )*
        }
    };
}

conformance!(
    bucket_names_follow_aws_rules,
    buckets_create_twice_list_and_delete,
    non_empty_buckets_cannot_be_deleted,
    objects_round_trip_replace_delete_and_survive_reopen,
    listing_prefix_and_delimiter,
    listing_max_keys_zero_and_start_after_edges,
    paging_through_a_thousand_keys,
    unicode_space_and_percent_keys_sort_binary,
    delimiter_paging_never_repeats_a_common_prefix,
    multipart_upload_state_round_trip,
    access_keys_create_insert_lookup,
    conditional_puts_are_decided_inside_the_transaction,
    racing_if_absent_puts_have_one_winner,
    racing_unconditional_puts_each_replace_the_one_before,
    a_bucket_deleted_while_puts_race_keeps_no_object,
    lookups_tell_a_missing_bucket_from_a_missing_key,
    bucket_acls_are_kept_with_the_bucket,
    bucket_grants_are_set_changed_removed_and_go_with_the_bucket,
    bucket_configs_are_set_replaced_removed_and_go_with_the_bucket,
    bucket_configs_are_written_with_the_bucket_and_as_expected,
    batched_writes_apply_together_or_not_at_all,
    completing_an_upload_forgets_it_in_the_same_transaction,
    versions_are_kept_hidden_promoted_and_deleted,
    racing_versioned_puts_keep_every_version,
    a_first_version_and_a_delete_marker_racing_stay_in_order,
    expiring_the_latest_version_spares_one_written_since_it_was_read,
    a_version_written_after_one_from_a_clock_ahead_still_sorts_newest,
    version_listings_page_by_key_and_version_markers,
    keys_are_named_renamed_and_lose_their_name_with_them,
    keys_lose_and_regain_bucket_creation_and_deleting_one_drops_its_grants,
    part_checksums_are_kept_with_their_parts,
    health_state_survives_a_reopen,
    passes_over_objects_and_references_see_everything,
    moving_shards_checks_the_version_and_the_old_place,
    leases_go_to_one_holder_until_they_expire,
);

#[test]
fn the_redb_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    drop(MetaStore::open_redb(&path).unwrap());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}
