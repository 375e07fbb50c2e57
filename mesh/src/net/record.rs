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
    /// What it offers for compute tasks; `None` when it runs none.
    pub compute: Option<crate::compute::ComputeOffer>,
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

    /// Checks that every field is plausible at `now` (unix seconds): a
    /// region of 1 to [`MAX_REGION_LEN`] ASCII letters, digits, `-`, `_` or
    /// `.`; a capacity of at most [`MAX_CAPACITY`] and free space within
    /// it; at most [`MAX_ADDRS`] addresses of at most [`MAX_ADDR_LEN`]
    /// bytes; a short version; a TTL of at most a day; not issued in the
    /// future. A record failing any of these is dropped, however well
    /// signed: claims cost the claimant nothing.
    pub fn validate(&self, now: u64) -> Result<(), RecordError> {
        let implausible = |what| Err(RecordError::Implausible(what));
        let region_ok = (1..=MAX_REGION_LEN).contains(&self.region.len())
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !region_ok {
            return implausible("region");
        }
        if self.capacity > MAX_CAPACITY {
            return implausible("capacity");
        }
        if self.free > self.capacity {
            return implausible("free space above capacity");
        }
        if self.shards > MAX_SHARDS {
            return implausible("shard count");
        }
        if self.addrs.is_empty()
            || self.addrs.len() > MAX_ADDRS
            || self.addrs.iter().any(|a| a.len() > MAX_ADDR_LEN)
        {
            return implausible("addresses");
        }
        if self.version.len() > MAX_VERSION_LEN {
            return implausible("version");
        }
        if self.ttl_secs == 0 || self.ttl_secs > MAX_TTL_SECS {
            return implausible("time to live");
        }
        if self.issued_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return implausible("issued in the future");
        }
        Ok(())
    }
}

/// Longest region name a record may claim, in bytes.
pub const MAX_REGION_LEN: usize = 64;
/// Largest capacity a record may claim: 1 EiB.
pub const MAX_CAPACITY: u64 = 1 << 60;
/// Most shards a record may claim.
pub const MAX_SHARDS: u64 = 1 << 48;
/// Most listen addresses in a record.
pub const MAX_ADDRS: usize = 16;
/// Longest listen address in a record, in bytes.
pub const MAX_ADDR_LEN: usize = 256;
/// Longest version string in a record, in bytes.
pub const MAX_VERSION_LEN: usize = 64;
/// Longest time to live a record may claim: one day.
pub const MAX_TTL_SECS: u64 = 24 * 3600;
/// How far in the future a record's issue time may lie (clock skew).
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

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
    /// A field holds an impossible value.
    #[error("implausible record: {0}")]
    Implausible(&'static str),
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
        let now = now_unix();
        if record.expired_at(now) {
            return Err(RecordError::Expired);
        }
        record.validate(now)?;
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
            compute: None,
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

    #[test]
    fn implausible_records_are_dropped_however_well_signed() {
        let keypair = Keypair::generate_ed25519();
        let now = now_unix();
        let check = |edit: &dyn Fn(&mut NodeRecord)| {
            let mut r = record(&keypair, now);
            edit(&mut r);
            SignedNodeRecord::verify(&SignedNodeRecord::sign(&r, &keypair).to_bytes(), None)
        };
        assert!(check(&|_| {}).is_ok());
        type Edit<'a> = &'a dyn Fn(&mut NodeRecord);
        let bad: [(&str, Edit); 10] = [
            ("empty region", &|r| r.region.clear()),
            ("long region", &|r| r.region = "x".repeat(65)),
            ("odd region", &|r| r.region = "eu west\n".into()),
            ("huge capacity", &|r| r.capacity = u64::MAX),
            ("free above capacity", &|r| r.free = r.capacity + 1),
            ("no address", &|r| r.addrs.clear()),
            ("too many addresses", &|r| {
                r.addrs = vec!["/ip4/1.2.3.4/tcp/1".into(); 17]
            }),
            ("long version", &|r| r.version = "v".repeat(65)),
            ("long ttl", &|r| r.ttl_secs = 2 * 24 * 3600),
            ("future", &|r| r.issued_at = now + 3600),
        ];
        for (what, edit) in bad {
            assert!(
                matches!(check(edit), Err(RecordError::Implausible(_))),
                "{what} accepted"
            );
        }
    }
}
