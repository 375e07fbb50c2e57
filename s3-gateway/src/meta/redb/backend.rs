//! [`MetaBackend`] over redb: each method runs its (quick, synchronous)
//! transaction in place; object puts go through the group committer.

use std::collections::HashSet;
use std::time::Duration;

use super::RedbStore;
use crate::meta::{
    BatchRefused, BucketAcl, BucketInfo, BucketPerms, Completion, ConditionFailed, ListPage,
    ListQuery, MetaBackend, MetaError, NodeHealthRecord, ObjectMeta, ObjectWrite, PartLayout,
    PutOutcome, RepairEntry, SegmentKey, ShardCopy, ShardMove, UploadState, WriteCondition,
};

#[async_trait::async_trait]
impl MetaBackend for RedbStore {
    async fn put_key(&self, id: &str, sealed: &[u8], create_only: bool) -> Result<bool, MetaError> {
        RedbStore::put_key(self, id, sealed, create_only)
    }

    async fn key_secret(&self, id: &str) -> Result<Option<Vec<u8>>, MetaError> {
        RedbStore::key_secret(self, id)
    }

    async fn key_ids(&self) -> Result<Vec<String>, MetaError> {
        RedbStore::key_ids(self)
    }

    async fn delete_key(&self, id: &str) -> Result<bool, MetaError> {
        RedbStore::delete_key(self, id)
    }

    async fn key_may_create_buckets(&self, id: &str) -> Result<bool, MetaError> {
        RedbStore::key_may_create_buckets(self, id)
    }

    async fn set_key_may_create_buckets(&self, id: &str, may: bool) -> Result<bool, MetaError> {
        RedbStore::set_key_may_create_buckets(self, id, may)
    }

