//! The user-space router of the WAN devnet: reads IP packets from one TUN
//! device per region, holds each for the one-way delay between its source
//! and destination regions (and, with a bandwidth cap, until the link
//! between them is free), then writes it to the destination region's TUN.
//!
//! This machine's kernel has no `netem`, so the delay is applied here, to
//! every packet, in both directions: a TCP round trip between regions `a`
//! and `b` takes `delay(a, b) + delay(b, a)` more than on loopback. Packets
//! of one region pair keep their order (the delay and the link are the same
//! for all of them). A packet to an address outside the WAN, or that the
//! destination TUN cannot take right now, is dropped, as a router would.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Largest packet the router moves (the TUN devices' MTU is 1500).
const MAX_PACKET: usize = 65_536;

/// One direction between two regions: the packets in flight on it.
struct Link {
    /// One-way delay.
    delay: Duration,
    /// Bytes per second, if capped.
    rate: Option<u64>,
    /// When the link finishes sending what it already holds.
    free_at: Instant,
    /// Packets in flight, in order, each with when it arrives.
    queue: VecDeque<(Instant, Vec<u8>)>,
}

/// Where packets go: which TUN serves which address, and the links.
pub struct Router {
    tuns: Vec<File>,
    /// The second octet of every WAN address (10.<net>.x.y).
    net: u8,
    /// The third octet of each TUN's addresses (10.<net>.<octet>.x).
    octets: Vec<u8>,
    /// `links[from * n + to]`.
    links: Vec<Link>,
    stop: Arc<AtomicBool>,
    /// Packets dropped (no route, or the TUN was full).
    pub dropped: u64,
}

impl Router {
    /// A router over `tuns` (non-blocking TUN files), TUN `i` serving the
    /// addresses `10.<net>.<octets[i]>.0/24`; `link(i, j)` gives the one-way
    /// delay from TUN `i`'s site to TUN `j`'s and that direction's optional
    /// cap in bytes per second.
    pub fn new(
        tuns: Vec<File>,
        net: u8,
        octets: Vec<u8>,
        link: impl Fn(usize, usize) -> (Duration, Option<u64>),
        stop: Arc<AtomicBool>,
    ) -> Self {
        let n = tuns.len();
        let now = Instant::now();
        let links = (0..n * n)
            .map(|k| {
                let (delay, rate) = link(k / n, k % n);
                Link {
                    delay,
                    rate,
                    free_at: now,
                    queue: VecDeque::new(),
                }
            })
            .collect();
        Self {
            tuns,
            net,
            octets,
            links,
            stop,
            dropped: 0,
        }
    }

    /// The TUN serving `dst`, if it is inside the WAN.
    fn tun_of(&self, dst: Ipv4Addr) -> Option<usize> {
        let o = dst.octets();
        if o[0] != 10 || o[1] != self.net {
            return None;
        }
        self.octets.iter().position(|&x| x == o[2])
    }

    /// Takes a packet read from TUN `from`.
    fn route(&mut self, from: usize, packet: &[u8], now: Instant) {
        // IPv4 only: version 4, destination at bytes 16..20.
        if packet.len() < 20 || packet[0] >> 4 != 4 {
            self.dropped += 1;
            return;
        }
        let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
        let Some(to) = self.tun_of(dst) else {
            self.dropped += 1;
            return;
        };
        let n = self.tuns.len();
        let link = &mut self.links[from * n + to];
        // Serialisation on a capped link, then the propagation delay.
        let sent = match link.rate {
            Some(rate) => {
                let start = link.free_at.max(now);
                let took = Duration::from_secs_f64(packet.len() as f64 / rate as f64);
                link.free_at = start + took;
                link.free_at
            }
            None => now,
        };
        link.queue.push_back((sent + link.delay, packet.to_vec()));
    }

    /// Writes out every packet due by `now`; returns when the next one is
    /// due.
    fn deliver(&mut self, now: Instant) -> Option<Instant> {
        let n = self.tuns.len();
        let mut next: Option<Instant> = None;
        for (k, link) in self.links.iter_mut().enumerate() {
            while let Some((due, _)) = link.queue.front() {
                if *due > now {
                    next = Some(next.map_or(*due, |n| n.min(*due)));
                    break;
                }
                let (_, packet) = link.queue.pop_front().expect("front exists");
                if (&self.tuns[k % n]).write(&packet).is_err() {
                    self.dropped += 1;
                }
            }
        }
        next
    }

