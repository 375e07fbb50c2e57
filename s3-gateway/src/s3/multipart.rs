//! Multipart uploads: create, upload parts, complete (with composite
//! checksums), abort, list parts and uploads.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::meta::versions::Versioning;
use crate::meta::{Completion, MetaError, ObjectMeta};
use crate::s3::checksum::{self, Algorithm, BodyCheck};
use crate::s3::conditional::WriteConditions;

use super::Gateway;
use super::error::*;
use super::objects::*;
use super::response::*;
use super::{object_acl, object_lock, sse_c, tagging};

pub(super) async fn create_multipart_upload(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = req.input;
    let customer = sse_c::customer!(input, req)?;
    let acl = gw
        .write_acl(
            &input.bucket,
            input.acl.as_ref(),
            object_acl::write_grants!(input),
        )
        .await?;
    gw.require_bucket(&input.bucket).await?;
    let scheme = gw.data.params().scheme;
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
    let composite = algorithm.filter(|&a| a != Algorithm::Crc64Nvme && full_object != Some(true));
    let tags = tagging::from_optional_header(input.tagging.as_deref())?;
    let (retention, legal_hold) = gw
        .lock_for_write(&input.bucket, object_lock::lock_headers!(input))
        .await?;
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
        encryption_key: gw.new_object_key().1,
        segment_size: gw.data.params().segment_size as u64,
        k: scheme.k as u8,
        m: scheme.m as u8,
        parts: Vec::new(),
        acl,
        sse_customer_key_md5: customer.as_ref().map(|c| c.md5().to_owned()),
        tags,
        retention,
        legal_hold,
        ..Default::default()
    };
    let upload_id = gw
        .meta
        .create_upload(&input.bucket, &input.key, &template)
        .await?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload_id),
        sse_customer_algorithm: customer.as_ref().map(|_| sse_c::ALGORITHM.to_owned()),
        sse_customer_key_md5: customer.as_ref().map(|c| c.md5().to_owned()),
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

pub(super) async fn upload_part(
    gw: &Gateway,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let input = req.input;
    check_part_number(input.part_number)?;
    let (_, _, template, _) = gw
        .upload_state(&input.upload_id, &input.bucket, &input.key)
        .await?;
    // Every part of an SSE-C upload brings the key it was started with.
    let customer = sse_c::customer!(input, req)?;
    let key = gw.data_key(&template, customer.as_ref())?;
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
    let (mut written, computed) = gw
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
    sse_c::mask(customer.as_ref(), &mut written.part);
    let etag_value = written.part.etag.clone();
    let kept = computed
        .as_ref()
        .filter(|(a, _)| Some(*a) == composite)
        .map(|(_, v)| v.as_str());
    gw.record_part(&input.upload_id, written.part, kept).await?;
    let mut sums = checksum::response_fields(stored_checksum(computed).as_ref());
    sums.checksum_type = None;
    let (sse_customer_algorithm, sse_customer_key_md5) =
        sse_c::answer(template.sse_customer_key_md5.as_deref());
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(etag(&etag_value)),
        sse_customer_algorithm,
        sse_customer_key_md5,
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        ..Default::default()
    }))
}

pub(super) async fn complete_multipart_upload(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    let conditions = WriteConditions {
        if_match: input.if_match.as_ref(),
        if_none_match: input.if_none_match.as_ref(),
    };
    conditions.validate()?;
    let (bucket, key, template, stored) = match gw.meta.upload(&input.upload_id).await? {
        Some(state) if state.0 == input.bucket && state.1 == input.key => state,
        _ => return completed_before(gw, &input).await,
    };
    let requested = input
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.clone())
        .unwrap_or_default();
    if requested.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "You must specify at least one part",
        ));
    }
    let composite = composite_algorithm(&template);
    let sums = gw.part_sums(&input.upload_id, composite).await?;
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
    // A refused condition leaves the upload as it was; the commit forgets
    // it in the same transaction, refused if another completion or an
    // abort got there first (then this may be a retry of that completion).
    let completing = Completing {
        completion: Completion {
            upload_id: input.upload_id.clone(),
            parts: meta.parts.clone(),
        },
        unused,
    };
    let version_id = match gw
        .commit_then(&bucket, &key, &meta, conditions, Some(completing))
        .await
    {
        Err(e) if *e.code() == S3ErrorCode::NoSuchUpload => {
            if gw.meta.upload(&input.upload_id).await?.is_some() {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidPart,
                    "A part was uploaded again while the upload was being completed",
                ));
            }
            return completed_before(gw, &input).await;
        }
        other => other?,
    };
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        version_id,
        ..completed(&bucket, &key, &meta)
    }))
}

/// The answer to a completed upload now stored as `meta`.
fn completed(bucket: &str, key: &str, meta: &ObjectMeta) -> CompleteMultipartUploadOutput {
    let sums = checksum::response_fields(meta.checksum.as_ref());
    CompleteMultipartUploadOutput {
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        e_tag: Some(etag(&meta.etag)),
        location: Some(format!("/{bucket}/{key}")),
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        checksum_type: sums.checksum_type,
        ..Default::default()
    }
}

