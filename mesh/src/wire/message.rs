//! The shard protocol's messages.
//!
//! Variants are encoded by their position: append new ones at the end, and
//! bump [`WIRE_VERSION`](super::WIRE_VERSION) for any other change.

use proofs::ShardId;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use super::error::WireError;
use super::serde_with;

/// Most shards one [`Request::ListShards`] may ask for (and one
/// [`Response::Shards`] may carry).
pub const MAX_LIST_LIMIT: u32 = 10_000;

/// Most shard ids one [`Request::Renew`] may carry (and one
/// [`Response::Renewed`] may list as missing).
pub const MAX_RENEW: usize = 1024;

/// Longest [`NodeStat::region`] and [`NodeStat::version`], in bytes.
pub const MAX_LABEL_LEN: usize = 256;

/// Longest signed usage report in a [`Response::Usage`], in bytes.
pub const MAX_USAGE_REPORT: usize = 4096;

/// Longest message of a [`Response::Error`], in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Longest [`Request::PutPointer`] record (and [`Response::Pointer`]), in
/// bytes.
pub const MAX_POINTER_LEN: usize = 64 * 1024;

/// What a requester asks a storage node. One request per stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Store a shard: exactly `len` raw bytes follow this frame on the same
    /// stream. The node hashes them as they arrive and commits only if they
    /// hash to `id`. The owner is the sending peer (authenticated by the
    /// transport): the node keeps one copy per owner, so another owner
    /// holding the same id changes nothing. The node may answer with an
    /// error before reading the bytes (not accepted, quota, capacity, busy)
    /// and then close the stream.
    PutShard {
        /// The shard id: the blake3 hash of its bytes.
        #[serde(with = "serde_with::shard_id")]
        id: ShardId,
        /// Exact length of the bytes that follow.
        len: u64,
    },
    /// Read a shard, or the range `offset..offset + len` of it; answered by
    /// [`Response::Shard`] and the bytes.
    GetShard {
        /// The shard to read.
        #[serde(with = "serde_with::shard_id")]
        id: ShardId,
        /// First byte to send.
        offset: u64,
        /// How many bytes; `None` reads to the end of the shard.
        len: Option<u64>,
    },
    /// Prove possession of a shard; answered by [`Response::Proof`].
    ///
    /// `challenge` is [`proofs::Challenge::to_bytes`]. The node must rebuild
    /// it with [`proofs::Challenge::from_bytes`], which derives the chunk
    /// indices from the seed itself (they are never on the wire), and answer
    /// [`ErrorCode::BadRequest`] if that fails.
    Challenge {
        /// The challenge's binary form.
        #[serde(with = "serde_with::bytes")]
        challenge: Vec<u8>,
    },
    /// Delete the requester's own copy of a shard (other owners' copies are
    /// untouched). Answered by [`Response::Deleted`].
    DeleteShard {
        /// The shard to delete.
        #[serde(with = "serde_with::shard_id")]
        id: ShardId,
    },
    /// Ask for the node's figures; answered by [`Response::Stat`].
    Stat,
    /// List the shards the requester owns, in id order, starting after
    /// `after`; answered by [`Response::Shards`].
    ListShards {
        /// Continue after this id (`None`: from the start).
        #[serde(with = "serde_with::option_shard_id")]
        after: Option<ShardId>,
        /// Most entries to return: 1 to [`MAX_LIST_LIMIT`].
        limit: u32,
    },
    /// Renew the leases of the requester's copies of `ids` (the node deletes
    /// copies whose owner neither stores nor renews them for its lease
    /// time); answered by [`Response::Renewed`].
    Renew {
        /// At most [`MAX_RENEW`] shard ids.
        #[serde(with = "serde_with::shard_ids")]
        ids: Vec<ShardId>,
    },
    /// Ask for the node's signed usage report about the requester (what it
    /// holds and did for it); answered by [`Response::Usage`].
    Usage,
    /// Keep `record` as the requester's pointer (what a gateway needs to
    /// find its metadata backups: see `s3_gateway::backup`), replacing the
    /// one held unless that has a sequence number of `seq` or more. One per
    /// owner, at most [`MAX_POINTER_LEN`] bytes; the node does not read it
    /// (whoever fetches it checks its signature). Answered by
    /// [`Response::Stored`] (`already`: a newer or equal one was kept).
    PutPointer {
        /// Orders the records of one owner.
        seq: u64,
        /// The record.
        #[serde(with = "serde_with::bytes")]
        record: Vec<u8>,
    },
    /// Fetch the pointer record `owner` (a peer id, as bytes) stored here;
    /// answered by [`Response::Pointer`], or [`ErrorCode::NotFound`].
    GetPointer {
        /// Whose record.
        #[serde(with = "serde_with::bytes")]
        owner: Vec<u8>,
    },
}

