//! The pointer record: which backups make up the gateway's metadata now
//! (the retained snapshots, and the logs after the newest), with their
//! manifests, signed by the gateway's identity and kept by several nodes,
//! so that a gateway with only its keys finds its backups through any node.
//!
//! The nodes that keep it are the first [`COPIES`] of a rendezvous order
//! of the gateway's id over the node ids (as Kademlia picks the closest
//! peers to a key): every gateway, and every recovery, computes the same
//! order from the same mesh, and a recovery also asks past them.

use futures_util::StreamExt;
use libp2p::PeerId;
use libp2p::identity::Keypair;
use mesh::net::MeshClient;
use serde::{Deserialize, Serialize};

use super::format::Kind;
use crate::meta::ObjectMeta;

/// Nodes a pointer is written to.
pub const COPIES: usize = 5;

/// Nodes a recovery asks (in rendezvous order; all of them in a smaller
/// mesh).
pub const ASK: usize = 32;

/// How long a recovery waits for one node's pointer.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One backup stored in the mesh.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupRef {
    /// Its object name in the internal bucket.
    pub name: String,
    /// Snapshot or log.
    pub kind: Kind,
    /// Its sequence number.
    pub seq: u64,
    /// When its read transaction began (unix ms).
    pub read_at_ms: u64,
    /// Where its shards are and its wrapped key.
    pub meta: ObjectMeta,
}

/// What the pointer record says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PointerBody {
    /// The record's sequence number (also signed outside the body).
    pub seq: u64,
    /// The retained snapshots, oldest first.
    pub snapshots: Vec<BackupRef>,
    /// The logs after the newest snapshot, oldest first.
    pub logs: Vec<BackupRef>,
}

impl PointerBody {
    /// When the newest backup listed read the store (unix ms; 0 if none).
    pub fn point_ms(&self) -> u64 {
        self.logs
            .last()
            .or(self.snapshots.last())
            .map_or(0, |b| b.read_at_ms)
    }

    /// Every backup listed.
    pub fn all(&self) -> impl Iterator<Item = &BackupRef> {
        self.snapshots.iter().chain(&self.logs)
    }

    /// The backups to replay to restore the state as of `at` (unix ms;
    /// `None`: the newest): the newest snapshot read at or before it, then
    /// the logs after it read at or before it.
    pub fn plan(&self, at: Option<u64>) -> Option<(BackupRef, Vec<BackupRef>)> {
        let fits = |b: &&BackupRef| at.is_none_or(|at| b.read_at_ms <= at);
        let snapshot = self.snapshots.iter().rev().find(fits)?.clone();
        let logs = self
            .logs
            .iter()
            .filter(|l| l.seq > snapshot.seq)
            .filter(fits)
            .cloned()
            .collect();
        Some((snapshot, logs))
    }
}

/// Why no pointer could be found.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// No node answered with a record signed by this identity.
    #[error(
        "no node holds a metadata backup pointer signed by {owner} ({asked} asked{refused}); \
         is this the gateway's identity, and did it run long enough to back up?"
    )]
    NotFound {
        /// The identity looked for.
        owner: PeerId,
        /// Nodes asked.
        asked: usize,
        /// Records refused, with why.
        refused: String,
    },
}

/// `nodes` in the rendezvous order of `owner`.
pub fn rendezvous(owner: &PeerId, mut nodes: Vec<PeerId>) -> Vec<PeerId> {
    let score = |node: &PeerId| {
        let mut h = blake3::Hasher::new();
        h.update(&owner.to_bytes());
        h.update(&node.to_bytes());
        *h.finalize().as_bytes()
    };
    nodes.sort_by_cached_key(score);
    nodes.dedup();
    nodes
}

/// Signs `body` and writes it to the first [`COPIES`] of `nodes` (in
/// rendezvous order) that take it; returns how many did.
pub async fn publish(
    mesh: &MeshClient,
    keypair: &Keypair,
    nodes: Vec<PeerId>,
    body: &PointerBody,
) -> usize {
    let owner = keypair.public().to_peer_id();
    let bytes = postcard::to_allocvec(body).expect("pointer bodies serialize");
    let record = mesh::net::sign_pointer(keypair, body.seq, &bytes);
    let order = rendezvous(&owner, nodes);
    let mut stored = 0;
    // The first COPIES at once; the next ones only for those that failed.
    let mut pending = order.into_iter();
    loop {
        let batch: Vec<PeerId> = pending.by_ref().take(COPIES - stored).collect();
        if batch.is_empty() {
            break;
        }
        let results = futures_util::stream::iter(batch)
            .map(|peer| {
                let (mut shards, record) = (mesh.shards(), record.as_slice());
                async move {
                    let result = shards.put_pointer(peer, body.seq, record).await;
                    if let Err(e) = &result {
                        tracing::debug!(%peer, error = %e, "a node did not take the backup pointer");
                    }
                    result.is_ok()
                }
            })
            .buffer_unordered(COPIES)
            .collect::<Vec<bool>>()
            .await;
        stored += results.into_iter().filter(|ok| *ok).count();
        if stored >= COPIES {
            break;
        }
    }
    stored
}

