//! `cairn devnet`: a local mesh of `cairn node` processes and one
//! `cairn gateway`, all on 127.0.0.1, kept in the foreground until Ctrl-C.
//!
//! Everything lives under `--dir`: `node-<i>/` and `gateway/` data
//! directories, `node-<i>.log` and `gateway.log`, and `devnet.json`, which
//! tells scripts and tests where every process is. Running it again on the
//! same directory brings back the same cluster: identities, data and keys.

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The S3 region the gateway answers for.
const S3_REGION: &str = "us-east-1";
/// How long one node may take to write its `node.json`.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the gateway may take to write its `gateway.json`.
const GATEWAY_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness files and child exits are checked.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// How often running children are checked for unexpected exits.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// Region names for the first nodes' regions; later ones are `region-<n>`.
const REGION_NAMES: [&str; 8] = [
    "us-east",
    "eu-west",
    "ap-south",
    "sa-east",
    "af-south",
    "me-central",
    "ca-central",
    "ap-north",
];

/// Arguments of `cairn devnet`.
#[derive(clap::Args)]
pub struct DevnetArgs {
    /// Directory holding every node's and the gateway's data, logs and devnet.json.
    #[arg(long, default_value = "./devnet")]
    dir: PathBuf,
    /// Number of storage nodes.
    #[arg(long, default_value_t = 6)]
    nodes: usize,
    /// Number of regions the nodes are spread over (round robin).
    #[arg(long, default_value_t = 3)]
    regions: usize,
    /// Data shards per segment.
    #[arg(long, default_value_t = 4)]
    k: usize,
    /// Parity shards per segment.
    #[arg(long, default_value_t = 2)]
    m: usize,
    /// Address the gateway serves S3 on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    s3: SocketAddr,
    /// Address the first gateway serves the web console on (the others
    /// take any free port on the same address; a busy port is replaced by
    /// a free one).
    #[arg(long, default_value = "127.0.0.1:9001")]
    console: SocketAddr,
    /// Capacity each node offers, e.g. 10GiB.
    #[arg(long, default_value = "10GiB")]
    capacity: String,
    /// Extra argument for the gateway (repeatable), e.g.
    /// `--gateway-arg=--audit-every=1s`.
    #[arg(long, allow_hyphen_values = true)]
    gateway_arg: Vec<String>,
    /// Extra argument for every node (repeatable), e.g.
    /// `--node-arg=--scrub-every=3600`.
    #[arg(long, allow_hyphen_values = true)]
    node_arg: Vec<String>,
    /// How long a node keeps a copy its owner neither stores nor renews.
    /// The gateway renews its own on every garbage-collection pass (20 s on
    /// a devnet).
    #[arg(long, default_value = "10m")]
    lease: String,
    /// Put every region in a network namespace of its own and delay every
    /// packet between regions (a user-space router; needs root). The
    /// gateway and clients sit in the first region.
    #[arg(long)]
    wan: bool,
    /// One-way delay between two regions on the WAN (repeatable), e.g.
    /// `us-east:eu-west=40ms`; other pairs get a realistic default.
    #[arg(long, requires = "wan", value_name = "A:B=DELAY")]
    delay: Vec<String>,
    /// Cap each direction between two regions at this many bytes per
    /// second, e.g. 12MiB.
    #[arg(long, requires = "wan")]
    wan_rate: Option<String>,
    /// One-way delay between the gateway (with its clients) and the nodes
    /// of its own region on the WAN, e.g. `1ms` for another building of
    /// the same region; 0 puts the gateway in that region's namespace.
    #[arg(long, requires = "wan", default_value = "0ms", value_name = "DELAY")]
    gateway_delay: String,
    /// Where the gateways keep metadata: `redb` (a file in the gateway's
    /// data directory), `postgres` (a PostgreSQL server the devnet starts
    /// under `<dir>/postgres`, from the installed `postgresql` package), or
    /// a `postgres://` URL of an existing database.
    #[arg(long, default_value = "redb", value_name = "redb|postgres|URL")]
    meta: String,
    /// Gateways to run, sharing one namespace (needs `--meta postgres`).
    /// Gateway i serves S3 on the `--s3` port plus i.
    #[arg(long, default_value_t = 1)]
    gateways: usize,
}

