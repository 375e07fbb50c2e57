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
//! Anonymous (unsigned) requests may read buckets whose ACL is
//! `public-read`, and do what the bucket's policy allows everyone: what
//! the AWS ACL model grants `AllUsers` with READ on a
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
//! A bucket policy (`crate::policy`) adds to this and takes away from it:
//! an applying Deny refuses any request, the owner's included (except
//! reading, replacing and deleting the policy itself), and an applying
//! Allow lets through a request the key's grants or the ACL do not cover.
//! The bucket's public access block can ignore the public-read ACL,
//! refuse requests that would make the bucket public, and confine a
//! public policy to the owner and keys with a grant. See [`permitted`].
//!
//! Requests that may go ahead are then held to AWS's limits (`limits`).

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::http::conn::ClientInfo;
use crate::meta::object_acl::Permission;
use crate::meta::{BucketAccessInfo, BucketAcl, BucketPerms, MetaStore};
use crate::policy::{self, Decision, Policy};

use super::object_acl::ObjectAclDecides;

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
/// objects: reads (Get, Head, List) need read, except reading ACLs,
/// policies, public access blocks and CORS rules, which needs owner, as does every other bucket-level change
/// (DeleteBucket, Put/Delete of a bucket's ACL or settings) and changing an
/// object's ACL; everything else (object writes, deletes, multipart
/// uploads) needs write.
pub fn needed(op: &str) -> BucketPerms {
    let read = op.starts_with("Get") || op.starts_with("Head") || op.starts_with("List");
    let governs = op.ends_with("Acl")
        || op.contains("Policy")
        || op.contains("PublicAccessBlock")
        || op.contains("Cors")
        || op == "PutObjectLockConfiguration"
        || op == "BypassGovernanceRetention";
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
    async fn allowed(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let client = cx.extensions_mut().get::<ClientInfo>().copied();
        let op = cx.s3_op().name();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Bucket { bucket } => (bucket.as_ref(), None),
            S3Path::Object { bucket, key } => (bucket.as_ref(), Some(key.as_ref())),
            // ListBuckets: a signed key sees its own (the handler filters).
            S3Path::Root if cx.credentials().is_some() => return Ok(()),
            S3Path::Root => return Err(access_denied()),
        };
        let principal = cx.credentials().map(|c| c.access_key.as_str());
        let facts = Facts {
            client,
            headers: cx.headers(),
            query: cx.uri().query(),
        };
        let info = match principal {
            // Read from the store, not the cache: a bucket made private
            // through another gateway sharing the store is closed to
            // anonymous clients here at once.
            None => match self.meta.bucket_access_uncached(bucket).await? {
                Some(info) => info,
                None => return Err(access_denied()),
            },
            Some(key) if op == "CreateBucket" => {
                return if self.meta.key_may_create_buckets(key).await? {
                    Ok(())
                } else {
                    Err(access_denied())
                };
            }
            Some(_) => match self.meta.bucket_access(bucket).await? {
                Some(info) => info,
                // A missing bucket is left to the handler (NoSuchBucket).
                None => return Ok(()),
            },
        };
        let target = Target {
            bucket,
            key,
            version: facts.names_version(),
        };
        let deferred = if permitted(&info, principal, op, &target, &facts) {
            None
        } else {
            Some(
                object_acl_decides(&info, principal, op, &target, &facts)
                    .ok_or_else(access_denied)?,
            )
        };
        refuse_public_acl(&info, cx.headers())?;
        let header = |name: &str| cx.headers().get(name).and_then(|v| v.to_str().ok());
        owned_by(&info, header("x-amz-expected-bucket-owner"))?;
        // A copy also reads its source, which must be readable by the same
        // caller, signed or not.
        let copies = matches!(op, "CopyObject" | "UploadPartCopy");
        let source = header("x-amz-copy-source")
            .filter(|_| copies)
            .and_then(copy_source);
        if let Some((source, source_key, source_version)) = source {
            let info = match principal {
                None => self.meta.bucket_access_uncached(&source).await?,
                Some(_) => self.meta.bucket_access(&source).await?,
            };
            match info {
                Some(info) => {
                    let target = Target {
                        bucket: &source,
                        key: Some(&source_key),
                        version: source_version,
                    };
                    let read = permitted(&info, principal, "GetObject", &target, &facts);
                    if !read {
                        return Err(access_denied());
                    }
                    owned_by(&info, header("x-amz-source-expected-bucket-owner"))?;
                }
                // A missing source bucket is left to the handler, for a
                // signed request (it may know what exists).
                None if principal.is_none() => return Err(access_denied()),
                None => {}
            }
        }
        if let Some(decides) = deferred {
            cx.extensions_mut().insert(decides);
        }
        Ok(())
    }
}

