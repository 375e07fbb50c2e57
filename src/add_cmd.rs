//! `cairn add FILE`: publishes a file with no gateway. A light client
//! with its own identity joins the mesh, cuts the file into segments,
//! seals each under the key derived from its own blake3 chaining value
//! (so the shards are the ones any gateway publishing the same bytes
//! makes), erasure-codes it, stores the shards on nodes chosen by the same
//! placement rules a gateway uses, and announces its signed record in the
//! DHT. It prints the CID.
//!
//! The shards are the client's: nodes keep them for their lease (set by
//! each node operator) and drop them after unless they are renewed: run
//! `cairn add` again with the same identity, or have a gateway pin the
//! CID, which then keeps its own copy for as long as the pin stands.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use mesh::codec::{Scheme, SegmentCodec, SegmentRef};
use mesh::content::{
    ContentId, ContentManifest, MAX_MANIFEST_BYTES, MAX_SEALED_MANIFEST, ManifestPointer,
    ManifestSegment, segment_count, segment_hash, segment_key,
};
use mesh::net::MeshClient;
use mesh::net::NodeRecord;
use placement::{Cluster, NodeId, NodeInfo, Policy, Subnet};

use crate::light_client;

/// Segments stored at once.
const IN_FLIGHT: usize = 3;
/// Segment size (the gateways' default).
const SEGMENT_SIZE: u64 = 8 << 20;

/// Arguments of `cairn add`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The file to publish.
    file: PathBuf,
    /// A node to join the mesh through (repeatable), ending in
    /// /p2p/<peer id>; default: the nodes of the devnet in --dir.
    #[arg(long)]
    bootstrap: Vec<Multiaddr>,
    /// A devnet directory whose devnet.json names nodes to join through.
    #[arg(long, default_value = "./devnet")]
    dir: PathBuf,
    /// Where the client's identity (identity.key) is kept: the owner of
    /// the shards, which renews them by adding the file again.
    #[arg(long, default_value_os_t = default_identity_dir())]
    identity: PathBuf,
    /// Data shards per segment.
    #[arg(long, default_value_t = 4)]
    k: usize,
    /// Parity shards per segment.
    #[arg(long, default_value_t = 2)]
    m: usize,
    /// The Content-Type gateways serve it with.
    #[arg(long)]
    content_type: Option<String>,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
}

fn default_identity_dir() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/share/cairn/client")
}

/// Where content comes from: a file, or bytes in memory (a manifest).
#[derive(Clone)]
enum Source {
    File(Arc<std::fs::File>),
    Bytes(Bytes),
}

impl Source {
    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        match self {
            Source::File(file) => {
                let mut buf = vec![0u8; len];
                file.read_exact_at(&mut buf, offset)?;
                Ok(buf)
            }
            Source::Bytes(bytes) => Ok(bytes[offset as usize..offset as usize + len].to_vec()),
        }
    }
}

/// The nodes to store on, and how to reach them.
struct Nodes {
    cluster: Cluster,
    peers: Vec<(NodeId, PeerId)>,
}

impl Nodes {
    fn peer(&self, id: &NodeId) -> Option<PeerId> {
        self.peers.iter().find(|(n, _)| n == id).map(|(_, p)| *p)
    }
}

/// The placement view of the nodes `records` name. All on loopback (a
/// devnet): no distinct-subnet rule.
fn nodes_of(records: &[NodeRecord]) -> anyhow::Result<Nodes> {
    let ip = |r: &NodeRecord| {
        r.multiaddrs().iter().find_map(|a| {
            a.iter().find_map(|p| match p {
                Protocol::Ip4(ip) => Some(std::net::IpAddr::V4(ip)),
                Protocol::Ip6(ip) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            })
        })
    };
    let local = records
        .iter()
        .all(|r| ip(r).is_some_and(|ip| ip.is_loopback()));
    let policy = if local {
        Policy::devnet()
    } else {
        Policy::default()
    };
    let mut peers = Vec::new();
    let mut infos = Vec::new();
    for record in records {
        let Ok(peer) = record.peer() else { continue };
        let subnet = ip(record).map_or_else(|| Subnet::new(peer.to_string()), Subnet::from_ip);
        let id = NodeId::new(peer.to_bytes());
        infos.push(NodeInfo::new(
            id.clone(),
            record.region.clone(),
            subnet,
            record.free,
        ));
        peers.push((id, peer));
    }
    Ok(Nodes {
        cluster: Cluster::new(infos, policy)?,
        peers,
    })
}

