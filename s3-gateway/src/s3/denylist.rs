//! The operator's denylist: CIDs this gateway will not serve or pin.
//!
//! A text file named by `cairn gateway --denylist FILE`: one CID per
//! line, blank lines and `#` comments ignored, a line that is not a CID
//! logged and skipped. It is read at start (a file that cannot be read
//! stops the gateway: the operator asked for it) and again whenever its
//! modification time or size changes (checked every [`RELOAD_EVERY`]).
//! A file that goes missing or unreadable later keeps the last list in
//! force, with a warning.
//!
//! This is one operator's choice about their own gateway: the content
//! stays reachable through any other gateway and through `cairn get`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use mesh::content::ContentId;

/// How often the file is checked for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// The CIDs denied. Cheap to clone (one shared set, swapped whole on a
/// reload).
#[derive(Clone, Default)]
pub struct Denylist {
    denied: Arc<RwLock<Arc<HashSet<ContentId>>>>,
}

/// What identifies one version of the file.
type Stamp = (Option<SystemTime>, u64);

fn stamp_of(meta: &std::fs::Metadata) -> Stamp {
    (meta.modified().ok(), meta.len())
}

/// The CIDs of a denylist file's text; the lines that are not CIDs
/// (1-based numbers) apart.
pub fn parse(text: &str) -> (HashSet<ContentId>, Vec<usize>) {
    let mut denied = HashSet::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let line = line.strip_prefix("/cid/").unwrap_or(line);
        match ContentId::parse(line) {
            Ok(cid) => {
                denied.insert(cid);
            }
            Err(_) => bad.push(n + 1),
        }
    }
    (denied, bad)
}

impl Denylist {
    /// A list denying nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The list in `path`, read now, and kept up to date by a task that
    /// rereads it when it changes.
    pub fn watch(path: PathBuf) -> std::io::Result<Self> {
        let list = Self::default();
        let stamp = list.load(&path)?;
        let watched = list.clone();
        tokio::spawn(async move {
            let mut stamp = stamp;
            loop {
                tokio::time::sleep(RELOAD_EVERY).await;
                let now = match std::fs::metadata(&path) {
                    Ok(meta) => stamp_of(&meta),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read the denylist; the last one read stays in force");
                        continue;
                    }
                };
                if now == stamp {
                    continue;
                }
                match watched.load(&path) {
                    Ok(read) => stamp = read,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read the denylist; the last one read stays in force")
                    }
                }
            }
        });
        Ok(list)
    }

    /// Reads `path` into the list; the stamp of what was read.
    fn load(&self, path: &std::path::Path) -> std::io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        let text = std::fs::read_to_string(path)?;
        let (denied, bad) = parse(&text);
        if !bad.is_empty() {
            tracing::warn!(path = %path.display(), lines = ?bad, "denylist lines that are not CIDs skipped");
        }
        tracing::info!(path = %path.display(), cids = denied.len(), "denylist loaded");
        *self.denied.write().expect("not poisoned") = Arc::new(denied);
        Ok(stamp_of(&meta))
    }

    /// Whether `cid` is denied here.
    pub fn denies(&self, cid: &ContentId) -> bool {
        self.denied.read().expect("not poisoned").contains(cid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(data: &[u8]) -> ContentId {
        ContentId::from_hash(*blake3::hash(data).as_bytes())
    }

    #[test]
    fn lines_are_cids_comments_and_blanks() {
        let (a, b) = (cid(b"a"), cid(b"b"));
        let text =
            format!("# denied by the operator\n{a}\n\n  /cid/{b}  # with a path\nnot a cid\n");
        let (denied, bad) = parse(&text);
        assert!(denied.contains(&a) && denied.contains(&b));
        assert_eq!(denied.len(), 2);
        assert_eq!(bad, vec![5]);
    }

    #[tokio::test]
    async fn a_changed_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deny.txt");
        let (a, b) = (cid(b"a"), cid(b"b"));
        std::fs::write(&path, format!("{a}\n")).unwrap();
        let list = Denylist::watch(path.clone()).unwrap();
        assert!(list.denies(&a) && !list.denies(&b));
        std::fs::write(&path, format!("{b}\n# a is allowed again\n")).unwrap();
        let deadline = std::time::Instant::now() + RELOAD_EVERY * 5;
        while list.denies(&a) {
            assert!(std::time::Instant::now() < deadline, "not reloaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(list.denies(&b));
        assert!(Denylist::watch(dir.path().join("missing")).is_err());
    }
}
