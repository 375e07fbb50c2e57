//! Copies that stream one object into another: CopyObject and
//! UploadPartCopy.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::data::{DataError, ObjectRef};
use crate::meta::ObjectMeta;
use crate::s3::checksum::{self, Algorithm, BodyCheck, ChecksumError};
use crate::s3::copy_source::{SourceFailed, parse_copy_range};

use super::Gateway;
use super::multipart::*;
use super::objects::*;
use super::response::*;
use super::{object_acl, object_lock, sse_c, tagging};

/// A write whose source was another object failed: if reading the source
/// did, that is the service's fault, not the request's.
pub(super) fn copy_error(e: DataError, source: &SourceFailed) -> S3Error {
    if source.get() {
        S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string())
    } else {
        S3Error::from(e)
    }
}

pub(super) async fn copy_object(
    gw: &Gateway,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let input = req.input;
    let CopySource::Bucket {
        bucket: src_bucket,
        key: src_key,
        version_id: src_version,
    } = &input.copy_source
    else {
        return Err(s3_error!(NotImplemented, "copying from an access point"));
    };
    let found = gw
        .find_source(src_bucket, src_key, src_version.as_deref())
        .await?;
    let source = found.meta;
    gw.require_bucket(&input.bucket).await?;
    let tags = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
        Some(TaggingDirective::REPLACE) => tagging::from_optional_header(input.tagging.as_deref())?,
        _ => source.tags.clone(),
    };
    let (retention, legal_hold) = gw
        .lock_for_write(&input.bucket, object_lock::lock_headers!(input))
        .await?;
    // SSE-C: the source is read with its key, the copy sealed with its own.
    let source_customer = sse_c::customer!(copy_source input, req)?;
    let source_key = gw.data_key(&source, source_customer.as_ref())?;
    let customer = sse_c::customer!(input, req)?;
    // The copy is a new object: private unless the request asks otherwise
    // (the source's ACL is not copied, as on AWS).
    let acl = gw
        .write_acl(
            &input.bucket,
            input.acl.as_ref(),
            object_acl::write_grants!(input),
        )
        .await?;
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
        .transpose()?;
    let source_algorithm = source
        .checksum
        .as_ref()
        .and_then(|(name, _)| Algorithm::parse(name));
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let changes_checksum = requested.is_some_and(|a| Some(a) != source_algorithm);
    let changes_encryption =
        customer.as_ref().map(|c| c.md5()) != source.sse_customer_key_md5.as_deref();
    if !replace
        && !changes_checksum
        && !changes_encryption
        && src_version.is_none()
        && **src_bucket == *input.bucket
        && **src_key == *input.key
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
    let stream = gw.data.read_parts(
        ObjectRef::new(&found.at.bucket, &found.at.key),
        source_key,
        scheme_of(&source),
        source.parts.clone(),
        0..source.size,
    );
    let (key, wrapped_key) = gw.new_object_key();
    let key = match &customer {
        Some(c) => c.data_key(&key),
        None => key,
    };
    let mut written = gw
        .data
        .write(
            &key,
            0,
            Some(source.size),
            check.wrap(Box::pin(failed.watch(stream))),
        )
        .await
        .map_err(|e| copy_error(e, &failed))?;
    sse_c::mask(customer.as_ref(), &mut written.part);
    let computed = check.finish(None)?;
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
    meta.segment_size = gw.data.params().segment_size as u64;
    meta.k = written.scheme.k as u8;
    meta.m = written.scheme.m as u8;
    meta.parts = vec![written.part];
    meta.acl = acl;
    meta.sse_customer_key_md5 = customer.as_ref().map(|c| c.md5().to_owned());
    meta.tags = tags;
    meta.retention = retention;
    meta.legal_hold = legal_hold;
    let version_id = match gw
        .commit(&input.bucket, &input.key, &meta, Default::default())
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
    Ok(S3Response::new(CopyObjectOutput {
        version_id,
        copy_source_version_id: found.version_id,
        sse_customer_algorithm,
        sse_customer_key_md5,
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

pub(super) async fn upload_part_copy(
    gw: &Gateway,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = req.input;
    check_part_number(input.part_number)?;
    let (_, _, template, _) = gw
        .upload_state(&input.upload_id, &input.bucket, &input.key)
        .await?;
    let CopySource::Bucket {
        bucket: src_bucket,
        key: src_key,
        version_id: src_version,
    } = &input.copy_source
    else {
        return Err(s3_error!(NotImplemented, "copying from an access point"));
    };
    let found = gw
        .find_source(src_bucket, src_key, src_version.as_deref())
        .await?;
    let source = &found.meta;
    let source_customer = sse_c::customer!(copy_source input, req)?;
    let source_key = gw.data_key(source, source_customer.as_ref())?;
    let customer = sse_c::customer!(input, req)?;
    let part_key = gw.data_key(&template, customer.as_ref())?;
    check_copy_source(
        preconditions(
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        ),
        source,
    )?;
    let range = parse_copy_range(input.copy_source_range.as_deref(), source.size)?;
    let len = range.end - range.start;
    if len > MAX_PUT_SIZE {
        return Err(entity_too_large());
    }
    // The range streams from the source's shards into the part's: one
    // segment at a time, never the whole range in memory.
    let failed = SourceFailed::default();
    let stream = gw.data.read_parts(
        ObjectRef::new(&found.at.bucket, &found.at.key),
        source_key,
        scheme_of(source),
        source.parts.clone(),
        range,
    );
    // The part's checksum of the upload's composite algorithm is
    // computed as the bytes stream.
    let check = BodyCheck::new(None, composite_algorithm(&template));
    let mut written = gw
        .data
        .write(
            &part_key,
            input.part_number as u32,
            Some(len),
            check.wrap(Box::pin(failed.watch(stream))),
        )
        .await
        .map_err(|e| copy_error(e, &failed))?;
    sse_c::mask(customer.as_ref(), &mut written.part);
    let computed = check.finish(None)?;
    let etag_value = written.part.etag.clone();
    let kept = computed.as_ref().map(|(_, v)| v.as_str());
    gw.record_part(&input.upload_id, written.part, kept).await?;
    let (sse_customer_algorithm, sse_customer_key_md5) =
        sse_c::answer(template.sse_customer_key_md5.as_deref());
    Ok(S3Response::new(UploadPartCopyOutput {
        sse_customer_algorithm,
        sse_customer_key_md5,
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag(&etag_value)),
            last_modified: Some(timestamp(now_ms())),
            ..Default::default()
        }),
        ..Default::default()
    }))
}
