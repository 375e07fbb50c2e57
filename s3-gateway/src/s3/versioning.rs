//! Versioning: PutBucketVersioning and GetBucketVersioning, finding the
//! version a request names, and the answers AWS gives around version ids
//! and delete markers. How versions are stored is `meta::versions`.

use http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::meta::bucket_config::{OBJECT_LOCK, VERSIONING};
use crate::meta::versions::{StoredAt, Versioning, is_valid_version_id, shown_id};
use crate::meta::{Lookup, ObjectMeta};

use super::Gateway;
use super::response::timestamp;

pub(super) async fn put_bucket_versioning(
    gw: &Gateway,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let input = req.input;
    let config = input.versioning_configuration;
    if config
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
    {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "MFA delete is not supported",
        ));
    }
    let state = match config.status.as_ref().map(|s| s.as_str()) {
        Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        _ => {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The versioning status must be Enabled or Suspended",
            ));
        }
    };
    let info = gw
        .meta
        .bucket_access_uncached(&input.bucket)
        .await?
        .ok_or_else(|| s3_error!(NoSuchBucket))?;
    let locked = || {
        S3Error::with_message(
            S3ErrorCode::InvalidBucketState,
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
        )
    };
    if state == Versioning::Suspended && info.object_lock.is_some() {
        return Err(locked());
    }
    // Suspending: only if object lock is still off when written (it may be
    // turned on meanwhile, through another gateway).
    let expect: &[(&str, Option<&[u8]>)] = match state {
        Versioning::Suspended => &[(OBJECT_LOCK, None)],
        _ => &[],
    };
    let set = gw
        .meta
        .set_bucket_config_if(&input.bucket, VERSIONING, Some(&[state.to_byte()]), expect)
        .await?;
    if !set {
        return Err(locked());
    }
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

pub(super) async fn get_bucket_versioning(
    gw: &Gateway,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let status = match gw.versioning(&req.input.bucket).await? {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::ENABLED,
        )),
        Versioning::Suspended => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::SUSPENDED,
        )),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status,
        ..Default::default()
    }))
}

/// A version a request named (or the current one), where it is stored,
/// and the version id to answer with.
pub(super) struct Found {
    pub(super) meta: ObjectMeta,
    pub(super) at: StoredAt,
    pub(super) version_id: Option<String>,
}

/// The `versionId` of a request, checked: AWS refuses an empty or
/// malformed one with 400 InvalidArgument.
pub(super) fn version_param(version_id: Option<&str>) -> S3Result<Option<&str>> {
    match version_id {
        None => Ok(None),
        Some("") => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Version id cannot be the empty string",
        )),
        Some(v) if !is_valid_version_id(v) => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Invalid version id specified",
        )),
        Some(v) => Ok(Some(v)),
    }
}

/// The id to answer for `meta` in a bucket with `versioning`: none for a
/// bucket that never had versioning.
pub(super) fn answered_id(meta: &ObjectMeta, versioning: Versioning) -> Option<String> {
    (meta.version_id.is_some() || versioning != Versioning::Unversioned)
        .then(|| shown_id(meta).to_owned())
}

/// 404 NoSuchVersion.
fn no_such_version() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchVersion,
        "The specified version does not exist.",
    )
}

/// 405: the version named is a delete marker.
fn method_not_allowed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::MethodNotAllowed,
        "The specified method is not allowed against this resource.",
    )
}

/// Adds `x-amz-version-id` to an answer whose output type has no field
/// for it.
pub(super) fn version_header(headers: &mut HeaderMap, version_id: Option<&str>) {
    if let Some(value) = version_id.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert("x-amz-version-id", value);
    }
}

/// The headers that say an answer is about a delete marker.
fn marker_headers(marker: &ObjectMeta) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    if let Ok(id) = HeaderValue::from_str(shown_id(marker)) {
        headers.insert("x-amz-version-id", id);
    }
    let mut time = Vec::new();
    if timestamp(marker.last_modified)
        .format(TimestampFormat::HttpDate, &mut time)
        .is_ok()
        && let Ok(value) = HeaderValue::from_bytes(&time)
    {
        headers.insert(http::header::LAST_MODIFIED, value);
    }
    headers
}