    async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner: &str,
        acl: BucketAcl,
        configs: &[(&str, &[u8])],
    ) -> Result<(), MetaError> {
        RedbStore::create_bucket(self, name, region, owner, acl, configs)
    }

    async fn bucket(&self, name: &str) -> Result<Option<BucketInfo>, MetaError> {
        RedbStore::bucket(self, name)
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, MetaError> {
        RedbStore::list_buckets(self)
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), MetaError> {
        RedbStore::delete_bucket(self, name)
    }

    async fn set_bucket_acl(&self, name: &str, acl: BucketAcl) -> Result<(), MetaError> {
        RedbStore::set_bucket_acl(self, name, acl)
    }

    async fn set_bucket_grant(
        &self,
        bucket: &str,
        key: &str,
        perms: BucketPerms,
    ) -> Result<(), MetaError> {
        RedbStore::set_bucket_grant(self, bucket, key, perms)
    }

    async fn bucket_grants(&self, bucket: &str) -> Result<Vec<(String, BucketPerms)>, MetaError> {
        RedbStore::bucket_grants(self, bucket)
    }

    async fn key_grants(&self, key: &str) -> Result<Vec<(String, BucketPerms)>, MetaError> {
        RedbStore::key_grants(self, key)
    }

    async fn key_name(&self, id: &str) -> Result<Option<String>, MetaError> {
        RedbStore::key_name(self, id)
    }

    async fn set_key_name(&self, id: &str, name: Option<&str>) -> Result<bool, MetaError> {
        RedbStore::set_key_name(self, id, name)
    }

    async fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, Vec<u8>)>, MetaError> {
        RedbStore::bucket_configs(self, bucket)
    }

    async fn set_bucket_configs(
        &self,
        bucket: &str,
        set: &[(&str, Option<&[u8]>)],
        expect: &[(&str, Option<&[u8]>)],
    ) -> Result<bool, MetaError> {
        RedbStore::set_bucket_configs(self, bucket, set, expect)
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
    ) -> Result<PutOutcome, MetaError> {
        self.committer.put(bucket, key, meta, condition).await
    }

    async fn put_object_keeping(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
    ) -> Result<Result<ObjectMeta, ConditionFailed>, MetaError> {
        self.committer
            .put_keeping(bucket, key, meta, condition)
            .await
    }

    async fn write_objects(
        &self,
        bucket: &str,
        writes: Vec<ObjectWrite>,
        completes: Option<&Completion>,
    ) -> Result<Result<(), BatchRefused>, MetaError> {
        self.committer.write(bucket, writes, completes).await
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, MetaError> {
        RedbStore::object(self, bucket, key)
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectMeta>, MetaError> {
        RedbStore::delete_object(self, bucket, key)
    }

    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, MetaError> {
        RedbStore::list_objects(self, bucket, q)
    }

    async fn objects_after(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, String, ObjectMeta)>, MetaError> {
        RedbStore::objects_after(self, after, limit)
    }

    async fn move_shards(
        &self,
        segment: &SegmentKey,
        version: (&str, u64),
        moves: &[ShardMove],
    ) -> Result<bool, MetaError> {
        RedbStore::move_shards(self, segment, version, moves)
    }

    async fn shard_references(&self) -> Result<HashSet<ShardCopy>, MetaError> {
        RedbStore::shard_references(self)
    }

    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        template: &ObjectMeta,
    ) -> Result<String, MetaError> {
        RedbStore::create_upload(self, bucket, key, template)
    }

    async fn put_part(
        &self,
        upload_id: &str,
        part: &PartLayout,
        checksum: Option<&str>,
    ) -> Result<Option<PartLayout>, MetaError> {
        RedbStore::put_part_with_checksum(self, upload_id, part, checksum)
    }

    async fn upload(&self, upload_id: &str) -> Result<Option<UploadState>, MetaError> {
        RedbStore::upload(self, upload_id)
    }

    async fn part_checksums(&self, upload_id: &str) -> Result<Vec<(u32, String)>, MetaError> {
        RedbStore::part_checksums(self, upload_id)
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String, u64)>, MetaError> {
        RedbStore::list_uploads(self, bucket, prefix)
    }

    async fn remove_upload(&self, upload_id: &str) -> Result<Option<Vec<PartLayout>>, MetaError> {
        RedbStore::remove_upload(self, upload_id)
    }

    async fn node_health(&self) -> Result<Vec<(Vec<u8>, NodeHealthRecord)>, MetaError> {
        RedbStore::node_health(self)
    }

    async fn put_node_health(
        &self,
        records: &[(Vec<u8>, NodeHealthRecord)],
    ) -> Result<(), MetaError> {
        RedbStore::put_node_health(self, records)
    }

    async fn mark_bad_shard(
        &self,
        node: &[u8],
        shard: &[u8; 32],
        at: u64,
    ) -> Result<(), MetaError> {
        RedbStore::mark_bad_shard(self, node, shard, at)
    }

    async fn bad_shards(&self) -> Result<Vec<ShardCopy>, MetaError> {
        RedbStore::bad_shards(self)
    }

    async fn clear_bad_shards(&self, pairs: &[ShardCopy]) -> Result<(), MetaError> {
        RedbStore::clear_bad_shards(self, pairs)
    }

    async fn update_repair_queue(
        &self,
        degraded: &[(SegmentKey, u8)],
        healed: &[SegmentKey],
        now: u64,
    ) -> Result<(), MetaError> {
        RedbStore::update_repair_queue(self, degraded, healed, now)
    }

    async fn repair_queue(&self) -> Result<Vec<(SegmentKey, RepairEntry)>, MetaError> {
        RedbStore::repair_queue(self)
    }

    async fn update_rebalance_queue(
        &self,
        crowded: &[SegmentKey],
        done: &[SegmentKey],
        now: u64,
    ) -> Result<(), MetaError> {
        RedbStore::update_rebalance_queue(self, crowded, done, now)
    }

    async fn rebalance_queue(&self) -> Result<Vec<SegmentKey>, MetaError> {
        RedbStore::rebalance_queue(self)
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, MetaError> {
        RedbStore::setting(self, name)
    }

    async fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), MetaError> {
        RedbStore::set_setting(self, name, value)
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, MetaError> {
        RedbStore::try_lease(self, name, holder, ttl)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), MetaError> {
        RedbStore::release_lease(self, name, holder)
    }
}
