//! GetObjectAttributes: an object's ETag, checksum, parts, storage class
//! and size in one answer, without its body.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::Gateway;
use super::response::timestamp;
use crate::s3::checksum;
use crate::s3::window::is_multipart;

/// Parts listed per answer unless `x-amz-max-parts` says fewer.
const DEFAULT_MAX_PARTS: i32 = 1000;

pub(super) async fn get_object_attributes(
    gw: &Gateway,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let input = &req.input;
    let wanted: Vec<&str> = input.object_attributes.iter().map(|a| a.as_str()).collect();
    let known = [
        ObjectAttributes::ETAG,
        ObjectAttributes::CHECKSUM,
        ObjectAttributes::OBJECT_PARTS,
        ObjectAttributes::STORAGE_CLASS,
        ObjectAttributes::OBJECT_SIZE,
    ];
    if wanted.is_empty() || wanted.iter().any(|a| !known.contains(a)) {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Invalid attribute name specified.",
        ));
    }
    let max_parts = input.max_parts.unwrap_or(DEFAULT_MAX_PARTS);
    if !(0..=DEFAULT_MAX_PARTS).contains(&max_parts) {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "max-parts must be an integer between 0 and 1000",
        ));
    }
    let found = gw
        .find_version(&input.bucket, &input.key, input.version_id.as_deref())
        .await?;
    let meta = found.meta;
    let customer = super::sse_c::customer!(input, req)?;
    super::sse_c::check(meta.sse_customer_key_md5.as_deref(), customer.as_ref())?;
    let asked = |name: &str| wanted.contains(&name);
    let mut output = GetObjectAttributesOutput {
        last_modified: Some(timestamp(meta.last_modified)),
        version_id: found.version_id,
        ..Default::default()
    };
    if asked(ObjectAttributes::ETAG) {
        // Unquoted here, unlike every other answer.
        output.e_tag = Some(ETag::Strong(meta.etag.trim_matches('"').to_owned()));
    }
    if asked(ObjectAttributes::CHECKSUM) && meta.checksum.is_some() {
        output.checksum = Some(checksum::response_fields(meta.checksum.as_ref()));
    }
    if asked(ObjectAttributes::STORAGE_CLASS) {
        output.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    if asked(ObjectAttributes::OBJECT_SIZE) {
        output.object_size = Some(meta.size as i64);
    }
    // Only a multipart object has parts to list, as on AWS.
    if asked(ObjectAttributes::OBJECT_PARTS) && is_multipart(&meta) {
        let marker = input.part_number_marker.unwrap_or(0);
        let after: Vec<_> = meta
            .parts
            .iter()
            .filter(|p| i64::from(p.part_number) > i64::from(marker))
            .collect();
        let page = &after[..after.len().min(max_parts as usize)];
        let truncated = after.len() > page.len();
        output.object_parts = Some(GetObjectAttributesParts {
            total_parts_count: Some(meta.parts.len() as i32),
            part_number_marker: Some(marker),
            next_part_number_marker: page.last().map(|p| p.part_number as i32),
            max_parts: Some(max_parts),
            is_truncated: Some(truncated),
            parts: Some(
                page.iter()
                    .map(|p| ObjectPart {
                        part_number: Some(p.part_number as i32),
                        size: Some(p.size as i64),
                        ..Default::default()
                    })
                    .collect(),
            ),
        });
    }
    Ok(S3Response::new(output))
}
