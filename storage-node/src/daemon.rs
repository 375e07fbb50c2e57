//! The node daemon: the store, the swarm, and the loops that keep it in the
//! mesh, until a shutdown signal.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use libp2p::identity::Keypair;
use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, Quorum, Record, RecordKey};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identify};
use mesh::net::{
    ConnectionCaps, KAD_PROTOCOL, MeshBehaviour, MeshBehaviourEvent, NODES_KEY, NodeRecord,
    SignedNodeRecord, build_swarm, record_key,
};
use mesh::wire::SHARD_PROTOCOL;
use serde::Serialize;

use crate::admission::Admission;
use crate::config::{ConfigError, NodeConfig};
use crate::content_records::ContentQuota;
use crate::identity;
use crate::metrics::{self, NodeMetrics};
use crate::server::ShardServer;
use crate::store::{Store, StoreError};
use mesh::content::CONTENT_PREFIX;

/// How long a published node record stays valid without a refresh.
const RECORD_TTL: Duration = Duration::from_secs(15 * 60);

/// Why the node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory is unusable.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The identity key could not be loaded or created.
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    /// The shard store failed to open.
    #[error("shard store: {0}")]
    Store(#[from] StoreError),
    /// The network could not be set up.
    #[error("network: {0}")]
    Network(String),
    /// The accept list could not be read.
    #[error("accept list: {0}")]
    Accept(#[from] ConfigError),
    /// The metrics listener could not be bound.
    #[error("metrics listener on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// What a running node tells scripts about itself, in `<data>/node.json`.
#[derive(Serialize)]
struct NodeInfoFile<'a> {
    peer_id: String,
    region: &'a str,
    addrs: Vec<String>,
    metrics: Option<String>,
    pid: u32,
}

/// Runs a storage node until `shutdown` resolves.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let (keypair, created) = identity::load_or_create(&config.data_dir)?;
    let peer_id = keypair.public().to_peer_id();
    if created {
        tracing::info!(%peer_id, "created a new node identity");
    }

    let store = {
        let dir = config.data_dir.clone();
        let capacity = config.capacity;
        tokio::task::spawn_blocking(move || Store::open(dir, capacity))
            .await
            .expect("store open does not panic")?
    };
    let report = store.reconcile_report();
    if !report.is_clean() {
        tracing::warn!(?report, "reconciled the shard index with the files on disk");
    }

    let metrics = NodeMetrics::new();
    metrics.set_store(&store.stats()?);
    warn_test_faults(&config, &metrics);
    let admission = Admission::new(&config.accept, config.capacity)?;
    let policy = admission.policy();
    tracing::info!(
        strangers = policy.accepts_strangers(),
        listed = config.accept.listed.len(),
        file = ?config.accept.file,
        lease = ?config.lease,
        "accepting shards"
    );
    let mut metrics_addr = None;
    if let Some(addr) = config.metrics {
        let listener = metrics::bind(addr)
            .await
            .map_err(|source| NodeError::Metrics { addr, source })?;
        metrics_addr = listener.local_addr().ok();
        tokio::spawn(metrics.clone().serve(listener));
    }

    let caps = ConnectionCaps {
        per_prefix: config.limits.connections_per_ip,
        total: config.limits.max_connections,
    };
    let mut swarm = build_swarm(keypair.clone(), true, Duration::from_secs(5), caps)
        .map_err(|e| NodeError::Network(e.to_string()))?;
    let incoming = swarm
        .behaviour()
        .stream
        .new_control()
        .accept(StreamProtocol::new(SHARD_PROTOCOL))
        .map_err(|e| NodeError::Network(e.to_string()))?;
    let nets = swarm.behaviour().limits.peer_nets();
    let server = ShardServer::new(
        store.clone(),
        metrics.clone(),
        config.limits.clone(),
        config.region.clone(),
        keypair.clone(),
        admission.clone(),
        nets.clone(),
    );
    tokio::spawn(server.run(incoming));
    if let Some(offer) = config.compute {
        let incoming = swarm
            .behaviour()
            .stream
            .new_control()
            .accept(StreamProtocol::new(mesh::compute::COMPUTE_PROTOCOL))
            .map_err(|e| NodeError::Network(e.to_string()))?;
        let shards = mesh::net::ShardClient::new(
            swarm.behaviour().stream.new_control(),
            Duration::from_secs(60),
        );
        let compute = crate::compute::ComputeServer::new(
            offer,
            store.clone(),
            shards,
            peer_id,
            admission.clone(),
            metrics.clone(),
        )
        .map_err(|e| NodeError::Network(format!("compute runtime: {e}")))?;
        tracing::info!(
            slots = offer.slots,
            memory = offer.memory,
            "running compute tasks"
        );
        tokio::spawn(compute.run(incoming));
    }

    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Network(format!("listening on {addr}: {e}")))?;
    }
    for addr in &config.bootstrap {
        add_bootstrap(&mut swarm, addr);
    }

    let mut node = Node {
        config,
        keypair,
        peer_id,
        store,
        metrics,
        metrics_addr,
        listen_addrs: BTreeSet::new(),
        publish_due: true,
        scrubbing: Default::default(),
        admission,
        content: ContentQuota::default(),
    };
    node.event_loop(&mut swarm, shutdown).await;
    let store = node.store.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || store.flush_usage(now_secs()))
        .await
        .expect("flushing does not panic")
    {
        tracing::warn!(error = %e, "cannot save the usage counters");
    }
    tracing::info!(%peer_id, "node stopped");
    Ok(())
}

