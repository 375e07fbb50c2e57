//! Running a gateway: metadata, mesh client, node view, the S3 service over
//! HTTP or HTTPS, until shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use mesh::codec::{CodecParams, Scheme};
use mesh::net::MeshClient;
use placement::Policy;
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::S3ServiceBuilder;
use s3s::{S3Result, s3_error};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::admin::Admin;
use crate::admin::metrics::GatewayMetrics;
use crate::data::DataPath;
use crate::data::keywrap::{KeyWrapError, MasterKey};
use crate::data::nodes::NodeView;
use crate::health::checker::{self, Survey};
use crate::health::{Health, HealthConfig, audit, gc, lease, liveness, repair};
use crate::http::conn::ConnLimits;
use crate::http::measured::Measured;
use crate::http::tls::{TlsError, TlsFiles};
use crate::http::vhost::{Domains, InvalidDomain};
use crate::meta::MetaStore;
use crate::meta::postgres::PgStore;
use crate::meta::redb::RedbStore;
use crate::s3::Gateway;
use crate::s3::access::BucketAccess;

/// Everything `cairn gateway` needs.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Metadata (unless `meta_url`), identity, master key and `gateway.json`.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL: the metadata lives there, shared with every other
    /// gateway given the same URL (none: `meta.redb` in `data_dir`).
    pub meta_url: Option<String>,
    /// The master key file (none: `master.key` in `data_dir`). Gateways
    /// sharing a store must all use the same key.
    pub master_key_file: Option<PathBuf>,
    /// The S3 listen address.
    pub s3: SocketAddr,
    /// Nodes to enter the mesh through.
    pub bootstrap: Vec<Multiaddr>,
    /// Erasure scheme for new objects.
    pub scheme: Scheme,
    /// The region the gateway reports (`us-east-1` by default, as clients expect).
    pub region: String,
    /// One machine: drop the distinct-subnet placement rule.
    pub devnet: bool,
    /// How strongly placement prefers nodes with a low round trip (the
    /// exponent on `1 / rtt`; 0 ignores distance, within the region cap).
    pub latency_weight: f64,
    /// Wait for this many nodes before serving (default k + m).
    pub min_nodes: usize,
    /// Liveness, audit and repair settings.
    pub health: HealthConfig,
    /// Where to serve `/metrics` and `/status` (none: not served).
    pub admin: Option<SocketAddr>,
    /// Where to serve the web console (none: not served). Over HTTPS when
    /// `tls` is set, with the same certificate.
    pub console: Option<SocketAddr>,
    /// Serve S3 over TLS with this certificate and key (none: plain HTTP).
    pub tls: Option<TlsFiles>,
    /// Domains under which `<bucket>.<domain>` Host headers address a
    /// bucket (virtual-hosted style); path style always works.
    pub domains: Vec<String>,
    /// Accept SigV2-signed requests (dated within 15 minutes; presigned
    /// URLs at most 7 days ahead). Off: refused as AWS does.
    pub allow_sigv2: bool,
    /// Connection cap and timeouts of the S3 endpoint.
    pub connections: ConnLimits,
    /// Back the embedded metadata store up into the mesh (none: no
    /// backups; ignored with `meta_url`, where the database is backed up by
    /// its own means).
    pub backup: Option<crate::backup::BackupConfig>,
    /// A file of CIDs this gateway will not serve or pin (reread when it
    /// changes).
    pub denylist: Option<PathBuf>,
    /// Plaintext bytes per segment of new objects.
    pub segment_size: usize,
    /// Parity shards per segment added to content taken on for pins.
    pub pin_extra_parity: usize,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Metadata store.
    #[error("metadata: {0}")]
    Meta(#[from] crate::meta::MetaError),
    /// Identity key.
    #[error(transparent)]
    Identity(#[from] mesh::identity::IdentityError),
    /// Mesh.
    #[error("mesh: {0}")]
    Mesh(#[from] mesh::net::MeshError),
    /// Listener, files.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Codec settings.
    #[error("codec: {0}")]
    Codec(#[from] mesh::codec::CodecError),
    /// TLS certificate or key.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// Master key.
    #[error("master key: {0}")]
    MasterKey(#[from] KeyWrapError),
    /// A `--domain`.
    #[error("domain: {0}")]
    Domain(#[from] InvalidDomain),
    /// Placement settings that make no sense.
    #[error("placement: {0}")]
    Placement(#[from] placement::PlacementError),
    /// The shared metadata store was written with another master key than
    /// this data directory's (or it has none).
    #[error(
        "{}: the shared metadata store was written with another master key: every gateway \
         sharing a store needs the same master.key and identity.key; copy both from the data \
         directory of a gateway already using it",
        .0.display()
    )]
    SharedMasterKey(PathBuf),
    /// The shared metadata store belongs to gateways with another identity.
    #[error(
        "the metadata store belongs to gateway identity {recorded}, and this gateway is {ours}: \
         every gateway sharing a store needs the same identity.key and master.key; copy both \
         from the data directory of a gateway already using it into {}",
        dir.display()
    )]
    ForeignIdentity {
        /// The peer id recorded in the store.
        recorded: String,
        /// This gateway's.
        ours: String,
        /// Where the files go.
        dir: PathBuf,
    },
}

/// What a running gateway tells scripts, in `<data>/gateway.json`.
#[derive(Serialize)]
struct GatewayInfo {
    s3_endpoint: String,
    pid: u32,
    metrics: Option<String>,
    admin: Option<String>,
    /// The web console's address, if served.
    console: Option<String>,
    peer_id: String,
    /// The S3 connection cap in force.
    max_connections: usize,
}

/// Looks up secret keys in the metadata store (sealed there under the
/// master key) to check signatures.
struct MetaAuth {
    meta: MetaStore,
    master: Arc<MasterKey>,
}

#[async_trait::async_trait]
impl S3Auth for MetaAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.meta.secret_for(access_key, &self.master).await {
            Ok(Some(secret)) => Ok(SecretKey::from(secret)),
            Ok(None) => Err(s3_error!(InvalidAccessKeyId)),
            // A store that cannot be reached answers 503 (see s3::error).
            Err(e) => Err(e.into()),
        }
    }
}

