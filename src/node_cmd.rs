//! `cairn node`: run a storage node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use storage_node::config::{AcceptSpec, ConfigFile, parse_accept, parse_addr, parse_size};
use storage_node::{AcceptConfig, ComputeConfig, Faults, Limits, NodeConfig};

/// How long an owner's copies live without a store or renewal, unless set.
const DEFAULT_LEASE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Arguments of `cairn node`. Flags override the `--config` file.
#[derive(clap::Args)]
pub struct NodeArgs {
    /// TOML file with the same settings (flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory: identity key, shards, index.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Capacity offered, e.g. 500GiB.
    #[arg(long)]
    capacity: Option<String>,
    /// Region this node is in, e.g. eu-west.
    #[arg(long)]
    region: Option<String>,
    /// Address to listen on (repeatable), e.g. /ip4/0.0.0.0/tcp/4001.
    #[arg(long)]
    listen: Vec<String>,
    /// Peer to join the mesh through (repeatable), ending in /p2p/<peer id>.
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Serve Prometheus metrics here, e.g. 127.0.0.1:9101.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Concurrent streams one peer may have open.
    #[arg(long)]
    streams_per_peer: Option<usize>,
    /// Seconds between scrub passes.
    #[arg(long)]
    scrub_every: Option<u64>,
    /// Who may store shards here (repeatable): `any` (owners not listed,
    /// within --owner-quota and --strangers-quota), a peer id, or
    /// `<peer id>=<size>` (that owner's own quota). Default: any.
    #[arg(long, value_name = "any|PEER[=SIZE]")]
    accept: Vec<String>,
    /// A file of accept entries, one per line (`#` comments), re-read when
    /// it changes.
    #[arg(long)]
    accept_file: Option<PathBuf>,
    /// What one owner not on the accept list may store, e.g. 20GiB
    /// (default: 5 % of the capacity).
    #[arg(long)]
    owner_quota: Option<String>,
    /// What all owners not on the accept list may store together (default:
    /// half the capacity).
    #[arg(long)]
    strangers_quota: Option<String>,
    /// Delete a copy whose owner has neither stored nor renewed it for this
    /// long, e.g. 30d (the default) or 10m.
    #[arg(long)]
    lease: Option<String>,
    /// Concurrent streams from one address prefix (/24 or /48), owners on
    /// the accept list not counted.
    #[arg(long)]
    streams_per_ip: Option<usize>,
    /// Inbound connections from one address prefix (/24 or /48).
    #[arg(long)]
    connections_per_ip: Option<usize>,
    /// Inbound connections in all.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Run compute tasks (WebAssembly jobs) next to the shards held here.
    #[arg(long)]
    compute: bool,
    /// Compute tasks run at once (default: the number of cores).
    #[arg(long, requires = "compute")]
    compute_slots: Option<usize>,
    /// Memory each compute task may use, e.g. 256MiB (the default).
    #[arg(long, requires = "compute")]
    compute_memory: Option<String>,
    /// FOR FAULT TESTS ONLY: answer every storage challenge with garbage.
    #[arg(long, hide = true)]
    test_only_lie_proofs: bool,
    /// FOR FAULT TESTS ONLY: acknowledge puts but throw the bytes away.
    #[arg(long, hide = true)]
    test_only_drop_writes: bool,
    /// FOR FAULT TESTS ONLY: stay honest this long after start, then
    /// switch the faults above on (e.g. 10s).
    #[arg(long, hide = true)]
    test_only_faults_after: Option<humantime::Duration>,
}

