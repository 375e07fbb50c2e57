//! Receiving a shard: admit, stream to a temp file while hashing (reserving
//! room as the bytes arrive), then verify, fsync, rename into place, fsync
//! the directory and only then index.
//! Small shards (up to [`INLINE_MAX`](super::index::INLINE_MAX)) are
//! buffered in memory instead and committed into the index itself, in the
//! same transaction as their record.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use proofs::{Outboard, OutboardBuilder, ShardId};
use redb::WriteTransaction;

use super::Inner;
use super::capacity::Reservation;
use super::error::{IoContext, StoreError};
use super::index::{self, Record};
use super::layout::{ensure_dir, remove_file, sync_dir};
use super::now_unix;
use super::owner::Owner;

/// Buffer between the network's small pieces and the temp file.
const WRITE_BUFFER: usize = 256 * 1024;

/// How a put ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The shard was verified, written and indexed.
    Stored,
    /// The owner already stored this shard; the new bytes were verified and
    /// dropped, and the stored copy's lease was renewed.
    AlreadyStored,
}

/// An in-flight temp file; removed (and its reservation released) on drop
/// unless it was installed.
struct TempFile {
    file: BufWriter<File>,
    /// `None` once renamed into place.
    path: Option<PathBuf>,
    /// Taken when the shard commits.
    reservation: Option<Reservation>,
}

impl TempFile {
    fn path(&self) -> &std::path::Path {
        self.path.as_deref().expect("temp file not yet installed")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = &self.path
            && let Err(error) = remove_file(path)
        {
            tracing::warn!(%error, "could not remove an abandoned temp file");
        }
    }
}

/// The bytes of a small shard on their way into the index, and the room
/// reserved for them (released on drop unless committed).
struct Inline {
    bytes: Vec<u8>,
    reservation: Option<Reservation>,
}

/// An incremental shard write, for bytes that arrive in pieces.
///
/// Created by [`Store::begin_put`](super::Store::begin_put) once the write
/// was admitted. Feed it with [`ShardWriter::write`] (or through
/// [`std::io::Write`]), which reserves room for the bytes as they come,
/// then [`ShardWriter::commit`]. Dropping it without committing aborts: the
/// temp file is deleted and the room released. Any error (too many bytes,
/// no room left, an I/O failure) discards the write at once.
pub struct ShardWriter {
    inner: Arc<Inner>,
    id: ShardId,
    len: u64,
    owner: Owner,
    /// Hashes the bytes as they arrive: the id and the outboard in one pass.
    hasher: OutboardBuilder,
    written: u64,
    state: State,
}

enum State {
    /// Receiving into a temp file.
    Writing(TempFile),
    /// Receiving a small shard into memory, to be stored inline.
    Buffering(Inline),
    /// The shard is already stored: hash only, write nothing.
    VerifyOnly,
    /// The write failed and was discarded.
    Failed,
}

impl ShardWriter {
    /// A writer that stores into a new temp file.
    pub(crate) fn new(
        inner: Arc<Inner>,
        id: ShardId,
        len: u64,
        owner: Owner,
        reservation: Reservation,
        path: PathBuf,
    ) -> Result<Self, StoreError> {
        let file = File::create_new(&path).at("creating", &path)?;
        let temp = TempFile {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            path: Some(path),
            reservation: Some(reservation),
        };
        Ok(Self::with_state(
            inner,
            id,
            len,
            owner,
            State::Writing(temp),
        ))
    }

    /// A writer that buffers a small shard, to be stored inline.
    pub(crate) fn inline(
        inner: Arc<Inner>,
        id: ShardId,
        len: u64,
        owner: Owner,
        reservation: Reservation,
    ) -> Self {
        let inline = Inline {
            bytes: Vec::with_capacity(len as usize),
            reservation: Some(reservation),
        };
        Self::with_state(inner, id, len, owner, State::Buffering(inline))
    }

    /// A writer for a shard that is already stored: it only verifies.
    pub(crate) fn verify_only(inner: Arc<Inner>, id: ShardId, len: u64, owner: Owner) -> Self {
        Self::with_state(inner, id, len, owner, State::VerifyOnly)
    }

    fn with_state(inner: Arc<Inner>, id: ShardId, len: u64, owner: Owner, state: State) -> Self {
        Self {
            inner,
            id,
            len,
            owner,
            hasher: Outboard::builder(),
            written: 0,
            state,
        }
    }

