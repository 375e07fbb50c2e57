//! Compute jobs: WebAssembly modules run next to the data, one task per
//! input object (map), with an optional task over all their outputs
//! (reduce).
//!
//! - [`api`]: the HTTP API on the S3 port (`/_cairn/jobs`), signed with the
//!   S3 access keys (SigV4).
//! - [`runner`]: the worker (on the gateway that runs the health loops)
//!   that schedules each task on the compute node holding the most of its
//!   input, follows it, retries it elsewhere when its node fails or goes
//!   silent, and stores its output as an object.
//! - [`dispatch`]: one task on one node over the compute protocol.
//!
//! Jobs, their tasks and their modules are records of the internal bucket
//! [`JOBS_BUCKET`] (so they live in the metadata store of either engine,
//! are shared by gateways on one store, and survive a restart):
//! `job/<access key>/<id>` (the [`JobRecord`]), `task/<id>/<n>` (each
//! [`TaskRecord`]) and `module/<blake3 hex>` (the module's bytes).

pub mod api;
pub mod dispatch;
pub mod runner;

use base64::Engine as _;
use mesh::compute::Limits;
use serde::{Deserialize, Serialize};

use crate::meta::{MetaError, MetaStore, ObjectMeta, WriteCondition};

/// The internal bucket of jobs: not a valid S3 bucket name, so no S3
/// request reaches it.
pub const JOBS_BUCKET: &str = ".cairn-jobs";

/// The owner of [`JOBS_BUCKET`]: no access key.
const JOBS_OWNER: &str = "cairn:jobs";

/// The metadata entry of a record holding its JSON.
const RECORD_ENTRY: &str = "record";

/// Largest module, in bytes (kept in the metadata store).
pub const MAX_MODULE: usize = 4 << 20;

/// Most input objects (tasks) in one job.
pub const MAX_TASKS: usize = 10_000;

/// Most jobs one access key may have kept.
pub const MAX_JOBS_PER_KEY: usize = 1_000;

/// Attempts at a task before it fails for good (attempts that failed
/// because of a node, not the module).
pub const MAX_ATTEMPTS: u32 = 4;

/// What a client asks to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The blake3 hash (hex) of the map module.
    pub module: String,
    /// The blake3 hash (hex) of the reduce module, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce: Option<String>,
    /// The modules' arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The input objects' bucket.
    pub input_bucket: String,
    /// Every object under this prefix is an input...
    #[serde(default)]
    pub input_prefix: String,
    /// ...or exactly these keys, when given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_keys: Vec<String>,
    /// ...or, instead of objects of a bucket, these published contents
    /// (kept by the gateway), which any compute node may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_cids: Vec<String>,
    /// The outputs' bucket.
    pub output_bucket: String,
    /// Task outputs are `<output_prefix><input key or CID>`; the reduce output is
    /// `<output_prefix>_reduce`.
    pub output_prefix: String,
    /// Per-task limits.
    pub limits: Limits,
    /// Nodes each task runs on (1, or 2 to compare their outputs).
    #[serde(default = "one")]
    pub verify: u8,
}

fn one() -> u8 {
    1
}

/// A job's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Accepted, not started.
    Queued,
    /// Tasks are being run.
    Running,
    /// Every task (and the reduce) succeeded.
    Done,
    /// A task failed for good; `reason` says which.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
}

impl JobState {
    /// Whether the job is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

/// A task's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a node.
    Queued,
    /// On a node.
    Running,
    /// Its output is stored.
    Done,
    /// Failed for good.
    Failed,
}

/// One job as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Its id (32 hex digits).
    pub id: String,
    /// The access key that submitted it.
    pub owner: String,
    /// When it was submitted (Unix milliseconds).
    pub created: u64,
    /// When it ended, if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<u64>,
    /// Its state.
    pub state: JobState,
    /// Why it failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What it runs.
    pub spec: JobSpec,
    /// Map tasks (input objects).
    pub tasks: u32,
}

