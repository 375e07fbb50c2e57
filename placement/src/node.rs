//! What the gateway knows about one storage node.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// A node's identity: opaque bytes (for example a libp2p peer id, ~38 bytes).
///
/// Ordered and hashed by its bytes. Placement is deterministic in these bytes,
/// so the same node must always present the same id.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(Box<[u8]>);

impl NodeId {
    /// Wraps the given bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into_boxed_slice())
    }

    /// The raw bytes of the id.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for NodeId {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<&[u8]> for NodeId {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl AsRef<[u8]> for NodeId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    /// Lower-case hex of the id bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// The network a node dials from, as a failure domain: two shards of one
/// segment never share a subnet (unless [`Policy::distinct_subnets`] is off).
///
/// Usually the /24 of an IPv4 address or the /48 of an IPv6 address
/// ([`Subnet::from_ip`]), but any string works: equal strings are one subnet.
///
/// [`Policy::distinct_subnets`]: crate::Policy::distinct_subnets
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet(String);

impl Subnet {
    /// A subnet with the given name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The /24 of an IPv4 address (`"192.0.2.0/24"`) or the /48 of an IPv6
    /// address (`"2001:db8:1::/48"`). IPv4-mapped IPv6 addresses count as IPv4.
    pub fn from_ip(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Self(format!("{a}.{b}.{c}.0/24"))
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                Self(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
            }
        }
    }

    /// The subnet's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Subnet {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Subnet {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Liveness of a node as seen by this gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    /// Answering normally.
    Alive,
    /// Silent for a while; not used for new shards, asked for reads only
    /// after alive nodes.
    Suspect,
    /// Silent past the deadline; its shards are to be repaired.
    Dead,
}

/// Everything placement needs to know about one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// The node's identity.
    pub id: NodeId,
    /// The region the node advertises (e.g. `"eu-west"`); losing a whole
    /// region must leave every segment readable.
    pub region: String,
    /// The subnet the node dials from.
    pub subnet: Subnet,
    /// Free capacity the node advertises, in bytes.
    pub free_bytes: u64,
    /// Round-trip time measured from this gateway; `None` if not yet measured.
    pub rtt: Option<Duration>,
    /// Liveness as seen by this gateway.
    pub health: Health,
    /// Audit reputation in `0.0..=1.0`; nodes below
    /// [`Policy::reputation_floor`](crate::Policy::reputation_floor) get no
    /// new shards.
    pub reputation: f64,
}

impl NodeInfo {
    /// A node that is alive, fully reputable and has no measured RTT yet.
    pub fn new(
        id: impl Into<NodeId>,
        region: impl Into<String>,
        subnet: impl Into<Subnet>,
        free_bytes: u64,
    ) -> Self {
        Self {
            id: id.into(),
            region: region.into(),
            subnet: subnet.into(),
            free_bytes,
            rtt: None,
            health: Health::Alive,
            reputation: 1.0,
        }
    }

    /// The same node with a measured round-trip time.
    pub fn with_rtt(mut self, rtt: Duration) -> Self {
        self.rtt = Some(rtt);
        self
    }

    /// The same node with the given health.
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// The same node with the given reputation.
    pub fn with_reputation(mut self, reputation: f64) -> Self {
        self.reputation = reputation;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_from_ip() {
        assert_eq!(
            Subnet::from_ip("192.0.2.77".parse().unwrap()).as_str(),
            "192.0.2.0/24"
        );
        assert_eq!(
            Subnet::from_ip("2001:db8:1:2::5".parse().unwrap()).as_str(),
            "2001:db8:1::/48"
        );
        assert_eq!(
            Subnet::from_ip("::ffff:10.1.2.3".parse().unwrap()).as_str(),
            "10.1.2.0/24"
        );
    }

    #[test]
    fn node_id_display_is_hex() {
        let id = NodeId::new(vec![0x00, 0xab, 0x10]);
        assert_eq!(id.to_string(), "00ab10");
        assert_eq!(format!("{id:?}"), "NodeId(00ab10)");
        assert_eq!(id.as_bytes(), &[0x00, 0xab, 0x10]);
    }
}