/// Says loudly that a test-only fault is on, in the log and the metrics.
fn warn_test_faults(config: &NodeConfig, metrics: &NodeMetrics) {
    let faults = config.limits.faults;
    for (on, flag, name) in [
        (faults.lie_proofs, "--test-only-lie-proofs", "lie_proofs"),
        (faults.drop_writes, "--test-only-drop-writes", "drop_writes"),
    ] {
        if on {
            tracing::error!(
                flag,
                "TEST-ONLY FAULT SWITCHED ON: this node misbehaves on purpose and must never serve real data"
            );
            metrics.set_test_fault(name);
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Dials a bootstrap address and remembers it in the DHT's routing table.
fn add_bootstrap(swarm: &mut Swarm<MeshBehaviour>, addr: &Multiaddr) {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => {
            let mut bare = addr.clone();
            bare.pop();
            swarm.behaviour_mut().kad.add_address(&peer, bare);
        }
        _ => tracing::warn!(%addr, "bootstrap address has no /p2p/<peer id>; dialling it anyway"),
    }
    if let Err(e) = swarm.dial(addr.clone()) {
        tracing::warn!(%addr, error = %e, "could not dial bootstrap peer");
    }
}

/// Stores a node record another peer asked us to keep, if it is a valid,
/// fresh record signed by the node it names, stored under that node's key,
/// and newer than the copy we hold. Anything else is dropped, so nobody can
/// overwrite or flood the records.
fn accept_record(swarm: &mut Swarm<MeshBehaviour>, source: PeerId, mut record: Record) {
    let parsed = match SignedNodeRecord::verify(&record.value, None) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::debug!(%source, error = %e, "dropping an invalid node record");
            return;
        }
    };
    let Ok(peer) = parsed.peer() else { return };
    if record.key.as_ref() != record_key(&peer).as_slice() {
        tracing::debug!(%source, "dropping a node record stored under another key");
        return;
    }
    let store = swarm.behaviour_mut().kad.store_mut();
    if let Some(held) = store.get(&record.key)
        && let Ok(held) = SignedNodeRecord::verify(&held.value, Some(&peer))
        && held.issued_at >= parsed.issued_at
    {
        return;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let left = (parsed.issued_at + parsed.ttl_secs.min(RECORD_TTL.as_secs())).saturating_sub(now);
    let cap = std::time::Instant::now() + Duration::from_secs(left);
    record.expires = Some(record.expires.map_or(cap, |e| e.min(cap)));
    if let Err(e) = store.put(record) {
        tracing::debug!(error = %e, "cannot store a node record");
    }
}

struct Node {
    config: NodeConfig,
    keypair: Keypair,
    peer_id: PeerId,
    store: Store,
    metrics: NodeMetrics,
    metrics_addr: Option<std::net::SocketAddr>,
    listen_addrs: BTreeSet<Multiaddr>,
    /// Whether the node record should be (re)published at the next tick.
    publish_due: bool,
    /// Set while a scrub pass runs, so passes never pile up.
    scrubbing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Who may store; its file is re-read when it changes.
    admission: Admission,
    /// What each publisher has had this node keep of the content records.
    content: ContentQuota,
}

impl Node {
    async fn event_loop(
        &mut self,
        swarm: &mut Swarm<MeshBehaviour>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut publish_tick = tokio::time::interval(Duration::from_secs(1));
        let mut republish = tokio::time::interval(self.config.republish_every);
        let mut scrub = tokio::time::interval(self.config.scrub_every);
        let mut stats = tokio::time::interval(Duration::from_secs(5));
        let mut leases = tokio::time::interval(self.config.lease_check_every);
        let mut usage = tokio::time::interval(self.config.usage_every);
        scrub.tick().await;
        leases.tick().await;
        usage.tick().await;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                event = swarm.select_next_some() => self.on_event(swarm, event),
                _ = publish_tick.tick() => {
                    if self.publish_due && !self.listen_addrs.is_empty() {
                        self.publish(swarm);
                    }
                }
                _ = republish.tick() => {
                    self.publish_due = true;
                    self.content.prune(swarm.behaviour_mut().kad.store_mut());
                    if swarm.behaviour_mut().kad.bootstrap().is_err() {
                        tracing::debug!("no known peers to refresh the DHT with");
                    }
                }
                _ = scrub.tick() => self.scrub(),
                _ = stats.tick() => {
                    if let Ok(stats) = self.store.stats() {
                        self.metrics.set_store(&stats);
                    }
                    self.metrics.set_owners(&self.store.accounts());
                    self.admission.reload_if_changed();
                }
                _ = leases.tick() => self.expire_leases(),
                _ = usage.tick() => {
                    let store = self.store.clone();
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = store.flush_usage(now_secs()) {
                            tracing::warn!(error = %e, "cannot save the usage counters");
                        }
                    });
                }
            }
        }
    }

    fn on_event(
        &mut self,
        swarm: &mut Swarm<MeshBehaviour>,
        event: SwarmEvent<MeshBehaviourEvent>,
    ) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.clone().with(Protocol::P2p(self.peer_id));
                println!("listening on {full}");
                tracing::info!(%full, "listening");
                self.listen_addrs.insert(address);
                self.publish_due = true;
                self.write_info_file();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.remove(&address);
                self.write_info_file();
            }
            SwarmEvent::ConnectionEstablished { .. } | SwarmEvent::ConnectionClosed { .. } => {
                self.metrics
                    .peers
                    .set(swarm.connected_peers().count() as i64);
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&KAD_PROTOCOL) => {
                for addr in info.listen_addrs {
                    swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Kad(kad::Event::InboundRequest {
                request,
            })) => match request {
                kad::InboundRequest::PutRecord {
                    record: Some(record),
                    ..
                } if record.key.as_ref().starts_with(CONTENT_PREFIX) => {
                    let store = swarm.behaviour_mut().kad.store_mut();
                    self.content.accept_record(store, record);
                }
                kad::InboundRequest::PutRecord {
                    source,
                    record: Some(record),
                    ..
                } => accept_record(swarm, source, record),
                kad::InboundRequest::AddProvider {
                    record: Some(provider),
                } if provider.key.as_ref().starts_with(CONTENT_PREFIX) => {
                    let store = swarm.behaviour_mut().kad.store_mut();
                    self.content.accept_provider(store, provider);
                }
                kad::InboundRequest::AddProvider {
                    record: Some(provider),
                } if provider.key.as_ref() == NODES_KEY => {
                    if let Err(e) = swarm.behaviour_mut().kad.store_mut().add_provider(provider) {
                        tracing::debug!(error = %e, "cannot store a provider entry");
                    }
                }
                _ => {}
            },
            SwarmEvent::Behaviour(MeshBehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer,
                is_new_peer: true,
                ..
            })) => {
                tracing::debug!(%peer, "new peer in the DHT routing table");
                self.publish_due = true;
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Kad(
                kad::Event::OutboundQueryProgressed { result, .. },
            )) => match result {
                kad::QueryResult::PutRecord(Err(e)) => {
                    tracing::debug!(error = %e, "publishing the node record reached too few peers");
                }
                kad::QueryResult::StartProviding(Err(e)) => {
                    tracing::debug!(error = %e, "announcing as a node reached too few peers");
                }
                _ => {}
            },
            SwarmEvent::Behaviour(MeshBehaviourEvent::Ping(ping)) => {
                if let Ok(rtt) = ping.result {
                    tracing::trace!(peer = %ping.peer, ?rtt, "ping");
                }
            }
            _ => {}
        }
    }

    /// Publishes the signed node record and announces this node under the
    /// well-known nodes key.
    fn publish(&mut self, swarm: &mut Swarm<MeshBehaviour>) {
        self.publish_due = false;
        let stats = match self.store.stats() {
            Ok(stats) => stats,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read store stats for the node record");
                return;
            }
        };
        let record = NodeRecord {
            peer_id: self.peer_id.to_bytes(),
            addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
            region: self.config.region.clone(),
            capacity: stats.capacity,
            free: stats.free,
            shards: stats.shards,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            issued_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            ttl_secs: RECORD_TTL.as_secs(),
            compute: self.config.compute.map(|c| c.offer()),
        };
        let signed = SignedNodeRecord::sign(&record, &self.keypair);
        let kad = &mut swarm.behaviour_mut().kad;
        let record = Record {
            key: RecordKey::new(&record_key(&self.peer_id)),
            value: signed.to_bytes(),
            publisher: Some(self.peer_id),
            expires: Some(std::time::Instant::now() + RECORD_TTL),
        };
        if let Err(e) = kad.put_record(record, Quorum::One) {
            tracing::warn!(error = %e, "cannot store the node record");
        }
        if let Err(e) = kad.start_providing(RecordKey::new(&NODES_KEY)) {
            tracing::warn!(error = %e, "cannot announce this node");
        }
    }

    /// Deletes, in the background, the copies whose owner let the lease run
    /// out.
    fn expire_leases(&self) {
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let cutoff = now_secs().saturating_sub(self.config.lease.as_secs());
        tokio::task::spawn_blocking(move || match store.expire(cutoff) {
            Ok(expired) if !expired.is_empty() => {
                metrics.expired_shards.inc_by(expired.len() as u64);
                let owners: BTreeSet<String> = expired
                    .iter()
                    .map(|(owner, _)| {
                        PeerId::from_bytes(owner.as_bytes())
                            .map_or_else(|_| format!("{owner:?}"), |p| p.to_string())
                    })
                    .collect();
                tracing::info!(
                    shards = expired.len(),
                    ?owners,
                    "deleted copies whose lease ran out"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lease expiry pass failed"),
        });
    }

    fn scrub(&self) {
        use std::sync::atomic::Ordering;
        if self.scrubbing.swap(true, Ordering::AcqRel) {
            return;
        }
        let running = self.scrubbing.clone();
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let batch = self.config.scrub_batch;
        tokio::task::spawn_blocking(move || {
            match store.scrub(batch) {
                Ok(report) => {
                    for (id, reason) in &report.corrupt {
                        metrics.corrupt_shards.inc();
                        tracing::error!(shard = %id, %reason, "corrupt shard removed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scrub pass failed"),
            }
            running.store(false, Ordering::Release);
        });
    }

    /// Writes `<data>/node.json` (atomically) for scripts and tests.
    fn write_info_file(&self) {
        let info = NodeInfoFile {
            peer_id: self.peer_id.to_string(),
            region: &self.config.region,
            addrs: self
                .listen_addrs
                .iter()
                .map(|a| a.clone().with(Protocol::P2p(self.peer_id)).to_string())
                .collect(),
            metrics: self.metrics_addr.map(|a| a.to_string()),
            pid: std::process::id(),
        };
        let path = self.config.data_dir.join("node.json");
        let tmp = self.config.data_dir.join("node.json.tmp");
        let json = serde_json::to_vec_pretty(&info).expect("serializable");
        if let Err(e) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, &path)) {
            tracing::warn!(error = %e, path = %path.display(), "cannot write node.json");
        }
    }
}
