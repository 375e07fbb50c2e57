//! The gateway's metadata: access keys, buckets and their ACLs, object
//! manifests, multipart uploads and their parts, the health state (node
//! audit histories, bad shards, the repair and rebalance queues),
//! gateway-wide settings, and leases.
//!
//! Everything goes through one interface, [`MetaBackend`], with one
//! adapter per engine:
//! * [`redb`]: one embedded redb file (the default; a single gateway);
//! * [`postgres`]: a PostgreSQL (or CockroachDB) database, shared by any
//!   number of gateways.
//!
//! [`MetaStore`] is the handle the gateway passes around (cheap to clone:
//! an `Arc` of the backend). It adds what is the same on every engine:
//! access-key secrets are sealed under the master key before they reach
//! the backend, the master key's check value is a setting, and bucket ACLs
//! are read with the bucket.
//!
//! Conditional writes are data ([`WriteCondition`]), evaluated by the
//! backend inside the transaction that writes, so SQL engines can do it
//! in a serializable transaction. One conformance suite
//! (`s3-gateway/tests/meta.rs`) runs against every backend.

mod access_cache;
pub mod bucket_config;
mod error;
mod listing;
mod names;
pub mod object_acl;

pub mod postgres;
pub mod redb;
mod types;
pub mod versions;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub use access_cache::BucketAccessInfo;
pub use bucket_config::PublicAccessBlock;
pub use error::MetaError;
pub use names::validate_bucket_name;
pub use types::{
    AccessKey, BucketAcl, BucketInfo, BucketPerms, ConditionFailed, ListPage, ListQuery,
    NodeHealthRecord, ObjectMeta, PartLayout, RepairEntry, SegmentKey, SegmentLayout, ShardCopy,
    ShardLocation, UploadState, WriteCondition,
};
pub use types::{
    BatchRefused, Completion, ObjectWrite, Retention, RowCondition, owning_bucket,
    versions_namespace,
};

use crate::data::keywrap::MasterKey;

/// What a put comes back with: the manifest it replaced (its shards are the
/// caller's to delete), or why its condition refused it.
pub type PutOutcome = Result<Option<ObjectMeta>, ConditionFailed>;

/// What looking an object up in a bucket finds.
#[derive(Debug)]
pub enum Lookup {
    /// There is no such bucket.
    NoSuchBucket,
    /// The bucket exists; the key holds no object.
    NoSuchKey,
    /// The object's manifest.
    Found(Box<ObjectMeta>),
}

/// A shard moved by repair or rebalancing: its index in the segment, where
/// it was, where it is now.
pub type ShardMove = (usize, ShardLocation, ShardLocation);

