//! Object operations: put, get, head, delete (one and many); receiving a
//! body into the data path and committing its manifest.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::data::{ObjectRef, Written};
use crate::http::conn::ClientInfo;
use crate::meta::ObjectMeta;
use crate::meta::versions::{NULL_VERSION, Versioning};
use crate::s3::checksum::{self, Algorithm, BodyCheck};
use crate::s3::conditional::WriteConditions;

use super::response::*;
use super::{Gateway, access};
use super::{object_acl, object_lock, sse_c, tagging};

/// The multipart upload a commit completes: forgotten in the commit's
/// transaction (which fails if the upload is gone or a part changed), and
/// the shards of its parts the object leaves out, deleted once committed.
pub(super) struct Completing {
    /// The upload and the parts the object is made of.
    pub(super) completion: crate::meta::Completion,
    /// Its other parts.
    pub(super) unused: Vec<crate::meta::PartLayout>,
}

/// `old` without the shard copies `new` still names (the same bytes
/// written again under the same key are the same shards), for deleting
/// what a replaced object or part leaves behind.
pub(super) fn not_named_by(
    mut old: Vec<crate::meta::PartLayout>,
    new: &[crate::meta::PartLayout],
) -> Vec<crate::meta::PartLayout> {
    let named: std::collections::HashSet<(&[u8], [u8; 32])> = new
        .iter()
        .flat_map(|p| &p.segments)
        .flat_map(|s| &s.shards)
        .map(|s| (s.node.as_slice(), s.id))
        .collect();
    for segment in old.iter_mut().flat_map(|p| &mut p.segments) {
        segment
            .shards
            .retain(|s| !named.contains(&(s.node.as_slice(), s.id)));
    }
    old
}

/// Largest object a single PUT may carry, and largest part, as on AWS.
pub(super) const MAX_PUT_SIZE: u64 = 5 << 30;

pub(super) fn entity_too_large() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::EntityTooLarge,
        "Your proposed upload exceeds the maximum allowed object size.",
    )
}

/// A request body with what the headers say about it.
pub(super) struct IncomingBody {
    pub(super) body: StreamingBlob,
    pub(super) declared: Option<u64>,
    pub(super) content_md5: Option<[u8; 16]>,
    pub(super) expectation: Option<checksum::Expectation>,
}

/// Checks what PutObject and UploadPart headers say about their body
/// (present, not over 5 GiB, Content-MD5 well formed, one consistent
/// checksum) before any byte is read.
pub(super) fn incoming_body(
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
    let content_md5 = content_md5.map(checksum::parse_content_md5).transpose()?;
    let expectation = checksum::plan(
        &checksum::claimed(claimed),
        algorithm,
        trailer_header(headers),
    )?;
    Ok(IncomingBody {
        body,
        declared,
        content_md5,
        expectation,
    })
}

/// `x-amz-trailer`, if the request has one.
pub(super) fn trailer_header(headers: &http::HeaderMap) -> Option<&str> {
    headers.get("x-amz-trailer").and_then(|v| v.to_str().ok())
}

pub(super) async fn put_object(
    gw: &Gateway,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    if req.method == http::Method::POST {
        // A browser form upload (PostObject): the access check saw only
        // the bucket; the key, known from the form, is decided here.
        let info = gw.meta.bucket_access(&input.bucket).await?;
        let facts = access::Facts {
            client: req.extensions.get::<ClientInfo>().copied(),
            headers: &req.headers,
            query: req.uri.query(),
        };
        let principal = req.credentials.as_ref().map(|c| c.access_key.as_str());
        let allowed = info.as_deref().is_some_and(|info| {
            let target = access::Target {
                bucket: &input.bucket,
                key: Some(&input.key),
                version: false,
            };
            access::permitted(info, principal, "PutObject", &target, &facts)
        });
        if !allowed {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Access Denied",
            ));
        }
    }
    let customer = sse_c::customer!(input, req)?;
    let acl = gw
        .write_acl(
            &input.bucket,
            input.acl.as_ref(),
            object_acl::write_grants!(input),
        )
        .await?;
    let tags = tagging::from_optional_header(input.tagging.as_deref())?;
    let (retention, legal_hold) = gw
        .lock_for_write(&input.bucket, object_lock::lock_headers!(input))
        .await?;
    let conditions = WriteConditions {
        if_match: input.if_match.as_ref(),
        if_none_match: input.if_none_match.as_ref(),
    };
    // Refuse early what can be refused before the body is read; the
    // check is repeated atomically when the object is committed.
    conditions.validate()?;
    if !conditions.is_empty() {
        let current = gw.meta.object(&input.bucket, &input.key).await?;
        conditions.check(current.as_ref().map(|m| m.etag.as_str()))?;
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
    let (key, wrapped_key) = gw.new_object_key();
    let key = match &customer {
        Some(c) => c.data_key(&key),
        None => key,
    };
    let (mut written, computed) = gw
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
    sse_c::mask(customer.as_ref(), &mut written.part);
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
        segment_size: gw.data.params().segment_size as u64,
        k: written.scheme.k as u8,
        m: written.scheme.m as u8,
        parts: vec![written.part],
        acl,
        sse_customer_key_md5: customer.as_ref().map(|c| c.md5().to_owned()),
        tags,
        retention,
        legal_hold,
        ..Default::default()
    };
    let version_id = match gw
        .commit(&input.bucket, &input.key, &meta, conditions)
        .await
    {
        Ok(version_id) => version_id,
        Err(e) => {
            gw.data.delete_shards(meta.parts);
            return Err(e);
        }
    };
    let sums = checksum::response_fields(meta.checksum.as_ref());
    let (sse_customer_algorithm, sse_customer_key_md5) =
        sse_c::answer(meta.sse_customer_key_md5.as_deref());
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(etag(&meta.etag)),
        version_id,
        sse_customer_algorithm,
        sse_customer_key_md5,
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        checksum_type: sums.checksum_type,
        ..Default::default()
    }))
}

