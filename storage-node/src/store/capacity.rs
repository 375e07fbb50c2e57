//! Capacity accounting: committed bytes and bytes of writes in flight, in
//! total and per owner, against the configured limit, each owner's quota
//! and the disk's real free space.
//!
//! A write is admitted (or refused) on its declared length before its first
//! byte is read, but reserves room only as its bytes arrive: a sender that
//! declares 64 MiB and sends nothing holds nothing. The reservation becomes
//! "used" on commit and is released at once when the write is abandoned.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::error::{IoContext, StoreError};
use super::owner::Owner;

/// Usage figures at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Committed copies.
    pub shards: u64,
    /// Bytes of committed copies.
    pub bytes: u64,
    /// Bytes received by writes in flight.
    pub reserved: u64,
}

impl Usage {
    fn taken(&self) -> u64 {
        self.bytes.saturating_add(self.reserved)
    }
}

#[derive(Debug, Default)]
struct State {
    total: Usage,
    owners: HashMap<Owner, Usage>,
}

/// The capacity of one store.
#[derive(Debug)]
pub(crate) struct Capacity {
    limit: u64,
    dir: PathBuf,
    state: Mutex<State>,
}

impl Capacity {
    /// `limit` bytes for copies stored under `dir`; `kept` lists the
    /// committed copies (owner and length).
    pub(crate) fn new<'a>(
        limit: u64,
        dir: &Path,
        kept: impl IntoIterator<Item = (&'a Owner, u64)>,
    ) -> Self {
        let mut state = State::default();
        for (owner, len) in kept {
            for usage in [
                &mut state.total,
                state.owners.entry(owner.clone()).or_default(),
            ] {
                usage.shards += 1;
                usage.bytes += len;
            }
        }
        Self {
            limit,
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configured limit.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Current usage, all owners together.
    pub(crate) fn usage(&self) -> Usage {
        self.lock().total
    }

    /// Current usage of `owner`.
    pub(crate) fn owner_usage(&self, owner: &Owner) -> Usage {
        self.lock().owners.get(owner).copied().unwrap_or_default()
    }

    /// Current usage of every owner holding or receiving anything.
    pub(crate) fn owners(&self) -> Vec<(Owner, Usage)> {
        let state = self.lock();
        state
            .owners
            .iter()
            .map(|(owner, usage)| (owner.clone(), *usage))
            .collect()
    }

    /// Bytes the file system lets an unprivileged user still write.
    pub(crate) fn disk_free(&self) -> Result<u64, StoreError> {
        disk_free(&self.dir)
    }

    /// Admits a write of `len` bytes by `owner`, who may hold at most
    /// `quota` bytes: refuses at once if it would pass the quota, the
    /// configured limit or the disk's free space as things stand. Nothing
    /// is reserved yet; the bytes are, as they arrive
    /// ([`Reservation::grow`]).
    pub(crate) fn admit(
        self: &Arc<Self>,
        owner: &Owner,
        len: u64,
        quota: u64,
    ) -> Result<Reservation, StoreError> {
        // Ask the disk before taking the lock: statvfs is a syscall.
        let available = self.disk_free()?;
        let state = self.lock();
        self.check(&state, owner, len, quota)?;
        // Writes in flight may not have written their bytes yet: count them.
        let needed = len.saturating_add(state.total.reserved);
        if needed > available {
            return Err(StoreError::DiskFull {
                requested: needed,
                available,
            });
        }
        Ok(Reservation {
            capacity: Arc::clone(self),
            owner: owner.clone(),
            quota,
            held: 0,
        })
    }

    /// Whether `len` more bytes for `owner` fit the limit and its quota (a
    /// full node says so before it speaks of quotas).
    fn check(&self, state: &State, owner: &Owner, len: u64, quota: u64) -> Result<(), StoreError> {
        if state.total.taken().saturating_add(len) > self.limit {
            return Err(StoreError::CapacityExceeded {
                requested: len,
                used: state.total.bytes,
                reserved: state.total.reserved,
                capacity: self.limit,
            });
        }
        let mine = state.owners.get(owner).copied().unwrap_or_default();
        if mine.taken().saturating_add(len) > quota {
            return Err(StoreError::QuotaExceeded {
                requested: len,
                used: mine.bytes,
                reserved: mine.reserved,
                quota,
            });
        }
        Ok(())
    }

    /// A committed copy of `len` bytes of `owner` was removed.
    pub(crate) fn release_committed(&self, owner: &Owner, len: u64) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let total = &mut state.total;
        total.bytes = total.bytes.saturating_sub(len);
        total.shards = total.shards.saturating_sub(1);
        if let Some(usage) = state.owners.get_mut(owner) {
            usage.bytes = usage.bytes.saturating_sub(len);
            usage.shards = usage.shards.saturating_sub(1);
            if *usage == Usage::default() {
                state.owners.remove(owner);
            }
        }
    }
}

/// Room held for one write in flight, grown as its bytes arrive; released
/// on drop unless committed.
#[derive(Debug)]
pub(crate) struct Reservation {
    capacity: Arc<Capacity>,
    owner: Owner,
    quota: u64,
    held: u64,
}

impl Reservation {
    /// Reserves `n` more bytes, or refuses if they no longer fit (other
    /// writes took the room meanwhile).
    pub(crate) fn grow(&mut self, n: u64) -> Result<(), StoreError> {
        let capacity = Arc::clone(&self.capacity);
        let mut state = capacity.lock();
        capacity.check(&state, &self.owner, n, self.quota)?;
        let state = &mut *state;
        state.total.reserved += n;
        state.owners.entry(self.owner.clone()).or_default().reserved += n;
        self.held += n;
        Ok(())
    }

