//! Object ACLs in S3's terms: what a PutObject, CopyObject,
//! CreateMultipartUpload or PutObjectAcl asks for (a canned ACL,
//! `x-amz-grant-*` headers or an AccessControlPolicy body), and the
//! AccessControlPolicy GetObjectAcl answers. An object's owner is its
//! bucket's owner (as on AWS with object ownership "bucket owner
//! enforced"), who always has FULL_CONTROL; grants name keys by id (their
//! canonical user id) or the AllUsers and AuthenticatedUsers groups.

use s3s::dto::{self, AccessControlPolicy, Grant, Owner, Type};
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::acl::{ALL_USERS, owner};
use crate::meta::object_acl::{Grantee, ObjectAcl, Permission};

/// The URI of the group of every signed request.
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The grant headers of a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrantHeaders<'a> {
    /// `x-amz-grant-full-control`.
    pub full_control: Option<&'a str>,
    /// `x-amz-grant-read`.
    pub read: Option<&'a str>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Option<&'a str>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Option<&'a str>,
    /// `x-amz-grant-write` (meaningless on an object: refused).
    pub write: Option<&'a str>,
}

impl GrantHeaders<'_> {
    fn any(&self) -> bool {
        self.full_control.is_some()
            || self.read.is_some()
            || self.read_acp.is_some()
            || self.write_acp.is_some()
            || self.write.is_some()
    }
}

fn invalid(message: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message.into())
}

/// The ACL a request asks for; `None` if it names none (a new object is
/// then private; PutObjectAcl refuses).
pub fn requested(
    canned: Option<&str>,
    headers: GrantHeaders<'_>,
    policy: Option<&AccessControlPolicy>,
) -> S3Result<Option<ObjectAcl>> {
    let given =
        usize::from(canned.is_some()) + usize::from(headers.any()) + usize::from(policy.is_some());
    if given > 1 {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed",
        ));
    }
    if let Some(canned) = canned {
        return from_canned(canned).map(Some);
    }
    if headers.any() {
        return from_headers(headers).map(Some);
    }
    policy.map(from_policy).transpose()
}

fn from_canned(canned: &str) -> S3Result<ObjectAcl> {
    let grants = match canned {
        // The bucket's owner owns the object: these add nothing.
        "private" | "bucket-owner-read" | "bucket-owner-full-control" | "aws-exec-read" => {
            vec![]
        }
        // WRITE means nothing on an object.
        "public-read" | "public-read-write" => vec![(Grantee::AllUsers, Permission::Read)],
        "authenticated-read" => vec![(Grantee::AuthenticatedUsers, Permission::Read)],
        other => return Err(invalid(format!("Invalid canned ACL: {other}"))),
    };
    Ok(ObjectAcl { grants })
}

fn from_headers(h: GrantHeaders<'_>) -> S3Result<ObjectAcl> {
    if h.write.is_some() {
        return Err(invalid("x-amz-grant-write is not valid for an object"));
    }
    let mut grants = Vec::new();
    for (value, permission) in [
        (h.full_control, Permission::FullControl),
        (h.read, Permission::Read),
        (h.read_acp, Permission::ReadAcp),
        (h.write_acp, Permission::WriteAcp),
    ] {
        for grantee in value.map(grantees).transpose()?.unwrap_or_default() {
            grants.push((grantee, permission));
        }
    }
    Ok(ObjectAcl { grants })
}

/// The grantees of a grant header: `id="..."`, `uri="..."` (the public
/// groups), comma-separated. E-mail grantees cannot be resolved here.
fn grantees(value: &str) -> S3Result<Vec<Grantee>> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (kind, quoted) = item
            .split_once('=')
            .ok_or_else(|| invalid(format!("Invalid grantee: {item}")))?;
        let id = quoted.trim().trim_matches('"');
        out.push(match kind.trim().to_ascii_lowercase().as_str() {
            "id" if !id.is_empty() => Grantee::Key(id.to_owned()),
            "uri" => group(id)?,
            "emailaddress" => return Err(unresolvable()),
            _ => return Err(invalid(format!("Invalid grantee: {item}"))),
        });
    }
    Ok(out)
}

fn group(uri: &str) -> S3Result<Grantee> {
    match uri {
        ALL_USERS => Ok(Grantee::AllUsers),
        AUTHENTICATED_USERS => Ok(Grantee::AuthenticatedUsers),
        other => Err(invalid(format!("Invalid group uri: {other}"))),
    }
}

fn unresolvable() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::UnresolvableGrantByEmailAddress,
        "The e-mail address you provided does not match any account on record.",
    )
}

