//! Listings: ListObjects v1 and v2, ListObjectVersions, and their
//! continuation tokens and key encoding.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::meta::versions::{VersionQuery, shown_id};
use crate::meta::{ListQuery, ObjectMeta};

use super::Gateway;
use super::response::*;

pub(super) async fn list_objects_v2(
    gw: &Gateway,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let bucket_owner = gw.bucket_owner(&input.bucket).await?;
    let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
    let start_after = match &input.continuation_token {
        Some(token) => Some(decode_token(token)?),
        None => input.start_after.clone(),
    };
    let prefix = input.prefix.clone().unwrap_or_default();
    let page = gw
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
        .await?;
    let url = input
        .encoding_type
        .as_ref()
        .is_some_and(|e| e.as_str() == EncodingType::URL);
    let enc = |s: &str| if url { url_encode(s) } else { s.to_owned() };
    let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
    let mut contents = contents(&page, &enc);
    // Objects belong to their bucket's owner (as on AWS with ACLs
    // disabled, its default): shown only when asked for.
    if input.fetch_owner == Some(true) {
        for object in &mut contents {
            object.owner = Some(super::acl::owner(&bucket_owner));
        }
    }
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc(&prefix)),
        delimiter: not_empty(input.delimiter.as_deref()).map(enc),
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
        contents: Some(contents),
        common_prefixes: Some(prefixes(&page, &enc)),
        ..Default::default()
    }))
}

/// An echoed parameter, unless it was sent empty (AWS leaves out an empty
/// `delimiter=`).
fn not_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

pub(super) async fn list_object_versions(
    gw: &Gateway,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = req.input;
    let bucket_owner = gw.bucket_owner(&input.bucket).await?;
    let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
    let prefix = input.prefix.clone().unwrap_or_default();
    let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
    let version_id_marker = input.version_id_marker.clone().filter(|m| !m.is_empty());
    if version_id_marker.is_some() && key_marker.is_none() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "A version-id marker cannot be specified without a key marker.",
        ));
    }
    if let Some(v) = version_id_marker.as_deref() {
        super::versioning::version_param(Some(v))?;
    }
    let page = gw
        .meta
        .list_versions(
            &input.bucket,
            &VersionQuery {
                prefix: prefix.clone(),
                delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
                key_marker,
                version_id_marker,
                max_keys,
            },
        )
        .await?;
    let url = input
        .encoding_type
        .as_ref()
        .is_some_and(|e| e.as_str() == EncodingType::URL);
    let enc = |s: &str| if url { url_encode(s) } else { s.to_owned() };
    let owner = super::acl::owner(&bucket_owner);
    let mut versions = Vec::new();
    let mut delete_markers = Vec::new();
    for entry in &page.entries {
        let version_id = Some(shown_id(&entry.meta).to_owned());
        if entry.meta.delete_marker {
            delete_markers.push(DeleteMarkerEntry {
                key: Some(enc(&entry.key)),
                version_id,
                is_latest: Some(entry.is_latest),
                last_modified: Some(timestamp(entry.meta.last_modified)),
                owner: Some(owner.clone()),
            });
        } else {
            versions.push(ObjectVersion {
                key: Some(enc(&entry.key)),
                version_id,
                is_latest: Some(entry.is_latest),
                size: Some(entry.meta.size as i64),
                e_tag: Some(etag(&entry.meta.etag)),
                last_modified: Some(timestamp(entry.meta.last_modified)),
                owner: Some(owner.clone()),
                checksum_algorithm: entry
                    .meta
                    .checksum
                    .as_ref()
                    .map(|(name, _)| vec![ChecksumAlgorithm::from(name.clone())]),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..Default::default()
            });
        }
    }
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(enc(&prefix)),
        delimiter: not_empty(input.delimiter.as_deref()).map(enc),
        key_marker: Some(enc(input.key_marker.as_deref().unwrap_or_default())),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        max_keys: Some(max_keys as i32),
        is_truncated: Some(page.is_truncated),
        next_key_marker: page.next_key_marker.as_deref().map(enc),
        next_version_id_marker: page.next_version_id_marker,
        encoding_type: input.encoding_type,
        versions: Some(versions),
        delete_markers: (!delete_markers.is_empty()).then_some(delete_markers),
        common_prefixes: Some(
            page.common_prefixes
                .iter()
                .map(|p| CommonPrefix {
                    prefix: Some(enc(p)),
                })
                .collect(),
        ),
        ..Default::default()
    }))
}

pub(super) async fn list_objects(
    gw: &Gateway,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    let bucket_owner = gw.bucket_owner(&input.bucket).await?;
    let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let page = gw
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
        .await?;
    let url = input
        .encoding_type
        .as_ref()
        .is_some_and(|e| e.as_str() == EncodingType::URL);
    let enc = |s: &str| if url { url_encode(s) } else { s.to_owned() };
    // Version 1 lists every object's owner, the bucket's (see v2).
    let mut contents = contents(&page, &enc);
    for object in &mut contents {
        object.owner = Some(super::acl::owner(&bucket_owner));
    }
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(enc(&prefix)),
        delimiter: not_empty(input.delimiter.as_deref()).map(enc),
        marker: Some(input.marker.as_deref().map(enc).unwrap_or_default()),
        max_keys: Some(max_keys as i32),
        is_truncated: Some(page.is_truncated),
        // AWS sends NextMarker only when a delimiter was given.
        next_marker: (page.is_truncated && delimiter.is_some())
            .then(|| page.next_marker.as_deref().map(enc))
            .flatten(),
        encoding_type: input.encoding_type,
        contents: Some(contents),
        common_prefixes: Some(prefixes(&page, &enc)),
        ..Default::default()
    }))
}

/// A listing page's objects, keys passed through `enc`.
pub(super) fn contents(page: &crate::meta::ListPage, enc: &dyn Fn(&str) -> String) -> Vec<Object> {
    page.objects
        .iter()
        .map(|(key, meta)| listed(&enc(key), meta))
        .collect()
}

/// A listing page's common prefixes, passed through `enc`.
pub(super) fn prefixes(
    page: &crate::meta::ListPage,
    enc: &dyn Fn(&str) -> String,
) -> Vec<CommonPrefix> {
    page.common_prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc(p)),
        })
        .collect()
}

pub(super) fn listed(key: &str, meta: &ObjectMeta) -> Object {
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
pub(super) fn encode_token(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

pub(super) fn decode_token(token: &str) -> S3Result<String> {
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
pub(super) fn url_encode(s: &str) -> String {
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
