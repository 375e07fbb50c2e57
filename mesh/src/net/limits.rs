//! Limits a stranger cannot multiply: peer ids cost nothing, so what one
//! party may hold open is bounded per network address (per /24 for IPv4,
//! per /48 for IPv6), not per peer id.
//!
//! [`ConnectionLimits`] is a swarm behaviour that refuses inbound
//! connections beyond a cap per address prefix and beyond a global cap.
//! It counts a connection from the moment it is accepted (before its
//! handshake, which costs CPU) until it closes or fails. It also records
//! which prefix each connected peer came from ([`PeerNets`]) before any
//! stream can be opened on the connection, so limits on streams can key on
//! the address too.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// The network a peer's address belongs to for limits: its /24 (IPv4) or
/// /48 (IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpPrefix {
    /// The first three octets of an IPv4 address.
    V4([u8; 3]),
    /// The first six bytes of an IPv6 address.
    V6([u8; 6]),
}

impl IpPrefix {
    /// The prefix of `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                IpPrefix::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::of(IpAddr::V4(v4)),
                None => {
                    let o = v6.octets();
                    IpPrefix::V6([o[0], o[1], o[2], o[3], o[4], o[5]])
                }
            },
        }
    }

    /// The prefix of the first IP address in `addr`, if it has one.
    pub fn of_multiaddr(addr: &Multiaddr) -> Option<Self> {
        addr.iter().find_map(|p| match p {
            Protocol::Ip4(ip) => Some(Self::of(IpAddr::V4(ip))),
            Protocol::Ip6(ip) => Some(Self::of(IpAddr::V6(ip))),
            _ => None,
        })
    }
}

impl std::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpPrefix::V4([a, b, c]) => write!(f, "{a}.{b}.{c}.0/24"),
            IpPrefix::V6(o) => write!(
                f,
                "{:x}:{:x}:{:x}::/48",
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([o[2], o[3]]),
                u16::from_be_bytes([o[4], o[5]])
            ),
        }
    }
}

/// Caps on inbound connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// Inbound connections from one address prefix.
    pub per_prefix: usize,
    /// Inbound connections in all.
    pub total: usize,
}

impl ConnectionCaps {
    /// No caps (gateways and tools, which accept no connections).
    pub const UNLIMITED: Self = Self {
        per_prefix: usize::MAX,
        total: usize::MAX,
    };
}

/// Why an inbound connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum OverLimit {
    /// The address prefix has too many connections open.
    #[error("{0} already has {1} connections open")]
    Prefix(IpPrefix, usize),
    /// The node has too many connections open.
    #[error("{0} inbound connections already open")]
    Total(usize),
}

/// The address prefix each connected peer's latest connection came from
/// (shared: cheap to clone).
pub type PeerNets = Arc<Mutex<HashMap<PeerId, IpPrefix>>>;

/// Refuses inbound connections over [`ConnectionCaps`], and keeps
/// [`PeerNets`].
#[derive(Debug)]
pub struct ConnectionLimits {
    caps: ConnectionCaps,
    by_prefix: HashMap<IpPrefix, usize>,
    counted: HashMap<ConnectionId, Option<IpPrefix>>,
    nets: PeerNets,
}

impl ConnectionLimits {
    /// A behaviour enforcing `caps`.
    pub fn new(caps: ConnectionCaps) -> Self {
        Self {
            caps,
            by_prefix: HashMap::new(),
            counted: HashMap::new(),
            nets: PeerNets::default(),
        }
    }

    /// Where each connected peer came from.
    pub fn peer_nets(&self) -> PeerNets {
        self.nets.clone()
    }

    fn remember(&self, peer: PeerId, addr: &Multiaddr) {
        if let Some(prefix) = IpPrefix::of_multiaddr(addr) {
            self.nets.lock().expect("not poisoned").insert(peer, prefix);
        }
    }

    /// Inbound connections counted now, in all.
    pub fn open(&self) -> usize {
        self.counted.len()
    }

    fn admit(&mut self, id: ConnectionId, remote: &Multiaddr) -> Result<(), ConnectionDenied> {
        if self.counted.contains_key(&id) {
            return Ok(());
        }
        if self.counted.len() >= self.caps.total {
            return Err(ConnectionDenied::new(OverLimit::Total(self.counted.len())));
        }
        let prefix = IpPrefix::of_multiaddr(remote);
        if let Some(prefix) = prefix {
            let open = self.by_prefix.get(&prefix).copied().unwrap_or(0);
            if open >= self.caps.per_prefix {
                return Err(ConnectionDenied::new(OverLimit::Prefix(prefix, open)));
            }
            *self.by_prefix.entry(prefix).or_default() += 1;
        }
        self.counted.insert(id, prefix);
        Ok(())
    }

    fn release(&mut self, id: ConnectionId) {
        if let Some(Some(prefix)) = self.counted.remove(&id)
            && let Some(open) = self.by_prefix.get_mut(&prefix)
        {
            *open -= 1;
            if *open == 0 {
                self.by_prefix.remove(&prefix);
            }
        }
    }
}

impl NetworkBehaviour for ConnectionLimits {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.admit(connection_id, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit(connection_id, remote_addr)?;
        self.remember(peer, remote_addr);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.remember(peer, addr);
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(closed) => {
                self.release(closed.connection_id);
                if closed.remaining_established == 0 {
                    self.nets
                        .lock()
                        .expect("not poisoned")
                        .remove(&closed.peer_id);
                }
            }
            FromSwarm::ListenFailure(failed) => self.release(failed.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_group_v4_by_24_and_v6_by_48() {
        let a = IpPrefix::of("10.1.2.3".parse().unwrap());
        assert_eq!(a, IpPrefix::of("10.1.2.200".parse().unwrap()));
        assert_ne!(a, IpPrefix::of("10.1.3.3".parse().unwrap()));
        assert_eq!(a.to_string(), "10.1.2.0/24");
        let b = IpPrefix::of("2001:db8:1:2::1".parse().unwrap());
        assert_eq!(b, IpPrefix::of("2001:db8:1:ffff::9".parse().unwrap()));
        assert_ne!(b, IpPrefix::of("2001:db8:2::1".parse().unwrap()));
        assert_eq!(a, IpPrefix::of("::ffff:10.1.2.9".parse().unwrap()));
        assert_eq!(
            IpPrefix::of_multiaddr(&addr("/ip4/10.1.2.3/tcp/4001")),
            Some(a)
        );
    }

    #[test]
    fn caps_hold_per_prefix_and_in_all_and_free_on_close() {
        let mut limits = ConnectionLimits::new(ConnectionCaps {
            per_prefix: 2,
            total: 3,
        });
        let (a, b) = (addr("/ip4/10.0.0.1/tcp/1"), addr("/ip4/10.9.0.1/tcp/1"));
        let ids: Vec<ConnectionId> = (0..5)
            .map(|_| ConnectionId::new_unchecked(rand_id()))
            .collect();
        limits.admit(ids[0], &a).unwrap();
        limits.admit(ids[0], &a).unwrap(); // the same connection, established
        limits.admit(ids[1], &a).unwrap();
        assert!(limits.admit(ids[2], &a).is_err(), "third from one /24");
        limits.admit(ids[2], &b).unwrap();
        assert!(limits.admit(ids[3], &b).is_err(), "over the total");
        limits.release(ids[0]);
        limits.admit(ids[3], &a).unwrap();
        assert_eq!(limits.open(), 3);
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1 << 40);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
