//! Challenges: which chunks of which shard a node must produce.

use std::collections::BTreeSet;

use crate::error::DecodeError;
use crate::shard_id::ShardId;
use crate::tree::chunk_count;

/// Most chunks one challenge may ask for (1 MiB of chunk data).
pub const MAX_CHALLENGE_CHUNKS: u16 = 1024;

const CHALLENGE_VERSION: u8 = 1;
const ENCODED_LEN: usize = 1 + 32 + 8 + 32 + 2;
const INDEX_CONTEXT: &str = "cairn proofs v1 challenge chunk indices";

/// A request to prove possession of a shard.
///
/// The chunk indices are derived from the verifier's fresh random `seed` (and
/// the shard id and length), so a challenge on the wire is just those values
/// and a count; both sides derive the same sorted, distinct indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    shard_id: ShardId,
    len: u64,
    seed: [u8; 32],
    /// The requested count (clamped), which the indices are derived from.
    count: u16,
    chunks: Vec<u64>,
}

impl Challenge {
    /// A challenge for `count` chunks (capped at the shard's chunk count and
    /// at [`MAX_CHALLENGE_CHUNKS`], at least one) chosen by `seed`.
    pub fn new(shard_id: ShardId, len: u64, seed: [u8; 32], count: u16) -> Self {
        let total = chunk_count(len);
        let count = count.clamp(1, MAX_CHALLENGE_CHUNKS);
        let want = u64::from(count).min(total);
        let mut hasher = blake3::Hasher::new_derive_key(INDEX_CONTEXT);
        hasher.update(shard_id.as_bytes());
        hasher.update(&len.to_le_bytes());
        hasher.update(&seed);
        hasher.update(&count.to_le_bytes());
        let mut stream = hasher.finalize_xof();
        let mut picked = BTreeSet::new();
        let mut word = [0u8; 8];
        while (picked.len() as u64) < want {
            stream.fill(&mut word);
            // Lemire's multiply-shift: bias is at most total / 2^64.
            let index = ((u128::from(u64::from_le_bytes(word)) * u128::from(total)) >> 64) as u64;
            picked.insert(index);
        }
        Self {
            shard_id,
            len,
            seed,
            count,
            chunks: picked.into_iter().collect(),
        }
    }

    /// A challenge with a fresh seed from a CSPRNG (`rand`'s thread generator, seeded by the OS).
    pub fn random(shard_id: ShardId, len: u64, count: u16) -> Self {
        Self::new(shard_id, len, rand::random(), count)
    }

    /// The shard this challenge is about.
    pub fn shard_id(&self) -> ShardId {
        self.shard_id
    }

    /// The shard's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the shard is empty (it still has one, empty, chunk to prove).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The verifier's seed.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The challenged chunk indices, sorted and distinct.
    pub fn chunks(&self) -> &[u64] {
        &self.chunks
    }

    /// Binary form: version, shard id, length, seed, requested count.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.push(CHALLENGE_VERSION);
        out.extend_from_slice(self.shard_id.as_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.seed);
        out.extend_from_slice(&self.count.to_le_bytes());
        out
    }

    /// Parses [`Challenge::to_bytes`] output, re-deriving the indices.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&version, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
        if version != CHALLENGE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        match bytes.len().cmp(&ENCODED_LEN) {
            std::cmp::Ordering::Less => return Err(DecodeError::Truncated),
            std::cmp::Ordering::Greater => {
                return Err(DecodeError::TrailingBytes(bytes.len() - ENCODED_LEN));
            }
            std::cmp::Ordering::Equal => {}
        }
        let shard_id = ShardId(rest[0..32].try_into().expect("32 bytes"));
        let len = u64::from_le_bytes(rest[32..40].try_into().expect("8 bytes"));
        let seed: [u8; 32] = rest[40..72].try_into().expect("32 bytes");
        let count = u16::from_le_bytes(rest[72..74].try_into().expect("2 bytes"));
        if count == 0 || count > MAX_CHALLENGE_CHUNKS {
            return Err(DecodeError::Invalid("challenged chunk count"));
        }
        Ok(Self::new(shard_id, len, seed, count))
    }
}
