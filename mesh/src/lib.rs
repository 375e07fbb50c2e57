//! What Cairn's gateways and storage nodes share.
//!
//! For now: the segment [`codec`] that turns object bytes into encrypted,
//! erasure-coded shards and back, and the shard id type (re-exported from
//! [`proofs`]). The wire types and the libp2p behaviour join it with the
//! storage node.

pub mod codec;

pub use proofs::ShardId;
