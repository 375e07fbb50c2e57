//! The pin worker: takes queued pins on, retries those that failed for a
//! while, and lets go of content nothing holds any more.
//!
//! One task does all three (up to four pins at once), in the gateway that
//! runs the health loops (with a shared store, one gateway for all).
//! Letting go re-checks the holds after deleting and puts the manifest
//! back if one appeared; shards are left to garbage collection, which
//! spares those being written. A pass runs when a request wakes it and at
//! least every [`POLL`]; a gateway restarted mid-pin finds the request
//! still `queued` or `pinning` and takes it on again (content kept
//! already is not read twice).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use mesh::content::ContentId;
use tokio::sync::Notify;

use super::{PinRecord, PinStore, Status, Stored, now_ms, refs};
use crate::health::Health;
use crate::s3::Gateway;

/// The longest the worker sleeps between passes.
pub const POLL: Duration = Duration::from_secs(5);

/// How often holds left behind are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How old a hold without its request must be to be removed.
const SWEEP_AFTER: Duration = Duration::from_secs(600);

/// Pins taken on at once.
const AT_ONCE: usize = 4;

/// Attempts before a pin is marked failed.
pub const MAX_ATTEMPTS: u32 = 6;

/// How long to wait before attempt `attempts + 1`: 10 s, doubling, at
/// most 10 minutes (the content may not be announced yet, or its nodes
/// may be restarting).
fn backoff(attempts: u32) -> Duration {
    let secs = 10u64.saturating_mul(1 << attempts.min(6).saturating_sub(1));
    Duration::from_secs(secs.min(600))
}

