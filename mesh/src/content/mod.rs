//! Published content: named by a CIDv1 over the blake3 hash of its bytes,
//! cut into power-of-two segments whose blake3 chaining values are kept in
//! its manifest, and sealed under keys derived from those values.
//!
//! A segment of `segment_size` bytes (a power of two of at least one
//! blake3 chunk) at offset `i × segment_size` is a whole subtree of the
//! blake3 tree over the content, so its chaining value ([`segment_hash`])
//! can be computed from its bytes alone, and the chaining values of all
//! segments merge into the content's root hash ([`root_of`]): a reader
//! checks a manifest's segment hashes against the CID once, then each
//! segment's bytes against its hash, and never hands out a byte that does
//! not belong to the CID.
//!
//! Each segment is sealed under [`segment_key`] of its chaining value:
//! the same bytes always make the same shards (two publishers of one file
//! share them), whoever holds the CID and the manifest can read it, and a
//! node holding shards, which knows neither, cannot.

pub mod fetch;
mod manifest;
mod record;

pub use manifest::{
    ContentManifest, MAX_FIELD as MAX_MANIFEST_FIELD, MAX_MANIFEST_BYTES, MAX_SEALED_MANIFEST,
    ManifestPointer, ManifestSegment, NO_NODE, Opened, open_record, withdrawal,
};
pub use record::{
    CONTENT_PREFIX, CONTENT_RECORD_TTL, ContentRecordError, SignedContentRecord, locator,
    record_key,
};

use blake3::hazmat::{ChainingValue, HasherExt, Mode, left_subtree_len};

use crate::codec::ObjectKey;

/// The multicodec of raw bytes.
pub const RAW_CODEC: u64 = 0x55;
/// The multihash code of blake3 (256-bit output here).
pub const BLAKE3_CODE: u64 = 0x1e;

/// Why a string is not a CID Cairn serves.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidError {
    /// Not a CID at all.
    #[error("not a CID: {0}")]
    Malformed(String),
    /// A CIDv0 (a bare sha2-256 multihash); Cairn names content by CIDv1.
    #[error("a CIDv0; published content is named by a CIDv1 (raw, blake3)")]
    Version0,
    /// A CID of another codec than raw bytes.
    #[error("codec 0x{0:x} is not raw (0x55)")]
    Codec(u64),
    /// A CID over another hash than blake3-256.
    #[error("hash 0x{0:x} of {1} bytes is not blake3-256 (0x1e, 32 bytes)")]
    Hash(u64, u8),
}

/// A content id: CIDv1, raw codec, blake3-256. Displayed in base32
/// (`bafkr4i...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentId([u8; 32]);

impl ContentId {
    /// The CID of content whose blake3 hash is `hash`.
    pub fn from_hash(hash: [u8; 32]) -> Self {
        Self(hash)
    }

    /// Parses a CID, accepting only CIDv1 raw blake3-256 (in any multibase).
    pub fn parse(text: &str) -> Result<Self, CidError> {
        let cid = cid::Cid::try_from(text).map_err(|e| CidError::Malformed(e.to_string()))?;
        if cid.version() == cid::Version::V0 {
            return Err(CidError::Version0);
        }
        if cid.codec() != RAW_CODEC {
            return Err(CidError::Codec(cid.codec()));
        }
        let hash = cid.hash();
        let digest: [u8; 32] = match (hash.code(), hash.digest().try_into()) {
            (BLAKE3_CODE, Ok(digest)) => digest,
            _ => return Err(CidError::Hash(hash.code(), hash.size())),
        };
        Ok(Self(digest))
    }

    /// The content's blake3 hash.
    pub fn hash(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Display for ContentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hash = cid::multihash::Multihash::<64>::wrap(BLAKE3_CODE, &self.0)
            .expect("32 bytes fit a 64-byte multihash");
        f.write_str(&cid::Cid::new_v1(RAW_CODEC, hash).to_string())
    }
}

impl std::str::FromStr for ContentId {
    type Err = CidError;

    fn from_str(text: &str) -> Result<Self, CidError> {
        Self::parse(text)
    }
}

/// Why a manifest's segment hashes cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// The segment size is not a power of two of at least 1 KiB.
    #[error("segment size {0} is not a power of two of at least 1024")]
    SegmentSize(u64),
    /// There are not as many hashes as the size has segments.
    #[error("{got} segment hashes for content of {size} bytes ({want} segments)")]
    Count {
        /// Hashes given.
        got: usize,
        /// Segments the size makes.
        want: u64,
        /// Content size.
        size: u64,
    },
    /// The hashes do not make the CID.
    #[error("the segment hashes do not make the content id")]
    Root,
    /// A sealed manifest does not open under the CID's key (another
    /// content's, or altered).
    #[error("the manifest does not open with this content id")]
    Sealed,
    /// An opened manifest is not a well-formed one.
    #[error("malformed manifest: {0}")]
    Malformed(&'static str),
}

