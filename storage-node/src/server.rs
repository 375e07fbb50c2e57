//! Serving the shard protocol: one task per incoming stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream};
use libp2p_stream::IncomingStreams;
use mesh::ShardId;
use mesh::wire::{self, ErrorCode, NodeStat, Request, Response, WireError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;
use crate::metrics::NodeMetrics;
use crate::store::{Owner, PutOutcome, ShardWriter, Store, StoreError};

/// Bytes moved per read or write of shard data.
const IO_CHUNK: usize = 256 << 10;
/// Most shards one list response carries.
const MAX_LIST: u32 = 10_000;
/// Streams served at once across all peers.
const MAX_STREAMS: usize = 1024;
/// A put whose sender goes silent this long is abandoned (its reservation
/// and temp file released) without waiting for the request deadline.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Time allowed to close a stream politely.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Most puts and deletes taken in one batch.
const MAX_GROUP: usize = 64;

type Reply<T> = tokio::sync::oneshot::Sender<Result<T, StoreError>>;

/// One change for the commit thread.
enum Job {
    Put(ShardWriter, Reply<PutOutcome>),
    Delete(ShardId, Owner, Reply<()>),
}

/// Group commit: puts that finish receiving while a commit is running are
/// committed together by one thread, sharing the index commit and the
/// directory fsyncs (`Store::commit_many`; each shard file is still
/// fsynced before any of them is acknowledged), and so are deletions
/// (`Store::delete_many`).
#[derive(Clone)]
struct Committer {
    queue: std::sync::mpsc::Sender<Job>,
}

impl Committer {
    fn spawn(store: Store) -> Self {
        let (queue, incoming) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || {
                while let Ok(first) = incoming.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_GROUP {
                        match incoming.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    // In arrival order: each run of puts or of deletes
                    // is one commit (a delete then a put of the same
                    // shard must not be answered in the other order).
                    let mut jobs = batch.into_iter().peekable();
                    while let Some(job) = jobs.next() {
                        match job {
                            Job::Put(writer, reply) => {
                                let (mut writers, mut replies) = (vec![writer], vec![reply]);
                                while let Some(Job::Put(..)) = jobs.peek() {
                                    let Some(Job::Put(w, r)) = jobs.next() else {
                                        break;
                                    };
                                    writers.push(w);
                                    replies.push(r);
                                }
                                answer(store.commit_many(writers), replies);
                            }
                            Job::Delete(id, owner, reply) => {
                                let (mut deletions, mut replies) = (vec![(id, owner)], vec![reply]);
                                while let Some(Job::Delete(..)) = jobs.peek() {
                                    let Some(Job::Delete(i, o, r)) = jobs.next() else {
                                        break;
                                    };
                                    deletions.push((i, o));
                                    replies.push(r);
                                }
                                answer(store.delete_many(&deletions), replies);
                            }
                        }
                    }
                }
            })
            .expect("spawning the group-commit thread");
        Self { queue }
    }

    /// Deletes shard `id` for `owner` (with whatever deletions arrive
    /// meanwhile).
    async fn delete(&self, id: ShardId, owner: Owner) -> Result<(), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Job::Delete(id, owner, reply))
            .map_err(|_| commit_thread_gone())?;
        answer.await.map_err(|_| commit_thread_gone())?
    }

    async fn commit(&self, writer: ShardWriter) -> Result<PutOutcome, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Job::Put(writer, reply))
            .map_err(|_| commit_thread_gone())?;
        answer.await.map_err(|_| commit_thread_gone())?
    }
}

/// Sends each result of a batch to its waiter; a failed batch fails them
/// all.
fn answer<T>(results: Result<Vec<Result<T, StoreError>>, StoreError>, replies: Vec<Reply<T>>) {
    match results {
        Ok(results) => {
            for (result, reply) in results.into_iter().zip(replies) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let message = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Io {
                    op: "committing",
                    path: std::path::PathBuf::new(),
                    source: std::io::Error::other(message.clone()),
                }));
            }
        }
    }
}

fn commit_thread_gone() -> StoreError {
    StoreError::Io {
        op: "committing",
        path: std::path::PathBuf::new(),
        source: std::io::Error::other("the commit thread has stopped"),
    }
}

/// Answers shard-protocol streams from the node's store.
pub struct ShardServer {
    store: Store,
    metrics: NodeMetrics,
    limits: Limits,
    region: String,
    per_peer: Mutex<HashMap<PeerId, Arc<Semaphore>>>,
    all_streams: Arc<Semaphore>,
    committer: Committer,
}

