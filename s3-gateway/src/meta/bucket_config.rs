//! The kinds of bucket configuration documents the store keeps (see
//! [`MetaBackend::bucket_configs`](super::MetaBackend::bucket_configs)),
//! and the encoding of those that are not kept as the client sent them.

/// The bucket policy, as the JSON text PutBucketPolicy sent.
pub const POLICY: &str = "policy";
/// The public access block, as [`PublicAccessBlock::to_byte`].
pub const PUBLIC_ACCESS_BLOCK: &str = "public-access-block";
/// The CORS rules (encoded by `s3::cors`).
pub const CORS: &str = "cors";

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
}
