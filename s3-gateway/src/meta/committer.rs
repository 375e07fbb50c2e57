//! Group commit of object manifests: puts that arrive while a commit runs
//! are committed together in the next transaction, by one thread, so the
//! fsync of a redb commit is shared instead of paid per object (and never
//! blocks an async worker).

use std::sync::mpsc;

use super::{BUCKETS, MetaError, MetaStore, OBJECTS, ObjectMeta, put_in};

/// Most puts committed in one transaction.
const MAX_BATCH: usize = 256;

/// A condition checked against the current object inside the transaction
/// that would replace it; an `Err` refuses the put.
pub type PutCheck<E> = Box<dyn FnOnce(Option<&ObjectMeta>) -> Result<(), E> + Send>;

/// What a put comes back with: the manifest it replaced (its shards are the
/// caller's to delete), or the check's refusal.
pub type PutOutcome<E> = Result<Result<Option<ObjectMeta>, E>, MetaError>;

struct Job<E> {
    bucket: String,
    key: String,
    meta: ObjectMeta,
    check: Option<PutCheck<E>>,
    reply: tokio::sync::oneshot::Sender<PutOutcome<E>>,
}

/// Commits object manifests in batches on a thread of its own. Cheap to
/// clone; the thread ends when the last clone is dropped.
pub struct ObjectCommitter<E> {
    queue: mpsc::Sender<Job<E>>,
}

impl<E> Clone for ObjectCommitter<E> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<E: Send + 'static> ObjectCommitter<E> {
    /// Starts the commit thread over `store`.
    pub fn spawn(store: MetaStore) -> Self {
        let (queue, incoming) = mpsc::channel::<Job<E>>();
        std::thread::Builder::new()
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
                    store.commit_puts(batch);
                }
            })
            .expect("spawning the metadata commit thread");
        Self { queue }
    }

    /// Stores `meta` as object `key` of `bucket` if `check` (if any)
    /// accepts the current object, atomically replacing it; see
    /// [`MetaStore::put_object_if`].
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        check: Option<PutCheck<E>>,
    ) -> PutOutcome<E> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let gone = || MetaError::Batch("the metadata commit thread has stopped".into());
        self.queue
            .send(Job {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                meta,
                check,
                reply,
            })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

impl MetaStore {
    /// Applies `jobs` in order in one write transaction and answers each.
    /// A job refused (no such bucket, a failed check) writes nothing; if
    /// the commit itself fails, every job is told so and nothing is kept.
    fn commit_puts<E>(&self, jobs: Vec<Job<E>>) {
        let mut replies = Vec::with_capacity(jobs.len());
        let mut pending = jobs.into_iter();
        let result = (|| -> Result<(), MetaError> {
            let txn = self.db.begin_write()?;
            {
                let buckets = txn.open_table(BUCKETS)?;
                let mut objects = txn.open_table(OBJECTS)?;
                for job in pending.by_ref() {
                    let outcome = put_in(
                        &buckets,
                        &mut objects,
                        &job.bucket,
                        &job.key,
                        &job.meta,
                        job.check,
                    );
                    replies.push((job.reply, outcome));
                }
            }
            txn.commit()?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                for (reply, outcome) in replies {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, "a batched manifest commit failed");
                // Those already applied and those never reached alike.
                let waiting = replies
                    .into_iter()
                    .map(|(reply, _)| reply)
                    .chain(pending.map(|job| job.reply));
                for reply in waiting {
                    let _ = reply.send(Err(MetaError::Batch(message.clone())));
                }
            }
        }
    }
}
