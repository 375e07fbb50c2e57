//! Answering a challenge from the shard's bytes and its outboard.

use blake3::hazmat::ChainingValue;

use crate::challenge::Challenge;
use crate::error::ProveError;
use crate::outboard::{GROUP_LEN, Outboard};
use crate::proof::Proof;
use crate::read_at::ReadAt;
use crate::tree::{CHUNK_LEN, chunk_len, split, subtree_cv};

/// Builds the proof for `challenge` from the shard's bytes (`data`, a file or
/// a slice) and its `outboard`.
///
/// Reads only the 16 KiB groups that hold challenged chunks; all other
/// subtree hashes come from the outboard. A shard on disk that no longer
/// matches its outboard yields a proof that fails verification — which is the
/// point.
pub fn prove(
    challenge: &Challenge,
    data: &(impl ReadAt + ?Sized),
    outboard: &Outboard,
) -> Result<Proof, ProveError> {
    if outboard.len() != challenge.len() {
        return Err(ProveError::LengthMismatch {
            outboard: outboard.len(),
            challenge: challenge.len(),
        });
    }
    let mut prover = Prover {
        data,
        outboard,
        len: challenge.len(),
        group: Vec::new(),
        group_start: None,
        proof: Proof {
            seed: *challenge.seed(),
            chunks: Vec::with_capacity(challenge.chunks().len()),
            siblings: Vec::new(),
        },
    };
    prover.walk(0, challenge.len(), challenge.chunks())?;
    Ok(prover.proof)
}

struct Prover<'a, R: ReadAt + ?Sized> {
    data: &'a R,
    outboard: &'a Outboard,
    len: u64,
    /// The 16 KiB group last read, so each group is read at most once.
    group: Vec<u8>,
    group_start: Option<u64>,
    proof: Proof,
}

impl<R: ReadAt + ?Sized> Prover<'_, R> {
    /// Emits the proof of the subtree `[start, start + len)`, which holds the
    /// challenged chunks `wanted` (sorted, non-empty).
    fn walk(&mut self, start: u64, len: u64, wanted: &[u64]) -> Result<(), ProveError> {
        if wanted.is_empty() {
            let cv = self.subtree_cv(start, len)?;
            self.proof.siblings.push(cv);
            return Ok(());
        }
        if len <= CHUNK_LEN {
            let index = start / CHUNK_LEN;
            let chunk_bytes = chunk_len(self.len, index) as usize;
            let offset = self.load_group(start)?;
            let chunk = self.group[offset..offset + chunk_bytes].to_vec();
            self.proof.chunks.push(chunk);
            return Ok(());
        }
        let (left, right) = split(len);
        let boundary = (start + left) / CHUNK_LEN;
        let cut = wanted.partition_point(|&index| index < boundary);
        self.walk(start, left, &wanted[..cut])?;
        self.walk(start + left, right, &wanted[cut..])
    }

    /// Chaining value of a subtree holding no challenged chunk: from the
    /// outboard when it is made of whole groups, otherwise hashed from the
    /// (already loaded) group it lies in.
    fn subtree_cv(&mut self, start: u64, len: u64) -> Result<ChainingValue, ProveError> {
        let whole_groups =
            start.is_multiple_of(GROUP_LEN) && (len >= GROUP_LEN || start + len == self.len);
        if whole_groups && self.len > GROUP_LEN {
            return Ok(self.outboard.subtree(start, len));
        }
        let offset = self.load_group(start)?;
        Ok(subtree_cv(
            start,
            &self.group[offset..offset + len as usize],
        ))
    }

    /// Makes the group holding byte `start` the loaded one; returns `start`'s
    /// offset within it.
    fn load_group(&mut self, start: u64) -> Result<usize, ProveError> {
        let group_start = start - start % GROUP_LEN;
        if self.group_start != Some(group_start) {
            let group_len = (self.len - group_start).min(GROUP_LEN) as usize;
            self.group.resize(group_len, 0);
            self.data.read_exact_at(&mut self.group, group_start)?;
            self.group_start = Some(group_start);
        }
        Ok((start - group_start) as usize)
    }
}
