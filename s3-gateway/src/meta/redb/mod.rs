//! The embedded backend: the whole metadata store in one redb database
//! (the default; a single gateway owns the file).
//!
//! Tables:
//! * `access_keys`: access key id → secret, sealed under the master key
//!   (see `access_keys`; databases from before sealing are migrated), and
//!   `key_flags`: id → flags (may it create buckets);
//! * `buckets`: name → region, owner, creation time;
//! * `objects`: `bucket 0x00 key` → [`ObjectMeta`] (bucket names never hold a
//!   NUL, so each bucket is one contiguous range in S3's binary key order);
//! * `uploads`: upload id → bucket, key, initiation time, template;
//! * `uploads_by_bucket`: `bucket 0x00 upload id` → `()`, so emptiness checks
//!   and ListMultipartUploads read only one bucket's uploads;
//! * `parts`: `upload id ‖ part number (big endian)` → [`PartLayout`];
//! * `part_checksums`: the same keys → the part's checksum (base64), when
//!   the upload asked for one (for the object's composite checksum);
//! * `counters`: named counters (the upload creation sequence);
//! * `bucket_acls`: bucket name → its ACL, if not private, and
//!   `bucket_grants`: (bucket, key id) → what that key may do (see `acl`);
//! * `settings`: gateway-wide values, and `leases` (see `settings`);
//! * the health tables (node audit history, bad shards, repair and
//!   rebalance queues): see the `health` module.
//!
//! Values are a version byte followed by postcard. Every operation is one
//! redb transaction (object puts through the group committer share one
//! with the puts that arrived at the same time), so a replaced or deleted
//! manifest is returned from the same snapshot that removed it, and a
//! bucket cannot be deleted while an object is being put into it. redb
//! calls are quick and synchronous; the async methods run them in place,
//! except the fsyncing object commits, which the committer thread does.

mod access_keys;
mod acl;
mod backend;
mod committer;
mod configs;
mod health;
pub mod journal;
mod list;
mod settings;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::meta::listing::prefix_successor;

use super::names::{self, UPLOAD_ID_LEN};
use super::types::{BucketRecord, UploadRecord, bucket_base, decode, encode, object_key};
use super::versions::{history_prefix, supersede};
use super::{
    BatchRefused, BucketAcl, BucketInfo, Completion, ConditionFailed, ListPage, ListQuery,
    MetaError, ObjectMeta, ObjectWrite, PartLayout, RowCondition, UploadState, WriteCondition,
    owning_bucket, versions_namespace,
};
use committer::Committer;
use journal::{Journal, Marks, Table};

const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
const UPLOADS_BY_BUCKET: TableDefinition<&[u8], ()> = TableDefinition::new("uploads_by_bucket");
const PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("parts");
const PART_CHECKSUMS: TableDefinition<&[u8], &str> = TableDefinition::new("part_checksums");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const UPLOAD_SEQ: &str = "upload_seq";

/// The redb backend. Cheap to clone; clones share the database and its
/// committer, and the file is closed when the last clone is dropped.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    committer: Arc<Committer>,
    journal: Arc<Journal>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn part_key(upload_id: &str, part_number: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(upload_id.len() + 4);
    k.extend_from_slice(upload_id.as_bytes());
    k.extend_from_slice(&part_number.to_be_bytes());
    k
}

fn upload_index_key(bucket: &str, upload_id: &str) -> Vec<u8> {
    let mut k = bucket_base(bucket);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

/// Whether any key of `table` starts with `prefix`.
fn any_with_prefix<V, T>(table: &T, prefix: &[u8]) -> Result<bool, MetaError>
where
    V: redb::Value + 'static,
    T: ReadableTable<&'static [u8], V>,
{
    let mut range = table.range::<&[u8]>(prefix..)?;
    match range.next() {
        Some(entry) => Ok(entry?.0.value().starts_with(prefix)),
        None => Ok(false),
    }
}

/// The parts of `upload_id` in `table`, by part number.
fn parts_of<T>(table: &T, upload_id: &str) -> Result<Vec<PartLayout>, MetaError>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let lo = part_key(upload_id, 0);
    let hi = part_key(upload_id, u32::MAX);
    let mut parts = Vec::new();
    for entry in table.range::<&[u8]>(lo.as_slice()..=hi.as_slice())? {
        let (_, v) = entry?;
        parts.push(decode(v.value(), "part")?);
    }
    Ok(parts)
}

