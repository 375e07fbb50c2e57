//! Two custom routes beside the S3 API as one (s3s takes one route).

use hyper::http::Extensions;
use hyper::{HeaderMap, Method, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result};

/// `first` where it matches, else `second`.
pub struct Either<A, B> {
    first: A,
    second: B,
}

impl<A, B> Either<A, B> {
    /// The two routes, `first` tried first.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

#[async_trait::async_trait]
impl<A: S3Route, B: S3Route> S3Route for Either<A, B> {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        ext: &mut Extensions,
    ) -> bool {
        self.first.is_match(method, uri, headers, ext)
            || self.second.is_match(method, uri, headers, ext)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        if self
            .first
            .is_match(&req.method, &req.uri, &req.headers, &mut req.extensions)
        {
            self.first.check_access(req).await
        } else {
            self.second.check_access(req).await
        }
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        if self
            .first
            .is_match(&req.method, &req.uri, &req.headers, &mut req.extensions)
        {
            self.first.call(req).await
        } else {
            self.second.call(req).await
        }
    }
}
