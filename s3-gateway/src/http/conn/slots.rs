//! How many S3 connections may be open at once, bounded by the file
//! descriptors the process may hold.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors kept free for everything but S3 connections (the metadata
/// store, listeners, the mesh's connections to nodes, logs), at least; an
/// eighth of the limit when that is more.
const RESERVED_FDS: u64 = 256;
/// The cap never goes below this, however low the descriptor limit.
const MIN_CONNECTIONS: usize = 16;

/// Raises the soft limit on open files to the hard limit (best effort) and
/// returns the soft limit now in force (`None`: unlimited).
pub fn raise_nofile_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(
                from = ?limit.current,
                to = ?limit.maximum,
                "raised the open-file limit to its hard limit"
            ),
            Err(e) => tracing::debug!(error = %e, "cannot raise the open-file limit"),
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The connection cap: `requested`, but no more than the descriptor limit
/// `nofile` leaves after the reserve.
pub fn connection_cap(requested: usize, nofile: Option<u64>) -> usize {
    let Some(nofile) = nofile else {
        return requested.max(1);
    };
    let reserve = RESERVED_FDS.max(nofile / 8);
    let bound = usize::try_from(nofile.saturating_sub(reserve)).unwrap_or(usize::MAX);
    requested
        .min(bound)
        .max(MIN_CONNECTIONS.min(requested))
        .max(1)
}

/// Open-connection slots: one is held per connection while it is served.
#[derive(Clone)]
pub struct Slots {
    free: Arc<Semaphore>,
    cap: usize,
}

impl Slots {
    /// `cap` slots.
    pub fn new(cap: usize) -> Self {
        Self {
            free: Arc::new(Semaphore::new(cap)),
            cap,
        }
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A slot, or `None` when all are taken.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.free.clone().try_acquire_owned().ok()
    }

    /// Slots in use.
    pub fn in_use(&self) -> usize {
        self.cap - self.free.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_everything_else() {
        assert_eq!(connection_cap(4096, Some(1024)), 1024 - 256);
        assert_eq!(connection_cap(4096, Some(20_000)), 4096);
        assert_eq!(connection_cap(100_000, Some(20_000)), 20_000 - 2500);
        assert_eq!(connection_cap(500, Some(20_000)), 500);
        assert_eq!(connection_cap(4096, Some(100)), MIN_CONNECTIONS);
        assert_eq!(connection_cap(4096, None), 4096);
        assert_eq!(connection_cap(3, Some(100)), 3);
    }

    #[test]
    fn slots_run_out_and_come_back() {
        let slots = Slots::new(2);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        assert!(slots.take().is_none());
        assert_eq!(slots.in_use(), 2);
        drop(a);
        assert!(slots.take().is_some());
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let soft = raise_nofile_limit();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(soft, now.current);
        // An unlimited hard limit cannot be the soft one for open files.
        assert!(
            now.current == now.maximum || now.maximum.is_none(),
            "{now:?}"
        );
    }
}
