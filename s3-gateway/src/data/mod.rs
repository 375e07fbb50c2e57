//! The data path: object bytes to placed shards (write) and back (read).
//!
//! Write: the body streams into one segment buffer at a time; each full
//! segment is sealed and erasure-coded on the blocking pool, placed, and its
//! shards uploaded to their nodes in parallel; MD5 (the ETag) is computed on
//! the way. Memory: one segment being filled plus one being uploaded.
//! Read: for each segment the range touches, the k nearest holders are asked
//! in parallel (the others stand by for any that fail), every shard is
//! checked against its id, and the segment is decoded and sliced.

pub mod keywrap;
pub mod nodes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use libp2p::PeerId;
use md5::{Digest, Md5};
use mesh::ShardId;
use mesh::codec::{CodecParams, ObjectKey, Scheme, SegmentBuffer, SegmentCodec, SegmentRef};
use mesh::content::ContentId;
use mesh::net::{ClientError, MeshClient};
use mesh::wire::ErrorCode;
use placement::NodeId;

use crate::data::nodes::NodeView;
use crate::health::{AuditOutcome, Health, InflightGuard};
use crate::meta::{PartLayout, SegmentKey, SegmentLayout, ShardLocation};

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
    /// Fewer shards of a segment than a write needs could be stored.
    #[error("only {stored} of the {need} shards needed for a segment could be stored")]
    Unstored {
        /// Shards stored.
        stored: usize,
        /// The write's success threshold.
        need: usize,
    },
    /// The codec failed (including authentication of decoded data).
    #[error("codec: {0}")]
    Codec(#[from] mesh::codec::CodecError),
    /// The client's body stream failed.
    #[error("reading the request body: {0}")]
    Body(String),
    /// Published content cannot be cut or checked as its manifest says.
    #[error("published content: {0}")]
    Content(#[from] mesh::content::ManifestError),
    /// A segment of published content is not the bytes its CID names.
    #[error("segment {0} does not match the content id")]
    Mismatch(u64),
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

/// While shard fetches of a segment are outstanding, one more holder is
/// asked per period (a hedged read); the period is this plus the round
/// trip to the farthest holder asked first ([`hedge_period`]): this part
/// is the node's work and the transfer.
pub const HEDGE_AFTER: Duration = Duration::from_millis(300);

/// How long a read waits on its first fetches before asking one more
/// holder: [`HEDGE_AFTER`] plus the slowest measured round trip among them
/// (a holder with none measured counts as [`HEDGE_AFTER`] away). A far but
/// healthy region is thus not hedged against merely for being far.
pub fn hedge_period(rtts: impl IntoIterator<Item = Option<Duration>>) -> Duration {
    let farthest = rtts
        .into_iter()
        .map(|rtt| rtt.unwrap_or(HEDGE_AFTER))
        .max()
        .unwrap_or_default();
    HEDGE_AFTER + farthest
}

/// The slowest uploads of a segment get at least this long after half are
/// done before they are cut and their shards placed elsewhere.
pub const TAIL_MIN: Duration = Duration::from_millis(600);

/// ... or this many times what the first half took.
const TAIL_FACTOR: u32 = 4;

/// Segments up to this size are encoded and decoded on the async thread
/// (a few microseconds), larger ones on the blocking pool.
const INLINE_CODEC_MAX: usize = 64 << 10;

/// How long the shards of a replaced or deleted object outlive it.
pub const DELETE_DELAY: Duration = Duration::from_secs(30);

/// Shard deletions in flight at once, over all nodes: background cleanup
/// must not crowd out the requests clients wait for (a node refuses
/// streams beyond its per-peer limit).
const DELETES_IN_FLIGHT: usize = 16;

/// Shards of a segment that must be stored for a write to succeed: all of
/// them without parity, else `k + 1` (one loss from unreadable is too
/// close).
pub fn min_stored(scheme: Scheme) -> usize {
    if scheme.m == 0 {
        scheme.k
    } else {
        scheme.k + 1
    }
}

/// The object a read is for, so that a shard found bad on the way queues
/// its segment for repair at once (heal on read). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ObjectRef {
    /// The bucket.
    pub bucket: Arc<str>,
    /// The object key.
    pub key: Arc<str>,
}

impl ObjectRef {
    /// The object `key` in `bucket`.
    pub fn new(bucket: &str, key: &str) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// Segment `segment` of the part at index `part` of the object's parts.
    fn segment(&self, part: u32, segment: u32) -> SegmentKey {
        SegmentKey {
            bucket: self.bucket.to_string(),
            key: self.key.to_string(),
            part,
            segment,
        }
    }
}

/// One part of an object being read: the object and the part's index in
/// its manifest's `parts`.
#[derive(Clone, Debug)]
pub struct PartRef {
    /// The object.
    pub object: ObjectRef,
    /// Index into the manifest's `parts` (not the part number).
    pub index: u32,
}

/// What a write produced.
pub struct Written {
    /// The part's layout (size, ETag, segments).
    pub part: PartLayout,
    /// The scheme used.
    pub scheme: Scheme,
    /// MD5 of the bytes, raw.
    pub md5: [u8; 16],
    /// Keeps the new shards safe from garbage collection; drop it only
    /// after the manifest (or part) is committed or abandoned.
    pub guard: Arc<InflightGuard>,
}

/// How a read opens a part's segments.
#[derive(Clone)]
enum Opening {
    /// Under one key (an object's, or a part write's).
    Key(ObjectKey),
    /// As published content: each under the key from its hash, checked.
    Content(Arc<ContentRef>),
}

/// Published content as a reader needs it: its id, size, segment size and
/// segment hashes, already checked against the id
/// ([`ContentRef::new`]).
#[derive(Clone, Debug)]
pub struct ContentRef {
    cid: ContentId,
    size: u64,
    segment_size: u64,
    hashes: Vec<[u8; 32]>,
    /// Whether its layout is another publisher's (found in the DHT).
    foreign: bool,
}

impl ContentRef {
    /// Content `cid` of `size` bytes in `segment_size`-byte segments with
    /// chaining values `hashes`, refused unless they make `cid`.
    pub fn new(
        cid: ContentId,
        size: u64,
        segment_size: u64,
        hashes: Vec<[u8; 32]>,
    ) -> Result<Self, mesh::content::ManifestError> {
        mesh::content::check_hashes(&cid, size, segment_size, &hashes)?;
        Ok(Self {
            cid,
            size,
            segment_size,
            hashes,
            foreign: false,
        })
    }

    /// The same content, its layout marked as another publisher's: read
    /// failures are not held against the nodes it names.
    pub fn foreign(self) -> Self {
        Self {
            foreign: true,
            ..self
        }
    }

    /// The content id.
    pub fn cid(&self) -> &ContentId {
        &self.cid
    }

    fn check(&self, index: u64, plain: &[u8]) -> bool {
        let (size, segment) = (self.size, self.segment_size);
        mesh::content::check_segment(&self.cid, size, segment, &self.hashes, index, plain)
    }
}

/// Reads and writes object data through the mesh.
#[derive(Clone)]
pub struct DataPath {
    mesh: MeshClient,
    nodes: NodeView,
    params: CodecParams,
    health: Health,
    codecs: Arc<std::sync::Mutex<HashMap<Scheme, Arc<SegmentCodec>>>>,
    deletes: Arc<tokio::sync::Semaphore>,
}

impl DataPath {
    /// A data path over `mesh`, placing on `nodes`, encoding with `params`,
    /// reporting bad shards and in-flight writes to `health`.
    pub fn new(mesh: MeshClient, nodes: NodeView, params: CodecParams, health: Health) -> Self {
        Self {
            mesh,
            nodes,
            params,
            health,
            codecs: Default::default(),
            deletes: Arc::new(tokio::sync::Semaphore::new(DELETES_IN_FLIGHT)),
        }
    }

    /// The mesh client.
    pub fn mesh(&self) -> &MeshClient {
        &self.mesh
    }

    /// The node view.
    pub fn nodes(&self) -> &NodeView {
        &self.nodes
    }

    /// The health registry.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The codec settings.
    pub fn params(&self) -> CodecParams {
        self.params
    }

    /// The codec for `scheme` (one per scheme, cached).
    pub fn codec(&self, scheme: Scheme) -> Result<Arc<SegmentCodec>, DataError> {
        let mut codecs = self.codecs.lock().expect("not poisoned");
        if let Some(codec) = codecs.get(&scheme) {
            return Ok(codec.clone());
        }
        let codec = Arc::new(SegmentCodec::new(scheme, self.params.segment_size)?);
        codecs.insert(scheme, codec.clone());
        Ok(codec)
    }

    /// Streams `body` (of `declared` bytes if known) into the mesh as part
    /// `part_number` of an object sealed with `key` (part 0, a simple
    /// object) or with a key of this write derived from it (a multipart
    /// part; the salt is kept in the returned layout).
    pub async fn write<S, E>(
        &self,
        key: &ObjectKey,
        part_number: u32,
        declared: Option<u64>,
        body: S,
    ) -> Result<Written, DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // A part is sealed under a key of its own write (see
        // `ObjectKey::for_part_write`): its number may be uploaded again.
        let key_salt: Option<[u8; 16]> = (part_number != 0).then(rand::random);
        let part_key = key_salt.map(|salt| key.for_part_write(&salt));
        let key = part_key.as_ref().unwrap_or(key);
        let (mut written, _) = self
            .write_sealed(Some(key), part_number, declared, 0, body)
            .await?;
        written.part.key_salt = key_salt;
        Ok(written)
    }

    /// Streams `body` (of `declared` bytes if known) into the mesh as
    /// published content: each segment sealed under the key derived from
    /// its own blake3 chaining value (`mesh::content`), so the same bytes
    /// make the same shards whoever writes them, with `extra_parity`
    /// parity shards per segment beyond the configured scheme's (the data
    /// shards do not change). Returns the write, the content id and the
    /// segments' chaining values.
    pub async fn write_content<S, E>(
        &self,
        declared: Option<u64>,
        extra_parity: usize,
        body: S,
    ) -> Result<(Written, ContentId, Vec<[u8; 32]>), DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let segment_size = self.params.segment_size as u64;
        mesh::content::check_segment_size(segment_size)?;
        let (written, hashes) = self
            .write_sealed(None, 0, declared, extra_parity, body)
            .await?;
        let (hashes, whole) = hashes.expect("content writes hash their segments");
        let cid = match mesh::content::root_of(written.part.size, segment_size, &hashes)? {
            Some(root) => root,
            None => ContentId::from_hash(whole),
        };
        Ok((written, cid, hashes))
    }

    /// The write behind [`DataPath::write`] (segments sealed under `key`)
    /// and [`DataPath::write_content`] (`None`: each under its content
    /// key); for content, also the segments' chaining values and the hash
    /// of the first segment as a whole (the content id of content of one
    /// segment).
    #[allow(clippy::type_complexity)]
    async fn write_sealed<S, E>(
        &self,
        key: Option<&ObjectKey>,
        part_number: u32,
        declared: Option<u64>,
        extra_parity: usize,
        mut body: S,
    ) -> Result<(Written, Option<(Vec<[u8; 32]>, [u8; 32])>), DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // Parts of a multipart upload are never tiny objects on their own.
        let mut scheme = if part_number == 0 {
            self.params.scheme_for(declared.unwrap_or(u64::MAX))
        } else {
            self.params.scheme
        };
        if extra_parity > 0 {
            scheme = Scheme::new(scheme.k, scheme.m + extra_parity)?;
        }
        let codec = self.codec(scheme)?;
        let mut hashes = Vec::new();
        let mut whole = *blake3::hash(b"").as_bytes();
        let guard = Arc::new(InflightGuard::new(self.health.clone()));
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
            if declared.is_some() && left == 0 {
                // Everything declared is in: only the body's end may follow.
                // (Checked without a segment buffer: zeroing one costs more
                // than a whole small object.)
                if pending.is_some() || !at_end(&mut body, &mut md5, &mut total).await? {
                    drain(&mut body, &mut total).await?;
                }
                break;
            }
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
            let content_key;
            let key = match key {
                Some(key) => key,
                None => {
                    let plain = buffer.filled();
                    let segment_size = codec.segment_size() as u64;
                    let hash = mesh::content::segment_hash(at.index, segment_size, plain);
                    if at.index == 0 {
                        whole = *blake3::hash(plain).as_bytes();
                    }
                    hashes.push(hash);
                    content_key = mesh::content::segment_key(&hash);
                    &content_key
                }
            };
            // Small segments are encoded in place: handing a few KiB to the
            // blocking pool costs more (thread wake-ups) than the work.
            let encoded = if buffer.len() <= INLINE_CODEC_MAX {
                codec.encode(key, at, buffer)?
            } else {
                let (codec2, key2) = (codec.clone(), key.clone());
                tokio::task::spawn_blocking(move || codec2.encode(&key2, at, buffer))
                    .await
                    .expect("encoding does not panic")?
            };
            // One segment uploads while the next is read and encoded.
            if let Some(previous) = upload.take() {
                segments.push(previous.await.expect("upload task does not panic")?);
            }
            let (this, guard2) = (self.clone(), guard.clone());
            upload = Some(tokio::spawn(async move {
                this.place_segment(encoded, scheme, &guard2).await
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
        self.health.metrics().bytes_in.inc_by(total);
        let written = Written {
            part: PartLayout {
                part_number,
                size: total,
                etag: format!("\"{}\"", hex(&md5)),
                segments,
                key_salt: None,
            },
            scheme,
            md5,
            guard,
        };
        Ok((written, key.is_none().then_some((hashes, whole))))
    }

    /// Places one encoded segment and uploads its shards in parallel. Once
    /// half the uploads are done, the rest get a deadline (a few times what
    /// the first half took, at least [`TAIL_MIN`]); a shard whose node fails
    /// or misses it is placed again elsewhere, once.
    ///
    /// When too few nodes are usable for all `k + m` shards (a node down
    /// in a small mesh), the segment is still written if at least
    /// [`min_stored`] shards are stored; the others are recorded with no
    /// node, so the checker queues them for repair at once.
    async fn place_segment(
        &self,
        segment: mesh::codec::EncodedSegment,
        scheme: Scheme,
        guard: &InflightGuard,
    ) -> Result<SegmentLayout, DataError> {
        let cluster = self.nodes.cluster();
        let key = segment.ids[0].0;
        let total = scheme.total();
        let need = min_stored(scheme);
        let len = segment.shard_len as u64;
        // All shards if possible, else as many as the usable nodes allow.
        let mut placed = Err(placement::PlacementError::InvalidShape { k: 0, m: 0 });
        for m in (0..=scheme.m).rev() {
            placed = cluster.place(&key, scheme.k, m, len);
            if placed.is_ok() || scheme.k + m <= need {
                break;
            }
        }
        let placed = placed?;
        let mut nodes: Vec<Option<NodeId>> = vec![None; total];
        for (i, node) in placed.nodes.into_iter().enumerate() {
            nodes[i] = Some(node);
        }
        guard.add(&segment.ids);
        let targets: Vec<(usize, NodeId)> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i, n.clone()?)))
            .collect();
        let result = async {
            let failed = self.upload(&segment, targets).await?;
            // The nodes tried so far are not asked again for this segment.
            let tried = nodes.clone();
            for &i in &failed {
                nodes[i] = None;
            }
            let missing: Vec<usize> = (0..total).filter(|&i| nodes[i].is_none()).collect();
            if !missing.is_empty() {
                self.replace_missing(&cluster, &segment, scheme, &mut nodes, &tried, missing)
                    .await;
            }
            let stored = nodes.iter().filter(|n| n.is_some()).count();
            if stored < need {
                return Err(DataError::Unstored { stored, need });
            }
            if stored < total {
                tracing::warn!(
                    stored,
                    total,
                    "segment written short of some shards; queued for repair"
                );
            }
            Ok(())
        }
        .await;
        result?;
        Ok(SegmentLayout {
            plain_len: segment.plain_len as u64,
            shards: nodes
                .into_iter()
                .zip(&segment.ids)
                .map(|(node, id)| ShardLocation {
                    id: id.0,
                    node: node.map_or_else(Vec::new, |n| n.as_bytes().to_vec()),
                })
                .collect(),
        })
    }

    /// Places the shards at `missing` on nodes not in `tried` and uploads
    /// them, once; fills in `nodes` for those that succeed.
    async fn replace_missing(
        &self,
        cluster: &placement::Cluster,
        segment: &mesh::codec::EncodedSegment,
        scheme: Scheme,
        nodes: &mut [Option<NodeId>],
        tried: &[Option<NodeId>],
        missing: Vec<usize>,
    ) {
        let plan = match cluster.plan_repair(
            &segment.ids[0].0,
            scheme.k,
            scheme.m,
            tried,
            &missing,
            segment.shard_len as u64,
        ) {
            Ok(plan) => plan,
            Err(e) => {
                tracing::debug!(error = %e, "no other node for the missing shards");
                return;
            }
        };
        let Ok(still) = self.upload(segment, plan.assignments.clone()).await else {
            return;
        };
        for (i, node) in plan.assignments {
            if !still.contains(&i) {
                nodes[i] = Some(node);
            }
        }
    }

    /// Uploads shard `i` to node `n` for every `(i, n)` in `targets`, in
    /// parallel, cutting the slow tail. Returns the shard indices that
    /// failed or were cut.
    pub(crate) async fn upload(
        &self,
        segment: &mesh::codec::EncodedSegment,
        targets: Vec<(usize, NodeId)>,
    ) -> Result<Vec<usize>, DataError> {
        use futures_util::stream::FuturesUnordered;
        let started = Instant::now();
        let mut puts = FuturesUnordered::new();
        for (i, node) in &targets {
            let peer = peer_of(node)?;
            let (mut client, id, bytes, i) = (
                self.mesh.shards(),
                segment.ids[*i],
                segment.shards[*i].clone(),
                *i,
            );
            puts.push(async move { (i, client.put(peer, id, &bytes).await) });
        }
        let mut done = vec![false; targets.len()];
        let mut failed = Vec::new();
        let mut finished = 0;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let cut = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                next = puts.next() => {
                    let Some((i, result)) = next else { break };
                    finished += 1;
                    if let Some(slot) = targets.iter().position(|(t, _)| *t == i) {
                        done[slot] = true;
                    }
                    match result {
                        Ok(_) => {
                            self.health.metrics().shards_written.inc();
                        }
                        Err(e) => {
                            tracing::warn!(shard = i, error = %e, "shard upload failed; placing it elsewhere");
                            if let ClientError::Remote { code, .. } = &e
                                && matches!(
                                    code,
                                    ErrorCode::QuotaExceeded
                                        | ErrorCode::NotAccepted
                                        | ErrorCode::CapacityExceeded
                                        | ErrorCode::DiskFull
                                )
                                && let Some((_, node)) = targets.iter().find(|(t, _)| *t == i)
                                && let Ok(peer) = peer_of(node)
                            {
                                self.nodes.note_refusal(peer, *code);
                            }
                            failed.push(i);
                        }
                    }
                    if deadline.is_none() && finished * 2 >= targets.len() && finished < targets.len() {
                        let tail = (started.elapsed() * TAIL_FACTOR).max(TAIL_MIN);
                        deadline = Some(tokio::time::Instant::now() + tail);
                    }
                }
                () = cut => {
                    for (slot, (i, node)) in targets.iter().enumerate() {
                        if !done[slot] {
                            tracing::warn!(shard = i, node = %crate::health::peer_name(node.as_bytes()), "shard upload too slow; placing it elsewhere");
                            failed.push(*i);
                        }
                    }
                    break;
                }
            }
        }
        Ok(failed)
    }

    /// Streams the bytes `range` (end exclusive) of a part written with
    /// `scheme` and `key`; `at` names it (a bad shard found on the way
    /// queues its segment for repair).
    pub fn read(
        &self,
        at: PartRef,
        key: ObjectKey,
        scheme: Scheme,
        part: PartLayout,
        range: std::ops::Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + use<> {
        let key = match &part.key_salt {
            Some(salt) => key.for_part_write(salt),
            None => key,
        };
        self.read_opened(at, Opening::Key(key), scheme, part, range)
    }

    /// Streams the bytes `range` (end exclusive) of published content
    /// `content`, stored as `part` with `scheme`: every segment is checked
    /// against the content id before any of its bytes is handed out (a
    /// segment that does not match ends the stream with
    /// [`DataError::Mismatch`]).
    pub fn read_content(
        &self,
        at: PartRef,
        content: Arc<ContentRef>,
        scheme: Scheme,
        part: PartLayout,
        range: std::ops::Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + use<> {
        self.read_opened(at, Opening::Content(content), scheme, part, range)
    }

    fn read_opened(
        &self,
        at: PartRef,
        opening: Opening,
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
                let (this, opening, at) = (this.clone(), opening.clone(), at.clone());
                async move {
                    let result = match &opening {
                        Opening::Key(key) => {
                            let at = (&at, index);
                            this.read_segment(key, scheme, part_number, at, &segment, true)
                                .await
                        }
                        Opening::Content(content) => {
                            this.read_content_segment(content, scheme, (&at, index), &segment)
                                .await
                        }
                    }
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

    /// Streams the bytes `range` (end exclusive) of `object`, made of
    /// `parts` (one for a simple upload, in order for a multipart one).
    pub fn read_parts(
        &self,
        object: ObjectRef,
        key: ObjectKey,
        scheme: Scheme,
        parts: Vec<PartLayout>,
        range: std::ops::Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + use<> {
        let mut pieces = Vec::new();
        let mut offset = 0u64;
        for (index, part) in parts.into_iter().enumerate() {
            let (start, end) = (offset, offset + part.size);
            offset = end;
            if end <= range.start || start >= range.end {
                continue;
            }
            let local = range.start.max(start) - start..range.end.min(end) - start;
            pieces.push((index as u32, part, local));
        }
        let this = self.clone();
        futures_util::stream::iter(pieces)
            .map(move |(index, part, local)| {
                let at = PartRef {
                    object: object.clone(),
                    index,
                };
                this.read(at, key.clone(), scheme, part, local)
            })
            .flatten()
    }

    /// Protects the shards of `parts` from garbage collection until the
    /// guard is dropped (and a minute after): while their manifest is
    /// briefly gone and may be put back.
    pub fn protect(&self, parts: &[PartLayout]) -> InflightGuard {
        let guard = InflightGuard::new(self.health.clone());
        let ids: Vec<ShardId> = parts
            .iter()
            .flat_map(|p| &p.segments)
            .flat_map(|s| &s.shards)
            .map(|s| ShardId(s.id))
            .collect();
        guard.add(&ids);
        guard
    }

    /// Deletes the shards of `parts` from their nodes, in the background and
    /// best effort (a node that is down keeps them until garbage collection
    /// finds them). Deletion waits [`DELETE_DELAY`] first, so that reads
    /// that started on the old manifest (a GET streaming an object that is
    /// overwritten) still find its shards.
    pub fn delete_shards(&self, parts: Vec<PartLayout>) {
        let (mesh, deletes) = (self.mesh.clone(), self.deletes.clone());
        tokio::spawn(async move {
            tokio::time::sleep(DELETE_DELAY).await;
            for segment in parts.iter().flat_map(|p| &p.segments) {
                for shard in &segment.shards {
                    let Ok(peer) = PeerId::from_bytes(&shard.node) else {
                        continue;
                    };
                    let Ok(_permit) = deletes.acquire().await else {
                        return;
                    };
                    if let Err(e) = mesh.shards().delete(peer, ShardId(shard.id)).await {
                        tracing::debug!(error = %e, "deleting a shard failed");
                    }
                }
            }
        });
    }

    /// Reads segment `index` of published content and checks it against
    /// the content id.
    async fn read_content_segment(
        &self,
        content: &ContentRef,
        scheme: Scheme,
        at: (&PartRef, u64),
        layout: &SegmentLayout,
    ) -> Result<Bytes, DataError> {
        let index = at.1;
        let hash = content
            .hashes
            .get(index as usize)
            .ok_or(DataError::Mismatch(index))?;
        let key = mesh::content::segment_key(hash);
        let plain = self
            .read_segment(&key, scheme, 0, at, layout, !content.foreign)
            .await?;
        let checked = if plain.len() <= INLINE_CODEC_MAX {
            content.check(index, &plain)
        } else {
            let (content, plain) = (content.clone(), plain.clone());
            tokio::task::spawn_blocking(move || content.check(index, &plain))
                .await
                .expect("hashing does not panic")
        };
        if !checked {
            tracing::warn!(cid = %content.cid, segment = index, "a segment of published content does not match its content id");
            return Err(DataError::Mismatch(index));
        }
        Ok(plain)
    }

    /// Fetches k shards of one segment (nearest first, the rest as backups)
    /// and decodes it. `at` is the part and the segment's index in it.
    /// `ours` is false for a layout this gateway did not write (another
    /// publisher's manifest): a shard it names that is missing or wrong is
    /// then no evidence against its node, so nothing is struck, marked or
    /// queued for repair.
    async fn read_segment(
        &self,
        key: &ObjectKey,
        scheme: Scheme,
        part: u32,
        at: (&PartRef, u64),
        layout: &SegmentLayout,
        ours: bool,
    ) -> Result<Bytes, DataError> {
        let (part_ref, index) = at;
        let candidates: Vec<usize> = (0..layout.shards.len()).collect();
        let origin = Some((part_ref, index as u32));
        let (slots, got) = self
            .fetch_judged(layout, candidates, scheme.k, origin, ours)
            .await?;
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
        let plain = if plain_len <= INLINE_CODEC_MAX {
            codec.decode(&key, at, plain_len, &slots)?
        } else {
            tokio::task::spawn_blocking(move || codec.decode(&key, at, plain_len, &slots))
                .await
                .expect("decoding does not panic")?
        };
        self.health.metrics().bytes_out.inc_by(plain.len() as u64);
        Ok(plain)
    }

    /// Fetches `need` of the shards at `candidates` of `layout`, nearest
    /// first. A fetch that fails starts the next candidate at once; while
    /// fetches are slower than [`hedge_period`], one more candidate is
    /// started per period (a hedge), and the first `need` to arrive win.
    /// Every shard is checked against its id; a bad one is a strike against
    /// its node, and, when the segment is named (`origin`: the part and the
    /// segment's index in it, for a client's read), queues the segment for
    /// repair at once (heal on read; `need` is its k). Returns one slot per shard index, and how many are filled.
    pub(crate) async fn fetch_shards(
        &self,
        layout: &SegmentLayout,
        candidates: Vec<usize>,
        need: usize,
        origin: Option<(&PartRef, u32)>,
    ) -> Result<(Vec<Option<Bytes>>, usize), DataError> {
        self.fetch_judged(layout, candidates, need, origin, true)
            .await
    }

    /// [`DataPath::fetch_shards`]; with `judge` false, failures are not
    /// held against nodes (see [`DataPath::read_segment`]).
    async fn fetch_judged(
        &self,
        layout: &SegmentLayout,
        candidates: Vec<usize>,
        need: usize,
        origin: Option<(&PartRef, u32)>,
        judge: bool,
    ) -> Result<(Vec<Option<Bytes>>, usize), DataError> {
        use futures_util::stream::FuturesUnordered;
        // Shards written short have no node.
        let candidates: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| !layout.shards[i].node.is_empty())
            .collect();
        let holders: Vec<NodeId> = candidates
            .iter()
            .map(|&i| NodeId::new(layout.shards[i].node.clone()))
            .collect();
        let mut order: Vec<usize> = self
            .nodes
            .cluster()
            .order_for_read(&holders)
            .into_iter()
            .map(|j| candidates[j])
            .collect();
        // Copies known bad are asked last (they may have been repaired in
        // place, but should not be a first choice).
        order.sort_by_key(|&i| {
            self.health
                .is_bad(&layout.shards[i].node, &layout.shards[i].id)
        });
        let mut slots: Vec<Option<Bytes>> = vec![None; layout.shards.len()];
        let mut got = 0;
        let mut next = 0;
        let mut fetches = FuturesUnordered::new();
        // Fetches run as tasks (the response stream must be Sync, and a
        // libp2p stream is not); the ones still running at the end are
        // aborted.
        let start = |i: usize| -> Result<_, DataError> {
            let shard = &layout.shards[i];
            let peer = PeerId::from_bytes(&shard.node).map_err(|_| DataError::Layout("node id"))?;
            let id = ShardId(shard.id);
            let mut client = self.mesh.shards();
            Ok(tokio::spawn(async move { (i, client.get(peer, id).await) }))
        };
        while next < order.len() && next < need {
            fetches.push(start(order[next])?);
            next += 1;
        }
        let cluster = self.nodes.cluster();
        let period = hedge_period(order[..next].iter().map(|&i| {
            cluster
                .node(&NodeId::new(layout.shards[i].node.clone()))
                .and_then(|n| n.rtt)
        }));
        let mut hedge = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut found_bad = false;
        while got < need {
            tokio::select! {
                done = fetches.next() => {
                    let Some(joined) = done else { break };
                    let (i, result) = joined.expect("fetch tasks do not panic");
                    let node = &layout.shards[i].node;
                    match result {
                        Ok(bytes) => {
                            slots[i] = Some(Bytes::from(bytes));
                            got += 1;
                            self.health.metrics().shards_read.inc();
                        }
                        Err(e) => {
                            if judge {
                                found_bad |= self.strike(node, &layout.shards[i].id, &e);
                            } else {
                                tracing::debug!(node = %crate::health::peer_name(node), error = %e, "a shard another publisher's manifest names could not be read");
                            }
                            if next < order.len() {
                                fetches.push(start(order[next])?);
                                next += 1;
                            }
                        }
                    }
                }
                _ = hedge.tick(), if next < order.len() => {
                    self.health.metrics().hedged_reads.inc();
                    fetches.push(start(order[next])?);
                    next += 1;
                }
            }
        }
        for fetch in fetches.iter() {
            fetch.abort();
        }
        if found_bad && let Some((part, segment)) = origin {
            let at = part.object.segment(part.index, segment);
            crate::health::repair::queue_now(&self.health, at, layout, need);
        }
        Ok((slots, got))
    }

    /// Books a failed shard fetch: a shard that is wrong or missing is an
    /// audit failure of its node and is marked bad. Returns whether the copy
    /// is bad (as opposed to its node being slow or unreachable).
    fn strike(&self, node: &[u8], shard: &[u8; 32], error: &ClientError) -> bool {
        let metrics = self.health.metrics();
        match error {
            ClientError::Corrupt(_) => {
                metrics.failed_read("corrupt");
                tracing::warn!(node = %crate::health::peer_name(node), shard = %ShardId(*shard), "a shard failed verification; reading another");
                if self.health.mark_bad(node, shard) {
                    self.health.record_audit(node, AuditOutcome::Failed);
                }
                true
            }
            ClientError::Remote { code, .. }
                if matches!(code, ErrorCode::NotFound | ErrorCode::Corrupt) =>
            {
                metrics.failed_read("missing");
                tracing::warn!(node = %crate::health::peer_name(node), shard = %ShardId(*shard), ?code, "a node lost a shard; reading another");
                if self.health.mark_bad(node, shard) {
                    self.health.record_audit(node, AuditOutcome::Failed);
                }
                true
            }
            ClientError::Timeout => {
                metrics.failed_read("timeout");
                false
            }
            other => {
                metrics.failed_read("unreachable");
                tracing::debug!(node = %crate::health::peer_name(node), error = %other, "shard read failed; trying another");
                false
            }
        }
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

/// Whether `body` has ended, skipping empty chunks; a chunk with bytes is
/// counted (MD5 and `total`) and means it has not.
async fn at_end<S, E>(body: &mut S, md5: &mut Md5, total: &mut u64) -> Result<bool, DataError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    loop {
        match body.next().await {
            None => return Ok(true),
            Some(Ok(chunk)) if chunk.is_empty() => {}
            Some(Ok(chunk)) => {
                md5.update(&chunk);
                *total += chunk.len() as u64;
                return Ok(false);
            }
            Some(Err(e)) => return Err(DataError::Body(e.to_string())),
        }
    }
}

/// Counts the rest of a body that is longer than declared, storing nothing,
/// so the length error can say how long it was.
async fn drain<S, E>(body: &mut S, total: &mut u64) -> Result<(), DataError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(chunk) = body.next().await {
        *total += chunk.map_err(|e| DataError::Body(e.to_string()))?.len() as u64;
    }
    Ok(())
}

fn peer_of(node: &NodeId) -> Result<PeerId, DataError> {
    PeerId::from_bytes(node.as_bytes()).map_err(|_| DataError::Layout("node id"))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_write_says_stored_and_a_short_read_says_read() {
        let write = DataError::Unstored { stored: 3, need: 5 }.to_string();
        assert_eq!(
            write,
            "only 3 of the 5 shards needed for a segment could be stored"
        );
        let read = DataError::Unavailable { got: 1, need: 4 }.to_string();
        assert!(read.ends_with("could be read"), "{read}");
    }

    #[test]
    fn reads_hedge_later_the_farther_their_holders() {
        let ms = Duration::from_millis;
        // Loopback: the node's work dominates.
        assert_eq!(hedge_period([Some(ms(1)), Some(ms(2))]), ms(302));
        // A holder 120 ms away each way is given its round trip.
        assert_eq!(hedge_period([Some(ms(4)), Some(ms(240))]), ms(540));
        // Unmeasured counts as far; nothing asked yet, just the base.
        assert_eq!(hedge_period([Some(ms(4)), None]), ms(600));
        assert_eq!(hedge_period([]), HEDGE_AFTER);
    }
}
