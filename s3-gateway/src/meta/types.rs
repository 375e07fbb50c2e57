//! The records the metadata store keeps, and how they are encoded.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::error::MetaError;

/// An S3 access key and its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// The public id (`CA` + 18 characters of `[A-Z0-9]` when generated).
    pub access_key_id: String,
    /// The shared secret used to sign requests (SigV4).
    pub secret_key: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// A bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketInfo {
    /// The bucket name.
    pub name: String,
    /// Its region (as answered by GetBucketLocation).
    pub region: String,
    /// The access key id of its owner.
    pub owner: String,
    /// Creation time, in milliseconds since the Unix epoch.
    pub created: u64,
    /// Who besides the owner may read it.
    pub acl: super::BucketAcl,
}

/// What is stored for a bucket (its name is the table key).
#[derive(Serialize, Deserialize)]
pub(super) struct BucketRecord {
    pub region: String,
    pub owner: String,
    pub created: u64,
}

/// An object's manifest: its S3 attributes and where its shards live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Length of the object in bytes.
    pub size: u64,
    /// The ETag, quoted as S3 returns it, e.g. `"\"9e107d9d372bb6826bd81d3542a419d6\""`.
    pub etag: String,
    /// Last modification, in milliseconds since the Unix epoch.
    pub last_modified: u64,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires`.
    pub expires: Option<String>,
    /// `x-amz-meta-*` headers, without the prefix, names lower-cased.
    pub user_metadata: Vec<(String, String)>,
    /// (algorithm, e.g. `"CRC32"`, base64 value) if the client sent a checksum.
    pub checksum: Option<(String, String)>,
    /// The object's encryption key (wrapped by the caller); opaque here.
    pub encryption_key: Vec<u8>,
    /// Plaintext segment size in bytes.
    pub segment_size: u64,
    /// Data shards per segment.
    pub k: u8,
    /// Parity shards per segment.
    pub m: u8,
    /// One part for a simple PUT; one per part for a multipart upload.
    pub parts: Vec<PartLayout>,
}

/// One part of an object (the whole object for a simple PUT).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartLayout {
    /// The part number (1..=10000; 1 for a simple PUT).
    pub part_number: u32,
    /// Length of the part in bytes.
    pub size: u64,
    /// The part's ETag, quoted.
    pub etag: String,
    /// Its segments, in order.
    pub segments: Vec<SegmentLayout>,
}

/// One segment: its plaintext length and where each of its shards lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentLayout {
    /// Plaintext bytes in this segment.
    pub plain_len: u64,
    /// `shards[i]` is shard `i` (data shards first, then parity).
    pub shards: Vec<ShardLocation>,
}

/// Where one shard is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardLocation {
    /// The shard id (its blake3 hash).
    pub id: [u8; 32],
    /// The peer id bytes of the node holding it.
    pub node: Vec<u8>,
}

/// A multipart upload in progress (its id is the table key; parts are kept
/// in their own table).
#[derive(Serialize, Deserialize)]
pub(super) struct UploadRecord {
    pub bucket: String,
    pub key: String,
    pub initiated: u64,
    /// Creation order, to order uploads initiated in the same millisecond.
    pub seq: u64,
    pub template: ObjectMeta,
}

/// A listing request (ListObjects v1 and v2 both map onto it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Only keys starting with this; empty lists everything.
    pub prefix: String,
    /// Roll keys up into common prefixes at the first occurrence of this
    /// after the prefix. `None` or empty: no roll-up.
    pub delimiter: Option<String>,
    /// Exclusive lower bound on the returned entries (keys or common
    /// prefixes): the v1 marker, v2 start-after, or a decoded continuation
    /// token.
    pub start_after: Option<String>,
    /// At most this many entries (objects and common prefixes together).
    pub max_keys: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            delimiter: None,
            start_after: None,
            max_keys: 1000,
        }
    }
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListPage {
    /// Objects, in binary key order.
    pub objects: Vec<(String, ObjectMeta)>,
    /// Common prefixes, in binary order, each once.
    pub common_prefixes: Vec<String>,
    /// Whether more entries follow the last one returned.
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned (whichever is
    /// greater), to pass back as `start_after` to resume. `None` otherwise.
    pub next_marker: Option<String>,
}

const RECORD_VERSION: u8 = 1;

/// A version byte, then postcard.
pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    postcard::to_io(value, &mut out).expect("writing to a Vec cannot fail");
    out
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, MetaError> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|e| MetaError::Corrupt(format!("{what}: {e}")))
        }
        Some((v, _)) => Err(MetaError::Corrupt(format!(
            "{what}: unknown record version {v}"
        ))),
        None => Err(MetaError::Corrupt(format!("{what}: empty record"))),
    }
}
