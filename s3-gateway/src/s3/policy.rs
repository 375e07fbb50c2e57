//! Bucket policies (Put, Get, Delete, GetBucketPolicyStatus) and the
//! public access block (Put, Get, Delete). Both are stored as bucket
//! configuration documents; the access check (`access`) applies them.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::Gateway;
use crate::meta::PublicAccessBlock;
use crate::meta::bucket_config::{POLICY, PUBLIC_ACCESS_BLOCK};
use crate::policy::Policy;

/// The code AWS answers when a bucket has no public access block.
const NO_BLOCK: &str = "NoSuchPublicAccessBlockConfiguration";

pub(super) async fn put_bucket_policy(
    gw: &Gateway,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let input = req.input;
    let info = gw
        .meta
        .bucket_access(&input.bucket)
        .await?
        .ok_or_else(|| s3_error!(NoSuchBucket))?;
    let policy = Policy::parse(&input.policy, &input.bucket)
        .map_err(|e| S3Error::with_message(S3ErrorCode::MalformedPolicy, e.to_string()))?;
    if info.public_access.block_public_policy && policy.is_public() {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Access Denied: the bucket's public access block refuses public policies",
        ));
    }
    gw.meta
        .set_bucket_config(&input.bucket, POLICY, Some(input.policy.as_bytes()))
        .await?;
    Ok(S3Response::with_status(
        PutBucketPolicyOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn get_bucket_policy(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    let text = gw
        .meta
        .bucket_config(&req.input.bucket, POLICY)
        .await?
        .ok_or_else(|| s3_error!(NoSuchBucketPolicy))?;
    Ok(S3Response::new(GetBucketPolicyOutput {
        policy: Some(String::from_utf8_lossy(&text).into_owned()),
    }))
}

pub(super) async fn delete_bucket_policy(
    gw: &Gateway,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    gw.meta
        .set_bucket_config(&req.input.bucket, POLICY, None)
        .await?;
    Ok(S3Response::with_status(
        DeleteBucketPolicyOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn get_bucket_policy_status(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let info = gw
        .meta
        .bucket_access(&req.input.bucket)
        .await?
        .ok_or_else(|| s3_error!(NoSuchBucket))?;
    let policy = info
        .policy
        .as_ref()
        .ok_or_else(|| s3_error!(NoSuchBucketPolicy))?;
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(policy.is_public()),
        }),
    }))
}

pub(super) async fn put_public_access_block(
    gw: &Gateway,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let input = req.input;
    let c = input.public_access_block_configuration;
    let block = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    gw.meta
        .set_bucket_config(&input.bucket, PUBLIC_ACCESS_BLOCK, Some(&[block.to_byte()]))
        .await?;
    Ok(S3Response::new(PutPublicAccessBlockOutput {}))
}

pub(super) async fn get_public_access_block(
    gw: &Gateway,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    let stored = gw
        .meta
        .bucket_config(&req.input.bucket, PUBLIC_ACCESS_BLOCK)
        .await?
        .ok_or_else(no_block)?;
    let block = PublicAccessBlock::from_bytes(&stored).ok_or_else(no_block)?;
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(block.block_public_acls),
            ignore_public_acls: Some(block.ignore_public_acls),
            block_public_policy: Some(block.block_public_policy),
            restrict_public_buckets: Some(block.restrict_public_buckets),
        }),
    }))
}

pub(super) async fn delete_public_access_block(
    gw: &Gateway,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    gw.meta
        .set_bucket_config(&req.input.bucket, PUBLIC_ACCESS_BLOCK, None)
        .await?;
    Ok(S3Response::with_status(
        DeletePublicAccessBlockOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}

fn no_block() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom(NO_BLOCK.into()),
        "The public access block configuration was not found",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}
