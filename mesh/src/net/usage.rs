//! Signed usage reports: what a storage node says it holds and did for one
//! owner, signed with the node's identity so that the owner (or anyone it
//! shows the report to) can check it offline.
//!
//! The counters are monotonic: a later report from the same node about the
//! same owner never shows less served, received or integrated than an
//! earlier one ([`UsageReport::follows`]). These are the records a payment
//! system would need; Cairn itself does not pay anyone.

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};

/// Signed bytes start with this label, so a report's signature can never be
/// taken for a node record's (or anything else the key signs).
const DOMAIN: &[u8] = b"cairn usage report v1\0";

/// What a node holds and did for one owner, at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// The reporting node's peer id (bytes).
    pub node: Vec<u8>,
    /// The owner reported on (peer id bytes).
    pub owner: Vec<u8>,
    /// When the report was made (unix seconds).
    pub issued_at: u64,
    /// Copies held for the owner now.
    pub shards: u64,
    /// Bytes of those copies.
    pub bytes_stored: u64,
    /// Bytes the node will still accept from the owner now (its quota left,
    /// or the node's free space if that is less).
    pub free_for_owner: u64,
    /// The owner's quota on this node, in bytes.
    pub quota: u64,
    /// Bytes sent from the owner's copies, ever (monotonic).
    pub bytes_served: u64,
    /// Bytes received for the owner, ever (monotonic).
    pub bytes_received: u64,
    /// Copies held integrated over time, in copy-seconds (monotonic).
    pub shard_seconds: u64,
    /// Bytes held integrated over time, in byte-seconds (monotonic).
    pub byte_seconds: u128,
}

impl UsageReport {
    /// Shard-hours: copies held integrated over time.
    pub fn shard_hours(&self) -> f64 {
        self.shard_seconds as f64 / 3600.0
    }

    /// Whether `self` can come after `earlier` from the same node about the
    /// same owner: same parties, not older, and no counter went back.
    pub fn follows(&self, earlier: &UsageReport) -> bool {
        self.node == earlier.node
            && self.owner == earlier.owner
            && self.issued_at >= earlier.issued_at
            && self.bytes_served >= earlier.bytes_served
            && self.bytes_received >= earlier.bytes_received
            && self.shard_seconds >= earlier.shard_seconds
            && self.byte_seconds >= earlier.byte_seconds
    }
}

/// A usage report with the node's public key and its signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedUsageReport {
    /// postcard-encoded [`UsageReport`].
    pub report: Vec<u8>,
    /// The node's public key, protobuf-encoded (libp2p's format).
    pub public_key: Vec<u8>,
    /// Signature over the domain label and `report`.
    pub signature: Vec<u8>,
}

/// Why a usage report was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    /// The bytes don't decode.
    #[error("malformed usage report: {0}")]
    Malformed(&'static str),
    /// The signature does not verify.
    #[error("the usage report's signature is not valid")]
    BadSignature,
    /// The key is not the reporting node's.
    #[error("the usage report is signed by a key that is not the node's")]
    WrongKey,
}

impl SignedUsageReport {
    /// Signs `report` with the node's `keypair`.
    pub fn sign(report: &UsageReport, keypair: &Keypair) -> Self {
        let bytes = postcard::to_allocvec(report).expect("reports serialize");
        let signature = keypair
            .sign(&signed_bytes(&bytes))
            .expect("ed25519 signing does not fail");
        Self {
            report: bytes,
            public_key: keypair.public().encode_protobuf(),
            signature,
        }
    }

    /// Wire and file form.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("reports serialize")
    }

    /// Parses and checks a signed report: the signature must verify under
    /// the enclosed key, and that key must be the reporting node's.
    pub fn verify(bytes: &[u8]) -> Result<UsageReport, UsageError> {
        let signed: SignedUsageReport =
            postcard::from_bytes(bytes).map_err(|_| UsageError::Malformed("envelope"))?;
        let key = PublicKey::try_decode_protobuf(&signed.public_key)
            .map_err(|_| UsageError::Malformed("public key"))?;
        if !key.verify(&signed_bytes(&signed.report), &signed.signature) {
            return Err(UsageError::BadSignature);
        }
        let report: UsageReport =
            postcard::from_bytes(&signed.report).map_err(|_| UsageError::Malformed("report"))?;
        let node = PeerId::from_bytes(&report.node).map_err(|_| UsageError::Malformed("node"))?;
        PeerId::from_bytes(&report.owner).map_err(|_| UsageError::Malformed("owner"))?;
        if key.to_peer_id() != node {
            return Err(UsageError::WrongKey);
        }
        Ok(report)
    }
}

fn signed_bytes(report: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + report.len());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(report);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(node: &Keypair, served: u64, at: u64) -> UsageReport {
        UsageReport {
            node: node.public().to_peer_id().to_bytes(),
            owner: PeerId::random().to_bytes(),
            issued_at: at,
            shards: 3,
            bytes_stored: 300,
            free_for_owner: 1000,
            quota: 1300,
            bytes_served: served,
            bytes_received: 300,
            shard_seconds: 30,
            byte_seconds: 3000,
        }
    }

    #[test]
    fn reports_verify_and_tampering_is_caught() {
        let node = Keypair::generate_ed25519();
        let good = report(&node, 10, 1000);
        let signed = SignedUsageReport::sign(&good, &node);
        assert_eq!(
            SignedUsageReport::verify(&signed.to_bytes()),
            Ok(good.clone())
        );

        let mut changed = good.clone();
        changed.bytes_served = 1 << 40;
        let mut forged = signed.clone();
        forged.report = postcard::to_allocvec(&changed).unwrap();
        assert_eq!(
            SignedUsageReport::verify(&forged.to_bytes()),
            Err(UsageError::BadSignature)
        );
        // Signed by someone else, naming the node.
        let other = Keypair::generate_ed25519();
        assert_eq!(
            SignedUsageReport::verify(&SignedUsageReport::sign(&good, &other).to_bytes()),
            Err(UsageError::WrongKey)
        );
        assert!(SignedUsageReport::verify(b"junk").is_err());
    }

    #[test]
    fn later_reports_must_not_go_back() {
        let node = Keypair::generate_ed25519();
        let first = report(&node, 10, 1000);
        let mut later = first.clone();
        later.issued_at = 1060;
        later.bytes_served = 20;
        assert!(later.follows(&first));
        assert!(!first.follows(&later));
        let mut shrunk = later.clone();
        shrunk.shard_seconds = 1;
        assert!(!shrunk.follows(&first));
    }
}
