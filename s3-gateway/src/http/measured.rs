//! Request metrics: wraps the HTTP service, names each request's S3
//! operation from its method, path and query, and counts it by operation
//! and status with its latency (to the response head).

use std::time::Instant;

use crate::admin::metrics::GatewayMetrics;
use crate::http::vhost::Domains;

/// A service wrapper that records every request in [`GatewayMetrics`].
#[derive(Clone)]
pub struct Measured<S> {
    inner: S,
    metrics: GatewayMetrics,
    domains: Domains,
}

impl<S> Measured<S> {
    /// Wraps `inner`; `domains` tell virtual-hosted requests apart.
    pub fn new(inner: S, metrics: GatewayMetrics, domains: Domains) -> Self {
        Self {
            inner,
            metrics,
            domains,
        }
    }
}

impl<S, ReqB, B> hyper::service::Service<http::Request<ReqB>> for Measured<S>
where
    S: hyper::service::Service<http::Request<ReqB>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn call(&self, req: http::Request<ReqB>) -> Self::Future {
        // A virtual-hosted request names its bucket in the Host header.
        let hosted = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| self.domains.bucket_of(h));
        let path = match hosted {
            Some(bucket) => format!("/{bucket}{}", req.uri().path()),
            None => req.uri().path().to_owned(),
        };
        let op = operation(req.method(), &path, req.uri().query(), req.headers());
        let started = Instant::now();
        let metrics = self.metrics.clone();
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await;
            let status = response.as_ref().map_or(500, |r| r.status().as_u16());
            metrics.request(op, status, started.elapsed().as_secs_f64());
            response
        })
    }
}

/// The S3 operation a request most likely is (path-style addressing).
pub fn operation(
    method: &http::Method,
    path: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
) -> &'static str {
    let has = |name: &str| {
        query.is_some_and(|q| {
            q.split('&')
                .any(|p| p == name || p.starts_with(&format!("{name}=")))
        })
    };
    let trimmed = path.trim_start_matches('/');
    let object = trimmed.split_once('/').is_some_and(|(_, k)| !k.is_empty());
    let bucket = !trimmed.is_empty();
    let copy = headers.contains_key("x-amz-copy-source");
    match (method.as_str(), bucket, object) {
        ("GET", false, _) => "ListBuckets",
        ("GET", true, false) if has("location") => "GetBucketLocation",
        ("GET", true, false) if has("uploads") => "ListMultipartUploads",
        ("GET", true, false) if has("versions") => "ListObjectVersions",
        ("GET", true, false) if has("list-type") => "ListObjectsV2",
        ("GET", true, false) => "ListObjects",
        ("HEAD", true, false) => "HeadBucket",
        ("PUT", true, false) => "CreateBucket",
        ("DELETE", true, false) => "DeleteBucket",
        ("POST", true, false) if has("delete") => "DeleteObjects",
        ("GET", true, true) if has("uploadId") => "ListParts",
        ("GET", true, true) => "GetObject",
        ("HEAD", true, true) => "HeadObject",
        ("PUT", true, true) if has("uploadId") && copy => "UploadPartCopy",
        ("PUT", true, true) if has("uploadId") => "UploadPart",
        ("PUT", true, true) if copy => "CopyObject",
        ("PUT", true, true) => "PutObject",
        ("DELETE", true, true) if has("uploadId") => "AbortMultipartUpload",
        ("DELETE", true, true) => "DeleteObject",
        ("POST", true, true) if has("uploads") => "CreateMultipartUpload",
        ("POST", true, true) if has("uploadId") => "CompleteMultipartUpload",
        ("OPTIONS", _, _) => "PreflightCors",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_from_the_request_line() {
        let h = http::HeaderMap::new();
        let get = http::Method::GET;
        assert_eq!(operation(&get, "/", None, &h), "ListBuckets");
        assert_eq!(
            operation(&get, "/b", Some("list-type=2&prefix=a"), &h),
            "ListObjectsV2"
        );
        assert_eq!(operation(&get, "/b/", None, &h), "ListObjects");
        assert_eq!(operation(&get, "/b/k/x", None, &h), "GetObject");
        assert_eq!(
            operation(
                &http::Method::PUT,
                "/b/k",
                Some("partNumber=1&uploadId=x"),
                &h
            ),
            "UploadPart"
        );
        let mut copy = http::HeaderMap::new();
        copy.insert("x-amz-copy-source", "a/b".parse().unwrap());
        assert_eq!(
            operation(&http::Method::PUT, "/b/k", None, &copy),
            "CopyObject"
        );
        assert_eq!(
            operation(&http::Method::POST, "/b", Some("delete"), &h),
            "DeleteObjects"
        );
    }
}
