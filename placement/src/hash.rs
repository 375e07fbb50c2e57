//! Small, fixed, platform-independent 64-bit hashing for rendezvous scores.
//!
//! Not cryptographic (node ids and segment ids are not secret, and segment
//! ids are already blake3 hashes); what matters is that the mixing is good,
//! cheap, and never changes between versions or machines.

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;

/// Seed for hashing placement keys.
pub(crate) const KEY_SEED: u64 = 0x6361_6972_6e2d_6b65; // "cairn-ke"
/// Seed for hashing node ids.
pub(crate) const NODE_SEED: u64 = 0x6361_6972_6e2d_6e6f; // "cairn-no"

/// The murmur3 64-bit finaliser: a bijection with full avalanche.
#[inline]
pub(crate) fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// Hashes a byte string (little-endian 8-byte words, length folded in).
pub(crate) fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = fmix64(seed ^ (bytes.len() as u64).wrapping_mul(P1));
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(w);
        h = fmix64(h ^ u64::from_le_bytes(buf)).wrapping_add(P0);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = fmix64(h ^ u64::from_le_bytes(buf)).wrapping_add(P0);
    }
    fmix64(h ^ P1)
}

/// Combines a key hash and a node hash into one well-mixed 64-bit value.
///
/// Both inputs are already well-mixed hashes. The folded 128-bit multiply
/// makes the combination non-linear (a plain xor would make every key's
/// ranking a relabelling of every other's); one xorshift-multiply round
/// spreads it over all bits. This runs once per candidate per placement, so
/// it is kept to two multiplies.
#[inline]
pub(crate) fn pair(key: u64, node: u64) -> u64 {
    let p = u128::from(key ^ P0) * u128::from(node ^ P1);
    let x = (p as u64) ^ ((p >> 64) as u64) ^ node;
    let x = (x ^ (x >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^ (x >> 32)
}

/// Maps 64 random bits to a uniform `f64` strictly inside `(0, 1)`.
#[inline]
pub(crate) fn unit(x: u64) -> f64 {
    // 52 bits plus one half stay exact in an f64 mantissa, so the result is
    // at most 1 - 2^-53 and at least 2^-53: never 0 or 1.
    const SCALE: f64 = 1.0 / (1u64 << 52) as f64;
    ((x >> 12) as f64 + 0.5) * SCALE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fixed() {
        // Placement decisions depend on these values: they must not change.
        assert_eq!(hash_bytes(KEY_SEED, b""), 0x87b7_1859_16fe_15ca);
        assert_eq!(
            hash_bytes(NODE_SEED, b"12D3KooW-some-peer-id"),
            0x8eda_d163_9587_9dc1
        );
        assert_eq!(pair(1, 2), 0xed9f_b659_77b6_8670);
        assert_ne!(hash_bytes(KEY_SEED, b"a"), hash_bytes(NODE_SEED, b"a"));
        assert_ne!(hash_bytes(KEY_SEED, b"a"), hash_bytes(KEY_SEED, b"a\0"));
        assert_ne!(
            hash_bytes(KEY_SEED, b"12345678"),
            hash_bytes(KEY_SEED, b"12345678\0")
        );
    }

    #[test]
    fn unit_is_open_interval() {
        assert!(unit(0) > 0.0);
        assert!(unit(u64::MAX) < 1.0);
        assert!(unit(u64::MAX).ln() < 0.0);
    }

    /// Top-10 sets of two keys over 200 nodes share 0.5 nodes on average if
    /// the rankings are independent; also for structured key hashes.
    #[test]
    fn rankings_of_different_keys_are_independent() {
        let nodes: Vec<u64> = (0..200u64)
            .map(|i| hash_bytes(NODE_SEED, &i.to_le_bytes()))
            .collect();
        let top10 = |kh: u64| {
            let mut v: Vec<(u64, usize)> = nodes
                .iter()
                .enumerate()
                .map(|(i, &n)| (pair(kh, n), i))
                .collect();
            v.sort_unstable();
            v.truncate(10);
            v.into_iter().map(|(_, i)| i).collect::<Vec<_>>()
        };
        let related: [fn(u64) -> u64; 5] = [
            |k| k ^ 1,
            |k| k.wrapping_add(1),
            |k| k.wrapping_mul(2),
            |k| k.rotate_left(1),
            |k| hash_bytes(KEY_SEED, &k.to_le_bytes()),
        ];
        for rel in related {
            let mut shared = 0usize;
            let trials = 300u64;
            for t in 0..trials {
                let k = hash_bytes(KEY_SEED, &t.to_be_bytes());
                let a = top10(k);
                let b = top10(rel(k));
                shared += a.iter().filter(|x| b.contains(x)).count();
            }
            let mean = shared as f64 / trials as f64;
            assert!(mean < 0.8, "mean shared {mean}");
        }
    }

    #[test]
    fn pair_bits_are_balanced() {
        // Each output bit should be set about half the time.
        let mut ones = [0u32; 64];
        let n = 4096u64;
        for i in 0..n {
            let x = pair(hash_bytes(KEY_SEED, &i.to_le_bytes()), 12345);
            for (b, one) in ones.iter_mut().enumerate() {
                *one += ((x >> b) & 1) as u32;
            }
        }
        for one in ones {
            assert!((1700..2400).contains(&one), "bit bias: {one}/{n}");
        }
    }
}
