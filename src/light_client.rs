//! What the light client commands (`cairn get`, `cairn add`) share:
//! finding nodes to join the mesh through, dialling storage nodes, and a
//! progress line.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use mesh::content::ContentManifest;
use mesh::net::MeshClient;

/// The nodes of the devnet in `dir`.
pub fn devnet_nodes(dir: &Path) -> Vec<Multiaddr> {
    let Ok(text) = std::fs::read_to_string(dir.join("devnet.json")) else {
        return Vec::new();
    };
    let info: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    info["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["addr"].as_str()?.parse().ok())
        .collect()
}

/// Dials the storage nodes (those `manifest` names, or all found) not
/// yet connected, at the addresses their signed records give.
pub async fn connect_nodes(mesh: &MeshClient, manifest: Option<&ContentManifest>) {
    let wanted: Option<std::collections::HashSet<&Vec<u8>>> =
        manifest.map(|m| m.nodes.iter().collect());
    let records = match mesh.find_nodes().await {
        Ok(records) => records,
        Err(e) => {
            tracing::warn!(error = %e, "node discovery failed");
            return;
        }
    };
    let dials = records
        .iter()
        .filter(|r| wanted.as_ref().is_none_or(|w| w.contains(&r.peer_id)))
        .filter_map(|r| Some((r.peer().ok()?, r.multiaddrs())))
        .filter(|(peer, _)| mesh.rtt(peer).is_none())
        .map(|(peer, addrs)| async move {
            for addr in addrs {
                if mesh.dial(&addr.with(Protocol::P2p(peer))).await.is_ok() {
                    return;
                }
            }
        });
    futures_util::future::join_all(dials).await;
}

/// Prints the progress on stderr every half second.
pub fn spawn_progress(done: Arc<AtomicU64>, total: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let first = done.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = done.load(Ordering::Relaxed);
            let rate = (now - first) as f64 / started.elapsed().as_secs_f64() / 1e6;
            let percent = if total == 0 {
                100.0
            } else {
                now as f64 * 100.0 / total as f64
            };
            eprint!(
                "\r\x1b[2K{} / {}  {percent:.0} %  {rate:.0} MB/s",
                bytesize::ByteSize(now).display().iec_short(),
                bytesize::ByteSize(total).display().iec_short(),
            );
        }
    })
}

/// Joins the mesh with `keypair` through `bootstrap` (or, if none is
/// given, the nodes of the devnet in `dir`).
pub async fn join(
    keypair: libp2p::identity::Keypair,
    bootstrap: &[Multiaddr],
    dir: &Path,
) -> anyhow::Result<MeshClient> {
    let mut bootstrap = bootstrap.to_vec();
    if bootstrap.is_empty() {
        bootstrap = devnet_nodes(dir);
    }
    anyhow::ensure!(
        !bootstrap.is_empty(),
        "no node to join the mesh through: give --bootstrap ADDR, or run where ./devnet is"
    );
    let mesh = MeshClient::spawn(keypair, Duration::from_secs(30))?;
    let mut joined = 0;
    for addr in &bootstrap {
        match mesh.dial(addr).await {
            Ok(_) => joined += 1,
            Err(e) => tracing::warn!(%addr, error = %e, "cannot reach bootstrap node"),
        }
    }
    anyhow::ensure!(joined > 0, "none of the bootstrap nodes answered");
    Ok(mesh)
}