/// How many segments `size` bytes make (none for empty content).
pub fn segment_count(size: u64, segment_size: u64) -> u64 {
    size.div_ceil(segment_size)
}

/// The chaining value of segment `index` (its bytes `plain`) of content
/// cut into `segment_size`-byte segments: a non-root blake3 subtree value.
/// `segment_size` must be a valid one ([`check_segment_size`]).
pub fn segment_hash(index: u64, segment_size: u64, plain: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(index * segment_size);
    hasher.update(plain);
    hasher.finalize_non_root()
}

/// The key segment `index` is sealed under: derived from its chaining
/// value, so only a holder of the manifest (itself sealed under a key from
/// the CID) can read it.
pub fn segment_key(hash: &[u8; 32]) -> ObjectKey {
    ObjectKey::from_bytes(blake3::derive_key(
        "cairn 2026-12-04 published content segment key",
        hash,
    ))
}

/// Refuses a segment size that does not make whole blake3 subtrees.
pub fn check_segment_size(segment_size: u64) -> Result<(), ManifestError> {
    if segment_size.is_power_of_two() && segment_size >= blake3::CHUNK_LEN as u64 {
        Ok(())
    } else {
        Err(ManifestError::SegmentSize(segment_size))
    }
}

/// The content id of `size` bytes cut into `segment_size`-byte segments
/// whose chaining values are `hashes`. Content of one segment or none has
/// no tree above its segments: its id is the hash of its bytes
/// ([`check_whole`]), so `None` is returned for it.
pub fn root_of(
    size: u64,
    segment_size: u64,
    hashes: &[[u8; 32]],
) -> Result<Option<ContentId>, ManifestError> {
    root_checked(None, size, segment_size, hashes)
}

/// [`root_of`]; with `cid`, empty content is refused unless `cid` is the
/// empty content's.
fn root_checked(
    cid: Option<&ContentId>,
    size: u64,
    segment_size: u64,
    hashes: &[[u8; 32]],
) -> Result<Option<ContentId>, ManifestError> {
    check_segment_size(segment_size)?;
    let want = segment_count(size, segment_size);
    if hashes.len() as u64 != want {
        return Err(ManifestError::Count {
            got: hashes.len(),
            want,
            size,
        });
    }
    if want == 0 && cid.is_some_and(|cid| cid.hash() != blake3::hash(b"").as_bytes()) {
        // Only the empty content has no segments.
        return Err(ManifestError::Root);
    }
    if want <= 1 {
        return Ok(None);
    }
    let (left, right) = split(size);
    let left = subtree(0, left, segment_size, hashes);
    let right = subtree(left_subtree_len(size), right, segment_size, hashes);
    let root = blake3::hazmat::merge_subtrees_root(&left, &right, Mode::Hash);
    Ok(Some(ContentId(*root.as_bytes())))
}

/// Checks `hashes` against `cid` (see [`root_of`]); for content of one
/// segment, whose id the hashes cannot make, only their count.
pub fn check_hashes(
    cid: &ContentId,
    size: u64,
    segment_size: u64,
    hashes: &[[u8; 32]],
) -> Result<(), ManifestError> {
    match root_checked(Some(cid), size, segment_size, hashes)? {
        Some(root) if root != *cid => Err(ManifestError::Root),
        _ => Ok(()),
    }
}

/// Whether segment `index` of content `cid` (of `size` bytes, with
/// `hashes` already checked by [`check_hashes`]) is `plain`.
pub fn check_segment(
    cid: &ContentId,
    size: u64,
    segment_size: u64,
    hashes: &[[u8; 32]],
    index: u64,
    plain: &[u8],
) -> bool {
    if size <= segment_size {
        // One segment (or none): the content's own hash.
        return check_whole(cid, plain);
    }
    hashes.get(index as usize) == Some(&segment_hash(index, segment_size, plain))
}

/// Whether `plain` is the whole content of `cid`.
pub fn check_whole(cid: &ContentId, plain: &[u8]) -> bool {
    blake3::hash(plain).as_bytes() == cid.hash()
}

fn split(len: u64) -> (u64, u64) {
    let left = left_subtree_len(len);
    (left, len - left)
}

