//! The wasmtime engine, its module cache, and running one task.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncRead;
use tokio::sync::{Semaphore, oneshot};
use wasmtime::{Config, Engine, Linker, Module, ResourceLimiter, Store, Trap};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::AsyncStdinStream;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::stdio::Capped;
use mesh::compute::Limits;

/// How often the wall-time clock advances: a task overruns its timeout by
/// at most about this much (while it executes WebAssembly; a task blocked
/// on stdin is ended by its input's own deadline).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Compiled modules kept, most recently used last.
const MODULE_CACHE: usize = 64;

/// Bytes of WebAssembly a module may have.
pub const MAX_MODULE_LEN: usize = 16 << 20;

/// The blake3 hash of a module's bytes: its name in the cache and on the
/// wire.
pub type ModuleHash = [u8; 32];

/// Why a module could not be taken or run at all.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be set up.
    #[error("setting up the WebAssembly engine: {0}")]
    Engine(String),
    /// The bytes are not a valid module (or too large).
    #[error("invalid WebAssembly module: {0}")]
    InvalidModule(String),
    /// The module is not in the cache (send it first).
    #[error("module {} is not loaded", hex(.0))]
    NotLoaded(ModuleHash),
    /// The runtime is shutting down.
    #[error("the compute runtime is shutting down")]
    Closed,
}

/// How a task ended when it did not finish with exit code 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It used up its fuel.
    OutOfFuel,
    /// It ran past its wall time.
    TimedOut,
    /// It asked for more memory than its limit.
    MemoryLimit,
    /// It wrote more than its output limit to stdout.
    OutputLimit,
    /// It exited with a non-zero code.
    Exit(i32),
    /// It tried what tasks may not do (open a file, use the network).
    Denied(&'static str),
    /// The module trapped (or could not be instantiated): the detail.
    Trap(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::OutOfFuel => f.write_str("out of fuel"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::MemoryLimit => f.write_str("memory limit reached"),
            Failure::OutputLimit => f.write_str("output limit reached"),
            Failure::Exit(code) => write!(f, "exited with code {code}"),
            Failure::Denied(what) => write!(f, "{what} is not allowed"),
            Failure::Trap(detail) => write!(f, "trapped: {detail}"),
        }
    }
}

/// What a task produced.
#[derive(Debug)]
pub struct Outcome {
    /// `None` when the task exited with code 0.
    pub failure: Option<Failure>,
    /// Its stdout (at most the output limit).
    pub stdout: Vec<u8>,
    /// Its stderr (cut at the log limit).
    pub stderr: Vec<u8>,
    /// Fuel spent.
    pub fuel_used: u64,
    /// Wall time from instantiation to the end.
    pub elapsed: Duration,
}

/// The engine, the compiled modules and the task slots. Shared behind an
/// `Arc` by everything that runs tasks on this node.
pub struct Runtime {
    engine: Engine,
    linker: Linker<TaskState>,
    modules: Mutex<ModuleCache>,
    slots: Arc<Semaphore>,
    ticking: Arc<AtomicBool>,
    /// Tasks running now: the epoch clock only ticks while there are any.
    running: Arc<AtomicUsize>,
    ticker: std::thread::Thread,
}

#[derive(Default)]
struct ModuleCache {
    by_hash: HashMap<ModuleHash, Module>,
    order: VecDeque<ModuleHash>,
}

/// One task's store data: its WASI context and its memory cap.
struct TaskState {
    wasi: WasiP1Ctx,
    memory: MemoryCap,
}

/// Refuses linear memory (and tables) beyond the task's limit, and says so.
struct MemoryCap {
    max: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.max);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table entry costs a pointer or more; bound them like memory.
        if desired.saturating_mul(16) > self.max {
            self.hit = true;
            wasmtime::bail!("table limit reached");
        }
        Ok(true)
    }
}

