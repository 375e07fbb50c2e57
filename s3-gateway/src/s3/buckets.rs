//! Bucket operations: list, create, head, location, ACLs, delete.

use s3s::dto::*;

use crate::meta::bucket_config;
use crate::meta::versions::Versioning;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::s3::acl::{self, AclError, AclRequest};

use super::Gateway;
use super::response::*;

/// Whether any `x-amz-grant-*` header was sent.
pub(super) fn any_grant(grants: [&Option<String>; 5]) -> bool {
    grants.iter().any(|g| g.is_some())
}

pub(super) fn owner_of(req_credentials: Option<&s3s::auth::Credentials>) -> String {
    req_credentials.map_or_else(|| "anonymous".to_owned(), |c| c.access_key.clone())
}

pub(super) async fn list_buckets(
    gw: &Gateway,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let owner = owner_of(req.credentials.as_ref());
    // Only the buckets this key created or has been granted something in.
    let granted: std::collections::HashSet<String> = gw
        .meta
        .key_grants(&owner)
        .await?
        .into_iter()
        .map(|(bucket, _)| bucket)
        .collect();
    let buckets = gw
        .meta
        .list_buckets()
        .await?
        .into_iter()
        .filter(|b| b.owner == owner || granted.contains(&b.name))
        .map(|b| Bucket {
            name: Some(b.name),
            creation_date: Some(timestamp(b.created)),
            bucket_region: Some(b.region),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(Owner {
            display_name: Some(owner.clone()),
            id: Some(owner),
        }),
        ..Default::default()
    }))
}

pub(super) async fn create_bucket(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let owner = owner_of(req.credentials.as_ref());
    let input = req.input;
    let acl = acl::requested(
        AclRequest {
            canned: input.acl.as_ref().map(|a| a.as_str()),
            grant_headers: any_grant([
                &input.grant_full_control,
                &input.grant_read,
                &input.grant_read_acp,
                &input.grant_write,
                &input.grant_write_acp,
            ]),
            policy: None,
        },
        &owner,
    )?
    .unwrap_or_default();
    let bucket = input.bucket;
    let region = input
        .create_bucket_configuration
        .and_then(|c| c.location_constraint)
        .map_or_else(|| gw.region.clone(), |l| l.as_str().to_owned());
    // Object lock comes with versioning, enabled for good, both written
    // with the bucket.
    let enabled = [Versioning::Enabled.to_byte()];
    let lock = bucket_config::ObjectLock::default().to_bytes();
    let configs: &[(&str, &[u8])] = match input.object_lock_enabled_for_bucket {
        Some(true) => &[
            (bucket_config::VERSIONING, &enabled),
            (bucket_config::OBJECT_LOCK, &lock),
        ],
        _ => &[],
    };
    match gw
        .meta
        .create_configured_bucket(&bucket, &region, &owner, acl, configs)
        .await
    {
        // AWS's legacy answer in us-east-1: success, the bucket unchanged.
        Err(crate::meta::MetaError::BucketAlreadyOwnedByYou) if region == "us-east-1" => {}
        Err(e) => return Err(e.into()),
        Ok(()) => {}
    }
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{bucket}")),
    }))
}

pub(super) async fn head_bucket(
    gw: &Gateway,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    match gw.meta.bucket(&req.input.bucket).await? {
        Some(info) => Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(info.region),
            ..Default::default()
        })),
        None => Err(s3_error!(NoSuchBucket)),
    }
}

pub(super) async fn get_bucket_location(
    gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    match gw.meta.bucket(&req.input.bucket).await? {
        // AWS answers an empty constraint for us-east-1.
        Some(info) => Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: (info.region != "us-east-1")
                .then(|| BucketLocationConstraint::from(info.region)),
        })),
        None => Err(s3_error!(NoSuchBucket)),
    }
}

pub(super) async fn get_bucket_acl(
    gw: &Gateway,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let Some(info) = gw.meta.bucket(&req.input.bucket).await? else {
        return Err(s3_error!(NoSuchBucket));
    };
    let (owner, grants) = acl::policy(&info.owner, info.acl);
    Ok(S3Response::new(GetBucketAclOutput {
        owner: Some(owner),
        grants: Some(grants),
    }))
}

pub(super) async fn put_bucket_acl(
    gw: &Gateway,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let input = req.input;
    let Some(info) = gw.meta.bucket(&input.bucket).await? else {
        return Err(s3_error!(NoSuchBucket));
    };
    let acl = acl::requested(
        AclRequest {
            canned: input.acl.as_ref().map(|a| a.as_str()),
            grant_headers: any_grant([
                &input.grant_full_control,
                &input.grant_read,
                &input.grant_read_acp,
                &input.grant_write,
                &input.grant_write_acp,
            ]),
            policy: input.access_control_policy.as_ref(),
        },
        &info.owner,
    )?
    .ok_or_else(|| S3Error::from(AclError::Missing))?;
    // A public ACL in the body (the access check saw the headers).
    let blocked = gw
        .meta
        .bucket_access(&input.bucket)
        .await?
        .is_some_and(|a| a.public_access.block_public_acls);
    if blocked && acl != crate::meta::BucketAcl::Private {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Access Denied: the bucket's public access block refuses public ACLs",
        ));
    }
    gw.meta.set_bucket_acl(&input.bucket, acl).await?;
    Ok(S3Response::new(PutBucketAclOutput {}))
}

pub(super) async fn delete_bucket(
    gw: &Gateway,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    gw.meta.delete_bucket(&req.input.bucket).await?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}
