//! The segment simulator: event-driven Monte Carlo of one segment's shards
//! over many segment-years, with optional importance sampling for the
//! rare-event tail.
//!
//! Each history follows one segment: its `k + m` shards sit on distinct
//! nodes in regions drawn as Cairn places them. Nodes are lost for good,
//! go silent for a while, rot shards, and whole regions go silent or are
//! lost, each as a Poisson process. The gateway counts a silent node's
//! shards as lost at the first check pass after the dead-after plus grace
//! deadline, a rotten shard once an audit finds it; once the held shards
//! are at most the threshold the segment waits for its repair (a wait
//! drawn from the mesh's repair queue, [`crate::queue`], by what queued it:
//! its place in a lost node's batch, a region's, or alone), moves up the
//! queue when it loses another shard, keeps its place through a turn that
//! found fewer than `k` shards answering (it is repaired when a node comes
//! back), and leaves the queue if enough shards come back. A repair
//! rebuilds every shard the gateway counts as lost. The segment is lost
//! when more than `m` shards are destroyed or rotten at once; it is then
//! replaced by a fresh one.
//!
//! **Cycles.** A history is a sequence of cycles, each from full health to
//! full health again (or to a loss). Histories run whole cycles until
//! their years are used up (the last one is finished, not cut), and the
//! loss rate is the regenerative ratio: losses over time, summed over
//! cycles.
//!
//! **Skipping the quiet time.** While nothing is under way (no timer
//! running, nothing queued), only events that change something are drawn:
//! losses, rot, and outages long enough to be seen. Outages too short to
//! be seen matter only while something else is (they can leave fewer than
//! `k` shards to repair from), so when a quiet stretch ends the short
//! outages under way on the other nodes are drawn from their stationary
//! law, and from then on every outage is simulated. This gives millions of
//! segment-years per second per core for 4+2.
//!
//! **Importance sampling.** A segment at risk has lost shards and waits
//! for a repair that is coming (queued, about to be queued by a pending
//! detection, or blocked until a node answers again). With `importance`
//! on, losses of its remaining shards are made more frequent, by a factor
//! chosen so that about one more is expected before the end of that risk
//! (rot by more, so that a fair share of the biased losses are rot: its
//! paths are rare but long); the factors are fixed at each milestone (a
//! loss, a detection, a repair, a node coming back) and reset to 1 at full
//! health. Each cycle carries the likelihood ratio of its biased path (the
//! exponential clocks' ratio: `1/β` per biased loss and
//! `exp((β - 1) × rate × time)` for the biased exposure), and both its loss
//! and its length count with that weight: since biasing changes how long
//! cycles last, only the ratio of weighted losses to weighted time is
//! unbiased. Its variance at 10+ nines is orders of magnitude below plain
//! counting's.

use serde::Serialize;

use crate::config::{Config, Derived};
use crate::placement::{region_cap, sample_regions};
use crate::queue::{Cause, WaitTable};
use crate::rng::Rng;

/// How much to simulate.
#[derive(Clone, Copy, Debug)]
pub struct McBudget {
    /// Segment histories.
    pub segments: u64,
    /// Years per history (its last cycle is finished, not cut).
    pub years: f64,
    /// Seed of every stream.
    pub seed: u64,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
    /// Bias losses of segments at risk (see the module docs).
    pub importance: bool,
}

/// What a Monte Carlo run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct McResult {
    /// Segment-years simulated.
    pub segment_years: f64,
    /// Losses seen (under importance sampling, on the biased paths).
    pub losses_seen: u64,
    /// Estimated losses per segment-year.
    pub loss_rate: f64,
    /// Standard error of `loss_rate` (the ratio estimator's, by the delta
    /// method over histories).
    pub loss_rate_stderr: f64,
    /// Fraction of the time below full redundancy (a shard destroyed,
    /// rotten, or silent and counted lost, and not yet rebuilt); weighted
    /// like the losses, so unbiased under importance sampling too.
    pub degraded_fraction: f64,
    /// Spells below full redundancy per segment-year.
    pub degraded_spells_per_year: f64,
    /// Shards rebuilt per segment-year.
    pub rebuilt_shards_per_year: f64,
    /// Events simulated.
    pub events: u64,
}

