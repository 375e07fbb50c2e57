//! Test fixture: real `cairn node` processes on 127.0.0.1, and a real mesh
//! client talking to them.

#![allow(dead_code)]

pub mod browser;
pub mod devnet;
pub mod raw_http;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

/// Files under `dir`, recursively, sorted (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// A `cairn node` child process; killed on drop.
pub struct NodeProc {
    pub data: PathBuf,
    pub region: String,
    pub capacity: String,
    pub bootstrap: Vec<Multiaddr>,
    pub metrics: bool,
    /// Listen addresses (default: TCP on an ephemeral port).
    pub listen: Vec<String>,
    /// A `--config` file, if any.
    pub config: Option<PathBuf>,
    /// More flags (e.g. the test-only fault flags).
    pub extra: Vec<String>,
    pub child: Option<Child>,
    pub addr: Multiaddr,
    pub peer: PeerId,
    pub metrics_addr: Option<String>,
}

/// What the node writes to `<data>/node.json`.
#[derive(serde::Deserialize)]
struct NodeJson {
    peer_id: String,
    addrs: Vec<String>,
    metrics: Option<String>,
    pid: u32,
}

impl NodeProc {
    /// Starts a node in `data` (created if missing).
    pub fn start(data: &Path, region: &str, capacity: &str, bootstrap: &[Multiaddr]) -> Self {
        let mut node = Self::new(data, region, capacity, bootstrap);
        node.spawn();
        node
    }

    /// A node not yet started: adjust its fields, then [`NodeProc::spawn`].
    pub fn new(data: &Path, region: &str, capacity: &str, bootstrap: &[Multiaddr]) -> Self {
        Self {
            data: data.to_owned(),
            region: region.to_owned(),
            capacity: capacity.to_owned(),
            bootstrap: bootstrap.to_vec(),
            metrics: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".to_owned()],
            config: None,
            extra: Vec::new(),
            child: None,
            addr: Multiaddr::empty(),
            peer: PeerId::random(),
            metrics_addr: None,
        }
    }

    /// (Re)starts the process on the same data directory.
    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.data.join("node.json"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
        command.arg("node");
        match &self.config {
            Some(config) => {
                command.arg("--config").arg(config);
            }
            None => {
                command.arg("--data").arg(&self.data).args([
                    "--capacity",
                    &self.capacity,
                    "--region",
                    &self.region,
                ]);
            }
        }
        for addr in &self.listen {
            command.args(["--listen", addr]);
        }
        if self.metrics {
            command.args(["--metrics", "127.0.0.1:0"]);
        }
        for addr in &self.bootstrap {
            command.arg("--bootstrap").arg(addr.to_string());
        }
        command.args(&self.extra);
        let log = std::fs::File::create(self.data.with_extension("log")).expect("log file");
        let child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting cairn node");
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(self.data.join("node.json"))
                && let Ok(info) = serde_json::from_str::<NodeJson>(&text)
                && info.pid == pid
                && !info.addrs.is_empty()
            {
                self.addr = info.addrs[0].parse().expect("multiaddr");
                self.peer = info.peer_id.parse().expect("peer id");
                self.metrics_addr = info.metrics;
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "cairn node exited with {status}: {}",
                    std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "node did not start in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// Files under `<data>/<sub>`, recursively.
    pub fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        files_under(&self.data.join(sub))
    }

    /// GET /metrics over plain HTTP.
    pub fn metrics_text(&self) -> String {
        metrics_text(self.metrics_addr.as_ref().expect("metrics enabled"))
    }
}

/// GET /metrics from `addr` over plain HTTP.
pub fn metrics_text(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// The shards the running node on `data` reports it stores (files and
/// inline ones; the gauge is refreshed every few seconds).
pub fn stored_shards(data: &Path) -> usize {
    let text = std::fs::read_to_string(data.join("node.json")).expect("node.json");
    let info: NodeJson = serde_json::from_str(&text).expect("node.json parses");
    let addr = info.metrics.expect("the node serves metrics");
    metrics_text(
        addr.trim_start_matches("http://")
            .trim_end_matches("/metrics"),
    )
    .lines()
    .find_map(|line| line.strip_prefix("cairn_node_shards "))
    .expect("a shard gauge")
    .trim()
    .parse()
    .expect("a count")
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Deterministic pseudo-random bytes.
pub fn bytes(len: usize, salt: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&salt.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Where a node keeps its copy of shard `id` (hex) as a file (shards over
/// 32 KiB; the others are inline in its index). Copies are kept per owner
/// (`shards/<owner alias>/ab/cd/<id>`): this is the first owner's copy
/// found, or, if there is none now, where the node's first owner (alias 0:
/// on a devnet node, the gateway, whose admission probe is the first put)
/// keeps it.
pub fn shard_file(data: &Path, id: &str) -> PathBuf {
    let under = |owner: &str| {
        data.join("shards")
            .join(owner)
            .join(&id[..2])
            .join(&id[2..4])
            .join(id)
    };
    let mut owners: Vec<String> = std::fs::read_dir(data.join("shards"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    owners.sort();
    owners
        .iter()
        .map(|o| under(o))
        .find(|p| p.exists())
        .unwrap_or_else(|| under("00000000"))
}

/// Flips one byte in the middle of the file at `path` (disk rot).
pub fn flip_byte(path: &Path) {
    let mut content = std::fs::read(path).unwrap();
    let at = content.len() / 2;
    content[at] ^= 0x5a;
    std::fs::write(path, &content).unwrap();
}

/// Whether the file at `path` exists and its bytes hash to `id` (hex).
pub fn intact(path: &Path, id: &str) -> bool {
    std::fs::read(path).is_ok_and(|bytes| blake3::hash(&bytes).to_hex().as_str() == id)
}
