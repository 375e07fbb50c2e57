//! What a reader needs to fetch and check published content without the
//! gateway that wrote it: sizes, the erasure code, each segment's chaining
//! value and where its shards are. It travels in the DHT sealed under a
//! key derived from the CID, so the nodes storing the record (which do not
//! know the CID) cannot read it, and whoever can open it checks it against
//! the CID before using it.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

use super::{ContentId, ManifestError, check_hashes, segment_count};

/// A shard stored on no node (written short; repair will place it).
pub const NO_NODE: u16 = u16::MAX;

/// Largest sealed manifest carried in a DHT record, in bytes (the DHT
/// stores values of at most 16 KiB): content of up to about 60 segments.
pub const MAX_SEALED_MANIFEST: usize = 15 << 10;

/// Most shards per segment a manifest may name.
const MAX_SHARDS: usize = 64;
/// Most nodes a manifest may name.
const MAX_NODES: usize = 1024;
/// Longest node id, content type or disposition, in bytes.
pub const MAX_FIELD: usize = 256;

/// Published content's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentManifest {
    /// Content size in bytes.
    pub size: u64,
    /// Plaintext bytes per segment (a power of two).
    pub segment_size: u64,
    /// Data shards per segment.
    pub k: u8,
    /// Parity shards per segment.
    pub m: u8,
    /// The publisher's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The publisher's `Content-Disposition` (a file name), if any.
    pub disposition: Option<String>,
    /// The peer ids of the nodes holding shards, indexed by the segments.
    pub nodes: Vec<Vec<u8>>,
    /// The segments, in order.
    pub segments: Vec<ManifestSegment>,
}

/// One segment of a [`ContentManifest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSegment {
    /// Its blake3 chaining value (see [`super::segment_hash`]).
    pub hash: [u8; 32],
    /// Each shard's id and the index of its node in
    /// [`ContentManifest::nodes`] ([`NO_NODE`]: none).
    pub shards: Vec<([u8; 32], u16)>,
}

/// Largest manifest stored as content of its own (what a
/// [`ManifestPointer`] points to): about 70,000 segments, some 560 GB of
/// content in 8 MiB segments.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

fn manifest_key(cid: &ContentId) -> LessSafeKey {
    sealing_key("cairn 2026-12-04 published content manifest key", cid)
}

fn pointer_key(cid: &ContentId) -> LessSafeKey {
    sealing_key(
        "cairn 2026-12-04 published content manifest pointer key",
        cid,
    )
}

fn withdrawal_key(cid: &ContentId) -> LessSafeKey {
    sealing_key("cairn 2026-12-04 published content withdrawal key", cid)
}

/// A record body saying that its publisher no longer keeps `cid`: it
/// replaces the publisher's earlier record, so readers stop following a
/// manifest whose shards are going away.
pub fn withdrawal(cid: &ContentId) -> Vec<u8> {
    seal_with(&withdrawal_key(cid), cid, Vec::new())
}

fn sealing_key(context: &str, cid: &ContentId) -> LessSafeKey {
    let key = blake3::derive_key(context, cid.hash());
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte key"))
}

/// `body` sealed under `key`, bound to `cid`: a random nonce, then the
/// sealed bytes.
fn seal_with(key: &LessSafeKey, cid: &ContentId, mut body: Vec<u8>) -> Vec<u8> {
    let nonce: [u8; 12] = rand::random();
    let mut out = nonce.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(cid.hash()),
        &mut body,
    )
    .expect("sealing cannot fail for these sizes");
    out.extend_from_slice(&body);
    out
}

/// Opens what [`seal_with`] sealed.
fn open_with(key: &LessSafeKey, cid: &ContentId, sealed: &[u8]) -> Result<Vec<u8>, ManifestError> {
    if sealed.len() > MAX_SEALED_MANIFEST || sealed.len() < 12 {
        return Err(ManifestError::Malformed("sealed size"));
    }
    let (nonce, body) = sealed.split_at(12);
    let mut body = body.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| ManifestError::Sealed)?;
    let plain = key
        .open_in_place(nonce, Aad::from(cid.hash()), &mut body)
        .map_err(|_| ManifestError::Sealed)?;
    Ok(plain.to_vec())
}

