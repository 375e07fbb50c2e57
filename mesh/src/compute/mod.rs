//! Compute tasks between a gateway and a compute node: their limits and the
//! compute protocol.
//!
//! One task per stream on [`COMPUTE_PROTOCOL`]:
//!
//! 1. The gateway sends [`ComputeRequest::Run`] with a [`TaskSpec`]: the
//!    module's hash, arguments, limits and the input's layout (where every
//!    shard of every segment is, and the key that opens its segments).
//! 2. A node that has no compiled module with that hash answers
//!    [`ComputeResponse::NeedModule`]; the gateway sends
//!    [`ComputeRequest::Module`] and the module's bytes.
//! 3. The node answers [`ComputeResponse::Started`], then
//!    [`ComputeResponse::Alive`] at least every [`HEARTBEAT`] while the task
//!    runs (silence for [`LIVENESS`] means the node is gone), then
//!    [`ComputeResponse::Done`] followed by the task's stdout and stderr as
//!    raw bytes.
//!
//! A refusal at any step is [`ComputeResponse::Refused`].
//!
//! The key in the spec opens the object's plaintext: the stream is Noise
//! encrypted and authenticated to the node's peer id, so only the node the
//! gateway chose can read it, and the node keeps it for that task only.

mod limits;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use limits::{Limits, LimitsError};

/// The compute protocol's libp2p name.
pub const COMPUTE_PROTOCOL: &str = "/cairn/compute/1";

/// How often a running task's node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// Silence after which a node running a task is taken for gone.
pub const LIVENESS: Duration = Duration::from_secs(10);

/// Largest [`ComputeRequest::Run`] frame a node reads: the layout of an
/// input of about 30 GiB in 8 MiB segments, 6 shards each.
pub const MAX_SPEC_FRAME: u32 = 2 * 1024 * 1024;

/// Largest argument list, in bytes all together.
pub const MAX_ARGS_LEN: usize = 16 * 1024;

/// A request from a gateway.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ComputeRequest {
    /// Run a task.
    Run(Box<TaskSpec>),
    /// The module's bytes follow: exactly `len` of them.
    Module {
        /// How many.
        len: u64,
    },
}

/// One task: what to run, over what, within what.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskSpec {
    /// A label for the node's logs (job id and task number).
    pub label: String,
    /// The blake3 hash of the module's bytes.
    pub module: [u8; 32],
    /// The module's arguments (argv after the program name).
    pub args: Vec<String>,
    /// What the task may use (the node may lower them to its own caps).
    pub limits: Limits,
    /// Its input, fed to stdin.
    pub input: TaskInput,
}

/// An input object as its shards: the node reads the ones it holds, fetches
/// the others from their holders, decodes and decrypts every segment, and
/// streams the plaintext to the task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskInput {
    /// The parts in order: one for a simple upload, several for a
    /// multipart one or for several objects read one after the other (a
    /// reduce task's input).
    pub parts: Vec<InputPart>,
}

/// One part of an input object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InputPart {
    /// Data shards per segment.
    pub k: u8,
    /// Parity shards per segment.
    pub m: u8,
    /// The codec's segment size.
    pub segment_size: u64,
    /// The part number its segments are sealed under (0 for a simple
    /// upload).
    pub number: u32,
    /// The key its segments are sealed with.
    pub key: [u8; 32],
    /// Its segments in order.
    pub segments: Vec<InputSegment>,
}

/// One segment: its plaintext length and its shards, by index.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InputSegment {
    /// Bytes of plaintext.
    pub plain_len: u64,
    /// The key this segment is sealed with, when it is not its part's
    /// (published content: each segment's key comes from its hash).
    pub key: Option<[u8; 32]>,
    /// Shard `i`: its id and its holder's peer id (empty when none).
    pub shards: Vec<([u8; 32], Vec<u8>)>,
}

impl TaskInput {
    /// Bytes of plaintext in all.
    pub fn len(&self) -> u64 {
        self.parts
            .iter()
            .flat_map(|p| &p.segments)
            .map(|s| s.plain_len)
            .sum()
    }

    /// Whether the input is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the layout is consistent: every segment has `k + m` shard
    /// slots and fits the segment size.
    pub fn check(&self) -> Result<(), String> {
        for part in &self.parts {
            let total = usize::from(part.k) + usize::from(part.m);
            if part.k == 0 || total > 64 {
                return Err(format!("bad scheme {}+{}", part.k, part.m));
            }
            if part.segment_size > 64 << 20 {
                return Err("segments larger than 64 MiB".into());
            }
            for segment in &part.segments {
                if segment.shards.len() != total {
                    return Err(format!(
                        "a segment has {} shards, not {total}",
                        segment.shards.len()
                    ));
                }
                if segment.plain_len > part.segment_size {
                    return Err("a segment is larger than the segment size".into());
                }
            }
        }
        Ok(())
    }
}

/// An answer from a compute node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ComputeResponse {
    /// Send the module ([`ComputeRequest::Module`]).
    NeedModule,
    /// The task runs.
    Started,
    /// The task still runs; input bytes so far.
    Alive {
        /// Shard bytes read from this node's disk.
        read_local: u64,
        /// Shard bytes fetched from other nodes.
        fetched: u64,
    },
    /// The task ended; its stdout and stderr follow.
    Done(TaskReport),
    /// The node will not run it.
    Refused {
        /// Why, for people.
        reason: String,
        /// Whether another try (here or elsewhere) may succeed: the node
        /// is busy or could not read the input, rather than the task
        /// being bad.
        retry: bool,
    },
}

/// How a task ended on its node.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskReport {
    /// `None` when the module exited with code 0; else why it failed.
    pub failure: Option<String>,
    /// Whether the failure was in reading the input (shards unavailable),
    /// not in the module: worth running again elsewhere.
    pub input_failed: bool,
    /// Fuel spent.
    pub fuel_used: u64,
    /// Milliseconds the module ran.
    pub elapsed_ms: u64,
    /// Shard bytes read from this node's disk.
    pub read_local: u64,
    /// Shard bytes fetched from other nodes.
    pub fetched: u64,
    /// Bytes of stdout that follow.
    pub stdout_len: u64,
    /// Bytes of stderr that follow them.
    pub stderr_len: u64,
}

/// What a node offers for compute, in its signed record.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ComputeOffer {
    /// Tasks it runs at once.
    pub slots: u16,
    /// Memory per task, bytes.
    pub memory: u64,
}