pub(super) async fn get_object(
    gw: &Gateway,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let input = req.input;
    let principal = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let found = gw
        .object_for(
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            principal,
            &req.extensions,
        )
        .await?;
    let meta = &found.meta;
    let lock = object_lock::answer(meta);
    let customer = sse_c::customer!(input, req)?;
    let (sse_customer_algorithm, sse_customer_key_md5) =
        sse_c::for_read(meta.sse_customer_key_md5.as_deref(), customer.as_ref())?;
    check_read(
        preconditions(
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        ),
        meta,
    )?;
    let (window, headers, sums) = read_answer(
        meta,
        req.credentials.is_some(),
        input.range.as_ref(),
        input.part_number,
        input.checksum_mode.as_ref(),
        response_overrides!(input),
    )?;
    let range = window.range.clone();
    // Damage found while reading is reported against the row read (a
    // noncurrent version's is in the versions namespace).
    let stream = gw.data.read_parts(
        ObjectRef::new(&found.at.bucket, &found.at.key),
        gw.data_key(meta, customer.as_ref())?,
        scheme_of(meta),
        meta.parts.clone(),
        range.clone(),
    );
    let body = StreamingBlob::wrap(stream);
    Ok(S3Response::new(GetObjectOutput {
        body: Some(body),
        tag_count: (!meta.tags.is_empty()).then_some(meta.tags.len() as i32),
        content_length: Some((range.end - range.start) as i64),
        content_range: window.content_range,
        parts_count: window.parts_count,
        accept_ranges: Some("bytes".into()),
        sse_customer_algorithm,
        sse_customer_key_md5,
        e_tag: Some(etag(&meta.etag)),
        last_modified: Some(timestamp(meta.last_modified)),
        content_type: headers.content_type,
        content_encoding: headers.content_encoding,
        content_disposition: headers.content_disposition,
        content_language: headers.content_language,
        cache_control: headers.cache_control,
        expires: headers.expires,
        metadata: response_metadata(meta),
        version_id: found.version_id.clone(),
        object_lock_mode: lock.mode,
        object_lock_retain_until_date: lock.until,
        object_lock_legal_hold_status: lock.legal_hold,
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        checksum_type: sums.checksum_type,
        ..Default::default()
    }))
}

