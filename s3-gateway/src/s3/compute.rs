//! What compute jobs need from the gateway: an object as a task's input
//! (its layout, the keys that open it, where its shards are), and a task's
//! output stored as an object.

use bytes::Bytes;
use mesh::compute::{InputPart, InputSegment};
use placement::{HeldShard, NodeId};
use s3s::dto::{PutObjectInput, StreamingBlob};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Result};

use super::Gateway;

/// An object as a compute task sees it.
#[derive(Clone, Debug)]
pub struct ComputeInput {
    /// Its parts, with the keys that open them.
    pub parts: Vec<InputPart>,
    /// Every shard, for the scheduler.
    pub shards: Vec<HeldShard>,
    /// Bytes of plaintext.
    pub size: u64,
}

impl Gateway {
    /// The nodes this gateway knows.
    pub fn data_nodes(&self) -> &crate::data::nodes::NodeView {
        self.data.nodes()
    }

    /// Object `key` of `bucket` as a task's input. Objects stored with a
    /// customer's key (SSE-C) are refused: the gateway cannot open them.
    pub async fn compute_input(&self, bucket: &str, key: &str) -> S3Result<ComputeInput> {
        let object = self
            .meta
            .object(bucket, key)
            .await?
            .filter(|o| !o.delete_marker)
            .ok_or_else(|| {
                S3Error::with_message(S3ErrorCode::NoSuchKey, format!("no object {key}"))
            })?;
        if object.sse_customer_key_md5.is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!("{key} is encrypted with a customer-provided key; jobs cannot read it"),
            ));
        }
        let key = self.object_key(&object)?;
        self.input_of(&object, Some(key))
    }

    /// The input layout of the manifest `object`, its parts opened with
    /// `object_key` (`None`: each segment gets its own key afterwards).
    fn input_of(
        &self,
        object: &crate::meta::ObjectMeta,
        object_key: Option<mesh::codec::ObjectKey>,
    ) -> S3Result<ComputeInput> {
        let (k, m) = (object.k, object.m);
        let mut shards = Vec::new();
        let mut parts = Vec::new();
        for part in &object.parts {
            let key = match (&object_key, &part.key_salt) {
                (Some(key), Some(salt)) => *key.for_part_write(salt).as_bytes(),
                (Some(key), None) => *key.as_bytes(),
                (None, _) => [0; 32],
            };
            let mut segments = Vec::new();
            for segment in &part.segments {
                let shard_len =
                    (segment.plain_len + mesh::codec::TAG_LEN as u64).div_ceil(u64::from(k.max(1)));
                for (i, shard) in segment.shards.iter().enumerate() {
                    if shard.node.is_empty() {
                        continue;
                    }
                    shards.push(HeldShard {
                        holder: NodeId::new(shard.node.clone()),
                        region: self.data.nodes().region_of(&shard.node).map(|(r, _)| r),
                        len: shard_len,
                        data: i < usize::from(k),
                    });
                }
                segments.push(InputSegment {
                    plain_len: segment.plain_len,
                    key: None,
                    shards: segment
                        .shards
                        .iter()
                        .map(|s| (s.id, s.node.clone()))
                        .collect(),
                });
            }
            parts.push(InputPart {
                k,
                m,
                segment_size: object.segment_size,
                number: part.part_number,
                key,
                segments,
            });
        }
        Ok(ComputeInput {
            parts,
            shards,
            size: object.size,
        })
    }

    /// Published content `cid`, kept by this gateway (published or pinned
    /// here), as a task's input: each segment opened with the key derived
    /// from its hash. Content this gateway does not keep is refused (pin
    /// it here first).
    pub async fn content_input(&self, cid: &str) -> S3Result<ComputeInput> {
        let cid = super::content::parse_cid(cid)?;
        self.check_allowed(&cid)?;
        let kept = self
            .meta
            .object(super::content::CONTENT_BUCKET, &cid.to_string())
            .await?
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::NoSuchKey,
                    format!(
                        "{cid} is not kept by this gateway; pin it here first (cairn pin add {cid})"
                    ),
                )
            })?;
        let hashes = super::content::hashes_of(&kept).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InternalError,
                format!("the manifest of {cid} has no segment hashes"),
            )
        })?;
        let mut input = self.input_of(&kept, None)?;
        let segments = input.parts.iter_mut().flat_map(|p| p.segments.iter_mut());
        for (segment, hash) in segments.zip(hashes.iter().chain(std::iter::repeat(&[0u8; 32]))) {
            segment.key = Some(*mesh::content::segment_key(hash).as_bytes());
        }
        if input.parts.iter().map(|p| p.segments.len()).sum::<usize>() != hashes.len() {
            return Err(S3Error::with_message(
                S3ErrorCode::InternalError,
                format!("the manifest of {cid} does not match its segment hashes"),
            ));
        }
        Ok(input)
    }

    /// Stores `bytes` as object `key` of `bucket`, written by `owner`: a
    /// PutObject like a client's (versioning, publication, ACL defaults).
    /// The caller has checked `owner` may write it.
    pub async fn store_output(
        &self,
        owner: &str,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
    ) -> S3Result<()> {
        let len = bytes.len() as i64;
        let input = PutObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .content_length(Some(len))
            .body(Some(StreamingBlob::from(s3s::Body::from(Bytes::from(
                bytes,
            )))))
            .build()
            .map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, e.to_string()))?;
        let path = format!(
            "/{}/{}",
            percent_encoding::utf8_percent_encode(bucket, percent_encoding::NON_ALPHANUMERIC),
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
        );
        let request = S3Request {
            input,
            method: http::Method::PUT,
            uri: path
                .parse()
                .map_err(|_| S3Error::new(S3ErrorCode::InvalidURI))?,
            headers: http::HeaderMap::new(),
            extensions: http::Extensions::new(),
            credentials: Some(s3s::auth::Credentials {
                access_key: owner.to_owned(),
                secret_key: s3s::auth::SecretKey::from(String::new()),
            }),
            region: None,
            service: None,
            trailing_headers: None,
        };
        S3::put_object(self, request).await?;
        Ok(())
    }
}
