//! Request ids: every response, errors included, carries `x-amz-request-id`
//! (and `x-amz-id-2`), and every XML error body carries the same
//! `<RequestId>`, as AWS answers. Wraps the s3s service, so errors raised
//! inside s3s (authentication, parsing) get one too. It also fills in AWS's
//! `<Message>` where s3s left it out, unquotes GetObjectAttributes' ETag,
//! answers a form upload its policy
//! does not cover as AWS does (403 AccessDenied, "Invalid according to
//! Policy"), drops the XML body s3s gives a
//! 304 Not Modified, and writes raw carriage returns in XML answers as
//! `&#13;` (see `limits`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;

/// Longest error body that is rewritten to add the request id.
const MAX_ERROR_BODY: usize = 64 << 10;

/// The S3 service, stamping request ids.
#[derive(Clone)]
pub struct WithRequestId<S> {
    inner: S,
    prefix: u64,
    counter: std::sync::Arc<AtomicU64>,
}

impl<S> WithRequestId<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        let prefix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64
            ^ u64::from(std::process::id()).rotate_left(32);
        Self {
            inner,
            prefix,
            counter: Default::default(),
        }
    }

    fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:016X}{:08X}", self.prefix, n as u32)
    }
}

impl<S> hyper::service::Service<http::Request<s3s::Body>> for WithRequestId<S>
where
    S: hyper::service::Service<
            http::Request<s3s::Body>,
            Response = http::Response<s3s::Body>,
            Error = s3s::HttpError,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<s3s::Body>;
    type Error = s3s::HttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn call(&self, req: http::Request<s3s::Body>) -> Self::Future {
        let id = self.next_id();
        let form_upload = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"multipart/form-data"));
        let attributes = req.method() == http::Method::GET
            && req.uri().query().is_some_and(|q| {
                q.split('&')
                    .any(|p| p == "attributes" || p == "attributes=")
            });
        let response = self.inner.call(req);
        Box::pin(async move {
            let mut response = response.await?;
            if response.status() == http::StatusCode::NOT_MODIFIED {
                // s3s renders NotModified like any error, as XML; a 304 has
                // no body (RFC 9110 §15.4.5), and AWS sends none.
                let (mut parts, _) = response.into_parts();
                parts.headers.remove(http::header::CONTENT_TYPE);
                parts.headers.remove(http::header::CONTENT_LENGTH);
                response = http::Response::from_parts(parts, s3s::Body::empty());
            }
            let is_xml = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/xml"));
            let is_xml_error = is_xml && response.status().as_u16() >= 400;
            if is_xml_error {
                let (mut parts, body) = response.into_parts();
                let bytes = match body.collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => Bytes::new(),
                };
                let body = with_message(bytes);
                let body = match std::str::from_utf8(&body)
                    .ok()
                    .filter(|_| form_upload && body.len() <= MAX_ERROR_BODY)
                    .and_then(crate::http::error_text::as_policy_refusal)
                {
                    Some(refusal) => {
                        parts.status = http::StatusCode::FORBIDDEN;
                        Bytes::from(refusal)
                    }
                    None => body,
                };
                let body = with_request_id(&body, &id);
                parts.headers.remove(http::header::CONTENT_LENGTH);
                parts.headers.insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from(body.len()),
                );
                response = http::Response::from_parts(parts, s3s::Body::from(body));
            } else if is_xml
                // Object data (a GET carries the object's ETag) is streamed
                // and never rewritten; s3s's own XML answers are in memory.
                && !response.headers().contains_key(http::header::ETAG)
                && let Some(escaped) = response
                    .body()
                    .bytes()
                    .and_then(|b| crate::http::limits::escape_carriage_returns(&b))
            {
                // A key or echoed parameter with a carriage return, which
                // s3s writes raw (see `limits`).
                let (mut parts, _) = response.into_parts();
                parts.headers.insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from(escaped.len()),
                );
                response = http::Response::from_parts(parts, s3s::Body::from(escaped));
            }
            if attributes
                && response.status() == http::StatusCode::OK
                && let Some(unquoted) = response.body().bytes().and_then(|b| unquote_etag(&b))
            {
                // GetObjectAttributes answers the ETag unquoted (every other
                // answer quotes it, and so does s3s's serializer).
                let (mut parts, _) = response.into_parts();
                parts.headers.insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from(unquoted.len()),
                );
                response = http::Response::from_parts(parts, s3s::Body::from(unquoted));
            }
            let headers = response.headers_mut();
            if let Ok(value) = http::HeaderValue::from_str(&id) {
                headers.insert("x-amz-request-id", value.clone());
                headers.insert("x-amz-id-2", value);
            }
            Ok(response)
        })
    }
}