impl McResult {
    /// Mean length of a spell below full redundancy, in years.
    pub fn mean_spell(&self) -> f64 {
        if self.degraded_spells_per_year > 0.0 {
            self.degraded_fraction / self.degraded_spells_per_year
        } else {
            0.0
        }
    }
}

/// Histories per work unit: the unit of parallelism and of summation
/// order, so results are identical for any number of threads.
const CHUNK: u64 = 1024;

/// Runs the segment simulator.
pub fn simulate_segments(
    config: &Config,
    derived: &Derived,
    waits: &WaitTable,
    budget: McBudget,
) -> McResult {
    let model = Model::new(config, derived, waits, budget.importance);
    let chunks = budget.segments.div_ceil(CHUNK);
    let results: Vec<std::sync::Mutex<Option<Acc>>> =
        (0..chunks).map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicU64::new(0);
    let threads = budget.threads.clamp(1, chunks.max(1) as usize);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let chunk = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if chunk >= chunks {
                        break;
                    }
                    let mut acc = Acc::default();
                    let first = chunk * CHUNK;
                    let last = (first + CHUNK).min(budget.segments);
                    for index in first..last {
                        let mut rng = Rng::stream(budget.seed, index);
                        let (a, b) = model.history(budget.years, &mut rng, &mut acc);
                        acc.a += a;
                        acc.b += b;
                        acc.aa += a * a;
                        acc.ab += a * b;
                        acc.bb += b * b;
                    }
                    *results[chunk as usize].lock().expect("not poisoned") = Some(acc);
                }
            });
        }
    });
    let mut total = Acc::default();
    for r in results {
        let acc = r
            .into_inner()
            .expect("not poisoned")
            .expect("every chunk ran");
        total.add(&acc);
    }
    // The regenerative ratio estimator: weighted losses over weighted
    // time, with the delta-method variance over histories.
    let histories = budget.segments as f64;
    let rate = if total.b > 0.0 {
        total.a / total.b
    } else {
        0.0
    };
    let spread = (total.aa - 2.0 * rate * total.ab + rate * rate * total.bb).max(0.0);
    let mean_b = total.b / histories;
    let stderr = if budget.segments > 1 && mean_b > 0.0 {
        (spread / (histories * (histories - 1.0))).sqrt() / mean_b
    } else {
        0.0
    };
    let per_time = |x: f64| if total.b > 0.0 { x / total.b } else { 0.0 };
    McResult {
        segment_years: total.time,
        losses_seen: total.losses,
        loss_rate: rate,
        loss_rate_stderr: stderr,
        degraded_fraction: per_time(total.degraded_time),
        degraded_spells_per_year: per_time(total.spells),
        rebuilt_shards_per_year: per_time(total.rebuilt),
        events: total.events,
    }
}

/// Sums over histories. `a` and `b` are a history's weighted losses and
/// weighted time (the likelihood ratio of each cycle times its losses and
/// its length; plain runs weigh 1).
#[derive(Clone, Debug, Default)]
struct Acc {
    a: f64,
    b: f64,
    aa: f64,
    ab: f64,
    bb: f64,
    losses: u64,
    time: f64,
    degraded_time: f64,
    spells: f64,
    rebuilt: f64,
    events: u64,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.a += o.a;
        self.b += o.b;
        self.aa += o.aa;
        self.ab += o.ab;
        self.bb += o.bb;
        self.losses += o.losses;
        self.time += o.time;
        self.degraded_time += o.degraded_time;
        self.spells += o.spells;
        self.rebuilt += o.rebuilt;
        self.events += o.events;
    }
}

/// What one cycle (full health, an excursion, full health again or a loss)
/// saw, before weighting.
#[derive(Clone, Debug, Default)]
struct Cycle {
    degraded_time: f64,
    spells: u64,
    rebuilt: u64,
    events: u64,
}

const NEVER: f64 = f64::INFINITY;

