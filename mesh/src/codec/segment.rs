//! Encoding one segment into shards and decoding it back.

use std::io::{self, Read};

use bytes::Bytes;
use reed_solomon_erasure::galois_8::ReedSolomon;

use crate::ShardId;
use crate::codec::cipher::{ObjectKey, SegmentRef, TAG_LEN, open, seal};
use crate::codec::error::CodecError;
use crate::codec::params::Scheme;

/// One segment's shards, ready to place.
#[derive(Clone, Debug)]
pub struct EncodedSegment {
    /// Plaintext length of the segment.
    pub plain_len: usize,
    /// Length of every shard.
    pub shard_len: usize,
    /// The `k + m` shards: data shards first, then parity. Data shards are
    /// slices of one buffer (no copies). With replication every entry is the
    /// same bytes.
    pub shards: Vec<Bytes>,
    /// Each shard's id (blake3 hash), in the same order.
    pub ids: Vec<ShardId>,
}

/// A buffer a segment's plaintext is read into, sized so the codec can
/// encrypt and split it in place.
pub struct SegmentBuffer {
    bytes: Vec<u8>,
    filled: usize,
    capacity: usize,
}

impl SegmentBuffer {
    /// Bytes of plaintext in the buffer.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// The plaintext added so far.
    pub fn filled(&self) -> &[u8] {
        &self.bytes[..self.filled]
    }

    /// Whether no plaintext has been added.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Whether the buffer holds a whole segment.
    pub fn is_full(&self) -> bool {
        self.filled == self.capacity
    }

    /// The free plaintext space, to fill from an async source; follow with
    /// [`SegmentBuffer::advance`].
    pub fn unfilled_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.filled..self.capacity]
    }

    /// Marks `n` more bytes of [`SegmentBuffer::unfilled_mut`] as filled.
    pub fn advance(&mut self, n: usize) {
        assert!(
            self.filled + n <= self.capacity,
            "advanced past the segment"
        );
        self.filled += n;
    }

    /// Appends bytes, returning how many fit.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.capacity - self.filled);
        self.bytes[self.filled..self.filled + n].copy_from_slice(&data[..n]);
        self.filled += n;
        n
    }

    /// Reads from `reader` until the segment is full or the reader ends.
    /// Returns the bytes added.
    pub fn fill_from(&mut self, reader: &mut impl Read) -> io::Result<usize> {
        let start = self.filled;
        while !self.is_full() {
            match reader.read(self.unfilled_mut()) {
                Ok(0) => break,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.filled - start)
    }
}

/// Encodes and decodes segments under one erasure scheme. Keep one per
/// scheme: it caches the coder's decode matrices.
pub struct SegmentCodec {
    scheme: Scheme,
    segment_size: usize,
    coder: Option<ReedSolomon>,
}

impl SegmentCodec {
    /// A codec for `scheme` and segments of at most `segment_size` bytes.
    pub fn new(scheme: Scheme, segment_size: usize) -> Result<Self, CodecError> {
        let scheme = Scheme::new(scheme.k, scheme.m)?;
        let coder = if scheme.k > 1 && scheme.m > 0 {
            Some(ReedSolomon::new(scheme.k, scheme.m).map_err(CodecError::Erasure)?)
        } else {
            None
        };
        Ok(Self {
            scheme,
            segment_size,
            coder,
        })
    }

    /// The erasure scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The largest segment this codec takes.
    pub fn segment_size(&self) -> usize {
        self.segment_size
    }

    /// Length of each shard of a segment with `plain_len` bytes of plaintext.
    pub fn shard_len(&self, plain_len: usize) -> usize {
        (plain_len + TAG_LEN).div_ceil(self.scheme.k)
    }

    /// An empty buffer for one segment's plaintext.
    pub fn buffer(&self) -> SegmentBuffer {
        self.buffer_for(self.segment_size)
    }

    /// An empty buffer for a segment of at most `len` bytes (`len` is capped
    /// at the segment size).
    pub fn buffer_for(&self, len: usize) -> SegmentBuffer {
        let capacity = len.min(self.segment_size);
        SegmentBuffer {
            bytes: vec![0; self.scheme.k * self.shard_len(capacity)],
            filled: 0,
            capacity,
        }
    }