    /// The shard being written.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// The declared length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the declared length is zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes received so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends the next bytes. More than the declared length in total is
    /// refused with [`StoreError::TooManyBytes`] and discards the write.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if matches!(self.state, State::Failed) {
            return Err(StoreError::WriterFailed(self.id));
        }
        if self.len - self.written < bytes.len() as u64 {
            self.state = State::Failed;
            return Err(StoreError::TooManyBytes {
                id: self.id,
                expected: self.len,
            });
        }
        let reservation = match &mut self.state {
            State::Writing(temp) => temp.reservation.as_mut(),
            State::Buffering(inline) => inline.reservation.as_mut(),
            State::VerifyOnly | State::Failed => None,
        };
        if let Some(reservation) = reservation
            && let Err(error) = reservation.grow(bytes.len() as u64)
        {
            self.state = State::Failed;
            return Err(error);
        }
        match &mut self.state {
            State::Writing(temp) => {
                if let Err(error) = temp.file.write_all(bytes) {
                    let path = temp.path().to_path_buf();
                    self.state = State::Failed;
                    return Err(error).at("writing", &path);
                }
            }
            State::Buffering(inline) => inline.bytes.extend_from_slice(bytes),
            State::VerifyOnly | State::Failed => {}
        }
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Verifies length and hash, makes the file durable, moves it into place
    /// and indexes it. On any mismatch nothing is kept.
    pub fn commit(self) -> Result<PutOutcome, StoreError> {
        let inner = Arc::clone(&self.inner);
        let mut results = commit_batch(&inner, vec![self])?;
        results.pop().expect("one result per writer")
    }

    /// Checks length and hash; for a new shard in a file, flushes and
    /// fsyncs it.
    fn finish(self) -> Result<Finished, StoreError> {
        let body = match self.state {
            State::Failed => return Err(StoreError::WriterFailed(self.id)),
            State::Writing(temp) => Some(Body::File(temp)),
            State::Buffering(inline) => Some(Body::Inline(inline)),
            State::VerifyOnly => None,
        };
        if self.written != self.len {
            return Err(StoreError::LengthMismatch {
                id: self.id,
                expected: self.len,
                got: self.written,
            });
        }
        let (outboard, actual) = self.hasher.finalize();
        if actual != self.id {
            return Err(StoreError::HashMismatch {
                expected: self.id,
                actual,
            });
        }
        let Some(mut body) = body else {
            return Ok(Finished::Duplicate(self.id, self.owner));
        };
        if let Body::File(temp) = &mut body {
            temp.file.flush().at("writing", temp.path())?;
            temp.file.get_ref().sync_all().at("syncing", temp.path())?;
        }
        Ok(Finished::Ready(Box::new(Prepared {
            id: self.id,
            len: self.len,
            owner: self.owner,
            outboard,
            body,
        })))
    }
}

impl std::fmt::Debug for ShardWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Writing(_) => "writing",
            State::Buffering(_) => "buffering",
            State::VerifyOnly => "verify-only",
            State::Failed => "failed",
        };
        f.debug_struct("ShardWriter")
            .field("id", &self.id)
            .field("len", &self.len)
            .field("owner", &self.owner)
            .field("written", &self.written)
            .field("state", &state)
            .finish()
    }
}

