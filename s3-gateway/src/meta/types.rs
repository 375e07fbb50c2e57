//! The records the metadata store keeps, and how they are encoded.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::error::MetaError;
use super::object_acl::ObjectAcl;

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
    /// Its ACL (private unless the writer asked otherwise).
    pub acl: ObjectAcl,
    /// For an object stored with a customer-provided key (SSE-C): that
    /// key's MD5, base64 (the key itself is never stored).
    pub sse_customer_key_md5: Option<String>,
    /// Its version id; `None` for the null version (every object of a
    /// bucket that never had versioning, and those written while it was
    /// suspended).
    pub version_id: Option<String>,
    /// Its place among the key's versions (see `meta::versions`); 0 for
    /// an object written while its bucket had never had versioning.
    pub version_seq: u64,
    /// A delete marker (kept only among a key's noncurrent versions; see
    /// `meta::versions`): no data, no attributes besides the time.
    pub delete_marker: bool,
    /// Its tags (`x-amz-tagging`, PutObjectTagging), in the order given.
    pub tags: Vec<(String, String)>,
    /// Its object lock retention, if it has one.
    pub retention: Option<Retention>,
    /// Whether an object lock legal hold is on.
    pub legal_hold: bool,
    // Fields added in later versions come last, so records of an earlier
    // version, which lack them, read with their defaults appended.
}

/// An object lock retention: until when and how firmly a version is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// COMPLIANCE (no one may shorten or remove it) rather than
    /// GOVERNANCE (keys allowed to bypass governance may).
    pub compliance: bool,
    /// Until when, in milliseconds since the Unix epoch.
    pub until: u64,
}

/// One part of an object (the whole object for a simple PUT).
///
/// Stored (see [`PartLayout`]'s `Serialize`) as the four fields in order,
/// as before salts existed; a salted part sets [`SALTED`] in the part
/// number and puts the salt right after it, so every record written
/// earlier (manifests, parts, backup pointers) still reads the same.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartLayout {
    /// The part number (1..=10000 for a multipart upload's part; 0 for a
    /// simple PUT).
    pub part_number: u32,
    /// Length of the part in bytes.
    pub size: u64,
    /// The part's ETag, quoted.
    pub etag: String,
    /// Its segments, in order.
    pub segments: Vec<SegmentLayout>,
    /// For a part written with its own key: the random salt that key is
    /// derived from, with the upload's key (`ObjectKey::for_part_write`).
    /// `None`: sealed with the object's (or upload's) key itself, as
    /// simple objects and parts written before salts were.
    pub key_salt: Option<[u8; 16]>,
}

/// The bit of a stored part number that says a salt follows it (part
/// numbers stop at 10,000).
const SALTED: u32 = 1 << 31;

impl Serialize for PartLayout {
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

impl<'de> Deserialize<'de> for PartLayout {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ((part_number, key_salt, size, etag), segments) = deserialize_part(deserializer)?;
        Ok(PartLayout {
            part_number,
            size,
            etag,
            segments,
            key_salt,
        })
    }
}

/// A part's number, salt, size and ETag.
pub(crate) type PartHead<E> = (u32, Option<[u8; 16]>, u64, E);

/// Writes a part (of any segment type) as [`PartLayout`] is stored.
pub(crate) fn serialize_part<S: serde::Serializer, T: Serialize>(
    (number, salt, size, etag): PartHead<&str>,
    segments: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeTuple;
    debug_assert!(number & SALTED == 0, "part numbers stop at 10,000");
    let mut fields = serializer.serialize_tuple(4 + usize::from(salt.is_some()))?;
    match &salt {
        None => fields.serialize_element(&number)?,
        Some(salt) => {
            fields.serialize_element(&(number | SALTED))?;
            fields.serialize_element(salt)?;
        }
    }
    fields.serialize_element(&size)?;
    fields.serialize_element(etag)?;
    fields.serialize_element(segments)?;
    fields.end()
}