#[derive(Clone, Copy, Debug)]
struct Slot {
    region: u16,
    /// The shard's node is gone, and the shard with it.
    destroyed: bool,
    /// The shard is corrupt or missing on a live node.
    rotten: bool,
    /// Silent since (NEVER: answering).
    silent_since: f64,
    /// When a silent node answers again (NEVER: not silent, or never).
    back_at: f64,
    /// When a check pass will first count the silence as a loss.
    silence_seen_at: f64,
    /// The gateway counts the shard lost because its node is silent.
    silence_seen: bool,
    /// What the silence is (for the repair queue's wait).
    silence_cause: Cause,
    /// When an audit will find the rot.
    audit_at: f64,
    /// The gateway knows the copy is bad.
    bad_known: bool,
}

impl Slot {
    fn fresh(region: u16) -> Self {
        Self {
            region,
            destroyed: false,
            rotten: false,
            silent_since: NEVER,
            back_at: NEVER,
            silence_seen_at: NEVER,
            silence_seen: false,
            silence_cause: Cause::NodeLoss,
            audit_at: NEVER,
            bad_known: false,
        }
    }

    fn answering(&self) -> bool {
        self.silent_since == NEVER
    }

    fn unusable(&self) -> bool {
        self.destroyed || self.rotten
    }

    /// Counted as held by the gateway.
    fn held(&self) -> bool {
        !(self.silence_seen || self.bad_known)
    }

    /// Intact and answering: a repair can read it.
    fn readable(&self) -> bool {
        !self.unusable() && self.answering()
    }

    fn clean(&self) -> bool {
        !self.destroyed
            && !self.rotten
            && self.answering()
            && self.held()
            && self.audit_at == NEVER
            && self.silence_seen_at == NEVER
    }

    fn degraded(&self) -> bool {
        self.unusable() || !self.held()
    }
}

/// The per-run constants.
struct Model<'a> {
    k: usize,
    m: usize,
    n: usize,
    threshold: usize,
    cap: usize,
    nodes_per_region: Vec<usize>,
    node_loss: f64,
    rot: f64,
    outage: f64,
    outage_len: f64,
    outage_seen: f64,
    region_outage: f64,
    region_outage_len: f64,
    region_outage_seen: f64,
    region_loss: f64,
    deadline: f64,
    check: f64,
    audit: f64,
    shard_transfer: f64,
    mean_wait: f64,
    waits: &'a WaitTable,
    importance: bool,
}

/// Expected further losses before the horizon that the bias aims for.
const THETA: f64 = 1.0;
/// Largest bias factor.
const MAX_BIAS: f64 = 1e12;
/// Smallest share of biased losses that are rot.
const ROT_SHARE: f64 = 0.25;

/// A Poisson event and where it strikes.
#[derive(Clone, Copy, Debug)]
enum Event {
    NodeLoss(usize),
    Rot(usize),
    Outage(usize),
    RegionOutage(u16),
    RegionLoss(u16),
}

/// One history's segment.
struct Seg {
    slots: Vec<Slot>,
    /// The regions its shards are in, each once.
    regions: Vec<u16>,
    /// When the repair is due (NEVER: not queued, or blocked).
    repair_at: f64,
    /// Its place in the queue: when its repair comes up, blocked or not.
    planned: f64,
    /// Held level the segment is queued at (None: not queued).
    queued: Option<usize>,
    /// Its turn came but fewer than k shards could be read: repaired as
    /// soon as a node answers again.
    blocked: bool,
    /// Log likelihood ratio of the biased path so far.
    log_lr: f64,
    /// Current bias of node losses.
    bias: f64,
    /// Current bias of rot (at least as large: rot paths are rare but
    /// matter, so a fair share of biased losses are rot).
    bias_rot: f64,
}

/// How an event left the segment.
enum After {
    Continue,
    Lost,
    Whole,
}

impl<'a> Model<'a> {
    fn new(config: &Config, d: &Derived, waits: &'a WaitTable, importance: bool) -> Self {
        Self {
            k: config.k,
            m: config.m,
            n: d.n,
            threshold: d.threshold,
            cap: region_cap(&d.nodes_per_region, d.n, config.m),
            nodes_per_region: d.nodes_per_region.clone(),
            node_loss: config.node_loss_rate,
            rot: config.rot_rate,
            outage: config.outage_rate,
            outage_len: d.outage_duration,
            outage_seen: d.detection_chance(d.outage_duration),
            region_outage: config.region_outage_rate,
            region_outage_len: d.region_outage_duration,
            region_outage_seen: d.detection_chance(d.region_outage_duration),
            region_loss: config.region_loss_rate,
            deadline: d.silence_deadline,
            check: d.check_every,
            audit: d.audit_cycle,
            shard_transfer: d.transfer_time(d.shard_len),
            mean_wait: waits.mean(Cause::NodeLoss, d.threshold),
            waits,
            importance,
        }
    }