    /// Moves packets until told to stop.
    pub fn run(mut self) -> io::Result<()> {
        let mut buf = vec![0u8; MAX_PACKET];
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let next = self.deliver(now);
            // Wait for a packet, the next delivery, or a stop check.
            let wait = next
                .map_or(Duration::from_millis(100), |at| {
                    at.saturating_duration_since(now)
                })
                .min(Duration::from_millis(100));
            let mut fds: Vec<libc::pollfd> = self
                .tuns
                .iter()
                .map(|t| libc::pollfd {
                    fd: t.as_fd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // ppoll takes the wait to the nanosecond: poll's milliseconds
            // would hold a packet up to a millisecond past its due time.
            let timeout = libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(wait.subsec_nanos() as i32),
            };
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd entries
            // and `timeout` a valid timespec for the duration of the call;
            // no signal mask is given.
            let ready = unsafe {
                libc::ppoll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    &timeout,
                    std::ptr::null(),
                )
            };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for (i, fd) in fds.iter().enumerate() {
                if fd.revents & libc::POLLIN == 0 {
                    continue;
                }
                // Drain what is there (non-blocking reads).
                loop {
                    match (&self.tuns[i]).read(&mut buf) {
                        Ok(0) => break,
                        Ok(len) => self.route(i, &buf[..len], now),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }
}

/// Opens a new TUN device named `name` (no packet information header,
/// non-blocking), owned by this process: it disappears when the file is
/// closed.
pub fn open_tun(name: &str) -> io::Result<File> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} is too long"),
        ));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    // struct ifreq: the name, then the flags (a short) in the union.
    let mut ifreq = [0u8; 40];
    ifreq[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    ifreq[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq`, which `ifreq`
    // is large enough to hold; the fd is open for the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF as _, ifreq.as_mut_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: F_GETFL/F_SETFL on an open fd.
    unsafe {
        let fl = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if fl < 0 || libc::fcntl(file.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(dst: [u8; 4], len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[16..20].copy_from_slice(&dst);
        p
    }

    fn router(n: usize, rate: Option<u64>) -> Router {
        let tuns = (0..n)
            .map(|_| tempfile::tempfile().unwrap())
            .collect::<Vec<_>>();
        Router::new(
            tuns,
            77,
            (0..n as u8).collect(),
            move |a, b| {
                let ms = if a == b { 0 } else { 10 * (a + b) as u64 };
                (Duration::from_millis(ms), rate)
            },
            Arc::default(),
        )
    }

    #[test]
    fn packets_wait_for_their_link_delay_and_keep_their_order() {
        let mut r = router(3, None);
        let t0 = Instant::now();
        r.route(0, &packet([10, 77, 2, 1], 100), t0);
        r.route(0, &packet([10, 77, 2, 1], 101), t0);
        r.route(0, &packet([10, 77, 1, 1], 102), t0);
        r.route(0, &packet([192, 168, 0, 1], 100), t0);
        assert_eq!(r.dropped, 1, "outside the WAN");
        // Nothing due at once; the 0→1 packet (10 ms) first.
        assert_eq!(r.deliver(t0), Some(t0 + Duration::from_millis(10)));
        let q = |r: &Router, from: usize, to: usize| r.links[from * 3 + to].queue.len();
        assert_eq!((q(&r, 0, 1), q(&r, 0, 2)), (1, 2));
        r.deliver(t0 + Duration::from_millis(10));
        assert_eq!((q(&r, 0, 1), q(&r, 0, 2)), (0, 2));
        assert_eq!(
            r.deliver(t0 + Duration::from_millis(19)),
            Some(t0 + Duration::from_millis(20))
        );
        assert_eq!(r.deliver(t0 + Duration::from_millis(20)), None);
        assert_eq!(q(&r, 0, 2), 0);
    }

    #[test]
    fn a_capped_link_sends_one_packet_after_another() {
        // 1000 bytes/s: a 100-byte packet takes 100 ms to send.
        let mut r = router(2, Some(1000));
        let t0 = Instant::now();
        for _ in 0..3 {
            r.route(0, &packet([10, 77, 1, 1], 100), t0);
        }
        let due: Vec<Instant> = r.links[1].queue.iter().map(|(d, _)| *d).collect();
        let ms = |d: Instant| (d - t0).as_millis();
        assert_eq!(
            due.iter().map(|&d| ms(d)).collect::<Vec<_>>(),
            [110, 210, 310]
        );
    }
}
