//! Per-owner accounting: what a node did for each owner, the records a
//! payment system would need.
//!
//! Counters only grow: bytes served from the owner's copies, bytes received
//! for them, and shard-seconds and byte-seconds (the integral of the copies
//! and bytes held over time). They live in memory, are integrated and
//! written to the index's `owner_usage` table by [`Store::flush_usage`]
//! (the daemon calls it every minute and at shutdown), and are read back on
//! open, so a restart loses at most one interval of integration and never
//! makes a counter go back.
//!
//! [`Store::flush_usage`]: super::Store::flush_usage

use std::collections::HashMap;

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::error::StoreError;
use super::index::{self, Alias, OWNER_USAGE, Owners};
use super::owner::Owner;

/// The key in `owner_usage` that holds when counters were last integrated
/// (no owner has this alias).
const INTEGRATED_AT: Alias = Alias::MAX;

const COUNTERS_VERSION: u8 = 1;
const COUNTERS_LEN: usize = 1 + 8 * 4;

/// An owner's monotonic counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes sent from the owner's copies (to anyone).
    pub bytes_served: u64,
    /// Bytes received into the owner's copies (committed or not).
    pub bytes_received: u64,
    /// Copies held, integrated over time, in copy-seconds.
    pub shard_seconds: u64,
    /// Bytes held, integrated over time, in byte-seconds.
    pub byte_seconds: u128,
}

impl Counters {
    fn encode(&self) -> [u8; COUNTERS_LEN + 8] {
        let mut out = [0u8; COUNTERS_LEN + 8];
        out[0] = COUNTERS_VERSION;
        out[1..9].copy_from_slice(&self.bytes_served.to_le_bytes());
        out[9..17].copy_from_slice(&self.bytes_received.to_le_bytes());
        out[17..25].copy_from_slice(&self.shard_seconds.to_le_bytes());
        out[25..41].copy_from_slice(&self.byte_seconds.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != COUNTERS_LEN + 8 || bytes[0] != COUNTERS_VERSION {
            return None;
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        Some(Self {
            bytes_served: u64_at(1),
            bytes_received: u64_at(9),
            shard_seconds: u64_at(17),
            byte_seconds: u128::from_le_bytes(bytes[25..41].try_into().expect("16")),
        })
    }
}

/// Every owner's counters, and when holdings were last integrated.
#[derive(Debug, Default)]
pub(crate) struct Accounts {
    counters: HashMap<Owner, Counters>,
    /// Unix seconds up to which holdings are integrated.
    integrated_at: u64,
}

impl Accounts {
    /// Reads the counters from the index; `now` starts the integration of
    /// a store that has none yet.
    pub(crate) fn load(db: &Database, owners: &Owners, now: u64) -> Result<Self, StoreError> {
        let txn = db.begin_read()?;
        let table = txn.open_table(OWNER_USAGE)?;
        let mut accounts = Self {
            counters: HashMap::new(),
            integrated_at: now,
        };
        for entry in table.iter()? {
            let (alias, value) = entry?;
            let (alias, value) = (alias.value(), value.value());
            if alias == INTEGRATED_AT {
                if let Ok(bytes) = <[u8; 8]>::try_from(value) {
                    accounts.integrated_at = u64::from_le_bytes(bytes);
                }
                continue;
            }
            let (Some(owner), Some(counters)) = (owners.name(alias), Counters::decode(value))
            else {
                tracing::warn!(alias, "skipping unreadable usage counters");
                continue;
            };
            accounts.counters.insert(owner.clone(), counters);
        }
        Ok(accounts)
    }

    /// Counts `n` bytes served from `owner`'s copies.
    pub(crate) fn served(&mut self, owner: &Owner, n: u64) {
        let c = self.counters.entry(owner.clone()).or_default();
        c.bytes_served = c.bytes_served.saturating_add(n);
    }

    /// Counts `n` bytes received for `owner`.
    pub(crate) fn received(&mut self, owner: &Owner, n: u64) {
        let c = self.counters.entry(owner.clone()).or_default();
        c.bytes_received = c.bytes_received.saturating_add(n);
    }

    /// Adds the holdings (`(owner, copies, bytes)`) over the time since the
    /// last integration, up to `now`.
    pub(crate) fn integrate(&mut self, holdings: &[(Owner, u64, u64)], now: u64) {
        let elapsed = now.saturating_sub(self.integrated_at);
        if elapsed == 0 {
            return;
        }
        for (owner, shards, bytes) in holdings {
            let c = self.counters.entry(owner.clone()).or_default();
            c.shard_seconds = c
                .shard_seconds
                .saturating_add(shards.saturating_mul(elapsed));
            c.byte_seconds = c
                .byte_seconds
                .saturating_add(u128::from(*bytes) * u128::from(elapsed));
        }
        self.integrated_at = now;
    }

    /// `owner`'s counters.
    pub(crate) fn get(&self, owner: &Owner) -> Counters {
        self.counters.get(owner).copied().unwrap_or_default()
    }

    /// Every owner's counters.
    pub(crate) fn all(&self) -> Vec<(Owner, Counters)> {
        self.counters
            .iter()
            .map(|(owner, counters)| (owner.clone(), *counters))
            .collect()
    }

    /// Unix seconds up to which holdings are integrated.
    pub(crate) fn integrated_at(&self) -> u64 {
        self.integrated_at
    }

    /// Writes every counter within `txn`, making aliases for owners that
    /// have none yet (returned in `fresh`).
    pub(crate) fn persist(
        &self,
        txn: &WriteTransaction,
        owners: &Owners,
        fresh: &mut Vec<(Alias, Owner)>,
    ) -> Result<(), StoreError> {
        for (owner, counters) in &self.counters {
            let alias = owners.alias_in(txn, owner, fresh)?;
            txn.open_table(OWNER_USAGE)?
                .insert(alias, counters.encode().as_slice())?;
        }
        txn.open_table(index::OWNER_USAGE)?
            .insert(INTEGRATED_AT, self.integrated_at.to_le_bytes().as_slice())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_round_trip() {
        let c = Counters {
            bytes_served: 1,
            bytes_received: 2,
            shard_seconds: 3,
            byte_seconds: u128::from(u64::MAX) * 7,
        };
        assert_eq!(Counters::decode(&c.encode()), Some(c));
        assert_eq!(Counters::decode(&c.encode()[1..]), None);
    }

    #[test]
    fn integration_adds_holdings_times_elapsed_time() {
        let owner = Owner::new(b"o".to_vec()).unwrap();
        let mut accounts = Accounts {
            counters: HashMap::new(),
            integrated_at: 100,
        };
        accounts.integrate(&[(owner.clone(), 3, 1000)], 110);
        accounts.integrate(&[(owner.clone(), 1, 10)], 105); // clock went back: nothing
        accounts.integrate(&[(owner.clone(), 2, 500)], 120);
        let c = accounts.get(&owner);
        assert_eq!(c.shard_seconds, 3 * 10 + 2 * 10);
        assert_eq!(c.byte_seconds, 1000 * 10 + 500 * 10);
    }
}