/// The metadata store of a gateway data directory (created 0700 if
/// missing; the store itself is 0600).
pub fn open_meta(data_dir: &std::path::Path) -> Result<MetaStore, GatewayError> {
    Ok(MetaStore::new(open_redb(data_dir)?))
}

/// The embedded (redb) metadata store of a gateway data directory.
fn open_redb(data_dir: &std::path::Path) -> Result<RedbStore, GatewayError> {
    private_dir(data_dir)?;
    Ok(RedbStore::open(&data_dir.join("meta.redb"))?)
}

/// Creates `dir` (and missing parents) with mode 0700; an existing data
/// directory that others may enter or read is narrowed to 0700, with a
/// warning (it holds the master key and the metadata).
pub(crate) fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            Ok(()) => tracing::warn!(
                dir = %dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory was open to other users; narrowed to 0700"
            ),
            Err(e) => tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "the data directory is open to other users and cannot be narrowed"
            ),
        }
    }
    Ok(())
}

/// The metadata store and master key of a gateway data directory, with
/// any access-key secrets still stored in clear (an older database) sealed
/// under the master key. With `meta_url` the store is that PostgreSQL
/// database. The master key is `master_key_file`, or `master.key` in
/// `data_dir`.
pub async fn open_keys(
    data_dir: &std::path::Path,
    meta_url: Option<&str>,
    master_key_file: Option<&std::path::Path>,
) -> Result<(MetaStore, MasterKey), GatewayError> {
    open_store(data_dir, meta_url, master_key_file, false).await
}

/// Where the master key is: the file given, or `master.key` in `data_dir`.
fn master_key_path(
    data_dir: &std::path::Path,
    master_key_file: Option<&std::path::Path>,
) -> PathBuf {
    master_key_file.map_or_else(
        || data_dir.join(crate::data::keywrap::MASTER_KEY_FILE),
        std::path::Path::to_owned,
    )
}

/// The metadata store (redb in `data_dir`, waiting for a lock a previous
/// process may still hold when `wait`; or the PostgreSQL database at
/// `meta_url`) and the master key.
async fn open_store(
    data_dir: &std::path::Path,
    meta_url: Option<&str>,
    master_key_file: Option<&std::path::Path>,
    wait: bool,
) -> Result<(MetaStore, MasterKey), GatewayError> {
    open_store_and_redb(data_dir, meta_url, master_key_file, wait)
        .await
        .map(|(meta, master, _)| (meta, master))
}

