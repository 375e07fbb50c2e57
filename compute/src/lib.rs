//! Cairn compute: runs WebAssembly modules (WASI preview 1) as tasks over a
//! stream of input, with hard limits on what one task may take.
//!
//! A task's module reads its input on stdin, writes its result to stdout
//! and its log to stderr. It gets its arguments and nothing else: no
//! environment, no files, no network. Four limits bound it:
//!
//! - **fuel**: instructions (roughly) it may execute; an infinite loop ends
//!   with [`Failure::OutOfFuel`];
//! - **memory**: bytes of linear memory; growing past it traps
//!   ([`Failure::MemoryLimit`]);
//! - **wall time**: checked by epoch interruption every
//!   [`EPOCH_TICK`] ([`Failure::TimedOut`]);
//! - **output**: bytes of stdout kept ([`Failure::OutputLimit`]); stderr is
//!   cut at its own cap (the log is kept, not the task failed).
//!
//! Tasks run on their own OS threads, at most `slots` at once, never on the
//! async runtime that serves shards: a module that spins cannot stall it.
//! Compiled modules are cached by the blake3 hash of their bytes.

mod runtime;
mod stdio;

pub use mesh::compute::{Limits, LimitsError};
pub use runtime::{
    EPOCH_TICK, Failure, MAX_MODULE_LEN, ModuleHash, Outcome, Runtime, RuntimeError, assemble,
};