/// One task as stored. Task `tasks` of a job (one past the last map task)
/// is its reduce.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Its number in the job.
    pub n: u32,
    /// The input object's key (the reduce: empty).
    pub key: String,
    /// Bytes of input.
    pub size: u64,
    /// Its state.
    pub state: Option<TaskState>,
    /// The node(s) that ran it last (peer ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// Whether the node that ran it held a data shard of its input.
    #[serde(default)]
    pub held_data: bool,
    /// Attempts that failed because of a node.
    #[serde(default)]
    pub attempts: u32,
    /// Why it failed (or what the last attempt hit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The output object's key, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Bytes of output.
    #[serde(default)]
    pub output_len: u64,
    /// Shard bytes read from the running node's disk.
    #[serde(default)]
    pub read_local: u64,
    /// Shard bytes the running node fetched from others.
    #[serde(default)]
    pub fetched: u64,
    /// Fuel spent.
    #[serde(default)]
    pub fuel_used: u64,
    /// Milliseconds the module ran.
    #[serde(default)]
    pub elapsed_ms: u64,
    /// When its last attempt was sent to a node (Unix milliseconds).
    #[serde(default)]
    pub started: u64,
    /// When it ended, its output stored (Unix milliseconds).
    #[serde(default)]
    pub ended: u64,
    /// Its stderr (cut at the log limit), as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log: String,
}

impl TaskRecord {
    /// Its state (queued when none is recorded).
    pub fn state(&self) -> TaskState {
        self.state.unwrap_or(TaskState::Queued)
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    crate::pins::now_ms()
}

/// A fresh job id: 128 random bits in hex.
pub fn new_job_id() -> String {
    crate::pins::new_request_id()
}

/// Whether `text` looks like a job id.
pub fn is_job_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn job_key(owner: &str, id: &str) -> String {
    format!("job/{owner}/{id}")
}

fn task_key(id: &str, n: u32) -> String {
    format!("task/{id}/{n:06}")
}

fn module_key(hash: &str) -> String {
    format!("module/{hash}")
}

fn to_object<T: Serialize>(record: &T) -> ObjectMeta {
    let json = serde_json::to_string(record).expect("serializable");
    ObjectMeta {
        etag: new_job_id(),
        last_modified: now_ms(),
        user_metadata: vec![(RECORD_ENTRY.to_owned(), json)],
        ..ObjectMeta::default()
    }
}

fn from_object<T: for<'de> Deserialize<'de>>(object: &ObjectMeta) -> Option<T> {
    let (_, json) = object
        .user_metadata
        .iter()
        .find(|(n, _)| n == RECORD_ENTRY)?;
    serde_json::from_str(json).ok()
}

/// Jobs in the metadata store. Cheap to clone (a store handle).
#[derive(Clone)]
pub struct JobStore {
    meta: MetaStore,
    region: String,
}

impl JobStore {
    /// Jobs kept in `meta`; the internal bucket is made in `region`.
    pub fn new(meta: MetaStore, region: String) -> Self {
        Self { meta, region }
    }

    /// The metadata store.
    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    async fn put<T: Serialize>(&self, key: &str, record: &T) -> Result<(), MetaError> {
        self.meta
            .put_internal(
                (JOBS_BUCKET, &self.region, JOBS_OWNER),
                key,
                &to_object(record),
            )
            .await
    }

    /// Keeps a module's bytes; its hash (hex).
    pub async fn put_module(&self, bytes: &[u8]) -> Result<String, MetaError> {
        let hash = crate::data::hex(blake3::hash(bytes).as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.put(&module_key(&hash), &b64).await?;
        Ok(hash)
    }

    /// A module's bytes by its hash (hex).
    pub async fn module(&self, hash: &str) -> Result<Option<Vec<u8>>, MetaError> {
        let Some(object) = self.meta.object(JOBS_BUCKET, &module_key(hash)).await? else {
            return Ok(None);
        };
        let b64: Option<String> = from_object(&object);
        Ok(b64.and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()))
    }