/// Where the manifest of content too large for its manifest to fit a DHT
/// record is: the manifest's bytes ([`ContentManifest::to_bytes`]) are
/// published content of their own, and this names them and says where
/// they are. It travels sealed under another key derived from the outer
/// CID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPointer {
    /// The content id hash of the manifest's bytes.
    pub manifest: [u8; 32],
    /// The manifest of those bytes (small: a few segments).
    pub layout: ContentManifest,
}

impl ManifestPointer {
    /// The content id of the manifest's bytes.
    pub fn manifest_cid(&self) -> ContentId {
        ContentId::from_hash(self.manifest)
    }

    /// Sealed under the pointer key of `cid` (the content pointed for).
    pub fn seal(&self, cid: &ContentId) -> Vec<u8> {
        let body = postcard::to_allocvec(self).expect("serializable");
        seal_with(&pointer_key(cid), cid, body)
    }
}

/// A content record's sealed body, opened and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The manifest itself, checked against the CID.
    Manifest(ContentManifest),
    /// Where the manifest is; the layout is checked against the
    /// manifest's own CID, and the manifest, once fetched, must be checked
    /// against the content's ([`ContentManifest::from_bytes`]).
    Pointer(ManifestPointer),
    /// The publisher no longer keeps the content ([`withdrawal`]).
    Withdrawn,
}

/// Opens a record's sealed body for `cid`: a manifest, or a pointer to
/// one.
pub fn open_record(sealed: &[u8], cid: &ContentId) -> Result<Opened, ManifestError> {
    match ContentManifest::open(sealed, cid) {
        Err(ManifestError::Sealed) => {}
        other => return other.map(Opened::Manifest),
    }
    let plain = match open_with(&pointer_key(cid), cid, sealed) {
        Err(ManifestError::Sealed) => {
            let plain = open_with(&withdrawal_key(cid), cid, sealed)?;
            return if plain.is_empty() {
                Ok(Opened::Withdrawn)
            } else {
                Err(ManifestError::Malformed("withdrawal"))
            };
        }
        other => other?,
    };
    let pointer: ManifestPointer =
        postcard::from_bytes(&plain).map_err(|_| ManifestError::Malformed("encoding"))?;
    if pointer.layout.size > MAX_MANIFEST_BYTES {
        return Err(ManifestError::Malformed("manifest size"));
    }
    pointer.layout.check(&pointer.manifest_cid())?;
    Ok(Opened::Pointer(pointer))
}

impl ContentManifest {
    /// The segments' chaining values, in order.
    pub fn hashes(&self) -> Vec<[u8; 32]> {
        self.segments.iter().map(|s| s.hash).collect()
    }

    /// Plaintext length of segment `index`.
    pub fn segment_len(&self, index: u64) -> u64 {
        (self.size - index * self.segment_size).min(self.segment_size)
    }

    /// Sealed under the key of `cid`: a random nonce, then the sealed
    /// postcard bytes.
    pub fn seal(&self, cid: &ContentId) -> Vec<u8> {
        seal_with(&manifest_key(cid), cid, self.to_bytes())
    }

    /// Opens a manifest sealed with [`ContentManifest::seal`] and checks it
    /// against `cid` ([`ContentManifest::check`]).
    pub fn open(sealed: &[u8], cid: &ContentId) -> Result<Self, ManifestError> {
        let plain = open_with(&manifest_key(cid), cid, sealed)?;
        Self::from_bytes(&plain, cid)
    }

