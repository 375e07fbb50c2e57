//! Compute tasks on this node (`cairn node --compute`): the compute
//! protocol served over libp2p streams (see [`mesh::compute`]).
//!
//! A task's input is an object's shards: the ones on this disk are read
//! from it, the others fetched from their holders (data shards first), each
//! checked against its id; every segment is decoded and decrypted with the
//! key the gateway sent for this task, and streamed to the module's stdin
//! with one segment read ahead. The module runs on its own thread
//! ([`compute::Runtime`]), so a task that spins cannot slow shard serving or
//! audits.
//!
//! Who may run tasks: any peer when the node accepts strangers' shards, else
//! only owners on its accept list. A peer not on the list gets at most half
//! the slots, so a stranger cannot take them all; a task that finds no
//! free slot is refused at once (the gateway tries again, here or
//! elsewhere). At most 4 × slots + 16 compute streams are served at once
//! (more are reset unread), and a peer has 30 s to send its task and
//! module.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream};
use libp2p_stream::IncomingStreams;
use mesh::ShardId;
use mesh::codec::{ObjectKey, Scheme, SegmentCodec, SegmentRef};
use mesh::compute::{
    ComputeOffer, ComputeRequest, ComputeResponse, HEARTBEAT, InputSegment, Limits, MAX_ARGS_LEN,
    MAX_SPEC_FRAME, TaskInput, TaskReport, TaskSpec,
};
use mesh::net::ShardClient;
use mesh::wire::{self, WireError};
use tokio::io::AsyncWriteExt as _;

use crate::admission::Admission;
use crate::metrics::NodeMetrics;
use crate::store::Store;

/// What the operator offers for compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComputeConfig {
    /// Tasks run at once.
    pub slots: usize,
    /// Memory per task, bytes.
    pub memory: u64,
}

impl ComputeConfig {
    /// What the node's record says it offers.
    pub fn offer(&self) -> ComputeOffer {
        ComputeOffer {
            slots: u16::try_from(self.slots).unwrap_or(u16::MAX),
            memory: self.memory,
        }
    }
}

/// Time a peer has to send a task (and its module) once it opened a
/// stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Time to wait for a shard from another node.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of decoded input buffered between the reader and the task.
const STDIN_BUFFER: usize = 256 << 10;

/// Serves compute tasks.
pub struct ComputeServer {
    runtime: Arc<compute::Runtime>,
    store: Store,
    shards: ShardClient,
    me: PeerId,
    caps: Limits,
    slots: usize,
    admission: Admission,
    metrics: NodeMetrics,
    /// Tasks running per requesting peer.
    running: Mutex<HashMap<PeerId, usize>>,
    /// Compute streams being served, a task running or not: a peer
    /// opening streams it never completes cannot make the node hold more
    /// than this many request frames.
    streams: Arc<tokio::sync::Semaphore>,
}