/// Creates `path` empty with mode 0600 if it does not exist (redb then
/// initialises it), or narrows an existing file's mode to 0600.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the metadata store was readable by others; narrowed to 0600");
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl RedbStore {
    /// Opens the database at `path`, creating the file and its tables if
    /// needed.
    ///
    /// The file is created readable by its owner only (0600), and an
    /// existing one that others may read is narrowed to that.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        private_file(path).map_err(|source| MetaError::File {
            path: path.to_owned(),
            source,
        })?;
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(access_keys::ACCESS_KEYS)?;
        txn.open_table(access_keys::KEY_FLAGS)?;
        txn.open_table(access_keys::KEY_NAMES)?;
        txn.open_table(BUCKETS)?;
        txn.open_table(OBJECTS)?;
        txn.open_table(UPLOADS)?;
        txn.open_table(UPLOADS_BY_BUCKET)?;
        txn.open_table(PARTS)?;
        txn.open_table(PART_CHECKSUMS)?;
        txn.open_table(COUNTERS)?;
        txn.open_table(acl::BUCKET_ACLS)?;
        txn.open_table(acl::BUCKET_GRANTS)?;
        txn.open_table(configs::BUCKET_CONFIGS)?;
        txn.open_table(settings::SETTINGS)?;
        txn.open_table(settings::LEASES)?;
        Self::open_health_tables(&txn)?;
        txn.commit()?;
        tracing::debug!(path = %path.display(), "metadata store open");
        let db = Arc::new(db);
        let journal = Arc::new(Journal::default());
        Ok(Self {
            committer: Arc::new(Committer::spawn(db.clone(), journal.clone())),
            db,
            journal,
        })
    }

    // ---- buckets ----

    /// Creates bucket `name` in `region`, owned by `owner` (an access key
    /// id), with `acl`.
    fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner: &str,
        acl: BucketAcl,
        configs: &[(&str, &[u8])],
    ) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        let mut marks = Marks::default();
        {
            let mut table = txn.open_table(BUCKETS)?;
            if let Some(existing) = table.get(name)? {
                let existing: BucketRecord = decode(existing.value(), "bucket")?;
                return Err(if existing.owner == owner {
                    MetaError::BucketAlreadyOwnedByYou
                } else {
                    MetaError::BucketAlreadyExists
                });
            }
            let record = BucketRecord {
                region: region.to_owned(),
                owner: owner.to_owned(),
                created: now_ms(),
            };
            table.insert(name, encode(&record).as_slice())?;
        }
        acl::put(&txn, name, acl)?;
        configs::put_all(&txn, name, configs, &mut marks)?;
        txn.commit()?;
        marks.row(Table::Buckets, name);
        marks.row(Table::BucketAcls, name);
        self.journal.record(marks);
        Ok(())
    }

    /// Bucket `name`, if it exists.
    fn bucket(&self, name: &str) -> Result<Option<BucketInfo>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BUCKETS)?;
        let Some(v) = table.get(name)? else {
            return Ok(None);
        };
        let record: BucketRecord = decode(v.value(), "bucket")?;
        Ok(Some(BucketInfo {
            name: name.to_owned(),
            region: record.region,
            owner: record.owner,
            created: record.created,
            acl: acl::get(&txn.open_table(acl::BUCKET_ACLS)?, name)?,
        }))
    }

    /// Every bucket, sorted by name.
    fn list_buckets(&self) -> Result<Vec<BucketInfo>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BUCKETS)?;
        let acls = txn.open_table(acl::BUCKET_ACLS)?;
        let mut buckets = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            let record: BucketRecord = decode(v.value(), "bucket")?;
            buckets.push(BucketInfo {
                name: k.value().to_owned(),
                region: record.region,
                owner: record.owner,
                created: record.created,
                acl: acl::get(&acls, k.value())?,
            });
        }
        Ok(buckets)
    }

    /// Deletes bucket `name`, which must hold no objects and no multipart
    /// uploads in progress.
    fn delete_bucket(&self, name: &str) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        let mut marks = Marks::default();
        marks.row(Table::Buckets, name);
        marks.row(Table::BucketAcls, name);
        {
            let mut buckets = txn.open_table(BUCKETS)?;
            if buckets.get(name)?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            let base = bucket_base(name);
            let objects = txn.open_table(OBJECTS)?;
            // Noncurrent versions and delete markers count, as on AWS.
            if any_with_prefix(&objects, &base)?
                || any_with_prefix(&objects, &bucket_base(&versions_namespace(name)))?
            {
                return Err(MetaError::BucketNotEmpty);
            }
            drop(objects);
            buckets.remove(name)?;
            // Unfinished multipart uploads go with the bucket, as on AWS
            // (their parts' shards are then collected).
            let mut index = txn.open_table(UPLOADS_BY_BUCKET)?;
            let mut ids = Vec::new();
            for entry in index.range::<&[u8]>(base.as_slice()..)? {
                let (k, _) = entry?;
                let Some(id) = k.value().strip_prefix(base.as_slice()) else {
                    break;
                };
                ids.push(String::from_utf8_lossy(id).into_owned());
            }
            let mut uploads = txn.open_table(UPLOADS)?;
            let mut parts = txn.open_table(PARTS)?;
            let mut checksums = txn.open_table(PART_CHECKSUMS)?;
            for id in ids {
                marks.row(Table::UploadsByBucket, upload_index_key(name, &id));
                marks.row(Table::Uploads, &id);
                marks.prefix(Table::Parts, &id);
                marks.prefix(Table::PartChecksums, &id);
                index.remove(upload_index_key(name, &id).as_slice())?;
                uploads.remove(id.as_str())?;
                let lo = part_key(&id, 0);
                let hi = part_key(&id, u32::MAX);
                parts.retain_in::<&[u8], _>(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
                checksums.retain_in::<&[u8], _>(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
            }
        }
        acl::put(&txn, name, BucketAcl::Private)?;
        for key in acl::remove_grants(&txn, name)? {
            marks.grant(name, &key);
        }
        for kind in configs::remove_all(&txn, name)? {
            marks.config(name, &kind);
        }
        txn.commit()?;
        self.journal.record(marks);
        tracing::info!(bucket = name, "bucket deleted");
        Ok(())
    }

    // ---- objects ----

    /// Object `key` of `bucket`, if it exists (also `None` if the bucket
    /// does not exist; use [`MetaStore::bucket`] to tell the two apart).
    fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OBJECTS)?;
        table
            .get(object_key(bucket, key).as_slice())?
            .map(|v| decode(v.value(), "object"))
            .transpose()
    }

    /// Deletes object `key` of `bucket`; returns what was deleted (`None`
    /// if there was no such object, which S3 still answers with success).
    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, MetaError> {
        let txn = self.db.begin_write()?;
        let removed = {
            if txn.open_table(BUCKETS)?.get(bucket)?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            let mut objects = txn.open_table(OBJECTS)?;
            let old = objects.remove(object_key(bucket, key).as_slice())?;
            old.and_then(|v| match decode(v.value(), "object") {
                Ok(meta) => Some(meta),
                Err(e) => {
                    tracing::warn!(bucket, key, error = %e, "deleted an unreadable manifest");
                    None
                }
            })
        };
        txn.commit()?;
        let mut marks = Marks::default();
        marks.row(Table::Objects, object_key(bucket, key));
        self.journal.record(marks);
        Ok(removed)
    }

    /// One page of the objects of `bucket`, as `q` asks (see [`ListQuery`]).
    fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, MetaError> {
        let txn = self.db.begin_read()?;
        if txn
            .open_table(BUCKETS)?
            .get(owning_bucket(bucket))?
            .is_none()
        {
            return Err(MetaError::NoSuchBucket);
        }
        list::list(&txn.open_table(OBJECTS)?, bucket, q)
    }

    // ---- multipart uploads ----

    /// Starts a multipart upload of `key` into `bucket`; `meta_template`
    /// carries the object attributes given at creation (content type, user
    /// metadata, encryption key, ...). Returns the new upload id.
    fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        meta_template: &ObjectMeta,
    ) -> Result<String, MetaError> {
        let txn = self.db.begin_write()?;
        let upload_id = {
            if txn.open_table(BUCKETS)?.get(bucket)?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            let mut uploads = txn.open_table(UPLOADS)?;
            let upload_id = loop {
                let id = names::new_upload_id();
                if uploads.get(id.as_str())?.is_none() {
                    break id;
                }
            };
            let mut counters = txn.open_table(COUNTERS)?;
            let seq = counters.get(UPLOAD_SEQ)?.map_or(0, |v| v.value()) + 1;
            counters.insert(UPLOAD_SEQ, seq)?;
            let record = UploadRecord {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                initiated: now_ms(),
                seq,
                template: meta_template.clone(),
            };
            uploads.insert(upload_id.as_str(), encode(&record).as_slice())?;
            txn.open_table(UPLOADS_BY_BUCKET)?
                .insert(upload_index_key(bucket, &upload_id).as_slice(), ())?;
            upload_id
        };
        txn.commit()?;
        let mut marks = Marks::default();
        marks.row(Table::Counters, UPLOAD_SEQ);
        marks.row(Table::Uploads, &upload_id);
        marks.row(Table::UploadsByBucket, upload_index_key(bucket, &upload_id));
        self.journal.record(marks);
        tracing::debug!(bucket, key, upload_id, "multipart upload created");
        Ok(upload_id)
    }

    /// Records `part` of upload `upload_id`, replacing (and returning) an
    /// earlier part with the same number, with the part's checksum (base64, of
    /// the algorithm the upload was created with) in the same transaction;
    /// `None` forgets any the replaced part had.
    fn put_part_with_checksum(
        &self,
        upload_id: &str,
        part: &PartLayout,
        checksum: Option<&str>,
    ) -> Result<Option<PartLayout>, MetaError> {
        let txn = self.db.begin_write()?;
        let replaced = {
            if upload_id.len() != UPLOAD_ID_LEN
                || txn.open_table(UPLOADS)?.get(upload_id)?.is_none()
            {
                return Err(MetaError::NoSuchUpload);
            }
            let mut parts = txn.open_table(PARTS)?;
            let key = part_key(upload_id, part.part_number);
            let old = parts.insert(key.as_slice(), encode(part).as_slice())?;
            let mut sums = txn.open_table(PART_CHECKSUMS)?;
            match checksum {
                Some(sum) => sums.insert(key.as_slice(), sum)?,
                None => sums.remove(key.as_slice())?,
            };
            old.map(|v| decode(v.value(), "part")).transpose()?
        };
        txn.commit()?;
        let mut marks = Marks::default();
        let key = part_key(upload_id, part.part_number);
        marks.row(Table::Parts, &key);
        marks.row(Table::PartChecksums, &key);
        self.journal.record(marks);
        Ok(replaced)
    }

    /// The state of upload `upload_id`, if it is in progress.
    fn upload(&self, upload_id: &str) -> Result<Option<UploadState>, MetaError> {
        if upload_id.len() != UPLOAD_ID_LEN {
            return Ok(None);
        }
        let txn = self.db.begin_read()?;
        let Some(v) = txn.open_table(UPLOADS)?.get(upload_id)? else {
            return Ok(None);
        };
        let record: UploadRecord = decode(v.value(), "upload")?;
        let parts = parts_of(&txn.open_table(PARTS)?, upload_id)?;
        Ok(Some((record.bucket, record.key, record.template, parts)))
    }

    /// The recorded checksums of the parts of upload `upload_id`, as (part
    /// number, base64 value), by part number.
    fn part_checksums(&self, upload_id: &str) -> Result<Vec<(u32, String)>, MetaError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PART_CHECKSUMS)?;
        let lo = part_key(upload_id, 0);
        let hi = part_key(upload_id, u32::MAX);
        let mut out = Vec::new();
        for entry in table.range::<&[u8]>(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = entry?;
            let number = k.value()[upload_id.len()..]
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| MetaError::Corrupt("part checksum key".into()))?;
            out.push((number, v.value().to_owned()));
        }
        Ok(out)
    }

    /// The uploads in progress in `bucket` whose key starts with `prefix`, as
    /// (key, upload id, initiated in unix ms), sorted by key (binary order),
    /// then initiation (creation order).
    fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String, u64)>, MetaError> {
        let txn = self.db.begin_read()?;
        if txn.open_table(BUCKETS)?.get(bucket)?.is_none() {
            return Err(MetaError::NoSuchBucket);
        }
        let index = txn.open_table(UPLOADS_BY_BUCKET)?;
        let uploads = txn.open_table(UPLOADS)?;
        let base = bucket_base(bucket);
        let end = prefix_successor(&base).expect("the base ends with 0x00");
        let mut found = Vec::new();
        for entry in index.range::<&[u8]>(base.as_slice()..end.as_slice())? {
            let (k, _) = entry?;
            let upload_id = std::str::from_utf8(&k.value()[base.len()..])
                .map_err(|_| MetaError::Corrupt("upload id is not UTF-8".into()))?;
            let v = uploads.get(upload_id)?.ok_or_else(|| {
                MetaError::Corrupt(format!("indexed upload {upload_id} is missing"))
            })?;
            let record: UploadRecord = decode(v.value(), "upload")?;
            if record.key.starts_with(prefix) {
                found.push((
                    record.key,
                    record.initiated,
                    record.seq,
                    upload_id.to_owned(),
                ));
            }
        }
        found.sort();
        Ok(found
            .into_iter()
            .map(|(key, initiated, _, id)| (key, id, initiated))
            .collect())
    }

    /// Forgets upload `upload_id` and its parts (after an abort, or once
    /// completed); returns the parts it had, or `None` if there was no such
    /// upload.
    fn remove_upload(&self, upload_id: &str) -> Result<Option<Vec<PartLayout>>, MetaError> {
        if upload_id.len() != UPLOAD_ID_LEN {
            return Ok(None);
        }
        let txn = self.db.begin_write()?;
        let mut marks = Marks::default();
        let Some(parts) = remove_upload_in(&txn, upload_id, &mut marks)? else {
            return Ok(None);
        };
        txn.commit()?;
        self.journal.record(marks);
        Ok(Some(parts))
    }
}

