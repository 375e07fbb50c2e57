//! Putting the pieces together: one full evaluation ([`evaluate`]) and the
//! cheap estimate ([`estimate`]).

use serde::Serialize;

use crate::analytic::{Analytic, analyze};
use crate::closed_form::{backblaze_annual_loss, nines, storj_annual_loss, storj_monthly_loss};
use crate::config::{Config, ConfigError, Derived, SECONDS_PER_YEAR, monthly_churn_from_rate};
use crate::montecarlo::{McBudget, McResult, simulate_segments};
use crate::placement::RegionProfile;
use crate::queue::{QueueBudget, QueueStats, simulate_queue};

/// How much work a full evaluation does.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Seed of every random stream.
    pub seed: u64,
    /// Segment histories for plain Monte Carlo.
    pub segments: u64,
    /// Years per history.
    pub years: f64,
    /// Segment histories for importance-sampled Monte Carlo (0: skip).
    pub importance_segments: u64,
    /// Worker threads.
    pub threads: usize,
    /// The repair-queue simulation's size.
    pub queue: QueueBudget,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            seed: 1,
            segments: 200_000,
            years: 10.0,
            importance_segments: 50_000,
            threads: 1,
            queue: QueueBudget::thorough(),
        }
    }
}

/// Events the plain Monte Carlo may spend by default (a few seconds).
const PLAIN_EVENTS: f64 = 6e7;
/// Events the importance-sampled run may spend by default.
const IMPORTANCE_EVENTS: f64 = 6e7;

impl Budget {
    /// A budget sized for `config`: histories of `years`, as many as fit
    /// in a few seconds' worth of simulated events (a deterministic
    /// estimate from the rates, so the result does not depend on the
    /// machine).
    pub fn for_config(config: &Config, years: f64, seed: u64, threads: usize) -> Self {
        let per_year = events_per_segment_year(config).max(1e-9);
        let histories = |events: f64| ((events / (per_year * years)) as u64).clamp(1000, 2_000_000);
        Self {
            seed,
            segments: histories(PLAIN_EVENTS),
            years,
            importance_segments: histories(IMPORTANCE_EVENTS / 2.0),
            threads,
            queue: QueueBudget::thorough(),
        }
    }
}

/// A rough count of simulated events per segment-year: every event that
/// breaks full health opens an excursion of a handful of events.
pub fn events_per_segment_year(config: &Config) -> f64 {
    let d = Derived::new(config);
    let n = d.n as f64;
    let used = (config.regions.min(d.n)) as f64;
    let quiet = n
        * (config.node_loss_rate
            + config.rot_rate
            + config.outage_rate * d.detection_chance(d.outage_duration))
        + used
            * (config.region_outage_rate * d.detection_chance(d.region_outage_duration)
                + config.region_loss_rate);
    5.0 * quiet + 1.0
}

/// A loss rate and what it means over a year.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Durability {
    /// Losses per segment-year.
    pub loss_rate: f64,
    /// Probability of losing a given segment within a year.
    pub segment_loss: f64,
    /// Probability of losing a given object (any of its segments) within a
    /// year, segments taken as independent.
    pub object_loss: f64,
    /// `-log10(segment_loss)`.
    pub segment_nines: f64,
    /// `-log10(object_loss)`.
    pub object_nines: f64,
}

impl Durability {
    /// The figures of a loss rate for objects of `segments_per_object`.
    pub fn from_rate(loss_rate: f64, segments_per_object: u64) -> Self {
        let segment_loss = -(-loss_rate).exp_m1();
        let object_loss = -(-loss_rate * segments_per_object as f64).exp_m1();
        Self {
            loss_rate,
            segment_loss,
            object_loss,
            segment_nines: nines(segment_loss),
            object_nines: nines(object_loss),
        }
    }
}

/// A Monte Carlo estimate with its 95 % interval.
#[derive(Clone, Debug, Serialize)]
pub struct McEstimate {
    /// The run's raw figures.
    pub run: McResult,
    /// The point estimate.
    pub durability: Durability,
    /// Nines at the upper end of the 95 % interval of the loss rate (the
    /// fewest nines consistent with the run).
    pub nines_low: f64,
    /// Nines at the lower end (infinite when it reaches 0).
    pub nines_high: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Segment-years per second per thread.
    pub segment_years_per_second_per_thread: f64,
}

