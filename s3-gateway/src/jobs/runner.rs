//! The job worker: runs every unfinished job, on the gateway that runs the
//! health loops (so on a shared store one gateway schedules, and another
//! takes over, resuming from the records, when it dies).
//!
//! Each task goes to the allowed compute node ranked first by
//! [`placement::rank_for_task`] (the one holding the most of its input).
//! A node that is busy is tried again shortly at no cost; one that
//! refuses the task, fails to read the input, dies or goes silent for
//! [`mesh::compute::LIVENESS`] costs the task an attempt and the task goes
//! to the next node; a module that fails (trap, limits, non-zero exit)
//! fails the task for good. With `verify: 2` every
//! task runs on two nodes and its output is kept only if both agree; a
//! disagreement is held against both nodes like a failed audit.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use libp2p::PeerId;
use mesh::compute::{TaskInput, TaskSpec};
use placement::{ComputeNode, NodeId, rank_for_task};
use tokio::sync::Notify;

use super::dispatch::{self, Ran};
use super::{JobRecord, JobState, JobStore, MAX_ATTEMPTS, TaskRecord, TaskState, now_ms};
use crate::health::{AuditOutcome, Health};
use crate::meta::bucket_config::ComputeAllow;
use crate::s3::Gateway;
use crate::s3::compute::ComputeInput;

/// How often unfinished jobs are looked for when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(2);

/// How long to wait for a free slot before looking again.
const NO_SLOT_WAIT: Duration = Duration::from_millis(300);

/// The job worker. Cheap to clone (shared handles).
#[derive(Clone)]
pub struct JobRunner {
    store: JobStore,
    gateway: Gateway,
    health: Health,
    control: libp2p_stream::Control,
    wake: Arc<Notify>,
    /// Tasks this gateway runs per node now.
    inflight: Arc<Mutex<HashMap<PeerId, usize>>>,
    /// Jobs being run here.
    active: Arc<Mutex<HashSet<String>>>,
}

/// The key of a job's reduce output under its output prefix.
pub const REDUCE_OUTPUT: &str = "_reduce";

impl JobRunner {
    /// A worker over `store`, reading and writing objects through
    /// `gateway`, reaching nodes through `control`.
    pub fn new(
        store: JobStore,
        gateway: Gateway,
        health: Health,
        control: libp2p_stream::Control,
    ) -> Self {
        Self {
            store,
            gateway,
            health,
            control,
            wake: Arc::default(),
            inflight: Arc::default(),
            active: Arc::default(),
        }
    }

    /// What wakes the worker at once (a job was submitted).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs forever (as a task).
    pub async fn run(self) {
        self.health
            .lead_passes(&self.wake, POLL, || self.pass())
            .await;
    }