    /// Simulates one history: whole cycles until `years` have passed (the
    /// last one is finished, so no cycle is cut short). Returns its
    /// weighted losses and weighted time.
    fn history(&self, years: f64, rng: &mut Rng, acc: &mut Acc) -> (f64, f64) {
        let placement = sample_regions(&self.nodes_per_region, self.n, self.cap, rng);
        let mut regions = placement.clone();
        regions.sort_unstable();
        regions.dedup();
        let mut seg = Seg {
            slots: placement.iter().map(|&r| Slot::fresh(r)).collect(),
            regions,
            repair_at: NEVER,
            planned: NEVER,
            queued: None,
            blocked: false,
            log_lr: 0.0,
            bias: 1.0,
            bias_rot: 1.0,
        };
        let (mut a, mut b) = (0.0, 0.0);
        let mut t = 0.0;
        while t < years {
            // Full health: only events that change something are drawn.
            let rates = self.rates(&seg, true);
            let total: f64 = rates.iter().sum();
            let quiet = rng.exp(total);
            if !quiet.is_finite() {
                // Nothing can ever happen: the rest is one endless cycle.
                b += years - t;
                acc.time += years - t;
                break;
            }
            let event = self.pick(&seg, &rates, total, rng);
            let mut cycle = Cycle {
                events: 1,
                ..Cycle::default()
            };
            let (end, lost) = self.excursion(&mut seg, event, t + quiet, rng, &mut cycle);
            // The cycle's likelihood ratio (1 without importance sampling).
            let lr = seg.log_lr.exp();
            let length = end - t;
            a += lr * f64::from(u8::from(lost));
            b += lr * length;
            acc.losses += u64::from(lost);
            acc.time += length;
            acc.events += cycle.events;
            acc.degraded_time += lr * cycle.degraded_time;
            acc.spells += lr * cycle.spells as f64;
            acc.rebuilt += lr * cycle.rebuilt as f64;
            t = end;
        }
        (a, b)
    }

    /// Poisson rates: node loss, rot, node outage, region outage, region
    /// loss. While `quiet` (no timer running and nothing queued), only the
    /// outages that will be seen are drawn.
    fn rates(&self, seg: &Seg, quiet: bool) -> [f64; 5] {
        let (mut intact, mut sound, mut up) = (0usize, 0usize, 0usize);
        for s in &seg.slots {
            intact += usize::from(!s.destroyed);
            sound += usize::from(!s.destroyed && !s.rotten);
            up += usize::from(!s.destroyed && s.answering());
        }
        let used = seg.regions.len() as f64;
        let (outage, region_outage) = if quiet {
            (
                self.outage * self.outage_seen,
                self.region_outage * self.region_outage_seen,
            )
        } else {
            (self.outage, self.region_outage)
        };
        [
            seg.bias * self.node_loss * intact as f64,
            seg.bias_rot * self.rot * sound as f64,
            outage * up as f64,
            used * region_outage,
            used * self.region_loss,
        ]
    }

    fn pick(&self, seg: &Seg, rates: &[f64; 5], total: f64, rng: &mut Rng) -> Event {
        let mut pick = rng.uniform() * total;
        let mut kind = 0;
        while kind < rates.len() - 1 && (pick >= rates[kind] || rates[kind] == 0.0) {
            pick -= rates[kind];
            kind += 1;
        }
        let slot = |f: fn(&Slot) -> bool, rng: &mut Rng| {
            let count = seg.slots.iter().filter(|s| f(s)).count();
            nth(&seg.slots, rng.below(count), f)
        };
        match kind {
            0 => Event::NodeLoss(slot(|s| !s.destroyed, rng)),
            1 => Event::Rot(slot(|s| !s.destroyed && !s.rotten, rng)),
            2 => Event::Outage(slot(|s| !s.destroyed && s.answering(), rng)),
            3 => Event::RegionOutage(seg.regions[rng.below(seg.regions.len())]),
            _ => Event::RegionLoss(seg.regions[rng.below(seg.regions.len())]),
        }
    }

