//! Lifecycle: expiring versions and aborting stale multipart uploads as
//! each bucket's rules say (PutBucketLifecycleConfiguration). Run by the
//! gateway that runs the other health loops (the lease holder when gateways
//! share a store), at most [`MAX_ACTIONS`] deletions per pass, and never on
//! a version object lock protects.
//!
//! "A day" is [`HealthConfig::lifecycle_day`](super::HealthConfig::lifecycle_day)
//! (24 hours unless a test scales it down).

pub mod rules;

use crate::data::DataPath;
use crate::meta::bucket_config::LIFECYCLE;
use crate::meta::versions::{NULL_VERSION, VersionEntry, VersionQuery, Versioning, shown_id};
use crate::meta::{MetaError, MetaStore};
use crate::s3::object_lock::is_locked;
use rules::Lifecycle;

/// Most versions deleted (or delete markers made) and uploads aborted
/// per pass; the rest wait for the next.
pub const MAX_ACTIONS: usize = 10_000;

/// Why a version a rule reached was not deleted.
enum Kept {
    /// Object lock protects it.
    Locked,
    /// It is not the version listed any more.
    Changed,
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Current versions expired (deleted, or hidden by a delete marker).
    pub expired: usize,
    /// Noncurrent versions deleted for good.
    pub noncurrent_deleted: usize,
    /// Delete markers with nothing under them removed.
    pub markers_removed: usize,
    /// Multipart uploads aborted.
    pub uploads_aborted: usize,
    /// Versions a rule reached that object lock kept.
    pub kept_locked: usize,
}

impl Report {
    fn actions(&self) -> usize {
        self.expired + self.noncurrent_deleted + self.markers_removed + self.uploads_aborted
    }
}