/// Why serving one stream stopped early. The stream is closed; the node
/// carries on.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("wire: {0}")]
    Wire(#[from] WireError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ShardServer {
    /// A server over `store`.
    pub fn new(store: Store, metrics: NodeMetrics, limits: Limits, region: String) -> Arc<Self> {
        Arc::new(Self {
            metrics,
            limits,
            region,
            per_peer: Mutex::new(HashMap::new()),
            all_streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            committer: Committer::spawn(store.clone()),
            store,
        })
    }

    /// Serves every incoming stream until the swarm goes away.
    pub async fn run(self: Arc<Self>, mut incoming: IncomingStreams) {
        while let Some((peer, stream)) = incoming.next().await {
            let this = self.clone();
            let global = self.all_streams.clone().try_acquire_owned().ok();
            match (global, self.permit(peer)) {
                (Some(global), Some(permit)) => {
                    tokio::spawn(async move {
                        let _permits = (global, permit);
                        this.serve(peer, stream).await;
                    });
                }
                // Over a limit: drop (reset) the stream rather than spend a
                // task answering a peer that may not read.
                _ => {
                    self.metrics.rejected("busy");
                    drop(stream);
                }
            }
        }
    }

    fn permit(&self, peer: PeerId) -> Option<OwnedSemaphorePermit> {
        let mut map = self.per_peer.lock().expect("not poisoned");
        if map.len() > 10_000 {
            map.retain(|_, s| s.available_permits() < self.limits.streams_per_peer);
        }
        let semaphore = map
            .entry(peer)
            .or_insert_with(|| Arc::new(Semaphore::new(self.limits.streams_per_peer)))
            .clone();
        semaphore.try_acquire_owned().ok()
    }

    async fn serve(&self, peer: PeerId, mut stream: Stream) {
        let outcome =
            tokio::time::timeout(self.limits.request_timeout, self.handle(peer, &mut stream)).await;
        match outcome {
            Err(_) => {
                self.metrics.rejected("timeout");
                tracing::debug!(%peer, "shard request timed out");
            }
            Ok(Err(ServeError::Wire(e))) => {
                self.metrics.rejected("malformed");
                tracing::debug!(%peer, error = %e, "closing stream: malformed request");
            }
            Ok(Err(e)) => {
                self.metrics.rejected("failed");
                tracing::debug!(%peer, error = %e, "closing stream");
            }
            Ok(Ok(())) => {}
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.close()).await;
    }

    async fn handle(&self, peer: PeerId, stream: &mut Stream) -> Result<(), ServeError> {
        let request = wire::read_request(stream).await?;
        let owner = Owner::new(peer.to_bytes()).expect("peer ids are 1..=255 bytes");
        match request {
            Request::PutShard { id, len } => self.put(stream, owner, id, len).await,
            Request::GetShard { id, offset, len } => self.get(stream, id, offset, len).await,
            Request::Challenge { challenge } => self.challenge(stream, &challenge).await,
            Request::DeleteShard { id } => {
                let result = self.committer.delete(id, owner).await;
                self.reply(stream, "delete", result.map(|()| Response::Deleted))
                    .await
            }
            Request::Stat => {
                let stats = self.store.stats();
                let response = stats.map(|s| {
                    Response::Stat(NodeStat {
                        region: self.region.clone(),
                        capacity: s.capacity,
                        free: s.free,
                        shards: s.shards,
                        bytes_stored: s.bytes_stored,
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                    })
                });
                self.reply(stream, "stat", response).await
            }
            Request::ListShards { after, limit } => {
                let store = self.store.clone();
                let limit = limit.min(MAX_LIST) as usize;
                let listed = blocking(move || store.list(Some(&owner))).await;
                let response = listed.map(|mut shards| {
                    shards.sort_by_key(|s| s.id);
                    let mut ids: Vec<(ShardId, u64)> = shards
                        .into_iter()
                        .filter(|s| after.is_none_or(|a| s.id > a))
                        .map(|s| (s.id, s.len))
                        .collect();
                    let more = ids.len() > limit;
                    ids.truncate(limit);
                    Response::Shards { ids, more }
                });
                self.reply(stream, "list", response).await
            }
        }
    }

    /// Writes the response (or the store error as an error response) and
    /// counts it.
    async fn reply(
        &self,
        stream: &mut Stream,
        kind: &'static str,
        result: Result<Response, StoreError>,
    ) -> Result<(), ServeError> {
        let response = match result {
            Ok(response) => {
                self.metrics.request(kind, "ok");
                response
            }
            Err(e) => {
                self.metrics.request(kind, "refused");
                store_error(&e)
            }
        };
        wire::write_frame(stream, &response).await?;
        Ok(())
    }

    async fn put(
        &self,
        stream: &mut Stream,
        owner: Owner,
        id: ShardId,
        len: u64,
    ) -> Result<(), ServeError> {
        if len > self.limits.max_shard_len {
            self.metrics.request("put", "refused");
            let message = format!("shards are limited to {} bytes", self.limits.max_shard_len);
            wire::write_frame(stream, &error(ErrorCode::BadRequest, &message)).await?;
            return Ok(());
        }
        if self.limits.faults.drop_writes {
            return self.swallow(stream, len).await;
        }
        let mut writer = match self.store.begin_put(id, len, owner) {
            Ok(writer) => writer,
            Err(e) => return self.reply(stream, "put", Err(e)).await,
        };
        let mut buf = vec![0u8; IO_CHUNK.min(len as usize).max(1)];
        let mut remaining = len;
        while remaining > 0 {
            let want = buf.len().min(remaining as usize);
            let Ok(read) = tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut buf[..want])).await
            else {
                self.metrics.request("put", "stalled");
                return Ok(());
            };
            let n = read?;
            if n == 0 {
                // The peer stopped early: dropping the writer discards it.
                self.metrics.request("put", "truncated");
                return Ok(());
            }
            if let Err(e) = writer.write(&buf[..n]) {
                return self.reply(stream, "put", Err(e)).await;
            }
            remaining -= n as u64;
            self.metrics.received("put", n as u64);
        }
        let committed = self.committer.commit(writer).await;
        let response = committed.map(|outcome| Response::Stored {
            already: outcome == PutOutcome::AlreadyStored,
        });
        self.reply(stream, "put", response).await
    }

    async fn get(
        &self,
        stream: &mut Stream,
        id: ShardId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<(), ServeError> {
        let reader = match self.store.open_shard(&id) {
            Ok(reader) => reader,
            Err(e) => return self.reply(stream, "get", Err(e)).await,
        };
        let size = reader.len();
        let end = len.map_or(Some(size), |l| offset.checked_add(l));
        let Some(end) = end.filter(|&end| offset <= end && end <= size) else {
            self.metrics.request("get", "refused");
            let message = format!("range outside the {size}-byte shard");
            wire::write_frame(stream, &error(ErrorCode::OutOfRange, &message)).await?;
            return Ok(());
        };
        wire::write_frame(stream, &Response::Shard { len: end - offset }).await?;
        let mut buf = vec![0u8; IO_CHUNK.min((end - offset) as usize).max(1)];
        let mut at = offset;
        while at < end {
            let want = buf.len().min((end - at) as usize);
            let n = reader.read_at(&mut buf[..want], at)?;
            if n == 0 {
                return Err(ServeError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            stream.write_all(&buf[..n]).await?;
            at += n as u64;
        }
        stream.flush().await?;
        self.metrics.sent("get", end - offset);
        self.metrics.request("get", "ok");
        Ok(())
    }

    /// Test-only (`drop_writes`): reads the shard's bytes, discards them and
    /// says they were stored.
    async fn swallow(&self, stream: &mut Stream, len: u64) -> Result<(), ServeError> {
        let mut buf = vec![0u8; IO_CHUNK];
        let mut remaining = len;
        while remaining > 0 {
            let want = buf.len().min(remaining as usize);
            let n = stream.read(&mut buf[..want]).await?;
            if n == 0 {
                return Ok(());
            }
            remaining -= n as u64;
        }
        wire::write_frame(stream, &Response::Stored { already: false }).await?;
        Ok(())
    }

    async fn challenge(&self, stream: &mut Stream, challenge: &[u8]) -> Result<(), ServeError> {
        let Ok(challenge) = proofs::Challenge::from_bytes(challenge) else {
            self.metrics.challenge("malformed");
            let response = error(ErrorCode::BadRequest, "undecodable challenge");
            wire::write_frame(stream, &response).await?;
            return Ok(());
        };
        if self.limits.faults.lie_proofs {
            // Test-only: garbage shaped like a proof.
            let garbage: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
            let response = Response::Proof { proof: garbage };
            wire::write_frame(stream, &response).await?;
            return Ok(());
        }
        let store = self.store.clone();
        let proof = blocking(move || store.prove(&challenge)).await;
        self.metrics.challenge(match &proof {
            Ok(_) => "proved",
            Err(StoreError::NotFound(_)) => "missing",
            Err(_) => "error",
        });
        let response = proof.map(|p| Response::Proof {
            proof: p.to_bytes(),
        });
        self.reply(stream, "challenge", response).await
    }
}

/// Runs blocking store work (fsync, redb commits, file hashing) off the
/// async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Io {
            op: "running",
            path: std::path::PathBuf::new(),
            source: std::io::Error::other("the runtime is shutting down"),
        }),
    }
}

fn error(code: ErrorCode, message: &str) -> Response {
    Response::error(code, message)
}

/// The protocol error for a store error.
fn store_error(e: &StoreError) -> Response {
    let code = match e {
        StoreError::NotFound(_) => ErrorCode::NotFound,
        StoreError::NotOwner(_) => ErrorCode::NotOwner,
        StoreError::CapacityExceeded { .. } => ErrorCode::CapacityExceeded,
        StoreError::DiskFull { .. } => ErrorCode::DiskFull,
        StoreError::HashMismatch { .. } => ErrorCode::HashMismatch,
        StoreError::LengthMismatch { .. } | StoreError::TooManyBytes { .. } => {
            ErrorCode::LengthMismatch
        }
        StoreError::RangeOutOfBounds { .. } => ErrorCode::OutOfRange,
        StoreError::Corrupt { .. } => ErrorCode::Corrupt,
        StoreError::InvalidOwner(_) => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    };
    error(code, &e.to_string())
}
