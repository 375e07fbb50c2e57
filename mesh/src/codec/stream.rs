//! Whole objects: cutting a byte stream into encoded segments, and putting
//! decoded segments back together.

use std::io::{Read, Write};

use bytes::Bytes;

use crate::codec::cipher::{ObjectKey, SegmentRef};
use crate::codec::error::CodecError;
use crate::codec::layout::ObjectLayout;
use crate::codec::segment::{EncodedSegment, SegmentCodec};

/// Reads an object from a byte stream one segment at a time and encodes
/// each; only one segment is in memory at once. An empty stream yields no
/// segments.
pub struct SegmentReader<'a, R> {
    codec: &'a SegmentCodec,
    key: &'a ObjectKey,
    part: u32,
    reader: R,
    next_index: u64,
    done: bool,
}

impl<'a, R: Read> SegmentReader<'a, R> {
    /// Encodes `reader`'s bytes as part `part` of an object under `key`.
    pub fn new(codec: &'a SegmentCodec, key: &'a ObjectKey, part: u32, reader: R) -> Self {
        Self {
            codec,
            key,
            part,
            reader,
            next_index: 0,
            done: false,
        }
    }
}

impl<R: Read> Iterator for SegmentReader<'_, R> {
    type Item = Result<EncodedSegment, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buffer = self.codec.buffer();
        if let Err(e) = buffer.fill_from(&mut self.reader) {
            self.done = true;
            return Some(Err(e.into()));
        }
        if !buffer.is_full() {
            self.done = true;
            if buffer.is_empty() {
                return None;
            }
        }
        let at = SegmentRef {
            part: self.part,
            index: self.next_index,
        };
        self.next_index += 1;
        Some(self.codec.encode(self.key, at, buffer))
    }
}

/// Decodes every segment of an object (part `part`) and writes the plaintext
/// to `out`, one segment at a time. `shards_of(index)` supplies each
/// segment's shard slots (see [`SegmentCodec::decode`]).
pub fn decode_object(
    codec: &SegmentCodec,
    key: &ObjectKey,
    part: u32,
    layout: ObjectLayout,
    mut shards_of: impl FnMut(u64) -> Vec<Option<Bytes>>,
    out: &mut impl Write,
) -> Result<(), CodecError> {
    for index in 0..layout.segment_count() {
        let at = SegmentRef { part, index };
        let plain = codec.decode(key, at, layout.segment_len(index), &shards_of(index))?;
        out.write_all(&plain)?;
    }
    Ok(())
}
