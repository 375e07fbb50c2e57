//! Object versioning, the same on every engine.
//!
//! A bucket's *current* objects stay where they always were: one row of
//! the object table per key, so reads, listings and writes in a bucket
//! that never had versioning cost exactly what they did. Once versioning
//! has been enabled, every version that is not current (and every delete
//! marker) is a row of the bucket's *versions namespace*, the object table
//! "bucket" `<bucket>?versions` (no bucket name contains `?`), under the
//! key `<key> NUL <16 hex digits of !stamp>`: a key's versions are one
//! range, newest first, and the namespace sorts like the bucket. Keys
//! never contain NUL (the gateway refuses them), so no key's range
//! overlaps another's.
//!
//! Being ordinary rows of the object table, noncurrent versions are backed
//! up, audited, repaired and counted by garbage collection as every object
//! is, with no new table in any engine. Moving versions between the two is
//! one [`MetaBackend::write_objects`] batch whose rows carry the condition
//! that they still hold what was read, so racing writers retry instead of
//! losing a version.
//!
//! The invariant: the current row is the newest version unless that is a
//! delete marker, in which case there is no current row and the marker is
//! the newest entry of the namespace; at most one null version exists per
//! key (current or not).
//!
//! Every version carries a stamp ([`ObjectMeta::version_seq`]): the
//! writer's clock in ms shifted left 20 bits plus random low bits, and
//! always above the stamp of the version it supersedes. A version id is
//! the stamp in hex followed by 16 random hex digits, so the row of any
//! version is found from its id in one read.

use std::collections::VecDeque;

use super::types::{
    BatchRefused, Completion, ConditionFailed, ObjectWrite, RowCondition, WriteCondition,
};
use super::{ListQuery, MetaError, MetaStore, ObjectMeta, versions_namespace};

/// A bucket's versioning state (PutBucketVersioning).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: one null version per key, replaced in place.
    #[default]
    Unversioned,
    /// Every write makes a new version; deletes leave a delete marker.
    Enabled,
    /// Writes replace the null version; other versions stay.
    Suspended,
}

impl Versioning {
    /// As stored in the bucket configuration [`VERSIONING`](super::bucket_config::VERSIONING).
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Unversioned => 0,
            Self::Enabled => 1,
            Self::Suspended => 2,
        }
    }

    /// From [`Versioning::to_byte`]'s one byte.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0] => Some(Self::Unversioned),
            [1] => Some(Self::Enabled),
            [2] => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// The version id S3 shows for the null version.
pub const NULL_VERSION: &str = "null";

/// Where a version's row is: object table bucket and key (the bucket
/// and key for the current version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAt {
    /// The object table bucket.
    pub bucket: String,
    /// The row key.
    pub key: String,
}

/// What a versioned write or delete did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Committed {
    /// The version id written (`None`: the null version).
    pub version_id: Option<String>,
    /// The version that is gone for good, whose shards are the caller's
    /// to delete (never a delete marker).
    pub displaced: Option<ObjectMeta>,
}

/// The id S3 shows for a version.
pub fn shown_id(meta: &ObjectMeta) -> &str {
    meta.version_id.as_deref().unwrap_or(NULL_VERSION)
}

/// Whether a version id could be one this store made (or `null`): what
/// AWS answers 400 InvalidArgument for otherwise.
pub fn is_valid_version_id(id: &str) -> bool {
    id == NULL_VERSION || parse_stamp(id).is_some()
}

fn parse_stamp(id: &str) -> Option<u64> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&id[..16], 16).ok()
}

/// A version's stamp (records written before versioning have none: their
/// modification time stands in).
fn stamp_of(meta: &ObjectMeta) -> u64 {
    if meta.version_seq != 0 {
        meta.version_seq
    } else {
        meta.last_modified << 20
    }
}

/// A stamp above `after` (and above the clock).
fn next_stamp(after: Option<u64>, now_ms: u64) -> u64 {
    let clock = (now_ms << 20) | (rand::random::<u64>() & 0xf_ffff);
    match after {
        Some(after) if after >= clock => after + 1,
        _ => clock,
    }
}

fn new_version_id(stamp: u64) -> String {
    format!("{stamp:016x}{:016x}", rand::random::<u64>())
}

/// The versions namespace key of `key`'s version stamped `stamp`.
fn history_key(key: &str, stamp: u64) -> String {
    format!("{key}\0{:016x}", u64::MAX - stamp)
}