/// A GetObjectAttributes answer with its `<ETag>"..."</ETag>` unquoted;
/// `None` if it has none.
fn unquote_etag(body: &Bytes) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    // Only that answer (a listing asked with a stray `attributes`
    // parameter keeps its quotes).
    if !text.contains("<GetObjectAttributesResponse") {
        return None;
    }
    let start = text.find("<ETag>\"")? + "<ETag>".len();
    let end = start + text[start..].find("\"</ETag>")? + 1;
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.push_str(&text[start + 1..end - 1]);
    out.push_str(&text[end..]);
    Some(Bytes::from(out))
}

/// Adds AWS's `<Message>` to an S3 XML error body that lacks one.
fn with_message(body: Bytes) -> Bytes {
    if body.len() > MAX_ERROR_BODY {
        return body;
    }
    match std::str::from_utf8(&body)
        .ok()
        .and_then(crate::http::error_text::with_default_message)
    {
        Some(text) => Bytes::from(text),
        None => body,
    }
}

/// Adds `<RequestId>` to an S3 XML error body that lacks one.
fn with_request_id(body: &Bytes, id: &str) -> Bytes {
    if body.len() > MAX_ERROR_BODY {
        return body.clone();
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return body.clone();
    };
    if text.contains("<RequestId>") {
        return body.clone();
    }
    match text.rfind("</Error>") {
        Some(at) => {
            let mut out = String::with_capacity(text.len() + id.len() + 24);
            out.push_str(&text[..at]);
            out.push_str("<RequestId>");
            out.push_str(id);
            out.push_str("</RequestId>");
            out.push_str(&text[at..]);
            Bytes::from(out)
        }
        None => body.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_attributes_etag_loses_its_quotes() {
        let body = Bytes::from_static(
            b"<GetObjectAttributesResponse><ETag>\"abc-2\"</ETag></GetObjectAttributesResponse>",
        );
        assert_eq!(
            unquote_etag(&body).unwrap(),
            Bytes::from_static(
                b"<GetObjectAttributesResponse><ETag>abc-2</ETag></GetObjectAttributesResponse>"
            )
        );
        let listing =
            Bytes::from_static(b"<ListBucketResult><ETag>\"a\"</ETag></ListBucketResult>");
        assert_eq!(unquote_etag(&listing), None);
    }

    use super::*;

    #[test]
    fn request_ids_are_added_to_error_bodies_once() {
        let body = Bytes::from_static(
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>",
        );
        let out = with_request_id(&body, "ABC");
        assert!(String::from_utf8_lossy(&out).ends_with("<RequestId>ABC</RequestId></Error>"));
        assert_eq!(with_request_id(&out, "XYZ"), out);
        let other = Bytes::from_static(b"not xml");
        assert_eq!(with_request_id(&other, "ABC"), other);
        let bare = Bytes::from_static(b"<Error><Code>InvalidBucketName</Code></Error>");
        assert_eq!(
            with_message(bare),
            Bytes::from_static(
                b"<Error><Code>InvalidBucketName</Code>\
                  <Message>The specified bucket is not valid.</Message></Error>"
            )
        );
    }
}
