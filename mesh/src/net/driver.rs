//! A mesh client for gateways and tools: a swarm driven in a background task,
//! with a handle to dial peers, discover storage nodes through the DHT, and
//! open shard-protocol streams.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use libp2p::identity::Keypair;
use libp2p::kad::{self, RecordKey};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, ping};
use tokio::sync::{mpsc, oneshot};

use super::behaviour::{KAD_PROTOCOL, MeshBehaviour, MeshBehaviourEvent, NODES_KEY, build_swarm};
use super::client::ShardClient;
use super::record::{NodeRecord, SignedNodeRecord, record_key};
use super::rtt::PeerRtts;

/// Why a mesh operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The swarm could not be built.
    #[error("building the swarm: {0}")]
    Build(String),
    /// A dial failed.
    #[error("dialling {addr}: {reason}")]
    Dial {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The address names no peer (`/p2p/<peer id>` is needed).
    #[error("{0} has no /p2p/<peer id> suffix")]
    NoPeerId(Multiaddr),
    /// The background task is gone.
    #[error("the mesh task has stopped")]
    Stopped,
    /// A record could not be stored in the DHT.
    #[error("publishing in the DHT: {0}")]
    Publish(String),
}

enum Command {
    Dial(Multiaddr, PeerId, oneshot::Sender<Result<(), String>>),
    FindNodes(oneshot::Sender<Vec<NodeRecord>>),
    PublishContent {
        locator: Vec<u8>,
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    FindContent(Vec<u8>, oneshot::Sender<Vec<(Vec<u8>, Vec<u8>)>>),
}

/// A handle on a client swarm running in the background. Dropping every
/// handle stops it.
#[derive(Clone)]
pub struct MeshClient {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
    control: libp2p_stream::Control,
    shards: ShardClient,
    rtts: Rtts,
}

/// Recent ping round trips per connected peer, shared between the driver
/// (which records them) and every client handle (which reads them).
type Rtts = Arc<Mutex<PeerRtts>>;

impl MeshClient {
    /// Starts a client swarm with `keypair` (its peer id is the owner of the
    /// shards it stores). Requests time out after `timeout`.
    pub fn spawn(keypair: Keypair, timeout: Duration) -> Result<Self, MeshError> {
        let peer_id = keypair.public().to_peer_id();
        let swarm = build_swarm(
            keypair,
            false,
            Duration::from_secs(5),
            super::limits::ConnectionCaps::UNLIMITED,
        )
        .map_err(|e| MeshError::Build(e.to_string()))?;
        let control = swarm.behaviour().stream.new_control();
        let (commands, receiver) = mpsc::channel(64);
        let rtts = Rtts::default();
        tokio::spawn(Driver::new(swarm, rtts.clone()).run(receiver));
        Ok(Self {
            peer_id,
            commands,
            control: control.clone(),
            shards: ShardClient::new(control, timeout),
            rtts,
        })
    }

    /// This client's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The shard-protocol client.
    pub fn shards(&self) -> ShardClient {
        self.shards.clone()
    }

    /// The round-trip time to `peer` (the smallest of its last few pings),
    /// while connected: what placement and reads weigh nodes by.
    pub fn rtt(&self, peer: &PeerId) -> Option<Duration> {
        self.rtts.lock().expect("not poisoned").rtt(peer)
    }

    /// The raw stream control, for protocols beyond the shard client.
    pub fn stream_control(&self) -> libp2p_stream::Control {
        self.control.clone()
    }

    /// Connects to `addr` (which must end in `/p2p/<peer id>`) and adds it to
    /// the DHT routing table. Returns the peer id.
    pub async fn dial(&self, addr: &Multiaddr) -> Result<PeerId, MeshError> {
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            return Err(MeshError::NoPeerId(addr.clone()));
        };
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Dial(addr.clone(), peer, reply))
            .await
            .map_err(|_| MeshError::Stopped)?;
        answer
            .await
            .map_err(|_| MeshError::Stopped)?
            .map_err(|reason| MeshError::Dial {
                addr: addr.clone(),
                reason,
            })?;
        Ok(peer)
    }

    /// Finds storage nodes through the DHT: the providers of the well-known
    /// nodes key, then each one's signed record. Records that fail
    /// verification or have expired are dropped.
    pub async fn find_nodes(&self) -> Result<Vec<NodeRecord>, MeshError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::FindNodes(reply))
            .await
            .map_err(|_| MeshError::Stopped)?;
        answer.await.map_err(|_| MeshError::Stopped)
    }

    /// Stores a signed content record (`key`, `value`, made with
    /// `mesh::content::SignedContentRecord::sign`) in the DHT and announces
    /// this peer as a provider of `locator`; returns once both reached at
    /// least one node (or why not).
    pub async fn publish_content(
        &self,
        locator: Vec<u8>,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<(), MeshError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::PublishContent {
                locator,
                key,
                value,
                reply,
            })
            .await
            .map_err(|_| MeshError::Stopped)?;
        answer
            .await
            .map_err(|_| MeshError::Stopped)?
            .map_err(MeshError::Publish)
    }

    /// Finds the content records of `locator`: its providers, then each
    /// one's record (key, value), unverified: the caller checks them
    /// (signature, then the manifest against the CID).
    pub async fn find_content(
        &self,
        locator: Vec<u8>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, MeshError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::FindContent(locator, reply))
            .await
            .map_err(|_| MeshError::Stopped)?;
        answer.await.map_err(|_| MeshError::Stopped)
    }
}

