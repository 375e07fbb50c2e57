//! A peer's identity (node or gateway): an ed25519 key kept in its data
//! directory.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;

/// File name of the identity key inside the data directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
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
    /// The file does not hold a key.
    #[error("{0} does not hold a valid identity key")]
    Invalid(PathBuf),
    /// Others can read the key.
    #[error("{0} is readable by other users; chmod 600 it")]
    Permissions(PathBuf),
}

/// Loads the key in `dir`, creating it (mode 0600) on first start. Returns
/// the key and whether it was created now.
pub fn load_or_create(dir: &Path) -> Result<(Keypair, bool), IdentityError> {
    let path = dir.join(IDENTITY_FILE);
    let io = |op, source| IdentityError::Io {
        op,
        path: path.clone(),
        source,
    };
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Written to a temp file, synced, then renamed: a crash never
            // leaves a half-written key that would stop the node starting.
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair.to_protobuf_encoding().expect("ed25519 keys encode");
            let tmp = dir.join(format!("{IDENTITY_FILE}.tmp"));
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| io("creating", e))?;
            file.write_all(&bytes).map_err(|e| io("writing", e))?;
            file.sync_all().map_err(|e| io("syncing", e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io("renaming", e))?;
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("syncing the directory of", e))?;
            Ok((keypair, true))
        }
        Ok(_) => {
            let mut file = OpenOptions::new()
                .read(true)
                .open(&path)
                .map_err(|e| io("opening", e))?;
            let mode = file
                .metadata()
                .map_err(|e| io("inspecting", e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(IdentityError::Permissions(path));
            }
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(|e| io("reading", e))?;
            let keypair = Keypair::from_protobuf_encoding(&bytes)
                .map_err(|_| IdentityError::Invalid(path.clone()))?;
            Ok((keypair, false))
        }
        Err(e) => Err(io("inspecting", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_create(dir.path()).unwrap();
        assert!(created);
        let mode = std::fs::metadata(dir.path().join(IDENTITY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, created) = load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first.public(), again.public());
        std::fs::set_permissions(
            dir.path().join(IDENTITY_FILE),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(IdentityError::Permissions(_))
        ));
    }
}
