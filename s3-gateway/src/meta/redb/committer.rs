//! Group commit of object manifests: puts that arrive while a commit runs
//! are committed together in the next transaction, by one thread, so the
//! fsync of a redb commit is shared instead of paid per object (and never
//! blocks an async worker).

use std::sync::{Arc, Mutex, mpsc};

use redb::Database;

use super::journal::{Journal, Marks, Table};
use super::{BUCKETS, OBJECTS, completable_in, put_in, put_keeping_in, remove_upload_in, write_in};
use crate::meta::types::object_key;
use crate::meta::{
    BatchRefused, Completion, ConditionFailed, MetaError, ObjectMeta, ObjectWrite, PutOutcome,
    WriteCondition, versions_namespace,
};

/// Most puts committed in one transaction.
const MAX_BATCH: usize = 256;

enum Job {
    /// One object put.
    Put {
        bucket: String,
        key: String,
        meta: Box<ObjectMeta>,
        condition: WriteCondition,
        reply: tokio::sync::oneshot::Sender<Result<PutOutcome, MetaError>>,
    },
    /// An object put keeping the version it replaces.
    KeepPut {
        bucket: String,
        key: String,
        meta: Box<ObjectMeta>,
        condition: WriteCondition,
        reply: tokio::sync::oneshot::Sender<Result<KeptOutcome, MetaError>>,
    },
    /// Rows written together or not at all.
    Batch {
        bucket: String,
        writes: Vec<ObjectWrite>,
        completes: Option<Completion>,
        reply: tokio::sync::oneshot::Sender<Result<BatchOutcome, MetaError>>,
    },
}

/// What a put keeping the replaced version comes back with: the manifest
/// as written, or why its condition refused it.
type KeptOutcome = Result<ObjectMeta, ConditionFailed>;

/// What a batch of writes comes back with.
type BatchOutcome = Result<(), BatchRefused>;

/// A job's answer, sent once the transaction has committed.
enum Reply {
    KeepPut(
        tokio::sync::oneshot::Sender<Result<KeptOutcome, MetaError>>,
        Box<Result<KeptOutcome, MetaError>>,
    ),
    Put(
        tokio::sync::oneshot::Sender<Result<PutOutcome, MetaError>>,
        Box<Result<PutOutcome, MetaError>>,
    ),
    Batch(
        tokio::sync::oneshot::Sender<Result<BatchOutcome, MetaError>>,
        Result<BatchOutcome, MetaError>,
    ),
}

impl Reply {
    fn send(self) {
        match self {
            Self::Put(reply, outcome) => {
                let _ = reply.send(*outcome);
            }
            Self::KeepPut(reply, outcome) => {
                let _ = reply.send(*outcome);
            }
            Self::Batch(reply, outcome) => {
                let _ = reply.send(outcome);
            }
        }
    }

