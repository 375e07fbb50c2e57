//! Bucket ACLs in S3's terms: what a CreateBucket or PutBucketAcl request
//! asks for (a canned ACL, grant headers or an AccessControlPolicy
//! document), and the AccessControlPolicy GetBucketAcl answers.
//!
//! Cairn models two ACLs (see [`BucketAcl`]): `private` (the owner has
//! FULL_CONTROL) and `public-read` (plus READ for the AllUsers group).
//! Requests for anything else answer NotImplemented rather than being
//! silently narrowed.

use s3s::S3ErrorCode;
use s3s::dto::{AccessControlPolicy, Grant, Grantee, Owner, Permission, Type};

use crate::meta::BucketAcl;

/// The URI of the group of everyone, signed or not.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// The ACL parts of a CreateBucket or PutBucketAcl request.
#[derive(Clone, Copy, Debug, Default)]
pub struct AclRequest<'a> {
    /// `x-amz-acl`.
    pub canned: Option<&'a str>,
    /// Whether any `x-amz-grant-*` header was sent.
    pub grant_headers: bool,
    /// The AccessControlPolicy body (PutBucketAcl only).
    pub policy: Option<&'a AccessControlPolicy>,
}

/// Why an ACL request cannot be honoured.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// A canned ACL Cairn does not implement.
    #[error("the canned ACL {0:?} is not implemented; use private or public-read")]
    UnsupportedCanned(String),
    /// Grant headers, which Cairn does not implement.
    #[error("x-amz-grant-* headers are not implemented; use x-amz-acl: private or public-read")]
    GrantHeaders,
    /// A policy granting something other than the owner's FULL_CONTROL and
    /// everyone's READ.
    #[error(
        "only the owner's FULL_CONTROL and READ for AllUsers can be granted (the canned ACLs \
         private and public-read)"
    )]
    UnsupportedGrant,
    /// A canned ACL together with grant headers or a policy.
    #[error("Specifying both Canned ACLs and Header Grants is not allowed")]
    Conflicting,
    /// A PutBucketAcl with no ACL at all.
    #[error("You must specify an ACL, either with the x-amz-acl header or in the body")]
    Missing,
}

impl AclError {
    /// The S3 error code to answer with.
    pub fn code(&self) -> S3ErrorCode {
        match self {
            Self::UnsupportedCanned(_) | Self::GrantHeaders | Self::UnsupportedGrant => {
                S3ErrorCode::NotImplemented
            }
            Self::Conflicting => S3ErrorCode::InvalidRequest,
            Self::Missing => S3ErrorCode::MissingSecurityHeader,
        }
    }
}

/// The ACL `request` asks for on a bucket owned by `owner`; `None` if it
/// names none (CreateBucket then makes the bucket private; PutBucketAcl
/// refuses with [`AclError::Missing`]).
pub fn requested(request: AclRequest<'_>, owner: &str) -> Result<Option<BucketAcl>, AclError> {
    if request.canned.is_some() && (request.grant_headers || request.policy.is_some()) {
        return Err(AclError::Conflicting);
    }
    if request.grant_headers {
        return Err(AclError::GrantHeaders);
    }
    if let Some(canned) = request.canned {
        return BucketAcl::from_canned(canned)
            .map(Some)
            .ok_or_else(|| AclError::UnsupportedCanned(canned.to_owned()));
    }
    match request.policy {
        Some(policy) => from_policy(policy, owner).map(Some),
        None => Ok(None),
    }
}

/// The ACL an AccessControlPolicy document describes.
fn from_policy(policy: &AccessControlPolicy, owner: &str) -> Result<BucketAcl, AclError> {
    let mut acl = BucketAcl::Private;
    for grant in policy.grants.iter().flatten() {
        let (Some(grantee), Some(permission)) = (&grant.grantee, &grant.permission) else {
            return Err(AclError::UnsupportedGrant);
        };
        let is_owner =
            grantee.type_.as_str() == Type::CANONICAL_USER && grantee.id.as_deref() == Some(owner);
        let is_everyone =
            grantee.type_.as_str() == Type::GROUP && grantee.uri.as_deref() == Some(ALL_USERS);
        match permission.as_str() {
            Permission::FULL_CONTROL if is_owner => {}
            Permission::READ if is_everyone => acl = BucketAcl::PublicRead,
            _ => return Err(AclError::UnsupportedGrant),
        }
    }
    Ok(acl)
}

