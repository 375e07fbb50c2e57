//! The on-disk shard store: shard bytes in files, an index in redb.
//!
//! Layout under the data directory:
//!
//! ```text
//! index.redb               shard records, proof outboards, and the bytes
//!                          of shards up to INLINE_MAX (redb)
//! tmp/<id>.<n>.part        in-flight writes; emptied on open
//! shards/ab/cd/<id>        committed shards, <id> = 64 lower-case hex digits
//! ```
//!
//! A shard becomes visible only after its bytes were hashed to its id,
//! fsynced, renamed into place, the directory fsynced and the index entry
//! committed (a small shard's bytes are committed with its entry instead).
//! On open the store deletes every temp file and reconciles index and files
//! ([`ReconcileReport`]), so a crash at any point leaves either the whole
//! shard or nothing.
//!
//! Proof outboards live in redb, not in `.obao` files: they are small
//! (32 bytes per 16 KiB), are written in the same transaction as the index
//! entry (so a shard and its outboard appear and vanish together, and
//! reconciliation has one fewer kind of file to match), and a shard costs one
//! file, one rename and one directory fsync instead of two. Inline shards
//! keep no outboard: it is rebuilt from their bytes when needed.

mod capacity;
mod error;
mod index;
mod layout;
mod owner;
mod reader;
mod reconcile;
mod scrub;
mod writer;

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use proofs::{Challenge, Proof, ShardId};
use redb::Database;

use self::capacity::Capacity;
use self::layout::{Layout, remove_file};

pub use self::error::StoreError;
pub use self::index::{INLINE_MAX, ShardInfo};
pub use self::owner::{MAX_OWNER_LEN, Owner};
pub use self::reader::{RangeReader, ShardReader};
pub use self::reconcile::ReconcileReport;
pub use self::scrub::{ScrubOutcome, ScrubReport};
pub use self::writer::{PutOutcome, ShardWriter};

/// Read size of [`Store::put`].
const PUT_BUFFER: usize = 256 * 1024;

/// A shard store on disk. Cheap to clone (a handle); safe to share between
/// threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The state shared by a store's handles and its writers.
pub(crate) struct Inner {
    layout: Layout,
    db: Database,
    capacity: Arc<Capacity>,
    /// Serialises changes that touch both files and index (installing,
    /// deleting, removing corrupt shards), so each pair stays consistent.
    commit_lock: Mutex<()>,
    /// Names temp files uniquely within this store's lifetime (tmp/ is
    /// emptied on open).
    temp_seq: AtomicU64,
    reconcile_report: ReconcileReport,
}

impl Inner {
    fn lock_commits(&self) -> MutexGuard<'_, ()> {
        self.commit_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Usage figures of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// Committed shards.
    pub shards: u64,
    /// Bytes of committed shards.
    pub bytes_stored: u64,
    /// Bytes reserved by writes in flight.
    pub bytes_reserved: u64,
    /// The configured capacity.
    pub capacity: u64,
    /// What a new shard may still take: the capacity left, or the disk's real
    /// free space if that is less.
    pub free: u64,
    /// Free space the file system reports for the data directory.
    pub disk_free: u64,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, offering at most
    /// `capacity` bytes of shards.
    ///
    /// Creates the directories and the index, deletes leftover temp files and
    /// reconciles index and files; see [`Store::reconcile_report`].
    pub fn open(dir: impl AsRef<Path>, capacity: u64) -> Result<Self, StoreError> {
        let layout = Layout::new(dir.as_ref());
        layout.create_dirs()?;
        let db = index::open(&layout.index())?;
        let (report, kept) = reconcile::reconcile(&layout, &db)?;
        let used = kept.iter().map(|info| info.len).sum();
        let capacity = Capacity::new(capacity, layout.root(), kept.len() as u64, used);
        Ok(Self {
            inner: Arc::new(Inner {
                layout,
                db,
                capacity: Arc::new(capacity),
                commit_lock: Mutex::new(()),
                temp_seq: AtomicU64::new(0),
                reconcile_report: report,
            }),
        })
    }

    /// What reconciliation found and cleaned when this store was opened.
    pub fn reconcile_report(&self) -> &ReconcileReport {
        &self.inner.reconcile_report
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.inner.layout.root()
    }

