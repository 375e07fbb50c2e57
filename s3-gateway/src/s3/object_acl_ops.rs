//! GetObjectAcl and PutObjectAcl.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::Gateway;
use super::object_acl::{GrantHeaders, answer};
use super::versioning::version_header;
use crate::meta::ObjectMeta;

pub(super) async fn get_object_acl(
    gw: &Gateway,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let principal = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let input = &req.input;
    let found = gw
        .object_for(
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            principal,
            &req.extensions,
        )
        .await?;
    let (owner, grants) = answer(&gw.bucket_owner(&input.bucket).await?, &found.meta.acl);
    let mut response = S3Response::new(GetObjectAclOutput {
        owner: Some(owner),
        grants: Some(grants),
        ..Default::default()
    });
    version_header(&mut response.headers, found.version_id.as_deref());
    Ok(response)
}

pub(super) async fn put_object_acl(
    gw: &Gateway,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let principal = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let input = &req.input;
    let version_id = input.version_id.as_deref();
    let mut found = gw
        .object_for(
            &input.bucket,
            &input.key,
            version_id,
            principal,
            &req.extensions,
        )
        .await?;
    let acl = gw
        .asked_acl(
            &input.bucket,
            input.acl.as_ref().map(|a| a.as_str()),
            GrantHeaders {
                full_control: input.grant_full_control.as_deref(),
                read: input.grant_read.as_deref(),
                read_acp: input.grant_read_acp.as_deref(),
                write_acp: input.grant_write_acp.as_deref(),
                write: input.grant_write.as_deref(),
            },
            input.access_control_policy.as_ref(),
        )
        .await?
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::MissingSecurityHeader,
                "You must specify an ACL, either with the x-amz-acl header or in the body",
            )
        })?;
    let blocked = gw
        .meta
        .bucket_access(&input.bucket)
        .await?
        .is_some_and(|i| i.public_access.block_public_acls);
    if blocked && acl.is_public() {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Access Denied: the bucket's public access block refuses public ACLs",
        ));
    }
    // Only the ACL of the version read changes; if it was replaced or
    // changed meanwhile, it is read again and checked again.
    for _ in 0..3 {
        let new = ObjectMeta {
            acl: acl.clone(),
            ..found.meta.clone()
        };
        if gw
            .meta
            .replace_version(&input.bucket, &found.at, &found.meta, &new)
            .await?
        {
            let mut response = S3Response::new(PutObjectAclOutput::default());
            version_header(&mut response.headers, found.version_id.as_deref());
            return Ok(response);
        }
        found = gw
            .object_for(
                &input.bucket,
                &input.key,
                version_id,
                principal,
                &req.extensions,
            )
            .await?;
    }
    Err(S3Error::with_message(
        S3ErrorCode::OperationAborted,
        "The object kept changing; try again",
    ))
}
