//! The S3 API: s3s calls these methods after parsing and authenticating a
//! request; every operation not implemented here answers NotImplemented.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::data::keywrap::MasterKey;
use crate::data::{DataError, DataPath, ObjectRef, Written};
use crate::meta::{ListQuery, MetaError, MetaStore, ObjectCommitter, ObjectMeta, PutCheck};
use crate::s3::acl::{self, AclError, AclRequest};
use crate::s3::checksum::{self, Algorithm, BodyCheck, ChecksumError, Md5Error};
use crate::s3::conditional::{Preconditions, Validators, Verdict, WriteConditions, WriteRefusal};
use crate::s3::copy_source::{CopyRangeError, SourceFailed, parse_copy_range};
use crate::s3::window::{ReadWindow, read_window};

/// The gateway's S3 implementation.
pub struct Gateway {
    meta: MetaStore,
    /// Commits object manifests in batches (group commit).
    committer: ObjectCommitter<WriteRefusal>,
    data: DataPath,
    region: String,
    master: Arc<MasterKey>,
}

impl Gateway {
    /// A gateway over its metadata and data path, answering for `region`;
    /// object keys are wrapped under `master` in the manifests.
    pub fn new(meta: MetaStore, data: DataPath, region: String, master: Arc<MasterKey>) -> Self {
        Self {
            committer: ObjectCommitter::spawn(meta.clone()),
            meta,
            data,
            region,
            master,
        }
    }

    /// A fresh object key, and its wrapped form for the manifest.
    fn new_object_key(&self) -> (mesh::codec::ObjectKey, Vec<u8>) {
        let key = mesh::codec::ObjectKey::generate();
        let wrapped = self.master.wrap(&key);
        (key, wrapped)
    }

    /// The object key of a manifest (or multipart template), unwrapped.
    fn object_key(&self, meta: &ObjectMeta) -> S3Result<mesh::codec::ObjectKey> {
        self.master.unwrap(&meta.encryption_key).map_err(|e| {
            tracing::error!(error = %e, "cannot unwrap an object key");
            internal(e)
        })
    }

    fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        match self.meta.bucket(bucket).map_err(internal)? {
            Some(_) => Ok(()),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }

    fn object(&self, bucket: &str, key: &str) -> S3Result<ObjectMeta> {
        self.require_bucket(bucket)?;
        match self.meta.object(bucket, key).map_err(internal)? {
            Some(meta) => Ok(meta),
            None => Err(s3_error!(NoSuchKey)),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    S3Error::with_message(S3ErrorCode::InternalError, e.to_string())
}

fn meta_error(e: MetaError) -> S3Error {
    match e {
        MetaError::NoSuchBucket => s3_error!(NoSuchBucket),
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
        other => internal(other),
    }
}

fn data_error(e: DataError) -> S3Error {
    match e {
        DataError::Length { .. } => {
            S3Error::with_message(S3ErrorCode::IncompleteBody, e.to_string())
        }
        DataError::Body(_) => S3Error::with_message(S3ErrorCode::IncompleteBody, e.to_string()),
        DataError::Placement(_)
        | DataError::Store(_)
        | DataError::Unavailable { .. }
        | DataError::Unstored { .. } => {
            S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string())
        }
        other => internal(other),
    }
}

/// Largest object a single PUT may carry, and largest part, as on AWS.
const MAX_PUT_SIZE: u64 = 5 << 30;

fn entity_too_large() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::EntityTooLarge,
        "Your proposed upload exceeds the maximum allowed object size.",
    )
}

fn precondition_failed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold",
    )
}

/// 304 Not Modified, with the validators AWS sends (no body reaches the
/// client: the request-id layer drops it).
fn not_modified(meta: &ObjectMeta) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&meta.etag) {
        headers.insert(http::header::ETAG, v);
    }
    let mut date = Vec::new();
    if timestamp(meta.last_modified)
        .format(TimestampFormat::HttpDate, &mut date)
        .is_ok()
        && let Ok(v) = http::HeaderValue::from_bytes(&date)
    {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

fn write_refusal(r: WriteRefusal) -> S3Error {
    match r {
        WriteRefusal::NotImplemented => S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "A header you provided implies functionality that is not implemented",
        ),
        WriteRefusal::PreconditionFailed => precondition_failed(),
        WriteRefusal::NoSuchKey => s3_error!(NoSuchKey),
    }
}

/// Whether any `x-amz-grant-*` header was sent.
fn any_grant(grants: [&Option<String>; 5]) -> bool {
    grants.iter().any(|g| g.is_some())
}

fn acl_error(e: AclError) -> S3Error {
    S3Error::with_message(e.code(), e.to_string())
}

fn checksum_error(e: ChecksumError) -> S3Error {
    S3Error::with_message(e.code(), e.to_string())
}

fn md5_error(e: Md5Error) -> S3Error {
    S3Error::with_message(e.code(), e.to_string())
}

fn copy_range_error(e: CopyRangeError) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, e.to_string())
}

/// A write whose source was another object failed: if reading the source
/// did, that is the service's fault, not the request's.
fn copy_error(e: DataError, source: &SourceFailed) -> S3Error {
    if source.get() {
        S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string())
    } else {
        data_error(e)
    }
}

/// The preconditions of a read or copy source, from the request's headers.
fn preconditions<'a>(
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> Preconditions<'a> {
    use crate::s3::conditional::unix_seconds;
    Preconditions {
        if_match,
        if_none_match,
        if_modified_since: if_modified_since.and_then(unix_seconds),
        if_unmodified_since: if_unmodified_since.and_then(unix_seconds),
    }
}

fn validators(meta: &ObjectMeta) -> Validators<'_> {
    Validators {
        etag: &meta.etag,
        last_modified_ms: meta.last_modified,
    }
}

