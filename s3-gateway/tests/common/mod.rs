//! The conformance suite's fixture: a fresh metadata store of either
//! engine. PostgreSQL stores are databases on one server per test process,
//! started on first use from the installed binaries (and stopped, by the
//! kernel, when the process ends; its directory is removed by the next
//! test process that starts one).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use s3_gateway::meta::MetaStore;
use s3_gateway::meta::postgres::PgStore;
use s3_gateway::meta::postgres::local::LocalPostgres;

/// Which backend a fixture runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Redb,
    Postgres,
}

/// A fresh store, reopenable.
pub struct Fixture {
    engine: Engine,
    /// redb: the directory of the file; PostgreSQL: unused.
    dir: tempfile::TempDir,
    /// PostgreSQL: the database URL.
    url: Option<String>,
    store: std::sync::Mutex<Option<MetaStore>>,
}

/// Where a test process keeps its PostgreSQL server.
const SERVER_DIR_PREFIX: &str = "cairn-pg-test-";

/// Removes the server directories of test processes that have ended
/// (a static is never dropped, so each process leaves its own behind: a
/// few hundred MB that would otherwise pile up run after run).
fn sweep_ended_servers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SERVER_DIR_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The test process's PostgreSQL server.
fn server() -> &'static LocalPostgres {
    static SERVER: OnceLock<LocalPostgres> = OnceLock::new();
    SERVER.get_or_init(|| {
        sweep_ended_servers();
        let name = format!("{SERVER_DIR_PREFIX}{}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        LocalPostgres::start(&dir, port, false).expect("a local PostgreSQL server for the tests")
    })
}

impl Fixture {
    /// A fresh, empty store on `engine`.
    pub async fn new(engine: Engine) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, url) = match engine {
            Engine::Redb => (
                MetaStore::open_redb(&dir.path().join("meta.redb")).unwrap(),
                None,
            ),
            Engine::Postgres => {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let server = tokio::task::spawn_blocking(server).await.unwrap();
                let db = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
                server.create_database(&db).await.unwrap();
                let url = server.url(&db);
                (
                    MetaStore::new(PgStore::connect(&url).await.unwrap()),
                    Some(url),
                )
            }
        };
        Self {
            engine,
            dir,
            url,
            store: std::sync::Mutex::new(Some(store)),
        }
    }

    /// The store (a handle; drop it before [`Fixture::reopen`]).
    pub fn store(&self) -> MetaStore {
        self.store.lock().unwrap().clone().expect("open")
    }

    /// Closes the store and opens it again from what it persisted.
    pub async fn reopen(&self) -> MetaStore {
        let old = self.store.lock().unwrap().take();
        drop(old);
        let store = match self.engine {
            Engine::Redb => MetaStore::open_redb(&self.dir.path().join("meta.redb")).unwrap(),
            Engine::Postgres => MetaStore::new(
                PgStore::connect(self.url.as_deref().unwrap())
                    .await
                    .unwrap(),
            ),
        };
        *self.store.lock().unwrap() = Some(store.clone());
        store
    }
}
