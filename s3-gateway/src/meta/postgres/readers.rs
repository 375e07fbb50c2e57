//! Shared connections for the hottest statements: the object lookups of
//! GET and HEAD.
//!
//! A pooled connection serves one request at a time, so 32 GETs in flight
//! keep 16 connections (16 server processes) each busy for one round trip
//! and put every request through the pool's queue. A tokio-postgres client
//! can instead be used by many tasks at once: their queries go out on one
//! socket back to back (pipelined) and the answers come back in order. A
//! few such clients, taken in turn, serve the lookups with fewer server
//! processes, fewer wake-ups and no waiting for a free connection. Each is
//! opened on first use and again after it is lost (the call that finds it
//! lost fails with `Unavailable`, as a pooled one would).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tokio_postgres::{Client, NoTls, Statement};

use super::{CONNECT_TIMEOUT, sql};
use crate::meta::MetaError;

/// The bucket-and-object lookup: one row if the bucket exists, with the
/// object's columns NULL when the key does not.
const OBJECT_IN_BUCKET: &str = "SELECT o.attrs, o.layout FROM buckets b
     LEFT JOIN objects o ON o.bucket = b.name AND o.key = $2
     WHERE b.name = $1";
/// The object lookup alone.
const OBJECT: &str = "SELECT attrs, layout FROM objects WHERE bucket = $1 AND key = $2";

/// One shared connection with its statements prepared.
pub(super) struct Reader {
    pub client: Client,
    pub object_in_bucket: Statement,
    pub object: Statement,
}

/// One place for a shared connection.
#[derive(Default)]
struct Slot {
    current: RwLock<Option<Arc<Reader>>>,
    /// Held while (re)connecting, so that one task connects per slot.
    connecting: tokio::sync::Mutex<()>,
}

/// A few shared connections, taken in turn.
pub(super) struct Readers {
    config: tokio_postgres::Config,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

impl Readers {
    /// `count` shared connections to the database `config` names (opened
    /// when first used).
    pub fn new(config: tokio_postgres::Config, count: usize) -> Self {
        Self {
            config,
            slots: (0..count.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next shared connection, opened if it is not (or no longer).
    pub async fn get(&self) -> Result<Arc<Reader>, MetaError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(reader) = live(slot) {
            return Ok(reader);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(reader) = live(slot) {
            return Ok(reader);
        }
        let reader = Arc::new(self.connect().await?);
        *slot.current.write().expect("reader slot") = Some(reader.clone());
        Ok(reader)
    }

    async fn connect(&self) -> Result<Reader, MetaError> {
        let (client, connection) =
            tokio::time::timeout(CONNECT_TIMEOUT, self.config.connect(NoTls))
                .await
                .map_err(|_| MetaError::Unavailable("connecting timed out".into()))?
                .map_err(sql)?;
        // The connection's task ends when the socket does; the client then
        // reports itself closed and the slot is opened again.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("shared metadata connection ended: {e}");
            }
        });
        let (object_in_bucket, object) =
            tokio::try_join!(client.prepare(OBJECT_IN_BUCKET), client.prepare(OBJECT))
                .map_err(sql)?;
        Ok(Reader {
            client,
            object_in_bucket,
            object,
        })
    }
}

/// The slot's connection if it is open.
fn live(slot: &Slot) -> Option<Arc<Reader>> {
    slot.current
        .read()
        .expect("reader slot")
        .as_ref()
        .filter(|reader| !reader.client.is_closed())
        .cloned()
}
