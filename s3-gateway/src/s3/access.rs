//! Who may do what: signed requests may do anything; anonymous (unsigned)
//! ones may only read buckets whose ACL is `public-read`. Requests that may
//! go ahead are then held to AWS's limits (`limits`).
//!
//! s3s verifies signatures first (a bad one never gets here) and hands this
//! check every request, with no credentials for an unsigned one. What the
//! AWS ACL model grants `AllUsers` with READ on a bucket is listing it
//! (ListObjects, ListObjectsV2, ListObjectVersions, ListMultipartUploads,
//! HeadBucket). Cairn has no object ACLs, so a public-read bucket also lets
//! everyone read its objects (GetObject, HeadObject), which AWS does with a
//! bucket policy granting `s3:GetObject` to `*`. Everything else, writes and
//! ACL reads included, answers AccessDenied (403) to anonymous requests, as
//! does any request about a bucket that is private or does not exist (so
//! anonymous clients cannot probe for bucket names).

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::meta::{BucketAcl, MetaStore};

/// The operations anonymous clients may perform on a public-read bucket.
const PUBLIC_READ_OPS: [&str; 7] = [
    "GetObject",
    "HeadObject",
    "HeadBucket",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListMultipartUploads",
];

/// Whether an anonymous request for operation `op` on a bucket with `acl`
/// is allowed.
pub fn anonymous_may(op: &str, acl: BucketAcl) -> bool {
    acl == BucketAcl::PublicRead && PUBLIC_READ_OPS.contains(&op)
}

/// The gateway's access check, over the bucket ACLs in the metadata store.
pub struct BucketAccess {
    meta: MetaStore,
}

impl BucketAccess {
    /// Checks against the ACLs in `meta`.
    pub fn new(meta: MetaStore) -> Self {
        Self { meta }
    }
}

fn access_denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}

#[async_trait::async_trait]
impl S3Access for BucketAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        self.allowed(cx).await?;
        // Only a request that may go ahead is held to the limits (an
        // anonymous write is AccessDenied, whatever it carries).
        crate::http::limits::check(cx.s3_op().name(), cx.s3_path(), cx.uri(), cx.headers())
    }
}

impl BucketAccess {
    /// Whether the request may do what it asks.
    async fn allowed(&self, cx: &S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some() {
            return Ok(());
        }
        let bucket = match cx.s3_path() {
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => bucket,
            S3Path::Root => return Err(access_denied()),
        };
        let op = cx.s3_op().name();
        // Only look the bucket up for operations that could be allowed.
        if !PUBLIC_READ_OPS.contains(&op) {
            return Err(access_denied());
        }
        let acl = self
            .meta
            .bucket_acl(bucket)
            .await
            .map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, e.to_string()))?;
        match acl {
            Some(acl) if anonymous_may(op, acl) => Ok(()),
            _ => Err(access_denied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_clients_only_read_public_buckets() {
        for op in PUBLIC_READ_OPS {
            assert!(anonymous_may(op, BucketAcl::PublicRead), "{op}");
            assert!(!anonymous_may(op, BucketAcl::Private), "{op}");
        }
        for op in [
            "PutObject",
            "DeleteObject",
            "DeleteObjects",
            "CopyObject",
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
            "AbortMultipartUpload",
            "CreateBucket",
            "DeleteBucket",
            "PutBucketAcl",
            "GetBucketAcl",
            "GetObjectAcl",
            "GetBucketLocation",
            "ListBuckets",
            "ListParts",
        ] {
            assert!(!anonymous_may(op, BucketAcl::PublicRead), "{op}");
        }
    }
}