/// Applies the rules every `lifecycle_every` forever (run as a task).
pub async fn run(data: DataPath) {
    let every = data.health().config().lifecycle_every();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !data.health().leads() {
            continue;
        }
        match pass(&data, now_ms()).await {
            Ok(report) if report.actions() > 0 || report.kept_locked > 0 => {
                tracing::info!(?report, "lifecycle pass");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lifecycle pass failed"),
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One pass over every bucket that has rules, at `now`.
pub async fn pass(data: &DataPath, now: u64) -> Result<Report, MetaError> {
    let meta = data.health().meta().clone();
    let day = data.health().config().lifecycle_day.as_millis().max(1) as u64;
    let mut report = Report::default();
    for bucket in meta.list_buckets().await? {
        if report.actions() >= MAX_ACTIONS {
            break;
        }
        let Some(stored) = meta.bucket_config(&bucket.name, LIFECYCLE).await? else {
            continue;
        };
        let Some(lifecycle) = Lifecycle::from_bytes(&stored) else {
            tracing::error!(bucket = %bucket.name, "stored lifecycle rules unreadable; skipped");
            continue;
        };
        let versioning = meta
            .bucket_access(&bucket.name)
            .await?
            .map(|i| i.versioning)
            .unwrap_or_default();
        let mut walk = Walk {
            data,
            meta: &meta,
            bucket: &bucket.name,
            lifecycle: &lifecycle,
            versioning,
            now,
            day,
            report: &mut report,
        };
        walk.versions().await?;
        walk.uploads().await?;
    }
    Ok(report)
}

/// One bucket's pass.
struct Walk<'a> {
    data: &'a DataPath,
    meta: &'a MetaStore,
    bucket: &'a str,
    lifecycle: &'a Lifecycle,
    versioning: Versioning,
    now: u64,
    day: u64,
    report: &'a mut Report,
}

/// Where the walk is within one key's versions (newest first).
#[derive(Default)]
struct KeyState {
    key: String,
    /// Noncurrent versions met so far.
    noncurrent: u32,
    /// When the version just met (newer than the next) was written: when
    /// the next one became noncurrent.
    newer_written: Option<u64>,
    /// The key's newest entry, a delete marker, while no version has been
    /// met under it.
    lone_marker: Option<VersionEntry>,
}

impl Walk<'_> {
    fn budget_left(&self) -> bool {
        self.report.actions() < MAX_ACTIONS
    }

    async fn versions(&mut self) -> Result<(), MetaError> {
        let mut query = VersionQuery {
            max_keys: 1000,
            ..Default::default()
        };
        let mut state = KeyState::default();
        loop {
            let page = self.meta.list_versions(self.bucket, &query).await?;
            for entry in page.entries {
                if !self.budget_left() {
                    return Ok(());
                }
                if entry.key != state.key {
                    self.finish_key(&mut state).await?;
                    state = KeyState {
                        key: entry.key.clone(),
                        ..Default::default()
                    };
                }
                self.visit(&mut state, entry).await?;
            }
            if !page.is_truncated {
                break;
            }
            query.key_marker = page.next_key_marker;
            query.version_id_marker = page.next_version_id_marker;
            tokio::task::yield_now().await;
        }
        self.finish_key(&mut state).await
    }

    async fn visit(&mut self, state: &mut KeyState, entry: VersionEntry) -> Result<(), MetaError> {
        let written = entry.meta.last_modified;
        let (key, m) = (&entry.key, &entry.meta);
        if entry.is_latest && m.delete_marker {
            state.lone_marker = Some(entry.clone());
        } else if entry.is_latest {
            let expires = self.lifecycle.enabled().any(|r| {
                r.filter.matches(key, m.size, &m.tags)
                    && (r
                        .expiration_days
                        .is_some_and(|d| self.now >= written + u64::from(d) * self.day)
                        || r.expiration_date.is_some_and(|t| self.now >= t))
            });
            // Only the version listed: one a client wrote since is
            // judged in a later pass.
            let expired = if expires {
                self.meta
                    .expire_latest(self.bucket, key, self.versioning, m)
                    .await?
            } else {
                None
            };
            if let Some(committed) = expired {
                if let Some(old) = committed.displaced {
                    self.data.delete_shards(old.parts);
                }
                self.report.expired += 1;
            }
        } else {
            state.lone_marker = None;
            state.noncurrent += 1;
            let since = state.newer_written.unwrap_or(written);
            let goes = self.lifecycle.enabled().any(|r| {
                (!m.delete_marker || !r.filter.needs_object())
                    && r.filter.matches(key, m.size, &m.tags)
                    && r.noncurrent_days
                        .is_some_and(|d| self.now >= since + u64::from(d) * self.day)
                    && r.newer_noncurrent_versions
                        .is_none_or(|keep| state.noncurrent > keep)
            });
            if goes && self.delete_for_good(&entry).await? {
                self.report.noncurrent_deleted += 1;
            }
        }
        state.newer_written = Some(written);
        Ok(())
    }

    /// The end of a key's versions: a delete marker found alone is
    /// removed if a rule says so.
    async fn finish_key(&mut self, state: &mut KeyState) -> Result<(), MetaError> {
        let Some(marker) = state.lone_marker.take() else {
            return Ok(());
        };
        let removes = self.lifecycle.enabled().any(|r| {
            r.expired_object_delete_marker
                && !r.filter.needs_object()
                && marker.key.starts_with(&r.filter.prefix)
        });
        if removes && self.delete_for_good(&marker).await? {
            self.report.markers_removed += 1;
        }
        Ok(())
    }

    /// Deletes a version for good unless object lock protects it now or
    /// it changed since it was listed (new tags may take it out of the
    /// rule); whether it went.
    async fn delete_for_good(&mut self, entry: &VersionEntry) -> Result<bool, MetaError> {
        let now = self.now;
        let id = entry
            .meta
            .version_id
            .as_deref()
            .unwrap_or(NULL_VERSION)
            .to_owned();
        debug_assert_eq!(id, shown_id(&entry.meta));
        let done = self
            .meta
            .delete_version(self.bucket, &entry.key, &id, |v| {
                if is_locked(v, now) {
                    Err(Kept::Locked)
                } else if *v != entry.meta {
                    Err(Kept::Changed)
                } else {
                    Ok(())
                }
            })
            .await?;
        match done {
            Ok(Some(gone)) => {
                if !gone.delete_marker {
                    self.data.delete_shards(gone.parts);
                }
                Ok(true)
            }
            Ok(None) | Err(Kept::Changed) => Ok(false),
            Err(Kept::Locked) => {
                self.report.kept_locked += 1;
                Ok(false)
            }
        }
    }

    async fn uploads(&mut self) -> Result<(), MetaError> {
        let rules: Vec<_> = self
            .lifecycle
            .enabled()
            .filter(|r| r.abort_incomplete_days.is_some() && !r.filter.needs_object())
            .collect();
        if rules.is_empty() {
            return Ok(());
        }
        for (key, id, initiated) in self.meta.list_uploads(self.bucket, "").await? {
            if !self.budget_left() {
                break;
            }
            let stale = rules.iter().any(|r| {
                key.starts_with(&r.filter.prefix)
                    && r.abort_incomplete_days
                        .is_some_and(|d| self.now >= initiated + u64::from(d) * self.day)
            });
            if stale && let Some(parts) = self.meta.remove_upload(&id).await? {
                self.data.delete_shards(parts);
                self.report.uploads_aborted += 1;
            }
        }
        Ok(())
    }
}