/// Runs `cairn add`.
pub async fn run(args: AddArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.identity)
        .with_context(|| format!("creating {}", args.identity.display()))?;
    let (keypair, _) = mesh::identity::load_or_create(&args.identity)?;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata()?.len();
    let mesh = light_client::join(keypair.clone(), &args.bootstrap, &args.dir).await?;
    let records = mesh.find_nodes().await?;
    light_client::connect_nodes(&mesh, None).await;
    let nodes = Arc::new(nodes_of(&records)?);
    let scheme = Scheme::new(args.k, args.m)?;
    let done = Arc::new(AtomicU64::new(0));
    let progress = (!args.quiet).then(|| light_client::spawn_progress(done.clone(), size));
    let started = std::time::Instant::now();
    let stored = store(
        &mesh,
        &nodes,
        scheme,
        Source::File(Arc::new(file)),
        size,
        &done,
    )
    .await;
    let secs = started.elapsed().as_secs_f64();
    if let Some(progress) = progress {
        progress.abort();
        eprint!("\r\x1b[2K");
    }
    let (cid, mut manifest) = stored?;
    manifest.content_type = args.content_type.clone();
    let name = args.file.file_name().and_then(|n| n.to_str()).map(|n| {
        format!(
            "inline; filename=\"{}\"",
            s3_gateway::s3::content::file_name(n)
        )
    });
    manifest.disposition = name.filter(|d| d.len() <= mesh::content::MAX_MANIFEST_FIELD);
    manifest
        .content_type
        .take_if(|t| t.len() > mesh::content::MAX_MANIFEST_FIELD);
    // What every reader checks, checked before announcing.
    manifest.check(&cid)?;
    let mut sealed = manifest.seal(&cid);
    if sealed.len() > MAX_SEALED_MANIFEST {
        // Too large for a record: the manifest is itself stored as
        // content, and the record points to it.
        let bytes = Bytes::from(manifest.to_bytes());
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            bail!(
                "the manifest of {cid} is {} bytes, more than {MAX_MANIFEST_BYTES}",
                bytes.len()
            );
        }
        let len = bytes.len() as u64;
        let (inner, layout) = store(
            &mesh,
            &nodes,
            scheme,
            Source::Bytes(bytes),
            len,
            &AtomicU64::new(0),
        )
        .await?;
        let pointer = ManifestPointer {
            manifest: *inner.hash(),
            layout,
        };
        sealed = pointer.seal(&cid);
    }
    let dht = s3_gateway::s3::content_dht::ContentDht::new(mesh.clone(), keypair);
    dht.announce_sealed(&cid, sealed)
        .await
        .context("announcing the content in the DHT")?;
    // Announcing returns once one node has the record: give the others a
    // moment before the client leaves.
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("{cid}");
    if !args.quiet {
        eprintln!(
            "added {} ({size} bytes, {:.0} MB/s) as {cid}, owned by {}; nodes keep it for their lease unless it is added again or pinned",
            args.file.display(),
            size as f64 / secs.max(1e-9) / 1e6,
            mesh.peer_id(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Stores `size` bytes of `source` as content: every segment hashed,
/// sealed under its convergent key, coded and placed; its CID and
/// manifest (no content type or file name).
async fn store(
    mesh: &MeshClient,
    nodes: &Arc<Nodes>,
    scheme: Scheme,
    source: Source,
    size: u64,
    done: &AtomicU64,
) -> anyhow::Result<(ContentId, ContentManifest)> {
    let codec = Arc::new(SegmentCodec::new(scheme, SEGMENT_SIZE as usize)?);
    let count = segment_count(size, SEGMENT_SIZE);
    let mut results = futures_util::stream::iter((0..count).map(|index| {
        let (codec, nodes, source, mesh) =
            (codec.clone(), nodes.clone(), source.clone(), mesh.clone());
        async move {
            let offset = index * SEGMENT_SIZE;
            let len = (size - offset).min(SEGMENT_SIZE) as usize;
            let (hash, whole, encoded) =
                tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                    let plain = source.read(offset, len)?;
                    let hash = segment_hash(index, SEGMENT_SIZE, &plain);
                    // Content of one segment is named by the hash of its bytes.
                    let whole = (count == 1).then(|| *blake3::hash(&plain).as_bytes());
                    let encoded = codec.encode_slice(
                        &segment_key(&hash),
                        SegmentRef::simple(index),
                        &plain,
                    )?;
                    Ok((hash, whole, encoded))
                })
                .await??;
            let placed =
                nodes
                    .cluster
                    .place(&hash, scheme.k, scheme.m, encoded.shard_len as u64)?;
            let shards = place_shards(&mesh, &nodes, &placed.nodes, &encoded)
                .await
                .with_context(|| format!("segment {index}"))?;
            anyhow::Ok((whole, hash, shards, len as u64))
        }
    }))
    .buffered(IN_FLIGHT);
    let mut node_index: Vec<Vec<u8>> = Vec::new();
    let mut segments = Vec::with_capacity(count as usize);
    let mut single = None;
    while let Some(result) = results.next().await {
        let (whole, hash, shards, len) = result?;
        single = single.or(whole);
        let shards = shards
            .into_iter()
            .map(|(id, node)| {
                let bytes = node.as_bytes().to_vec();
                let at = match node_index.iter().position(|n| *n == bytes) {
                    Some(at) => at,
                    None => {
                        node_index.push(bytes);
                        node_index.len() - 1
                    }
                };
                (id, at as u16)
            })
            .collect();
        segments.push(ManifestSegment { hash, shards });
        done.fetch_add(len, Ordering::Relaxed);
    }
    let hashes: Vec<[u8; 32]> = segments.iter().map(|s| s.hash).collect();
    let root = match mesh::content::root_of(size, SEGMENT_SIZE, &hashes)? {
        Some(root) => root,
        None => ContentId::from_hash(single.unwrap_or(*blake3::hash(b"").as_bytes())),
    };
    let manifest = ContentManifest {
        size,
        segment_size: SEGMENT_SIZE,
        k: scheme.k as u8,
        m: scheme.m as u8,
        content_type: None,
        disposition: None,
        nodes: node_index,
        segments,
    };
    Ok((root, manifest))
}

/// Stores a segment's shards on their placed nodes, all at once; a
/// shard whose node refuses or fails goes, one at a time, to the next
/// node the segment does not use yet. Each shard's id and node.
async fn place_shards(
    mesh: &MeshClient,
    nodes: &Nodes,
    placed: &[NodeId],
    encoded: &mesh::codec::EncodedSegment,
) -> anyhow::Result<Vec<([u8; 32], NodeId)>> {
    let put = |node: &NodeId, i: usize| {
        let peer = nodes.peer(node);
        let (id, shard) = (encoded.ids[i], encoded.shards[i].clone());
        async move {
            let peer = peer.ok_or_else(|| anyhow::anyhow!("no address"))?;
            mesh.shards()
                .put(peer, id, &shard)
                .await
                .map_err(|e| anyhow::anyhow!("{peer}: {e}"))
        }
    };
    let first =
        futures_util::future::join_all(placed.iter().enumerate().map(|(i, node)| put(node, i)))
            .await;
    let mut homes: Vec<Option<NodeId>> = Vec::with_capacity(placed.len());
    let mut failed = Vec::new();
    for (i, result) in first.into_iter().enumerate() {
        match result {
            Ok(_) => homes.push(Some(placed[i].clone())),
            Err(e) => {
                tracing::warn!(shard = i, error = %e, "a node did not take a shard; trying another");
                homes.push(None);
                failed.push(i);
            }
        }
    }
    for i in failed {
        let spare: Vec<NodeId> = nodes
            .cluster
            .nodes()
            .iter()
            .map(|n| n.id.clone())
            .filter(|n| !homes.iter().flatten().any(|h| h == n) && !placed.contains(n))
            .collect();
        for node in spare {
            match put(&node, i).await {
                Ok(_) => {
                    homes[i] = Some(node);
                    break;
                }
                Err(e) => {
                    tracing::warn!(shard = i, error = %e, "a node did not take a shard; trying another")
                }
            }
        }
        if homes[i].is_none() {
            bail!("no node took shard {i}");
        }
    }
    Ok(encoded
        .ids
        .iter()
        .zip(homes)
        .map(|(id, home)| (id.0, home.expect("every shard placed")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_the_bytes_asked() {
        let source = Source::Bytes(Bytes::from_static(b"0123456789"));
        assert_eq!(source.read(3, 4).unwrap(), b"3456");
    }
}