impl Write for ShardWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        ShardWriter::write(self, buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Finished {
    Ready(Box<Prepared>),
    /// Verified bytes of a copy the owner already stores.
    Duplicate(ShardId, Owner),
}

/// A verified shard waiting to be installed.
struct Prepared {
    id: ShardId,
    len: u64,
    owner: Owner,
    outboard: Outboard,
    body: Body,
}

/// Where a verified shard's bytes are.
enum Body {
    /// In a durable temp file, to be renamed into place.
    File(TempFile),
    /// In memory, to be stored in the index.
    Inline(Inline),
}

impl Body {
    fn reservation(&mut self) -> Option<Reservation> {
        match self {
            Body::File(temp) => temp.reservation.take(),
            Body::Inline(inline) => inline.reservation.take(),
        }
    }
}

/// Commits several writers with one index transaction (group commit): each
/// file is verified and fsynced, all are renamed into place, their
/// directories fsynced once each, then one redb commit indexes them all
/// (and holds the bytes of the inline ones, and renews the leases of copies
/// that were already stored).
///
/// The outer error means the index could not be committed, and none of the
/// new shards was kept; the inner results are per writer.
pub(crate) fn commit_batch(
    inner: &Inner,
    writers: Vec<ShardWriter>,
) -> Result<Vec<Result<PutOutcome, StoreError>>, StoreError> {
    let mut results: Vec<Option<Result<PutOutcome, StoreError>>> = Vec::new();
    let mut ready = Vec::new();
    for writer in writers {
        match writer.finish() {
            Ok(finished) => {
                ready.push((results.len(), finished));
                results.push(None);
            }
            Err(error) => results.push(Some(Err(error))),
        }
    }
    if !ready.is_empty() {
        install(inner, ready, &mut results)?;
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every writer has a result"))
        .collect())
}

/// A copy renamed into place (`Some` path) or staged inline (`None`)
/// whose index entry is not yet committed.
type Installed = (usize, Option<PathBuf>, Box<Prepared>);

/// Renames the prepared files into place and indexes them in one transaction.
/// If anything fails before the commit, the renamed files are removed again.
fn install(
    inner: &Inner,
    ready: Vec<(usize, Finished)>,
    results: &mut [Option<Result<PutOutcome, StoreError>>],
) -> Result<(), StoreError> {
    let _guard = inner.lock_commits();
    let txn = inner.db.begin_write()?;
    let mut installed = Vec::new();
    let mut dirs = BTreeSet::new();
    let mut fresh = Vec::new();
    let durable = stage(
        inner,
        &txn,
        ready,
        results,
        &mut installed,
        &mut dirs,
        &mut fresh,
    )
    .and_then(|()| dirs.iter().try_for_each(|dir| sync_dir(dir)))
    .and_then(|()| txn.commit().map_err(StoreError::from));
    if let Err(error) = durable {
        undo(&installed);
        return Err(error);
    }
    inner.owners_mut().adopt(fresh);
    for (slot, _, prepared) in installed {
        let Prepared {
            id, len, mut body, ..
        } = *prepared;
        if let Some(reservation) = body.reservation() {
            reservation.commit();
        }
        tracing::debug!(shard = %id, len, inline = matches!(body, Body::Inline(_)), "stored shard");
        results[slot] = Some(Ok(PutOutcome::Stored));
    }
    Ok(())
}

/// Renames each new copy into place and adds it to `txn`, and renews the
/// copies that were already stored; records what was renamed in
/// `installed`, which directories need an fsync in `dirs` and which owners
/// got an alias in `fresh`.
fn stage(
    inner: &Inner,
    txn: &WriteTransaction,
    ready: Vec<(usize, Finished)>,
    results: &mut [Option<Result<PutOutcome, StoreError>>],
    installed: &mut Vec<Installed>,
    dirs: &mut BTreeSet<PathBuf>,
    fresh: &mut Vec<(index::Alias, Owner)>,
) -> Result<(), StoreError> {
    let now = now_unix();
    let owners = inner.owners();
    let mut in_batch = BTreeSet::new();
    for (slot, finished) in ready {
        let mut prepared = match finished {
            Finished::Ready(prepared) => prepared,
            Finished::Duplicate(id, owner) => {
                // The stored copy may have been deleted while these bytes
                // were verified: only report it stored (and renew it) if it
                // still is.
                let renewed = match owners.alias(&owner) {
                    Some(alias) => {
                        index::update(txn, alias, &[id], |r| r.touched = now)?.is_empty()
                    }
                    None => false,
                };
                results[slot] = Some(if renewed {
                    Ok(PutOutcome::AlreadyStored)
                } else {
                    Err(StoreError::NotFound(id))
                });
                continue;
            }
        };
        let alias = owners.alias_in(txn, &prepared.owner, fresh)?;
        if !in_batch.insert((prepared.id, alias)) || index::contains_in(txn, &prepared.id, alias)? {
            // Dropping `prepared` removes its temp file.
            index::update(txn, alias, &[prepared.id], |r| r.touched = now)?;
            results[slot] = Some(Ok(PutOutcome::AlreadyStored));
            continue;
        }
        let target = match &mut prepared.body {
            Body::File(temp) => {
                let dir = inner.layout.shard_dir(&prepared.id, alias);
                let target = inner.layout.shard_path(&prepared.id, alias);
                if let Err(error) = ensure_dir(&dir).and_then(|()| {
                    std::fs::rename(temp.path(), &target).at("renaming into", &target)
                }) {
                    results[slot] = Some(Err(error));
                    continue;
                }
                temp.path = None;
                dirs.insert(dir);
                Some(target)
            }
            Body::Inline(_) => None,
        };
        let record = Record {
            len: prepared.len,
            created: now,
            last_verified: now,
            touched: now,
        };
        let outcome = match &prepared.body {
            Body::File(_) => {
                index::insert(txn, &prepared.id, alias, &record, Some(&prepared.outboard))
            }
            Body::Inline(inline) => index::insert(txn, &prepared.id, alias, &record, None)
                .and_then(|()| index::insert_inline(txn, &prepared.id, alias, &inline.bytes)),
        };
        installed.push((slot, target, prepared));
        outcome?;
    }
    Ok(())
}

/// Removes files renamed into place whose index entries did not commit.
fn undo(installed: &[Installed]) {
    for target in installed
        .iter()
        .filter_map(|(_, target, _)| target.as_ref())
    {
        if let Err(error) = remove_file(target) {
            tracing::warn!(%error, "could not remove an unindexed shard file");
        }
    }
}
