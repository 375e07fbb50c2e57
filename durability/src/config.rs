//! The model's inputs ([`Config`]), Cairn's presets, and the quantities
//! derived from them once ([`Derived`]).

use serde::Serialize;

/// Seconds in the model's year (365.25 days).
pub const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

/// Bytes the codec adds to every segment before splitting it (the AEAD tag).
const SEGMENT_OVERHEAD: u64 = 16;

/// Largest `k + m` the model takes (Cairn's codec allows 32 + 32).
pub const MAX_SHARDS: usize = 64;

/// Everything the model takes. Durations are in seconds, rates per year,
/// sizes in bytes, bandwidths in bytes per second.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    /// Data shards per segment.
    pub k: usize,
    /// Parity shards per segment.
    pub m: usize,
    /// A segment is repaired once the shards the gateway counts as held
    /// are at most this many (Cairn's default is `k + 1`); values of
    /// `k + m` or more act as `k + m - 1`, as in the gateway.
    pub repair_threshold: usize,
    /// Segment size (Cairn's default 8 MiB).
    pub segment_size: u64,
    /// Segments per object, for the per-object figure.
    pub segments_per_object: u64,
    /// Storage nodes in the mesh. The mesh keeps its size: a node that
    /// leaves is replaced by a new one.
    pub nodes: usize,
    /// Regions the nodes are spread over, evenly.
    pub regions: usize,
    /// Shard bytes each node holds (what a lost node takes with it).
    pub node_data: u64,
    /// Permanent node losses per node-year (hardware failure, an operator
    /// leaving for good): the node's shards are gone.
    pub node_loss_rate: f64,
    /// Shards lost or corrupted on a node that stays up, per shard-year
    /// (bit rot, a deleted file); found by audits.
    pub rot_rate: f64,
    /// Transient node outages per node-year (reboots, network trouble): the
    /// shards come back.
    pub outage_rate: f64,
    /// How long a transient node outage lasts.
    pub outage_duration: f64,
    /// Whole-region outages per region-year (every node of the region
    /// unreachable at once; the shards come back).
    pub region_outage_rate: f64,
    /// How long a region outage lasts.
    pub region_outage_duration: f64,
    /// Whole-region losses per region-year (every node of the region and
    /// its shards gone at once).
    pub region_loss_rate: f64,
    /// A node silent this long is dead (`--dead-after`).
    pub dead_after: f64,
    /// A dead node's shards count as lost this much later (`--repair-grace`).
    pub repair_grace: f64,
    /// The checker passes over every manifest this often (`--check-every`):
    /// a loss is queued for repair at the first pass after it is known.
    pub check_every: f64,
    /// Mean time until any given shard is audited (Cairn's audit cycle,
    /// one day): how long a rotten shard goes unnoticed.
    pub audit_cycle: f64,
    /// Repair upload bandwidth of one gateway (`--repair-rate`).
    pub gateway_repair_rate: f64,
    /// Gateways repairing in parallel, each its own share of the data.
    pub gateways: usize,
    /// Bandwidth each node gives to repair (serving k shards, receiving
    /// the rebuilt one).
    pub node_repair_bandwidth: f64,
}

/// Why a [`Config`] cannot be modelled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `k` is zero or `k + m` is too large.
    #[error("k must be at least 1 and k + m at most {MAX_SHARDS} (got {k} + {m})")]
    Scheme {
        /// Data shards.
        k: usize,
        /// Parity shards.
        m: usize,
    },
    /// Fewer nodes than shards per segment.
    #[error("{nodes} nodes cannot hold {shards} shards of a segment on distinct nodes")]
    TooFewNodes {
        /// Nodes.
        nodes: usize,
        /// Shards per segment.
        shards: usize,
    },
    /// No regions, or more regions than nodes.
    #[error("regions must be between 1 and the number of nodes (got {0})")]
    Regions(usize),
    /// A rate, duration or size that is negative, not finite, or zero where
    /// it must not be.
    #[error("{name} must be {rule} (got {value})")]
    Value {
        /// The field.
        name: &'static str,
        /// What it must be.
        rule: &'static str,
        /// What it was.
        value: f64,
    },
}

