//! Serde forms of [`ShardId`] (which has no serde of its own) and of byte
//! strings.
//!
//! Used with `#[serde(with = "...")]` on message fields.

use std::fmt;

use proofs::ShardId;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A [`ShardId`] as its 32 raw bytes (a fixed-size tuple: no length prefix).
pub(crate) mod shard_id {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(id: &ShardId, s: S) -> Result<S::Ok, S::Error> {
        id.as_bytes().serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ShardId, D::Error> {
        <[u8; 32]>::deserialize(d).map(ShardId)
    }
}

/// An optional [`ShardId`], each as in [`shard_id`].
pub(crate) mod option_shard_id {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Raw(#[serde(with = "super::shard_id")] ShardId);

    pub(crate) fn serialize<S: Serializer>(id: &Option<ShardId>, s: S) -> Result<S::Ok, S::Error> {
        id.map(Raw).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ShardId>, D::Error> {
        Ok(Option::<Raw>::deserialize(d)?.map(|raw| raw.0))
    }
}

/// A `Vec<(ShardId, u64)>`: a length, then each id as in [`shard_id`]
/// followed by its varint length.
pub(crate) mod shard_list {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Entry(#[serde(with = "super::shard_id")] ShardId, u64);

    pub(crate) fn serialize<S: Serializer>(
        ids: &[(ShardId, u64)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(ids.iter().map(|&(id, len)| Entry(id, len)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(ShardId, u64)>, D::Error> {
        let entries = Vec::<Entry>::deserialize(d)?;
        Ok(entries
            .into_iter()
            .map(|Entry(id, len)| (id, len))
            .collect())
    }
}

/// A `Vec<ShardId>`: a length, then each id as in [`shard_id`].
pub(crate) mod shard_ids {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Entry(#[serde(with = "super::shard_id")] ShardId);

    pub(crate) fn serialize<S: Serializer>(ids: &[ShardId], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ids.iter().map(|&id| Entry(id)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ShardId>, D::Error> {
        let entries = Vec::<Entry>::deserialize(d)?;
        Ok(entries.into_iter().map(|Entry(id)| id).collect())
    }
}

/// A `Vec<u8>` as one byte string (a length, then the bytes), decoded in
/// one copy rather than byte by byte.
pub(crate) mod bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }
}

/// Collects a byte string into a `Vec<u8>`.
struct BytesVisitor;

impl Visitor<'_> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        Ok(bytes.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(bytes)
    }
}
