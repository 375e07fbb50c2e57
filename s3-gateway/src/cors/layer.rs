//! The CORS layer of the S3 endpoint: answers preflight `OPTIONS`
//! requests from the bucket's rules (they carry no signature), and adds
//! the CORS headers to the answer of any request with an `Origin` that a
//! rule allows. Requests without `Origin` pass through untouched.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};

use super::{Allowed, CorsRules};
use crate::http::signing::Refusal;
use crate::http::vhost::Domains;
use crate::meta::MetaStore;

/// The S3 service behind the CORS layer.
#[derive(Clone)]
pub struct Cors<S> {
    inner: S,
    meta: MetaStore,
    domains: Domains,
}

impl<S> Cors<S> {
    /// Wraps `inner`, reading rules from `meta`; `domains` tell
    /// virtual-hosted requests apart.
    pub fn new(inner: S, meta: MetaStore, domains: Domains) -> Self {
        Self {
            inner,
            meta,
            domains,
        }
    }
}

type Response = http::Response<s3s::Body>;

impl<S> hyper::service::Service<http::Request<s3s::Body>> for Cors<S>
where
    S: hyper::service::Service<
            http::Request<s3s::Body>,
            Response = Response,
            Error = s3s::HttpError,
        >,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = s3s::HttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn call(&self, req: http::Request<s3s::Body>) -> Self::Future {
        let origin = header_str(req.headers(), header::ORIGIN).map(str::to_owned);
        if req.method() == http::Method::OPTIONS {
            let bucket = bucket_of(&req, &self.domains);
            let meta = self.meta.clone();
            let headers = req.headers().clone();
            return Box::pin(async move { Ok(preflight(&meta, bucket, &headers).await) });
        }
        let Some(origin) = origin else {
            // Not a browser's cross-origin request: nothing to add.
            return Box::pin(self.inner.call(req));
        };
        let bucket = bucket_of(&req, &self.domains);
        let meta = self.meta.clone();
        let method = req.method().clone();
        let response = self.inner.call(req);
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(bucket) = bucket
                && let Some(rules) = rules_of(&meta, &bucket).await
                && let Some(allowed) = rules.find(&origin, method.as_str(), &[])
            {
                allow(response.headers_mut(), &origin, &allowed, None);
            }
            Ok(response)
        })
    }
}

/// The bucket a request is about: the Host's for a virtual-hosted
/// request, else the path's first segment.
fn bucket_of<B>(req: &http::Request<B>, domains: &Domains) -> Option<String> {
    if let Some(bucket) = header_str(req.headers(), header::HOST).and_then(|h| domains.bucket_of(h))
    {
        return Some(bucket);
    }
    let first = req.uri().path().trim_start_matches('/').split('/').next()?;
    (!first.is_empty()).then(|| first.to_owned())
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn rules_of(meta: &MetaStore, bucket: &str) -> Option<Arc<CorsRules>> {
    match meta.bucket_access(bucket).await {
        Ok(Some(info)) => info.cors.clone(),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(bucket, error = %e, "cannot read the bucket's CORS rules");
            None
        }
    }
}

/// The answer to a preflight request.
async fn preflight(meta: &MetaStore, bucket: Option<String>, headers: &HeaderMap) -> Response {
    let Some(origin) = header_str(headers, header::ORIGIN) else {
        return error(
            400,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        );
    };
    let method = header_str(headers, header::ACCESS_CONTROL_REQUEST_METHOD).unwrap_or("null");
    if !super::METHODS.contains(&method) {
        return error(
            400,
            "BadRequest",
            &format!("Invalid Access-Control-Request-Method: {method}"),
        );
    }
    let Some(bucket) = bucket else {
        return error(
            400,
            "BadRequest",
            "Insufficient information. A bucket is needed.",
        );
    };
    let Some(rules) = rules_of(meta, &bucket).await else {
        return error(
            403,
            "AccessForbidden",
            "CORSResponse: CORS is not enabled for this bucket.",
        );
    };
    let asked = header_str(headers, header::ACCESS_CONTROL_REQUEST_HEADERS);
    let wanted: Vec<&str> = asked
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let Some(allowed) = rules.find(origin, method, &wanted) else {
        return error(
            403,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the \
             evalution of Origin, request method / Access-Control-Request-Method or \
             Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        );
    };
    let mut response = http::Response::new(s3s::Body::empty());
    allow(response.headers_mut(), origin, &allowed, asked);
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// Adds what `allowed` lets the answer to `origin` say; `asked` is a
/// preflight's `Access-Control-Request-Headers`.
fn allow(headers: &mut HeaderMap, origin: &str, allowed: &Allowed<'_>, asked: Option<&str>) {
    let rule = allowed.rule;
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    if allowed.any_origin {
        set(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    } else {
        set(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        set(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    }
    set(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        &rule.allowed_methods.join(", "),
    );
    if let Some(asked) = asked.filter(|a| !a.trim().is_empty()) {
        set(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    }
    if !rule.expose_headers.is_empty() {
        set(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set(header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
    }
    set(
        header::VARY,
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

/// An S3 XML error answer.
fn error(status: u16, code: &'static str, message: &str) -> Response {
    let status = http::StatusCode::from_u16(status).expect("valid status");
    Refusal::new(status, code, message).into_response()
}
