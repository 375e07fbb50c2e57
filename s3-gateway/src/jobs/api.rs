//! The jobs API on the S3 port, signed with the S3 access keys (SigV4,
//! checked by s3s before the route sees the request), path-style:
//!
//! - `POST /_cairn/jobs`: submit ([`Submit`] as JSON); answers the job.
//! - `GET /_cairn/jobs`: the caller's jobs, newest first.
//! - `GET /_cairn/jobs/<id>`: one job with its tasks and totals.
//! - `GET /_cairn/jobs/<id>/logs`: every task's stderr, as text.
//! - `DELETE /_cairn/jobs/<id>`: cancel it (204).
//!
//! `_cairn` is not a valid bucket name, so no S3 request is taken for
//! these. Errors are S3 error documents, so SDK users get codes.

use std::sync::Arc;

use base64::Engine as _;
use hyper::header::HeaderValue;
use hyper::http::Extensions;
use hyper::{HeaderMap, Method, StatusCode, Uri};
use mesh::compute::Limits;
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{
    JobRecord, JobSpec, JobState, JobStore, MAX_JOBS_PER_KEY, MAX_MODULE, MAX_TASKS, TaskRecord,
    TaskState, new_job_id, now_ms,
};
use crate::http::conn::ClientInfo;
use crate::meta::{ListQuery, MetaStore};
use crate::s3::access::{Facts, Target, permitted};

/// Where the API lives.
pub const JOBS_PATH: &str = "/_cairn/jobs";

/// Bucket names as AWS has them, and `_cairn`: s3s checks the first
/// segment of a path-style path before any route sees it, and the jobs API
/// lives under `/_cairn/` so that no real bucket can shadow it (the
/// metadata store refuses `_cairn` as a bucket name).
pub struct RouteNames;

impl s3s::validation::NameValidation for RouteNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        name == "_cairn" || s3s::validation::AwsNameValidation::new().validate_bucket_name(name)
    }
}

/// Largest submission body: two modules in base64 and the rest.
const MAX_BODY: usize = 3 * MAX_MODULE;

/// What a client sends to submit a job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Submit {
    /// The map module (WebAssembly binary), base64.
    pub module: String,
    /// The reduce module, base64.
    #[serde(default)]
    pub reduce: Option<String>,
    /// Arguments for both modules.
    #[serde(default)]
    pub args: Vec<String>,
    /// The inputs' bucket (empty for CIDs).
    #[serde(default)]
    pub input_bucket: String,
    /// Every object under this prefix...
    #[serde(default)]
    pub input_prefix: String,
    /// ...or these keys.
    #[serde(default)]
    pub input_keys: Vec<String>,
    /// ...or these published contents, kept by this gateway (any compute
    /// node may read them).
    #[serde(default)]
    pub input_cids: Vec<String>,
    /// The outputs' bucket.
    pub output_bucket: String,
    /// The outputs' prefix.
    pub output_prefix: String,
    /// Per-task limits; defaults for those not given.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// Nodes per task: 1 (default) or 2.
    #[serde(default)]
    pub verify: Option<u8>,
}

/// A job as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobView {
    /// The record.
    #[serde(flatten)]
    pub job: JobRecord,
    /// Its tasks (when one job is asked for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_list: Vec<TaskRecord>,
    /// Totals over its tasks.
    pub totals: Totals,
}

/// Totals over a job's tasks.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Tasks queued.
    pub queued: u32,
    /// Tasks running.
    pub running: u32,
    /// Tasks done.
    pub done: u32,
    /// Tasks failed.
    pub failed: u32,
    /// Bytes of input of the tasks done.
    pub bytes_processed: u64,
    /// Shard bytes read from the running nodes' own disks.
    pub read_local: u64,
    /// Shard bytes the nodes fetched from others.
    pub fetched: u64,
    /// Tasks whose node held a data shard of their input.
    pub on_data_holders: u32,
}