fn from_policy(policy: &AccessControlPolicy) -> S3Result<ObjectAcl> {
    let mut grants = Vec::new();
    for grant in policy.grants.iter().flatten() {
        let (Some(grantee), Some(permission)) = (&grant.grantee, &grant.permission) else {
            return Err(S3Error::new(S3ErrorCode::MalformedACLError));
        };
        let permission = match permission.as_str() {
            dto::Permission::FULL_CONTROL => Permission::FullControl,
            dto::Permission::READ => Permission::Read,
            dto::Permission::READ_ACP => Permission::ReadAcp,
            dto::Permission::WRITE_ACP => Permission::WriteAcp,
            _ => return Err(S3Error::new(S3ErrorCode::MalformedACLError)),
        };
        let grantee = match grantee.type_.as_str() {
            Type::CANONICAL_USER => match grantee.id.as_deref() {
                Some(id) if !id.is_empty() => Grantee::Key(id.to_owned()),
                _ => return Err(S3Error::new(S3ErrorCode::MalformedACLError)),
            },
            Type::GROUP => group(grantee.uri.as_deref().unwrap_or_default())?,
            Type::AMAZON_CUSTOMER_BY_EMAIL => return Err(unresolvable()),
            _ => return Err(S3Error::new(S3ErrorCode::MalformedACLError)),
        };
        grants.push((grantee, permission));
    }
    Ok(ObjectAcl { grants })
}

/// The keys an ACL names, which must exist.
pub fn named_keys(acl: &ObjectAcl) -> impl Iterator<Item = &str> {
    acl.grants.iter().filter_map(|(g, _)| match g {
        Grantee::Key(k) => Some(k.as_str()),
        _ => None,
    })
}

/// The owner and grants GetObjectAcl answers for an object of a bucket
/// owned by `bucket_owner`: the owner's FULL_CONTROL, then the object's.
pub fn answer(bucket_owner: &str, acl: &ObjectAcl) -> (Owner, Vec<Grant>) {
    let mut grants = vec![grant(
        &Grantee::Key(bucket_owner.to_owned()),
        Permission::FullControl,
    )];
    grants.extend(acl.grants.iter().map(|(g, p)| grant(g, *p)));
    (owner(bucket_owner), grants)
}

