//! The key file an operator keeps off the machine: the gateway's master
//! key and identity in one file sealed under a passphrase (scrypt, then
//! AES-256-GCM). With it and any reachable node, `cairn gateway recover`
//! brings everything back.
//!
//! Layout: magic `CAIRNKB1`, scrypt log2(N) (1 byte), r and p (u32 LE
//! each), a 16-byte salt, a 12-byte nonce, then the sealed postcard of the
//! two keys. Everything before the sealed bytes is authenticated with them.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"CAIRNKB1";
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = 8 + 1 + 4 + 4 + SALT_LEN + NONCE_LEN;
/// scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, about a tenth of a second).
const LOG_N: u8 = 15;
const R: u32 = 8;
const P: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Bundle {
    master: [u8; 32],
    identity: Vec<u8>,
}

/// Why a key file could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeysError {
    /// Not a Cairn key file.
    #[error("not a Cairn key file (made by `cairn gateway backup-keys`)")]
    NotAKeyFile,
    /// Wrong passphrase, or the file was changed.
    #[error("wrong passphrase, or the key file was altered")]
    WrongPassphrase,
    /// Parameters no file of ours has.
    #[error("the key file's scrypt parameters are out of range")]
    BadParameters,
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, KeysError> {
    if !(10..=22).contains(&log_n) || !(1..=32).contains(&r) || !(1..=16).contains(&p) {
        return Err(KeysError::BadParameters);
    }
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|_| KeysError::BadParameters)?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase.as_bytes(), salt, &params, key.as_mut())
        .map_err(|_| KeysError::BadParameters)?;
    Ok(key)
}

/// Seals `master` (the raw master key) and `identity` (the identity key
/// file's bytes) under `passphrase`.
pub fn seal(master: &[u8; 32], identity: &[u8], passphrase: &str) -> Vec<u8> {
    let salt: [u8; SALT_LEN] = rand::random();
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut out = Vec::with_capacity(HEADER_LEN + 128);
    out.extend_from_slice(MAGIC);
    out.push(LOG_N);
    out.extend_from_slice(&R.to_le_bytes());
    out.extend_from_slice(&P.to_le_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    let key = derive(passphrase, &salt, LOG_N, R, P).expect("our own parameters are valid");
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.as_ref()).expect("32 bytes"));
    let mut body = Zeroizing::new(
        postcard::to_allocvec(&Bundle {
            master: *master,
            identity: identity.to_vec(),
        })
        .expect("bundles serialize"),
    );
    let tag = sealing
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&out[..HEADER_LEN]),
            &mut body,
        )
        .expect("sealing does not fail");
    out.extend_from_slice(&body);
    out.extend_from_slice(tag.as_ref());
    out
}

/// What a key file holds: the raw master key and the identity key file's
/// bytes, wiped on drop.
pub type OpenedKeys = (Zeroizing<[u8; 32]>, Zeroizing<Vec<u8>>);

/// The master key and identity key bytes in a key file.
pub fn open(file: &[u8], passphrase: &str) -> Result<OpenedKeys, KeysError> {
    if file.len() < HEADER_LEN + 16 || &file[..8] != MAGIC {
        return Err(KeysError::NotAKeyFile);
    }
    let log_n = file[8];
    let r = u32::from_le_bytes(file[9..13].try_into().expect("4 bytes"));
    let p = u32::from_le_bytes(file[13..17].try_into().expect("4 bytes"));
    let salt = &file[17..17 + SALT_LEN];
    let nonce: [u8; NONCE_LEN] = file[17 + SALT_LEN..HEADER_LEN]
        .try_into()
        .expect("12 bytes");
    let key = derive(passphrase, salt, log_n, r, p)?;
    let opening = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.as_ref()).expect("32 bytes"));
    let mut body = Zeroizing::new(file[HEADER_LEN..].to_vec());
    let plain = opening
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&file[..HEADER_LEN]),
            &mut body,
        )
        .map_err(|_| KeysError::WrongPassphrase)?;
    let bundle: Bundle = postcard::from_bytes(plain).map_err(|_| KeysError::NotAKeyFile)?;
    Ok((
        Zeroizing::new(bundle.master),
        Zeroizing::new(bundle.identity),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_opens_with_its_passphrase_only() {
        let file = seal(&[7; 32], b"identity bytes", "correct horse");
        let (master, identity) = open(&file, "correct horse").unwrap();
        assert_eq!(*master, [7; 32]);
        assert_eq!(identity.as_slice(), b"identity bytes");
        assert_eq!(
            open(&file, "wrong").unwrap_err(),
            KeysError::WrongPassphrase
        );
        let mut altered = file.clone();
        altered[20] ^= 1;
        assert_eq!(
            open(&altered, "correct horse").unwrap_err(),
            KeysError::WrongPassphrase
        );
        assert_eq!(
            open(&file[..30], "correct horse").unwrap_err(),
            KeysError::NotAKeyFile
        );
        assert_eq!(open(b"hello", "x").unwrap_err(), KeysError::NotAKeyFile);
    }
}
