//! What the metadata backup (`crate::backup`) reads from and writes to the
//! embedded store: a consistent dump of every table that a lost disk would
//! take with it, the rows changed since the last backup, and applying
//! either to a fresh store.
//!
//! Write transactions mark the rows they change (after they commit, so a
//! backup that takes the marks and then opens a read transaction always
//! sees the committed value). A backup ships each marked row's value at
//! its read transaction, so replaying backups in order gives exactly the
//! state each one read. Health tables (audit histories, bad shards, the
//! repair queues) and leases are not backed up: a recovered gateway
//! rebuilds them by auditing. The gateway's own backup objects (bucket
//! [`INTERNAL_BUCKET`]) are not marked: the pointer record lists them.

use std::collections::HashSet;
use std::sync::Mutex;

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::access_keys::{ACCESS_KEYS, KEY_FLAGS, KEY_NAMES};
use super::acl::{BUCKET_ACLS, BUCKET_GRANTS};
use super::configs::BUCKET_CONFIGS;
use super::settings::SETTINGS;
use super::{
    BUCKETS, COUNTERS, OBJECTS, PART_CHECKSUMS, PARTS, RedbStore, UPLOADS, UPLOADS_BY_BUCKET,
};
use crate::meta::MetaError;
use crate::meta::ObjectMeta;
use crate::meta::types::{bucket_base, decode, encode, object_key};

/// The pseudo-bucket holding the gateway's own objects (its metadata
/// backups). No S3 bucket can have this name (names start with a letter
/// or digit), it has no bucket record, so it is never listed; audits,
/// repair and garbage collection treat its objects like any other.
pub const INTERNAL_BUCKET: &str = ".cairn";

/// The object keys of [`INTERNAL_BUCKET`] start with this (`bucket NUL`).
const INTERNAL_PREFIX: &[u8] = b".cairn\0";

/// Most rows marked between two backups; past it the next backup is a
/// full snapshot (the marks are dropped).
const MAX_MARKS: usize = 1_000_000;

/// A backed-up table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Table {
    /// `access_keys`.
    AccessKeys,
    /// `key_flags`.
    KeyFlags,
    /// `buckets`.
    Buckets,
    /// `objects` (without the internal bucket).
    Objects,
    /// `uploads`.
    Uploads,
    /// `uploads_by_bucket`.
    UploadsByBucket,
    /// `parts`.
    Parts,
    /// `part_checksums`.
    PartChecksums,
    /// `counters`.
    Counters,
    /// `bucket_acls`.
    BucketAcls,
    /// `bucket_grants` (key: bucket ‖ 0x00 ‖ key id).
    BucketGrants,
    /// `settings`.
    Settings,
    /// `bucket_configs` (key: bucket ‖ 0x00 ‖ kind).
    BucketConfigs,
    /// `key_names`.
    KeyNames,
}

const TABLES: [Table; 14] = [
    Table::AccessKeys,
    Table::KeyFlags,
    Table::Buckets,
    Table::Objects,
    Table::Uploads,
    Table::UploadsByBucket,
    Table::Parts,
    Table::PartChecksums,
    Table::Counters,
    Table::BucketAcls,
    Table::BucketGrants,
    Table::Settings,
    Table::BucketConfigs,
    Table::KeyNames,
];

/// One change, as a backup carries it. Keys and values are the table's
/// own bytes (strings as UTF-8, integers little endian).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Row `key` of `table` is `value`.
    Put {
        /// The table.
        table: Table,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Row `key` of `table` is gone.
    Delete {
        /// The table.
        table: Table,
        /// The key.
        key: Vec<u8>,
    },
    /// Every row of `table` whose key starts with `prefix` is gone (the
    /// rows that follow in the same backup put back those still there).
    DeletePrefix {
        /// The table.
        table: Table,
        /// The prefix.
        prefix: Vec<u8>,
    },
}

/// A row (or, with `prefix`, every row under a key prefix) a write
/// changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Mark {
    table: Table,
    key: Vec<u8>,
    prefix: bool,
}

/// The rows one write transaction changed, handed to the journal after it
/// commits.
#[derive(Default)]
pub(super) struct Marks(Vec<Mark>);

