//! Proofs of storage: honest proofs verify, every kind of tampering is caught.

use std::cell::Cell;
use std::io;

use proofs::{
    CHUNK_LEN, Challenge, DecodeError, GROUP_LEN, Outboard, Proof, ReadAt, ShardId, VerifyError,
    chunk_count, prove, verify,
};
use proptest::prelude::*;

fn shard(len: usize, salt: u8) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut reader = blake3::Hasher::new().update(&[salt]).finalize_xof();
    reader.fill(&mut out);
    out
}

struct Stored {
    bytes: Vec<u8>,
    id: ShardId,
    outboard: Outboard,
}

fn store(len: usize, salt: u8) -> Stored {
    let bytes = shard(len, salt);
    let (outboard, id) = Outboard::build(&bytes[..]).unwrap();
    assert_eq!(id, ShardId::of(&bytes));
    Stored {
        bytes,
        id,
        outboard,
    }
}

fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

fn honest(stored: &Stored, seed_byte: u8, count: u16) -> (Challenge, Proof) {
    let len = stored.bytes.len() as u64;
    let challenge = Challenge::new(stored.id, len, seed(seed_byte), count);
    let proof = prove(&challenge, &stored.bytes, &stored.outboard).unwrap();
    (challenge, proof)
}

const EDGE_LENS: [usize; 12] = [
    0,
    1,
    1023,
    1024,
    1025,
    2048,
    16383,
    16384,
    16385,
    3 * 16384 + 5,
    1 << 20,
    (2 << 20) + 77,
];

#[test]
fn honest_proofs_verify_at_edge_lengths() {
    for len in EDGE_LENS {
        let stored = store(len, 1);
        for count in [1, 2, 4, 16, 64] {
            let (challenge, proof) = honest(&stored, count as u8, count);
            let expected = u64::from(count).min(chunk_count(len as u64)) as usize;
            assert_eq!(challenge.chunks().len(), expected, "len {len}");
            assert_eq!(verify(&stored.id, len as u64, &challenge, &proof), Ok(()));
            let decoded = Proof::from_bytes(&proof.to_bytes()).unwrap();
            assert_eq!(decoded, proof);
        }
    }
}

#[test]
fn challenge_indices_are_distinct_sorted_in_range_and_seed_dependent() {
    let stored = store(2 << 20, 2);
    let a = Challenge::new(stored.id, 2 << 20, seed(1), 16);
    let b = Challenge::new(stored.id, 2 << 20, seed(2), 16);
    assert_eq!(a.chunks().len(), 16);
    assert!(a.chunks().windows(2).all(|w| w[0] < w[1]));
    assert!(a.chunks().iter().all(|&i| i < 2048));
    assert_ne!(a.chunks(), b.chunks());
    assert_eq!(Challenge::from_bytes(&a.to_bytes()).unwrap(), a);
    // Counts outside 1..=1024, or above the chunk count, survive the wire:
    // the node derives the same indices the verifier did.
    for (len, count) in [
        (2u64 << 20, 0u16),
        (2 << 20, 1025),
        (2 << 20, 5000),
        (5000, 16),
    ] {
        let c = Challenge::new(stored.id, len, seed(9), count);
        assert_eq!(
            Challenge::from_bytes(&c.to_bytes()).unwrap(),
            c,
            "count {count}"
        );
    }
    let fresh = Challenge::random(stored.id, 2 << 20, 4);
    assert_ne!(
        fresh.seed(),
        Challenge::random(stored.id, 2 << 20, 4).seed()
    );
    // Asking for every chunk of a small shard gives all of them.
    let all = Challenge::new(stored.id, 5000, seed(3), 100);
    assert_eq!(all.chunks(), &[0, 1, 2, 3, 4]);
}

#[test]
fn a_flipped_bit_in_any_chunk_is_rejected() {
    for len in [1, 1023, 1025, 40_000, 2 << 20] {
        let stored = store(len, 3);
        let (challenge, proof) = honest(&stored, 9, 4);
        for c in 0..proof.chunks.len() {
            for byte in [0, proof.chunks[c].len() / 2, proof.chunks[c].len() - 1] {
                let mut bad = proof.clone();
                bad.chunks[c][byte] ^= 0x10;
                assert_eq!(
                    verify(&stored.id, len as u64, &challenge, &bad),
                    Err(VerifyError::RootMismatch),
                    "len {len} chunk {c} byte {byte}"
                );
            }
        }
    }
}

#[test]
fn a_flipped_bit_in_any_sibling_is_rejected() {
    let stored = store(2 << 20, 4);
    let (challenge, proof) = honest(&stored, 5, 4);
    assert!(!proof.siblings.is_empty());
    for s in 0..proof.siblings.len() {
        for bit in [0, 77, 255] {
            let mut bad = proof.clone();
            bad.siblings[s][bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                verify(&stored.id, 2 << 20, &challenge, &bad),
                Err(VerifyError::RootMismatch),
                "sibling {s} bit {bit}"
            );
        }
    }
}

