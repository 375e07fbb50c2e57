//! Codec hot paths: Reed-Solomon encode/reconstruct, the AEAD, and the whole
//! segment pipeline (encrypt + encode + hash), on 8 MiB segments.
//!
//! `cargo bench --bench codec`. Throughput is per input (plaintext) byte on
//! one core.

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mesh::codec::{ObjectKey, Scheme, SegmentCodec, SegmentRef};
use reed_solomon_erasure::galois_8::ReedSolomon;

const SEGMENT: usize = 8 << 20;
const SCHEMES: [(usize, usize); 3] = [(4, 2), (10, 4), (16, 8)];

fn data(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new().finalize_xof().fill(&mut out);
    out
}

fn erasure(c: &mut Criterion) {
    let mut group = c.benchmark_group("reed_solomon");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    for (k, m) in SCHEMES {
        let coder = ReedSolomon::new(k, m).unwrap();
        let shard_len = SEGMENT.div_ceil(k);
        let mut shards: Vec<Vec<u8>> = (0..k + m).map(|i| data(shard_len + i)).collect();
        for shard in &mut shards {
            shard.truncate(shard_len);
        }
        group.bench_function(BenchmarkId::new("encode", format!("{k}+{m}")), |b| {
            b.iter(|| coder.encode(black_box(&mut shards)).unwrap())
        });
        coder.encode(&mut shards).unwrap();
        // Lose m data shards (the most expensive case) and rebuild them.
        group.bench_function(BenchmarkId::new("reconstruct", format!("{k}+{m}")), |b| {
            b.iter(|| {
                let mut slots: Vec<(&mut [u8], bool)> = shards
                    .iter_mut()
                    .enumerate()
                    .map(|(i, s)| (s.as_mut_slice(), i >= m.min(k)))
                    .collect();
                coder.reconstruct_data(black_box(&mut slots)).unwrap()
            })
        });
    }
    group.finish();
}

fn aead(c: &mut Criterion) {
    let mut group = c.benchmark_group("aead");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    let mut buf = data(SEGMENT);
    let aes = aes_gcm::Aes256Gcm::new(&[7u8; 32].into());
    group.bench_function("aes-256-gcm seal", |b| {
        b.iter(|| {
            aes.encrypt_in_place_detached(&[0u8; 12].into(), b"", black_box(&mut buf))
                .unwrap()
        })
    });
    let chacha = chacha20poly1305::ChaCha20Poly1305::new(&[7u8; 32].into());
    group.bench_function("chacha20-poly1305 seal", |b| {
        b.iter(|| {
            chacha
                .encrypt_in_place_detached(&[0u8; 12].into(), b"", black_box(&mut buf))
                .unwrap()
        })
    });
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7u8; 32]).unwrap(),
    );
    group.bench_function("ring aes-256-gcm seal", |b| {
        b.iter(|| {
            ring_key
                .seal_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key([0u8; 12]),
                    ring::aead::Aad::empty(),
                    black_box(&mut buf),
                )
                .unwrap()
        })
    });
    let ring_chacha = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &[7u8; 32]).unwrap(),
    );
    group.bench_function("ring chacha20-poly1305 seal", |b| {
        b.iter(|| {
            ring_chacha
                .seal_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key([0u8; 12]),
                    ring::aead::Aad::empty(),
                    black_box(&mut buf),
                )
                .unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("blake3");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    group.bench_function("hash 8 MiB", |b| b.iter(|| blake3::hash(black_box(&buf))));
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("segment_pipeline");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    let plain = data(SEGMENT);
    let key = ObjectKey::generate();
    for (k, m) in SCHEMES {
        let codec = SegmentCodec::new(Scheme { k, m }, SEGMENT).unwrap();
        group.bench_function(BenchmarkId::new("encode", format!("{k}+{m}")), |b| {
            b.iter(|| {
                let mut buffer = codec.buffer();
                buffer.extend_from_slice(black_box(&plain));
                codec.encode(&key, SegmentRef::simple(0), buffer).unwrap()
            })
        });
        let segment = codec
            .encode_slice(&key, SegmentRef::simple(0), &plain)
            .unwrap();
        // m data shards lost: reconstruct, then decrypt.
        let slots: Vec<Option<Bytes>> = segment
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| (i >= m).then(|| s.clone()))
            .collect();
        group.bench_function(BenchmarkId::new("decode_m_lost", format!("{k}+{m}")), |b| {
            b.iter(|| {
                codec
                    .decode(&key, SegmentRef::simple(0), SEGMENT, black_box(&slots))
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group!(name = benches; config = config(); targets = erasure, aead, pipeline);
criterion_main!(benches);
