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

use super::bucket_config::{self, ObjectLock, PublicAccessBlock};
use super::versions::Versioning;
use super::{BucketAcl, BucketPerms};
use crate::cors::CorsRules;
use crate::policy::Policy;

/// How long an entry is used.
pub const TTL: Duration = Duration::from_secs(1);
/// How many buckets are remembered at most.
pub const MAX_ENTRIES: usize = 10_000;

/// A bucket as the access check sees it.
#[derive(Clone, Debug)]
pub struct BucketAccessInfo {
    /// The key that created it (it may do everything).
    pub owner: String,
    /// What anonymous clients may do.
    pub acl: BucketAcl,
    /// What other keys may do.
    pub grants: HashMap<String, BucketPerms>,
    /// Its policy, parsed.
    pub policy: Option<Arc<Policy>>,
    /// Its public access block (all off if it has none).
    pub public_access: PublicAccessBlock,
    /// Its CORS rules.
    pub cors: Option<Arc<CorsRules>>,
    /// Its versioning state.
    pub versioning: Versioning,
    /// Its object lock configuration, if object lock is on.
    pub object_lock: Option<ObjectLock>,
    /// Whether every object written to it is published by its CID (the
    /// bucket tag [`PUBLISH_TAG`] = `true`).
    pub publish: bool,
    /// The compute nodes its owner allowed to run tasks on its objects.
    pub compute: Option<Arc<bucket_config::ComputeAllow>>,
}

/// The bucket tag that makes a bucket publish every object written to it
/// (value `true`), set with PutBucketTagging by whoever may tag it.
pub const PUBLISH_TAG: &str = "cairn:publish";

impl BucketAccessInfo {
    /// Bucket `name` of `owner` with `acl`, `grants` and its configuration
    /// documents. A stored policy or block that no longer reads (written
    /// by another version) fails closed: a policy denying everything (the
    /// owner can still replace or delete it), every block on.
    pub fn new(
        name: &str,
        owner: String,
        acl: BucketAcl,
        grants: Vec<(String, BucketPerms)>,
        configs: &[(String, Vec<u8>)],
    ) -> Self {
        let mut info = Self {
            owner,
            acl,
            grants: grants.into_iter().collect(),
            policy: None,
            public_access: PublicAccessBlock::default(),
            cors: None,
            versioning: Versioning::Unversioned,
            object_lock: None,
            publish: false,
            compute: None,
        };
        for (kind, value) in configs {
            match kind.as_str() {
                bucket_config::POLICY => {
                    let text = String::from_utf8_lossy(value);
                    let policy = Policy::parse(&text, name).unwrap_or_else(|e| {
                        tracing::error!(bucket = name, error = %e, "stored bucket policy unreadable; denying all");
                        Policy::deny_everything()
                    });
                    info.policy = Some(Arc::new(policy));
                }
                bucket_config::PUBLIC_ACCESS_BLOCK => {
                    info.public_access =
                        PublicAccessBlock::from_bytes(value).unwrap_or_else(|| {
                            tracing::error!(
                                bucket = name,
                                "stored public access block unreadable; blocking all"
                            );
                            PublicAccessBlock::from_bytes(&[0xf]).expect("one byte")
                        });
                }
                bucket_config::CORS => {
                    // Unreadable rules allow nothing (browsers are refused).
                    info.cors = CorsRules::decode(value).map(Arc::new);
                    if info.cors.is_none() {
                        tracing::error!(
                            bucket = name,
                            "stored CORS rules unreadable; ignoring them"
                        );
                    }
                }
                bucket_config::VERSIONING => {
                    // Unreadable, it keeps every version: nothing is lost.
                    info.versioning = Versioning::from_bytes(value).unwrap_or_else(|| {
                        tracing::error!(
                            bucket = name,
                            "stored versioning state unreadable; keeping every version"
                        );
                        Versioning::Enabled
                    });
                }
                bucket_config::OBJECT_LOCK => {
                    // Unreadable, the lock stays on (with no default).
                    info.object_lock = Some(ObjectLock::from_bytes(value).unwrap_or_else(|| {
                        tracing::error!(
                            bucket = name,
                            "stored object lock configuration unreadable; lock on, no default"
                        );
                        ObjectLock::default()
                    }));
                }
                bucket_config::COMPUTE => {
                    // Unreadable, it allows nothing.
                    info.compute = serde_json::from_slice(value).ok().map(Arc::new);
                }
                bucket_config::TAGGING => {
                    // Unreadable tags publish nothing.
                    info.publish =
                        postcard::from_bytes::<Vec<(String, String)>>(value).is_ok_and(|tags| {
                            tags.iter()
                                .any(|(k, v)| k == PUBLISH_TAG && v.eq_ignore_ascii_case("true"))
                        });
                }
                _ => {}
            }
        }
        info
    }

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
        let info = BucketAccessInfo::new(
            "b",
            "A".into(),
            BucketAcl::Private,
            vec![("B".to_owned(), read)],
            &[],
        );
        assert_eq!(info.perms_of("A"), BucketPerms::ALL);
        assert_eq!(info.perms_of("B"), read);
        assert!(info.perms_of("C").is_none());
    }

    #[test]
    fn entries_expire_are_forgotten_and_the_cache_stays_bounded() {
        let cache = AccessCache::default();
        cache.put("b", Instant::now(), None);
        assert!(matches!(cache.get("b"), Some(None)));
        cache.forget("b");
        assert!(cache.get("b").is_none());
        cache.put("old", Instant::now() - TTL, None);
        assert!(cache.get("old").is_none(), "expired");
        for i in 0..MAX_ENTRIES + 1 {
            cache.put(&format!("b{i}"), Instant::now(), None);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
