//! `cairn usage verify`: checks storage nodes' signed usage reports offline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use libp2p::PeerId;
use mesh::net::{SignedUsageReport, UsageReport};

/// `cairn usage` subcommands.
#[derive(clap::Subcommand)]
pub enum UsageCommand {
    /// Verify signed usage reports: each must be signed by the node it
    /// names, and reports from one node about one owner must never go back
    /// (checked in the order of their issue times).
    Verify {
        /// Report files, as written by `cairn shard usage --out`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `cairn usage` subcommand.
pub fn run(command: UsageCommand) -> anyhow::Result<ExitCode> {
    let UsageCommand::Verify { files, json } = command;
    let mut reports = Vec::new();
    let mut failed = false;
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        match SignedUsageReport::verify(&bytes) {
            Ok(report) => reports.push((file, report)),
            Err(e) => {
                eprintln!("{}: INVALID: {e}", file.display());
                failed = true;
            }
        }
    }
    reports.sort_by_key(|(_, r)| (r.node.clone(), r.owner.clone(), r.issued_at));
    for pair in reports.windows(2) {
        let ((_, earlier), (file, later)) = (&pair[0], &pair[1]);
        if later.node == earlier.node && later.owner == earlier.owner && !later.follows(earlier) {
            eprintln!(
                "{}: INVALID: a counter is lower than in an earlier report from the same node",
                file.display()
            );
            failed = true;
        }
    }
    for (file, report) in &reports {
        if json {
            println!("{}", to_json(report));
        } else {
            println!("{}: valid\n{}", file.display(), describe(report));
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn peer(bytes: &[u8]) -> String {
    PeerId::from_bytes(bytes).map_or_else(|_| "?".into(), |p| p.to_string())
}

fn to_json(r: &UsageReport) -> serde_json::Value {
    serde_json::json!({
        "node": peer(&r.node),
        "owner": peer(&r.owner),
        "issued_at": r.issued_at,
        "shards": r.shards,
        "bytes_stored": r.bytes_stored,
        "free_for_owner": r.free_for_owner,
        "quota": r.quota,
        "bytes_served": r.bytes_served,
        "bytes_received": r.bytes_received,
        "shard_seconds": r.shard_seconds,
        "byte_seconds": r.byte_seconds.to_string(),
    })
}

/// A report in a few readable lines.
pub fn describe(r: &UsageReport) -> String {
    format!(
        "  node {}\n  owner {}\n  issued at {} (unix)\n  holds {} shards, {} bytes (quota {}, {} free for this owner)\n  served {} bytes, received {} bytes, {:.2} shard-hours",
        peer(&r.node),
        peer(&r.owner),
        r.issued_at,
        r.shards,
        r.bytes_stored,
        r.quota,
        r.free_for_owner,
        r.bytes_served,
        r.bytes_received,
        r.shard_hours()
    )
}