#[test]
fn a_chunk_from_another_index_is_rejected() {
    let stored = store(64 * 1024, 5);
    let (challenge, proof) = honest(&stored, 6, 1);
    let index = challenge.chunks()[0] as usize;
    let other = (index + 1) % 64;
    let mut bad = proof.clone();
    bad.chunks[0] = stored.bytes[other * 1024..(other + 1) * 1024].to_vec();
    assert_eq!(
        verify(&stored.id, 64 * 1024, &challenge, &bad),
        Err(VerifyError::RootMismatch)
    );
    // The same chunk bytes but claimed as the answer to a challenge for
    // another index: the offset is part of each chunk's hash.
    let mut same_content = store(0, 0);
    same_content.bytes = [stored.bytes[index * 1024..(index + 1) * 1024].repeat(64)].concat();
    let (outboard, id) = Outboard::build(&same_content.bytes[..]).unwrap();
    let c = Challenge::new(id, 64 * 1024, seed(6), 1);
    let p = prove(&c, &same_content.bytes, &outboard).unwrap();
    let mut moved = p.clone();
    moved.seed = *challenge.seed();
    assert!(verify(&id, 64 * 1024, &challenge, &moved).is_err());
}

#[test]
fn a_proof_for_another_shard_or_challenge_is_rejected() {
    let a = store(100_000, 6);
    let b = store(100_000, 7);
    let (challenge_a, proof_a) = honest(&a, 1, 4);
    let (challenge_b, proof_b) = honest(&b, 1, 4);
    // B's proof offered for A's challenge (same seed, other shard; the
    // indices depend on the shard id too, so the shape differs as well).
    assert!(verify(&a.id, 100_000, &challenge_a, &proof_b).is_err());
    assert_eq!(verify(&b.id, 100_000, &challenge_b, &proof_b), Ok(()));
    // A's challenge checked against B's id.
    assert_eq!(
        verify(&b.id, 100_000, &challenge_a, &proof_a),
        Err(VerifyError::ChallengeForOtherShard)
    );
    // A proof for an earlier challenge (another seed) is refused...
    let (fresh, _) = honest(&a, 2, 4);
    assert_eq!(
        verify(&a.id, 100_000, &fresh, &proof_a),
        Err(VerifyError::ChallengeMismatch)
    );
    // ...and relabelling it with the fresh seed does not help: other indices.
    let mut replay = proof_a.clone();
    replay.seed = *fresh.seed();
    assert!(verify(&a.id, 100_000, &fresh, &replay).is_err());
}

#[test]
fn truncated_or_padded_proofs_are_rejected() {
    let stored = store(2 << 20, 8);
    let (challenge, proof) = honest(&stored, 3, 4);
    let bytes = proof.to_bytes();
    for cut in [0, 1, 33, 36, 37, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(
            Proof::from_bytes(&bytes[..cut]),
            Err(DecodeError::Truncated),
            "cut at {cut}"
        );
    }
    let mut padded = bytes.clone();
    padded.extend_from_slice(&[0; 5]);
    assert_eq!(
        Proof::from_bytes(&padded),
        Err(DecodeError::TrailingBytes(5))
    );
    let mut versioned = bytes.clone();
    versioned[0] = 2;
    assert_eq!(
        Proof::from_bytes(&versioned),
        Err(DecodeError::UnsupportedVersion(2))
    );
    // Structurally short or long, but well-formed bytes.
    let mut short = proof.clone();
    short.siblings.pop();
    assert_eq!(
        verify(
            &stored.id,
            2 << 20,
            &challenge,
            &Proof::from_bytes(&short.to_bytes()).unwrap()
        ),
        Err(VerifyError::MissingSiblings)
    );
    let mut long = proof.clone();
    long.siblings.push([0; 32]);
    assert_eq!(
        verify(&stored.id, 2 << 20, &challenge, &long),
        Err(VerifyError::ExtraSiblings(1))
    );
    let mut fewer = proof.clone();
    fewer.chunks.pop();
    assert_eq!(
        verify(&stored.id, 2 << 20, &challenge, &fewer),
        Err(VerifyError::WrongChunkCount {
            expected: 4,
            got: 3
        })
    );
    let mut trimmed = proof.clone();
    trimmed.chunks[1].pop();
    assert!(matches!(
        verify(&stored.id, 2 << 20, &challenge, &trimmed),
        Err(VerifyError::WrongChunkLength { .. })
    ));
    // A single-chunk shard's proof has no siblings; one added is refused.
    let tiny = store(10, 1);
    let (c, mut p) = honest(&tiny, 1, 1);
    p.siblings.push([1; 32]);
    assert_eq!(
        verify(&tiny.id, 10, &c, &p),
        Err(VerifyError::ExtraSiblings(1))
    );
}

