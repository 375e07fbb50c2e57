//! The segment codec: round trips over sizes, schemes and erasures, and clear
//! errors for everything that cannot decode.

use bytes::Bytes;
use mesh::ShardId;
use mesh::codec::{
    CodecError, CodecParams, DEFAULT_SEGMENT_SIZE, ObjectKey, ObjectLayout, Scheme, SegmentCodec,
    SegmentReader, SegmentRef, decode_object,
};
use proptest::prelude::*;

fn object(len: usize, salt: u8) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&[salt])
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Encodes `data` as one object, erases `erase(segment, shard)` shards and
/// decodes what is left.
fn round_trip(
    codec: &SegmentCodec,
    data: &[u8],
    mut erase: impl FnMut(u64, usize) -> bool,
) -> Result<Vec<u8>, CodecError> {
    let key = ObjectKey::generate();
    let segments: Vec<_> = SegmentReader::new(codec, &key, 0, data)
        .collect::<Result<_, _>>()
        .unwrap();
    let layout = ObjectLayout {
        size: data.len() as u64,
        segment_size: codec.segment_size() as u64,
    };
    assert_eq!(segments.len() as u64, layout.segment_count());
    for (index, segment) in segments.iter().enumerate() {
        assert_eq!(segment.plain_len, layout.segment_len(index as u64));
        assert_eq!(segment.shards.len(), codec.scheme().total());
        for (shard, id) in segment.shards.iter().zip(&segment.ids) {
            assert_eq!(shard.len(), segment.shard_len);
            assert_eq!(*id, ShardId::of(shard));
        }
    }
    let mut out = Vec::new();
    decode_object(
        codec,
        &key,
        0,
        layout,
        |index| {
            segments[index as usize]
                .shards
                .iter()
                .enumerate()
                .map(|(i, shard)| (!erase(index, i)).then(|| shard.clone()))
                .collect()
        },
        &mut out,
    )?;
    Ok(out)
}

#[test]
fn round_trips_at_the_edge_sizes_with_the_default_segment() {
    let codec = SegmentCodec::new(Scheme { k: 4, m: 2 }, DEFAULT_SEGMENT_SIZE).unwrap();
    let seg = DEFAULT_SEGMENT_SIZE;
    for len in [0, 1, seg - 1, seg, seg + 1, 3 * seg + 12345] {
        let data = object(len, 1);
        // Lose two shards of every segment: a data and a parity one, then two data ones.
        let out = round_trip(&codec, &data, |s, i| i == (s as usize % 4) || i == 5).unwrap();
        assert_eq!(out, data, "len {len}");
        let out = round_trip(&codec, &data, |_, i| i == 0 || i == 3).unwrap();
        assert_eq!(out, data, "len {len}");
    }
}

#[test]
fn the_same_plaintext_never_encrypts_the_same_twice() {
    let codec = SegmentCodec::new(Scheme { k: 2, m: 1 }, 1024).unwrap();
    let key = ObjectKey::generate();
    let data = vec![7u8; 4096];
    let segments: Vec<_> = SegmentReader::new(&codec, &key, 0, &data[..])
        .collect::<Result<_, _>>()
        .unwrap();
    // Four identical plaintext segments: four different ciphertexts.
    let mut ids: Vec<_> = segments.iter().map(|s| s.ids[0]).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    // Another part of the same object under the same key differs too.
    let other = codec
        .encode_slice(&key, SegmentRef { part: 1, index: 0 }, &data[..1024])
        .unwrap();
    assert_ne!(other.ids[0], segments[0].ids[0]);
}

#[test]
fn writes_of_one_part_number_are_sealed_under_distinct_keys() {
    let codec = SegmentCodec::new(Scheme { k: 4, m: 2 }, 1 << 20).unwrap();
    let upload = ObjectKey::generate();
    let at = SegmentRef { part: 3, index: 0 };
    let (first, second) = (
        upload.for_part_write(&[1; 16]),
        upload.for_part_write(&[2; 16]),
    );
    // The derivation is deterministic (a reader finds the key again from
    // the salt in the layout) and depends on the salt.
    assert_eq!(first.as_bytes(), upload.for_part_write(&[1; 16]).as_bytes());
    assert_ne!(first.as_bytes(), second.as_bytes());
    assert_ne!(first.as_bytes(), upload.as_bytes());
    // Two writes of different bytes as the same part: with one key and
    // nonce, XOR of the data shards would be XOR of the plaintexts.
    let (a, b) = (object(4096, 1), object(4096, 2));
    let sealed_a = codec.encode_slice(&first, at, &a).unwrap();
    let sealed_b = codec.encode_slice(&second, at, &b).unwrap();
    let xor: Vec<u8> = sealed_a.shards[0]
        .iter()
        .zip(sealed_b.shards[0].iter())
        .map(|(x, y)| x ^ y)
        .collect();
    let plain_xor: Vec<u8> = a.iter().zip(&b).map(|(x, y)| x ^ y).collect();
    assert_ne!(&xor[..1024], &plain_xor[..1024]);
    // Each opens under its own write key only.
    let slots =
        |s: &mesh::codec::EncodedSegment| s.shards.iter().cloned().map(Some).collect::<Vec<_>>();
    assert_eq!(
        &codec.decode(&first, at, 4096, &slots(&sealed_a)).unwrap()[..],
        &a[..]
    );
    assert!(codec.decode(&second, at, 4096, &slots(&sealed_a)).is_err());
    assert!(codec.decode(&upload, at, 4096, &slots(&sealed_a)).is_err());
}

