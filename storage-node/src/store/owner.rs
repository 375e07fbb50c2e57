//! Who stored a shard: the uploader's peer id, as bytes.

use std::fmt;

use super::error::StoreError;

/// Longest owner id accepted (a libp2p peer id is under 64 bytes).
pub const MAX_OWNER_LEN: usize = 255;

/// The owner of a shard: the bytes of the uploading peer's id, as
/// authenticated by the transport. Only this owner may delete the shard.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner(Vec<u8>);

impl Owner {
    /// An owner from its id bytes: 1 to [`MAX_OWNER_LEN`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, StoreError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(StoreError::InvalidOwner("empty"));
        }
        if bytes.len() > MAX_OWNER_LEN {
            return Err(StoreError::InvalidOwner("longer than 255 bytes"));
        }
        Ok(Self(bytes))
    }

    /// The id bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Owner(")?;
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_length_is_bounded() {
        assert!(Owner::new(Vec::new()).is_err());
        assert!(Owner::new(vec![1; MAX_OWNER_LEN + 1]).is_err());
        let owner = Owner::new(vec![0xab, 0x01]).unwrap();
        assert_eq!(owner.as_bytes(), &[0xab, 0x01]);
        assert_eq!(format!("{owner:?}"), "Owner(ab01)");
    }
}
