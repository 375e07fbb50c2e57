//! Bucket name rules and random identifiers.

use rand::Rng;

use super::error::MetaError;

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Prefixes AWS reserves for general purpose bucket names.
const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes AWS reserves (access point aliases, Object Lambda, directory
/// and table buckets, multi-region access points).
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"];

/// Checks `name` against the AWS naming rules for general purpose buckets:
/// 3 to 63 characters of lowercase letters, digits, `.` and `-`; starts and
/// ends with a letter or digit; no `..`; not formatted like an IPv4 address;
/// none of the reserved prefixes (`xn--`, ...) and suffixes (`-s3alias`, ...).
pub fn validate_bucket_name(name: &str) -> Result<(), MetaError> {
    let invalid = |why: &str| Err(MetaError::InvalidBucketName(format!("{name:?} {why}")));
    if !(3..=63).contains(&name.len()) {
        return invalid("must be 3 to 63 characters long");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-'))
    {
        return invalid(&format!(
            "contains {c:?}: only lowercase letters, digits, '.' and '-' are allowed"
        ));
    }
    let bytes = name.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return invalid("must start and end with a letter or digit");
    }
    if name.contains("..") {
        return invalid("must not contain two adjacent periods");
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() == 4
        && labels
            .iter()
            .all(|l| (1..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return invalid("must not be formatted as an IP address");
    }
    if let Some(p) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(**p)) {
        return invalid(&format!("must not start with the reserved prefix {p:?}"));
    }
    if let Some(s) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(**s)) {
        return invalid(&format!("must not end with the reserved suffix {s:?}"));
    }
    Ok(())
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// A new access key id: `CA` and 18 characters of `[A-Z0-9]`.
pub(super) fn new_access_key_id() -> String {
    format!("CA{}", random_string(18, UPPER_DIGITS))
}

/// A new secret: 40 characters of `[A-Za-z0-9+/]`.
pub(super) fn new_secret() -> String {
    random_string(40, SECRET)
}

/// Length of a multipart upload id.
pub(super) const UPLOAD_ID_LEN: usize = 32;

/// A new multipart upload id: 32 characters of `[A-Za-z0-9]` (URL-safe).
pub(super) fn new_upload_id() -> String {
    random_string(UPLOAD_ID_LEN, ALNUM)
}
