//! Metadata backups in the mesh: losing the gateway's disk loses nothing.
//!
//! The embedded store (`meta.redb`) is the only copy of every manifest. A
//! gateway using it backs it up into the mesh itself, as objects of its own
//! (sealed under a fresh key wrapped by the master key, erasure-coded,
//! placed, audited, repaired and renewed like any object, in the internal
//! bucket [`INTERNAL_BUCKET`] that S3 never shows):
//!
//! * a **snapshot** (every backed-up row, from one read transaction,
//!   zstd-compressed: see [`format`]) at start, then every
//!   [`BackupConfig::logs_per_snapshot`] logs or [`BackupConfig::snapshot_every`];
//! * between snapshots, every [`BackupConfig::every`] (one second), a
//!   **log** of the rows changed since the previous backup, each with its
//!   value as of the log's read transaction;
//! * a signed **pointer** (see [`pointer`]) listing the retained
//!   snapshots and the logs after the newest, written to several nodes
//!   after each backup. A new snapshot lets the older logs and all but the
//!   newest [`BackupConfig::keep_snapshots`] snapshots be deleted.
//!
//! `cairn gateway recover` ([`restore`]) finds the pointer with the
//! gateway's identity alone and rebuilds the store from the newest snapshot
//! and its logs. What a lost disk can take with it is what was
//! acknowledged after the newest published backup read the store: about
//! one interval plus the time to store a log (the recovery point, exported
//! as `cairn_gateway_backup_point_ms`).

pub mod format;
pub mod keys;
pub mod pointer;
pub mod restore;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use libp2p::PeerId;
use libp2p::identity::Keypair;
use mesh::codec::ObjectKey;

use crate::admin::metrics::GatewayMetrics;
use crate::data::DataPath;
use crate::data::keywrap::MasterKey;
use crate::meta::ObjectMeta;
use crate::meta::redb::RedbStore;
pub use crate::meta::redb::journal::INTERNAL_BUCKET;
use crate::meta::redb::journal::{ChangedRows, Taken};
use format::{BackupWriter, Header, Kind};
use pointer::{BackupRef, PointerBody};

/// How often and how much the gateway backs up.
#[derive(Clone, Debug)]
pub struct BackupConfig {
    /// How often changed rows are shipped as a log.
    pub every: Duration,
    /// A snapshot after this many logs.
    pub logs_per_snapshot: usize,
    /// A snapshot at least this often.
    pub snapshot_every: Duration,
    /// Snapshots kept (the newest; `--at` can go back to the oldest).
    pub keep_snapshots: usize,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(1),
            logs_per_snapshot: 120,
            snapshot_every: Duration::from_secs(30 * 60),
            keep_snapshots: 3,
        }
    }
}

/// Why a backup could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading the store.
    #[error("metadata: {0}")]
    Meta(#[from] crate::meta::MetaError),
    /// Writing to the mesh.
    #[error("mesh: {0}")]
    Data(#[from] crate::data::DataError),
    /// Encoding.
    #[error("encoding: {0}")]
    Io(#[from] std::io::Error),
    /// No node took the pointer.
    #[error("no node took the backup pointer")]
    Unpublished,
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The internal object name of a backup.
fn object_name(kind: Kind, seq: u64) -> String {
    match kind {
        Kind::Snapshot => format!("backup/snapshot-{seq:020}"),
        Kind::Log => format!("backup/log-{seq:020}"),
    }
}

/// The kind and sequence number in a backup's object name.
fn parse_name(name: &str) -> Option<(Kind, u64)> {
    let rest = name.strip_prefix("backup/")?;
    if let Some(seq) = rest.strip_prefix("snapshot-") {
        return Some((Kind::Snapshot, seq.parse().ok()?));
    }
    Some((Kind::Log, rest.strip_prefix("log-")?.parse().ok()?))
}

/// A [`std::io::Write`] that hands the bytes written to the data path in
/// chunks, from a blocking thread.
struct ChunkSink {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    written: u64,
}

const CHUNK: usize = 256 * 1024;

impl ChunkSink {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.written += chunk.len() as u64;
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the mesh write stopped"))
    }
}

impl std::io::Write for ChunkSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one stored backup came to.
struct Stored {
    backup: BackupRef,
    changes: u64,
    bytes: u64,
    /// Keeps the new shards from garbage collection until the manifest is
    /// recorded (dropped with this).
    _guard: Arc<crate::health::InflightGuard>,
}

/// Stores one backup: `produce` (on a blocking thread) reads the store
/// and pushes changes; the bytes stream into the mesh as they come.
async fn store_backup<F>(
    data: &DataPath,
    master: &MasterKey,
    gateway: &PeerId,
    kind: Kind,
    seq: u64,
    produce: F,
) -> Result<Stored, BackupError>
where
    F: FnOnce(&mut BackupWriter<ChunkSink>) -> Result<(), BackupError> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let read_at_ms = now_ms();
    let header = Header {
        kind,
        seq,
        read_at_ms,
        gateway: gateway.to_bytes(),
    };
    let producer = tokio::task::spawn_blocking(move || -> Result<(u64, u64), BackupError> {
        let sink = ChunkSink {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
            written: 0,
        };
        let mut writer = BackupWriter::new(sink, &header)?;
        let result = produce(&mut writer);
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            return Err(e);
        }
        let changes = writer.changes();
        let mut sink = writer.finish()?;
        sink.send()?;
        Ok((changes, sink.written))
    });
    let key = ObjectKey::generate();
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let written = data.write(&key, 0, None, body).await;
    let produced = producer
        .await
        .map_err(|e| std::io::Error::other(format!("the backup thread failed: {e}")))?;
    let written = written?;
    let (changes, bytes) = produced?;
    let meta = ObjectMeta {
        size: written.part.size,
        etag: written.part.etag.clone(),
        last_modified: read_at_ms,
        content_type: Some("application/vnd.cairn.metadata-backup".into()),
        encryption_key: master.wrap(&key),
        segment_size: data.params().segment_size as u64,
        k: written.scheme.k as u8,
        m: written.scheme.m as u8,
        parts: vec![written.part],
        ..ObjectMeta::default()
    };
    Ok(Stored {
        backup: BackupRef {
            name: object_name(kind, seq),
            kind,
            seq,
            read_at_ms,
            meta,
        },
        changes,
        bytes,
        _guard: written.guard,
    })
}

