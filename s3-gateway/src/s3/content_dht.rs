//! Published content in the DHT: this gateway announces every content it
//! keeps (a signed record with the sealed manifest, see
//! `mesh::content::record`) and, asked for a CID it does not keep, finds
//! another publisher's record and reads the content from the nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::identity::Keypair;
use mesh::content::fetch::{FetchError, Fetcher};
use mesh::content::{
    ContentId, ContentManifest, MAX_MANIFEST_BYTES, MAX_SEALED_MANIFEST, ManifestPointer,
    ManifestSegment, NO_NODE, Opened, SignedContentRecord, locator, open_record,
};
use mesh::net::MeshClient;

use crate::meta::{ObjectMeta, PartLayout, SegmentLayout, ShardLocation};
use crate::metrics::GatewayMetrics;

/// How often every kept content is announced again (records live
/// `mesh::content::CONTENT_RECORD_TTL`, three hours).
pub const REANNOUNCE_EVERY: Duration = Duration::from_secs(30 * 60);

/// How long a manifest found in the DHT is reused before looking again.
const RESOLVED_FOR: Duration = Duration::from_secs(60);

/// Most manifests found in the DHT kept in memory.
const RESOLVED_MAX: usize = 1024;

/// Announces and finds content records. Cheap to clone.
#[derive(Clone)]
pub struct ContentDht {
    mesh: MeshClient,
    keypair: Keypair,
    /// Manifests found in the DHT, by CID, with when they were found.
    resolved: Arc<Mutex<Resolved>>,
    /// Publishers struck for a record that did not match its CID, with
    /// when: their records are skipped unread for [`STRUCK_FOR`].
    struck: Arc<Mutex<HashMap<PeerId, Instant>>>,
    /// Publishers whose manifest of a CID a read failed through lately.
    failed: Arc<Mutex<HashMap<(ContentId, PeerId), Instant>>>,
    /// Counts refused records, when the gateway keeps metrics.
    metrics: Option<GatewayMetrics>,
}

/// Segments besides the last whose shards a candidate manifest is probed
/// for.
const PROBE_SAMPLES: usize = 8;
/// How long probing one candidate (or fetching a pointed-to manifest)
/// may take.
const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// How long a resolution probes candidates before settling for what it
/// has.
const RESOLVE_BUDGET: Duration = Duration::from_secs(20);
/// How long a manifest a read failed through is tried after the others.
const FAILED_FOR: Duration = Duration::from_secs(600);

/// How long a publisher struck for a forged record is not listened to.
const STRUCK_FOR: Duration = Duration::from_secs(3600);
/// Most publishers remembered as struck.
const STRUCK_MAX: usize = 4096;

/// Manifests found in the DHT, by CID, with when they were found.
type Resolved = HashMap<ContentId, (Instant, Arc<ContentManifest>, PeerId)>;

/// Why content could not be announced.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// The manifest does not fit a DHT record, even as a pointer.
    #[error("the manifest of {0} is too large to announce ({1} bytes)")]
    TooLarge(String, usize),
    /// The stored manifest is not a content manifest.
    #[error("{0}")]
    Manifest(String),
    /// Keeping a large manifest as content failed.
    #[error("keeping the manifest as content: {0}")]
    Store(String),
    /// The mesh task is gone.
    #[error("{0}")]
    Mesh(#[from] mesh::net::MeshError),
}

impl ContentDht {
    /// Announces through `mesh`, signing with `keypair` (the gateway's
    /// identity).
    pub fn new(mesh: MeshClient, keypair: Keypair) -> Self {
        Self {
            mesh,
            keypair,
            resolved: Default::default(),
            struck: Default::default(),
            failed: Default::default(),
            metrics: None,
        }
    }

    /// Counts refused records in `metrics`.
    pub fn with_metrics(self, metrics: GatewayMetrics) -> Self {
        Self {
            metrics: Some(metrics),
            ..self
        }
    }

    /// Notes that reading `cid` through the manifest last resolved for it
    /// failed: it is forgotten, and its publisher's record is tried only
    /// after the others for [`FAILED_FOR`] (no strike: nodes may have been
    /// down).
    pub fn read_failed(&self, cid: &ContentId) {
        let entry = self.resolved.lock().expect("not poisoned").remove(cid);
        if let Some((_, _, publisher)) = entry {
            let mut failed = self.failed.lock().expect("not poisoned");
            if failed.len() >= STRUCK_MAX {
                failed.retain(|_, at| at.elapsed() < FAILED_FOR);
                if failed.len() >= STRUCK_MAX {
                    failed.clear();
                }
            }
            failed.insert((*cid, publisher), Instant::now());
        }
    }

    fn failed_lately(&self, cid: &ContentId, publisher: &PeerId) -> bool {
        let failed = self.failed.lock().expect("not poisoned");
        failed
            .get(&(*cid, *publisher))
            .is_some_and(|at| at.elapsed() < FAILED_FOR)
    }