/// A completion sent again after it succeeded (clients retry after a
/// time-out): the upload is gone, but if the object at its key is made of
/// exactly the parts listed (numbers, in order, and their ETags), AWS
/// answers the same success again, and so does this. Anything else is
/// NoSuchUpload.
async fn completed_before(
    gw: &Gateway,
    input: &CompleteMultipartUploadInput,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let requested = input
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_deref())
        .unwrap_or_default();
    let Some(meta) = gw.meta.object(&input.bucket, &input.key).await? else {
        return Err(s3_error!(NoSuchUpload));
    };
    let same_parts = meta.etag.contains('-')
        && !requested.is_empty()
        && requested.len() == meta.parts.len()
        && requested.iter().zip(&meta.parts).all(|(asked, part)| {
            asked.part_number == Some(part.part_number as i32)
                && asked
                    .e_tag
                    .as_ref()
                    .is_none_or(|e| e.value().trim_matches('"') == part.etag.trim_matches('"'))
        });
    if !same_parts {
        return Err(s3_error!(NoSuchUpload));
    }
    // The version the first completion made, in a bucket with versioning.
    let version_id = match gw.versioning(&input.bucket).await? {
        Versioning::Unversioned => None,
        _ => Some(crate::meta::versions::shown_id(&meta).to_owned()),
    };
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        version_id,
        ..completed(&input.bucket, &input.key, &meta)
    }))
}

pub(super) async fn abort_multipart_upload(
    gw: &Gateway,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    gw.upload_state(&input.upload_id, &input.bucket, &input.key)
        .await?;
    if let Some(parts) = gw.meta.remove_upload(&input.upload_id).await? {
        gw.data.delete_shards(parts);
    }
    Ok(S3Response::with_status(
        AbortMultipartUploadOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn list_parts(
    gw: &Gateway,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let (_, _, template, parts) = gw
        .upload_state(&input.upload_id, &input.bucket, &input.key)
        .await?;
    // The recorded part checksums of an upload that keeps them.
    let composite = composite_algorithm(&template);
    let sums = gw.part_sums(&input.upload_id, composite).await?;
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

pub(super) async fn list_multipart_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    let prefix = input.prefix.clone().unwrap_or_default();
    let uploads = gw.meta.list_uploads(&input.bucket, &prefix).await?;
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

/// Smallest part but the last, as on AWS.
pub(super) const MIN_PART_SIZE: u64 = 5 << 20;

impl Gateway {
    /// Records `part` of upload `upload_id`, deleting the shards of the part
    /// it replaces that it does not name itself. The same bytes sent again
    /// (a client retrying after a time-out) are sealed and placed exactly
    /// as before, so the "replaced" part is often this one: deleting it
    /// whole would lose the part. A part not recorded (the upload gone, or
    /// an error) leaves its shards to garbage collection: they may be the
    /// very shards of a recorded part or of the object that completed the
    /// upload.
    pub(super) async fn record_part(
        &self,
        upload_id: &str,
        part: crate::meta::PartLayout,
        checksum: Option<&str>,
    ) -> S3Result<()> {
        match self.meta.put_part(upload_id, &part, checksum).await {
            Ok(Some(old)) => {
                let left = not_named_by(vec![old], std::slice::from_ref(&part));
                self.data.delete_shards(left);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(MetaError::NoSuchUpload) => Err(s3_error!(NoSuchUpload)),
            // Not recorded, but the same bytes may be recorded already
            // (under the same shard ids): garbage collection decides.
            Err(other) => Err(internal(other)),
        }
    }
}

impl Gateway {
    /// The recorded part checksums of an upload that keeps a composite
    /// checksum, by part number (none for other uploads).
    pub(super) async fn part_sums(
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
            .await?
            .into_iter()
            .collect())
    }
}

impl Gateway {
    pub(super) async fn upload_state(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> S3Result<crate::meta::UploadState> {
        match self.meta.upload(upload_id).await? {
            Some(state) if state.0 == bucket && state.1 == key => Ok(state),
            _ => Err(s3_error!(NoSuchUpload)),
        }
    }
}

/// What a multipart upload's template records in its checksum field: the
/// algorithm, and this in place of a value.
pub(super) const COMPOSITE_MARK: &str = "COMPOSITE";

/// The algorithm of the composite checksum an upload keeps, if any.
pub(super) fn composite_algorithm(template: &ObjectMeta) -> Option<Algorithm> {
    match &template.checksum {
        Some((name, mark)) if mark == COMPOSITE_MARK => Algorithm::parse(name),
        _ => None,
    }
}

pub(super) fn check_part_number(n: i32) -> S3Result<()> {
    if (1..=10_000).contains(&n) {
        Ok(())
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        ))
    }
}

pub(super) fn md5_of_etag(etag: &str) -> Option<[u8; 16]> {
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