#[test]
fn a_wrong_length_is_rejected() {
    let stored = store(50_000, 9);
    let (challenge, proof) = honest(&stored, 4, 4);
    for wrong in [0, 49_999, 50_001, 1 << 20] {
        assert_eq!(
            verify(&stored.id, wrong, &challenge, &proof),
            Err(VerifyError::ChallengeForOtherShard)
        );
        // A challenge made for the wrong length cannot be answered from the
        // real outboard, and a proof shaped for it does not verify.
        let lying = Challenge::new(stored.id, wrong, seed(4), 4);
        assert!(prove(&lying, &stored.bytes, &stored.outboard).is_err());
        let mut padded = stored.bytes.clone();
        padded.resize(wrong as usize, 0);
        let (outboard, _) = Outboard::build(&padded[..]).unwrap();
        let forged = prove(&lying, &padded, &outboard).unwrap();
        assert!(verify(&stored.id, wrong, &lying, &forged).is_err());
    }
}

/// Counts the bytes the prover reads.
struct Counting<'a> {
    inner: &'a std::fs::File,
    bytes: Cell<u64>,
}

impl ReadAt for Counting<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.bytes.set(self.bytes.get() + buf.len() as u64);
        self.inner.read_exact_at(buf, offset)
    }
}

#[test]
fn proves_from_a_file_reading_only_the_challenged_groups() {
    let stored = store(8 << 20, 10);
    let dir = std::env::temp_dir().join(format!("cairn-proofs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard");
    std::fs::write(&path, &stored.bytes).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let counting = Counting {
        inner: &file,
        bytes: Cell::new(0),
    };
    let challenge = Challenge::new(stored.id, 8 << 20, seed(11), 4);
    let proof = prove(&challenge, &counting, &stored.outboard).unwrap();
    assert_eq!(verify(&stored.id, 8 << 20, &challenge, &proof), Ok(()));
    assert!(
        counting.bytes.get() <= 4 * GROUP_LEN,
        "read {} bytes of an 8 MiB shard",
        counting.bytes.get()
    );

    // Rot on disk: flip a byte inside a challenged chunk; the proof fails.
    let victim = challenge.chunks()[2] * CHUNK_LEN + 100;
    let mut rotten = stored.bytes.clone();
    rotten[victim as usize] ^= 0xff;
    std::fs::write(&path, &rotten).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let proof = prove(&challenge, &file, &stored.outboard).unwrap();
    assert_eq!(
        verify(&stored.id, 8 << 20, &challenge, &proof),
        Err(VerifyError::RootMismatch)
    );
    // A file cut short cannot answer at all.
    std::fs::write(&path, &stored.bytes[..1000]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    assert!(prove(&challenge, &file, &stored.outboard).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn proof_sizes_for_a_2_mib_shard() {
    let stored = store(2 << 20, 12);
    let mut sizes = Vec::new();
    for count in [1u16, 4, 16] {
        let (_, proof) = honest(&stored, 13, count);
        assert_eq!(proof.to_bytes().len(), proof.encoded_len());
        sizes.push((count, proof.encoded_len(), proof.siblings.len()));
    }
    println!("proof sizes for a 2 MiB shard (chunks, bytes, siblings): {sizes:?}");
    // 1 KiB per chunk plus at most 11 siblings per chunk (tree depth 11).
    for (count, bytes, siblings) in sizes {
        assert!(siblings <= 11 * count as usize);
        assert!(bytes <= 37 + count as usize * (1026 + 11 * 32));
    }
    let (_, four) = honest(&stored, 13, 4);
    assert!(four.encoded_len() <= 6 * 1024);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn honest_proofs_always_verify(
        len in prop_oneof![0usize..3000, 3000usize..200_000, 1_000_000usize..1_100_000],
        salt: u8,
        seed_bytes: [u8; 32],
        count in 1u16..40,
    ) {
        let stored = store(len, salt);
        let challenge = Challenge::new(stored.id, len as u64, seed_bytes, count);
        let proof = prove(&challenge, &stored.bytes, &stored.outboard).unwrap();
        prop_assert_eq!(verify(&stored.id, len as u64, &challenge, &proof), Ok(()));
        let wire = Proof::from_bytes(&proof.to_bytes()).unwrap();
        prop_assert_eq!(verify(&stored.id, len as u64, &challenge, &wire), Ok(()));
    }

    #[test]
    fn any_single_bit_flip_in_the_serialized_proof_is_caught(
        len in 1usize..300_000,
        seed_bytes: [u8; 32],
        count in 1u16..8,
        position: prop::sample::Index,
        bit in 0u8..8,
    ) {
        let stored = store(len, 1);
        let challenge = Challenge::new(stored.id, len as u64, seed_bytes, count);
        let proof = prove(&challenge, &stored.bytes, &stored.outboard).unwrap();
        let mut bytes = proof.to_bytes();
        let at = position.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let accepted = Proof::from_bytes(&bytes)
            .map(|p| verify(&stored.id, len as u64, &challenge, &p).is_ok())
            .unwrap_or(false);
        prop_assert!(!accepted, "flip at byte {} bit {} accepted", at, bit);
    }
}
