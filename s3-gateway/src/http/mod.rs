//! The listener side of the S3 endpoint: connection handling and its
//! limits, TLS, signatures the S3 library does not police, virtual-hosted
//! style, request ids, per-request metrics, and the custom routes beside
//! the S3 API as one.

pub mod conn;
pub mod error_text;
pub mod limits;
pub mod measured;
pub mod request_id;
pub mod routes;
pub mod signing;
pub mod tls;
pub mod vhost;
