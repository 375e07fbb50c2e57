//! `cairn`: the one binary users run.

mod add_cmd;
mod bench_cmd;
mod devnet_cmd;
mod gateway_client;
mod gateway_cmd;
mod get_cmd;
mod job_cmd;
mod light_client;
mod logging;
mod manage_cmd;
mod mesh_cmd;
mod node_cmd;
mod pin_cmd;
mod publish_cmd;
mod recover_cmd;
mod shard_id_cmd;
mod simulate_cmd;
mod status_cmd;
mod usage_cmd;
mod wan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cairn: a decentralized, erasure-coded, verifiable object store.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load-test any S3 endpoint: throughput and latency of puts and gets.
    Bench(bench_cmd::BenchArgs),
    /// Run a local mesh of nodes and a gateway on 127.0.0.1 (the main job).
    Devnet(devnet_cmd::DevnetArgs),
    /// Run an S3 gateway over the mesh, or manage its access keys.
    Gateway(gateway_cmd::GatewayArgs),
    /// Run a storage node: offer disk to the mesh.
    Node(Box<node_cmd::NodeArgs>),
    /// List the storage nodes the DHT knows, with their signed records.
    Nodes(mesh_cmd::NodesArgs),
    /// Talk the shard protocol to one node: put, get, challenge, delete, stat, list.
    #[command(subcommand)]
    Shard(mesh_cmd::ShardCommand),
    /// Print the shard id (blake3 hash) of files, as nodes name shards.
    ShardId(shard_id_cmd::ShardIdArgs),
    /// Estimate the annual durability of a configuration: repair-queue
    /// simulation, segment Monte Carlo and an analytic tail.
    Simulate(Box<simulate_cmd::SimulateArgs>),
    /// Publish an object by its content id (CID) through a gateway.
    Publish(publish_cmd::PublishArgs),
    /// Publish a file by its CID straight to the mesh, with no gateway
    /// (a light client with its own identity).
    Add(add_cmd::AddArgs),
    /// Fetch published content by its CID straight from the mesh, with no
    /// gateway (every byte checked against the CID; resumes).
    Get(get_cmd::GetArgs),
    /// Pin content on a gateway (IPFS Pinning Service API), list and
    /// remove pins.
    #[command(subcommand)]
    Pin(pin_cmd::PinCommand),
    /// Run WebAssembly jobs on the nodes that hold their input.
    #[command(subcommand)]
    Job(job_cmd::JobCommand),
    /// Show a gateway's view of its nodes and of its data's health.
    Status(status_cmd::StatusArgs),
    /// Check nodes' signed usage reports (fetched with `cairn shard usage`).
    #[command(subcommand)]
    Usage(usage_cmd::UsageCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_json);
    let result = match cli.command {
        Command::ShardId(args) => shard_id_cmd::run(args),
        Command::Simulate(args) => simulate_cmd::run(*args),
        Command::Bench(args) => runtime().block_on(bench_cmd::run(args)),
        Command::Devnet(args) => runtime().block_on(devnet_cmd::run(args)),
        Command::Gateway(args) => runtime().block_on(gateway_cmd::run(args)),
        Command::Node(args) => runtime().block_on(node_cmd::run(*args)),
        Command::Nodes(args) => runtime().block_on(mesh_cmd::nodes(args)),
        Command::Shard(command) => runtime().block_on(mesh_cmd::shard(command)),
        Command::Publish(args) => runtime().block_on(publish_cmd::run(args)),
        Command::Add(args) => runtime().block_on(add_cmd::run(args)),
        Command::Get(args) => runtime().block_on(get_cmd::run(args)),
        Command::Pin(command) => runtime().block_on(pin_cmd::run(command)),
        Command::Job(command) => runtime().block_on(job_cmd::run(command)),
        Command::Status(args) => runtime().block_on(status_cmd::run(args)),
        Command::Usage(command) => usage_cmd::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