/// 304 or 412 for a GET or HEAD whose preconditions do not hold.
fn check_read(p: Preconditions<'_>, meta: &ObjectMeta) -> S3Result<()> {
    match p.evaluate_read(validators(meta), now_ms()) {
        Verdict::Proceed => Ok(()),
        Verdict::NotModified => Err(not_modified(meta)),
        Verdict::PreconditionFailed => Err(precondition_failed()),
    }
}

/// 412 for a copy whose source preconditions do not hold.
fn check_copy_source(p: Preconditions<'_>, source: &ObjectMeta) -> S3Result<()> {
    match p.evaluate_copy_source(validators(source), now_ms()) {
        Verdict::Proceed => Ok(()),
        Verdict::NotModified | Verdict::PreconditionFailed => Err(precondition_failed()),
    }
}

fn checksum_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

/// `x-amz-trailer`, if the request has one.
/// A request body with what the headers say about it.
struct IncomingBody {
    body: StreamingBlob,
    declared: Option<u64>,
    content_md5: Option<[u8; 16]>,
    expectation: Option<checksum::Expectation>,
}

/// Checks what PutObject and UploadPart headers say about their body
/// (present, not over 5 GiB, Content-MD5 well formed, one consistent
/// checksum) before any byte is read.
fn incoming_body(
    body: Option<StreamingBlob>,
    content_length: Option<i64>,
    content_md5: Option<&str>,
    claimed: [&Option<String>; 5],
    algorithm: Option<&str>,
    headers: &http::HeaderMap,
) -> S3Result<IncomingBody> {
    let Some(body) = body else {
        return Err(s3_error!(IncompleteBody));
    };
    let declared = content_length.and_then(|l| u64::try_from(l).ok());
    if declared.is_some_and(|d| d > MAX_PUT_SIZE) {
        return Err(entity_too_large());
    }
    let content_md5 = content_md5
        .map(checksum::parse_content_md5)
        .transpose()
        .map_err(md5_error)?;
    let expectation = checksum::plan(
        &checksum::claimed(claimed),
        algorithm,
        trailer_header(headers),
    )
    .map_err(checksum_error)?;
    Ok(IncomingBody {
        body,
        declared,
        content_md5,
        expectation,
    })
}

fn trailer_header(headers: &http::HeaderMap) -> Option<&str> {
    headers.get("x-amz-trailer").and_then(|v| v.to_str().ok())
}

/// `Expires` as stored (an HTTP date) and as returned.
fn stored_expires(given: Option<Timestamp>) -> Option<String> {
    let mut out = Vec::new();
    given?.format(TimestampFormat::HttpDate, &mut out).ok()?;
    String::from_utf8(out).ok()
}

/// The `response-*` query parameters of a GetObject or HeadObject input.
macro_rules! response_overrides {
    ($input:expr) => {
        ResponseOverrides {
            content_type: $input.response_content_type,
            content_encoding: $input.response_content_encoding,
            content_disposition: $input.response_content_disposition,
            content_language: $input.response_content_language,
            cache_control: $input.response_cache_control,
            expires: $input.response_expires,
        }
    };
}

/// What a GET or HEAD of `meta` answers with: the bytes asked for, the
/// representation headers (with a signed request's overrides), and the
/// checksum fields. A stored checksum covers the whole object, so a range
/// or a part of a multipart object gets none.
fn read_answer(
    meta: &ObjectMeta,
    signed: bool,
    range: Option<&s3s::dto::Range>,
    part_number: Option<i32>,
    checksum_mode: Option<&ChecksumMode>,
    overrides: ResponseOverrides,
) -> S3Result<(ReadWindow, ResponseHeaders, s3s::dto::Checksum)> {
    let window = read_window(meta, range, part_number)?;
    let headers = ResponseHeaders::of(meta).overridden(signed, overrides)?;
    let sums = if checksum_enabled(checksum_mode) && window.whole {
        checksum::response_fields(meta.checksum.as_ref())
    } else {
        Default::default()
    };
    Ok((window, headers, sums))
}

/// The representation headers a GET or HEAD answers with.
struct ResponseHeaders {
    content_type: Option<s3s::dto::ContentType>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
}

/// The `response-*` query parameters of a GET or HEAD, which replace the
/// stored headers in that one response.
struct ResponseOverrides {
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
}

impl ResponseOverrides {
    fn is_empty(&self) -> bool {
        self.content_type.is_none()
            && self.content_encoding.is_none()
            && self.content_disposition.is_none()
            && self.content_language.is_none()
            && self.cache_control.is_none()
            && self.expires.is_none()
    }
}

impl ResponseHeaders {
    /// The headers stored with `meta`.
    fn of(meta: &ObjectMeta) -> Self {
        Self {
            content_type: meta.content_type.as_deref().and_then(|c| c.parse().ok()),
            content_encoding: meta.content_encoding.clone(),
            content_disposition: meta.content_disposition.clone(),
            content_language: meta.content_language.clone(),
            cache_control: meta.cache_control.clone(),
            expires: response_expires(meta),
        }
    }

    /// These headers with `overrides` applied. As on AWS, only a signed
    /// request (headers or presigned URL) may override: an anonymous one
    /// is InvalidRequest.
    fn overridden(mut self, signed: bool, overrides: ResponseOverrides) -> S3Result<Self> {
        if overrides.is_empty() {
            return Ok(self);
        }
        if !signed {
            return Err(s3_error!(
                InvalidRequest,
                "Request specific response headers cannot be used for anonymous GET requests."
            ));
        }
        if let Some(v) = overrides.content_type {
            self.content_type = Some(v.parse().map_err(|_| {
                s3_error!(InvalidArgument, "response-content-type is not a media type")
            })?);
        }
        self.content_encoding = overrides.content_encoding.or(self.content_encoding);
        self.content_disposition = overrides.content_disposition.or(self.content_disposition);
        self.content_language = overrides.content_language.or(self.content_language);
        self.cache_control = overrides.cache_control.or(self.cache_control);
        self.expires = overrides.expires.or(self.expires);
        Ok(self)
    }
}