impl Gateway {
    /// The versioning state of `bucket`; NoSuchBucket if there is none.
    pub(super) async fn versioning(&self, bucket: &str) -> S3Result<Versioning> {
        match self.meta.bucket_access(bucket).await? {
            Some(info) => Ok(info.versioning),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }

    /// Version `version_id` of `key` in `bucket` (the current one if
    /// `None`), as GET and HEAD see it: a key hidden by a delete marker is
    /// 404 NoSuchKey saying so; a version that is a delete marker is 405
    /// MethodNotAllowed; an unknown version 404 NoSuchVersion.
    pub(super) async fn find_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<Found> {
        let Some(version_id) = version_param(version_id)? else {
            return match self.meta.object_in_bucket(bucket, key).await? {
                Lookup::Found(meta) => {
                    let versioning = self.versioning(bucket).await?;
                    Ok(Found {
                        version_id: answered_id(&meta, versioning),
                        meta: *meta,
                        at: StoredAt {
                            bucket: bucket.to_owned(),
                            key: key.to_owned(),
                        },
                    })
                }
                Lookup::NoSuchBucket => Err(s3_error!(NoSuchBucket)),
                Lookup::NoSuchKey => {
                    let mut error = s3_error!(NoSuchKey);
                    if self.versioning(bucket).await? != Versioning::Unversioned
                        && let Some(marker) = self.meta.hiding_marker(bucket, key).await?
                    {
                        error.set_headers(marker_headers(&marker));
                    }
                    Err(error)
                }
            };
        };
        self.require_bucket(bucket).await?;
        let Some((meta, at, _)) = self.meta.version(bucket, key, version_id).await? else {
            return Err(no_such_version());
        };
        if meta.delete_marker {
            let mut error = method_not_allowed();
            error.set_headers(marker_headers(&meta));
            return Err(error);
        }
        Ok(Found {
            version_id: Some(shown_id(&meta).to_owned()),
            meta,
            at,
        })
    }
}

/// What a delete did, for its answer.
pub(super) struct Deleted {
    /// A delete marker was made, or the version deleted was one.
    pub(super) delete_marker: bool,
    /// The marker made, or the version deleted.
    pub(super) version_id: Option<String>,
}

impl Gateway {
    /// Deletes `key` of `bucket` for `req`: version `version_id` for good
    /// if given (unless object lock protects it; `bypass` asks to override
    /// a GOVERNANCE retention, granted if `req` may), else the object (a
    /// delete marker in a bucket with versioning). A missing key or
    /// version is deleted already, as on AWS.
    pub(super) async fn delete_one<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        bypass: bool,
    ) -> S3Result<Deleted> {
        let versioning = self.versioning(bucket).await?;
        let Some(version_id) = version_param(version_id)? else {
            let committed = self.meta.delete_latest(bucket, key, versioning).await?;
            if let Some(old) = committed.displaced {
                self.data.delete_shards(old.parts);
            }
            let marker = versioning != Versioning::Unversioned;
            return Ok(Deleted {
                delete_marker: marker,
                version_id: marker.then(|| {
                    committed
                        .version_id
                        .unwrap_or_else(|| crate::meta::versions::NULL_VERSION.to_owned())
                }),
            });
        };
        let may_bypass = self.may_bypass(req, bucket, key, bypass).await?;
        let now = super::response::now_ms();
        let deleted = self
            .meta
            .delete_version(bucket, key, version_id, |v| {
                super::object_lock::may_remove(v, may_bypass, now)
            })
            .await??;
        let delete_marker = deleted.as_ref().is_some_and(|v| v.delete_marker);
        if let Some(old) = deleted.filter(|v| !v.delete_marker) {
            self.data.delete_shards(old.parts);
        }
        Ok(Deleted {
            delete_marker,
            version_id: Some(version_id.to_owned()),
        })
    }
}

impl Gateway {
    /// The source of a copy: [`Gateway::find_version`], except that a
    /// version that is a delete marker is 400 InvalidRequest, as on AWS.
    pub(super) async fn find_source(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<Found> {
        self.find_version(bucket, key, version_id)
            .await
            .map_err(|e| {
                if *e.code() == S3ErrorCode::MethodNotAllowed {
                    S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        "The source of a copy request may not specifically refer to a delete marker by version id.",
                    )
                } else {
                    e
                }
            })
    }
}

impl Gateway {
    /// Changes version `version_id` (the current one if `None`) of `key`
    /// in `bucket` with `change` (which may refuse), re-reading and
    /// retrying if it changes meanwhile; returns it as written. A delete
    /// marker is 405, a missing version NoSuchVersion (NoSuchKey without
    /// an id).
    pub(super) async fn change_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        mut change: impl FnMut(&mut ObjectMeta) -> S3Result<()>,
    ) -> S3Result<ObjectMeta> {
        let version_id = version_param(version_id)?;
        self.require_bucket(bucket).await?;
        let changed = self
            .meta
            .update_version(bucket, key, version_id, |v| {
                if v.delete_marker {
                    return Err(method_not_allowed());
                }
                change(v)
            })
            .await?;
        match changed {
            Some(result) => result,
            None if version_id.is_some() => Err(no_such_version()),
            None => Err(s3_error!(NoSuchKey)),
        }
    }
}