    fn fail(self, message: &str) {
        let error = MetaError::Batch(message.to_owned());
        match self {
            Self::Put(reply, _) => {
                let _ = reply.send(Err(error));
            }
            Self::KeepPut(reply, _) => {
                let _ = reply.send(Err(error));
            }
            Self::Batch(reply, _) => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

impl Job {
    fn fail(self, message: &str) {
        let error = MetaError::Batch(message.to_owned());
        match self {
            Self::Put { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Self::KeepPut { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Self::Batch { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// Commits object manifests in batches on a thread of its own. When
/// dropped it stops the thread and waits for it, so the database is closed
/// once the store that owns this is gone.
pub(super) struct Committer {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Committer {
    /// Starts the commit thread over `db`.
    pub(super) fn spawn(db: Arc<Database>, journal: Arc<Journal>) -> Self {
        let (queue, incoming) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("meta-commit".into())
            .spawn(move || {
                while let Ok(first) = incoming.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match incoming.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    commit_puts(&db, &journal, batch);
                }
            })
            .expect("spawning the metadata commit thread");
        Self {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Puts `meta` as object `key` of `bucket` if `condition` holds, with
    /// whatever other puts arrive meanwhile.
    pub(super) async fn put(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
    ) -> Result<PutOutcome, MetaError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Put {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            meta: Box::new(meta),
            condition,
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// Puts `meta` keeping the version it replaces (see
    /// `put_keeping_in`), with whatever other jobs arrive meanwhile.
    pub(super) async fn put_keeping(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
    ) -> Result<KeptOutcome, MetaError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Job::KeepPut {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            meta: Box::new(meta),
            condition,
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// Writes `writes` (rows of `bucket` and its versions namespace)
    /// together if every condition holds, with whatever other jobs arrive
    /// meanwhile.
    pub(super) async fn write(
        &self,
        bucket: &str,
        writes: Vec<ObjectWrite>,
        completes: Option<&Completion>,
    ) -> Result<BatchOutcome, MetaError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Batch {
            bucket: bucket.to_owned(),
            writes,
            completes: completes.cloned(),
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    fn send(&self, job: Job) -> Result<(), MetaError> {
        self.queue
            .lock()
            .expect("not poisoned")
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }
}

fn stopped() -> MetaError {
    MetaError::Batch("the metadata commit thread has stopped".into())
}

impl Drop for Committer {
    fn drop(&mut self) {
        // Closing the queue ends the thread; waiting for it releases its
        // handle on the database.
        self.queue.lock().expect("not poisoned").take();
        if let Some(thread) = self.thread.lock().expect("not poisoned").take() {
            let _ = thread.join();
        }
    }
}

/// Applies `jobs` in order in one write transaction and answers each. A
/// job refused (no such bucket, a failed condition) writes nothing; if the
/// commit itself fails, every job is told so and nothing is kept.
fn commit_puts(db: &Database, journal: &Journal, jobs: Vec<Job>) {
    let mut replies = Vec::with_capacity(jobs.len());
    let mut marks = Marks::default();
    let mut pending = jobs.into_iter();
    let result = (|| -> Result<(), MetaError> {
        let txn = db.begin_write()?;
        {
            let buckets = txn.open_table(BUCKETS)?;
            let mut objects = txn.open_table(OBJECTS)?;
            for job in pending.by_ref() {
                match job {
                    Job::Put {
                        bucket,
                        key,
                        meta,
                        condition,
                        reply,
                    } => {
                        let outcome =
                            put_in(&buckets, &mut objects, &bucket, &key, &meta, &condition);
                        if matches!(outcome, Ok(Ok(_))) {
                            marks.row(Table::Objects, object_key(&bucket, &key));
                        }
                        replies.push(Reply::Put(reply, Box::new(outcome)));
                    }
                    Job::KeepPut {
                        bucket,
                        key,
                        meta,
                        condition,
                        reply,
                    } => {
                        let outcome = put_keeping_in(
                            &buckets,
                            &mut objects,
                            &bucket,
                            &key,
                            *meta,
                            &condition,
                        );
                        let outcome = outcome.map(|done| {
                            done.map(|(written, moved)| {
                                marks.row(Table::Objects, object_key(&bucket, &key));
                                if let Some(row) = moved {
                                    let namespace = versions_namespace(&bucket);
                                    marks.row(Table::Objects, object_key(&namespace, &row));
                                }
                                written
                            })
                        });
                        replies.push(Reply::KeepPut(reply, Box::new(outcome)));
                    }
                    Job::Batch {
                        bucket,
                        writes,
                        completes,
                        reply,
                    } => {
                        let outcome = match &completes {
                            Some(c) if !completable_in(&txn, c)? => Ok(Err(BatchRefused::Upload)),
                            _ => write_in(&buckets, &mut objects, &bucket, &writes),
                        };
                        if matches!(outcome, Ok(Ok(()))) {
                            for write in &writes {
                                marks.row(Table::Objects, object_key(&write.bucket, &write.key));
                            }
                            if let Some(c) = &completes {
                                remove_upload_in(&txn, &c.upload_id, &mut marks)?;
                            }
                        }
                        replies.push(Reply::Batch(reply, outcome));
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            // Marked before anyone is answered: an acknowledged put is in
            // the next backup.
            journal.record(marks);
            for reply in replies {
                reply.send();
            }
        }
        Err(e) => {
            let message = e.to_string();
            tracing::error!(error = %message, "a batched manifest commit failed");
            // Those already applied and those never reached alike.
            for reply in replies {
                reply.fail(&message);
            }
            for job in pending {
                job.fail(&message);
            }
        }
    }
}