impl Config {
    /// Cairn's production defaults (dead after 5 min, repair grace 10 min,
    /// a check pass every 5 min, 4+2, 64 MiB/s of repair per gateway) on
    /// 1,000 nodes in 3 regions holding 1 TiB each, under the stated churn
    /// model: 2 % of nodes leave for good each month, one reboot-sized
    /// outage (10 min) per node-month, one shard in 10,000 rots per year,
    /// one 1-hour outage per region-year, no region ever lost.
    pub fn production() -> Self {
        Self {
            k: 4,
            m: 2,
            repair_threshold: 5,
            segment_size: 8 << 20,
            segments_per_object: 16,
            nodes: 1000,
            regions: 3,
            node_data: 1 << 40,
            node_loss_rate: rate_from_monthly_churn(0.02),
            rot_rate: 1e-4,
            outage_rate: 12.0,
            outage_duration: 600.0,
            region_outage_rate: 1.0,
            region_outage_duration: 3600.0,
            region_loss_rate: 0.0,
            dead_after: 300.0,
            repair_grace: 600.0,
            check_every: 300.0,
            audit_cycle: 86_400.0,
            gateway_repair_rate: (64u64 << 20) as f64,
            gateways: 1,
            node_repair_bandwidth: (10u64 << 20) as f64,
        }
    }

    /// Cairn's devnet defaults (6 nodes in 3 regions, 4+2, dead after 10 s,
    /// grace 10 s, a check pass every 5 s, 256 MiB/s of repair) with 1 GiB
    /// per node, under the same churn model as [`Config::production`].
    pub fn devnet() -> Self {
        Self {
            nodes: 6,
            regions: 3,
            node_data: 1 << 30,
            dead_after: 10.0,
            repair_grace: 10.0,
            check_every: 5.0,
            gateway_repair_rate: (256u64 << 20) as f64,
            node_repair_bandwidth: (1u64 << 30) as f64,
            ..Self::production()
        }
    }

    /// Shards per segment.
    pub fn shards(&self) -> usize {
        self.k + self.m
    }

    /// The repair threshold as the gateway applies it: at most `k + m - 1`.
    pub fn effective_threshold(&self) -> usize {
        self.repair_threshold.min(self.shards().saturating_sub(1))
    }

    /// Checks that the model can take this configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.k == 0 || self.shards() > MAX_SHARDS {
            return Err(ConfigError::Scheme {
                k: self.k,
                m: self.m,
            });
        }
        if self.nodes < self.shards() {
            return Err(ConfigError::TooFewNodes {
                nodes: self.nodes,
                shards: self.shards(),
            });
        }
        if self.regions == 0 || self.regions > self.nodes || self.regions > u16::MAX as usize {
            return Err(ConfigError::Regions(self.regions));
        }
        let non_negative = [
            ("node loss rate", self.node_loss_rate),
            ("rot rate", self.rot_rate),
            ("outage rate", self.outage_rate),
            ("outage duration", self.outage_duration),
            ("region outage rate", self.region_outage_rate),
            ("region outage duration", self.region_outage_duration),
            ("region loss rate", self.region_loss_rate),
            ("dead-after", self.dead_after),
            ("repair grace", self.repair_grace),
            ("check interval", self.check_every),
            ("audit cycle", self.audit_cycle),
        ];
        for (name, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError::Value {
                    name,
                    rule: "a finite number at least 0",
                    value,
                });
            }
        }
        let positive = [
            ("segment size", self.segment_size as f64),
            ("segments per object", self.segments_per_object as f64),
            ("gateway repair rate", self.gateway_repair_rate),
            ("gateways", self.gateways as f64),
            ("node repair bandwidth", self.node_repair_bandwidth),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::Value {
                    name,
                    rule: "a finite number above 0",
                    value,
                });
            }
        }
        Ok(())
    }
}

