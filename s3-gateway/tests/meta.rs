//! Tests of the gateway's metadata store.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use s3_gateway::meta::{
    AccessKey, ListPage, ListQuery, MetaError, MetaStore, ObjectMeta, PartLayout, SegmentLayout,
    ShardLocation,
};

fn store() -> (tempfile::TempDir, MetaStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = MetaStore::open(&dir.path().join("meta.redb")).unwrap();
    (dir, store)
}

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

fn with_keys(names: &[&str]) -> (tempfile::TempDir, MetaStore) {
    let (dir, s) = store();
    s.create_bucket("bkt", "r1", "CAOWNER").unwrap();
    for k in names {
        s.put_object("bkt", k, &small_meta()).unwrap();
    }
    (dir, s)
}

/// Pages through a whole listing; returns the entries in order (common
/// prefixes marked with a trailing " (cp)") and the pages.
fn page_through(s: &MetaStore, base: &ListQuery) -> (Vec<String>, Vec<ListPage>) {
    let mut q = base.clone();
    let mut entries = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = s.list_objects("bkt", &q).unwrap();
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

#[test]
fn bucket_names_follow_aws_rules() {
    let (_d, s) = store();
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
        s.create_bucket(good, "r", "o")
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
        match s.create_bucket(bad, "r", "o") {
            Err(MetaError::InvalidBucketName(_)) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn buckets_create_twice_list_and_delete() {
    let (_d, s) = store();
    s.create_bucket("zeta", "eu", "alice").unwrap();
    s.create_bucket("alpha", "us", "bob").unwrap();
    assert!(matches!(
        s.create_bucket("zeta", "eu", "alice"),
        Err(MetaError::BucketAlreadyOwnedByYou)
    ));
    assert!(matches!(
        s.create_bucket("zeta", "eu", "bob"),
        Err(MetaError::BucketAlreadyExists)
    ));
    let info = s.bucket("zeta").unwrap().unwrap();
    assert_eq!((info.region.as_str(), info.owner.as_str()), ("eu", "alice"));
    assert!(info.created > 1_600_000_000_000);
    assert!(s.bucket("nope").unwrap().is_none());
    let names: Vec<_> = s
        .list_buckets()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    s.delete_bucket("alpha").unwrap();
    assert!(matches!(
        s.delete_bucket("alpha"),
        Err(MetaError::NoSuchBucket)
    ));
    assert!(s.bucket("alpha").unwrap().is_none());
}

#[test]
fn non_empty_buckets_cannot_be_deleted() {
    let (_d, s) = store();
    s.create_bucket("full", "r", "o").unwrap();
    // A bucket whose name extends another's must not count as its content.
    s.create_bucket("full2", "r", "o").unwrap();
    s.put_object("full2", "k", &meta(1)).unwrap();
    s.put_object("full", "k", &meta(1)).unwrap();
    assert!(matches!(
        s.delete_bucket("full"),
        Err(MetaError::BucketNotEmpty)
    ));
    s.delete_object("full", "k").unwrap();
    s.delete_bucket("full").unwrap();

    s.create_bucket("upl", "r", "o").unwrap();
    let id = s.create_upload("upl", "big", &small_meta()).unwrap();
    assert!(matches!(
        s.delete_bucket("upl"),
        Err(MetaError::BucketNotEmpty)
    ));
    s.remove_upload(&id).unwrap().unwrap();
    s.delete_bucket("upl").unwrap();
    assert!(matches!(
        s.delete_bucket("full2"),
        Err(MetaError::BucketNotEmpty)
    ));
}

#[test]
fn objects_round_trip_replace_delete_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let mut big = meta(5);
    big.parts = vec![part(1, 3), part(2, 2), part(3, 1)];
    {
        let s = MetaStore::open(&path).unwrap();
        assert!(matches!(
            s.put_object("nob", "k", &big),
            Err(MetaError::NoSuchBucket)
        ));
        s.create_bucket("bkt", "r", "o").unwrap();
        assert_eq!(s.put_object("bkt", "k", &meta(1)).unwrap(), None);
        assert_eq!(s.put_object("bkt", "k", &big).unwrap(), Some(meta(1)));
        assert_eq!(s.object("bkt", "k").unwrap(), Some(big.clone()));
        s.put_object("bkt", "gone", &meta(2)).unwrap();
        assert_eq!(s.delete_object("bkt", "gone").unwrap(), Some(meta(2)));
        assert_eq!(s.delete_object("bkt", "gone").unwrap(), None);
        assert!(matches!(
            s.delete_object("nob", "k"),
            Err(MetaError::NoSuchBucket)
        ));
        assert_eq!(s.object("bkt", "gone").unwrap(), None);
        assert_eq!(s.object("nob", "k").unwrap(), None);
    }
    let s = MetaStore::open(&path).unwrap();
    assert_eq!(s.object("bkt", "k").unwrap(), Some(big));
    assert_eq!(s.object("bkt", "gone").unwrap(), None);
    assert!(s.bucket("bkt").unwrap().is_some());
}

#[test]
fn listing_prefix_and_delimiter() {
    let (_d, s) = with_keys(&[
        "a.txt",
        "docs/",
        "docs/a.md",
        "docs/b/c.md",
        "docs/b/d.md",
        "docs/e.md",
        "img/1.png",
        "img/2.png",
        "z",
    ]);
    let p = s.list_objects("bkt", &q("", None, None, 1000)).unwrap();
    assert_eq!(keys(&p).len(), 9);
    assert!(p.common_prefixes.is_empty() && !p.is_truncated && p.next_marker.is_none());

    let p = s
        .list_objects("bkt", &q("docs/", None, None, 1000))
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
        .unwrap();
    assert_eq!(keys(&p), ["a.txt", "z"]);
    assert_eq!(p.common_prefixes, ["docs/", "img/"]);

    let p = s
        .list_objects("bkt", &q("docs/", Some("/"), None, 1000))
        .unwrap();
    assert_eq!(keys(&p), ["docs/", "docs/a.md", "docs/e.md"]);
    assert_eq!(p.common_prefixes, ["docs/b/"]);

    let p = s
        .list_objects("bkt", &q("docs", Some("/"), None, 1000))
        .unwrap();
    assert!(keys(&p).is_empty());
    assert_eq!(p.common_prefixes, ["docs/"]);

    // A multi-character delimiter.
    let p = s
        .list_objects("bkt", &q("", Some(".m"), None, 1000))
        .unwrap();
    assert_eq!(keys(&p), ["a.txt", "docs/", "img/1.png", "img/2.png", "z"]);
    assert_eq!(
        p.common_prefixes,
        ["docs/a.m", "docs/b/c.m", "docs/b/d.m", "docs/e.m"]
    );

    // Truncation right before a common prefix, then resuming from it.
    let p = s.list_objects("bkt", &q("", Some("/"), None, 1)).unwrap();
    assert_eq!(keys(&p), ["a.txt"]);
    assert!(p.is_truncated);
    assert_eq!(p.next_marker.as_deref(), Some("a.txt"));
    let p = s
        .list_objects("bkt", &q("", Some("/"), Some("a.txt"), 1))
        .unwrap();
    assert_eq!(p.common_prefixes, ["docs/"]);
    assert_eq!(p.next_marker.as_deref(), Some("docs/"));
    let p = s
        .list_objects("bkt", &q("", Some("/"), Some("docs/"), 1))
        .unwrap();
    assert_eq!(p.common_prefixes, ["img/"]);
    assert!(p.is_truncated);
    let p = s
        .list_objects("bkt", &q("", Some("/"), Some("img/"), 1))
        .unwrap();
    assert_eq!(keys(&p), ["z"]);
    assert!(!p.is_truncated && p.next_marker.is_none());

    // A marker inside a rolled-up prefix does not return that prefix again.
    let p = s
        .list_objects("bkt", &q("", Some("/"), Some("docs/a.md"), 1000))
        .unwrap();
    assert_eq!(keys(&p), ["z"]);
    assert_eq!(p.common_prefixes, ["img/"]);

    assert!(matches!(
        s.list_objects("nob", &q("", None, None, 10)),
        Err(MetaError::NoSuchBucket)
    ));
}

#[test]
fn listing_max_keys_zero_and_start_after_edges() {
    let (_d, s) = with_keys(&["a", "b", "c"]);
    let p = s.list_objects("bkt", &q("", None, None, 0)).unwrap();
    assert_eq!(p, ListPage::default());
    let p = s
        .list_objects("bkt", &q("", None, Some("zzz"), 10))
        .unwrap();
    assert_eq!(p, ListPage::default());
    let p = s.list_objects("bkt", &q("", None, Some("b"), 10)).unwrap();
    assert_eq!(keys(&p), ["c"]);
    let p = s.list_objects("bkt", &q("", None, Some(""), 10)).unwrap();
    assert_eq!(keys(&p), ["a", "b", "c"]);
    // start_after before the prefix: the prefix wins.
    let p = s.list_objects("bkt", &q("b", None, Some("a"), 10)).unwrap();
    assert_eq!(keys(&p), ["b"]);
    // Exactly max_keys left: not truncated.
    let p = s.list_objects("bkt", &q("", None, None, 3)).unwrap();
    assert!(!p.is_truncated && p.next_marker.is_none());
    let p = s.list_objects("bkt", &q("", None, None, 2)).unwrap();
    assert!(p.is_truncated);
    assert_eq!(p.next_marker.as_deref(), Some("b"));
    // Buckets whose names extend each other stay apart.
    s.create_bucket("bkt2", "r", "o").unwrap();
    s.put_object("bkt2", "0", &small_meta()).unwrap();
    let p = s.list_objects("bkt", &q("", None, None, 10)).unwrap();
    assert_eq!(keys(&p), ["a", "b", "c"]);
}

#[test]
fn paging_through_a_thousand_keys() {
    let names: Vec<String> = (0..1000)
        .map(|i| format!("k/{:04}/{}", (i * 7919) % 1000, i % 3))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_d, s) = with_keys(&refs);
    let (entries, pages) = page_through(&s, &q("", None, None, 7));
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
    let (entries, _) = page_through(&s, &q("k/", Some("/"), None, 7));
    let expected: Vec<String> = (0..1000).map(|i| format!("k/{i:04}/ (cp)")).collect();
    assert_eq!(entries, expected);
}

#[test]
fn unicode_space_and_percent_keys_sort_binary() {
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
    let (_d, s) = with_keys(&names[..names.len() - 1]);
    let p = s.list_objects("bkt", &q("", None, None, 1000)).unwrap();
    let mut expected: Vec<&str> = names[..names.len() - 1].to_vec();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(keys(&p), expected);
    let p = s
        .list_objects("bkt", &q("日本/", None, None, 1000))
        .unwrap();
    assert_eq!(keys(&p), ["日本/x", "日本/語"]);
    let p = s
        .list_objects("bkt", &q("", Some("/"), None, 1000))
        .unwrap();
    assert_eq!(p.common_prefixes, ["a/", "日本/"]);
    let (entries, _) = page_through(&s, &q("", Some("/"), None, 2));
    assert_eq!(entries.len(), names.len() - 1 - 3 + 2);
}

#[test]
fn delimiter_paging_never_repeats_a_common_prefix() {
    let mut names = Vec::new();
    for d in 0..30 {
        for f in 0..5 {
            names.push(format!("dir{d:02}/f{f}"));
        }
        names.push(format!("file{d:02}"));
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_d, s) = with_keys(&refs);
    for max in 1..=8 {
        let (entries, _) = page_through(&s, &q("", Some("/"), None, max));
        let set: BTreeSet<&String> = entries.iter().collect();
        assert_eq!(set.len(), entries.len(), "max_keys {max}: repeated entries");
        assert_eq!(entries.len(), 60);
        assert_eq!(entries[0], "dir00/ (cp)");
        assert_eq!(entries[59], "file29");
    }
}

#[test]
fn multipart_upload_state_round_trip() {
    let (_d, s) = store();
    assert!(matches!(
        s.create_upload("nob", "k", &small_meta()),
        Err(MetaError::NoSuchBucket)
    ));
    s.create_bucket("bkt", "r", "o").unwrap();
    let template = small_meta();
    let a = s.create_upload("bkt", "videos/b.mp4", &template).unwrap();
    let b = s.create_upload("bkt", "videos/a.mp4", &template).unwrap();
    let c = s.create_upload("bkt", "videos/a.mp4", &template).unwrap();
    let d = s.create_upload("bkt", "other", &template).unwrap();
    assert_ne!(b, c);
    assert!(a.chars().all(|ch| ch.is_ascii_alphanumeric()));

    assert_eq!(s.put_part(&a, &part(3, 1)).unwrap(), None);
    assert_eq!(s.put_part(&a, &part(1, 2)).unwrap(), None);
    assert_eq!(s.put_part(&a, &part(10_000, 1)).unwrap(), None);
    let mut replacement = part(1, 1);
    replacement.etag = "\"new\"".into();
    assert_eq!(s.put_part(&a, &replacement).unwrap(), Some(part(1, 2)));
    assert!(matches!(
        s.put_part("nosuchupload", &part(1, 1)),
        Err(MetaError::NoSuchUpload)
    ));

    let (bucket, key, tmpl, parts) = s.upload(&a).unwrap().unwrap();
    assert_eq!((bucket.as_str(), key.as_str()), ("bkt", "videos/b.mp4"));
    assert_eq!(tmpl, template);
    assert_eq!(
        parts,
        vec![replacement.clone(), part(3, 1), part(10_000, 1)]
    );
    assert_eq!(s.upload(&b).unwrap().unwrap().3, Vec::new());
    assert!(s.upload("nope").unwrap().is_none());

    let listed = s.list_uploads("bkt", "videos/").unwrap();
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
    assert_eq!(s.list_uploads("bkt", "").unwrap().len(), 4);
    assert!(matches!(
        s.list_uploads("nob", ""),
        Err(MetaError::NoSuchBucket)
    ));

    assert_eq!(
        s.remove_upload(&a).unwrap(),
        Some(vec![replacement, part(3, 1), part(10_000, 1)])
    );
    assert_eq!(s.remove_upload(&a).unwrap(), None);
    assert!(s.upload(&a).unwrap().is_none());
    assert!(matches!(
        s.put_part(&a, &part(1, 1)),
        Err(MetaError::NoSuchUpload)
    ));
    s.remove_upload(&b).unwrap().unwrap();
    s.remove_upload(&c).unwrap().unwrap();
    let left = s.list_uploads("bkt", "").unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].0.as_str(), left[0].1.as_str()),
        ("other", d.as_str())
    );
}

