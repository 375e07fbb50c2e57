//! `cairn gateway recover`: rebuild a lost gateway's metadata store from
//! its backups in the mesh, with only its master key and identity.
//!
//! Everything is written to `meta.redb.partial` in the new data directory
//! and renamed to `meta.redb` only once the newest snapshot and every log
//! after it have been applied and checked: a failure at any point leaves
//! no store a gateway would start on.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use mesh::codec::{CodecParams, Scheme};
use mesh::net::MeshClient;
use placement::Policy;

use super::format::{BackupReader, FormatError};
use super::pointer::{self, BackupRef, PointerBody};
use super::{INTERNAL_BUCKET, now_ms};
use crate::admin::metrics::GatewayMetrics;
use crate::data::keywrap::MasterKey;
use crate::data::nodes::NodeView;
use crate::data::{DataPath, ObjectRef};
use crate::health::{Health, HealthConfig};
use crate::meta::MetaStore;
use crate::meta::redb::RedbStore;

/// What a recovery needs.
pub struct RecoverOptions {
    /// The new data directory (must hold no metadata store yet).
    pub data_dir: PathBuf,
    /// The gateway's master key.
    pub master: MasterKey,
    /// The gateway's identity.
    pub keypair: Keypair,
    /// Nodes to enter the mesh through.
    pub bootstrap: Vec<Multiaddr>,
    /// Restore the state as of this time (unix ms) instead of the newest.
    pub at: Option<u64>,
}

/// What a recovery did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RecoverReport {
    /// Nodes found in the mesh.
    pub nodes: usize,
    /// Nodes that held the pointer used.
    pub pointer_copies: usize,
    /// The pointer's sequence number.
    pub pointer_seq: u64,
    /// When the newest backup applied read the old store (unix ms).
    pub recovery_point_ms: u64,
    /// Compressed backup bytes fetched.
    pub bytes_fetched: u64,
    /// Logs replayed after the snapshot.
    pub logs: usize,
    /// Changes applied (snapshot rows and log entries).
    pub changes: u64,
    /// Buckets restored.
    pub buckets: usize,
    /// Objects restored.
    pub objects: usize,
    /// Access keys restored.
    pub keys: usize,
    /// Shard copies the manifests name.
    pub shard_copies: usize,
    /// Of those, copies a reachable node does not hold (marked bad: the
    /// gateway repairs them when it starts).
    pub missing_copies: usize,
    /// Nodes that could not be listed (their copies are checked by audits).
    pub unlisted_nodes: usize,
    /// Seconds the recovery took.
    pub seconds: f64,
}

