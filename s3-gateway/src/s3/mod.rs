//! The S3 API: s3s calls [`Gateway`]'s methods after parsing and
//! authenticating a request, and they hand each request to the module of
//! its S3 area; every operation not implemented answers NotImplemented.
//!
//! One file per area (buckets, objects, copy, multipart, listing), what
//! responses are made of (`response`), and how errors become S3 errors
//! (`error`: `From` conversions, so handlers use `?`).

pub mod access;
pub mod acl;
mod attributes;
mod buckets;
pub mod checksum;
pub mod compute;
pub mod conditional;
pub mod content;
pub mod content_dht;
pub mod content_route;
mod copy;
pub mod copy_source;
mod cors;
pub mod denylist;
mod error;
mod lifecycle;
mod listing;
mod multipart;
mod object_acl;
mod object_acl_ops;
pub mod object_lock;
mod objects;
mod policy;
mod response;
mod sse_c;
mod tagging;
mod versioning;
pub mod window;

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::data::DataPath;
use crate::data::keywrap::MasterKey;
use crate::meta::{MetaStore, ObjectMeta};
use error::internal;

/// The gateway's S3 implementation. Cheap to clone (shared handles): the
/// published-content route holds one too.
#[derive(Clone)]
pub struct Gateway {
    meta: MetaStore,
    data: DataPath,
    region: String,
    master: Arc<MasterKey>,
    /// Announces published content and finds others' (`None`: this
    /// gateway serves only the content it keeps).
    dht: Option<content_dht::ContentDht>,
    /// CIDs the operator will not serve or pin here.
    denylist: denylist::Denylist,
    /// Parity shards per segment added to content taken on for pins.
    pin_extra_parity: usize,
    /// Serialize, per CID (striped), letting content go and announcing
    /// it, so that a withdrawal and an announcement never cross.
    content_locks: Arc<Vec<tokio::sync::Mutex<()>>>,
}

impl Gateway {
    /// A gateway over its metadata and data path, answering for `region`;
    /// object keys are wrapped under `master` in the manifests.
    pub fn new(meta: MetaStore, data: DataPath, region: String, master: Arc<MasterKey>) -> Self {
        Self {
            meta,
            data,
            region,
            master,
            dht: None,
            denylist: denylist::Denylist::empty(),
            pin_extra_parity: 0,
            content_locks: Arc::new((0..64).map(|_| tokio::sync::Mutex::new(())).collect()),
        }
    }

    /// Announces published content in the DHT and looks up content it
    /// does not keep through `dht`.
    pub fn with_content_dht(self, dht: content_dht::ContentDht) -> Self {
        Self {
            dht: Some(dht),
            ..self
        }
    }

    /// Refuses to serve or pin the CIDs `denylist` names.
    pub fn with_denylist(self, denylist: denylist::Denylist) -> Self {
        Self { denylist, ..self }
    }

    /// Stores content taken on for pins with `extra` more parity shards
    /// per segment than objects get.
    pub fn with_pin_extra_parity(self, extra: usize) -> Self {
        Self {
            pin_extra_parity: extra,
            ..self
        }
    }

    /// The region this gateway answers for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// A fresh object key, and its wrapped form for the manifest.
    fn new_object_key(&self) -> (mesh::codec::ObjectKey, Vec<u8>) {
        let key = mesh::codec::ObjectKey::generate();
        let wrapped = self.master.wrap(&key);
        (key, wrapped)
    }

    /// The object key of a manifest (or multipart template), unwrapped.
    fn object_key(&self, meta: &ObjectMeta) -> S3Result<mesh::codec::ObjectKey> {
        self.master.unwrap(&meta.encryption_key).map_err(|e| {
            tracing::error!(error = %e, "cannot unwrap an object key");
            internal(e)
        })
    }

    /// The key an object's data is sealed under, for a request bringing
    /// `customer` (SSE-C): refused unless it brings the key the object
    /// was stored with, or none for an object stored without one.
    fn data_key(
        &self,
        meta: &ObjectMeta,
        customer: Option<&sse_c::CustomerKey>,
    ) -> S3Result<mesh::codec::ObjectKey> {
        sse_c::check(meta.sse_customer_key_md5.as_deref(), customer)?;
        let key = self.object_key(meta)?;
        Ok(match customer {
            Some(c) => c.data_key(&key),
            None => key,
        })
    }

    /// The owner of `bucket`; NoSuchBucket if there is none.
    async fn bucket_owner(&self, bucket: &str) -> S3Result<String> {
        match self.meta.bucket(bucket).await? {
            Some(info) => Ok(info.owner),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }

    async fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        match self.meta.bucket(bucket).await? {
            Some(_) => Ok(()),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }
}

/// Every implemented operation, handed to its area.
#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        buckets::list_buckets(self, req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        buckets::create_bucket(self, req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        buckets::head_bucket(self, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        buckets::get_bucket_location(self, req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        buckets::get_bucket_acl(self, req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        buckets::put_bucket_acl(self, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        buckets::delete_bucket(self, req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let at = (req.input.bucket.clone(), req.input.key.clone());
        let mut out = objects::put_object(self, req).await?;
        self.publish_if_asked(&at.0, &at.1, &mut out.headers).await;
        Ok(out)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        objects::get_object(self, req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        objects::head_object(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        objects::delete_object(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        listing::list_objects_v2(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        objects::delete_objects(self, req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let at = (req.input.bucket.clone(), req.input.key.clone());
        let mut out = copy::copy_object(self, req).await?;
        self.publish_if_asked(&at.0, &at.1, &mut out.headers).await;
        Ok(out)
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        listing::list_object_versions(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create_multipart_upload(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        copy::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let at = (req.input.bucket.clone(), req.input.key.clone());
        let mut out = multipart::complete_multipart_upload(self, req).await?;
        self.publish_if_asked(&at.0, &at.1, &mut out.headers).await;
        Ok(out)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort_multipart_upload(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_multipart_uploads(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        listing::list_objects(self, req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        policy::put_bucket_policy(self, req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        policy::get_bucket_policy(self, req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        policy::delete_bucket_policy(self, req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        policy::get_bucket_policy_status(self, req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        policy::put_public_access_block(self, req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        policy::get_public_access_block(self, req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        policy::delete_public_access_block(self, req).await
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        cors::put_bucket_cors(self, req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        cors::get_bucket_cors(self, req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        cors::delete_bucket_cors(self, req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        attributes::get_object_attributes(self, req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        object_acl_ops::get_object_acl(self, req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        object_acl_ops::put_object_acl(self, req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        versioning::put_bucket_versioning(self, req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        versioning::get_bucket_versioning(self, req).await
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        object_lock::put_object_lock_configuration(self, req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        object_lock::get_object_lock_configuration(self, req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        object_lock::put_object_retention(self, req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        object_lock::get_object_retention(self, req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        object_lock::put_object_legal_hold(self, req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        object_lock::get_object_legal_hold(self, req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        tagging::put_object_tagging(self, req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        tagging::get_object_tagging(self, req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        tagging::delete_object_tagging(self, req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        tagging::put_bucket_tagging(self, req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        tagging::get_bucket_tagging(self, req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        tagging::delete_bucket_tagging(self, req).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        lifecycle::put_bucket_lifecycle_configuration(self, req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        lifecycle::get_bucket_lifecycle_configuration(self, req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        lifecycle::delete_bucket_lifecycle(self, req).await
    }
}
