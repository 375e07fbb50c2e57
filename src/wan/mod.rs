//! A WAN for the devnet: one network namespace per region, each with its
//! own address, joined by a user-space router ([`router`]) that holds every
//! packet between two regions for the one-way delay between them.
//!
//! ```text
//!  namespace r0 (10.N.1.1) ─ TUN ┐
//!  namespace r1 (10.N.2.1) ─ TUN ┼─ router (this process): delay(a, b), optional rate cap
//!  namespace r2 (10.N.3.1) ─ TUN ┤
//!  gateway site (10.N.253.1) ─ TUN ┤  (only with a gateway delay; in region 0)
//!  this namespace (10.N.254.1) ─ TUN ┘  (clients: tests, aws-cli; sits with region 0)
//! ```
//!
//! Processes of one region share its namespace (and talk over its
//! loopback at full speed); every byte between regions crosses the router.
//! With a gateway delay the gateway sits in region 0 but in a namespace of
//! its own (another building of the same region), that far from region 0's
//! nodes; its clients are next to it.
//! Creating namespaces and TUN devices needs root (CAP_NET_ADMIN), which
//! the devnet has on these machines and in CI. Everything is removed when
//! the [`Wan`] is dropped.

pub mod router;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

/// Where the clients of the WAN (this namespace) sit: the third octet.
pub const OUTSIDE_OCTET: u8 = 254;
/// The gateway's own site, when it has one: the third octet.
pub const GATEWAY_OCTET: u8 = 253;

/// A place on the WAN, one TUN device each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The namespace of region `i` (its nodes).
    Region(usize),
    /// The gateway's namespace, in region 0 (with a gateway delay only).
    Gateway,
    /// This namespace, where clients run: next to the gateway.
    Outside,
}

/// Regions and the one-way delays between them.
#[derive(Clone, Debug, PartialEq)]
pub struct WanSpec {
    /// The regions, in devnet order (region 0 holds the gateway).
    pub regions: Vec<String>,
    /// One-way delays given explicitly, by unordered region pair.
    pub delays: HashMap<(String, String), Duration>,
    /// A cap on each direction between two regions, bytes per second.
    pub rate: Option<u64>,
    /// One-way delay between the gateway and the nodes of its own region
    /// (zero: the gateway shares region 0's namespace).
    pub gateway_delay: Duration,
}

impl WanSpec {
    /// The one-way delay between regions `a` and `b`: as given, else from
    /// the default table.
    pub fn delay(&self, a: &str, b: &str) -> Duration {
        if a == b {
            return Duration::ZERO;
        }
        let key = ordered(a, b);
        self.delays
            .get(&key)
            .copied()
            .unwrap_or_else(|| default_delay(a, b))
    }

    /// The one-way delay from site `a` to site `b` and that direction's
    /// cap: regions apart get the delay between them and the rate cap; the
    /// gateway and its clients, next to it, are `gateway_delay` from their
    /// region's nodes, uncapped.
    pub fn link(&self, a: Site, b: Site) -> (Duration, Option<u64>) {
        let region = |s: Site| match s {
            Site::Region(i) => i,
            Site::Gateway | Site::Outside => 0,
        };
        let (ra, rb) = (region(a), region(b));
        if ra != rb {
            return (self.delay(&self.regions[ra], &self.regions[rb]), self.rate);
        }
        match (a, b) {
            (Site::Gateway | Site::Outside, Site::Region(_))
            | (Site::Region(_), Site::Gateway | Site::Outside) => (self.gateway_delay, None),
            _ => (Duration::ZERO, None),
        }
    }
}

fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// Where the devnet's regions are, roughly (latitude, longitude of a city
/// with a cloud region), for the default delays.
const PLACES: [(&str, f64, f64); 8] = [
    ("us-east", 38.9, -77.0),
    ("eu-west", 53.3, -6.3),
    ("ap-south", 19.1, 72.9),
    ("sa-east", -23.5, -46.6),
    ("af-south", -33.9, 18.4),
    ("me-central", 24.5, 54.4),
    ("ca-central", 45.5, -73.6),
    ("ap-north", 35.7, 139.7),
];

/// A realistic one-way delay between two regions: light in fibre covers
/// about 200 km per millisecond, real routes are about 1.4 times the great
/// circle, plus 2 ms of equipment. us-east to eu-west comes out at 40 ms
/// (an 80 ms round trip, as measured between those cloud regions), us-east
/// to ap-south at 92 ms. Regions not in the table are 50 ms apart.
pub fn default_delay(a: &str, b: &str) -> Duration {
    if a == b {
        return Duration::ZERO;
    }
    let place = |r: &str| PLACES.iter().find(|p| p.0 == r).map(|p| (p.1, p.2));
    let (Some((lat1, lon1)), Some((lat2, lon2))) = (place(a), place(b)) else {
        return Duration::from_millis(50);
    };
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    let km = 2.0 * 6371.0 * h.sqrt().asin();
    Duration::from_secs_f64((2.0 + km * 1.4 / 200.0) / 1000.0)
}