impl Runtime {
    /// A runtime running at most `slots` tasks at once.
    pub fn new(slots: usize) -> Result<Arc<Self>, RuntimeError> {
        let mut config = Config::new();
        config.consume_fuel(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut TaskState| &mut state.wasi)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        deny_files_and_network(&mut linker).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let ticking = Arc::new(AtomicBool::new(true));
        let running = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let (engine, ticking, running) = (engine.clone(), ticking.clone(), running.clone());
            std::thread::Builder::new()
                .name("compute-epoch".into())
                .spawn(move || {
                    while ticking.load(Ordering::Relaxed) {
                        if running.load(Ordering::Acquire) == 0 {
                            // Idle: no wake-ups until a task starts.
                            std::thread::park_timeout(Duration::from_secs(1));
                            continue;
                        }
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::Engine(e.to_string()))?
                .thread()
                .clone()
        };
        Ok(Arc::new(Self {
            engine,
            linker,
            modules: Mutex::default(),
            slots: Arc::new(Semaphore::new(slots.max(1))),
            ticking,
            running,
            ticker,
        }))
    }

    /// Task slots free now.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Whether the module with `hash` is compiled and cached.
    pub fn has(&self, hash: &ModuleHash) -> bool {
        self.modules
            .lock()
            .expect("not poisoned")
            .by_hash
            .contains_key(hash)
    }

    /// Compiles `bytes` (WebAssembly binary) and caches it under its hash.
    /// Blocking: compiling takes milliseconds to seconds.
    pub fn load(&self, bytes: &[u8]) -> Result<ModuleHash, RuntimeError> {
        if bytes.len() > MAX_MODULE_LEN {
            return Err(RuntimeError::InvalidModule(format!(
                "{} bytes, more than the {MAX_MODULE_LEN} allowed",
                bytes.len()
            )));
        }
        let hash = *blake3::hash(bytes).as_bytes();
        if self.has(&hash) {
            return Ok(hash);
        }
        let module = Module::new(&self.engine, bytes)
            .map_err(|e| RuntimeError::InvalidModule(format!("{e:#}")))?;
        let mut cache = self.modules.lock().expect("not poisoned");
        if cache.by_hash.insert(hash, module).is_none() {
            cache.order.push_back(hash);
        }
        while cache.order.len() > MODULE_CACHE {
            if let Some(old) = cache.order.pop_front() {
                cache.by_hash.remove(&old);
            }
        }
        Ok(hash)
    }

    fn module(&self, hash: &ModuleHash) -> Option<Module> {
        self.modules
            .lock()
            .expect("not poisoned")
            .by_hash
            .get(hash)
            .cloned()
    }

    /// Runs module `hash` with `args` (argv[1..]) over `stdin`, within
    /// `limits`, on a task thread once a slot is free.
    pub async fn run(
        self: &Arc<Self>,
        hash: ModuleHash,
        args: Vec<String>,
        stdin: impl AsyncRead + Send + Sync + 'static,
        limits: Limits,
    ) -> Result<Outcome, RuntimeError> {
        let module = self.module(&hash).ok_or(RuntimeError::NotLoaded(hash))?;
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RuntimeError::Closed)?;
        let (done, outcome) = oneshot::channel();
        let this = self.clone();
        std::thread::Builder::new()
            .name("compute-task".into())
            .spawn(move || {
                lower_priority();
                this.running.fetch_add(1, Ordering::AcqRel);
                this.ticker.unpark();
                let outcome = this.run_blocking(&module, &args, stdin, &limits);
                this.running.fetch_sub(1, Ordering::AcqRel);
                // The slot is free before anyone hears the task ended, so
                // whoever counts free slots then sees it.
                drop(permit);
                let _ = done.send(outcome);
            })
            .map_err(|e| RuntimeError::Engine(format!("starting a task thread: {e}")))?;
        outcome.await.map_err(|_| RuntimeError::Closed)
    }

