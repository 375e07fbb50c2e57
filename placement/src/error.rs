//! Typed errors of the crate.

use crate::NodeId;

/// Why a placement or repair could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    /// Fewer distinct eligible nodes exist than shards to place. With
    /// [`Policy::distinct_subnets`](crate::Policy::distinct_subnets) on,
    /// `eligible` counts distinct subnets among the eligible nodes (one node
    /// per subnet at most), and for a repair it leaves out nodes and subnets
    /// that the segment already uses.
    #[error(
        "not enough nodes: {needed} shards need {needed} distinct eligible nodes{}, only {eligible} available",
        if *.subnets { " in distinct subnets" } else { "" }
    )]
    NotEnoughNodes {
        /// Shards that had to be placed.
        needed: usize,
        /// Distinct usable nodes (or subnets) found.
        eligible: usize,
        /// Whether the subnet rule was in force (so `eligible` counts subnets).
        subnets: bool,
    },
    /// `k` must be at least 1.
    #[error("invalid erasure shape {k}+{m}: k must be at least 1")]
    InvalidShape {
        /// Data shards asked for.
        k: usize,
        /// Parity shards asked for.
        m: usize,
    },
    /// A repair's current placement does not have `k + m` entries.
    #[error("current placement has {len} shards but the shape {k}+{m} needs {}", k + m)]
    ShapeMismatch {
        /// Data shards of the segment.
        k: usize,
        /// Parity shards of the segment.
        m: usize,
        /// Entries in the current placement.
        len: usize,
    },
    /// A lost shard index is outside the segment.
    #[error("lost shard index {index} is out of range for a segment of {shards} shards")]
    ShardIndexOutOfRange {
        /// The offending index.
        index: usize,
        /// Shards in the segment.
        shards: usize,
    },
    /// The same node id appears twice in the node list.
    #[error("node {0} appears more than once in the node list")]
    DuplicateNode(NodeId),
    /// A policy number is out of range.
    #[error("invalid policy: {0}")]
    InvalidPolicy(&'static str),
}
