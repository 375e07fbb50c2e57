//! SSE-C: objects sealed under a key the customer sends with every
//! request (`x-amz-server-side-encryption-customer-algorithm: AES256`,
//! `-key` base64 of 32 bytes, `-key-MD5`) and the gateway never stores.
//!
//! Cairn encrypts every object under a random object key wrapped in the
//! manifest; an SSE-C object's data is sealed under a key derived from
//! that object key and the customer's (blake3 keyed by the customer key),
//! so without the customer key neither the gateway nor anyone holding the
//! manifest and the shards can read it. The manifest keeps only the key's
//! MD5, to tell a wrong key (403) from a missing one (400), and to answer
//! it back as AWS does.
//!
//! The key travels in a header, so requests carrying one must come over
//! TLS, as on AWS; the one exception is a client on the loopback
//! interface (no network to cross).

use base64::Engine;
use md5::{Digest, Md5};
use mesh::codec::ObjectKey;
use s3s::{S3Error, S3ErrorCode, S3Result};
use zeroize::Zeroizing;

use crate::http::conn::ClientInfo;

/// The only algorithm SSE-C has.
pub const ALGORITHM: &str = "AES256";

/// A customer's key, checked against its MD5.
pub struct CustomerKey {
    key: Zeroizing<[u8; 32]>,
    md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("md5", &self.md5)
            .finish_non_exhaustive()
    }
}

/// The three SSE-C headers of a request (or the copy-source three).
#[derive(Clone, Copy, Debug, Default)]
pub struct SseHeaders<'a> {
    /// The algorithm.
    pub algorithm: Option<&'a str>,
    /// The key, base64.
    pub key: Option<&'a str>,
    /// The key's MD5, base64.
    pub md5: Option<&'a str>,
}

fn error(code: S3ErrorCode, message: &str) -> S3Error {
    S3Error::with_message(code, message.to_owned())
}

