//! Who may store on this node, and how much: the operator's accept list
//! (`--accept any | <peer id>[=<size>]`, repeatable, plus `--accept-file`)
//! and the quotas of owners not on it.
//!
//! * A listed owner may store up to its own quota (or the capacity).
//! * With `any`, an owner not listed (a *stranger*: peer ids cost nothing)
//!   may store up to `owner_quota` (default 5 % of the capacity), and all
//!   strangers together up to `strangers_quota` (default half the
//!   capacity), so strangers can never crowd out the owners the operator
//!   chose, however many identities they make.
//! * Without `any`, owners not listed are refused (`NotAccepted`).
//!
//! The accept file is re-read when its modification time changes; a file
//! that does not parse keeps the previous list (and is logged).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use libp2p::PeerId;

use crate::config::{AcceptConfig, AcceptSpec, ConfigError, parse_accept_file};
use crate::store::{Owner, Store, StoreError};

/// Share of the capacity one stranger may take unless configured.
pub const DEFAULT_OWNER_SHARE: f64 = 0.05;
/// Share of the capacity all strangers together may take unless configured.
pub const DEFAULT_STRANGERS_SHARE: f64 = 0.5;

/// Why a put is refused before its bytes are read.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The owner is not on the accept list and strangers are not accepted.
    #[error("this node does not store shards for {0}")]
    NotAccepted(PeerId),
    /// Reading the store's figures failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whom the node accepts, at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptPolicy {
    any: bool,
    listed: HashMap<PeerId, Option<u64>>,
    owner_quota: u64,
    strangers_quota: u64,
}

impl AcceptPolicy {
    /// The policy of `specs` on a node of `capacity` bytes.
    pub fn new(
        specs: &[AcceptSpec],
        capacity: u64,
        owner_quota: Option<u64>,
        strangers_quota: Option<u64>,
    ) -> Self {
        let share = |f: f64| (capacity as f64 * f) as u64;
        let mut policy = Self {
            any: false,
            listed: HashMap::new(),
            owner_quota: owner_quota.unwrap_or_else(|| share(DEFAULT_OWNER_SHARE)),
            strangers_quota: strangers_quota.unwrap_or_else(|| share(DEFAULT_STRANGERS_SHARE)),
        };
        for spec in specs {
            match spec {
                AcceptSpec::Any => policy.any = true,
                AcceptSpec::Peer(peer, quota) => {
                    policy.listed.insert(*peer, *quota);
                }
            }
        }
        policy
    }

    /// Whether `peer` is on the accept list (listed owners are not bound by
    /// the per-address limits meant for strangers).
    pub fn is_listed(&self, peer: &PeerId) -> bool {
        self.listed.contains_key(peer)
    }

    /// Whether owners not listed may store.
    pub fn accepts_strangers(&self) -> bool {
        self.any
    }

    /// How many bytes `peer` may hold in all on `store` now (what it holds
    /// included), or why it may hold nothing.
    pub fn quota_for(&self, peer: &PeerId, store: &Store) -> Result<u64, Refusal> {
        if let Some(quota) = self.listed.get(peer) {
            return Ok(quota.unwrap_or(u64::MAX));
        }
        if !self.any {
            return Err(Refusal::NotAccepted(*peer));
        }
        // What strangers hold: everything but the listed owners' copies.
        let stats = store.stats()?;
        let listed: u64 = self
            .listed
            .keys()
            .map(|p| {
                let usage = store.account(&owner_of(p)).usage;
                usage.bytes + usage.reserved
            })
            .sum();
        let strangers = (stats.bytes_stored + stats.bytes_reserved).saturating_sub(listed);
        let mine = store.account(&owner_of(peer)).usage;
        let room = self.strangers_quota.saturating_sub(strangers);
        Ok(self
            .owner_quota
            .min((mine.bytes + mine.reserved).saturating_add(room)))
    }
}

/// The store's owner id for `peer`.
pub fn owner_of(peer: &PeerId) -> Owner {
    Owner::new(peer.to_bytes()).expect("peer ids are 1..=255 bytes")
}

/// The accept policy, re-read from its file when that changes. Cheap to
/// clone (shared).
#[derive(Clone)]
pub struct Admission {
    inner: Arc<RwLock<Current>>,
    base: Arc<Base>,
}

/// What the flags fixed: the specs, the quotas, the file to watch.
struct Base {
    specs: Vec<AcceptSpec>,
    file: Option<PathBuf>,
    capacity: u64,
    owner_quota: Option<u64>,
    strangers_quota: Option<u64>,
}

struct Current {
    policy: Arc<AcceptPolicy>,
    file_modified: Option<SystemTime>,
}

