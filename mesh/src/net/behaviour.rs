//! The swarm: TCP (TLS with AES-GCM first, or noise; then yamux) and QUIC
//! transports, Kademlia for discovery, identify for addresses, ping for RTT,
//! and raw streams for the shard protocol.

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::kad::store::{MemoryStore, MemoryStoreConfig};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, Swarm, identify, kad, noise, ping, tcp, yamux};

use super::limits::{ConnectionCaps, ConnectionLimits};
use super::tls::AesFirstTls;

/// Kademlia protocol name: Cairn's own DHT, separate from the public IPFS one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/kad/1.0.0");
/// Identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/cairn/id/1.0.0";
/// The DHT key every storage node provides, so gateways can enumerate nodes.
pub const NODES_KEY: &[u8] = b"/cairn/nodes/v1";

/// The mesh's network behaviour.
#[derive(NetworkBehaviour)]
pub struct MeshBehaviour {
    /// Discovery and node records.
    pub kad: kad::Behaviour<MemoryStore>,
    /// Learns peers' listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Liveness and round-trip time.
    pub ping: ping::Behaviour,
    /// Raw streams: the shard protocol.
    pub stream: libp2p_stream::Behaviour,
    /// Caps on inbound connections per address prefix and in all.
    pub limits: ConnectionLimits,
}

/// Builds a swarm for `keypair`. `server` puts Kademlia in server mode (storage
/// nodes answer DHT queries); gateways and tools are clients. Inbound
/// connections are capped by `caps`.
pub fn build_swarm(
    keypair: Keypair,
    server: bool,
    ping_interval: Duration,
    caps: ConnectionCaps,
) -> Result<Swarm<MeshBehaviour>, Box<dyn std::error::Error + Send + Sync>> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            // TLS first: its AES-GCM costs far less per byte than noise's
            // ChaCha20-Poly1305. Noise stays for peers that only speak it.
            (AesFirstTls::new, noise::Config::new),
            yamux::Config::default,
        )?
        .with_quic()
        .with_behaviour(|key| {
            let peer_id = key.public().to_peer_id();
            let mut config = kad::Config::new(KAD_PROTOCOL);
            config.set_record_ttl(Some(Duration::from_secs(3600)));
            config.set_provider_record_ttl(Some(Duration::from_secs(3600)));
            config.set_query_timeout(Duration::from_secs(10));
            // Nodes check every record and provider entry before storing it
            // (see the node daemon); clients store nothing for others.
            config.set_record_filtering(kad::StoreInserts::FilterBoth);
            let store = MemoryStore::with_config(
                peer_id,
                MemoryStoreConfig {
                    max_records: 100_000,
                    max_value_bytes: 16 << 10,
                    // Every node provides the one nodes key; the default of
                    // 20 would hide all but the first 20 nodes.
                    max_providers_per_key: 100_000,
                    // A gateway provides every content id it publishes.
                    max_provided_keys: 100_000,
                },
            );
            let mut kad = kad::Behaviour::with_config(peer_id, store, config);
            kad.set_mode(Some(if server {
                kad::Mode::Server
            } else {
                kad::Mode::Client
            }));
            let identify = identify::Behaviour::new(identify::Config::new(
                IDENTIFY_PROTOCOL.to_string(),
                key.public(),
            ));
            let ping = ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(ping_interval)
                    .with_timeout(Duration::from_secs(10)),
            );
            Ok(MeshBehaviour {
                kad,
                identify,
                ping,
                stream: libp2p_stream::Behaviour::new(),
                limits: ConnectionLimits::new(caps),
            })
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    Ok(swarm)
}