    /// Whether `publisher` is struck now.
    fn is_struck(&self, publisher: &PeerId) -> bool {
        let struck = self.struck.lock().expect("not poisoned");
        struck
            .get(publisher)
            .is_some_and(|at| at.elapsed() < STRUCK_FOR)
    }

    /// Strikes `publisher` for a record that does not match its CID.
    fn strike(&self, publisher: PeerId) {
        let mut struck = self.struck.lock().expect("not poisoned");
        if struck.len() >= STRUCK_MAX {
            struck.retain(|_, at| at.elapsed() < STRUCK_FOR);
            if struck.len() >= STRUCK_MAX {
                struck.clear();
            }
        }
        struck.insert(publisher, Instant::now());
        drop(struck);
        self.refused();
    }

    fn refused(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.content_records_refused.inc();
        }
    }

    /// Stores this gateway's signed record for `cid` carrying `sealed` (a
    /// sealed manifest or manifest pointer) and announces it as a
    /// provider.
    pub async fn announce_sealed(
        &self,
        cid: &ContentId,
        sealed: Vec<u8>,
    ) -> Result<(), AnnounceError> {
        if sealed.len() > MAX_SEALED_MANIFEST {
            return Err(AnnounceError::TooLarge(cid.to_string(), sealed.len()));
        }
        let locator = locator(cid);
        let (key, value) = SignedContentRecord::sign(&locator, sealed, &self.keypair);
        self.mesh.publish_content(locator, key, value).await?;
        Ok(())
    }

    /// Replaces this gateway's record for `cid` with a withdrawal: it no
    /// longer keeps the content, and readers should not follow its old
    /// layout while that record would live on.
    pub async fn withdraw(&self, cid: &ContentId) -> Result<(), AnnounceError> {
        self.resolved.lock().expect("not poisoned").remove(cid);
        self.announce_sealed(cid, mesh::content::withdrawal(cid))
            .await
    }

    /// Finds `cid`'s manifest in the DHT: from the newest record of any
    /// publisher that verifies and opens into a manifest checked against
    /// the CID, or into a pointer to a manifest (then fetched from the
    /// nodes and checked); records that do not are logged and skipped, and
    /// the next newest tried. `None` if no publisher has a usable one.
    pub async fn resolve(&self, cid: &ContentId) -> Option<Arc<ContentManifest>> {
        if let Some((at, manifest, _)) = self.resolved.lock().expect("not poisoned").get(cid)
            && at.elapsed() < RESOLVED_FOR
        {
            return Some(manifest.clone());
        }
        let found = match self.mesh.find_content(locator(cid)).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look content up");
                return None;
            }
        };
        let mut candidates = Vec::new();
        for (key, value) in found {
            let (publisher, record) = match SignedContentRecord::verify(&key, &value) {
                Ok(verified) => verified,
                Err(e) => {
                    tracing::info!(%cid, error = %e, "skipping a content record");
                    continue;
                }
            };
            if self.is_struck(&publisher) {
                tracing::debug!(%cid, %publisher, "skipping the record of a struck publisher");
                self.refused();
                continue;
            }
            match open_record(&record.sealed, cid) {
                Ok(opened) => candidates.push((record.issued_at, publisher, opened)),
                Err(e) => {
                    tracing::warn!(%cid, %publisher, error = %e, "a publisher's manifest does not match its content id; publisher struck");
                    self.strike(publisher);
                }
            }
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        // Newest first: the first whose manifest passes a probe; failing
        // that, the newest that could not be probed for want of nodes (or
        // time), or that a read failed through lately.
        let started = Instant::now();
        let mut chosen = None;
        let mut fallback = None;
        for (_, publisher, opened) in candidates {
            let manifest = match opened {
                Opened::Manifest(manifest) => manifest,
                // Its publisher let it go: its older layout is not asked.
                Opened::Withdrawn => continue,
                Opened::Pointer(pointer) => {
                    let followed = tokio::time::timeout(PROBE_LIMIT, self.follow(cid, pointer));
                    match followed.await {
                        Ok(Ok(Ok(manifest))) => manifest,
                        Ok(Ok(Err(e))) => {
                            tracing::warn!(%cid, %publisher, error = %e, "a publisher's pointed manifest does not match its content id; publisher struck");
                            self.strike(publisher);
                            continue;
                        }
                        // Nodes down, perhaps: no evidence against anyone.
                        Ok(Err(e)) => {
                            tracing::warn!(%cid, %publisher, error = %e, "a publisher's manifest pointer leads to nothing readable");
                            continue;
                        }
                        Err(_) => {
                            tracing::warn!(%cid, %publisher, "a publisher's pointed manifest could not be fetched in time");
                            continue;
                        }
                    }
                }
            };
            let manifest = Arc::new(manifest);
            if self.failed_lately(cid, &publisher) || started.elapsed() > RESOLVE_BUDGET {
                fallback.get_or_insert((manifest, publisher));
                continue;
            }
            let probed = match Fetcher::new(self.mesh.clone(), manifest.clone()) {
                Ok(fetcher) => fetcher.probe(cid, PROBE_SAMPLES, PROBE_LIMIT).await,
                Err(e) => Err(e),
            };
            match probed {
                Ok(()) => {
                    chosen = Some((manifest, publisher));
                    break;
                }
                Err(FetchError::Unavailable { index, got, .. }) => {
                    tracing::info!(%cid, %publisher, segment = index, got, "a manifest's shards could not be probed; trying older records");
                    fallback.get_or_insert((manifest, publisher));
                }
                Err(e) => {
                    tracing::warn!(%cid, %publisher, error = %e, "a publisher's manifest does not lead to its content; publisher struck");
                    self.strike(publisher);
                }
            }
        }
        let (manifest, publisher) = chosen.or(fallback)?;
        let mut resolved = self.resolved.lock().expect("not poisoned");
        if resolved.len() >= RESOLVED_MAX {
            resolved.retain(|_, (at, _, _)| at.elapsed() < RESOLVED_FOR);
            if resolved.len() >= RESOLVED_MAX {
                resolved.clear();
            }
        }
        resolved.insert(*cid, (Instant::now(), manifest.clone(), publisher));
        Some(manifest)
    }

    /// Fetches the manifest `pointer` names (an error if it cannot be
    /// read whole) and checks it against `cid` (the inner error if it does
    /// not match: a forgery).
    async fn follow(
        &self,
        cid: &ContentId,
        pointer: ManifestPointer,
    ) -> Result<Result<ContentManifest, mesh::content::ManifestError>, String> {
        let inner = pointer.manifest_cid();
        let fetcher =
            Fetcher::new(self.mesh.clone(), Arc::new(pointer.layout)).map_err(|e| e.to_string())?;
        let bytes = fetcher
            .whole(&inner, MAX_MANIFEST_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        Ok(ContentManifest::from_bytes(&bytes, cid))
    }
}

