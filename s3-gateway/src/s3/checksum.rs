//! Object checksums (`x-amz-checksum-*`) and Content-MD5.
//!
//! A client states a checksum either as a header or, for an aws-chunked
//! body, as a trailer named by `x-amz-trailer`; `x-amz-sdk-checksum-algorithm`
//! may name the algorithm too. [`plan`] checks those headers against each
//! other as AWS does; [`BodyCheck`] hashes the body while it streams into the
//! data path and, once it has ended, compares with the claimed value
//! (BadDigest on a mismatch) and yields the base64 value to store.

use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use s3s::S3ErrorCode;
use s3s::crypto::Checksum as _;

/// A checksum algorithm S3 supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC-32 (ISO HDLC), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli), 4 bytes.
    Crc32c,
    /// CRC-64/NVME, 8 bytes; AWS's default when the client sends none.
    Crc64Nvme,
    /// SHA-1, 20 bytes.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The name AWS uses (`CRC32`, ..., as in `x-amz-checksum-algorithm`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The header (or trailer) carrying the value, e.g. `x-amz-checksum-crc32`.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// The algorithm called `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The algorithm whose value travels in header `header` (case-insensitive).
    pub fn from_header(header: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(header.trim()))
    }

    /// A fresh hasher.
    pub fn hasher(self) -> Hasher {
        use s3s::crypto::{Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
        match self {
            Algorithm::Crc32 => Hasher::Crc32(Crc32::new()),
            Algorithm::Crc32c => Hasher::Crc32c(Crc32c::new()),
            Algorithm::Crc64Nvme => Hasher::Crc64Nvme(Crc64Nvme::new()),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    /// The raw digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finalize()
    }
}

/// An incremental digest of one [`Algorithm`].
pub enum Hasher {
    /// CRC-32.
    Crc32(s3s::crypto::Crc32),
    /// CRC-32C.
    Crc32c(s3s::crypto::Crc32c),
    /// CRC-64/NVME.
    Crc64Nvme(s3s::crypto::Crc64Nvme),
    /// SHA-1.
    Sha1(s3s::crypto::Sha1),
    /// SHA-256.
    Sha256(s3s::crypto::Sha256),
}

impl Hasher {
    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(h) => h.update(data),
            Hasher::Crc64Nvme(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The raw digest.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Crc32(h) => h.finalize().to_vec(),
            Hasher::Crc32c(h) => h.finalize().to_vec(),
            Hasher::Crc64Nvme(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().as_ref().to_vec(),
            Hasher::Sha256(h) => h.finalize().as_ref().to_vec(),
        }
    }
}

/// Base64 (standard, padded), as checksums travel.
pub fn encode(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Decodes a checksum value of `algorithm`; `None` if it is not base64 of
/// the right length.
pub fn decode(algorithm: Algorithm, value: &str) -> Option<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    (raw.len() == algorithm.digest_len()).then_some(raw)
}

/// Why a checksum was refused; each maps to AWS's code and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// More than one `x-amz-checksum-*` header (or header and trailer).
    #[error("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")]
    Multiple,
    /// A header value that is not base64 of the algorithm's digest length.
    #[error("Value for {} header is invalid.", .0.header())]
    InvalidHeader(Algorithm),
    /// A trailer value that is missing, or not base64 of the right length.
    #[error("Value for {} trailing header is invalid.", .0.header())]
    InvalidTrailer(Algorithm),
    /// `x-amz-trailer` names something other than one checksum.
    #[error("The value specified in the x-amz-trailer header is not supported")]
    UnsupportedTrailer,
    /// `x-amz-sdk-checksum-algorithm` (or `x-amz-checksum-algorithm`) is unknown.
    #[error(
        "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
    )]
    UnsupportedAlgorithm,
    /// The SDK algorithm differs from the checksum sent.
    #[error("Value for x-amz-sdk-checksum-algorithm header is invalid.")]
    AlgorithmMismatch,
    /// The SDK algorithm came without a value (header or trailer).
    #[error(
        "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found."
    )]
    MissingValue,
    /// The body does not have the checksum claimed.
    #[error("The {} you specified did not match the calculated checksum.", .0.name())]
    Mismatch(Algorithm),
}

