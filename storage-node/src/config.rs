//! The node's settings: command-line flags or a TOML file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::Multiaddr;
use serde::Deserialize;

/// Everything `cairn node` needs to run.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Data directory: identity key, shard files, index.
    pub data_dir: PathBuf,
    /// Bytes of shards offered.
    pub capacity: u64,
    /// The region the operator declares (e.g. `eu-west`).
    pub region: String,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to join the mesh through (with `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Limits protecting the node from any one peer.
    pub limits: Limits,
    /// How often to republish the node record and refresh the DHT.
    pub republish_every: Duration,
    /// How often to re-hash a batch of stored shards.
    pub scrub_every: Duration,
    /// How many shards each scrub pass re-hashes.
    pub scrub_batch: usize,
}

/// Misbehaviour for fault tests, off by default and only settable by
/// flags whose names start with `--test-only`: a node that lies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Answer every challenge with a proof of random bytes.
    pub lie_proofs: bool,
    /// Acknowledge every put as stored, but throw the bytes away.
    pub drop_writes: bool,
}

/// Per-peer and per-request limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Concurrent shard-protocol streams one peer may have open.
    pub streams_per_peer: usize,
    /// Time allowed for a whole request, bytes included.
    pub request_timeout: Duration,
    /// Largest shard accepted.
    pub max_shard_len: u64,
    /// Test-only misbehaviour.
    pub faults: Faults,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            streams_per_peer: 64,
            request_timeout: Duration::from_secs(60),
            max_shard_len: 64 << 20,
            faults: Faults::default(),
        }
    }
}

/// The TOML file form; every field optional, flags override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Data directory.
    pub data: Option<PathBuf>,
    /// Capacity, e.g. `"500GiB"`.
    pub capacity: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Listen addresses.
    pub listen: Option<Vec<String>>,
    /// Bootstrap addresses.
    pub bootstrap: Option<Vec<String>>,
    /// Metrics address, e.g. `"127.0.0.1:9101"`.
    pub metrics: Option<SocketAddr>,
    /// Streams per peer.
    pub streams_per_peer: Option<usize>,
    /// Request timeout in seconds.
    pub request_timeout_secs: Option<u64>,
    /// Scrub interval in seconds.
    pub scrub_every_secs: Option<u64>,
}

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<toml::de::Error>,
    },
    /// A size like `500GiB` did not parse.
    #[error("invalid size {0:?} (use e.g. 500GiB, 2TB, 1048576)")]
    Size(String),
    /// A multiaddress did not parse.
    #[error("invalid address {0:?}")]
    Addr(String),
    /// A required setting is missing.
    #[error("missing setting: {0}")]
    Missing(&'static str),
}

impl ConfigFile {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }
}

/// Parses a size such as `500GiB`, `1.5TB` or `1048576`.
pub fn parse_size(text: &str) -> Result<u64, ConfigError> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|_| ConfigError::Size(text.to_owned()))
}

/// Parses a multiaddress.
pub fn parse_addr(text: &str) -> Result<Multiaddr, ConfigError> {
    text.parse().map_err(|_| ConfigError::Addr(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        assert_eq!(parse_size("500GiB").unwrap(), 500 << 30);
        assert_eq!(parse_size("2 TB").unwrap(), 2_000_000_000_000);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn config_files_parse_and_reject_unknown_keys() {
        let file: ConfigFile = toml::from_str(
            "data = \"/srv/cairn\"\ncapacity = \"1GiB\"\nregion = \"eu-west\"\n\
             listen = [\"/ip4/0.0.0.0/tcp/4001\"]\nmetrics = \"127.0.0.1:9101\"\n",
        )
        .unwrap();
        assert_eq!(file.region.as_deref(), Some("eu-west"));
        assert!(toml::from_str::<ConfigFile>("capacty = \"1GiB\"").is_err());
    }
}