/// The backup loop of a gateway on the embedded store.
pub struct Backup {
    redb: RedbStore,
    data: DataPath,
    master: Arc<MasterKey>,
    keypair: Keypair,
    metrics: GatewayMetrics,
    config: BackupConfig,
    pointer: PointerBody,
    published: bool,
    /// Backups dropped from the pointer, deleted once a pointer without
    /// them is published.
    garbage: Vec<BackupRef>,
    need_snapshot: bool,
    last_snapshot: Instant,
    last_seq: u64,
}

impl Backup {
    /// A backup loop over `redb`, storing through `data`, signing the
    /// pointer with `keypair`. Picks up the backups a previous run left
    /// (listed in the store), and starts with a snapshot.
    pub fn new(
        redb: RedbStore,
        data: DataPath,
        master: Arc<MasterKey>,
        keypair: Keypair,
        metrics: GatewayMetrics,
        config: BackupConfig,
    ) -> Result<Self, BackupError> {
        let mut pointer = PointerBody::default();
        let mut last_seq = 0;
        for (name, meta) in redb.internal_objects()? {
            let Some((kind, seq)) = parse_name(&name) else {
                continue;
            };
            last_seq = last_seq.max(seq);
            let backup = BackupRef {
                name,
                kind,
                seq,
                read_at_ms: meta.last_modified,
                meta,
            };
            match kind {
                Kind::Snapshot => pointer.snapshots.push(backup),
                Kind::Log => pointer.logs.push(backup),
            }
        }
        pointer.snapshots.sort_by_key(|b| b.seq);
        pointer.logs.sort_by_key(|b| b.seq);
        let newest = pointer.snapshots.last().map_or(0, |s| s.seq);
        let (logs, garbage) = pointer.logs.drain(..).partition(|l| l.seq > newest);
        pointer.logs = logs;
        pointer.seq = last_seq;
        Ok(Self {
            redb,
            data,
            master,
            keypair,
            metrics,
            config,
            pointer,
            published: false,
            garbage,
            need_snapshot: true,
            last_snapshot: Instant::now(),
            last_seq,
        })
    }

    fn next_seq(&mut self) -> u64 {
        // Milliseconds, so that a recovered gateway (which starts from the
        // pointer it recovered) always continues above every earlier one.
        self.last_seq = (self.last_seq + 1).max(now_ms());
        self.last_seq
    }