impl Totals {
    fn of(tasks: &[TaskRecord]) -> Self {
        let mut t = Totals::default();
        for task in tasks {
            match task.state() {
                TaskState::Queued => t.queued += 1,
                TaskState::Running => t.running += 1,
                TaskState::Done => {
                    t.done += 1;
                    t.bytes_processed += task.size;
                }
                TaskState::Failed => t.failed += 1,
            }
            t.read_local += task.read_local;
            t.fetched += task.fetched;
            t.on_data_holders += u32::from(task.held_data && task.state() == TaskState::Done);
        }
        t
    }
}

/// The jobs routes.
pub struct JobsRoute {
    store: JobStore,
    wake: Arc<Notify>,
}

impl JobsRoute {
    /// Routes over `store`, waking the worker through `wake` on submission.
    pub fn new(store: JobStore, wake: Arc<Notify>) -> Self {
        Self { store, wake }
    }

    fn meta(&self) -> &MetaStore {
        self.store.meta()
    }
}

/// What a path under [`JOBS_PATH`] names.
#[derive(Debug, PartialEq, Eq)]
enum Resource<'a> {
    All,
    Job(&'a str),
    Logs(&'a str),
}

fn resource(path: &str) -> Option<Resource<'_>> {
    let rest = path.strip_prefix(JOBS_PATH)?;
    match rest.trim_end_matches('/') {
        "" => Some(Resource::All),
        rest => {
            let rest = rest.strip_prefix('/')?;
            match rest.split_once('/') {
                None => Some(Resource::Job(rest)),
                Some((id, "logs")) => Some(Resource::Logs(id)),
                Some(_) => None,
            }
        }
    }
}

