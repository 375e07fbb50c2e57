//! The shard protocol's client side: one stream per request.

use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, OpenStreamError};

use crate::ShardId;
use crate::wire::{ErrorCode, NodeStat, Request, Response, SHARD_PROTOCOL, WireError};

/// Why a shard request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No stream could be opened to the peer.
    #[error("opening a stream: {0}")]
    Open(#[from] OpenStreamError),
    /// The stream failed mid-request.
    #[error("stream i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something that is not a valid message.
    #[error("wire: {0}")]
    Wire(#[from] WireError),
    /// The peer answered with an error.
    #[error("peer refused ({code:?}): {message}")]
    Remote {
        /// Its error code.
        code: ErrorCode,
        /// Its explanation.
        message: String,
    },
    /// The peer answered with the wrong kind of response.
    #[error("unexpected response: {0}")]
    Unexpected(&'static str),
    /// The request took longer than the client's timeout.
    #[error("timed out")]
    Timeout,
    /// The shard bytes returned do not hash to the requested id.
    #[error("the peer returned bytes that do not match shard {0}")]
    Corrupt(ShardId),
}

/// Largest shard a client accepts from a node; a node declaring more is
/// refused before anything is allocated.
pub const MAX_SHARD_FETCH: u64 = 256 << 20;

/// Sends shard-protocol requests over a swarm's stream behaviour.
#[derive(Clone)]
pub struct ShardClient {
    control: Control,
    timeout: Duration,
}

impl ShardClient {
    /// A client using `control`, failing any request that takes longer than
    /// `timeout`.
    pub fn new(control: Control, timeout: Duration) -> Self {
        Self { control, timeout }
    }

    async fn open(&mut self, peer: PeerId) -> Result<Stream, ClientError> {
        Ok(self
            .control
            .open_stream(peer, StreamProtocol::new(SHARD_PROTOCOL))
            .await?)
    }

    async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// Runs `attempt` with the timeout, retrying (up to three more times)
    /// when the stream failed before the node answered: libp2p-stream drops
    /// an inbound stream when the node's accept queue is momentarily full
    /// (its channel holds one stream per connection), which the client sees
    /// as a reset. Every request is idempotent (a repeated put is
    /// `already`; a repeated delete at worst says NotFound).
    async fn with_retry<T, F, Fut>(&self, attempt: F) -> Result<T, ClientError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut backoff = Duration::from_millis(10);
        for _ in 0..3 {
            match self.timed(attempt()).await {
                Err(e) if e.is_transient() => {
                    tracing::debug!(error = %e, "shard request failed before an answer; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 4;
                }
                other => return other,
            }
        }
        self.timed(attempt()).await
    }

    /// Sends one request and reads the response frame.
    async fn call(
        &mut self,
        peer: PeerId,
        request: &Request,
    ) -> Result<(Stream, Response), ClientError> {
        let mut stream = self.open(peer).await?;
        crate::wire::write_frame(&mut stream, request).await?;
        stream.flush().await?;
        let response = crate::wire::read_response(&mut stream).await?;
        Ok((stream, remote_error(response)?))
    }

    /// Stores `data` as shard `id` on `peer`. Returns whether it was already
    /// there.
    ///
    /// The bytes are sent while the response is awaited, so a node that
    /// refuses early (capacity, a bad length) is heard at once instead of
    /// after it stops reading and the stream stalls.
    pub async fn put(
        &mut self,
        peer: PeerId,
        id: ShardId,
        data: &[u8],
    ) -> Result<bool, ClientError> {
        self.with_retry(|| async {
            let mut this = self.clone();
            let mut stream = this.open(peer).await?;
            let request = Request::PutShard {
                id,
                len: data.len() as u64,
            };
            crate::wire::write_frame(&mut stream, &request).await?;
            let (mut reader, mut writer) = stream.split();
            let send = async {
                writer.write_all(data).await?;
                writer.flush().await
            };
            let answer = crate::wire::read_response(&mut reader);
            tokio::pin!(send, answer);
            let response = tokio::select! {
                response = &mut answer => response?,
                sent = &mut send => match sent {
                    Ok(()) => answer.await?,
                    // The node may have answered before closing; prefer its words.
                    Err(e) => answer.await.map_err(|_| ClientError::Io(e))?,
                },
            };
            match remote_error(response)? {
                Response::Stored { already } => Ok(already),
                _ => Err(ClientError::Unexpected("put answered with something else")),
            }
        })
        .await
    }

    /// Fetches the whole shard `id` from `peer` and checks it against its id.
    pub async fn get(&mut self, peer: PeerId, id: ShardId) -> Result<Vec<u8>, ClientError> {
        let bytes = self.get_range(peer, id, 0, None).await?;
        if ShardId::of(&bytes) != id {
            return Err(ClientError::Corrupt(id));
        }
        Ok(bytes)
    }

    /// Fetches `len` bytes (to the end when `None`) of shard `id` from
    /// `offset`. Unverified: a range cannot be checked against the id alone.
    pub async fn get_range(
        &mut self,
        peer: PeerId,
        id: ShardId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Vec<u8>, ClientError> {
        self.with_retry(|| async {
            let mut this = self.clone();
            let (mut stream, response) = this
                .call(peer, &Request::GetShard { id, offset, len })
                .await?;
            let Response::Shard { len: size } = response else {
                return Err(ClientError::Unexpected("get answered with something else"));
            };
            if len.is_some_and(|want| want != size) {
                return Err(ClientError::Unexpected("get returned another length"));
            }
            if size > MAX_SHARD_FETCH {
                return Err(ClientError::Unexpected(
                    "the node declared an oversized shard",
                ));
            }
            let size = usize::try_from(size).map_err(|_| ClientError::Unexpected("huge shard"))?;
            let mut bytes = vec![0u8; size];
            stream.read_exact(&mut bytes).await?;
            Ok(bytes)
        })
        .await
    }

    /// Challenges `peer` to prove it holds the challenged shard; returns the
    /// proof (verify it with [`proofs::verify`]).
    pub async fn challenge(
        &mut self,
        peer: PeerId,
        challenge: &proofs::Challenge,
    ) -> Result<proofs::Proof, ClientError> {
        let request = Request::Challenge {
            challenge: challenge.to_bytes(),
        };
        self.with_retry(|| async {
            let mut this = self.clone();
            match this.call(peer, &request).await?.1 {
                Response::Proof { proof } => proofs::Proof::from_bytes(&proof)
                    .map_err(|_| ClientError::Unexpected("undecodable proof")),
                _ => Err(ClientError::Unexpected(
                    "challenge answered with something else",
                )),
            }
        })
        .await
    }

    /// Deletes shard `id` from `peer` (only its owner may).
    pub async fn delete(&mut self, peer: PeerId, id: ShardId) -> Result<(), ClientError> {
        self.with_retry(|| async {
            let mut this = self.clone();
            match this.call(peer, &Request::DeleteShard { id }).await?.1 {
                Response::Deleted => Ok(()),
                _ => Err(ClientError::Unexpected(
                    "delete answered with something else",
                )),
            }
        })
        .await
    }

    /// Asks `peer` for its status.
    pub async fn stat(&mut self, peer: PeerId) -> Result<NodeStat, ClientError> {
        self.with_retry(|| async {
            let mut this = self.clone();
            match this.call(peer, &Request::Stat).await?.1 {
                Response::Stat(stat) => Ok(stat),
                _ => Err(ClientError::Unexpected("stat answered with something else")),
            }
        })
        .await
    }

    /// Renews the leases of this client's copies of `ids` on `peer` (at
    /// most [`MAX_RENEW`](crate::wire::MAX_RENEW)); returns the ids the
    /// node holds no copy of.
    pub async fn renew(
        &mut self,
        peer: PeerId,
        ids: &[ShardId],
    ) -> Result<Vec<ShardId>, ClientError> {
        let request = Request::Renew { ids: ids.to_vec() };
        self.with_retry(|| async {
            let mut this = self.clone();
            match this.call(peer, &request).await?.1 {
                Response::Renewed { missing } => Ok(missing),
                _ => Err(ClientError::Unexpected(
                    "renew answered with something else",
                )),
            }
        })
        .await
    }

    /// Fetches `peer`'s signed usage report about this client, as bytes
    /// (check them with [`SignedUsageReport::verify`](super::SignedUsageReport::verify)).
    pub async fn usage(&mut self, peer: PeerId) -> Result<Vec<u8>, ClientError> {
        self.with_retry(|| async {
            let mut this = self.clone();
            match this.call(peer, &Request::Usage).await?.1 {
                Response::Usage { report } => Ok(report),
                _ => Err(ClientError::Unexpected(
                    "usage answered with something else",
                )),
            }
        })
        .await
    }

    /// Asks `peer` to keep `record` as this client's pointer record (see
    /// [`Request::PutPointer`]); `false` if it kept a newer one instead.
    pub async fn put_pointer(
        &mut self,
        peer: PeerId,
        seq: u64,
        record: &[u8],
    ) -> Result<bool, ClientError> {
        let request = Request::PutPointer {
            seq,
            record: record.to_vec(),
        };
        self.with_retry(|| async {
            let mut this = self.clone();
            match this.call(peer, &request).await?.1 {
                Response::Stored { already } => Ok(!already),
                _ => Err(ClientError::Unexpected(
                    "pointer put answered with something else",
                )),
            }
        })
        .await
    }

    /// The pointer record `peer` keeps for `owner`, with its sequence
    /// number; `None` if it keeps none. Unchecked: verify its signature.
    pub async fn get_pointer(
        &mut self,
        peer: PeerId,
        owner: &PeerId,
    ) -> Result<Option<(u64, Vec<u8>)>, ClientError> {
        let request = Request::GetPointer {
            owner: owner.to_bytes(),
        };
        self.with_retry(|| async {
            let mut this = self.clone();
            match this.call(peer, &request).await {
                Ok((_, Response::Pointer { seq, record })) => Ok(Some((seq, record))),
                Ok(_) => Err(ClientError::Unexpected(
                    "pointer get answered with something else",
                )),
                Err(ClientError::Remote {
                    code: ErrorCode::NotFound,
                    ..
                }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Lists the shards this client owns on `peer`, a page at a time.
    pub async fn list(
        &mut self,
        peer: PeerId,
        after: Option<ShardId>,
        limit: u32,
    ) -> Result<(Vec<(ShardId, u64)>, bool), ClientError> {
        self.with_retry(|| async {
            let mut this = self.clone();
            match this
                .call(peer, &Request::ListShards { after, limit })
                .await?
                .1
            {
                Response::Shards { ids, more } => Ok((ids, more)),
                _ => Err(ClientError::Unexpected("list answered with something else")),
            }
        })
        .await
    }
}

impl ClientError {
    /// Whether the stream failed before the node answered (worth one retry).
    fn is_transient(&self) -> bool {
        matches!(
            self,
            ClientError::Open(_)
                | ClientError::Io(_)
                | ClientError::Wire(WireError::Closed)
                | ClientError::Wire(WireError::Io(_))
                | ClientError::Wire(WireError::TruncatedHeader { .. })
        )
    }
}

fn remote_error(response: Response) -> Result<Response, ClientError> {
    match response {
        Response::Error { code, message } => Err(ClientError::Remote { code, message }),
        other => Ok(other),
    }
}
