//! A PostgreSQL server of one's own, from the installed binaries (Debian's
//! `postgresql` package: `/usr/lib/postgresql/<version>/bin`), for
//! `cairn devnet --meta postgres` and the tests: `initdb` into a directory
//! (once), then `postgres` on a loopback port with its socket in that
//! directory, stopped when dropped. PostgreSQL refuses to run as root, so
//! as root it runs as the `postgres` user the package creates.
//!
//! The server is started from a thread of its own that waits for it and
//! asks the kernel to stop it if that thread ends (`PR_SET_PDEATHSIG` with
//! SIGINT, PostgreSQL's fast shutdown, which does not wait for clients to
//! leave), so a test process that dies never leaves a server behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a local server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or PATH; install the postgresql package"
    )]
    NoBinaries,
    /// Running as root, but there is no `postgres` user to run as.
    #[error("running as root and there is no postgres user to run the server as")]
    NoUser,
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `initdb` failed.
    #[error("initdb failed: {0}")]
    Initdb(String),
    /// The server did not accept connections in time.
    #[error("the PostgreSQL server did not start: {0}")]
    NotReady(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalError {
    let what = what.into();
    move |source| LocalError::Io { what, source }
}

/// A running local server; stopped (fast shutdown) when dropped.
#[derive(Debug)]
pub struct LocalPostgres {
    pid: i32,
    port: u16,
    dir: PathBuf,
    done: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

/// The directory of the newest installed server binaries.
fn bin_dir() -> Result<PathBuf, LocalError> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    // Elsewhere: on PATH.
    let out = Command::new("pg_config").arg("--bindir").output();
    match out {
        Ok(out) if out.status.success() => {
            let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if bin.join("postgres").exists() {
                return Ok(bin);
            }
            Err(LocalError::NoBinaries)
        }
        _ => Err(LocalError::NoBinaries),
    }
}

/// The (uid, gid) to run the server as: ours, or the `postgres` user's
/// when we are root.
fn run_as() -> Result<Option<(u32, u32)>, LocalError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam with a valid C string; the result is read at once,
    // before any other call could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(LocalError::NoUser);
    }
    // SAFETY: `pw` is non-null and points to a passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some((uid, gid)))
}

/// Lets the `postgres` user (`uid`) pass through directory `dir` to the
/// server's own directory below it: a private parent (say a 0700 temporary
/// directory of root's) gets the others' search bit only, which lets no
/// one list it or read its other files.
fn let_postgres_through(dir: &Path, uid: u32) -> Result<(), LocalError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(dir).map_err(io(format!("reading {}", dir.display())))?;
    if meta.mode() & 0o001 != 0 || meta.uid() == uid {
        return Ok(());
    }
    let mode = (meta.mode() & 0o7777) | 0o001;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(io(format!(
        "letting the postgres user through {}",
        dir.display()
    )))
}

/// `command`, run as `user` if given.
fn as_user(command: &mut Command, user: Option<(u32, u32)>) {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
}

impl LocalPostgres {
    /// Starts a server with its data under `dir/data` (made by `initdb` if
    /// missing, with the superuser `cairn` and trust authentication on
    /// loopback), listening on 127.0.0.1:`port`, its socket and log in
    /// `dir`. `durable: false` turns fsync off (tests).
    pub fn start(dir: &Path, port: u16, durable: bool) -> Result<Self, LocalError> {
        let bin = bin_dir()?;
        let user = run_as()?;
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let data = dir.join("data");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(io(format!("handing {} to postgres", dir.display())))?;
            let dir = dir
                .canonicalize()
                .map_err(io(format!("resolving {}", dir.display())))?;
            let mut parent = dir.parent();
            while let Some(p) = parent {
                let_postgres_through(p, uid)?;
                parent = p.parent();
            }
        }
        if !data.join("PG_VERSION").exists() {
            let mut initdb = Command::new(bin.join("initdb"));
            initdb
                .arg("-D")
                .arg(&data)
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "cairn",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ])
                .stdin(Stdio::null());
            as_user(&mut initdb, user);
            let out = initdb.output().map_err(io("running initdb"))?;
            if !out.status.success() {
                return Err(LocalError::Initdb(
                    String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                ));
            }
        }
        let log =
            std::fs::File::create(dir.join("postgres.log")).map_err(io("creating postgres.log"))?;
        if let Some((uid, gid)) = user {
            let _ = std::os::unix::fs::chown(dir.join("postgres.log"), Some(uid), Some(gid));
        }
        let mut command = Command::new(bin.join("postgres"));
        command
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args([
                "-c",
                &format!("fsync={}", if durable { "on" } else { "off" }),
            ])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("duplicating the log handle"))?)
            .stderr(log);
        as_user(&mut command, user);
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl only sets a flag of the child about to exec;
            // it allocates nothing.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                    Ok(())
                });
            }
        }
        // The thread that spawns the server waits for it, so the death
        // signal fires only when the server exits or this process does.
        let (started, pid) = std::sync::mpsc::channel();
        let (finished, done) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("postgres".into())
            .spawn(move || match command.spawn() {
                Ok(mut child) => {
                    let _ = started.send(Ok(child.id() as i32));
                    let _ = child.wait();
                    let _ = finished.send(());
                }
                Err(e) => {
                    let _ = started.send(Err(e));
                }
            })
            .map_err(io("starting the postgres thread"))?;
        let pid = pid
            .recv()
            .map_err(|_| LocalError::NotReady("the postgres thread died".into()))?
            .map_err(io("starting postgres"))?;
        let server = Self {
            pid,
            port,
            dir: dir.to_owned(),
            done: std::sync::Mutex::new(done),
        };
        server.wait_ready(Duration::from_secs(30))?;
        Ok(server)
    }

    /// Waits until the server accepts connections on its port.
    fn wait_ready(&self, within: Duration) -> Result<(), LocalError> {
        let deadline = Instant::now() + within;
        loop {
            if self.done.lock().expect("not poisoned").try_recv().is_ok() {
                return Err(LocalError::NotReady(self.log_tail()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                // Accepting TCP is not yet accepting logins: ask it.
                let ok = Command::new(bin_dir()?.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(LocalError::NotReady(self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://cairn@127.0.0.1:{}/{db}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Creates database `name` (if missing).
    pub async fn create_database(&self, name: &str) -> Result<(), tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            client
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await?;
        }
        Ok(())
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&self) {
        // SAFETY: kill on our own child's pid.
        unsafe {
            libc::kill(self.pid, libc::SIGINT);
        }
        let _ = self
            .done
            .lock()
            .expect("not poisoned")
            .recv_timeout(Duration::from_secs(20));
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
