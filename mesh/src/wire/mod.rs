//! The shard protocol's wire format: the messages a gateway and a storage
//! node exchange, and how they are framed on a stream.
//!
//! Every request is one libp2p stream negotiated as [`SHARD_PROTOCOL`]. The
//! requester writes one [`Request`] frame (for [`Request::PutShard`] followed
//! by exactly `len` raw shard bytes), the node answers with one [`Response`]
//! frame (for [`Response::Shard`] followed by exactly `len` raw bytes), and
//! the stream is closed.
//!
//! # Framing
//!
//! ```text
//! frame = body length (u32, little-endian) ‖ body
//! body  = WIRE_VERSION (1 byte) ‖ postcard(message)
//! ```
//!
//! The body is at most [`MAX_FRAME`] bytes. Readers refuse a larger declared
//! length before allocating anything, and refuse bodies with an unknown
//! version, undecodable contents or trailing bytes, each with its own
//! [`WireError`]. Shard ids travel as 32 raw bytes; challenges and proofs as
//! byte strings in the [`proofs`] crate's own binary forms. A node rebuilds a
//! received challenge with [`proofs::Challenge::from_bytes`], so its chunk
//! indices are always derived locally, never taken from the peer.
//!
//! The helpers work on any [`futures_util::io::AsyncRead`] /
//! [`futures_util::io::AsyncWrite`] (a libp2p `Stream`, or an in-memory
//! buffer); [`encode`] and [`decode`] are the same format on byte slices.

mod error;
mod frame;
mod message;
mod serde_with;

pub use error::WireError;
pub use frame::{
    HEADER_LEN, MAX_FRAME, MAX_REQUEST_FRAME, decode, decode_body, encode, read_frame,
    read_frame_within, read_request, read_response, write_frame,
};
pub use message::{
    ErrorCode, MAX_LABEL_LEN, MAX_LIST_LIMIT, MAX_MESSAGE_LEN, MAX_POINTER_LEN, MAX_RENEW,
    MAX_USAGE_REPORT, NodeStat, Request, Response,
};

/// The libp2p protocol name of the shard protocol.
pub const SHARD_PROTOCOL: &str = "/cairn/shard/1";

/// Version byte that starts every frame body.
pub const WIRE_VERSION: u8 = 1;
