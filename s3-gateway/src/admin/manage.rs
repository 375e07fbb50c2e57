//! Managing keys and buckets as the operator: create and list keys, list
//! buckets with their owners and grants, allow and deny keys in buckets.
//! The same operations run through a running gateway's admin endpoint
//! (`/keys…`, `/buckets…`, authenticated
//! with the token in `<data>/admin.token`) or on a store opened directly
//! (a stopped gateway's data directory, or a shared PostgreSQL store).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::keywrap::MasterKey;
use crate::meta::{BucketInfo, BucketPerms, MetaError, MetaStore};

/// The file in the gateway's data directory holding the admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Why a management operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// There is no such bucket.
    #[error("no bucket {0:?}")]
    NoSuchBucket(String),
    /// There is no such access key.
    #[error("no access key {0:?}")]
    NoSuchKey(String),
    /// Not a permission list.
    #[error("{0:?}: expected permissions among read, write, owner (comma-separated)")]
    BadPerms(String),
    /// A request without what it needs.
    #[error("{0}")]
    BadRequest(String),
    /// The bucket exists, or is not empty.
    #[error("{0}")]
    Conflict(String),
    /// The metadata store failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// A new access key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewKey {
    /// Its id.
    pub access_key: String,
    /// Its secret (shown once).
    pub secret_key: String,
    /// The name it was given, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An access key and the buckets it may use.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyView {
    /// Its id.
    pub access_key: String,
    /// The name the operator gave it, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// Buckets it created (it may do everything in them).
    pub owns: Vec<String>,
    /// Buckets it was granted something in: name → `read,write,owner`.
    pub granted: BTreeMap<String, String>,
    /// Whether it may create buckets.
    pub create_bucket: bool,
    /// Whether it administers the gateway in the web console (keys and
    /// grants).
    #[serde(default)]
    pub admin: bool,
}

/// The store setting that marks key `id` as a console administrator
/// (one setting per key, so that granting two keys at once on a shared
/// store cannot lose either).
fn admin_setting(id: &str) -> String {
    format!("console_admin/{id}")
}

/// A bucket, its owner and grants.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BucketView {
    /// Its name.
    pub name: String,
    /// The key that created it.
    pub owner: String,
    /// Its region.
    pub region: String,
    /// Its canned ACL (`private`, `public-read`).
    pub acl: String,
    /// Creation time, Unix ms.
    pub created: u64,
    /// Other keys' permissions: key id → `read,write,owner`.
    pub grants: BTreeMap<String, String>,
    /// The compute nodes allowed to run tasks on its objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<crate::meta::bucket_config::ComputeAllow>,
}

/// Parses `read,write,owner` (any of them; `all` for every one).
/// The most characters a key's name may have.
pub const MAX_KEY_NAME: usize = 128;

/// `name` if it can name a key: 1 to [`MAX_KEY_NAME`] characters, none
/// of them control characters.
pub fn check_key_name(name: &str) -> Result<&str, ManageError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_KEY_NAME || name.chars().any(char::is_control) {
        return Err(ManageError::BadRequest(format!(
            "a key name has 1 to {MAX_KEY_NAME} characters and no control characters"
        )));
    }
    Ok(name)
}

pub fn parse_perms(text: &str) -> Result<BucketPerms, ManageError> {
    let mut perms = BucketPerms::default();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "read" => perms.read = true,
            "write" => perms.write = true,
            "owner" => perms.owner = true,
            "all" => perms = BucketPerms::ALL,
            _ => return Err(ManageError::BadPerms(text.to_owned())),
        }
    }
    if perms.is_none() {
        return Err(ManageError::BadPerms(text.to_owned()));
    }
    Ok(perms)
}

/// The operations over one store. Cheap to clone.
#[derive(Clone)]
pub struct Manage {
    /// The metadata store.
    pub meta: MetaStore,
    /// Seals new keys' secrets.
    pub master: Arc<MasterKey>,
}

impl Manage {
    /// Creates an access key, named `name` if given.
    pub async fn create_key(&self, name: Option<&str>) -> Result<NewKey, ManageError> {
        let name = name.map(check_key_name).transpose()?;
        let key = self.meta.create_key(&self.master).await?;
        if let Some(name) = name {
            self.meta
                .set_key_name(&key.access_key_id, Some(name))
                .await?;
        }
        Ok(NewKey {
            access_key: key.access_key_id,
            secret_key: key.secret_key,
            name: name.map(str::to_owned),
        })
    }

    /// Gives key `id` the name `name` (replacing any it had).
    pub async fn rename_key(&self, id: &str, name: &str) -> Result<KeyView, ManageError> {
        let name = check_key_name(name)?;
        if !self.meta.set_key_name(id, Some(name)).await? {
            return Err(ManageError::NoSuchKey(id.to_owned()));
        }
        tracing::info!(access_key_id = id, name, "access key renamed");
        self.key(id).await
    }

    /// Every key, with the buckets it owns and was granted.
    pub async fn keys(&self) -> Result<Vec<KeyView>, ManageError> {
        let buckets = self.meta.list_buckets().await?;
        let mut out = Vec::new();
        for id in self.meta.list_key_ids().await? {
            out.push(self.key_view(&id, &buckets).await?);
        }
        Ok(out)
    }

