//! Which bytes a GetObject or HeadObject asks for: all of them, a `Range`,
//! or one part (`partNumber`), and how AWS answers each.
//!
//! * No range, no part: 200 with the whole object.
//! * `Range`: 206 with `Content-Range`; unsatisfiable is 416 InvalidRange.
//! * `partNumber=N` of a multipart object: 206 with that part's bytes,
//!   `Content-Range`, and `x-amz-mp-parts-count`; a part the object does
//!   not have is 400 InvalidPartNumber (what AWS answers, although its
//!   error table lists 416 for that code).
//! * `partNumber=1` of an object uploaded in one piece: 206 with the whole
//!   object (no parts count); any other number is 400 InvalidPartNumber.
//! * Both `Range` and `partNumber`: 400 InvalidRequest. A part number
//!   outside 1..=10000: 400 InvalidArgument.

use std::ops::Range;

use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::meta::ObjectMeta;

/// The bytes to send and the headers that describe them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadWindow {
    /// Byte range of the object (end exclusive).
    pub range: Range<u64>,
    /// `Content-Range`, for a 206 answer.
    pub content_range: Option<String>,
    /// `x-amz-mp-parts-count`, when one part of a multipart object was
    /// asked for.
    pub parts_count: Option<i32>,
    /// Whether this is the whole object as stored, asked for without a
    /// `Range` (so whole-object checksums apply).
    pub whole: bool,
}

/// Whether `meta` was completed from a multipart upload (its ETag is
/// `md5-of-md5s-N`).
pub fn is_multipart(meta: &ObjectMeta) -> bool {
    meta.etag.contains('-')
}

/// The window of `meta` asked for by a `range` header and/or a
/// `part_number` query parameter.
pub fn read_window(
    meta: &ObjectMeta,
    range: Option<&s3s::dto::Range>,
    part_number: Option<i32>,
) -> S3Result<ReadWindow> {
    let size = meta.size;
    let content_range =
        |r: &Range<u64>| format!("bytes {}-{}/{size}", r.start, r.end.saturating_sub(1));
    match (range, part_number) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        )),
        (Some(range), None) => {
            let range = range.check(size).map_err(|_| s3_error!(InvalidRange))?;
            Ok(ReadWindow {
                content_range: Some(content_range(&range)),
                range,
                parts_count: None,
                whole: false,
            })
        }
        (None, Some(n)) => {
            if !(1..=10_000).contains(&n) {
                return Err(s3_error!(
                    InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive"
                ));
            }
            if !is_multipart(meta) {
                if n != 1 {
                    return Err(invalid_part_number());
                }
                let range = 0..size;
                return Ok(ReadWindow {
                    content_range: (size > 0).then(|| content_range(&range)),
                    range,
                    parts_count: None,
                    whole: true,
                });
            }
            let mut start = 0;
            for part in &meta.parts {
                if i64::from(part.part_number) == i64::from(n) {
                    let range = start..start + part.size;
                    return Ok(ReadWindow {
                        // (An empty part has no byte range to name.)
                        content_range: (!range.is_empty()).then(|| content_range(&range)),
                        range,
                        parts_count: Some(meta.parts.len() as i32),
                        whole: false,
                    });
                }
                start += part.size;
            }
            Err(invalid_part_number())
        }
        (None, None) => Ok(ReadWindow {
            range: 0..size,
            content_range: None,
            parts_count: None,
            whole: true,
        }),
    }
}

/// 400 InvalidPartNumber, as AWS answers a part the object does not have.
fn invalid_part_number() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("InvalidPartNumber".into()),
        "The requested partnumber is not satisfiable",
    );
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::PartLayout;

    fn object(etag: &str, parts: &[(u32, u64)]) -> ObjectMeta {
        ObjectMeta {
            size: parts.iter().map(|p| p.1).sum(),
            etag: etag.into(),
            parts: parts
                .iter()
                .map(|&(part_number, size)| PartLayout {
                    part_number,
                    size,
                    etag: String::new(),
                    ..PartLayout::default()
                })
                .collect(),
            ..ObjectMeta::default()
        }
    }

    fn code(e: S3Error) -> (String, Option<u16>) {
        (
            e.code().as_str().to_owned(),
            e.status_code().map(|s| s.as_u16()),
        )
    }

    #[test]
    fn whole_object_range_and_parts() {
        let simple = object("abc", &[(0, 100)]);
        let w = read_window(&simple, None, None).unwrap();
        assert_eq!((w.range, w.content_range, w.whole), (0..100, None, true));

        let range = s3s::dto::Range::Int {
            first: 10,
            last: Some(19),
        };
        let w = read_window(&simple, Some(&range), None).unwrap();
        assert_eq!(w.range, 10..20);
        assert_eq!(w.content_range.as_deref(), Some("bytes 10-19/100"));
        assert!(!w.whole);

        // partNumber=1 of a simple object is all of it, as a 206.
        let w = read_window(&simple, None, Some(1)).unwrap();
        assert_eq!(w.range, 0..100);
        assert_eq!(w.content_range.as_deref(), Some("bytes 0-99/100"));
        assert_eq!(w.parts_count, None);

        let multi = object("abc-3", &[(1, 50), (2, 30), (4, 20)]);
        let w = read_window(&multi, None, Some(2)).unwrap();
        assert_eq!(w.range, 50..80);
        assert_eq!(w.content_range.as_deref(), Some("bytes 50-79/100"));
        assert_eq!(w.parts_count, Some(3));
        let w = read_window(&multi, None, Some(4)).unwrap();
        assert_eq!(w.range, 80..100);
    }

    #[test]
    fn refusals_match_aws() {
        let simple = object("abc", &[(0, 100)]);
        let multi = object("abc-2", &[(1, 50), (2, 50)]);
        let range = s3s::dto::Range::Int {
            first: 0,
            last: Some(1),
        };
        assert_eq!(
            code(read_window(&simple, Some(&range), Some(1)).unwrap_err()),
            ("InvalidRequest".into(), Some(400))
        );
        for n in [0, -1, 10_001] {
            assert_eq!(
                code(read_window(&multi, None, Some(n)).unwrap_err()),
                ("InvalidArgument".into(), Some(400))
            );
        }
        assert_eq!(
            code(read_window(&simple, None, Some(2)).unwrap_err()),
            ("InvalidPartNumber".into(), Some(400))
        );
        assert_eq!(
            code(read_window(&multi, None, Some(3)).unwrap_err()),
            ("InvalidPartNumber".into(), Some(400))
        );
        let past = s3s::dto::Range::Int {
            first: 100,
            last: None,
        };
        assert_eq!(
            code(read_window(&simple, Some(&past), None).unwrap_err()),
            ("InvalidRange".into(), Some(416))
        );
    }
}
