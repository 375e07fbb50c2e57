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
//! at once. A lookup that gets no answer within [`QUERY_TIMEOUT`] takes its
//! connection out of its slot and closes it (a socket whose far end
//! vanished without a reset is never seen as closed otherwise, and a server
//! that froze keeps it open), so the next caller opens a new one.

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
struct Reader {
    client: Client,
    object_in_bucket: Statement,
    object: Statement,
    /// The task driving the socket, closed with the reader.
    connection: ConnectionTask,
}

/// Aborts the task that drives a connection when dropped: tokio-postgres
/// keeps a connection open while a query waits for its answer, so a
/// connection given up on (timed out, or its prepare cut short) would stay
/// open, with its server process, for as long as the server stays silent.
struct ConnectionTask(tokio::task::AbortHandle);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
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
    /// Deadline of one lookup.
    query_timeout: Duration,
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
    /// when first used), each attempt bounded by `connect_timeout` and each
    /// lookup by `query_timeout`.
    pub fn new(
        config: tokio_postgres::Config,
        count: usize,
        connect_timeout: Duration,
        query_timeout: Duration,
    ) -> Self {
        Self {
            config,
            slots: (0..count.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
            connect_timeout,
            query_timeout,
            failed: Mutex::new(None),
        }
    }

    /// Runs `lookup` on the next shared connection: at most one row. A
    /// lookup with no answer within the query timeout fails with
    /// `Unavailable` and closes the connection (the lookups waiting on it
    /// fail at once too; the next caller opens a new one).
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
        let timeout = self.query_timeout;
        match tokio::time::timeout(timeout, reader.client.query_opt(statement, params)).await {
            Ok(row) => row.map_err(sql),
            Err(_) => {
                {
                    let mut current = slot.current.write().expect("reader slot");
                    if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &reader)) {
                        *current = None;
                    }
                }
                reader.connection.0.abort();
                Err(MetaError::Unavailable(format!(
                    "the database did not answer a lookup within {timeout:?}"
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

    /// Records a failed attempt if it means the database is out of reach
    /// (not, say, a wrong password, which stays a fault for every caller).
    fn remember(&self, error: MetaError) -> MetaError {
        if let MetaError::Unavailable(why) = &error {
            *self.failed.lock().expect("failure record") = Some((Instant::now(), why.clone()));
        }
        error
    }

    /// Opens a connection and prepares the lookups (the caller bounds it).
    async fn connect(&self) -> Result<Reader, MetaError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(sql)?;
        // The connection's task ends when the socket does; the client then
        // reports itself closed and the slot is opened again. If this
        // attempt is cut short (an error, or the caller's deadline), the
        // guard closes it.
        let connection = ConnectionTask(
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("shared metadata connection ended: {e}");
                }
            })
            .abort_handle(),
        );
        let (object_in_bucket, object) =
            tokio::try_join!(client.prepare(OBJECT_IN_BUCKET), client.prepare(OBJECT))
                .map_err(sql)?;
        Ok(Reader {
            client,
            object_in_bucket,
            object,
            connection,
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

    /// Starts a listener that accepts connections and never says a word,
    /// like a database host that froze; returns its port and the sockets
    /// it accepted.
    async fn silent_server() -> (u16, Arc<Mutex<Vec<tokio::net::TcpStream>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                keep.lock().unwrap().push(socket);
            }
        });
        (port, held)
    }

    fn config(port: u16) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user("cairn")
            .dbname("cairn");
        config
    }

    async fn lookup(readers: &Readers) -> Result<Option<Row>, MetaError> {
        readers
            .query_opt(Lookup::Object, &[&"bucket", &b"key".as_slice()])
            .await
    }

    #[tokio::test]
    async fn callers_of_a_silent_database_are_answered_within_one_connect_timeout() {
        let (port, held) = silent_server().await;
        let timeout = Duration::from_millis(300);
        let readers = Arc::new(Readers::new(config(port), 1, timeout, QUERY_TIMEOUT));
        let started = Instant::now();
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let readers = readers.clone();
                tokio::spawn(async move { lookup(&readers).await })
            })
            .collect();
        for call in calls {
            let result = call.await.unwrap();
            assert!(
                matches!(result, Err(MetaError::Unavailable(_))),
                "{result:?}"
            );
        }
        // All eight queued on one slot; one attempt was made, and its
        // deadline is what everyone waited for.
        let took = started.elapsed();
        assert!(took < timeout * 2, "8 callers took {took:?}");
        assert_eq!(held.lock().unwrap().len(), 1);

        // Callers right after the failure are told at once, without a new
        // attempt.
        let started = Instant::now();
        let result = lookup(&readers).await;
        assert!(
            matches!(result, Err(MetaError::Unavailable(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < timeout / 2, "{:?}", started.elapsed());
        assert_eq!(held.lock().unwrap().len(), 1);

        // The failure is not remembered for ever: a second later a caller
        // tries again.
        tokio::time::sleep(REMEMBER_FAILURE + Duration::from_millis(100)).await;
        let result = lookup(&readers).await;
        assert!(
            matches!(result, Err(MetaError::Unavailable(_))),
            "{result:?}"
        );
        assert_eq!(held.lock().unwrap().len(), 2);
    }

    /// Sends SIGSTOP or SIGCONT to a PostgreSQL server and all its
    /// processes (the backend serving a connection is a child).
    fn signal_server(pid: i32, signal: i32) {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for child in children
            .split_whitespace()
            .filter_map(|c| c.parse::<i32>().ok())
        {
            // SAFETY: signalling a process of the server this test started.
            unsafe { libc::kill(child, signal) };
        }
        // SAFETY: as above.
        unsafe { libc::kill(pid, signal) };
    }

    /// Resumes a stopped server even when an assertion fails.
    struct Resume(i32);

    impl Drop for Resume {
        fn drop(&mut self) {
            signal_server(self.0, libc::SIGCONT);
        }
    }

    #[tokio::test]
    async fn a_lookup_the_frozen_server_does_not_answer_closes_its_connection() {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir_path = dir.path().to_owned();
        let server = tokio::task::spawn_blocking(move || {
            super::super::local::LocalPostgres::start(&dir_path, port, false)
        })
        .await
        .unwrap()
        .expect("a local PostgreSQL server");
        server.create_database("readers").await.unwrap();
        // The schema, so the lookups can be prepared.
        drop(
            super::super::PgStore::connect(&server.url("readers"))
                .await
                .unwrap(),
        );

        let config: tokio_postgres::Config = server.url("readers").parse().unwrap();
        let query_timeout = Duration::from_millis(500);
        let readers = Readers::new(config, 1, Duration::from_secs(5), query_timeout);
        assert!(lookup(&readers).await.unwrap().is_none());
        let first = live(&readers.slots[0]).expect("an open connection");

        signal_server(server.pid(), libc::SIGSTOP);
        let resume = Resume(server.pid());
        let started = Instant::now();
        let result = lookup(&readers).await;
        assert!(
            matches!(result, Err(MetaError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            started.elapsed() < query_timeout * 4,
            "{:?}",
            started.elapsed()
        );
        // Its connection was taken out of the slot and closed.
        assert!(live(&readers.slots[0]).is_none());
        tokio::time::timeout(Duration::from_secs(5), async {
            while !first.client.is_closed() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the given-up connection is closed");

        drop(resume);
        // The next caller opens a new connection and is answered.
        assert!(lookup(&readers).await.unwrap().is_none());
        let second = live(&readers.slots[0]).expect("a new connection");
        assert!(!Arc::ptr_eq(&first, &second));
    }
}
