//! The per-request cost of the tenant access check: what a signed request
//! adds before its handler runs (the bucket's owner, ACL and grants from
//! the metadata store's cache, the permission the operation needs, and the
//! comparison), against a redb store; and the same lookup when the cache
//! has expired (one redb read of the bucket and its grants).
//!
//! `cargo bench --bench access`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use s3_gateway::meta::{BucketPerms, MetaStore};
use s3_gateway::s3::access::needed;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let meta = MetaStore::open_redb(&dir.path().join("meta.redb")).unwrap();
    rt.block_on(async {
        meta.create_private_bucket("bench", "us-east-1", "OWNER")
            .await
            .unwrap();
        for i in 0..20 {
            let read = BucketPerms {
                read: true,
                ..Default::default()
            };
            meta.set_bucket_grant("bench", &format!("KEY{i}"), read)
                .await
                .unwrap();
        }
    });
    let check = |meta: &MetaStore| {
        rt.block_on(async {
            let info = meta.bucket_access("bench").await.unwrap().unwrap();
            let held = info.perms_of(black_box("KEY7"));
            black_box(needed(black_box("GetObject")).minus(held).is_none())
        })
    };
    c.bench_function("access check, cached", |b| b.iter(|| check(&meta)));
    c.bench_function("access check, cache expired (redb read)", |b| {
        b.iter(|| {
            // A fresh handle has an empty cache: every check reads redb.
            let fresh = meta.without_cache();
            check(&fresh)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
