//! The PostgreSQL backend: the metadata store in a SQL database that any
//! number of gateways share (`cairn gateway --meta postgres://...`). Also
//! meant for CockroachDB: the SQL stays within what both accept (see
//! `schema`), every transaction that writes is SERIALIZABLE and is run again
//! when it loses a conflict (SQLSTATE 40001), and nothing relies on
//! advisory locks.
//!
//! * Connections come from a pool (deadpool-postgres); statements are
//!   prepared and cached per connection.
//! * A bucket's objects are one range of the `objects` primary key
//!   `(bucket, key BYTEA)`, so listing with a prefix, a delimiter and a
//!   start is an index scan that skips past each common prefix (as the redb
//!   backend does), never a scan of the bucket.
//! * Manifests are two binary columns: the S3 attributes, and the shard
//!   layout with node ids replaced by small integer aliases
//!   (`node_aliases`, cached in memory; aliases are never changed or
//!   reused, so a cache miss is only ever a new node).
//! * A database that cannot be reached makes every call fail with
//!   [`MetaError::Unavailable`] (the S3 layer answers 503) until it is back;
//!   the pool reconnects by itself.

mod compact;
mod list;
pub mod local;
mod put;
mod readers;
mod schema;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls, Row};

use super::listing::prefix_successor;
use super::names::{self, UPLOAD_ID_LEN};
use super::types::{decode, encode};
use super::versions::{history_prefix, supersede};
use super::{
    BatchRefused, Completion, ConditionFailed, ObjectWrite, RowCondition, owning_bucket,
    versions_namespace,
};
use super::{
    BucketAcl, BucketInfo, BucketPerms, ListPage, ListQuery, Lookup, MetaBackend, MetaError,
    NodeHealthRecord, ObjectMeta, PartLayout, PutOutcome, RepairEntry, SegmentKey, ShardCopy,
    ShardMove, UploadState, WriteCondition,
};
use compact::Aliases;

/// Times a transaction that lost a serialization conflict is run again
/// (with backoff doubling from 1 ms to 64 ms, jittered: a few seconds in
/// all, enough for dozens of writers on one key).
const RETRIES: usize = 60;
/// Most connections a gateway holds.
const POOL_SIZE: usize = 16;
/// Shared connections for GET and HEAD lookups (see `readers`).
const SHARED_READERS: usize = 4;
/// How long a statement may wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a sealed access-key secret read from the database is used
/// without reading it again: a key replaced or removed through another
/// gateway takes effect here within this time (AWS's IAM is eventually
/// consistent the same way).
const SECRET_TTL: Duration = Duration::from_secs(10);
/// Most secrets cached; past it the cache starts over.
const SECRET_CACHE_MAX: usize = 10_000;

/// The PostgreSQL backend. Cheap to clone (a pool handle, the shared alias
/// cache and the shared secret cache).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Shared, pipelined connections for the object lookups of GET and
    /// HEAD.
    readers: Arc<readers::Readers>,
    aliases: Arc<RwLock<Aliases>>,
    /// Sealed secrets by key id, with when they were read: every signed
    /// request needs its key's secret, and keys change rarely.
    secrets: Arc<Mutex<SecretCache>>,
}

/// Sealed secrets by key id, with when each was read.
type SecretCache = HashMap<String, (Instant, Vec<u8>)>;

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// `url` with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    // postgres://user:password@host/db
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

/// A database error as a [`MetaError`]: a lost serialization conflict is
/// [`MetaError::Retry`], a connection problem [`MetaError::Unavailable`].
fn sql(e: tokio_postgres::Error) -> MetaError {
    match e.code() {
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE => MetaError::Retry,
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED => MetaError::Retry,
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => MetaError::Retry,
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => {
            MetaError::Unavailable(e.to_string())
        }
        // The server is going away, starting, or out of connections or
        // resources: the request may succeed later (503), it is not a fault
        // in the statement (500).
        Some(code) if unavailable_class(code.code()) => MetaError::Unavailable(e.to_string()),
        // The server's own message ("relation … does not exist"), not just
        // "db error".
        Some(_) => MetaError::Sql(e.as_db_error().map_or_else(
            || e.to_string(),
            |db| format!("{}: {}", db.code().code(), db),
        )),
        None if e.is_closed() => MetaError::Unavailable(e.to_string()),
        None => MetaError::Unavailable(e.to_string()),
    }
}

/// SQLSTATEs that mean "not now" rather than "wrong": connection exceptions
/// (class 08), insufficient resources (53: too many connections, disk
/// full, out of memory) and operator intervention (57P: shutting down,
/// crashed, starting up).
fn unavailable_class(code: &str) -> bool {
    // Except a protocol violation (08P01) and a configured limit exceeded
    // (53400): faults that waiting will not mend.
    (code.starts_with("08") || code.starts_with("53") || code.starts_with("57P"))
        && code != "08P01"
        && code != "53400"
}

fn pool_error(e: deadpool_postgres::PoolError) -> MetaError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => sql(e),
        other => MetaError::Unavailable(other.to_string()),
    }
}

/// Runs `$body` in a SERIALIZABLE transaction `$tx` on a pooled client,
/// committing if it returns `Ok`, and runs it all again (a few times, with
/// a short random backoff) when a statement or the commit loses a
/// serialization conflict. `$body` must only read its captured inputs, as
/// it may run more than once.
macro_rules! serializable {
    ($self:expr, |$tx:ident| $body:block) => {
        transaction!($self, IsolationLevel::Serializable, |$tx| $body)
    };
}

/// [`serializable!`] at another isolation level.
macro_rules! transaction {
    ($self:expr, $level:expr, |$tx:ident| $body:block) => {{
        let mut attempt = 0usize;
        loop {
            // The transaction and its connection end before any backoff.
            let outcome = {
                let mut client = $self.pool.get().await.map_err(pool_error)?;
                let $tx = client
                    .build_transaction()
                    .isolation_level($level)
                    .start()
                    .await
                    .map_err(sql)?;
                let result: Result<_, MetaError> = async { $body }.await;
                match result {
                    Ok(value) => $tx.commit().await.map_err(sql).map(|()| value),
                    Err(e) => Err(e),
                }
            };
            match outcome {
                Err(MetaError::Retry) if attempt < RETRIES => {
                    attempt += 1;
                    backoff(attempt).await;
                }
                other => break other,
            }
        }
    }};
}

