//! Signed node records: what a node says about itself in the DHT.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libp2p::identity::{Keypair, PublicKey};
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// What a storage node advertises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node's peer id (bytes).
    pub peer_id: Vec<u8>,
    /// Addresses it listens on.
    pub addrs: Vec<String>,
    /// Region the operator declared.
    pub region: String,
    /// Capacity offered, bytes.
    pub capacity: u64,
    /// Free capacity, bytes.
    pub free: u64,
    /// Shards held.
    pub shards: u64,
    /// Software version.
    pub version: String,
    /// When the record was made (unix seconds).
    pub issued_at: u64,
    /// How long it stays valid, seconds.
    pub ttl_secs: u64,
}

impl NodeRecord {
    /// The peer id, if well-formed.
    pub fn peer(&self) -> Result<PeerId, RecordError> {
        PeerId::from_bytes(&self.peer_id).map_err(|_| RecordError::Malformed("peer id"))
    }

    /// The listen addresses that parse.
    pub fn multiaddrs(&self) -> Vec<Multiaddr> {
        self.addrs.iter().filter_map(|a| a.parse().ok()).collect()
    }

    /// Whether the record has expired at `now` (unix seconds).
    pub fn expired_at(&self, now: u64) -> bool {
        self.issued_at.saturating_add(self.ttl_secs) < now
    }
}

/// A node record with the node's public key and signature over it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedNodeRecord {
    /// postcard-encoded [`NodeRecord`].
    pub record: Vec<u8>,
    /// The node's public key, protobuf-encoded (libp2p's format).
    pub public_key: Vec<u8>,
    /// Signature over `record` by that key.
    pub signature: Vec<u8>,
}

/// Why a record was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The bytes don't decode.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The key is not the named peer's.
    #[error("the record's key does not belong to its peer id")]
    WrongKey,
    /// The record is stale.
    #[error("the record expired")]
    Expired,
    /// The record was fetched under another peer's key.
    #[error("the record is for another peer")]
    OtherPeer,
}

/// The DHT key of `peer`'s node record.
pub fn record_key(peer: &PeerId) -> Vec<u8> {
    let mut key = b"/cairn/node/".to_vec();
    key.extend_from_slice(&peer.to_bytes());
    key
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl SignedNodeRecord {
    /// Signs `record` with `keypair`.
    pub fn sign(record: &NodeRecord, keypair: &Keypair) -> Self {
        let bytes = postcard::to_allocvec(record).expect("records serialize");
        let signature = keypair.sign(&bytes).expect("ed25519 signing does not fail");
        Self {
            record: bytes,
            public_key: keypair.public().encode_protobuf(),
            signature,
        }
    }

    /// Wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("records serialize")
    }

    /// Parses and checks a record fetched for `expected` peer: the key must
    /// be that peer's, the signature valid, and the record fresh.
    pub fn verify(bytes: &[u8], expected: Option<&PeerId>) -> Result<NodeRecord, RecordError> {
        let signed: SignedNodeRecord =
            postcard::from_bytes(bytes).map_err(|_| RecordError::Malformed("envelope"))?;
        let key = PublicKey::try_decode_protobuf(&signed.public_key)
            .map_err(|_| RecordError::Malformed("public key"))?;
        if !key.verify(&signed.record, &signed.signature) {
            return Err(RecordError::BadSignature);
        }
        let record: NodeRecord =
            postcard::from_bytes(&signed.record).map_err(|_| RecordError::Malformed("record"))?;
        let peer = record.peer()?;
        if key.to_peer_id() != peer {
            return Err(RecordError::WrongKey);
        }
        if expected.is_some_and(|e| *e != peer) {
            return Err(RecordError::OtherPeer);
        }
        if record.expired_at(now_unix()) {
            return Err(RecordError::Expired);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(keypair: &Keypair, issued_at: u64) -> NodeRecord {
        NodeRecord {
            peer_id: keypair.public().to_peer_id().to_bytes(),
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            region: "eu-west".into(),
            capacity: 1 << 30,
            free: 1 << 29,
            shards: 3,
            version: "0.1.0".into(),
            issued_at,
            ttl_secs: 600,
        }
    }

    #[test]
    fn signed_records_verify_and_tampering_is_caught() {
        let keypair = Keypair::generate_ed25519();
        let peer = keypair.public().to_peer_id();
        let good = record(&keypair, now_unix());
        let bytes = SignedNodeRecord::sign(&good, &keypair).to_bytes();
        assert_eq!(
            SignedNodeRecord::verify(&bytes, Some(&peer)),
            Ok(good.clone())
        );

        let other = Keypair::generate_ed25519();
        assert_eq!(
            SignedNodeRecord::verify(&bytes, Some(&other.public().to_peer_id())),
            Err(RecordError::OtherPeer)
        );
        // Signed by another key but naming this peer.
        let forged = SignedNodeRecord::sign(&good, &other).to_bytes();
        assert_eq!(
            SignedNodeRecord::verify(&forged, Some(&peer)),
            Err(RecordError::WrongKey)
        );
        // A changed field breaks the signature.
        let mut signed = SignedNodeRecord::sign(&good, &keypair);
        let mut changed = good.clone();
        changed.free = u64::MAX;
        signed.record = postcard::to_allocvec(&changed).unwrap();
        assert_eq!(
            SignedNodeRecord::verify(&signed.to_bytes(), Some(&peer)),
            Err(RecordError::BadSignature)
        );
        let stale = SignedNodeRecord::sign(&record(&keypair, 1000), &keypair).to_bytes();
        assert_eq!(
            SignedNodeRecord::verify(&stale, Some(&peer)),
            Err(RecordError::Expired)
        );
        assert!(SignedNodeRecord::verify(b"garbage", None).is_err());
    }
}
