//! Typed errors of the codec.

/// Why a segment could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The erasure scheme is outside what the codec supports.
    #[error("invalid erasure scheme {k}+{m}: {reason}")]
    InvalidScheme {
        /// Data shards asked for.
        k: usize,
        /// Parity shards asked for.
        m: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The segment size is outside the supported range.
    #[error("invalid segment size {0}: must be between 1 KiB and 64 MiB")]
    InvalidSegmentSize(usize),
    /// A segment is longer than the configured segment size.
    #[error("segment of {len} bytes exceeds the {max}-byte segment size")]
    SegmentTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Decoding was given a shard list of the wrong size.
    #[error("expected {expected} shard slots, got {got}")]
    WrongShardCount {
        /// k + m.
        expected: usize,
        /// Slots given.
        got: usize,
    },
    /// Fewer than k shards were present.
    #[error("only {have} shards present, {need} needed")]
    NotEnoughShards {
        /// Present shards.
        have: usize,
        /// k.
        need: usize,
    },
    /// A shard has the wrong length for this segment.
    #[error("shard {index} is {got} bytes, expected {expected}")]
    WrongShardLength {
        /// Shard index.
        index: usize,
        /// Expected length.
        expected: usize,
        /// Its length.
        got: usize,
    },
    /// The decrypted segment failed authentication: wrong key, wrong
    /// segment, or corrupted shards.
    #[error("segment failed authentication")]
    Authentication,
    /// The Reed-Solomon coder refused.
    #[error("erasure coding: {0:?}")]
    Erasure(reed_solomon_erasure::Error),
    /// Reading the object's bytes failed.
    #[error("reading object bytes: {0}")]
    Io(#[from] std::io::Error),
}
