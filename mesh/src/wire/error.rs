//! Typed errors of the wire format.

use std::io;

/// Why a frame could not be written, read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The stream ended cleanly before the first byte of a frame.
    #[error("the stream was closed before a frame began")]
    Closed,
    /// The stream ended inside the 4-byte length header.
    #[error("the stream ended after {got} of the 4 frame header bytes")]
    TruncatedHeader {
        /// Header bytes received.
        got: usize,
    },
    /// The stream (or slice) ended inside the frame body.
    #[error("the frame body ended after {got} of its {expected} bytes")]
    TruncatedBody {
        /// Body length the header declared.
        expected: u32,
        /// Body bytes received.
        got: u32,
    },
    /// The frame is larger than [`MAX_FRAME`](super::MAX_FRAME); nothing of its
    /// body was read (or, when writing, nothing was written).
    #[error("frame body of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The declared (or encoded) body length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// The frame body is empty: not even a version byte.
    #[error("empty frame body")]
    EmptyBody,
    /// The body starts with a version this build does not speak.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// Bytes remain in the body after the message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// A complete frame was followed by more bytes (in [`decode`](super::decode)).
    #[error("{0} bytes after the frame")]
    TrailingFrameBytes(usize),
    /// The body is not a valid message (including an invalid embedded
    /// challenge or proof).
    #[error("undecodable message: {0}")]
    Decode(#[source] postcard::Error),
    /// The message could not be serialized.
    #[error("unencodable message: {0}")]
    Encode(#[source] postcard::Error),
    /// The message decoded but breaks a protocol rule (see
    /// [`Request::validate`](super::Request::validate)).
    #[error("invalid message: {0}")]
    Invalid(&'static str),
    /// The underlying stream failed.
    #[error("stream I/O: {0}")]
    Io(#[from] io::Error),
}
