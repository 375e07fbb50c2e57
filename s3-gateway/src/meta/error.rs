//! Typed errors of the metadata store.

/// Everything that can go wrong in the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The bucket does not exist.
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    /// The bucket exists and belongs to another owner.
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists,
    /// The bucket exists and already belongs to the caller.
    #[error("the bucket already exists and is owned by you")]
    BucketAlreadyOwnedByYou,
    /// The bucket still holds objects or in-progress multipart uploads.
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    /// The bucket name breaks the AWS naming rules; the text says which.
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    /// The multipart upload does not exist (never did, aborted or completed).
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    /// The database file could not be created or its mode set.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The redb database failed.
    #[error("metadata database: {0}")]
    Db(#[from] redb::Error),
    /// A batched commit failed (the message is the underlying error's).
    #[error("metadata commit: {0}")]
    Batch(String),
    /// The database holds a record this build cannot read.
    #[error("corrupt metadata record: {0}")]
    Corrupt(String),
    /// The database cannot be reached (connection refused or lost, pool
    /// exhausted): requests fail with 503 until it is back.
    #[error("metadata database unavailable: {0}")]
    Unavailable(String),
    /// The SQL database refused or failed a statement.
    #[error("metadata database: {0}")]
    Sql(String),
    /// A serializable transaction lost a conflict (SQLSTATE 40001) and
    /// should be run again.
    #[error("metadata transaction conflict; retry")]
    Retry,
}

macro_rules! from_redb {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for MetaError {
            fn from(e: redb::$t) -> Self {
                MetaError::Db(e.into())
            }
        }
    )*};
}

from_redb!(
    DatabaseError,
    TransactionError,
    TableError,
    StorageError,
    CommitError
);