/// A content record being stored and announced: the two queries left,
/// and the first failure.
struct ContentPublish {
    left: usize,
    failed: Option<String>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// Most providers whose record one content lookup fetches.
const MAX_CONTENT_PROVIDERS_ASKED: usize = 20;

/// A content lookup in progress.
struct ContentLookup {
    locator: Vec<u8>,
    reply: oneshot::Sender<Vec<(Vec<u8>, Vec<u8>)>>,
    providers_done: bool,
    asked: HashSet<PeerId>,
    pending: HashSet<kad::QueryId>,
    found: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A discovery in progress.
struct Discovery {
    reply: oneshot::Sender<Vec<NodeRecord>>,
    providers_done: bool,
    asked: HashSet<PeerId>,
    pending: HashSet<kad::QueryId>,
    found: HashMap<PeerId, NodeRecord>,
}

struct Driver {
    swarm: Swarm<MeshBehaviour>,
    dials: HashMap<PeerId, Vec<oneshot::Sender<Result<(), String>>>>,
    /// Discoveries by their providers query.
    discoveries: HashMap<kad::QueryId, Discovery>,
    /// Record queries, mapped to the providers query they belong to and the
    /// provider whose record they fetch.
    record_queries: HashMap<kad::QueryId, (kad::QueryId, PeerId)>,
    /// Content lookups by their providers query, and their record queries.
    content_lookups: HashMap<kad::QueryId, ContentLookup>,
    content_records: HashMap<kad::QueryId, kad::QueryId>,
    /// Content publications by their queries (two share one entry).
    content_publishes: HashMap<kad::QueryId, Arc<Mutex<Option<ContentPublish>>>>,
    rtts: Rtts,
}

impl Driver {
    fn new(swarm: Swarm<MeshBehaviour>, rtts: Rtts) -> Self {
        Self {
            rtts,
            swarm,
            dials: HashMap::new(),
            discoveries: HashMap::new(),
            record_queries: HashMap::new(),
            content_lookups: HashMap::new(),
            content_records: HashMap::new(),
            content_publishes: HashMap::new(),
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Dial(addr, peer, reply) => {
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(Ok(()));
                    return;
                }
                let mut bare = addr.clone();
                bare.pop();
                self.swarm.behaviour_mut().kad.add_address(&peer, bare);
                match self.swarm.dial(addr) {
                    Ok(()) => self.dials.entry(peer).or_default().push(reply),
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            Command::PublishContent {
                locator,
                key,
                value,
                reply,
            } => {
                let kad = &mut self.swarm.behaviour_mut().kad;
                let record = kad::Record::new(RecordKey::new(&key), value);
                let started = kad
                    .put_record(record, kad::Quorum::One)
                    .and_then(|put| Ok((put, kad.start_providing(RecordKey::new(&locator))?)));
                match started {
                    Ok((put, provide)) => {
                        let publish = Arc::new(Mutex::new(Some(ContentPublish {
                            left: 2,
                            failed: None,
                            reply,
                        })));
                        self.content_publishes.insert(put, publish.clone());
                        self.content_publishes.insert(provide, publish);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            Command::FindContent(locator, reply) => {
                let query = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(RecordKey::new(&locator));
                self.content_lookups.insert(
                    query,
                    ContentLookup {
                        locator,
                        reply,
                        providers_done: false,
                        asked: HashSet::new(),
                        pending: HashSet::new(),
                        found: Vec::new(),
                    },
                );
            }
            Command::FindNodes(reply) => {
                let query = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(RecordKey::new(&NODES_KEY));
                self.discoveries.insert(
                    query,
                    Discovery {
                        reply,
                        providers_done: false,
                        asked: HashSet::new(),
                        pending: HashSet::new(),
                        found: HashMap::new(),
                    },
                );
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<MeshBehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                for reply in self.dials.remove(&peer_id).unwrap_or_default() {
                    let _ = reply.send(Ok(()));
                }
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            })) => {
                self.rtts.lock().expect("not poisoned").record(peer, rtt);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.rtts.lock().expect("not poisoned").forget(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                for reply in self.dials.remove(&peer).unwrap_or_default() {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&KAD_PROTOCOL) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Kad(
                kad::Event::OutboundQueryProgressed {
                    id, result, step, ..
                },
            )) => self.on_query(id, result, step.last),
            _ => {}
        }
    }

    fn on_query(&mut self, id: kad::QueryId, result: kad::QueryResult, last: bool) {
        match result {
            kad::QueryResult::GetProviders(result) if self.content_lookups.contains_key(&id) => {
                let lookup = self.content_lookups.get_mut(&id).expect("checked");
                if let Err(e) = &result {
                    tracing::debug!(error = %e, "looking up content providers");
                }
                if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
                    tracing::debug!(found = providers.len(), "content providers found");
                    for provider in providers {
                        // Providers cost nothing to make: ask a few.
                        if lookup.asked.len() >= MAX_CONTENT_PROVIDERS_ASKED {
                            break;
                        }
                        if lookup.asked.insert(provider) {
                            let key = crate::content::record_key(&lookup.locator, &provider);
                            let query = self
                                .swarm
                                .behaviour_mut()
                                .kad
                                .get_record(RecordKey::new(&key));
                            lookup.pending.insert(query);
                            self.content_records.insert(query, id);
                        }
                    }
                }
                if last {
                    lookup.providers_done = true;
                }
                self.finish_content_if_done(id);
            }
            kad::QueryResult::GetRecord(result) if self.content_records.contains_key(&id) => {
                let parent = self.content_records[&id];
                if let Some(lookup) = self.content_lookups.get_mut(&parent) {
                    if let Ok(kad::GetRecordOk::FoundRecord(found)) = result {
                        let record = found.record;
                        lookup.found.push((record.key.to_vec(), record.value));
                    }
                    if last {
                        lookup.pending.remove(&id);
                    }
                }
                if last {
                    self.content_records.remove(&id);
                    self.finish_content_if_done(parent);
                }
            }
            kad::QueryResult::PutRecord(result) => {
                self.content_published(id, result.err().map(|e| e.to_string()))
            }
            kad::QueryResult::StartProviding(result) => {
                self.content_published(id, result.err().map(|e| e.to_string()))
            }
            kad::QueryResult::GetProviders(result) => {
                let Some(discovery) = self.discoveries.get_mut(&id) else {
                    return;
                };
                if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
                    for provider in providers {
                        if discovery.asked.insert(provider) {
                            let key = RecordKey::new(&record_key(&provider));
                            let query = self.swarm.behaviour_mut().kad.get_record(key);
                            discovery.pending.insert(query);
                            self.record_queries.insert(query, (id, provider));
                        }
                    }
                }
                if last {
                    discovery.providers_done = true;
                }
                self.finish_if_done(id);
            }
            kad::QueryResult::GetRecord(result) => {
                let Some(&(parent, provider)) = self.record_queries.get(&id) else {
                    return;
                };
                if let Some(discovery) = self.discoveries.get_mut(&parent) {
                    if let Ok(kad::GetRecordOk::FoundRecord(found)) = result {
                        // Only the provider's own signed record, and the
                        // newest copy if several peers answer.
                        match SignedNodeRecord::verify(&found.record.value, Some(&provider)) {
                            Ok(record) => {
                                let newer = discovery
                                    .found
                                    .get(&provider)
                                    .is_none_or(|held| held.issued_at < record.issued_at);
                                if newer {
                                    for addr in record.multiaddrs() {
                                        self.swarm.add_peer_address(provider, addr);
                                    }
                                    discovery.found.insert(provider, record);
                                }
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "dropping an invalid node record")
                            }
                        }
                    }
                    if last {
                        discovery.pending.remove(&id);
                    }
                }
                if last {
                    self.record_queries.remove(&id);
                    self.finish_if_done(parent);
                }
            }
            _ => {}
        }
    }

