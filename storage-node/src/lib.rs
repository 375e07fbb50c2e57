//! Cairn's storage node: what an operator runs to offer disk to the mesh.
//!
//! - [`store`]: copies kept per owner (shard bytes in files, an index in
//!   redb), capacity and quota enforcement, leases, per-owner accounting,
//!   reconciliation on start, scrubbing, proofs from disk.
//! - [`compute`]: WebAssembly tasks run next to the shards they read
//!   (`--compute`).
//! - [`admission`]: who may store here and how much (accept list, quotas).
//! - [`server`]: the shard protocol served over libp2p streams.
//! - [`content_records`]: the content records and providers other peers
//!   may have this node keep in the DHT, and their quotas.
//! - [`daemon`]: identity, swarm, DHT membership and node records, metrics,
//!   background scrubbing, clean shutdown.

#![warn(missing_docs)]

pub mod admission;
pub mod compute;
pub mod config;
pub mod content_records;
pub mod daemon;
pub mod identity;
pub mod metrics;
pub mod server;
pub mod store;

pub use compute::ComputeConfig;
pub use config::{AcceptConfig, Faults, Limits, NodeConfig};
pub use daemon::{NodeError, run};