impl Marks {
    /// Row `key` of `table`.
    pub(super) fn row(&mut self, table: Table, key: impl AsRef<[u8]>) {
        let key = key.as_ref();
        if table == Table::Objects && key.starts_with(INTERNAL_PREFIX) {
            return;
        }
        self.0.push(Mark {
            table,
            key: key.to_vec(),
            prefix: false,
        });
    }

    /// Every row of `table` under `prefix`.
    pub(super) fn prefix(&mut self, table: Table, prefix: impl AsRef<[u8]>) {
        self.0.push(Mark {
            table,
            key: prefix.as_ref().to_vec(),
            prefix: true,
        });
    }

    /// Grant row (`bucket`, `key`).
    pub(super) fn grant(&mut self, bucket: &str, key: &str) {
        self.row(Table::BucketGrants, grant_key(bucket, key));
    }

    /// Configuration row (`bucket`, `kind`).
    pub(super) fn config(&mut self, bucket: &str, kind: &str) {
        self.row(Table::BucketConfigs, grant_key(bucket, kind));
    }
}

fn grant_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = bucket_base(bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

#[derive(Default)]
struct State {
    on: bool,
    overflowed: bool,
    marks: HashSet<Mark>,
}

/// The rows changed since the last backup took them. Off (marking
/// nothing) until a backup starts it, so a store nobody backs up keeps
/// nothing.
#[derive(Default)]
pub(super) struct Journal {
    state: Mutex<State>,
}

impl Journal {
    /// Records what a committed transaction changed.
    pub(super) fn record(&self, marks: Marks) {
        if marks.0.is_empty() {
            return;
        }
        let mut state = self.state.lock().expect("not poisoned");
        if !state.on || state.overflowed {
            return;
        }
        state.marks.extend(marks.0);
        if state.marks.len() > MAX_MARKS {
            state.marks = HashSet::new();
            state.overflowed = true;
        }
    }
}

/// What changed since the last [`RedbStore::take_changes`].
pub enum Taken {
    /// These rows (possibly none).
    Rows(Vec<ChangedRows>),
    /// Too many to track, or never started: take a full snapshot.
    Snapshot,
}

/// Opaque: rows to read with [`RedbStore::changes`].
#[derive(Clone)]
pub struct ChangedRows(Mark);

impl RedbStore {
    /// Starts (or restarts) marking changed rows, forgetting earlier
    /// marks: call just before reading a full snapshot.
    pub fn start_journal(&self) {
        let mut state = self.journal.state.lock().expect("not poisoned");
        *state = State {
            on: true,
            ..State::default()
        };
    }

    /// Takes the rows marked since the last call (or since
    /// [`start_journal`](Self::start_journal)).
    pub fn take_changes(&self) -> Taken {
        let mut state = self.journal.state.lock().expect("not poisoned");
        if !state.on || state.overflowed {
            return Taken::Snapshot;
        }
        let marks = std::mem::take(&mut state.marks);
        Taken::Rows(marks.into_iter().map(ChangedRows).collect())
    }

    /// Marks `rows` again (their backup failed; the next one ships them).
    pub fn requeue(&self, rows: Vec<ChangedRows>) {
        self.journal
            .record(Marks(rows.into_iter().map(|r| r.0).collect()));
    }

    /// The current value of `rows`, read in one transaction, as changes.
    pub fn changes(&self, rows: &[ChangedRows]) -> Result<Vec<Change>, MetaError> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::with_capacity(rows.len());
        for ChangedRows(mark) in rows {
            if mark.prefix {
                out.push(Change::DeletePrefix {
                    table: mark.table,
                    prefix: mark.key.clone(),
                });
                read_prefix::<MetaError>(&txn, mark.table, &mark.key, &mut |key, value| {
                    out.push(Change::Put {
                        table: mark.table,
                        key,
                        value,
                    });
                    Ok(())
                })?;
            } else {
                out.push(match read_row(&txn, mark.table, &mark.key)? {
                    Some(value) => Change::Put {
                        table: mark.table,
                        key: mark.key.clone(),
                        value,
                    },
                    None => Change::Delete {
                        table: mark.table,
                        key: mark.key.clone(),
                    },
                });
            }
        }
        Ok(out)
    }

    /// Every backed-up row, from one read transaction, in table order;
    /// stops at the first error `emit` returns.
    pub fn snapshot<E: From<MetaError>>(
        &self,
        emit: &mut dyn FnMut(Change) -> Result<(), E>,
    ) -> Result<(), E> {
        let txn = self.db.begin_read().map_err(MetaError::from)?;
        for table in TABLES {
            read_prefix(&txn, table, &[], &mut |key, value| {
                if table == Table::Objects && key.starts_with(INTERNAL_PREFIX) {
                    return Ok(());
                }
                emit(Change::Put { table, key, value })
            })?;
        }
        Ok(())
    }

    /// Applies `changes` in one transaction.
    pub fn apply_changes(&self, changes: &[Change]) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        for change in changes {
            apply(&txn, change)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The gateway's own objects (its backups), by name.
    pub fn internal_objects(&self) -> Result<Vec<(String, ObjectMeta)>, MetaError> {
        let txn = self.db.begin_read()?;
        let base = bucket_base(INTERNAL_BUCKET);
        let mut out = Vec::new();
        for entry in txn.open_table(OBJECTS)?.range::<&[u8]>(base.as_slice()..)? {
            let (k, v) = entry?;
            let Some(name) = k.value().strip_prefix(base.as_slice()) else {
                break;
            };
            out.push((
                String::from_utf8_lossy(name).into_owned(),
                decode(v.value(), "object")?,
            ));
        }
        Ok(out)
    }

    /// Records (or with `None` forgets) the gateway's own object `name`.
    pub fn set_internal_object(
        &self,
        name: &str,
        meta: Option<&ObjectMeta>,
    ) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        {
            let mut objects = txn.open_table(OBJECTS)?;
            let key = object_key(INTERNAL_BUCKET, name);
            match meta {
                Some(meta) => objects.insert(key.as_slice(), encode(meta).as_slice())?,
                None => objects.remove(key.as_slice())?,
            };
        }
        txn.commit()?;
        Ok(())
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, MetaError> {
    std::str::from_utf8(bytes)
        .map_err(|_| MetaError::Corrupt("a backed-up key is not UTF-8".into()))
}

fn split_grant(key: &[u8]) -> Result<(&str, &str), MetaError> {
    let at = key
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| MetaError::Corrupt("a backed-up grant key has no separator".into()))?;
    Ok((utf8(&key[..at])?, utf8(&key[at + 1..])?))
}

fn value_u8(value: &[u8]) -> Result<u8, MetaError> {
    match value {
        [b] => Ok(*b),
        _ => Err(MetaError::Corrupt(
            "a backed-up flag is not one byte".into(),
        )),
    }
}

fn value_u64(value: &[u8]) -> Result<u64, MetaError> {
    value
        .try_into()
        .map(u64::from_le_bytes)
        .map_err(|_| MetaError::Corrupt("a backed-up counter is not 8 bytes".into()))
}

/// Row `key` of `table`, as bytes.
fn read_row(txn: &ReadTransaction, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
    Ok(match table {
        Table::AccessKeys => str_bytes(txn, ACCESS_KEYS, key)?,
        Table::Buckets => str_bytes(txn, BUCKETS, key)?,
        Table::Uploads => str_bytes(txn, UPLOADS, key)?,
        Table::BucketAcls => str_bytes(txn, BUCKET_ACLS, key)?,
        Table::Settings => str_bytes(txn, SETTINGS, key)?,
        Table::KeyNames => txn
            .open_table(KEY_NAMES)?
            .get(utf8(key)?)?
            .map(|v| v.value().as_bytes().to_vec()),
        Table::KeyFlags => txn
            .open_table(KEY_FLAGS)?
            .get(utf8(key)?)?
            .map(|v| vec![v.value()]),
        Table::Counters => txn
            .open_table(COUNTERS)?
            .get(utf8(key)?)?
            .map(|v| v.value().to_le_bytes().to_vec()),
        Table::Objects => bytes_bytes(txn, OBJECTS, key)?,
        Table::Parts => bytes_bytes(txn, PARTS, key)?,
        Table::UploadsByBucket => txn
            .open_table(UPLOADS_BY_BUCKET)?
            .get(key)?
            .map(|_| Vec::new()),
        Table::PartChecksums => txn
            .open_table(PART_CHECKSUMS)?
            .get(key)?
            .map(|v| v.value().as_bytes().to_vec()),
        Table::BucketGrants => txn
            .open_table(BUCKET_GRANTS)?
            .get(split_grant(key)?)?
            .map(|v| vec![v.value()]),
        Table::BucketConfigs => txn
            .open_table(BUCKET_CONFIGS)?
            .get(split_grant(key)?)?
            .map(|v| v.value().to_vec()),
    })
}

fn str_bytes(
    txn: &ReadTransaction,
    def: TableDefinition<&str, &[u8]>,
    key: &[u8],
) -> Result<Option<Vec<u8>>, MetaError> {
    Ok(txn
        .open_table(def)?
        .get(utf8(key)?)?
        .map(|v| v.value().to_vec()))
}

fn bytes_bytes(
    txn: &ReadTransaction,
    def: TableDefinition<&[u8], &[u8]>,
    key: &[u8],
) -> Result<Option<Vec<u8>>, MetaError> {
    Ok(txn.open_table(def)?.get(key)?.map(|v| v.value().to_vec()))
}

type Emit<'a, E> = dyn FnMut(Vec<u8>, Vec<u8>) -> Result<(), E> + 'a;

/// Every row of `table` whose key (as bytes) starts with `prefix`, in key
/// order; stops at the first error `emit` returns.
fn read_prefix<E: From<MetaError>>(
    txn: &ReadTransaction,
    table: Table,
    prefix: &[u8],
    emit: &mut Emit<'_, E>,
) -> Result<(), E> {
    let db = |e: redb::Error| E::from(MetaError::from(e));
    macro_rules! scan {
        ($def:expr, |$k:ident, $v:ident| $key:expr, $value:expr) => {{
            let table = txn.open_table($def).map_err(|e| db(e.into()))?;
            for entry in table.iter().map_err(|e| db(e.into()))? {
                let (k, v) = entry.map_err(|e| db(e.into()))?;
                let ($k, $v) = (k.value(), v.value());
                let key: Vec<u8> = $key;
                if key.starts_with(prefix) {
                    emit(key, $value)?;
                }
            }
        }};
    }
    macro_rules! range {
        ($def:expr, |$v:ident| $value:expr) => {{
            let table = txn.open_table($def).map_err(|e| db(e.into()))?;
            for entry in table.range::<&[u8]>(prefix..).map_err(|e| db(e.into()))? {
                let (k, v) = entry.map_err(|e| db(e.into()))?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                let $v = v.value();
                emit(k.value().to_vec(), $value)?;
            }
        }};
    }
    match table {
        Table::AccessKeys => scan!(ACCESS_KEYS, |k, v| k.as_bytes().to_vec(), v.to_vec()),
        Table::Buckets => scan!(BUCKETS, |k, v| k.as_bytes().to_vec(), v.to_vec()),
        Table::Uploads => scan!(UPLOADS, |k, v| k.as_bytes().to_vec(), v.to_vec()),
        Table::BucketAcls => scan!(BUCKET_ACLS, |k, v| k.as_bytes().to_vec(), v.to_vec()),
        Table::Settings => scan!(SETTINGS, |k, v| k.as_bytes().to_vec(), v.to_vec()),
        Table::KeyFlags => scan!(KEY_FLAGS, |k, v| k.as_bytes().to_vec(), vec![v]),
        Table::KeyNames => scan!(
            KEY_NAMES,
            |k, v| k.as_bytes().to_vec(),
            v.as_bytes().to_vec()
        ),
        Table::Counters => scan!(
            COUNTERS,
            |k, v| k.as_bytes().to_vec(),
            v.to_le_bytes().to_vec()
        ),
        Table::BucketGrants => scan!(BUCKET_GRANTS, |k, v| grant_key(k.0, k.1), vec![v]),
        Table::BucketConfigs => scan!(BUCKET_CONFIGS, |k, v| grant_key(k.0, k.1), v.to_vec()),
        Table::Objects => range!(OBJECTS, |v| v.to_vec()),
        Table::Parts => range!(PARTS, |v| v.to_vec()),
        Table::UploadsByBucket => range!(UPLOADS_BY_BUCKET, |_v| Vec::new()),
        Table::PartChecksums => range!(PART_CHECKSUMS, |v| v.as_bytes().to_vec()),
    }
    Ok(())
}

/// Applies one change inside `txn`.
fn apply(txn: &WriteTransaction, change: &Change) -> Result<(), MetaError> {
    match change {
        Change::Put { table, key, value } => put_row(txn, *table, key, Some(value)),
        Change::Delete { table, key } => put_row(txn, *table, key, None),
        Change::DeletePrefix { table, prefix } => {
            // Collected first: a table cannot be read and written at once.
            for key in prefix_keys(txn, *table, prefix)? {
                put_row(txn, *table, &key, None)?;
            }
            Ok(())
        }
    }
}

/// The keys of `table` under `prefix` (only the byte-keyed tables take
/// prefix changes).
fn prefix_keys(
    txn: &WriteTransaction,
    table: Table,
    prefix: &[u8],
) -> Result<Vec<Vec<u8>>, MetaError> {
    let mut keys = Vec::new();
    macro_rules! collect {
        ($def:expr) => {{
            for entry in txn.open_table($def)?.range::<&[u8]>(prefix..)? {
                let (k, _) = entry?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                keys.push(k.value().to_vec());
            }
        }};
    }
    match table {
        Table::Objects => collect!(OBJECTS),
        Table::Parts => collect!(PARTS),
        Table::UploadsByBucket => collect!(UPLOADS_BY_BUCKET),
        Table::PartChecksums => collect!(PART_CHECKSUMS),
        _ => {
            return Err(MetaError::Corrupt(format!(
                "a prefix deletion in table {table:?}"
            )));
        }
    }
    Ok(keys)
}

/// Writes (or with `None` removes) row `key` of `table` inside `txn`.
fn put_row(
    txn: &WriteTransaction,
    table: Table,
    key: &[u8],
    value: Option<&Vec<u8>>,
) -> Result<(), MetaError> {
    macro_rules! by_str {
        ($def:expr, |$v:ident| $value:expr) => {{
            let mut t = txn.open_table($def)?;
            let k = utf8(key)?;
            match value {
                Some($v) => {
                    t.insert(k, $value)?;
                }
                None => {
                    t.remove(k)?;
                }
            }
        }};
    }
    macro_rules! by_bytes {
        ($def:expr, |$v:ident| $value:expr) => {{
            let mut t = txn.open_table($def)?;
            match value {
                Some($v) => {
                    t.insert(key, $value)?;
                }
                None => {
                    t.remove(key)?;
                }
            }
        }};
    }
    match table {
        Table::AccessKeys => by_str!(ACCESS_KEYS, |v| v.as_slice()),
        Table::Buckets => by_str!(BUCKETS, |v| v.as_slice()),
        Table::Uploads => by_str!(UPLOADS, |v| v.as_slice()),
        Table::BucketAcls => by_str!(BUCKET_ACLS, |v| v.as_slice()),
        Table::Settings => by_str!(SETTINGS, |v| v.as_slice()),
        Table::KeyFlags => by_str!(KEY_FLAGS, |v| value_u8(v)?),
        Table::KeyNames => by_str!(KEY_NAMES, |v| utf8(v)?),
        Table::Counters => by_str!(COUNTERS, |v| value_u64(v)?),
        Table::Objects => by_bytes!(OBJECTS, |v| v.as_slice()),
        Table::Parts => by_bytes!(PARTS, |v| v.as_slice()),
        Table::UploadsByBucket => by_bytes!(UPLOADS_BY_BUCKET, |_v| ()),
        Table::PartChecksums => by_bytes!(PART_CHECKSUMS, |v| utf8(v)?),
        Table::BucketGrants => {
            let mut t = txn.open_table(BUCKET_GRANTS)?;
            let k = split_grant(key)?;
            match value {
                Some(v) => {
                    t.insert(k, value_u8(v)?)?;
                }
                None => {
                    t.remove(k)?;
                }
            }
        }
        Table::BucketConfigs => {
            let mut t = txn.open_table(BUCKET_CONFIGS)?;
            let k = split_grant(key)?;
            match value {
                Some(v) => {
                    t.insert(k, v.as_slice())?;
                }
                None => {
                    t.remove(k)?;
                }
            }
        }
    }
    Ok(())
}