/// Parses `a:b=40ms` (a one-way delay between regions `a` and `b`, both
/// ways).
pub fn parse_delay(text: &str) -> anyhow::Result<((String, String), Duration)> {
    let (pair, delay) = text.split_once('=').with_context(|| {
        format!("{text:?}: expected REGION:REGION=DELAY, e.g. us-east:eu-west=40ms")
    })?;
    let (a, b) = pair
        .split_once(':')
        .with_context(|| format!("{text:?}: expected REGION:REGION=DELAY"))?;
    let delay =
        humantime::parse_duration(delay.trim()).with_context(|| format!("{text:?}: bad delay"))?;
    Ok((ordered(a.trim(), b.trim()), delay))
}

/// A running WAN: namespaces, TUN devices and the router thread. Dropping
/// it stops the router and deletes the namespaces.
pub struct Wan {
    /// The second octet of every WAN address (10.N.x.y).
    net: u8,
    namespaces: Vec<String>,
    /// The gateway's own namespace, when it has a delay to its region.
    gateway_namespace: Option<String>,
    stop: Arc<AtomicBool>,
    router: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Wan {
    /// Sets up a namespace per region of `spec` and starts the router.
    pub fn start(spec: &WanSpec) -> anyhow::Result<Self> {
        let pid = std::process::id();
        remove_stale_namespaces();
        let net = free_net()?;
        let mut wan = Self {
            net,
            namespaces: Vec::new(),
            gateway_namespace: None,
            stop: Arc::default(),
            router: None,
        };
        let tag = format!("c{}n{net}", pid % 10_000);
        let mut tuns = Vec::new();
        let mut octets = Vec::new();
        for (i, region) in spec.regions.iter().enumerate() {
            let ns = format!("cairn-{pid}-{net}-{i}");
            wan.namespaces.push(ns.clone());
            let tun = site_namespace(&ns, &format!("{tag}r{i}"), wan.address(i), net)
                .with_context(|| format!("setting up namespace {ns} for {region}"))?;
            tuns.push(tun);
            octets.push(region_octet(i));
        }
        let mut sites: Vec<Site> = (0..spec.regions.len()).map(Site::Region).collect();
        if !spec.gateway_delay.is_zero() {
            let ns = format!("cairn-{pid}-{net}-g");
            wan.gateway_namespace = Some(ns.clone());
            let address = wan.site_address(GATEWAY_OCTET);
            let tun = site_namespace(&ns, &format!("{tag}g"), address, net)
                .with_context(|| format!("setting up namespace {ns} for the gateway"))?;
            tuns.push(tun);
            octets.push(GATEWAY_OCTET);
            sites.push(Site::Gateway);
        }
        // This namespace, where clients run, sits with the gateway.
        let name = format!("{tag}o");
        let tun = router::open_tun(&name).with_context(|| format!("opening TUN device {name}"))?;
        ip(&[
            "addr",
            "add",
            &format!("{}/32", wan.outside()),
            "dev",
            &name,
        ])?;
        ip(&["link", "set", &name, "up"])?;
        ip(&["route", "add", &format!("10.{net}.0.0/16"), "dev", &name])?;
        tuns.push(tun);
        octets.push(OUTSIDE_OCTET);
        sites.push(Site::Outside);

        let spec2 = spec.clone();
        let router = router::Router::new(
            tuns,
            net,
            octets,
            move |a, b| spec2.link(sites[a], sites[b]),
            wan.stop.clone(),
        );
        wan.router = Some(
            std::thread::Builder::new()
                .name("wan-router".into())
                .spawn(move || router.run())?,
        );
        Ok(wan)
    }

    /// The address of region `i`'s namespace.
    pub fn address(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net, region_octet(i), 1)
    }

    /// The address of this namespace on the WAN (where clients sit).
    pub fn outside(&self) -> Ipv4Addr {
        self.site_address(OUTSIDE_OCTET)
    }

