//! `cairn nodes` and `cairn shard ...`: mesh client tools for operators and
//! tests.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use mesh::ShardId;
use mesh::net::MeshClient;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Arguments of `cairn nodes`.
#[derive(clap::Args)]
pub struct NodesArgs {
    /// Node to enter the mesh through (repeatable), ending in /p2p/<peer id>.
    #[arg(long, required = true)]
    bootstrap: Vec<Multiaddr>,
    /// Keep looking until at least this many nodes are found.
    #[arg(long, default_value_t = 1)]
    min: usize,
    /// Give up looking after this many seconds.
    #[arg(long, default_value_t = 15)]
    wait: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Finds nodes through the DHT and prints their verified records.
pub async fn nodes(args: NodesArgs) -> anyhow::Result<ExitCode> {
    let client = MeshClient::spawn(Keypair::generate_ed25519(), REQUEST_TIMEOUT)?;
    for addr in &args.bootstrap {
        client.dial(addr).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let records = loop {
        let records = client.find_nodes().await?;
        if records.len() >= args.min || Instant::now() >= deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "peer_id": r.peer().map(|p| p.to_string()).unwrap_or_default(),
                    "region": r.region,
                    "addrs": r.addrs,
                    "capacity": r.capacity,
                    "free": r.free,
                    "shards": r.shards,
                    "version": r.version,
                    "issued_at": r.issued_at,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
    } else {
        for r in &records {
            let peer = r.peer().map(|p| p.to_string()).unwrap_or_default();
            writeln!(
                out,
                "{peer}  region={} free={} capacity={} shards={} addrs={}",
                r.region,
                r.free,
                r.capacity,
                r.shards,
                r.addrs.join(",")
            )?;
        }
    }
    Ok(if records.len() >= args.min {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "found {} nodes, wanted at least {}",
            records.len(),
            args.min
        );
        ExitCode::FAILURE
    })
}

/// Which node to talk to, as whom.
#[derive(clap::Args)]
pub struct Target {
    /// The node's address, ending in /p2p/<peer id>.
    #[arg(long)]
    peer: Multiaddr,
    /// Directory holding this client's identity key (created if missing);
    /// the owner of what it stores. Default: a throwaway identity.
    #[arg(long)]
    identity: Option<PathBuf>,
}

/// `cairn shard` subcommands.
#[derive(clap::Subcommand)]
pub enum ShardCommand {
    /// Store a file as a shard (its id is its blake3 hash).
    Put {
        #[command(flatten)]
        target: Target,
        /// The file.
        file: PathBuf,
    },
    /// Fetch a shard (verified against its id) to a file or stdout.
    Get {
        #[command(flatten)]
        target: Target,
        /// Shard id.
        id: ShardId,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Challenge the node to prove it holds a shard, and verify the proof.
    Challenge {
        #[command(flatten)]
        target: Target,
        /// Shard id.
        id: ShardId,
        /// The shard's length in bytes.
        #[arg(long)]
        len: u64,
        /// Chunks to challenge.
        #[arg(long, default_value_t = 4)]
        chunks: u16,
    },
    /// Delete a shard this identity stored.
    Delete {
        #[command(flatten)]
        target: Target,
        /// Shard id.
        id: ShardId,
    },
    /// Show the node's status.
    Stat {
        #[command(flatten)]
        target: Target,
    },
    /// List the shards this identity stored on the node.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Fetch the node's signed usage report about this identity (what it
    /// holds and did for it); check it with `cairn usage verify`.
    Usage {
        #[command(flatten)]
        target: Target,
        /// Write the signed report here (binary); default: print it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Measure the node: put, get and challenge throughput and latency with
    /// random shards (deleted afterwards).
    Bench {
        #[command(flatten)]
        target: Target,
        /// Shard size, e.g. 2MiB.
        #[arg(long, default_value = "2MiB")]
        size: String,
        /// Shards to transfer.
        #[arg(long, default_value_t = 256)]
        count: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Chunks per challenge.
        #[arg(long, default_value_t = 4)]
        chunks: u16,
    },
}

async fn connect(target: &Target) -> anyhow::Result<(MeshClient, PeerId)> {
    let keypair = match &target.identity {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            storage_node::identity::load_or_create(dir)?.0
        }
        None => Keypair::generate_ed25519(),
    };
    let client = MeshClient::spawn(keypair, REQUEST_TIMEOUT)?;
    let peer = client.dial(&target.peer).await?;
    Ok((client, peer))
}

/// Runs one shard-protocol command.
pub async fn shard(command: ShardCommand) -> anyhow::Result<ExitCode> {
    match command {
        ShardCommand::Put { target, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let id = ShardId::of(&bytes);
            let (client, peer) = connect(&target).await?;
            let already = client.shards().put(peer, id, &bytes).await?;
            println!("{id} {}", if already { "already stored" } else { "stored" });
        }
        ShardCommand::Get { target, id, out } => {
            let (client, peer) = connect(&target).await?;
            let bytes = client.shards().get(peer, id).await?;
            match out {
                Some(path) => std::fs::write(&path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(&bytes)?,
            }
        }
        ShardCommand::Challenge {
            target,
            id,
            len,
            chunks,
        } => {
            let (client, peer) = connect(&target).await?;
            let challenge = proofs::Challenge::random(id, len, chunks);
            let started = Instant::now();
            let proof = client.shards().challenge(peer, &challenge).await?;
            let elapsed = started.elapsed();
            if let Err(e) = proofs::verify(&id, len, &challenge, &proof) {
                bail!("the proof does not verify: {e}");
            }
            println!(
                "proof verified: {} chunks, {} bytes, {:.2} ms round trip",
                proof.chunks.len(),
                proof.encoded_len(),
                elapsed.as_secs_f64() * 1e3
            );
        }
        ShardCommand::Delete { target, id } => {
            let (client, peer) = connect(&target).await?;
            client.shards().delete(peer, id).await?;
            println!("{id} deleted");
        }
        ShardCommand::Stat { target } => {
            let (client, peer) = connect(&target).await?;
            let stat = client.shards().stat(peer).await?;
            println!(
                "{}",
                serde_json::json!({
                    "region": stat.region,
                    "capacity": stat.capacity,
                    "free": stat.free,
                    "shards": stat.shards,
                    "bytes_stored": stat.bytes_stored,
                    "version": stat.version,
                })
            );
        }
        ShardCommand::List { target } => {
            let (client, peer) = connect(&target).await?;
            let mut after = None;
            loop {
                let (ids, more) = client.shards().list(peer, after, 1000).await?;
                for (id, len) in &ids {
                    println!("{id} {len}");
                }
                after = ids.last().map(|(id, _)| *id);
                if !more || after.is_none() {
                    break;
                }
            }
        }
        ShardCommand::Usage { target, out } => {
            let (client, peer) = connect(&target).await?;
            let bytes = client.shards().usage(peer).await?;
            let report = mesh::net::SignedUsageReport::verify(&bytes)
                .context("the node sent a usage report that does not verify")?;
            if let Some(path) = out {
                std::fs::write(&path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            println!("{}", crate::usage_cmd::describe(&report));
        }
        ShardCommand::Bench {
            target,
            size,
            count,
            concurrency,
            chunks,
        } => {
            let size = storage_node::config::parse_size(&size)? as usize;
            let (client, peer) = connect(&target).await?;
            bench(client, peer, size, count, concurrency.max(1), chunks).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `work(i)` for `i` in `0..count` with `concurrency` in flight;
/// returns the wall time and each call's latency.
async fn run_concurrently<F, Fut>(
    count: usize,
    concurrency: usize,
    work: F,
) -> anyhow::Result<(Duration, Vec<Duration>)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let work = std::sync::Arc::new(work);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (work, next) = (work.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(latencies);
                }
                let t = Instant::now();
                work(i).await?;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    latencies.sort();
    Ok((started.elapsed(), latencies))
}

fn report(op: &str, wall: Duration, latencies: &[Duration], bytes_each: usize) {
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1e3
    };
    let n = latencies.len();
    let mb = (n * bytes_each) as f64 / 1e6;
    println!(
        "{op:<9} {n} in {:.2} s: {:.1} MB/s, {:.0} ops/s, latency p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms",
        wall.as_secs_f64(),
        mb / wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
}

async fn bench(
    client: MeshClient,
    peer: PeerId,
    size: usize,
    count: usize,
    concurrency: usize,
    chunks: u16,
) -> anyhow::Result<()> {
    // Distinct shards from one random buffer: each differs in its first 8 bytes.
    let mut base = vec![0u8; size];
    blake3::Hasher::new()
        .update(&rand_seed())
        .finalize_xof()
        .fill(&mut base);
    // Shards are made on the fly (a copy of the buffer with the index in its
    // first 8 bytes) so memory stays flat however many are sent.
    let base = std::sync::Arc::new(base);
    let shard = move |i: usize| {
        let mut data = base[..size].to_vec();
        data[..8.min(size)].copy_from_slice(&(i as u64).to_le_bytes()[..8.min(size)]);
        data
    };
    println!("{count} shards of {size} bytes, {concurrency} in flight");

    let put_ids = std::sync::Arc::new(std::sync::Mutex::new(vec![None; count]));
    let (c, made, out) = (client.clone(), shard.clone(), put_ids.clone());
    let (wall, lat) = run_concurrently(count, concurrency, move |i| {
        let (mut sc, data, out) = (c.shards(), made(i), out.clone());
        async move {
            let id = ShardId::of(&data);
            sc.put(peer, id, &data).await?;
            out.lock().expect("not poisoned")[i] = Some(id);
            Ok(())
        }
    })
    .await?;
    report("put", wall, &lat, size);
    let ids: Vec<ShardId> = put_ids
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|id| id.expect("every put finished"))
        .collect();
    let shards: std::sync::Arc<Vec<(ShardId, usize)>> =
        std::sync::Arc::new(ids.into_iter().map(|id| (id, size)).collect());

    let (c, s) = (client.clone(), shards.clone());
    let (wall, lat) = run_concurrently(count, concurrency, move |i| {
        let (mut sc, s) = (c.shards(), s.clone());
        async move {
            let bytes = sc.get(peer, s[i].0).await?;
            anyhow::ensure!(bytes.len() == s[i].1, "short read");
            Ok(())
        }
    })
    .await?;
    report("get", wall, &lat, size);

    let (c, s) = (client.clone(), shards.clone());
    let (wall, lat) = run_concurrently(count, concurrency, move |i| {
        let (mut sc, s) = (c.shards(), s.clone());
        async move {
            let challenge = proofs::Challenge::random(s[i].0, size as u64, chunks);
            let proof = sc.challenge(peer, &challenge).await?;
            proofs::verify(&s[i].0, size as u64, &challenge, &proof)
                .map_err(|e| anyhow::anyhow!("proof failed: {e}"))?;
            Ok(())
        }
    })
    .await?;
    report("challenge", wall, &lat, 0);

    let (c, s) = (client.clone(), shards.clone());
    run_concurrently(count, concurrency, move |i| {
        let (mut sc, s) = (c.shards(), s.clone());
        async move {
            sc.delete(peer, s[i].0).await?;
            Ok(())
        }
    })
    .await?;
    Ok(())
}

fn rand_seed() -> [u8; 16] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    nanos.to_le_bytes()
}