/// The customer key a request brings, if any; `client` is where it came
/// from.
pub fn customer_key(
    h: SseHeaders<'_>,
    client: Option<ClientInfo>,
) -> S3Result<Option<CustomerKey>> {
    let (algorithm, key, md5) = match (h.algorithm, h.key, h.md5) {
        (None, None, None) => return Ok(None),
        (Some(a), Some(k), Some(m)) => (a, k, m),
        (None, _, _) => {
            return Err(error(
                S3ErrorCode::InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must \
                 provide a valid encryption algorithm.",
            ));
        }
        (Some(_), None, _) => {
            return Err(error(
                S3ErrorCode::InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must \
                 provide an appropriate secret key.",
            ));
        }
        (Some(_), Some(_), None) => {
            return Err(error(
                S3ErrorCode::InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must \
                 provide the client calculated MD5 of the secret key.",
            ));
        }
    };
    if algorithm != ALGORITHM {
        return Err(error(
            S3ErrorCode::InvalidEncryptionAlgorithmError,
            "The Encryption request you specified is not valid. Supported value: AES256.",
        ));
    }
    let secure = client.is_some_and(|c| c.secure || c.addr.is_some_and(|a| a.ip().is_loopback()));
    if !secure {
        return Err(error(
            S3ErrorCode::InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be \
             made over a secure connection.",
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = Zeroizing::new(b64.decode(key).unwrap_or_default());
    let Ok(bytes) = <[u8; 32]>::try_from(raw.as_slice()) else {
        return Err(error(
            S3ErrorCode::InvalidArgument,
            "The secret key was invalid for the specified algorithm.",
        ));
    };
    let computed = b64.encode(Md5::digest(bytes));
    if computed != md5 {
        return Err(error(
            S3ErrorCode::InvalidArgument,
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        ));
    }
    Ok(Some(CustomerKey {
        key: Zeroizing::new(bytes),
        md5: computed,
    }))
}

/// The customer key in a request's three SSE-C fields (`extensions` say
/// where it came from).
pub fn from_fields(
    algorithm: &Option<String>,
    key: &Option<String>,
    md5: &Option<String>,
    extensions: &http::Extensions,
) -> S3Result<Option<CustomerKey>> {
    customer_key(
        SseHeaders {
            algorithm: algorithm.as_deref(),
            key: key.as_deref(),
            md5: md5.as_deref(),
        },
        extensions.get::<ClientInfo>().copied(),
    )
}

/// The customer key in an input's `sse_customer_*` fields (or, with
/// `copy_source`, its `copy_source_sse_customer_*` fields), for request
/// `req`.
macro_rules! customer {
    ($input:expr, $req:expr) => {
        $crate::s3::sse_c::from_fields(
            &$input.sse_customer_algorithm,
            &$input.sse_customer_key,
            &$input.sse_customer_key_md5,
            &$req.extensions,
        )
    };
    (copy_source $input:expr, $req:expr) => {
        $crate::s3::sse_c::from_fields(
            &$input.copy_source_sse_customer_algorithm,
            &$input.copy_source_sse_customer_key,
            &$input.copy_source_sse_customer_key_md5,
            &$req.extensions,
        )
    };
}
pub(super) use customer;

impl CustomerKey {
    /// The key's MD5, base64, as stored and answered.
    pub fn md5(&self) -> &str {
        &self.md5
    }

    /// The key an object's data is sealed under: the object's own key,
    /// keyed-hashed with the customer's.
    pub fn data_key(&self, object_key: &ObjectKey) -> ObjectKey {
        ObjectKey::from_bytes(*blake3::keyed_hash(&self.key, object_key.as_bytes()).as_bytes())
    }
}

/// What an SSE-C object's (or part's) ETag is instead of the MD5 of its
/// plaintext, as AWS does: a keyed hash of that MD5 under the customer's
/// key, so it changes with the content but lets nobody without the key
/// check a guess of the content against a listing.
pub fn mask(customer: Option<&CustomerKey>, part: &mut crate::meta::PartLayout) {
    if let Some(customer) = customer {
        let md5 = part.etag.trim_matches('"');
        let hash = blake3::keyed_hash(&customer.key, md5.as_bytes());
        part.etag = format!("\"{}\"", &hash.to_hex()[..32]);
    }
}

/// Whether a request bringing `given` may read (or write a part of) an
/// object stored with a key of MD5 `stored`.
pub fn check(stored: Option<&str>, given: Option<&CustomerKey>) -> S3Result<()> {
    match (stored, given) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(error(
            S3ErrorCode::InvalidRequest,
            "The encryption parameters are not applicable to this object.",
        )),
        (Some(_), None) => Err(error(
            S3ErrorCode::InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct \
             parameters must be provided to retrieve the object.",
        )),
        (Some(stored), Some(given)) if stored == given.md5 => Ok(()),
        (Some(_), Some(_)) => Err(error(
            S3ErrorCode::AccessDenied,
            "The provided SSE-C key does not match the one the object was stored with.",
        )),
    }
}

/// Checks `given` against an object stored with a key of MD5 `stored`
/// (see [`check`]) and returns what the answer carries (see [`answer`]).
pub fn for_read(
    stored: Option<&str>,
    given: Option<&CustomerKey>,
) -> S3Result<(Option<String>, Option<String>)> {
    check(stored, given)?;
    Ok(answer(stored))
}

/// The algorithm and MD5 an answer carries for an object stored with a
/// key of MD5 `stored`.
pub fn answer(stored: Option<&str>) -> (Option<String>, Option<String>) {
    match stored {
        Some(md5) => (Some(ALGORITHM.to_owned()), Some(md5.to_owned())),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Option<ClientInfo> {
        Some(ClientInfo {
            addr: Some("127.0.0.1:5000".parse().unwrap()),
            secure: false,
        })
    }

    fn headers<'a>(key: &'a str, md5: &'a str) -> SseHeaders<'a> {
        SseHeaders {
            algorithm: Some(ALGORITHM),
            key: Some(key),
            md5: Some(md5),
        }
    }

    const KEY: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="; // 32 ASCII bytes
    fn md5_of(key: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        b64.encode(Md5::digest(b64.decode(key).unwrap()))
    }

    #[test]
    fn keys_are_checked_as_aws_checks_them() {
        let md5 = md5_of(KEY);
        let key = customer_key(headers(KEY, &md5), local()).unwrap().unwrap();
        assert_eq!(key.md5(), md5);
        assert!(customer_key(SseHeaders::default(), None).unwrap().is_none());
        let code = |h, c| customer_key(h, c).unwrap_err().code().clone();
        assert_eq!(
            code(headers(KEY, "AAAA"), local()),
            S3ErrorCode::InvalidArgument
        );
        let short_md5 = md5_of("c2hvcnQ=");
        assert_eq!(
            code(headers("c2hvcnQ=", &short_md5), local()),
            S3ErrorCode::InvalidArgument
        );
        let aes128 = SseHeaders {
            algorithm: Some("AES128"),
            ..headers(KEY, &md5)
        };
        assert_eq!(
            code(aes128, local()),
            S3ErrorCode::InvalidEncryptionAlgorithmError
        );
        let no_md5 = SseHeaders {
            md5: None,
            ..headers(KEY, &md5)
        };
        assert_eq!(code(no_md5, local()), S3ErrorCode::InvalidArgument);
        let remote = ClientInfo {
            addr: Some("192.0.2.1:5000".parse().unwrap()),
            secure: false,
        };
        assert_eq!(
            code(headers(KEY, &md5), Some(remote)),
            S3ErrorCode::InvalidRequest
        );
        let tls = Some(ClientInfo {
            secure: true,
            ..remote
        });
        assert!(customer_key(headers(KEY, &md5), tls).is_ok());
    }

    #[test]
    fn the_data_key_needs_both_keys_and_reads_need_the_right_one() {
        let md5 = md5_of(KEY);
        let key = customer_key(headers(KEY, &md5), local()).unwrap().unwrap();
        let object = ObjectKey::from_bytes([7; 32]);
        let sealed = key.data_key(&object);
        assert_ne!(sealed.as_bytes(), object.as_bytes());
        assert_eq!(key.data_key(&object).as_bytes(), sealed.as_bytes());
        assert!(check(Some(&md5), Some(&key)).is_ok());
        assert!(check(None, None).is_ok());
        assert_eq!(
            check(Some(&md5), None).unwrap_err().code(),
            &S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            check(None, Some(&key)).unwrap_err().code(),
            &S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            check(Some("other"), Some(&key)).unwrap_err().code(),
            &S3ErrorCode::AccessDenied
        );
        assert_eq!(answer(Some(&md5)), (Some("AES256".into()), Some(md5)));
    }
}
