//! Content records and providers other peers ask this node to keep in its
//! share of the DHT (see `mesh::content`): kept only when signed by their
//! publisher under its own key, and only so many per publisher and in all,
//! so a stranger can neither overwrite another publisher's record nor fill
//! the node's record store.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::kad::store::{MemoryStore, RecordStore};
use libp2p::kad::{ProviderRecord, Record, RecordKey};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use mesh::content::SignedContentRecord;

/// Most content records and provider entries one publisher may have kept.
pub const MAX_PER_PUBLISHER: usize = 2_000;
/// Most content records and provider entries kept in all: with records of
/// at most 16 KiB, at most about 160 MiB of memory. (Peer ids cost nothing,
/// so many publishers can still use it all up between them; bounding
/// content records by who the node admits is future work.)
pub const MAX_TOTAL: usize = 10_000;

/// What each publisher has had this node keep.
#[derive(Default)]
pub struct ContentQuota {
    by_publisher: HashMap<PeerId, HashSet<Vec<u8>>>,
    total: usize,
}

impl ContentQuota {
    /// Counts `key` against `publisher`; false when over a bound.
    fn admit(&mut self, publisher: PeerId, key: &[u8]) -> bool {
        let held = self.by_publisher.entry(publisher).or_default();
        if held.contains(key) {
            return true;
        }
        if held.len() >= MAX_PER_PUBLISHER || self.total >= MAX_TOTAL {
            return false;
        }
        held.insert(key.to_vec());
        self.total += 1;
        true
    }

    /// Forgets what the store no longer holds (expired or replaced).
    pub fn prune(&mut self, store: &mut MemoryStore) {
        for (publisher, keys) in &mut self.by_publisher {
            keys.retain(|key| {
                let record_key = RecordKey::new(key);
                if SignedContentRecord::is_locator(key) {
                    store
                        .providers(&record_key)
                        .iter()
                        .any(|p| p.provider == *publisher)
                } else {
                    store.get(&record_key).is_some()
                }
            });
        }
        self.by_publisher.retain(|_, keys| !keys.is_empty());
        self.total = self.by_publisher.values().map(HashSet::len).sum();
    }

    /// Keeps a content record if it verifies, is within its publisher's
    /// quota and is newer than the copy held. Whether it was kept.
    pub fn accept_record(&mut self, store: &mut MemoryStore, mut record: Record) -> bool {
        let key = record.key.to_vec();
        let (publisher, parsed) = match SignedContentRecord::verify(&key, &record.value) {
            Ok(verified) => verified,
            Err(e) => {
                tracing::debug!(error = %e, "dropping a content record");
                return false;
            }
        };
        if let Some(held) = store.get(&record.key)
            && let Ok((_, held)) = SignedContentRecord::verify(&key, &held.value)
            && held.issued_at >= parsed.issued_at
        {
            return false;
        }
        if !self.admit(publisher, &key) {
            tracing::debug!(%publisher, "dropping a content record: the publisher's quota is used");
            return false;
        }
        record.expires = Some(Instant::now() + Duration::from_secs(parsed.secs_left()));
        store.put(record).is_ok()
    }

    /// Keeps a provider entry for a content locator, within its
    /// provider's quota. Whether it was kept.
    ///
    /// Publishers are mesh clients (gateways) with no listen address and
    /// no place in this node's routing table, and libp2p's Kademlia leaves
    /// a provider out of its answers when it knows no address for it; the
    /// entry is kept with the address `/p2p/<provider>` instead (readers
    /// only need the provider's id, to fetch its record).
    pub fn accept_provider(
        &mut self,
        store: &mut MemoryStore,
        mut provider: ProviderRecord,
    ) -> bool {
        if !SignedContentRecord::is_locator(provider.key.as_ref()) {
            return false;
        }
        if !self.admit(provider.provider, provider.key.as_ref()) {
            tracing::debug!(provider = %provider.provider, "dropping a content provider entry: quota used");
            return false;
        }
        if provider.addresses.is_empty() {
            let id = provider.provider;
            provider.addresses = vec![Multiaddr::empty().with(Protocol::P2p(id))];
        }
        store.add_provider(provider).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::identity::Keypair;
    use libp2p::kad::store::MemoryStoreConfig;
    use mesh::content::{ContentId, locator};

    fn store() -> MemoryStore {
        MemoryStore::with_config(PeerId::random(), MemoryStoreConfig::default())
    }

    fn record(keypair: &Keypair, n: u8) -> Record {
        let (key, value) =
            SignedContentRecord::sign(&locator(&ContentId::from_hash([n; 32])), vec![n], keypair);
        Record::new(RecordKey::new(&key), value)
    }

    #[test]
    fn records_are_kept_only_signed_and_within_quota() {
        let (mut quota, mut store) = (ContentQuota::default(), store());
        let keypair = Keypair::generate_ed25519();
        assert!(quota.accept_record(&mut store, record(&keypair, 1)));
        // The same key again counts once.
        quota.accept_record(&mut store, record(&keypair, 1));
        assert_eq!(quota.total, 1);
        // Forged: another value under the same key.
        let mut forged = record(&keypair, 2);
        forged.key = record(&keypair, 1).key;
        assert!(!quota.accept_record(&mut store, forged));
        // A publisher over its quota.
        let held = quota.by_publisher.get_mut(&keypair.public().to_peer_id());
        held.unwrap()
            .extend((1..MAX_PER_PUBLISHER).map(|i| i.to_le_bytes().to_vec()));
        assert!(!quota.accept_record(&mut store, record(&keypair, 3)));
        // Another publisher is not held to it; pruning recounts.
        let other = Keypair::generate_ed25519();
        assert!(quota.accept_record(&mut store, record(&other, 3)));
        quota.prune(&mut store);
        assert_eq!(quota.total, 2);
    }

    #[test]
    fn providers_are_kept_only_for_content_locators() {
        let (mut quota, mut store) = (ContentQuota::default(), store());
        let peer = PeerId::random();
        let at = RecordKey::new(&locator(&ContentId::from_hash([1; 32])));
        let entry = |key: RecordKey| ProviderRecord::new(key, peer, Vec::new());
        assert!(quota.accept_provider(&mut store, entry(at.clone())));
        // Served with an address, so Kademlia answers with it.
        assert_eq!(store.providers(&at)[0].addresses.len(), 1);
        assert!(!quota.accept_provider(&mut store, entry(RecordKey::new(b"/other/key"))));
        quota.prune(&mut store);
        assert_eq!(quota.total, 1);
    }
}
