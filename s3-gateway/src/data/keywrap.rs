//! The gateway's master key, and wrapping per-object keys under it.
//!
//! Every object is sealed under its own random 256-bit key
//! ([`ObjectKey`]); the manifest keeps that key sealed again under the
//! gateway's master key, which lives only in `<data>/master.key` (32 raw
//! bytes, mode 0600), never in the metadata store. A copy of `meta.redb`
//! alone (a backup, a stolen disk image of the metadata) does not reveal a
//! single object key.
//!
//! Wrapped form, 61 bytes: a version byte (`1`), a random 96-bit nonce, the
//! key sealed with AES-256-GCM (32 bytes) and the tag (16 bytes). The
//! associated data is a fixed label and the version byte, so a wrapped key
//! cannot be taken for anything else this gateway seals. It does not name
//! the bucket or key: a manifest stays valid wherever it is recorded (a
//! multipart upload's template becomes the object's manifest; a future
//! rename or copy by reference moves manifests between names). Swapping
//! whole manifests between names needs write access to the metadata store,
//! which can destroy objects anyway; the object data itself is
//! authenticated segment by segment under the object key.
//!
//! Manifests written before wrapping hold the bare 32-byte key; they are told
//! apart by length and still read. Nonces are random, so one master key
//! should wrap fewer than 2^32 keys (AES-GCM's bound for random nonces);
//! key rotation is not implemented yet.
//!
//! Access-key secrets are sealed the same way ([`MasterKey::seal_secret`]):
//! a version byte (`1`), a random nonce, the secret sealed with AES-256-GCM
//! and the tag, with a distinct label and the access key id as associated
//! data, so a sealed secret opens only for the key id it was sealed for and
//! can never be taken for an object key.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mesh::codec::ObjectKey;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroize;

/// File name of the master key inside the gateway's data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The version byte of the current wrapped form.
const WRAP_VERSION: u8 = 1;
/// Length of a bare (legacy, unwrapped) object key.
const KEY_LEN: usize = 32;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Length of a wrapped key: version, nonce, sealed key, tag.
pub const WRAPPED_LEN: usize = 1 + NONCE_LEN + KEY_LEN + TAG_LEN;
/// Associated data label (followed by the version byte).
const AAD_LABEL: &[u8] = b"cairn/object-key/";
/// HMAC label of the key check value.
const CHECK_LABEL: &[u8] = b"cairn/master-key-check/1";
/// The version byte of a sealed access-key secret.
const SECRET_VERSION: u8 = 1;
/// Associated data label of sealed secrets (followed by the access key id).
const SECRET_LABEL: &[u8] = b"cairn/access-key-secret/1/";
/// Longest access-key secret that is sealed (AWS's are 40 characters).
const MAX_SECRET_LEN: usize = 128;

/// Why the master key could not be loaded, or a key not unwrapped.
#[derive(Debug, thiserror::Error)]
pub enum KeyWrapError {
    /// Reading or writing the key file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file is not 32 bytes.
    #[error("{0} does not hold a 32-byte master key")]
    InvalidFile(PathBuf),
    /// Others can read the key file.
    #[error("{0} is readable by other users; chmod 600 it")]
    Permissions(PathBuf),
    /// The key file is gone although the metadata was written with one.
    #[error(
        "{0} is missing, but this gateway's metadata was written with a master key: \
         restore the file from a backup (a new key could not read any object)"
    )]
    Missing(PathBuf),
    /// The key file holds a different key than the metadata was written with.
    #[error(
        "{0} is not the master key this gateway's metadata was written with: \
         restore the right file from a backup"
    )]
    Mismatch(PathBuf),
    /// A stored key has neither the bare nor the wrapped length, or an
    /// unknown version.
    #[error("a stored object key is malformed ({len} bytes)")]
    Malformed {
        /// Its length.
        len: usize,
    },
    /// A wrapped key failed authentication: tampered with, corrupt, or
    /// wrapped under another master key.
    #[error("a stored object key failed authentication (another master key, or corrupt)")]
    Unauthentic,
}