/// What a request acts on, as a policy sees it.
pub struct Target<'a> {
    /// The bucket.
    pub bucket: &'a str,
    /// The object, if any.
    pub key: Option<&'a str>,
    /// Whether it names one version of the object by id (its action is
    /// then the version's: s3:GetObjectVersion, s3:DeleteObjectVersion,
    /// ...).
    pub version: bool,
}

/// Whether `principal` (`None`: anonymous) may perform `op` on the bucket
/// (described by `info`) or object `target` names: a Deny in the bucket's
/// policy refuses it; otherwise what the key holds (owner, grants; the
/// public-read ACL unless the public access block ignores it) or an
/// Allow in the policy lets it through (unless the block restricts a
/// public policy to the owner and keys with a grant). The owner may
/// always read, replace and delete the policy, so no policy locks them
/// out.
pub fn permitted(
    info: &BucketAccessInfo,
    principal: Option<&str>,
    op: &str,
    target: &Target<'_>,
    facts: &Facts<'_>,
) -> bool {
    let Target {
        bucket,
        key,
        version,
    } = *target;
    let is_owner = principal == Some(info.owner.as_str());
    if is_owner
        && matches!(
            op,
            "GetBucketPolicy" | "PutBucketPolicy" | "DeleteBucketPolicy"
        )
    {
        return true;
    }
    let decide = |op: &str| {
        info.policy.as_ref().map_or(Decision::Unmatched, |p| {
            let action = policy::action_of(op, version);
            let resource = policy::resource_arn(bucket, key.filter(|_| policy::on_object(op)));
            p.decide(&policy::Request {
                principal,
                action: &action,
                resource: &resource,
                context: facts,
            })
        })
    };
    let decision = decide(op);
    // GetObjectAttributes tells an object's size, ETag and checksum: a
    // Deny of s3:GetObject hides them too, as on AWS.
    let denied_read = op == "GetObjectAttributes" && decide("GetObject") == Decision::Deny;
    if decision == Decision::Deny || denied_read {
        return false;
    }
    let mut held = principal.map(|k| info.perms_of(k)).unwrap_or_default();
    let public_acl = !info.public_access.ignore_public_acls;
    if public_acl && anonymous_may(op, info.acl) {
        held.read = true;
    }
    if covers(held, needed(op)) {
        return true;
    }
    let policy_applies = |p: &Policy| {
        let restricted = info.public_access.restrict_public_buckets
            && p.is_public()
            && principal.is_none_or(|k| info.perms_of(k).is_none());
        !restricted
    };
    match &info.policy {
        Some(p) if decision == Decision::Allow => policy_applies(p),
        // DeleteObjects names its keys in its body, a form upload in its
        // form: let them through when the policy could allow them, and
        // decide key by key (the handlers).
        Some(p) if op == "DeleteObjects" => {
            policy_applies(p)
                && (p.may_allow(principal, "s3:DeleteObject")
                    || p.may_allow(principal, "s3:DeleteObjectVersion"))
        }
        Some(p) if op == "PostObject" => {
            policy_applies(p) && p.may_allow(principal, "s3:PutObject")
        }
        _ => false,
    }
}

/// For a request the bucket does not let through: whether the object's
/// own ACL may (reading an object, or reading or replacing its ACL),
/// unless the bucket's policy explicitly denies it. The handler then
/// decides from the object.
fn object_acl_decides(
    info: &BucketAccessInfo,
    principal: Option<&str>,
    op: &str,
    target: &Target<'_>,
    facts: &Facts<'_>,
) -> Option<ObjectAclDecides> {
    let wanted = match op {
        "GetObject" | "HeadObject" => Permission::Read,
        "GetObjectAcl" => Permission::ReadAcp,
        "PutObjectAcl" => Permission::WriteAcp,
        _ => return None,
    };
    let key = target.key?;
    let denied = info.policy.as_ref().is_some_and(|p| {
        let action = policy::action_of(op, target.version);
        let resource = policy::resource_arn(target.bucket, Some(key));
        p.decide(&policy::Request {
            principal,
            action: &action,
            resource: &resource,
            context: facts,
        }) == Decision::Deny
    });
    (!denied).then_some(ObjectAclDecides { wanted })
}

/// AccessDenied for a request setting a public canned ACL or granting to
/// a public group when the bucket's public access block refuses public
/// ACLs (an AccessControlPolicy body is checked by its handler).
fn refuse_public_acl(info: &BucketAccessInfo, headers: &http::HeaderMap) -> S3Result<()> {
    if info.public_access.block_public_acls && sets_public_acl(headers) {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Access Denied: the bucket's public access block refuses public ACLs",
        ));
    }
    Ok(())
}

