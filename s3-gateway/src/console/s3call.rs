//! S3 requests made by the console on behalf of the signed-in key: signed
//! with that key's secret (SigV4) and sent to the gateway's own S3 stack in
//! the same process, so that every permission check (ownership, grants,
//! bucket policies, ACLs) applies exactly as it does to any other client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningInstructions,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;

use crate::data::keywrap::MasterKey;
use crate::http::conn::ClientInfo;
use crate::meta::MetaStore;

/// The gateway's S3 service (every layer, from request ids to the
/// handlers), callable in-process.
pub type S3Handler = Arc<
    dyn Fn(
            http::Request<s3s::Body>,
        ) -> Pin<
            Box<dyn Future<Output = Result<http::Response<s3s::Body>, s3s::HttpError>> + Send>,
        > + Send
        + Sync,
>;

/// Why a console S3 call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The S3 stack refused the request (status, S3 error code, message).
    #[error("{code}: {message}")]
    S3 {
        /// HTTP status.
        status: u16,
        /// S3 error code (`AccessDenied`, `NoSuchBucket`, ...).
        code: String,
        /// What the gateway said.
        message: String,
    },
    /// The signed-in key no longer exists.
    #[error("the access key no longer exists")]
    NoKey,
    /// Signing, the metadata store or reading the answer failed.
    #[error("{0}")]
    Internal(String),
}

impl CallError {
    /// The HTTP status to answer the browser with.
    pub fn status(&self) -> u16 {
        match self {
            Self::S3 { status, .. } => *status,
            Self::NoKey => 401,
            Self::Internal(_) => 500,
        }
    }
}

/// Longest an answer read whole (XML listings, errors) may be.
const MAX_XML: usize = 16 << 20;

/// Signs and sends S3 requests as one key. Cheap to clone.
#[derive(Clone)]
pub struct S3Caller {
    handler: S3Handler,
    meta: MetaStore,
    master: Arc<MasterKey>,
    /// `host:port` of the S3 endpoint (signed as the Host header).
    host: String,
    /// `http` or `https`, for presigned links.
    scheme: &'static str,
    region: String,
}

/// One S3 request to make.
pub struct Call<'a> {
    /// HTTP method.
    pub method: http::Method,
    /// Path and query, already percent-encoded (`/bucket/key?uploads`).
    pub path_and_query: String,
    /// Extra headers (content type, content length, ...).
    pub headers: Vec<(http::header::HeaderName, http::HeaderValue)>,
    /// The body (streamed through, never signed: `UNSIGNED-PAYLOAD`).
    pub body: s3s::Body,
    /// The browser's connection, for policies that look at it.
    pub client: Option<&'a ClientInfo>,
}

impl<'a> Call<'a> {
    /// A request with no body.
    pub fn new(method: http::Method, path_and_query: String) -> Self {
        Self {
            method,
            path_and_query,
            headers: Vec::new(),
            body: s3s::Body::empty(),
            client: None,
        }
    }

    /// With `body`.
    pub fn body(mut self, body: s3s::Body) -> Self {
        self.body = body;
        self
    }

    /// With header `name: value` (ignored if the value is not a valid
    /// header value).
    pub fn header(mut self, name: http::header::HeaderName, value: &str) -> Self {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// From the browser connection `client`.
    pub fn from(mut self, client: Option<&'a ClientInfo>) -> Self {
        self.client = client;
        self
    }
}

impl S3Caller {
    /// Calls `handler` for keys found in `meta`; `endpoint` is the S3
    /// address (`http://127.0.0.1:9000`) presigned links point at.
    pub fn new(
        handler: S3Handler,
        meta: MetaStore,
        master: Arc<MasterKey>,
        endpoint: &str,
        region: String,
    ) -> Self {
        let (scheme, host) = match endpoint.split_once("://") {
            Some(("https", host)) => ("https", host),
            Some((_, host)) => ("http", host),
            None => ("http", endpoint),
        };
        Self {
            handler,
            meta,
            master,
            host: host.trim_end_matches('/').to_owned(),
            scheme,
            region,
        }
    }

    /// Key `access_key`'s secret, if there is such a key.
    pub async fn secret_of(&self, access_key: &str) -> Result<Option<String>, CallError> {
        self.meta
            .secret_for(access_key, &self.master)
            .await
            .map_err(|e| CallError::Internal(format!("metadata: {e}")))
    }

    /// Key `access_key`'s secret.
    async fn secret(&self, access_key: &str) -> Result<String, CallError> {
        self.secret_of(access_key).await?.ok_or(CallError::NoKey)
    }

    fn settings() -> SigningSettings {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings
    }

