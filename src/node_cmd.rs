//! `cairn node`: run a storage node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use storage_node::config::{ConfigFile, parse_addr, parse_size};
use storage_node::{Faults, Limits, NodeConfig};

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
    /// FOR FAULT TESTS ONLY: answer every storage challenge with garbage.
    #[arg(long, hide = true)]
    test_only_lie_proofs: bool,
    /// FOR FAULT TESTS ONLY: acknowledge puts but throw the bytes away.
    #[arg(long, hide = true)]
    test_only_drop_writes: bool,
}

fn config(args: NodeArgs) -> anyhow::Result<NodeConfig> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
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
            request_timeout: file
                .request_timeout_secs
                .map_or(defaults.request_timeout, Duration::from_secs),
            faults: Faults {
                lie_proofs: args.test_only_lie_proofs,
                drop_writes: args.test_only_drop_writes,
            },
            ..defaults
        },
        republish_every: Duration::from_secs(300),
        scrub_every: Duration::from_secs(args.scrub_every.or(file.scrub_every_secs).unwrap_or(60)),
        scrub_batch: 64,
    })
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
