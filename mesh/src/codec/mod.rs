//! The segment codec: object bytes → encrypted, Reed-Solomon coded shards.
//!
//! An object is cut into segments (default 8 MiB; the last may be short, an
//! empty object has none). Each segment is sealed with AES-256-GCM (`ring`) under the
//! object's own random key — the nonce is the (part, segment index) pair, so
//! no nonce repeats under a key — and the ciphertext plus tag is split into
//! `k` data shards and extended with `m` parity shards. Any `k` of the
//! `k + m` shards give the segment back; objects smaller than
//! [`CodecParams::replicate_below`] are stored as `1 + m` whole copies
//! instead (`k = 1`). Every shard is named by its blake3 hash.
//!
//! The segment buffer is laid out so that nothing is copied between stages:
//! plaintext is read into it, encrypted in place, and the data shards are
//! slices of that same buffer.

mod cipher;
mod error;
mod layout;
mod params;
mod segment;
mod stream;

pub use cipher::{ObjectKey, SegmentRef, TAG_LEN};
pub use error::CodecError;
pub use layout::ObjectLayout;
pub use params::{CodecParams, DEFAULT_SEGMENT_SIZE, MAX_DATA_SHARDS, MAX_PARITY_SHARDS, Scheme};
pub use segment::{EncodedSegment, SegmentBuffer, SegmentCodec};
pub use stream::{SegmentReader, decode_object};