#[test]
fn replication_stores_whole_copies_any_of_which_decodes() {
    let params = CodecParams::default();
    let scheme = params.scheme_for(100);
    assert_eq!(scheme, Scheme { k: 1, m: 2 });
    assert_eq!(params.scheme_for(1 << 20), Scheme { k: 4, m: 2 });
    let codec = SegmentCodec::new(scheme, params.segment_size).unwrap();
    let key = ObjectKey::generate();
    let segment = codec
        .encode_slice(&key, SegmentRef::simple(0), b"tiny object")
        .unwrap();
    assert_eq!(segment.shards.len(), 3);
    assert!(segment.shards.iter().all(|s| s == &segment.shards[0]));
    for keep in 0..3 {
        let slots: Vec<Option<Bytes>> = (0..3)
            .map(|i| (i == keep).then(|| segment.shards[i].clone()))
            .collect();
        let plain = codec
            .decode(&key, SegmentRef::simple(0), 11, &slots)
            .unwrap();
        assert_eq!(&plain[..], b"tiny object");
    }
}

fn encoded(k: usize, m: usize, len: usize) -> (SegmentCodec, ObjectKey, Vec<Option<Bytes>>) {
    let codec = SegmentCodec::new(Scheme { k, m }, 1 << 20).unwrap();
    let key = ObjectKey::generate();
    let segment = codec
        .encode_slice(&key, SegmentRef::simple(3), &object(len, 9))
        .unwrap();
    let slots = segment.shards.into_iter().map(Some).collect();
    (codec, key, slots)
}

#[test]
fn fewer_than_k_shards_is_a_typed_error() {
    let (codec, key, mut slots) = encoded(4, 2, 100_000);
    slots[0] = None;
    slots[2] = None;
    slots[5] = None;
    assert!(matches!(
        codec.decode(&key, SegmentRef::simple(3), 100_000, &slots),
        Err(CodecError::NotEnoughShards { have: 3, need: 4 })
    ));
    assert!(matches!(
        codec.decode(&key, SegmentRef::simple(3), 100_000, &slots[..5]),
        Err(CodecError::WrongShardCount {
            expected: 6,
            got: 5
        })
    ));
}

#[test]
fn a_shard_of_the_wrong_length_is_a_typed_error() {
    let (codec, key, mut slots) = encoded(4, 2, 100_000);
    let short = slots[1].as_ref().unwrap().slice(1..);
    slots[1] = Some(short);
    assert!(matches!(
        codec.decode(&key, SegmentRef::simple(3), 100_000, &slots),
        Err(CodecError::WrongShardLength { index: 1, .. })
    ));
    // Claiming another plaintext length changes the expected shard length.
    let (codec, key, slots) = encoded(4, 2, 100_000);
    assert!(matches!(
        codec.decode(&key, SegmentRef::simple(3), 90_000, &slots),
        Err(CodecError::WrongShardLength { .. })
    ));
}

#[test]
fn authentication_fails_for_wrong_key_segment_or_corrupt_shards() {
    let (codec, key, slots) = encoded(4, 2, 100_000);
    assert_eq!(
        codec
            .decode(&key, SegmentRef::simple(3), 100_000, &slots)
            .unwrap()
            .len(),
        100_000
    );
    let auth = |r: Result<Bytes, CodecError>| matches!(r, Err(CodecError::Authentication));
    assert!(auth(codec.decode(
        &ObjectKey::generate(),
        SegmentRef::simple(3),
        100_000,
        &slots
    )));
    assert!(auth(codec.decode(
        &key,
        SegmentRef::simple(4),
        100_000,
        &slots
    )));
    assert!(auth(codec.decode(
        &key,
        SegmentRef { part: 1, index: 3 },
        100_000,
        &slots
    )));
    // A length differing by less than k bytes keeps the shard length; the
    // authenticated length still catches it.
    assert!(auth(codec.decode(
        &key,
        SegmentRef::simple(3),
        99_999,
        &slots
    )));
    // A flipped bit in a data shard, or in a parity shard used to rebuild.
    let mut bad = slots.clone();
    let mut shard = bad[2].as_ref().unwrap().to_vec();
    shard[777] ^= 4;
    bad[2] = Some(shard.into());
    assert!(auth(codec.decode(
        &key,
        SegmentRef::simple(3),
        100_000,
        &bad
    )));
    let mut bad = slots.clone();
    bad[0] = None;
    let mut shard = bad[4].as_ref().unwrap().to_vec();
    shard[5] ^= 1;
    bad[4] = Some(shard.into());
    assert!(auth(codec.decode(
        &key,
        SegmentRef::simple(3),
        100_000,
        &bad
    )));
    // Two shards swapped.
    let mut swapped = slots.clone();
    swapped.swap(0, 1);
    assert!(auth(codec.decode(
        &key,
        SegmentRef::simple(3),
        100_000,
        &swapped
    )));
}

