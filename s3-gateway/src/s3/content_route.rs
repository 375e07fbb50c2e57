//! The routes beside the S3 API for published content, on the S3 port:
//!
//! - `GET` / `HEAD /cid/<cid>`: anyone, unsigned; read-only.
//! - `POST /<bucket>/<key>?publish`: signed (SigV4, checked by s3s before
//!   the route sees it) by a key that may both read and write the object
//!   (publishing stores a second copy and makes the bytes readable by
//!   whoever learns the CID). Path-style only. Answers JSON
//!   `{"cid", "size", "already"}` and the CID in `x-cairn-cid`.
//!
//! `/cid/` takes the path of a bucket named `cid`: a path-style request
//! for such a bucket's objects is answered as content instead.

use hyper::header::HeaderValue;
use hyper::http::Extensions;
use hyper::{HeaderMap, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::Gateway;
use super::access::{Facts, Target, permitted};
use super::content::{CID_HEADER, published_body};
use crate::http::conn::ClientInfo;
use crate::meta::MetaStore;

/// The content routes, over the gateway's S3 implementation.
pub struct ContentRoute {
    gateway: Gateway,
    meta: MetaStore,
}

impl ContentRoute {
    /// Routes for `gateway`, checking rights in `meta`.
    pub fn new(gateway: Gateway, meta: MetaStore) -> Self {
        Self { gateway, meta }
    }
}

/// The CID of a `/cid/<cid>` path.
fn cid_of(path: &str) -> Option<&str> {
    path.strip_prefix("/cid/")
        .filter(|rest| !rest.contains('/'))
}

/// Whether the query asks to publish (`?publish`, nothing else).
fn asks_publish(uri: &Uri) -> bool {
    matches!(uri.query(), Some("publish" | "publish="))
}

/// The bucket and key of a path-style object path, decoded.
fn object_of(path: &str) -> Option<(String, String)> {
    let decoded = percent_encoding::percent_decode_str(path.strip_prefix('/')?)
        .decode_utf8()
        .ok()?;
    let (bucket, key) = decoded.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

fn access_denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}

#[async_trait::async_trait]
impl S3Route for ContentRoute {
    fn is_match(&self, method: &Method, uri: &Uri, _: &HeaderMap, _: &mut Extensions) -> bool {
        match *method {
            Method::GET | Method::HEAD => cid_of(uri.path()).is_some(),
            Method::POST => asks_publish(uri),
            _ => false,
        }
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        if req.method != Method::POST {
            // Content is read by anyone who names it.
            return Ok(());
        }
        let principal = match &req.credentials {
            Some(c) => c.access_key.clone(),
            None => return Err(access_denied()),
        };
        let (bucket, key) = object_of(req.uri.path()).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Publish an object: POST /<bucket>/<key>?publish (path-style).",
            )
        })?;
        let Some(info) = self.meta.bucket_access(&bucket).await? else {
            return Err(s3_error!(NoSuchBucket));
        };
        let facts = Facts {
            client: req.extensions.get::<ClientInfo>().copied(),
            headers: &req.headers,
            query: req.uri.query(),
        };
        let target = Target {
            bucket: &bucket,
            key: Some(&key),
            version: false,
        };
        let may = |op| permitted(&info, Some(&principal), op, &target, &facts);
        if may("GetObject") && may("PutObject") {
            Ok(())
        } else {
            Err(access_denied())
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        if let Some(cid) = cid_of(req.uri.path()) {
            let head = req.method == Method::HEAD;
            return self.gateway.serve_cid(cid, head, &req.headers).await;
        }
        let (bucket, key) = object_of(req.uri.path()).ok_or_else(|| s3_error!(InvalidRequest))?;
        let published = self.gateway.publish(&bucket, &key).await?;
        let mut out = S3Response::new(Body::from(published_body(&published)));
        out.status = Some(StatusCode::OK);
        let cid = HeaderValue::from_str(&published.cid).expect("a CID is a header value");
        out.headers.insert(CID_HEADER, cid);
        out.headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_apart() {
        assert_eq!(cid_of("/cid/bafkr4iabc"), Some("bafkr4iabc"));
        assert_eq!(cid_of("/cid/a/b"), None);
        assert_eq!(cid_of("/bucket/cid/x"), None);
        assert_eq!(
            object_of("/b/dir/file%20name.txt"),
            Some(("b".into(), "dir/file name.txt".into()))
        );
        assert_eq!(object_of("/b"), None);
        assert_eq!(object_of("/b/"), None);
        assert!(asks_publish(&"/b/k?publish".parse().unwrap()));
        assert!(!asks_publish(&"/b/k?publish&x=1".parse().unwrap()));
        assert!(!asks_publish(&"/b/k?uploads".parse().unwrap()));
    }
}