/// Asks up to [`ASK`] of `nodes` for `owner`'s pointer and returns the
/// newest correctly signed one, with the number of nodes that had it.
pub async fn find(
    mesh: &MeshClient,
    owner: &PeerId,
    nodes: Vec<PeerId>,
) -> Result<(PointerBody, usize), FindError> {
    let order: Vec<PeerId> = rendezvous(owner, nodes).into_iter().take(ASK).collect();
    let asked = order.len();
    let answers = futures_util::stream::iter(order)
        .map(|peer| {
            let mut shards = mesh.shards();
            async move {
                // A node that is down costs a dial timeout; do not wait
                // that long for one of many.
                let answer = tokio::time::timeout(ASK_TIMEOUT, shards.get_pointer(peer, owner))
                    .await
                    .unwrap_or(Err(mesh::net::ClientError::Unexpected("timed out")));
                (peer, answer)
            }
        })
        .buffer_unordered(ASK)
        .collect::<Vec<_>>()
        .await;
    let mut best: Option<(PointerBody, usize)> = None;
    let mut refused = Vec::new();
    for (peer, answer) in answers {
        let (seq, record) = match answer {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "a node did not answer for the pointer");
                continue;
            }
        };
        let body = match mesh::net::verify_pointer(&record, owner, seq) {
            Ok(body) => body,
            Err(e) => {
                refused.push(format!("{peer}: {e}"));
                continue;
            }
        };
        let body: PointerBody = match postcard::from_bytes(&body) {
            Ok(body) => body,
            Err(_) => {
                refused.push(format!("{peer}: the signed body does not parse"));
                continue;
            }
        };
        if body.seq != seq {
            refused.push(format!("{peer}: the body's sequence number differs"));
            continue;
        }
        match &mut best {
            Some((b, n)) if b.seq == body.seq => *n += 1,
            Some((b, _)) if b.seq > body.seq => {}
            _ => best = Some((body, 1)),
        }
    }
    best.ok_or_else(|| FindError::NotFound {
        owner: *owner,
        asked,
        refused: if refused.is_empty() {
            String::new()
        } else {
            format!("; refused: {}", refused.join("; "))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(kind: Kind, seq: u64, at: u64) -> BackupRef {
        BackupRef {
            name: format!("{kind:?}-{seq}"),
            kind,
            seq,
            read_at_ms: at,
            meta: ObjectMeta::default(),
        }
    }

    #[test]
    fn a_plan_takes_the_newest_snapshot_and_the_logs_up_to_the_time_asked() {
        let body = PointerBody {
            seq: 9,
            snapshots: vec![
                backup(Kind::Snapshot, 1, 100),
                backup(Kind::Snapshot, 5, 500),
            ],
            logs: vec![backup(Kind::Log, 6, 600), backup(Kind::Log, 7, 700)],
        };
        let (snap, logs) = body.plan(None).unwrap();
        assert_eq!((snap.seq, logs.len()), (5, 2));
        let (snap, logs) = body.plan(Some(650)).unwrap();
        assert_eq!((snap.seq, logs.len()), (5, 1));
        let (snap, logs) = body.plan(Some(499)).unwrap();
        assert_eq!((snap.seq, logs.len()), (1, 0));
        assert!(body.plan(Some(99)).is_none());
        assert_eq!(body.point_ms(), 700);
    }

    #[test]
    fn rendezvous_order_does_not_depend_on_input_order() {
        let owner = PeerId::random();
        let nodes: Vec<PeerId> = (0..10).map(|_| PeerId::random()).collect();
        let mut reversed = nodes.clone();
        reversed.reverse();
        assert_eq!(rendezvous(&owner, nodes), rendezvous(&owner, reversed));
    }
}
