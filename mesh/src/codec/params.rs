//! Codec settings: segment size, erasure scheme, replication threshold.

use crate::codec::error::CodecError;

/// Default segment size: 8 MiB.
pub const DEFAULT_SEGMENT_SIZE: usize = 8 << 20;
/// Most data shards per segment.
pub const MAX_DATA_SHARDS: usize = 32;
/// Most parity shards per segment.
pub const MAX_PARITY_SHARDS: usize = 32;
const MIN_SEGMENT_SIZE: usize = 1 << 10;
const MAX_SEGMENT_SIZE: usize = 64 << 20;

/// An erasure scheme: `k` data shards plus `m` parity shards, any `k` of
/// which rebuild the segment. `k = 1` is plain replication (`1 + m` copies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scheme {
    /// Data shards.
    pub k: usize,
    /// Parity shards.
    pub m: usize,
}

impl Scheme {
    /// A checked scheme: `1 ≤ k ≤ 32`, `0 ≤ m ≤ 32`.
    pub fn new(k: usize, m: usize) -> Result<Self, CodecError> {
        let reason = if k == 0 {
            "k must be at least 1"
        } else if k > MAX_DATA_SHARDS {
            "k must be at most 32"
        } else if m > MAX_PARITY_SHARDS {
            "m must be at most 32"
        } else {
            return Ok(Self { k, m });
        };
        Err(CodecError::InvalidScheme { k, m, reason })
    }

    /// Total shards per segment, `k + m`.
    pub fn total(&self) -> usize {
        self.k + self.m
    }

    /// Whether this scheme stores whole copies.
    pub fn is_replication(&self) -> bool {
        self.k == 1
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{}", self.k, self.m)
    }
}

/// How a gateway encodes objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecParams {
    /// Segment size in bytes (default 8 MiB).
    pub segment_size: usize,
    /// The erasure scheme for ordinary objects (default 4+2).
    pub scheme: Scheme,
    /// Objects smaller than this are replicated (`k = 1`, `1 + m` copies):
    /// splitting a few KiB into k pieces costs more requests than it saves
    /// bytes. Default 16 KiB.
    pub replicate_below: u64,
}

impl Default for CodecParams {
    fn default() -> Self {
        Self {
            segment_size: DEFAULT_SEGMENT_SIZE,
            scheme: Scheme { k: 4, m: 2 },
            replicate_below: 16 << 10,
        }
    }
}

impl CodecParams {
    /// Checked settings.
    pub fn new(
        segment_size: usize,
        scheme: Scheme,
        replicate_below: u64,
    ) -> Result<Self, CodecError> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size) {
            return Err(CodecError::InvalidSegmentSize(segment_size));
        }
        let scheme = Scheme::new(scheme.k, scheme.m)?;
        Ok(Self {
            segment_size,
            scheme,
            replicate_below,
        })
    }

    /// The scheme for an object of `object_len` bytes: replication for tiny
    /// objects, the configured scheme otherwise.
    pub fn scheme_for(&self, object_len: u64) -> Scheme {
        if object_len < self.replicate_below {
            Scheme {
                k: 1,
                m: self.scheme.m,
            }
        } else {
            self.scheme
        }
    }
}