fn response_expires(meta: &ObjectMeta) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, meta.expires.as_deref()?).ok()
}

/// A stored checksum as an (algorithm name, base64 value) pair.
fn stored_checksum(computed: Option<(Algorithm, String)>) -> Option<(String, String)> {
    computed.map(|(a, v)| (a.name().to_owned(), v))
}

/// The Content-Encoding to keep: AWS drops `aws-chunked`, which only
/// describes the upload's framing, and keeps any real encoding listed with it.
fn stored_encoding(given: Option<String>) -> Option<String> {
    let kept: Vec<&str> = given
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// User metadata (`x-amz-meta-*`) as stored: names lower-cased.
fn stored_metadata(given: Option<Metadata>) -> Vec<(String, String)> {
    given
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// User metadata for a GET or HEAD response (absent when there is none).
fn response_metadata(meta: &ObjectMeta) -> Option<Metadata> {
    (!meta.user_metadata.is_empty()).then(|| meta.user_metadata.iter().cloned().collect())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

fn etag(quoted: &str) -> ETag {
    ETag::Strong(quoted.trim_matches('"').to_owned())
}

fn owner_of(req_credentials: Option<&s3s::auth::Credentials>) -> String {
    req_credentials.map_or_else(|| "anonymous".to_owned(), |c| c.access_key.clone())
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let owner = owner_of(req.credentials.as_ref());
        let buckets = self
            .meta
            .list_buckets()
            .map_err(internal)?
            .into_iter()
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp(b.created)),
                bucket_region: Some(b.region),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some(owner.clone()),
                id: Some(owner),
            }),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let owner = owner_of(req.credentials.as_ref());
        let input = req.input;
        let acl = acl::requested(
            AclRequest {
                canned: input.acl.as_ref().map(|a| a.as_str()),
                grant_headers: any_grant([
                    &input.grant_full_control,
                    &input.grant_read,
                    &input.grant_read_acp,
                    &input.grant_write,
                    &input.grant_write_acp,
                ]),
                policy: None,
            },
            &owner,
        )
        .map_err(acl_error)?
        .unwrap_or_default();
        let bucket = input.bucket;
        let region = input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map_or_else(|| self.region.clone(), |l| l.as_str().to_owned());
        self.meta
            .create_bucket_with_acl(&bucket, &region, &owner, acl)
            .map_err(meta_error)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        match self.meta.bucket(&req.input.bucket).map_err(internal)? {
            Some(info) => Ok(S3Response::new(HeadBucketOutput {
                bucket_region: Some(info.region),
                ..Default::default()
            })),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        match self.meta.bucket(&req.input.bucket).map_err(internal)? {
            // AWS answers an empty constraint for us-east-1.
            Some(info) => Ok(S3Response::new(GetBucketLocationOutput {
                location_constraint: (info.region != "us-east-1")
                    .then(|| BucketLocationConstraint::from(info.region)),
            })),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let Some(info) = self.meta.bucket(&req.input.bucket).map_err(internal)? else {
            return Err(s3_error!(NoSuchBucket));
        };
        let (owner, grants) = acl::policy(&info.owner, info.acl);
        Ok(S3Response::new(GetBucketAclOutput {
            owner: Some(owner),
            grants: Some(grants),
        }))
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let input = req.input;
        let Some(info) = self.meta.bucket(&input.bucket).map_err(internal)? else {
            return Err(s3_error!(NoSuchBucket));
        };
        let acl = acl::requested(
            AclRequest {
                canned: input.acl.as_ref().map(|a| a.as_str()),
                grant_headers: any_grant([
                    &input.grant_full_control,
                    &input.grant_read,
                    &input.grant_read_acp,
                    &input.grant_write,
                    &input.grant_write_acp,
                ]),
                policy: input.access_control_policy.as_ref(),
            },
            &info.owner,
        )
        .map_err(acl_error)?
        .ok_or_else(|| acl_error(AclError::Missing))?;
        self.meta
            .set_bucket_acl(&input.bucket, acl)
            .map_err(meta_error)?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.meta
            .delete_bucket(&req.input.bucket)
            .map_err(meta_error)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let conditions = WriteConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
        };
        // Refuse early what can be refused before the body is read; the
        // check is repeated atomically when the object is committed.
        conditions.validate().map_err(write_refusal)?;
        if !conditions.is_empty() {
            let current = self
                .meta
                .object(&input.bucket, &input.key)
                .map_err(internal)?;
            conditions
                .check(current.as_ref().map(|m| m.etag.as_str()))
                .map_err(write_refusal)?;
        }
        let IncomingBody {
            body,
            declared,
            content_md5,
            expectation,
        } = incoming_body(
            input.body,
            input.content_length,
            input.content_md5.as_deref(),
            [
                &input.checksum_crc32,
                &input.checksum_crc32c,
                &input.checksum_crc64nvme,
                &input.checksum_sha1,
                &input.checksum_sha256,
            ],
            input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            &req.headers,
        )?;
        // Without a checksum from the client, AWS stores a CRC64NVME.
        let check = BodyCheck::new(expectation, Some(Algorithm::Crc64Nvme));
        let (key, wrapped_key) = self.new_object_key();
        let (written, computed) = self
            .receive(
                &key,
                0,
                declared,
                body,
                check,
                req.trailing_headers,
                content_md5,
            )
            .await?;
        let meta = ObjectMeta {
            size: written.part.size,
            etag: written.part.etag.clone(),
            last_modified: now_ms(),
            content_type: input.content_type.map(|c| c.to_string()),
            content_encoding: stored_encoding(input.content_encoding),
            content_disposition: input.content_disposition,
            content_language: input.content_language,
            cache_control: input.cache_control,
            expires: stored_expires(input.expires),
            user_metadata: stored_metadata(input.metadata),
            checksum: stored_checksum(computed),
            encryption_key: wrapped_key,
            segment_size: self.data.params().segment_size as u64,
            k: written.scheme.k as u8,
            m: written.scheme.m as u8,
            parts: vec![written.part],
        };
        if let Err(e) = self
            .commit(&input.bucket, &input.key, &meta, conditions)
            .await
        {
            self.data.delete_shards(meta.parts);
            return Err(e);
        }
        let sums = checksum::response_fields(meta.checksum.as_ref());
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&meta.etag)),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_type: sums.checksum_type,
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let meta = self.object(&input.bucket, &input.key)?;
        check_read(
            preconditions(
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            ),
            &meta,
        )?;
        let (window, headers, sums) = read_answer(
            &meta,
            req.credentials.is_some(),
            input.range.as_ref(),
            input.part_number,
            input.checksum_mode.as_ref(),
            response_overrides!(input),
        )?;
        let range = window.range.clone();
        let stream = self.data.read_parts(
            ObjectRef::new(&input.bucket, &input.key),
            self.object_key(&meta)?,
            scheme_of(&meta),
            meta.parts.clone(),
            range.clone(),
        );
        let body = StreamingBlob::wrap(stream);
        Ok(S3Response::new(GetObjectOutput {
            body: Some(body),
            content_length: Some((range.end - range.start) as i64),
            content_range: window.content_range,
            parts_count: window.parts_count,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified)),
            content_type: headers.content_type,
            content_encoding: headers.content_encoding,
            content_disposition: headers.content_disposition,
            content_language: headers.content_language,
            cache_control: headers.cache_control,
            expires: headers.expires,
            metadata: response_metadata(&meta),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_type: sums.checksum_type,
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let meta = self.object(&input.bucket, &input.key)?;
        check_read(
            preconditions(
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            ),
            &meta,
        )?;
        let (window, headers, sums) = read_answer(
            &meta,
            req.credentials.is_some(),
            input.range.as_ref(),
            input.part_number,
            input.checksum_mode.as_ref(),
            response_overrides!(input),
        )?;
        // HEAD answers a range or a part as GET would, without the body.
        let status = if window.content_range.is_some() {
            http::StatusCode::PARTIAL_CONTENT
        } else {
            http::StatusCode::OK
        };
        let output = HeadObjectOutput {
            content_length: Some((window.range.end - window.range.start) as i64),
            content_range: window.content_range,
            parts_count: window.parts_count,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified)),
            content_type: headers.content_type,
            content_encoding: headers.content_encoding,
            content_disposition: headers.content_disposition,
            content_language: headers.content_language,
            cache_control: headers.cache_control,
            expires: headers.expires,
            metadata: response_metadata(&meta),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_type: sums.checksum_type,
            ..Default::default()
        };
        Ok(S3Response::with_status(output, status))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        // Deleting a missing key succeeds, as on AWS.
        if let Some(old) = self
            .meta
            .delete_object(&req.input.bucket, &req.input.key)
            .map_err(meta_error)?
        {
            self.data.delete_shards(old.parts);
        }
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let start_after = match &input.continuation_token {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone(),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .meta
            .list_objects(
                &input.bucket,
                &ListQuery {
                    prefix: prefix.clone(),
                    delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
                    start_after,
                    max_keys,
                },
            )
            .map_err(meta_error)?;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: &str| if url { url_encode(s) } else { s.to_owned() };
        let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(&prefix)),
            delimiter: input.delimiter.as_deref().map(enc),
            max_keys: Some(max_keys as i32),
            key_count: Some(key_count),
            is_truncated: Some(page.is_truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page
                .is_truncated
                .then(|| page.next_marker.as_deref().map(encode_token))
                .flatten(),
            start_after: input.start_after.as_deref().map(enc),
            encoding_type: input.encoding_type,
            contents: Some(contents(&page, &enc)),
            common_prefixes: Some(prefixes(&page, &enc)),
            ..Default::default()
        }))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        if input.delete.objects.len() > 1000 {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "at most 1000 keys per request",
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        for object in input.delete.objects {
            // A missing key counts as deleted, as on AWS.
            if let Some(old) = self
                .meta
                .delete_object(&input.bucket, &object.key)
                .map_err(meta_error)?
            {
                self.data.delete_shards(old.parts);
            }
            if !quiet {
                deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "copying from an access point"));
        };
        let source = self.object(src_bucket, src_key)?;
        self.require_bucket(&input.bucket)?;
        check_copy_source(
            preconditions(
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
            ),
            &source,
        )?;
        let requested = input
            .checksum_algorithm
            .as_ref()
            .map(|a| Algorithm::parse(a.as_str()).ok_or(ChecksumError::UnsupportedAlgorithm))
            .transpose()
            .map_err(checksum_error)?;
        let source_algorithm = source
            .checksum
            .as_ref()
            .and_then(|(name, _)| Algorithm::parse(name));
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let changes_checksum = requested.is_some_and(|a| Some(a) != source_algorithm);
        if !replace && !changes_checksum && **src_bucket == *input.bucket && **src_key == *input.key
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes.",
            ));
        }
        // The copy gets the checksum asked for, else one of the source's
        // algorithm, else AWS's default; computed as the bytes stream.
        let check = BodyCheck::new(
            None,
            Some(
                requested
                    .or(source_algorithm)
                    .unwrap_or(Algorithm::Crc64Nvme),
            ),
        );
        // Stream the source through the data path under a fresh key.
        let failed = SourceFailed::default();
        let stream = self.data.read_parts(
            ObjectRef::new(src_bucket, src_key),
            self.object_key(&source)?,
            scheme_of(&source),
            source.parts.clone(),
            0..source.size,
        );
        let (key, wrapped_key) = self.new_object_key();
        let written = self
            .data
            .write(
                &key,
                0,
                Some(source.size),
                check.wrap(Box::pin(failed.watch(stream))),
            )
            .await
            .map_err(|e| copy_error(e, &failed))?;
        let computed = check.finish(None).map_err(checksum_error)?;
        let mut meta = if replace {
            ObjectMeta {
                content_type: input.content_type.map(|c| c.to_string()),
                content_encoding: stored_encoding(input.content_encoding),
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: stored_expires(input.expires),
                user_metadata: stored_metadata(input.metadata),
                ..source
            }
        } else {
            source
        };
        meta.size = written.part.size;
        meta.etag = written.part.etag.clone();
        meta.last_modified = now_ms();
        meta.checksum = stored_checksum(computed);
        meta.encryption_key = wrapped_key;
        meta.segment_size = self.data.params().segment_size as u64;
        meta.k = written.scheme.k as u8;
        meta.m = written.scheme.m as u8;
        meta.parts = vec![written.part];
        if let Err(e) = self
            .commit(&input.bucket, &input.key, &meta, Default::default())
            .await
        {
            self.data.delete_shards(meta.parts);
            return Err(e);
        }
        let sums = checksum::response_fields(meta.checksum.as_ref());
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&meta.etag)),
                last_modified: Some(timestamp(meta.last_modified)),
                checksum_crc32: sums.checksum_crc32,
                checksum_crc32c: sums.checksum_crc32c,
                checksum_crc64nvme: sums.checksum_crc64nvme,
                checksum_sha1: sums.checksum_sha1,
                checksum_sha256: sums.checksum_sha256,
                checksum_type: sums.checksum_type,
            }),
            ..Default::default()
        }))
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        // Until versioning exists every object is its only version, with
        // version id "null", as AWS answers for an unversioned bucket.
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .meta
            .list_objects(
                &input.bucket,
                &ListQuery {
                    prefix: prefix.clone(),
                    delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
                    start_after: input.key_marker.clone().filter(|m| !m.is_empty()),
                    max_keys,
                },
            )
            .map_err(meta_error)?;
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter: input.delimiter,
            key_marker: Some(input.key_marker.unwrap_or_default()),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(page.is_truncated),
            next_key_marker: page
                .is_truncated
                .then(|| page.next_marker.clone())
                .flatten(),
            next_version_id_marker: page.is_truncated.then(|| "null".to_owned()),
            versions: Some(
                page.objects
                    .iter()
                    .map(|(key, meta)| ObjectVersion {
                        key: Some(key.clone()),
                        version_id: Some("null".to_owned()),
                        is_latest: Some(true),
                        size: Some(meta.size as i64),
                        e_tag: Some(etag(&meta.etag)),
                        last_modified: Some(timestamp(meta.last_modified)),
                        storage_class: Some(ObjectVersionStorageClass::from_static(
                            ObjectVersionStorageClass::STANDARD,
                        )),
                        ..Default::default()
                    })
                    .collect(),
            ),
            common_prefixes: Some(
                page.common_prefixes
                    .iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(p.clone()),
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let scheme = self.data.params().scheme;
        let algorithm = match &input.checksum_algorithm {
            Some(a) => Some(
                Algorithm::parse(a.as_str())
                    .ok_or_else(|| s3_error!(InvalidArgument, "unknown checksum algorithm"))?,
            ),
            None => None,
        };
        // AWS's combinations: CRC64NVME is full-object only, SHA1 and
        // SHA256 composite only, CRC32 and CRC32C either; a type needs an
        // algorithm.
        let full_object = match input.checksum_type.as_ref().map(|t| t.as_str()) {
            None => None,
            Some(s3s::dto::ChecksumType::FULL_OBJECT) => Some(true),
            Some(s3s::dto::ChecksumType::COMPOSITE) => Some(false),
            Some(_) => return Err(s3_error!(InvalidRequest, "unknown checksum type")),
        };
        match (algorithm, full_object) {
            (None, Some(_)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                ));
            }
            (Some(Algorithm::Crc64Nvme), Some(false))
            | (Some(Algorithm::Sha1 | Algorithm::Sha256), Some(true)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The checksum type is not supported with this checksum algorithm."
                ));
            }
            _ => {}
        }
        // A composite checksum is kept unless the type is FULL_OBJECT
        // (CRC64NVME's only kind): full-object multipart checksums are
        // not computed, and those objects get no checksum.
        let composite =
            algorithm.filter(|&a| a != Algorithm::Crc64Nvme && full_object != Some(true));
        let template = ObjectMeta {
            size: 0,
            etag: String::new(),
            last_modified: 0,
            content_type: input.content_type.map(|c| c.to_string()),
            content_encoding: stored_encoding(input.content_encoding),
            content_disposition: input.content_disposition,
            content_language: input.content_language,
            cache_control: input.cache_control,
            expires: None,
            user_metadata: stored_metadata(input.metadata),
            // In a template, the checksum names the composite algorithm.
            checksum: composite.map(|a| (a.name().to_owned(), COMPOSITE_MARK.to_owned())),
            encryption_key: self.new_object_key().1,
            segment_size: self.data.params().segment_size as u64,
            k: scheme.k as u8,
            m: scheme.m as u8,
            parts: Vec::new(),
        };
        let upload_id = self
            .meta
            .create_upload(&input.bucket, &input.key, &template)
            .map_err(meta_error)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: input.checksum_type.or_else(|| {
                algorithm.map(|a| {
                    s3s::dto::ChecksumType::from_static(if a == Algorithm::Crc64Nvme {
                        s3s::dto::ChecksumType::FULL_OBJECT
                    } else {
                        s3s::dto::ChecksumType::COMPOSITE
                    })
                })
            }),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        let (_, _, template, _) = self.upload_state(&input.upload_id, &input.bucket, &input.key)?;
        let key = self.object_key(&template)?;
        let IncomingBody {
            body,
            declared,
            content_md5,
            expectation,
        } = incoming_body(
            input.body,
            input.content_length,
            input.content_md5.as_deref(),
            [
                &input.checksum_crc32,
                &input.checksum_crc32c,
                &input.checksum_crc64nvme,
                &input.checksum_sha1,
                &input.checksum_sha256,
            ],
            input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            &req.headers,
        )?;
        // A part's checksum is checked and echoed; it is kept when it is of
        // the upload's composite algorithm (computed if the client sent
        // none).
        let composite = composite_algorithm(&template);
        if let (Some(want), Some(got)) = (composite, expectation.as_ref().map(|e| e.algorithm))
            && want != got
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!(
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                    want.name().to_lowercase(),
                    got.name().to_lowercase()
                ),
            ));
        }
        let check = BodyCheck::new(expectation, composite);
        let (written, computed) = self
            .receive(
                &key,
                input.part_number as u32,
                declared,
                body,
                check,
                req.trailing_headers,
                content_md5,
            )
            .await?;
        let etag_value = written.part.etag.clone();
        let kept = computed
            .as_ref()
            .filter(|(a, _)| Some(*a) == composite)
            .map(|(_, v)| v.as_str());
        self.record_part(&input.upload_id, written.part, kept)?;
        let mut sums = checksum::response_fields(stored_checksum(computed).as_ref());
        sums.checksum_type = None;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&etag_value)),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        let (_, _, template, _) = self.upload_state(&input.upload_id, &input.bucket, &input.key)?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "copying from an access point"));
        };
        let source = self.object(src_bucket, src_key)?;
        check_copy_source(
            preconditions(
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
            ),
            &source,
        )?;
        let range = parse_copy_range(input.copy_source_range.as_deref(), source.size)
            .map_err(copy_range_error)?;
        let len = range.end - range.start;
        if len > MAX_PUT_SIZE {
            return Err(entity_too_large());
        }
        // The range streams from the source's shards into the part's: one
        // segment at a time, never the whole range in memory.
        let failed = SourceFailed::default();
        let stream = self.data.read_parts(
            ObjectRef::new(src_bucket, src_key),
            self.object_key(&source)?,
            scheme_of(&source),
            source.parts.clone(),
            range,
        );
        // The part's checksum of the upload's composite algorithm is
        // computed as the bytes stream.
        let check = BodyCheck::new(None, composite_algorithm(&template));
        let written = self
            .data
            .write(
                &self.object_key(&template)?,
                input.part_number as u32,
                Some(len),
                check.wrap(Box::pin(failed.watch(stream))),
            )
            .await
            .map_err(|e| copy_error(e, &failed))?;
        let computed = check.finish(None).map_err(checksum_error)?;
        let etag_value = written.part.etag.clone();
        let kept = computed.as_ref().map(|(_, v)| v.as_str());
        self.record_part(&input.upload_id, written.part, kept)?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&etag_value)),
                last_modified: Some(timestamp(now_ms())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let conditions = WriteConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
        };
        conditions.validate().map_err(write_refusal)?;
        let (bucket, key, template, stored) =
            self.upload_state(&input.upload_id, &input.bucket, &input.key)?;
        let requested = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if requested.is_empty() {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "You must specify at least one part",
            ));
        }
        let composite = composite_algorithm(&template);
        let sums = self.part_sums(&input.upload_id, composite)?;
        let mut chosen = Vec::new();
        let mut last_number = 0;
        for part in &requested {
            let number = part.part_number.unwrap_or(0);
            if number <= last_number {
                return Err(s3_error!(InvalidPartOrder));
            }
            last_number = number;
            let Some(found) = stored.iter().find(|p| p.part_number as i32 == number) else {
                return Err(s3_error!(InvalidPart));
            };
            let given = part.e_tag.as_ref().map(|e| e.value().to_owned());
            if given.is_some_and(|g| g.trim_matches('"') != found.etag.trim_matches('"')) {
                return Err(s3_error!(InvalidPart));
            }
            // A part checksum given for the upload's algorithm must be the
            // one recorded for that part.
            let claimed = checksum::claimed([
                &part.checksum_crc32,
                &part.checksum_crc32c,
                &part.checksum_crc64nvme,
                &part.checksum_sha1,
                &part.checksum_sha256,
            ]);
            for (algorithm, value) in claimed {
                if Some(algorithm) == composite
                    && sums.get(&(number as u32)).map(String::as_str) != Some(value)
                {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidPart,
                        format!(
                            "The {} checksum of part {number} does not match the uploaded part",
                            algorithm.name()
                        ),
                    ));
                }
            }
            chosen.push(found.clone());
        }
        if chosen[..chosen.len() - 1]
            .iter()
            .any(|p| p.size < MIN_PART_SIZE)
        {
            return Err(s3_error!(EntityTooSmall));
        }
        let mut md5s = Vec::with_capacity(16 * chosen.len());
        for part in &chosen {
            md5s.extend_from_slice(&md5_of_etag(&part.etag).ok_or_else(|| internal("part etag"))?);
        }
        use md5::Digest;
        let digest: [u8; 16] = md5::Md5::digest(&md5s).into();
        let etag_value = format!("\"{}-{}\"", crate::data::hex(&digest), chosen.len());
        let unused: Vec<_> = stored
            .into_iter()
            .filter(|p| !chosen.iter().any(|c| c.part_number == p.part_number))
            .collect();
        // The composite checksum, if every chosen part has one recorded.
        let object_checksum = composite.and_then(|a| {
            let values: Option<Vec<&str>> = chosen
                .iter()
                .map(|p| sums.get(&p.part_number).map(String::as_str))
                .collect();
            Some((a.name().to_owned(), checksum::composite(a, &values?)?))
        });
        let meta = ObjectMeta {
            size: chosen.iter().map(|p| p.size).sum(),
            etag: etag_value.clone(),
            last_modified: now_ms(),
            parts: chosen,
            checksum: object_checksum,
            ..template
        };
        // A refused condition leaves the upload as it was; once committed,
        // the upload is forgotten and its unused parts deleted.
        let (store, data, upload_id) = (self.meta.clone(), self.data.clone(), input.upload_id);
        let cleanup = Box::new(move || {
            if let Err(e) = store.remove_upload(&upload_id) {
                tracing::error!(upload_id, error = %e, "cannot remove a completed upload");
            }
            data.delete_shards(unused);
        });
        self.commit_then(&bucket, &key, &meta, conditions, Some(cleanup))
            .await?;
        let sums = checksum::response_fields(meta.checksum.as_ref());
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(bucket.clone()),
            key: Some(key.clone()),
            e_tag: Some(etag(&etag_value)),
            location: Some(format!("/{bucket}/{key}")),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_type: sums.checksum_type,
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.upload_state(&input.upload_id, &input.bucket, &input.key)?;
        if let Some(parts) = self
            .meta
            .remove_upload(&input.upload_id)
            .map_err(internal)?
        {
            self.data.delete_shards(parts);
        }
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let (_, _, template, parts) =
            self.upload_state(&input.upload_id, &input.bucket, &input.key)?;
        // The recorded part checksums of an upload that keeps them.
        let composite = composite_algorithm(&template);
        let sums = self.part_sums(&input.upload_id, composite)?;
        let after = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let remaining: Vec<_> = parts
            .into_iter()
            .filter(|p| p.part_number as i32 > after)
            .collect();
        let truncated = remaining.len() > max;
        let page: Vec<_> = remaining.into_iter().take(max).collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            is_truncated: Some(truncated),
            max_parts: Some(max as i32),
            part_number_marker: Some(after),
            next_part_number_marker: page.last().map(|p| p.part_number as i32),
            parts: Some(
                page.iter()
                    .map(|p| {
                        let sum = composite
                            .zip(sums.get(&p.part_number))
                            .map(|(a, v)| (a.name().to_owned(), v.clone()));
                        let fields = checksum::response_fields(sum.as_ref());
                        Part {
                            part_number: Some(p.part_number as i32),
                            e_tag: Some(etag(&p.etag)),
                            size: Some(p.size as i64),
                            checksum_crc32: fields.checksum_crc32,
                            checksum_crc32c: fields.checksum_crc32c,
                            checksum_crc64nvme: fields.checksum_crc64nvme,
                            checksum_sha1: fields.checksum_sha1,
                            checksum_sha256: fields.checksum_sha256,
                            ..Default::default()
                        }
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self
            .meta
            .list_uploads(&input.bucket, &prefix)
            .map_err(meta_error)?;
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|(key, id, initiated)| MultipartUpload {
                        key: Some(key),
                        upload_id: Some(id),
                        initiated: Some(timestamp(initiated)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let page = self
            .meta
            .list_objects(
                &input.bucket,
                &ListQuery {
                    prefix: prefix.clone(),
                    delimiter: delimiter.clone(),
                    start_after: input.marker.clone().filter(|m| !m.is_empty()),
                    max_keys,
                },
            )
            .map_err(meta_error)?;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: &str| if url { url_encode(s) } else { s.to_owned() };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(&prefix)),
            delimiter: input.delimiter.as_deref().map(enc),
            marker: Some(input.marker.as_deref().map(enc).unwrap_or_default()),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(page.is_truncated),
            // AWS sends NextMarker only when a delimiter was given.
            next_marker: (page.is_truncated && delimiter.is_some())
                .then(|| page.next_marker.as_deref().map(enc))
                .flatten(),
            encoding_type: input.encoding_type,
            contents: Some(contents(&page, &enc)),
            common_prefixes: Some(prefixes(&page, &enc)),
            ..Default::default()
        }))
    }
}

