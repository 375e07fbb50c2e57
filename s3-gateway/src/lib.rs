//! Cairn's S3 gateway: serves the S3 API, keeps object metadata, and turns
//! objects into encrypted, erasure-coded shards spread over the mesh.
//!
//! - [`s3`]: the S3 API (s3s's `S3` trait), one module per S3 area, and the
//!   S3 rules it needs (access, ACLs, checksums, conditions, windows);
//! - [`http`]: the listener side: connections, TLS, limits, signatures,
//!   virtual hosts, request ids, request metrics;
//! - [`data`]: object bytes to placed shards and back, the node view, and
//!   the object keys' wrapping;
//! - [`meta`]: the metadata store;
//! - [`health`]: liveness, audits, checking, repair, garbage collection;
//! - [`jobs`]: compute jobs run on the nodes holding their input;
//! - [`admin`]: the admin endpoint and the metrics;
//! - [`console`]: the web console;
//! - [`server`]: running all of it.

pub mod admin;
pub mod backup;
pub mod console;
pub mod cors;
pub mod data;
pub mod health;
pub mod http;
pub mod jobs;
pub mod meta;
pub mod pins;
pub mod policy;
pub mod s3;
pub mod server;

pub use admin::metrics;
pub use data::{keywrap, nodes};
pub use http::{conn, tls};
pub use server::{GatewayConfig, GatewayError, open_keys, open_meta, run};
