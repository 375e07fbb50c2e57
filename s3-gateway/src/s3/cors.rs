//! PutBucketCors, GetBucketCors, DeleteBucketCors: a bucket's CORS rules
//! (see `crate::cors`), kept as its `cors` configuration document.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::Gateway;
use crate::cors::{CorsRule, CorsRules};
use crate::meta::bucket_config::CORS;

pub(super) async fn put_bucket_cors(
    gw: &Gateway,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let input = req.input;
    let rules = input
        .cors_configuration
        .cors_rules
        .into_iter()
        .map(|r| CorsRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: r.allowed_headers.unwrap_or_default(),
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    let rules = CorsRules::new(rules)
        .map_err(|e| S3Error::with_message(S3ErrorCode::InvalidRequest, e.to_string()))?;
    gw.meta
        .set_bucket_config(&input.bucket, CORS, Some(&rules.encode()))
        .await?;
    Ok(S3Response::new(PutBucketCorsOutput {}))
}

pub(super) async fn get_bucket_cors(
    gw: &Gateway,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    let rules = gw
        .meta
        .bucket_config(&req.input.bucket, CORS)
        .await?
        .and_then(|bytes| CorsRules::decode(&bytes))
        .ok_or_else(|| s3_error!(NoSuchCORSConfiguration))?;
    let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let rules = rules
        .rules
        .into_iter()
        .map(|r| CORSRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: list(r.allowed_headers),
            expose_headers: list(r.expose_headers),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    Ok(S3Response::new(GetBucketCorsOutput {
        cors_rules: Some(rules),
    }))
}

pub(super) async fn delete_bucket_cors(
    gw: &Gateway,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    gw.meta
        .set_bucket_config(&req.input.bucket, CORS, None)
        .await?;
    Ok(S3Response::with_status(
        DeleteBucketCorsOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}
