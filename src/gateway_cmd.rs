//! `cairn gateway`: serve S3 over the mesh; `cairn gateway key|bucket ...`
//! (see `manage_cmd`).

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
    // Boxed: the run flags are many, and `Command` holds this by value.
    #[command(flatten)]
    run: Box<RunArgs>,
}

#[derive(clap::Subcommand)]
enum GatewayAction {
    /// Manage access keys.
    #[command(subcommand)]
    Key(crate::manage_cmd::KeyAction),
    /// Manage buckets: owners and what other keys may do in them.
    #[command(subcommand)]
    Bucket(crate::manage_cmd::BucketAction),
    /// Rebuild a lost gateway's metadata from its backups in the mesh,
    /// into a new data directory, with only its keys.
    Recover(crate::recover_cmd::RecoverArgs),
    /// Export the master key and identity into one passphrase-sealed file:
    /// keep it off the machine; with it and any node, `recover` brings
    /// everything back.
    BackupKeys(crate::recover_cmd::BackupKeysArgs),
}

/// Where the metadata and the master key live.
#[derive(clap::Args)]
pub struct MetaArg {
    /// The master key file (default: master.key in the data directory,
    /// made on first start). Every gateway sharing a --meta database must
    /// use the same key; a key that does not match the one the store was
    /// written with is refused at start.
    #[arg(long, value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Keep the metadata (buckets, keys, manifests, health) in this
    /// PostgreSQL database, shared by every gateway given the same URL:
    /// `postgres://user:password@host:port/db`. They must also share
    /// identity.key and master.key (copy both from the first gateway's data
    /// directory). Without it: `meta.redb` in the data directory.
    #[arg(
        long = "meta",
        env = "CAIRN_META_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub url: Option<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Data directory: metadata, identity, the master key (`master.key`,
    /// made on first start: back it up, no object can be read without it).
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    meta: MetaArg,
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
    /// How strongly placement prefers nodes with a low round trip: the
    /// exponent on 1/RTT in each node's weight (0 ignores distance; shards
    /// stay at most m per region either way).
    #[arg(long, default_value_t = 0.5, value_name = "EXPONENT")]
    latency_weight: f64,
    /// Plaintext bytes per segment of new objects: a power of two from
    /// 64KiB to 8MiB. Smaller segments cost more metadata and shards per
    /// byte; reads and repairs work a segment at a time.
    #[arg(long, default_value = "8MiB")]
    segment_size: bytesize::ByteSize,
    /// Region reported to clients.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// All nodes on one machine: drop the distinct-subnet placement rule.
    #[arg(long)]
    devnet: bool,
    /// Serve the admin endpoint here: `/metrics` (Prometheus) and `/status`
    /// (JSON, read by `cairn status`). Plain HTTP: keep it on loopback or a
    /// private network.
    #[arg(long, alias = "metrics")]
    admin: Option<SocketAddr>,
    /// Serve the web console here (sign in with an access key and its
    /// secret). Over HTTPS with --tls-cert.
    #[arg(long, value_name = "ADDR")]
    console: Option<SocketAddr>,
    /// Serve S3 over HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Accept virtual-hosted-style requests: `Host: <bucket>.<domain>`
    /// addresses the bucket (repeatable). Path style keeps working.
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Accept SigV2-signed requests (AWS has retired SigV2; off, they are
    /// refused). They must then be dated within 15 minutes, and presigned
    /// ones expire within 7 days.
    #[arg(long)]
    allow_sigv2: bool,
    #[command(flatten)]
    connections: ConnectionArgs,
    #[command(flatten)]
    health: HealthArgs,
    /// Ship changed metadata into the mesh this often (the recovery point:
    /// what losing the gateway's disk can lose is about this much).
    #[arg(long, default_value = "1s")]
    backup_every: humantime::Duration,
    /// Wait for this many storage nodes (at most a minute) before serving
    /// (default k + m).
    #[arg(long)]
    min_nodes: Option<usize>,
    /// Do not back the metadata up into the mesh (losing this machine's
    /// disk then loses every object).
    #[arg(long)]
    no_backup: bool,
    /// A file of CIDs (one per line, `#` comments) this gateway will not
    /// serve (451) or pin; reread when it changes. Other gateways, and
    /// `cairn get`, are not affected.
    #[arg(long, value_name = "FILE")]
    denylist: Option<PathBuf>,
    /// Parity shards per segment added to content this gateway takes on
    /// for pins (more than its objects get: pinned content outlives its
    /// publisher here). Needs k + m + this many nodes.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pin_extra_parity: usize,
}

/// Connection cap and timeouts of the S3 endpoint.
#[derive(clap::Args)]
struct ConnectionArgs {
    /// Most S3 connections open at once; more are closed as they arrive.
    /// Lowered to fit the open-file limit (whose soft value is raised to
    /// the hard one at start).
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// A connection must send a complete request head within this (from
    /// its start, or from the first byte of a next request).
    #[arg(long, default_value = "10s")]
    header_timeout: humantime::Duration,
    /// A keep-alive connection with no request for this long is closed.
    #[arg(long, default_value = "60s")]
    idle_timeout: humantime::Duration,
    /// A request body that pauses this long fails; so does a response the
    /// client stops reading.
    #[arg(long, default_value = "60s")]
    body_timeout: humantime::Duration,
}

impl ConnectionArgs {
    fn limits(&self) -> s3_gateway::conn::ConnLimits {
        s3_gateway::conn::ConnLimits {
            max_connections: self.max_connections.max(1),
            header_timeout: *self.header_timeout,
            idle_timeout: *self.idle_timeout,
            body_timeout: *self.body_timeout,
        }
    }
}

/// Liveness, audit and repair settings. Defaults are production's
/// (minutes), or devnet's (seconds) with `--devnet`.
#[derive(clap::Args)]
struct HealthArgs {
    /// Heartbeat period.
    #[arg(long)]
    heartbeat: Option<humantime::Duration>,
    /// A node silent this long is suspect (no new shards, read last).
    #[arg(long)]
    suspect_after: Option<humantime::Duration>,
    /// A node silent this long is dead.
    #[arg(long)]
    dead_after: Option<humantime::Duration>,
    /// A dead node's shards are repaired after this much more.
    #[arg(long)]
    repair_grace: Option<humantime::Duration>,
    /// Audit each node this often.
    #[arg(long)]
    audit_every: Option<humantime::Duration>,
    /// An audit not answered within this is a time-out.
    #[arg(long)]
    audit_deadline: Option<humantime::Duration>,
    /// Check every manifest's health this often.
    #[arg(long)]
    check_every: Option<humantime::Duration>,
    /// Look for unreferenced shards on nodes this often.
    #[arg(long)]
    gc_every: Option<humantime::Duration>,
    /// What lifecycle rules count as a day (default 24h; for tests, e.g.
    /// 2s). Rules are applied every 1/24 of it.
    #[arg(long)]
    lifecycle_day: Option<humantime::Duration>,
    /// Repair a segment once its healthy shards are at most this many
    /// (default k + m - 1: at the first loss).
    #[arg(long)]
    repair_threshold: Option<usize>,
    /// Most repair upload bandwidth, e.g. 64MiB (per second).
    #[arg(long)]
    repair_rate: Option<bytesize::ByteSize>,
    /// Audit score below which a node gets no new shards.
    #[arg(long)]
    suspend_below: Option<f64>,
    /// Audit score below which a node is disqualified.
    #[arg(long)]
    disqualify_below: Option<f64>,
}

impl HealthArgs {
    fn config(&self, devnet: bool) -> s3_gateway::health::HealthConfig {
        let mut c = if devnet {
            s3_gateway::health::HealthConfig::devnet()
        } else {
            s3_gateway::health::HealthConfig::default()
        };
        let set = |field: &mut std::time::Duration, v: Option<humantime::Duration>| {
            if let Some(v) = v {
                *field = *v;
            }
        };
        set(&mut c.heartbeat, self.heartbeat);
        set(&mut c.suspect_after, self.suspect_after);
        set(&mut c.dead_after, self.dead_after);
        set(&mut c.repair_grace, self.repair_grace);
        set(&mut c.audit_every, self.audit_every);
        set(&mut c.audit_deadline, self.audit_deadline);
        set(&mut c.check_every, self.check_every);
        set(&mut c.gc_every, self.gc_every);
        set(&mut c.lifecycle_day, self.lifecycle_day);
        if self.repair_threshold.is_some() {
            c.repair_threshold = self.repair_threshold;
        }
        if let Some(rate) = self.repair_rate {
            c.repair_rate = rate.as_u64();
        }
        if let Some(v) = self.suspend_below {
            c.reputation.suspend_below = v;
        }
        if let Some(v) = self.disqualify_below {
            c.reputation.disqualify_below = v;
        }
        c
    }
}

/// Runs the gateway subcommand.
pub async fn run(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(GatewayAction::Key(action)) => crate::manage_cmd::key(action).await?,
        Some(GatewayAction::Bucket(action)) => crate::manage_cmd::bucket(action).await?,
        Some(GatewayAction::Recover(args)) => return crate::recover_cmd::recover(args).await,
        Some(GatewayAction::BackupKeys(args)) => crate::recover_cmd::backup_keys(args)?,
        None => {
            let run = *args.run;
            let data_dir = run
                .data
                .ok_or_else(|| anyhow::anyhow!("--data is required"))?;
            let scheme = Scheme::new(run.k, run.m)?;
            let config = GatewayConfig {
                data_dir,
                meta_url: run.meta.url,
                master_key_file: run.meta.master_key_file,
                s3: run.s3,
                bootstrap: run.bootstrap,
                scheme,
                region: run.region,
                devnet: run.devnet,
                min_nodes: run.min_nodes.unwrap_or(scheme.total()),
                latency_weight: run.latency_weight,
                segment_size: segment_size(run.segment_size)?,
                health: run.health.config(run.devnet),
                admin: run.admin,
                console: run.console,
                tls: run
                    .tls_cert
                    .zip(run.tls_key)
                    .map(|(cert, key)| s3_gateway::tls::TlsFiles { cert, key }),
                domains: run.domains,
                allow_sigv2: run.allow_sigv2,
                connections: run.connections.limits(),
                backup: (!run.no_backup).then(|| s3_gateway::backup::BackupConfig {
                    every: (*run.backup_every).max(std::time::Duration::from_millis(100)),
                    ..Default::default()
                }),
                denylist: run.denylist,
                pin_extra_parity: run.pin_extra_parity,
            };
            s3_gateway::run(config, crate::node_cmd::shutdown_signal()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A segment size given on the command line, checked: a power of two from
/// 64 KiB to 8 MiB.
fn segment_size(given: bytesize::ByteSize) -> anyhow::Result<usize> {
    let bytes = given.as_u64();
    anyhow::ensure!(
        bytes.is_power_of_two() && (64 << 10..=8 << 20).contains(&bytes),
        "--segment-size {given}: a power of two from 64KiB to 8MiB"
    );
    Ok(bytes as usize)
}