impl Admission {
    /// The policy of `config` on a node of `capacity` bytes. Fails if the
    /// accept file cannot be read or parsed.
    pub fn new(config: &AcceptConfig, capacity: u64) -> Result<Self, ConfigError> {
        let mut specs: Vec<AcceptSpec> = config
            .listed
            .iter()
            .map(|(peer, quota)| AcceptSpec::Peer(*peer, *quota))
            .collect();
        if config.any {
            specs.push(AcceptSpec::Any);
        }
        let base = Arc::new(Base {
            specs,
            file: config.file.clone(),
            capacity,
            owner_quota: config.owner_quota,
            strangers_quota: config.strangers_quota,
        });
        let (policy, file_modified) = base.load()?;
        Ok(Self {
            inner: Arc::new(RwLock::new(Current {
                policy: Arc::new(policy),
                file_modified,
            })),
            base,
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<AcceptPolicy> {
        self.inner.read().expect("not poisoned").policy.clone()
    }

    /// Re-reads the accept file if it changed; a file that cannot be read
    /// or parsed leaves the policy as it was. Returns whether it changed.
    pub fn reload_if_changed(&self) -> bool {
        let Some(path) = &self.base.file else {
            return false;
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified == self.inner.read().expect("not poisoned").file_modified {
            return false;
        }
        match self.base.load() {
            Ok((policy, modified)) => {
                let mut current = self.inner.write().expect("not poisoned");
                let changed = *current.policy != policy;
                current.policy = Arc::new(policy);
                current.file_modified = modified;
                if changed {
                    tracing::info!(file = %path.display(), "accept list reloaded");
                }
                changed
            }
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "cannot reload the accept list; keeping the previous one");
                self.inner.write().expect("not poisoned").file_modified = modified;
                false
            }
        }
    }
}

impl Base {
    fn load(&self) -> Result<(AcceptPolicy, Option<SystemTime>), ConfigError> {
        let mut specs = self.specs.clone();
        let mut modified = None;
        if let Some(path) = &self.file {
            let read = |source| ConfigError::Read {
                path: path.clone(),
                source,
            };
            modified = Some(
                std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .map_err(read)?,
            );
            specs.extend(parse_accept_file(
                &std::fs::read_to_string(path).map_err(read)?,
            )?);
        }
        let policy = AcceptPolicy::new(
            &specs,
            self.capacity,
            self.owner_quota,
            self.strangers_quota,
        );
        Ok((policy, modified))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1000).unwrap();
        (dir, store)
    }

    fn fill(store: &Store, peer: &PeerId, len: usize, seed: u8) {
        let bytes = vec![seed; len];
        store
            .put(
                proofs::ShardId::of(&bytes),
                len as u64,
                owner_of(peer),
                &bytes[..],
            )
            .unwrap();
    }

    #[test]
    fn listed_owners_get_their_quota_and_strangers_share_theirs() {
        let (_dir, store) = store();
        let (friend, a, b) = (PeerId::random(), PeerId::random(), PeerId::random());
        let policy = AcceptPolicy::new(
            &[AcceptSpec::Peer(friend, None), AcceptSpec::Any],
            1000,
            Some(300),
            Some(400),
        );
        assert_eq!(policy.quota_for(&friend, &store).unwrap(), u64::MAX);
        assert_eq!(policy.quota_for(&a, &store).unwrap(), 300);
        fill(&store, &friend, 500, 1);
        fill(&store, &a, 250, 2);
        // a may grow to its own quota; b only to what strangers have left.
        assert_eq!(policy.quota_for(&a, &store).unwrap(), 300);
        assert_eq!(policy.quota_for(&b, &store).unwrap(), 150);
        fill(&store, &b, 150, 3);
        assert_eq!(policy.quota_for(&b, &store).unwrap(), 150);
        assert_eq!(policy.quota_for(&PeerId::random(), &store).unwrap(), 0);
    }

    #[test]
    fn without_any_only_listed_owners_may_store() {
        let (_dir, store) = store();
        let friend = PeerId::random();
        let policy = AcceptPolicy::new(&[AcceptSpec::Peer(friend, Some(10))], 1000, None, None);
        assert_eq!(policy.quota_for(&friend, &store).unwrap(), 10);
        assert!(matches!(
            policy.quota_for(&PeerId::random(), &store),
            Err(Refusal::NotAccepted(_))
        ));
    }

    #[test]
    fn the_accept_file_is_reloaded_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("accept");
        let (a, b) = (PeerId::random(), PeerId::random());
        std::fs::write(&file, format!("{a}\n")).unwrap();
        let admission = Admission::new(
            &AcceptConfig {
                any: false,
                listed: Vec::new(),
                file: Some(file.clone()),
                owner_quota: None,
                strangers_quota: None,
            },
            1000,
        )
        .unwrap();
        assert!(admission.policy().is_listed(&a));
        assert!(!admission.reload_if_changed());
        // A broken file keeps the old list.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, "not a peer\n").unwrap();
        bump_mtime(&file);
        assert!(!admission.reload_if_changed());
        assert!(admission.policy().is_listed(&a));
        std::fs::write(&file, format!("{b}=5GiB\n")).unwrap();
        bump_mtime(&file);
        assert!(admission.reload_if_changed());
        assert!(admission.policy().is_listed(&b));
        assert!(!admission.policy().is_listed(&a));
    }

    /// Makes sure the file's modification time differs from the last read
    /// even on coarse-grained file systems.
    fn bump_mtime(path: &std::path::Path) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static STEP: AtomicU64 = AtomicU64::new(1);
        let when = SystemTime::now()
            + std::time::Duration::from_secs(STEP.fetch_add(1, Ordering::Relaxed));
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(when).unwrap();
    }
}