#[test]
fn invalid_schemes_and_sizes_are_refused() {
    for (k, m) in [(0, 2), (33, 2), (4, 33)] {
        assert!(matches!(
            SegmentCodec::new(Scheme { k, m }, 1 << 20),
            Err(CodecError::InvalidScheme { .. })
        ));
    }
    assert!(SegmentCodec::new(Scheme { k: 32, m: 32 }, 1 << 20).is_ok());
    assert!(matches!(
        CodecParams::new(100, Scheme { k: 4, m: 2 }, 0),
        Err(CodecError::InvalidSegmentSize(100))
    ));
    let codec = SegmentCodec::new(Scheme { k: 4, m: 2 }, 4096).unwrap();
    assert!(matches!(
        codec.encode_slice(&ObjectKey::generate(), SegmentRef::simple(0), &[0; 4097]),
        Err(CodecError::SegmentTooLarge { .. })
    ));
}

fn scheme() -> impl Strategy<Value = (usize, usize)> {
    (1usize..=32, 0usize..=32)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any size, any scheme up to 32+32, any m erasures per segment, shards
    /// handed over in any slot pattern: the object comes back.
    #[test]
    fn any_k_shards_rebuild_the_object(
        (k, m) in scheme(),
        segment_size in prop_oneof![Just(1024usize), 1024usize..20_000],
        size_class in 0usize..5,
        extra in 0usize..3000,
        erasure_seed: u64,
    ) {
        let len = match size_class {
            0 => 0,
            1 => 1,
            2 => segment_size,
            3 => segment_size + 1,
            _ => segment_size * 3 + extra,
        };
        let codec = SegmentCodec::new(Scheme { k, m }, segment_size).unwrap();
        let data = object(len, (erasure_seed % 251) as u8);
        // Erase exactly m shards of each segment, chosen pseudo-randomly.
        let out = round_trip(&codec, &data, |segment, shard| {
            let mut order: Vec<usize> = (0..k + m).collect();
            let mut state = erasure_seed ^ segment.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for i in (1..order.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (state >> 33) as usize % (i + 1));
            }
            order[..m].contains(&shard)
        }).unwrap();
        prop_assert_eq!(out, data);
    }

    /// One erasure too many always fails with NotEnoughShards, never a panic.
    #[test]
    fn more_than_m_erasures_fail_cleanly((k, m) in scheme(), len in 1usize..5000) {
        let codec = SegmentCodec::new(Scheme { k, m }, 8192).unwrap();
        let data = object(len, 3);
        let result = round_trip(&codec, &data, |_, shard| shard <= m);
        let not_enough = matches!(result, Err(CodecError::NotEnoughShards { .. }));
        prop_assert!(not_enough);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Repair: erase up to m shards, rebuild exactly those from the rest, and
    /// get the original bytes (and so the original ids) back.
    #[test]
    fn rebuild_recreates_exactly_the_erased_shards(
        (k, m) in (1usize..=12, 1usize..=6),
        len in 0usize..6000,
        erase_seed: u64,
    ) {
        let (codec, _key, slots) = encoded(k, m, len);
        let original: Vec<Bytes> = slots.iter().map(|s| s.clone().unwrap()).collect();
        let lost = (erase_seed as usize % m) + 1;
        let missing: Vec<usize> = (0..k + m)
            .map(|i| (i + erase_seed as usize) % (k + m))
            .take(lost)
            .collect();
        let mut damaged = slots.clone();
        for &i in &missing {
            damaged[i] = None;
        }
        let rebuilt = codec.rebuild(&damaged, &missing).unwrap();
        prop_assert_eq!(rebuilt.len(), missing.len());
        for (shard, &i) in rebuilt.iter().zip(&missing) {
            prop_assert_eq!(shard, &original[i]);
        }
    }
}

#[test]
fn rebuild_with_fewer_than_k_shards_is_a_typed_error() {
    let (codec, _key, mut slots) = encoded(4, 2, 5000);
    slots[0] = None;
    slots[1] = None;
    slots[2] = None;
    assert!(matches!(
        codec.rebuild(&slots, &[0, 1, 2]),
        Err(CodecError::NotEnoughShards { have: 3, need: 4 })
    ));
}
