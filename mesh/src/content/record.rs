//! Content records in the DHT: where a reader with only a CID finds the
//! manifest.
//!
//! Every publisher of a CID (a gateway that published or holds the
//! content) announces itself as a provider of the CID's [`locator`] and
//! stores its own signed record under [`record_key`]`(locator, itself)`.
//! A record is accepted by nodes only under its signer's key, so nobody
//! can overwrite another publisher's record; a reader fetches the
//! providers' records and uses the newest that opens and checks against
//! the CID. The locator is a hash of the CID, so nodes storing records
//! learn neither the CID nor (the manifest being sealed) the content.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};

use super::ContentId;
use super::manifest::MAX_SEALED_MANIFEST;

/// Every content locator and record key starts with this.
pub const CONTENT_PREFIX: &[u8] = b"/cairn/content/v1/";

/// How long a content record stays valid; publishers republish well
/// before.
pub const CONTENT_RECORD_TTL: Duration = Duration::from_secs(3 * 3600);

/// How far in the future a record's issue time may lie (clock skew).
const MAX_SKEW_SECS: u64 = 300;

/// Why a content record was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContentRecordError {
    /// The bytes do not decode.
    #[error("malformed content record: {0}")]
    Malformed(&'static str),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// It is stored under another key than its signer's.
    #[error("the record is not stored under its signer's key")]
    WrongKey,
    /// It expired, or claims to be issued in the future.
    #[error("the record is not current")]
    NotCurrent,
}

/// The DHT key publishers of `cid` provide (a hash of the CID: a node
/// storing it cannot tell which content it is for).
pub fn locator(cid: &ContentId) -> Vec<u8> {
    let mut key = CONTENT_PREFIX.to_vec();
    key.extend_from_slice(&blake3::derive_key(
        "cairn 2026-12-04 published content locator",
        cid.hash(),
    ));
    key
}

/// The DHT key of `publisher`'s record for `locator`.
pub fn record_key(locator: &[u8], publisher: &PeerId) -> Vec<u8> {
    let mut key = locator.to_vec();
    key.extend_from_slice(&publisher.to_bytes());
    key
}

/// Length of a locator.
const LOCATOR_LEN: usize = CONTENT_PREFIX.len() + 32;

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// A publisher's signed record: its sealed manifest for one locator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedContentRecord {
    /// The publisher's public key, protobuf-encoded (libp2p's format).
    pub public_key: Vec<u8>,
    /// When it was made (unix seconds).
    pub issued_at: u64,
    /// The manifest, sealed under the CID's key
    /// ([`super::ContentManifest::seal`]).
    pub sealed: Vec<u8>,
    /// Signature over the record key, the issue time and `sealed`.
    pub signature: Vec<u8>,
}

fn signed_bytes(key: &[u8], issued_at: u64, sealed: &[u8]) -> Vec<u8> {
    let mut out = b"cairn content record v1\0".to_vec();
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&issued_at.to_le_bytes());
    out.extend_from_slice(sealed);
    out
}

impl SignedContentRecord {
    /// `keypair`'s record for `locator` carrying `sealed`, issued now: its
    /// DHT key and value.
    pub fn sign(locator: &[u8], sealed: Vec<u8>, keypair: &Keypair) -> (Vec<u8>, Vec<u8>) {
        let key = record_key(locator, &keypair.public().to_peer_id());
        let issued_at = now_unix();
        let signature = keypair
            .sign(&signed_bytes(&key, issued_at, &sealed))
            .expect("ed25519 signing does not fail");
        let record = Self {
            public_key: keypair.public().encode_protobuf(),
            issued_at,
            sealed,
            signature,
        };
        (key, postcard::to_allocvec(&record).expect("serializable"))
    }

    /// Parses and checks a record stored under DHT key `key`: a content
    /// record key whose publisher signed it, current, not oversized. Its
    /// publisher and the record. (Whether it opens and matches the CID only
    /// a holder of the CID can tell: [`super::ContentManifest::open`].)
    pub fn verify(key: &[u8], value: &[u8]) -> Result<(PeerId, Self), ContentRecordError> {
        if key.len() <= LOCATOR_LEN || !key.starts_with(CONTENT_PREFIX) {
            return Err(ContentRecordError::WrongKey);
        }
        if value.len() > MAX_SEALED_MANIFEST + 512 {
            return Err(ContentRecordError::Malformed("size"));
        }
        let record: Self =
            postcard::from_bytes(value).map_err(|_| ContentRecordError::Malformed("envelope"))?;
        let public = PublicKey::try_decode_protobuf(&record.public_key)
            .map_err(|_| ContentRecordError::Malformed("public key"))?;
        let publisher = public.to_peer_id();
        if key[LOCATOR_LEN..] != publisher.to_bytes() {
            return Err(ContentRecordError::WrongKey);
        }
        if !public.verify(
            &signed_bytes(key, record.issued_at, &record.sealed),
            &record.signature,
        ) {
            return Err(ContentRecordError::BadSignature);
        }
        let now = now_unix();
        let expires = record
            .issued_at
            .saturating_add(CONTENT_RECORD_TTL.as_secs());
        if record.issued_at > now + MAX_SKEW_SECS || expires < now {
            return Err(ContentRecordError::NotCurrent);
        }
        Ok((publisher, record))
    }

    /// Seconds left until the record expires.
    pub fn secs_left(&self) -> u64 {
        let expires = self.issued_at.saturating_add(CONTENT_RECORD_TTL.as_secs());
        expires.saturating_sub(now_unix())
    }

    /// The locator part of a content record key.
    pub fn locator_of(key: &[u8]) -> Option<&[u8]> {
        (key.len() > LOCATOR_LEN && key.starts_with(CONTENT_PREFIX)).then(|| &key[..LOCATOR_LEN])
    }

    /// Whether `key` is a content locator (what providers announce).
    pub fn is_locator(key: &[u8]) -> bool {
        key.len() == LOCATOR_LEN && key.starts_with(CONTENT_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_verifies_only_under_its_signers_key() {
        let keypair = Keypair::generate_ed25519();
        let cid = ContentId::from_hash([3; 32]);
        let locator = locator(&cid);
        assert!(SignedContentRecord::is_locator(&locator));
        let (key, value) = SignedContentRecord::sign(&locator, vec![1, 2, 3], &keypair);
        let (publisher, record) = SignedContentRecord::verify(&key, &value).unwrap();
        assert_eq!(publisher, keypair.public().to_peer_id());
        assert_eq!(record.sealed, vec![1, 2, 3]);
        assert_eq!(SignedContentRecord::locator_of(&key), Some(&locator[..]));
        // Under another publisher's key, or with the sealed bytes changed.
        let other = record_key(&locator, &Keypair::generate_ed25519().public().to_peer_id());
        assert_eq!(
            SignedContentRecord::verify(&other, &value),
            Err(ContentRecordError::WrongKey)
        );
        let mut changed: SignedContentRecord = postcard::from_bytes(&value).unwrap();
        changed.sealed[0] = 9;
        let changed = postcard::to_allocvec(&changed).unwrap();
        assert_eq!(
            SignedContentRecord::verify(&key, &changed),
            Err(ContentRecordError::BadSignature)
        );
        assert!(SignedContentRecord::verify(&key, b"junk").is_err());
        assert!(SignedContentRecord::verify(b"/cairn/node/x", &value).is_err());
    }
}