    /// Encodes a segment given as a slice (one copy into a segment buffer).
    pub fn encode_slice(
        &self,
        key: &ObjectKey,
        at: SegmentRef,
        plain: &[u8],
    ) -> Result<EncodedSegment, CodecError> {
        if plain.len() > self.segment_size {
            return Err(CodecError::SegmentTooLarge {
                len: plain.len(),
                max: self.segment_size,
            });
        }
        let mut buffer = self.buffer_for(plain.len());
        buffer.extend_from_slice(plain);
        self.encode(key, at, buffer)
    }

    /// Encrypts the buffer's plaintext in place, splits it into data shards,
    /// computes parity and hashes every shard.
    pub fn encode(
        &self,
        key: &ObjectKey,
        at: SegmentRef,
        buffer: SegmentBuffer,
    ) -> Result<EncodedSegment, CodecError> {
        let Scheme { k, m } = self.scheme;
        let plain_len = buffer.filled;
        let shard_len = self.shard_len(plain_len);
        let mut bytes = buffer.bytes;
        bytes.resize(k * shard_len, 0);
        let tag = seal(&key.cipher(), at, &mut bytes[..plain_len])?;
        bytes[plain_len..plain_len + TAG_LEN].copy_from_slice(&tag);
        bytes[plain_len + TAG_LEN..].fill(0);

        if k == 1 {
            let copy = Bytes::from(bytes);
            let id = ShardId::of(&copy);
            return Ok(EncodedSegment {
                plain_len,
                shard_len,
                shards: vec![copy; 1 + m],
                ids: vec![id; 1 + m],
            });
        }

        let mut parity = vec![0u8; m * shard_len];
        if let Some(coder) = &self.coder {
            let data: Vec<&[u8]> = bytes.chunks_exact(shard_len).collect();
            let mut outputs: Vec<&mut [u8]> = parity.chunks_exact_mut(shard_len).collect();
            coder
                .encode_sep(&data, &mut outputs)
                .map_err(CodecError::Erasure)?;
        }
        let data = Bytes::from(bytes);
        let parity = Bytes::from(parity);
        let shards: Vec<Bytes> = (0..k)
            .map(|i| data.slice(i * shard_len..(i + 1) * shard_len))
            .chain((0..m).map(|i| parity.slice(i * shard_len..(i + 1) * shard_len)))
            .collect();
        let ids = shards.iter().map(|shard| ShardId::of(shard)).collect();
        Ok(EncodedSegment {
            plain_len,
            shard_len,
            shards,
            ids,
        })
    }

    /// Rebuilds and decrypts a segment of `plain_len` bytes from any `k` of
    /// its shards. `shards` has one slot per shard index (`k + m`), `None`
    /// where a shard is missing; extra shards beyond `k` are not read.
    ///
    /// Callers should check each shard against its id before decoding (the
    /// AEAD catches corruption too, but cannot say which shard was bad).
    pub fn decode(
        &self,
        key: &ObjectKey,
        at: SegmentRef,
        plain_len: usize,
        shards: &[Option<Bytes>],
    ) -> Result<Bytes, CodecError> {
        let Scheme { k, m } = self.scheme;
        if plain_len > self.segment_size {
            return Err(CodecError::SegmentTooLarge {
                len: plain_len,
                max: self.segment_size,
            });
        }
        if shards.len() != k + m {
            return Err(CodecError::WrongShardCount {
                expected: k + m,
                got: shards.len(),
            });
        }
        let shard_len = self.shard_len(plain_len);
        let mut have = 0;
        for (index, shard) in shards.iter().enumerate() {
            if let Some(shard) = shard {
                if shard.len() != shard_len {
                    return Err(CodecError::WrongShardLength {
                        index,
                        expected: shard_len,
                        got: shard.len(),
                    });
                }
                have += 1;
            }
        }
        if have < k {
            return Err(CodecError::NotEnoughShards { have, need: k });
        }

        let all_data = shards[..k].iter().all(Option::is_some);
        let mut out = if k == 1 {
            shards
                .iter()
                .flatten()
                .next()
                .expect("one present")
                .to_vec()
        } else if all_data {
            // The usual case: the data shards side by side, no zeroing.
            let mut out = Vec::with_capacity(k * shard_len);
            for shard in shards[..k].iter().flatten() {
                out.extend_from_slice(shard);
            }
            out
        } else {
            vec![0u8; k * shard_len]
        };
        if k > 1 && !all_data {
            let mut data_present = 0;
            for (slot, shard) in out.chunks_exact_mut(shard_len).zip(shards) {
                if let Some(shard) = shard {
                    slot.copy_from_slice(shard);
                    data_present += 1;
                }
            }
            if data_present < k {
                self.reconstruct(&mut out, shard_len, shards, k - data_present)?;
            }
        }

        let (sealed, rest) = out.split_at_mut(plain_len);
        open(&key.cipher(), at, sealed, &rest[..TAG_LEN])?;
        out.truncate(plain_len);
        Ok(Bytes::from(out))
    }

