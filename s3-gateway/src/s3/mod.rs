//! The S3 API: s3s calls [`Gateway`]'s methods after parsing and
//! authenticating a request; every operation not implemented answers
//! NotImplemented.

pub mod access;
pub mod acl;
pub mod checksum;
pub mod conditional;
pub mod copy_source;
pub mod service;
pub mod window;

pub use service::Gateway;