    /// Whether anything is under way: a timer running or a repair queued.
    fn active(seg: &Seg) -> bool {
        seg.queued.is_some()
            || seg
                .slots
                .iter()
                .any(|s| s.back_at < NEVER || s.silence_seen_at < NEVER || s.audit_at < NEVER)
    }

    /// A check-pass wait in `[0, limit)` (the pass that first sees a
    /// silence that has to be seen before `limit` more years).
    fn pass_wait(&self, rng: &mut Rng, limit: f64) -> f64 {
        rng.uniform() * self.check.min(limit.max(0.0))
    }

    /// Silences `slot` at `t` until `back_at` (NEVER: for good). `wait` is
    /// the wait for the check pass once the deadline has passed (None: an
    /// outage drawn as too short to be seen).
    fn silence(&self, slot: &mut Slot, t: f64, back_at: f64, wait: Option<f64>, cause: Cause) {
        if slot.answering() {
            slot.silent_since = t;
            slot.back_at = back_at;
            slot.silence_seen_at = NEVER;
            slot.silence_cause = cause;
        } else {
            // Already silent: the longer silence wins.
            slot.back_at = slot.back_at.max(back_at);
        }
        if let Some(wait) = wait {
            if !slot.silence_seen && slot.silence_seen_at == NEVER {
                // The deadline runs from when the node went quiet.
                let seen = (slot.silent_since + self.deadline).max(t) + wait;
                if seen < slot.back_at {
                    slot.silence_seen_at = seen;
                    slot.silence_cause = cause;
                }
            } else if back_at == NEVER {
                slot.silence_cause = cause;
            }
        }
    }

    /// Applies a Poisson event at `t`. Leaving a quiet stretch, the short
    /// outages under way elsewhere are drawn first (their stationary law),
    /// and an outage drawn in the quiet is one that will be seen.
    fn apply(&self, seg: &mut Seg, event: Event, t: f64, quiet: bool, rng: &mut Rng) {
        if quiet {
            let (skip_slot, skip_region) = match event {
                Event::NodeLoss(i) | Event::Rot(i) | Event::Outage(i) => (Some(i), None),
                Event::RegionOutage(r) | Event::RegionLoss(r) => (None, Some(r)),
            };
            self.short_outages_under_way(seg, t, skip_slot, skip_region, rng);
        }
        match event {
            Event::NodeLoss(i) => {
                let slot = &mut seg.slots[i];
                slot.destroyed = true;
                let wait = self.pass_wait(rng, NEVER);
                self.silence(slot, t, NEVER, Some(wait), Cause::NodeLoss);
                slot.back_at = NEVER;
            }
            Event::Rot(i) => {
                let slot = &mut seg.slots[i];
                slot.rotten = true;
                if !slot.bad_known && slot.audit_at == NEVER {
                    let audit = rng.exp(1.0 / self.audit.max(1e-300));
                    slot.audit_at = t + audit + self.pass_wait(rng, NEVER);
                }
            }
            Event::Outage(i) => {
                let limit = if quiet {
                    self.outage_len - self.deadline
                } else {
                    NEVER
                };
                let wait = self.pass_wait(rng, limit);
                let back = t + self.outage_len;
                self.silence(&mut seg.slots[i], t, back, Some(wait), Cause::NodeOutage);
            }
            Event::RegionOutage(r) => {
                let limit = if quiet {
                    self.region_outage_len - self.deadline
                } else {
                    NEVER
                };
                // One check pass sees the whole region.
                let wait = self.pass_wait(rng, limit);
                let back = t + self.region_outage_len;
                for slot in seg
                    .slots
                    .iter_mut()
                    .filter(|s| s.region == r && !s.destroyed)
                {
                    self.silence(slot, t, back, Some(wait), Cause::RegionOutage);
                }
            }
            Event::RegionLoss(r) => {
                let wait = self.pass_wait(rng, NEVER);
                for slot in seg
                    .slots
                    .iter_mut()
                    .filter(|s| s.region == r && !s.destroyed)
                {
                    self.silence(slot, t, NEVER, Some(wait), Cause::RegionLoss);
                    slot.destroyed = true;
                    slot.back_at = NEVER;
                }
            }
        }
    }

