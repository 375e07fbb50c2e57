//! Proofs of storage for Cairn shards.
//!
//! A shard's id is its plain blake3 hash. blake3 is itself a Merkle tree over
//! 1 KiB chunks, so that 32-byte id already commits to every chunk of the
//! shard. This crate builds inclusion proofs against it with
//! [`blake3::hazmat`] — there is no second tree and no second hash.
//!
//! * A verifier picks a fresh random seed and makes a [`Challenge`]: the shard
//!   id, its length, and chunk indices derived from the seed.
//! * The node answers with a [`Proof`]: the challenged chunks plus the
//!   chaining values of every subtree that holds no challenged chunk, in a
//!   fixed traversal order (a compact multi-proof: shared siblings are sent
//!   once). [`prove`] works from any [`ReadAt`] source — a file on disk — and a
//!   small [`Outboard`] of stored 16 KiB group hashes, so answering reads only
//!   the challenged groups, never the whole shard.
//! * [`verify`] needs nothing but the shard id, the length, the challenge and
//!   the proof.
//!
//! Pure logic: the only I/O is positioned reads through [`ReadAt`].

mod challenge;
mod error;
mod outboard;
mod proof;
mod prove;
mod read_at;
mod shard_id;
mod tree;
mod verify;

pub use challenge::{Challenge, MAX_CHALLENGE_CHUNKS};
pub use error::{DecodeError, ProveError, VerifyError};
pub use outboard::{GROUP_CHUNKS, GROUP_LEN, Outboard, OutboardBuilder};
pub use proof::{PROOF_VERSION, Proof};
pub use prove::prove;
pub use read_at::ReadAt;
pub use shard_id::ShardId;
pub use tree::{CHUNK_LEN, chunk_count};
pub use verify::verify;
