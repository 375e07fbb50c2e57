//! The per-request cost of the tenant access check: what a signed request
//! adds before its handler runs (the bucket's owner, ACL, grants, policy
//! and public access block from the metadata store's cache, and
//! `permitted`: the policy's decision, the permission the operation needs,
//! the comparison), against a redb store; with no policy, with a
//! ten-statement policy with conditions, and when the cache has expired
//! (one redb read each of the bucket, its grants and its configurations).
//!
//! `cargo bench --bench access`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use s3_gateway::http::conn::ClientInfo;
use s3_gateway::meta::{BucketPerms, MetaStore};
use s3_gateway::s3::access::{Facts, Target, permitted};

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
        meta.create_private_bucket("policed", "us-east-1", "OWNER")
            .await
            .unwrap();
        let statements: Vec<String> = (0..10)
            .map(|i| {
                format!(
                    r#"{{"Sid":"S{i}","Effect":"{effect}","Principal":{{"AWS":"KEY{i}"}},
                    "Action":["s3:GetObject","s3:List*"],"Resource":"arn:aws:s3:::policed/objects/{i}/*",
                    "Condition":{{"IpAddress":{{"aws:SourceIp":"10.0.0.0/8"}},"Bool":{{"aws:SecureTransport":"false"}}}}}}"#,
                    effect = if i % 2 == 0 { "Allow" } else { "Deny" }
                )
            })
            .collect();
        let policy = format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","));
        s3_gateway::policy::Policy::parse(&policy, "policed").unwrap();
        meta.set_bucket_config("policed", "policy", Some(policy.as_bytes()))
            .await
            .unwrap();
        for i in 0..20 {
            let read = BucketPerms {
                read: true,
                ..Default::default()
            };
            for bucket in ["bench", "policed"] {
                meta.set_bucket_grant(bucket, &format!("KEY{i}"), read)
                    .await
                    .unwrap();
            }
        }
    });
    let headers = http::HeaderMap::new();
    let facts = Facts {
        client: Some(ClientInfo {
            addr: Some("10.1.2.3:40000".parse().unwrap()),
            secure: false,
        }),
        headers: &headers,
        query: None,
    };
    let check = |meta: &MetaStore, bucket: &str| {
        rt.block_on(async {
            let info = meta.bucket_access(bucket).await.unwrap().unwrap();
            let target = Target {
                bucket,
                key: Some("objects/2026/12/04/report.csv"),
                version: false,
            };
            black_box(permitted(&info, Some("KEY7"), "GetObject", &target, &facts))
        })
    };
    c.bench_function("access check, cached", |b| b.iter(|| check(&meta, "bench")));
    c.bench_function("access check, cached, 10-statement policy", |b| {
        b.iter(|| check(&meta, "policed"))
    });
    c.bench_function("access check, cache expired (redb read)", |b| {
        b.iter(|| {
            // A fresh handle has an empty cache: every check reads redb.
            let fresh = meta.without_cache();
            check(&fresh, "bench")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