    /// The outages too short to be seen that are under way when a quiet
    /// stretch ends, from their stationary law (they matter only while
    /// something else is wrong: they can leave fewer than k shards to
    /// repair from).
    fn short_outages_under_way(
        &self,
        seg: &mut Seg,
        t: f64,
        skip_slot: Option<usize>,
        skip_region: Option<u16>,
        rng: &mut Rng,
    ) {
        let short_rate = self.outage * (1.0 - self.outage_seen);
        if short_rate > 0.0 {
            let p = short_rate * self.outage_len / (1.0 + self.outage * self.outage_len);
            for (i, slot) in seg.slots.iter_mut().enumerate() {
                if Some(i) != skip_slot && slot.answering() && !slot.destroyed && rng.chance(p) {
                    let back = t + rng.uniform() * self.outage_len;
                    self.silence(slot, t, back, None, Cause::NodeOutage);
                }
            }
        }
        let short_region = self.region_outage * (1.0 - self.region_outage_seen);
        if short_region > 0.0 {
            let p = short_region * self.region_outage_len
                / (1.0 + self.region_outage * self.region_outage_len);
            for ri in 0..seg.regions.len() {
                let r = seg.regions[ri];
                if Some(r) == skip_region || !rng.chance(p) {
                    continue;
                }
                let back = t + rng.uniform() * self.region_outage_len;
                for slot in seg
                    .slots
                    .iter_mut()
                    .filter(|s| s.region == r && !s.destroyed)
                {
                    self.silence(slot, t, back, None, Cause::RegionOutage);
                }
            }
        }
    }

    /// Runs from the first event that breaks full health until the segment
    /// is whole again or lost. Returns the time and whether it was lost;
    /// the path's likelihood ratio is left in `seg.log_lr`.
    fn excursion(
        &self,
        seg: &mut Seg,
        first: Event,
        mut t: f64,
        rng: &mut Rng,
        acc: &mut Cycle,
    ) -> (f64, bool) {
        seg.log_lr = 0.0;
        seg.bias = 1.0;
        seg.bias_rot = 1.0;
        self.apply(seg, first, t, true, rng);
        match self.settle(seg, t, Cause::Single, false, true, acc, rng) {
            After::Continue => {}
            After::Lost => return (t, true),
            After::Whole => return (t, false),
        }
        loop {
            let quiet = !Self::active(seg);
            // The next timer. A slot's timer wins a tie with the repair, so
            // that every loss a check pass sees is counted before it.
            let mut timer = seg.repair_at;
            let mut which = usize::MAX;
            if !quiet {
                for (i, s) in seg.slots.iter().enumerate() {
                    let next = s.back_at.min(s.silence_seen_at).min(s.audit_at);
                    if next <= timer && next < NEVER {
                        timer = next;
                        which = i;
                    }
                }
            }
            let rates = self.rates(seg, quiet);
            let total: f64 = rates.iter().sum();
            let poisson_at = t + rng.exp(total);
            let stop = poisson_at.min(timer);
            if stop == NEVER {
                // Nothing can happen any more (no loss rates, nothing
                // queued): it stays as it is; end the cycle here.
                return (t, false);
            }
            let was_degraded = seg.slots.iter().any(Slot::degraded);
            if was_degraded {
                acc.degraded_time += stop - t;
            }
            if seg.bias > 1.0 || seg.bias_rot > 1.0 {
                // The biased clocks ran faster than the true ones.
                let extra =
                    rates[0] * (1.0 - 1.0 / seg.bias) + rates[1] * (1.0 - 1.0 / seg.bias_rot);
                seg.log_lr += extra * (stop - t);
            }
            t = stop;
            acc.events += 1;
            let (cause, milestone) = if poisson_at < timer {
                let event = self.pick(seg, &rates, total, rng);
                match event {
                    Event::NodeLoss(_) => seg.log_lr -= seg.bias.ln(),
                    Event::Rot(_) => seg.log_lr -= seg.bias_rot.ln(),
                    _ => {}
                }
                self.apply(seg, event, t, quiet, rng);
                (
                    Cause::Single,
                    !matches!(event, Event::Outage(_) | Event::RegionOutage(_)),
                )
            } else if which == usize::MAX {
                self.repair(seg, acc);
                (Cause::Single, true)
            } else {
                self.timer(seg, which, timer)
            };
            match self.settle(seg, t, cause, was_degraded, milestone, acc, rng) {
                After::Continue => {}
                After::Lost => return (t, true),
                After::Whole => return (t, false),
            }
        }
    }

