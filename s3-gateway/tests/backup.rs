//! The metadata backup's contract with the embedded store: a snapshot
//! plus the logs taken after it, applied in order to an empty store, give
//! exactly the store they were read from, whatever was written between
//! them (buckets, keys, grants, ACLs, objects, uploads and parts,
//! settings, and deletions of each).

use proptest::prelude::*;
use s3_gateway::meta::redb::RedbStore;
use s3_gateway::meta::redb::journal::{Change, Taken};
use s3_gateway::meta::versions::Versioning;
use s3_gateway::meta::{
    BucketAcl, BucketPerms, MetaStore, ObjectMeta, PartLayout, SegmentLayout, ShardLocation,
    WriteCondition,
};

#[derive(Clone, Debug)]
enum Op {
    CreateBucket(u8, bool),
    DeleteBucket(u8),
    PutObject(u8, u8, u64),
    DeleteObject(u8, u8),
    CreateKey(u8),
    DeleteKey(u8),
    NoCreate(u8, bool),
    Grant(u8, u8, u8),
    Acl(u8, bool),
    CreateUpload(u8, u8),
    PutPart(u8, u32, bool),
    RemoveUpload(u8),
    Setting(u8, u8),
    Config(u8, u8, Option<u8>),
    Name(u8, Option<u8>),
    /// A write in a bucket with versioning (the replaced version moves to
    /// the versions namespace in the same batch).
    VersionedPut(u8, u8, u64),
    /// A delete marker over a key.
    VersionedDelete(u8, u8),
    /// Take a log here.
    Log,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3u8, any::<bool>()).prop_map(|(b, p)| Op::CreateBucket(b, p)),
        (0..3u8).prop_map(Op::DeleteBucket),
        (0..3u8, 0..4u8, 0..1000u64).prop_map(|(b, k, t)| Op::PutObject(b, k, t)),
        (0..3u8, 0..4u8).prop_map(|(b, k)| Op::DeleteObject(b, k)),
        (0..3u8).prop_map(Op::CreateKey),
        (0..3u8).prop_map(Op::DeleteKey),
        (0..3u8, any::<bool>()).prop_map(|(k, m)| Op::NoCreate(k, m)),
        (0..3u8, 0..3u8, 0..8u8).prop_map(|(b, k, p)| Op::Grant(b, k, p)),
        (0..3u8, any::<bool>()).prop_map(|(b, p)| Op::Acl(b, p)),
        (0..3u8, 0..4u8).prop_map(|(b, k)| Op::CreateUpload(b, k)),
        (0..4u8, 1..4u32, any::<bool>()).prop_map(|(u, n, c)| Op::PutPart(u, n, c)),
        (0..4u8).prop_map(Op::RemoveUpload),
        (0..3u8, any::<u8>()).prop_map(|(n, v)| Op::Setting(n, v)),
        (0..3u8, 0..2u8, proptest::option::of(any::<u8>()))
            .prop_map(|(b, kind, v)| Op::Config(b, kind, v)),
        (0..3u8, proptest::option::of(0..4u8)).prop_map(|(k, n)| Op::Name(k, n)),
        (0..3u8, 0..4u8, 0..1000u64).prop_map(|(b, k, t)| Op::VersionedPut(b, k, t)),
        (0..3u8, 0..4u8).prop_map(|(b, k)| Op::VersionedDelete(b, k)),
        Just(Op::Log),
    ]
}

fn part(number: u32, tag: u64) -> PartLayout {
    PartLayout {
        part_number: number,
        size: 1000,
        etag: format!("\"{tag:032x}\""),
        segments: vec![SegmentLayout {
            plain_len: 1000,
            shards: (0..3u8)
                .map(|i| ShardLocation {
                    id: [i ^ tag as u8; 32],
                    node: vec![i; 38],
                })
                .collect(),
        }],
        key_salt: (number > 1).then_some([tag as u8; 16]),
    }
}

fn object(tag: u64) -> ObjectMeta {
    ObjectMeta {
        size: tag,
        etag: format!("\"{tag:032x}\""),
        last_modified: 1_700_000_000_000 + tag,
        user_metadata: vec![("n".into(), tag.to_string())],
        encryption_key: vec![tag as u8; 40],
        segment_size: 8 << 20,
        k: 1,
        m: 2,
        parts: vec![part(1, tag)],
        ..ObjectMeta::default()
    }
}

/// Every backed-up row of `store`.
fn dump(store: &RedbStore) -> Vec<Change> {
    let mut rows = Vec::new();
    store
        .snapshot::<s3_gateway::meta::MetaError>(&mut |c| {
            rows.push(c);
            Ok(())
        })
        .unwrap();
    rows
}

