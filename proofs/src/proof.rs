//! The proof a node returns for a challenge, and its binary form.

use blake3::hazmat::ChainingValue;

use crate::challenge::MAX_CHALLENGE_CHUNKS;
use crate::error::DecodeError;
use crate::tree::CHUNK_LEN;

/// Version byte of the serialized proof format.
pub const PROOF_VERSION: u8 = 1;

/// The answer to a [`Challenge`](crate::Challenge).
///
/// `chunks` are the challenged chunks in index order. `siblings` are the
/// chaining values of the subtrees that hold no challenged chunk, in the
/// order a depth-first, left-to-right walk of the blake3 tree meets them;
/// a subtree shared by several challenged chunks' paths appears once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// Seed of the challenge this proof answers.
    pub seed: [u8; 32],
    /// The challenged chunks' bytes, in index order.
    pub chunks: Vec<Vec<u8>>,
    /// Sibling chaining values, in tree-walk order.
    pub siblings: Vec<ChainingValue>,
}

impl Proof {
    /// Size of [`Proof::to_bytes`] output, in bytes.
    pub fn encoded_len(&self) -> usize {
        1 + 32
            + 2
            + 2
            + self.chunks.iter().map(|c| 2 + c.len()).sum::<usize>()
            + 32 * self.siblings.len()
    }

    /// Binary form: version, seed, chunk count, sibling count, each chunk as
    /// a 2-byte length and its bytes, then the siblings. Little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(PROOF_VERSION);
        out.extend_from_slice(&self.seed);
        out.extend_from_slice(&(self.chunks.len() as u16).to_le_bytes());
        out.extend_from_slice(&(self.siblings.len() as u16).to_le_bytes());
        for chunk in &self.chunks {
            out.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        for cv in &self.siblings {
            out.extend_from_slice(cv);
        }
        out
    }

    /// Parses [`Proof::to_bytes`] output. Truncated or padded input, an
    /// unknown version, or out-of-range counts are errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut input = Input(bytes);
        let version = input.take(1)?[0];
        if version != PROOF_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let seed: [u8; 32] = input.take(32)?.try_into().expect("32 bytes");
        let chunk_count = input.u16()?;
        let sibling_count = input.u16()?;
        if chunk_count > MAX_CHALLENGE_CHUNKS {
            return Err(DecodeError::Invalid("chunk count"));
        }
        let mut chunks = Vec::with_capacity(usize::from(chunk_count));
        for _ in 0..chunk_count {
            let len = input.u16()?;
            if u64::from(len) > CHUNK_LEN {
                return Err(DecodeError::Invalid("chunk length"));
            }
            chunks.push(input.take(usize::from(len))?.to_vec());
        }
        let mut siblings = Vec::with_capacity(usize::from(sibling_count));
        for _ in 0..sibling_count {
            siblings.push(input.take(32)?.try_into().expect("32 bytes"));
        }
        if !input.0.is_empty() {
            return Err(DecodeError::TrailingBytes(input.0.len()));
        }
        Ok(Self {
            seed,
            chunks,
            siblings,
        })
    }
}

/// A cursor over the bytes being decoded.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
}
