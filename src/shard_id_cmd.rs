//! `cairn shard-id`: hash files the way shards are named.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `cairn shard-id`.
#[derive(clap::Args)]
pub struct ShardIdArgs {
    /// Files to hash.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Fail unless every file hashes to this id (64 hex digits).
    #[arg(long)]
    expect: Option<proofs::ShardId>,
}

/// Prints each file's id; fails if one differs from `--expect`.
pub fn run(args: ShardIdArgs) -> anyhow::Result<ExitCode> {
    let mut all_match = true;
    for path in args.files {
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let (_, id) = proofs::Outboard::build(BufReader::new(file))
            .with_context(|| format!("reading {}", path.display()))?;
        println!("{id}  {}", path.display());
        if args.expect.is_some_and(|want| want != id) {
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