/// The gateway's master key. Only the AES key schedule is kept (no copy of
/// the raw bytes), plus a check value that identifies the key without
/// revealing it.
pub struct MasterKey {
    cipher: LessSafeKey,
    check: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let check_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes);
        let mut check = [0u8; 32];
        check.copy_from_slice(ring::hmac::sign(&check_key, CHECK_LABEL).as_ref());
        Self {
            cipher: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte key")),
            check,
        }
    }

    /// A fresh random master key.
    pub fn generate() -> Self {
        let mut bytes: [u8; 32] = rand::random();
        let key = Self::from_bytes(&bytes);
        bytes.zeroize();
        key
    }

    /// A value that identifies this key (HMAC-SHA256 of a fixed label under
    /// it): stored in the metadata so that starting with the wrong key file
    /// fails at once instead of on every read.
    pub fn check_value(&self) -> [u8; 32] {
        self.check
    }

    /// Loads `<dir>/master.key`, creating it (mode 0600) if it does not
    /// exist. Returns the key and whether it was created now.
    ///
    /// Creation is atomic: the key is written and synced to a temporary file
    /// that is then hard-linked into place, which fails if another process
    /// created the file first (its key is then loaded instead). A crash never
    /// leaves a partial key file.
    pub fn load_or_create(dir: &Path) -> Result<(Self, bool), KeyWrapError> {
        Self::load_or_create_file(&dir.join(MASTER_KEY_FILE))
    }

    /// [`load_or_create`](Self::load_or_create) with the key file at
    /// `path` (`--master-key-file`).
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), KeyWrapError> {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map_or_else(|| MASTER_KEY_FILE.into(), |n| n.to_string_lossy());
        match Self::load_file(path) {
            Err(KeyWrapError::Missing(_)) => {}
            other => return other.map(|key| (key, false)),
        }
        let io = |op, source| KeyWrapError::Io {
            op,
            path: path.to_owned(),
            source,
        };
        let tmp = dir.join(format!(
            "{name}.{}.{:016x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut bytes: [u8; 32] = rand::random();
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()
        })();
        let key = Self::from_bytes(&bytes);
        bytes.zeroize();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("writing", e));
        }
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| io("syncing the directory of", e))?;
                tracing::info!(path = %path.display(), "master key created");
                Ok((key, true))
            }
            // Someone else created it first: theirs is the key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load_file(path).map(|key| (key, false))
            }
            Err(e) => Err(io("creating", e)),
        }
    }

    /// Loads `<dir>/master.key`; [`KeyWrapError::Missing`] if there is none.
    pub fn load(dir: &Path) -> Result<Self, KeyWrapError> {
        Self::load_file(&dir.join(MASTER_KEY_FILE))
    }

    /// Loads the key file at `path`; [`KeyWrapError::Missing`] if there is
    /// none.
    pub fn load_file(path: &Path) -> Result<Self, KeyWrapError> {
        let path = path.to_owned();
        let io = |op, source| KeyWrapError::Io {
            op,
            path: path.clone(),
            source,
        };
        let mut file = match OpenOptions::new().read(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyWrapError::Missing(path));
            }
            Err(e) => return Err(io("opening", e)),
        };
        let meta = file.metadata().map_err(|e| io("inspecting", e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyWrapError::Permissions(path));
        }
        if meta.len() != KEY_LEN as u64 {
            return Err(KeyWrapError::InvalidFile(path));
        }
        let mut bytes = [0u8; KEY_LEN];
        let read = file.read_exact(&mut bytes);
        let key = Self::from_bytes(&bytes);
        bytes.zeroize();
        read.map_err(|e| io("reading", e))?;
        Ok(key)
    }

    /// `key` sealed under the master key, as stored in a manifest.
    pub fn wrap(&self, key: &ObjectKey) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(key.as_bytes());
        let mut sealed = out.split_off(1 + NONCE_LEN);
        self.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                aad(WRAP_VERSION),
                &mut sealed,
            )
            .expect("32 bytes are within AES-GCM's limits");
        out.append(&mut sealed);
        out
    }

    /// The object key in a manifest: wrapped (checked and opened) or, for
    /// manifests written before wrapping, the bare 32 bytes.
    pub fn unwrap(&self, stored: &[u8]) -> Result<ObjectKey, KeyWrapError> {
        if stored.len() == KEY_LEN {
            let mut bytes = [0u8; KEY_LEN];
            bytes.copy_from_slice(stored);
            let key = ObjectKey::from_bytes(bytes);
            bytes.zeroize();
            return Ok(key);
        }
        if stored.len() != WRAPPED_LEN || stored[0] != WRAP_VERSION {
            return Err(KeyWrapError::Malformed { len: stored.len() });
        }
        let nonce: [u8; NONCE_LEN] = stored[1..1 + NONCE_LEN].try_into().expect("length");
        let mut sealed = stored[1 + NONCE_LEN..].to_vec();
        let opened = self.cipher.open_in_place(
            Nonce::assume_unique_for_key(nonce),
            aad(WRAP_VERSION),
            &mut sealed,
        );
        let result = match opened {
            Ok(plain) => {
                let mut bytes = [0u8; KEY_LEN];
                bytes.copy_from_slice(plain);
                let key = ObjectKey::from_bytes(bytes);
                bytes.zeroize();
                Ok(key)
            }
            Err(_) => Err(KeyWrapError::Unauthentic),
        };
        sealed.zeroize();
        result
    }
}