/// Keys of the gateway's devnet access key.
struct Keys {
    access: String,
    secret: String,
}

/// One child process of the devnet.
struct Proc {
    /// `node-<i>` or `gateway`, for messages.
    name: String,
    /// Its data directory.
    data_dir: PathBuf,
    /// Where its stdout and stderr go.
    log: PathBuf,
    /// `None` once it has exited and been reaped.
    child: Option<Child>,
    /// Its process id.
    pid: u32,
}

/// What a started node reported in its `node.json`.
struct NodeInfo {
    region: String,
    peer_id: String,
    /// First listen address, ending in `/p2p/<peer id>`.
    addr: String,
    metrics: Option<String>,
}

/// What the started gateway reported in its `gateway.json`.
struct GatewayInfo {
    s3_endpoint: String,
    console: Option<String>,
    metrics: Option<String>,
    admin: Option<String>,
    peer_id: Option<String>,
}

/// Every child started so far; killed (SIGKILL) on drop as a last resort.
#[derive(Default)]
struct Cluster {
    nodes: Vec<Proc>,
    gateways: Vec<Proc>,
    /// The devnet's own PostgreSQL server, if it runs one (stopped after
    /// the processes).
    postgres: Option<s3_gateway::meta::postgres::local::LocalPostgres>,
    /// The WAN the processes run in, if any (dropped after them).
    wan: Option<crate::wan::Wan>,
}

impl Cluster {
    /// A command running `exe` in region `region` (inside its namespace on
    /// a WAN devnet).
    fn command_in(&self, region: usize, exe: &Path) -> Command {
        match &self.wan {
            Some(wan) => wan.command(region, exe),
            None => Command::new(exe),
        }
    }

    /// The IP address processes of region `region` listen on.
    fn ip_of(&self, region: usize) -> std::net::IpAddr {
        match &self.wan {
            Some(wan) => wan.address(region).into(),
            None => std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }
}

/// SIGINT and SIGTERM, installed before any child starts.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Installs the handlers.
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("installing a SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing a SIGTERM handler")?,
        })
    }

    /// Waits for either signal and names it.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Starts the devnet, prints how to use it, and runs until SIGINT or SIGTERM.