/// Smallest part but the last, as on AWS.
const MIN_PART_SIZE: u64 = 5 << 20;

impl Gateway {
    /// Streams an upload's body into the data path as part `part_number`
    /// sealed with `key`, hashing it for `check` on the way; once it has
    /// ended, checks the checksum (a trailer is read from `trailers`) and
    /// the Content-MD5. On a mismatch the shards just written are deleted
    /// and nothing is recorded.
    #[allow(clippy::too_many_arguments)]
    async fn receive(
        &self,
        key: &mesh::codec::ObjectKey,
        part_number: u32,
        declared: Option<u64>,
        body: StreamingBlob,
        check: BodyCheck,
        trailers: Option<s3s::TrailingHeaders>,
        content_md5: Option<[u8; 16]>,
    ) -> S3Result<(Written, Option<(Algorithm, String)>)> {
        let written = self
            .data
            .write(key, part_number, declared, check.wrap(body))
            .await
            .map_err(data_error)?;
        let trailers = trailers.and_then(|t| t.take());
        let verified = check
            .finish(trailers.as_ref())
            .map_err(checksum_error)
            .and_then(|computed| match &content_md5 {
                Some(given) => checksum::check_content_md5(given, &written.md5)
                    .map(|()| computed)
                    .map_err(md5_error),
                None => Ok(computed),
            });
        match verified {
            Ok(computed) => Ok((written, computed)),
            Err(e) => {
                self.data.delete_shards(vec![written.part]);
                Err(e)
            }
        }
    }