    /// Starts receiving shard `id` of `len` bytes for `owner`.
    ///
    /// Refuses before any byte touches disk if `len` would pass the capacity
    /// ([`StoreError::CapacityExceeded`]) or the disk's free space
    /// ([`StoreError::DiskFull`]). If the shard is already stored for this
    /// owner the writer only verifies the bytes and commits as
    /// [`PutOutcome::AlreadyStored`]; stored for another owner, it is
    /// [`StoreError::NotOwner`].
    pub fn begin_put(
        &self,
        id: ShardId,
        len: u64,
        owner: Owner,
    ) -> Result<ShardWriter, StoreError> {
        let inner = Arc::clone(&self.inner);
        if let Some(existing) = index::get(&inner.db, &id)? {
            // One owner per shard: another owner could otherwise be told
            // "stored" for bytes it can neither list nor delete.
            if existing.owner != owner {
                return Err(StoreError::NotOwner(id));
            }
            return Ok(ShardWriter::verify_only(inner, id, len, owner));
        }
        let reservation = inner.capacity.reserve(len)?;
        if len <= index::INLINE_MAX {
            return Ok(ShardWriter::inline(inner, id, len, owner, reservation));
        }
        let seq = inner.temp_seq.fetch_add(1, Ordering::Relaxed);
        let path = inner.layout.tmp_path(&id, seq);
        ShardWriter::new(inner, id, len, owner, reservation, path)
    }

