//! The outboard: stored chaining values of each 16 KiB group of a shard.
//!
//! With it, a prover reads only the groups that hold challenged chunks (one
//! 16 KiB read each) and merges the stored group hashes for everything else,
//! instead of rehashing the whole shard. Size overhead: 32 bytes per 16 KiB,
//! 0.2 % (4 KiB for a 2 MiB shard).

use std::io::{self, Read};

use blake3::hazmat::ChainingValue;

use crate::error::DecodeError;
use crate::shard_id::ShardId;
use crate::tree::{CHUNK_LEN, merge, merge_root, split, subtree_cv};

/// Chunks per outboard group.
pub const GROUP_CHUNKS: u64 = 16;
/// Bytes per outboard group (16 KiB).
pub const GROUP_LEN: u64 = GROUP_CHUNKS * CHUNK_LEN;

const OUTBOARD_VERSION: u8 = 1;

/// Chaining values of every 16 KiB group of one shard, in order.
///
/// Every group is a whole subtree of the blake3 tree (groups are
/// power-of-two aligned; only the last may be short), so the hash of any
/// larger subtree is a merge of group hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outboard {
    len: u64,
    groups: Vec<ChainingValue>,
}

impl Outboard {
    /// Hashes `reader` to its end, returning the outboard and the shard id.
    ///
    /// The data is hashed once: the id is merged from the group hashes.
    pub fn build(mut reader: impl Read) -> io::Result<(Self, ShardId)> {
        let mut builder = OutboardBuilder::default();
        let mut buf = vec![0u8; 16 * GROUP_LEN as usize];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            builder.update(&buf[..n]);
        }
        Ok(builder.finalize())
    }

    /// Starts an incremental build, for data that arrives in pieces (a shard
    /// streamed in over the network is hashed once, while it is received).
    pub fn builder() -> OutboardBuilder {
        OutboardBuilder::default()
    }

    /// Length of the shard it describes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it describes an empty shard.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hash of the group starting at byte `start`.
    pub(crate) fn group(&self, start: u64) -> &ChainingValue {
        &self.groups[(start / GROUP_LEN) as usize]
    }

    /// Chaining value of the subtree `[start, start + len)`, which must be a
    /// whole group or a subtree made of whole groups.
    pub(crate) fn subtree(&self, start: u64, len: u64) -> ChainingValue {
        if len <= GROUP_LEN {
            *self.group(start)
        } else {
            let (left, right) = split(len);
            merge(
                &self.subtree(start, left),
                &self.subtree(start + left, right),
            )
        }
    }

    /// The shard id these group hashes add up to, or `None` for shards of one
    /// group or less (whose root is not a merge of group hashes).
    pub fn root(&self) -> Option<ShardId> {
        if self.len <= GROUP_LEN {
            return None;
        }
        let (left, right) = split(self.len);
        let root = merge_root(&self.subtree(0, left), &self.subtree(left, right));
        Some(root.into())
    }

    /// Binary form: version, length, group hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + 32 * self.groups.len());
        out.push(OUTBOARD_VERSION);
        out.extend_from_slice(&self.len.to_le_bytes());
        for cv in &self.groups {
            out.extend_from_slice(cv);
        }
        out
    }

    /// Parses [`Outboard::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&version, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
        if version != OUTBOARD_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let len_bytes = rest.get(..8).ok_or(DecodeError::Truncated)?;
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let count =
            usize::try_from(group_count(len)).map_err(|_| DecodeError::Invalid("length"))?;
        let body = &rest[8..];
        let expected = count
            .checked_mul(32)
            .ok_or(DecodeError::Invalid("length"))?;
        if body.len() < expected {
            return Err(DecodeError::Truncated);
        }
        if body.len() > expected {
            return Err(DecodeError::TrailingBytes(body.len() - expected));
        }
        let groups = body
            .chunks_exact(32)
            .map(|cv| cv.try_into().expect("32 bytes"))
            .collect();
        Ok(Self { len, groups })
    }
}