impl McEstimate {
    fn new(run: McResult, segments_per_object: u64, seconds: f64, threads: usize) -> Self {
        let half = 1.96 * run.loss_rate_stderr;
        // With no loss at all, the 95 % upper bound is 3 per exposure.
        let upper = if run.losses_seen == 0 {
            3.0 / run.segment_years
        } else {
            run.loss_rate + half
        };
        let lower = (run.loss_rate - half).max(0.0);
        let durability = Durability::from_rate(run.loss_rate, segments_per_object);
        Self {
            durability,
            nines_low: nines(-(-upper).exp_m1()),
            nines_high: nines(-(-lower).exp_m1()),
            segment_years_per_second_per_thread: run.segment_years
                / seconds.max(1e-9)
                / threads.max(1) as f64,
            seconds,
            run,
        }
    }

    /// Whether `rate` lies within this estimate's 95 % interval.
    pub fn agrees_with(&self, rate: f64) -> bool {
        let half = 1.96 * self.run.loss_rate_stderr;
        if self.run.losses_seen == 0 {
            return rate <= 3.0 / self.run.segment_years;
        }
        (rate - self.run.loss_rate).abs() <= half
    }
}

/// The two published closed forms, applied to this configuration.
#[derive(Clone, Debug, Serialize)]
pub struct CrossChecks {
    /// Backblaze's window: the mean time from a node loss to its rebuild.
    pub backblaze_window_days: f64,
    /// Backblaze's binomial model, per segment.
    pub backblaze: Durability,
    /// Storj's monthly churn equivalent of the shard loss rate.
    pub storj_monthly_churn: f64,
    /// Storj's Poisson bound (no repair within a month), per segment-month.
    pub storj_monthly_loss: f64,
    /// Storj's bound over a year, per segment.
    pub storj: Durability,
}

/// Everything `cairn simulate` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The configuration evaluated.
    pub config: Config,
    /// Shards per segment.
    pub shards: usize,
    /// The effective repair threshold.
    pub repair_threshold: usize,
    /// Bytes per shard.
    pub shard_bytes: f64,
    /// Repair upload throughput of the mesh, bytes per second.
    pub repair_throughput: f64,
    /// Seconds to rebuild one lost node's shards at that throughput.
    pub node_drain_seconds: f64,
    /// The repair queue simulation.
    pub queue: QueueStats,
    /// Mean seconds from a node loss to its shards' rebuild.
    pub mean_repair_window_seconds: f64,
    /// Repair traffic per node per day: rebuilt bytes received plus the
    /// shards read to rebuild them.
    pub repair_bytes_per_node_per_day: f64,
    /// The analytic model.
    pub analytic: Analytic,
    /// Its durability.
    pub analytic_durability: Durability,
    /// Plain Monte Carlo.
    pub monte_carlo: McEstimate,
    /// Importance-sampled Monte Carlo (the tail).
    pub importance_sampling: Option<McEstimate>,
    /// Whether the analytic figure lies within the Monte Carlo interval
    /// (importance-sampled when run, else plain).
    pub agree: bool,
    /// Mean hours per segment-year below full redundancy (plain run).
    pub degraded_hours_per_year: f64,
    /// Mean hours of one spell below full redundancy (plain run).
    pub mean_degraded_spell_hours: f64,
    /// The published closed forms.
    pub cross_checks: CrossChecks,
    /// What to keep in mind reading the figures.
    pub warnings: Vec<String>,
}