/// The loss rate per node-year of a monthly churn: a fraction `p` of the
/// nodes leaving within a month is a rate of `-12 ln(1 - p)` per year.
pub fn rate_from_monthly_churn(p: f64) -> f64 {
    -12.0 * (-p).ln_1p()
}

/// The monthly churn (fraction of nodes leaving within a month) of a loss
/// rate per node-year; the inverse of [`rate_from_monthly_churn`].
pub fn monthly_churn_from_rate(rate: f64) -> f64 {
    -(-rate / 12.0).exp_m1()
}

/// What the simulators and the analytic model need, computed once from a
/// valid [`Config`]. Times here are in years.
#[derive(Clone, Debug)]
pub struct Derived {
    /// Shards per segment, `k + m`.
    pub n: usize,
    /// Held shards at or below which a segment is queued for repair.
    pub threshold: usize,
    /// Shards a segment must lose before it is queued: `n - threshold`.
    pub losses_to_queue: usize,
    /// Bytes per shard.
    pub shard_len: f64,
    /// Rate per shard of permanent loss (node loss plus rot), per year.
    pub shard_loss_rate: f64,
    /// A silent node's shards count as lost this long after it went silent
    /// (dead-after plus grace), before the wait for a check pass.
    pub silence_deadline: f64,
    /// The check pass interval.
    pub check_every: f64,
    /// Mean time until a rotten shard is audited.
    pub audit_cycle: f64,
    /// Repair upload throughput of the whole mesh, bytes per year.
    pub throughput: f64,
    /// Fraction of a node's segments that a loss of that node pushes to the
    /// repair threshold (every segment when one loss queues it).
    pub crossing_fraction: f64,
    /// Stationary distribution of losses a segment carries below the
    /// threshold (index = losses), used when more than one loss is needed
    /// before repair.
    pub below_threshold: Vec<f64>,
    /// Nodes in each region.
    pub nodes_per_region: Vec<usize>,
    /// Transient outage duration, years.
    pub outage_duration: f64,
    /// Region outage duration, years.
    pub region_outage_duration: f64,
}

impl Derived {
    /// Derives the model's working quantities. The configuration must be
    /// valid.
    pub fn new(config: &Config) -> Self {
        let n = config.shards();
        let threshold = config.effective_threshold();
        let losses_to_queue = n - threshold;
        let shard_len =
            config.segment_size.saturating_add(SEGMENT_OVERHEAD) as f64 / config.k as f64;
        let shard_len = shard_len.ceil();
        let shard_loss_rate = config.node_loss_rate + config.rot_rate;
        let gateway_side = config.gateways as f64 * config.gateway_repair_rate;
        // Each rebuilt byte is k bytes read from the holders and one byte
        // written to its new node, spread over the other nodes.
        let node_side =
            (config.nodes.max(2) - 1) as f64 * config.node_repair_bandwidth / (config.k + 1) as f64;
        let throughput = gateway_side.min(node_side) * SECONDS_PER_YEAR;
        // Below the threshold a segment only loses shards: the time spent
        // with f losses is 1 / ((n - f) x rate), so the stationary share of
        // f is proportional to 1 / (n - f).
        let weights: Vec<f64> = (0..losses_to_queue).map(|f| 1.0 / (n - f) as f64).collect();
        let total: f64 = weights.iter().sum();
        let below_threshold: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let crossing_fraction = *below_threshold.last().expect("at least one state");
        let nodes_per_region = (0..config.regions)
            .map(|r| config.nodes / config.regions + usize::from(r < config.nodes % config.regions))
            .collect();
        Self {
            n,
            threshold,
            losses_to_queue,
            shard_len,
            shard_loss_rate,
            silence_deadline: (config.dead_after + config.repair_grace) / SECONDS_PER_YEAR,
            check_every: config.check_every / SECONDS_PER_YEAR,
            audit_cycle: config.audit_cycle / SECONDS_PER_YEAR,
            throughput,
            crossing_fraction,
            below_threshold,
            nodes_per_region,
            outage_duration: config.outage_duration / SECONDS_PER_YEAR,
            region_outage_duration: config.region_outage_duration / SECONDS_PER_YEAR,
        }
    }

