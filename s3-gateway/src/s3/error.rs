//! How the gateway's errors become S3 errors: one `From` conversion per
//! error kind, so handlers use `?` and the mapping lives in one place.
//! S3's error type is the one error type of the S3 API.

use s3s::{S3Error, S3ErrorCode, s3_error};

use crate::data::DataError;
use crate::meta::{ConditionFailed, MetaError};
use crate::s3::acl::AclError;
use crate::s3::checksum::{ChecksumError, Md5Error};
use crate::s3::conditional::WriteRefusal;
use crate::s3::copy_source::CopyRangeError;

/// An InternalError carrying `e`'s text.
pub(super) fn internal(e: impl std::fmt::Display) -> S3Error {
    S3Error::with_message(S3ErrorCode::InternalError, e.to_string())
}

impl From<MetaError> for S3Error {
    fn from(e: MetaError) -> Self {
        match &e {
            MetaError::NoSuchBucket => s3_error!(NoSuchBucket),
            MetaError::NoSuchUpload => s3_error!(NoSuchUpload),
            MetaError::BucketAlreadyExists => s3_error!(BucketAlreadyExists),
            MetaError::BucketAlreadyOwnedByYou => s3_error!(BucketAlreadyOwnedByYou),
            MetaError::BucketNotEmpty => s3_error!(BucketNotEmpty),
            // The reason stays in the log; AWS answers with this text only.
            MetaError::InvalidBucketName(why) => {
                tracing::debug!(%why, "invalid bucket name");
                S3Error::with_message(
                    S3ErrorCode::InvalidBucketName,
                    "The specified bucket is not valid.",
                )
            }
            // Clients retry a 503; the cause (database down, too many
            // conflicting writers) stays in the log.
            MetaError::Unavailable(_) | MetaError::Retry => {
                tracing::warn!(error = %e, "metadata store unavailable");
                S3Error::with_message(
                    S3ErrorCode::ServiceUnavailable,
                    "The metadata store is unavailable; please retry.",
                )
            }
            other => internal(other),
        }
    }
}

impl From<DataError> for S3Error {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Length { .. } | DataError::Body(_) => {
                S3Error::with_message(S3ErrorCode::IncompleteBody, e.to_string())
            }
            DataError::Placement(_)
            | DataError::Store(_)
            | DataError::Unavailable { .. }
            | DataError::Unstored { .. } => {
                S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string())
            }
            other => internal(other),
        }
    }
}

impl From<WriteRefusal> for S3Error {
    fn from(r: WriteRefusal) -> Self {
        match r {
            WriteRefusal::NotImplemented => S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "A header you provided implies functionality that is not implemented",
            ),
            WriteRefusal::PreconditionFailed => super::response::precondition_failed(),
            WriteRefusal::NoSuchKey => s3_error!(NoSuchKey),
        }
    }
}

impl From<ConditionFailed> for S3Error {
    fn from(r: ConditionFailed) -> Self {
        match r {
            ConditionFailed::PreconditionFailed => super::response::precondition_failed(),
            ConditionFailed::NoSuchKey => s3_error!(NoSuchKey),
            ConditionFailed::NoSuchUpload => s3_error!(NoSuchUpload),
        }
    }
}

impl From<AclError> for S3Error {
    fn from(e: AclError) -> Self {
        S3Error::with_message(e.code(), e.to_string())
    }
}

impl From<ChecksumError> for S3Error {
    fn from(e: ChecksumError) -> Self {
        S3Error::with_message(e.code(), e.to_string())
    }
}

impl From<Md5Error> for S3Error {
    fn from(e: Md5Error) -> Self {
        S3Error::with_message(e.code(), e.to_string())
    }
}

impl From<CopyRangeError> for S3Error {
    /// A malformed range is InvalidArgument (400); one past the source's
    /// end InvalidRange (416), as AWS answers.
    fn from(e: CopyRangeError) -> Self {
        let code = match e {
            CopyRangeError::Malformed => S3ErrorCode::InvalidArgument,
            CopyRangeError::OutOfBounds { .. } => S3ErrorCode::InvalidRange,
        };
        S3Error::with_message(code, e.to_string())
    }
}
