//! The schema, as numbered migrations applied in order at start.
//!
//! Only what CockroachDB also accepts: plain tables and indexes, no
//! extensions, no advisory locks, no PostgreSQL-only types. Object keys are
//! `BYTEA`, so a bucket's objects are one range of the primary key in S3's
//! binary (UTF-8 byte) order whatever the database's collation. Manifests
//! are two binary columns: the S3 attributes (postcard) and the shard
//! layout with node ids replaced by small aliases (`node_aliases`), as
//! Storj's metabase does.

/// Migration `i` (1-based) is `MIGRATIONS[i - 1]`: statements run in one
/// transaction, after which `schema_migrations` records the version.
pub(super) const MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE IF NOT EXISTS access_keys (
        id TEXT PRIMARY KEY,
        sealed BYTEA NOT NULL
    )",
        "CREATE TABLE IF NOT EXISTS buckets (
        name TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        owner TEXT NOT NULL,
        created INT8 NOT NULL,
        acl INT2 NOT NULL
    )",
        "CREATE TABLE IF NOT EXISTS node_aliases (
        node BYTEA PRIMARY KEY,
        alias INT8 NOT NULL UNIQUE
    )",
        "CREATE TABLE IF NOT EXISTS objects (
        bucket TEXT NOT NULL,
        key BYTEA NOT NULL,
        attrs BYTEA NOT NULL,
        layout BYTEA NOT NULL,
        PRIMARY KEY (bucket, key)
    )",
        "CREATE TABLE IF NOT EXISTS uploads (
        id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        key BYTEA NOT NULL,
        initiated INT8 NOT NULL,
        seq INT8 NOT NULL,
        template BYTEA NOT NULL
    )",
        "CREATE INDEX IF NOT EXISTS uploads_by_bucket ON uploads (bucket, key, initiated, seq)",
        "CREATE TABLE IF NOT EXISTS parts (
        upload_id TEXT NOT NULL,
        number INT8 NOT NULL,
        layout BYTEA NOT NULL,
        checksum TEXT,
        PRIMARY KEY (upload_id, number)
    )",
        "CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INT8 NOT NULL
    )",
        "CREATE TABLE IF NOT EXISTS node_health (
        node BYTEA PRIMARY KEY,
        record BYTEA NOT NULL
    )",
        "CREATE TABLE IF NOT EXISTS bad_shards (
        node BYTEA NOT NULL,
        shard BYTEA NOT NULL,
        at INT8 NOT NULL,
        PRIMARY KEY (node, shard)
    )",
        "CREATE TABLE IF NOT EXISTS repair_queue (
        segment BYTEA PRIMARY KEY,
        healthy INT2 NOT NULL,
        queued INT8 NOT NULL
    )",
        "CREATE TABLE IF NOT EXISTS rebalance_queue (
        segment BYTEA PRIMARY KEY,
        queued INT8 NOT NULL
    )",
        "CREATE TABLE IF NOT EXISTS settings (
        name TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    )",
        "CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires INT8 NOT NULL
    )",
    ],
    &[
        // 2: what keys other than a bucket's creator may do in it.
        "CREATE TABLE IF NOT EXISTS bucket_grants (
        bucket TEXT NOT NULL,
        key_id TEXT NOT NULL,
        perms INT2 NOT NULL,
        PRIMARY KEY (bucket, key_id)
    )",
        "CREATE INDEX IF NOT EXISTS bucket_grants_by_key ON bucket_grants (key_id)",
    ],
    &[
        // 3: per-key flags (bit 0: may not create buckets); no row: none set.
        "CREATE TABLE IF NOT EXISTS key_flags (
        key_id TEXT PRIMARY KEY,
        flags INT2 NOT NULL
    )",
    ],
    &[
        // 4: bucket configuration documents (policy, CORS, public access
        // block), by kind.
        "CREATE TABLE IF NOT EXISTS bucket_configs (
        bucket TEXT NOT NULL,
        kind TEXT NOT NULL,
        value BYTEA NOT NULL,
        PRIMARY KEY (bucket, kind)
    )",
    ],
    &[
        // 5: the names the operator gave keys.
        "CREATE TABLE IF NOT EXISTS key_names (
        key_id TEXT PRIMARY KEY,
        name TEXT NOT NULL
    )",
    ],
];
