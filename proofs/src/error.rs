//! Typed errors of the proofs crate.

use std::io;

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The challenge names another shard or another length than the one being
    /// verified.
    #[error("the challenge is for another shard or length")]
    ChallengeForOtherShard,
    /// The proof answers a challenge with another seed.
    #[error("the proof answers another challenge")]
    ChallengeMismatch,
    /// The proof carries a different number of chunks than were challenged.
    #[error("the proof carries {got} chunks, the challenge asked for {expected}")]
    WrongChunkCount {
        /// Chunks challenged.
        expected: usize,
        /// Chunks in the proof.
        got: usize,
    },
    /// A chunk has the wrong length for its index.
    #[error("chunk {index} is {got} bytes, expected {expected}")]
    WrongChunkLength {
        /// Chunk index in the shard.
        index: u64,
        /// Expected length.
        expected: u64,
        /// Length in the proof.
        got: usize,
    },
    /// The proof has fewer sibling hashes than the tree needs.
    #[error("the proof is missing sibling hashes")]
    MissingSiblings,
    /// The proof has more sibling hashes than the tree needs.
    #[error("the proof carries {0} sibling hashes too many")]
    ExtraSiblings(usize),
    /// The recomputed root is not the shard id: some chunk or sibling is wrong.
    #[error("the proof does not hash to the shard id")]
    RootMismatch,
}

/// Why serialized bytes are not a proof or a challenge.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The version byte is not one this build understands.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    /// The bytes end before the declared contents.
    #[error("truncated")]
    Truncated,
    /// Bytes remain after the declared contents.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A declared count or length is out of range.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
}

/// Why a proof could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The outboard describes a shard of another length than the challenge.
    #[error("the outboard is for a {outboard}-byte shard, the challenge for {challenge} bytes")]
    LengthMismatch {
        /// Length recorded in the outboard.
        outboard: u64,
        /// Length named by the challenge.
        challenge: u64,
    },
    /// Reading the shard failed (including a file shorter than its length).
    #[error("reading the shard: {0}")]
    Io(#[from] io::Error),
}
