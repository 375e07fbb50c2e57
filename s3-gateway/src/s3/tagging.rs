//! Object and bucket tagging: the `x-amz-tagging` header of writes,
//! Put/Get/DeleteObjectTagging (of any version) and
//! Put/Get/DeleteBucketTagging, held to AWS's limits.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::meta::bucket_config::TAGGING;

use super::Gateway;

/// Most tags on an object.
pub const MAX_OBJECT_TAGS: usize = 10;
/// Most tags on a bucket.
pub const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key, in Unicode characters.
pub const MAX_KEY_CHARS: usize = 128;
/// Longest tag value, in Unicode characters.
pub const MAX_VALUE_CHARS: usize = 256;

/// Tags as stored: (key, value) in the order given.
pub type Tags = Vec<(String, String)>;

fn invalid_tag(why: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, why.to_owned())
}

/// Checks `tags` against AWS's limits (at most `max`, keys 1 to 128
/// characters and unique, values up to 256).
pub fn validate(tags: &Tags, max: usize) -> S3Result<()> {
    if tags.len() > max {
        return Err(invalid_tag(&format!(
            "{} tags cannot be greater than {max}",
            if max == MAX_OBJECT_TAGS {
                "Object"
            } else {
                "Bucket"
            }
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
            return Err(invalid_tag(
                "The TagKey you have provided is invalid or too long",
            ));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(invalid_tag(
                "The TagValue you have provided is invalid or too long",
            ));
        }
        if !seen.insert(key.as_str()) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

/// The tags of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded),
/// checked.
pub fn from_header(header: &str) -> S3Result<Tags> {
    let tags: Tags = form_urlencoded::parse(header.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    validate(&tags, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

/// The tags of an optional `x-amz-tagging` header (none: no tags).
pub fn from_optional_header(header: Option<&str>) -> S3Result<Tags> {
    Ok(header.map(from_header).transpose()?.unwrap_or_default())
}

/// The tags of a Tagging document, checked.
fn from_document(tagging: Tagging, max: usize) -> S3Result<Tags> {
    let tags: Tags = tagging
        .tag_set
        .into_iter()
        .map(|t| {
            Ok((
                t.key.ok_or_else(|| invalid_tag("A tag needs a Key"))?,
                t.value.unwrap_or_default(),
            ))
        })
        .collect::<S3Result<_>>()?;
    validate(&tags, max)?;
    Ok(tags)
}

fn tag_set(tags: &Tags) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// Bucket tags as stored (postcard of the list).
fn encode(tags: &Tags) -> Vec<u8> {
    postcard::to_allocvec(tags).expect("serializable")
}

async fn set_object_tags(
    gw: &Gateway,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    tags: Tags,
) -> S3Result<Option<String>> {
    let changed = gw
        .change_version(bucket, key, version_id, |v| {
            v.tags = tags.clone();
            Ok(())
        })
        .await?;
    let versioning = gw.versioning(bucket).await?;
    Ok(super::versioning::answered_id(&changed, versioning))
}

pub(super) async fn put_object_tagging(
    gw: &Gateway,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let input = req.input;
    let tags = from_document(input.tagging, MAX_OBJECT_TAGS)?;
    let version_id = set_object_tags(
        gw,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
        tags,
    )
    .await?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
}

pub(super) async fn delete_object_tagging(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let input = req.input;
    let version_id = set_object_tags(
        gw,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
        Vec::new(),
    )
    .await?;
    Ok(S3Response::with_status(
        DeleteObjectTaggingOutput { version_id },
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn get_object_tagging(
    gw: &Gateway,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let input = &req.input;
    let found = gw
        .find_version(&input.bucket, &input.key, input.version_id.as_deref())
        .await?;
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: tag_set(&found.meta.tags),
        version_id: found.version_id,
    }))
}

pub(super) async fn put_bucket_tagging(
    gw: &Gateway,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let input = req.input;
    let tags = from_document(input.tagging, MAX_BUCKET_TAGS)?;
    gw.meta
        .set_bucket_config(&input.bucket, TAGGING, Some(&encode(&tags)))
        .await?;
    Ok(S3Response::with_status(
        PutBucketTaggingOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn get_bucket_tagging(
    gw: &Gateway,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    let no_tags = || S3Error::with_message(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist");
    let stored = gw
        .meta
        .bucket_config(bucket, TAGGING)
        .await?
        .ok_or_else(no_tags)?;
    let tags: Tags = postcard::from_bytes(&stored)
        .map_err(|e| super::error::internal(format!("stored bucket tags unreadable: {e}")))?;
    Ok(S3Response::new(GetBucketTaggingOutput {
        tag_set: tag_set(&tags),
    }))
}

pub(super) async fn delete_bucket_tagging(
    gw: &Gateway,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    gw.meta
        .set_bucket_config(&req.input.bucket, TAGGING, None)
        .await?;
    Ok(S3Response::with_status(
        DeleteBucketTaggingOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tags_are_decoded_and_held_to_the_limits() {
        assert_eq!(
            from_header("a=1&b%20c=d%26e&empty=").unwrap(),
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b c".to_owned(), "d&e".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            from_header(&eleven.join("&")).unwrap_err().code(),
            &S3ErrorCode::InvalidTag
        );
        assert!(from_header(&eleven[..10].join("&")).is_ok());
        assert!(from_header("a=1&a=2").is_err(), "duplicate key");
        assert!(from_header("=v").is_err(), "empty key");
        let long_key = "k".repeat(MAX_KEY_CHARS + 1);
        assert!(from_header(&format!("{long_key}=v")).is_err());
        let long_value = "é".repeat(MAX_VALUE_CHARS);
        assert!(
            from_header(&format!("k={long_value}")).is_ok(),
            "characters, not bytes"
        );
        assert!(from_header(&format!("k={long_value}x")).is_err());
    }
}
