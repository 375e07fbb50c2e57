//! What responses are made of: read windows and their headers, stored
//! and returned representation headers, conditions on reads and copy
//! sources, time and ETag forms.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::meta::ObjectMeta;
use crate::s3::checksum::{self, Algorithm};
use crate::s3::conditional::{Preconditions, Validators, Verdict};
use crate::s3::window::{ReadWindow, read_window};

pub(super) fn precondition_failed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold",
    )
}

/// 304 Not Modified, with the validators AWS sends (no body reaches the
/// client: the request-id layer drops it).
pub(super) fn not_modified(meta: &ObjectMeta) -> S3Error {
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

/// The preconditions of a read or copy source, from the request's headers.
pub(super) fn preconditions<'a>(
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

pub(super) fn validators(meta: &ObjectMeta) -> Validators<'_> {
    Validators {
        etag: &meta.etag,
        last_modified_ms: meta.last_modified,
    }
}

/// 304 or 412 for a GET or HEAD whose preconditions do not hold.
pub(super) fn check_read(p: Preconditions<'_>, meta: &ObjectMeta) -> S3Result<()> {
    match p.evaluate_read(validators(meta), now_ms()) {
        Verdict::Proceed => Ok(()),
        Verdict::NotModified => Err(not_modified(meta)),
        Verdict::PreconditionFailed => Err(precondition_failed()),
    }
}

/// 412 for a copy whose source preconditions do not hold.
pub(super) fn check_copy_source(p: Preconditions<'_>, source: &ObjectMeta) -> S3Result<()> {
    match p.evaluate_copy_source(validators(source), now_ms()) {
        Verdict::Proceed => Ok(()),
        Verdict::NotModified | Verdict::PreconditionFailed => Err(precondition_failed()),
    }
}

pub(super) fn checksum_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

/// `Expires` as stored (an HTTP date) and as returned.
pub(super) fn stored_expires(given: Option<Timestamp>) -> Option<String> {
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
pub(super) use response_overrides;

/// What a GET or HEAD of `meta` answers with: the bytes asked for, the
/// representation headers (with a signed request's overrides), and the
/// checksum fields. A stored checksum covers the whole object, so a range
/// or a part of a multipart object gets none.
pub(super) fn read_answer(
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
pub(super) struct ResponseHeaders {
    pub(super) content_type: Option<s3s::dto::ContentType>,
    pub(super) content_encoding: Option<String>,
    pub(super) content_disposition: Option<String>,
    pub(super) content_language: Option<String>,
    pub(super) cache_control: Option<String>,
    pub(super) expires: Option<Timestamp>,
}

/// The `response-*` query parameters of a GET or HEAD, which replace the
/// stored headers in that one response.
pub(super) struct ResponseOverrides {
    pub(super) content_type: Option<String>,
    pub(super) content_encoding: Option<String>,
    pub(super) content_disposition: Option<String>,
    pub(super) content_language: Option<String>,
    pub(super) cache_control: Option<String>,
    pub(super) expires: Option<Timestamp>,
}

impl ResponseOverrides {
    pub(super) fn is_empty(&self) -> bool {
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
    pub(super) fn of(meta: &ObjectMeta) -> Self {
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
    pub(super) fn overridden(
        mut self,
        signed: bool,
        overrides: ResponseOverrides,
    ) -> S3Result<Self> {
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

pub(super) fn response_expires(meta: &ObjectMeta) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, meta.expires.as_deref()?).ok()
}

/// A stored checksum as an (algorithm name, base64 value) pair.
pub(super) fn stored_checksum(computed: Option<(Algorithm, String)>) -> Option<(String, String)> {
    computed.map(|(a, v)| (a.name().to_owned(), v))
}

/// The Content-Encoding to keep: AWS drops `aws-chunked`, which only
/// describes the upload's framing, and keeps any real encoding listed with it.
pub(super) fn stored_encoding(given: Option<String>) -> Option<String> {
    let given = given?;
    let listed: Vec<&str> = given.split(',').map(str::trim).collect();
    let kept: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    if kept.is_empty() {
        None
    } else if kept.len() == listed.len() {
        // Nothing to drop: kept as sent, as AWS does (`deflate, gzip`
        // comes back with its space).
        Some(given.trim().to_owned())
    } else {
        Some(kept.join(","))
    }
}

/// User metadata (`x-amz-meta-*`) as stored: names lower-cased.
pub(super) fn stored_metadata(given: Option<Metadata>) -> Vec<(String, String)> {
    given
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// User metadata for a GET or HEAD response (absent when there is none).
pub(super) fn response_metadata(meta: &ObjectMeta) -> Option<Metadata> {
    (!meta.user_metadata.is_empty()).then(|| meta.user_metadata.iter().cloned().collect())
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

pub(super) fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

pub(super) fn etag(quoted: &str) -> ETag {
    ETag::Strong(quoted.trim_matches('"').to_owned())
}

pub(super) fn scheme_of(meta: &ObjectMeta) -> mesh::codec::Scheme {
    mesh::codec::Scheme {
        k: meta.k as usize,
        m: meta.m as usize,
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::stored_encoding;

    #[test]
    fn content_encoding_is_kept_as_sent_without_aws_chunked() {
        let stored = |v: &str| stored_encoding(Some(v.to_owned()));
        assert_eq!(stored("deflate, gzip").as_deref(), Some("deflate, gzip"));
        assert_eq!(stored("gzip").as_deref(), Some("gzip"));
        assert_eq!(stored("aws-chunked,gzip").as_deref(), Some("gzip"));
        assert_eq!(stored("aws-chunked").as_deref(), None);
        assert_eq!(stored_encoding(None), None);
    }
}