    /// The write committed: its bytes now count as used.
    pub(crate) fn commit(mut self) {
        let capacity = Arc::clone(&self.capacity);
        let mut guard = capacity.lock();
        let state = &mut *guard;
        let held = std::mem::take(&mut self.held);
        for usage in [
            &mut state.total,
            state.owners.entry(self.owner.clone()).or_default(),
        ] {
            usage.reserved = usage.reserved.saturating_sub(held);
            usage.bytes += held;
            usage.shards += 1;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held == 0 {
            return;
        }
        let mut guard = self.capacity.lock();
        let state = &mut *guard;
        state.total.reserved = state.total.reserved.saturating_sub(self.held);
        if let Some(usage) = state.owners.get_mut(&self.owner) {
            usage.reserved = usage.reserved.saturating_sub(self.held);
            if *usage == Usage::default() {
                state.owners.remove(&self.owner);
            }
        }
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

    fn owner(name: &str) -> Owner {
        Owner::new(name.as_bytes()).unwrap()
    }

    #[test]
    fn bytes_are_reserved_as_they_arrive_and_released_or_committed() {
        let dir = std::env::temp_dir();
        let capacity = Arc::new(Capacity::new(100, &dir, []));
        let (a, b) = (owner("a"), owner("b"));
        // Admission reserves nothing.
        let mut first = capacity.admit(&a, 60, u64::MAX).unwrap();
        assert_eq!(capacity.usage(), Usage::default());
        first.grow(60).unwrap();
        // Admitted on its declared length, refused as things stand.
        assert!(matches!(
            capacity.admit(&b, 41, u64::MAX),
            Err(StoreError::CapacityExceeded { reserved: 60, .. })
        ));
        let mut second = capacity.admit(&b, 40, u64::MAX).unwrap();
        second.grow(30).unwrap();
        assert_eq!(capacity.owner_usage(&b).reserved, 30);
        // An abandoned write frees its room at once.
        drop(second);
        assert_eq!(capacity.usage().reserved, 60);
        assert_eq!(capacity.owner_usage(&b), Usage::default());
        first.commit();
        let committed = Usage {
            shards: 1,
            bytes: 60,
            reserved: 0,
        };
        assert_eq!(capacity.usage(), committed);
        assert_eq!(capacity.owner_usage(&a), committed);
        capacity.release_committed(&a, 60);
        assert_eq!(capacity.usage(), Usage::default());
        assert!(capacity.owners().is_empty());
    }

    #[test]
    fn quotas_hold_per_owner_and_count_writes_in_flight() {
        let dir = std::env::temp_dir();
        let capacity = Arc::new(Capacity::new(1000, &dir, [(&owner("a"), 30)]));
        let a = owner("a");
        assert!(matches!(
            capacity.admit(&a, 21, 50),
            Err(StoreError::QuotaExceeded { used: 30, .. })
        ));
        let mut w = capacity.admit(&a, 20, 50).unwrap();
        w.grow(15).unwrap();
        // Another write of the same owner now fits only 5 bytes.
        let mut other = capacity.admit(&a, 5, 50).unwrap();
        assert!(matches!(
            other.grow(6),
            Err(StoreError::QuotaExceeded { reserved: 15, .. })
        ));
        other.grow(5).unwrap();
        assert!(w.grow(1).is_err());
        // Other owners are not affected by a's quota.
        capacity.admit(&owner("b"), 500, 500).unwrap();
    }

    #[test]
    fn more_than_the_disk_holds_is_refused() {
        let dir = std::env::temp_dir();
        let free = disk_free(&dir).unwrap();
        let capacity = Arc::new(Capacity::new(u64::MAX, &dir, []));
        assert!(matches!(
            capacity.admit(&owner("a"), free.saturating_add(1 << 40), u64::MAX),
            Err(StoreError::DiskFull { .. })
        ));
    }
}