fn config(args: NodeArgs) -> anyhow::Result<NodeConfig> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let accept = accept_config(&args, &file)?;
    let lease = match args.lease.as_ref().or(file.lease.as_ref()) {
        Some(text) => humantime::parse_duration(text)
            .with_context(|| format!("invalid --lease {text:?} (use e.g. 30d, 12h, 10m)"))?,
        None => DEFAULT_LEASE,
    };
    if lease < Duration::from_secs(1) {
        anyhow::bail!("--lease must be at least one second");
    }
    let data_dir = args
        .data
        .or(file.data)
        .context("--data (or `data` in the config file) is required")?;
    let capacity = args
        .capacity
        .or(file.capacity)
        .context("--capacity (or `capacity` in the config file) is required")?;
    let region = args
        .region
        .or(file.region)
        .context("--region (or `region` in the config file) is required")?;
    let listen = if args.listen.is_empty() {
        file.listen
            .unwrap_or_else(|| vec!["/ip4/0.0.0.0/tcp/4001".to_owned()])
    } else {
        args.listen
    };
    let bootstrap = if args.bootstrap.is_empty() {
        file.bootstrap.unwrap_or_default()
    } else {
        args.bootstrap
    };
    let defaults = Limits::default();
    let args_compute = (
        args.compute,
        args.compute_slots,
        args.compute_memory.clone(),
    );
    Ok(NodeConfig {
        data_dir,
        capacity: parse_size(&capacity)?,
        region,
        listen: listen
            .iter()
            .map(|a| parse_addr(a))
            .collect::<Result<_, _>>()?,
        bootstrap: bootstrap
            .iter()
            .map(|a| parse_addr(a))
            .collect::<Result<_, _>>()?,
        metrics: args.metrics.or(file.metrics),
        limits: Limits {
            streams_per_peer: args
                .streams_per_peer
                .or(file.streams_per_peer)
                .unwrap_or(defaults.streams_per_peer),
            streams_per_ip: args.streams_per_ip.unwrap_or(defaults.streams_per_ip),
            connections_per_ip: args
                .connections_per_ip
                .unwrap_or(defaults.connections_per_ip),
            max_connections: args.max_connections.unwrap_or(defaults.max_connections),
            request_timeout: file
                .request_timeout_secs
                .map_or(defaults.request_timeout, Duration::from_secs),
            faults: Faults {
                lie_proofs: args.test_only_lie_proofs,
                drop_writes: args.test_only_drop_writes,
                after: args
                    .test_only_faults_after
                    .map_or(Duration::ZERO, Into::into),
            },
            ..defaults
        },
        republish_every: Duration::from_secs(300),
        scrub_every: Duration::from_secs(args.scrub_every.or(file.scrub_every_secs).unwrap_or(60)),
        scrub_batch: 64,
        accept,
        lease,
        // Often enough that junk goes within a tenth of the lease, never
        // more than hourly.
        lease_check_every: (lease / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600)),
        usage_every: Duration::from_secs(60),
        compute: compute_config(&args_compute)?,
    })
}

/// What `--compute`, `--compute-slots` and `--compute-memory` offer.
fn compute_config(
    (on, slots, memory): &(bool, Option<usize>, Option<String>),
) -> anyhow::Result<Option<ComputeConfig>> {
    if !on {
        return Ok(None);
    }
    let slots = slots.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    if !(1..=1024).contains(&slots) {
        anyhow::bail!("--compute-slots must be between 1 and 1024");
    }
    let memory = match memory {
        Some(text) => parse_size(text)?,
        None => 256 << 20,
    };
    let max = mesh::compute::Limits::MAX.memory;
    if !(1 << 20..=max).contains(&memory) {
        anyhow::bail!(
            "--compute-memory must be between 1MiB and {}",
            bytesize::ByteSize(max)
        );
    }
    Ok(Some(ComputeConfig { slots, memory }))
}

/// The accept list and quotas from the flags (or else the file).
fn accept_config(args: &NodeArgs, file: &ConfigFile) -> anyhow::Result<AcceptConfig> {
    let entries: Vec<String> = if args.accept.is_empty() {
        file.accept.clone().unwrap_or_default()
    } else {
        args.accept.clone()
    };
    let accept_file = args.accept_file.clone().or(file.accept_file.clone());
    let mut config = AcceptConfig {
        // With nothing said, anyone may store within the strangers' quotas.
        any: entries.is_empty() && accept_file.is_none(),
        listed: Vec::new(),
        file: accept_file,
        owner_quota: args
            .owner_quota
            .as_ref()
            .or(file.owner_quota.as_ref())
            .map(|s| parse_size(s))
            .transpose()?,
        strangers_quota: args
            .strangers_quota
            .as_ref()
            .or(file.strangers_quota.as_ref())
            .map(|s| parse_size(s))
            .transpose()?,
    };
    for entry in &entries {
        match parse_accept(entry)? {
            AcceptSpec::Any => config.any = true,
            AcceptSpec::Peer(peer, quota) => config.listed.push((peer, quota)),
        }
    }
    Ok(config)
}

/// Runs the node until SIGINT or SIGTERM.
pub async fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let config = config(args)?;
    storage_node::run(config, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
    }
}
