//! Cairn's S3 gateway: serves the S3 API, keeps object metadata, and turns
//! objects into encrypted, erasure-coded shards spread over the mesh.

pub mod data;
pub mod meta;
pub mod nodes;
pub mod request_id;
pub mod server;
pub mod service;

pub use server::{GatewayConfig, GatewayError, open_meta, run};