/// Applies `ops` to `meta`; at each `Log`, ships the changes to `copy`.
async fn run(
    meta: &MetaStore,
    store: &RedbStore,
    copy: &RedbStore,
    ops: &[Op],
    uploads: &mut Vec<String>,
) {
    let b = |i: u8| format!("bucket-{i}");
    let k = |i: u8| format!("KEY{i}");
    for op in ops {
        // Refusals (no such bucket, not empty, ...) are part of the game.
        let _ = match op.clone() {
            Op::CreateBucket(i, public) => {
                let acl = if public {
                    BucketAcl::PublicRead
                } else {
                    BucketAcl::Private
                };
                // A public one is created with a configuration too (as a
                // bucket with object lock is).
                let configs: &[(&str, &[u8])] = if public {
                    &[("tagging", b"created-with")]
                } else {
                    &[]
                };
                meta.create_bucket(&b(i), "us-east-1", &k(0), acl, configs)
                    .await
            }
            Op::DeleteBucket(i) => meta.delete_bucket(&b(i)).await,
            Op::PutObject(i, key, tag) => meta
                .put_object(
                    &b(i),
                    &format!("o/{key}"),
                    object(tag),
                    WriteCondition::Always,
                )
                .await
                .map(|_| ()),
            Op::DeleteObject(i, key) => meta
                .delete_object(&b(i), &format!("o/{key}"))
                .await
                .map(|_| ()),
            Op::VersionedPut(i, key, tag) => meta
                .put_version(
                    &b(i),
                    &format!("o/{key}"),
                    object(tag),
                    WriteCondition::Always,
                    Versioning::Enabled,
                )
                .await
                .map(|_| ()),
            Op::VersionedDelete(i, key) => meta
                .delete_latest(&b(i), &format!("o/{key}"), Versioning::Enabled)
                .await
                .map(|_| ()),
            Op::CreateKey(i) => meta.put_key(&k(i), &[i; 60], false).await.map(|_| ()),
            Op::DeleteKey(i) => meta.delete_key(&k(i)).await.map(|_| ()),
            Op::NoCreate(i, may) => meta
                .set_key_may_create_buckets(&k(i), may)
                .await
                .map(|_| ()),
            Op::Grant(i, key, bits) => {
                meta.set_bucket_grant(&b(i), &k(key), BucketPerms::from_bits(bits))
                    .await
            }
            Op::Acl(i, public) => {
                let acl = if public {
                    BucketAcl::PublicRead
                } else {
                    BucketAcl::Private
                };
                meta.set_bucket_acl(&b(i), acl).await
            }
            Op::CreateUpload(i, key) => match meta
                .create_upload(&b(i), &format!("u/{key}"), &object(9))
                .await
            {
                Ok(id) => {
                    uploads.push(id);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Op::PutPart(u, n, sum) => match uploads.get(u as usize) {
                Some(id) => meta
                    .put_part(id, &part(n, u as u64 + 50), sum.then_some("AAAAAA=="))
                    .await
                    .map(|_| ()),
                None => Ok(()),
            },
            Op::RemoveUpload(u) => match uploads.get(u as usize) {
                Some(id) => meta.remove_upload(id).await.map(|_| ()),
                None => Ok(()),
            },
            Op::Setting(n, v) => meta.set_setting(&format!("s{n}"), &[v]).await,
            Op::Name(i, n) => {
                let name = n.map(|n| format!("name {n}"));
                meta.set_key_name(&k(i), name.as_deref()).await.map(|_| ())
            }
            Op::Config(i, kind, v) => {
                let value = v.map(|v| [v]);
                meta.set_bucket_config(&b(i), &format!("c{kind}"), value.as_ref().map(|v| &v[..]))
                    .await
            }
            Op::Log => {
                ship(store, copy);
                Ok(())
            }
        };
    }
}

/// Ships the changes marked since the last call from `store` to `copy`.
fn ship(store: &RedbStore, copy: &RedbStore) {
    match store.take_changes() {
        Taken::Rows(rows) => copy.apply_changes(&store.changes(&rows).unwrap()).unwrap(),
        Taken::Snapshot => panic!("the journal was not started"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_snapshot_and_its_logs_rebuild_the_store(
        before in proptest::collection::vec(op(), 0..25),
        after in proptest::collection::vec(op(), 0..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = RedbStore::open(&dir.path().join("a.redb")).unwrap();
            let meta = MetaStore::new(store.clone());
            let copy = RedbStore::open(&dir.path().join("b.redb")).unwrap();
            let mut uploads = Vec::new();
            let scratch = RedbStore::open(&dir.path().join("scratch.redb")).unwrap();
            // Before the journal starts: only the snapshot carries it.
            run(&meta, &store, &scratch, &before.iter().filter(|o| !matches!(o, Op::Log)).cloned().collect::<Vec<_>>(), &mut uploads).await;
            store.start_journal();
            copy.apply_changes(&dump(&store)).unwrap();
            run(&meta, &store, &copy, &after, &mut uploads).await;
            ship(&store, &copy);
            assert_eq!(dump(&copy), dump(&store));
        });
    }
}

#[test]
fn the_gateways_own_objects_stay_out_of_snapshots_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("a.redb")).unwrap();
    store.start_journal();
    store
        .set_internal_object("backup/log-1", Some(&object(1)))
        .unwrap();
    assert!(dump(&store).is_empty());
    match store.take_changes() {
        Taken::Rows(rows) => assert!(rows.is_empty()),
        Taken::Snapshot => panic!("the journal was started"),
    }
    assert_eq!(store.internal_objects().unwrap().len(), 1);
}
