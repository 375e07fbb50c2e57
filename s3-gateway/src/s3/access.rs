//! Who may do what.
//!
//! Signed requests: every bucket has an owner, the key that created it,
//! which may do everything in it; other keys may do what the operator
//! granted them (`cairn gateway bucket allow`: read, write, owner; see
//! [`needed`] for which operations need which). ListBuckets shows a key
//! only the buckets it owns or has a grant in; CreateBucket is open to
//! every key the operator did not deny it (`cairn gateway key deny
//! --create-bucket`; a name taken by another key answers
//! BucketAlreadyExists); a
//! server-side copy also needs read in the source bucket. A bucket that
//! does not exist answers NoSuchBucket to signed requests, as AWS does
//! (its existence is no secret: CreateBucket of the same name would tell).
//!
//! Anonymous (unsigned) requests may only read buckets whose ACL is
//! `public-read`: what the AWS ACL model grants `AllUsers` with READ on a
//! bucket is listing it (ListObjects, ListObjectsV2, ListObjectVersions,
//! ListMultipartUploads, HeadBucket). Cairn has no object ACLs, so a
//! public-read bucket also lets everyone read its objects (GetObject,
//! HeadObject), which AWS does with a bucket policy granting
//! `s3:GetObject` to `*`. The same reads are open to every signed key
//! (AllUsers includes them). Everything else, writes and ACL reads
//! included, answers AccessDenied (403) to anonymous requests, as does any
//! request about a bucket that is private or does not exist (so anonymous
//! clients cannot probe for bucket names).
//!
//! Requests that may go ahead are then held to AWS's limits (`limits`).

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::meta::{BucketAcl, BucketPerms, MetaStore};

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

/// What a key needs in a bucket to perform operation `op` on it or its
/// objects: reads (Get, Head, List) need read, except reading ACLs and
/// policies, which needs owner, as does every other bucket-level change
/// (DeleteBucket, Put/Delete of a bucket's ACL or settings) and changing an
/// object's ACL; everything else (object writes, deletes, multipart
/// uploads) needs write.
pub fn needed(op: &str) -> BucketPerms {
    let read = op.starts_with("Get") || op.starts_with("Head") || op.starts_with("List");
    let governs = op.ends_with("Acl") || op.contains("Policy");
    let bucket_change =
        (op.starts_with("Put") || op.starts_with("Delete")) && op.contains("Bucket");
    if governs || bucket_change {
        BucketPerms {
            owner: true,
            ..Default::default()
        }
    } else if read {
        BucketPerms {
            read: true,
            ..Default::default()
        }
    } else {
        BucketPerms {
            write: true,
            ..Default::default()
        }
    }
}

/// Whether `held` covers every permission of `need`.
fn covers(held: BucketPerms, need: BucketPerms) -> bool {
    need.minus(held).is_none()
}

/// The gateway's access check, over the buckets in the metadata store.
pub struct BucketAccess {
    meta: MetaStore,
}

impl BucketAccess {
    /// Checks against the owners, ACLs and grants in `meta`.
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
        let op = cx.s3_op().name();
        let bucket = match cx.s3_path() {
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => bucket,
            // ListBuckets: a signed key sees its own (the handler filters).
            S3Path::Root if cx.credentials().is_some() => return Ok(()),
            S3Path::Root => return Err(access_denied()),
        };
        let Some(credentials) = cx.credentials() else {
            // Only look the bucket up for operations that could be allowed.
            if !PUBLIC_READ_OPS.contains(&op) {
                return Err(access_denied());
            }
            // Read from the store, not the cache: a bucket made private
            // through another gateway sharing the store is closed to
            // anonymous clients here at once.
            return match self.meta.bucket_acl(bucket).await? {
                Some(acl) if anonymous_may(op, acl) => Ok(()),
                _ => Err(access_denied()),
            };
        };
        let key = credentials.access_key.as_str();
        if op == "CreateBucket" {
            return if self.meta.key_may_create_buckets(key).await? {
                Ok(())
            } else {
                Err(access_denied())
            };
        }
        self.may(key, bucket, op).await?;
        let header = |name: &str| cx.headers().get(name).and_then(|v| v.to_str().ok());
        self.owned_by(bucket, header("x-amz-expected-bucket-owner"))
            .await?;
        if matches!(op, "CopyObject" | "UploadPartCopy") {
            let source = header("x-amz-copy-source").and_then(source_bucket);
            if let Some(source) = source {
                self.may(key, &source, "GetObject").await?;
                self.owned_by(&source, header("x-amz-source-expected-bucket-owner"))
                    .await?;
            }
        }
        Ok(())
    }

    /// `x-amz-expected-bucket-owner` (and its copy-source twin): when
    /// given, the bucket must belong to that owner (the canonical id Cairn
    /// reports: the owning key's id), else AccessDenied, as on AWS. A
    /// missing bucket is left to the handler.
    async fn owned_by(&self, bucket: &str, expected: Option<&str>) -> S3Result<()> {
        let Some(expected) = expected else {
            return Ok(());
        };
        match self.meta.bucket_access(bucket).await? {
            Some(info) if info.owner != expected => Err(access_denied()),
            _ => Ok(()),
        }
    }

    /// Whether key `key` may perform `op` in `bucket`; a missing bucket
    /// is left to the handler (NoSuchBucket).
    async fn may(&self, key: &str, bucket: &str, op: &str) -> S3Result<()> {
        let Some(info) = self.meta.bucket_access(bucket).await? else {
            return Ok(());
        };
        let mut held = info.perms_of(key);
        if anonymous_may(op, info.acl) {
            held = held.union(BucketPerms {
                read: true,
                ..Default::default()
            });
        }
        if covers(held, needed(op)) {
            Ok(())
        } else {
            Err(access_denied())
        }
    }
}

/// The bucket of an `x-amz-copy-source` value, parsed as the copy
/// handlers parse it; `None` if it names none (the handler refuses it).
fn source_bucket(header: &str) -> Option<String> {
    match s3s::dto::CopySource::parse(header) {
        Ok(s3s::dto::CopySource::Bucket { bucket, .. }) => Some(bucket.into()),
        _ => None,
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

    #[test]
    fn reads_need_read_changes_need_write_and_governing_needs_owner() {
        let need = |op| needed(op).describe();
        for op in [
            "GetObject",
            "HeadObject",
            "HeadBucket",
            "ListObjectsV2",
            "ListParts",
        ] {
            assert_eq!(need(op), "read", "{op}");
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
        ] {
            assert_eq!(need(op), "write", "{op}");
        }
        for op in [
            "DeleteBucket",
            "PutBucketAcl",
            "GetBucketAcl",
            "GetObjectAcl",
            "PutObjectAcl",
            "PutBucketPolicy",
            "GetBucketPolicy",
            "PutBucketVersioning",
        ] {
            assert_eq!(need(op), "owner", "{op}");
        }
    }

    #[test]
    fn the_copy_source_names_its_bucket() {
        assert_eq!(source_bucket("src/a/b.txt").as_deref(), Some("src"));
        assert_eq!(source_bucket("/src/k?versionId=1").as_deref(), Some("src"));
        assert_eq!(source_bucket("%73rc/k").as_deref(), Some("src"));
        assert_eq!(source_bucket("no-key"), None);
    }
}