/// The chaining value of the subtree over `len` bytes from `start`, made
/// of whole segments (`start` is a multiple of `segment_size`).
fn subtree(start: u64, len: u64, segment_size: u64, hashes: &[[u8; 32]]) -> ChainingValue {
    if len <= segment_size {
        return hashes[(start / segment_size) as usize];
    }
    let (left, right) = split(len);
    let l = subtree(start, left, segment_size, hashes);
    let r = subtree(start + left, right, segment_size, hashes);
    blake3::hazmat::merge_subtrees_non_root(&l, &r, Mode::Hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn hashes(data: &[u8], segment: usize) -> Vec<[u8; 32]> {
        data.chunks(segment)
            .enumerate()
            .map(|(i, s)| segment_hash(i as u64, segment as u64, s))
            .collect()
    }

    #[test]
    fn segment_hashes_make_the_blake3_hash_of_the_whole() {
        let segment = 4096;
        for len in [0, 1, 4096, 4097, 8192, 12_288, 12_289, 40_000, 65_536] {
            let data = bytes(len);
            let cid = ContentId::from_hash(*blake3::hash(&data).as_bytes());
            let hs = hashes(&data, segment);
            check_hashes(&cid, len as u64, segment as u64, &hs).unwrap();
            for (i, s) in data.chunks(segment).enumerate() {
                assert!(check_segment(
                    &cid,
                    len as u64,
                    segment as u64,
                    &hs,
                    i as u64,
                    s
                ));
            }
            if len > segment {
                assert_eq!(root_of(len as u64, 4096, &hs).unwrap(), Some(cid));
                // A changed segment hash does not make the id; a changed
                // byte does not match its segment.
                let mut forged = hs.clone();
                forged[1][0] ^= 1;
                assert_eq!(
                    check_hashes(&cid, len as u64, 4096, &forged),
                    Err(ManifestError::Root)
                );
                let mut changed = data[segment..].to_vec();
                changed[0] ^= 1;
                let second = &changed[..changed.len().min(segment)];
                assert!(!check_segment(&cid, len as u64, 4096, &hs, 1, second));
            } else if len > 0 {
                assert!(!check_segment(&cid, len as u64, 4096, &hs, 0, &data[1..]));
            }
        }
    }

    #[test]
    fn bad_manifests_are_refused() {
        let cid = ContentId::from_hash([0; 32]);
        // Claiming to be empty proves nothing, except for the empty content.
        assert_eq!(check_hashes(&cid, 0, 4096, &[]), Err(ManifestError::Root));
        let empty = ContentId::from_hash(*blake3::hash(b"").as_bytes());
        assert_eq!(check_hashes(&empty, 0, 4096, &[]), Ok(()));
        assert_eq!(
            check_hashes(&cid, 10, 1000, &[[0; 32]]),
            Err(ManifestError::SegmentSize(1000))
        );
        assert_eq!(
            check_hashes(&cid, 5000, 4096, &[[0; 32]]),
            Err(ManifestError::Count {
                got: 1,
                want: 2,
                size: 5000
            })
        );
    }

    #[test]
    fn cids_print_as_base32_cidv1_and_parse_back() {
        let cid = ContentId::from_hash(*blake3::hash(b"hello").as_bytes());
        let text = cid.to_string();
        assert!(text.starts_with("bafkr4i"), "{text}");
        assert_eq!(ContentId::parse(&text).unwrap(), cid);
        // The same id in base58btc is accepted too.
        let base58 = cid::Cid::try_from(text.as_str())
            .unwrap()
            .to_string_of_base(cid::multibase::Base::Base58Btc)
            .unwrap();
        assert_eq!(ContentId::parse(&base58).unwrap(), cid);
    }

    #[test]
    fn other_cids_are_refused_with_the_reason() {
        assert!(matches!(
            ContentId::parse("not a cid"),
            Err(CidError::Malformed(_))
        ));
        assert!(matches!(ContentId::parse(""), Err(CidError::Malformed(_))));
        // CIDv0 (sha2-256, dag-pb).
        assert_eq!(
            ContentId::parse("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"),
            Err(CidError::Version0)
        );
        // CIDv1 dag-pb over sha2-256.
        assert_eq!(
            ContentId::parse("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"),
            Err(CidError::Codec(0x70))
        );
        // CIDv1 raw over sha2-256.
        assert_eq!(
            ContentId::parse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
            Err(CidError::Hash(0x12, 32))
        );
    }

    #[test]
    fn segment_keys_differ_by_segment_and_repeat_for_the_same_bytes() {
        let a = segment_key(&segment_hash(0, 4096, b"a"));
        let b = segment_key(&segment_hash(1, 4096, b"a"));
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(
            a.as_bytes(),
            segment_key(&segment_hash(0, 4096, b"a")).as_bytes()
        );
    }
}