impl MasterKey {
    /// `secret`, the secret of access key `access_key_id`, sealed for the
    /// metadata store: only this master key opens it, and only for that id.
    pub fn seal_secret(&self, access_key_id: &str, secret: &str) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut sealed = secret.as_bytes().to_vec();
        self.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                secret_aad(access_key_id),
                &mut sealed,
            )
            .expect("a secret is within AES-GCM's limits");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SECRET_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a secret sealed by [`MasterKey::seal_secret`] for
    /// `access_key_id`.
    pub fn open_secret(&self, access_key_id: &str, sealed: &[u8]) -> Result<String, KeyWrapError> {
        let min = 1 + NONCE_LEN + TAG_LEN;
        if sealed.len() < min || sealed.len() > min + MAX_SECRET_LEN || sealed[0] != SECRET_VERSION
        {
            return Err(KeyWrapError::Malformed { len: sealed.len() });
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN].try_into().expect("length");
        let mut buffer = sealed[1 + NONCE_LEN..].to_vec();
        let opened = self
            .cipher
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                secret_aad(access_key_id),
                &mut buffer,
            )
            .map(|plain| String::from_utf8(plain.to_vec()));
        buffer.zeroize();
        match opened {
            Ok(Ok(secret)) => Ok(secret),
            Ok(Err(e)) => {
                let mut bytes = e.into_bytes();
                bytes.zeroize();
                Err(KeyWrapError::Malformed { len: sealed.len() })
            }
            Err(_) => Err(KeyWrapError::Unauthentic),
        }
    }
}

fn secret_aad(access_key_id: &str) -> Aad<Vec<u8>> {
    let mut aad = Vec::with_capacity(SECRET_LABEL.len() + access_key_id.len());
    aad.extend_from_slice(SECRET_LABEL);
    aad.extend_from_slice(access_key_id.as_bytes());
    Aad::from(aad)
}

/// Whether `stored` is in the wrapped form (not a bare legacy key).
pub fn is_wrapped(stored: &[u8]) -> bool {
    stored.len() == WRAPPED_LEN && stored[0] == WRAP_VERSION
}