    /// Writes a job record.
    pub async fn put_job(&self, job: &JobRecord) -> Result<(), MetaError> {
        self.put(&job_key(&job.owner, &job.id), job).await
    }

    /// Writes `job` only if its stored state is still `expected` (a
    /// cancellation through another gateway is not overwritten); whether
    /// it was written.
    pub async fn put_job_if(&self, job: &JobRecord, expected: JobState) -> Result<bool, MetaError> {
        let key = job_key(&job.owner, &job.id);
        let Some(object) = self.meta.object(JOBS_BUCKET, &key).await? else {
            return Ok(false);
        };
        let stored: Option<JobRecord> = from_object(&object);
        if stored.map(|s| s.state) != Some(expected) {
            return Ok(false);
        }
        let written = self
            .meta
            .put_object(
                JOBS_BUCKET,
                &key,
                to_object(job),
                WriteCondition::IfMatch(object.etag),
            )
            .await?;
        Ok(written.is_ok())
    }

    /// `owner`'s job `id`.
    pub async fn job(&self, owner: &str, id: &str) -> Result<Option<JobRecord>, MetaError> {
        if !is_job_id(id) {
            return Ok(None);
        }
        let object = self.meta.object(JOBS_BUCKET, &job_key(owner, id)).await?;
        Ok(object.as_ref().and_then(from_object))
    }

    /// Every job of `owner`, or of everyone (`None`).
    pub async fn jobs(&self, owner: Option<&str>) -> Result<Vec<JobRecord>, MetaError> {
        let prefix = match owner {
            Some(owner) => format!("job/{owner}/"),
            None => "job/".to_owned(),
        };
        self.scan(&prefix).await
    }

    /// Writes a task record of job `id`.
    pub async fn put_task(&self, id: &str, task: &TaskRecord) -> Result<(), MetaError> {
        self.put(&task_key(id, task.n), task).await
    }

    /// Every task record of job `id`, in order.
    pub async fn tasks(&self, id: &str) -> Result<Vec<TaskRecord>, MetaError> {
        self.scan(&format!("task/{id}/")).await
    }

    /// Removes job `id` of `owner` and its tasks (modules stay: other jobs
    /// may use them).
    pub async fn remove(&self, owner: &str, id: &str) -> Result<(), MetaError> {
        for task in self.tasks(id).await? {
            self.meta
                .delete_object(JOBS_BUCKET, &task_key(id, task.n))
                .await?;
        }
        self.meta
            .delete_object(JOBS_BUCKET, &job_key(owner, id))
            .await?;
        Ok(())
    }

    async fn scan<T: for<'de> Deserialize<'de>>(&self, prefix: &str) -> Result<Vec<T>, MetaError> {
        let objects = self.meta.list_all(JOBS_BUCKET, prefix).await?;
        Ok(objects.iter().filter_map(|(_, o)| from_object(o)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_object() {
        let task = TaskRecord {
            n: 3,
            key: "in/a.txt".into(),
            size: 10,
            state: Some(TaskState::Done),
            nodes: vec!["12D3".into()],
            held_data: true,
            output: Some("out/in/a.txt".into()),
            log: "hello".into(),
            ..TaskRecord::default()
        };
        let back: TaskRecord = from_object(&to_object(&task)).unwrap();
        assert_eq!(back, task);
        assert!(from_object::<TaskRecord>(&ObjectMeta::default()).is_none());
        assert_eq!(task_key("j", 7), "task/j/000007");
    }

    #[test]
    fn job_ids_are_recognised() {
        assert!(is_job_id(&new_job_id()));
        assert!(!is_job_id("../../x"));
        assert!(JobState::Cancelled.is_final());
        assert!(!JobState::Running.is_final());
    }
}
