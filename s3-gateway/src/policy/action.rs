//! The policy action each S3 operation is checked as, as AWS documents
//! them ("Actions, resources, and condition keys for Amazon S3").

/// The `s3:` action operation `op` (s3s's operation name) needs; with
/// `version`, when it names one version by id (`?versionId=`, or a copy
/// source's, checked as GetObject): reading, deleting, and reading or
/// replacing the ACL or tags of a particular version are actions of their
/// own.
pub fn of_operation(op: &str, version: bool) -> String {
    let versioned = match op {
        // (A copy's own action is its destination's, s3:PutObject; its
        // source is checked apart, as s3:GetObject or
        // s3:GetObjectVersion.)
        "GetObject" | "HeadObject" => Some("GetObjectVersion"),
        "DeleteObject" | "DeleteObjects" => Some("DeleteObjectVersion"),
        "GetObjectAcl" => Some("GetObjectVersionAcl"),
        "PutObjectAcl" => Some("PutObjectVersionAcl"),
        "GetObjectTagging" => Some("GetObjectVersionTagging"),
        "PutObjectTagging" => Some("PutObjectVersionTagging"),
        "DeleteObjectTagging" => Some("DeleteObjectVersionTagging"),
        "GetObjectAttributes" => Some("GetObjectVersionAttributes"),
        _ => None,
    };
    if let Some(action) = versioned.filter(|_| version) {
        return format!("s3:{action}");
    }
    let action = match op {
        "HeadObject" => "GetObject",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "ListBuckets" => "ListAllMyBuckets",
        "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "PutObject",
        "DeleteObjects" => "DeleteObject",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "DeleteBucketTagging" => "PutBucketTagging",
        other => other,
    };
    format!("s3:{action}")
}

/// Whether operation `op` acts on an object (its resource is
/// `arn:aws:s3:::bucket/key`) rather than on the bucket.
pub fn on_object(op: &str) -> bool {
    matches!(
        op,
        "GetObject"
            | "HeadObject"
            | "PutObject"
            | "CopyObject"
            | "DeleteObject"
            | "DeleteObjects"
            | "GetObjectAcl"
            | "PutObjectAcl"
            | "GetObjectAttributes"
            | "CreateMultipartUpload"
            | "UploadPart"
            | "UploadPartCopy"
            | "CompleteMultipartUpload"
            | "AbortMultipartUpload"
            | "ListParts"
            | "GetObjectTagging"
            | "PutObjectTagging"
            | "DeleteObjectTagging"
            | "GetObjectRetention"
            | "PutObjectRetention"
            | "GetObjectLegalHold"
            | "PutObjectLegalHold"
            | "BypassGovernanceRetention"
    )
}

/// Every action name a policy may list (after `s3:`), so that a typo is
/// refused as MalformedPolicy rather than silently never matching.
pub const KNOWN: &[&str] = &[
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "GetBucketObjectLockConfiguration",
    "GetBucketTagging",
    "GetLifecycleConfiguration",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectVersionAcl",
    "GetObjectVersionTagging",
    "PutBucketObjectLockConfiguration",
    "PutBucketTagging",
    "PutLifecycleConfiguration",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "DeleteObjectVersionTagging",
    "CreateBucket",
    "DeleteBucket",
    "DeleteBucketPolicy",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketVersioning",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectTagging",
    "GetObjectVersion",
    "GetObjectVersionAttributes",
    "ListAllMyBuckets",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListMultipartUploadParts",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketVersioning",
    "PutObject",
    "PutObjectAcl",
    "PutObjectTagging",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_their_actions() {
        assert_eq!(of_operation("GetObject", false), "s3:GetObject");
        assert_eq!(of_operation("HeadObject", false), "s3:GetObject");
        assert_eq!(of_operation("ListObjectsV2", false), "s3:ListBucket");
        assert_eq!(of_operation("UploadPart", false), "s3:PutObject");
        assert_eq!(of_operation("DeleteObjects", false), "s3:DeleteObject");
        assert_eq!(of_operation("DeleteBucketCors", false), "s3:PutBucketCORS");
        // By version id.
        assert_eq!(of_operation("HeadObject", true), "s3:GetObjectVersion");
        assert_eq!(of_operation("DeleteObject", true), "s3:DeleteObjectVersion");
        assert_eq!(of_operation("PutObjectAcl", true), "s3:PutObjectVersionAcl");
        assert_eq!(
            of_operation("DeleteObjectTagging", true),
            "s3:DeleteObjectVersionTagging"
        );
        // A copy writes: `?versionId=` on it changes nothing.
        assert_eq!(of_operation("CopyObject", true), "s3:PutObject");
        assert_eq!(of_operation("UploadPartCopy", true), "s3:PutObject");
        // Operations on a version with no action of their own.
        assert_eq!(
            of_operation("PutObjectRetention", true),
            "s3:PutObjectRetention"
        );
        for op in [
            "GetObject",
            "DeleteObject",
            "GetObjectAttributes",
            "GetObjectTagging",
        ] {
            let action = of_operation(op, true);
            assert!(KNOWN.contains(&&action[3..]), "{action}");
        }
        assert!(on_object("HeadObject") && on_object("ListParts"));
        assert!(!on_object("ListObjectsV2") && !on_object("GetBucketAcl"));
        for op in ["GetObject", "ListObjects", "PutBucketCors", "ListBuckets"] {
            let action = of_operation(op, false);
            assert!(KNOWN.contains(&&action[3..]), "{action}");
        }
    }
}