/// Number of groups of a shard of `len` bytes (an empty shard has one).
fn group_count(len: u64) -> u64 {
    len.div_ceil(GROUP_LEN).max(1)
}

/// Incremental [`Outboard`] construction: feed bytes with
/// [`OutboardBuilder::update`], then [`OutboardBuilder::finalize`].
#[derive(Default)]
pub struct OutboardBuilder {
    len: u64,
    groups: Vec<ChainingValue>,
    /// Bytes of the current, not yet full, group.
    pending: Vec<u8>,
}

impl OutboardBuilder {
    /// Adds the next bytes of the shard.
    pub fn update(&mut self, mut data: &[u8]) {
        let group = GROUP_LEN as usize;
        if !self.pending.is_empty() {
            let take = (group - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == group && !data.is_empty() {
                let cv = subtree_cv(self.len, &self.pending);
                self.groups.push(cv);
                self.len += GROUP_LEN;
                self.pending.clear();
            }
        }
        // Whole groups straight from the input, keeping the last (possibly
        // final) group pending: it may be the root and needs its bytes.
        while data.len() > group {
            let (head, tail) = data.split_at(group);
            self.groups.push(subtree_cv(self.len, head));
            self.len += GROUP_LEN;
            data = tail;
        }
        if !data.is_empty() {
            self.pending.extend_from_slice(data);
        }
    }

    /// Finishes: the outboard and the shard id (the plain blake3 hash).
    pub fn finalize(mut self) -> (Outboard, ShardId) {
        if self.groups.is_empty() {
            // One group or less: the root is the plain hash of these bytes and
            // no group hash is ever merged, so the root stands in for it.
            let id = ShardId::of(&self.pending);
            let outboard = Outboard {
                len: self.pending.len() as u64,
                groups: vec![id.0],
            };
            return (outboard, id);
        }
        self.groups.push(subtree_cv(self.len, &self.pending));
        self.len += self.pending.len() as u64;
        let outboard = Outboard {
            len: self.len,
            groups: self.groups,
        };
        let id = outboard.root().expect("more than one group");
        (outboard, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 1024) as u8).collect()
    }

    #[test]
    fn id_matches_plain_blake3_at_group_boundaries() {
        for len in [0, 1, 1024, 1025, 16383, 16384, 16385, 32768, 49153, 200_000] {
            let bytes = data(len);
            let (outboard, id) = Outboard::build(&bytes[..]).unwrap();
            assert_eq!(id, ShardId::of(&bytes), "len {len}");
            assert_eq!(outboard.len(), len as u64);
            assert_eq!(outboard.groups.len() as u64, group_count(len as u64));
            if len as u64 > GROUP_LEN {
                assert_eq!(outboard.root(), Some(id));
            }
        }
    }

    #[test]
    fn incremental_updates_of_any_size_agree() {
        let bytes = data(100_000);
        let (whole, id) = Outboard::build(&bytes[..]).unwrap();
        for piece in [1, 7, 1000, 16384, 16385, 40000] {
            let mut builder = Outboard::builder();
            for part in bytes.chunks(piece) {
                builder.update(part);
            }
            let (outboard, piece_id) = builder.finalize();
            assert_eq!(piece_id, id, "piece {piece}");
            assert_eq!(outboard, whole, "piece {piece}");
        }
    }

    #[test]
    fn serialization_round_trips_and_rejects_damage() {
        let (outboard, _) = Outboard::build(&data(70_000)[..]).unwrap();
        let bytes = outboard.to_bytes();
        assert_eq!(Outboard::from_bytes(&bytes).unwrap(), outboard);
        assert_eq!(
            Outboard::from_bytes(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Truncated)
        );
        let mut padded = bytes.clone();
        padded.push(0);
        assert_eq!(
            Outboard::from_bytes(&padded),
            Err(DecodeError::TrailingBytes(1))
        );
        let mut versioned = bytes;
        versioned[0] = 9;
        assert_eq!(
            Outboard::from_bytes(&versioned),
            Err(DecodeError::UnsupportedVersion(9))
        );
    }
}