/// The start of `key`'s range in the versions namespace (every row of the
/// key starts with it; the first is its newest noncurrent version).
pub(crate) fn history_prefix(key: &str) -> String {
    format!("{key}\0")
}

/// What a write with versioning enabled does around the current row,
/// inside the engine's transaction (`put_object_keeping`): `new` is
/// restamped above `current` and above the newest noncurrent row
/// (`newest_noncurrent`, read only when there is no current row), with a
/// fresh id if its stamp changed; returns the row `current` becomes in the
/// versions namespace (its key there, and it).
pub(crate) fn supersede(
    key: &str,
    current: Option<&ObjectMeta>,
    newest_noncurrent: Option<&ObjectMeta>,
    new: &mut ObjectMeta,
) -> Option<(String, ObjectMeta)> {
    let floor = current.or(newest_noncurrent).map(stamp_of);
    if floor.is_some_and(|f| new.version_seq <= f) {
        new.version_seq = next_stamp(floor, new.last_modified);
        new.version_id = Some(new_version_id(new.version_seq));
    }
    current.map(|c| (history_key(key, stamp_of(c)), c.clone()))
}

/// A string above every history key of `key` (and below every other key
/// greater than `key`): hex digits are below `g`.
fn past_history(key: &str) -> String {
    format!("{key}\0g")
}

/// The key a versions namespace row belongs to.
fn base_key(history_key: &str) -> &str {
    history_key
        .rsplit_once('\0')
        .map_or(history_key, |(key, _)| key)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How many times a batch is retried when a racing writer changed a row
/// it read.
const ATTEMPTS: usize = 32;

fn too_busy(bucket: &str, key: &str) -> MetaError {
    MetaError::Batch(format!(
        "object {bucket}/{key} kept changing; gave up after {ATTEMPTS} attempts"
    ))
}

/// A ListObjectVersions request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up into common prefixes at this.
    pub delimiter: Option<String>,
    /// Start after this key (after its version `version_id_marker` if
    /// given).
    pub key_marker: Option<String>,
    /// With `key_marker`: start after this version of it.
    pub version_id_marker: Option<String>,
    /// At most this many versions, delete markers and common prefixes.
    pub max_keys: usize,
}

/// One version in a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionEntry {
    /// Its key.
    pub key: String,
    /// The version (a delete marker if `meta.delete_marker`).
    pub meta: ObjectMeta,
    /// Whether it is the key's newest version.
    pub is_latest: bool,
}

/// One page of ListObjectVersions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionPage {
    /// Versions and delete markers, by key, newest first within a key.
    pub entries: Vec<VersionEntry>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// Whether more follow.
    pub is_truncated: bool,
    /// When truncated: where the next page starts.
    pub next_key_marker: Option<String>,
    /// When truncated after a version: its id.
    pub next_version_id_marker: Option<String>,
}

/// One of the two ordered streams a version listing merges: the current
/// rows or the versions namespace, read a page at a time.
struct Cursor {
    bucket: String,
    prefix: String,
    after: Option<String>,
    buffer: VecDeque<(String, ObjectMeta)>,
    done: bool,
}

impl Cursor {
    fn new(bucket: String, prefix: &str, after: Option<String>) -> Self {
        Self {
            bucket,
            prefix: prefix.to_owned(),
            after,
            buffer: VecDeque::new(),
            done: false,
        }
    }

    async fn peek(
        &mut self,
        store: &MetaStore,
    ) -> Result<Option<&(String, ObjectMeta)>, MetaError> {
        if self.buffer.is_empty() && !self.done {
            let page = store
                .list_objects(
                    &self.bucket,
                    &ListQuery {
                        prefix: self.prefix.clone(),
                        delimiter: None,
                        start_after: self.after.clone(),
                        max_keys: 1000,
                    },
                )
                .await?;
            self.done = !page.is_truncated;
            self.buffer.extend(page.objects);
        }
        Ok(self.buffer.front())
    }

    fn take(&mut self) -> Option<(String, ObjectMeta)> {
        let next = self.buffer.pop_front()?;
        self.after = Some(next.0.clone());
        Some(next)
    }