    /// The repair comes up: every shard counted lost is rebuilt, if `k`
    /// intact shards answer; otherwise it waits for a node to come back.
    fn repair(&self, seg: &mut Seg, acc: &mut Cycle) {
        let readable = seg.slots.iter().filter(|s| s.readable()).count();
        seg.repair_at = NEVER;
        if readable >= self.k {
            for slot in seg.slots.iter_mut().filter(|s| !s.held()) {
                *slot = Slot::fresh(slot.region);
                acc.rebuilt += 1;
            }
            seg.queued = None;
            seg.planned = NEVER;
            seg.blocked = false;
        } else {
            seg.blocked = true;
        }
    }

    /// A slot's timer fires: its node answers again, a check pass sees its
    /// silence, or an audit finds its rot. Returns the cause to queue with
    /// and whether it is a milestone for the bias.
    fn timer(&self, seg: &mut Seg, which: usize, at: f64) -> (Cause, bool) {
        let slot = seg.slots[which];
        if slot.back_at == at {
            // Every node of a region outage answers again at once.
            for s in seg.slots.iter_mut().filter(|s| s.back_at == at) {
                s.silent_since = NEVER;
                s.back_at = NEVER;
                s.silence_seen_at = NEVER;
                s.silence_seen = false;
            }
            if seg.blocked {
                seg.blocked = false;
                seg.repair_at = seg.planned.max(at);
            }
            (Cause::Single, true)
        } else if slot.silence_seen_at == at {
            // One check pass sees every silence due at it.
            for s in seg.slots.iter_mut().filter(|s| s.silence_seen_at == at) {
                s.silence_seen_at = NEVER;
                s.silence_seen = true;
            }
            (slot.silence_cause, true)
        } else {
            let slot = &mut seg.slots[which];
            slot.audit_at = NEVER;
            slot.bad_known = true;
            (Cause::Single, true)
        }
    }