/// The owner and grants GetBucketAcl answers for a bucket of `owner` with
/// `acl`, as AWS lists them for the canned ACLs.
/// The S3 owner element of key `owner` (its id is also its display name).
pub fn owner(owner: &str) -> Owner {
    Owner {
        id: Some(owner.to_owned()),
        display_name: Some(owner.to_owned()),
    }
}

pub fn policy(owner: &str, acl: BucketAcl) -> (Owner, Vec<Grant>) {
    let mut grants = vec![Grant {
        grantee: Some(Grantee {
            type_: Type::from_static(Type::CANONICAL_USER),
            id: Some(owner.to_owned()),
            display_name: Some(owner.to_owned()),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }];
    if acl == BucketAcl::PublicRead {
        grants.push(Grant {
            grantee: Some(Grantee {
                type_: Type::from_static(Type::GROUP),
                uri: Some(ALL_USERS.to_owned()),
                display_name: None,
                email_address: None,
                id: None,
            }),
            permission: Some(Permission::from_static(Permission::READ)),
        });
    }
    (self::owner(owner), grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(owner: &str, acl: BucketAcl) -> AccessControlPolicy {
        let (owner, grants) = policy(owner, acl);
        AccessControlPolicy {
            owner: Some(owner),
            grants: Some(grants),
        }
    }

    fn canned(name: &str) -> AclRequest<'_> {
        AclRequest {
            canned: Some(name),
            ..Default::default()
        }
    }

    #[test]
    fn canned_acls() {
        assert_eq!(
            requested(canned("private"), "o"),
            Ok(Some(BucketAcl::Private))
        );
        assert_eq!(
            requested(canned("public-read"), "o"),
            Ok(Some(BucketAcl::PublicRead))
        );
        assert_eq!(
            requested(canned("public-read-write"), "o"),
            Err(AclError::UnsupportedCanned("public-read-write".into()))
        );
        assert_eq!(requested(AclRequest::default(), "o"), Ok(None));
    }

    #[test]
    fn the_answered_policy_reads_back_as_the_same_acl() {
        for acl in [BucketAcl::Private, BucketAcl::PublicRead] {
            let d = doc("CAOWNER", acl);
            let request = AclRequest {
                policy: Some(&d),
                ..Default::default()
            };
            assert_eq!(requested(request, "CAOWNER"), Ok(Some(acl)));
        }
        let (_, grants) = policy("o", BucketAcl::PublicRead);
        assert_eq!(grants.len(), 2);
        assert_eq!(
            grants[1].grantee.as_ref().unwrap().uri.as_deref(),
            Some(ALL_USERS)
        );
    }

    #[test]
    fn other_grants_and_mixtures_are_refused() {
        // Full control for someone else than the owner.
        let d = doc("SOMEONE", BucketAcl::Private);
        let request = AclRequest {
            policy: Some(&d),
            ..Default::default()
        };
        assert_eq!(
            requested(request, "CAOWNER"),
            Err(AclError::UnsupportedGrant)
        );
        // WRITE for everyone.
        let mut d = doc("o", BucketAcl::PublicRead);
        d.grants.as_mut().unwrap()[1].permission = Some(Permission::from_static(Permission::WRITE));
        let request = AclRequest {
            policy: Some(&d),
            ..Default::default()
        };
        assert_eq!(requested(request, "o"), Err(AclError::UnsupportedGrant));
        let both = AclRequest {
            canned: Some("private"),
            grant_headers: true,
            policy: None,
        };
        assert_eq!(requested(both, "o"), Err(AclError::Conflicting));
        let grants = AclRequest {
            grant_headers: true,
            ..Default::default()
        };
        assert_eq!(requested(grants, "o"), Err(AclError::GrantHeaders));
        assert_eq!(AclError::GrantHeaders.code(), S3ErrorCode::NotImplemented);
    }
}
