//! The on-disk shard store: shard bytes in files, an index in redb.
//!
//! Layout under the data directory:
//!
//! ```text
//! index.redb                      copy records, proof outboards, owners,
//!                                 usage counters, and the bytes of copies
//!                                 up to INLINE_MAX (redb)
//! tmp/<id>.<n>.part               in-flight writes; emptied on open
//! shards/<owner>/ab/cd/<id>       committed copies, <owner> = the owner's
//!                                 alias in 8 hex digits, <id> = 64 hex digits
//! ```
//!
//! Everything is stored per owner (the peer that put it): a *copy* is one
//! owner's shard, keyed by (shard id, owner). Two owners storing the same
//! bytes hold two independent copies, so nobody who learns a shard id can
//! block its owner's put, repair or delete by storing it first, and each
//! copy is deleted, renewed, proven and counted on its own. Reads by id
//! (`GetShard`) may be served from any owner's copy: the bytes are the same
//! and are checked against the id by the reader.
//!
//! A copy becomes visible only after its bytes were hashed to its id,
//! fsynced, renamed into place, the directory fsynced and the index entry
//! committed (a small copy's bytes are committed with its entry instead).
//! On open the store deletes every temp file and reconciles index and files
//! ([`ReconcileReport`]), so a crash at any point leaves either the whole
//! copy or nothing.
//!
//! Each copy carries a lease: the last time its owner stored or renewed it
//! (`touched`). [`Store::expire`] deletes copies whose owner let the lease
//! run out, so junk never lingers.
//!
//! Proof outboards live in redb, not in `.obao` files: they are small
//! (32 bytes per 16 KiB), are written in the same transaction as the index
//! entry (so a copy and its outboard appear and vanish together, and
//! reconciliation has one fewer kind of file to match), and a copy costs one
//! file, one rename and one directory fsync instead of two. Inline copies
//! keep no outboard: it is rebuilt from their bytes when needed.

mod capacity;
mod error;
mod index;
mod layout;
mod migrate;
mod owner;
mod pointers;
mod reader;
mod reconcile;
mod scrub;
mod usage;
mod writer;

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use proofs::{Challenge, Proof, ShardId};
use redb::{Database, ReadableDatabase, ReadableTable};

use self::capacity::Capacity;
use self::index::{Alias, Owners, Record};
use self::layout::{Layout, remove_file};
use self::usage::Accounts;

pub use self::capacity::Usage;
pub use self::error::StoreError;
pub use self::index::{INLINE_MAX, ShardInfo};
pub use self::owner::{MAX_OWNER_LEN, Owner};
pub use self::pointers::MAX_POINTERS;
pub use self::reader::{RangeReader, ShardReader};
pub use self::reconcile::ReconcileReport;
pub use self::scrub::{ScrubOutcome, ScrubReport};
pub use self::usage::Counters;
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
    /// Owner ids and their aliases (changed only under `commit_lock`).
    owners: RwLock<Owners>,
    /// Per-owner accounting counters.
    accounts: Mutex<Accounts>,
    /// Serialises changes that touch both files and index (installing,
    /// deleting, removing corrupt copies), so each pair stays consistent.
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

    pub(crate) fn owners(&self) -> RwLockReadGuard<'_, Owners> {
        self.owners.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn owners_mut(&self) -> RwLockWriteGuard<'_, Owners> {
        self.owners.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn accounts(&self) -> MutexGuard<'_, Accounts> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The owner an alias stands for.
    fn owner_of(&self, id: ShardId, alias: Alias) -> Result<Owner, StoreError> {
        self.owners()
            .name(alias)
            .cloned()
            .ok_or(StoreError::CorruptIndex {
                id,
                reason: "a copy's owner is unknown",
            })
    }
}

/// Usage figures of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// Committed copies.
    pub shards: u64,
    /// Bytes of committed copies.
    pub bytes_stored: u64,
    /// Bytes received by writes in flight.
    pub bytes_reserved: u64,
    /// The configured capacity.
    pub capacity: u64,
    /// What a new shard may still take: the capacity left, or the disk's real
    /// free space if that is less.
    pub free: u64,
    /// Free space the file system reports for the data directory.
    pub disk_free: u64,
}

