//! The mesh-wide repair queue, simulated: how long a segment waits for its
//! repair, and how many bytes repair moves.
//!
//! When a node is lost, every segment it held is queued at the same check
//! pass, and they are rebuilt one after another at the repair throughput;
//! a region outage queues a region's worth. Cairn takes the queue riskiest
//! first (fewest held shards), oldest first within a level. This module
//! runs that queue as a fluid: *batches* of repair work arrive (a lost
//! node's segments, a region's segments by how many shards they lost
//! there), are served at the throughput with preemptive priority by held
//! level and FIFO within a level, and batches of outages are withdrawn
//! when the nodes come back. A segment's wait is read off its batch's
//! service at a uniformly random position; zero-work *probes* measure the
//! wait of a lone segment queued at a given level (a rotten shard, or a
//! segment that lost another shard while queued). The per-segment
//! simulator and the analytic model both draw their waits from the
//! resulting [`WaitTable`].
//!
//! Region losses are rare (one per thousand region-years, say) but each
//! queues months of work, so a plain run would seldom see one. The
//! simulation raises their rate by a factor `F` (keeping storms far apart)
//! and reweighs: a wait recorded during a *storm* (from a region loss
//! until the queue next empties) stands for `1/F` of a true one, the
//! others for their share of the remaining time, and the table mixes the
//! two in their true proportions.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use serde::Serialize;

use crate::config::{Config, Derived};
use crate::placement::RegionProfile;
use crate::rng::Rng;

/// What put a batch of segments in the repair queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Cause {
    /// A node lost for good.
    NodeLoss,
    /// A node silent past the deadline that comes back later.
    NodeOutage,
    /// A region lost for good.
    RegionLoss,
    /// A region silent past the deadline that comes back later.
    RegionOutage,
    /// A lone segment (a rotten shard, or a segment losing one more shard
    /// while queued).
    Single,
}