    async fn key_view(&self, id: &str, buckets: &[BucketInfo]) -> Result<KeyView, ManageError> {
        Ok(KeyView {
            create_bucket: self.meta.key_may_create_buckets(id).await?,
            admin: self.is_admin(id).await?,
            access_key: id.to_owned(),
            name: self.meta.key_name(id).await?,
            owns: buckets
                .iter()
                .filter(|b| b.owner == id)
                .map(|b| b.name.clone())
                .collect(),
            granted: self
                .meta
                .key_grants(id)
                .await?
                .into_iter()
                .map(|(bucket, perms)| (bucket, perms.describe()))
                .collect(),
        })
    }

    /// Key `id`, the buckets it owns and was granted, and its flags.
    pub async fn key(&self, id: &str) -> Result<KeyView, ManageError> {
        if self.meta.key_secret(id).await?.is_none() {
            return Err(ManageError::NoSuchKey(id.to_owned()));
        }
        let buckets = self.meta.list_buckets().await?;
        self.key_view(id, &buckets).await
    }

    /// Deletes key `id` and its grants; the buckets it created stay (keys
    /// granted owner there can still manage them).
    pub async fn delete_key(&self, id: &str) -> Result<(), ManageError> {
        if !self.meta.delete_key(id).await? {
            return Err(ManageError::NoSuchKey(id.to_owned()));
        }
        self.meta.set_setting(&admin_setting(id), b"").await?;
        tracing::info!(access_key_id = id, "access key deleted");
        Ok(())
    }

    /// Lets key `id` create buckets, or not.
    pub async fn set_create_bucket(&self, id: &str, may: bool) -> Result<KeyView, ManageError> {
        if !self.meta.set_key_may_create_buckets(id, may).await? {
            return Err(ManageError::NoSuchKey(id.to_owned()));
        }
        tracing::info!(access_key_id = id, may, "bucket creation right set");
        self.key(id).await
    }

    /// Whether key `id` administers the gateway in the web console.
    pub async fn is_admin(&self, id: &str) -> Result<bool, ManageError> {
        Ok(self
            .meta
            .setting(&admin_setting(id))
            .await?
            .is_some_and(|v| v == b"1"))
    }

    /// Lets key `id` administer the gateway in the web console, or not.
    pub async fn set_admin(&self, id: &str, may: bool) -> Result<KeyView, ManageError> {
        if self.meta.key_secret(id).await?.is_none() {
            return Err(ManageError::NoSuchKey(id.to_owned()));
        }
        let value: &[u8] = if may { b"1" } else { b"" };
        self.meta.set_setting(&admin_setting(id), value).await?;
        tracing::info!(access_key_id = id, may, "console administration right set");
        self.key(id).await
    }

    /// Every bucket with its owner and grants.
    pub async fn buckets(&self) -> Result<Vec<BucketView>, ManageError> {
        let mut out = Vec::new();
        for bucket in self.meta.list_buckets().await? {
            out.push(self.bucket_view(bucket).await?);
        }
        Ok(out)
    }

    /// Bucket `name` with its owner and grants.
    pub async fn bucket(&self, name: &str) -> Result<BucketView, ManageError> {
        let bucket = self
            .meta
            .bucket(name)
            .await?
            .ok_or_else(|| ManageError::NoSuchBucket(name.to_owned()))?;
        self.bucket_view(bucket).await
    }

    async fn bucket_view(&self, bucket: BucketInfo) -> Result<BucketView, ManageError> {
        let grants = self
            .meta
            .bucket_grants(&bucket.name)
            .await?
            .into_iter()
            .map(|(key, perms)| (key, perms.describe()))
            .collect();
        let compute = self
            .meta
            .bucket_config(&bucket.name, crate::meta::bucket_config::COMPUTE)
            .await?
            .and_then(|json| serde_json::from_slice(&json).ok());
        Ok(BucketView {
            grants,
            compute,
            owner: bucket.owner,
            region: bucket.region,
            acl: bucket.acl.canned().to_owned(),
            created: bucket.created,
            name: bucket.name,
        })
    }