/// Reads a part written by [`serialize_part`].
pub(crate) fn deserialize_part<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<(PartHead<String>, Vec<T>), D::Error> {
    struct Fields<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
        type Value = (PartHead<String>, Vec<T>);

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a part layout")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            use serde::de::Error;
            let missing = |what: &str| A::Error::custom(format!("part layout: no {what}"));
            let stored: u32 = seq.next_element()?.ok_or_else(|| missing("part number"))?;
            let salt = match stored & SALTED {
                0 => None,
                _ => Some(seq.next_element()?.ok_or_else(|| missing("salt"))?),
            };
            let size = seq.next_element()?.ok_or_else(|| missing("size"))?;
            let etag = seq.next_element()?.ok_or_else(|| missing("ETag"))?;
            let segments = seq.next_element()?.ok_or_else(|| missing("segments"))?;
            Ok(((stored & !SALTED, salt, size, etag), segments))
        }
    }
    // Five elements at most; an unsalted part has four.
    deserializer.deserialize_tuple(5, Fields(std::marker::PhantomData))
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

/// A stored record type, and the version its records are written at.
/// Object manifests are at version 4: version 2 added [`ObjectMeta::acl`]
/// and [`ObjectMeta::sse_customer_key_md5`], version 3 the version id,
/// delete marker, tags, retention and legal hold, version 4 parts with a
/// [`PartLayout::key_salt`] (so that a gateway of an earlier version
/// refuses them instead of misreading them); the fields of an
/// [`ObjectMeta`] are those of version 3, so records that embed one raw
/// (backup pointers) read across the change. Upload records (which end in
/// a template manifest, with no parts) are at version 3; a part record is
/// at version 2 (it may be salted). Every other record is still written at
/// version 1, so a gateway of an earlier version reads them (a store
/// shared during a rolling upgrade).
pub(super) trait Record: Serialize + DeserializeOwned {
    /// The version records of this type are written at.
    const VERSION: u8 = 1;

    /// What a record of version `from` (older than [`Record::VERSION`])
    /// lacks at its end, as the current version encodes those fields when
    /// defaulted.
    fn upgrade_suffix(_from: u8) -> Vec<u8> {
        Vec::new()
    }
}

/// The encoding of the defaults of the fields [`ObjectMeta`] gained after
/// version `from`: what an object manifest (or a record ending in one) of
/// that version lacks.
fn manifest_suffix(from: u8) -> Vec<u8> {
    let mut suffix = Vec::new();
    if from < 2 {
        suffix.extend(
            postcard::to_allocvec(&(ObjectAcl::default(), None::<String>)).expect("serializable"),
        );
    }
    if from < 3 {
        type V3 = (
            Option<String>,
            u64,
            bool,
            Vec<(String, String)>,
            Option<Retention>,
            bool,
        );
        let v3: V3 = Default::default();
        suffix.extend(postcard::to_allocvec(&v3).expect("serializable"));
    }
    suffix
}

impl Record for ObjectMeta {
    const VERSION: u8 = 4;

    fn upgrade_suffix(from: u8) -> Vec<u8> {
        manifest_suffix(from)
    }
}

impl Record for UploadRecord {
    const VERSION: u8 = 3;

    // Its last field is an object manifest.
    fn upgrade_suffix(from: u8) -> Vec<u8> {
        manifest_suffix(from)
    }
}

impl Record for BucketRecord {}
impl Record for PartLayout {
    // Version 2 may be salted; version 1 reads unchanged.
    const VERSION: u8 = 2;
}
impl Record for BucketAcl {}
impl Record for NodeHealthRecord {}
impl Record for RepairEntry {}
impl<T: Serialize + DeserializeOwned> Record for Vec<T> {}

/// A version byte, then postcard.
pub(super) fn encode<T: Record>(value: &T) -> Vec<u8> {
    let mut out = vec![T::VERSION];
    postcard::to_io(value, &mut out).expect("writing to a Vec cannot fail");
    out
}

