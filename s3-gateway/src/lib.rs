//! Cairn's S3 gateway: serves the S3 API, keeps object metadata, and turns
//! objects into encrypted, erasure-coded shards spread over the mesh.

pub mod access;
pub mod acl;
pub mod admin;
pub mod checksum;
pub mod conditional;
pub mod conn;
pub mod copy_source;
pub mod data;
pub mod durability_estimate;
pub mod error_text;
pub mod health;
pub mod keywrap;
pub mod limits;
pub mod measured;
pub mod meta;
pub mod metrics;
pub mod nodes;
pub mod request_id;
pub mod server;
pub mod service;
pub mod signing;
pub mod tls;
pub mod vhost;
pub mod window;

pub use server::{GatewayConfig, GatewayError, open_keys, open_meta, run};