    /// After an event: counts a new spell, checks for a loss, updates the
    /// queue, notices full health, and fixes the bias at milestones.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        seg: &mut Seg,
        t: f64,
        cause: Cause,
        was_degraded: bool,
        milestone: bool,
        acc: &mut Cycle,
        rng: &mut Rng,
    ) -> After {
        if !was_degraded && seg.slots.iter().any(Slot::degraded) {
            acc.spells += 1;
        }
        if self.lost(seg) {
            self.renew(seg);
            return After::Lost;
        }
        self.update_queue(seg, t, cause, rng);
        if seg.queued.is_none() && seg.slots.iter().all(Slot::clean) {
            seg.bias = 1.0;
            seg.bias_rot = 1.0;
            return After::Whole;
        }
        if milestone {
            self.set_bias(seg, t);
        }
        After::Continue
    }

    fn held(&self, seg: &Seg) -> usize {
        seg.slots.iter().filter(|s| s.held()).count()
    }

    fn lost(&self, seg: &Seg) -> bool {
        seg.slots.iter().filter(|s| s.unusable()).count() > self.m
    }

    fn renew(&self, seg: &mut Seg) {
        for slot in &mut seg.slots {
            *slot = Slot::fresh(slot.region);
        }
        seg.repair_at = NEVER;
        seg.planned = NEVER;
        seg.queued = None;
        seg.blocked = false;
        seg.bias = 1.0;
        seg.bias_rot = 1.0;
    }

    /// Queues, re-prioritises or dequeues the segment after the gateway's
    /// view of it may have changed; `cause` is what made the latest shard
    /// count as lost. A queued segment keeps its place (`planned`) through
    /// a blocked turn; it moves up when it loses another shard.
    fn update_queue(&self, seg: &mut Seg, t: f64, cause: Cause, rng: &mut Rng) {
        let held = self.held(seg);
        if held > self.threshold {
            seg.repair_at = NEVER;
            seg.planned = NEVER;
            seg.queued = None;
            seg.blocked = false;
            return;
        }
        // A lone segment's own upload; a batch's positions include it.
        let own = (self.n - held) as f64 * self.shard_transfer;
        match seg.queued {
            None => {
                seg.queued = Some(held);
                let own = if cause == Cause::Single { own } else { 0.0 };
                seg.planned = t + self.waits.draw(cause, held, rng) + own;
            }
            Some(level) if held < level => {
                seg.queued = Some(held);
                // Below k the checker counts it lost, not queued higher.
                if held >= self.k {
                    let wait = self.waits.draw(Cause::Single, held, rng) + own;
                    seg.planned = seg.planned.min(t + wait);
                }
            }
            Some(level) if held > level => {
                // Shards came back (an outage ended) but it is still at or
                // below the threshold; if its wait was for the outage's
                // batch, called off, it now waits as a lone segment.
                seg.queued = Some(held);
                if seg.planned == NEVER {
                    seg.planned = t + self.waits.draw(Cause::Single, held, rng) + own;
                }
            }
            Some(_) => {}
        }
        if seg.planned == NEVER && !seg.slots.iter().any(|s| !s.held() && s.back_at < NEVER) {
            // Queued behind an outage's batch, which is called off when
            // the nodes come back; these will not (lost meanwhile), so it
            // waits as their loss does.
            let cause = seg
                .slots
                .iter()
                .filter(|s| !s.held() && s.destroyed)
                .map(|s| s.silence_cause)
                .find(|c| matches!(c, Cause::NodeLoss | Cause::RegionLoss))
                .unwrap_or(Cause::NodeLoss);
            seg.planned = t + self.waits.draw(cause, held, rng);
        }
        seg.repair_at = if seg.blocked {
            NEVER
        } else {
            seg.planned.max(t)
        };
    }

    /// Fixes the bias for the next stretch: about THETA more losses before
    /// the repair or detection that ends the current risk.
    fn set_bias(&self, seg: &mut Seg, t: f64) {
        seg.bias = 1.0;
        seg.bias_rot = 1.0;
        if !self.importance || !seg.slots.iter().any(Slot::degraded) {
            return;
        }
        // The risk ends at the repair if one is queued (or, blocked, when a
        // silent node answers again and it can run), or soon after the
        // pending detections if they will queue one; otherwise nothing is
        // coming (losses below the threshold) and nothing is biased.
        let mut horizon = seg.repair_at;
        if seg.blocked {
            horizon = seg.slots.iter().map(|s| s.back_at).fold(NEVER, f64::min);
        }
        let pending: Vec<f64> = seg
            .slots
            .iter()
            .map(|s| s.silence_seen_at.min(s.audit_at))
            .filter(|&at| at < NEVER)
            .collect();
        if self.held(seg).saturating_sub(pending.len()) <= self.threshold {
            for at in pending {
                horizon = horizon.min(at + self.mean_wait);
            }
        }
        if horizon == NEVER {
            return;
        }
        let (mut intact, mut sound) = (0usize, 0usize);
        for s in &seg.slots {
            intact += usize::from(!s.destroyed);
            sound += usize::from(!s.destroyed && !s.rotten);
        }
        let node = self.node_loss * intact as f64;
        let rot = self.rot * sound as f64;
        let span = (horizon - t).max(1e-12);
        if node + rot > 0.0 {
            seg.bias = (THETA / ((node + rot) * span)).clamp(1.0, MAX_BIAS);
            seg.bias_rot = seg.bias;
            if rot > 0.0 {
                // At least a quarter of the biased losses are rot.
                let share = ROT_SHARE * seg.bias * node / ((1.0 - ROT_SHARE) * rot);
                seg.bias_rot = seg.bias_rot.max(share).min(MAX_BIAS);
            }
        }
    }
}

/// Index of the `k`-th slot matching `f`.
fn nth(slots: &[Slot], mut k: usize, f: impl Fn(&Slot) -> bool) -> usize {
    for (i, s) in slots.iter().enumerate() {
        if f(s) {
            if k == 0 {
                return i;
            }
            k -= 1;
        }
    }
    unreachable!("fewer matching slots than counted")
}