    /// Goes on after `after`, dropping what was read before it (once the
    /// buffer is empty, the next read starts there, skipping what lies
    /// between).
    fn seek(&mut self, after: String) {
        while self.buffer.front().is_some_and(|(k, _)| *k <= after) {
            self.buffer.pop_front();
        }
        if self.buffer.is_empty() {
            self.after = Some(after);
        }
    }
}

impl MetaStore {
    /// Commits `meta` as the newest version of `key` in `bucket`, as
    /// `versioning` says, if `condition` holds over the current object.
    pub async fn put_version(
        &self,
        bucket: &str,
        key: &str,
        mut meta: ObjectMeta,
        condition: WriteCondition,
        versioning: Versioning,
    ) -> Result<Result<Committed, ConditionFailed>, MetaError> {
        // A copy arrives with its source's version fields.
        meta.delete_marker = false;
        if versioning == Versioning::Unversioned {
            meta.version_id = None;
            meta.version_seq = 0;
            return Ok(self
                .put_object(bucket, key, meta, condition)
                .await?
                .map(|displaced| Committed {
                    version_id: None,
                    displaced,
                }));
        }
        if versioning == Versioning::Enabled {
            // The engine moves the current version aside in the same
            // transaction: no read first, no retry.
            meta.version_seq = next_stamp(None, meta.last_modified.max(now_ms()));
            meta.version_id = Some(new_version_id(meta.version_seq));
            return Ok(self
                .put_object_keeping(bucket, key, meta, condition)
                .await?
                .map(|written| Committed {
                    version_id: written.version_id,
                    displaced: None,
                }));
        }
        self.put_by_batch(bucket, key, meta, &condition, versioning, None)
            .await
    }

    /// [`MetaStore::put_version`] of the object that completes multipart
    /// upload `completion`: the upload is forgotten in the same
    /// transaction, and nothing is written (`NoSuchUpload`) if it is gone
    /// or a part it names changed.
    pub async fn complete_version(
        &self,
        bucket: &str,
        key: &str,
        mut meta: ObjectMeta,
        condition: WriteCondition,
        versioning: Versioning,
        completion: &Completion,
    ) -> Result<Result<Committed, ConditionFailed>, MetaError> {
        meta.delete_marker = false;
        self.put_by_batch(bucket, key, meta, &condition, versioning, Some(completion))
            .await
    }

    /// Reads the current object, then writes `meta` over it (and moves it
    /// aside as `versioning` says) in one batch conditioned on what was
    /// read, again if a racing writer got there first.
    async fn put_by_batch(
        &self,
        bucket: &str,
        key: &str,
        mut meta: ObjectMeta,
        condition: &WriteCondition,
        versioning: Versioning,
        completes: Option<&Completion>,
    ) -> Result<Result<Committed, ConditionFailed>, MetaError> {
        for _ in 0..ATTEMPTS {
            let current = self.object(bucket, key).await?;
            if let Err(refused) = condition.check(current.as_ref().map(|m| m.etag.as_str())) {
                return Ok(Err(refused));
            }
            let mut writes = Vec::with_capacity(3);
            let displaced = if versioning == Versioning::Unversioned {
                meta.version_seq = 0;
                meta.version_id = None;
                current.clone()
            } else {
                let newest = match &current {
                    Some(c) => Some(stamp_of(c)),
                    None => self
                        .newest_noncurrent(bucket, key)
                        .await?
                        .map(|(_, m)| stamp_of(&m)),
                };
                let stamp = next_stamp(newest, meta.last_modified.max(now_ms()));
                meta.version_seq = stamp;
                meta.version_id =
                    (versioning == Versioning::Enabled).then(|| new_version_id(stamp));
                self.retire(bucket, key, current.clone(), versioning, &mut writes)
                    .await?
            };
            writes.insert(
                0,
                ObjectWrite {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    value: Some(meta.clone()),
                    condition: RowCondition::unchanged(current.as_ref()),
                },
            );
            match self.write_objects(bucket, writes, completes).await? {
                Ok(()) => {
                    return Ok(Ok(Committed {
                        version_id: meta.version_id,
                        displaced,
                    }));
                }
                Err(BatchRefused::Upload) => return Ok(Err(ConditionFailed::NoSuchUpload)),
                Err(BatchRefused::Row(_)) => {}
            }
        }
        Err(too_busy(bucket, key))
    }

