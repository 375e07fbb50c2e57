//! Round-trip times per peer, as placement and reads should see them: the
//! smallest of the last few pings. A ping answered late because the peer
//! stalled for a moment (a paused process, a long GC, a full queue) says
//! nothing about how far away the peer is; with the latest sample alone,
//! one such ping would send reads to the far side of the world until the
//! next ping. Whether a peer answers at all is liveness's job, and slow
//! answers are what read hedging is for.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;

/// How many recent pings a peer's RTT is the minimum of (with the 5 s
/// ping interval, the last 20 s).
pub const RTT_WINDOW: usize = 4;

/// The last [`RTT_WINDOW`] ping round trips to one peer.
#[derive(Debug, Default, Clone)]
pub struct RttWindow {
    samples: [Option<Duration>; RTT_WINDOW],
    next: usize,
}

impl RttWindow {
    /// Records one ping's round trip, forgetting the oldest.
    pub fn record(&mut self, rtt: Duration) {
        self.samples[self.next] = Some(rtt);
        self.next = (self.next + 1) % RTT_WINDOW;
    }

    /// The smallest recent round trip (`None` before the first ping).
    pub fn rtt(&self) -> Option<Duration> {
        self.samples.iter().flatten().min().copied()
    }
}

/// The RTT windows of connected peers.
#[derive(Debug, Default)]
pub struct PeerRtts(HashMap<PeerId, RttWindow>);

impl PeerRtts {
    /// Records a ping to `peer`.
    pub fn record(&mut self, peer: PeerId, rtt: Duration) {
        self.0.entry(peer).or_default().record(rtt);
    }

    /// `peer`'s RTT, while connected and pinged.
    pub fn rtt(&self, peer: &PeerId) -> Option<Duration> {
        self.0.get(peer).and_then(RttWindow::rtt)
    }

    /// Forgets `peer` (its last connection closed).
    pub fn forget(&mut self, peer: &PeerId) {
        self.0.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_stalled_ping_does_not_move_a_peer_away() {
        let mut window = RttWindow::default();
        assert_eq!(window.rtt(), None);
        window.record(ms(40));
        window.record(ms(8_000));
        assert_eq!(window.rtt(), Some(ms(40)));
    }

    #[test]
    fn a_peer_that_really_moved_is_seen_there_after_a_window() {
        let mut window = RttWindow::default();
        window.record(ms(2));
        for _ in 0..RTT_WINDOW - 1 {
            window.record(ms(120));
            assert_eq!(window.rtt(), Some(ms(2)));
        }
        window.record(ms(120));
        assert_eq!(window.rtt(), Some(ms(120)));
    }

    #[test]
    fn a_peer_forgotten_has_no_rtt() {
        let peer = PeerId::random();
        let mut rtts = PeerRtts::default();
        rtts.record(peer, ms(3));
        assert_eq!(rtts.rtt(&peer), Some(ms(3)));
        rtts.forget(&peer);
        assert_eq!(rtts.rtt(&peer), None);
    }
}