    /// Commits `meta` as object `key` of `bucket` if `conditions` hold at
    /// that moment (checked in the same transaction), and deletes the
    /// shards of the object it replaces. On an error nothing is committed;
    /// the new object's shards are the caller's to delete.
    async fn commit(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        conditions: WriteConditions<'_>,
    ) -> S3Result<()> {
        self.commit_then(bucket, key, meta, conditions, None).await
    }

    /// [`Gateway::commit`], then `cleanup` once the manifest is committed.
    /// With a clean-up, commit and clean-up run as a task of their own, so
    /// a client that goes away meanwhile cannot stop them half-way (a
    /// committed multipart object whose upload was never removed could
    /// later lose its parts to an AbortMultipartUpload).
    async fn commit_then(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        conditions: WriteConditions<'_>,
        cleanup: Option<Box<dyn FnOnce() + Send>>,
    ) -> S3Result<()> {
        let check: Option<PutCheck<WriteRefusal>> = if conditions.is_empty() {
            None
        } else {
            let (if_match, if_none_match) = (
                conditions.if_match.cloned(),
                conditions.if_none_match.cloned(),
            );
            Some(Box::new(move |current: Option<&ObjectMeta>| {
                WriteConditions {
                    if_match: if_match.as_ref(),
                    if_none_match: if_none_match.as_ref(),
                }
                .check(current.map(|m| m.etag.as_str()))
            }))
        };
        let (committer, data) = (self.committer.clone(), self.data.clone());
        let (bucket, key, meta) = (bucket.to_owned(), key.to_owned(), meta.clone());
        let with_cleanup = cleanup.is_some();
        let work = async move {
            let replaced = committer
                .put(&bucket, &key, meta.clone(), check)
                .await
                .map_err(meta_error)?
                .map_err(write_refusal)?;
            if let Some(cleanup) = cleanup {
                cleanup();
            }
            if let Some(old) = replaced {
                // Never a copy the new manifest still names (a retried or
                // concurrent CompleteMultipartUpload commits the same parts).
                let keep: std::collections::HashSet<(&[u8], [u8; 32])> = meta
                    .parts
                    .iter()
                    .flat_map(|p| &p.segments)
                    .flat_map(|s| &s.shards)
                    .map(|s| (s.node.as_slice(), s.id))
                    .collect();
                let mut parts = old.parts;
                for segment in parts.iter_mut().flat_map(|p| &mut p.segments) {
                    segment
                        .shards
                        .retain(|s| !keep.contains(&(s.node.as_slice(), s.id)));
                }
                data.delete_shards(parts);
            }
            Ok(())
        };
        if with_cleanup {
            // Its own task: a client that goes away must not stop it
            // between the commit and the clean-up.
            tokio::spawn(work).await.map_err(internal)?
        } else {
            // Stopped after the commit, this only leaves the replaced
            // object's shards to garbage collection; not worth a task hop
            // on every small PUT.
            work.await
        }
    }

