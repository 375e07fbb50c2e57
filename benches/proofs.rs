//! Proof hot paths on a 2 MiB shard: building the outboard (hashing),
//! proving 1/4/16 chunks from memory and from a file, and verifying.
//!
//! `cargo bench --bench proofs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use proofs::{Challenge, Outboard, prove, verify};

const SHARD: usize = 2 << 20;

fn proofs(c: &mut Criterion) {
    let mut bytes = vec![0u8; SHARD];
    blake3::Hasher::new().finalize_xof().fill(&mut bytes);
    let (outboard, id) = Outboard::build(&bytes[..]).unwrap();
    let path = std::env::temp_dir().join(format!("cairn-bench-shard-{}", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let file = std::fs::File::open(&path).unwrap();

    let mut group = c.benchmark_group("shard_hash");
    group.throughput(Throughput::Bytes(SHARD as u64));
    group.bench_function("outboard+id 2 MiB", |b| {
        b.iter(|| Outboard::build(black_box(&bytes[..])).unwrap())
    });
    group.bench_function("plain blake3 2 MiB", |b| {
        b.iter(|| blake3::hash(black_box(&bytes)))
    });
    group.finish();

    let mut group = c.benchmark_group("proof_2MiB");
    for count in [1u16, 4, 16] {
        let challenge = Challenge::new(id, SHARD as u64, [count as u8; 32], count);
        group.bench_function(BenchmarkId::new("prove_memory", count), |b| {
            b.iter(|| prove(black_box(&challenge), &bytes, &outboard).unwrap())
        });
        group.bench_function(BenchmarkId::new("prove_file", count), |b| {
            b.iter(|| prove(black_box(&challenge), &file, &outboard).unwrap())
        });
        let proof = prove(&challenge, &bytes, &outboard).unwrap();
        group.bench_function(BenchmarkId::new("verify", count), |b| {
            b.iter(|| verify(&id, SHARD as u64, black_box(&challenge), black_box(&proof)).unwrap())
        });
        let wire = proof.to_bytes();
        group.bench_function(BenchmarkId::new("decode+verify", count), |b| {
            b.iter(|| {
                let proof = proofs::Proof::from_bytes(black_box(&wire)).unwrap();
                verify(&id, SHARD as u64, &challenge, &proof).unwrap()
            })
        });
    }
    group.finish();
    std::fs::remove_file(&path).ok();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group!(name = benches; config = config(); targets = proofs);
criterion_main!(benches);