/// `field` if a manifest can carry it.
fn fits(field: &Option<String>) -> Option<String> {
    field
        .clone()
        .filter(|f| f.len() <= mesh::content::MAX_MANIFEST_FIELD)
}

/// The DHT manifest of content kept as `meta` (one part, its segments'
/// hashes in its metadata entry).
pub fn manifest_of(meta: &ObjectMeta) -> Result<ContentManifest, AnnounceError> {
    let [part] = meta.parts.as_slice() else {
        return Err(AnnounceError::Manifest("content has one part".into()));
    };
    let hashes = super::content::hashes_of(meta)
        .filter(|h| h.len() == part.segments.len())
        .ok_or_else(|| AnnounceError::Manifest("a hash per segment".into()))?;
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut index: HashMap<Vec<u8>, u16> = HashMap::new();
    let mut segments = Vec::with_capacity(part.segments.len());
    for (segment, hash) in part.segments.iter().zip(&hashes) {
        let shards = segment
            .shards
            .iter()
            .map(|shard| {
                let at = if shard.node.is_empty() {
                    NO_NODE
                } else {
                    *index.entry(shard.node.clone()).or_insert_with(|| {
                        nodes.push(shard.node.clone());
                        (nodes.len() - 1) as u16
                    })
                };
                (shard.id, at)
            })
            .collect();
        segments.push(ManifestSegment {
            hash: *hash,
            shards,
        });
    }
    Ok(ContentManifest {
        size: meta.size,
        segment_size: meta.segment_size,
        k: meta.k,
        m: meta.m,
        // What a manifest cannot carry is left out (served without).
        content_type: fits(&meta.content_type),
        disposition: fits(&meta.content_disposition),
        nodes,
        segments,
    })
}

/// Content found in the DHT as this gateway's read path takes it: a
/// manifest with one part and the segments' hashes.
pub fn meta_of(cid: &ContentId, manifest: &ContentManifest) -> ObjectMeta {
    let node = |i: u16| match i {
        NO_NODE => Vec::new(),
        i => manifest.nodes[i as usize].clone(),
    };
    let segments = manifest
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| SegmentLayout {
            plain_len: manifest.segment_len(i as u64),
            shards: s
                .shards
                .iter()
                .map(|&(id, at)| ShardLocation { id, node: node(at) })
                .collect(),
        })
        .collect();
    ObjectMeta {
        size: manifest.size,
        etag: format!("\"{cid}\""),
        content_type: manifest.content_type.clone(),
        content_disposition: manifest.disposition.clone(),
        segment_size: manifest.segment_size,
        k: manifest.k,
        m: manifest.m,
        parts: vec![PartLayout {
            part_number: 0,
            size: manifest.size,
            etag: format!("\"{cid}\""),
            segments,
            key_salt: None,
        }],
        user_metadata: vec![super::content::hashes_entry(&manifest.hashes())],
        ..ObjectMeta::default()
    }
}