/// Forgets upload `upload_id` (its record, index entry, parts and part
/// checksums) within write transaction `txn`, marking what changed;
/// returns the parts it had (`None`: no such upload).
fn remove_upload_in(
    txn: &redb::WriteTransaction,
    upload_id: &str,
    marks: &mut Marks,
) -> Result<Option<Vec<PartLayout>>, MetaError> {
    let mut uploads = txn.open_table(UPLOADS)?;
    let Some(v) = uploads.remove(upload_id)? else {
        return Ok(None);
    };
    let record: UploadRecord = decode(v.value(), "upload")?;
    drop(v);
    drop(uploads);
    marks.row(Table::Uploads, upload_id);
    marks.row(
        Table::UploadsByBucket,
        upload_index_key(&record.bucket, upload_id),
    );
    marks.prefix(Table::Parts, upload_id);
    marks.prefix(Table::PartChecksums, upload_id);
    txn.open_table(UPLOADS_BY_BUCKET)?
        .remove(upload_index_key(&record.bucket, upload_id).as_slice())?;
    let mut table = txn.open_table(PARTS)?;
    let parts = parts_of(&table, upload_id)?;
    let lo = part_key(upload_id, 0);
    let hi = part_key(upload_id, u32::MAX);
    table.retain_in::<&[u8], _>(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
    txn.open_table(PART_CHECKSUMS)?
        .retain_in::<&[u8], _>(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
    Ok(Some(parts))
}

/// Whether upload `completion` is still recorded, with each of the
/// completion's parts exactly as it was read.
fn completable_in(
    txn: &redb::WriteTransaction,
    completion: &Completion,
) -> Result<bool, MetaError> {
    let id = completion.upload_id.as_str();
    if id.len() != UPLOAD_ID_LEN || txn.open_table(UPLOADS)?.get(id)?.is_none() {
        return Ok(false);
    }
    let table = txn.open_table(PARTS)?;
    for part in &completion.parts {
        let key = part_key(id, part.part_number);
        let Some(v) = table.get(key.as_slice())? else {
            return Ok(false);
        };
        let recorded: PartLayout = decode(v.value(), "part")?;
        if recorded != *part {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Puts `meta` as object `key` of `bucket` within a write transaction's
/// tables: the bucket must exist, and `condition` must hold over the
/// current object, else nothing is written. Returns the manifest replaced.
/// A current record this build cannot read is replaced all the same when
/// there is no condition (only its shards are lost to garbage collection);
/// a condition needs it, so then it is an error.
pub(super) fn put_in(
    buckets: &redb::Table<'_, &str, &[u8]>,
    objects: &mut redb::Table<'_, &[u8], &[u8]>,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    condition: &WriteCondition,
) -> Result<Result<Option<ObjectMeta>, ConditionFailed>, MetaError> {
    if buckets.get(bucket)?.is_none() {
        return Err(MetaError::NoSuchBucket);
    }
    let k = object_key(bucket, key);
    let current: Option<ObjectMeta> = match objects.get(k.as_slice())? {
        Some(v) => match decode(v.value(), "object") {
            Ok(meta) => Some(meta),
            Err(e) if *condition == WriteCondition::Always => {
                tracing::warn!(bucket, key, error = %e, "replacing an unreadable manifest");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    if let Err(refused) = condition.check(current.as_ref().map(|m| m.etag.as_str())) {
        return Ok(Err(refused));
    }
    objects.insert(k.as_slice(), encode(meta).as_slice())?;
    Ok(Ok(current))
}

/// Writes a batch of rows within a write transaction's tables if `bucket`
/// exists and every row's condition holds over what it holds now; else
/// nothing, and `Err(i)` names the first row whose condition failed. A
/// conditioned row this build cannot read is an error.
pub(super) fn write_in(
    buckets: &redb::Table<'_, &str, &[u8]>,
    objects: &mut redb::Table<'_, &[u8], &[u8]>,
    bucket: &str,
    writes: &[ObjectWrite],
) -> Result<Result<(), BatchRefused>, MetaError> {
    if buckets.get(bucket)?.is_none() {
        return Err(MetaError::NoSuchBucket);
    }
    for (i, write) in writes.iter().enumerate() {
        if owning_bucket(&write.bucket) != bucket {
            return Err(MetaError::Corrupt(format!(
                "a write to {} in a batch for bucket {bucket}",
                write.bucket
            )));
        }
        if write.condition == RowCondition::Any {
            continue;
        }
        let k = object_key(&write.bucket, &write.key);
        let current: Option<ObjectMeta> = objects
            .get(k.as_slice())?
            .map(|v| decode(v.value(), "object"))
            .transpose()?;
        if !write.condition.holds(current.as_ref()) {
            return Ok(Err(BatchRefused::Row(i)));
        }
    }
    for write in writes {
        let k = object_key(&write.bucket, &write.key);
        match &write.value {
            Some(meta) => {
                objects.insert(k.as_slice(), encode(meta).as_slice())?;
            }
            None if write.condition == RowCondition::Absent => {}
            None => {
                objects.remove(k.as_slice())?;
            }
        }
    }
    Ok(Ok(()))
}

/// [`put_in`] with versioning enabled: the current object (if any) is
/// kept as a noncurrent version in the bucket's versions namespace, and
/// `meta` restamped above it (`versions::supersede`). Returns the manifest
/// written and the namespace row the replaced one went to.
pub(super) fn put_keeping_in(
    buckets: &redb::Table<'_, &str, &[u8]>,
    objects: &mut redb::Table<'_, &[u8], &[u8]>,
    bucket: &str,
    key: &str,
    mut meta: ObjectMeta,
    condition: &WriteCondition,
) -> Result<Result<(ObjectMeta, Option<String>), ConditionFailed>, MetaError> {
    if buckets.get(bucket)?.is_none() {
        return Err(MetaError::NoSuchBucket);
    }
    let k = object_key(bucket, key);
    // A record that cannot be read cannot be kept: an error, not a loss.
    let current: Option<ObjectMeta> = objects
        .get(k.as_slice())?
        .map(|v| decode(v.value(), "object"))
        .transpose()?;
    if let Err(refused) = condition.check(current.as_ref().map(|m| m.etag.as_str())) {
        return Ok(Err(refused));
    }
    let namespace = versions_namespace(bucket);
    let newest = match &current {
        Some(_) => None,
        None => {
            let start = object_key(&namespace, &history_prefix(key));
            let mut range = objects.range::<&[u8]>(start.as_slice()..)?;
            match range.next() {
                Some(entry) => {
                    let (row, value) = entry?;
                    if row.value().starts_with(&start) {
                        Some(decode::<ObjectMeta>(value.value(), "object")?)
                    } else {
                        None
                    }
                }
                None => None,
            }
        }
    };
    let moved = supersede(key, current.as_ref(), newest.as_ref(), &mut meta);
    if let Some((row, old)) = &moved {
        objects.insert(
            object_key(&namespace, row).as_slice(),
            encode(old).as_slice(),
        )?;
    }
    objects.insert(k.as_slice(), encode(&meta).as_slice())?;
    Ok(Ok((meta, moved.map(|(row, _)| row))))
}