pub async fn run(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    check_args(&args)?;
    let mut signals = Signals::install()?;
    let mut cluster = Cluster::default();
    let outcome = tokio::select! {
        result = start(&args, &mut cluster) => Some(result),
        name = signals.recv() => {
            eprintln!("devnet: {name} while starting; stopping");
            None
        }
    };
    match outcome {
        None => {
            cluster.stop().await;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Err(err)) => {
            cluster.stop().await;
            return Err(err);
        }
        Some(Ok(summary)) => print_ready(&args, &summary, started.elapsed()),
    }
    let name = cluster.watch(&mut signals).await;
    eprintln!("devnet: {name}: stopping every process");
    cluster.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Rejects settings the gateway could never become ready with.
fn check_args(args: &DevnetArgs) -> anyhow::Result<()> {
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    if args.regions == 0 {
        bail!("--regions must be at least 1");
    }
    if args.gateways == 0 {
        bail!("--gateways must be at least 1");
    }
    if args.gateways > 1 && args.meta == "redb" {
        bail!(
            "--gateways {} needs a shared metadata store: add --meta postgres",
            args.gateways
        );
    }
    if !matches!(args.meta.as_str(), "redb" | "postgres")
        && !args.meta.starts_with("postgres://")
        && !args.meta.starts_with("postgresql://")
    {
        bail!(
            "--meta {}: expected redb, postgres or a postgres:// URL",
            args.meta
        );
    }
    if args.nodes < args.k + args.m {
        bail!(
            "--nodes {} is fewer than k+m = {}: the gateway needs a node per shard",
            args.nodes,
            args.k + args.m
        );
    }
    Ok(())
}

/// What `run` prints once everything is up.
struct Summary {
    /// One per gateway, the first first.
    s3_endpoints: Vec<String>,
    /// The first gateway's web console.
    console: Option<String>,
    keys: Keys,
    state_file: PathBuf,
}

/// Starts the nodes, then the gateway, and writes `devnet.json`.
async fn start(args: &DevnetArgs, cluster: &mut Cluster) -> anyhow::Result<Summary> {
    let dir = prepare_dir(&args.dir)?;
    if args.wan {
        let spec = wan_spec(args)?;
        let wan = crate::wan::Wan::start(&spec).context("setting up the WAN (needs root)")?;
        for a in 0..spec.regions.len() {
            for b in a + 1..spec.regions.len() {
                let (ra, rb) = (&spec.regions[a], &spec.regions[b]);
                eprintln!(
                    "devnet: WAN {ra} <-> {rb}: {:.1} ms one way",
                    spec.delay(ra, rb).as_secs_f64() * 1000.0
                );
            }
        }
        if !spec.gateway_delay.is_zero() {
            eprintln!(
                "devnet: WAN gateway <-> {} nodes: {:.1} ms one way",
                spec.regions[0],
                spec.gateway_delay.as_secs_f64() * 1000.0
            );
        }
        cluster.wan = Some(wan);
    }
    let exe = std::env::current_exe().context("finding the cairn binary")?;
    // The gateway's identity first: every node accepts it by name (with
    // no quota of its own beyond the node's capacity); other owners get the
    // nodes' default stranger quotas.
    let gateway_dir = dir.join("gateway");
    std::fs::create_dir_all(&gateway_dir)
        .with_context(|| format!("creating {}", gateway_dir.display()))?;
    let (gateway_key, _) = mesh::identity::load_or_create(&gateway_dir)
        .with_context(|| format!("the gateway identity in {}", gateway_dir.display()))?;
    let gateway_peer = gateway_key.public().to_peer_id().to_string();
    let meta_url = start_meta(args, &dir, cluster).await?;
    let nodes = start_nodes(args, &dir, &exe, &gateway_peer, cluster).await?;
    let state_file = dir.join("devnet.json");
    let keys = match previous_keys(&state_file) {
        Some(keys) => keys,
        None => {
            create_key(
                &exe,
                &gateway_dir,
                meta_url.as_deref(),
                &dir.join("gateway.log"),
            )
            .await?
        }
    };
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let mut gateways = Vec::new();
    for i in 0..args.gateways {
        if i > 0 {
            share_secrets(&gateway_dir, &dir.join(gateway_name(i)))?;
        }
        let gateway = start_gateway(
            args,
            &dir,
            &exe,
            &bootstrap,
            meta_url.as_deref(),
            i,
            cluster,
        )
        .await?;
        gateways.push(gateway);
    }
    let state = devnet_state(&gateways, &keys, meta_url.as_deref(), cluster, &nodes);
    write_atomically(&state_file, &state)?;
    Ok(Summary {
        console: gateways.first().and_then(|g| g.console.clone()),
        s3_endpoints: gateways.into_iter().map(|g| g.s3_endpoint).collect(),
        keys,
        state_file,
    })
}

/// The name (and data directory) of gateway `i`: `gateway`, `gateway-1`, ...
fn gateway_name(i: usize) -> String {
    if i == 0 {
        "gateway".to_owned()
    } else {
        format!("gateway-{i}")
    }
}

/// The metadata URL the gateways share, starting the devnet's own
/// PostgreSQL server for `--meta postgres` (none: each uses redb).
async fn start_meta(
    args: &DevnetArgs,
    dir: &Path,
    cluster: &mut Cluster,
) -> anyhow::Result<Option<String>> {
    match args.meta.as_str() {
        "redb" => Ok(None),
        "postgres" => {
            use s3_gateway::meta::postgres::local::LocalPostgres;
            let pg_dir = dir.join("postgres");
            let port = free_port().context("choosing a port for PostgreSQL")?;
            let server =
                tokio::task::spawn_blocking(move || LocalPostgres::start(&pg_dir, port, true))
                    .await
                    .context("starting PostgreSQL")?
                    .context("starting PostgreSQL (install it with: apt-get install postgresql)")?;
            server
                .create_database("cairn")
                .await
                .context("creating the devnet's database")?;
            let url = server.url("cairn");
            eprintln!(
                "devnet: PostgreSQL at {url} (data in {}/postgres)",
                dir.display()
            );
            cluster.postgres = Some(server);
            Ok(Some(url))
        }
        url => Ok(Some(url.to_owned())),
    }
}

/// A TCP port free on 127.0.0.1 now.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Gives gateway directory `to` the identity and master key of `from`:
/// gateways sharing a store act as one owner on the nodes and read each
/// other's objects.
fn share_secrets(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)
        .with_context(|| format!("creating {}", to.display()))?;
    for file in [
        mesh::identity::IDENTITY_FILE,
        s3_gateway::keywrap::MASTER_KEY_FILE,
    ] {
        let target = to.join(file);
        std::fs::copy(from.join(file), &target)
            .with_context(|| format!("copying {file} into {}", to.display()))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("narrowing {}", target.display()))?;
    }
    Ok(())
}

