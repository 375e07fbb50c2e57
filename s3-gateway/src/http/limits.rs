//! Limits AWS enforces on what a request may store, checked once the
//! request is authenticated (from the access check), and keeping every XML
//! answer parseable.
//!
//! * User metadata (`x-amz-meta-*`) is at most 2 KB: the sum of the UTF-8
//!   bytes of each name (without the `x-amz-meta-` prefix) and value, as
//!   AWS measures it. More is 400 `MetadataTooLarge` on PutObject,
//!   CopyObject with `x-amz-metadata-directive: REPLACE` and
//!   CreateMultipartUpload; so no object carries more than ~2 KB of headers
//!   into every later HEAD and GET.
//! * Keys are at most 1024 bytes (s3s answers 400 `KeyTooLongError`) and
//!   valid UTF-8 (400 `InvalidURI`, also from s3s). A key holding a
//!   character XML 1.0 cannot carry (U+0000 to U+001F other than tab, line
//!   feed and carriage return, U+FFFE, U+FFFF) would make every listing
//!   without `encoding-type=url` unparseable; AWS stores such keys anyway,
//!   Cairn refuses to create them: 400 `InvalidURI` on PutObject,
//!   CopyObject and CreateMultipartUpload. Listing parameters that a
//!   listing echoes (prefix, delimiter, markers) are held to the same rule
//!   unless the listing is URL-encoded.
//! * A carriage return is allowed in a key, but XML parsers turn a raw one
//!   into a line feed; s3s writes it raw, so [`escape_carriage_returns`]
//!   rewrites it as `&#13;` in XML answers, as AWS does.

use bytes::Bytes;
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

/// Most bytes of user metadata an object may carry.
pub const MAX_USER_METADATA: usize = 2048;

/// The prefix of user metadata headers.
const META_PREFIX: &str = "x-amz-meta-";

/// Operations whose responses echo listing parameters.
const LISTINGS: [&str; 5] = [
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListMultipartUploads",
    "ListParts",
];

/// Whether XML 1.0 can carry `c` at all (its `Char` production; Rust
/// strings hold no surrogates).
pub fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// The bytes of user metadata in `headers`, as AWS counts them.
pub fn user_metadata_size(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix(META_PREFIX)?;
            Some(name.len() + value.len())
        })
        .sum()
}

fn metadata_too_large() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::MetadataTooLarge,
        "Your metadata headers exceed the maximum allowed metadata size.",
    )
}

fn unusable_key(c: char) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidURI,
        format!(
            "Couldn't parse the specified URI: object keys may not contain U+{:04X} \
             (XML 1.0 cannot carry it in a listing)",
            u32::from(c)
        ),
    )
}

/// Checks the limits for operation `op` (s3s's name) on `path`.
pub fn check(op: &str, path: &S3Path, uri: &http::Uri, headers: &http::HeaderMap) -> S3Result<()> {
    let replaces_metadata = || {
        headers
            .get("x-amz-metadata-directive")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"REPLACE"))
    };
    let creates = match op {
        "PutObject" | "CreateMultipartUpload" => true,
        "CopyObject" => {
            if replaces_metadata() && user_metadata_size(headers) > MAX_USER_METADATA {
                return Err(metadata_too_large());
            }
            true
        }
        _ => false,
    };
    if creates {
        if op != "CopyObject" && user_metadata_size(headers) > MAX_USER_METADATA {
            return Err(metadata_too_large());
        }
        if let S3Path::Object { key, .. } = path
            && let Some(c) = key.chars().find(|&c| !xml_char(c))
        {
            return Err(unusable_key(c));
        }
    }
    if LISTINGS.contains(&op) {
        check_listing_query(uri.query().unwrap_or_default())?;
    }
    Ok(())
}

/// Refuses listing parameters XML cannot carry, unless the listing is
/// URL-encoded (`encoding-type=url`).
fn check_listing_query(query: &str) -> S3Result<()> {
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(n), percent_decode(v))
        })
        .collect();
    if params
        .iter()
        .any(|(n, v)| n == "encoding-type" && v.eq_ignore_ascii_case("url"))
    {
        return Ok(());
    }
    for (name, value) in &params {
        if let Some(c) = value.chars().find(|&c| !xml_char(c)) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!(
                    "The {name} parameter holds U+{:04X}, which XML 1.0 cannot carry; \
                     use encoding-type=url",
                    u32::from(c)
                ),
            ));
        }
    }
    Ok(())
}