impl Request {
    /// Checks the rules the encoding cannot express: a
    /// [`GetShard`](Request::GetShard) range must not overflow `u64`, and a
    /// [`ListShards`](Request::ListShards) limit must be 1 to
    /// [`MAX_LIST_LIMIT`]. [`read_request`](super::read_request) applies it.
    pub fn validate(&self) -> Result<(), WireError> {
        match *self {
            Request::GetShard {
                offset,
                len: Some(len),
                ..
            } if offset.checked_add(len).is_none() => Err(WireError::Invalid("range overflows")),
            Request::ListShards { limit, .. } if limit == 0 || limit > MAX_LIST_LIMIT => {
                Err(WireError::Invalid("list limit out of range"))
            }
            Request::Renew { ref ids } if ids.len() > MAX_RENEW => {
                Err(WireError::Invalid("too many shards to renew"))
            }
            Request::PutPointer { ref record, .. } if record.len() > MAX_POINTER_LEN => {
                Err(WireError::Invalid("pointer record too long"))
            }
            Request::GetPointer { ref owner } if owner.len() > 128 => {
                Err(WireError::Invalid("owner id too long"))
            }
            _ => Ok(()),
        }
    }

    /// A short, stable name of the request kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::PutShard { .. } => "put",
            Request::GetShard { .. } => "get",
            Request::Challenge { .. } => "challenge",
            Request::DeleteShard { .. } => "delete",
            Request::Stat => "stat",
            Request::ListShards { .. } => "list",
            Request::Renew { .. } => "renew",
            Request::Usage => "usage",
            Request::PutPointer { .. } => "put_pointer",
            Request::GetPointer { .. } => "get_pointer",
        }
    }
}

/// A node's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The shard is stored (committed and durable).
    Stored {
        /// It was already stored before this request.
        already: bool,
    },
    /// Exactly `len` raw shard bytes follow this frame on the same stream.
    Shard {
        /// Length of the bytes that follow.
        len: u64,
    },
    /// The answer to a challenge: [`proofs::Proof::to_bytes`], to be parsed
    /// with [`proofs::Proof::from_bytes`] and checked with [`proofs::verify`].
    Proof {
        /// The proof's binary form.
        #[serde(with = "serde_with::bytes")]
        proof: Vec<u8>,
    },
    /// The shard is deleted.
    Deleted,
    /// The node's figures.
    Stat(NodeStat),
    /// A page of the requester's shards.
    Shards {
        /// The shards and their lengths in bytes, in id order.
        #[serde(with = "serde_with::shard_list")]
        ids: Vec<(ShardId, u64)>,
        /// More shards follow the last one listed.
        more: bool,
    },
    /// The request failed.
    Error {
        /// What kind of failure.
        code: ErrorCode,
        /// Human-readable detail, at most [`MAX_MESSAGE_LEN`] bytes.
        message: String,
    },
    /// Leases renewed; the ids the requester has no copy of are listed.
    Renewed {
        /// Ids of [`Request::Renew`] the node holds no copy of for the
        /// requester.
        #[serde(with = "serde_with::shard_ids")]
        missing: Vec<ShardId>,
    },
    /// The node's usage report about the requester:
    /// [`crate::net::SignedUsageReport::to_bytes`], to be checked with
    /// [`crate::net::SignedUsageReport::verify`].
    Usage {
        /// The signed report's binary form.
        #[serde(with = "serde_with::bytes")]
        report: Vec<u8>,
    },
    /// The pointer record asked for by [`Request::GetPointer`].
    Pointer {
        /// Its sequence number, as stored.
        seq: u64,
        /// The record.
        #[serde(with = "serde_with::bytes")]
        record: Vec<u8>,
    },
}

impl Response {
    /// An error response, its message cut (on a character boundary) to
    /// [`MAX_MESSAGE_LEN`] bytes so it always passes [`Response::validate`].
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE_LEN {
            let mut end = MAX_MESSAGE_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Response::Error { code, message }
    }

    /// Checks the bounds the encoding cannot express: at most
    /// [`MAX_LIST_LIMIT`] shards in a page, labels of at most
    /// [`MAX_LABEL_LEN`] bytes, error messages of at most [`MAX_MESSAGE_LEN`]
    /// bytes. [`read_response`](super::read_response) applies it.
    pub fn validate(&self) -> Result<(), WireError> {
        match self {
            Response::Shards { ids, .. } if ids.len() > MAX_LIST_LIMIT as usize => {
                Err(WireError::Invalid("too many shards in a page"))
            }
            Response::Stat(stat)
                if stat.region.len() > MAX_LABEL_LEN || stat.version.len() > MAX_LABEL_LEN =>
            {
                Err(WireError::Invalid("node label too long"))
            }
            Response::Error { message, .. } if message.len() > MAX_MESSAGE_LEN => {
                Err(WireError::Invalid("error message too long"))
            }
            Response::Renewed { missing } if missing.len() > MAX_RENEW => {
                Err(WireError::Invalid("too many missing shards"))
            }
            Response::Usage { report } if report.len() > MAX_USAGE_REPORT => {
                Err(WireError::Invalid("usage report too long"))
            }
            Response::Pointer { record, .. } if record.len() > MAX_POINTER_LEN => {
                Err(WireError::Invalid("pointer record too long"))
            }
            _ => Ok(()),
        }
    }
}

