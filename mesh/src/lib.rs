//! What Cairn's gateways and storage nodes share.
//!
//! - [`codec`]: object bytes to encrypted, erasure-coded shards and back.
//! - [`compute`]: compute tasks' limits and the compute protocol's messages.
//! - [`content`]: published content: CIDs, per-segment hashes checked
//!   against them, and the keys derived from those hashes.
//! - [`wire`]: the shard protocol's messages and framing.
//! - [`net`]: the libp2p swarm (Kademlia, identify, ping, streams), signed
//!   node records, the shard client and a background mesh client.
//! - [`identity`]: a peer's ed25519 key, kept private in its data directory.
//! - [`ShardId`], re-exported from [`proofs`].

pub mod codec;
pub mod compute;
pub mod content;
pub mod identity;
pub mod net;
pub mod wire;

pub use proofs::ShardId;