/// The WAN's regions and delays from the flags.
fn wan_spec(args: &DevnetArgs) -> anyhow::Result<crate::wan::WanSpec> {
    let regions: Vec<String> = (0..args.regions.min(args.nodes)).map(region_name).collect();
    let mut delays = std::collections::HashMap::new();
    for text in &args.delay {
        let (pair, delay) = crate::wan::parse_delay(text)?;
        for region in [&pair.0, &pair.1] {
            if !regions.contains(region) {
                bail!(
                    "--delay {text}: no region {region} on this devnet (regions: {})",
                    regions.join(", ")
                );
            }
        }
        delays.insert(pair, delay);
    }
    let rate = args
        .wan_rate
        .as_deref()
        .map(|r| {
            r.parse::<bytesize::ByteSize>()
                .map(|b| b.as_u64())
                .map_err(|e| anyhow::anyhow!("--wan-rate {r}: {e}"))
        })
        .transpose()?;
    let gateway_delay = humantime::parse_duration(&args.gateway_delay)
        .with_context(|| format!("--gateway-delay {}", args.gateway_delay))?;
    Ok(crate::wan::WanSpec {
        regions,
        delays,
        rate,
        gateway_delay,
    })
}

/// Creates `dir` if needed and returns it as an absolute path.
fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    dir.canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))
}

/// The name of region number `n`.
fn region_name(n: usize) -> String {
    REGION_NAMES
        .get(n)
        .map_or_else(|| format!("region-{n}"), |name| (*name).to_owned())
}

/// Starts node 0, waits for it, then starts the others bootstrapping from it
/// and waits for them all. Returns what each node reported, in order.
async fn start_nodes(
    args: &DevnetArgs,
    dir: &Path,
    exe: &Path,
    gateway_peer: &str,
    cluster: &mut Cluster,
) -> anyhow::Result<Vec<NodeInfo>> {
    let first = spawn_node(args, cluster, dir, exe, 0, gateway_peer, &[])?;
    let first = cluster.nodes.push_mut(first);
    let seed = node_ready(first).await?;
    let bootstrap = [seed.addr.clone()];
    for i in 1..args.nodes {
        let node = spawn_node(args, cluster, dir, exe, i, gateway_peer, &bootstrap)?;
        cluster.nodes.push(node);
    }
    let mut infos = vec![seed];
    for i in 1..args.nodes {
        infos.push(node_ready(&mut cluster.nodes[i]).await?);
    }
    Ok(infos)
}

/// Starts `cairn node` number `i` in `<dir>/node-<i>`, accepting the
/// gateway `gateway_peer` and (within their quotas) anyone else.
fn spawn_node(
    args: &DevnetArgs,
    cluster: &Cluster,
    dir: &Path,
    exe: &Path,
    i: usize,
    gateway_peer: &str,
    bootstrap: &[String],
) -> anyhow::Result<Proc> {
    let name = format!("node-{i}");
    let data_dir = dir.join(&name);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    remove_stale(&data_dir.join("node.json"))?;
    let region = i % args.regions;
    let ip = cluster.ip_of(region);
    let mut command = cluster.command_in(region, exe);
    command
        .arg("node")
        .arg("--data")
        .arg(&data_dir)
        .args(["--capacity", &args.capacity])
        .args(["--region", &region_name(region)])
        .args(["--listen", &format!("/ip4/{ip}/tcp/0")])
        .args(["--metrics", &format!("{ip}:0")])
        .args(["--accept", gateway_peer, "--accept", "any"])
        .args(["--lease", &args.lease])
        // Every devnet node runs compute tasks, two at a time.
        .args(["--compute", "--compute-slots", "2"]);
    for addr in bootstrap {
        command.args(["--bootstrap", addr]);
    }
    command.args(&args.node_arg);
    spawn(command, name, data_dir, dir.join(format!("node-{i}.log")))
}

