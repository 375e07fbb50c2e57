//! Fetching published content straight from the nodes a manifest names,
//! with no gateway: any k shards of a segment (data shards first, the
//! next one for each that fails or does not hash to its id), decoded,
//! opened and checked against the content id. What `cairn get` and a
//! gateway reading a pointed-to manifest both use.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use libp2p::PeerId;
use proofs::ShardId;

use super::{ContentId, ContentManifest, NO_NODE, check_segment, segment_key};
use crate::codec::{CodecError, Scheme, SegmentCodec, SegmentRef};
use crate::net::MeshClient;

/// Why content could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Too few shards of a segment could be fetched.
    #[error("segment {index}: only {got} of the {need} shards needed could be fetched")]
    Unavailable {
        /// The segment.
        index: u64,
        /// Shards fetched.
        got: usize,
        /// Shards needed (k).
        need: usize,
    },
    /// A segment decoded to bytes that do not match the content id.
    #[error("segment {0} does not match the content id")]
    Mismatch(u64),
    /// Decoding failed, or the manifest's code is not one the codec takes.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The content is larger than the caller takes whole.
    #[error("{size} bytes is more than {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The most taken.
        max: u64,
    },
}

/// What fetching one content's segments needs, made once.
pub struct Fetcher {
    mesh: MeshClient,
    manifest: Arc<ContentManifest>,
    /// The segments' chaining values, once.
    hashes: Arc<Vec<[u8; 32]>>,
    codec: Arc<SegmentCodec>,
    peers: Vec<Option<PeerId>>,
}