    /// Runs until the task is dropped.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.config.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first round one period after start, not at once: the node
        // view is still being filled then.
        tick.tick().await;
        loop {
            tick.tick().await;
            self.step().await;
        }
    }

    /// One round: a snapshot when due, else a log of what changed, else
    /// a retry of an unpublished pointer.
    pub async fn step(&mut self) {
        let due = self.need_snapshot
            || self.pointer.logs.len() >= self.config.logs_per_snapshot
            || self.last_snapshot.elapsed() >= self.config.snapshot_every;
        if due {
            if let Err(e) = self.snapshot().await {
                tracing::warn!(error = %e, "metadata snapshot failed; retrying");
                self.need_snapshot = true;
            }
            return;
        }
        match self.redb.take_changes() {
            Taken::Snapshot => self.need_snapshot = true,
            Taken::Rows(rows) if rows.is_empty() => {
                if !self.published && self.publish().await.is_err() {
                    tracing::warn!("no node took the metadata backup pointer; retrying");
                }
            }
            Taken::Rows(rows) => {
                if let Err(e) = self.log(rows.clone()).await {
                    tracing::warn!(error = %e, rows = rows.len(), "metadata log failed; retrying");
                    self.redb.requeue(rows);
                }
            }
        }
    }

    async fn snapshot(&mut self) -> Result<(), BackupError> {
        let started = Instant::now();
        // Marks start before the snapshot's read transaction: whatever
        // commits after it is in a later log.
        self.redb.start_journal();
        let redb = self.redb.clone();
        let stored = self
            .store(Kind::Snapshot, move |writer| {
                redb.snapshot::<BackupError>(&mut |change| Ok(writer.push(change)?))
            })
            .await?;
        let seq = stored.backup.seq;
        let garbage: Vec<BackupRef> = {
            let p = &mut self.pointer;
            p.snapshots.push(stored.backup);
            let mut garbage: Vec<BackupRef> = p.logs.drain(..).collect();
            let excess = p.snapshots.len().saturating_sub(self.config.keep_snapshots);
            garbage.extend(p.snapshots.drain(..excess));
            garbage
        };
        self.need_snapshot = false;
        self.last_snapshot = Instant::now();
        tracing::info!(
            seq,
            rows = stored.changes,
            bytes = stored.bytes,
            ms = started.elapsed().as_millis() as u64,
            "metadata snapshot stored in the mesh"
        );
        // Deleted once no published pointer names them any more.
        self.garbage.extend(garbage);
        if let Err(e) = self.publish().await {
            tracing::warn!(error = %e, "the metadata backup pointer was not published; retrying");
        }
        Ok(())
    }

    /// Stores one backup of `kind` that `produce` writes, records its
    /// manifest in the store and counts it.
    async fn store<F>(&mut self, kind: Kind, produce: F) -> Result<Stored, BackupError>
    where
        F: FnOnce(&mut BackupWriter<ChunkSink>) -> Result<(), BackupError> + Send + 'static,
    {
        let seq = self.next_seq();
        let owner = self.keypair.public().to_peer_id();
        let stored = store_backup(&self.data, &self.master, &owner, kind, seq, produce).await?;
        self.redb
            .set_internal_object(&stored.backup.name, Some(&stored.backup.meta))?;
        // Recorded: garbage collection sees its shards referenced now.
        let label = match kind {
            Kind::Snapshot => "snapshot",
            Kind::Log => "log",
        };
        self.metrics
            .backups
            .get_or_create(&vec![("kind", label.to_owned())])
            .inc();
        self.metrics.backup_bytes.inc_by(stored.bytes);
        Ok(stored)
    }

    async fn log(&mut self, rows: Vec<ChangedRows>) -> Result<(), BackupError> {
        let redb = self.redb.clone();
        let stored = self
            .store(Kind::Log, move |writer| {
                for change in redb.changes(&rows)? {
                    writer.push(change)?;
                }
                Ok(())
            })
            .await?;
        tracing::debug!(
            seq = stored.backup.seq,
            changes = stored.changes,
            bytes = stored.bytes,
            "metadata log stored"
        );
        self.pointer.logs.push(stored.backup);
        // A pointer that failed to publish is retried with the next log:
        // the log itself is kept (listed in the store) either way.
        if let Err(e) = self.publish().await {
            tracing::warn!(error = %e, "the metadata backup pointer was not published; retrying");
        }
        Ok(())
    }

    async fn publish(&mut self) -> Result<(), BackupError> {
        self.pointer.seq = self.next_seq();
        let size = postcard::to_allocvec(&self.pointer).map_or(usize::MAX, |b| b.len());
        if size > mesh::wire::MAX_POINTER_LEN - 1024 {
            // Too many logs to list: the next round takes a snapshot, which
            // replaces them all.
            self.need_snapshot = true;
            return Err(BackupError::Unpublished);
        }
        // Repair may have moved shards of a backup: name them where the
        // store now says they are.
        let current: std::collections::HashMap<String, ObjectMeta> =
            self.redb.internal_objects()?.into_iter().collect();
        for backup in self
            .pointer
            .snapshots
            .iter_mut()
            .chain(&mut self.pointer.logs)
        {
            if let Some(meta) = current.get(&backup.name) {
                backup.meta = meta.clone();
            }
        }
        let nodes: Vec<PeerId> = self
            .data
            .nodes()
            .cluster()
            .nodes()
            .iter()
            .filter(|n| n.health == placement::Health::Alive)
            .filter_map(|n| PeerId::from_bytes(n.id.as_ref()).ok())
            .collect();
        let stored = pointer::publish(self.data.mesh(), &self.keypair, nodes, &self.pointer).await;
        if stored == 0 {
            self.published = false;
            return Err(BackupError::Unpublished);
        }
        self.published = true;
        for old in std::mem::take(&mut self.garbage) {
            self.redb.set_internal_object(&old.name, None)?;
            self.data.delete_shards(old.meta.parts);
        }
        self.metrics.backup_seq.set(self.pointer.seq as i64);
        self.metrics
            .backup_point_ms
            .set(self.pointer.point_ms() as i64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_parse_back() {
        for kind in [Kind::Snapshot, Kind::Log] {
            assert_eq!(parse_name(&object_name(kind, 42)), Some((kind, 42)));
        }
        assert_eq!(parse_name("backup/other-1"), None);
        assert_eq!(parse_name("log-1"), None);
    }
}
