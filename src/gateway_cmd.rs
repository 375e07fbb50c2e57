//! `cairn gateway`: serve S3 over the mesh; `cairn gateway key create`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use libp2p::Multiaddr;
use mesh::codec::Scheme;
use s3_gateway::GatewayConfig;

/// Arguments of `cairn gateway`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    #[command(subcommand)]
    action: Option<GatewayAction>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand)]
enum GatewayAction {
    /// Manage access keys.
    #[command(subcommand)]
    Key(KeyAction),
}

#[derive(clap::Subcommand)]
enum KeyAction {
    /// Create an access key and secret; prints them as JSON.
    Create {
        /// The gateway's data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// List access key ids.
    List {
        /// The gateway's data directory.
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Data directory: metadata, identity.
    #[arg(long)]
    data: Option<PathBuf>,
    /// S3 listen address.
    #[arg(long, default_value = "127.0.0.1:9000")]
    s3: SocketAddr,
    /// Node to enter the mesh through (repeatable), ending in /p2p/<peer id>.
    #[arg(long)]
    bootstrap: Vec<Multiaddr>,
    /// Data shards per segment.
    #[arg(long, default_value_t = 4)]
    k: usize,
    /// Parity shards per segment.
    #[arg(long, default_value_t = 2)]
    m: usize,
    /// Region reported to clients.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// All nodes on one machine: drop the distinct-subnet placement rule.
    #[arg(long)]
    devnet: bool,
    /// Serve metrics here (not yet implemented for the gateway; accepted for devnet).
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

/// Runs the gateway subcommand.
pub async fn run(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(GatewayAction::Key(KeyAction::Create { data })) => {
            let meta = s3_gateway::open_meta(&data)?;
            let key = meta.create_key()?;
            println!(
                "{}",
                serde_json::json!({"access_key": key.access_key_id, "secret_key": key.secret_key})
            );
        }
        Some(GatewayAction::Key(KeyAction::List { data })) => {
            let meta = s3_gateway::open_meta(&data)?;
            for key in meta.list_keys()? {
                println!("{}", key.access_key_id);
            }
        }
        None => {
            let run = args.run;
            let data_dir = run
                .data
                .ok_or_else(|| anyhow::anyhow!("--data is required"))?;
            let scheme = Scheme::new(run.k, run.m)?;
            let config = GatewayConfig {
                data_dir,
                s3: run.s3,
                bootstrap: run.bootstrap,
                scheme,
                region: run.region,
                devnet: run.devnet,
                min_nodes: scheme.total(),
            };
            s3_gateway::run(config, crate::node_cmd::shutdown_signal()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
