//! The kinds of bucket configuration documents the store keeps (see
//! [`MetaBackend::bucket_configs`](super::MetaBackend::bucket_configs)),
//! and the encoding of those that are not kept as the client sent them.

/// The bucket policy, as the JSON text PutBucketPolicy sent.
pub const POLICY: &str = "policy";
/// The public access block, as [`PublicAccessBlock::to_byte`].
pub const PUBLIC_ACCESS_BLOCK: &str = "public-access-block";
/// The CORS rules (encoded by `s3::cors`).
pub const CORS: &str = "cors";
/// The lifecycle rules (encoded by `health::lifecycle::rules`).
pub const LIFECYCLE: &str = "lifecycle";
/// The bucket's tags (encoded by `s3::tagging`).
pub const TAGGING: &str = "tagging";
/// The versioning state, as [`Versioning::to_byte`](super::versions::Versioning::to_byte).
pub const VERSIONING: &str = "versioning";

/// The compute nodes that may run tasks over the bucket's objects, as
/// JSON [`ComputeAllow`] (set by `cairn gateway bucket allow-compute`).
pub const COMPUTE: &str = "compute";

/// Which compute nodes may see a bucket's plaintext to run tasks on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ComputeAllow {
    /// Nodes allowed by peer id.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Nodes allowed by the region they declare.
    #[serde(default)]
    pub regions: Vec<String>,
}

impl ComputeAllow {
    /// Whether the node `peer` in `region` may run tasks on the bucket.
    pub fn allows(&self, peer: &str, region: &str) -> bool {
        self.nodes.iter().any(|n| n == peer) || self.regions.iter().any(|r| r == region)
    }

    /// Whether it allows nothing.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.regions.is_empty()
    }
}

/// The object lock configuration, as [`ObjectLock::to_bytes`]; present
/// once object lock is enabled (it can never be turned off).
pub const OBJECT_LOCK: &str = "object-lock";

/// A bucket's object lock configuration: object lock is on, with this
/// default retention for new versions, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectLock {
    /// The retention new versions get when their write names none.
    pub default_retention: Option<DefaultRetention>,
}

/// A default retention period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultRetention {
    /// COMPLIANCE rather than GOVERNANCE.
    pub compliance: bool,
    /// The period.
    pub period: u32,
    /// In years rather than days.
    pub years: bool,
}

impl DefaultRetention {
    /// The period in days (a year counts 365).
    pub fn days(self) -> u64 {
        u64::from(self.period) * if self.years { 365 } else { 1 }
    }
}

impl ObjectLock {
    /// As stored: `1`, then nothing, or mode (1 GOVERNANCE, 2
    /// COMPLIANCE), unit (0 days, 1 years) and the period (u32 BE).
    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = vec![1];
        if let Some(d) = self.default_retention {
            out.push(if d.compliance { 2 } else { 1 });
            out.push(u8::from(d.years));
            out.extend_from_slice(&d.period.to_be_bytes());
        }
        out
    }

    /// From [`ObjectLock::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [1] => Some(Self::default()),
            [1, mode @ (1 | 2), unit @ (0 | 1), period @ ..] if period.len() == 4 => Some(Self {
                default_retention: Some(DefaultRetention {
                    compliance: *mode == 2,
                    years: *unit == 1,
                    period: u32::from_be_bytes(period.try_into().ok()?),
                }),
            }),
            _ => None,
        }
    }
}

/// What a bucket's public access block turns on (PutPublicAccessBlock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Treat public ACLs as private when deciding access.
    pub ignore_public_acls: bool,
    /// Refuse a public bucket policy.
    pub block_public_policy: bool,
    /// While the policy is public, it grants nothing to anonymous clients
    /// or to keys with no grant in the bucket.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// As stored: one bit per setting, in the order above.
    pub fn to_byte(self) -> u8 {
        u8::from(self.block_public_acls)
            | u8::from(self.ignore_public_acls) << 1
            | u8::from(self.block_public_policy) << 2
            | u8::from(self.restrict_public_buckets) << 3
    }

    /// From [`PublicAccessBlock::to_byte`]'s one byte (`None` otherwise).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let [b] = bytes else { return None };
        Some(Self {
            block_public_acls: b & 1 != 0,
            ignore_public_acls: b & 2 != 0,
            block_public_policy: b & 4 != 0,
            restrict_public_buckets: b & 8 != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_access_block_round_trips_through_its_byte() {
        for bits in 0u8..16 {
            let block = PublicAccessBlock::from_bytes(&[bits]).unwrap();
            assert_eq!(block.to_byte(), bits);
        }
        assert_eq!(PublicAccessBlock::from_bytes(&[]), None);
        assert_eq!(PublicAccessBlock::from_bytes(&[1, 2]), None);
    }

    #[test]
    fn object_lock_configurations_round_trip() {
        let none = ObjectLock::default();
        assert_eq!(ObjectLock::from_bytes(&none.to_bytes()), Some(none));
        for (compliance, years, period) in [(true, false, 1), (false, true, 70)] {
            let lock = ObjectLock {
                default_retention: Some(DefaultRetention {
                    compliance,
                    years,
                    period,
                }),
            };
            assert_eq!(ObjectLock::from_bytes(&lock.to_bytes()), Some(lock));
        }
        assert_eq!(ObjectLock::from_bytes(&[]), None);
        assert_eq!(ObjectLock::from_bytes(&[1, 3, 0, 0, 0, 0, 1]), None);
    }
}
