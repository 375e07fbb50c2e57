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
//!
//! While the database is unreachable no caller waits longer than one
//! connect timeout: a connection attempt (socket, start-up and prepared
//! statements) has one deadline, the wait for another task's attempt has
//! the same, and for a second after an attempt fails every caller is told
//! at once. A lookup that gets no answer within [`QUERY_TIMEOUT`] drops its
//! connection (a socket whose far end vanished without a reset is never
//! seen as closed otherwise) so the next caller opens a new one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::sql;
use crate::meta::MetaError;

/// How long a failed connection attempt answers for: callers within this
/// time of it fail at once with its reason instead of trying again.
const REMEMBER_FAILURE: Duration = Duration::from_secs(1);
/// How long a lookup may wait for its answer before its connection is
/// taken as dead. A primary-key lookup takes a millisecond.
pub(super) const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Deadline of one connection attempt, and of waiting for one.
    connect_timeout: Duration,
    /// When the last connection attempt failed, and why.
    failed: Mutex<Option<(Instant, String)>>,
}

/// Which prepared lookup to run.
#[derive(Clone, Copy)]
pub(super) enum Lookup {
    /// [`OBJECT_IN_BUCKET`].
    ObjectInBucket,
    /// [`OBJECT`].
    Object,
}

impl Readers {
    /// `count` shared connections to the database `config` names (opened
    /// when first used), each attempt bounded by `connect_timeout`.
    pub fn new(config: tokio_postgres::Config, count: usize, connect_timeout: Duration) -> Self {
        Self {
            config,
            slots: (0..count.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
            connect_timeout,
            failed: Mutex::new(None),
        }
    }

    /// Runs `lookup` on the next shared connection: at most one row. A
    /// lookup with no answer within [`QUERY_TIMEOUT`] fails with
    /// `Unavailable` and drops the connection.
    pub async fn query_opt(
        &self,
        lookup: Lookup,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, MetaError> {
        let (slot, reader) = self.get().await?;
        let statement = match lookup {
            Lookup::ObjectInBucket => &reader.object_in_bucket,
            Lookup::Object => &reader.object,
        };
        match tokio::time::timeout(QUERY_TIMEOUT, reader.client.query_opt(statement, params)).await
        {
            Ok(row) => row.map_err(sql),
            Err(_) => {
                let mut current = slot.current.write().expect("reader slot");
                if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &reader)) {
                    *current = None;
                }
                Err(MetaError::Unavailable(format!(
                    "the database did not answer a lookup within {QUERY_TIMEOUT:?}"
                )))
            }
        }
    }

    /// The next shared connection and its slot, opened if it is not (or no
    /// longer).
    async fn get(&self) -> Result<(&Slot, Arc<Reader>), MetaError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(reader) = live(slot) {
            return Ok((slot, reader));
        }
        self.recent_failure()?;
        let _connecting = tokio::time::timeout(self.connect_timeout, slot.connecting.lock())
            .await
            .map_err(|_| {
                MetaError::Unavailable("timed out waiting for a connection to the database".into())
            })?;
        if let Some(reader) = live(slot) {
            return Ok((slot, reader));
        }
        self.recent_failure()?;
        let reader = match tokio::time::timeout(self.connect_timeout, self.connect()).await {
            Ok(Ok(reader)) => Arc::new(reader),
            Ok(Err(e)) => return Err(self.remember(e)),
            Err(_) => {
                let timeout = self.connect_timeout;
                return Err(self.remember(MetaError::Unavailable(format!(
                    "connecting to the database timed out after {timeout:?}"
                ))));
            }
        };
        *self.failed.lock().expect("failure record") = None;
        *slot.current.write().expect("reader slot") = Some(reader.clone());
        Ok((slot, reader))
    }

    /// Fails at once if a connection attempt failed within the last
    /// [`REMEMBER_FAILURE`].
    fn recent_failure(&self) -> Result<(), MetaError> {
        match &*self.failed.lock().expect("failure record") {
            Some((at, why)) if at.elapsed() < REMEMBER_FAILURE => {
                Err(MetaError::Unavailable(why.clone()))
            }
            _ => Ok(()),
        }
    }

    fn remember(&self, error: MetaError) -> MetaError {
        let why = match &error {
            MetaError::Unavailable(why) => why.clone(),
            other => other.to_string(),
        };
        *self.failed.lock().expect("failure record") = Some((Instant::now(), why));
        error
    }

    /// Opens a connection and prepares the lookups (the caller bounds it).
    async fn connect(&self) -> Result<Reader, MetaError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(sql)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A "database" that accepts connections and never says a word, like a
    /// host that froze: every caller must still be answered within about
    /// one connect timeout, not one timeout per caller before it.
    #[tokio::test]
    async fn callers_of_a_silent_database_all_fail_within_one_connect_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                keep.lock().unwrap().push(socket);
            }
        });
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user("cairn")
            .dbname("cairn");
        let timeout = Duration::from_millis(300);
        let readers = Arc::new(Readers::new(config, 1, timeout));
        let started = Instant::now();
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let readers = readers.clone();
                tokio::spawn(async move {
                    readers
                        .query_opt(Lookup::Object, &[&format!("b{i}"), &b"k".as_slice()])
                        .await
                })
            })
            .collect();
        for call in calls {
            let result = call.await.unwrap();
            assert!(
                matches!(result, Err(MetaError::Unavailable(_))),
                "a silent database gives Unavailable"
            );
        }
        // Eight callers queued on one slot: before, each made its own
        // attempt in turn (8 x 300 ms); now the first attempt's failure
        // answers the rest.
        let took = started.elapsed();
        assert!(took < timeout * 3, "8 callers took {took:?}");
        // Only one attempt reached the listener while the failure was fresh.
        assert_eq!(held.lock().unwrap().len(), 1);
    }
}
