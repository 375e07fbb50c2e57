//! Reading committed shards: positioned reads and ranged `Read`s.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use proofs::{ReadAt, ShardId};

use super::error::{IoContext, StoreError};

/// An open, committed shard.
///
/// Reads are positioned (`pread`), so one reader can serve concurrent
/// requests. The file stays readable even if the shard is deleted meanwhile
/// (an inline shard's bytes were copied out of the index when opened).
#[derive(Debug)]
pub struct ShardReader {
    id: ShardId,
    len: u64,
    source: Source,
}

#[derive(Debug)]
enum Source {
    File(File),
    Inline(Vec<u8>),
}

impl Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self {
            Source::File(file) => file.read_at(buf, offset),
            Source::Inline(bytes) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let n = buf.len().min(bytes.len() - start);
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                Ok(n)
            }
        }
    }
}

impl ShardReader {
    /// Opens the file of shard `id`, which the index says is `len` bytes; a
    /// missing file or one of another length is [`StoreError::Corrupt`].
    pub(crate) fn open(id: ShardId, len: u64, path: &Path) -> Result<Self, StoreError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Corrupt {
                    id,
                    reason: "file missing".into(),
                });
            }
            Err(e) => return Err(e).at("opening", path),
        };
        let actual = file.metadata().at("reading metadata of", path)?.len();
        if actual != len {
            return Err(StoreError::Corrupt {
                id,
                reason: format!("file is {actual} bytes, the index says {len}"),
            });
        }
        Ok(Self {
            id,
            len,
            source: Source::File(file),
        })
    }

    /// A reader over the inline bytes of shard `id`, which the index says
    /// is `len` bytes; bytes of another length are [`StoreError::Corrupt`].
    pub(crate) fn inline(id: ShardId, len: u64, bytes: Vec<u8>) -> Result<Self, StoreError> {
        if bytes.len() as u64 != len {
            return Err(StoreError::Corrupt {
                id,
                reason: format!("{} bytes stored inline, the index says {len}", bytes.len()),
            });
        }
        Ok(Self {
            id,
            len,
            source: Source::Inline(bytes),
        })
    }

    /// The shard id.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// The shard's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the shard is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (0 at or past the end).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let left = self.len.saturating_sub(offset);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        self.source.read_at(&mut buf[..want], offset)
    }

    /// A [`Read`] over `len` bytes from `offset`, which must lie within the
    /// shard.
    pub fn into_range(self, offset: u64, len: u64) -> Result<RangeReader, StoreError> {
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= self.len)
            .ok_or(StoreError::RangeOutOfBounds {
                offset,
                len,
                shard_len: self.len,
            })?;
        Ok(RangeReader {
            shard: self,
            pos: offset,
            end,
        })
    }
}

impl ReadAt for ShardReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match &self.source {
            Source::File(file) => FileExt::read_exact_at(file, buf, offset),
            Source::Inline(bytes) => {
                let start = offset as usize;
                buf.copy_from_slice(&bytes[start..start + buf.len()]);
                Ok(())
            }
        }
    }
}

/// Sequential reads over one range of a shard.
#[derive(Debug)]
pub struct RangeReader {
    shard: ShardReader,
    pos: u64,
    end: u64,
}

impl RangeReader {
    /// Bytes left to read.
    pub fn remaining(&self) -> u64 {
        self.end - self.pos
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining()).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.shard.source.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            // The file shrank under us: do not pretend the range ended.
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}