pub(super) fn decode<T: Record>(bytes: &[u8], what: &str) -> Result<T, MetaError> {
    let corrupt = |e: postcard::Error| MetaError::Corrupt(format!("{what}: {e}"));
    match bytes.split_first() {
        Some((&v, rest)) if v == T::VERSION => postcard::from_bytes(rest).map_err(corrupt),
        Some((&v, rest)) if v >= 1 && v < T::VERSION => {
            let mut upgraded = rest.to_vec();
            upgraded.extend(T::upgrade_suffix(v));
            postcard::from_bytes(&upgraded).map_err(corrupt)
        }
        Some((v, _)) => Err(MetaError::Corrupt(format!(
            "{what}: unknown record version {v}"
        ))),
        None => Err(MetaError::Corrupt(format!("{what}: empty record"))),
    }
}

/// A bucket's access control list, as far as Cairn models one: the owner
/// always has full control; the only other grant is READ for everyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketAcl {
    /// Only signed requests (the canned ACL `private`).
    #[default]
    Private,
    /// Anonymous requests may list the bucket and read its objects (the
    /// canned ACL `public-read`).
    PublicRead,
}

impl BucketAcl {
    /// The ACL a canned ACL name stands for (`private`, `public-read`);
    /// `None` for the canned ACLs Cairn does not implement.
    pub fn from_canned(name: &str) -> Option<Self> {
        match name {
            "private" => Some(Self::Private),
            "public-read" => Some(Self::PublicRead),
            _ => None,
        }
    }

    /// The canned ACL name.
    pub fn canned(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::PublicRead => "public-read",
        }
    }
}

/// What a key other than a bucket's creator may do in it (granted by the
/// operator with `cairn gateway bucket allow`). The creator may do
/// everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BucketPerms {
    /// List the bucket, read its objects.
    pub read: bool,
    /// Write and delete its objects (multipart uploads included).
    pub write: bool,
    /// Manage the bucket: its ACL and settings, deleting it.
    pub owner: bool,
}

impl BucketPerms {
    /// Every permission (a bucket's creator).
    pub const ALL: Self = Self {
        read: true,
        write: true,
        owner: true,
    };

    /// No permission (a grant of none is no grant).
    pub fn is_none(self) -> bool {
        !(self.read || self.write || self.owner)
    }

    /// Each permission held by either.
    pub fn union(self, other: Self) -> Self {
        Self {
            read: self.read || other.read,
            write: self.write || other.write,
            owner: self.owner || other.owner,
        }
    }

    /// The permissions of `self` that `other` does not hold.
    pub fn minus(self, other: Self) -> Self {
        Self {
            read: self.read && !other.read,
            write: self.write && !other.write,
            owner: self.owner && !other.owner,
        }
    }

    /// As stored: bit 0 read, bit 1 write, bit 2 owner.
    pub fn bits(self) -> u8 {
        u8::from(self.read) | u8::from(self.write) << 1 | u8::from(self.owner) << 2
    }

    /// From [`BucketPerms::bits`] (unknown bits ignored).
    pub fn from_bits(bits: u8) -> Self {
        Self {
            read: bits & 1 != 0,
            write: bits & 2 != 0,
            owner: bits & 4 != 0,
        }
    }

    /// `read,write,owner` (those held), or `none`.
    pub fn describe(self) -> String {
        let names: Vec<&str> = [
            (self.read, "read"),
            (self.write, "write"),
            (self.owner, "owner"),
        ]
        .into_iter()
        .filter_map(|(held, name)| held.then_some(name))
        .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(",")
        }
    }
}

/// A node's copy of a shard: (node id, shard id).
pub type ShardCopy = (Vec<u8>, [u8; 32]);

/// A node's audit history, as persisted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeHealthRecord {
    /// Decaying weight of passed audits.
    pub alpha: f64,
    /// Decaying weight of failed audits.
    pub beta: f64,
    /// Audits answered with a valid proof.
    pub passed: u64,
    /// Audits answered wrongly (bad proof, shard missing or corrupt).
    pub failed: u64,
    /// Audits not answered within the deadline.
    pub timed_out: u64,
    /// Unix ms of the last audit, 0 if never.
    pub last_audit: u64,
    /// Unix ms the node was last heard from, 0 if never.
    pub last_seen: u64,
    /// Unix ms the node was disqualified, if it was.
    pub disqualified: Option<u64>,
}

