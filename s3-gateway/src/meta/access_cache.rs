//! What the access check needs to know about a bucket (its owner, ACL and
//! grants), cached for a moment so that a request costs no extra database
//! round trip.
//!
//! Used for signed requests (anonymous ones read the ACL from the store).
//! Entries live [`TTL`]; changes made through this gateway's [`MetaStore`]
//! drop the bucket's entry at once, so only changes made elsewhere (another
//! gateway sharing a PostgreSQL store, the operator CLI on that store) take
//! up to [`TTL`] to apply here. Only buckets that exist are remembered (a
//! bucket cached as missing could be created through another gateway and
//! then pass unchecked), and the whole cache is dropped when it reaches
//! [`MAX_ENTRIES`].
//!
//! [`MetaStore`]: super::MetaStore

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{BucketAcl, BucketPerms};

/// How long an entry is used.
pub const TTL: Duration = Duration::from_secs(1);
/// How many buckets are remembered at most.
pub const MAX_ENTRIES: usize = 10_000;

/// A bucket as the access check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketAccessInfo {
    /// The key that created it (it may do everything).
    pub owner: String,
    /// What anonymous clients may do.
    pub acl: BucketAcl,
    /// What other keys may do.
    pub grants: HashMap<String, BucketPerms>,
}

impl BucketAccessInfo {
    /// What key `key` may do in the bucket.
    pub fn perms_of(&self, key: &str) -> BucketPerms {
        if key == self.owner {
            return BucketPerms::ALL;
        }
        self.grants.get(key).copied().unwrap_or_default()
    }
}

/// When an entry was fetched, and the bucket (`None`: missing).
type Entry = (Instant, Option<Arc<BucketAccessInfo>>);

/// Bucket name → its entry.
#[derive(Default)]
pub(super) struct AccessCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl AccessCache {
    /// The entry for `bucket` if it is fresh.
    pub(super) fn get(&self, bucket: &str) -> Option<Option<Arc<BucketAccessInfo>>> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(bucket)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, info)| info.clone())
    }

    /// Remembers `info` for `bucket`, fetched at `at`.
    pub(super) fn put(&self, bucket: &str, at: Instant, info: Option<Arc<BucketAccessInfo>>) {
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(bucket.to_owned(), (at, info));
    }

    /// Forgets `bucket` (it changed here).
    pub(super) fn forget(&self, bucket: &str) {
        self.entries.lock().expect("cache lock").remove(bucket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creator_may_do_everything_and_others_what_they_were_granted() {
        let read = BucketPerms {
            read: true,
            ..Default::default()
        };
        let info = BucketAccessInfo {
            owner: "A".into(),
            acl: BucketAcl::Private,
            grants: [("B".to_owned(), read)].into(),
        };
        assert_eq!(info.perms_of("A"), BucketPerms::ALL);
        assert_eq!(info.perms_of("B"), read);
        assert!(info.perms_of("C").is_none());
    }

    #[test]
    fn entries_expire_are_forgotten_and_the_cache_stays_bounded() {
        let cache = AccessCache::default();
        cache.put("b", Instant::now(), None);
        assert_eq!(cache.get("b"), Some(None));
        cache.forget("b");
        assert_eq!(cache.get("b"), None);
        cache.put("old", Instant::now() - TTL, None);
        assert_eq!(cache.get("old"), None, "expired");
        for i in 0..MAX_ENTRIES + 1 {
            cache.put(&format!("b{i}"), Instant::now(), None);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