    /// Records `part` of upload `upload_id`, deleting the shards of the part
    /// it replaces (or its own if the upload is gone).
    fn record_part(
        &self,
        upload_id: &str,
        part: crate::meta::PartLayout,
        checksum: Option<&str>,
    ) -> S3Result<()> {
        match self.meta.put_part_with_checksum(upload_id, &part, checksum) {
            Ok(Some(old)) => {
                self.data.delete_shards(vec![old]);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.data.delete_shards(vec![part]);
                Err(match e {
                    MetaError::NoSuchUpload => s3_error!(NoSuchUpload),
                    other => internal(other),
                })
            }
        }
    }

    /// The recorded part checksums of an upload that keeps a composite
    /// checksum, by part number (none for other uploads).
    fn part_sums(
        &self,
        upload_id: &str,
        composite: Option<Algorithm>,
    ) -> S3Result<std::collections::HashMap<u32, String>> {
        if composite.is_none() {
            return Ok(Default::default());
        }
        Ok(self
            .meta
            .part_checksums(upload_id)
            .map_err(internal)?
            .into_iter()
            .collect())
    }

    fn upload_state(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> S3Result<crate::meta::UploadState> {
        match self.meta.upload(upload_id).map_err(internal)? {
            Some(state) if state.0 == bucket && state.1 == key => Ok(state),
            _ => Err(s3_error!(NoSuchUpload)),
        }
    }
}

/// What a multipart upload's template records in its checksum field: the
/// algorithm, and this in place of a value.
const COMPOSITE_MARK: &str = "COMPOSITE";

/// The algorithm of the composite checksum an upload keeps, if any.
fn composite_algorithm(template: &ObjectMeta) -> Option<Algorithm> {
    match &template.checksum {
        Some((name, mark)) if mark == COMPOSITE_MARK => Algorithm::parse(name),
        _ => None,
    }
}

fn check_part_number(n: i32) -> S3Result<()> {
    if (1..=10_000).contains(&n) {
        Ok(())
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        ))
    }
}

