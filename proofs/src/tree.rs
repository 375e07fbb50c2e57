//! Geometry of the blake3 chunk tree and the chaining-value helpers that
//! prover and verifier share.

use blake3::hazmat::{ChainingValue, HasherExt, Mode, left_subtree_len};

/// Bytes per blake3 chunk: the leaves of the tree.
pub const CHUNK_LEN: u64 = blake3::CHUNK_LEN as u64;

/// Number of chunks in a shard of `len` bytes. An empty shard has one
/// (empty) chunk, as blake3 hashes it.
pub fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK_LEN).max(1)
}

/// Length in bytes of chunk `index` of a shard of `len` bytes.
pub(crate) fn chunk_len(len: u64, index: u64) -> u64 {
    let start = index * CHUNK_LEN;
    (len - start).min(CHUNK_LEN)
}

/// Splits a subtree of `len` bytes (more than one chunk) into the lengths of
/// its left and right children, as blake3 does.
pub(crate) fn split(len: u64) -> (u64, u64) {
    let left = left_subtree_len(len);
    (left, len - left)
}

/// Chaining value of a non-root subtree holding `bytes`, which start at byte
/// `offset` of the shard.
pub(crate) fn subtree_cv(offset: u64, bytes: &[u8]) -> ChainingValue {
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(offset);
    hasher.update(bytes);
    hasher.finalize_non_root()
}

/// Parent chaining value of two children (not the root).
pub(crate) fn merge(left: &ChainingValue, right: &ChainingValue) -> ChainingValue {
    blake3::hazmat::merge_subtrees_non_root(left, right, Mode::Hash)
}

/// Root hash from the root's two children.
pub(crate) fn merge_root(left: &ChainingValue, right: &ChainingValue) -> blake3::Hash {
    blake3::hazmat::merge_subtrees_root(left, right, Mode::Hash)
}
