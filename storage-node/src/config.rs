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
    /// Who may store here, and how much.
    pub accept: AcceptConfig,
    /// A copy whose owner neither stores nor renews it for this long is
    /// deleted.
    pub lease: Duration,
    /// How often expired copies are looked for.
    pub lease_check_every: Duration,
    /// How often per-owner usage counters are integrated and saved.
    pub usage_every: Duration,
    /// Compute tasks offered (`--compute`); `None`: runs none.
    pub compute: Option<crate::compute::ComputeConfig>,
}

/// The operator's choice of who may store shards on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptConfig {
    /// Owners not listed may store too (each within `owner_quota`, all
    /// together within `strangers_quota`).
    pub any: bool,
    /// Owners listed by peer id, each with its own quota (`None`: up to the
    /// capacity).
    pub listed: Vec<(libp2p::PeerId, Option<u64>)>,
    /// A file with more entries (one `any`, `<peer id>` or
    /// `<peer id>=<size>` per line, `#` comments), re-read when it changes.
    pub file: Option<PathBuf>,
    /// What one owner not listed may store; `None`: 5 % of the capacity.
    pub owner_quota: Option<u64>,
    /// What all owners not listed may store together; `None`: half the
    /// capacity.
    pub strangers_quota: Option<u64>,
}

impl Default for AcceptConfig {
    fn default() -> Self {
        Self {
            any: true,
            listed: Vec::new(),
            file: None,
            owner_quota: None,
            strangers_quota: None,
        }
    }
}

/// One `--accept` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptSpec {
    /// Any owner (within the strangers' quotas).
    Any,
    /// This owner, with its own quota (`None`: up to the capacity).
    Peer(libp2p::PeerId, Option<u64>),
}

/// Parses `any`, `<peer id>` or `<peer id>=<size>`.
pub fn parse_accept(text: &str) -> Result<AcceptSpec, ConfigError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("any") {
        return Ok(AcceptSpec::Any);
    }
    let (peer, quota) = match text.split_once('=') {
        Some((peer, size)) => (peer.trim(), Some(parse_size(size)?)),
        None => (text, None),
    };
    let peer = peer
        .parse()
        .map_err(|_| ConfigError::Accept(text.to_owned()))?;
    Ok(AcceptSpec::Peer(peer, quota))
}

/// Parses an accept file: one entry per line, blank lines and `#` comments
/// skipped.
pub fn parse_accept_file(text: &str) -> Result<Vec<AcceptSpec>, ConfigError> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(parse_accept)
        .collect()
}

/// Misbehaviour for fault tests, off by default and only settable by
/// flags whose names start with `--test-only`: a node that lies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Answer every challenge with a proof of random bytes.
    pub lie_proofs: bool,
    /// Acknowledge every put as stored, but throw the bytes away.
    pub drop_writes: bool,
    /// Behave honestly for this long after start, then misbehave (a node
    /// that passes a gateway's admission probe and turns bad later).
    pub after: Duration,
}

impl Faults {
    /// Whether the faults are in force, `uptime` after start.
    pub fn active(&self, uptime: Duration) -> bool {
        uptime >= self.after
    }
}

/// Per-peer, per-address and per-request limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Concurrent shard-protocol streams one peer may have open.
    pub streams_per_peer: usize,
    /// Concurrent streams all peers at one address prefix (/24, /48) not on
    /// the accept list may have open.
    pub streams_per_ip: usize,
    /// Shard bytes that puts from one address prefix (owners not on the
    /// accept list) may have in flight.
    pub put_bytes_per_ip: u64,
    /// Inbound connections from one address prefix.
    pub connections_per_ip: usize,
    /// Inbound connections in all.
    pub max_connections: usize,
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
            streams_per_ip: 256,
            put_bytes_per_ip: 512 << 20,
            connections_per_ip: 128,
            max_connections: 4096,
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
    /// Accept entries (`any`, `<peer id>`, `<peer id>=<size>`).
    pub accept: Option<Vec<String>>,
    /// Accept file.
    pub accept_file: Option<PathBuf>,
    /// Quota of each owner not listed, e.g. `"10GiB"`.
    pub owner_quota: Option<String>,
    /// Quota of all owners not listed together.
    pub strangers_quota: Option<String>,
    /// Lease, e.g. `"30d"`.
    pub lease: Option<String>,
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
    /// An accept entry did not parse.
    #[error("invalid accept entry {0:?} (use any, <peer id> or <peer id>=<size>)")]
    Accept(String),
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

    #[test]
    fn accept_entries_parse() {
        let peer = libp2p::PeerId::random();
        assert_eq!(parse_accept("any").unwrap(), AcceptSpec::Any);
        assert_eq!(
            parse_accept(&peer.to_string()).unwrap(),
            AcceptSpec::Peer(peer, None)
        );
        assert_eq!(
            parse_accept(&format!("{peer}=2GiB")).unwrap(),
            AcceptSpec::Peer(peer, Some(2 << 30))
        );
        assert!(parse_accept("nobody").is_err());
        assert!(parse_accept(&format!("{peer}=lots")).is_err());
        let file = format!("# operators we know\n{peer}=1GiB  # alice\n\nany\n");
        assert_eq!(
            parse_accept_file(&file).unwrap(),
            vec![AcceptSpec::Peer(peer, Some(1 << 30)), AcceptSpec::Any]
        );
    }
}
