//! Per-object keys and the segment AEAD (AES-256-GCM).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroize;

use crate::codec::error::CodecError;

/// Bytes the AEAD adds to each segment.
pub const TAG_LEN: usize = 16;

/// A random 256-bit key for one object. Wiped from memory on drop.
#[derive(Clone)]
pub struct ObjectKey([u8; 32]);

impl ObjectKey {
    /// A fresh key from a CSPRNG.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// A key from stored bytes (e.g. unwrapped from a manifest).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, for wrapping into a manifest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.0).into())
    }
}

impl Drop for ObjectKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectKey(..)")
    }
}

/// Which segment of which upload a sealed segment is: the nonce. A simple
/// object is part 0; multipart uploads number their parts. Distinct pairs
/// under one key never share a nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentRef {
    /// Part number (0 for a simple upload).
    pub part: u32,
    /// Segment index within the part.
    pub index: u64,
}

impl SegmentRef {
    /// Segment `index` of a simple upload.
    pub fn simple(index: u64) -> Self {
        Self { part: 0, index }
    }

    fn nonce(&self) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.part.to_le_bytes());
        nonce[4..].copy_from_slice(&self.index.to_le_bytes());
        nonce
    }

    /// Associated data: binds the segment's position and plaintext length.
    fn aad(&self, plain_len: usize) -> [u8; 20] {
        let mut aad = [0u8; 20];
        aad[..12].copy_from_slice(&self.nonce());
        aad[12..].copy_from_slice(&(plain_len as u64).to_le_bytes());
        aad
    }
}

/// Encrypts `plain` in place, returning the tag.
pub(crate) fn seal(
    cipher: &Aes256Gcm,
    at: SegmentRef,
    plain: &mut [u8],
) -> Result<[u8; TAG_LEN], CodecError> {
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&at.nonce()), &at.aad(plain.len()), plain)
        .map_err(|_| CodecError::Authentication)?;
    Ok(tag.into())
}

/// Decrypts `sealed` in place, checking `tag`.
pub(crate) fn open(
    cipher: &Aes256Gcm,
    at: SegmentRef,
    sealed: &mut [u8],
    tag: &[u8],
) -> Result<(), CodecError> {
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(&at.nonce()),
            &at.aad(sealed.len()),
            sealed,
            Tag::from_slice(tag),
        )
        .map_err(|_| CodecError::Authentication)
}
