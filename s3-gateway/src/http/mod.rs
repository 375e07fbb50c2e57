//! The listener side of the S3 endpoint: connection handling and its
//! limits, TLS, signatures the S3 library does not police, virtual-hosted
//! style, request ids and per-request metrics.

pub mod conn;
pub mod error_text;
pub mod limits;
pub mod measured;
pub mod request_id;
pub mod signing;
pub mod tls;
pub mod vhost;