fn scheme_of(meta: &ObjectMeta) -> mesh::codec::Scheme {
    mesh::codec::Scheme {
        k: meta.k as usize,
        m: meta.m as usize,
    }
}

fn md5_of_etag(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.trim_matches('"');
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A listing page's objects, keys passed through `enc`.
fn contents(page: &crate::meta::ListPage, enc: &dyn Fn(&str) -> String) -> Vec<Object> {
    page.objects
        .iter()
        .map(|(key, meta)| listed(&enc(key), meta))
        .collect()
}

/// A listing page's common prefixes, passed through `enc`.
fn prefixes(page: &crate::meta::ListPage, enc: &dyn Fn(&str) -> String) -> Vec<CommonPrefix> {
    page.common_prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc(p)),
        })
        .collect()
}

fn listed(key: &str, meta: &ObjectMeta) -> Object {
    Object {
        key: Some(key.to_owned()),
        size: Some(meta.size as i64),
        e_tag: Some(etag(&meta.etag)),
        last_modified: Some(timestamp(meta.last_modified)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

/// Continuation tokens are the last key returned, base64-encoded (opaque to
/// clients, as on AWS).
fn encode_token(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_token(token: &str) -> S3Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "The continuation token provided is incorrect",
            )
        })
}

/// URL-encodes a key as S3 does for `encoding-type=url`.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