    /// Creates private bucket `name` in `region`, owned by key `owner`.
    pub async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        region: &str,
    ) -> Result<BucketView, ManageError> {
        if self.meta.key_secret(owner).await?.is_none() {
            return Err(ManageError::NoSuchKey(owner.to_owned()));
        }
        match self.meta.create_private_bucket(name, region, owner).await {
            Err(MetaError::BucketAlreadyOwnedByYou | MetaError::BucketAlreadyExists) => {
                return Err(ManageError::Conflict(format!("bucket {name:?} exists")));
            }
            Err(MetaError::InvalidBucketName(why)) => {
                return Err(ManageError::BadRequest(format!(
                    "{name:?} is not a valid bucket name: {why}"
                )));
            }
            other => other?,
        }
        self.bucket(name).await
    }

    /// Deletes bucket `name`, which must hold no objects (unfinished
    /// multipart uploads go with it; their shards are collected).
    pub async fn delete_bucket(&self, name: &str) -> Result<(), ManageError> {
        match self.meta.delete_bucket(name).await {
            Err(MetaError::NoSuchBucket) => Err(ManageError::NoSuchBucket(name.to_owned())),
            Err(MetaError::BucketNotEmpty) => Err(ManageError::Conflict(format!(
                "bucket {name:?} is not empty: delete its objects first"
            ))),
            other => Ok(other?),
        }
    }

    /// Allows the compute nodes `nodes` (peer ids) and those in `regions`
    /// to run tasks on `bucket`'s objects, added to those allowed already
    /// (`replace`: instead of them; nothing given and `replace`: none).
    pub async fn allow_compute(
        &self,
        bucket: &str,
        nodes: &[String],
        regions: &[String],
        replace: bool,
    ) -> Result<BucketView, ManageError> {
        use crate::meta::bucket_config::{COMPUTE, ComputeAllow};
        for node in nodes {
            if node.parse::<libp2p::PeerId>().is_err() {
                return Err(ManageError::BadRequest(format!(
                    "{node:?} is not a peer id"
                )));
            }
        }
        if let Some(region) = regions.iter().find(|r| r.is_empty() || r.len() > 64) {
            return Err(ManageError::BadRequest(format!(
                "{region:?} is not a region"
            )));
        }
        let current = self.bucket(bucket).await?.compute.unwrap_or_default();
        let mut allow = if replace {
            ComputeAllow::default()
        } else {
            current
        };
        for node in nodes {
            if !allow.nodes.contains(node) {
                allow.nodes.push(node.clone());
            }
        }
        for region in regions {
            if !allow.regions.contains(region) {
                allow.regions.push(region.clone());
            }
        }
        if allow.nodes.len() + allow.regions.len() > 1000 {
            return Err(ManageError::BadRequest(
                "at most 1000 nodes and regions".into(),
            ));
        }
        let json = serde_json::to_vec(&allow).expect("serializable");
        let value = (!allow.is_empty()).then_some(json.as_slice());
        self.meta.set_bucket_config(bucket, COMPUTE, value).await?;
        self.bucket(bucket).await
    }

    /// Adds `perms` to what `key` may do in `bucket`.
    pub async fn allow(
        &self,
        bucket: &str,
        key: &str,
        perms: BucketPerms,
    ) -> Result<BucketView, ManageError> {
        self.change(bucket, key, |held| held.union(perms)).await
    }

    /// Takes `perms` away from what `key` may do in `bucket` (a bucket's
    /// creator keeps everything).
    pub async fn deny(
        &self,
        bucket: &str,
        key: &str,
        perms: BucketPerms,
    ) -> Result<BucketView, ManageError> {
        self.change(bucket, key, |held| held.minus(perms)).await
    }

    async fn change(
        &self,
        bucket: &str,
        key: &str,
        how: impl FnOnce(BucketPerms) -> BucketPerms,
    ) -> Result<BucketView, ManageError> {
        if self.meta.key_secret(key).await?.is_none() {
            return Err(ManageError::NoSuchKey(key.to_owned()));
        }
        let held = self
            .meta
            .bucket_grants(bucket)
            .await?
            .into_iter()
            .find_map(|(k, perms)| (k == key).then_some(perms))
            .unwrap_or_default();
        match self.meta.set_bucket_grant(bucket, key, how(held)).await {
            Err(MetaError::NoSuchBucket) => Err(ManageError::NoSuchBucket(bucket.to_owned())),
            other => other.map_err(ManageError::from),
        }?;
        self.bucket(bucket).await
    }
}

/// The admin token in `data_dir`, made (random, readable by its owner
/// only) if there is none.
pub fn admin_token(data_dir: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let token: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let tmp = data_dir.join(format!("{ADMIN_TOKEN_FILE}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(token)
}

/// Whether `given` (an `Authorization` header) carries `token`, compared
/// in constant time.
pub fn authorized(given: Option<&str>, token: &str) -> bool {
    let Some(given) = given.and_then(|g| g.strip_prefix("Bearer ")) else {
        return false;
    };
    same_secret(given.trim(), token)
}

/// Whether two secrets are equal, in time that does not depend on where
/// they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_from_their_names() {
        let p = parse_perms("read,write").unwrap();
        assert!(p.read && p.write && !p.owner);
        assert_eq!(parse_perms("all").unwrap(), BucketPerms::ALL);
        assert!(parse_perms("").is_err());
        assert!(parse_perms("read,admin").is_err());
    }

    #[test]
    fn only_the_token_is_authorized() {
        assert!(authorized(Some("Bearer abc"), "abc"));
        assert!(!authorized(Some("Bearer abd"), "abc"));
        assert!(!authorized(Some("abc"), "abc"));
        assert!(!authorized(None, "abc"));
        assert!(!authorized(Some("Bearer ab"), "abc"));
    }

    #[test]
    fn the_token_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let token = admin_token(dir.path()).unwrap();
        assert!(token.len() >= 32);
        assert_eq!(admin_token(dir.path()).unwrap(), token);
        let mode = std::fs::metadata(dir.path().join(ADMIN_TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