fn grant(grantee: &Grantee, permission: Permission) -> Grant {
    let (type_, id, uri) = match grantee {
        Grantee::Key(k) => (Type::CANONICAL_USER, Some(k.clone()), None),
        Grantee::AllUsers => (Type::GROUP, None, Some(ALL_USERS.to_owned())),
        Grantee::AuthenticatedUsers => (Type::GROUP, None, Some(AUTHENTICATED_USERS.to_owned())),
    };
    Grant {
        grantee: Some(dto::Grantee {
            type_: Type::from_static(type_),
            display_name: id.clone(),
            id,
            uri,
            email_address: None,
        }),
        permission: Some(dto::Permission::from_static(match permission {
            Permission::Read => dto::Permission::READ,
            Permission::ReadAcp => dto::Permission::READ_ACP,
            Permission::WriteAcp => dto::Permission::WRITE_ACP,
            Permission::FullControl => dto::Permission::FULL_CONTROL,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_map_to_grants() {
        let canned = |c| {
            requested(Some(c), GrantHeaders::default(), None)
                .unwrap()
                .unwrap()
        };
        assert!(canned("private").grants.is_empty());
        assert!(canned("bucket-owner-full-control").grants.is_empty());
        assert_eq!(
            canned("public-read").grants,
            [(Grantee::AllUsers, Permission::Read)]
        );
        assert_eq!(
            canned("authenticated-read").grants,
            [(Grantee::AuthenticatedUsers, Permission::Read)]
        );
        let bad = requested(Some("everyone"), GrantHeaders::default(), None);
        assert_eq!(bad.unwrap_err().code(), &S3ErrorCode::InvalidArgument);
        assert_eq!(
            requested(None, GrantHeaders::default(), None).unwrap(),
            None
        );
    }

    #[test]
    fn grant_headers_name_keys_and_groups() {
        let headers = GrantHeaders {
            read: Some(r#"id="CAB", uri="http://acs.amazonaws.com/groups/global/AllUsers""#),
            write_acp: Some("id=CAC"),
            ..Default::default()
        };
        let acl = requested(None, headers, None).unwrap().unwrap();
        assert_eq!(
            acl.grants,
            [
                (Grantee::Key("CAB".into()), Permission::Read),
                (Grantee::AllUsers, Permission::Read),
                (Grantee::Key("CAC".into()), Permission::WriteAcp),
            ]
        );
        assert_eq!(named_keys(&acl).collect::<Vec<_>>(), ["CAB", "CAC"]);
        let email = GrantHeaders {
            read: Some(r#"emailAddress="a@b.c""#),
            ..Default::default()
        };
        let err = requested(None, email, None).unwrap_err();
        assert_eq!(err.code(), &S3ErrorCode::UnresolvableGrantByEmailAddress);
        let both = requested(Some("private"), headers, None).unwrap_err();
        assert_eq!(both.code(), &S3ErrorCode::InvalidRequest);
    }

    #[test]
    fn the_answer_reads_back_as_the_same_acl() {
        let acl = ObjectAcl {
            grants: vec![
                (Grantee::AuthenticatedUsers, Permission::Read),
                (Grantee::Key("CAB".into()), Permission::ReadAcp),
            ],
        };
        let (owner, grants) = answer("CAOWNER", &acl);
        assert_eq!(owner.id.as_deref(), Some("CAOWNER"));
        let doc = AccessControlPolicy {
            owner: Some(owner),
            grants: Some(grants),
        };
        let back = requested(None, GrantHeaders::default(), Some(&doc))
            .unwrap()
            .unwrap();
        // The owner's FULL_CONTROL comes back as a grant to the owner key.
        assert_eq!(
            back.grants[0],
            (Grantee::Key("CAOWNER".into()), Permission::FullControl)
        );
        assert_eq!(&back.grants[1..], &acl.grants[..]);
    }
}

/// The grant headers of a write's input (PutObject, CopyObject,
/// CreateMultipartUpload: no `x-amz-grant-write`).
macro_rules! write_grants {
    ($input:expr) => {
        $crate::s3::object_acl::GrantHeaders {
            full_control: $input.grant_full_control.as_deref(),
            read: $input.grant_read.as_deref(),
            read_acp: $input.grant_read_acp.as_deref(),
            write_acp: $input.grant_write_acp.as_deref(),
            write: None,
        }
    };
}
pub(super) use write_grants;

/// Put in a request's extensions by the access check when the bucket's
/// owner, grants, ACL and policy do not let the request through but the
/// object's own ACL might: the handler then decides from the object, and
/// a missing object is AccessDenied (the caller may not know what the
/// bucket holds).
#[derive(Clone, Copy, Debug)]
pub struct ObjectAclDecides {
    /// What the object's ACL must grant.
    pub wanted: Permission,
}

impl super::Gateway {
    /// The ACL a write asks for, checked (named keys must exist; a grant
    /// to the bucket's owner, who has full control anyway, is dropped);
    /// `None` if it asks for none.
    pub(super) async fn asked_acl(
        &self,
        bucket: &str,
        canned: Option<&str>,
        headers: GrantHeaders<'_>,
        policy: Option<&AccessControlPolicy>,
    ) -> S3Result<Option<ObjectAcl>> {
        let Some(mut acl) = requested(canned, headers, policy)? else {
            return Ok(None);
        };
        let owner = self.bucket_owner(bucket).await?;
        acl.grants
            .retain(|(g, _)| *g != Grantee::Key(owner.clone()));
        for key in named_keys(&acl) {
            if self.meta.key_secret(key).await?.is_none() {
                return Err(invalid(format!("Invalid id: {key}")));
            }
        }
        Ok(Some(acl))
    }

    /// The ACL of a new object in `bucket` that a write asks for with
    /// `canned` or `grants` (private if neither); a public one is refused
    /// when the bucket's public access block says so.
    pub(super) async fn write_acl(
        &self,
        bucket: &str,
        canned: Option<&dto::ObjectCannedACL>,
        grants: GrantHeaders<'_>,
    ) -> S3Result<ObjectAcl> {
        let canned = canned.map(|a| a.as_str());
        let acl = self
            .asked_acl(bucket, canned, grants, None)
            .await?
            .unwrap_or_default();
        // The access check refused public ACLs in headers; a form upload
        // names its ACL in a form field.
        let blocked = self
            .meta
            .bucket_access(bucket)
            .await?
            .is_some_and(|i| i.public_access.block_public_acls);
        if blocked && acl.is_public() {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Access Denied: the bucket's public access block refuses public ACLs",
            ));
        }
        Ok(acl)
    }

    /// Version `version_id` (the current one if `None`) of object `key` of
    /// `bucket` for a request with `extensions` by `principal`: when the access check left the decision to the
    /// object's ACL, that ACL must grant what was wanted.
    pub(super) async fn object_for(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        principal: Option<&str>,
        extensions: &http::Extensions,
    ) -> S3Result<super::versioning::Found> {
        let Some(decides) = extensions.get::<ObjectAclDecides>() else {
            return self.find_version(bucket, key, version_id).await;
        };
        let denied = || S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied");
        let found = self
            .find_version(bucket, key, version_id)
            .await
            .map_err(|_| denied())?;
        let ignore_public = self
            .meta
            .bucket_access(bucket)
            .await?
            .is_some_and(|i| i.public_access.ignore_public_acls);
        if found
            .meta
            .acl
            .allows(principal, decides.wanted, ignore_public)
        {
            Ok(found)
        } else {
            Err(denied())
        }
    }
}