    fn site_address(&self, octet: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net, octet, 1)
    }

    /// The address the gateway listens on: its own site's, or region 0's.
    pub fn gateway_address(&self) -> Ipv4Addr {
        match self.gateway_namespace {
            Some(_) => self.site_address(GATEWAY_OCTET),
            None => self.address(0),
        }
    }

    /// A command that runs `program` where the gateway sits.
    pub fn gateway_command(&self, program: &std::path::Path) -> Command {
        match &self.gateway_namespace {
            Some(ns) => netns_exec(ns, program),
            None => self.command(0, program),
        }
    }

    /// The gateway's own namespace, if it has one.
    pub fn gateway_namespace(&self) -> Option<&str> {
        self.gateway_namespace.as_deref()
    }

    /// A command that runs `program` inside region `i`'s namespace.
    pub fn command(&self, i: usize, program: &std::path::Path) -> Command {
        netns_exec(&self.namespaces[i], program)
    }

    /// The namespace of region `i`.
    pub fn namespace(&self, i: usize) -> &str {
        &self.namespaces[i]
    }

    /// How many regions the WAN has.
    pub fn regions(&self) -> usize {
        self.namespaces.len()
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(router) = self.router.take() {
            let _ = router.join();
        }
        for ns in self.namespaces.iter().chain(&self.gateway_namespace) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Creates namespace `ns` (recorded by the caller first, so that it is
/// deleted even if a later step fails) with a TUN device `tun_name` holding
/// `address` and routing the WAN's 10.`net`.0.0/16 through it; returns the
/// router's end of the device.
fn site_namespace(
    ns: &str,
    tun_name: &str,
    address: Ipv4Addr,
    net: u8,
) -> anyhow::Result<std::fs::File> {
    ip(&["netns", "add", ns])?;
    ip(&["-n", ns, "link", "set", "lo", "up"])?;
    let tun = router::open_tun(tun_name)
        .with_context(|| format!("opening TUN device {tun_name} (needs root)"))?;
    ip(&["link", "set", tun_name, "netns", ns])?;
    let addr = format!("{address}/32");
    ip(&["-n", ns, "addr", "add", &addr, "dev", tun_name])?;
    ip(&["-n", ns, "link", "set", tun_name, "up"])?;
    let wan = format!("10.{net}.0.0/16");
    ip(&["-n", ns, "route", "add", &wan, "dev", tun_name])?;
    Ok(tun)
}

/// A command that runs `program` inside namespace `ns`.
fn netns_exec(ns: &str, program: &std::path::Path) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}

/// Region `i`'s third address octet.
fn region_octet(i: usize) -> u8 {
    u8::try_from(i + 1).expect("at most 253 regions")
}

/// A second octet whose 10.N.0.0/16 no route uses yet.
/// Deletes the namespaces of WAN devnets whose process is gone (one that
/// was SIGKILLed cannot clean up after itself).
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix("cairn-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            tracing::info!(namespace = name, "removing a dead WAN devnet's namespace");
            let _ = ip(&["netns", "del", name]);
        }
    }
}

fn free_net() -> anyhow::Result<u8> {
    let start = 64 + (std::process::id() % 64) as u8;
    for k in 0..64u8 {
        let net = 64 + (start - 64 + k) % 64;
        let out = Command::new("ip")
            .args(["route", "show", &format!("10.{net}.0.0/16")])
            .output()
            .context("running ip (iproute2)")?;
        if out.status.success() && out.stdout.is_empty() {
            return Ok(net);
        }
    }
    bail!("no free 10.N.0.0/16 network for the WAN")
}

/// Runs `ip ARGS`, failing with its error output.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_delays_look_like_the_real_internet() {
        let ms = |a, b| default_delay(a, b).as_secs_f64() * 1000.0;
        assert!(
            (35.0..45.0).contains(&ms("us-east", "eu-west")),
            "{}",
            ms("us-east", "eu-west")
        );
        assert!((85.0..100.0).contains(&ms("us-east", "ap-south")));
        assert!(ms("eu-west", "ap-south") < ms("us-east", "ap-south"));
        assert_eq!(ms("us-east", "us-east"), 0.0);
        assert_eq!(ms("us-east", "mars"), 50.0);
        assert_eq!(default_delay("a", "b"), default_delay("b", "a"));
    }

    #[test]
    fn given_delays_override_the_table_both_ways() {
        let (pair, delay) = parse_delay("us-east:eu-west=120ms").unwrap();
        let spec = WanSpec {
            regions: vec!["us-east".into(), "eu-west".into()],
            delays: [(pair, delay)].into(),
            rate: None,
            gateway_delay: Duration::ZERO,
        };
        assert_eq!(spec.delay("eu-west", "us-east"), Duration::from_millis(120));
        assert_eq!(
            spec.delay("us-east", "ap-south"),
            default_delay("us-east", "ap-south")
        );
        assert!(parse_delay("us-east=4ms").is_err());
        assert!(parse_delay("a:b=soon").is_err());
    }

    #[test]
    fn the_gateway_is_its_delay_from_its_region_and_clients_are_next_to_it() {
        let spec = WanSpec {
            regions: vec!["us-east".into(), "eu-west".into()],
            delays: HashMap::new(),
            rate: Some(1000),
            gateway_delay: Duration::from_millis(1),
        };
        let far = spec.delay("us-east", "eu-west");
        use Site::*;
        assert_eq!(
            spec.link(Gateway, Region(0)),
            (Duration::from_millis(1), None)
        );
        assert_eq!(
            spec.link(Region(0), Gateway),
            (Duration::from_millis(1), None)
        );
        assert_eq!(spec.link(Gateway, Region(1)), (far, Some(1000)));
        assert_eq!(spec.link(Outside, Gateway), (Duration::ZERO, None));
        assert_eq!(
            spec.link(Outside, Region(0)),
            (Duration::from_millis(1), None)
        );
        assert_eq!(spec.link(Outside, Region(1)), (far, Some(1000)));
        assert_eq!(spec.link(Region(1), Region(0)), (far, Some(1000)));
    }
}