/// Runs the queue, the analytic model, both Monte Carlo runs and the cross
/// checks.
pub fn evaluate(config: &Config, budget: Budget) -> Result<Report, ConfigError> {
    config.validate()?;
    let d = Derived::new(config);
    let profile = RegionProfile::sample(&d.nodes_per_region, d.n, config.m, 4096);
    let (waits, queue) = simulate_queue(config, &d, &profile, budget.seed, budget.queue);
    let analytic = analyze(config, &d, &waits, &profile);
    let spo = config.segments_per_object;

    let started = std::time::Instant::now();
    let plain = simulate_segments(
        config,
        &d,
        &waits,
        McBudget {
            segments: budget.segments,
            years: budget.years,
            seed: budget.seed,
            threads: budget.threads,
            importance: false,
        },
    );
    let plain = McEstimate::new(plain, spo, started.elapsed().as_secs_f64(), budget.threads);
    let importance = (budget.importance_segments > 0).then(|| {
        let started = std::time::Instant::now();
        let run = simulate_segments(
            config,
            &d,
            &waits,
            McBudget {
                segments: budget.importance_segments,
                years: budget.years,
                seed: budget.seed ^ 0x1a5e_ed00,
                threads: budget.threads,
                importance: true,
            },
        );
        McEstimate::new(run, spo, started.elapsed().as_secs_f64(), budget.threads)
    });
    let reference = importance.as_ref().unwrap_or(&plain);
    let agree = reference.agrees_with(analytic.loss_rate);

    let window_days = analytic.mean_repair_window * 365.25;
    let backblaze = backblaze_annual_loss(config.k, config.m, d.shard_loss_rate, window_days);
    let churn = monthly_churn_from_rate(d.shard_loss_rate);
    let storj_month = storj_monthly_loss(config.k, d.n, churn);
    let storj_year = storj_annual_loss(config.k, d.n, churn);
    let cross_checks = CrossChecks {
        backblaze_window_days: window_days,
        backblaze: Durability::from_rate(-(-backblaze).ln_1p(), spo),
        storj_monthly_churn: churn,
        storj_monthly_loss: storj_month,
        storj: Durability::from_rate(-(-storj_year).ln_1p(), spo),
    };
    // Each rebuilt byte lands on one node and is rebuilt from k shards of
    // the same size read from k others (fewer per byte when a repair
    // rebuilds several shards at once).
    let per_rebuilt = 1.0 + config.k as f64 / d.losses_to_queue as f64;
    let repair_bytes_per_node_per_day =
        queue.rebuilt_bytes_per_year * per_rebuilt / config.nodes as f64 / 365.25;
    let mut warnings = Vec::new();
    let load = queue.offered_load.max(queue.busy_fraction);
    if load > 0.9 {
        warnings.push(format!(
            "repair cannot keep up: lost data arrives at {:.0} % of the repair bandwidth, so \
             the backlog grows for as long as the mesh runs; the figures hold only for the \
             {:.0} simulated years",
            100.0 * load,
            queue.years
        ));
    }
    let exposure = d.n as f64 * d.shard_loss_rate * analytic.mean_repair_window;
    if exposure > 0.01 {
        warnings.push(format!(
            "the analytic model is first-order in shards x loss rate x repair window \
             (here {exposure:.3}); trust the Monte Carlo"
        ));
    }
    if !agree {
        warnings.push(
            "the analytic figure lies outside the Monte Carlo's 95 % interval (rot or \
             outages dominating, or a window long next to the loss rate: see the model's \
             limits in docs/DURABILITY.md)"
                .to_string(),
        );
    }
    Ok(Report {
        config: config.clone(),
        shards: d.n,
        repair_threshold: d.threshold,
        shard_bytes: d.shard_len,
        repair_throughput: d.throughput / SECONDS_PER_YEAR,
        node_drain_seconds: d.transfer_time(config.node_data as f64) * SECONDS_PER_YEAR,
        mean_repair_window_seconds: analytic.mean_repair_window * SECONDS_PER_YEAR,
        repair_bytes_per_node_per_day,
        analytic_durability: Durability::from_rate(analytic.loss_rate, spo),
        degraded_hours_per_year: plain.run.degraded_fraction * 365.25 * 24.0,
        mean_degraded_spell_hours: plain.run.mean_spell() * 365.25 * 24.0,
        analytic,
        monte_carlo: plain,
        importance_sampling: importance,
        agree,
        queue,
        cross_checks,
        warnings,
    })
}

/// The cheap estimate: a short repair-queue simulation and the analytic
/// model, no segment Monte Carlo (milliseconds for a small mesh).
#[derive(Clone, Debug, Serialize)]
pub struct Estimate {
    /// The analytic durability.
    pub durability: Durability,
    /// Mean seconds from a node loss to its shards' rebuild.
    pub mean_repair_window_seconds: f64,
    /// Repair traffic per node per day (received plus sent).
    pub repair_bytes_per_node_per_day: f64,
}

/// Estimates the durability of `config` cheaply (see [`Estimate`]).
pub fn estimate(config: &Config) -> Result<Estimate, ConfigError> {
    config.validate()?;
    let d = Derived::new(config);
    let profile = RegionProfile::sample(&d.nodes_per_region, d.n, config.m, 512);
    let (waits, queue) = simulate_queue(config, &d, &profile, 1, QueueBudget::quick());
    let analytic = analyze(config, &d, &waits, &profile);
    let per_rebuilt = 1.0 + config.k as f64 / d.losses_to_queue as f64;
    Ok(Estimate {
        durability: Durability::from_rate(analytic.loss_rate, config.segments_per_object),
        mean_repair_window_seconds: analytic.mean_repair_window * SECONDS_PER_YEAR,
        repair_bytes_per_node_per_day: queue.rebuilt_bytes_per_year * per_rebuilt
            / config.nodes as f64
            / 365.25,
    })
}