    /// Recomputes the shards at `missing` from any `k` of the others,
    /// without decrypting: what a repair needs. `shards` has one slot per
    /// shard index, each `shard_len` bytes long where present. Returns the
    /// rebuilt shards in the order of `missing`.
    pub fn rebuild(
        &self,
        shards: &[Option<Bytes>],
        missing: &[usize],
    ) -> Result<Vec<Bytes>, CodecError> {
        let Scheme { k, m } = self.scheme;
        if shards.len() != k + m {
            return Err(CodecError::WrongShardCount {
                expected: k + m,
                got: shards.len(),
            });
        }
        let present: Vec<&Bytes> = shards.iter().flatten().collect();
        if present.len() < k {
            return Err(CodecError::NotEnoughShards {
                have: present.len(),
                need: k,
            });
        }
        let shard_len = present[0].len();
        if let Some(index) = shards
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.len() != shard_len))
        {
            return Err(CodecError::WrongShardLength {
                index,
                expected: shard_len,
                got: shards[index].as_ref().map_or(0, |s| s.len()),
            });
        }
        if k == 1 {
            // Replication: every shard is the same copy.
            return Ok(missing.iter().map(|_| present[0].clone()).collect());
        }
        let coder = self.coder.as_ref().ok_or(CodecError::NotEnoughShards {
            have: present.len(),
            need: k + m,
        })?;
        let mut slots: Vec<Option<Vec<u8>>> = shards
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Some(s) if !missing.contains(&i) => Some(s.to_vec()),
                _ => None,
            })
            .collect();
        coder.reconstruct(&mut slots).map_err(CodecError::Erasure)?;
        Ok(missing
            .iter()
            .map(|&i| Bytes::from(slots[i].take().expect("reconstructed")))
            .collect())
    }

    /// Fills the missing data shards of `out` from `needed` parity shards.
    fn reconstruct(
        &self,
        out: &mut [u8],
        shard_len: usize,
        shards: &[Option<Bytes>],
        needed: usize,
    ) -> Result<(), CodecError> {
        let Scheme { k, .. } = self.scheme;
        let coder = self.coder.as_ref().expect("k > 1 with parity has a coder");
        // The parity shards to use, copied so the coder can take them as
        // mutable slices; the rest are marked absent.
        let mut parity: Vec<(Vec<u8>, bool)> = shards[k..]
            .iter()
            .scan(needed, |left, shard| match shard {
                Some(shard) if *left > 0 => {
                    *left -= 1;
                    Some((shard.to_vec(), true))
                }
                _ => Some((Vec::new(), false)),
            })
            .collect();
        let mut slots: Vec<(&mut [u8], bool)> = out
            .chunks_exact_mut(shard_len)
            .zip(&shards[..k])
            .map(|(slot, shard)| (slot, shard.is_some()))
            .chain(
                parity
                    .iter_mut()
                    .map(|(bytes, present)| (bytes.as_mut_slice(), *present)),
            )
            .collect();
        coder
            .reconstruct_data(&mut slots)
            .map_err(CodecError::Erasure)
    }
}