/// One engine's implementation of the metadata store. Every method is one
/// transaction; errors are [`MetaError`]s whose variants mean the same on
/// every engine (the conformance suite checks that).
#[async_trait::async_trait]
pub trait MetaBackend: Send + Sync + 'static {
    // ---- access keys (secrets arrive sealed) ----

    /// Stores `sealed` as the secret of key `id`. With `create_only`, an
    /// existing id is left alone and `false` returned.
    async fn put_key(&self, id: &str, sealed: &[u8], create_only: bool) -> Result<bool, MetaError>;
    /// The sealed secret of key `id`.
    async fn key_secret(&self, id: &str) -> Result<Option<Vec<u8>>, MetaError>;
    /// Every key id, sorted.
    async fn key_ids(&self) -> Result<Vec<String>, MetaError>;
    /// Deletes key `id` with its flags and grants (the buckets it created
    /// stay); `false` if there was no such key.
    async fn delete_key(&self, id: &str) -> Result<bool, MetaError>;
    /// Whether key `id` may create buckets (every new key may; a missing
    /// key may not).
    async fn key_may_create_buckets(&self, id: &str) -> Result<bool, MetaError>;
    /// Lets key `id` create buckets or not; `false` if there is no such
    /// key.
    async fn set_key_may_create_buckets(&self, id: &str, may: bool) -> Result<bool, MetaError>;
    /// The name the operator gave key `id`, if any.
    async fn key_name(&self, id: &str) -> Result<Option<String>, MetaError>;
    /// Names key `id` (`None`: removes its name); `false` if there is no
    /// such key. Deleting the key removes its name.
    async fn set_key_name(&self, id: &str, name: Option<&str>) -> Result<bool, MetaError>;

    // ---- buckets ----

    /// Creates bucket `name` (valid name, checked by the caller) with
    /// configurations `configs` (kind, value) in the same transaction;
    /// `BucketAlreadyOwnedByYou` / `BucketAlreadyExists` if it exists.
    async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner: &str,
        acl: BucketAcl,
        configs: &[(&str, &[u8])],
    ) -> Result<(), MetaError>;
    /// Bucket `name`, with its ACL.
    async fn bucket(&self, name: &str) -> Result<Option<BucketInfo>, MetaError>;
    /// Every bucket, sorted by name.
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, MetaError>;
    /// Deletes a bucket that holds no objects, with its grants and any
    /// multipart uploads still in progress (`BucketNotEmpty` otherwise).
    async fn delete_bucket(&self, name: &str) -> Result<(), MetaError>;
    /// Replaces the ACL of bucket `name`.
    async fn set_bucket_acl(&self, name: &str, acl: BucketAcl) -> Result<(), MetaError>;
    /// Sets what key `key` may do in bucket `bucket` (no permission removes
    /// the grant); `NoSuchBucket` if it does not exist. Deleting the
    /// bucket removes its grants.
    async fn set_bucket_grant(
        &self,
        bucket: &str,
        key: &str,
        perms: BucketPerms,
    ) -> Result<(), MetaError>;
    /// The grants on bucket `bucket`, by key id, sorted.
    async fn bucket_grants(&self, bucket: &str) -> Result<Vec<(String, BucketPerms)>, MetaError>;
    /// The buckets key `key` has been granted something in, sorted.
    async fn key_grants(&self, key: &str) -> Result<Vec<(String, BucketPerms)>, MetaError>;
    /// The configuration documents of bucket `bucket` (its policy, CORS
    /// rules, public access block, ...: opaque bytes by kind), sorted by
    /// kind.
    async fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, Vec<u8>)>, MetaError>;
    /// Sets (`None`: removes) configurations of bucket `bucket` (kind,
    /// value) together, if every configuration of `expect` still holds its
    /// value (`None`: is absent); else nothing, and `false`. `NoSuchBucket`
    /// if it does not exist. Deleting the bucket removes its
    /// configurations.
    async fn set_bucket_configs(
        &self,
        bucket: &str,
        set: &[(&str, Option<&[u8]>)],
        expect: &[(&str, Option<&[u8]>)],
    ) -> Result<bool, MetaError>;

    // ---- objects ----

    /// Puts `meta` as object `key` of `bucket` if `condition` holds over
    /// the current object, atomically replacing it.
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
    ) -> Result<PutOutcome, MetaError>;
    /// Puts `meta` as object `key` of `bucket` if `condition` holds over
    /// the current object, keeping the one it replaces as a noncurrent
    /// version (a row of the bucket's versions namespace), in one
    /// transaction: a write with versioning enabled. `meta`'s stamp and
    /// id are raised above the replaced version's (or, with none, the
    /// newest noncurrent one's) if needed (`versions::supersede`); returns
    /// the manifest as written.
    async fn put_object_keeping(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
    ) -> Result<Result<ObjectMeta, ConditionFailed>, MetaError>;
    /// Writes `writes` in one transaction if every row's condition holds
    /// (else nothing, and `Row(i)` names the first that did not); every
    /// table bucket must be `bucket` or its versions namespace, and
    /// `bucket` must exist (`NoSuchBucket`). With `completes`, the upload
    /// is forgotten in the same transaction, and nothing is written
    /// (`Upload`) unless it is still there with the same parts.
    async fn write_objects(
        &self,
        bucket: &str,
        writes: Vec<ObjectWrite>,
        completes: Option<&Completion>,
    ) -> Result<Result<(), BatchRefused>, MetaError>;
    /// Object `key` of `bucket` (`None` also when the bucket is missing).
    async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, MetaError>;
    /// Object `key` of `bucket`, telling a missing bucket from a missing
    /// key (engines that can answer both in one read override this).
    async fn object_in_bucket(&self, bucket: &str, key: &str) -> Result<Lookup, MetaError> {
        if self.bucket(bucket).await?.is_none() {
            return Ok(Lookup::NoSuchBucket);
        }
        Ok(match self.object(bucket, key).await? {
            Some(meta) => Lookup::Found(Box::new(meta)),
            None => Lookup::NoSuchKey,
        })
    }
    /// Deletes object `key` of `bucket`; returns what was deleted.
    async fn delete_object(&self, bucket: &str, key: &str)
    -> Result<Option<ObjectMeta>, MetaError>;
    /// One page of the objects of `bucket` (a bucket or its versions
    /// namespace), as `q` asks.
    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, MetaError>;
    /// Up to `limit` objects of every bucket, in (bucket, key) order, after
    /// `after` (for passes over all manifests).
    async fn objects_after(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, String, ObjectMeta)>, MetaError>;
    /// Moves shards of one segment, if the object is still `version` (ETag,
    /// modification time) and each moved shard is still where it was.
    async fn move_shards(
        &self,
        segment: &SegmentKey,
        version: (&str, u64),
        moves: &[ShardMove],
    ) -> Result<bool, MetaError>;
    /// Every (node, shard) a manifest or an uploaded part names, from one
    /// snapshot; any unreadable record is an error.
    async fn shard_references(&self) -> Result<HashSet<ShardCopy>, MetaError>;

    // ---- multipart uploads ----

    /// Starts an upload of `key` into `bucket`; returns its id.
    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        template: &ObjectMeta,
    ) -> Result<String, MetaError>;
    /// Records a part (and its checksum), returning the part it replaced.
    async fn put_part(
        &self,
        upload_id: &str,
        part: &PartLayout,
        checksum: Option<&str>,
    ) -> Result<Option<PartLayout>, MetaError>;
    /// An upload in progress.
    async fn upload(&self, upload_id: &str) -> Result<Option<UploadState>, MetaError>;
    /// The recorded part checksums of an upload, by part number.
    async fn part_checksums(&self, upload_id: &str) -> Result<Vec<(u32, String)>, MetaError>;
    /// Uploads in progress in `bucket` under `prefix`: (key, id, initiated
    /// ms), by key then creation order.
    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String, u64)>, MetaError>;
    /// Forgets an upload; returns the parts it had.
    async fn remove_upload(&self, upload_id: &str) -> Result<Option<Vec<PartLayout>>, MetaError>;

    // ---- health ----

    /// Every node's persisted health.
    async fn node_health(&self) -> Result<Vec<(Vec<u8>, NodeHealthRecord)>, MetaError>;
    /// Writes nodes' health records.
    async fn put_node_health(
        &self,
        records: &[(Vec<u8>, NodeHealthRecord)],
    ) -> Result<(), MetaError>;
    /// Marks a copy bad (at `at`, unix ms).
    async fn mark_bad_shard(&self, node: &[u8], shard: &[u8; 32], at: u64)
    -> Result<(), MetaError>;
    /// Every copy known bad.
    async fn bad_shards(&self) -> Result<Vec<ShardCopy>, MetaError>;
    /// Forgets bad marks.
    async fn clear_bad_shards(&self, pairs: &[ShardCopy]) -> Result<(), MetaError>;
    /// Queues or re-ranks segments for repair and removes healed ones.
    async fn update_repair_queue(
        &self,
        degraded: &[(SegmentKey, u8)],
        healed: &[SegmentKey],
        now: u64,
    ) -> Result<(), MetaError>;
    /// The repair queue, riskiest first.
    async fn repair_queue(&self) -> Result<Vec<(SegmentKey, RepairEntry)>, MetaError>;
    /// Queues segments for rebalancing and removes done ones.
    async fn update_rebalance_queue(
        &self,
        crowded: &[SegmentKey],
        done: &[SegmentKey],
        now: u64,
    ) -> Result<(), MetaError>;
    /// The rebalance queue, longest waiting first.
    async fn rebalance_queue(&self) -> Result<Vec<SegmentKey>, MetaError>;

    // ---- settings and leases ----

    /// A gateway-wide setting.
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, MetaError>;
    /// Sets a gateway-wide setting.
    async fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), MetaError>;
    /// Takes or renews lease `name` for `holder` for `ttl`: true if
    /// `holder` holds it now (it was free, expired, or already its own).
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, MetaError>;
    /// Gives lease `name` up if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), MetaError>;
}