    /// Years the mesh takes to upload `bytes` of rebuilt shards.
    pub fn transfer_time(&self, bytes: f64) -> f64 {
        bytes / self.throughput
    }

    /// Probability that an outage of `duration` years is noticed: it must
    /// outlast the deadline and then reach a check pass.
    pub fn detection_chance(&self, duration: f64) -> f64 {
        let slack = duration - self.silence_deadline;
        if slack <= 0.0 {
            0.0
        } else if self.check_every <= 0.0 || slack >= self.check_every {
            1.0
        } else {
            slack / self.check_every
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_match_cairns_settings() {
        let p = Config::production();
        p.validate().unwrap();
        assert_eq!((p.k, p.m, p.effective_threshold()), (4, 2, 5));
        assert_eq!((p.dead_after, p.repair_grace), (300.0, 600.0));
        assert_eq!(p.gateway_repair_rate, 64.0 * 1024.0 * 1024.0);
        let d = Config::devnet();
        d.validate().unwrap();
        assert_eq!((d.dead_after, d.repair_grace, d.nodes), (10.0, 10.0, 6));
        assert_eq!(d.gateway_repair_rate, 256.0 * 1024.0 * 1024.0);
    }

    #[test]
    fn churn_conversions_are_inverse() {
        let rate = rate_from_monthly_churn(0.02);
        assert!((rate - 0.242_43).abs() < 1e-4, "{rate}");
        assert!((monthly_churn_from_rate(rate) - 0.02).abs() < 1e-12);
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let mut c = Config::production();
        c.nodes = 5;
        assert!(matches!(c.validate(), Err(ConfigError::TooFewNodes { .. })));
        let mut c = Config::production();
        c.k = 0;
        assert!(matches!(c.validate(), Err(ConfigError::Scheme { .. })));
        let mut c = Config::production();
        c.node_loss_rate = f64::NAN;
        assert!(matches!(c.validate(), Err(ConfigError::Value { .. })));
        let mut c = Config::production();
        c.regions = 0;
        assert!(matches!(c.validate(), Err(ConfigError::Regions(0))));
    }

    #[test]
    fn derived_quantities() {
        let c = Config::production();
        let d = Derived::new(&c);
        assert_eq!((d.n, d.threshold, d.losses_to_queue), (6, 5, 1));
        assert_eq!(d.shard_len, ((8u64 << 20) + 16).div_ceil(4) as f64);
        assert_eq!(d.crossing_fraction, 1.0);
        // 1 TiB at 64 MiB/s is 16,384 s.
        let drain = d.transfer_time(c.node_data as f64) * SECONDS_PER_YEAR;
        assert!((drain - 16_384.0).abs() < 1e-6, "{drain}");
        assert_eq!(d.nodes_per_region, vec![334, 333, 333]);
        assert_eq!(d.detection_chance(600.0 / SECONDS_PER_YEAR), 0.0);
        assert_eq!(d.detection_chance(3600.0 / SECONDS_PER_YEAR), 1.0);
        let mut lazy = c.clone();
        lazy.repair_threshold = 4;
        let d = Derived::new(&lazy);
        assert_eq!(d.losses_to_queue, 2);
        // Shares 1/6 and 1/5, normalised.
        assert!((d.crossing_fraction - (1.0 / 5.0) / (1.0 / 6.0 + 1.0 / 5.0)).abs() < 1e-12);
    }
}