    /// Deletes `key` of `bucket` without a version id: in a bucket with
    /// versioning, by making a delete marker its newest version (whose id
    /// is returned).
    pub async fn delete_latest(
        &self,
        bucket: &str,
        key: &str,
        versioning: Versioning,
    ) -> Result<Committed, MetaError> {
        if versioning == Versioning::Unversioned {
            let displaced = self.delete_object(bucket, key).await?;
            return Ok(Committed {
                version_id: None,
                displaced,
            });
        }
        let done = self.delete_latest_if(bucket, key, versioning, None).await?;
        Ok(done.expect("no expectation to fail"))
    }

    /// [`MetaStore::delete_latest`] only if the current version is still
    /// `listed` (lifecycle expiring what it read, not what a client wrote
    /// since); `None` if it is not.
    pub async fn expire_latest(
        &self,
        bucket: &str,
        key: &str,
        versioning: Versioning,
        listed: &ObjectMeta,
    ) -> Result<Option<Committed>, MetaError> {
        if versioning == Versioning::Unversioned {
            let write = ObjectWrite {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                value: None,
                condition: RowCondition::Is(Box::new(listed.clone())),
            };
            let done = self.write_objects(bucket, vec![write], None).await?;
            return Ok(done.ok().map(|()| Committed {
                version_id: None,
                displaced: Some(listed.clone()),
            }));
        }
        self.delete_latest_if(bucket, key, versioning, Some(listed))
            .await
    }

    async fn delete_latest_if(
        &self,
        bucket: &str,
        key: &str,
        versioning: Versioning,
        expected: Option<&ObjectMeta>,
    ) -> Result<Option<Committed>, MetaError> {
        for _ in 0..ATTEMPTS {
            let current = self.object(bucket, key).await?;
            if expected.is_some_and(|e| current.as_ref() != Some(e)) {
                return Ok(None);
            }
            let newest = match &current {
                Some(c) => Some(stamp_of(c)),
                None => self
                    .newest_noncurrent(bucket, key)
                    .await?
                    .map(|(_, m)| stamp_of(&m)),
            };
            let stamp = next_stamp(newest, now_ms());
            let marker = ObjectMeta {
                last_modified: now_ms(),
                delete_marker: true,
                version_seq: stamp,
                version_id: (versioning == Versioning::Enabled).then(|| new_version_id(stamp)),
                ..Default::default()
            };
            let mut writes = vec![ObjectWrite {
                bucket: versions_namespace(bucket),
                key: history_key(key, stamp),
                value: Some(marker.clone()),
                condition: RowCondition::Absent,
            }];
            // The current row goes (if it is still what was read), or must
            // still be absent: a version written meanwhile is not buried
            // under a marker stamped from an older read.
            writes.push(ObjectWrite {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                value: None,
                condition: RowCondition::unchanged(current.as_ref()),
            });
            let displaced = self
                .retire(bucket, key, current, versioning, &mut writes)
                .await?;
            if self.write_objects(bucket, writes, None).await?.is_ok() {
                return Ok(Some(Committed {
                    version_id: marker.version_id,
                    displaced,
                }));
            }
        }
        Err(too_busy(bucket, key))
    }

    /// Adds to `writes` what becomes of `current` once a newer version
    /// replaces it (the caller's first write replaces or removes its row):
    /// kept as a noncurrent version, or, for a null version superseded
    /// while versioning is suspended, gone (returned, to delete its
    /// shards). While suspended, a null version among the noncurrent ones
    /// goes too.
    async fn retire(
        &self,
        bucket: &str,
        key: &str,
        current: Option<ObjectMeta>,
        versioning: Versioning,
        writes: &mut Vec<ObjectWrite>,
    ) -> Result<Option<ObjectMeta>, MetaError> {
        let suspended = versioning == Versioning::Suspended;
        match current {
            Some(c) if suspended && c.version_id.is_none() => return Ok(Some(c)),
            Some(c) => writes.push(ObjectWrite {
                bucket: versions_namespace(bucket),
                key: history_key(key, stamp_of(&c)),
                value: Some(c),
                condition: RowCondition::Absent,
            }),
            None => {}
        }
        if !suspended {
            return Ok(None);
        }
        let Some((at, null)) = self.null_noncurrent(bucket, key).await? else {
            return Ok(None);
        };
        writes.push(ObjectWrite {
            bucket: versions_namespace(bucket),
            key: at,
            value: None,
            condition: RowCondition::unchanged(Some(&null)),
        });
        Ok((!null.delete_marker).then_some(null))
    }