/// Percent-decodes `text` (`+` as a space); undecodable input as it is.
fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An XML body with every raw carriage return written as `&#13;` (so a
/// parser reads back the key that was stored); `None` if it has none.
pub fn escape_carriage_returns(body: &[u8]) -> Option<Bytes> {
    let count = body.iter().filter(|&&b| b == b'\r').count();
    if count == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + count * 4);
    for &b in body {
        if b == b'\r' {
            out.extend_from_slice(b"&#13;");
        } else {
            out.push(b);
        }
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (n, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn object(key: &str) -> S3Path {
        S3Path::object("b", key)
    }

    fn code(r: S3Result<()>) -> Option<String> {
        r.err().map(|e| e.code().as_str().to_owned())
    }

    #[test]
    fn metadata_is_counted_as_aws_counts_it() {
        let h = headers(&[
            ("x-amz-meta-ab", "cde"),
            ("x-amz-meta-x", ""),
            ("content-type", "text/plain"),
            ("x-amz-date", "20231114T221320Z"),
        ]);
        assert_eq!(user_metadata_size(&h), 2 + 3 + 1);
    }

    #[test]
    fn more_than_two_kilobytes_of_metadata_is_refused_where_it_is_stored() {
        let uri: http::Uri = "/b/k".parse().unwrap();
        let at_limit = "v".repeat(MAX_USER_METADATA - 4);
        let over = "v".repeat(MAX_USER_METADATA - 3);
        let fits = headers(&[("x-amz-meta-name", &at_limit)]);
        let big = headers(&[("x-amz-meta-name", &over)]);
        for op in ["PutObject", "CreateMultipartUpload"] {
            assert_eq!(code(check(op, &object("k"), &uri, &fits)), None);
            assert_eq!(
                code(check(op, &object("k"), &uri, &big)).as_deref(),
                Some("MetadataTooLarge")
            );
        }
        // A copy keeps the source's metadata unless it replaces it.
        assert_eq!(code(check("CopyObject", &object("k"), &uri, &big)), None);
        let mut replacing = big.clone();
        replacing.insert("x-amz-metadata-directive", "REPLACE".parse().unwrap());
        assert_eq!(
            code(check("CopyObject", &object("k"), &uri, &replacing)).as_deref(),
            Some("MetadataTooLarge")
        );
        // Reads are not refused for what a request carries.
        assert_eq!(code(check("GetObject", &object("k"), &uri, &big)), None);
        // Many small entries count together.
        let many: Vec<(String, String)> = (0..40)
            .map(|i| (format!("x-amz-meta-k{i:02}"), "v".repeat(50)))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            code(check("PutObject", &object("k"), &uri, &headers(&many))).as_deref(),
            Some("MetadataTooLarge")
        );
    }

    #[test]
    fn keys_xml_cannot_carry_are_not_created() {
        let uri: http::Uri = "/b/k".parse().unwrap();
        let none = headers(&[]);
        for bad in ["a\0b", "\u{1}", "x\u{1f}", "\u{b}", "a\u{FFFE}", "\u{FFFF}"] {
            for op in ["PutObject", "CopyObject", "CreateMultipartUpload"] {
                assert_eq!(
                    code(check(op, &object(bad), &uri, &none)).as_deref(),
                    Some("InvalidURI"),
                    "{op} {bad:?}"
                );
            }
            // An existing one can still be read and deleted.
            for op in ["GetObject", "HeadObject", "DeleteObject"] {
                assert_eq!(code(check(op, &object(bad), &uri, &none)), None);
            }
        }
        for good in [
            "a\tb",
            "line\nfeed",
            "cr\rlf",
            "é/ü/漢字",
            "a b+c&d<e>",
            "\u{10FFFF}",
        ] {
            assert_eq!(
                code(check("PutObject", &object(good), &uri, &none)),
                None,
                "{good:?}"
            );
        }
    }

    #[test]
    fn listing_parameters_xml_cannot_carry_need_url_encoding() {
        let none = headers(&[]);
        let bucket = S3Path::bucket("b");
        let list = |q: &str| {
            let uri: http::Uri = format!("/b?{q}").parse().unwrap();
            code(check("ListObjectsV2", &bucket, &uri, &none))
        };
        assert_eq!(
            list("list-type=2&prefix=a%00").as_deref(),
            Some("InvalidArgument")
        );
        assert_eq!(list("delimiter=%01").as_deref(), Some("InvalidArgument"));
        assert_eq!(list("list-type=2&prefix=a%00&encoding-type=url"), None);
        assert_eq!(list("list-type=2&prefix=a%0D%0A%09"), None);
        assert_eq!(list("list-type=2&prefix=%zz"), None);
    }

    #[test]
    fn carriage_returns_are_escaped_in_xml() {
        assert_eq!(escape_carriage_returns(b"<Key>plain</Key>"), None);
        assert_eq!(
            escape_carriage_returns(b"<Key>a\rb\r</Key>").as_deref(),
            Some(&b"<Key>a&#13;b&#13;</Key>"[..])
        );
        assert!(xml_char('\u{FFFD}') && xml_char(' ') && !xml_char('\u{7}'));
    }
}