/// [`open_store`], with the embedded store's own handle (for backups).
async fn open_store_and_redb(
    data_dir: &std::path::Path,
    meta_url: Option<&str>,
    master_key_file: Option<&std::path::Path>,
    wait: bool,
) -> Result<(MetaStore, MasterKey, Option<RedbStore>), GatewayError> {
    let key_path = master_key_path(data_dir, master_key_file);
    match meta_url {
        Some(url) => {
            private_dir(data_dir)?;
            let meta = MetaStore::new(PgStore::connect(url).await?);
            let master = match open_master_key(&key_path, &meta).await {
                Err(GatewayError::MasterKey(
                    KeyWrapError::Missing(path) | KeyWrapError::Mismatch(path),
                )) => return Err(GatewayError::SharedMasterKey(path)),
                other => other?,
            };
            Ok((meta, master, None))
        }
        None => {
            let redb = if wait {
                open_meta_waiting(data_dir).await?
            } else {
                open_redb(data_dir)?
            };
            let meta = MetaStore::new(redb.clone());
            let master = open_master_key(&key_path, &meta).await?;
            redb.seal_plain_keys(&master)?;
            Ok((meta, master, Some(redb)))
        }
    }
}

/// The store setting naming the gateway identity that owns the shards of a
/// shared store.
const IDENTITY_SETTING: &str = "gateway_peer_id";

/// Refuses to share a store with gateways of another identity: nodes keep
/// shards per owner, so a gateway with its own identity could neither
/// renew, repair nor collect the others' shards.
async fn check_identity(
    meta: &MetaStore,
    peer_id: &libp2p::PeerId,
    data_dir: &std::path::Path,
) -> Result<(), GatewayError> {
    let ours = peer_id.to_string();
    match meta.setting(IDENTITY_SETTING).await? {
        Some(recorded) if recorded != ours.as_bytes() => Err(GatewayError::ForeignIdentity {
            recorded: String::from_utf8_lossy(&recorded).into_owned(),
            ours,
            dir: data_dir.to_owned(),
        }),
        Some(_) => Ok(()),
        None => Ok(meta.set_setting(IDENTITY_SETTING, ours.as_bytes()).await?),
    }
}