    /// Stores shard `id` of `len` bytes read from `data` (to its end).
    pub fn put(
        &self,
        id: ShardId,
        len: u64,
        owner: Owner,
        mut data: impl Read,
    ) -> Result<PutOutcome, StoreError> {
        let mut writer = self.begin_put(id, len, owner)?;
        let mut buf = vec![0u8; PUT_BUFFER];
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(StoreError::Io {
                        op: "reading the shard to store",
                        path: self.dir().to_path_buf(),
                        source: e,
                    });
                }
            };
            writer.write(&buf[..n])?;
        }
        writer.commit()
    }

    /// Commits several writers with one index transaction (group commit).
    ///
    /// Per-writer failures (length, hash) are in the inner results; the outer
    /// error means the index commit failed and no new shard was kept.
    pub fn commit_many(
        &self,
        writers: Vec<ShardWriter>,
    ) -> Result<Vec<Result<PutOutcome, StoreError>>, StoreError> {
        writer::commit_batch(&self.inner, writers)
    }

    /// Whether shard `id` is stored.
    pub fn contains(&self, id: &ShardId) -> Result<bool, StoreError> {
        Ok(index::get(&self.inner.db, id)?.is_some())
    }

    /// The index record of shard `id`, if stored.
    pub fn info(&self, id: &ShardId) -> Result<Option<ShardInfo>, StoreError> {
        index::get(&self.inner.db, id)
    }

    /// Every stored shard, or only those of `owner`, in id order.
    pub fn list(&self, owner: Option<&Owner>) -> Result<Vec<ShardInfo>, StoreError> {
        index::scan(&self.inner.db, |info| {
            owner.is_none_or(|o| info.owner == *o)
        })
    }

    /// Opens a stored shard for reading.
    pub fn open_shard(&self, id: &ShardId) -> Result<ShardReader, StoreError> {
        let (info, inline) =
            index::get_with_inline(&self.inner.db, id)?.ok_or(StoreError::NotFound(*id))?;
        self.reader(&info, inline)
    }

    /// A reader over a stored shard: its inline bytes if it has any, else
    /// its file.
    fn reader(&self, info: &ShardInfo, inline: Option<Vec<u8>>) -> Result<ShardReader, StoreError> {
        match inline {
            Some(bytes) => ShardReader::inline(info.id, info.len, bytes),
            None => ShardReader::open(info.id, info.len, &self.inner.layout.shard_path(&info.id)),
        }
    }

    /// A [`Read`] over `len` bytes of shard `id` from `offset`.
    pub fn read_range(
        &self,
        id: &ShardId,
        offset: u64,
        len: u64,
    ) -> Result<RangeReader, StoreError> {
        self.open_shard(id)?.into_range(offset, len)
    }

    /// Answers a proof-of-storage challenge from the shard's file (or inline
    /// bytes) and its
    /// stored outboard, reading only the challenged 16 KiB groups.
    pub fn prove(&self, challenge: &Challenge) -> Result<Proof, StoreError> {
        let id = challenge.shard_id();
        let (info, outboard, inline) =
            index::get_with_outboard(&self.inner.db, &id)?.ok_or(StoreError::NotFound(id))?;
        let shard = self.reader(&info, inline)?;
        Ok(proofs::prove(challenge, &shard, &outboard)?)
    }

    /// Deletes shard `id` on behalf of `requester`, who must be the owner
    /// that stored it. The index entry goes first, then the file.
    pub fn delete(&self, id: &ShardId, requester: &Owner) -> Result<(), StoreError> {
        let mut results = self.delete_many(&[(*id, requester.clone())])?;
        results.pop().expect("one result per deletion")
    }

    /// Deletes several shards with one index transaction (group commit),
    /// each on behalf of its requester, who must be its owner; then their
    /// files. Per-shard refusals ([`StoreError::NotFound`],
    /// [`StoreError::NotOwner`]) are in the inner results; the outer error
    /// means the index commit failed and nothing was deleted.
    pub fn delete_many(
        &self,
        deletions: &[(ShardId, Owner)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let inner = &self.inner;
        let _guard = inner.lock_commits();
        let txn = inner.db.begin_write()?;
        let mut results = Vec::with_capacity(deletions.len());
        let mut removed = Vec::new();
        for (id, requester) in deletions {
            results.push(match index::remove_owned_by(&txn, id, requester) {
                Ok(Ok(info)) => {
                    removed.push(info);
                    Ok(())
                }
                // Refused, or this shard's record is unreadable: only this
                // deletion fails.
                Ok(Err(refused)) | Err(refused @ StoreError::CorruptIndex { .. }) => Err(refused),
                Err(other) => return Err(other),
            });
        }
        txn.commit()?;
        for info in removed {
            inner.capacity.release_committed(info.len);
            // The deletion is committed: a file that cannot be removed now
            // is an orphan, removed when the store is next opened.
            // (Nothing to remove for an inline shard.)
            if let Err(error) = remove_file(&inner.layout.shard_path(&info.id)) {
                tracing::warn!(shard = %info.id, %error, "could not remove a deleted shard's file");
            }
            tracing::debug!(shard = %info.id, "deleted shard");
        }
        Ok(results)
    }

    /// Re-hashes shard `id`. Intact: its `last_verified` is updated. Damaged:
    /// it is removed from the index and the disk, and reported.
    pub fn scrub_one(&self, id: &ShardId) -> Result<ScrubOutcome, StoreError> {
        let (info, outboard, inline) =
            index::get_with_outboard(&self.inner.db, id)?.ok_or(StoreError::NotFound(*id))?;
        let path = self.inner.layout.shard_path(id);
        match scrub::check(self.reader(&info, inline), &path, &info, &outboard)? {
            None => {
                index::set_verified(&self.inner.db, &[*id], now_unix())?;
                Ok(ScrubOutcome::Intact)
            }
            Some(reason) => {
                self.remove_corrupt(&info, &reason)?;
                Ok(ScrubOutcome::Corrupt { reason })
            }
        }
    }

    /// Scrubs up to `limit` shards, those verified longest ago first.
    pub fn scrub(&self, limit: usize) -> Result<ScrubReport, StoreError> {
        let mut due = index::scan(&self.inner.db, |_| true)?;
        due.sort_by_key(|info| (info.last_verified, info.id));
        due.truncate(limit);
        let mut report = ScrubReport::default();
        let mut intact = Vec::new();
        for info in due {
            // Deleted since the scan: nothing to check.
            let Some((info, outboard, inline)) =
                index::get_with_outboard(&self.inner.db, &info.id)?
            else {
                continue;
            };
            report.checked += 1;
            let path = self.inner.layout.shard_path(&info.id);
            match scrub::check(self.reader(&info, inline), &path, &info, &outboard) {
                Err(error) => {
                    tracing::warn!(shard = %info.id, %error, "shard unreadable during scrub");
                    report.unreadable.push((info.id, error.to_string()));
                }
                Ok(None) => intact.push(info.id),
                Ok(Some(reason)) => {
                    if self.remove_corrupt(&info, &reason)? {
                        report.corrupt.push((info.id, reason));
                    }
                }
            }
        }
        report.intact = intact.len();
        index::set_verified(&self.inner.db, &intact, now_unix())?;
        Ok(report)
    }

    /// Drops a damaged shard from the index, then its file. Returns false if
    /// it had already been deleted.
    fn remove_corrupt(&self, info: &ShardInfo, reason: &str) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let _guard = inner.lock_commits();
        let txn = inner.db.begin_write()?;
        let Some(removed) = index::remove(&txn, &info.id)? else {
            return Ok(false);
        };
        txn.commit()?;
        inner.capacity.release_committed(removed.len);
        remove_file(&inner.layout.shard_path(&info.id))?;
        tracing::warn!(shard = %info.id, reason, "corrupt shard removed");
        Ok(true)
    }

    /// Current usage.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let capacity = &self.inner.capacity;
        let usage = capacity.usage();
        let disk_free = capacity.disk_free()?;
        let left = capacity
            .limit()
            .saturating_sub(usage.used)
            .saturating_sub(usage.reserved);
        Ok(StoreStats {
            shards: usage.count,
            bytes_stored: usage.used,
            bytes_reserved: usage.reserved,
            capacity: capacity.limit(),
            free: left.min(disk_free.saturating_sub(usage.reserved)),
            disk_free,
        })
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.layout.root())
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
