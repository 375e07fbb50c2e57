//! `cairn gateway recover` and `cairn gateway backup-keys`: getting a
//! gateway back after its disk is lost, and the one file to keep so that
//! this is possible.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use libp2p::Multiaddr;
use s3_gateway::backup::{keys, restore};
use zeroize::Zeroizing;

/// Arguments of `cairn gateway recover`.
#[derive(clap::Args)]
pub struct RecoverArgs {
    /// The new data directory (it must not hold a metadata store).
    #[arg(long)]
    data: PathBuf,
    /// The key file made by `cairn gateway backup-keys` (instead of
    /// --master-key and --identity). Its passphrase is asked for, or read
    /// from CAIRN_KEYS_PASSPHRASE.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["master_key", "identity"])]
    keys: Option<PathBuf>,
    /// The lost gateway's master key file.
    #[arg(long, value_name = "FILE", requires = "identity")]
    master_key: Option<PathBuf>,
    /// The lost gateway's identity key file.
    #[arg(long, value_name = "FILE", requires = "master_key")]
    identity: Option<PathBuf>,
    /// A node to enter the mesh through (repeatable), ending in /p2p/<peer id>.
    #[arg(long, required = true)]
    bootstrap: Vec<Multiaddr>,
    /// Restore the metadata as it was at this time (RFC 3339, e.g.
    /// 2026-12-04T10:00:00Z) instead of the newest: any time since the
    /// oldest retained snapshot.
    #[arg(long, value_name = "TIME")]
    at: Option<humantime::Timestamp>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `cairn gateway backup-keys`.
#[derive(clap::Args)]
pub struct BackupKeysArgs {
    /// The gateway's data directory.
    #[arg(long)]
    data: PathBuf,
    /// The master key file, if not master.key in the data directory.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Where to write the sealed key file (must not exist).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// The passphrase: CAIRN_KEYS_PASSPHRASE, or asked on the terminal
/// (twice when `confirm`).
fn passphrase(confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("CAIRN_KEYS_PASSPHRASE") {
        if p.is_empty() {
            bail!("CAIRN_KEYS_PASSPHRASE is empty");
        }
        return Ok(Zeroizing::new(p));
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("key file passphrase: ")
            .context("reading the passphrase (or set CAIRN_KEYS_PASSPHRASE)")?,
    );
    if first.is_empty() {
        bail!("the passphrase must not be empty");
    }
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("again: ")?);
        if *again != *first {
            bail!("the passphrases differ");
        }
    }
    Ok(first)
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs `cairn gateway backup-keys`.
pub fn backup_keys(args: BackupKeysArgs) -> anyhow::Result<()> {
    let master_path = args
        .master_key_file
        .unwrap_or_else(|| args.data.join(s3_gateway::keywrap::MASTER_KEY_FILE));
    let master = Zeroizing::new(read_file(&master_path)?);
    let master: [u8; 32] = master
        .as_slice()
        .try_into()
        .with_context(|| format!("{} does not hold a master key", master_path.display()))?;
    let master = Zeroizing::new(master);
    let identity_path = args.data.join(mesh::identity::IDENTITY_FILE);
    let identity = Zeroizing::new(read_file(&identity_path)?);
    libp2p::identity::Keypair::from_protobuf_encoding(&identity)
        .with_context(|| format!("{} does not hold an identity key", identity_path.display()))?;
    let passphrase = passphrase(true)?;
    let sealed = keys::seal(&master, &identity, &passphrase);
    restore::write_key_file(&args.out, &sealed)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {}: the master key and identity, sealed under the passphrase. Keep it (and the \
         passphrase) off this machine: with it and any reachable node, `cairn gateway recover \
         --keys {}` brings every bucket, key and object back.",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

/// Runs `cairn gateway recover`.
pub async fn recover(args: RecoverArgs) -> anyhow::Result<ExitCode> {
    let (master, identity) = match (&args.keys, &args.master_key, &args.identity) {
        (Some(file), _, _) => {
            let sealed = read_file(file)?;
            let passphrase = passphrase(false)?;
            keys::open(&sealed, &passphrase).with_context(|| format!("{}", file.display()))?
        }
        (None, Some(master), Some(identity)) => {
            let bytes = Zeroizing::new(read_file(master)?);
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .with_context(|| format!("{} does not hold a master key", master.display()))?;
            (Zeroizing::new(key), Zeroizing::new(read_file(identity)?))
        }
        _ => bail!("give --keys FILE, or --master-key FILE and --identity FILE"),
    };
    let keypair = libp2p::identity::Keypair::from_protobuf_encoding(&identity)
        .context("the identity file does not hold an identity key")?;
    let master_key = s3_gateway::keywrap::MasterKey::from_bytes(&master);
    let at = args.at.map(|t| {
        std::time::SystemTime::from(t)
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    });
    let options = restore::RecoverOptions {
        data_dir: args.data.clone(),
        master: master_key,
        keypair,
        bootstrap: args.bootstrap.clone(),
        at,
    };
    let json = args.json;
    let progress = move |line: &str| {
        if !json {
            eprintln!("recover: {line}");
        }
    };
    let report = restore::recover(options, &progress).await?;
    // The keys go into the new directory only once the store is there, so
    // a failed recovery leaves nothing a gateway would start on.
    let master_path = args.data.join(s3_gateway::keywrap::MASTER_KEY_FILE);
    restore::write_key_file(&master_path, master.as_slice())
        .with_context(|| format!("writing {}", master_path.display()))?;
    let identity_path = args.data.join(mesh::identity::IDENTITY_FILE);
    restore::write_key_file(&identity_path, &identity)
        .with_context(|| format!("writing {}", identity_path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let now = s3_gateway::backup::now_ms();
        println!(
            "recovered {} objects in {} buckets and {} access keys into {} in {:.1} s \
             ({} bytes of backups fetched, {} logs, {} changes). Recovery point: the store as it \
             was {:.1} s ago. {} shard copies missing (the gateway repairs them when it starts). \
             Start the gateway with --data {}.",
            report.objects,
            report.buckets,
            report.keys,
            args.data.display(),
            report.seconds,
            report.bytes_fetched,
            report.logs,
            report.changes,
            now.saturating_sub(report.recovery_point_ms) as f64 / 1000.0,
            report.missing_copies,
            args.data.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