    fn run_blocking(
        &self,
        module: &Module,
        args: &[String],
        stdin: impl AsyncRead + Send + Sync + 'static,
        limits: &Limits,
    ) -> Outcome {
        let stdout = Capped::failing(limits.output);
        let stderr = Capped::truncating(limits.log);
        let mut argv = vec!["task".to_owned()];
        argv.extend(args.iter().cloned());
        let wasi = WasiCtxBuilder::new()
            .args(&argv)
            .stdin(AsyncStdinStream::new(stdin))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let memory = MemoryCap {
            max: usize::try_from(limits.memory).unwrap_or(usize::MAX),
            hit: false,
        };
        let mut store = Store::new(&self.engine, TaskState { wasi, memory });
        store.limiter(|state| &mut state.memory);
        store
            .set_fuel(limits.fuel)
            .expect("fuel is enabled on the engine");
        let ticks = limits.timeout().as_millis() / EPOCH_TICK.as_millis();
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
        store.epoch_deadline_trap();
        let started = Instant::now();
        let result = self
            .linker
            .instantiate(&mut store, module)
            .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
            .and_then(|start| start.call(&mut store, ()));
        let elapsed = started.elapsed();
        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        let memory_hit = store.data().memory.hit;
        drop(store);
        let (stdout, output_over) = stdout.take();
        let (stderr, _) = stderr.take();
        let failure = if output_over {
            Some(Failure::OutputLimit)
        } else if memory_hit {
            Some(Failure::MemoryLimit)
        } else {
            match result {
                Ok(()) => None,
                Err(e) => failure_of(&e),
            }
        };
        Outcome {
            failure,
            stdout,
            stderr,
            fuel_used,
            elapsed,
        }
    }
}

/// Lowers this (task) thread's scheduling priority: when the cores are
/// busy, the node's shard serving and audit answers go first. On Linux
/// the nice value is per thread.
fn lower_priority() {
    // SAFETY: setpriority only reads its arguments; 0 names this thread.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
}

/// What a task tried that it may not do: it ends the task.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not allowed")]
struct Denied(&'static str);

/// Replaces WASI's calls that open files or use sockets with ones that
/// end the task with [`Failure::Denied`]. With no preopened directory
/// they would fail anyway, but a module probing for files should be told
/// plainly, not left to guess from an errno.
fn deny_files_and_network(linker: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    const P1: &str = "wasi_snapshot_preview1";
    linker.allow_shadowing(true);
    linker.func_wrap(
        P1,
        "path_open",
        |_: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i64,
         _: i64,
         _: i32,
         _: i32|
         -> wasmtime::Result<i32> { Err(wasmtime::Error::new(Denied("opening files"))) },
    )?;
    linker.func_wrap(
        P1,
        "sock_accept",
        |_: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            Err(wasmtime::Error::new(Denied("network access")))
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_recv",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            Err(wasmtime::Error::new(Denied("network access")))
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_send",
        |_: i32, _: i32, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            Err(wasmtime::Error::new(Denied("network access")))
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_shutdown",
        |_: i32, _: i32| -> wasmtime::Result<i32> {
            Err(wasmtime::Error::new(Denied("network access")))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// What an error out of `_start` means for the task.
fn failure_of(error: &wasmtime::Error) -> Option<Failure> {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return (exit.0 != 0).then_some(Failure::Exit(exit.0));
    }
    if let Some(denied) = error.downcast_ref::<Denied>() {
        return Some(Failure::Denied(denied.0));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Some(Failure::OutOfFuel),
        Some(Trap::Interrupt) => Some(Failure::TimedOut),
        _ => Some(Failure::Trap(format!("{error:#}"))),
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
        self.ticker.unpark();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A module's bytes from WebAssembly binary or text (`.wat`): what users
/// hand to `cairn job submit`.
pub fn assemble(bytes: &[u8]) -> Result<Vec<u8>, RuntimeError> {
    wat::parse_bytes(bytes)
        .map(|module| module.into_owned())
        .map_err(|e| RuntimeError::InvalidModule(e.to_string()))
}