    /// The manifest's bytes (postcard): what a [`ManifestPointer`] names.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("serializable")
    }

    /// A manifest from its bytes, checked against `cid`.
    pub fn from_bytes(bytes: &[u8], cid: &ContentId) -> Result<Self, ManifestError> {
        let manifest: Self =
            postcard::from_bytes(bytes).map_err(|_| ManifestError::Malformed("encoding"))?;
        manifest.check(cid)?;
        Ok(manifest)
    }

    /// Checks that the manifest is well formed and that its segment hashes
    /// make `cid`: what every reader does before fetching a byte.
    pub fn check(&self, cid: &ContentId) -> Result<(), ManifestError> {
        let malformed = |what| Err(ManifestError::Malformed(what));
        let total = self.k as usize + self.m as usize;
        if self.k == 0 || total > MAX_SHARDS {
            return malformed("erasure code");
        }
        if self.nodes.len() > MAX_NODES || self.nodes.iter().any(|n| n.len() > MAX_FIELD) {
            return malformed("nodes");
        }
        let long = |f: &Option<String>| f.as_ref().is_some_and(|f| f.len() > MAX_FIELD);
        if long(&self.content_type) || long(&self.disposition) {
            return malformed("content type or disposition");
        }
        check_hashes(cid, self.size, self.segment_size, &self.hashes())?;
        debug_assert_eq!(
            segment_count(self.size, self.segment_size),
            self.segments.len() as u64
        );
        let nodes = self.nodes.len();
        for segment in &self.segments {
            if segment.shards.len() != total {
                return malformed("shards per segment");
            }
            if segment
                .shards
                .iter()
                .any(|&(_, n)| n != NO_NODE && n as usize >= nodes)
            {
                return malformed("node index");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::segment_hash;

    fn manifest(data: &[u8]) -> (ContentId, ContentManifest) {
        let cid = ContentId::from_hash(*blake3::hash(data).as_bytes());
        let segments = data
            .chunks(4096)
            .enumerate()
            .map(|(i, s)| ManifestSegment {
                hash: segment_hash(i as u64, 4096, s),
                shards: vec![([i as u8; 32], 0), ([9; 32], NO_NODE), ([8; 32], 1)],
            })
            .collect();
        let manifest = ContentManifest {
            size: data.len() as u64,
            segment_size: 4096,
            k: 2,
            m: 1,
            content_type: Some("text/plain".into()),
            disposition: None,
            nodes: vec![vec![1; 38], vec![2; 38]],
            segments,
        };
        (cid, manifest)
    }

    #[test]
    fn a_manifest_opens_only_with_its_cid() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let (cid, manifest) = manifest(&data);
        let sealed = manifest.seal(&cid);
        assert_eq!(ContentManifest::open(&sealed, &cid).unwrap(), manifest);
        let other = ContentId::from_hash([7; 32]);
        assert_eq!(
            ContentManifest::open(&sealed, &other),
            Err(ManifestError::Sealed)
        );
        let mut altered = sealed.clone();
        altered[20] ^= 1;
        assert_eq!(
            ContentManifest::open(&altered, &cid),
            Err(ManifestError::Sealed)
        );
    }

    #[test]
    fn a_pointer_opens_for_its_content_and_its_layout_checks_against_the_manifest() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let (cid, manifest) = manifest(&data);
        let bytes = manifest.to_bytes();
        let (inner_cid, layout) = self::manifest(&bytes);
        let pointer = ManifestPointer {
            manifest: *inner_cid.hash(),
            layout,
        };
        let sealed = pointer.seal(&cid);
        assert_eq!(
            open_record(&sealed, &cid),
            Ok(Opened::Pointer(pointer.clone()))
        );
        assert_eq!(
            open_record(&manifest.seal(&cid), &cid),
            Ok(Opened::Manifest(manifest.clone()))
        );
        assert_eq!(
            ContentManifest::from_bytes(&bytes, &cid),
            Ok(manifest.clone())
        );
        assert_eq!(
            open_record(&sealed, &ContentId::from_hash([3; 32])),
            Err(ManifestError::Sealed)
        );
        assert_eq!(open_record(&withdrawal(&cid), &cid), Ok(Opened::Withdrawn));
        assert_eq!(
            open_record(&withdrawal(&cid), &ContentId::from_hash([3; 32])),
            Err(ManifestError::Sealed)
        );
        // What the pointer names is checked when it is fetched: each
        // segment against the manifest's CID (a one-segment layout has no
        // tree to check before), then the manifest against the content's.
        let mut other = manifest;
        other.segments[1].hash[0] ^= 1;
        assert_eq!(
            ContentManifest::from_bytes(&other.to_bytes(), &cid),
            Err(ManifestError::Root)
        );
    }

    #[test]
    fn a_forged_or_malformed_manifest_is_refused() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 3) as u8).collect();
        let (cid, manifest) = manifest(&data);
        // Sealed correctly under the CID, but naming other segments.
        let mut forged = manifest.clone();
        forged.segments[1].hash[0] ^= 1;
        assert_eq!(
            ContentManifest::open(&forged.seal(&cid), &cid),
            Err(ManifestError::Root)
        );
        let mut bad_node = manifest.clone();
        bad_node.segments[0].shards[0].1 = 2;
        assert!(matches!(
            bad_node.check(&cid),
            Err(ManifestError::Malformed(_))
        ));
        let mut bad_count = manifest;
        bad_count.segments[0].shards.pop();
        assert!(matches!(
            bad_count.check(&cid),
            Err(ManifestError::Malformed(_))
        ));
    }
}
