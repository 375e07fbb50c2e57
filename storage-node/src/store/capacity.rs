//! Capacity accounting: committed bytes, bytes reserved by writes in flight,
//! the configured limit, and the disk's real free space.
//!
//! A write reserves its full declared length before its first byte reaches
//! disk; the reservation becomes "used" on commit and is released when the
//! write is abandoned.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::error::{IoContext, StoreError};

/// Usage figures at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Committed shards.
    pub(crate) count: u64,
    /// Bytes of committed shards.
    pub(crate) used: u64,
    /// Bytes reserved by writes in flight.
    pub(crate) reserved: u64,
}

/// The capacity of one store.
#[derive(Debug)]
pub(crate) struct Capacity {
    limit: u64,
    dir: PathBuf,
    usage: Mutex<Usage>,
}

impl Capacity {
    /// `limit` bytes for shards stored under `dir`, of which `used` (in
    /// `count` shards) are taken.
    pub(crate) fn new(limit: u64, dir: &Path, count: u64, used: u64) -> Self {
        Self {
            limit,
            dir: dir.to_path_buf(),
            usage: Mutex::new(Usage {
                count,
                used,
                reserved: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configured limit.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Current usage.
    pub(crate) fn usage(&self) -> Usage {
        *self.lock()
    }

    /// Bytes the file system lets an unprivileged user still write.
    pub(crate) fn disk_free(&self) -> Result<u64, StoreError> {
        disk_free(&self.dir)
    }

    /// Reserves room for a shard of `len` bytes, or refuses if it would pass
    /// the configured limit or the disk's free space.
    pub(crate) fn reserve(self: &Arc<Self>, len: u64) -> Result<Reservation, StoreError> {
        // Ask the disk before taking the lock: statvfs is a syscall.
        let available = self.disk_free()?;
        let mut usage = self.lock();
        let taken = usage.used.saturating_add(usage.reserved);
        if taken.saturating_add(len) > self.limit {
            return Err(StoreError::CapacityExceeded {
                requested: len,
                used: usage.used,
                reserved: usage.reserved,
                capacity: self.limit,
            });
        }
        // Writes in flight may not have written their bytes yet: count them.
        let needed = len.saturating_add(usage.reserved);
        if needed > available {
            return Err(StoreError::DiskFull {
                requested: needed,
                available,
            });
        }
        usage.reserved += len;
        Ok(Reservation {
            capacity: Arc::clone(self),
            len,
        })
    }

    /// A committed shard of `len` bytes was removed.
    pub(crate) fn release_committed(&self, len: u64) {
        let mut usage = self.lock();
        usage.used = usage.used.saturating_sub(len);
        usage.count = usage.count.saturating_sub(1);
    }
}

/// Room held for one write in flight; released on drop unless committed.
#[derive(Debug)]
pub(crate) struct Reservation {
    capacity: Arc<Capacity>,
    len: u64,
}

impl Reservation {
    /// The write committed: its bytes now count as used.
    pub(crate) fn commit(self) {
        let mut usage = self.capacity.lock();
        usage.used += self.len;
        usage.count += 1;
        // Drop releases the reservation.
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut usage = self.capacity.lock();
        usage.reserved = usage.reserved.saturating_sub(self.len);
    }
}

/// Free bytes on the file system holding `dir`, for unprivileged users.
pub(crate) fn disk_free(dir: &Path) -> Result<u64, StoreError> {
    let stat = rustix::fs::statvfs(dir)
        .map_err(std::io::Error::from)
        .at("statvfs", dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_until_committed_or_dropped() {
        let dir = std::env::temp_dir();
        let capacity = Arc::new(Capacity::new(100, &dir, 0, 0));
        let a = capacity.reserve(60).unwrap();
        assert!(matches!(
            capacity.reserve(41),
            Err(StoreError::CapacityExceeded { reserved: 60, .. })
        ));
        let b = capacity.reserve(40).unwrap();
        drop(b);
        assert_eq!(capacity.usage().reserved, 60);
        a.commit();
        assert_eq!(
            capacity.usage(),
            Usage {
                count: 1,
                used: 60,
                reserved: 0
            }
        );
        capacity.release_committed(60);
        assert_eq!(capacity.usage(), Usage::default());
    }

    #[test]
    fn more_than_the_disk_holds_is_refused() {
        let dir = std::env::temp_dir();
        let free = disk_free(&dir).unwrap();
        let capacity = Arc::new(Capacity::new(u64::MAX, &dir, 0, 0));
        assert!(matches!(
            capacity.reserve(free.saturating_add(1 << 40)),
            Err(StoreError::DiskFull { .. })
        ));
    }
}