/// Why a recovery failed (nothing usable is left behind).
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The data directory already has a metadata store.
    #[error("{0} already holds a metadata store: recover into a new, empty data directory")]
    Exists(PathBuf),
    /// Files.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The new store.
    #[error("metadata: {0}")]
    Meta(#[from] crate::meta::MetaError),
    /// The mesh.
    #[error("mesh: {0}")]
    Mesh(#[from] mesh::net::MeshError),
    /// No node could be reached.
    #[error("no storage node answered through the bootstrap addresses given")]
    NoNodes,
    /// No usable pointer.
    #[error("{0}")]
    Pointer(#[from] pointer::FindError),
    /// The pointer lists nothing old enough.
    #[error("the backups retained start at {oldest} (unix ms); nothing as old as {at}")]
    TooOld {
        /// The time asked for.
        at: u64,
        /// The oldest snapshot's time.
        oldest: u64,
    },
    /// The master key does not open the backups.
    #[error("the master key does not open the backups of this gateway: wrong key file ({0})")]
    WrongMasterKey(String),
    /// A backup could not be read or is damaged.
    #[error("backup {name}: {reason}")]
    Backup {
        /// Which backup.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// A [`std::io::Read`] over chunks arriving from the data path.
struct ChunkSource {
    rx: std::sync::mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl std::io::Read for ChunkSource {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => self.current = chunk,
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// How long verification waits for one page of a node's shard list.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Changes applied per write transaction.
const APPLY_BATCH: usize = 20_000;

/// Streams backup `backup` from the mesh into `store`; returns (changes,
/// bytes fetched).
async fn apply_backup(
    data: &DataPath,
    master: &MasterKey,
    owner: &PeerId,
    store: &RedbStore,
    backup: &BackupRef,
) -> Result<(u64, u64), RecoverError> {
    let failed = |reason: String| RecoverError::Backup {
        name: backup.name.clone(),
        reason,
    };
    let meta = &backup.meta;
    let key = master
        .unwrap(&meta.encryption_key)
        .map_err(|e| RecoverError::WrongMasterKey(e.to_string()))?;
    let scheme = Scheme::new(meta.k as usize, meta.m as usize)
        .map_err(|e| failed(format!("bad scheme: {e}")))?;
    let stream = data.read_parts(
        ObjectRef::new(INTERNAL_BUCKET, &backup.name),
        key,
        scheme,
        meta.parts.clone(),
        0..meta.size,
    );
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Bytes, String>>(4);
    let (store2, expected) = (store.clone(), backup.clone());
    let owner_bytes = owner.to_bytes();
    let apply = tokio::task::spawn_blocking(move || -> Result<u64, String> {
        let source = ChunkSource {
            rx,
            current: Bytes::new(),
        };
        let mut reader = BackupReader::open(source).map_err(|e| e.to_string())?;
        let header = reader.header().clone();
        if header.seq != expected.seq || header.kind != expected.kind {
            return Err("its header names another backup".into());
        }
        if header.gateway != owner_bytes {
            return Err("it was written by another gateway".into());
        }
        let mut batch = Vec::with_capacity(APPLY_BATCH);
        let mut count = 0u64;
        loop {
            match reader.next_change() {
                Ok(Some(change)) => {
                    batch.push(change);
                    count += 1;
                    if batch.len() >= APPLY_BATCH {
                        store2.apply_changes(&batch).map_err(|e| e.to_string())?;
                        batch.clear();
                    }
                }
                Ok(None) => break,
                Err(FormatError::Io(e)) => return Err(format!("reading it failed: {e}")),
                Err(e) => return Err(e.to_string()),
            }
        }
        store2.apply_changes(&batch).map_err(|e| e.to_string())?;
        Ok(count)
    });
    let mut fetched = 0u64;
    let mut stream = std::pin::pin!(stream);
    let mut read_error = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                read_error = Some(e.to_string());
                let _ = tx.send(Err(e.to_string()));
                break;
            }
        };
        fetched += chunk.len() as u64;
        if tx.send(Ok(chunk)).is_err() {
            break;
        }
    }
    drop(tx);
    let applied = apply
        .await
        .map_err(|e| failed(format!("the restore thread failed: {e}")))?;
    if let Some(e) = read_error {
        return Err(failed(format!("fetching it from the mesh failed: {e}")));
    }
    if fetched != meta.size {
        return Err(failed(format!(
            "{fetched} of its {} bytes could be fetched",
            meta.size
        )));
    }
    let changes = applied.map_err(failed)?;
    Ok((changes, fetched))
}

/// Joins the mesh and waits until the nodes found stop growing (or a
/// deadline passes).
async fn join(
    mesh: &MeshClient,
    nodes: &NodeView,
    bootstrap: &[Multiaddr],
) -> Result<(), RecoverError> {
    for addr in bootstrap {
        if let Err(e) = mesh.dial(addr).await {
            tracing::warn!(%addr, error = %e, "cannot reach bootstrap node");
        }
    }
    let mut dialled = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut last, mut steady) = (0, 0);
    loop {
        nodes.refresh(&mut dialled).await;
        let now = nodes.len();
        steady = if now == last && now > 0 {
            steady + 1
        } else {
            0
        };
        last = now;
        if steady >= 3 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if nodes.is_empty() {
        return Err(RecoverError::NoNodes);
    }
    Ok(())
}

/// Recovers into `options.data_dir`; `progress` hears each step.
pub async fn recover(
    options: RecoverOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RecoverReport, RecoverError> {
    let started = Instant::now();
    let dir = &options.data_dir;
    let final_path = dir.join("meta.redb");
    if final_path.exists() {
        return Err(RecoverError::Exists(final_path));
    }
    crate::server::private_dir(dir)?;
    let partial = dir.join("meta.redb.partial");
    match std::fs::remove_file(&partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let result = recover_into(&options, &partial, progress).await;
    match result {
        Ok(mut report) => {
            std::fs::rename(&partial, &final_path)?;
            std::fs::File::open(dir)?.sync_all()?;
            report.seconds = started.elapsed().as_secs_f64();
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

async fn recover_into(
    options: &RecoverOptions,
    partial: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RecoverReport, RecoverError> {
    let mut report = RecoverReport::default();
    let owner = options.keypair.public().to_peer_id();
    let store = RedbStore::open(partial)?;
    let meta = MetaStore::new(store.clone());
    let metrics = GatewayMetrics::new();
    let health = Health::load(HealthConfig::default(), meta.clone(), metrics).await?;
    let mesh = MeshClient::spawn(options.keypair.clone(), Duration::from_secs(30))?;
    let policy = Policy {
        distinct_subnets: false,
        ..Policy::default()
    };
    let nodes = NodeView::new(mesh.clone(), policy, health.clone());
    progress(&format!("joining the mesh as {owner}"));
    join(&mesh, &nodes, &options.bootstrap).await?;
    let peers: Vec<PeerId> = nodes
        .cluster()
        .nodes()
        .iter()
        .filter_map(|n| PeerId::from_bytes(n.id.as_ref()).ok())
        .collect();
    report.nodes = peers.len();
    progress(&format!("{} storage nodes found", peers.len()));

    let (body, copies): (PointerBody, usize) = pointer::find(&mesh, &owner, peers.clone()).await?;
    report.pointer_copies = copies;
    report.pointer_seq = body.seq;
    let (snapshot, logs) = body.plan(options.at).ok_or_else(|| RecoverError::TooOld {
        at: options.at.unwrap_or(0),
        oldest: body.snapshots.first().map_or(0, |s| s.read_at_ms),
    })?;
    progress(&format!(
        "backup pointer {} (on {copies} nodes): a snapshot read {:.1} s ago, {} logs after it",
        body.seq,
        now_ms().saturating_sub(snapshot.read_at_ms) as f64 / 1000.0,
        logs.len()
    ));

    let data = DataPath::new(mesh.clone(), nodes.clone(), CodecParams::default(), health);
    let (changes, bytes) = apply_backup(&data, &options.master, &owner, &store, &snapshot).await?;
    report.changes += changes;
    report.bytes_fetched += bytes;
    progress(&format!(
        "snapshot: {bytes} bytes fetched, {changes} rows restored"
    ));
    for (i, log) in logs.iter().enumerate() {
        let (changes, bytes) = apply_backup(&data, &options.master, &owner, &store, log).await?;
        report.changes += changes;
        report.bytes_fetched += bytes;
        if i + 1 == logs.len() || (i + 1) % 20 == 0 {
            progress(&format!(
                "log {}/{}: {} changes replayed in all",
                i + 1,
                logs.len(),
                report.changes
            ));
        }
    }
    report.logs = logs.len();
    report.recovery_point_ms = logs.last().unwrap_or(&snapshot).read_at_ms;

    // The restored store was written under this master key.
    match meta.master_key_check().await? {
        Some(check) if check == options.master.check_value() => {}
        _ => {
            return Err(RecoverError::WrongMasterKey(
                "the restored store records another master key".into(),
            ));
        }
    }
    // The backups the pointer lists become the new gateway's: it keeps
    // them audited and renewed, and drops them after its own snapshot.
    let kept: Vec<&BackupRef> = body
        .snapshots
        .iter()
        .filter(|s| s.seq <= snapshot.seq)
        .chain(std::iter::once(&snapshot))
        .chain(logs.iter())
        .collect();
    for backup in kept {
        store.set_internal_object(&backup.name, Some(&backup.meta))?;
    }

    report.buckets = meta.list_buckets().await?.len();
    report.keys = meta.list_key_ids().await?.len();
    let mut objects = 0usize;
    meta.for_each_object(|bucket, _, _| {
        // Noncurrent versions are not objects of their own.
        if bucket != INTERNAL_BUCKET && crate::meta::owning_bucket(bucket) == bucket {
            objects += 1;
        }
    })
    .await?;
    report.objects = objects;
    verify_shards(&mesh, &meta, &peers, &mut report).await?;
    progress(&format!(
        "verified: {} objects in {} buckets, {} keys; {} shard copies named, {} missing (queued for repair), {} nodes not listed",
        report.objects,
        report.buckets,
        report.keys,
        report.shard_copies,
        report.missing_copies,
        report.unlisted_nodes
    ));
    Ok(report)
}

/// Lists what every node holds for this gateway and marks each copy a
/// manifest names but a listed node lacks as bad (repaired when the
/// gateway starts).
async fn verify_shards(
    mesh: &MeshClient,
    meta: &MetaStore,
    peers: &[PeerId],
    report: &mut RecoverReport,
) -> Result<(), RecoverError> {
    let references = meta.shard_references().await?;
    report.shard_copies = references.len();
    let listed = futures_util::stream::iter(peers.iter().copied())
        .map(|peer| async move {
            let mut shards = mesh.shards();
            let mut held = HashSet::new();
            let mut after = None;
            loop {
                let page = tokio::time::timeout(
                    LIST_TIMEOUT,
                    shards.list(peer, after, mesh::wire::MAX_LIST_LIMIT),
                )
                .await
                .unwrap_or(Err(mesh::net::ClientError::Unexpected("timed out")));
                match page {
                    Ok((page, more)) => {
                        after = page.last().map(|(id, _)| *id);
                        held.extend(page.into_iter().map(|(id, _)| id.0));
                        if !more || after.is_none() {
                            return (peer, Some(held));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "cannot list a node's shards");
                        return (peer, None);
                    }
                }
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let held: HashMap<Vec<u8>, Option<HashSet<[u8; 32]>>> = listed
        .into_iter()
        .map(|(peer, held)| (peer.to_bytes(), held))
        .collect();
    report.unlisted_nodes = held.values().filter(|h| h.is_none()).count();
    let now = now_ms();
    for copy in &references {
        if let Some(Some(set)) = held.get(&copy.0)
            && !set.contains(&copy.1)
        {
            report.missing_copies += 1;
            meta.mark_bad_shard(&copy.0, &copy.1, now).await?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` with mode 0600, unless the file exists
/// already with the same bytes; another content there is an error.
pub fn write_key_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(existing) if existing == bytes => return Ok(()),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists with another key", path.display()),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
