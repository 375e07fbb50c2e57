//! Cairn's storage node.
//!
//! For now only the on-disk [`store`]: shard bytes in files, an index in
//! redb, capacity enforcement, reconciliation on start, scrubbing and proofs
//! of storage answered from disk. The libp2p mesh and the daemon build on it.

#![warn(missing_docs)]

pub mod store;
