//! The libp2p side of the mesh, shared by nodes and gateways: the swarm
//! behaviour (Kademlia, identify, ping, raw streams for the shard protocol),
//! the signed node records nodes publish in the DHT, and the shard client.

mod behaviour;
mod client;
mod driver;
mod limits;
mod pointer;
mod record;
mod rtt;
mod tls;
mod usage;

pub use behaviour::{
    IDENTIFY_PROTOCOL, KAD_PROTOCOL, MeshBehaviour, MeshBehaviourEvent, NODES_KEY, build_swarm,
};
pub use client::{ClientError, ShardClient};
pub use driver::{MeshClient, MeshError};
pub use limits::{ConnectionCaps, ConnectionLimits, IpPrefix, OverLimit, PeerNets};
pub use pointer::{PointerError, sign_pointer, verify_pointer};
pub use record::{NodeRecord, RecordError, SignedNodeRecord, record_key};
pub use usage::{SignedUsageReport, UsageError, UsageReport};

pub use libp2p;
pub use libp2p_stream;