    /// The newest noncurrent version of `key` (or delete marker), with its
    /// row key.
    async fn newest_noncurrent(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(String, ObjectMeta)>, MetaError> {
        Ok(self.noncurrent(bucket, key, 1).await?.into_iter().next())
    }

    /// Up to `limit` noncurrent versions of `key`, newest first, with
    /// their row keys.
    async fn noncurrent(
        &self,
        bucket: &str,
        key: &str,
        limit: usize,
    ) -> Result<Vec<(String, ObjectMeta)>, MetaError> {
        let page = self
            .list_objects(
                &versions_namespace(bucket),
                &ListQuery {
                    prefix: history_prefix(key),
                    delimiter: None,
                    start_after: None,
                    max_keys: limit,
                },
            )
            .await?;
        Ok(page.objects)
    }

    /// The null version of `key` among its noncurrent versions, with its
    /// row key.
    async fn null_noncurrent(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(String, ObjectMeta)>, MetaError> {
        let namespace = versions_namespace(bucket);
        let mut after = None;
        loop {
            let page = self
                .list_objects(
                    &namespace,
                    &ListQuery {
                        prefix: history_prefix(key),
                        delimiter: None,
                        start_after: after.take(),
                        max_keys: 1000,
                    },
                )
                .await?;
            if let Some(found) = page
                .objects
                .iter()
                .find(|(_, meta)| meta.version_id.is_none())
            {
                return Ok(Some(found.clone()));
            }
            if !page.is_truncated {
                return Ok(None);
            }
            after = page.objects.last().map(|(k, _)| k.clone());
        }
    }

    /// Version `version_id` (or `null`) of `key`: the version, where its
    /// row is, and whether it is the newest.
    pub async fn version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<(ObjectMeta, StoredAt, bool)>, MetaError> {
        let current = self.object(bucket, key).await?;
        if let Some(c) = current.as_ref().filter(|c| shown_id(c) == version_id) {
            let at = StoredAt {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            };
            return Ok(Some((c.clone(), at, true)));
        }
        let Some((row, meta)) = self.noncurrent_version(bucket, key, version_id).await? else {
            return Ok(None);
        };
        let newest = current.is_none()
            && self
                .newest_noncurrent(bucket, key)
                .await?
                .is_some_and(|(top, _)| top == row);
        let at = StoredAt {
            bucket: versions_namespace(bucket),
            key: row,
        };
        Ok(Some((meta, at, newest)))
    }

    /// Noncurrent version `version_id` of `key`, with its row key.
    async fn noncurrent_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<(String, ObjectMeta)>, MetaError> {
        if version_id == NULL_VERSION {
            return self.null_noncurrent(bucket, key).await;
        }
        let Some(stamp) = parse_stamp(version_id) else {
            return Ok(None);
        };
        let row = history_key(key, stamp);
        Ok(self
            .object(&versions_namespace(bucket), &row)
            .await?
            .filter(|m| m.version_id.as_deref() == Some(version_id))
            .map(|m| (row, m)))
    }

    /// The delete marker that hides `key`, if its newest version is one.
    pub async fn hiding_marker(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectMeta>, MetaError> {
        Ok(self
            .newest_noncurrent(bucket, key)
            .await?
            .map(|(_, m)| m)
            .filter(|m| m.delete_marker))
    }

    /// Replaces version `version_id` of `key` with what `change` makes of
    /// it, if it still is what was read (read again and retried when a
    /// racing writer changed it). `change` may refuse with an error of its
    /// own; `None` if there is no such version.
    pub async fn update_version<E>(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        mut change: impl FnMut(&mut ObjectMeta) -> Result<(), E>,
    ) -> Result<Option<Result<ObjectMeta, E>>, MetaError> {
        for _ in 0..ATTEMPTS {
            let found = match version_id {
                Some(id) => self.version(bucket, key, id).await?,
                None => self.object(bucket, key).await?.map(|m| {
                    let at = StoredAt {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    };
                    (m, at, true)
                }),
            };
            let Some((old, at, _)) = found else {
                return Ok(None);
            };
            let mut new = old.clone();
            if let Err(e) = change(&mut new) {
                return Ok(Some(Err(e)));
            }
            if self.replace_version(bucket, &at, &old, &new).await? {
                return Ok(Some(Ok(new)));
            }
        }
        Err(too_busy(bucket, key))
    }

    /// Replaces the version stored `at` (in `bucket` or its versions
    /// namespace) with `new` if it still is `old`; `false` if it changed.
    pub async fn replace_version(
        &self,
        bucket: &str,
        at: &StoredAt,
        old: &ObjectMeta,
        new: &ObjectMeta,
    ) -> Result<bool, MetaError> {
        let write = ObjectWrite {
            bucket: at.bucket.clone(),
            key: at.key.clone(),
            value: Some(new.clone()),
            condition: RowCondition::Is(Box::new(old.clone())),
        };
        Ok(self.write_objects(bucket, vec![write], None).await?.is_ok())
    }

    /// Deletes version `version_id` of `key` for good, if `allow` lets
    /// it. When it was the newest, the next newest takes its place (unless
    /// that is a delete marker, which then hides the key). Returns the
    /// version deleted (`None`: there was none), or `allow`'s refusal.
    pub async fn delete_version<E>(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        allow: impl Fn(&ObjectMeta) -> Result<(), E>,
    ) -> Result<Result<Option<ObjectMeta>, E>, MetaError> {
        let namespace = versions_namespace(bucket);
        for _ in 0..ATTEMPTS {
            let current = self.object(bucket, key).await?;
            let older = self.noncurrent(bucket, key, 2).await?;
            let mut writes = Vec::new();
            let victim;
            if let Some(c) = current.as_ref().filter(|c| shown_id(c) == version_id) {
                // The current version goes; the next newest is promoted.
                victim = c.clone();
                let promoted = older.first().filter(|(_, m)| !m.delete_marker);
                writes.push(ObjectWrite {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    value: promoted.map(|(_, m)| m.clone()),
                    condition: RowCondition::unchanged(Some(c)),
                });
                if let Some((row, m)) = promoted {
                    writes.push(ObjectWrite {
                        bucket: namespace.clone(),
                        key: row.clone(),
                        value: None,
                        condition: RowCondition::unchanged(Some(m)),
                    });
                }
            } else {
                let Some((row, v)) = self.noncurrent_version(bucket, key, version_id).await? else {
                    return Ok(Ok(None));
                };
                victim = v.clone();
                writes.push(ObjectWrite {
                    bucket: namespace.clone(),
                    key: row.clone(),
                    value: None,
                    condition: RowCondition::unchanged(Some(&v)),
                });
                // The newest entry going with no current version: the one
                // under it becomes current, unless it is a marker.
                let was_newest = older.first().is_some_and(|(top, _)| *top == row);
                if current.is_none()
                    && was_newest
                    && let Some((next_row, next)) = older.get(1).filter(|(_, m)| !m.delete_marker)
                {
                    writes.push(ObjectWrite {
                        bucket: namespace.clone(),
                        key: next_row.clone(),
                        value: None,
                        condition: RowCondition::unchanged(Some(next)),
                    });
                    writes.push(ObjectWrite {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                        value: Some(next.clone()),
                        condition: RowCondition::Absent,
                    });
                }
            }
            if let Err(refused) = allow(&victim) {
                return Ok(Err(refused));
            }
            if self.write_objects(bucket, writes, None).await?.is_ok() {
                return Ok(Ok(Some(victim)));
            }
        }
        Err(too_busy(bucket, key))
    }

    /// One page of the versions of `bucket`'s keys, as `q` asks.
    pub async fn list_versions(
        &self,
        bucket: &str,
        q: &VersionQuery,
    ) -> Result<VersionPage, MetaError> {
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let rolled_up = |key: &str| -> Option<String> {
            let d = delimiter?;
            let rest = key.strip_prefix(q.prefix.as_str())?;
            rest.find(d)
                .map(|at| key[..q.prefix.len() + at + d.len()].to_owned())
        };
        // Past every key under a common prefix (keys holding U+10FFFF
        // right after one are not supported).
        let past_prefix = |common: &str| format!("{common}\u{10FFFF}");
        let mut page = VersionPage::default();
        // Where each stream starts.
        let (mut current_after, mut history_after) = (None, None);
        if let Some(marker) = q.key_marker.as_deref() {
            if let Some(common) = rolled_up(marker) {
                current_after = Some(past_prefix(&common));
                history_after = current_after.clone();
            } else {
                current_after = Some(marker.to_owned());
                history_after = Some(past_history(marker));
                if let Some(v) = q.version_id_marker.as_deref() {
                    let current = self.object(bucket, marker).await?;
                    if current.as_ref().is_some_and(|c| shown_id(c) == v) {
                        history_after = Some(history_prefix(marker));
                    } else if let Some(stamp) = parse_stamp(v) {
                        // Where that version's row is (or was: the bound is
                        // exclusive, so a version deleted between pages
                        // skips nothing older).
                        history_after = Some(history_key(marker, stamp));
                    } else if let Some((row, _)) =
                        self.noncurrent_version(bucket, marker, v).await?
                    {
                        history_after = Some(row);
                    }
                }
            }
        }
        let resumed_in = history_after
            .as_deref()
            .filter(|a| a.contains('\0'))
            .map(|a| base_key(a).to_owned());
        let mut current = Cursor::new(bucket.to_owned(), &q.prefix, current_after);
        let mut history = Cursor::new(versions_namespace(bucket), &q.prefix, history_after);
        // The last key met in either stream, and whether it had a current
        // version.
        let mut last_key: Option<(String, bool)> = resumed_in.map(|k| (k, true));
        let mut last_common: Option<String> = None;
        let mut count = 0usize;
        loop {
            let c_key = current.peek(self).await?.map(|(k, _)| k.clone());
            let h_key = history
                .peek(self)
                .await?
                .map(|(k, _)| base_key(k).to_owned());
            let (key, from_current) = match (c_key, h_key) {
                (None, None) => break,
                (Some(c), Some(h)) if c <= h => (c, true),
                (Some(c), None) => (c, true),
                (_, Some(h)) => (h, false),
            };
            if let Some(common) = rolled_up(&key) {
                if last_common.as_deref() != Some(common.as_str()) {
                    if count == q.max_keys {
                        page.is_truncated = true;
                        break;
                    }
                    page.common_prefixes.push(common.clone());
                    count += 1;
                    page.next_key_marker = Some(common.clone());
                    page.next_version_id_marker = None;
                    last_common = Some(common.clone());
                }
                let past = past_prefix(&common);
                current.seek(past.clone());
                history.seek(past);
                continue;
            }
            if count == q.max_keys {
                page.is_truncated = true;
                break;
            }
            let (meta, is_latest) = if from_current {
                let (_, meta) = current.take().expect("peeked");
                last_key = Some((key.clone(), true));
                (meta, true)
            } else {
                let (_, meta) = history.take().expect("peeked");
                let first_of_key = last_key.as_ref().is_none_or(|(k, _)| *k != key);
                if first_of_key {
                    last_key = Some((key.clone(), false));
                }
                (meta, first_of_key)
            };
            page.next_key_marker = Some(key.clone());
            page.next_version_id_marker = Some(shown_id(&meta).to_owned());
            page.entries.push(VersionEntry {
                key,
                meta,
                is_latest,
            });
            count += 1;
        }
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_version_id_marker = None;
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_sort_newest_first_and_inside_their_key() {
        let (a, b) = (history_key("k", 5), history_key("k", 9));
        assert!(b < a, "newer first");
        assert!(history_prefix("k") < b);
        assert!(a < past_history("k"));
        assert!(past_history("k").as_str() < "k\u{1}");
        assert!(past_history("k").as_str() < "ka");
        assert_eq!(base_key(&a), "k");
    }

    #[test]
    fn version_ids_carry_their_stamp() {
        let stamp = next_stamp(None, 1_700_000_000_000);
        let id = new_version_id(stamp);
        assert_eq!(parse_stamp(&id), Some(stamp));
        assert!(is_valid_version_id(&id));
        assert!(is_valid_version_id("null"));
        assert!(!is_valid_version_id("nope"));
        assert!(!is_valid_version_id(&id[1..]));
        // Never at or below the version superseded, even with a clock
        // behind it.
        assert_eq!(next_stamp(Some(u64::MAX - 1), 5), u64::MAX);
        assert!(next_stamp(Some(3), 1_700_000_000_000) > 3);
    }

    #[test]
    fn versioning_states_round_trip_through_their_byte() {
        for v in [
            Versioning::Unversioned,
            Versioning::Enabled,
            Versioning::Suspended,
        ] {
            assert_eq!(Versioning::from_bytes(&[v.to_byte()]), Some(v));
        }
        assert_eq!(Versioning::from_bytes(&[7]), None);
    }
}