#[test]
fn access_keys_create_insert_lookup() {
    let (_d, s) = store();
    let master = s3_gateway::keywrap::MasterKey::generate();
    let k = s.create_key(&master).unwrap();
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
        s.secret_for(&k.access_key_id, &master).unwrap().as_deref(),
        Some(k.secret_key.as_str())
    );
    assert_eq!(s.secret_for("CANOTHERE", &master).unwrap(), None);

    let fixed = AccessKey {
        access_key_id: "CADEVNET0000000000AA".into(),
        secret_key: "s".repeat(40),
    };
    s.insert_key(&fixed, &master).unwrap();
    s.insert_key(&fixed, &master).unwrap();
    let k2 = s.create_key(&master).unwrap();
    assert_ne!(k.access_key_id, k2.access_key_id);
    let mut expected = vec![k.access_key_id, k2.access_key_id, fixed.access_key_id];
    expected.sort();
    assert_eq!(s.list_key_ids().unwrap(), expected);
}

#[test]
fn the_database_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (d, s) = store();
    drop(s);
    let path = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "redb"))
        .expect("a database file");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn listing_matches_a_reference_model(
        keys in prop::collection::btree_set("[ab/]{1,6}", 0..40),
        prefix in "[ab/]{0,2}",
        delimiter in prop::option::of(prop_oneof![Just("/".to_owned()), Just("b".to_owned()), Just("/a".to_owned())]),
        start_after in prop::option::of("[ab/]{0,4}"),
        max_keys in 1usize..20,
    ) {
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let (_d, s) = with_keys(&refs);
        let expected: Vec<String> = reference(&keys, &prefix, delimiter.as_deref())
            .into_iter()
            .filter(|e| start_after.as_ref().is_none_or(|a| e.trim_end_matches(" (cp)") > a.as_str()))
            .collect();
        let base = ListQuery {
            prefix: prefix.clone(),
            delimiter: delimiter.clone(),
            start_after: start_after.clone(),
            max_keys,
        };
        let (entries, pages) = page_through(&s, &base);
        prop_assert_eq!(&entries, &expected);
        prop_assert_eq!(pages.len(), expected.len().div_ceil(max_keys).max(1));
    }
}

#[test]
fn conditional_puts_check_inside_the_transaction() {
    let (_dir, s) = store();
    assert!(matches!(
        s.put_object_if("nob", "k", &meta(1), |_| Ok::<(), ()>(())),
        Err(MetaError::NoSuchBucket)
    ));
    s.create_bucket("bkt", "r", "o").unwrap();
    // Only if absent: succeeds once, then refuses and writes nothing.
    let absent = |cur: Option<&ObjectMeta>| if cur.is_none() { Ok(()) } else { Err("exists") };
    assert_eq!(
        s.put_object_if("bkt", "k", &meta(1), absent).unwrap(),
        Ok(None)
    );
    assert_eq!(
        s.put_object_if("bkt", "k", &meta(2), absent).unwrap(),
        Err("exists")
    );
    assert_eq!(s.object("bkt", "k").unwrap(), Some(meta(1)));
    // The check sees the current object; the replaced one comes back.
    let seen = s
        .put_object_if("bkt", "k", &meta(3), |cur| {
            assert_eq!(cur, Some(&meta(1)));
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_eq!(seen, Ok(Some(meta(1))));
    assert_eq!(s.object("bkt", "k").unwrap(), Some(meta(3)));
}
