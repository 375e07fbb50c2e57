//! Scrubbing: re-hashing stored shards to catch bit rot and tampering.

use std::io::Read;
use std::path::Path;

use proofs::{Outboard, ShardId};

use super::error::{IoContext, StoreError};
use super::reader::ShardReader;

/// Read size while hashing a shard.
const SCRUB_BUFFER: usize = 256 * 1024;

/// The verdict on one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScrubOutcome {
    /// The file hashes to its id and matches its outboard.
    Intact,
    /// The shard was damaged and has been removed from the store.
    Corrupt {
        /// What was wrong.
        reason: String,
    },
}

/// What one scrub pass found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrubReport {
    /// Shards checked.
    pub checked: usize,
    /// Shards found intact (their `last_verified` was updated).
    pub intact: usize,
    /// Damaged shards, removed from the index and the disk, with the reason.
    pub corrupt: Vec<(ShardId, String)>,
    /// Shards that could not be read this pass (an I/O error, which may be
    /// transient): left in place, not marked verified, retried next pass.
    pub unreadable: Vec<(ShardId, String)>,
}

/// Re-hashes the copy of shard `id` (`len` bytes) as opened (`opened`;
/// streaming, never a whole file in memory) and compares it with the id and
/// the stored outboard. `Ok(None)` when intact, `Ok(Some(reason))` when
/// damaged.
pub(crate) fn check(
    opened: Result<ShardReader, StoreError>,
    path: &Path,
    id: ShardId,
    len: u64,
    outboard: &Outboard,
) -> Result<Option<String>, StoreError> {
    let shard = match opened {
        Ok(shard) => shard,
        Err(StoreError::Corrupt { reason, .. }) => return Ok(Some(reason)),
        Err(error) => return Err(error),
    };
    let mut builder = Outboard::builder();
    let mut range = shard.into_range(0, len)?;
    let mut buf = vec![0u8; SCRUB_BUFFER];
    loop {
        let n = range.read(&mut buf).at("reading", path)?;
        if n == 0 {
            break;
        }
        builder.update(&buf[..n]);
    }
    let (actual_outboard, actual) = builder.finalize();
    if actual != id {
        return Ok(Some(format!("the shard's bytes hash to {actual}")));
    }
    if actual_outboard != *outboard {
        return Ok(Some("the stored outboard does not match the file".into()));
    }
    Ok(None)
}