/// Handles the worker is driven by. Cheap to clone.
#[derive(Clone)]
pub struct PinWorker {
    store: PinStore,
    gateway: Gateway,
    health: Health,
    wake: Arc<Notify>,
    /// When holds were last swept.
    swept: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl PinWorker {
    /// A worker taking pins of `store` on through `gateway`, while
    /// `health` says this gateway leads.
    pub fn new(store: PinStore, gateway: Gateway, health: Health) -> Self {
        Self {
            store,
            gateway,
            health,
            wake: Arc::new(Notify::new()),
            swept: Default::default(),
        }
    }

    /// What wakes the worker for a pass now.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs passes forever.
    pub async fn run(self) {
        self.health
            .lead_passes(&self.wake, POLL, || self.pass())
            .await;
    }

    /// One pass: let go of what nothing holds, then take due pins on.
    pub async fn pass(&self) {
        let meta = self.store.meta();
        match refs::released_list(meta, 1000).await {
            Ok(cids) => {
                for cid in cids {
                    match self.gateway.let_go(&cid).await {
                        Ok(_) => {
                            if let Err(e) = refs::settled(meta, &cid).await {
                                tracing::warn!(%cid, error = %e, "cannot clear a released hold");
                            }
                        }
                        Err(e) => tracing::warn!(%cid, error = ?e, "cannot let go of content"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list released content"),
        }
        let pins = match self.store.all().await {
            Ok(pins) => pins,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list pin requests");
                return;
            }
        };
        self.count(&pins);
        let now = now_ms();
        self.sweep_holds(&pins, now).await;
        let due: Vec<Stored> = pins
            .into_iter()
            .filter(|p| {
                matches!(p.record.status, Status::Queued | Status::Pinning)
                    && p.record.retry_at <= now
            })
            .collect();
        if due.is_empty() {
            return;
        }
        // A few at once, so that content that cannot be found does not
        // hold up the rest.
        futures_util::stream::iter(due)
            .for_each_concurrent(AT_ONCE, |stored| self.pin_one(stored))
            .await;
        if let Ok(pins) = self.store.all().await {
            self.count(&pins);
        }
    }

    /// Removes the holds of pin requests that no longer exist (their
    /// record was removed but the hold could not be, or the hold was
    /// written and the record not), at most every [`SWEEP_EVERY`], once
    /// they are older than [`SWEEP_AFTER`] (a request being made writes
    /// its hold first).
    async fn sweep_holds(&self, pins: &[Stored], now: u64) {
        {
            let mut last = self.swept.lock().expect("not poisoned");
            if last.is_some_and(|at| at.elapsed() < SWEEP_EVERY) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        let holds = match refs::all(self.store.meta()).await {
            Ok(holds) => holds,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list holds");
                return;
            }
        };
        let live: std::collections::HashSet<(&str, &str)> = pins
            .iter()
            .map(|p| (p.owner.as_str(), p.record.requestid.as_str()))
            .collect();
        let region = self.gateway.region().to_owned();
        for (cid, holder, at) in holds {
            let Some(request) = super::holder_of(&holder) else {
                continue;
            };
            if live.contains(&request) || now.saturating_sub(at) < SWEEP_AFTER.as_millis() as u64 {
                continue;
            }
            tracing::info!(%cid, %holder, "removing the hold of a pin request that no longer exists");
            let meta = self.store.meta();
            if refs::release(meta, &cid, &holder).await.is_ok() {
                let _ = refs::released(meta, &region, &cid).await;
            }
        }
    }

    fn count(&self, pins: &[Stored]) {
        let metrics = self.health.metrics();
        for (status, name) in [
            (Status::Queued, "queued"),
            (Status::Pinning, "pinning"),
            (Status::Pinned, "pinned"),
            (Status::Failed, "failed"),
        ] {
            let n = pins.iter().filter(|p| p.record.status == status).count();
            metrics.set_pins(name, n as u64);
        }
    }

    /// Takes one pin on: `pinning`, then `pinned`, or back to `queued`
    /// with a later retry, or `failed` after [`MAX_ATTEMPTS`].
    async fn pin_one(&self, stored: Stored) {
        let requestid = stored.record.requestid.clone();
        let cid_text = stored.record.pin.cid.clone();
        let pinning = PinRecord {
            status: Status::Pinning,
            ..stored.record.clone()
        };
        let stored = match self.store.update(&stored, pinning).await {
            Ok(Some(stored)) => stored,
            // Removed or replaced meanwhile.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%requestid, error = %e, "cannot mark a pin as pinning");
                return;
            }
        };
        let outcome = match ContentId::parse(&cid_text) {
            Ok(cid) => self
                .gateway
                .take_on(&cid)
                .await
                .map_err(|e| e.message().unwrap_or(e.code().as_str()).to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let mut record = stored.record.clone();
        match &outcome {
            Ok(already) => {
                tracing::info!(%requestid, cid = %cid_text, already, "pinned");
                record.status = Status::Pinned;
                record.reason = None;
            }
            Err(reason) => {
                record.attempts += 1;
                record.reason = Some(reason.clone());
                if record.attempts >= MAX_ATTEMPTS {
                    tracing::warn!(%requestid, cid = %cid_text, %reason, "pin failed");
                    record.status = Status::Failed;
                } else {
                    let wait = backoff(record.attempts);
                    tracing::info!(%requestid, cid = %cid_text, %reason, ?wait, "pin attempt failed; will retry");
                    record.status = Status::Queued;
                    record.retry_at = now_ms() + wait.as_millis() as u64;
                }
            }
        }
        match self.store.update(&stored, record).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                // Removed while being taken on: let go on the next pass
                // unless something else holds it.
                let region = self.gateway.region().to_owned();
                if let Err(e) = refs::released(self.store.meta(), &region, &cid_text).await {
                    tracing::warn!(cid = %cid_text, error = %e, "cannot note a released pin");
                }
                self.wake.notify_one();
            }
            Err(e) => tracing::warn!(%requestid, error = %e, "cannot record a pin's outcome"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(5), Duration::from_secs(160));
        assert_eq!(backoff(40), Duration::from_secs(320));
    }
}
