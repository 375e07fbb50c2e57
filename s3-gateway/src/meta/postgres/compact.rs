//! Shard layouts with node ids aliased to small integers: a peer id is 38
//! bytes, an alias a varint of one or two, so a 4+2 segment's layout
//! shrinks from about 420 bytes to about 200 (Storj's metabase does the
//! same with its node aliases).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::meta::types::{deserialize_part, encode, serialize_part};
use crate::meta::{MetaError, PartLayout, SegmentLayout, ShardLocation};

/// Node ids and their aliases, both ways. Aliases are never changed or
/// reused.
#[derive(Debug, Default)]
pub(super) struct Aliases {
    by_node: HashMap<Vec<u8>, i64>,
    by_alias: HashMap<i64, Vec<u8>>,
}

impl Aliases {
    pub(super) fn alias(&self, node: &[u8]) -> Option<i64> {
        self.by_node.get(node).copied()
    }

    pub(super) fn node(&self, alias: i64) -> Option<&Vec<u8>> {
        self.by_alias.get(&alias)
    }

    pub(super) fn learn(&mut self, node: Vec<u8>, alias: i64) {
        self.by_alias.insert(alias, node.clone());
        self.by_node.insert(node, alias);
    }
}

/// A [`PartLayout`] with node aliases, stored as a part layout is.
pub(super) struct CompactPart {
    part_number: u32,
    size: u64,
    etag: String,
    segments: Vec<CompactSegment>,
    key_salt: Option<[u8; 16]>,
}

impl Serialize for CompactPart {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let head = (
            self.part_number,
            self.key_salt,
            self.size,
            self.etag.as_str(),
        );
        serialize_part(head, &self.segments, serializer)
    }
}

impl<'de> Deserialize<'de> for CompactPart {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ((part_number, key_salt, size, etag), segments) = deserialize_part(deserializer)?;
        Ok(CompactPart {
            part_number,
            size,
            etag,
            segments,
            key_salt,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct CompactSegment {
    plain_len: u64,
    /// (shard id, node alias; 0 for a shard written short, on no node).
    shards: Vec<([u8; 32], i64)>,
}

/// Every node `parts` name.
pub(super) fn nodes_of(parts: &[PartLayout]) -> HashSet<Vec<u8>> {
    parts
        .iter()
        .flat_map(|p| &p.segments)
        .flat_map(|s| &s.shards)
        .filter(|s| !s.node.is_empty())
        .map(|s| s.node.clone())
        .collect()
}

/// `parts` with nodes replaced by their `aliases` (which must hold them
/// all), encoded.
pub(super) fn encode_parts(parts: &[PartLayout], aliases: &HashMap<Vec<u8>, i64>) -> Vec<u8> {
    let compact: Vec<CompactPart> = parts
        .iter()
        .map(|p| CompactPart {
            part_number: p.part_number,
            size: p.size,
            etag: p.etag.clone(),
            key_salt: p.key_salt,
            segments: p
                .segments
                .iter()
                .map(|s| CompactSegment {
                    plain_len: s.plain_len,
                    shards: s
                        .shards
                        .iter()
                        .map(|shard| {
                            let alias = if shard.node.is_empty() {
                                0
                            } else {
                                aliases[&shard.node]
                            };
                            (shard.id, alias)
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    encode(&CompactLayout(compact))
}

/// A stored shard layout: its parts, at record version 2 (parts may be
/// salted; version 1 reads unchanged).
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct CompactLayout(Vec<CompactPart>);

impl crate::meta::types::Record for CompactLayout {
    const VERSION: u8 = 2;
}

/// Decodes an encoded layout (aliases not yet resolved).
pub(super) fn decode_layout(bytes: &[u8]) -> Result<Vec<CompactPart>, MetaError> {
    crate::meta::types::decode::<CompactLayout>(bytes, "shard layout").map(|l| l.0)
}

/// Every alias `parts` use.
pub(super) fn aliases_of(parts: &[CompactPart]) -> HashSet<i64> {
    parts
        .iter()
        .flat_map(|p| &p.segments)
        .flat_map(|s| &s.shards)
        .map(|(_, a)| *a)
        .filter(|a| *a != 0)
        .collect()
}

/// `parts` with aliases resolved through `aliases`.
pub(super) fn expand(
    parts: Vec<CompactPart>,
    aliases: &Aliases,
) -> Result<Vec<PartLayout>, MetaError> {
    parts
        .into_iter()
        .map(|p| {
            Ok(PartLayout {
                part_number: p.part_number,
                size: p.size,
                etag: p.etag,
                key_salt: p.key_salt,
                segments: p
                    .segments
                    .into_iter()
                    .map(|s| {
                        Ok(SegmentLayout {
                            plain_len: s.plain_len,
                            shards: s
                                .shards
                                .into_iter()
                                .map(|(id, alias)| {
                                    let node = match alias {
                                        0 => Vec::new(),
                                        a => aliases.node(a).cloned().ok_or_else(|| {
                                            MetaError::Corrupt(format!("unknown node alias {a}"))
                                        })?,
                                    };
                                    Ok(ShardLocation { id, node })
                                })
                                .collect::<Result<_, MetaError>>()?,
                        })
                    })
                    .collect::<Result<_, MetaError>>()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_through_aliases() {
        let part = PartLayout {
            part_number: 1,
            size: 10,
            etag: "\"e\"".into(),
            segments: vec![SegmentLayout {
                plain_len: 10,
                shards: vec![
                    ShardLocation {
                        id: [1; 32],
                        node: vec![7; 38],
                    },
                    ShardLocation {
                        id: [2; 32],
                        node: Vec::new(),
                    },
                ],
            }],
            key_salt: None,
        };
        // A simple object's part and a salted multipart part.
        let salted = PartLayout {
            part_number: 2,
            key_salt: Some([9; 16]),
            ..part.clone()
        };
        let parts = vec![part, salted];
        let mut cache = Aliases::default();
        cache.learn(vec![7; 38], 5);
        let map: HashMap<Vec<u8>, i64> = [(vec![7; 38], 5)].into();
        let bytes = encode_parts(&parts, &map);
        let compact = decode_layout(&bytes).unwrap();
        assert_eq!(aliases_of(&compact), [5].into());
        assert_eq!(expand(compact, &cache).unwrap(), parts);
        assert!(expand(decode_layout(&bytes).unwrap(), &Aliases::default()).is_err());
    }
}
