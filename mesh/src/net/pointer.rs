//! Signed pointer records: a small record an owner (a gateway) keeps on
//! several nodes so that, with only its identity key, it can find what it
//! stored (its metadata backups) again. Nodes keep the newest per owner
//! without reading it; whoever fetches one checks that the owner signed it.

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};

/// Domain separation: a pointer signature can never pass for another
/// signed Cairn message.
const CONTEXT: &[u8] = b"cairn pointer v1\0";

/// A record as it travels and is stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Envelope {
    public_key: Vec<u8>,
    seq: u64,
    body: Vec<u8>,
    signature: Vec<u8>,
}

/// Why a fetched pointer record was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PointerError {
    /// Not a pointer record at all (truncated, or another format).
    #[error("malformed pointer record")]
    Malformed,
    /// Signed by another identity than the one asked for.
    #[error("the pointer record is signed by {found}, not by {expected}")]
    OtherSigner {
        /// Who signed it.
        found: Box<PeerId>,
        /// Whose record was asked for.
        expected: Box<PeerId>,
    },
    /// The signature does not match the record.
    #[error("the pointer record's signature is invalid (tampered with)")]
    BadSignature,
    /// The node said one sequence number, the signed record another.
    #[error(
        "the pointer record's sequence number {signed} is not the {stored} it was stored under"
    )]
    SeqMismatch {
        /// Inside the signature.
        signed: u64,
        /// What the node reported.
        stored: u64,
    },
}

fn signed_bytes(seq: u64, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(CONTEXT.len() + 8 + body.len());
    bytes.extend_from_slice(CONTEXT);
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// Signs `body` as `keypair`'s pointer record number `seq`; the result is
/// what [`ShardClient::put_pointer`](super::ShardClient::put_pointer) sends.
pub fn sign_pointer(keypair: &Keypair, seq: u64, body: &[u8]) -> Vec<u8> {
    let signature = keypair
        .sign(&signed_bytes(seq, body))
        .expect("ed25519 signing does not fail");
    let envelope = Envelope {
        public_key: keypair.public().encode_protobuf(),
        seq,
        body: body.to_vec(),
        signature,
    };
    postcard::to_allocvec(&envelope).expect("pointer records serialize")
}

/// Checks a pointer record fetched for `owner` (stored under `stored_seq`)
/// and returns its body: it must be signed by `owner`'s key, and its signed
/// sequence number must be the one it was stored under.
pub fn verify_pointer(
    record: &[u8],
    owner: &PeerId,
    stored_seq: u64,
) -> Result<Vec<u8>, PointerError> {
    let envelope: Envelope = postcard::from_bytes(record).map_err(|_| PointerError::Malformed)?;
    let key = PublicKey::try_decode_protobuf(&envelope.public_key)
        .map_err(|_| PointerError::Malformed)?;
    let found = key.to_peer_id();
    if found != *owner {
        return Err(PointerError::OtherSigner {
            found: Box::new(found),
            expected: Box::new(*owner),
        });
    }
    if !key.verify(
        &signed_bytes(envelope.seq, &envelope.body),
        &envelope.signature,
    ) {
        return Err(PointerError::BadSignature);
    }
    if envelope.seq != stored_seq {
        return Err(PointerError::SeqMismatch {
            signed: envelope.seq,
            stored: stored_seq,
        });
    }
    Ok(envelope.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_verifies_for_its_signer_only() {
        let owner = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let record = sign_pointer(&owner, 7, b"where my backups are");
        let me = owner.public().to_peer_id();
        assert_eq!(
            verify_pointer(&record, &me, 7).unwrap(),
            b"where my backups are"
        );
        let them = other.public().to_peer_id();
        assert!(matches!(
            verify_pointer(&record, &them, 7),
            Err(PointerError::OtherSigner { .. })
        ));
        assert_eq!(
            verify_pointer(&record, &me, 8),
            Err(PointerError::SeqMismatch {
                signed: 7,
                stored: 8
            })
        );
    }

    #[test]
    fn a_changed_byte_or_a_cut_record_is_refused() {
        let owner = Keypair::generate_ed25519();
        let me = owner.public().to_peer_id();
        let record = sign_pointer(&owner, 1, &[5u8; 300]);
        let mut tampered = record.clone();
        let at = tampered.len() - 100;
        tampered[at] ^= 1;
        assert_eq!(
            verify_pointer(&tampered, &me, 1),
            Err(PointerError::BadSignature)
        );
        assert_eq!(
            verify_pointer(&record[..record.len() / 2], &me, 1),
            Err(PointerError::Malformed)
        );
    }
}