/// One segment of one object: what the repair queue holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentKey {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// Index into the object's `parts`.
    pub part: u32,
    /// Index into that part's `segments`.
    pub segment: u32,
}

impl SegmentKey {
    /// The key form: `bucket 0x00 key ‖ part (u32 BE) ‖ segment (u32 BE)`,
    /// ordered as the objects are.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = object_key(&self.bucket, &self.key);
        out.extend_from_slice(&self.part.to_be_bytes());
        out.extend_from_slice(&self.segment.to_be_bytes());
        out
    }

    /// Parses [`SegmentKey::to_bytes`].
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, MetaError> {
        let bad = || MetaError::Corrupt("repair queue key".into());
        if bytes.len() < 9 {
            return Err(bad());
        }
        let (name, tail) = bytes.split_at(bytes.len() - 8);
        let part = u32::from_be_bytes(tail[..4].try_into().expect("4 bytes"));
        let segment = u32::from_be_bytes(tail[4..].try_into().expect("4 bytes"));
        let nul = name.iter().position(|&b| b == 0).ok_or_else(bad)?;
        let bucket = std::str::from_utf8(&name[..nul]).map_err(|_| bad())?;
        let key = std::str::from_utf8(&name[nul + 1..]).map_err(|_| bad())?;
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            part,
            segment,
        })
    }
}

/// A segment waiting for repair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairEntry {
    /// Healthy shards when last checked (fewest are repaired first).
    pub healthy: u8,
    /// Unix ms when first queued.
    pub queued: u64,
}

/// `bucket 0x00`: the start of a bucket's key range.
pub(crate) fn bucket_base(bucket: &str) -> Vec<u8> {
    let mut base = Vec::with_capacity(bucket.len() + 1);
    base.extend_from_slice(bucket.as_bytes());
    base.push(0);
    base
}

/// The object table key of `key` in `bucket`.
pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = bucket_base(bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

/// What marks the object table "bucket" that holds the noncurrent
/// versions and delete markers of a bucket (see `meta::versions`): no
/// bucket name can contain it.
pub(crate) const VERSIONS_SUFFIX: &str = "?versions";

/// The object table "bucket" holding `bucket`'s noncurrent versions.
pub fn versions_namespace(bucket: &str) -> String {
    format!("{bucket}{VERSIONS_SUFFIX}")
}

/// The bucket an object table "bucket" belongs to: `bucket` itself, or
/// the bucket whose versions namespace it is.
pub fn owning_bucket(table_bucket: &str) -> &str {
    table_bucket
        .strip_suffix(VERSIONS_SUFFIX)
        .unwrap_or(table_bucket)
}

/// One row written by [`MetaBackend::write_objects`](super::MetaBackend::write_objects).
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectWrite {
    /// The object table bucket: a bucket or its versions namespace.
    pub bucket: String,
    /// The row's key.
    pub key: String,
    /// What the row becomes (`None`: removed; with condition
    /// [`RowCondition::Absent`], only checked to be absent).
    pub value: Option<ObjectMeta>,
    /// What the row must hold for the batch to be written.
    pub condition: RowCondition,
}

/// A multipart upload that a batch of writes completes: the batch also
/// forgets the upload (its record and its parts) in the same transaction,
/// and is written only if the upload is still there with `parts` recorded
/// exactly as they were read. Two completions of one upload (or a
/// completion and an abort) cannot both commit, and a part replaced while
/// the upload completes cannot leave the object naming its deleted shards.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The upload's id.
    pub upload_id: String,
    /// The parts the completed object is made of, as read from the upload.
    pub parts: Vec<PartLayout>,
}

/// Why a batch of writes was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchRefused {
    /// The condition of the write at this index did not hold.
    Row(usize),
    /// The upload the batch completes is gone, or one of its parts changed.
    Upload,
}