    /// One of a content publication's queries ended (`failed`: why not).
    fn content_published(&mut self, id: kad::QueryId, failed: Option<String>) {
        let Some(publish) = self.content_publishes.remove(&id) else {
            return;
        };
        let mut slot = publish.lock().expect("not poisoned");
        let Some(state) = slot.as_mut() else {
            return;
        };
        state.left -= 1;
        if let Some(why) = failed {
            tracing::info!(error = %why, "a content record reached too few nodes");
            state.failed.get_or_insert(why);
        }
        if state.left == 0 {
            let state = slot.take().expect("present");
            let _ = state.reply.send(state.failed.map_or(Ok(()), Err));
        }
    }

    fn finish_content_if_done(&mut self, id: kad::QueryId) {
        let done = self
            .content_lookups
            .get(&id)
            .is_some_and(|l| l.providers_done && l.pending.is_empty());
        if done {
            let lookup = self.content_lookups.remove(&id).expect("present");
            let _ = lookup.reply.send(lookup.found);
        }
    }

    fn finish_if_done(&mut self, id: kad::QueryId) {
        let done = self
            .discoveries
            .get(&id)
            .is_some_and(|d| d.providers_done && d.pending.is_empty());
        if done {
            let discovery = self.discoveries.remove(&id).expect("present");
            let mut records: Vec<NodeRecord> = discovery.found.into_values().collect();
            records.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
            let _ = discovery.reply.send(records);
        }
    }
}