/// Whether `headers` ask for a public ACL (`x-amz-acl` other than
/// private, or a grant header naming the AllUsers or AuthenticatedUsers
/// group).
pub fn sets_public_acl(headers: &http::HeaderMap) -> bool {
    let canned = headers
        .get("x-amz-acl")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            matches!(
                v,
                "public-read" | "public-read-write" | "authenticated-read"
            )
        });
    let granted = headers.iter().any(|(name, value)| {
        name.as_str().starts_with("x-amz-grant-")
            && value.to_str().is_ok_and(|v| {
                v.contains("/groups/global/AllUsers")
                    || v.contains("/groups/global/AuthenticatedUsers")
            })
    });
    canned || granted
}

/// `x-amz-expected-bucket-owner` (and its copy-source twin): when given,
/// the bucket must belong to that owner (the canonical id Cairn reports:
/// the owning key's id), else AccessDenied, as on AWS.
fn owned_by(info: &BucketAccessInfo, expected: Option<&str>) -> S3Result<()> {
    match expected {
        Some(expected) if info.owner != expected => Err(access_denied()),
        _ => Ok(()),
    }
}

/// What a request carries for policy conditions.
pub struct Facts<'a> {
    /// Where it came from.
    pub client: Option<ClientInfo>,
    /// Its headers.
    pub headers: &'a http::HeaderMap,
    /// Its query string.
    pub query: Option<&'a str>,
}

impl Facts<'_> {
    /// Whether the request names a version by id (`?versionId=`).
    pub fn names_version(&self) -> bool {
        form_urlencoded::parse(self.query.unwrap_or_default().as_bytes())
            .any(|(name, value)| name == "versionId" && !value.is_empty())
    }
}

impl policy::Context for Facts<'_> {
    fn value(&self, key: &str) -> Option<String> {
        let header = |name: &str| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        // Decoded as s3s decodes it (names too, `+` as a space), so that
        // the policy sees the parameter the handler will act on.
        let query = |name: &str| {
            form_urlencoded::parse(self.query?.as_bytes())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
        };
        match key {
            "aws:sourceip" => self.client?.addr.map(|a| a.ip().to_canonical().to_string()),
            "aws:securetransport" => self.client.map(|c| c.secure.to_string()),
            "aws:referer" => header("referer"),
            "aws:useragent" => header("user-agent"),
            "s3:prefix" => query("prefix"),
            "s3:delimiter" => query("delimiter"),
            "s3:max-keys" => query("max-keys"),
            "s3:versionid" => query("versionId"),
            k if k.starts_with("s3:x-amz-") => header(&k[3..]),
            _ => None,
        }
    }
}

/// The bucket and key of an `x-amz-copy-source` value, parsed as the
/// copy handlers parse it; `None` if it names none (the handler refuses
/// it).
fn copy_source(header: &str) -> Option<(String, String, bool)> {
    match s3s::dto::CopySource::parse(header) {
        Ok(s3s::dto::CopySource::Bucket {
            bucket,
            key,
            version_id,
        }) => Some((bucket.into(), key.into(), version_id.is_some())),
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
            "PutPublicAccessBlock",
            "GetPublicAccessBlock",
            "DeletePublicAccessBlock",
            "PutBucketCors",
            "GetBucketCors",
            "DeleteBucketCors",
        ] {
            assert_eq!(need(op), "owner", "{op}");
        }
    }

    #[test]
    fn condition_keys_read_the_query_as_the_handlers_do() {
        use crate::policy::Context;
        let headers = http::HeaderMap::new();
        let facts = |query| Facts {
            client: None,
            headers: &headers,
            query: Some(query),
        };
        let prefix = |q| facts(q).value("s3:prefix");
        assert_eq!(
            prefix("list-type=2&pre%66ix=secret/").as_deref(),
            Some("secret/")
        );
        assert_eq!(prefix("prefix=a+b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(prefix("prefixes=x"), None);
        assert_eq!(
            facts("max-keys=5").value("s3:max-keys").as_deref(),
            Some("5")
        );
        assert!(facts("versionId=abc").names_version());
        assert!(!facts("versionId=").names_version() && !facts("uploads").names_version());
        assert_eq!(
            facts("versionId=abc").value("s3:versionid").as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn the_copy_source_names_its_bucket() {
        let parsed = |h| copy_source(h).map(|(b, k, v)| format!("{b} {k} {v}"));
        assert_eq!(parsed("src/a/b.txt").as_deref(), Some("src a/b.txt false"));
        assert_eq!(parsed("/src/k?versionId=1").as_deref(), Some("src k true"));
        assert_eq!(parsed("%73rc/k").as_deref(), Some("src k false"));
        assert_eq!(parsed("no-key"), None);
    }
}