/// A storage node's figures, as [`Response::Stat`] reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStat {
    /// The region the operator configured (e.g. `eu-west`).
    pub region: String,
    /// Configured capacity, in bytes.
    pub capacity: u64,
    /// What a new shard may still take, in bytes.
    pub free: u64,
    /// Committed shards.
    pub shards: u64,
    /// Bytes of committed shards.
    pub bytes_stored: u64,
    /// The node's software version.
    pub version: String,
}

/// Why a request failed. Travels as a `u16`; codes this build does not know
/// (from a newer peer) decode as [`ErrorCode::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No such shard on this node.
    NotFound,
    /// The shard belongs to another owner (no longer sent: copies are kept
    /// per owner; kept so the number stays taken).
    NotOwner,
    /// Storing the shard would exceed the node's configured capacity.
    CapacityExceeded,
    /// The node's disk has not enough real free space.
    DiskFull,
    /// The received bytes do not hash to the shard id.
    HashMismatch,
    /// The received bytes are not the declared length.
    LengthMismatch,
    /// The requested range lies outside the shard.
    OutOfRange,
    /// The shard is damaged on the node's disk.
    Corrupt,
    /// The request is malformed or breaks a protocol rule.
    BadRequest,
    /// The node is overloaded (too many streams); retry later or elsewhere.
    Busy,
    /// Anything else that went wrong on the node.
    Internal,
    /// Storing the shard would take the requester past its quota on this
    /// node; store it elsewhere.
    QuotaExceeded,
    /// This node does not store shards for the requester (its operator
    /// accepts only listed owners).
    NotAccepted,
    /// A code this build does not know. Holding a known code, it encodes as
    /// that code (and so decodes as its named variant).
    Unknown(u16),
}

impl ErrorCode {
    /// The named codes and their numbers on the wire. Never renumber.
    const TABLE: [(ErrorCode, u16); 13] = [
        (ErrorCode::NotFound, 1),
        (ErrorCode::NotOwner, 2),
        (ErrorCode::CapacityExceeded, 3),
        (ErrorCode::DiskFull, 4),
        (ErrorCode::HashMismatch, 5),
        (ErrorCode::LengthMismatch, 6),
        (ErrorCode::OutOfRange, 7),
        (ErrorCode::Corrupt, 8),
        (ErrorCode::BadRequest, 9),
        (ErrorCode::Busy, 10),
        (ErrorCode::Internal, 11),
        (ErrorCode::QuotaExceeded, 12),
        (ErrorCode::NotAccepted, 13),
    ];

    /// The code's number on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::Unknown(code) => code,
            named => Self::TABLE
                .iter()
                .find(|(c, _)| *c == named)
                .map_or(0, |&(_, n)| n),
        }
    }

    /// The code with number `n` ([`ErrorCode::Unknown`] if not a named one).
    pub fn from_u16(n: u16) -> Self {
        Self::TABLE
            .iter()
            .find(|&&(_, m)| m == n)
            .map_or(ErrorCode::Unknown(n), |&(c, _)| c)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_u16().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u16::deserialize(d).map(ErrorCode::from_u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_numbered_once() {
        for (i, &(code, n)) in ErrorCode::TABLE.iter().enumerate() {
            assert_eq!(usize::from(n), i + 1);
            assert_eq!(code.to_u16(), n);
            assert_eq!(ErrorCode::from_u16(n), code);
        }
        assert_eq!(ErrorCode::from_u16(0), ErrorCode::Unknown(0));
        assert_eq!(ErrorCode::from_u16(999), ErrorCode::Unknown(999));
        assert_eq!(ErrorCode::Unknown(1).to_u16(), 1);
    }

    #[test]
    fn error_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE_LEN); // 2 bytes each
        let Response::Error { message, .. } = Response::error(ErrorCode::Internal, long) else {
            unreachable!()
        };
        assert!(message.len() <= MAX_MESSAGE_LEN);
        assert!(message.len() >= MAX_MESSAGE_LEN - 1);
        assert!(
            Response::error(ErrorCode::Busy, "x".repeat(10_000))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn validate_checks_ranges_and_limits() {
        let id = ShardId([7; 32]);
        let get = |offset, len| Request::GetShard { id, offset, len };
        assert!(get(u64::MAX, None).validate().is_ok());
        assert!(get(u64::MAX, Some(0)).validate().is_ok());
        assert!(get(u64::MAX, Some(1)).validate().is_err());
        let list = |limit| Request::ListShards { after: None, limit };
        assert!(list(0).validate().is_err());
        assert!(list(1).validate().is_ok());
        assert!(list(MAX_LIST_LIMIT).validate().is_ok());
        assert!(list(MAX_LIST_LIMIT + 1).validate().is_err());
    }
}