    /// How to sign `method uri` with `headers` as `access_key` (whose
    /// secret is `secret`) under `settings`.
    fn sign(
        &self,
        access_key: &str,
        secret: String,
        settings: SigningSettings,
        method: &str,
        uri: &str,
        headers: &[(String, String)],
    ) -> Result<SigningInstructions, CallError> {
        let failed = |e: &dyn std::fmt::Display| CallError::Internal(format!("signing: {e}"));
        let identity =
            aws_credential_types::Credentials::new(access_key, secret, None, None, "console")
                .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let signable = SignableRequest::new(
            method,
            uri,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| failed(&e))?;
        Ok(sign(signable, &params)
            .map_err(|e| failed(&e))?
            .into_parts()
            .0)
    }

    /// Sends `call` as `access_key` and returns the answer, whatever its
    /// status.
    pub async fn send(
        &self,
        access_key: &str,
        call: Call<'_>,
    ) -> Result<http::Response<s3s::Body>, CallError> {
        let secret = self.secret(access_key).await?;
        let uri = format!("http://{}{}", self.host, call.path_and_query);
        let mut request = http::Request::builder()
            .method(call.method.clone())
            .uri(&uri)
            .header(http::header::HOST, &self.host)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .body(call.body)
            .map_err(|e| CallError::Internal(format!("request: {e}")))?;
        for (name, value) in call.headers {
            request.headers_mut().insert(name, value);
        }
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let instructions = self.sign(
            access_key,
            secret,
            Self::settings(),
            call.method.as_str(),
            &uri,
            &headers,
        )?;
        instructions.apply_to_request_http1x(&mut request);
        // The S3 stack sees the path only, as from a client.
        *request.uri_mut() = call
            .path_and_query
            .parse()
            .map_err(|e| CallError::Internal(format!("request path: {e}")))?;
        if let Some(client) = call.client {
            request.extensions_mut().insert(*client);
        }
        (self.handler)(request)
            .await
            .map_err(|e| CallError::Internal(format!("S3: {e:?}")))
    }

    /// Sends `call` and reads the whole answer (at most 16 MiB), turning
    /// an S3 error into [`CallError::S3`].
    pub async fn fetch(
        &self,
        access_key: &str,
        call: Call<'_>,
    ) -> Result<(http::HeaderMap, Bytes), CallError> {
        let response = self.send(access_key, call).await?;
        let (parts, body) = response.into_parts();
        let bytes = read_bounded(body, MAX_XML).await?;
        if !parts.status.is_success() {
            return Err(s3_error(parts.status.as_u16(), &bytes));
        }
        Ok((parts.headers, bytes))
    }

    /// Sends `call` and decodes its XML answer as `T`.
    pub async fn xml<T: for<'de> Deserialize<'de>>(
        &self,
        access_key: &str,
        call: Call<'_>,
    ) -> Result<T, CallError> {
        let (_, bytes) = self.fetch(access_key, call).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| CallError::Internal("the S3 answer is not UTF-8".into()))?;
        quick_xml::de::from_str(text)
            .map_err(|e| CallError::Internal(format!("the S3 answer: {e}")))
    }

    /// A presigned GET link to `path` (percent-encoded `/bucket/key`)
    /// valid for `expires` (at most 7 days, as AWS allows).
    pub async fn presign(
        &self,
        access_key: &str,
        path: &str,
        expires: Duration,
    ) -> Result<String, CallError> {
        let secret = self.secret(access_key).await?;
        let uri = format!("{}://{}{}", self.scheme, self.host, path);
        let mut settings = Self::settings();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires.min(Duration::from_secs(7 * 24 * 3600)));
        let host = [("host".to_owned(), self.host.clone())];
        let instructions = self.sign(access_key, secret, settings, "GET", &uri, &host)?;
        let mut request = http::Request::builder()
            .uri(&uri)
            .body(())
            .map_err(|e| CallError::Internal(format!("request: {e}")))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }
}

/// Reads `body` whole, refusing more than `max` bytes.
pub async fn read_bounded(mut body: s3s::Body, max: usize) -> Result<Bytes, CallError> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CallError::Internal(format!("reading: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(CallError::Internal(format!(
                    "an answer larger than {max} bytes"
                )));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// The S3 error document in `body` (or the status alone).
pub fn s3_error(status: u16, body: &[u8]) -> CallError {
    #[derive(Deserialize)]
    struct ErrorDoc {
        #[serde(rename = "Code", default)]
        code: String,
        #[serde(rename = "Message", default)]
        message: String,
    }
    let doc = std::str::from_utf8(body)
        .ok()
        .and_then(|t| quick_xml::de::from_str::<ErrorDoc>(t).ok());
    match doc {
        Some(doc) if !doc.code.is_empty() => CallError::S3 {
            status,
            message: if doc.message.is_empty() {
                doc.code.clone()
            } else {
                doc.message
            },
            code: doc.code,
        },
        _ => CallError::S3 {
            status,
            code: format!("HTTP {status}"),
            message: http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_owned(),
        },
    }
}