    /// Starts every unfinished job not already running here.
    async fn pass(&self) {
        let jobs = match self.store.jobs(None).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list jobs");
                return;
            }
        };
        let metrics = self.health.metrics();
        for (state, name) in [
            (JobState::Queued, "queued"),
            (JobState::Running, "running"),
            (JobState::Done, "done"),
            (JobState::Failed, "failed"),
            (JobState::Cancelled, "cancelled"),
        ] {
            metrics.set_jobs(
                name,
                jobs.iter().filter(|j| j.state == state).count() as u64,
            );
        }
        for job in jobs.into_iter().filter(|j| !j.state.is_final()) {
            if !self
                .active
                .lock()
                .expect("not poisoned")
                .insert(job.id.clone())
            {
                continue;
            }
            let this = self.clone();
            tokio::spawn(async move {
                let id = job.id.clone();
                if let Err(e) = this.run_job(job).await {
                    tracing::warn!(job = %id, error = %e, "a job stopped; it resumes at the next pass");
                }
                this.active.lock().expect("not poisoned").remove(&id);
            });
        }
    }

    /// Runs `job` to its end (or until it is cancelled, or this gateway
    /// stops leading).
    async fn run_job(&self, mut job: JobRecord) -> Result<(), crate::meta::MetaError> {
        if job.state == JobState::Queued {
            let mut running = job.clone();
            running.state = JobState::Running;
            if !self.store.put_job_if(&running, JobState::Queued).await? {
                return Ok(());
            }
            job = running;
        }
        tracing::info!(job = %job.id, tasks = job.tasks, "running a job");
        let module = match self.store.module(&job.spec.module).await? {
            Some(module) => module,
            None => {
                return self
                    .finish(job, JobState::Failed, Some("its module is gone".into()))
                    .await;
            }
        };
        let mut tasks = self.store.tasks(&job.id).await?;
        let map: Vec<TaskRecord> = tasks.iter().filter(|t| t.n < job.tasks).cloned().collect();
        if !self.run_tasks(&job, &module, map).await? {
            return Ok(());
        }
        tasks = self.store.tasks(&job.id).await?;
        let failed: Vec<&TaskRecord> = tasks
            .iter()
            .filter(|t| t.n < job.tasks && t.state() == TaskState::Failed)
            .collect();
        if let Some(first) = failed.first() {
            let reason = format!(
                "{} of {} tasks failed; {}: {}",
                failed.len(),
                job.tasks,
                first.key,
                first.failure.as_deref().unwrap_or("failed")
            );
            return self.finish(job, JobState::Failed, Some(reason)).await;
        }
        if let Some(hash) = job.spec.reduce.clone() {
            let reduce = tasks
                .iter()
                .find(|t| t.n == job.tasks)
                .cloned()
                .unwrap_or(TaskRecord {
                    n: job.tasks,
                    ..TaskRecord::default()
                });
            if reduce.state() != TaskState::Done {
                let Some(module) = self.store.module(&hash).await? else {
                    return self
                        .finish(
                            job,
                            JobState::Failed,
                            Some("its reduce module is gone".into()),
                        )
                        .await;
                };
                if !self.run_tasks(&job, &module, vec![reduce]).await? {
                    return Ok(());
                }
                let after = self.store.tasks(&job.id).await?;
                if let Some(t) = after
                    .iter()
                    .find(|t| t.n == job.tasks && t.state() == TaskState::Failed)
                {
                    let reason =
                        format!("the reduce failed: {}", t.failure.as_deref().unwrap_or(""));
                    return self.finish(job, JobState::Failed, Some(reason)).await;
                }
            }
        }
        self.finish(job, JobState::Done, None).await
    }

    async fn finish(
        &self,
        mut job: JobRecord,
        state: JobState,
        reason: Option<String>,
    ) -> Result<(), crate::meta::MetaError> {
        job.state = state;
        job.reason = reason;
        job.finished = Some(now_ms());
        if self.store.put_job_if(&job, JobState::Running).await? {
            tracing::info!(job = %job.id, ?state, reason = ?job.reason, "a job ended");
        }
        Ok(())
    }

    /// Whether `job` should go on here: not cancelled, and this gateway
    /// still leads.
    async fn still_wanted(&self, job: &JobRecord) -> bool {
        if !self.health.leads() {
            return false;
        }
        match self.store.job(&job.owner, &job.id).await {
            Ok(Some(stored)) => stored.state == JobState::Running,
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Runs `tasks` (those not done or failed) with as many at once as the
    /// allowed nodes have free slots; `false` if the job stopped wanting
    /// them (cancelled, or leadership lost).
    async fn run_tasks(
        &self,
        job: &JobRecord,
        module: &[u8],
        tasks: Vec<TaskRecord>,
    ) -> Result<bool, crate::meta::MetaError> {
        let mut queue: VecDeque<(TaskRecord, Vec<NodeId>)> = tasks
            .into_iter()
            .filter(|t| !matches!(t.state(), TaskState::Done | TaskState::Failed))
            .map(|t| (t, Vec::new()))
            .collect();
        let mut running = FuturesUnordered::new();
        loop {
            // Start as many as there are free slots for.
            while let Some((task, tried)) = queue.pop_front() {
                match self.start(job, module, task, tried).await? {
                    Start::Running(attempt) => running.push(attempt),
                    Start::Ended => {}
                    Start::Wait(task, tried) => {
                        queue.push_front((*task, tried));
                        break;
                    }
                }
            }
            if running.is_empty() {
                if queue.is_empty() {
                    break;
                }
                tokio::time::sleep(NO_SLOT_WAIT).await;
                if !self.still_wanted(job).await {
                    return Ok(false);
                }
                continue;
            }
            if let Ok(Some((task, tried, retry))) =
                tokio::time::timeout(NO_SLOT_WAIT, running.next()).await
            {
                if retry {
                    queue.push_back((task, tried));
                }
                if !self.still_wanted(job).await {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Starts `task` on the best node free now, or says to wait.
    async fn start(
        &self,
        job: &JobRecord,
        module: &[u8],
        mut task: TaskRecord,
        tried: Vec<NodeId>,
    ) -> Result<Start, crate::meta::MetaError> {
        let reduce = task.n == job.tasks;
        // Where the input's plaintext comes from: a bucket (only the nodes
        // its owner allowed), or published content (any compute node).
        let (bucket, input) = if reduce {
            (Some(&job.spec.output_bucket), self.reduce_input(job).await)
        } else if !job.spec.input_cids.is_empty() {
            let got = self.gateway.content_input(&task.key).await;
            (None, got.map_err(|e| describe(&e)))
        } else {
            let got = self
                .gateway
                .compute_input(&job.spec.input_bucket, &task.key)
                .await;
            (Some(&job.spec.input_bucket), got.map_err(|e| describe(&e)))
        };
        let input = match input {
            Ok(input) => input,
            Err(reason) => {
                task.state = Some(TaskState::Failed);
                task.failure = Some(reason);
                self.store.put_task(&job.id, &task).await?;
                return Ok(Start::Ended);
            }
        };
        let allowed = self.allowed_nodes(bucket).await;
        if allowed.is_empty() {
            task.state = Some(TaskState::Failed);
            task.failure = Some(match bucket {
                Some(bucket) => format!("no compute node is allowed on bucket {bucket}"),
                None => "no compute node is known".to_owned(),
            });
            self.store.put_task(&job.id, &task).await?;
            return Ok(Start::Ended);
        }
        let candidates: Vec<ComputeNode> = allowed
            .iter()
            .map(|(peer, region, slots)| {
                let busy = self
                    .inflight
                    .lock()
                    .expect("not poisoned")
                    .get(peer)
                    .copied()
                    .unwrap_or(0);
                ComputeNode {
                    id: NodeId::new(peer.to_bytes()),
                    region: region.clone(),
                    free_slots: slots.saturating_sub(busy),
                }
            })
            .collect();
        let want = usize::from(job.spec.verify.clamp(1, 2));
        // Next to the data: while enough allowed nodes holding a data shard
        // of the input are untried, the task waits for one of them rather
        // than run where every byte must be fetched.
        let holds_data = |id: &NodeId| input.shards.iter().any(|s| s.data && &s.holder == id);
        let data_holders: Vec<ComputeNode> = candidates
            .iter()
            .filter(|c| holds_data(&c.id) && !tried.contains(&c.id))
            .cloned()
            .collect();
        let candidates = if data_holders.len() >= want {
            data_holders
        } else {
            candidates
        };
        let ranked = rank_for_task(&candidates, &input.shards, &tried);
        if ranked.len() < want {
            let untried = allowed
                .iter()
                .filter(|(p, _, _)| !tried.contains(&NodeId::new(p.to_bytes())))
                .count();
            if untried < want {
                task.state = Some(TaskState::Failed);
                task.failure = Some(format!(
                    "{} (no other allowed compute node to try)",
                    task.failure
                        .as_deref()
                        .unwrap_or("no allowed compute node could run it")
                ));
                self.store.put_task(&job.id, &task).await?;
                return Ok(Start::Ended);
            }
            return Ok(Start::Wait(Box::new(task), tried));
        }
        let peers: Vec<PeerId> = ranked[..want]
            .iter()
            .filter_map(|id| PeerId::from_bytes(id.as_bytes()).ok())
            .collect();
        task.size = input.size;
        task.started = now_ms();
        task.state = Some(TaskState::Running);
        task.nodes = peers.iter().map(ToString::to_string).collect();
        task.held_data = input.shards.iter().any(|s| s.data && s.holder == ranked[0]);
        self.store.put_task(&job.id, &task).await?;
        let spec = TaskSpec {
            label: format!("{}/{}", job.id, task.n),
            module: *blake3::hash(module).as_bytes(),
            args: job.spec.args.clone(),
            limits: job.spec.limits,
            input: TaskInput {
                parts: input.parts.clone(),
            },
        };
        for peer in &peers {
            *self
                .inflight
                .lock()
                .expect("not poisoned")
                .entry(*peer)
                .or_default() += 1;
        }
        let this = self.clone();
        let (job, module) = (job.clone(), module.to_vec());
        Ok(Start::Running(Box::pin(async move {
            let runs = peers.iter().map(|peer| {
                let mut control = this.control.clone();
                let (spec, module) = (&spec, &module);
                async move { dispatch::run_on(&mut control, *peer, spec, module).await }
            });
            let results = futures_util::future::join_all(runs).await;
            for peer in &peers {
                let mut inflight = this.inflight.lock().expect("not poisoned");
                if let Some(n) = inflight.get_mut(peer) {
                    *n = n.saturating_sub(1);
                }
            }
            this.settle(&job, task, tried, &peers, results).await
        })))
    }

    /// Records how a task's attempt ended; returns the task, the nodes
    /// tried, and whether it should be tried again.
    async fn settle(
        &self,
        job: &JobRecord,
        mut task: TaskRecord,
        mut tried: Vec<NodeId>,
        peers: &[PeerId],
        results: Vec<Result<Ran, dispatch::DispatchError>>,
    ) -> (TaskRecord, Vec<NodeId>, bool) {
        let mut outputs = Vec::new();
        let mut busy = false;
        for (peer, result) in peers.iter().zip(results) {
            match result {
                Ok(ran) if ran.report.failure.is_none() => outputs.push((*peer, ran)),
                Ok(ran) if !ran.report.input_failed => {
                    // The module failed: it would fail anywhere.
                    task.failure = ran.report.failure.clone();
                    task.log = String::from_utf8_lossy(&ran.stderr).into_owned();
                    task.state = Some(TaskState::Failed);
                    record(&ran, &mut task, self.health.metrics());
                    self.save(job, &mut task).await;
                    return (task, tried, false);
                }
                Ok(ran) => {
                    tried.push(NodeId::new(peer.to_bytes()));
                    task.failure = ran.report.failure;
                }
                Err(dispatch::DispatchError::Refused {
                    reason,
                    retry: true,
                }) => {
                    // Busy (another gateway uses its slots): not the
                    // node's fault nor the task's; try again shortly.
                    tracing::debug!(job = %job.id, task = task.n, node = %peer, %reason, "a node was busy");
                    busy = true;
                }
                Err(e) => {
                    // Died, silent, or would not take it (a node's own
                    // policy or limits): another node may.
                    tracing::info!(job = %job.id, task = task.n, node = %peer, error = %e, "a task attempt failed");
                    tried.push(NodeId::new(peer.to_bytes()));
                    task.failure = Some(format!("node {peer}: {e}"));
                }
            }
        }
        if busy && task.state != Some(TaskState::Failed) {
            tokio::time::sleep(NO_SLOT_WAIT).await;
            task.state = Some(TaskState::Queued);
            self.save(job, &mut task).await;
            return (task, tried, true);
        }
        if outputs.len() < peers.len() {
            task.attempts += 1;
            task.state = Some(if task.attempts >= MAX_ATTEMPTS {
                TaskState::Failed
            } else {
                TaskState::Queued
            });
            self.save(job, &mut task).await;
            let again = task.state == Some(TaskState::Queued);
            return (task, tried, again);
        }
        if let [(a, first), (b, second)] = &outputs[..]
            && blake3::hash(&first.stdout) != blake3::hash(&second.stdout)
        {
            for peer in [a, b] {
                self.health
                    .record_audit(&peer.to_bytes(), AuditOutcome::Failed);
            }
            task.failure = Some(format!("the outputs of nodes {a} and {b} differ"));
            task.state = Some(TaskState::Failed);
            self.save(job, &mut task).await;
            return (task, tried, false);
        }
        let (_, ran) = outputs.swap_remove(0);
        record(&ran, &mut task, self.health.metrics());
        task.log = String::from_utf8_lossy(&ran.stderr).into_owned();
        let key = if task.n == job.tasks {
            format!("{}{REDUCE_OUTPUT}", job.spec.output_prefix)
        } else {
            format!("{}{}", job.spec.output_prefix, task.key)
        };
        task.output_len = ran.stdout.len() as u64;
        match self
            .gateway
            .store_output(&job.owner, &job.spec.output_bucket, &key, ran.stdout)
            .await
        {
            Ok(()) => {
                task.output = Some(key);
                task.failure = None;
                task.state = Some(TaskState::Done);
            }
            Err(e) => {
                task.failure = Some(format!("storing the output: {}", describe(&e)));
                task.state = Some(TaskState::Failed);
            }
        }
        self.save(job, &mut task).await;
        (task, tried, false)
    }

    async fn save(&self, job: &JobRecord, task: &mut TaskRecord) {
        if matches!(task.state(), TaskState::Done | TaskState::Failed) {
            task.ended = now_ms();
        }
        let metrics = self.health.metrics();
        metrics.compute_task(match task.state() {
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Queued | TaskState::Running => "retried",
        });
        if let Err(e) = self.store.put_task(&job.id, task).await {
            tracing::warn!(job = %job.id, task = task.n, error = %e, "cannot record a task");
        }
    }

    /// The compute nodes allowed on `bucket`, with their region and slots
    /// (`None`: published content, which any compute node may read).
    async fn allowed_nodes(&self, bucket: Option<&String>) -> Vec<(PeerId, String, usize)> {
        let allow: Option<Arc<ComputeAllow>> = match bucket {
            Some(bucket) => match self.store.meta().bucket_access(bucket).await {
                Ok(Some(info)) => match info.compute.clone() {
                    Some(allow) => Some(allow),
                    None => return Vec::new(),
                },
                _ => return Vec::new(),
            },
            None => None,
        };
        self.gateway
            .data_nodes()
            .compute_nodes()
            .into_iter()
            .filter(|(peer, region, _)| {
                allow
                    .as_ref()
                    .is_none_or(|allow| allow.allows(&peer.to_string(), region))
            })
            .map(|(peer, region, offer)| (peer, region, usize::from(offer.slots)))
            .collect()
    }

    /// The reduce's input: every map output, in task order, as one input.
    async fn reduce_input(&self, job: &JobRecord) -> Result<ComputeInput, String> {
        let tasks = self.store.tasks(&job.id).await.map_err(|e| e.to_string())?;
        let mut all = ComputeInput {
            parts: Vec::new(),
            shards: Vec::new(),
            size: 0,
        };
        for task in tasks.iter().filter(|t| t.n < job.tasks) {
            let Some(output) = &task.output else {
                return Err(format!("task {} has no output", task.n));
            };
            let input = self
                .gateway
                .compute_input(&job.spec.output_bucket, output)
                .await
                .map_err(|e| describe(&e))?;
            all.parts.extend(input.parts);
            all.shards.extend(input.shards);
            all.size += input.size;
        }
        Ok(all)
    }
}

/// What starting a task came to.
enum Start {
    /// It runs; the future settles it.
    Running(Attempt),
    /// No node is free now.
    Wait(Box<TaskRecord>, Vec<NodeId>),
    /// It failed before it could start (recorded).
    Ended,
}

type Attempt =
    std::pin::Pin<Box<dyn std::future::Future<Output = (TaskRecord, Vec<NodeId>, bool)> + Send>>;

/// Copies a finished run's figures into its task record and the
/// metrics.
fn record(ran: &Ran, task: &mut TaskRecord, metrics: &crate::admin::metrics::GatewayMetrics) {
    metrics.compute_input("local", ran.report.read_local);
    metrics.compute_input("fetched", ran.report.fetched);
    task.read_local = ran.report.read_local;
    task.fetched = ran.report.fetched;
    task.fuel_used = ran.report.fuel_used;
    task.elapsed_ms = ran.report.elapsed_ms;
}

/// An S3 error as a line of text.
fn describe(e: &s3s::S3Error) -> String {
    match e.message() {
        Some(message) => format!("{}: {message}", e.code().as_str()),
        None => e.code().as_str().to_owned(),
    }
}
