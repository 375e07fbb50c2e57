//! `cairn get CID -o FILE`: fetches published content straight from the
//! mesh, with no gateway. A light client joins the DHT through a
//! bootstrap node, finds the CID's signed records, opens the newest
//! manifest that checks against the CID, then fetches each segment's
//! shards from the nodes, decodes, decrypts and checks it against the CID
//! before writing it.
//!
//! The download goes to `FILE.cairn-part` and is renamed to `FILE` once
//! every segment is in and checked; an interrupted download resumes: the
//! segments already in the part file that check against the CID are kept,
//! the rest fetched.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use libp2p::Multiaddr;
use mesh::content::fetch::Fetcher;
use mesh::content::{ContentId, ContentManifest};
use mesh::net::MeshClient;

use crate::light_client;

/// Segments fetched at once.
const IN_FLIGHT: usize = 4;
/// How long to keep looking for the content's records.
const RESOLVE_FOR: Duration = Duration::from_secs(20);

/// Arguments of `cairn get`.
#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// The content id (bafkr4i...).
    cid: String,
    /// Where to write the content.
    #[arg(short, long)]
    output: PathBuf,
    /// A node to join the mesh through (repeatable), ending in
    /// /p2p/<peer id>; default: the nodes of the devnet in --dir.
    #[arg(long)]
    bootstrap: Vec<Multiaddr>,
    /// A devnet directory whose devnet.json names nodes to join through.
    #[arg(long, default_value = "./devnet")]
    dir: PathBuf,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
}

/// The part file of a download to `output`.
fn part_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".cairn-part");
    PathBuf::from(name)
}

/// Runs `cairn get`.
pub async fn run(args: GetArgs) -> anyhow::Result<ExitCode> {
    let cid = ContentId::parse(&args.cid).map_err(|e| {
        anyhow::anyhow!(
            "{:?} is not a content id Cairn serves ({e}); it serves CIDv1 raw blake3-256 ids (bafkr4i...)",
            args.cid
        )
    })?;
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let mesh = light_client::join(keypair.clone(), &args.bootstrap, &args.dir).await?;
    let started = Instant::now();
    // A large content's manifest is itself fetched from nodes while
    // resolving: know the nodes first.
    light_client::connect_nodes(&mesh, None).await;
    let manifest = resolve(&mesh, keypair, &cid).await?;
    tracing::info!(
        %cid,
        size = manifest.size,
        segments = manifest.segments.len(),
        took = ?started.elapsed(),
        "manifest found"
    );
    light_client::connect_nodes(&mesh, Some(&manifest)).await;
    let got = download(&mesh, &cid, &manifest, &args.output, args.quiet).await?;
    let secs = started.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "{cid}: {} bytes to {} in {secs:.2} s ({:.0} MB/s; {} bytes were already there)",
            manifest.size,
            args.output.display(),
            manifest.size as f64 / secs.max(1e-9) / 1e6,
            got.resumed,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The newest manifest of `cid` in the DHT that checks against it.
async fn resolve(
    mesh: &MeshClient,
    keypair: libp2p::identity::Keypair,
    cid: &ContentId,
) -> anyhow::Result<Arc<ContentManifest>> {
    let dht = s3_gateway::s3::content_dht::ContentDht::new(mesh.clone(), keypair);
    let deadline = Instant::now() + RESOLVE_FOR;
    loop {
        if let Some(manifest) = dht.resolve(cid).await {
            return Ok(manifest);
        }
        if Instant::now() >= deadline {
            bail!(
                "no usable record of {cid} in the mesh (nobody announces it, or every record failed its checks)"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What a download did.
struct Downloaded {
    /// Bytes found in the part file already, checked.
    resumed: u64,
}

async fn download(
    mesh: &MeshClient,
    cid: &ContentId,
    manifest: &Arc<ContentManifest>,
    output: &Path,
    quiet: bool,
) -> anyhow::Result<Downloaded> {
    let part = part_path(output);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&part)
        .with_context(|| format!("opening {}", part.display()))?;
    let file = Arc::new(file);
    let hashes = Arc::new(manifest.hashes());
    let count = manifest.segments.len() as u64;
    // Segments already there (an interrupted download) that check.
    let have = {
        let (file, manifest, hashes, cid) = (file.clone(), manifest.clone(), hashes.clone(), *cid);
        tokio::task::spawn_blocking(move || present(&file, &cid, &manifest, &hashes)).await??
    };
    let resumed: u64 = have
        .iter()
        .enumerate()
        .filter(|(_, h)| **h)
        .map(|(i, _)| manifest.segment_len(i as u64))
        .sum();
    let done = Arc::new(AtomicU64::new(resumed));
    let progress = (!quiet).then(|| light_client::spawn_progress(done.clone(), manifest.size));
    let fetcher = Arc::new(Fetcher::new(mesh.clone(), manifest.clone())?);
    let todo: Vec<u64> = (0..count).filter(|&i| !have[i as usize]).collect();
    let mut results = futures_util::stream::iter(todo.into_iter().map(|index| {
        let (fetcher, manifest, hashes, file, done, cid) = (
            fetcher.clone(),
            manifest.clone(),
            hashes.clone(),
            file.clone(),
            done.clone(),
            *cid,
        );
        async move {
            let plain = fetcher.segment(index).await?;
            let offset = index * manifest.segment_size;
            let len = plain.len() as u64;
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let size = manifest.size;
                if !mesh::content::check_segment(
                    &cid,
                    size,
                    manifest.segment_size,
                    &hashes,
                    index,
                    &plain,
                ) {
                    bail!("segment {index} does not match the content id");
                }
                file.write_all_at(&plain, offset)?;
                Ok(())
            })
            .await??;
            done.fetch_add(len, Ordering::Relaxed);
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(IN_FLIGHT);
    let mut failed = None;
    while let Some(result) = results.next().await {
        if let Err(e) = result {
            failed.get_or_insert(e);
        }
    }
    if let Some(progress) = progress {
        progress.abort();
        eprint!("\r\x1b[2K");
    }
    if let Some(e) = failed {
        return Err(e.context(format!(
            "fetching {cid}; what was fetched stays in {} and a new `cairn get` resumes from it",
            part.display()
        )));
    }
    file.set_len(manifest.size)?;
    file.sync_all()?;
    std::fs::rename(&part, output)
        .with_context(|| format!("renaming {} to {}", part.display(), output.display()))?;
    Ok(Downloaded { resumed })
}

/// Which segments the part file holds already, checked against the CID.
fn present(
    file: &std::fs::File,
    cid: &ContentId,
    manifest: &ContentManifest,
    hashes: &[[u8; 32]],
) -> anyhow::Result<Vec<bool>> {
    let len = file.metadata()?.len();
    let mut have = Vec::with_capacity(manifest.segments.len());
    let mut buf = Vec::new();
    for index in 0..manifest.segments.len() as u64 {
        let (start, seg) = (index * manifest.segment_size, manifest.segment_len(index));
        if start + seg > len || seg == 0 {
            have.push(false);
            continue;
        }
        buf.resize(seg as usize, 0);
        file.read_exact_at(&mut buf, start)?;
        have.push(mesh::content::check_segment(
            cid,
            manifest.size,
            manifest.segment_size,
            hashes,
            index,
            &buf,
        ));
    }
    Ok(have)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_file_sits_beside_the_output() {
        assert_eq!(
            part_path(Path::new("/tmp/film.bin")),
            PathBuf::from("/tmp/film.bin.cairn-part")
        );
    }
}