/// Why a task could not be served.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl ComputeServer {
    /// A server running tasks within `config`, reading shards from `store`
    /// and fetching the others with `shards`.
    pub fn new(
        config: ComputeConfig,
        store: Store,
        shards: ShardClient,
        me: PeerId,
        admission: Admission,
        metrics: NodeMetrics,
    ) -> Result<Arc<Self>, compute::RuntimeError> {
        let runtime = compute::Runtime::new(config.slots)?;
        let caps = Limits {
            memory: config.memory,
            ..Limits::MAX
        };
        Ok(Arc::new(Self {
            runtime,
            store,
            shards,
            me,
            caps,
            slots: config.slots.max(1),
            admission,
            metrics,
            running: Mutex::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(4 * config.slots.max(1) + 16)),
        }))
    }

    /// Serves the compute streams in `incoming` until they end.
    pub async fn run(self: Arc<Self>, mut incoming: IncomingStreams) {
        while let Some((peer, stream)) = incoming.next().await {
            let Ok(permit) = self.streams.clone().try_acquire_owned() else {
                // Over the cap: reset the stream rather than read it.
                self.metrics.compute_task("refused");
                drop(stream);
                continue;
            };
            let this = self.clone();
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = this.serve(peer, stream).await {
                    tracing::debug!(%peer, error = %e, "compute stream ended early");
                }
            });
        }
    }

    /// A slot for `peer`, if it may run one more task now: owners on the
    /// accept list may take every slot, others half of them.
    fn take_slot(self: &Arc<Self>, peer: PeerId, listed: bool) -> Option<SlotGuard> {
        let mut running = self.running.lock().expect("not poisoned");
        let total: usize = running.values().sum();
        let mine = running.entry(peer).or_default();
        let per_peer = if listed {
            self.slots
        } else {
            self.slots.div_ceil(2)
        };
        if total >= self.slots || *mine >= per_peer {
            return None;
        }
        *mine += 1;
        self.metrics.compute_running.inc();
        Some(SlotGuard {
            server: self.clone(),
            peer,
        })
    }

    async fn serve(self: &Arc<Self>, peer: PeerId, mut stream: Stream) -> Result<(), ServeError> {
        let request: ComputeRequest = tokio::time::timeout(
            REQUEST_TIMEOUT,
            wire::read_frame_within(&mut stream, MAX_SPEC_FRAME),
        )
        .await
        .map_err(|_| ServeError::Io(std::io::ErrorKind::TimedOut.into()))??;
        let ComputeRequest::Run(spec) = request else {
            return self.refuse(&mut stream, "expected a task", false).await;
        };
        let policy = self.admission.policy();
        if !policy.accepts_strangers() && !policy.is_listed(&peer) {
            return self
                .refuse(
                    &mut stream,
                    "this node runs tasks for listed owners only",
                    false,
                )
                .await;
        }
        if let Err(reason) = check(&spec) {
            return self.refuse(&mut stream, &reason, false).await;
        }
        let Some(_slot) = self.take_slot(peer, policy.is_listed(&peer)) else {
            return self.refuse(&mut stream, "no free compute slot", true).await;
        };
        if !self.runtime.has(&spec.module) {
            wire::write_frame(&mut stream, &ComputeResponse::NeedModule).await?;
            let received = tokio::time::timeout(
                REQUEST_TIMEOUT,
                self.receive_module(&mut stream, &spec.module),
            )
            .await
            .map_err(|_| ServeError::Io(std::io::ErrorKind::TimedOut.into()))??;
            if let Err(reason) = received {
                return self.refuse(&mut stream, &reason, false).await;
            }
        }
        wire::write_frame(&mut stream, &ComputeResponse::Started).await?;
        tracing::info!(%peer, task = %spec.label, bytes = spec.input.len(), "running a compute task");
        let report = self.run_task(&mut stream, *spec).await?;
        let (report, stdout, stderr) = report;
        let outcome = match (&report.failure, report.input_failed) {
            (None, _) => "ok",
            (Some(_), true) => "input_failed",
            (Some(_), false) => "failed",
        };
        self.metrics.compute_task(outcome);
        wire::write_frame(&mut stream, &ComputeResponse::Done(report)).await?;
        stream.write_all(&stdout).await?;
        stream.write_all(&stderr).await?;
        stream.close().await?;
        Ok(())
    }

    async fn refuse(
        &self,
        stream: &mut Stream,
        reason: &str,
        retry: bool,
    ) -> Result<(), ServeError> {
        self.metrics.compute_task("refused");
        let answer = ComputeResponse::Refused {
            reason: reason.to_owned(),
            retry,
        };
        wire::write_frame(stream, &answer).await?;
        stream.close().await?;
        Ok(())
    }

    /// Reads the module the gateway sends and compiles it; `Ok(Err)` names
    /// why it is refused.
    async fn receive_module(
        &self,
        stream: &mut Stream,
        hash: &[u8; 32],
    ) -> Result<Result<(), String>, ServeError> {
        let request: ComputeRequest = wire::read_frame(stream).await?;
        let ComputeRequest::Module { len } = request else {
            return Ok(Err("expected the module".into()));
        };
        if len > compute::MAX_MODULE_LEN as u64 {
            return Ok(Err(format!(
                "the module has {len} bytes, more than {}",
                compute::MAX_MODULE_LEN
            )));
        }
        let mut bytes = vec![0u8; len as usize];
        stream.read_exact(&mut bytes).await?;
        if blake3::hash(&bytes).as_bytes() != hash {
            return Ok(Err("the module's bytes do not match its hash".into()));
        }
        let runtime = self.runtime.clone();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&bytes))
            .await
            .expect("compiling does not panic");
        Ok(loaded.map(|_| ()).map_err(|e| e.to_string()))
    }

    /// Runs the task, saying it is alive every [`HEARTBEAT`]; returns its
    /// report, stdout and stderr.
    async fn run_task(
        self: &Arc<Self>,
        stream: &mut Stream,
        spec: TaskSpec,
    ) -> Result<(TaskReport, Vec<u8>, Vec<u8>), ServeError> {
        let counters = Arc::new(Counters::default());
        let (stdin, feed_into) = tokio::io::duplex(STDIN_BUFFER);
        let feeder = tokio::spawn(self.clone().feed(spec.input, feed_into, counters.clone()));
        let limits = spec.limits.within(&self.caps);
        let run = self.runtime.run(spec.module, spec.args, stdin, limits);
        let mut run = std::pin::pin!(run);
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        let mut listening = true;
        let outcome = loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                _ = heartbeat.tick(), if listening => {
                    let alive = ComputeResponse::Alive {
                        read_local: counters.local.load(Ordering::Relaxed),
                        fetched: counters.fetched.load(Ordering::Relaxed),
                    };
                    // A gateway that went away cannot stop the module (its
                    // limits do); stop writing to it.
                    listening = wire::write_frame(stream, &alive).await.is_ok();
                }
            }
        };
        // The module has ended; whatever input it did not read is not needed.
        let fed = if feeder.is_finished() {
            feeder.await.expect("the feeder does not panic")
        } else {
            feeder.abort();
            Ok(())
        };
        let mut report = TaskReport {
            read_local: counters.local.load(Ordering::Relaxed),
            fetched: counters.fetched.load(Ordering::Relaxed),
            ..TaskReport::default()
        };
        self.metrics.compute_input("local", report.read_local);
        self.metrics.compute_input("fetched", report.fetched);
        let (stdout, stderr) = match outcome {
            Ok(outcome) => {
                report.fuel_used = outcome.fuel_used;
                report.elapsed_ms = outcome.elapsed.as_millis() as u64;
                report.failure = outcome.failure.map(|f| f.to_string());
                (outcome.stdout, outcome.stderr)
            }
            Err(e) => {
                report.failure = Some(e.to_string());
                (Vec::new(), Vec::new())
            }
        };
        let stdout = match fed {
            Ok(()) => stdout,
            Err(e) => {
                // The module saw its input end early: whatever it wrote is
                // not the answer.
                report.failure = Some(format!("reading the input: {e}"));
                report.input_failed = true;
                Vec::new()
            }
        };
        report.stdout_len = stdout.len() as u64;
        report.stderr_len = stderr.len() as u64;
        Ok((report, stdout, stderr))
    }

    /// Decodes the input segment after segment into `out`, one segment read
    /// ahead. Ends quietly when the module closes its stdin.
    async fn feed(
        self: Arc<Self>,
        input: TaskInput,
        mut out: tokio::io::DuplexStream,
        counters: Arc<Counters>,
    ) -> Result<(), String> {
        let mut segments = Vec::new();
        for part in &input.parts {
            let scheme =
                Scheme::new(usize::from(part.k), usize::from(part.m)).map_err(|e| e.to_string())?;
            let codec = Arc::new(
                SegmentCodec::new(scheme, part.segment_size as usize).map_err(|e| e.to_string())?,
            );
            for (index, segment) in part.segments.iter().enumerate() {
                let at = SegmentRef {
                    part: part.number,
                    index: index as u64,
                };
                let key = segment.key.unwrap_or(part.key);
                segments.push((key, at, segment.clone(), codec.clone()));
            }
        }
        let this = self.clone();
        let mut decoded = futures_util::stream::iter(segments)
            .map(|(key, at, segment, codec)| {
                let (this, counters) = (this.clone(), counters.clone());
                let scheme = codec.scheme();
                async move {
                    let shards = this.gather(&segment, scheme, &counters).await?;
                    let key = ObjectKey::from_bytes(key);
                    let plain_len = segment.plain_len as usize;
                    tokio::task::spawn_blocking(move || codec.decode(&key, at, plain_len, &shards))
                        .await
                        .expect("decoding does not panic")
                        .map_err(|e| format!("decoding segment {}: {e}", at.index))
                }
            })
            .buffered(2);
        while let Some(plain) = decoded.next().await {
            let plain = plain?;
            if out.write_all(&plain).await.is_err() {
                // The module stopped reading.
                return Ok(());
            }
        }
        let _ = out.shutdown().await;
        Ok(())
    }

    /// `k` shards of `segment`, checked against their ids: the ones on this
    /// disk first, then fetched from their holders, data shards first.
    async fn gather(
        &self,
        segment: &InputSegment,
        scheme: Scheme,
        counters: &Counters,
    ) -> Result<Vec<Option<Bytes>>, String> {
        let mut slots: Vec<Option<Bytes>> = vec![None; segment.shards.len()];
        let mut got = 0;
        for (i, (id, _)) in segment.shards.iter().enumerate() {
            if got == scheme.k {
                break;
            }
            if let Some(bytes) = self.read_local(ShardId(*id)).await {
                counters
                    .local
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                slots[i] = Some(bytes);
                got += 1;
            }
        }
        // Shard indices below k are data shards: plain ciphertext, the
        // cheapest to decode from. Try them first.
        let mut remote: Vec<usize> = (0..segment.shards.len())
            .filter(|&i| slots[i].is_none() && !segment.shards[i].1.is_empty())
            .filter(|&i| segment.shards[i].1 != self.me.to_bytes())
            .collect();
        remote.sort_by_key(|&i| i >= scheme.k);
        let mut next = remote.into_iter();
        let mut fetches = futures_util::stream::FuturesUnordered::new();
        let start = |i: usize| {
            let (id, holder) = segment.shards[i].clone();
            let mut client = self.shards.clone();
            async move {
                let Ok(peer) = PeerId::from_bytes(&holder) else {
                    return (i, None);
                };
                let fetched = tokio::time::timeout(FETCH_TIMEOUT, client.get(peer, ShardId(id)))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .filter(|bytes| blake3::hash(bytes).as_bytes() == &id);
                (i, fetched.map(Bytes::from))
            }
        };
        for _ in got..scheme.k {
            if let Some(i) = next.next() {
                fetches.push(start(i));
            }
        }
        while got < scheme.k {
            let Some((i, fetched)) = fetches.next().await else {
                return Err(format!(
                    "only {got} of the {} shards needed could be read",
                    scheme.k
                ));
            };
            match fetched {
                Some(bytes) => {
                    counters
                        .fetched
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    slots[i] = Some(bytes);
                    got += 1;
                }
                None => {
                    if let Some(i) = next.next() {
                        fetches.push(start(i));
                    }
                }
            }
        }
        Ok(slots)
    }

    /// Shard `id` from this node's disk (any owner's copy), if held and
    /// intact.
    async fn read_local(&self, id: ShardId) -> Option<Bytes> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let reader = store.open_shard(&id).ok()?;
            let mut bytes = vec![0u8; usize::try_from(reader.len()).ok()?];
            let mut at = 0;
            while at < bytes.len() {
                let n = reader.read_at(&mut bytes[at..], at as u64).ok()?;
                if n == 0 {
                    return None;
                }
                at += n;
            }
            (blake3::hash(&bytes).as_bytes() == &id.0).then(|| Bytes::from(bytes))
        })
        .await
        .ok()
        .flatten()
    }
}

/// A spec's own consistency, before any work is done for it.
fn check(spec: &TaskSpec) -> Result<(), String> {
    spec.limits.check().map_err(|e| e.to_string())?;
    spec.input.check()?;
    let args: usize = spec.args.iter().map(String::len).sum();
    if args > MAX_ARGS_LEN {
        return Err(format!(
            "arguments of {args} bytes, more than {MAX_ARGS_LEN}"
        ));
    }
    Ok(())
}

/// Input bytes read so far, by source.
#[derive(Default)]
struct Counters {
    local: AtomicU64,
    fetched: AtomicU64,
}

/// A task slot held by a peer; given back on drop.
struct SlotGuard {
    server: Arc<ComputeServer>,
    peer: PeerId,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut running = self.server.running.lock().expect("not poisoned");
        if let Some(n) = running.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.peer);
            }
        }
        self.server.metrics.compute_running.dec();
    }
}
