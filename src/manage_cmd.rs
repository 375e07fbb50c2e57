//! `cairn gateway key ...` and `cairn gateway bucket ...`: the operator's
//! keys and bucket permissions. With a running gateway (its data directory
//! holds a `gateway.json` of a live process with an admin endpoint) they go
//! through that endpoint, authenticated with `admin.token`; otherwise they
//! open the store directly (a stopped gateway's `meta.redb`, or the
//! PostgreSQL store given with `--meta`, which running gateways share).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use s3_gateway::admin::manage::{ADMIN_TOKEN_FILE, BucketView, KeyView, Manage, NewKey};
use s3_gateway::admin::percent_encode;
use s3_gateway::meta::BucketPerms;
use serde::de::DeserializeOwned;

use crate::gateway_cmd::MetaArg;

/// Which gateway's keys and buckets.
#[derive(clap::Args)]
pub struct Target {
    /// The gateway's data directory.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    meta: MetaArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `cairn gateway key ...`.
#[derive(clap::Subcommand)]
pub enum KeyAction {
    /// Create an access key and secret; prints them as JSON.
    Create {
        /// A name for it (shown by list and info).
        #[arg(long)]
        name: Option<String>,
        /// Let it administer the gateway in the web console (keys and
        /// grants).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Give a key a (new) name.
    Rename {
        /// The access key id.
        id: String,
        /// Its name.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// List access keys (with --json: the buckets each owns and was
    /// granted, and whether it may create buckets).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// One key: the buckets it owns and was granted, and its rights.
    Info {
        /// The access key id.
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a key and its grants (the buckets it created stay).
    Delete {
        /// The access key id.
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Give a key a right: `--create-bucket` or `--admin`.
    Allow {
        /// The access key id.
        id: String,
        #[command(flatten)]
        right: RightFlags,
        #[command(flatten)]
        target: Target,
    },
    /// Take a right from a key: `--create-bucket` or `--admin`.
    Deny {
        /// The access key id.
        id: String,
        #[command(flatten)]
        right: RightFlags,
        #[command(flatten)]
        target: Target,
    },
}

/// A key right named by a flag.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct RightFlags {
    /// The right to create buckets (every new key has it).
    #[arg(long)]
    create_bucket: bool,
    /// The right to administer the gateway in the web console (keys and
    /// grants).
    #[arg(long)]
    admin: bool,
}

/// Permissions named by flags.
#[derive(clap::Args)]
pub struct PermFlags {
    /// List the bucket and read its objects.
    #[arg(long)]
    read: bool,
    /// Write and delete its objects.
    #[arg(long)]
    write: bool,
    /// Manage the bucket (ACL, settings, deleting it).
    #[arg(long)]
    owner: bool,
}

impl PermFlags {
    fn perms(&self) -> anyhow::Result<BucketPerms> {
        let perms = BucketPerms {
            read: self.read,
            write: self.write,
            owner: self.owner,
        };
        if perms.is_none() {
            bail!("say which: --read, --write and/or --owner");
        }
        Ok(perms)
    }
}

/// `cairn gateway bucket ...`.
#[derive(clap::Subcommand)]
pub enum BucketAction {
    /// List buckets with their owners and grants.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// One bucket, its owner and grants.
    Info {
        /// The bucket.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Create a private bucket owned by a key.
    Create {
        /// The bucket.
        name: String,
        /// The access key id that owns it.
        #[arg(long)]
        owner: String,
        /// The region recorded for it.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        #[command(flatten)]
        target: Target,
    },
    /// Delete an empty bucket (unfinished multipart uploads go with it).
    Delete {
        /// The bucket.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Let a key read, write or manage a bucket (added to what it has).
    Allow {
        /// The bucket.
        name: String,
        /// The access key id.
        #[arg(long)]
        key: String,
        #[command(flatten)]
        perms: PermFlags,
        #[command(flatten)]
        target: Target,
    },
    /// Take permissions in a bucket away from a key.
    Deny {
        /// The bucket.
        name: String,
        /// The access key id.
        #[arg(long)]
        key: String,
        #[command(flatten)]
        perms: PermFlags,
        #[command(flatten)]
        target: Target,
    },
    /// Let compute nodes run jobs over a bucket's objects: they see its
    /// plaintext while a task runs (added to those allowed already).
    AllowCompute {
        /// The bucket.
        #[arg(long)]
        bucket: String,
        /// A node, by peer id (repeatable).
        #[arg(long)]
        node: Vec<String>,
        /// Every node declaring this region (repeatable).
        #[arg(long)]
        region: Vec<String>,
        /// Replace the nodes and regions allowed (with none given: allow
        /// none).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        target: Target,
    },
}

/// Where the operations run.
enum Via {
    /// A running gateway's admin endpoint and its token.
    Admin { url: String, token: String },
    /// The store itself.
    Store(Manage),
}

impl Via {
    async fn open(target: &Target) -> anyhow::Result<Self> {
        if target.meta.url.is_none()
            && let Some(via) = running_gateway(&target.data)?
        {
            return Ok(via);
        }
        let (meta, master) = s3_gateway::open_keys(
            &target.data,
            target.meta.url.as_deref(),
            target.meta.master_key_file.as_deref(),
        )
        .await
        .context("opening the gateway's store (if the gateway runs, its admin endpoint is off)")?;
        Ok(Self::Store(Manage {
            meta,
            master: Arc::new(master),
        }))
    }

    /// Sends `method path` to the admin endpoint and decodes the JSON
    /// answer.
    async fn call<T: DeserializeOwned>(
        url: &str,
        token: &str,
        method: &str,
        path: &str,
    ) -> anyhow::Result<T> {
        let (status, body) =
            crate::status_cmd::request(&format!("{url}{path}"), method, Some(token))
                .await
                .with_context(|| format!("the gateway's admin endpoint {url}"))?;
        if !status.is_success() {
            bail!("{}", String::from_utf8_lossy(&body).trim());
        }
        serde_json::from_slice(&body).context("the admin endpoint's answer")
    }

    async fn create_key(&self, name: Option<&str>) -> anyhow::Result<NewKey> {
        match self {
            Self::Admin { url, token } => {
                let path = match name {
                    Some(name) => format!("/keys?name={}", percent_encode(name)),
                    None => "/keys".to_owned(),
                };
                Self::call(url, token, "POST", &path).await
            }
            Self::Store(m) => Ok(m.create_key(name).await?),
        }
    }

    async fn rename_key(&self, id: &str, name: &str) -> anyhow::Result<KeyView> {
        match self {
            Self::Admin { url, token } => {
                let path = format!(
                    "/keys/rename?key={}&name={}",
                    percent_encode(id),
                    percent_encode(name)
                );
                Self::call(url, token, "POST", &path).await
            }
            Self::Store(m) => Ok(m.rename_key(id, name).await?),
        }
    }

    async fn key(&self, id: &str) -> anyhow::Result<KeyView> {
        match self {
            Self::Admin { url, token } => {
                let path = format!("/keys?key={}", percent_encode(id));
                Self::call(url, token, "GET", &path).await
            }
            Self::Store(m) => Ok(m.key(id).await?),
        }
    }

    async fn delete_key(&self, id: &str) -> anyhow::Result<()> {
        match self {
            Self::Admin { url, token } => {
                let path = format!("/keys/delete?key={}", percent_encode(id));
                Self::call::<serde_json::Value>(url, token, "POST", &path).await?;
                Ok(())
            }
            Self::Store(m) => Ok(m.delete_key(id).await?),
        }
    }

    async fn set_right(&self, id: &str, right: &RightFlags, may: bool) -> anyhow::Result<KeyView> {
        match self {
            Self::Admin { url, token } => {
                let verb = if may { "allow" } else { "deny" };
                let name = if right.admin {
                    "admin"
                } else {
                    "create-bucket"
                };
                let path = format!("/keys/{verb}?key={}&right={name}", percent_encode(id));
                Self::call(url, token, "POST", &path).await
            }
            Self::Store(m) if right.admin => Ok(m.set_admin(id, may).await?),
            Self::Store(m) => Ok(m.set_create_bucket(id, may).await?),
        }
    }

    async fn keys(&self) -> anyhow::Result<Vec<KeyView>> {
        match self {
            Self::Admin { url, token } => Self::call(url, token, "GET", "/keys").await,
            Self::Store(m) => Ok(m.keys().await?),
        }
    }

    async fn buckets(&self) -> anyhow::Result<Vec<BucketView>> {
        match self {
            Self::Admin { url, token } => Self::call(url, token, "GET", "/buckets").await,
            Self::Store(m) => Ok(m.buckets().await?),
        }
    }

    async fn bucket(&self, name: &str) -> anyhow::Result<BucketView> {
        match self {
            Self::Admin { url, token } => {
                let path = format!("/buckets?name={}", percent_encode(name));
                Self::call(url, token, "GET", &path).await
            }
            Self::Store(m) => Ok(m.bucket(name).await?),
        }
    }

    async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        region: &str,
    ) -> anyhow::Result<BucketView> {
        match self {
            Self::Admin { url, token } => {
                let path = format!(
                    "/buckets/create?bucket={}&owner={}&region={}",
                    percent_encode(name),
                    percent_encode(owner),
                    percent_encode(region)
                );
                Self::call(url, token, "POST", &path).await
            }
            Self::Store(m) => Ok(m.create_bucket(name, owner, region).await?),
        }
    }

    async fn delete_bucket(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Self::Admin { url, token } => {
                let path = format!("/buckets/delete?bucket={}", percent_encode(name));
                Self::call::<serde_json::Value>(url, token, "POST", &path).await?;
                Ok(())
            }
            Self::Store(m) => Ok(m.delete_bucket(name).await?),
        }
    }

    async fn change(
        &self,
        allow: bool,
        bucket: &str,
        key: &str,
        perms: BucketPerms,
    ) -> anyhow::Result<BucketView> {
        match self {
            Self::Admin { url, token } => {
                let path = format!(
                    "/buckets/{}?bucket={}&key={}&perms={}",
                    if allow { "allow" } else { "deny" },
                    percent_encode(bucket),
                    percent_encode(key),
                    perms.describe()
                );
                Self::call(url, token, "POST", &path).await
            }
            Self::Store(m) if allow => Ok(m.allow(bucket, key, perms).await?),
            Self::Store(m) => Ok(m.deny(bucket, key, perms).await?),
        }
    }

    async fn allow_compute(
        &self,
        bucket: &str,
        nodes: &[String],
        regions: &[String],
        replace: bool,
    ) -> anyhow::Result<BucketView> {
        match self {
            Self::Admin { url, token } => {
                let path = format!(
                    "/buckets/allow-compute?bucket={}&nodes={}&regions={}&replace={replace}",
                    percent_encode(bucket),
                    percent_encode(&nodes.join(",")),
                    percent_encode(&regions.join(","))
                );
                Self::call(url, token, "POST", &path).await
            }
            Self::Store(m) => Ok(m.allow_compute(bucket, nodes, regions, replace).await?),
        }
    }
}

/// The admin endpoint of a gateway running on `data`, if one is.
fn running_gateway(data: &Path) -> anyhow::Result<Option<Via>> {
    let Ok(text) = std::fs::read_to_string(data.join("gateway.json")) else {
        return Ok(None);
    };
    let info: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let alive = info["pid"]
        .as_u64()
        .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
    let Some(url) = info["admin"].as_str().filter(|_| alive) else {
        return Ok(None);
    };
    let token_file = data.join(ADMIN_TOKEN_FILE);
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading the admin token {}", token_file.display()))?;
    Ok(Some(Via::Admin {
        url: url.to_owned(),
        token: token.trim().to_owned(),
    }))
}

/// Runs `cairn gateway key ...`.
pub async fn key(action: KeyAction) -> anyhow::Result<()> {
    match action {
        KeyAction::Create {
            name,
            admin,
            target,
        } => {
            let via = Via::open(&target).await?;
            let key = via.create_key(name.as_deref()).await?;
            if admin {
                let right = RightFlags {
                    create_bucket: false,
                    admin: true,
                };
                via.set_right(&key.access_key, &right, true).await?;
            }
            println!("{}", serde_json::to_string(&key)?);
        }
        KeyAction::Rename { id, name, target } => {
            let key = Via::open(&target).await?.rename_key(&id, &name).await?;
            print_key(&key, target.json)?;
        }
        KeyAction::List { target } => {
            let keys = Via::open(&target).await?.keys().await?;
            if target.json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                for key in keys {
                    match &key.name {
                        Some(name) => println!("{}  {name}", key.access_key),
                        None => println!("{}", key.access_key),
                    }
                }
            }
        }
        KeyAction::Info { id, target } => {
            let key = Via::open(&target).await?.key(&id).await?;
            print_key(&key, target.json)?;
        }
        KeyAction::Delete { id, target } => {
            Via::open(&target).await?.delete_key(&id).await?;
            println!("deleted {id}");
        }
        KeyAction::Allow { id, right, target } => {
            let key = Via::open(&target)
                .await?
                .set_right(&id, &right, true)
                .await?;
            print_key(&key, target.json)?;
        }
        KeyAction::Deny { id, right, target } => {
            let key = Via::open(&target)
                .await?
                .set_right(&id, &right, false)
                .await?;
            print_key(&key, target.json)?;
        }
    }
    Ok(())
}

/// One key, as JSON or as lines of text.
fn print_key(key: &KeyView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(key)?);
        return Ok(());
    }
    println!("key           {}", key.access_key);
    if let Some(name) = &key.name {
        println!("name          {name}");
    }
    println!(
        "create bucket {}",
        if key.create_bucket { "yes" } else { "no" }
    );
    println!("admin         {}", if key.admin { "yes" } else { "no" });
    println!("owns          {}", key.owns.join(" "));
    let granted: Vec<String> = key
        .granted
        .iter()
        .map(|(bucket, perms)| format!("{bucket}={perms}"))
        .collect();
    println!("granted       {}", granted.join(" "));
    Ok(())
}

/// Runs `cairn gateway bucket ...`.
pub async fn bucket(action: BucketAction) -> anyhow::Result<()> {
    let (target, views, single) = match action {
        BucketAction::List { target } => {
            let views = Via::open(&target).await?.buckets().await?;
            (target, views, false)
        }
        BucketAction::Info { name, target } => {
            let view = Via::open(&target).await?.bucket(&name).await?;
            (target, vec![view], true)
        }
        BucketAction::Create {
            name,
            owner,
            region,
            target,
        } => {
            let view = Via::open(&target)
                .await?
                .create_bucket(&name, &owner, &region)
                .await?;
            (target, vec![view], true)
        }
        BucketAction::Delete { name, target } => {
            Via::open(&target).await?.delete_bucket(&name).await?;
            println!("deleted {name}");
            return Ok(());
        }
        BucketAction::Allow {
            name,
            key,
            perms,
            target,
        } => {
            let perms = perms.perms()?;
            let view = Via::open(&target)
                .await?
                .change(true, &name, &key, perms)
                .await?;
            (target, vec![view], true)
        }
        BucketAction::Deny {
            name,
            key,
            perms,
            target,
        } => {
            let perms = perms.perms()?;
            let view = Via::open(&target)
                .await?
                .change(false, &name, &key, perms)
                .await?;
            (target, vec![view], true)
        }
        BucketAction::AllowCompute {
            bucket,
            node,
            region,
            replace,
            target,
        } => {
            if node.is_empty() && region.is_empty() && !replace {
                bail!("name a --node or a --region (or --replace alone to allow none)");
            }
            let view = Via::open(&target)
                .await?
                .allow_compute(&bucket, &node, &region, replace)
                .await?;
            if !target.json {
                let allowed = view.compute.clone().unwrap_or_default();
                println!(
                    "{bucket}: compute allowed on nodes [{}] and regions [{}]",
                    allowed.nodes.join(", "),
                    allowed.regions.join(", ")
                );
                return Ok(());
            }
            (target, vec![view], true)
        }
    };
    if target.json && single {
        println!("{}", serde_json::to_string_pretty(&views[0])?);
    } else if target.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
    } else {
        println!("{:<40} {:<22} {:<12} GRANTS", "BUCKET", "OWNER", "ACL");
        for view in views {
            let grants: Vec<String> = view
                .grants
                .iter()
                .map(|(key, perms)| format!("{key}={perms}"))
                .collect();
            println!(
                "{:<40} {:<22} {:<12} {}",
                view.name,
                view.owner,
                view.acl,
                grants.join(" ")
            );
        }
    }
    Ok(())
}