/// Percent-encodes one path segment or query value (everything but
/// unreserved characters), as SigV4 expects.
pub fn encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// `/bucket/key` with the key's slashes kept and everything else encoded.
pub fn object_path(bucket: &str, key: &str) -> String {
    let key: Vec<String> = key.split('/').map(encode).collect();
    format!("/{}/{}", encode(bucket), key.join("/"))
}

/// The answers the console reads, as S3 writes them.
pub mod xml {
    use serde::Deserialize;

    /// `ListAllMyBucketsResult`.
    #[derive(Debug, Default, Deserialize)]
    pub struct ListBuckets {
        /// The buckets.
        #[serde(rename = "Buckets", default)]
        pub buckets: Buckets,
    }

    /// `<Buckets>`.
    #[derive(Debug, Default, Deserialize)]
    pub struct Buckets {
        /// Each bucket.
        #[serde(rename = "Bucket", default)]
        pub bucket: Vec<Bucket>,
    }

    /// One bucket.
    #[derive(Debug, Deserialize)]
    pub struct Bucket {
        /// Its name.
        #[serde(rename = "Name")]
        pub name: String,
        /// When it was made.
        #[serde(rename = "CreationDate", default)]
        pub created: String,
    }

    /// `ListBucketResult` (ListObjectsV2).
    #[derive(Debug, Default, Deserialize)]
    pub struct ListObjects {
        /// Objects on this page.
        #[serde(rename = "Contents", default)]
        pub contents: Vec<Object>,
        /// Prefixes rolled up at the delimiter.
        #[serde(rename = "CommonPrefixes", default)]
        pub prefixes: Vec<Prefix>,
        /// Where the next page starts.
        #[serde(rename = "NextContinuationToken", default)]
        pub next: Option<String>,
        /// Whether there is a next page.
        #[serde(rename = "IsTruncated", default)]
        pub truncated: bool,
    }

    /// One object in a listing.
    #[derive(Debug, Deserialize)]
    pub struct Object {
        /// Its key.
        #[serde(rename = "Key")]
        pub key: String,
        /// Its size in bytes.
        #[serde(rename = "Size", default)]
        pub size: u64,
        /// When it was written.
        #[serde(rename = "LastModified", default)]
        pub modified: String,
        /// Its ETag.
        #[serde(rename = "ETag", default)]
        pub etag: String,
    }

    /// One common prefix.
    #[derive(Debug, Deserialize)]
    pub struct Prefix {
        /// The prefix, delimiter included.
        #[serde(rename = "Prefix")]
        pub prefix: String,
    }

    /// `ListVersionsResult`.
    #[derive(Debug, Default, Deserialize)]
    pub struct ListVersions {
        /// Versions (not delete markers).
        #[serde(rename = "Version", default)]
        pub versions: Vec<Version>,
        /// Delete markers.
        #[serde(rename = "DeleteMarker", default)]
        pub markers: Vec<Version>,
    }

    /// One version or delete marker.
    #[derive(Debug, Deserialize)]
    pub struct Version {
        /// Its key.
        #[serde(rename = "Key")]
        pub key: String,
        /// Its version id.
        #[serde(rename = "VersionId", default)]
        pub version_id: String,
        /// Whether it is the current one.
        #[serde(rename = "IsLatest", default)]
        pub latest: bool,
        /// When it was written.
        #[serde(rename = "LastModified", default)]
        pub modified: String,
        /// Its size (versions only).
        #[serde(rename = "Size", default)]
        pub size: u64,
    }

    /// `InitiateMultipartUploadResult`.
    #[derive(Debug, Deserialize)]
    pub struct Initiated {
        /// The upload's id.
        #[serde(rename = "UploadId")]
        pub upload_id: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_key_slashes_and_encode_the_rest() {
        assert_eq!(object_path("b", "a b/c+d/é"), "/b/a%20b/c%2Bd/%C3%A9");
        assert_eq!(encode("x/y"), "x%2Fy");
    }

    #[test]
    fn error_documents_give_code_and_message() {
        let e = s3_error(
            403,
            b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>",
        );
        assert!(
            matches!(e, CallError::S3 { status: 403, ref code, ref message } if code == "AccessDenied" && message == "no")
        );
        let e = s3_error(503, b"");
        assert!(matches!(e, CallError::S3 { ref code, .. } if code == "HTTP 503"));
    }

    #[test]
    fn listings_decode() {
        let text = r#"<ListBucketResult><Name>b</Name><Contents><Key>a/1</Key><Size>5</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"x"</ETag></Contents><CommonPrefixes><Prefix>a/d/</Prefix></CommonPrefixes><IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken></ListBucketResult>"#;
        let list: xml::ListObjects = quick_xml::de::from_str(text).unwrap();
        assert_eq!(list.contents[0].key, "a/1");
        assert_eq!(list.contents[0].size, 5);
        assert_eq!(list.prefixes[0].prefix, "a/d/");
        assert!(list.truncated);
        assert_eq!(list.next.as_deref(), Some("t"));
    }
}
