//! The data path: object bytes to placed shards (write) and back (read).
//!
//! Write: the body streams into one segment buffer at a time; each full
//! segment is sealed and erasure-coded on the blocking pool, placed, and its
//! shards uploaded to their nodes in parallel; MD5 (the ETag) is computed on
//! the way. Memory: one segment being filled plus one being uploaded.
//! Read: for each segment the range touches, the k nearest holders are asked
//! in parallel (the others stand by for any that fail), every shard is
//! checked against its id, and the segment is decoded and sliced.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use libp2p::PeerId;
use md5::{Digest, Md5};
use mesh::ShardId;
use mesh::codec::{CodecParams, ObjectKey, Scheme, SegmentBuffer, SegmentCodec, SegmentRef};
use mesh::net::{ClientError, MeshClient};
use placement::NodeId;

use crate::meta::{PartLayout, SegmentLayout, ShardLocation};
use crate::nodes::NodeView;

/// Why object data could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Too few nodes to place a segment.
    #[error("cannot place shards: {0}")]
    Placement(#[from] placement::PlacementError),
    /// A shard could not be stored anywhere.
    #[error("storing a shard: {0}")]
    Store(ClientError),
    /// Fewer than k shards of a segment could be fetched.
    #[error("only {got} of the {need} shards needed for a segment could be read")]
    Unavailable {
        /// Shards fetched.
        got: usize,
        /// k.
        need: usize,
    },
    /// The codec failed (including authentication of decoded data).
    #[error("codec: {0}")]
    Codec(#[from] mesh::codec::CodecError),
    /// The client's body stream failed.
    #[error("reading the request body: {0}")]
    Body(String),
    /// The body was longer or shorter than declared.
    #[error("the body had {got} bytes, {expected} were declared")]
    Length {
        /// Declared.
        expected: u64,
        /// Received.
        got: u64,
    },
    /// Stored metadata names a node id that is not a peer id.
    #[error("corrupt layout: {0}")]
    Layout(&'static str),
}

/// Segments fetched and decoded ahead of the one being sent.
const READ_AHEAD: usize = 2;

/// What a write produced.
pub struct Written {
    /// The part's layout (size, ETag, segments).
    pub part: PartLayout,
    /// The scheme used.
    pub scheme: Scheme,
    /// MD5 of the bytes, raw.
    pub md5: [u8; 16],
}

/// Reads and writes object data through the mesh.
#[derive(Clone)]
pub struct DataPath {
    mesh: MeshClient,
    nodes: NodeView,
    params: CodecParams,
    codecs: Arc<std::sync::Mutex<HashMap<Scheme, Arc<SegmentCodec>>>>,
}

impl DataPath {
    /// A data path over `mesh`, placing on `nodes`, encoding with `params`.
    pub fn new(mesh: MeshClient, nodes: NodeView, params: CodecParams) -> Self {
        Self {
            mesh,
            nodes,
            params,
            codecs: Default::default(),
        }
    }

    /// The codec settings.
    pub fn params(&self) -> CodecParams {
        self.params
    }

    fn codec(&self, scheme: Scheme) -> Result<Arc<SegmentCodec>, DataError> {
        let mut codecs = self.codecs.lock().expect("not poisoned");
        if let Some(codec) = codecs.get(&scheme) {
            return Ok(codec.clone());
        }
        let codec = Arc::new(SegmentCodec::new(scheme, self.params.segment_size)?);
        codecs.insert(scheme, codec.clone());
        Ok(codec)
    }

    /// Streams `body` (of `declared` bytes if known) into the mesh as part
    /// `part_number` of an object sealed with `key`.
    pub async fn write<S, E>(
        &self,
        key: &ObjectKey,
        part_number: u32,
        declared: Option<u64>,
        mut body: S,
    ) -> Result<Written, DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // Parts of a multipart upload are never tiny objects on their own.
        let scheme = if part_number == 0 {
            self.params.scheme_for(declared.unwrap_or(u64::MAX))
        } else {
            self.params.scheme
        };
        let codec = self.codec(scheme)?;
        let mut md5 = Md5::new();
        let mut total = 0u64;
        let mut segments = Vec::new();
        let mut index = 0u64;
        let mut pending: Option<Bytes> = None;
        let mut upload: Option<tokio::task::JoinHandle<Result<SegmentLayout, DataError>>> = None;
        loop {
            // Size the last segment's buffer to what is left; a full one when
            // nothing should be left, so surplus bytes are still noticed.
            let buffered = pending.as_ref().map_or(0, |p| p.len() as u64);
            let left = declared.map_or(0, |d| d.saturating_sub(total - buffered));
            let capacity = match left {
                0 => codec.segment_size(),
                left => left.min(codec.segment_size() as u64) as usize,
            };
            let mut buffer = codec.buffer_for(capacity);
            let ended = fill(&mut buffer, &mut pending, &mut body, &mut md5, &mut total).await?;
            if buffer.is_empty() {
                break;
            }
            let at = SegmentRef {
                part: part_number,
                index,
            };
            index += 1;
            let (codec2, key2) = (codec.clone(), key.clone());
            let encoded = tokio::task::spawn_blocking(move || codec2.encode(&key2, at, buffer))
                .await
                .expect("encoding does not panic")?;
            // One segment uploads while the next is read and encoded.
            if let Some(previous) = upload.take() {
                segments.push(previous.await.expect("upload task does not panic")?);
            }
            let this = self.clone();
            upload = Some(tokio::spawn(async move {
                this.place_segment(encoded, scheme).await
            }));
            if ended {
                break;
            }
        }
        if let Some(previous) = upload.take() {
            segments.push(previous.await.expect("upload task does not panic")?);
        }
        if let Some(expected) = declared
            && expected != total
        {
            return Err(DataError::Length {
                expected,
                got: total,
            });
        }
        let md5: [u8; 16] = md5.finalize().into();
        Ok(Written {
            part: PartLayout {
                part_number,
                size: total,
                etag: format!("\"{}\"", hex(&md5)),
                segments,
            },
            scheme,
            md5,
        })
    }

    /// Places one encoded segment and uploads its shards in parallel. A shard
    /// whose node fails is placed again elsewhere (once per shard).
    async fn place_segment(
        &self,
        segment: mesh::codec::EncodedSegment,
        scheme: Scheme,
    ) -> Result<SegmentLayout, DataError> {
        let cluster = self.nodes.cluster();
        let key = segment.ids[0].0;
        let placed = cluster.place(&key, scheme.k, scheme.m, segment.shard_len as u64)?;
        let mut nodes: Vec<NodeId> = placed.nodes.clone();
        let mut puts = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let peer = peer_of(node)?;
            let (mut client, id, bytes) = (
                self.mesh.shards(),
                segment.ids[i],
                segment.shards[i].clone(),
            );
            puts.push(tokio::spawn(async move {
                client.put(peer, id, &bytes).await.map(|_| ())
            }));
        }
        let mut failed = Vec::new();
        for (i, put) in puts.into_iter().enumerate() {
            if let Err(e) = put.await.expect("put task does not panic") {
                tracing::warn!(shard = i, error = %e, "shard upload failed; placing it elsewhere");
                failed.push(i);
            }
        }
        if !failed.is_empty() {
            let current: Vec<Option<NodeId>> = nodes.iter().cloned().map(Some).collect();
            let plan = cluster.plan_repair(
                &key,
                scheme.k,
                scheme.m,
                &current,
                &failed,
                segment.shard_len as u64,
            )?;
            for (i, node) in plan.assignments {
                let peer = peer_of(&node)?;
                self.mesh
                    .shards()
                    .put(peer, segment.ids[i], &segment.shards[i])
                    .await
                    .map_err(DataError::Store)?;
                nodes[i] = node;
            }
        }
        Ok(SegmentLayout {
            plain_len: segment.plain_len as u64,
            shards: nodes
                .into_iter()
                .zip(&segment.ids)
                .map(|(node, id)| ShardLocation {
                    id: id.0,
                    node: node.as_bytes().to_vec(),
                })
                .collect(),
        })
    }

    /// Streams the bytes `range` (end exclusive) of a part written with
    /// `scheme` and `key`.
    pub fn read(
        &self,
        key: ObjectKey,
        scheme: Scheme,
        part: PartLayout,
        range: std::ops::Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + use<> {
        // Segment boundaries come from the layout (each records its length),
        // so reading never assumes how the writer cut the stream.
        let mut pieces = Vec::new();
        let mut offset = 0u64;
        for (index, segment) in part.segments.iter().enumerate() {
            let (start, end) = (offset, offset + segment.plain_len);
            offset = end;
            if end <= range.start || start >= range.end {
                continue;
            }
            let local =
                (range.start.max(start) - start) as usize..(range.end.min(end) - start) as usize;
            pieces.push((index as u64, segment.clone(), local));
        }
        let this = self.clone();
        let part_number = part.part_number;
        futures_util::stream::iter(pieces)
            .map(move |(index, segment, local)| {
                let (this, key) = (this.clone(), key.clone());
                async move {
                    let result = this
                        .read_segment(&key, scheme, part_number, index, &segment)
                        .await
                        .map(|plain| plain.slice(local));
                    if let Err(e) = &result {
                        tracing::warn!(part = part_number, segment = index, error = %e, "reading a segment failed; ending the response early");
                    }
                    result
                }
            })
            // Read ahead: the next segment is fetched while this one is sent.
            .buffered(READ_AHEAD)
            // After an error the response is cut short; stop reading.
            .scan(false, |failed, item| {
                let out = (!*failed).then_some(item);
                if let Some(Err(_)) = &out {
                    *failed = true;
                }
                std::future::ready(out)
            })
    }

    /// Streams the bytes `range` (end exclusive) of an object made of
    /// `parts` (one for a simple upload, in order for a multipart one).
    pub fn read_parts(
        &self,
        key: ObjectKey,
        scheme: Scheme,
        parts: Vec<PartLayout>,
        range: std::ops::Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + use<> {
        let mut pieces = Vec::new();
        let mut offset = 0u64;
        for part in parts {
            let (start, end) = (offset, offset + part.size);
            offset = end;
            if end <= range.start || start >= range.end {
                continue;
            }
            let local = range.start.max(start) - start..range.end.min(end) - start;
            pieces.push((part, local));
        }
        let this = self.clone();
        futures_util::stream::iter(pieces)
            .map(move |(part, local)| this.read(key.clone(), scheme, part, local))
            .flatten()
    }

    /// Deletes the shards of `parts` from their nodes, in the background and
    /// best effort (a node that is down keeps them until garbage collection
    /// by listing finds them).
    pub fn delete_shards(&self, parts: Vec<PartLayout>) {
        let mesh = self.mesh.clone();
        tokio::spawn(async move {
            for segment in parts.iter().flat_map(|p| &p.segments) {
                for shard in &segment.shards {
                    let Ok(peer) = PeerId::from_bytes(&shard.node) else {
                        continue;
                    };
                    if let Err(e) = mesh.shards().delete(peer, ShardId(shard.id)).await {
                        tracing::debug!(error = %e, "deleting a shard failed");
                    }
                }
            }
        });
    }

    /// Fetches k shards of one segment (nearest first, the rest as backups)
    /// and decodes it.
    async fn read_segment(
        &self,
        key: &ObjectKey,
        scheme: Scheme,
        part: u32,
        index: u64,
        layout: &SegmentLayout,
    ) -> Result<Bytes, DataError> {
        let holders: Vec<NodeId> = layout
            .shards
            .iter()
            .map(|s| NodeId::new(s.node.clone()))
            .collect();
        let order = self.nodes.cluster().order_for_read(&holders);
        let mut slots: Vec<Option<Bytes>> = vec![None; layout.shards.len()];
        let mut got = 0;
        let mut next = 0;
        while got < scheme.k && next < order.len() {
            let want = (scheme.k - got).min(order.len() - next);
            let batch: Vec<usize> = order[next..next + want].to_vec();
            next += want;
            let mut fetches = Vec::new();
            for &i in &batch {
                let peer = peer_of(&holders[i])?;
                let id = ShardId(layout.shards[i].id);
                let mut client = self.mesh.shards();
                fetches.push(tokio::spawn(async move { (i, client.get(peer, id).await) }));
            }
            for fetch in fetches {
                let (i, result) = fetch.await.expect("fetch task does not panic");
                match result {
                    Ok(bytes) => {
                        slots[i] = Some(Bytes::from(bytes));
                        got += 1;
                    }
                    Err(e) => {
                        tracing::warn!(shard = i, error = %e, "shard read failed; trying another")
                    }
                }
            }
        }
        if got < scheme.k {
            return Err(DataError::Unavailable {
                got,
                need: scheme.k,
            });
        }
        let codec = self.codec(scheme)?;
        let key = key.clone();
        let plain_len = layout.plain_len as usize;
        let at = SegmentRef { part, index };
        Ok(
            tokio::task::spawn_blocking(move || codec.decode(&key, at, plain_len, &slots))
                .await
                .expect("decoding does not panic")?,
        )
    }
}

/// Fills `buffer` from the pending bytes and the body; returns whether the
/// body has ended.
async fn fill<S, E>(
    buffer: &mut SegmentBuffer,
    pending: &mut Option<Bytes>,
    body: &mut S,
    md5: &mut Md5,
    total: &mut u64,
) -> Result<bool, DataError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    loop {
        if buffer.is_full() {
            return Ok(false);
        }
        let mut chunk = match pending.take() {
            Some(chunk) => chunk,
            None => match body.next().await {
                Some(Ok(chunk)) => {
                    md5.update(&chunk);
                    *total += chunk.len() as u64;
                    chunk
                }
                Some(Err(e)) => return Err(DataError::Body(e.to_string())),
                None => return Ok(true),
            },
        };
        let taken = buffer.extend_from_slice(&chunk);
        if taken < chunk.len() {
            *pending = Some(chunk.split_off(taken));
        }
    }
}

fn peer_of(node: &NodeId) -> Result<PeerId, DataError> {
    PeerId::from_bytes(node.as_bytes()).map_err(|_| DataError::Layout("node id"))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