impl ChecksumError {
    /// The S3 error code (all are 400s).
    pub fn code(&self) -> S3ErrorCode {
        match self {
            ChecksumError::Mismatch(_) => S3ErrorCode::BadDigest,
            _ => S3ErrorCode::InvalidRequest,
        }
    }
}

/// Where the claimed value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// A header, already decoded.
    Header(Vec<u8>),
    /// The aws-chunked trailer, read once the body has ended.
    Trailer,
}

/// A checksum the client claims for the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// Its value, or where it will come from.
    pub claim: Claim,
}

/// Checks the checksum headers of an upload: `values` are the
/// `x-amz-checksum-*` headers present, `sdk_algorithm` is
/// `x-amz-sdk-checksum-algorithm`, `trailer` is `x-amz-trailer`.
pub fn plan(
    values: &[(Algorithm, &str)],
    sdk_algorithm: Option<&str>,
    trailer: Option<&str>,
) -> Result<Option<Expectation>, ChecksumError> {
    let mut found: Option<Expectation> = None;
    for &(algorithm, value) in values {
        if found.is_some() {
            return Err(ChecksumError::Multiple);
        }
        let raw = decode(algorithm, value).ok_or(ChecksumError::InvalidHeader(algorithm))?;
        found = Some(Expectation {
            algorithm,
            claim: Claim::Header(raw),
        });
    }
    if let Some(trailer) = trailer.map(str::trim).filter(|t| !t.is_empty()) {
        let mut names = trailer.split(',').map(str::trim);
        let algorithm = names
            .next()
            .and_then(Algorithm::from_header)
            .ok_or(ChecksumError::UnsupportedTrailer)?;
        if names.next().is_some() {
            return Err(ChecksumError::UnsupportedTrailer);
        }
        match &found {
            // The same checksum as a header too: the header is checked.
            Some(e) if e.algorithm == algorithm => {}
            Some(_) => return Err(ChecksumError::Multiple),
            None => {
                found = Some(Expectation {
                    algorithm,
                    claim: Claim::Trailer,
                })
            }
        }
    }
    if let Some(name) = sdk_algorithm {
        let algorithm = Algorithm::parse(name).ok_or(ChecksumError::UnsupportedAlgorithm)?;
        match &found {
            None => return Err(ChecksumError::MissingValue),
            Some(e) if e.algorithm != algorithm => return Err(ChecksumError::AlgorithmMismatch),
            Some(_) => {}
        }
    }
    Ok(found)
}

/// Hashes a body as it streams and checks it against an [`Expectation`].
pub struct BodyCheck {
    expectation: Option<Expectation>,
    algorithm: Option<Algorithm>,
    state: Arc<Mutex<Option<Hasher>>>,
}

impl BodyCheck {
    /// Checks `expectation` if any; otherwise computes `default` (or nothing).
    pub fn new(expectation: Option<Expectation>, default: Option<Algorithm>) -> Self {
        let algorithm = expectation.as_ref().map(|e| e.algorithm).or(default);
        Self {
            expectation,
            state: Arc::new(Mutex::new(algorithm.map(Algorithm::hasher))),
            algorithm,
        }
    }