/// Waits for a node's `node.json` from this very process, with an address.
async fn node_ready(node: &mut Proc) -> anyhow::Result<NodeInfo> {
    let file = node.data_dir.join("node.json");
    let info = wait_for_file(node, &file, NODE_START_TIMEOUT, |v| {
        v["addrs"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await?;
    let peer_id = str_field(&info, "peer_id").context("node.json has no peer_id")?;
    let addr = first_p2p_addr(&info, &peer_id).context("node.json has no address")?;
    Ok(NodeInfo {
        region: str_field(&info, "region").unwrap_or_default(),
        peer_id,
        addr,
        metrics: str_field(&info, "metrics"),
    })
}

/// The node's first address, with `/p2p/<peer id>` appended if missing.
fn first_p2p_addr(info: &Value, peer_id: &str) -> Option<String> {
    let addrs: Vec<&str> = info["addrs"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if let Some(addr) = addrs.iter().find(|a| a.contains("/p2p/")) {
        return Some((*addr).to_owned());
    }
    addrs.first().map(|a| format!("{a}/p2p/{peer_id}"))
}

/// The access key saved in a previous run's `devnet.json`, if any; the
/// gateway still has it, since it reuses `<dir>/gateway`.
fn previous_keys(state_file: &Path) -> Option<Keys> {
    let text = std::fs::read_to_string(state_file).ok()?;
    let state: Value = serde_json::from_str(&text).ok()?;
    let access = str_field(&state, "access_key").filter(|k| !k.is_empty())?;
    let secret = str_field(&state, "secret_key").filter(|k| !k.is_empty())?;
    Some(Keys { access, secret })
}

/// Runs `cairn gateway key create --data <gateway_dir>` and reads its JSON.
async fn create_key(
    exe: &Path,
    gateway_dir: &Path,
    meta_url: Option<&str>,
    log: &Path,
) -> anyhow::Result<Keys> {
    let mut command = Command::new(exe);
    command
        .args(["gateway", "key", "create", "--admin", "--data"])
        .arg(gateway_dir);
    if let Some(url) = meta_url {
        command.args(["--meta", url]);
    }
    command
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(open_log(log)?);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .context("running `cairn gateway key create`")?
        .context("running `cairn gateway key create`")?;
    if !output.status.success() {
        bail!(
            "`cairn gateway key create` failed ({}); see {}",
            output.status,
            log.display()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_key_output(&stdout).with_context(|| {
        format!("`cairn gateway key create` printed no access_key/secret_key JSON: {stdout:?}")
    })
}

/// Finds the `{"access_key": ..., "secret_key": ...}` line in `stdout`.
fn parse_key_output(stdout: &str) -> Option<Keys> {
    stdout.lines().rev().find_map(|line| {
        let value: Value = serde_json::from_str(line.trim()).ok()?;
        Some(Keys {
            access: str_field(&value, "access_key")?,
            secret: str_field(&value, "secret_key")?,
        })
    })
}

/// Starts gateway `i` and waits for its `gateway.json`.
async fn start_gateway(
    args: &DevnetArgs,
    dir: &Path,
    exe: &Path,
    bootstrap: &[String],
    meta_url: Option<&str>,
    i: usize,
    cluster: &mut Cluster,
) -> anyhow::Result<GatewayInfo> {
    let name = gateway_name(i);
    let data_dir = dir.join(&name);
    let port = match args.s3.port() {
        0 => 0,
        port => port
            .checked_add(u16::try_from(i).unwrap_or(u16::MAX))
            .context("--s3 port plus the gateway's number is past 65535")?,
    };
    remove_stale(&data_dir.join("gateway.json"))?;
    // On a WAN the gateway sits in the first region, on that region's
    // address or its own site's (the port as asked).
    let (s3, admin) = match &cluster.wan {
        Some(wan) => {
            let ip = std::net::IpAddr::from(wan.gateway_address());
            (std::net::SocketAddr::new(ip, port), format!("{ip}:0"))
        }
        None => (
            std::net::SocketAddr::new(args.s3.ip(), port),
            "127.0.0.1:0".to_owned(),
        ),
    };
    // The console's port is the first gateway's; on a WAN, its address.
    let console = match &cluster.wan {
        Some(wan) => std::net::SocketAddr::new(
            std::net::IpAddr::from(wan.gateway_address()),
            if i == 0 { args.console.port() } else { 0 },
        ),
        None if i == 0 && args.console.port() != 0 => {
            if std::net::TcpListener::bind(args.console).is_ok() {
                args.console
            } else {
                eprintln!(
                    "devnet: console port {} is busy; using a free one",
                    args.console.port()
                );
                std::net::SocketAddr::new(args.console.ip(), 0)
            }
        }
        None => std::net::SocketAddr::new(args.console.ip(), 0),
    };
    let mut command = match &cluster.wan {
        Some(wan) => wan.gateway_command(exe),
        None => Command::new(exe),
    };
    command
        .arg("gateway")
        .arg("--data")
        .arg(&data_dir)
        .args(["--s3", &s3.to_string()])
        .args(["--k", &args.k.to_string()])
        .args(["--m", &args.m.to_string()])
        .args(["--region", S3_REGION])
        .args(["--admin", &admin])
        .args(["--console", &console.to_string()])
        .arg("--devnet")
        .args(&args.gateway_arg);
    if let Some(url) = meta_url {
        command.args(["--meta", url]);
    }
    for addr in bootstrap {
        command.args(["--bootstrap", addr]);
    }
    cluster.gateways.push(spawn(
        command,
        name.clone(),
        data_dir.clone(),
        dir.join(format!("{name}.log")),
    )?);
    let gateway = cluster.gateways.last_mut().expect("just pushed");
    let info = wait_for_file(
        gateway,
        &data_dir.join("gateway.json"),
        GATEWAY_START_TIMEOUT,
        |v| v["s3_endpoint"].is_string(),
    )
    .await?;
    Ok(GatewayInfo {
        s3_endpoint: str_field(&info, "s3_endpoint").unwrap_or_default(),
        console: str_field(&info, "console"),
        metrics: str_field(&info, "metrics"),
        admin: str_field(&info, "admin"),
        peer_id: str_field(&info, "peer_id"),
    })
}

/// The contents of `devnet.json`.
fn devnet_state(
    gateways: &[GatewayInfo],
    keys: &Keys,
    meta_url: Option<&str>,
    cluster: &Cluster,
    nodes: &[NodeInfo],
) -> Value {
    let gateway_entries: Vec<Value> = cluster
        .gateways
        .iter()
        .zip(gateways)
        .map(|(proc, gateway)| {
            json!({
                "s3_endpoint": gateway.s3_endpoint,
                "console": gateway.console,
                "pid": proc.pid,
                "peer_id": gateway.peer_id,
                "metrics": gateway.metrics,
                "admin": gateway.admin,
                "data_dir": proc.data_dir,
                "log": proc.log,
            })
        })
        .collect();
    let node_entries: Vec<Value> = cluster
        .nodes
        .iter()
        .zip(nodes)
        .map(|(proc, info)| {
            json!({
                "pid": proc.pid,
                "peer_id": info.peer_id,
                "region": info.region,
                "addr": info.addr,
                "data_dir": proc.data_dir,
                "metrics": info.metrics,
                "log": proc.log,
            })
        })
        .collect();
    let wan = cluster.wan.as_ref().map(|wan| {
        json!({
            "outside": wan.outside().to_string(),
            "gateway_namespace": wan.gateway_namespace(),
            "namespaces": (0..nodes.len().min(cluster.nodes.len()))
                .map(|i| i % wan.regions())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|r| json!({"region": nodes[r].region, "namespace": wan.namespace(r), "address": wan.address(r).to_string()}))
                .collect::<Vec<_>>(),
        })
    });
    json!({
        "wan": wan,
        "s3_endpoint": gateways.first().map(|g| g.s3_endpoint.clone()),
        "console": gateways.first().and_then(|g| g.console.clone()),
        "access_key": keys.access,
        "secret_key": keys.secret,
        "region": S3_REGION,
        "meta": meta_url,
        "gateway": gateway_entries.first(),
        "gateways": gateway_entries,
        "nodes": node_entries,
    })
}

/// Prints the endpoint, the keys and an aws-cli line to paste.
fn print_ready(args: &DevnetArgs, summary: &Summary, took: Duration) {
    let Summary {
        s3_endpoints,
        console,
        keys,
        state_file,
    } = summary;
    let s3_endpoint = s3_endpoints.first().map_or("", String::as_str);
    println!(
        "cairn devnet ready in {:.2} s: {} nodes in {} regions, k={} m={}",
        took.as_secs_f64(),
        args.nodes,
        args.regions.min(args.nodes),
        args.k,
        args.m
    );
    println!("  S3 endpoint: {s3_endpoint}");
    for other in s3_endpoints.iter().skip(1) {
        println!("  S3 endpoint: {other} (same namespace)");
    }
    if let Some(console) = console {
        println!("  console:     {console} (sign in with the key below)");
    }
    println!("  access key:  {}", keys.access);
    println!("  secret key:  {}", keys.secret);
    println!("  region:      {S3_REGION}");
    println!("  state:       {}", state_file.display());
    println!();
    // With TLS (`--gateway-arg=--tls-cert=…`), aws-cli must trust the
    // certificate.
    let ca_bundle = tls_cert_arg(&args.gateway_arg)
        .map(|cert| format!(" --ca-bundle {cert}"))
        .unwrap_or_default();
    println!(
        "AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={S3_REGION} \
         aws --endpoint-url {s3_endpoint}{ca_bundle} s3 ls",
        keys.access, keys.secret
    );
    println!();
    println!("Ctrl-C stops every process.");
}

/// The `--tls-cert` passed to the gateway, if any (`--tls-cert=PEM`, or
/// `--tls-cert` and `PEM` as two gateway arguments).
fn tls_cert_arg(gateway_args: &[String]) -> Option<&str> {
    gateway_args.iter().enumerate().find_map(|(i, arg)| {
        if let Some(path) = arg.strip_prefix("--tls-cert=") {
            Some(path)
        } else if arg == "--tls-cert" {
            gateway_args.get(i + 1).map(String::as_str)
        } else {
            None
        }
    })
}

/// Removes a readiness file left by an earlier run.
fn remove_stale(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Opens a log file for appending.
fn open_log(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Spawns `command` with stdout and stderr appended to `log` (uncoloured).
fn spawn(
    mut command: Command,
    name: String,
    data_dir: PathBuf,
    log: PathBuf,
) -> anyhow::Result<Proc> {
    let stderr = open_log(&log)?;
    let stdout = stderr.try_clone().context("duplicating a log handle")?;
    let child = command
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let pid = child.id();
    Ok(Proc {
        name,
        data_dir,
        log,
        child: Some(child),
        pid,
    })
}

/// Polls until `file` holds JSON written by `proc` (its `pid`) for which
/// `ready` holds. Fails if the process exits or `timeout` passes.
async fn wait_for_file(
    proc: &mut Proc,
    file: &Path,
    timeout: Duration,
    ready: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = read_json(file)
            && value["pid"].as_u64() == Some(u64::from(proc.pid))
            && ready(&value)
        {
            return Ok(value);
        }
        if let Some(status) = proc.try_wait()? {
            bail!(
                "{} exited with {status} before it was ready; see {}\n{}",
                proc.name,
                proc.log.display(),
                log_tail(&proc.log)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "{} did not write {} within {} s; see {}\n{}",
                proc.name,
                file.display(),
                timeout.as_secs(),
                proc.log.display(),
                log_tail(&proc.log)
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// `file` parsed as JSON, if it exists and parses.
fn read_json(file: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()
}

/// A string field of a JSON object.
fn str_field(value: &Value, key: &str) -> Option<String> {
    value[key].as_str().map(str::to_owned)
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    const LINES: usize = 20;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LINES);
    lines[start..].join("\n")
}

impl Proc {
    /// Reaps the child if it has exited.
    fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let status = child
            .try_wait()
            .with_context(|| format!("checking on {}", self.name))?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }

    /// Whether the child is still running (not yet reaped).
    fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Sends a signal with `kill(1)`; the pid is still ours, as the child is
    /// not reaped yet.
    fn signal(&self, name: &str) {
        if self.running() {
            let _ = Command::new("kill")
                .args([&format!("-{name}"), &self.pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Cluster {
    /// The gateway and every node.
    fn procs_mut(&mut self) -> impl Iterator<Item = &mut Proc> {
        self.gateways.iter_mut().chain(self.nodes.iter_mut())
    }

    /// Reports children that exit on their own (they are not restarted)
    /// until a signal arrives; returns the signal's name.
    async fn watch(&mut self, signals: &mut Signals) -> &'static str {
        loop {
            tokio::select! {
                name = signals.recv() => return name,
                () = tokio::time::sleep(WATCH_EVERY) => self.report_exits(),
            }
        }
    }

    /// Logs every child that has exited since the last check.
    fn report_exits(&mut self) {
        for proc in self.procs_mut() {
            match proc.try_wait() {
                Ok(Some(status)) => eprintln!(
                    "devnet: {} (pid {}) exited with {status}; not restarting it (log: {})",
                    proc.name,
                    proc.pid,
                    proc.log.display()
                ),
                Ok(None) => {}
                Err(e) => eprintln!("devnet: {e:#}"),
            }
        }
    }

    /// Stops the gateway first (so it can finish in-flight work with the
    /// nodes still up), then every node.
    async fn stop(&mut self) {
        stop_all(&mut self.gateways).await;
        stop_all(&mut self.nodes).await;
    }
}

/// SIGTERMs every running process in `procs`, waits up to [`STOP_TIMEOUT`]
/// for them to exit, then SIGKILLs and reaps the stragglers.
async fn stop_all(procs: &mut [Proc]) {
    for proc in procs.iter() {
        proc.signal("TERM");
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        for proc in procs.iter_mut() {
            let _ = proc.try_wait();
        }
        if !procs.iter().any(Proc::running) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    for proc in procs.iter_mut() {
        if let Some(mut child) = proc.child.take() {
            eprintln!(
                "devnet: {} (pid {}) ignored SIGTERM for {} s; killing it",
                proc.name,
                proc.pid,
                STOP_TIMEOUT.as_secs()
            );
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    /// Last resort (a panic, an early return): no child outlives the devnet.
    fn drop(&mut self) {
        for proc in self.procs_mut() {
            if let Some(mut child) = proc.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Atomically replaces `path` with `value` as pretty JSON.
fn write_atomically(path: &Path, value: &Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut text = serde_json::to_vec_pretty(value).context("serializing devnet.json")?;
    text.push(b'\n');
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_named_then_numbered() {
        assert_eq!(region_name(0), "us-east");
        assert_eq!(region_name(7), "ap-north");
        assert_eq!(region_name(8), "region-8");
    }

    #[test]
    fn key_line_is_found_among_others() {
        let keys = parse_key_output("note\n{\"access_key\": \"AK\", \"secret_key\": \"SK\"}\n")
            .expect("keys");
        assert_eq!((keys.access.as_str(), keys.secret.as_str()), ("AK", "SK"));
        assert!(parse_key_output("{\"access_key\": \"AK\"}").is_none());
    }

    #[test]
    fn the_tls_certificate_is_found_in_gateway_args() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            tls_cert_arg(&args(&["--audit-every=1s", "--tls-cert=/c.pem"])),
            Some("/c.pem")
        );
        assert_eq!(
            tls_cert_arg(&args(&["--tls-cert", "/c.pem", "--tls-key", "/k.pem"])),
            Some("/c.pem")
        );
        assert_eq!(tls_cert_arg(&args(&["--tls-key=/k.pem"])), None);
        assert_eq!(tls_cert_arg(&args(&["--tls-cert"])), None);
    }

    #[test]
    fn p2p_suffix_is_added_when_missing() {
        let info = json!({"addrs": ["/ip4/127.0.0.1/tcp/5"]});
        assert_eq!(
            first_p2p_addr(&info, "12D3").as_deref(),
            Some("/ip4/127.0.0.1/tcp/5/p2p/12D3")
        );
        let info = json!({"addrs": ["/ip4/127.0.0.1/tcp/5/p2p/X"]});
        assert_eq!(
            first_p2p_addr(&info, "Y").as_deref(),
            Some("/ip4/127.0.0.1/tcp/5/p2p/X")
        );
    }
}