/// What a row must hold when a batch of writes commits.
#[derive(Clone, Debug, PartialEq)]
pub enum RowCondition {
    /// Nothing: the row is written whatever it holds.
    Any,
    /// There is no such row.
    Absent,
    /// The row holds exactly this record.
    Is(Box<ObjectMeta>),
}

impl RowCondition {
    /// Whether the condition holds over the row's current record.
    pub fn holds(&self, current: Option<&ObjectMeta>) -> bool {
        match (self, current) {
            (Self::Any, _) => true,
            (Self::Absent, current) => current.is_none(),
            (Self::Is(want), Some(current)) => **want == *current,
            (Self::Is(_), None) => false,
        }
    }

    /// The condition that the row still holds `current` (`None`: that it
    /// is still absent).
    pub fn unchanged(current: Option<&ObjectMeta>) -> Self {
        match current {
            Some(meta) => Self::Is(Box::new(meta.clone())),
            None => Self::Absent,
        }
    }
}

/// An in-progress multipart upload as [`super::MetaStore::upload`] returns
/// it: bucket, key, the object template given at creation, and the parts
/// uploaded so far, sorted by part number.
pub type UploadState = (String, String, ObjectMeta, Vec<PartLayout>);

/// A condition on the object a put would replace, checked inside the
/// transaction that puts it, so no other write slips in between. Data, not
/// a closure, so any backend can evaluate it (SQL ones inside their
/// serializable transaction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WriteCondition {
    /// No condition.
    #[default]
    Always,
    /// `If-None-Match: *`: only if the key holds no object.
    IfAbsent,
    /// `If-Match: *`: only over an existing object.
    IfExists,
    /// `If-Match: "<etag>"`: only over the object with this ETag (compared
    /// without quotes).
    IfMatch(String),
}

/// Why a conditional put was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionFailed {
    /// The object exists (`IfAbsent`) or has another ETag (`IfMatch`).
    PreconditionFailed,
    /// There is no object to match (`IfExists`, `IfMatch`).
    NoSuchKey,
    /// The upload being completed is gone (completed or aborted by another
    /// request) or one of its parts was replaced meanwhile.
    NoSuchUpload,
}