fn aad(version: u8) -> Aad<[u8; AAD_LABEL.len() + 1]> {
    let mut out = [0u8; AAD_LABEL.len() + 1];
    out[..AAD_LABEL.len()].copy_from_slice(AAD_LABEL);
    out[AAD_LABEL.len()] = version;
    Aad::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_keys_round_trip_and_differ_each_time() {
        let master = MasterKey::generate();
        let key = ObjectKey::generate();
        let a = master.wrap(&key);
        let b = master.wrap(&key);
        assert_eq!(a.len(), WRAPPED_LEN);
        assert!(is_wrapped(&a));
        assert_ne!(a, b, "fresh nonce per wrap");
        assert!(
            !a.windows(32).any(|w| w == key.as_bytes()),
            "the key must not appear in the clear"
        );
        for wrapped in [a, b] {
            assert_eq!(master.unwrap(&wrapped).unwrap().as_bytes(), key.as_bytes());
        }
    }

    #[test]
    fn every_tampered_byte_is_detected() {
        let master = MasterKey::generate();
        let wrapped = master.wrap(&ObjectKey::generate());
        for i in 0..wrapped.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = wrapped.clone();
                bad[i] ^= bit;
                let got = master.unwrap(&bad);
                if i == 0 {
                    assert!(matches!(got, Err(KeyWrapError::Malformed { .. })), "{i}");
                } else {
                    assert!(matches!(got, Err(KeyWrapError::Unauthentic)), "{i}");
                }
            }
        }
    }

    #[test]
    fn truncated_extended_or_foreign_keys_are_refused() {
        let master = MasterKey::generate();
        let wrapped = master.wrap(&ObjectKey::generate());
        for len in [0, 1, 31, 33, WRAPPED_LEN - 1] {
            assert!(matches!(
                master.unwrap(&wrapped[..len]),
                Err(KeyWrapError::Malformed { .. })
            ));
        }
        let mut longer = wrapped.clone();
        longer.push(0);
        assert!(matches!(
            master.unwrap(&longer),
            Err(KeyWrapError::Malformed { .. })
        ));
        let other = MasterKey::generate();
        assert!(matches!(
            other.unwrap(&wrapped),
            Err(KeyWrapError::Unauthentic)
        ));
        assert_ne!(other.check_value(), master.check_value());
    }

    #[test]
    fn bare_legacy_keys_are_read_as_they_are() {
        let master = MasterKey::generate();
        let key = ObjectKey::generate();
        assert!(!is_wrapped(key.as_bytes()));
        assert_eq!(
            master.unwrap(key.as_bytes()).unwrap().as_bytes(),
            key.as_bytes()
        );
    }

    #[test]
    fn the_key_file_is_created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            MasterKey::load(dir.path()),
            Err(KeyWrapError::Missing(_))
        ));
        let (first, created) = MasterKey::load_or_create(dir.path()).unwrap();
        assert!(created);
        let path = dir.path().join(MASTER_KEY_FILE);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [MASTER_KEY_FILE], "no temp file left behind");
        let wrapped = first.wrap(&ObjectKey::generate());
        let (again, created) = MasterKey::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.check_value(), first.check_value());
        assert!(again.unwrap(&wrapped).is_ok());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            MasterKey::load(dir.path()),
            Err(KeyWrapError::Permissions(_))
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, [0u8; 31]).unwrap();
        assert!(matches!(
            MasterKey::load(dir.path()),
            Err(KeyWrapError::InvalidFile(_))
        ));
    }

    #[test]
    fn secrets_open_only_under_their_master_key_and_for_their_key_id() {
        let master = MasterKey::generate();
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let sealed = master.seal_secret("CAKEY1", secret);
        assert_ne!(sealed, master.seal_secret("CAKEY1", secret), "fresh nonce");
        assert!(
            !sealed
                .windows(8)
                .any(|w| secret.as_bytes().windows(8).any(|s| s == w)),
            "no part of the secret in the clear"
        );
        assert_eq!(master.open_secret("CAKEY1", &sealed).unwrap(), secret);
        assert!(matches!(
            master.open_secret("CAKEY2", &sealed),
            Err(KeyWrapError::Unauthentic)
        ));
        assert!(matches!(
            MasterKey::generate().open_secret("CAKEY1", &sealed),
            Err(KeyWrapError::Unauthentic)
        ));
        for i in 1..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(master.open_secret("CAKEY1", &bad).is_err(), "{i}");
        }
        assert!(matches!(
            master.open_secret("CAKEY1", &sealed[..20]),
            Err(KeyWrapError::Malformed { .. })
        ));
        assert!(matches!(
            master.open_secret("CAKEY1", secret.as_bytes()),
            Err(KeyWrapError::Malformed { .. })
        ));
        // Neither form is taken for the other.
        assert!(master.unwrap(&sealed).is_err());
        let wrapped = master.wrap(&ObjectKey::generate());
        assert!(master.open_secret("CAKEY1", &wrapped).is_err());
    }

    #[test]
    fn concurrent_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let checks: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| MasterKey::load_or_create(dir.path()).unwrap().0))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().check_value())
                .collect()
        });
        assert!(checks.windows(2).all(|w| w[0] == w[1]));
        let created = MasterKey::load(dir.path()).unwrap();
        assert_eq!(created.check_value(), checks[0]);
    }
}
