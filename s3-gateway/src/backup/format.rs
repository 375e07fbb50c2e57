//! The bytes of one metadata backup, before the data path seals and
//! erasure-codes them: an 8-byte magic in clear, then one zstd stream of
//! length-prefixed postcard items: a [`Header`], the [`Change`]s, and an
//! end marker with their count. A backup cut short anywhere (a missing
//! segment, a truncated stream) fails on the missing end marker or count;
//! a changed byte fails earlier, on the segment's AES-GCM tag.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::meta::redb::journal::Change;

/// The first bytes of every backup.
pub const MAGIC: &[u8; 8] = b"CAIRNMB1";

/// Largest item accepted when reading (an object manifest of 10,000 parts
/// is a few MiB).
const MAX_ITEM: usize = 64 << 20;

/// What a backup holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Every backed-up row.
    Snapshot,
    /// The rows changed since the previous backup.
    Log,
}

/// The first item of a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Snapshot or log.
    pub kind: Kind,
    /// Its sequence number (the pointer's order).
    pub seq: u64,
    /// When its read transaction began (unix ms): what it holds is the
    /// store as of then.
    pub read_at_ms: u64,
    /// The gateway's peer id (bytes).
    pub gateway: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
enum Item {
    Header(Header),
    Change(Change),
    End { changes: u64 },
}

/// Why backup bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Reading or writing failed (including the data path underneath).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a Cairn metadata backup.
    #[error("not a Cairn metadata backup (bad magic)")]
    NotABackup,
    /// The stream ended before its end marker.
    #[error("the backup is truncated")]
    Truncated,
    /// An item does not parse.
    #[error("the backup is malformed: {0}")]
    Malformed(&'static str),
}

fn write_item(out: &mut impl Write, item: &Item) -> std::io::Result<()> {
    let bytes = postcard::to_allocvec(item).map_err(std::io::Error::other)?;
    out.write_all(&(bytes.len() as u32).to_le_bytes())?;
    out.write_all(&bytes)
}

/// Writes a backup into `W`.
pub struct BackupWriter<W: Write> {
    encoder: zstd::stream::write::Encoder<'static, W>,
    changes: u64,
}

impl<W: Write> BackupWriter<W> {
    /// Starts a backup described by `header`.
    pub fn new(mut out: W, header: &Header) -> std::io::Result<Self> {
        out.write_all(MAGIC)?;
        // Level 3: zstd's default, about 300 MB/s per core here; the
        // backups are small next to the data they describe.
        let mut encoder = zstd::stream::write::Encoder::new(out, 3)?;
        write_item(&mut encoder, &Item::Header(header.clone()))?;
        Ok(Self {
            encoder,
            changes: 0,
        })
    }

    /// Adds one change.
    pub fn push(&mut self, change: Change) -> std::io::Result<()> {
        self.changes += 1;
        write_item(&mut self.encoder, &Item::Change(change))
    }

    /// Changes written so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Writes the end marker and finishes the stream.
    pub fn finish(mut self) -> std::io::Result<W> {
        write_item(
            &mut self.encoder,
            &Item::End {
                changes: self.changes,
            },
        )?;
        self.encoder.finish()
    }
}

/// Reads a backup from `R`.
pub struct BackupReader<R: Read> {
    decoder: zstd::stream::read::Decoder<'static, std::io::BufReader<R>>,
    header: Header,
    changes: u64,
    done: bool,
}

impl<R: Read> BackupReader<R> {
    /// Opens a backup, reading its magic and header.
    pub fn open(mut input: R) -> Result<Self, FormatError> {
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).map_err(eof_is_truncated)?;
        if &magic != MAGIC {
            return Err(FormatError::NotABackup);
        }
        let mut decoder = zstd::stream::read::Decoder::new(input)?;
        let header = match read_item(&mut decoder)? {
            Item::Header(header) => header,
            _ => return Err(FormatError::Malformed("the first item is not a header")),
        };
        Ok(Self {
            decoder,
            header,
            changes: 0,
            done: false,
        })
    }

    /// The backup's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next change; `None` after the last one, once the end marker
    /// has been read and matched.
    pub fn next_change(&mut self) -> Result<Option<Change>, FormatError> {
        if self.done {
            return Ok(None);
        }
        match read_item(&mut self.decoder)? {
            Item::Change(change) => {
                self.changes += 1;
                Ok(Some(change))
            }
            Item::End { changes } if changes == self.changes => {
                self.done = true;
                let mut rest = [0u8; 1];
                if self.decoder.read(&mut rest)? != 0 {
                    return Err(FormatError::Malformed("bytes after the end marker"));
                }
                Ok(None)
            }
            Item::End { .. } => Err(FormatError::Malformed("the change count does not match")),
            Item::Header(_) => Err(FormatError::Malformed("a second header")),
        }
    }
}

fn eof_is_truncated(e: std::io::Error) -> FormatError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        FormatError::Truncated
    } else {
        FormatError::Io(e)
    }
}

fn read_item(input: &mut impl Read) -> Result<Item, FormatError> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(eof_is_truncated)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_ITEM {
        return Err(FormatError::Malformed("an item is too large"));
    }
    let mut bytes = vec![0u8; len];
    input.read_exact(&mut bytes).map_err(eof_is_truncated)?;
    postcard::from_bytes(&bytes).map_err(|_| FormatError::Malformed("an item does not parse"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::redb::journal::Table;

    fn sample() -> Vec<u8> {
        let header = Header {
            kind: Kind::Log,
            seq: 9,
            read_at_ms: 1234,
            gateway: vec![1, 2, 3],
        };
        let mut w = BackupWriter::new(Vec::new(), &header).unwrap();
        for i in 0..1000u32 {
            w.push(Change::Put {
                table: Table::Objects,
                key: format!("bucket\0key-{i}").into_bytes(),
                value: vec![7; 200],
            })
            .unwrap();
        }
        w.push(Change::Delete {
            table: Table::Buckets,
            key: b"gone".to_vec(),
        })
        .unwrap();
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<(Header, Vec<Change>), FormatError> {
        let mut r = BackupReader::open(bytes)?;
        let mut out = Vec::new();
        while let Some(c) = r.next_change()? {
            out.push(c);
        }
        Ok((r.header().clone(), out))
    }

    #[test]
    fn a_backup_reads_back_as_written_and_compresses() {
        let bytes = sample();
        assert!(bytes.len() < 1001 * 200 / 10, "{} bytes", bytes.len());
        let (header, changes) = read_all(&bytes).unwrap();
        assert_eq!(header.seq, 9);
        assert_eq!(changes.len(), 1001);
        assert_eq!(
            changes[1000],
            Change::Delete {
                table: Table::Buckets,
                key: b"gone".to_vec()
            }
        );
    }

    #[test]
    fn a_truncated_or_foreign_backup_is_refused() {
        let bytes = sample();
        for cut in [4, 9, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                read_all(&bytes[..cut]).is_err(),
                "cut at {cut} was accepted"
            );
        }
        assert!(matches!(
            read_all(b"PK\x03\x04 not a backup"),
            Err(FormatError::NotABackup)
        ));
    }
}