impl WriteCondition {
    /// Whether the condition holds over the current object's ETag
    /// (`None`: no object).
    pub fn check(&self, current: Option<&str>) -> Result<(), ConditionFailed> {
        match (self, current) {
            (Self::Always, _) => Ok(()),
            (Self::IfAbsent, None) => Ok(()),
            (Self::IfAbsent, Some(_)) => Err(ConditionFailed::PreconditionFailed),
            (Self::IfExists | Self::IfMatch(_), None) => Err(ConditionFailed::NoSuchKey),
            (Self::IfExists, Some(_)) => Ok(()),
            (Self::IfMatch(want), Some(etag)) => {
                if want.trim_matches('"') == etag.trim_matches('"') {
                    Ok(())
                } else {
                    Err(ConditionFailed::PreconditionFailed)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::object_acl::{Grantee, Permission};

    /// A record as version `v` wrote it: the current encoding of the same
    /// record with the later fields defaulted, less those fields.
    fn as_version<T: Record>(value: &T, v: u8) -> Vec<u8> {
        let mut bytes = encode(value);
        bytes.truncate(bytes.len() - manifest_suffix(v).len());
        bytes[0] = v;
        bytes
    }

    fn as_v1<T: Record>(value: &T) -> Vec<u8> {
        as_version(value, 1)
    }

    #[test]
    fn version_2_manifests_read_unversioned_untagged_and_unlocked() {
        let meta = ObjectMeta {
            size: 5,
            etag: "\"e\"".into(),
            acl: ObjectAcl {
                grants: vec![(Grantee::AllUsers, Permission::Read)],
            },
            sse_customer_key_md5: Some("md5".into()),
            ..Default::default()
        };
        let read: ObjectMeta = decode(&as_version(&meta, 2), "object").unwrap();
        assert_eq!(read, meta);
        let versioned = ObjectMeta {
            version_id: Some("v".into()),
            tags: vec![("a".into(), "b".into())],
            retention: Some(Retention {
                compliance: true,
                until: 9,
            }),
            legal_hold: true,
            ..meta
        };
        assert_eq!(
            decode::<ObjectMeta>(&encode(&versioned), "object").unwrap(),
            versioned
        );
    }

    #[test]
    fn version_1_manifests_and_uploads_read_as_private_objects() {
        let meta = ObjectMeta {
            size: 5,
            etag: "\"e\"".into(),
            user_metadata: vec![("a".into(), "b".into())],
            ..Default::default()
        };
        let read: ObjectMeta = decode(&as_v1(&meta), "object").unwrap();
        assert_eq!(read, meta);
        let upload = UploadRecord {
            bucket: "b".into(),
            key: "k".into(),
            initiated: 7,
            seq: 1,
            template: meta.clone(),
        };
        let read: UploadRecord = decode(&as_v1(&upload), "upload").unwrap();
        assert_eq!(read.template, meta);
        // Records of other types are the same in both versions.
        let mut bucket = encode(&BucketAcl::PublicRead);
        bucket[0] = 1;
        assert_eq!(
            decode::<BucketAcl>(&bucket, "acl").unwrap(),
            BucketAcl::PublicRead
        );
        // Version 2 keeps the ACL.
        let shared = ObjectMeta {
            acl: ObjectAcl {
                grants: vec![(Grantee::AllUsers, Permission::Read)],
            },
            ..meta
        };
        assert_eq!(
            decode::<ObjectMeta>(&encode(&shared), "object").unwrap(),
            shared
        );
        assert!(decode::<ObjectMeta>(&[5, 0], "object").is_err());
    }

    #[test]
    fn parts_written_before_salts_read_unchanged_and_salted_parts_round_trip() {
        #[derive(Serialize)]
        struct PartBeforeSalts {
            part_number: u32,
            size: u64,
            etag: String,
            segments: Vec<SegmentLayout>,
        }
        let segments = vec![SegmentLayout {
            plain_len: 10,
            shards: vec![ShardLocation {
                id: [3; 32],
                node: vec![1; 38],
            }],
        }];
        let old = PartBeforeSalts {
            part_number: 7,
            size: 10,
            etag: "\"e\"".into(),
            segments: segments.clone(),
        };
        let mut v1 = vec![1u8];
        v1.extend(postcard::to_allocvec(&old).unwrap());
        let read: PartLayout = decode(&v1, "part").unwrap();
        let unsalted = PartLayout {
            part_number: 7,
            size: 10,
            etag: "\"e\"".into(),
            segments,
            key_salt: None,
        };
        assert_eq!(read, unsalted);
        // An unsalted part is stored byte for byte as before salts.
        assert_eq!(
            postcard::to_allocvec(&unsalted).unwrap(),
            postcard::to_allocvec(&old).unwrap()
        );
        // A version 3 manifest made of such parts reads with its parts.
        let meta = ObjectMeta {
            size: 10,
            parts: vec![unsalted.clone()],
            ..Default::default()
        };
        let v3 = as_version(&meta, 3);
        assert_eq!(decode::<ObjectMeta>(&v3, "object").unwrap(), meta);
        // Salted parts round trip, alone and in a manifest next to an
        // unsalted one, at versions earlier gateways refuse.
        let salted = PartLayout {
            part_number: 10_000,
            key_salt: Some([9; 16]),
            ..unsalted.clone()
        };
        let both = ObjectMeta {
            parts: vec![unsalted, salted.clone()],
            ..meta
        };
        assert_eq!(
            decode::<ObjectMeta>(&encode(&both), "object").unwrap(),
            both
        );
        assert_eq!(
            decode::<PartLayout>(&encode(&salted), "part").unwrap(),
            salted
        );
        assert_eq!((encode(&both)[0], encode(&salted)[0]), (4, 2));
        // A salted part cut short after its number does not parse.
        assert!(decode::<PartLayout>(&encode(&salted)[..8], "part").is_err());
    }
}
