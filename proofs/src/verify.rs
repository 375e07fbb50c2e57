//! Checking a proof against nothing but the shard id and the challenge.

use blake3::hazmat::ChainingValue;

use crate::challenge::Challenge;
use crate::error::VerifyError;
use crate::proof::Proof;
use crate::shard_id::ShardId;
use crate::tree::{CHUNK_LEN, chunk_len, merge, merge_root, split, subtree_cv};

/// Checks that `proof` answers `challenge` for the shard `shard_id` of `len`
/// bytes: every challenged chunk is present with its exact length, and the
/// chunks and siblings hash up to `shard_id`.
pub fn verify(
    shard_id: &ShardId,
    len: u64,
    challenge: &Challenge,
    proof: &Proof,
) -> Result<(), VerifyError> {
    if challenge.shard_id() != *shard_id || challenge.len() != len {
        return Err(VerifyError::ChallengeForOtherShard);
    }
    if proof.seed != *challenge.seed() {
        return Err(VerifyError::ChallengeMismatch);
    }
    let wanted = challenge.chunks();
    if proof.chunks.len() != wanted.len() {
        return Err(VerifyError::WrongChunkCount {
            expected: wanted.len(),
            got: proof.chunks.len(),
        });
    }
    for (&index, chunk) in wanted.iter().zip(&proof.chunks) {
        let expected = chunk_len(len, index);
        if chunk.len() as u64 != expected {
            return Err(VerifyError::WrongChunkLength {
                index,
                expected,
                got: chunk.len(),
            });
        }
    }

    let root = if len <= CHUNK_LEN {
        // One chunk: the root is the plain hash of it, with no parents.
        if !proof.siblings.is_empty() {
            return Err(VerifyError::ExtraSiblings(proof.siblings.len()));
        }
        blake3::hash(&proof.chunks[0])
    } else {
        let mut walk = Walk {
            proof,
            next_chunk: 0,
            next_sibling: 0,
        };
        let (left, right) = split(len);
        let cut = wanted.partition_point(|&index| index < left / CHUNK_LEN);
        let left_cv = walk.subtree(0, left, &wanted[..cut])?;
        let right_cv = walk.subtree(left, right, &wanted[cut..])?;
        let extra = proof.siblings.len() - walk.next_sibling;
        if extra > 0 {
            return Err(VerifyError::ExtraSiblings(extra));
        }
        merge_root(&left_cv, &right_cv)
    };
    if root.as_bytes() == shard_id.as_bytes() {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// The verifier's side of the tree walk: the same order as the prover's.
struct Walk<'a> {
    proof: &'a Proof,
    next_chunk: usize,
    next_sibling: usize,
}

impl Walk<'_> {
    fn subtree(
        &mut self,
        start: u64,
        len: u64,
        wanted: &[u64],
    ) -> Result<ChainingValue, VerifyError> {
        if wanted.is_empty() {
            let cv = self
                .proof
                .siblings
                .get(self.next_sibling)
                .ok_or(VerifyError::MissingSiblings)?;
            self.next_sibling += 1;
            return Ok(*cv);
        }
        if len <= CHUNK_LEN {
            let chunk = &self.proof.chunks[self.next_chunk];
            self.next_chunk += 1;
            return Ok(subtree_cv(start, chunk));
        }
        let (left, right) = split(len);
        let cut = wanted.partition_point(|&index| index < (start + left) / CHUNK_LEN);
        let left_cv = self.subtree(start, left, &wanted[..cut])?;
        let right_cv = self.subtree(start + left, right, &wanted[cut..])?;
        Ok(merge(&left_cv, &right_cv))
    }
}
