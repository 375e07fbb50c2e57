//! `cairn`: the one binary users run.
//!
//! The node, gateway and devnet subcommands arrive with their crates; for now
//! it carries the tools that need only the core libraries.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Cairn: a decentralized, erasure-coded, verifiable object store.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the shard id (blake3 hash) of each file, as nodes and gateways
    /// name shards, and check it against an expected id with --expect.
    ShardId {
        /// Files to hash.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Fail unless every file hashes to this id (64 hex digits).
        #[arg(long)]
        expect: Option<proofs::ShardId>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::ShardId { files, expect } => {
            let mut all_match = true;
            for path in files {
                let file =
                    File::open(&path).with_context(|| format!("opening {}", path.display()))?;
                let (_, id) = proofs::Outboard::build(BufReader::new(file))
                    .with_context(|| format!("reading {}", path.display()))?;
                println!("{id}  {}", path.display());
                if expect.is_some_and(|want| want != id) {
                    eprintln!("{}: does not match the expected id", path.display());
                    all_match = false;
                }
            }
            Ok(if all_match {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