fn error(code: S3ErrorCode, message: impl Into<String>) -> S3Error {
    S3Error::with_message(code, message.into())
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> S3Response<Body> {
    let text = serde_json::to_vec(value).expect("serializable");
    let mut out = S3Response::new(Body::from(bytes::Bytes::from(text)));
    out.status = Some(status);
    out.headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

#[async_trait::async_trait]
impl S3Route for JobsRoute {
    fn is_match(&self, method: &Method, uri: &Uri, _: &HeaderMap, _: &mut Extensions) -> bool {
        let Some(resource) = resource(uri.path()) else {
            return false;
        };
        matches!(
            (method, resource),
            (&Method::POST | &Method::GET, Resource::All)
                | (&Method::GET | &Method::DELETE, Resource::Job(_))
                | (&Method::GET, Resource::Logs(_))
        )
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        match req.credentials {
            Some(_) => Ok(()),
            None => Err(error(
                S3ErrorCode::AccessDenied,
                "jobs need a signed request (an access key)",
            )),
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let owner = req
            .credentials
            .as_ref()
            .map(|c| c.access_key.clone())
            .ok_or_else(|| error(S3ErrorCode::AccessDenied, "Access Denied"))?;
        let resource = resource(req.uri.path())
            .ok_or_else(|| error(S3ErrorCode::InvalidURI, "no such jobs resource"))?;
        match (req.method.clone(), resource) {
            (Method::POST, Resource::All) => self.submit(&owner, req).await,
            (Method::GET, Resource::All) => {
                let mut jobs = self.store.jobs(Some(&owner)).await?;
                jobs.sort_by_key(|j| std::cmp::Reverse(j.created));
                let mut views = Vec::new();
                for job in jobs {
                    let tasks = self.store.tasks(&job.id).await?;
                    views.push(JobView {
                        totals: Totals::of(&tasks),
                        job,
                        task_list: Vec::new(),
                    });
                }
                Ok(json(StatusCode::OK, &views))
            }
            (Method::GET, Resource::Job(id)) => {
                let job = self.owned(&owner, id).await?;
                let tasks = self.store.tasks(&job.id).await?;
                let view = JobView {
                    totals: Totals::of(&tasks),
                    job,
                    task_list: tasks,
                };
                Ok(json(StatusCode::OK, &view))
            }
            (Method::GET, Resource::Logs(id)) => {
                let job = self.owned(&owner, id).await?;
                let mut text = String::new();
                for task in self.store.tasks(&job.id).await? {
                    let name = if task.n == job.tasks {
                        "(reduce)"
                    } else {
                        &task.key
                    };
                    text.push_str(&format!(
                        "== task {} {} on {} ({:?}) ==\n",
                        task.n,
                        name,
                        task.nodes.join(", "),
                        task.state()
                    ));
                    if let Some(failure) = &task.failure {
                        text.push_str(&format!("failure: {failure}\n"));
                    }
                    text.push_str(&task.log);
                    if !task.log.is_empty() && !task.log.ends_with('\n') {
                        text.push('\n');
                    }
                }
                let mut out = S3Response::new(Body::from(text));
                out.status = Some(StatusCode::OK);
                out.headers.insert(
                    hyper::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                Ok(out)
            }
            (Method::DELETE, Resource::Job(id)) => {
                let mut job = self.owned(&owner, id).await?;
                let was = job.state;
                if !was.is_final() {
                    job.state = JobState::Cancelled;
                    job.reason = Some("cancelled by its owner".into());
                    job.finished = Some(now_ms());
                    self.store.put_job_if(&job, was).await?;
                }
                let mut out = S3Response::new(Body::empty());
                out.status = Some(StatusCode::NO_CONTENT);
                Ok(out)
            }
            _ => Err(error(S3ErrorCode::MethodNotAllowed, "not a jobs operation")),
        }
    }
}

impl JobsRoute {
    async fn owned(&self, owner: &str, id: &str) -> S3Result<JobRecord> {
        self.store
            .job(owner, id)
            .await?
            .ok_or_else(|| error(S3ErrorCode::NoSuchKey, format!("no job {id}")))
    }

    async fn submit(&self, owner: &str, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let facts_headers = req.headers.clone();
        let client = req.extensions.get::<ClientInfo>().copied();
        let mut body = req.input;
        let bytes = body
            .store_all_limited(MAX_BODY)
            .await
            .map_err(|e| error(S3ErrorCode::EntityTooLarge, format!("the submission: {e}")))?;
        let submit: Submit = serde_json::from_slice(&bytes).map_err(|e| {
            error(
                S3ErrorCode::MalformedPOSTRequest,
                format!("the submission is not valid JSON: {e}"),
            )
        })?;
        let decode = |b64: &str, what: &str| -> S3Result<Vec<u8>> {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| {
                    error(
                        S3ErrorCode::InvalidArgument,
                        format!("the {what} is not base64"),
                    )
                })?;
            if bytes.len() > MAX_MODULE {
                return Err(error(
                    S3ErrorCode::EntityTooLarge,
                    format!(
                        "the {what} has {} bytes, more than {MAX_MODULE}",
                        bytes.len()
                    ),
                ));
            }
            if !bytes.starts_with(b"\0asm") {
                return Err(error(
                    S3ErrorCode::InvalidArgument,
                    format!("the {what} is not a WebAssembly binary"),
                ));
            }
            Ok(bytes)
        };
        let module = decode(&submit.module, "module")?;
        let reduce = submit
            .reduce
            .as_deref()
            .map(|r| decode(r, "reduce module"))
            .transpose()?;
        let limits = submit.limits.unwrap_or_default();
        limits
            .check()
            .map_err(|e| error(S3ErrorCode::InvalidArgument, e.to_string()))?;
        let verify = submit.verify.unwrap_or(1);
        if !(1..=2).contains(&verify) {
            return Err(error(S3ErrorCode::InvalidArgument, "verify must be 1 or 2"));
        }
        let args_len: usize = submit.args.iter().map(String::len).sum();
        if args_len > mesh::compute::MAX_ARGS_LEN {
            return Err(error(
                S3ErrorCode::InvalidArgument,
                "the arguments are too long",
            ));
        }
        let facts = Facts {
            client,
            headers: &facts_headers,
            query: None,
        };
        let inputs = if submit.input_cids.is_empty() {
            self.inputs(owner, &submit, &facts).await?
        } else {
            self.content_inputs(&submit.input_cids).await?
        };
        self.check_output(owner, &submit, &inputs, reduce.is_some(), &facts)
            .await?;
        if self.store.jobs(Some(owner)).await?.len() >= MAX_JOBS_PER_KEY {
            return Err(error(
                S3ErrorCode::TooManyBuckets,
                format!("at most {MAX_JOBS_PER_KEY} jobs per key are kept; delete old ones"),
            ));
        }
        let module_hash = self.store.put_module(&module).await?;
        let reduce_hash = match &reduce {
            Some(r) => Some(self.store.put_module(r).await?),
            None => None,
        };
        let job = JobRecord {
            id: new_job_id(),
            owner: owner.to_owned(),
            created: now_ms(),
            finished: None,
            state: JobState::Queued,
            reason: None,
            spec: JobSpec {
                module: module_hash,
                reduce: reduce_hash,
                args: submit.args,
                input_bucket: submit.input_bucket,
                input_prefix: submit.input_prefix,
                input_keys: submit.input_keys,
                input_cids: submit.input_cids,
                output_bucket: submit.output_bucket,
                output_prefix: submit.output_prefix,
                limits,
                verify,
            },
            tasks: inputs.len() as u32,
        };
        for (n, (key, size)) in inputs.into_iter().enumerate() {
            let task = TaskRecord {
                n: n as u32,
                key,
                size,
                state: Some(TaskState::Queued),
                ..TaskRecord::default()
            };
            self.store.put_task(&job.id, &task).await?;
        }
        // The job last: the worker never finds a job without its tasks.
        self.store.put_job(&job).await?;
        tracing::info!(job = %job.id, %owner, tasks = job.tasks, "a job was submitted");
        self.wake.notify_one();
        let view = JobView {
            totals: Totals {
                queued: job.tasks,
                ..Totals::default()
            },
            job,
            task_list: Vec::new(),
        };
        let mut out = json(StatusCode::CREATED, &view);
        // SDKs keep no body of a PutObject's answer, but they keep its ETag:
        // the job id is there too.
        let etag = HeaderValue::from_str(&format!("\"{}\"", view.job.id)).expect("hex");
        out.headers.insert(hyper::header::ETAG, etag);
        Ok(out)
    }

    /// The input objects (key, size), checked readable by `owner`, on a
    /// bucket that allows compute.
    async fn inputs(
        &self,
        owner: &str,
        submit: &Submit,
        facts: &Facts<'_>,
    ) -> S3Result<Vec<(String, u64)>> {
        let bucket = &submit.input_bucket;
        let info = self
            .meta()
            .bucket_access(bucket)
            .await?
            .ok_or_else(|| error(S3ErrorCode::NoSuchBucket, format!("no bucket {bucket}")))?;
        if info.compute.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(error(
                S3ErrorCode::AccessDenied,
                format!(
                    "bucket {bucket} allows no compute node to read its objects; its owner allows some with `cairn gateway bucket allow-compute --bucket {bucket} --node PEER` (or --region)"
                ),
            ));
        }
        let may = |op: &str, key: Option<&str>| {
            let target = Target {
                bucket,
                key,
                version: false,
            };
            permitted(&info, Some(owner), op, &target, facts)
        };
        let mut inputs = Vec::new();
        if submit.input_keys.is_empty() {
            if !may("ListBucket", None) {
                return Err(error(
                    S3ErrorCode::AccessDenied,
                    format!("you may not list {bucket}"),
                ));
            }
            let mut query = ListQuery {
                prefix: submit.input_prefix.clone(),
                ..ListQuery::default()
            };
            loop {
                let page = self.meta().list_objects(bucket, &query).await?;
                for (key, object) in &page.objects {
                    inputs.push((key.clone(), object.size));
                    if inputs.len() > MAX_TASKS {
                        return Err(error(
                            S3ErrorCode::InvalidArgument,
                            format!("more than {MAX_TASKS} inputs; narrow the prefix"),
                        ));
                    }
                }
                match page.next_marker {
                    Some(marker) if page.is_truncated => query.start_after = Some(marker),
                    _ => break,
                }
            }
        } else {
            if submit.input_keys.len() > MAX_TASKS {
                return Err(error(
                    S3ErrorCode::InvalidArgument,
                    format!("more than {MAX_TASKS} inputs"),
                ));
            }
            for key in &submit.input_keys {
                let object = self
                    .meta()
                    .object(bucket, key)
                    .await?
                    .filter(|o| !o.delete_marker)
                    .ok_or_else(|| error(S3ErrorCode::NoSuchKey, format!("no object {key}")))?;
                inputs.push((key.clone(), object.size));
            }
        }
        if inputs.is_empty() {
            return Err(error(S3ErrorCode::InvalidArgument, "no input objects"));
        }
        if let Some((key, _)) = inputs.iter().find(|(key, _)| !may("GetObject", Some(key))) {
            return Err(error(
                S3ErrorCode::AccessDenied,
                format!("you may not read {key}"),
            ));
        }
        Ok(inputs)
    }

    /// Published contents as inputs (CID, size): each kept by this
    /// gateway, in one standard form.
    async fn content_inputs(&self, cids: &[String]) -> S3Result<Vec<(String, u64)>> {
        if cids.len() > MAX_TASKS {
            return Err(error(
                S3ErrorCode::InvalidArgument,
                format!("more than {MAX_TASKS} inputs"),
            ));
        }
        let mut inputs = Vec::new();
        for text in cids {
            let cid = crate::s3::content::parse_cid(text)?.to_string();
            let kept = self
                .meta()
                .object(crate::s3::content::CONTENT_BUCKET, &cid)
                .await?
                .ok_or_else(|| {
                    error(
                        S3ErrorCode::NoSuchKey,
                        format!("{cid} is not kept by this gateway; pin it here first (cairn pin add {cid})"),
                    )
                })?;
            inputs.push((cid, kept.size));
        }
        Ok(inputs)
    }

    /// Checks `owner` may write every output (and, for a reduce, that the
    /// output bucket allows compute: the reduce reads the outputs there).
    async fn check_output(
        &self,
        owner: &str,
        submit: &Submit,
        inputs: &[(String, u64)],
        reduce: bool,
        facts: &Facts<'_>,
    ) -> S3Result<()> {
        let bucket = &submit.output_bucket;
        let info = self
            .meta()
            .bucket_access(bucket)
            .await?
            .ok_or_else(|| error(S3ErrorCode::NoSuchBucket, format!("no bucket {bucket}")))?;
        if reduce && info.compute.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(error(
                S3ErrorCode::AccessDenied,
                format!("the reduce reads the outputs, but bucket {bucket} allows no compute node"),
            ));
        }
        let outputs = inputs
            .iter()
            .map(|(key, _)| format!("{}{key}", submit.output_prefix))
            .chain(std::iter::once(format!(
                "{}{}",
                submit.output_prefix,
                super::runner::REDUCE_OUTPUT
            )));
        for key in outputs {
            let target = Target {
                bucket,
                key: Some(&key),
                version: false,
            };
            if !permitted(&info, Some(owner), "PutObject", &target, facts) {
                return Err(error(
                    S3ErrorCode::AccessDenied,
                    format!("you may not write {key}"),
                ));
            }
            if key.len() > 1024 {
                return Err(error(
                    S3ErrorCode::KeyTooLongError,
                    format!("output key {key} is too long"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_apart() {
        assert_eq!(resource("/_cairn/jobs"), Some(Resource::All));
        assert_eq!(resource("/_cairn/jobs/"), Some(Resource::All));
        assert_eq!(resource("/_cairn/jobs/abc"), Some(Resource::Job("abc")));
        assert_eq!(
            resource("/_cairn/jobs/abc/logs"),
            Some(Resource::Logs("abc"))
        );
        assert_eq!(resource("/_cairn/jobs/abc/x"), None);
        assert_eq!(resource("/_cairn/jobsx"), None);
        assert_eq!(resource("/bucket/_cairn/jobs"), None);
    }

    #[test]
    fn totals_count_tasks_by_state() {
        let tasks = [
            TaskRecord {
                state: Some(TaskState::Done),
                size: 10,
                held_data: true,
                read_local: 3,
                fetched: 9,
                ..TaskRecord::default()
            },
            TaskRecord {
                state: Some(TaskState::Failed),
                ..TaskRecord::default()
            },
            TaskRecord::default(),
        ];
        let totals = Totals::of(&tasks);
        assert_eq!(
            totals,
            Totals {
                queued: 1,
                running: 0,
                done: 1,
                failed: 1,
                bytes_processed: 10,
                read_local: 3,
                fetched: 9,
                on_data_holders: 1,
            }
        );
    }
}