/// The master key's check value setting.
const MASTER_KEY_CHECK: &str = "master_key_check";

/// The metadata store the gateway passes around: a backend, shared. Cheap
/// to clone.
#[derive(Clone)]
pub struct MetaStore {
    backend: Arc<dyn MetaBackend>,
    /// Shared by every clone, so a change made through any of them drops
    /// the bucket's cached access entry.
    access: Arc<access_cache::AccessCache>,
}

impl std::fmt::Debug for MetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaStore").finish_non_exhaustive()
    }
}

impl std::ops::Deref for MetaStore {
    type Target = dyn MetaBackend;

    fn deref(&self) -> &Self::Target {
        self.backend.as_ref()
    }
}

impl MetaStore {
    /// A store over `backend`.
    pub fn new(backend: impl MetaBackend) -> Self {
        Self {
            backend: Arc::new(backend),
            access: Arc::default(),
        }
    }

    /// A handle on the same backend with an access cache of its own,
    /// empty (what a second gateway process would see; for measuring the
    /// uncached access check).
    pub fn without_cache(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            access: Arc::default(),
        }
    }

    /// Bucket `name` as the access check sees it (owner, ACL, grants,
    /// policy, public access block), or `None` if it does not exist;
    /// cached for up to a second (see `access_cache`).
    pub async fn bucket_access(
        &self,
        name: &str,
    ) -> Result<Option<Arc<BucketAccessInfo>>, MetaError> {
        if let Some(cached) = self.access.get(name) {
            return Ok(cached);
        }
        let fetched = std::time::Instant::now();
        let info = self.bucket_access_uncached(name).await?;
        // A missing bucket is not remembered: one created through another
        // gateway must not pass for missing (and so unchecked) here.
        if let Some(info) = &info {
            self.access.put(name, fetched, Some(info.clone()));
        }
        Ok(info)
    }

    /// [`bucket_access`](Self::bucket_access) read from the store, not the
    /// cache.
    pub async fn bucket_access_uncached(
        &self,
        name: &str,
    ) -> Result<Option<Arc<BucketAccessInfo>>, MetaError> {
        let Some(bucket) = self.backend.bucket(name).await? else {
            return Ok(None);
        };
        let grants = self.backend.bucket_grants(name).await?;
        let configs = self.backend.bucket_configs(name).await?;
        Ok(Some(Arc::new(BucketAccessInfo::new(
            name,
            bucket.owner,
            bucket.acl,
            grants,
            &configs,
        ))))
    }

    /// Configuration `kind` of bucket `bucket` (see [`bucket_config`]).
    pub async fn bucket_config(
        &self,
        bucket: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>, MetaError> {
        let configs = self.backend.bucket_configs(bucket).await?;
        Ok(configs.into_iter().find(|(k, _)| k == kind).map(|(_, v)| v))
    }

    /// Sets (`None`: removes) configuration `kind` of bucket `bucket`.
    pub async fn set_bucket_config(
        &self,
        bucket: &str,
        kind: &str,
        value: Option<&[u8]>,
    ) -> Result<(), MetaError> {
        self.set_bucket_config_if(bucket, kind, value, &[])
            .await
            .map(|_| ())
    }

    /// Sets (`None`: removes) configuration `kind` of bucket `bucket` if
    /// the configurations of `expect` still hold what the caller read
    /// (`None`: absent): a decision made on one configuration (no
    /// suspending versioning once object lock is on) cannot be undone by a
    /// racing write of the other. Whether it was set.
    pub async fn set_bucket_config_if(
        &self,
        bucket: &str,
        kind: &str,
        value: Option<&[u8]>,
        expect: &[(&str, Option<&[u8]>)],
    ) -> Result<bool, MetaError> {
        let result = self
            .backend
            .set_bucket_configs(bucket, &[(kind, value)], expect)
            .await;
        self.access.forget(bucket);
        if let Ok(true) = result {
            tracing::info!(
                bucket,
                kind,
                set = value.is_some(),
                "bucket configuration changed"
            );
        }
        result
    }

    /// Deletes an empty bucket (and the grants on it).
    pub async fn delete_bucket(&self, name: &str) -> Result<(), MetaError> {
        let result = self.backend.delete_bucket(name).await;
        self.access.forget(name);
        result
    }

    /// Replaces the ACL of bucket `name`.
    pub async fn set_bucket_acl(&self, name: &str, acl: BucketAcl) -> Result<(), MetaError> {
        let result = self.backend.set_bucket_acl(name, acl).await;
        self.access.forget(name);
        result
    }

    /// Sets what `key` may do in `bucket` (nothing: removes the grant).
    pub async fn set_bucket_grant(
        &self,
        bucket: &str,
        key: &str,
        perms: BucketPerms,
    ) -> Result<(), MetaError> {
        let result = self.backend.set_bucket_grant(bucket, key, perms).await;
        self.access.forget(bucket);
        if result.is_ok() {
            tracing::info!(bucket, key, perms = %perms.describe(), "bucket grant set");
        }
        result
    }

    /// Opens (creating if needed) the embedded redb store at `path`.
    pub fn open_redb(path: &std::path::Path) -> Result<Self, MetaError> {
        Ok(Self::new(redb::RedbStore::open(path)?))
    }

    /// Creates and stores a new random access key, its secret sealed under
    /// `master`.
    pub async fn create_key(&self, master: &MasterKey) -> Result<AccessKey, MetaError> {
        loop {
            let key = AccessKey {
                access_key_id: names::new_access_key_id(),
                secret_key: names::new_secret(),
            };
            let sealed = master.seal_secret(&key.access_key_id, &key.secret_key);
            if self.put_key(&key.access_key_id, &sealed, true).await? {
                tracing::info!(access_key_id = %key.access_key_id, "access key created");
                return Ok(key);
            }
        }
    }

    /// Stores a given access key (secret sealed under `master`), replacing
    /// the secret if the id exists.
    pub async fn insert_key(&self, key: &AccessKey, master: &MasterKey) -> Result<(), MetaError> {
        let sealed = master.seal_secret(&key.access_key_id, &key.secret_key);
        self.put_key(&key.access_key_id, &sealed, false).await?;
        Ok(())
    }

    /// The secret of `access_key_id`, opened with `master`. A secret that
    /// does not open (another master key, a tampered record) is
    /// [`MetaError::Corrupt`].
    pub async fn secret_for(
        &self,
        access_key_id: &str,
        master: &MasterKey,
    ) -> Result<Option<String>, MetaError> {
        let Some(sealed) = self.key_secret(access_key_id).await? else {
            return Ok(None);
        };
        master
            .open_secret(access_key_id, &sealed)
            .map(Some)
            .map_err(|e| MetaError::Corrupt(format!("secret of access key {access_key_id}: {e}")))
    }

    /// Every access key id, sorted.
    pub async fn list_key_ids(&self) -> Result<Vec<String>, MetaError> {
        self.key_ids().await
    }

    /// Creates bucket `name` in `region`, owned by `owner` (an access key
    /// id), with `acl`.
    pub async fn create_bucket_with_acl(
        &self,
        name: &str,
        region: &str,
        owner: &str,
        acl: BucketAcl,
    ) -> Result<(), MetaError> {
        self.create_configured_bucket(name, region, owner, acl, &[])
            .await
    }

    /// [`MetaStore::create_bucket_with_acl`], with configurations `configs`
    /// (kind, value) set in the same transaction (a bucket created with
    /// object lock never exists without it).
    pub async fn create_configured_bucket(
        &self,
        name: &str,
        region: &str,
        owner: &str,
        acl: BucketAcl,
        configs: &[(&str, &[u8])],
    ) -> Result<(), MetaError> {
        validate_bucket_name(name)?;
        let created = self
            .backend
            .create_bucket(name, region, owner, acl, configs)
            .await;
        self.access.forget(name);
        created?;
        tracing::info!(
            bucket = name,
            region,
            owner,
            acl = acl.canned(),
            "bucket created"
        );
        Ok(())
    }

    /// Creates private bucket `name` in `region`, owned by `owner`.
    pub async fn create_private_bucket(
        &self,
        name: &str,
        region: &str,
        owner: &str,
    ) -> Result<(), MetaError> {
        self.create_bucket_with_acl(name, region, owner, BucketAcl::Private)
            .await
    }

    /// Creates a bucket the gateway keeps for itself (its name is not a
    /// valid S3 bucket name, so no S3 request reaches it), owned by
    /// `owner`; nothing if it exists already.
    pub async fn ensure_internal_bucket(
        &self,
        name: &str,
        region: &str,
        owner: &str,
    ) -> Result<(), MetaError> {
        debug_assert!(
            validate_bucket_name(name).is_err(),
            "{name} is not internal"
        );
        let created = self
            .backend
            .create_bucket(name, region, owner, BucketAcl::Private, &[])
            .await;
        self.access.forget(name);
        match created {
            Ok(()) | Err(MetaError::BucketAlreadyExists | MetaError::BucketAlreadyOwnedByYou) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The ACL of bucket `name`, or `None` if there is no such bucket.
    pub async fn bucket_acl(&self, name: &str) -> Result<Option<BucketAcl>, MetaError> {
        Ok(self.bucket(name).await?.map(|b| b.acl))
    }

    /// Puts `meta` at `key` of the internal bucket `bucket` with no
    /// condition, making the bucket (in `region`, owned by `owner`) on
    /// first use.
    pub async fn put_internal(
        &self,
        (bucket, region, owner): (&str, &str, &str),
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<(), MetaError> {
        match self.put_object_always(bucket, key, meta).await {
            Err(MetaError::NoSuchBucket) => {
                self.ensure_internal_bucket(bucket, region, owner).await?;
                self.put_object_always(bucket, key, meta).await?;
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Every object of `bucket` under `prefix` (key and manifest), in key
    /// order, read a page at a time; none when the bucket does not exist
    /// (an internal bucket not made yet).
    pub async fn list_all(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, ObjectMeta)>, MetaError> {
        let mut query = ListQuery {
            prefix: prefix.to_owned(),
            ..ListQuery::default()
        };
        let mut out = Vec::new();
        loop {
            let page = match self.list_objects(bucket, &query).await {
                Ok(page) => page,
                Err(MetaError::NoSuchBucket) => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(page.objects);
            match page.next_marker {
                Some(marker) if page.is_truncated => query.start_after = Some(marker),
                _ => return Ok(out),
            }
        }
    }

    /// Puts `meta` with no condition; returns the manifest replaced.
    pub async fn put_object_always(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<Option<ObjectMeta>, MetaError> {
        match self
            .put_object(bucket, key, meta.clone(), WriteCondition::Always)
            .await?
        {
            Ok(replaced) => Ok(replaced),
            Err(refused) => unreachable!("an unconditional put was refused: {refused:?}"),
        }
    }

    /// The check value of the master key recorded, if any.
    pub async fn master_key_check(&self) -> Result<Option<Vec<u8>>, MetaError> {
        self.setting(MASTER_KEY_CHECK).await
    }

    /// Records the check value of the master key in use.
    pub async fn set_master_key_check(&self, check: &[u8]) -> Result<(), MetaError> {
        self.set_setting(MASTER_KEY_CHECK, check).await
    }

    /// Calls `visit` with every object (bucket, key, manifest), in key
    /// order, a page at a time.
    pub async fn for_each_object(
        &self,
        mut visit: impl FnMut(&str, &str, &ObjectMeta),
    ) -> Result<(), MetaError> {
        const PAGE: usize = 1000;
        let mut after = None;
        loop {
            let page = self.objects_after(after, PAGE).await?;
            for (bucket, key, meta) in &page {
                visit(bucket, key, meta);
            }
            match page.last() {
                Some((bucket, key, _)) if page.len() == PAGE => {
                    after = Some((bucket.clone(), key.clone()));
                    // A long pass must not hog its worker.
                    tokio::task::yield_now().await;
                }
                _ => return Ok(()),
            }
        }
    }
}
