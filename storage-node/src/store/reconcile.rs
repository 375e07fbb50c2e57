//! Bringing index and files back into agreement when a store opens.
//!
//! Runs before the store serves anything, so no write is in flight: every
//! temp file is a leftover of a crash and is deleted; every shard file must
//! have an index entry of the same length and every entry a file. Whatever
//! does not match is reported and removed (index entries first, then files),
//! so nothing half-written is ever served.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use proofs::ShardId;
use redb::Database;

use super::error::{IoContext, StoreError};
use super::index::{self, Alias, Record};
use super::layout::{Layout, parse_shard_path, remove_file, sync_dir};

/// What reconciliation found and cleaned when the store was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Leftover in-flight writes deleted from `tmp/`.
    pub temp_files_removed: usize,
    /// Shard files with no index entry (deleted).
    pub orphan_files: Vec<ShardId>,
    /// Files under `shards/` that are not named and placed like a shard
    /// file (deleted).
    pub stray_files: Vec<PathBuf>,
    /// Index entries whose file is missing, and inline bytes with no index
    /// entry (removed).
    pub missing_files: Vec<ShardId>,
    /// Shards whose file has another length than indexed (entry and file
    /// removed).
    pub wrong_length: Vec<ShardId>,
    /// Shards that were consistent and are kept.
    pub kept: u64,
}

impl ReconcileReport {
    /// Whether index and files agreed and no temp file was left.
    pub fn is_clean(&self) -> bool {
        self.temp_files_removed == 0
            && self.orphan_files.is_empty()
            && self.stray_files.is_empty()
            && self.missing_files.is_empty()
            && self.wrong_length.is_empty()
    }
}

/// A copy kept by reconciliation: its owner's alias, its id, its record.
pub(crate) type Kept = (Alias, ShardId, Record);

/// Reconciles the store at `layout` with its index `db`. Returns the report
/// and the copies kept.
pub(crate) fn reconcile(
    layout: &Layout,
    db: &Database,
) -> Result<(ReconcileReport, Vec<Kept>), StoreError> {
    let mut report = ReconcileReport {
        temp_files_removed: clear_dir(&layout.tmp_dir())?,
        ..ReconcileReport::default()
    };

    let mut indexed: HashMap<(ShardId, Alias), Record> = index::scan(db)?
        .into_iter()
        .map(|(alias, id, record)| ((id, alias), record))
        .collect();
    let mut kept = Vec::with_capacity(indexed.len());
    let mut remove_files = Vec::new();
    let mut stale = Vec::new();

    // Inline copies have no file: their bytes must be as long as indexed.
    for ((id, alias), actual) in index::inline_lengths(db)? {
        match indexed.remove(&(id, alias)) {
            Some(record) if record.len == actual => kept.push((alias, id, record)),
            Some(record) => {
                tracing::warn!(shard = %id, actual, indexed = record.len, "inline shard has the wrong length");
                report.wrong_length.push(id);
                stale.push((id, alias));
            }
            // Bytes without a record: removed with the stale entries below.
            None => {
                report.missing_files.push(id);
                stale.push((id, alias));
            }
        }
    }

    for path in walk_files(&layout.shards_dir(), 4)? {
        let Some((id, alias)) = parse_shard_path(layout, &path) else {
            report.stray_files.push(path.clone());
            remove_files.push(path);
            continue;
        };
        // (Inline copies were taken out of `indexed` above: a file of one
        // is an orphan.)
        let Some(record) = indexed.remove(&(id, alias)) else {
            report.orphan_files.push(id);
            remove_files.push(path);
            continue;
        };
        let actual = fs::metadata(&path).at("reading metadata of", &path)?.len();
        if actual == record.len {
            kept.push((alias, id, record));
        } else {
            tracing::warn!(shard = %id, actual, indexed = record.len, "shard file has the wrong length");
            report.wrong_length.push(id);
            stale.push((id, alias));
            remove_files.push(path);
        }
    }
    for (id, alias) in indexed.into_keys() {
        report.missing_files.push(id);
        stale.push((id, alias));
    }
    report.missing_files.sort();

    if !stale.is_empty() {
        let txn = db.begin_write()?;
        for (id, alias) in &stale {
            index::remove(&txn, id, *alias)?;
        }
        txn.commit()?;
    }
    for path in &remove_files {
        remove_file(path)?;
    }

    report.kept = kept.len() as u64;
    log(&report);
    Ok((report, kept))
}

fn log(report: &ReconcileReport) {
    for id in &report.orphan_files {
        tracing::warn!(shard = %id, "removed a shard file that had no index entry");
    }
    for path in &report.stray_files {
        tracing::warn!(path = %path.display(), "removed a stray file from the shard tree");
    }
    for id in &report.missing_files {
        tracing::warn!(shard = %id, "dropped an index entry whose file is missing (or inline bytes with no entry)");
    }
    if report.is_clean() {
        tracing::info!(shards = report.kept, "shard store consistent");
    } else {
        tracing::warn!(
            shards = report.kept,
            temp_files = report.temp_files_removed,
            orphans = report.orphan_files.len(),
            strays = report.stray_files.len(),
            missing = report.missing_files.len(),
            wrong_length = report.wrong_length.len(),
            "shard store reconciled"
        );
    }
}

/// Deletes everything inside `dir`; returns how many entries there were.
fn clear_dir(dir: &Path) -> Result<usize, StoreError> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).at("listing", dir)? {
        let path = entry.at("listing", dir)?.path();
        let is_dir = fs::symlink_metadata(&path)
            .at("reading metadata of", &path)?
            .is_dir();
        if is_dir {
            fs::remove_dir_all(&path).at("removing", &path)?;
        } else {
            remove_file(&path)?;
        }
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Every non-directory entry under `dir`, descending at most `depth` levels;
/// directories found below that depth are removed (shard files sit there).
fn walk_files(dir: &Path, depth: usize) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).at("listing", dir)? {
        let entry = entry.at("listing", dir)?;
        let path = entry.path();
        let file_type = entry.file_type().at("reading metadata of", &path)?;
        if file_type.is_dir() && depth > 1 {
            out.extend(walk_files(&path, depth - 1)?);
        } else if file_type.is_dir() {
            // A directory where shard files belong: not ours to keep.
            tracing::warn!(path = %path.display(), "removing a stray directory from the shard tree");
            fs::remove_dir_all(&path).at("removing", &path)?;
        } else {
            out.push(path);
        }
    }
    Ok(out)
}