/// What a node holds and did for one owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerAccount {
    /// Copies and bytes held now, and bytes being received.
    pub usage: Usage,
    /// Monotonic counters.
    pub counters: Counters,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, offering at most
    /// `capacity` bytes of shards.
    ///
    /// Creates the directories and the index, migrates a store written
    /// before copies were kept per owner, deletes leftover temp files and
    /// reconciles index and files; see [`Store::reconcile_report`].
    pub fn open(dir: impl AsRef<Path>, capacity: u64) -> Result<Self, StoreError> {
        let layout = Layout::new(dir.as_ref());
        layout.create_dirs()?;
        let db = index::open(&layout.index())?;
        migrate::migrate(&layout, &db)?;
        let owners = Owners::load(&db)?;
        let (report, kept) = reconcile::reconcile(&layout, &db)?;
        let kept: Vec<(Owner, u64)> = kept
            .into_iter()
            .map(|(alias, id, record)| {
                let owner = owners
                    .name(alias)
                    .cloned()
                    .ok_or(StoreError::CorruptIndex {
                        id,
                        reason: "a copy's owner is unknown",
                    })?;
                Ok((owner, record.len))
            })
            .collect::<Result<_, StoreError>>()?;
        let capacity = Capacity::new(
            capacity,
            layout.root(),
            kept.iter().map(|(owner, len)| (owner, *len)),
        );
        let accounts = Accounts::load(&db, &owners, now_unix())?;
        Ok(Self {
            inner: Arc::new(Inner {
                layout,
                db,
                capacity: Arc::new(capacity),
                owners: RwLock::new(owners),
                accounts: Mutex::new(accounts),
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

    /// Starts receiving `owner`'s copy of shard `id`, of `len` bytes;
    /// `owner` may hold at most `quota` bytes in all.
    ///
    /// Refuses before any byte is read if `len` would pass the owner's
    /// quota ([`StoreError::QuotaExceeded`]), the capacity
    /// ([`StoreError::CapacityExceeded`]) or the disk's free space
    /// ([`StoreError::DiskFull`]) as things stand; room is then reserved as
    /// the bytes arrive. If the owner already stores this shard the writer
    /// only verifies the bytes and commits as [`PutOutcome::AlreadyStored`],
    /// renewing the copy's lease.
    pub fn begin_put(
        &self,
        id: ShardId,
        len: u64,
        owner: Owner,
        quota: u64,
    ) -> Result<ShardWriter, StoreError> {
        let inner = Arc::clone(&self.inner);
        if self.info(&owner, &id)?.is_some() {
            return Ok(ShardWriter::verify_only(inner, id, len, owner));
        }
        let reservation = inner.capacity.admit(&owner, len, quota)?;
        if len <= index::INLINE_MAX {
            return Ok(ShardWriter::inline(inner, id, len, owner, reservation));
        }
        let seq = inner.temp_seq.fetch_add(1, Ordering::Relaxed);
        let path = inner.layout.tmp_path(&id, seq);
        ShardWriter::new(inner, id, len, owner, reservation, path)
    }

    /// Stores `owner`'s copy of shard `id`, of `len` bytes read from `data`
    /// (to its end), with no quota beyond the capacity.
    pub fn put(
        &self,
        id: ShardId,
        len: u64,
        owner: Owner,
        mut data: impl Read,
    ) -> Result<PutOutcome, StoreError> {
        let mut writer = self.begin_put(id, len, owner, u64::MAX)?;
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

    /// Whether any owner stores shard `id`.
    pub fn contains(&self, id: &ShardId) -> Result<bool, StoreError> {
        let txn = self.inner.db.begin_read()?;
        Ok(!index::copies_of(&txn, id)?.is_empty())
    }

    /// The record of `owner`'s copy of shard `id`, if stored.
    pub fn info(&self, owner: &Owner, id: &ShardId) -> Result<Option<ShardInfo>, StoreError> {
        let Some(alias) = self.inner.owners().alias(owner) else {
            return Ok(None);
        };
        let txn = self.inner.db.begin_read()?;
        Ok(index::get(&txn, id, alias)?.map(|r| r.info(*id, owner.clone())))
    }

    /// Every stored copy, or only those of `owner`, in id order.
    pub fn list(&self, owner: Option<&Owner>) -> Result<Vec<ShardInfo>, StoreError> {
        match owner {
            Some(owner) => {
                let mut out = Vec::new();
                let mut after = None;
                loop {
                    let (page, more) = self.list_page(owner, after, 10_000)?;
                    after = page.last().map(|info| info.id);
                    out.extend(page);
                    if !more {
                        return Ok(out);
                    }
                }
            }
            None => index::scan(&self.inner.db)?
                .into_iter()
                .map(|(alias, id, record)| Ok(record.info(id, self.inner.owner_of(id, alias)?)))
                .collect(),
        }
    }

    /// Up to `limit` of `owner`'s copies in id order, after `after`; and
    /// whether more follow.
    pub fn list_page(
        &self,
        owner: &Owner,
        after: Option<ShardId>,
        limit: usize,
    ) -> Result<(Vec<ShardInfo>, bool), StoreError> {
        let Some(alias) = self.inner.owners().alias(owner) else {
            return Ok((Vec::new(), false));
        };
        let (page, more) = index::page(&self.inner.db, alias, after, limit)?;
        let infos = page
            .into_iter()
            .map(|(id, record)| record.info(id, owner.clone()))
            .collect();
        Ok((infos, more))
    }

    /// Opens a stored copy of shard `id` for reading: any owner's.
    pub fn open_shard(&self, id: &ShardId) -> Result<ShardReader, StoreError> {
        self.open_copy(id, None).map(|(reader, _)| reader)
    }

    /// Opens a stored copy of shard `id` for reading, `prefer`'s own if it
    /// has one, else any owner's; returns the reader and the copy's owner.
    pub fn open_copy(
        &self,
        id: &ShardId,
        prefer: Option<&Owner>,
    ) -> Result<(ShardReader, Owner), StoreError> {
        let preferred = prefer.and_then(|owner| self.inner.owners().alias(owner));
        let txn = self.inner.db.begin_read()?;
        let copies = index::copies_of(&txn, id)?;
        let (alias, record) = copies
            .iter()
            .find(|(alias, _)| Some(*alias) == preferred)
            .or_else(|| copies.first())
            .copied()
            .ok_or(StoreError::NotFound(*id))?;
        let inline = index::inline_bytes(&txn, id, alias)?;
        let reader = self.reader(id, alias, &record, inline)?;
        Ok((reader, self.inner.owner_of(*id, alias)?))
    }

    /// A reader over a stored copy: its inline bytes if it has any, else
    /// its file.
    fn reader(
        &self,
        id: &ShardId,
        alias: Alias,
        record: &Record,
        inline: Option<Vec<u8>>,
    ) -> Result<ShardReader, StoreError> {
        match inline {
            Some(bytes) => ShardReader::inline(*id, record.len, bytes),
            None => ShardReader::open(*id, record.len, &self.inner.layout.shard_path(id, alias)),
        }
    }

    /// A [`Read`] over `len` bytes of a copy of shard `id` from `offset`.
    pub fn read_range(
        &self,
        id: &ShardId,
        offset: u64,
        len: u64,
    ) -> Result<RangeReader, StoreError> {
        self.open_shard(id)?.into_range(offset, len)
    }

    /// Answers a proof-of-storage challenge about `owner`'s own copy, from
    /// its file (or inline bytes) and its stored outboard, reading only the
    /// challenged 16 KiB groups. Another owner's copy of the same bytes
    /// does not count: each copy is proven on its own.
    pub fn prove(&self, challenge: &Challenge, owner: &Owner) -> Result<Proof, StoreError> {
        let id = challenge.shard_id();
        let alias = self
            .inner
            .owners()
            .alias(owner)
            .ok_or(StoreError::NotFound(id))?;
        let txn = self.inner.db.begin_read()?;
        let (record, outboard, inline) =
            index::get_with_outboard(&txn, &id, alias)?.ok_or(StoreError::NotFound(id))?;
        let shard = self.reader(&id, alias, &record, inline)?;
        Ok(proofs::prove(challenge, &shard, &outboard)?)
    }

    /// Deletes `requester`'s copy of shard `id`. The index entry goes
    /// first, then the file.
    pub fn delete(&self, id: &ShardId, requester: &Owner) -> Result<(), StoreError> {
        let mut results = self.delete_many(&[(*id, requester.clone())])?;
        results.pop().expect("one result per deletion")
    }

    /// Deletes several copies with one index transaction (group commit),
    /// each its requester's own; then their files. A requester without a
    /// copy gets [`StoreError::NotFound`] in the inner results; the outer
    /// error means the index commit failed and nothing was deleted.
    pub fn delete_many(
        &self,
        deletions: &[(ShardId, Owner)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let inner = &self.inner;
        let _guard = inner.lock_commits();
        let owners = inner.owners();
        let txn = inner.db.begin_write()?;
        let mut results = Vec::with_capacity(deletions.len());
        let mut removed = Vec::new();
        for (id, requester) in deletions {
            let Some(alias) = owners.alias(requester) else {
                results.push(Err(StoreError::NotFound(*id)));
                continue;
            };
            results.push(match index::remove(&txn, id, alias) {
                Ok(Some(record)) => {
                    removed.push((*id, alias, requester.clone(), record.len));
                    Ok(())
                }
                Ok(None) => Err(StoreError::NotFound(*id)),
                // This copy's record is unreadable: only this deletion fails.
                Err(refused @ StoreError::CorruptIndex { .. }) => Err(refused),
                Err(other) => return Err(other),
            });
        }
        txn.commit()?;
        drop(owners);
        self.forget(removed);
        Ok(results)
    }

    /// After the index commit that removed them: releases the copies'
    /// room and removes their files.
    fn forget(&self, removed: Vec<(ShardId, Alias, Owner, u64)>) {
        let inner = &self.inner;
        for (id, alias, owner, len) in removed {
            inner.capacity.release_committed(&owner, len);
            // The deletion is committed: a file that cannot be removed now
            // is an orphan, removed when the store is next opened.
            // (Nothing to remove for an inline copy.)
            if let Err(error) = remove_file(&inner.layout.shard_path(&id, alias)) {
                tracing::warn!(shard = %id, %error, "could not remove a deleted shard's file");
            }
            tracing::debug!(shard = %id, "deleted shard");
        }
    }

    /// Renews the leases of `owner`'s copies of `ids` (at `now`, unix
    /// seconds); returns the ids it has no copy of.
    pub fn renew(
        &self,
        owner: &Owner,
        ids: &[ShardId],
        now: u64,
    ) -> Result<Vec<ShardId>, StoreError> {
        let inner = &self.inner;
        let Some(alias) = inner.owners().alias(owner) else {
            return Ok(ids.to_vec());
        };
        let _guard = inner.lock_commits();
        let txn = inner.db.begin_write()?;
        let missing = index::update(&txn, alias, ids, |record| {
            record.touched = record.touched.max(now);
        })?;
        txn.commit()?;
        Ok(missing)
    }

    /// Deletes every copy whose lease started before `cutoff` (unix
    /// seconds): its owner has neither stored nor renewed it since. Returns
    /// the copies deleted.
    pub fn expire(&self, cutoff: u64) -> Result<Vec<(Owner, ShardId)>, StoreError> {
        let stale: Vec<(Alias, ShardId)> = index::scan(&self.inner.db)?
            .into_iter()
            .filter(|(_, _, record)| record.touched < cutoff)
            .map(|(alias, id, _)| (alias, id))
            .collect();
        let mut expired = Vec::new();
        for batch in stale.chunks(1000) {
            let inner = &self.inner;
            let _guard = inner.lock_commits();
            let txn = inner.db.begin_write()?;
            let mut removed = Vec::new();
            for &(alias, id) in batch {
                // Renewed or stored again since the scan: kept.
                let current = {
                    let table = txn.open_table(index::COPIES)?;
                    let value = table.get((id.0, alias))?;
                    value.map(|v| Record::decode(id, v.value())).transpose()?
                };
                if current.is_some_and(|r| r.touched < cutoff)
                    && let Some(record) = index::remove(&txn, &id, alias)?
                {
                    let owner = inner.owner_of(id, alias)?;
                    removed.push((id, alias, owner, record.len));
                }
            }
            txn.commit()?;
            expired.extend(removed.iter().map(|(id, _, owner, _)| (owner.clone(), *id)));
            self.forget(removed);
        }
        Ok(expired)
    }

    /// Re-hashes every copy of shard `id`. Intact: its `last_verified` is
    /// updated. Damaged: it is removed from the index and the disk, and
    /// reported. (With several owners' copies, the worst verdict.)
    pub fn scrub_one(&self, id: &ShardId) -> Result<ScrubOutcome, StoreError> {
        let copies = {
            let txn = self.inner.db.begin_read()?;
            index::copies_of(&txn, id)?
        };
        if copies.is_empty() {
            return Err(StoreError::NotFound(*id));
        }
        let mut outcome = ScrubOutcome::Intact;
        for (alias, _) in copies {
            match self.scrub_copy(id, alias)? {
                Some(ScrubOutcome::Intact) | None => {}
                Some(corrupt) => outcome = corrupt,
            }
        }
        Ok(outcome)
    }

    /// Checks one copy; `None` if it was deleted meanwhile.
    fn scrub_copy(&self, id: &ShardId, alias: Alias) -> Result<Option<ScrubOutcome>, StoreError> {
        let stored = {
            let txn = self.inner.db.begin_read()?;
            index::get_with_outboard(&txn, id, alias)?
        };
        let Some((record, outboard, inline)) = stored else {
            return Ok(None);
        };
        let path = self.inner.layout.shard_path(id, alias);
        let opened = self.reader(id, alias, &record, inline);
        match scrub::check(opened, &path, *id, record.len, &outboard)? {
            None => {
                self.set_verified(&[(alias, *id)], now_unix())?;
                Ok(Some(ScrubOutcome::Intact))
            }
            Some(reason) => {
                self.remove_corrupt(*id, alias, &reason)?;
                Ok(Some(ScrubOutcome::Corrupt { reason }))
            }
        }
    }

    /// Scrubs up to `limit` copies, those verified longest ago first.
    pub fn scrub(&self, limit: usize) -> Result<ScrubReport, StoreError> {
        let mut due = index::scan(&self.inner.db)?;
        due.sort_by_key(|(alias, id, record)| (record.last_verified, *id, *alias));
        due.truncate(limit);
        let mut report = ScrubReport::default();
        let mut intact = Vec::new();
        for (alias, id, _) in due {
            // Deleted since the scan: nothing to check.
            let stored = {
                let txn = self.inner.db.begin_read()?;
                index::get_with_outboard(&txn, &id, alias)?
            };
            let Some((record, outboard, inline)) = stored else {
                continue;
            };
            report.checked += 1;
            let path = self.inner.layout.shard_path(&id, alias);
            let opened = self.reader(&id, alias, &record, inline);
            match scrub::check(opened, &path, id, record.len, &outboard) {
                Err(error) => {
                    tracing::warn!(shard = %id, %error, "shard unreadable during scrub");
                    report.unreadable.push((id, error.to_string()));
                }
                Ok(None) => intact.push((alias, id)),
                Ok(Some(reason)) => {
                    if self.remove_corrupt(id, alias, &reason)? {
                        report.corrupt.push((id, reason));
                    }
                }
            }
        }
        report.intact = intact.len();
        self.set_verified(&intact, now_unix())?;
        Ok(report)
    }

    /// Records that the copies were verified intact at `now`.
    fn set_verified(&self, copies: &[(Alias, ShardId)], now: u64) -> Result<(), StoreError> {
        if copies.is_empty() {
            return Ok(());
        }
        let txn = self.inner.db.begin_write()?;
        for (alias, id) in copies {
            index::update(&txn, *alias, &[*id], |record| record.last_verified = now)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Drops a damaged copy from the index, then its file. Returns false if
    /// it had already been deleted.
    fn remove_corrupt(&self, id: ShardId, alias: Alias, reason: &str) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let _guard = inner.lock_commits();
        let txn = inner.db.begin_write()?;
        let Some(removed) = index::remove(&txn, &id, alias)? else {
            return Ok(false);
        };
        txn.commit()?;
        let owner = inner.owner_of(id, alias)?;
        inner.capacity.release_committed(&owner, removed.len);
        remove_file(&inner.layout.shard_path(&id, alias))?;
        tracing::warn!(shard = %id, reason, "corrupt shard removed");
        Ok(true)
    }

    /// Current usage.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let capacity = &self.inner.capacity;
        let usage = capacity.usage();
        let disk_free = capacity.disk_free()?;
        let left = capacity
            .limit()
            .saturating_sub(usage.bytes)
            .saturating_sub(usage.reserved);
        Ok(StoreStats {
            shards: usage.shards,
            bytes_stored: usage.bytes,
            bytes_reserved: usage.reserved,
            capacity: capacity.limit(),
            free: left.min(disk_free.saturating_sub(usage.reserved)),
            disk_free,
        })
    }

    /// What this node holds and did for `owner`.
    pub fn account(&self, owner: &Owner) -> OwnerAccount {
        OwnerAccount {
            usage: self.inner.capacity.owner_usage(owner),
            counters: self.inner.accounts().get(owner),
        }
    }

    /// Every owner holding, receiving or ever counted anything, with its
    /// account.
    pub fn accounts(&self) -> Vec<(Owner, OwnerAccount)> {
        let holdings = self.inner.capacity.owners();
        let accounts = self.inner.accounts();
        let mut out: std::collections::BTreeMap<Owner, OwnerAccount> = holdings
            .into_iter()
            .map(|(owner, usage)| {
                let counters = accounts.get(&owner);
                (owner, OwnerAccount { usage, counters })
            })
            .collect();
        for (owner, counters) in accounts.all() {
            out.entry(owner).or_default().counters = counters;
        }
        out.into_iter().collect()
    }

    /// Counts `n` bytes served from `owner`'s copy.
    pub fn record_served(&self, owner: &Owner, n: u64) {
        self.inner.accounts().served(owner, n);
    }

    /// Counts `n` bytes received for `owner`.
    pub fn record_received(&self, owner: &Owner, n: u64) {
        self.inner.accounts().received(owner, n);
    }

    /// Integrates every owner's holdings up to `now` (unix seconds) and
    /// writes the counters to the index.
    pub fn flush_usage(&self, now: u64) -> Result<(), StoreError> {
        let holdings: Vec<(Owner, u64, u64)> = self
            .inner
            .capacity
            .owners()
            .into_iter()
            .map(|(owner, usage)| (owner, usage.shards, usage.bytes))
            .collect();
        let inner = &self.inner;
        let _guard = inner.lock_commits();
        let mut accounts = inner.accounts();
        accounts.integrate(&holdings, now);
        let txn = inner.db.begin_write()?;
        let mut fresh = Vec::new();
        accounts.persist(&txn, &inner.owners(), &mut fresh)?;
        txn.commit()?;
        drop(accounts);
        inner.owners_mut().adopt(fresh);
        Ok(())
    }

    /// Unix seconds up to which holdings are integrated into the counters.
    pub fn usage_integrated_at(&self) -> u64 {
        self.inner.accounts().integrated_at()
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