/// Opens the metadata store, waiting up to [`LOCK_WAIT`] while another
/// process holds it: a gateway that was just killed may still be closing
/// its files (a thread finishing an fsync), and its replacement should not
/// fail for that.
async fn open_meta_waiting(data_dir: &std::path::Path) -> Result<RedbStore, GatewayError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut warned = false;
    loop {
        match open_redb(data_dir) {
            Err(GatewayError::Meta(crate::meta::MetaError::Db(
                redb::Error::DatabaseAlreadyOpen,
            ))) if Instant::now() < deadline => {
                if !warned {
                    tracing::warn!(dir = %data_dir.display(), "the metadata store is in use by another process; waiting for it to exit");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// How long a starting gateway waits for the metadata store's lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The master key at `path`: created on first start, then loaded. Its
/// check value is recorded in the metadata, so a missing or different key
/// file is refused here rather than failing every read.
pub async fn open_master_key(
    path: &std::path::Path,
    meta: &MetaStore,
) -> Result<MasterKey, GatewayError> {
    let path = path.to_owned();
    match meta.master_key_check().await? {
        Some(recorded) => {
            let key = MasterKey::load_file(&path)?;
            if recorded != key.check_value() {
                return Err(KeyWrapError::Mismatch(path).into());
            }
            Ok(key)
        }
        None => {
            let (key, _) = MasterKey::load_or_create_file(&path)?;
            meta.set_master_key_check(&key.check_value()).await?;
            Ok(key)
        }
    }
}

/// Runs the gateway until `shutdown` resolves.
pub async fn run(
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GatewayError> {
    let (meta, master, redb) = open_store_and_redb(
        &config.data_dir,
        config.meta_url.as_deref(),
        config.master_key_file.as_deref(),
        true,
    )
    .await?;
    let master = Arc::new(master);
    let shared = config.meta_url.is_some();
    // Refuse bad TLS files or domains before joining the mesh.
    let tls = config
        .tls
        .as_ref()
        .map(crate::http::tls::acceptor)
        .transpose()?;
    let domains = Domains::new(&config.domains)?;
    let (keypair, _) = mesh::identity::load_or_create(&config.data_dir)?;
    let peer_id = keypair.public().to_peer_id();
    if shared {
        check_identity(&meta, &peer_id, &config.data_dir).await?;
    }
    let mesh = MeshClient::spawn(keypair.clone(), Duration::from_secs(30))?;
    let content_keypair = keypair.clone();
    for addr in &config.bootstrap {
        if let Err(e) = mesh.dial(addr).await {
            tracing::warn!(%addr, error = %e, "cannot reach bootstrap node");
        }
    }
    let policy = Policy {
        distinct_subnets: !config.devnet,
        latency_weight: config.latency_weight,
        ..Policy::default()
    };
    policy.validate()?;
    let metrics = GatewayMetrics::new();
    let health_config = HealthConfig {
        shared_store: shared,
        ..config.health.clone()
    };
    let health = Health::load(health_config, meta.clone(), metrics.clone()).await?;
    // With a shared store the holder of the health lease runs the loops;
    // the holder name tells gateways apart in logs and in the store.
    let holder = format!(
        "{}/{}/{}",
        config.s3,
        std::process::id(),
        rand::random::<u32>()
    );
    if shared {
        health.set_leads(false);
        lease::renew(&health, &holder, health.config().lease_ttl).await;
    } else {
        health.metrics().health_leader.set(1);
    }
    let policy = Policy {
        reputation_floor: config.health.reputation.suspend_below,
        ..policy
    };
    let nodes = NodeView::new(mesh.clone(), policy, health.clone());
    let mut dialled = Default::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        nodes.refresh(&mut dialled).await;
        if nodes.len() >= config.min_nodes || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tracing::info!(nodes = nodes.len(), "storage nodes found");
    crate::health::durability_estimate::spawn_log(&config, nodes.cluster());
    tokio::spawn(nodes.clone().keep_fresh(Duration::from_secs(5)));

    let params = CodecParams {
        scheme: Scheme::new(config.scheme.k, config.scheme.m)?,
        segment_size: config.segment_size,
        ..CodecParams::default()
    };
    let data = DataPath::new(mesh.clone(), nodes.clone(), params, health.clone());
    let survey = Survey::default();
    // One heartbeat before anything judges health: after a restart, nodes
    // that are up must not look silent since the gateway went down.
    liveness::beat(&health, &nodes, &mesh).await;
    let mut background = vec![
        tokio::spawn(liveness::run(health.clone(), nodes.clone(), mesh.clone())),
        tokio::spawn(checker::run(health.clone(), survey.clone())),
        tokio::spawn(audit::run(health.clone(), mesh.clone(), survey.clone())),
        tokio::spawn(repair::run(data.clone())),
        tokio::spawn(gc::run(health.clone(), mesh.clone())),
        tokio::spawn(crate::health::lifecycle::run(data.clone())),
    ];
    if let (Some(redb), Some(backup)) = (redb, config.backup.clone()) {
        let backup = crate::backup::Backup::new(
            redb,
            data.clone(),
            master.clone(),
            keypair,
            metrics.clone(),
            backup,
        )
        .map_err(|e| std::io::Error::other(format!("metadata backups: {e}")))?;
        background.push(tokio::spawn(backup.run()));
    }
    if shared {
        background.push(tokio::spawn(lease::run(
            health.clone(),
            holder.clone(),
            health.config().lease_ttl,
        )));
    }
    let manage = crate::admin::manage::Manage {
        meta: meta.clone(),
        master: master.clone(),
    };
    let view = Admin {
        health: health.clone(),
        nodes: nodes.clone(),
        survey: survey.clone(),
        manage: None,
    };
    let admin_addr = match config.admin {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            let token = crate::admin::manage::admin_token(&config.data_dir)?;
            let admin = Admin {
                manage: Some((manage.clone(), token)),
                ..view.clone()
            };
            tokio::spawn(admin.serve(listener));
            Some(local)
        }
        None => None,
    };
    let content_dht = crate::s3::content_dht::ContentDht::new(mesh.clone(), content_keypair)
        .with_metrics(metrics.clone());
    let denylist = match &config.denylist {
        Some(path) => crate::s3::denylist::Denylist::watch(path.clone())
            .map_err(|e| std::io::Error::other(format!("the denylist {}: {e}", path.display())))?,
        None => crate::s3::denylist::Denylist::empty(),
    };
    let gateway = Gateway::new(meta.clone(), data, config.region.clone(), master.clone())
        .with_content_dht(content_dht)
        .with_denylist(denylist)
        .with_pin_extra_parity(config.pin_extra_parity);
    background.push(tokio::spawn(reannounce(gateway.clone(), health.clone())));
    let pin_store = crate::pins::PinStore::new(meta.clone(), config.region.clone());
    let pin_worker =
        crate::pins::worker::PinWorker::new(pin_store.clone(), gateway.clone(), health.clone());
    // Where pinned content can be fetched from with no gateway: the
    // mesh's entry points.
    let mut delegates: Vec<String> = config.bootstrap.iter().map(|a| a.to_string()).collect();
    if delegates.is_empty() {
        // The spec wants at least one: this gateway's own peer.
        delegates.push(format!("/p2p/{peer_id}"));
    }
    let pins = crate::pins::api::PinService::new(
        pin_store.clone(),
        gateway.clone(),
        master.clone(),
        delegates,
        pin_worker.waker(),
    );
    background.push(tokio::spawn(pin_worker.run()));
    let job_store = crate::jobs::JobStore::new(meta.clone(), config.region.clone());
    let job_runner = crate::jobs::runner::JobRunner::new(
        job_store.clone(),
        gateway.clone(),
        health.clone(),
        mesh.stream_control(),
    );
    let jobs = crate::jobs::api::JobsRoute::new(job_store.clone(), job_runner.waker());
    background.push(tokio::spawn(job_runner.run()));
    let route = crate::http::routes::Either::new(
        jobs,
        crate::s3::content_route::ContentRoute::new(gateway.clone(), meta.clone()),
    );
    let mut builder = S3ServiceBuilder::new(gateway);
    builder.set_route(route);
    builder.set_validation(crate::jobs::api::RouteNames);
    builder.set_auth(MetaAuth {
        meta: meta.clone(),
        master: master.clone(),
    });
    builder.set_access(BucketAccess::new(meta.clone()));
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        s3_config(),
    ))));
    if !config.domains.is_empty() {
        builder.set_host(domains.clone());
    }
    let service = Measured::new(
        crate::http::request_id::WithRequestId::new(crate::cors::layer::Cors::new(
            crate::pins::api::PinningApi::new(
                crate::http::signing::SignatureRules::new(builder.build(), config.allow_sigv2),
                pins,
                domains.clone(),
            ),
            meta.clone(),
            domains.clone(),
        )),
        metrics.clone(),
        domains,
    );

    let cap = crate::http::conn::effective_cap(&config.connections);
    metrics.connections_cap.set(cap as i64);
    let listener = crate::http::conn::bind(config.s3)?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("S3 endpoint {scheme}://{local}");
    let console_addr = match config.console {
        Some(addr) => {
            let listener = crate::http::conn::bind(addr)?;
            let console_local = listener.local_addr()?;
            // The console calls the S3 stack in-process, as the key
            // signed in, so every S3 permission applies to it.
            let s3 = service.clone();
            let handler: crate::console::s3call::S3Handler = Arc::new(move |req| {
                use hyper::service::Service;
                Box::pin(s3.call(req))
            });
            let caller = crate::console::s3call::S3Caller::new(
                handler,
                meta.clone(),
                master.clone(),
                &format!("{scheme}://{local}"),
                config.region.clone(),
            );
            let history = crate::console::history::History::default();
            crate::console::spawn_history(history.clone(), metrics.clone());
            let console = crate::console::Console::new(
                view,
                manage,
                caller,
                job_store,
                pin_store,
                history,
                crate::console::ConsoleSettings {
                    k: config.scheme.k,
                    m: config.scheme.m,
                    devnet: config.devnet,
                    health: config.health.clone(),
                    secure: tls.is_some(),
                },
            );
            // Its connections are not S3's: counted apart, not exported.
            tokio::spawn(console.serve(
                listener,
                tls.clone(),
                config.connections,
                GatewayMetrics::new(),
                std::future::pending(),
            ));
            println!("console {scheme}://{console_local}");
            tracing::info!(address = %console_local, "serving the web console");
            Some(format!("{scheme}://{console_local}"))
        }
        None => None,
    };
    tracing::info!(
        max_connections = cap,
        header_timeout = ?config.connections.header_timeout,
        idle_timeout = ?config.connections.idle_timeout,
        body_timeout = ?config.connections.body_timeout,
        sigv2 = config.allow_sigv2,
        "serving S3"
    );
    write_info(
        &config.data_dir,
        &GatewayInfo {
            s3_endpoint: format!("{scheme}://{local}"),
            pid: std::process::id(),
            metrics: admin_addr.map(|a| format!("http://{a}/metrics")),
            admin: admin_addr.map(|a| format!("http://{a}")),
            console: console_addr,
            peer_id: peer_id.to_string(),
            max_connections: cap,
        },
    )?;

    crate::http::conn::serve(
        listener,
        tls,
        service,
        config.connections,
        cap,
        metrics,
        shutdown,
    )
    .await;
    for task in background {
        task.abort();
    }
    health.persist().await;
    if shared && health.leads() {
        lease::release(&health, &holder).await;
    }
    tracing::info!("gateway stopped");
    Ok(())
}