pub(super) async fn head_object(
    gw: &Gateway,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    let principal = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let found = gw
        .object_for(
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            principal,
            &req.extensions,
        )
        .await?;
    let meta = &found.meta;
    let lock = object_lock::answer(meta);
    let customer = sse_c::customer!(input, req)?;
    let (sse_customer_algorithm, sse_customer_key_md5) =
        sse_c::for_read(meta.sse_customer_key_md5.as_deref(), customer.as_ref())?;
    check_read(
        preconditions(
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        ),
        meta,
    )?;
    let (window, headers, sums) = read_answer(
        meta,
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
        sse_customer_algorithm,
        sse_customer_key_md5,
        e_tag: Some(etag(&meta.etag)),
        last_modified: Some(timestamp(meta.last_modified)),
        content_type: headers.content_type,
        content_encoding: headers.content_encoding,
        content_disposition: headers.content_disposition,
        content_language: headers.content_language,
        cache_control: headers.cache_control,
        expires: headers.expires,
        metadata: response_metadata(meta),
        version_id: found.version_id.clone(),
        object_lock_mode: lock.mode,
        object_lock_retain_until_date: lock.until,
        object_lock_legal_hold_status: lock.legal_hold,
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

pub(super) async fn delete_object(
    gw: &Gateway,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let input = &req.input;
    let deleted = gw
        .delete_one(
            &req,
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            input.bypass_governance_retention.unwrap_or(false),
        )
        .await?;
    Ok(S3Response::with_status(
        DeleteObjectOutput {
            delete_marker: deleted.delete_marker.then_some(true),
            version_id: deleted.version_id,
            ..Default::default()
        },
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn delete_objects(
    gw: &Gateway,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let input = &req.input;
    gw.require_bucket(&input.bucket).await?;
    if input.delete.objects.len() > 1000 {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "at most 1000 keys per request",
        ));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let bypass = input.bypass_governance_retention.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    // The access check let the request through on the bucket; a policy
    // decides each key (AWS checks s3:DeleteObject per object, or
    // s3:DeleteObjectVersion for one named with its version id).
    let info = gw.meta.bucket_access(&input.bucket).await?;
    let principal = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let facts = access::Facts {
        client: req.extensions.get::<ClientInfo>().copied(),
        headers: &req.headers,
        query: req.uri.query(),
    };
    for object in &input.delete.objects {
        let target = access::Target {
            bucket: &input.bucket,
            key: Some(&object.key),
            version: object.version_id.is_some(),
        };
        if let Some(info) = info.as_deref()
            && !access::permitted(info, principal, "DeleteObject", &target, &facts)
        {
            errors.push(Error {
                key: Some(object.key.clone()),
                version_id: object.version_id.clone(),
                code: Some("AccessDenied".into()),
                message: Some("Access Denied".into()),
            });
            continue;
        }
        // A missing key counts as deleted, as on AWS.
        let done = gw
            .delete_one(
                &req,
                &input.bucket,
                &object.key,
                object.version_id.as_deref(),
                bypass,
            )
            .await;
        match done {
            Ok(done) if !quiet => {
                let marker_id = done
                    .delete_marker
                    .then(|| done.version_id.clone())
                    .flatten();
                deleted.push(DeletedObject {
                    key: Some(object.key.clone()),
                    version_id: object.version_id.clone(),
                    delete_marker: done.delete_marker.then_some(true),
                    delete_marker_version_id: marker_id,
                })
            }
            Ok(_) => {}
            Err(e) => errors.push(Error {
                key: Some(object.key.clone()),
                version_id: object.version_id.clone(),
                code: Some(e.code().as_str().to_owned()),
                message: e.message().map(str::to_owned),
            }),
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}

impl Gateway {
    /// Streams an upload's body into the data path as part `part_number`
    /// sealed with `key`, hashing it for `check` on the way; once it has
    /// ended, checks the checksum (a trailer is read from `trailers`) and
    /// the Content-MD5. On a mismatch the shards just written are deleted
    /// and nothing is recorded.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn receive(
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
            .await?;
        let trailers = trailers.and_then(|t| t.take());
        let verified = check
            .finish(trailers.as_ref())
            .map_err(S3Error::from)
            .and_then(|computed| match &content_md5 {
                Some(given) => checksum::check_content_md5(given, &written.md5)
                    .map(|()| computed)
                    .map_err(S3Error::from),
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
}

impl Gateway {
    /// Commits `meta` as object `key` of `bucket` if `conditions` hold at
    /// that moment (checked in the same transaction): a new version in a
    /// bucket with versioning, else replacing the object (whose shards are
    /// deleted). Returns the version id to answer with. On an error
    /// nothing is committed; the new object's shards are the caller's to
    /// delete.
    pub(super) async fn commit(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        conditions: WriteConditions<'_>,
    ) -> S3Result<Option<String>> {
        self.commit_then(bucket, key, meta, conditions, None).await
    }
}

impl Gateway {
    /// [`Gateway::commit`], completing a multipart upload if `completing`
    /// says so.
    pub(super) async fn commit_then(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        conditions: WriteConditions<'_>,
        completing: Option<Completing>,
    ) -> S3Result<Option<String>> {
        let condition = conditions.condition();
        let versioning = self.versioning(bucket).await?;
        let committed = match &completing {
            Some(c) => {
                self.meta
                    .complete_version(
                        bucket,
                        key,
                        meta.clone(),
                        condition,
                        versioning,
                        &c.completion,
                    )
                    .await??
            }
            None => {
                self.meta
                    .put_version(bucket, key, meta.clone(), condition, versioning)
                    .await??
            }
        };
        if let Some(c) = completing {
            self.data.delete_shards(c.unused);
        }
        let answered = (versioning != Versioning::Unversioned).then(|| {
            committed
                .version_id
                .as_deref()
                .unwrap_or(NULL_VERSION)
                .to_owned()
        });
        if let Some(old) = committed.displaced {
            self.data
                .delete_shards(not_named_by(old.parts, &meta.parts));
        }
        // Stopped after the commit, this only leaves the replaced object's
        // shards to garbage collection.
        Ok(answered)
    }
}