impl Cause {
    const ALL: [Cause; 5] = [
        Cause::NodeLoss,
        Cause::NodeOutage,
        Cause::RegionLoss,
        Cause::RegionOutage,
        Cause::Single,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Samples kept per table (a uniform reservoir over all seen).
const RESERVOIR: usize = 32_768;

#[derive(Clone, Debug, Default)]
struct Reservoir {
    seen: u64,
    samples: Vec<f64>,
}

impl Reservoir {
    fn push(&mut self, value: f64, rng: &mut Rng) {
        self.seen += 1;
        if self.samples.len() < RESERVOIR {
            self.samples.push(value);
        } else {
            let slot = (rng.next_u64() % self.seen) as usize;
            if slot < RESERVOIR {
                self.samples[slot] = value;
            }
        }
    }
}

/// Waits (years, from the check pass that queues a segment to its repair
/// completing) by cause and by held level.
#[derive(Clone, Debug)]
pub struct WaitTable {
    n: usize,
    /// Per slot: waits recorded outside and during region-loss storms
    /// (merged into `tables` when the simulation ends).
    regimes: Vec<[Reservoir; 2]>,
    tables: Vec<Reservoir>,
}

impl WaitTable {
    fn new(n: usize) -> Self {
        let slots = Cause::ALL.len() * (n + 1);
        Self {
            n,
            regimes: vec![[Reservoir::default(), Reservoir::default()]; slots],
            tables: vec![Reservoir::default(); slots],
        }
    }

    fn slot(&self, cause: Cause, class: usize) -> usize {
        cause.index() * (self.n + 1) + class.min(self.n)
    }

    fn push(&mut self, cause: Cause, class: usize, wait: f64, storm: bool, rng: &mut Rng) {
        let slot = self.slot(cause, class);
        self.regimes[slot][usize::from(storm)].push(wait, rng);
    }

    /// Mixes the two regimes, each recorded wait weighing `weights[regime]`
    /// true ones, and sorts.
    fn finish(&mut self, weights: [f64; 2], rng: &mut Rng) {
        for (slot, [normal, storm]) in self.regimes.iter().enumerate() {
            let mass = [
                normal.seen as f64 * weights[0],
                storm.seen as f64 * weights[1],
            ];
            let total = mass[0] + mass[1];
            let mut samples = if storm.samples.is_empty() || mass[1] <= 0.0 {
                normal.samples.clone()
            } else if normal.samples.is_empty() || mass[0] <= 0.0 {
                storm.samples.clone()
            } else {
                let count = RESERVOIR.min(normal.samples.len() + storm.samples.len());
                let p_storm = mass[1] / total;
                (0..count)
                    .map(|_| {
                        let from = if rng.chance(p_storm) { storm } else { normal };
                        from.samples[rng.below(from.samples.len())]
                    })
                    .collect()
            };
            samples.sort_by(f64::total_cmp);
            self.tables[slot] = Reservoir {
                seen: normal.seen + storm.seen,
                samples,
            };
        }
        self.regimes = Vec::new();
    }

    /// The samples for a cause and level, falling back to a lone segment's
    /// wait at that level (and to no wait at all) when none were seen.
    pub fn samples(&self, cause: Cause, class: usize) -> &[f64] {
        let own = &self.tables[self.slot(cause, class)].samples;
        if !own.is_empty() {
            return own;
        }
        &self.tables[self.slot(Cause::Single, class)].samples
    }

    /// Draws one wait.
    pub fn draw(&self, cause: Cause, class: usize, rng: &mut Rng) -> f64 {
        let s = self.samples(cause, class);
        if s.is_empty() {
            0.0
        } else {
            s[rng.below(s.len())]
        }
    }

    /// The wait as `count` equally likely points: the means of `count`
    /// equal-count bins of the sorted samples (so the mean is kept); a bin
    /// holding a withdrawn repair is infinite.
    pub fn bin_means(&self, cause: Cause, class: usize, count: usize) -> Vec<f64> {
        let s = self.samples(cause, class);
        if s.is_empty() {
            return vec![0.0];
        }
        let count = count.min(s.len()).max(1);
        (0..count)
            .map(|i| {
                let lo = i * s.len() / count;
                let hi = ((i + 1) * s.len() / count).max(lo + 1);
                let bin = &s[lo..hi];
                bin.iter().sum::<f64>() / bin.len() as f64
            })
            .collect()
    }

    /// Mean of the finite waits for a cause and level.
    pub fn mean(&self, cause: Cause, class: usize) -> f64 {
        let s = self.samples(cause, class);
        let finite: Vec<f64> = s.iter().copied().filter(|w| w.is_finite()).collect();
        if finite.is_empty() {
            0.0
        } else {
            finite.iter().sum::<f64>() / finite.len() as f64
        }
    }
}

/// What the queue simulation measured.
#[derive(Clone, Debug, Serialize)]
pub struct QueueStats {
    /// Years of mesh time simulated.
    pub years: f64,
    /// Batches of repair work queued in the simulation, by cause (node
    /// loss, node outage, region loss, region outage); region losses are
    /// simulated more often than they happen and reweighed.
    pub batches: [u64; 4],
    /// Bytes rebuilt per year over the mesh (node and region repairs,
    /// including repairs of outages cut short when the nodes came back;
    /// rotten shards are added analytically, one rebuild each).
    pub rebuilt_bytes_per_year: f64,
    /// Fraction of the time repair was busy.
    pub busy_fraction: f64,
    /// Repair work arriving per unit of repair capacity (permanent losses
    /// only: node losses, rot, region losses); at 1 or more the backlog
    /// grows without bound.
    pub offered_load: f64,
    /// The longest backlog seen, in seconds of repair work.
    pub max_backlog_seconds: f64,
}

/// How much mesh time the queue simulation may cover.
#[derive(Clone, Copy, Debug)]
pub struct QueueBudget {
    /// Most events (batches, withdrawals, probes) to simulate.
    pub max_events: u64,
    /// Node batches wanted (fewer if `max_events` runs out first).
    pub node_batches: f64,
    /// Region events wanted, when regions fail at all.
    pub region_events: f64,
    /// Probes per held level.
    pub probes: f64,
}

impl QueueBudget {
    /// For `cairn simulate`: thousands of batches.
    pub fn thorough() -> Self {
        Self {
            max_events: 3_000_000,
            node_batches: 4000.0,
            region_events: 200.0,
            probes: 20_000.0,
        }
    }

    /// For a quick estimate (the gateway's start-up line).
    pub fn quick() -> Self {
        Self {
            max_events: 100_000,
            node_batches: 1000.0,
            region_events: 50.0,
            probes: 2000.0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Source {
    NodeLoss,
    NodeOutage,
    Region,
    Probe(usize),
}

#[derive(Debug)]
enum Event {
    Source(Source),
    Arrive(Batch),
    Withdraw(u64),
}

#[derive(Debug)]
struct Timed {
    at: f64,
    seq: u64,
    event: Event,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    // Reversed: the heap pops the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.total_cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

#[derive(Debug)]
struct Batch {
    id: u64,
    cause: Cause,
    class: usize,
    arrival: f64,
    work: f64,
    done: f64,
    /// Service spans: (start time, work done at start); served at rate 1.
    spans: Vec<(f64, f64)>,
    /// Positions to sample when it leaves the queue.
    positions: usize,
    /// Queued during a region-loss storm.
    storm: bool,
}

/// Runs the mesh's repair queue and returns the waits it saw.
pub fn simulate_queue(
    config: &Config,
    derived: &Derived,
    profile: &RegionProfile,
    seed: u64,
    budget: QueueBudget,
) -> (WaitTable, QueueStats) {
    let mut sim = QueueSim::new(config, derived, profile, seed, budget);
    sim.run();
    let stats = sim.stats();
    let weights = sim.weights();
    let mut table = sim.table;
    table.finish(weights, &mut sim.rng);
    (table, stats)
}

struct QueueSim<'a> {
    config: &'a Config,
    d: &'a Derived,
    rng: Rng,
    heap: BinaryHeap<Timed>,
    seq: u64,
    next_id: u64,
    queues: Vec<VecDeque<Batch>>,
    table: WaitTable,
    now: f64,
    horizon: f64,
    node_loss_rate: f64,
    node_outage_rate: f64,
    region_rate: f64,
    region_loss_share: f64,
    probe_rate: f64,
    node_work: f64,
    /// Per region event: (class, work per node of the region).
    region_work: Vec<(usize, f64)>,
    /// Work served outside and during region-loss storms.
    served: [f64; 2],
    batches: [u64; 4],
    max_backlog: f64,
    /// How much more often region losses happen here than in truth.
    boost: f64,
    /// Since when a region-loss storm has been under way.
    storm_since: Option<f64>,
    /// Time spent in storms.
    storm_time: f64,
}

impl<'a> QueueSim<'a> {
    fn new(
        config: &'a Config,
        d: &'a Derived,
        profile: &RegionProfile,
        seed: u64,
        budget: QueueBudget,
    ) -> Self {
        let nodes = config.nodes as f64;
        let node_loss_rate = nodes * config.node_loss_rate;
        let node_outage_rate = nodes * config.outage_rate * d.detection_chance(d.outage_duration);
        let region_outage_rate = config.regions as f64
            * config.region_outage_rate
            * d.detection_chance(d.region_outage_duration);
        let region_loss_rate = config.regions as f64 * config.region_loss_rate;
        let node_rate = node_loss_rate + node_outage_rate;
        let levels = d.threshold + 1 - config.k.min(d.threshold + 1);
        let probe_events = budget.probes * levels as f64;
        let room = (budget.max_events as f64 - probe_events).max(budget.max_events as f64 / 2.0);
        // A region's worth of repair, in years: a storm lasts about this.
        let largest_region = d.nodes_per_region.iter().copied().max().unwrap_or(0) as f64;
        let storm = d.transfer_time(largest_region * config.node_data as f64);
        let mut horizon: f64 = 1.0;
        if node_rate > 0.0 {
            horizon = horizon.max(budget.node_batches / node_rate);
        }
        if region_outage_rate > 0.0 {
            horizon = horizon.max(budget.region_events / region_outage_rate);
        }
        if region_loss_rate > 0.0 {
            // Room for a few dozen storms ten storm-lengths apart.
            horizon = horizon.max(40.0 * 10.0 * storm);
        }
        let events_per_year = node_rate + 2.0 * region_outage_rate;
        if events_per_year * horizon > room {
            horizon = (room / events_per_year).max(1.0);
        }
        // Enough storms to measure, kept apart (a tenth of the time at
        // most), never fewer than in truth.
        let mut boost = 1.0;
        if region_loss_rate > 0.0 {
            let wanted = budget
                .region_events
                .min(horizon / (10.0 * storm.max(1e-12)));
            boost = (wanted / (region_loss_rate * horizon)).max(1.0);
        }
        let region_rate = region_outage_rate + boost * region_loss_rate;
        let region_loss_share = if region_rate > 0.0 {
            boost * region_loss_rate / region_rate
        } else {
            0.0
        };
        let probe_rate = budget.probes / horizon;
        let l = d.losses_to_queue as f64;
        let node_work = d.transfer_time(config.node_data as f64 * d.crossing_fraction * l);
        // A region event queues, for every count c of the region's shards a
        // segment holds and every loss f it already carried, the segments
        // pushed to the threshold, at their new held level.
        let mean = profile.mean();
        let mut region_work = Vec::new();
        for (f, pf) in d.below_threshold.iter().enumerate() {
            for (c, pc) in profile.share.iter().enumerate().skip(1) {
                let lost = f + c;
                if *pc == 0.0 || lost < d.losses_to_queue || lost > config.m || mean == 0.0 {
                    continue;
                }
                let bytes_share = c as f64 * pc / mean;
                let bytes = config.node_data as f64 * pf * bytes_share * lost as f64 / c as f64;
                region_work.push((d.n - lost, d.transfer_time(bytes)));
            }
        }
        Self {
            config,
            d,
            rng: Rng::stream(seed, u64::MAX),
            heap: BinaryHeap::new(),
            seq: 0,
            next_id: 0,
            queues: (0..=d.n).map(|_| VecDeque::new()).collect(),
            table: WaitTable::new(d.n),
            now: 0.0,
            horizon,
            node_loss_rate,
            node_outage_rate,
            region_rate,
            region_loss_share,
            probe_rate,
            node_work,
            region_work,
            served: [0.0; 2],
            batches: [0; 4],
            max_backlog: 0.0,
            boost,
            storm_since: None,
            storm_time: 0.0,
        }
    }

    fn push(&mut self, at: f64, event: Event) {
        self.seq += 1;
        self.heap.push(Timed {
            at,
            seq: self.seq,
            event,
        });
    }

    fn schedule(&mut self, source: Source) {
        let rate = match source {
            Source::NodeLoss => self.node_loss_rate,
            Source::NodeOutage => self.node_outage_rate,
            Source::Region => self.region_rate,
            Source::Probe(_) => self.probe_rate,
        };
        let at = self.now + self.rng.exp(rate);
        if at < self.horizon {
            self.push(at, Event::Source(source));
        }
    }

    fn batch(&mut self, cause: Cause, class: usize, arrival: f64, work: f64) -> Batch {
        self.next_id += 1;
        let positions = if cause == Cause::Single { 1 } else { 16 };
        Batch {
            id: self.next_id,
            cause,
            class,
            arrival,
            work,
            done: 0.0,
            spans: Vec::new(),
            positions,
            storm: false,
        }
    }

    /// When the silence that starts now is first seen by a check pass, given
    /// that it is seen before `limit` years.
    fn detection_delay(&mut self, limit: f64) -> f64 {
        let d = self.d;
        let slack = ((limit - d.silence_deadline) / d.check_every).clamp(0.0, 1.0);
        let slack = if d.check_every > 0.0 { slack } else { 0.0 };
        d.silence_deadline + self.rng.uniform() * slack * d.check_every
    }

    fn run(&mut self) {
        self.schedule(Source::NodeLoss);
        self.schedule(Source::NodeOutage);
        self.schedule(Source::Region);
        for class in self.config.k..=self.d.threshold {
            self.schedule(Source::Probe(class));
        }
        while let Some(timed) = self.heap.pop() {
            self.serve_until(timed.at);
            self.now = timed.at;
            match timed.event {
                Event::Source(source) => {
                    self.fire(source);
                    self.schedule(source);
                }
                Event::Arrive(mut batch) => {
                    if batch.cause == Cause::RegionLoss && self.storm_since.is_none() {
                        self.storm_since = Some(self.now);
                    }
                    batch.storm = self.storm_since.is_some();
                    let class = batch.class;
                    self.queues[class].push_back(batch);
                    let backlog: f64 = self.queues.iter().flatten().map(|b| b.work - b.done).sum();
                    self.max_backlog = self.max_backlog.max(backlog);
                }
                Event::Withdraw(id) => self.withdraw(id),
            }
        }
        self.serve_until(self.horizon);
        self.now = self.horizon;
        if let Some(since) = self.storm_since.take() {
            self.storm_time += self.horizon - since;
        }
    }

    /// What a recorded wait weighs, outside and during storms: a storm
    /// sample stands for 1/boost of a true one; the rest share the time
    /// left.
    fn weights(&self) -> [f64; 2] {
        let f_sim = (self.storm_time / self.horizon).min(1.0);
        let f_true = f_sim / self.boost;
        let normal = if f_sim < 1.0 {
            (1.0 - f_true) / (1.0 - f_sim)
        } else {
            0.0
        };
        [normal, 1.0 / self.boost]
    }

    /// Years of repair work that permanent losses bring per year.
    fn offered_load(&self) -> f64 {
        let c = self.config;
        let data = c.nodes as f64 * c.node_data as f64;
        // A region loss (R × rate per year) takes a region's share (1/R).
        let lost_bytes = data * (c.node_loss_rate + c.rot_rate + c.region_loss_rate);
        self.d.transfer_time(lost_bytes)
    }

    /// A per-year rate of something measured as `[outside, during]` storms.
    fn per_year(&self, amounts: [f64; 2]) -> f64 {
        let w = self.weights();
        (amounts[0] * w[0] + amounts[1] * w[1]) / self.horizon
    }

    fn fire(&mut self, source: Source) {
        let now = self.now;
        match source {
            Source::NodeLoss | Source::NodeOutage => {
                if self.node_work <= 0.0 {
                    return;
                }
                let (cause, limit) = match source {
                    Source::NodeLoss => (Cause::NodeLoss, f64::INFINITY),
                    _ => (Cause::NodeOutage, self.d.outage_duration),
                };
                let delay = self.detection_delay(limit);
                let class = self.d.threshold;
                let batch = self.batch(cause, class, now + delay, self.node_work);
                self.batches[cause.index()] += 1;
                if cause == Cause::NodeOutage {
                    self.push(now + limit, Event::Withdraw(batch.id));
                }
                self.push(now + delay, Event::Arrive(batch));
            }
            Source::Region => {
                let lost = self.rng.chance(self.region_loss_share);
                let (cause, limit) = if lost {
                    (Cause::RegionLoss, f64::INFINITY)
                } else {
                    (Cause::RegionOutage, self.d.region_outage_duration)
                };
                self.batches[cause.index()] += 1;
                let region = self.rng.below(self.config.regions);
                let region_nodes = self.d.nodes_per_region[region] as f64;
                let delay = self.detection_delay(limit);
                for (class, work) in self.region_work.clone() {
                    let batch = self.batch(cause, class, now + delay, work * region_nodes);
                    if limit.is_finite() {
                        self.push(now + limit, Event::Withdraw(batch.id));
                    }
                    self.push(now + delay, Event::Arrive(batch));
                }
            }
            Source::Probe(class) => {
                let mut batch = self.batch(Cause::Single, class, now, 0.0);
                batch.storm = self.storm_since.is_some();
                let class = batch.class;
                self.queues[class].push_back(batch);
            }
        }
    }

    /// Serves the queue, most urgent level first, until `until`.
    fn serve_until(&mut self, until: f64) {
        let mut t = self.now;
        loop {
            let Some(class) = self.queues.iter().position(|q| !q.is_empty()) else {
                // Empty: a storm, if one was under way, is over.
                if let Some(since) = self.storm_since.take() {
                    self.storm_time += t - since;
                }
                return;
            };
            let regime = usize::from(self.storm_since.is_some());
            let head = self.queues[class].front_mut().expect("non-empty");
            let continuing = head
                .spans
                .last()
                .is_some_and(|&(start, done0)| start + (head.done - done0) == t);
            if !continuing {
                head.spans.push((t, head.done));
            }
            let remaining = head.work - head.done;
            if t + remaining <= until {
                head.done = head.work;
                t += remaining;
                self.served[regime] += remaining;
                let batch = self.queues[class].pop_front().expect("non-empty");
                self.record(&batch);
            } else {
                let step = until - t;
                head.done += step;
                self.served[regime] += step;
                return;
            }
        }
    }

    fn withdraw(&mut self, id: u64) {
        for q in &mut self.queues {
            if let Some(pos) = q.iter().position(|b| b.id == id) {
                let batch = q.remove(pos).expect("found");
                self.record(&batch);
                return;
            }
        }
    }

    /// Records the waits of `positions` uniformly placed segments of a batch
    /// leaving the queue (served in full, or withdrawn: those not yet
    /// served never are).
    fn record(&mut self, batch: &Batch) {
        for _ in 0..batch.positions {
            let at = batch.work * self.rng.uniform();
            let wait = if at <= batch.done {
                let &(start, done0) = batch
                    .spans
                    .iter()
                    .rev()
                    .find(|&&(_, done0)| done0 <= at)
                    .expect("served work has a span");
                start + (at - done0) - batch.arrival
            } else {
                f64::INFINITY
            };
            self.table
                .push(batch.cause, batch.class, wait, batch.storm, &mut self.rng);
        }
    }

    fn stats(&self) -> QueueStats {
        let served = self.per_year(self.served);
        let rot = self.config.rot_rate * self.config.nodes as f64 * self.config.node_data as f64;
        QueueStats {
            years: self.horizon,
            batches: self.batches,
            rebuilt_bytes_per_year: served * self.d.throughput + rot,
            busy_fraction: served,
            offered_load: self.offered_load(),
            max_backlog_seconds: self.max_backlog * crate::config::SECONDS_PER_YEAR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SECONDS_PER_YEAR;

    fn run(config: &Config) -> (WaitTable, QueueStats) {
        let d = Derived::new(config);
        let profile = RegionProfile::sample(&d.nodes_per_region, d.n, config.m, 2000);
        simulate_queue(config, &d, &profile, 1, QueueBudget::thorough())
    }

    #[test]
    fn node_loss_waits_spread_over_the_drain() {
        let mut c = Config::production();
        c.outage_rate = 0.0;
        c.region_outage_rate = 0.0;
        c.rot_rate = 0.0;
        let (table, stats) = run(&c);
        // 1 TiB at 64 MiB/s drains in 16,384 s; a segment waits for its
        // place in the drain (mean 8,192 s), a little more when another
        // node's batch is still draining (busy ~12 % of the time).
        let mean = table.mean(Cause::NodeLoss, 5) * SECONDS_PER_YEAR;
        assert!(mean > 8_000.0 && mean < 10_500.0, "{mean}");
        let expected_busy = 1000.0 * c.node_loss_rate * 16_384.0 / SECONDS_PER_YEAR;
        assert!(
            (stats.busy_fraction / expected_busy - 1.0).abs() < 0.1,
            "{} vs {expected_busy}",
            stats.busy_fraction
        );
        // Every lost byte is rebuilt once.
        let lost = 1000.0 * c.node_loss_rate * c.node_data as f64;
        assert!((stats.rebuilt_bytes_per_year / lost - 1.0).abs() < 0.1);
        // A lone segment at the threshold waits for the backlog ahead of it:
        // nothing most of the time.
        let probe = table.mean(Cause::Single, 5) * SECONDS_PER_YEAR;
        assert!(probe < mean, "{probe}");
        // One level down (4 held) nothing is ever queued ahead.
        assert_eq!(table.mean(Cause::Single, 4), 0.0);
    }

    #[test]
    fn outages_shorter_than_the_deadline_queue_nothing() {
        let mut c = Config::production();
        c.node_loss_rate = 0.0;
        c.region_outage_rate = 0.0;
        c.outage_duration = 600.0;
        let (_, stats) = run(&c);
        assert_eq!(stats.batches, [0, 0, 0, 0]);
        c.outage_duration = 3600.0;
        let (table, stats) = run(&c);
        assert!(stats.batches[1] > 0);
        // Withdrawn when the node comes back: some segments never repaired.
        let s = table.samples(Cause::NodeOutage, 5);
        assert!(s.iter().any(|w| w.is_infinite()));
        assert!(s.iter().any(|w| w.is_finite()));
        // Work done before the node returns is at most 45 min per outage.
        let per_outage = stats.rebuilt_bytes_per_year / (1000.0 * c.outage_rate);
        let cap = 45.0 * 60.0 * c.gateway_repair_rate;
        assert!(per_outage <= cap * 1.01, "{per_outage} > {cap}");
    }

    #[test]
    fn a_region_loss_queues_the_region_ahead_of_node_losses() {
        let mut c = Config::production();
        c.region_loss_rate = 0.01;
        c.region_outage_rate = 0.0;
        c.outage_rate = 0.0;
        let (table, stats) = run(&c);
        assert!(stats.batches[2] > 0);
        // A third of 1,000 TiB at 64 MiB/s is about two months.
        let region_mean = table.mean(Cause::RegionLoss, 4) * SECONDS_PER_YEAR / 86_400.0;
        assert!(
            region_mean > 20.0 && region_mean < 45.0,
            "{region_mean} days"
        );
        assert!(stats.max_backlog_seconds > 40.0 * 86_400.0);
    }
}