    /// The algorithm computed, if any.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// `body`, hashed as it passes.
    pub fn wrap<S, E>(&self, body: S) -> impl Stream<Item = Result<Bytes, E>> + Unpin + use<S, E>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let state = self.state.clone();
        body.map(move |item| {
            if let Ok(chunk) = &item
                && let Some(hasher) = state.lock().expect("not poisoned").as_mut()
            {
                hasher.update(chunk);
            }
            item
        })
    }

    /// Once the body has ended: compares with the claim (a trailer is read
    /// from `trailers`) and returns the algorithm and base64 value to store.
    pub fn finish(
        self,
        trailers: Option<&http::HeaderMap>,
    ) -> Result<Option<(Algorithm, String)>, ChecksumError> {
        let Some(algorithm) = self.algorithm else {
            return Ok(None);
        };
        let computed = self
            .state
            .lock()
            .expect("not poisoned")
            .take()
            .expect("finished once")
            .finalize();
        if let Some(expectation) = self.expectation {
            let claimed = match expectation.claim {
                Claim::Header(raw) => raw,
                Claim::Trailer => trailers
                    .and_then(|t| t.get(algorithm.header()))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| decode(algorithm, v))
                    .ok_or(ChecksumError::InvalidTrailer(algorithm))?,
            };
            if claimed != computed {
                return Err(ChecksumError::Mismatch(algorithm));
            }
        }
        Ok(Some((algorithm, encode(&computed))))
    }
}

/// Why a Content-MD5 header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Md5Error {
    /// Not base64 of 16 bytes (InvalidDigest).
    #[error("The Content-MD5 you specified is not valid.")]
    Invalid,
    /// Another digest than the body's (BadDigest).
    #[error("The Content-MD5 you specified did not match what we received.")]
    Mismatch,
}

impl Md5Error {
    /// The S3 error code (both are 400s).
    pub fn code(self) -> S3ErrorCode {
        match self {
            Md5Error::Invalid => S3ErrorCode::InvalidDigest,
            Md5Error::Mismatch => S3ErrorCode::BadDigest,
        }
    }
}

/// Decodes a `Content-MD5` header (checked before the body is read).
pub fn parse_content_md5(given: &str) -> Result<[u8; 16], Md5Error> {
    base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .ok()
        .and_then(|raw| raw.try_into().ok())
        .ok_or(Md5Error::Invalid)
}

/// Compares a decoded `Content-MD5` with the body's MD5.
pub fn check_content_md5(given: &[u8; 16], md5: &[u8; 16]) -> Result<(), Md5Error> {
    if given == md5 {
        Ok(())
    } else {
        Err(Md5Error::Mismatch)
    }
}

/// A stored checksum (algorithm name, base64 value) as S3's response fields:
/// a whole object's (`FULL_OBJECT`), or a multipart object's composite one
/// (`COMPOSITE`, the value ends in `-N`).
pub fn response_fields(stored: Option<&(String, String)>) -> s3s::dto::Checksum {
    let mut out = s3s::dto::Checksum::default();
    let Some((name, value)) = stored else {
        return out;
    };
    let Some(algorithm) = Algorithm::parse(name) else {
        return out;
    };
    let value = Some(value.clone());
    match algorithm {
        Algorithm::Crc32 => out.checksum_crc32 = value,
        Algorithm::Crc32c => out.checksum_crc32c = value,
        Algorithm::Crc64Nvme => out.checksum_crc64nvme = value,
        Algorithm::Sha1 => out.checksum_sha1 = value,
        Algorithm::Sha256 => out.checksum_sha256 = value,
    }
    // A multipart object's composite checksum ends in `-N`.
    out.checksum_type = Some(s3s::dto::ChecksumType::from_static(
        if value_is_composite(stored) {
            s3s::dto::ChecksumType::COMPOSITE
        } else {
            s3s::dto::ChecksumType::FULL_OBJECT
        },
    ));
    out
}

fn value_is_composite(stored: Option<&(String, String)>) -> bool {
    stored.is_some_and(|(_, v)| v.contains('-'))
}

/// The composite checksum of a multipart object (AWS's `COMPOSITE` type):
/// the checksum of the parts' raw checksums, concatenated in part order,
/// then `-` and the number of parts. `None` if a value is not a checksum
/// of `algorithm`.
pub fn composite(algorithm: Algorithm, parts: &[&str]) -> Option<String> {
    let mut raw = Vec::with_capacity(parts.len() * algorithm.digest_len());
    for part in parts {
        raw.extend(decode(algorithm, part)?);
    }
    Some(format!(
        "{}-{}",
        encode(&algorithm.digest(&raw)),
        parts.len()
    ))
}

