//! The node's identity key: shared with gateways, so it lives in `mesh`.

pub use mesh::identity::*;
