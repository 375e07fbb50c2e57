//! Typed errors of the shard store.

use std::io;
use std::path::{Path, PathBuf};

use proofs::ShardId;

/// Everything that can go wrong in the shard store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("creating", "renaming", ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The redb index failed.
    #[error("index database: {0}")]
    Index(#[from] redb::Error),
    /// The index holds a record this build cannot read.
    #[error("corrupt index record for {id}: {reason}")]
    CorruptIndex {
        /// The shard whose record is unreadable.
        id: ShardId,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Storing the shard would take the store past its configured capacity.
    #[error(
        "capacity exceeded: {requested} bytes requested, {used} stored + {reserved} in flight of {capacity}"
    )]
    CapacityExceeded {
        /// Length of the refused shard.
        requested: u64,
        /// Bytes of committed shards.
        used: u64,
        /// Bytes reserved by writes in flight.
        reserved: u64,
        /// The configured capacity.
        capacity: u64,
    },
    /// Storing the shard would take its owner past the owner's quota.
    #[error(
        "owner quota exceeded: {requested} bytes requested, the owner stores {used} + {reserved} in flight of its {quota}"
    )]
    QuotaExceeded {
        /// Length of the refused shard (or of the refused bytes).
        requested: u64,
        /// Bytes the owner's committed copies take.
        used: u64,
        /// Bytes the owner's writes in flight have received.
        reserved: u64,
        /// The owner's quota.
        quota: u64,
    },
    /// The disk holding the store has not enough real free space.
    #[error("disk full: {requested} bytes requested, {available} available on disk")]
    DiskFull {
        /// Length of the refused shard (plus what writes in flight still need).
        requested: u64,
        /// Free bytes the file system reports for unprivileged users.
        available: u64,
    },
    /// More bytes arrived than the length declared for the shard.
    #[error("more than the declared {expected} bytes for shard {id}")]
    TooManyBytes {
        /// The shard being written.
        id: ShardId,
        /// The declared length.
        expected: u64,
    },
    /// The shard ended with another length than declared.
    #[error("shard {id}: declared {expected} bytes, received {got}")]
    LengthMismatch {
        /// The shard being written.
        id: ShardId,
        /// The declared length.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The bytes do not hash to the shard id.
    #[error("the bytes hash to {actual}, not to the shard id {expected}")]
    HashMismatch {
        /// The id the shard was announced under.
        expected: ShardId,
        /// The blake3 hash of the bytes received.
        actual: ShardId,
    },
    /// The writer failed earlier (or was aborted) and its bytes are gone.
    #[error("the write of shard {0} already failed and was discarded")]
    WriterFailed(ShardId),
    /// No such shard in the store.
    #[error("shard {0} not found")]
    NotFound(ShardId),
    /// The node keeps as many owners' pointer records as it will.
    #[error("this node keeps pointer records for at most {0} owners")]
    TooManyPointers(u64),
    /// An owner id that is empty or too long.
    #[error("invalid owner: {0}")]
    InvalidOwner(&'static str),
    /// A read past the end of a shard.
    #[error("range {offset}+{len} is outside the {shard_len}-byte shard")]
    RangeOutOfBounds {
        /// Start of the requested range.
        offset: u64,
        /// Length of the requested range.
        len: u64,
        /// Length of the shard.
        shard_len: u64,
    },
    /// The shard file no longer matches its index entry.
    #[error("shard {id} is damaged on disk: {reason}")]
    Corrupt {
        /// The damaged shard.
        id: ShardId,
        /// What was found.
        reason: String,
    },
    /// A challenge could not be answered.
    #[error("answering a challenge: {0}")]
    Prove(#[from] proofs::ProveError),
}

macro_rules! from_redb {
    ($($ty:ty),*) => {$(
        impl From<$ty> for StoreError {
            fn from(error: $ty) -> Self {
                Self::Index(error.into())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Attaches what was done and to which path to an I/O error.
pub(crate) trait IoContext<T> {
    /// Wraps the error as [`StoreError::Io`].
    fn at(self, op: &'static str, path: &Path) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