/// The `x-amz-checksum-*` values of a request, as [`plan`] takes them, from
/// its fields in [`Algorithm::ALL`] order.
pub fn claimed(fields: [&Option<String>; 5]) -> Vec<(Algorithm, &str)> {
    Algorithm::ALL
        .into_iter()
        .zip(fields)
        .filter_map(|(a, v)| v.as_deref().map(|v| (a, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard check input.
    const CHECK: &[u8] = b"123456789";

    fn hex(raw: &[u8]) -> String {
        raw.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn digests_match_the_published_check_values() {
        assert_eq!(hex(&Algorithm::Crc32.digest(CHECK)), "cbf43926");
        assert_eq!(hex(&Algorithm::Crc32c.digest(CHECK)), "e3069283");
        assert_eq!(hex(&Algorithm::Crc64Nvme.digest(CHECK)), "ae8b14860a799888");
        assert_eq!(
            hex(&Algorithm::Sha1.digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            encode(&Algorithm::Sha256.digest(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        for a in Algorithm::ALL {
            assert_eq!(a.digest(CHECK).len(), a.digest_len());
            assert_eq!(Algorithm::parse(&a.name().to_lowercase()), Some(a));
            assert_eq!(Algorithm::from_header(&a.header().to_uppercase()), Some(a));
        }
        assert_eq!(Algorithm::parse("MD5"), None);
    }

    #[test]
    fn plans() {
        let crc = encode(&Algorithm::Crc32.digest(CHECK));
        let sha = encode(&Algorithm::Sha1.digest(CHECK));
        let header = |a| Expectation {
            algorithm: a,
            claim: Claim::Header(a.digest(CHECK)),
        };
        assert_eq!(plan(&[], None, None), Ok(None));
        assert_eq!(
            plan(&[(Algorithm::Crc32, &crc)], Some("crc32"), None),
            Ok(Some(header(Algorithm::Crc32)))
        );
        assert_eq!(
            plan(&[], Some("CRC32C"), Some("x-amz-checksum-crc32c")),
            Ok(Some(Expectation {
                algorithm: Algorithm::Crc32c,
                claim: Claim::Trailer
            }))
        );
        assert_eq!(
            plan(
                &[(Algorithm::Crc32, &crc), (Algorithm::Sha1, &sha)],
                None,
                None
            ),
            Err(ChecksumError::Multiple)
        );
        assert_eq!(
            plan(
                &[(Algorithm::Crc32, &crc)],
                None,
                Some("x-amz-checksum-sha1")
            ),
            Err(ChecksumError::Multiple)
        );
        assert_eq!(
            plan(
                &[(Algorithm::Crc32, &crc)],
                None,
                Some("x-amz-checksum-crc32")
            ),
            Ok(Some(header(Algorithm::Crc32)))
        );
        for bad in ["", "not base64!", "AAAA", &sha] {
            assert_eq!(
                plan(&[(Algorithm::Crc32, bad)], None, None),
                Err(ChecksumError::InvalidHeader(Algorithm::Crc32)),
                "{bad:?}"
            );
        }
        assert_eq!(
            plan(&[], None, Some("x-amz-meta-foo")),
            Err(ChecksumError::UnsupportedTrailer)
        );
        assert_eq!(
            plan(&[], Some("MD5"), None),
            Err(ChecksumError::UnsupportedAlgorithm)
        );
        assert_eq!(
            plan(&[(Algorithm::Crc32, &crc)], Some("SHA256"), None),
            Err(ChecksumError::AlgorithmMismatch)
        );
        assert_eq!(
            plan(&[], Some("SHA256"), None),
            Err(ChecksumError::MissingValue)
        );
    }

    async fn run(check: &BodyCheck, chunks: &[&'static [u8]]) {
        let body = futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        let mut wrapped = check.wrap(body);
        while wrapped.next().await.is_some() {}
    }

    #[tokio::test]
    async fn bodies_are_checked_as_they_stream() {
        let good = || Expectation {
            algorithm: Algorithm::Sha256,
            claim: Claim::Header(Algorithm::Sha256.digest(CHECK)),
        };
        let check = BodyCheck::new(Some(good()), None);
        run(&check, &[b"1234", b"", b"56789"]).await;
        let expected = encode(&Algorithm::Sha256.digest(CHECK));
        assert_eq!(check.finish(None), Ok(Some((Algorithm::Sha256, expected))));

        let check = BodyCheck::new(Some(good()), None);
        run(&check, &[b"12345678"]).await;
        assert_eq!(
            check.finish(None),
            Err(ChecksumError::Mismatch(Algorithm::Sha256))
        );

        // A trailer: read after the body; missing or malformed is refused.
        let trailer = || Expectation {
            algorithm: Algorithm::Crc32,
            claim: Claim::Trailer,
        };
        let value = encode(&Algorithm::Crc32.digest(CHECK));
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-amz-checksum-crc32", value.parse().unwrap());
        let check = BodyCheck::new(Some(trailer()), None);
        run(&check, &[CHECK]).await;
        assert_eq!(
            check.finish(Some(&trailers)),
            Ok(Some((Algorithm::Crc32, value)))
        );
        let check = BodyCheck::new(Some(trailer()), None);
        run(&check, &[b"12345678"]).await;
        assert_eq!(
            check.finish(Some(&trailers)),
            Err(ChecksumError::Mismatch(Algorithm::Crc32))
        );
        let check = BodyCheck::new(Some(trailer()), None);
        run(&check, &[CHECK]).await;
        assert_eq!(
            check.finish(None),
            Err(ChecksumError::InvalidTrailer(Algorithm::Crc32))
        );

        // No claim: the default is computed; no default, nothing.
        let check = BodyCheck::new(None, Some(Algorithm::Crc64Nvme));
        run(&check, &[CHECK]).await;
        let expected = encode(&Algorithm::Crc64Nvme.digest(CHECK));
        assert_eq!(
            check.finish(None),
            Ok(Some((Algorithm::Crc64Nvme, expected)))
        );
        let check = BodyCheck::new(None, None);
        run(&check, &[CHECK]).await;
        assert_eq!(check.finish(None), Ok(None));
    }

    #[test]
    fn content_md5() {
        use md5::Digest;
        let md5: [u8; 16] = md5::Md5::digest(CHECK).into();
        let given = parse_content_md5(&encode(&md5)).unwrap();
        assert_eq!(check_content_md5(&given, &md5), Ok(()));
        assert_eq!(check_content_md5(&[0u8; 16], &md5), Err(Md5Error::Mismatch));
        assert_eq!(parse_content_md5("AAAA"), Err(Md5Error::Invalid));
        assert_eq!(parse_content_md5("***"), Err(Md5Error::Invalid));
    }

    #[test]
    fn stored_checksums_become_response_fields() {
        let none = response_fields(None);
        assert_eq!(none, s3s::dto::Checksum::default());
        let stored = ("SHA256".to_owned(), "abc=".to_owned());
        let fields = response_fields(Some(&stored));
        assert_eq!(fields.checksum_sha256.as_deref(), Some("abc="));
        assert_eq!(fields.checksum_crc32, None);
        assert_eq!(
            fields.checksum_type.as_ref().map(|t| t.as_str()),
            Some("FULL_OBJECT")
        );
        let (a, b) = (Some("x".to_owned()), None);
        assert_eq!(
            claimed([&b, &a, &b, &b, &a]),
            [(Algorithm::Crc32c, "x"), (Algorithm::Sha256, "x")]
        );
    }
}