impl Fetcher {
    /// Fetches the segments of `manifest` through `mesh`.
    pub fn new(mesh: MeshClient, manifest: Arc<ContentManifest>) -> Result<Self, FetchError> {
        let codec = Arc::new(SegmentCodec::new(
            Scheme::new(manifest.k as usize, manifest.m as usize)?,
            manifest.segment_size as usize,
        )?);
        let peers = manifest
            .nodes
            .iter()
            .map(|n| PeerId::from_bytes(n).ok())
            .collect();
        Ok(Self {
            mesh,
            hashes: Arc::new(manifest.hashes()),
            manifest,
            codec,
            peers,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Arc<ContentManifest> {
        &self.manifest
    }

    /// Fetches and decodes segment `index` (not yet checked against the
    /// CID: see [`Fetcher::checked_segment`]).
    pub async fn segment(&self, index: u64) -> Result<Bytes, FetchError> {
        let segment = &self.manifest.segments[index as usize];
        let k = self.manifest.k as usize;
        let total = segment.shards.len();
        let mut slots: Vec<Option<Bytes>> = vec![None; total];
        let fetch = |i: usize| {
            let (id, node) = segment.shards[i];
            let peer = (node != NO_NODE)
                .then(|| self.peers.get(node as usize).copied().flatten())
                .flatten();
            let mut shards = self.mesh.shards();
            async move {
                let Some(peer) = peer else {
                    return (i, None);
                };
                match shards.get(peer, ShardId(id)).await {
                    Ok(bytes) => (i, Some(Bytes::from(bytes))),
                    Err(e) => {
                        tracing::debug!(segment = index, shard = i, %peer, error = %e, "shard fetch failed");
                        (i, None)
                    }
                }
            }
        };
        let mut next = k.min(total);
        let mut pending: FuturesUnordered<_> = (0..next).map(fetch).collect();
        let mut got = 0;
        while let Some((i, bytes)) = pending.next().await {
            match bytes {
                Some(bytes) => {
                    slots[i] = Some(bytes);
                    got += 1;
                    if got == k {
                        break;
                    }
                }
                // One failed: ask the next shard instead.
                None if next < total => {
                    pending.push(fetch(next));
                    next += 1;
                }
                None => {}
            }
        }
        if got < k {
            return Err(FetchError::Unavailable {
                index,
                got,
                need: k,
            });
        }
        let plain_len = self.manifest.segment_len(index) as usize;
        let key = segment_key(&segment.hash);
        let codec = self.codec.clone();
        let decoded = tokio::task::spawn_blocking(move || {
            codec.decode(&key, SegmentRef::simple(index), plain_len, &slots)
        })
        .await
        .expect("decoding does not panic")?;
        Ok(decoded)
    }

    /// Fetches segment `index` and checks it against `cid`.
    pub async fn checked_segment(&self, cid: &ContentId, index: u64) -> Result<Bytes, FetchError> {
        let plain = self.segment(index).await?;
        let (manifest, hashes, cid) = (self.manifest.clone(), self.hashes.clone(), *cid);
        tokio::task::spawn_blocking(move || {
            let ok = check_segment(
                &cid,
                manifest.size,
                manifest.segment_size,
                &hashes,
                index,
                &plain,
            );
            if ok {
                Ok(plain)
            } else {
                Err(FetchError::Mismatch(index))
            }
        })
        .await
        .expect("hashing does not panic")
    }

    /// Checks, cheaply, that the manifest leads to the content: its last
    /// segment is fetched whole and checked against `cid` (the one check
    /// that pins the content's size, which the root alone does not), and
    /// for up to `samples` other segments, picked at random, one byte of
    /// each of k shards is asked for (all of a segment's shards at once;
    /// k must answer, as a read needs). [`FetchError::Mismatch`] or a
    /// codec error is evidence against the manifest;
    /// [`FetchError::Unavailable`] may be nodes down, and so is running
    /// past `limit`.
    pub async fn probe(
        &self,
        cid: &ContentId,
        samples: usize,
        limit: std::time::Duration,
    ) -> Result<(), FetchError> {
        match tokio::time::timeout(limit, self.probe_unbounded(cid, samples)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Unavailable {
                index: 0,
                got: 0,
                need: self.manifest.k as usize,
            }),
        }
    }

    async fn probe_unbounded(&self, cid: &ContentId, samples: usize) -> Result<(), FetchError> {
        let count = self.manifest.segments.len() as u64;
        if count == 0 {
            return Ok(());
        }
        self.checked_segment(cid, count - 1).await?;
        let others = count - 1;
        let picks: Vec<u64> = if others as usize <= samples {
            (0..others).collect()
        } else {
            // Where a forger cannot know in advance.
            rand::seq::index::sample(&mut rand::thread_rng(), others as usize, samples)
                .into_iter()
                .map(|i| i as u64)
                .collect()
        };
        let need = self.manifest.k as usize;
        let asks = picks.into_iter().map(|index| async move {
            let segment = &self.manifest.segments[index as usize];
            let tries = segment.shards.iter().map(|&(id, node)| {
                let peer = (node != NO_NODE)
                    .then(|| self.peers.get(node as usize).copied().flatten())
                    .flatten();
                let mut shards = self.mesh.shards();
                async move {
                    let Some(peer) = peer else { return false };
                    shards
                        .get_range(peer, ShardId(id), 0, Some(1))
                        .await
                        .is_ok()
                }
            });
            let got = futures_util::future::join_all(tries)
                .await
                .into_iter()
                .filter(|answered| *answered)
                .count();
            if got >= need {
                Ok(())
            } else {
                Err(FetchError::Unavailable { index, got, need })
            }
        });
        for result in futures_util::future::join_all(asks).await {
            result?;
        }
        Ok(())
    }

    /// The whole content, every segment checked against `cid`, if it is at
    /// most `max` bytes.
    pub async fn whole(&self, cid: &ContentId, max: u64) -> Result<Vec<u8>, FetchError> {
        let size = self.manifest.size;
        if size > max {
            return Err(FetchError::TooLarge { size, max });
        }
        let mut out = Vec::with_capacity(size as usize);
        for index in 0..self.manifest.segments.len() as u64 {
            out.extend_from_slice(&self.checked_segment(cid, index).await?);
        }
        Ok(out)
    }
}
