//! Where things live under the data directory.
//!
//! ```text
//! <data>/index.redb                       the index (and the proof outboards)
//! <data>/tmp/                             in-flight writes, emptied on every open
//! <data>/shards/<owner>/ab/cd/<id>        committed copies: <owner> is the
//!                                         owner's alias as 8 hex digits, <id>
//!                                         the shard id as 64 hex digits
//! ```
//!
//! Each owner's copies have their own tree, so two owners storing the same
//! bytes never share (or fight over) a file. The two fan-out levels (first
//! and second id byte) keep directories small: 65,536 leaf directories hold
//! millions of shards at a few dozen each.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use proofs::ShardId;

use super::error::{IoContext, StoreError};
use super::index::Alias;

/// Paths of one store's data directory.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout rooted at `root`.
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// The data directory itself.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The redb index file.
    pub(crate) fn index(&self) -> PathBuf {
        self.root.join("index.redb")
    }

    /// The directory of in-flight writes.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The root of the fan-out tree of committed shards.
    pub(crate) fn shards_dir(&self) -> PathBuf {
        self.root.join("shards")
    }

    /// The leaf directory that holds `owner`'s copy of shard `id`.
    pub(crate) fn shard_dir(&self, id: &ShardId, owner: Alias) -> PathBuf {
        let hex = id.to_hex();
        self.shards_dir()
            .join(format!("{owner:08x}"))
            .join(&hex[0..2])
            .join(&hex[2..4])
    }

    /// The committed file of `owner`'s copy of shard `id`.
    pub(crate) fn shard_path(&self, id: &ShardId, owner: Alias) -> PathBuf {
        self.shard_dir(id, owner).join(id.to_hex())
    }

    /// Where shard `id` lived before copies were kept per owner (for
    /// migrating old stores).
    pub(crate) fn unowned_shard_path(&self, id: &ShardId) -> PathBuf {
        let hex = id.to_hex();
        self.shards_dir()
            .join(&hex[0..2])
            .join(&hex[2..4])
            .join(&hex)
    }

    /// A temporary file for the `seq`-th write of this store's lifetime.
    pub(crate) fn tmp_path(&self, id: &ShardId, seq: u64) -> PathBuf {
        self.tmp_dir().join(format!("{}.{seq}.part", id.to_hex()))
    }

    /// Creates the top-level directories (and syncs them into their parents).
    pub(crate) fn create_dirs(&self) -> Result<(), StoreError> {
        ensure_dir(&self.tmp_dir())?;
        ensure_dir(&self.shards_dir())
    }
}

/// The copy a committed file at `path` claims to be: its name must be the
/// id in lower-case hex and it must sit in that id's fan-out directory under
/// an owner directory.
pub(crate) fn parse_shard_path(layout: &Layout, path: &Path) -> Option<(ShardId, Alias)> {
    let name = path.file_name()?.to_str()?;
    if name.len() != 64 || !name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let id: ShardId = name.parse().ok()?;
    let owner_dir = path.parent()?.parent()?.parent()?.file_name()?.to_str()?;
    if owner_dir.len() != 8
        || !owner_dir
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let owner = Alias::from_str_radix(owner_dir, 16).ok()?;
    (layout.shard_path(&id, owner) == path).then_some((id, owner))
}

/// Creates `dir` and any missing parents, fsyncing each parent that gained an
/// entry so the new directories survive a crash.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        // Another writer created it in the meantime.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e).at("creating directory", dir),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Makes the entries of `dir` (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("syncing directory", dir)
}

/// Removes a file, treating "already gone" as success.
pub(crate) fn remove_file(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at("removing", path),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_paths_fan_out_and_parse_back() {
        let layout = Layout::new(Path::new("/data"));
        let id = ShardId::of(b"hello");
        let hex = id.to_hex();
        let path = layout.shard_path(&id, 0x1a);
        assert_eq!(
            path,
            PathBuf::from(format!(
                "/data/shards/0000001a/{}/{}/{hex}",
                &hex[..2],
                &hex[2..4]
            ))
        );
        assert_eq!(parse_shard_path(&layout, &path), Some((id, 0x1a)));
        // Right name, wrong directory; wrong names; the old unowned layout.
        assert_eq!(
            parse_shard_path(&layout, &layout.shards_dir().join(&hex)),
            None
        );
        assert_eq!(
            parse_shard_path(&layout, &layout.shard_dir(&id, 1).join("x")),
            None
        );
        let upper = layout.shard_dir(&id, 1).join(hex.to_uppercase());
        assert_eq!(parse_shard_path(&layout, &upper), None);
        assert_eq!(
            parse_shard_path(&layout, &layout.unowned_shard_path(&id)),
            None
        );
    }
}
