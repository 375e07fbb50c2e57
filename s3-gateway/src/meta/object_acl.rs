//! Object ACLs: what an object's grants give beyond its bucket's owner,
//! grants and policy (kept in the object's manifest, replaced with it).

use serde::{Deserialize, Serialize};

/// Who a grant is to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grantee {
    /// One access key (its id is its canonical user id).
    Key(String),
    /// Everyone, signed or not (`.../groups/global/AllUsers`).
    AllUsers,
    /// Every signed request (`.../groups/global/AuthenticatedUsers`).
    AuthenticatedUsers,
}

/// What a grant allows on an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Read the object (GetObject, HeadObject).
    Read,
    /// Read its ACL.
    ReadAcp,
    /// Replace its ACL.
    WriteAcp,
    /// All of the above.
    FullControl,
}

impl Permission {
    /// Whether holding `self` allows `wanted`.
    pub fn covers(self, wanted: Permission) -> bool {
        self == Permission::FullControl || self == wanted
    }
}

/// An object's grants (its bucket's owner always has full control and is
/// not listed). Empty: the canned ACL `private`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAcl {
    /// The grants, in the order given.
    pub grants: Vec<(Grantee, Permission)>,
}

impl ObjectAcl {
    /// Whether a request by `principal` (`None`: anonymous) holds
    /// `wanted`; with `ignore_public`, grants to the public groups count
    /// for nothing (the bucket's public access block).
    pub fn allows(&self, principal: Option<&str>, wanted: Permission, ignore_public: bool) -> bool {
        self.grants.iter().any(|(grantee, held)| {
            let named = match grantee {
                Grantee::Key(k) => principal == Some(k.as_str()),
                Grantee::AllUsers => !ignore_public,
                Grantee::AuthenticatedUsers => !ignore_public && principal.is_some(),
            };
            named && held.covers(wanted)
        })
    }

    /// Whether it grants anything to a public group.
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|(g, _)| matches!(g, Grantee::AllUsers | Grantee::AuthenticatedUsers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cover_what_they_name() {
        let acl = ObjectAcl {
            grants: vec![
                (Grantee::AllUsers, Permission::Read),
                (Grantee::Key("B".into()), Permission::FullControl),
                (Grantee::AuthenticatedUsers, Permission::ReadAcp),
            ],
        };
        assert!(acl.allows(None, Permission::Read, false));
        assert!(!acl.allows(None, Permission::Read, true), "public ignored");
        assert!(acl.allows(Some("B"), Permission::WriteAcp, true));
        assert!(!acl.allows(Some("C"), Permission::WriteAcp, false));
        assert!(acl.allows(Some("C"), Permission::ReadAcp, false));
        assert!(!acl.allows(None, Permission::ReadAcp, false));
        assert!(acl.is_public());
        assert!(!ObjectAcl::default().allows(Some("B"), Permission::Read, false));
    }
}