/// Announces every published content this gateway keeps, soon after
/// start and then every `REANNOUNCE_EVERY`, while it runs the health loops
/// (with a shared store, one gateway does it for all).
async fn reannounce(gateway: Gateway, health: Health) {
    tokio::time::sleep(Duration::from_secs(10)).await;
    loop {
        if health.leads() {
            let announced = gateway.announce_all().await;
            if announced > 0 {
                tracing::info!(announced, "published content announced again");
            }
        }
        tokio::time::sleep(crate::s3::content_dht::REANNOUNCE_EVERY).await;
    }
}

fn write_info(dir: &std::path::Path, info: &GatewayInfo) -> std::io::Result<()> {
    let tmp = dir.join("gateway.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(info).expect("serializable"))?;
    std::fs::rename(tmp, dir.join("gateway.json"))
}

/// The S3 library's limits: defaults, except that a browser form upload
/// (POST Object), which the library reads whole into memory before the
/// handler streams it out, is held to [`MAX_POST_OBJECT`].
fn s3_config() -> s3s::config::S3Config {
    let mut config = s3s::config::S3Config::default();
    config.post_object_max_file_size = MAX_POST_OBJECT;
    config
}

/// The largest file a POST form upload may carry (larger uploads use
/// PutObject or multipart, which stream).
pub const MAX_POST_OBJECT: u64 = 32 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::keywrap::MASTER_KEY_FILE;

    #[tokio::test]
    async fn an_old_data_directory_is_made_private_and_its_secrets_sealed() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("gw");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let old = crate::meta::AccessKey {
            access_key_id: "CAOLDKEY000000000001".into(),
            secret_key: "x".repeat(40),
        };
        {
            // An older gateway: a world-readable database, secrets in clear.
            let meta = RedbStore::open(&dir.join("meta.redb")).unwrap();
            meta.insert_plain_key_for_tests(&old).unwrap();
        }
        std::fs::set_permissions(
            dir.join("meta.redb"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();

        let (meta, master) = open_keys(&dir, None, None).await.unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("meta.redb")), 0o600);
        assert_eq!(mode(&dir.join(MASTER_KEY_FILE)), 0o600);
        assert_eq!(
            meta.secret_for(&old.access_key_id, &master).await.unwrap(),
            Some(old.secret_key.clone())
        );
        let fresh = meta.create_key(&master).await.unwrap();
        drop(meta);
        let (meta, master) = open_keys(&dir, None, None).await.unwrap();
        let mut ids = vec![old.access_key_id.clone(), fresh.access_key_id.clone()];
        ids.sort();
        assert_eq!(meta.list_key_ids().await.unwrap(), ids);
        assert_eq!(
            meta.secret_for(&fresh.access_key_id, &master)
                .await
                .unwrap(),
            Some(fresh.secret_key)
        );

        // A new data directory is private from the start.
        let new = parent.path().join("new/gw");
        open_keys(&new, None, None).await.unwrap();
        assert_eq!(mode(&new), 0o700);
        assert_eq!(mode(&new.join("meta.redb")), 0o600);
    }

    #[tokio::test]
    async fn the_master_key_is_made_once_and_a_wrong_or_missing_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let meta = open_meta(dir.path()).unwrap();
        let key_file = dir.path().join(MASTER_KEY_FILE);
        let first = open_master_key(&key_file, &meta).await.unwrap();
        let wrapped = first.wrap(&mesh::codec::ObjectKey::generate());
        let again = open_master_key(&key_file, &meta).await.unwrap();
        assert!(again.unwrap(&wrapped).is_ok());

        let path = dir.path().join(MASTER_KEY_FILE);
        let saved = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            open_master_key(&key_file, &meta).await,
            Err(GatewayError::MasterKey(KeyWrapError::Missing(_)))
        ));
        assert!(!path.exists(), "no new key is made in its place");

        MasterKey::load_or_create(dir.path()).unwrap();
        assert!(matches!(
            open_master_key(&key_file, &meta).await,
            Err(GatewayError::MasterKey(KeyWrapError::Mismatch(_)))
        ));
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, saved).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            open_master_key(&key_file, &meta)
                .await
                .unwrap()
                .unwrap(&wrapped)
                .is_ok()
        );
    }
}
