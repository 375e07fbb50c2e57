//! Serving the shard protocol: one task per incoming stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::{PeerId, Stream};
use libp2p_stream::IncomingStreams;
use mesh::ShardId;
use mesh::net::{IpPrefix, PeerNets, SignedUsageReport, UsageReport};
use mesh::wire::{self, ErrorCode, NodeStat, Request, Response, WireError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::admission::{Admission, Refusal, owner_of};
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

/// Streams that get a polite `Busy` answer at once when over a limit;
/// beyond this many, refused streams are simply reset.
const BUSY_REPLIES: usize = 64;

/// Answers shard-protocol streams from the node's store.
pub struct ShardServer {
    store: Store,
    metrics: NodeMetrics,
    limits: Limits,
    region: String,
    keypair: Keypair,
    admission: Admission,
    nets: PeerNets,
    per_peer: Mutex<HashMap<PeerId, Arc<Semaphore>>>,
    per_net: Mutex<HashMap<IpPrefix, Arc<Semaphore>>>,
    put_bytes: Arc<Mutex<HashMap<IpPrefix, u64>>>,
    all_streams: Arc<Semaphore>,
    busy_replies: Arc<Semaphore>,
    committer: Committer,
    started: std::time::Instant,
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

/// Stream permits held while a stream is served.
type Permits = (
    OwnedSemaphorePermit,
    OwnedSemaphorePermit,
    Option<OwnedSemaphorePermit>,
);

/// Shard bytes a put from one address prefix holds in flight; released on
/// drop.
struct PutBytes {
    budget: Arc<Mutex<HashMap<IpPrefix, u64>>>,
    net: IpPrefix,
    len: u64,
}

impl Drop for PutBytes {
    fn drop(&mut self) {
        let mut budget = self.budget.lock().expect("not poisoned");
        if let Some(held) = budget.get_mut(&self.net) {
            *held = held.saturating_sub(self.len);
            if *held == 0 {
                budget.remove(&self.net);
            }
        }
    }
}

/// Who sent a stream: its peer id, store owner, address prefix, and
/// whether the operator listed it.
struct Sender {
    peer: PeerId,
    owner: Owner,
    net: Option<IpPrefix>,
    listed: bool,
}

impl ShardServer {
    /// A server over `store`, signing usage reports with the node's
    /// `keypair`, admitting owners by `admission`, keying per-address
    /// limits on `nets`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        metrics: NodeMetrics,
        limits: Limits,
        region: String,
        keypair: Keypair,
        admission: Admission,
        nets: PeerNets,
    ) -> Arc<Self> {
        Arc::new(Self {
            metrics,
            region,
            keypair,
            admission,
            nets,
            per_peer: Mutex::new(HashMap::new()),
            per_net: Mutex::new(HashMap::new()),
            put_bytes: Arc::default(),
            all_streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            busy_replies: Arc::new(Semaphore::new(BUSY_REPLIES)),
            committer: Committer::spawn(store.clone()),
            store,
            limits,
            started: std::time::Instant::now(),
        })
    }

    /// Serves every incoming stream until the swarm goes away.
    pub async fn run(self: Arc<Self>, mut incoming: IncomingStreams) {
        while let Some((peer, stream)) = incoming.next().await {
            let sender = self.sender(peer);
            match self.permits(&sender) {
                Some(permits) => {
                    let this = self.clone();
                    tokio::spawn(async move {
                        let _permits = permits;
                        this.serve(sender, stream).await;
                    });
                }
                None => self.refuse_busy(stream),
            }
        }
    }

    /// Whether the test-only faults are in force yet.
    fn faults_active(&self) -> bool {
        self.limits.faults.active(self.started.elapsed())
    }

    fn sender(&self, peer: PeerId) -> Sender {
        Sender {
            owner: owner_of(&peer),
            net: self.nets.lock().expect("not poisoned").get(&peer).copied(),
            listed: self.admission.policy().is_listed(&peer),
            peer,
        }
    }

    /// Over a limit: answer `Busy` if few such answers are pending, else
    /// drop (reset) the stream rather than spend a task on a peer that may
    /// not read.
    fn refuse_busy(&self, mut stream: Stream) {
        self.metrics.rejected("busy");
        let Ok(permit) = self.busy_replies.clone().try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let busy = error(
                ErrorCode::Busy,
                "too many requests in flight; retry later or elsewhere",
            );
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                let _ = wire::write_frame(&mut stream, &busy).await;
                let _ = stream.close().await;
            })
            .await;
        });
    }

    /// The permits to serve one more stream: one of all streams, one of the
    /// peer's, and (for owners not on the accept list) one of its address
    /// prefix's. `None` when any is exhausted.
    fn permits(&self, sender: &Sender) -> Option<Permits> {
        let global = self.all_streams.clone().try_acquire_owned().ok()?;
        let peer = semaphore_of(&self.per_peer, sender.peer, self.limits.streams_per_peer)
            .try_acquire_owned()
            .ok()?;
        let net = match (sender.listed, sender.net) {
            (false, Some(net)) => Some(
                semaphore_of(&self.per_net, net, self.limits.streams_per_ip)
                    .try_acquire_owned()
                    .ok()?,
            ),
            _ => None,
        };
        Some((global, peer, net))
    }

    async fn serve(&self, sender: Sender, mut stream: Stream) {
        let peer = sender.peer;
        let outcome = tokio::time::timeout(
            self.limits.request_timeout,
            self.handle(&sender, &mut stream),
        )
        .await;
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

    async fn handle(&self, sender: &Sender, stream: &mut Stream) -> Result<(), ServeError> {
        let request = wire::read_request(stream).await?;
        let owner = sender.owner.clone();
        match request {
            Request::PutShard { id, len } => self.put(stream, sender, id, len).await,
            Request::GetShard { id, offset, len } => {
                self.get(stream, &owner, id, offset, len).await
            }
            Request::Challenge { challenge } => self.challenge(stream, owner, &challenge).await,
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
                let listed = blocking(move || store.list_page(&owner, after, limit)).await;
                let response = listed.map(|(shards, more)| Response::Shards {
                    ids: shards.into_iter().map(|s| (s.id, s.len)).collect(),
                    more,
                });
                self.reply(stream, "list", response).await
            }
            Request::Renew { ids } => {
                let store = self.store.clone();
                let renewed = blocking(move || store.renew(&owner, &ids, now_unix())).await;
                let response = renewed.map(|missing| Response::Renewed { missing });
                self.reply(stream, "renew", response).await
            }
            Request::Usage => {
                let response = self.usage_report(&sender.peer);
                self.reply(stream, "usage", response).await
            }
            Request::PutPointer { seq, record } => {
                // Only owners this node would store shards for may keep a
                // pointer here (the record is bounded by the wire).
                match self.admission.policy().quota_for(&sender.peer, &self.store) {
                    Ok(quota) if quota >= record.len() as u64 => {}
                    Ok(_) => {
                        self.metrics.request("put_pointer", "refused");
                        let message = "the pointer record is larger than this owner's quota";
                        wire::write_frame(stream, &error(ErrorCode::QuotaExceeded, message))
                            .await?;
                        return Ok(());
                    }
                    Err(Refusal::NotAccepted(peer)) => {
                        self.metrics.request("put_pointer", "refused");
                        let message = format!("this node does not keep records for {peer}");
                        wire::write_frame(stream, &error(ErrorCode::NotAccepted, &message)).await?;
                        return Ok(());
                    }
                    Err(Refusal::Store(e)) => {
                        return self.reply(stream, "put_pointer", Err(e)).await;
                    }
                }
                let store = self.store.clone();
                let stored = blocking(move || store.put_pointer(&owner, seq, &record)).await;
                let response = stored.map(|stored| Response::Stored { already: !stored });
                self.reply(stream, "put_pointer", response).await
            }
            Request::GetPointer { owner: whose } => {
                let store = self.store.clone();
                let found = blocking(move || store.pointer(&whose)).await;
                let response = found.map(|found| match found {
                    Some((seq, record)) => Response::Pointer { seq, record },
                    None => error(ErrorCode::NotFound, "no pointer record for that owner"),
                });
                self.reply(stream, "get_pointer", response).await
            }
        }
    }

    /// The signed report of what this node holds and did for `peer`.
    fn usage_report(&self, peer: &PeerId) -> Result<Response, StoreError> {
        let owner = owner_of(peer);
        let account = self.store.account(&owner);
        let quota = match self.admission.policy().quota_for(peer, &self.store) {
            Ok(quota) => quota,
            Err(Refusal::NotAccepted(_)) => 0,
            Err(Refusal::Store(e)) => return Err(e),
        };
        let taken = account.usage.bytes + account.usage.reserved;
        let free = self.store.stats()?.free;
        let report = UsageReport {
            node: self.keypair.public().to_peer_id().to_bytes(),
            owner: peer.to_bytes(),
            issued_at: now_unix(),
            shards: account.usage.shards,
            bytes_stored: account.usage.bytes,
            free_for_owner: quota.saturating_sub(taken).min(free),
            quota: quota.min(self.store.stats()?.capacity),
            bytes_served: account.counters.bytes_served,
            bytes_received: account.counters.bytes_received,
            shard_seconds: account.counters.shard_seconds,
            byte_seconds: account.counters.byte_seconds,
        };
        Ok(Response::Usage {
            report: SignedUsageReport::sign(&report, &self.keypair).to_bytes(),
        })
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

    /// Takes `len` bytes of the put budget of `net`, if it has them.
    fn take_put_bytes(&self, net: IpPrefix, len: u64) -> Option<PutBytes> {
        let mut budget = self.put_bytes.lock().expect("not poisoned");
        let held = budget.entry(net).or_default();
        if held.saturating_add(len) > self.limits.put_bytes_per_ip {
            return None;
        }
        *held += len;
        Some(PutBytes {
            budget: self.put_bytes.clone(),
            net,
            len,
        })
    }

    async fn put(
        &self,
        stream: &mut Stream,
        sender: &Sender,
        id: ShardId,
        len: u64,
    ) -> Result<(), ServeError> {
        if len > self.limits.max_shard_len {
            self.metrics.request("put", "refused");
            let message = format!("shards are limited to {} bytes", self.limits.max_shard_len);
            wire::write_frame(stream, &error(ErrorCode::BadRequest, &message)).await?;
            return Ok(());
        }
        let quota = match self.admission.policy().quota_for(&sender.peer, &self.store) {
            Ok(quota) => quota,
            Err(Refusal::NotAccepted(peer)) => {
                self.metrics.request("put", "not_accepted");
                let message = format!("this node does not store shards for {peer}");
                wire::write_frame(stream, &error(ErrorCode::NotAccepted, &message)).await?;
                return Ok(());
            }
            Err(Refusal::Store(e)) => return self.reply(stream, "put", Err(e)).await,
        };
        let _budget = match (sender.listed, sender.net) {
            (false, Some(net)) => match self.take_put_bytes(net, len) {
                Some(budget) => Some(budget),
                None => {
                    self.metrics.request("put", "busy");
                    let message = format!("too many shard bytes in flight from {net}");
                    wire::write_frame(stream, &error(ErrorCode::Busy, &message)).await?;
                    return Ok(());
                }
            },
            _ => None,
        };
        if self.limits.faults.drop_writes && self.faults_active() {
            return self.swallow(stream, len).await;
        }
        let owner = sender.owner.clone();
        let mut writer = match self.store.begin_put(id, len, owner.clone(), quota) {
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
                // The peer stopped early: dropping the writer discards it
                // and frees what it reserved.
                self.metrics.request("put", "truncated");
                return Ok(());
            }
            if let Err(e) = writer.write(&buf[..n]) {
                return self.reply(stream, "put", Err(e)).await;
            }
            remaining -= n as u64;
            self.metrics.received("put", n as u64);
            self.store.record_received(&owner, n as u64);
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
        requester: &Owner,
        id: ShardId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<(), ServeError> {
        let (reader, copy_owner) = match self.store.open_copy(&id, Some(requester)) {
            Ok(opened) => opened,
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
        self.store.record_served(&copy_owner, end - offset);
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

    async fn challenge(
        &self,
        stream: &mut Stream,
        owner: Owner,
        challenge: &[u8],
    ) -> Result<(), ServeError> {
        let Ok(challenge) = proofs::Challenge::from_bytes(challenge) else {
            self.metrics.challenge("malformed");
            let response = error(ErrorCode::BadRequest, "undecodable challenge");
            wire::write_frame(stream, &response).await?;
            return Ok(());
        };
        if self.limits.faults.lie_proofs && self.faults_active() {
            // Test-only: garbage shaped like a proof.
            let garbage: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
            let response = Response::Proof { proof: garbage };
            wire::write_frame(stream, &response).await?;
            return Ok(());
        }
        let store = self.store.clone();
        let proof = blocking(move || store.prove(&challenge, &owner)).await;
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

/// The semaphore of `key` in `map` (made with `permits` if new); entries
/// idle at full strength are dropped when the map grows large.
fn semaphore_of<K: std::hash::Hash + Eq + Copy>(
    map: &Mutex<HashMap<K, Arc<Semaphore>>>,
    key: K,
    permits: usize,
) -> Arc<Semaphore> {
    let mut map = map.lock().expect("not poisoned");
    if map.len() > 10_000 {
        map.retain(|_, s| s.available_permits() < permits);
    }
    map.entry(key)
        .or_insert_with(|| Arc::new(Semaphore::new(permits)))
        .clone()
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

/// Seconds since the Unix epoch.
fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn error(code: ErrorCode, message: &str) -> Response {
    Response::error(code, message)
}

/// The protocol error for a store error.
fn store_error(e: &StoreError) -> Response {
    let code = match e {
        StoreError::NotFound(_) => ErrorCode::NotFound,
        StoreError::QuotaExceeded { .. } | StoreError::TooManyPointers(_) => {
            ErrorCode::QuotaExceeded
        }
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