/// Waits before attempt `attempt` (from 1) of a transaction that lost a
/// conflict: a jittered time doubling from about 1 ms to 64 ms.
async fn backoff(attempt: usize) {
    let cap = 1u64 << attempt.min(6);
    let micros = rand::random::<u64>() % (cap * 1000) + 500;
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// Locks bucket `name`'s row against deletion until the transaction ends
/// (writers of objects and uploads hold it; DeleteBucket locks it for
/// update, so it waits for them and then sees what they wrote).
const LOCK_BUCKET: &str = "SELECT 1 FROM buckets WHERE name = $1 FOR KEY SHARE";

/// `NoSuchBucket` unless bucket `name` exists; locks it (`LOCK_BUCKET`)
/// inside `tx`.
async fn require_bucket(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
) -> Result<(), MetaError> {
    let statement = tx.prepare_cached(LOCK_BUCKET).await.map_err(sql)?;
    match tx.query_opt(&statement, &[&name]).await.map_err(sql)? {
        Some(_) => Ok(()),
        None => Err(MetaError::NoSuchBucket),
    }
}

/// Whether `query` (a `SELECT 1 ...`) finds a row, inside `tx`.
async fn exists(
    tx: &deadpool_postgres::Transaction<'_>,
    query: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<bool, MetaError> {
    Ok(tx.query_opt(query, params).await.map_err(sql)?.is_some())
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn acl_code(acl: BucketAcl) -> i16 {
    match acl {
        BucketAcl::Private => 0,
        BucketAcl::PublicRead => 1,
    }
}

fn acl_of(code: i16) -> Result<BucketAcl, MetaError> {
    match code {
        0 => Ok(BucketAcl::Private),
        1 => Ok(BucketAcl::PublicRead),
        other => Err(MetaError::Corrupt(format!("bucket ACL code {other}"))),
    }
}

fn bucket_of(row: &Row) -> Result<BucketInfo, MetaError> {
    Ok(BucketInfo {
        name: row.get(0),
        region: row.get(1),
        owner: row.get(2),
        created: u64_of(row.get(3)),
        acl: acl_of(row.get(4))?,
    })
}

fn key_string(bytes: Vec<u8>, what: &str) -> Result<String, MetaError> {
    String::from_utf8(bytes).map_err(|_| MetaError::Corrupt(format!("{what} is not UTF-8")))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The `key_flags` bit of a key that may not create buckets.
const NO_CREATE_BUCKET: i16 = 1;

impl PgStore {
    /// Grants selected by `query` over its one parameter: (name, perms)
    /// rows, sorted by name in byte order.
    async fn grants(
        &self,
        query: &str,
        param: &str,
    ) -> Result<Vec<(String, BucketPerms)>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client.prepare_cached(query).await.map_err(sql)?;
        let rows = client.query(&statement, &[&param]).await.map_err(sql)?;
        let mut out: Vec<(String, BucketPerms)> = rows
            .iter()
            .map(|row| {
                let bits: i16 = row.get(1);
                (row.get(0), BucketPerms::from_bits(bits as u8))
            })
            .collect();
        out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(out)
    }

    /// Connects to `url` (`postgres://user:password@host:port/db`), checks
    /// the database answers, and applies the schema's migrations. Errors
    /// name the URL without its password.
    pub async fn connect(url: &str) -> Result<Self, MetaError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            MetaError::Unavailable(format!("{}: not a PostgreSQL URL: {e}", redact(url)))
        })?;
        let mut config = config;
        config.connect_timeout(CONNECT_TIMEOUT);
        // No statement waits for a lock forever: past this it fails (503)
        // rather than holding the request and a pooled connection.
        config.options("-c lock_timeout=10s");
        // A database host that vanishes without a reset (power cut, network
        // partition) is found by TCP within about 30 s, idle or busy, so
        // pooled connections do not hang on it until the kernel's 15 minutes.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(30));
        let readers = Arc::new(readers::Readers::new(
            config.clone(),
            SHARED_READERS,
            CONNECT_TIMEOUT,
            readers::QUERY_TIMEOUT,
        ));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| MetaError::Unavailable(format!("{}: {e}", redact(url))))?;
        let store = Self {
            pool,
            readers,
            aliases: Arc::default(),
            secrets: Arc::default(),
        };
        store.migrate().await.map_err(|e| match e {
            MetaError::Unavailable(m) => MetaError::Unavailable(format!("{}: {m}", redact(url))),
            other => other,
        })?;
        Ok(store)
    }

    /// Applies the migrations not yet recorded, each in one transaction.
    async fn migrate(&self) -> Result<(), MetaError> {
        {
            let client = self.pool.get().await.map_err(pool_error)?;
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (
                        version INT8 PRIMARY KEY,
                        applied INT8 NOT NULL
                    )",
                )
                .await
                .map_err(sql)?;
        }
        for (i, statements) in schema::MIGRATIONS.iter().enumerate() {
            let version = i as i64 + 1;
            serializable!(self, |tx| {
                let done = tx
                    .query_opt(
                        "SELECT 1 FROM schema_migrations WHERE version = $1",
                        &[&version],
                    )
                    .await
                    .map_err(sql)?;
                if done.is_none() {
                    for statement in *statements {
                        tx.batch_execute(statement).await.map_err(sql)?;
                    }
                    tx.execute(
                        "INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)",
                        &[&version, &i64_of(now_ms())],
                    )
                    .await
                    .map_err(sql)?;
                    tracing::info!(version, "metadata schema migrated");
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The aliases of `nodes`, making any that are missing (in their own
    /// transaction: an alias made for a write that then fails is harmless).
    async fn alias_nodes(
        &self,
        nodes: &HashSet<Vec<u8>>,
    ) -> Result<HashMap<Vec<u8>, i64>, MetaError> {
        let missing: Vec<Vec<u8>> = {
            let cache = self.aliases.read().expect("not poisoned");
            nodes
                .iter()
                .filter(|n| cache.alias(n).is_none())
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            // Allocations are serialized on one lock row (`counters`
            // 'node_alias', locked first, held to commit), at READ
            // COMMITTED so each statement sees what the previous holder
            // committed. Racing writers that each inserted some of the
            // same new nodes used to wait on one another's uncommitted
            // rows in cycles (sixteen concurrent first puts deadlocked
            // again and again).
            let made: Vec<(Vec<u8>, i64)> =
                transaction!(self, IsolationLevel::ReadCommitted, |tx| {
                    tx.execute(
                        "INSERT INTO counters (name, value) VALUES ('node_alias', 0)
                         ON CONFLICT (name) DO NOTHING",
                        &[],
                    )
                    .await
                    .map_err(sql)?;
                    tx.query_one(
                        "SELECT value FROM counters WHERE name = 'node_alias' FOR UPDATE",
                        &[],
                    )
                    .await
                    .map_err(sql)?;
                    let mut made = Vec::new();
                    for node in &missing {
                        let row = match tx
                            .query_opt("SELECT alias FROM node_aliases WHERE node = $1", &[node])
                            .await
                            .map_err(sql)?
                        {
                            Some(row) => row,
                            None => tx
                                .query_one(
                                    "INSERT INTO node_aliases (node, alias)
                                     SELECT $1, COALESCE(MAX(alias), 0) + 1 FROM node_aliases
                                     RETURNING alias",
                                    &[node],
                                )
                                .await
                                .map_err(sql)?,
                        };
                        made.push((node.clone(), row.get::<_, i64>(0)));
                    }
                    Ok(made)
                })?;
            let mut cache = self.aliases.write().expect("not poisoned");
            for (node, alias) in made {
                cache.learn(node, alias);
            }
        }
        let cache = self.aliases.read().expect("not poisoned");
        Ok(nodes
            .iter()
            .filter_map(|n| Some((n.clone(), cache.alias(n)?)))
            .collect())
    }

    /// Makes sure every alias in `aliases` is in the cache.
    async fn learn_aliases(&self, aliases: &HashSet<i64>) -> Result<(), MetaError> {
        let unknown: Vec<i64> = {
            let cache = self.aliases.read().expect("not poisoned");
            aliases
                .iter()
                .filter(|a| cache.node(**a).is_none())
                .copied()
                .collect()
        };
        if unknown.is_empty() {
            return Ok(());
        }
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                "SELECT node, alias FROM node_aliases WHERE alias = ANY($1)",
                &[&unknown],
            )
            .await
            .map_err(sql)?;
        let mut cache = self.aliases.write().expect("not poisoned");
        for row in rows {
            cache.learn(row.get(0), row.get(1));
        }
        Ok(())
    }

    /// A manifest's two columns.
    async fn encode_object(&self, meta: &ObjectMeta) -> Result<(Vec<u8>, Vec<u8>), MetaError> {
        let aliases = self.alias_nodes(&compact::nodes_of(&meta.parts)).await?;
        let attrs = encode(&ObjectMeta {
            parts: Vec::new(),
            ..meta.clone()
        });
        Ok((attrs, compact::encode_parts(&meta.parts, &aliases)))
    }

    /// A manifest from its two columns.
    async fn decode_object(&self, attrs: &[u8], layout: &[u8]) -> Result<ObjectMeta, MetaError> {
        let parts = self.decode_parts(layout).await?;
        let mut meta: ObjectMeta = decode(attrs, "object")?;
        meta.parts = parts;
        Ok(meta)
    }

    async fn decode_parts(&self, layout: &[u8]) -> Result<Vec<PartLayout>, MetaError> {
        let compact = compact::decode_layout(layout)?;
        self.learn_aliases(&compact::aliases_of(&compact)).await?;
        let cache = self.aliases.read().expect("not poisoned");
        compact::expand(compact, &cache)
    }

    async fn encode_part(&self, part: &PartLayout) -> Result<Vec<u8>, MetaError> {
        let parts = std::slice::from_ref(part);
        let aliases = self.alias_nodes(&compact::nodes_of(parts)).await?;
        Ok(compact::encode_parts(parts, &aliases))
    }

    async fn decode_part(&self, layout: &[u8]) -> Result<PartLayout, MetaError> {
        self.decode_parts(layout)
            .await?
            .pop()
            .ok_or_else(|| MetaError::Corrupt("empty part layout".into()))
    }
}

#[async_trait::async_trait]
impl MetaBackend for PgStore {
    async fn put_key(&self, id: &str, sealed: &[u8], create_only: bool) -> Result<bool, MetaError> {
        self.secrets.lock().expect("not poisoned").remove(id);
        serializable!(self, |tx| {
            let taken = exists(&tx, "SELECT 1 FROM access_keys WHERE id = $1", &[&id]).await?;
            if taken && create_only {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO access_keys (id, sealed) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
                &[&id, &sealed],
            )
            .await
            .map_err(sql)?;
            Ok(true)
        })
    }

    async fn key_secret(&self, id: &str) -> Result<Option<Vec<u8>>, MetaError> {
        if let Some((read, sealed)) = self.secrets.lock().expect("not poisoned").get(id)
            && read.elapsed() < SECRET_TTL
        {
            return Ok(Some(sealed.clone()));
        }
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached("SELECT sealed FROM access_keys WHERE id = $1")
            .await
            .map_err(sql)?;
        let row = client.query_opt(&statement, &[&id]).await.map_err(sql)?;
        let sealed: Option<Vec<u8>> = row.map(|r| r.get(0));
        // Only keys that exist are kept: unknown ids (anyone can send
        // them) must not fill the cache.
        if let Some(sealed) = &sealed {
            let mut cache = self.secrets.lock().expect("not poisoned");
            if cache.len() >= SECRET_CACHE_MAX {
                cache.clear();
            }
            cache.insert(id.to_owned(), (Instant::now(), sealed.clone()));
        }
        Ok(sealed)
    }

    async fn key_ids(&self) -> Result<Vec<String>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query("SELECT id FROM access_keys", &[])
            .await
            .map_err(sql)?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort();
        Ok(ids)
    }

    async fn delete_key(&self, id: &str) -> Result<bool, MetaError> {
        let existed = serializable!(self, |tx| {
            let removed = tx
                .execute("DELETE FROM access_keys WHERE id = $1", &[&id])
                .await
                .map_err(sql)?;
            for statement in [
                "DELETE FROM key_flags WHERE key_id = $1",
                "DELETE FROM key_names WHERE key_id = $1",
                "DELETE FROM bucket_grants WHERE key_id = $1",
            ] {
                tx.execute(statement, &[&id]).await.map_err(sql)?;
            }
            Ok(removed > 0)
        })?;
        // Other gateways sharing the store stop taking it within their
        // own cache's lifetime (SECRET_TTL).
        self.secrets.lock().expect("not poisoned").remove(id);
        Ok(existed)
    }

    async fn key_may_create_buckets(&self, id: &str) -> Result<bool, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached(
                "SELECT f.flags FROM access_keys k LEFT JOIN key_flags f ON f.key_id = k.id
                 WHERE k.id = $1",
            )
            .await
            .map_err(sql)?;
        let row = client.query_opt(&statement, &[&id]).await.map_err(sql)?;
        Ok(row.is_some_and(|r| {
            let flags: Option<i16> = r.get(0);
            flags.unwrap_or(0) & NO_CREATE_BUCKET == 0
        }))
    }

    async fn set_key_may_create_buckets(&self, id: &str, may: bool) -> Result<bool, MetaError> {
        serializable!(self, |tx| {
            if !exists(&tx, "SELECT 1 FROM access_keys WHERE id = $1", &[&id]).await? {
                return Ok(false);
            }
            if may {
                tx.execute("DELETE FROM key_flags WHERE key_id = $1", &[&id])
                    .await
                    .map_err(sql)?;
            } else {
                tx.execute(
                    "INSERT INTO key_flags (key_id, flags) VALUES ($1, $2)
                     ON CONFLICT (key_id) DO UPDATE SET flags = excluded.flags",
                    &[&id, &NO_CREATE_BUCKET],
                )
                .await
                .map_err(sql)?;
            }
            Ok(true)
        })
    }

    async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner: &str,
        acl: BucketAcl,
        configs: &[(&str, &[u8])],
    ) -> Result<(), MetaError> {
        let created = i64_of(now_ms());
        serializable!(self, |tx| {
            if let Some(row) = tx
                .query_opt("SELECT owner FROM buckets WHERE name = $1", &[&name])
                .await
                .map_err(sql)?
            {
                let existing: String = row.get(0);
                return Err(if existing == owner {
                    MetaError::BucketAlreadyOwnedByYou
                } else {
                    MetaError::BucketAlreadyExists
                });
            }
            tx.execute(
                "INSERT INTO buckets (name, region, owner, created, acl) VALUES ($1, $2, $3, $4, $5)",
                &[&name, &region, &owner, &created, &acl_code(acl)],
            )
            .await
            .map_err(sql)?;
            for (kind, value) in configs {
                tx.execute(
                    "INSERT INTO bucket_configs (bucket, kind, value) VALUES ($1, $2, $3)",
                    &[&name, kind, value],
                )
                .await
                .map_err(sql)?;
            }
            Ok(())
        })
    }

    async fn bucket(&self, name: &str) -> Result<Option<BucketInfo>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached("SELECT name, region, owner, created, acl FROM buckets WHERE name = $1")
            .await
            .map_err(sql)?;
        let row = client.query_opt(&statement, &[&name]).await.map_err(sql)?;
        row.as_ref().map(bucket_of).transpose()
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query("SELECT name, region, owner, created, acl FROM buckets", &[])
            .await
            .map_err(sql)?;
        let mut buckets = rows.iter().map(bucket_of).collect::<Result<Vec<_>, _>>()?;
        // Byte order, whatever the database's collation.
        buckets.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(buckets)
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), MetaError> {
        // READ COMMITTED: once the bucket row is locked for update, every
        // writer that share-locked it has committed or given up, and the
        // emptiness checks (each its own snapshot) see what they wrote;
        // writers that come later wait and then find no bucket.
        transaction!(self, IsolationLevel::ReadCommitted, |tx| {
            let lock = "SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE";
            if !exists(&tx, lock, &[&name]).await? {
                return Err(MetaError::NoSuchBucket);
            }
            // Noncurrent versions and delete markers count, as on AWS.
            let objects = "SELECT 1 FROM objects WHERE bucket = $1 LIMIT 1";
            if exists(&tx, objects, &[&name]).await?
                || exists(&tx, objects, &[&versions_namespace(name)]).await?
            {
                return Err(MetaError::BucketNotEmpty);
            }
            // Unfinished multipart uploads go with the bucket, as on AWS
            // (their parts' shards are then collected).
            for statement in [
                "DELETE FROM parts WHERE upload_id IN (SELECT id FROM uploads WHERE bucket = $1)",
                "DELETE FROM uploads WHERE bucket = $1",
                "DELETE FROM buckets WHERE name = $1",
            ] {
                tx.execute(statement, &[&name]).await.map_err(sql)?;
            }
            tx.execute("DELETE FROM bucket_grants WHERE bucket = $1", &[&name])
                .await
                .map_err(sql)?;
            tx.execute("DELETE FROM bucket_configs WHERE bucket = $1", &[&name])
                .await
                .map_err(sql)?;
            Ok(())
        })
    }

    async fn set_bucket_acl(&self, name: &str, acl: BucketAcl) -> Result<(), MetaError> {
        serializable!(self, |tx| {
            let changed = tx
                .execute(
                    "UPDATE buckets SET acl = $2 WHERE name = $1",
                    &[&name, &acl_code(acl)],
                )
                .await
                .map_err(sql)?;
            if changed == 0 {
                return Err(MetaError::NoSuchBucket);
            }
            Ok(())
        })
    }

    async fn set_bucket_grant(
        &self,
        bucket: &str,
        key: &str,
        perms: BucketPerms,
    ) -> Result<(), MetaError> {
        let bits = i16::from(perms.bits());
        serializable!(self, |tx| {
            // Locks the bucket row, so a concurrent delete (which removes
            // the grants) waits for this grant or comes first.
            require_bucket(&tx, bucket).await?;
            if perms.is_none() {
                tx.execute(
                    "DELETE FROM bucket_grants WHERE bucket = $1 AND key_id = $2",
                    &[&bucket, &key],
                )
                .await
                .map_err(sql)?;
            } else {
                tx.execute(
                    "INSERT INTO bucket_grants (bucket, key_id, perms) VALUES ($1, $2, $3)
                     ON CONFLICT (bucket, key_id) DO UPDATE SET perms = excluded.perms",
                    &[&bucket, &key, &bits],
                )
                .await
                .map_err(sql)?;
            }
            Ok(())
        })
    }

    async fn bucket_grants(&self, bucket: &str) -> Result<Vec<(String, BucketPerms)>, MetaError> {
        self.grants(
            "SELECT key_id, perms FROM bucket_grants WHERE bucket = $1",
            bucket,
        )
        .await
    }

    async fn key_grants(&self, key: &str) -> Result<Vec<(String, BucketPerms)>, MetaError> {
        self.grants(
            "SELECT bucket, perms FROM bucket_grants WHERE key_id = $1",
            key,
        )
        .await
    }

    async fn key_name(&self, id: &str) -> Result<Option<String>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached("SELECT name FROM key_names WHERE key_id = $1")
            .await
            .map_err(sql)?;
        let row = client.query_opt(&statement, &[&id]).await.map_err(sql)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_key_name(&self, id: &str, name: Option<&str>) -> Result<bool, MetaError> {
        serializable!(self, |tx| {
            let lock = "SELECT 1 FROM access_keys WHERE id = $1 FOR UPDATE";
            if !exists(&tx, lock, &[&id]).await? {
                return Ok(false);
            }
            match name {
                None => {
                    tx.execute("DELETE FROM key_names WHERE key_id = $1", &[&id])
                        .await
                        .map_err(sql)?;
                }
                Some(name) => {
                    tx.execute(
                        "INSERT INTO key_names (key_id, name) VALUES ($1, $2)
                         ON CONFLICT (key_id) DO UPDATE SET name = excluded.name",
                        &[&id, &name],
                    )
                    .await
                    .map_err(sql)?;
                }
            }
            Ok(true)
        })
    }

    async fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, Vec<u8>)>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached("SELECT kind, value FROM bucket_configs WHERE bucket = $1")
            .await
            .map_err(sql)?;
        let rows = client.query(&statement, &[&bucket]).await.map_err(sql)?;
        let mut out: Vec<(String, Vec<u8>)> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(out)
    }

    async fn set_bucket_configs(
        &self,
        bucket: &str,
        set: &[(&str, Option<&[u8]>)],
        expect: &[(&str, Option<&[u8]>)],
    ) -> Result<bool, MetaError> {
        serializable!(self, |tx| {
            // Locks the bucket row, so a concurrent delete (which removes
            // the configurations) waits for this write or comes first; a
            // racing write of an expected configuration is a serialization
            // conflict, retried.
            require_bucket(&tx, bucket).await?;
            for (kind, value) in expect {
                let held = tx
                    .query_opt(
                        "SELECT value FROM bucket_configs WHERE bucket = $1 AND kind = $2",
                        &[&bucket, kind],
                    )
                    .await
                    .map_err(sql)?;
                if held.as_ref().map(|r| r.get::<_, &[u8]>(0)) != *value {
                    return Ok(false);
                }
            }
            for (kind, value) in set {
                match value {
                    None => {
                        tx.execute(
                            "DELETE FROM bucket_configs WHERE bucket = $1 AND kind = $2",
                            &[&bucket, kind],
                        )
                        .await
                        .map_err(sql)?;
                    }
                    Some(value) => {
                        tx.execute(
                            "INSERT INTO bucket_configs (bucket, kind, value) VALUES ($1, $2, $3)
                             ON CONFLICT (bucket, kind) DO UPDATE SET value = excluded.value",
                            &[&bucket, kind, value],
                        )
                        .await
                        .map_err(sql)?;
                    }
                }
            }
            Ok(true)
        })
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
    ) -> Result<PutOutcome, MetaError> {
        let (attrs, layout) = self.encode_object(&meta).await?;
        let key = key.as_bytes();
        // READ COMMITTED with explicit row locks, not SERIALIZABLE: racing
        // puts of different new keys would otherwise conflict on the
        // index pages their absent-key reads lock, and lose and retry
        // (p99 of seconds at 32 writers). The bucket row is share-locked
        // (so DeleteBucket, which locks it for update, waits for this put
        // and then sees its object); an existing row is locked for update
        // (so racing writers of one key queue and each sees what the
        // previous one wrote); a new row goes in with ON CONFLICT DO
        // NOTHING, and losing that race means reading the winner's row
        // and checking the condition against it. `put` sends it in two
        // round trips.
        let current = put::write_row(
            &self.pool,
            put::RowWrite {
                bucket: bucket.to_owned(),
                key: key.to_vec(),
                attrs,
                layout,
                condition,
            },
        )
        .await?;
        match current {
            Err(refused) => Ok(Err(refused)),
            Ok(None) => Ok(Ok(None)),
            Ok(Some((attrs, layout))) => match self.decode_object(&attrs, &layout).await {
                Ok(old) => Ok(Ok(Some(old))),
                Err(e) => {
                    tracing::warn!(bucket, error = %e, "replaced an unreadable manifest");
                    Ok(Ok(None))
                }
            },
        }
    }

    async fn put_object_keeping(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
    ) -> Result<Result<ObjectMeta, ConditionFailed>, MetaError> {
        let (_, layout) = self.encode_object(&meta).await?;
        let namespace = versions_namespace(bucket);
        let row_key = key.as_bytes();
        let history = history_prefix(key).into_bytes();
        let history_end = prefix_successor(&history).expect("ends in NUL");
        // As put_object (READ COMMITTED, bucket share-locked, the current
        // row locked for update), plus the replaced row copied as it is
        // into the versions namespace.
        transaction!(self, IsolationLevel::ReadCommitted, |tx| {
            let lock_bucket = tx.prepare_cached(LOCK_BUCKET).await.map_err(sql)?;
            let lock_row = tx
                .prepare_cached(
                    "SELECT attrs, layout FROM objects WHERE bucket = $1 AND key = $2
                     FOR UPDATE",
                )
                .await
                .map_err(sql)?;
            let newest = tx
                .prepare_cached(
                    "SELECT attrs, layout FROM objects
                     WHERE bucket = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT 1",
                )
                .await
                .map_err(sql)?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO objects (bucket, key, attrs, layout) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (bucket, key) DO NOTHING",
                )
                .await
                .map_err(sql)?;
            let update = tx
                .prepare_cached(
                    "UPDATE objects SET attrs = $3, layout = $4 WHERE bucket = $1 AND key = $2",
                )
                .await
                .map_err(sql)?;
            if tx
                .query_opt(&lock_bucket, &[&bucket])
                .await
                .map_err(sql)?
                .is_none()
            {
                return Err(MetaError::NoSuchBucket);
            }
            let mut row = tx
                .query_opt(&lock_row, &[&bucket, &row_key])
                .await
                .map_err(sql)?;
            for _ in 0..8 {
                let columns: Option<(Vec<u8>, Vec<u8>)> = row.map(|r| (r.get(0), r.get(1)));
                let current = match &columns {
                    Some((attrs, layout)) => Some(self.decode_object(attrs, layout).await?),
                    None => None,
                };
                if let Err(refused) = condition.check(current.as_ref().map(|m| m.etag.as_str())) {
                    return Ok(Err(refused));
                }
                let newest_noncurrent = match &current {
                    Some(_) => None,
                    None => match tx
                        .query_opt(&newest, &[&namespace, &history, &history_end])
                        .await
                        .map_err(sql)?
                    {
                        Some(r) => Some(self.decode_object(r.get(0), r.get(1)).await?),
                        None => None,
                    },
                };
                let mut written = meta.clone();
                let moved = supersede(
                    key,
                    current.as_ref(),
                    newest_noncurrent.as_ref(),
                    &mut written,
                );
                let attrs = encode(&ObjectMeta {
                    parts: Vec::new(),
                    ..written.clone()
                });
                if let (Some((history_row, _)), Some((old_attrs, old_layout))) = (&moved, &columns)
                {
                    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                        [&namespace, &history_row.as_bytes(), old_attrs, old_layout];
                    if tx.execute(&insert, &params).await.map_err(sql)? == 0 {
                        return Err(MetaError::Retry);
                    }
                }
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                    [&bucket, &row_key, &attrs, &layout];
                if current.is_some() {
                    tx.execute(&update, &params).await.map_err(sql)?;
                    return Ok(Ok(written));
                }
                if tx.execute(&insert, &params).await.map_err(sql)? == 1 {
                    // A delete marker committed while this insert waited
                    // (its batch held this row's place) is newer than the
                    // version read above: stamp this one above it.
                    let again = match tx
                        .query_opt(&newest, &[&namespace, &history, &history_end])
                        .await
                        .map_err(sql)?
                    {
                        Some(r) => Some(self.decode_object(r.get(0), r.get(1)).await?),
                        None => None,
                    };
                    if again != newest_noncurrent {
                        supersede(key, None, again.as_ref(), &mut written);
                        let attrs = encode(&ObjectMeta {
                            parts: Vec::new(),
                            ..written.clone()
                        });
                        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                            [&bucket, &row_key, &attrs, &layout];
                        tx.execute(&update, &params).await.map_err(sql)?;
                    }
                    return Ok(Ok(written));
                }
                row = tx
                    .query_opt(&lock_row, &[&bucket, &row_key])
                    .await
                    .map_err(sql)?;
            }
            Err(MetaError::Retry)
        })
    }

    async fn write_objects(
        &self,
        bucket: &str,
        writes: Vec<ObjectWrite>,
        completes: Option<&Completion>,
    ) -> Result<Result<(), BatchRefused>, MetaError> {
        // The completed upload's parts as they are stored, to compare
        // byte for byte.
        let mut expected_parts = Vec::new();
        for part in completes.map(|c| c.parts.as_slice()).unwrap_or_default() {
            let number = i64::from(part.part_number);
            expected_parts.push((number, self.encode_part(part).await?));
        }
        let mut encoded = Vec::with_capacity(writes.len());
        for write in &writes {
            if owning_bucket(&write.bucket) != bucket {
                return Err(MetaError::Corrupt(format!(
                    "a write to {} in a batch for bucket {bucket}",
                    write.bucket
                )));
            }
            encoded.push(match &write.value {
                Some(meta) => Some(self.encode_object(meta).await?),
                None => None,
            });
        }
        // READ COMMITTED with row locks, as put_object: the bucket row is
        // share-locked against DeleteBucket, conditioned rows that exist
        // are locked for update before their conditions are checked, and
        // a row that had to be absent but was inserted meanwhile makes the
        // whole batch roll back and run again (then its condition fails).
        transaction!(self, IsolationLevel::ReadCommitted, |tx| {
            let lock_bucket = tx.prepare_cached(LOCK_BUCKET).await.map_err(sql)?;
            if tx
                .query_opt(&lock_bucket, &[&bucket])
                .await
                .map_err(sql)?
                .is_none()
            {
                return Err(MetaError::NoSuchBucket);
            }
            // The completed upload's row is locked for update: another
            // completion or an abort waits for this one, then finds it gone
            // (put_part holds a share lock on it while it records a part).
            if let Some(c) = completes {
                let id = c.upload_id.as_str();
                if !exists(
                    &tx,
                    "SELECT 1 FROM uploads WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .await?
                {
                    return Ok(Err(BatchRefused::Upload));
                }
                let stored = tx
                    .prepare_cached("SELECT layout FROM parts WHERE upload_id = $1 AND number = $2")
                    .await
                    .map_err(sql)?;
                for (number, layout) in &expected_parts {
                    let row = tx.query_opt(&stored, &[&id, number]).await.map_err(sql)?;
                    // After the record version byte: a part stored at
                    // version 1 (before salts) encodes as version 2 does.
                    let same =
                        |r: &tokio_postgres::Row| r.get::<_, &[u8]>(0).get(1..) == layout.get(1..);
                    if !row.as_ref().is_some_and(same) {
                        return Ok(Err(BatchRefused::Upload));
                    }
                }
            }
            let lock_row = tx
                .prepare_cached(
                    "SELECT attrs, layout FROM objects WHERE bucket = $1 AND key = $2 FOR UPDATE",
                )
                .await
                .map_err(sql)?;
            let insert_new = tx
                .prepare_cached(
                    "INSERT INTO objects (bucket, key, attrs, layout) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (bucket, key) DO NOTHING",
                )
                .await
                .map_err(sql)?;
            // A row that must stay absent (a delete marker's key with no
            // current version) is held by a placeholder until the commit,
            // which removes it: a writer inserting that row meanwhile
            // waits for this transaction, and one that inserted it first
            // makes this one wait, then refuse (a FOR UPDATE read of an
            // absent row would lock nothing). Placed after every other
            // condition held, and removed again if one cannot be placed,
            // so that a refused batch (which commits) leaves none.
            let held_absent =
                |w: &ObjectWrite| w.condition == RowCondition::Absent && w.value.is_none();
            for (i, write) in writes.iter().enumerate() {
                if write.condition == RowCondition::Any || held_absent(write) {
                    continue;
                }
                let row = tx
                    .query_opt(&lock_row, &[&write.bucket, &write.key.as_bytes()])
                    .await
                    .map_err(sql)?;
                let current = match row {
                    Some(row) => Some(self.decode_object(row.get(0), row.get(1)).await?),
                    None => None,
                };
                if !write.condition.holds(current.as_ref()) {
                    return Ok(Err(BatchRefused::Row(i)));
                }
            }
            let placeholder: &[u8] = &[];
            let mut placed: Vec<&ObjectWrite> = Vec::new();
            for (i, write) in writes.iter().enumerate().filter(|(_, w)| held_absent(w)) {
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
                    &write.bucket,
                    &write.key.as_bytes(),
                    &placeholder,
                    &placeholder,
                ];
                if tx.execute(&insert_new, &params).await.map_err(sql)? == 0 {
                    let remove = "DELETE FROM objects WHERE bucket = $1 AND key = $2";
                    for w in placed {
                        tx.execute(remove, &[&w.bucket, &w.key.as_bytes()])
                            .await
                            .map_err(sql)?;
                    }
                    return Ok(Err(BatchRefused::Row(i)));
                }
                placed.push(write);
            }
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO objects (bucket, key, attrs, layout) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (bucket, key) DO UPDATE SET attrs = excluded.attrs,
                     layout = excluded.layout",
                )
                .await
                .map_err(sql)?;
            let remove = tx
                .prepare_cached("DELETE FROM objects WHERE bucket = $1 AND key = $2")
                .await
                .map_err(sql)?;
            for (write, columns) in writes.iter().zip(&encoded) {
                let key = write.key.as_bytes();
                match columns {
                    Some((attrs, layout)) => {
                        let statement = if write.condition == RowCondition::Absent {
                            &insert_new
                        } else {
                            &upsert
                        };
                        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                            [&write.bucket, &key, attrs, layout];
                        if tx.execute(statement, &params).await.map_err(sql)? == 0 {
                            // Inserted by another writer since the check.
                            return Err(MetaError::Retry);
                        }
                    }
                    // (For a row that must stay absent: the placeholder.)
                    None => {
                        tx.execute(&remove, &[&write.bucket, &key])
                            .await
                            .map_err(sql)?;
                    }
                }
            }
            if let Some(c) = completes {
                let id = c.upload_id.as_str();
                tx.execute("DELETE FROM parts WHERE upload_id = $1", &[&id])
                    .await
                    .map_err(sql)?;
                tx.execute("DELETE FROM uploads WHERE id = $1", &[&id])
                    .await
                    .map_err(sql)?;
            }
            Ok(Ok(()))
        })
    }

    async fn object_in_bucket(&self, bucket: &str, key: &str) -> Result<Lookup, MetaError> {
        // One statement answers both "is there such a bucket" and "is
        // there such an object".
        let row = self
            .readers
            .query_opt(readers::Lookup::ObjectInBucket, &[&bucket, &key.as_bytes()])
            .await?;
        let Some(row) = row else {
            return Ok(Lookup::NoSuchBucket);
        };
        let (attrs, layout): (Option<&[u8]>, Option<&[u8]>) = (row.get(0), row.get(1));
        match (attrs, layout) {
            (Some(attrs), Some(layout)) => Ok(Lookup::Found(Box::new(
                self.decode_object(attrs, layout).await?,
            ))),
            _ => Ok(Lookup::NoSuchKey),
        }
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, MetaError> {
        let row = self
            .readers
            .query_opt(readers::Lookup::Object, &[&bucket, &key.as_bytes()])
            .await?;
        match row {
            Some(row) => Ok(Some(self.decode_object(row.get(0), row.get(1)).await?)),
            None => Ok(None),
        }
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectMeta>, MetaError> {
        let key = key.as_bytes();
        let removed: Option<(Vec<u8>, Vec<u8>)> = serializable!(self, |tx| {
            require_bucket(&tx, bucket).await?;
            let row = tx
                .query_opt(
                    "DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING attrs, layout",
                    &[&bucket, &key],
                )
                .await
                .map_err(sql)?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })?;
        match removed {
            Some((attrs, layout)) => match self.decode_object(&attrs, &layout).await {
                Ok(meta) => Ok(Some(meta)),
                Err(e) => {
                    tracing::warn!(bucket, error = %e, "deleted an unreadable manifest");
                    Ok(None)
                }
            },
            None => Ok(None),
        }
    }

    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, MetaError> {
        if self.bucket(owning_bucket(bucket)).await?.is_none() {
            return Err(MetaError::NoSuchBucket);
        }
        list::list(self, bucket, q).await
    }

    async fn objects_after(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, String, ObjectMeta)>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match &after {
            Some((bucket, key)) => client
                .query(
                    "SELECT bucket, key, attrs, layout FROM objects
                     WHERE (bucket, key) > ($1, $2) ORDER BY bucket, key LIMIT $3",
                    &[bucket, &key.as_bytes(), &limit],
                )
                .await
                .map_err(sql)?,
            None => client
                .query(
                    "SELECT bucket, key, attrs, layout FROM objects ORDER BY bucket, key LIMIT $1",
                    &[&limit],
                )
                .await
                .map_err(sql)?,
        };
        drop(client);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let bucket: String = row.get(0);
            let key = key_string(row.get(1), "object key")?;
            match self.decode_object(row.get(2), row.get(3)).await {
                Ok(meta) => out.push((bucket, key, meta)),
                Err(e) => {
                    tracing::warn!(bucket, key, error = %e, "skipping an unreadable manifest")
                }
            }
        }
        Ok(out)
    }

    async fn move_shards(
        &self,
        segment: &SegmentKey,
        version: (&str, u64),
        moves: &[ShardMove],
    ) -> Result<bool, MetaError> {
        let key = segment.key.as_bytes();
        let bucket = segment.bucket.as_str();
        // The new layout is computed from the current one inside the
        // transaction; aliases for the new nodes are made first.
        let new_nodes: HashSet<Vec<u8>> = moves.iter().map(|(_, _, to)| to.node.clone()).collect();
        let aliases = self.alias_nodes(&new_nodes).await?;
        let current = {
            let client = self.pool.get().await.map_err(pool_error)?;
            client
                .query_opt(
                    "SELECT attrs, layout FROM objects WHERE bucket = $1 AND key = $2",
                    &[&bucket, &key],
                )
                .await
                .map_err(sql)?
                .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
        };
        let Some((attrs, layout)) = current else {
            return Ok(false);
        };
        let mut meta = self.decode_object(&attrs, &layout).await?;
        if meta.etag != version.0 || meta.last_modified != version.1 {
            return Ok(false);
        }
        let Some(target) = meta
            .parts
            .get_mut(segment.part as usize)
            .and_then(|p| p.segments.get_mut(segment.segment as usize))
        else {
            return Ok(false);
        };
        for (index, from, _) in moves {
            if target.shards.get(*index) != Some(from) {
                return Ok(false);
            }
        }
        for (index, _, to) in moves {
            target.shards[*index] = to.clone();
        }
        let mut all = self.alias_nodes(&compact::nodes_of(&meta.parts)).await?;
        all.extend(aliases);
        let new_layout = compact::encode_parts(&meta.parts, &all);
        // Swap only if the row is still exactly what was read.
        serializable!(self, |tx| {
            let changed = tx
                .execute(
                    "UPDATE objects SET layout = $4
                     WHERE bucket = $1 AND key = $2 AND attrs = $3 AND layout = $5",
                    &[&bucket, &key, &attrs, &new_layout, &layout],
                )
                .await
                .map_err(sql)?;
            Ok(changed == 1)
        })
    }

    async fn shard_references(&self) -> Result<HashSet<ShardCopy>, MetaError> {
        // One snapshot of objects and parts.
        let (objects, parts): (Vec<Vec<u8>>, Vec<Vec<u8>>) = {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(sql)?;
            let objects = tx
                .query("SELECT layout FROM objects", &[])
                .await
                .map_err(sql)?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            let parts = tx
                .query("SELECT layout FROM parts", &[])
                .await
                .map_err(sql)?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            tx.commit().await.map_err(sql)?;
            (objects, parts)
        };
        let mut refs = HashSet::new();
        for layout in objects.iter().chain(&parts) {
            for part in self.decode_parts(layout).await? {
                for shard in part.segments.iter().flat_map(|s| &s.shards) {
                    refs.insert((shard.node.clone(), shard.id));
                }
            }
        }
        Ok(refs)
    }

    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        template: &ObjectMeta,
    ) -> Result<String, MetaError> {
        let template = encode(template);
        let initiated = i64_of(now_ms());
        serializable!(self, |tx| {
            require_bucket(&tx, bucket).await?;
            let seq: i64 = tx
                .query_one(
                    "INSERT INTO counters (name, value) VALUES ('upload_seq', 1)
                     ON CONFLICT (name) DO UPDATE SET value = counters.value + 1
                     RETURNING value",
                    &[],
                )
                .await
                .map_err(sql)?
                .get(0);
            let id = names::new_upload_id();
            tx.execute(
                "INSERT INTO uploads (id, bucket, key, initiated, seq, template)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&id, &bucket, &key.as_bytes(), &initiated, &seq, &template],
            )
            .await
            .map_err(sql)?;
            Ok(id)
        })
    }

    async fn put_part(
        &self,
        upload_id: &str,
        part: &PartLayout,
        checksum: Option<&str>,
    ) -> Result<Option<PartLayout>, MetaError> {
        if upload_id.len() != UPLOAD_ID_LEN {
            return Err(MetaError::NoSuchUpload);
        }
        let layout = self.encode_part(part).await?;
        let number = i64::from(part.part_number);
        let old: Option<Vec<u8>> = serializable!(self, |tx| {
            // Shared: a completion holding the row for update is waited
            // for, and then this transaction retries and finds it gone.
            let lock = "SELECT 1 FROM uploads WHERE id = $1 FOR SHARE";
            if !exists(&tx, lock, &[&upload_id]).await? {
                return Err(MetaError::NoSuchUpload);
            }
            let old = tx
                .query_opt(
                    "SELECT layout FROM parts WHERE upload_id = $1 AND number = $2",
                    &[&upload_id, &number],
                )
                .await
                .map_err(sql)?
                .map(|r| r.get(0));
            tx.execute(
                "INSERT INTO parts (upload_id, number, layout, checksum) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (upload_id, number)
                 DO UPDATE SET layout = excluded.layout, checksum = excluded.checksum",
                &[&upload_id, &number, &layout, &checksum],
            )
            .await
            .map_err(sql)?;
            Ok(old)
        })?;
        match old {
            Some(layout) => Ok(Some(self.decode_part(&layout).await?)),
            None => Ok(None),
        }
    }

    async fn upload(&self, upload_id: &str) -> Result<Option<UploadState>, MetaError> {
        if upload_id.len() != UPLOAD_ID_LEN {
            return Ok(None);
        }
        let (head, parts) = {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(sql)?;
            let head = tx
                .query_opt(
                    "SELECT bucket, key, template FROM uploads WHERE id = $1",
                    &[&upload_id],
                )
                .await
                .map_err(sql)?;
            let parts = tx
                .query(
                    "SELECT layout FROM parts WHERE upload_id = $1 ORDER BY number",
                    &[&upload_id],
                )
                .await
                .map_err(sql)?;
            tx.commit().await.map_err(sql)?;
            (head, parts)
        };
        let Some(head) = head else {
            return Ok(None);
        };
        let mut layouts = Vec::with_capacity(parts.len());
        for row in parts {
            layouts.push(self.decode_part(row.get(0)).await?);
        }
        let template: ObjectMeta = decode(head.get(2), "upload template")?;
        Ok(Some((
            head.get(0),
            key_string(head.get(1), "upload key")?,
            template,
            layouts,
        )))
    }

    async fn part_checksums(&self, upload_id: &str) -> Result<Vec<(u32, String)>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                "SELECT number, checksum FROM parts
                 WHERE upload_id = $1 AND checksum IS NOT NULL ORDER BY number",
                &[&upload_id],
            )
            .await
            .map_err(sql)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u32, r.get(1)))
            .collect())
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String, u64)>, MetaError> {
        if self.bucket(bucket).await?.is_none() {
            return Err(MetaError::NoSuchBucket);
        }
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                "SELECT key, id, initiated, seq FROM uploads WHERE bucket = $1",
                &[&bucket],
            )
            .await
            .map_err(sql)?;
        let mut found = Vec::new();
        for row in rows {
            let key = key_string(row.get(0), "upload key")?;
            if key.starts_with(prefix) {
                let (id, initiated, seq): (String, i64, i64) = (row.get(1), row.get(2), row.get(3));
                found.push((key, initiated, seq, id));
            }
        }
        found.sort_by(|a, b| (a.0.as_bytes(), a.1, a.2).cmp(&(b.0.as_bytes(), b.1, b.2)));
        Ok(found
            .into_iter()
            .map(|(key, initiated, _, id)| (key, id, u64_of(initiated)))
            .collect())
    }

    async fn remove_upload(&self, upload_id: &str) -> Result<Option<Vec<PartLayout>>, MetaError> {
        if upload_id.len() != UPLOAD_ID_LEN {
            return Ok(None);
        }
        let removed: Option<Vec<Vec<u8>>> = serializable!(self, |tx| {
            let gone = tx
                .execute("DELETE FROM uploads WHERE id = $1", &[&upload_id])
                .await
                .map_err(sql)?;
            if gone == 0 {
                return Ok(None);
            }
            let rows = tx
                .query(
                    "DELETE FROM parts WHERE upload_id = $1 RETURNING number, layout",
                    &[&upload_id],
                )
                .await
                .map_err(sql)?;
            let mut rows: Vec<(i64, Vec<u8>)> =
                rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
            rows.sort_by_key(|(n, _)| *n);
            Ok(Some(rows.into_iter().map(|(_, l)| l).collect()))
        })?;
        match removed {
            Some(layouts) => {
                let mut parts = Vec::with_capacity(layouts.len());
                for layout in layouts {
                    parts.push(self.decode_part(&layout).await?);
                }
                Ok(Some(parts))
            }
            None => Ok(None),
        }
    }

    async fn node_health(&self) -> Result<Vec<(Vec<u8>, NodeHealthRecord)>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query("SELECT node, record FROM node_health", &[])
            .await
            .map_err(sql)?;
        rows.iter()
            .map(|r| Ok((r.get(0), decode(r.get::<_, &[u8]>(1), "node health")?)))
            .collect()
    }

    async fn put_node_health(
        &self,
        records: &[(Vec<u8>, NodeHealthRecord)],
    ) -> Result<(), MetaError> {
        let encoded: Vec<(&Vec<u8>, Vec<u8>)> =
            records.iter().map(|(n, r)| (n, encode(r))).collect();
        serializable!(self, |tx| {
            for (node, record) in &encoded {
                tx.execute(
                    "INSERT INTO node_health (node, record) VALUES ($1, $2)
                     ON CONFLICT (node) DO UPDATE SET record = excluded.record",
                    &[node, record],
                )
                .await
                .map_err(sql)?;
            }
            Ok(())
        })
    }

    async fn mark_bad_shard(
        &self,
        node: &[u8],
        shard: &[u8; 32],
        at: u64,
    ) -> Result<(), MetaError> {
        let (shard, at) = (shard.as_slice(), i64_of(at));
        serializable!(self, |tx| {
            tx.execute(
                "INSERT INTO bad_shards (node, shard, at) VALUES ($1, $2, $3)
                 ON CONFLICT (node, shard) DO UPDATE SET at = excluded.at",
                &[&node, &shard, &at],
            )
            .await
            .map_err(sql)?;
            Ok(())
        })
    }

    async fn bad_shards(&self) -> Result<Vec<ShardCopy>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query("SELECT node, shard FROM bad_shards", &[])
            .await
            .map_err(sql)?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let shard: &[u8] = r.get(1);
                Some((r.get(0), shard.try_into().ok()?))
            })
            .collect())
    }

    async fn clear_bad_shards(&self, pairs: &[ShardCopy]) -> Result<(), MetaError> {
        serializable!(self, |tx| {
            for (node, shard) in pairs {
                tx.execute(
                    "DELETE FROM bad_shards WHERE node = $1 AND shard = $2",
                    &[node, &shard.as_slice()],
                )
                .await
                .map_err(sql)?;
            }
            Ok(())
        })
    }

    async fn update_repair_queue(
        &self,
        degraded: &[(SegmentKey, u8)],
        healed: &[SegmentKey],
        now: u64,
    ) -> Result<(), MetaError> {
        if degraded.is_empty() && healed.is_empty() {
            return Ok(());
        }
        let now = i64_of(now);
        let degraded: Vec<(Vec<u8>, i16)> = degraded
            .iter()
            .map(|(s, h)| (s.to_bytes(), i16::from(*h)))
            .collect();
        let healed: Vec<Vec<u8>> = healed.iter().map(SegmentKey::to_bytes).collect();
        serializable!(self, |tx| {
            for (segment, healthy) in &degraded {
                tx.execute(
                    "INSERT INTO repair_queue (segment, healthy, queued) VALUES ($1, $2, $3)
                     ON CONFLICT (segment) DO UPDATE SET healthy = excluded.healthy",
                    &[segment, healthy, &now],
                )
                .await
                .map_err(sql)?;
            }
            for segment in &healed {
                tx.execute("DELETE FROM repair_queue WHERE segment = $1", &[segment])
                    .await
                    .map_err(sql)?;
            }
            Ok(())
        })
    }

    async fn repair_queue(&self) -> Result<Vec<(SegmentKey, RepairEntry)>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query("SELECT segment, healthy, queued FROM repair_queue", &[])
            .await
            .map_err(sql)?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok((
                    SegmentKey::from_bytes(r.get(0))?,
                    RepairEntry {
                        healthy: u8::try_from(r.get::<_, i16>(1)).unwrap_or(0),
                        queued: u64_of(r.get(2)),
                    },
                ))
            })
            .collect::<Result<Vec<_>, MetaError>>()?;
        out.sort_by(|(ka, a), (kb, b)| {
            (a.healthy, a.queued, ka.to_bytes()).cmp(&(b.healthy, b.queued, kb.to_bytes()))
        });
        Ok(out)
    }

    async fn update_rebalance_queue(
        &self,
        crowded: &[SegmentKey],
        done: &[SegmentKey],
        now: u64,
    ) -> Result<(), MetaError> {
        if crowded.is_empty() && done.is_empty() {
            return Ok(());
        }
        let now = i64_of(now);
        let crowded: Vec<Vec<u8>> = crowded.iter().map(SegmentKey::to_bytes).collect();
        let done: Vec<Vec<u8>> = done.iter().map(SegmentKey::to_bytes).collect();
        serializable!(self, |tx| {
            for segment in &crowded {
                tx.execute(
                    "INSERT INTO rebalance_queue (segment, queued) VALUES ($1, $2)
                     ON CONFLICT (segment) DO NOTHING",
                    &[segment, &now],
                )
                .await
                .map_err(sql)?;
            }
            for segment in &done {
                tx.execute("DELETE FROM rebalance_queue WHERE segment = $1", &[segment])
                    .await
                    .map_err(sql)?;
            }
            Ok(())
        })
    }

    async fn rebalance_queue(&self) -> Result<Vec<SegmentKey>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query("SELECT segment, queued FROM rebalance_queue", &[])
            .await
            .map_err(sql)?;
        let mut out: Vec<(i64, Vec<u8>)> = rows.iter().map(|r| (r.get(1), r.get(0))).collect();
        out.sort();
        out.into_iter()
            .map(|(_, k)| SegmentKey::from_bytes(&k))
            .collect()
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, MetaError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_opt("SELECT value FROM settings WHERE name = $1", &[&name])
            .await
            .map_err(sql)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), MetaError> {
        serializable!(self, |tx| {
            tx.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&name, &value],
            )
            .await
            .map_err(sql)?;
            Ok(())
        })
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, MetaError> {
        let ttl = i64_of(ttl.as_millis() as u64);
        serializable!(self, |tx| {
            // The database's clock, not the gateways': theirs may disagree.
            let now: i64 = tx
                .query_one(
                    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT",
                    &[],
                )
                .await
                .map_err(sql)?
                .get(0);
            let expires = now + ttl;
            let row = tx
                .query_opt(
                    "SELECT holder, expires FROM leases WHERE name = $1",
                    &[&name],
                )
                .await
                .map_err(sql)?;
            if let Some(row) = row {
                let (current, until): (String, i64) = (row.get(0), row.get(1));
                if current != holder && until > now {
                    return Ok(false);
                }
            }
            tx.execute(
                "INSERT INTO leases (name, holder, expires) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires",
                &[&name, &holder, &expires],
            )
            .await
            .map_err(sql)?;
            Ok(true)
        })
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), MetaError> {
        serializable!(self, |tx| {
            tx.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .await
            .map_err(sql)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_messages() {
        assert_eq!(
            redact("postgres://cairn:s3cret@db.example:5432/cairn"),
            "postgres://cairn:***@db.example:5432/cairn"
        );
        assert_eq!(
            redact("postgres://cairn@127.0.0.1/cairn"),
            "postgres://cairn@127.0.0.1/cairn"
        );
    }

    #[test]
    fn a_server_that_is_away_or_full_is_unavailable_not_a_fault() {
        for code in [
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::DISK_FULL,
        ] {
            assert!(unavailable_class(code.code()), "{}", code.code());
        }
        for code in [
            SqlState::UNDEFINED_TABLE,
            SqlState::SYNTAX_ERROR,
            SqlState::QUERY_CANCELED,
            SqlState::PROTOCOL_VIOLATION,
            SqlState::CONFIGURATION_LIMIT_EXCEEDED,
        ] {
            assert!(!unavailable_class(code.code()), "{}", code.code());
        }
    }
}
