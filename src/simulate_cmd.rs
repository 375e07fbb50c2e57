//! `cairn simulate`: how likely data is to be lost within a year, for a
//! configuration of erasure code, repair and churn (the `durability`
//! crate: repair-queue simulation, segment Monte Carlo with importance
//! sampling, an analytic tail, and two published closed forms).

use std::process::ExitCode;

use bytesize::ByteSize;
use durability::config::monthly_churn_from_rate;
use durability::{Budget, Config, Report, rate_from_monthly_churn};

/// Arguments of `cairn simulate`. Every setting defaults to the preset's.
#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Start from Cairn's production or devnet settings.
    #[arg(long, value_enum, default_value = "production")]
    preset: Preset,
    /// Data shards per segment.
    #[arg(long)]
    k: Option<usize>,
    /// Parity shards per segment.
    #[arg(long)]
    m: Option<usize>,
    /// Repair a segment once its healthy shards are at most this many
    /// (default k + m - 1, as the gateway: at the first loss).
    #[arg(long)]
    repair_threshold: Option<usize>,
    /// Segment size, e.g. 8MiB.
    #[arg(long)]
    segment_size: Option<ByteSize>,
    /// Segments per object (for the per-object figure).
    #[arg(long)]
    segments_per_object: Option<u64>,
    /// Storage nodes in the mesh (kept constant: a node that leaves is
    /// replaced).
    #[arg(long)]
    nodes: Option<usize>,
    /// Regions the nodes are spread over.
    #[arg(long)]
    regions: Option<usize>,
    /// Shard bytes each node holds, e.g. 1TiB.
    #[arg(long)]
    node_data: Option<ByteSize>,
    /// Nodes lost for good per month, e.g. 2% (or 0.02).
    #[arg(long, value_parser = fraction, conflicts_with = "afr")]
    monthly_churn: Option<f64>,
    /// Nodes lost for good as failures per node-year (Backblaze's annual
    /// failure rate), e.g. 1.5%.
    #[arg(long, value_parser = fraction)]
    afr: Option<f64>,
    /// Shards that rot (corrupt or missing on a live node) per shard-year.
    #[arg(long, value_parser = fraction)]
    rot_rate: Option<f64>,
    /// Transient node outages per node-year.
    #[arg(long)]
    outage_rate: Option<f64>,
    /// How long a transient node outage lasts, e.g. 10m.
    #[arg(long)]
    outage_duration: Option<humantime::Duration>,
    /// Whole-region outages per region-year.
    #[arg(long)]
    region_outage_rate: Option<f64>,
    /// How long a region outage lasts, e.g. 1h.
    #[arg(long)]
    region_outage_duration: Option<humantime::Duration>,
    /// Whole regions lost for good per region-year.
    #[arg(long)]
    region_loss_rate: Option<f64>,
    /// A node silent this long is dead (the gateway's --dead-after).
    #[arg(long)]
    dead_after: Option<humantime::Duration>,
    /// A dead node's shards are repaired after this much more.
    #[arg(long)]
    repair_grace: Option<humantime::Duration>,
    /// The gateway checks every manifest this often.
    #[arg(long)]
    check_every: Option<humantime::Duration>,
    /// Mean time until any given shard is audited, e.g. 1d.
    #[arg(long)]
    audit_cycle: Option<humantime::Duration>,
    /// Repair upload bandwidth per gateway, e.g. 64MiB (per second).
    #[arg(long)]
    repair_rate: Option<ByteSize>,
    /// Gateways repairing in parallel (each its share of the data).
    #[arg(long)]
    gateways: Option<usize>,
    /// Bandwidth each node gives to repair, e.g. 10MiB (per second).
    #[arg(long)]
    node_bandwidth: Option<ByteSize>,
    /// Seed of every random stream (same seed, same figures).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Segment histories for plain Monte Carlo (default: a few seconds'
    /// worth for this configuration).
    #[arg(long)]
    segments: Option<u64>,
    /// Years per segment history.
    #[arg(long, default_value_t = 10.0)]
    years: f64,
    /// Segment histories for importance-sampled Monte Carlo (0: skip).
    #[arg(long)]
    importance_segments: Option<u64>,
    /// Worker threads (default: all cores; the figures do not depend on it).
    #[arg(long)]
    threads: Option<usize>,
    /// Instead: which k, m and repair threshold reach each of these nines
    /// per object (comma-separated, e.g. 9,11,13) at the least storage
    /// overhead, on this mesh and churn.
    #[arg(long, value_delimiter = ',')]
    recommend: Vec<f64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Preset {
    Production,
    Devnet,
}

/// Parses `2%` or `0.02`.
fn fraction(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (text, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a number or percentage: {text}"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("must be at least 0: {text}"));
    }
    Ok(value * scale)
}

impl SimulateArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut c = match self.preset {
            Preset::Production => Config::production(),
            Preset::Devnet => Config::devnet(),
        };
        let secs = |d: &humantime::Duration| d.as_secs_f64();
        if let Some(k) = self.k {
            c.k = k;
        }
        if let Some(m) = self.m {
            c.m = m;
        }
        // As the gateway: repair at the first loss unless told otherwise.
        c.repair_threshold = self
            .repair_threshold
            .unwrap_or(c.k + c.m - 1)
            .max(c.k.min(c.k + c.m - 1));
        if let Some(v) = self.segment_size {
            c.segment_size = v.as_u64();
        }
        if let Some(v) = self.segments_per_object {
            c.segments_per_object = v;
        }
        if let Some(v) = self.nodes {
            c.nodes = v;
        }
        if let Some(v) = self.regions {
            c.regions = v;
        }
        if let Some(v) = self.node_data {
            c.node_data = v.as_u64();
        }
        if let Some(p) = self.monthly_churn {
            anyhow::ensure!(p < 1.0, "monthly churn must be below 100 %");
            c.node_loss_rate = rate_from_monthly_churn(p);
        }
        if let Some(v) = self.afr {
            c.node_loss_rate = v;
        }
        if let Some(v) = self.rot_rate {
            c.rot_rate = v;
        }
        if let Some(v) = self.outage_rate {
            c.outage_rate = v;
        }
        if let Some(v) = &self.outage_duration {
            c.outage_duration = secs(v);
        }
        if let Some(v) = self.region_outage_rate {
            c.region_outage_rate = v;
        }
        if let Some(v) = &self.region_outage_duration {
            c.region_outage_duration = secs(v);
        }
        if let Some(v) = self.region_loss_rate {
            c.region_loss_rate = v;
        }
        if let Some(v) = &self.dead_after {
            c.dead_after = secs(v);
        }
        if let Some(v) = &self.repair_grace {
            c.repair_grace = secs(v);
        }
        if let Some(v) = &self.check_every {
            c.check_every = secs(v);
        }
        if let Some(v) = &self.audit_cycle {
            c.audit_cycle = secs(v);
        }
        if let Some(v) = self.repair_rate {
            c.gateway_repair_rate = v.as_u64() as f64;
        }
        if let Some(v) = self.gateways {
            c.gateways = v;
        }
        if let Some(v) = self.node_bandwidth {
            c.node_repair_bandwidth = v.as_u64() as f64;
        }
        c.validate()?;
        Ok(c)
    }

    fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }
}

/// Runs `cairn simulate`.
pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    anyhow::ensure!(
        args.years.is_finite() && args.years > 0.0,
        "--years must be above 0"
    );
    let threads = args.threads().max(1);
    if !args.recommend.is_empty() {
        return recommend(&args, &config, threads);
    }
    let mut budget = Budget::for_config(&config, args.years, args.seed, threads);
    if let Some(s) = args.segments {
        anyhow::ensure!(s > 0, "--segments must be above 0");
        budget.segments = s;
    }
    if let Some(s) = args.importance_segments {
        budget.importance_segments = s;
    }
    let report = durability::evaluate(&config, budget)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report, threads));
    }
    Ok(ExitCode::SUCCESS)
}

fn bytes(b: f64) -> String {
    ByteSize(b.max(0.0) as u64).display().iec().to_string()
}

/// A duration in seconds, in the largest unit that keeps it readable.
fn span(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "never".to_string();
    }
    for (unit, size) in [("d", 86_400.0), ("h", 3_600.0), ("min", 60.0)] {
        if seconds >= size {
            return format!("{:.1} {unit}", seconds / size);
        }
    }
    format!("{seconds:.1} s")
}

fn nines(n: f64) -> String {
    if n.is_infinite() {
        "no loss".to_string()
    } else {
        format!("{n:.2}")
    }
}

fn text(r: &Report, threads: usize) -> String {
    use std::fmt::Write;
    let c = &r.config;
    let mut out = String::new();
    let spo = c.segments_per_object;
    let _ = writeln!(
        out,
        "Cairn durability: {}+{}, repaired at <= {} held shards; {} segments ({} shards), {} per object",
        c.k,
        c.m,
        r.repair_threshold,
        bytes(c.segment_size as f64),
        bytes(r.shard_bytes),
        spo
    );
    let _ = writeln!(
        out,
        "mesh: {} nodes in {} regions holding {} each; repair {}/s ({} gateway(s) at {}/s, nodes at {}/s)",
        c.nodes,
        c.regions,
        bytes(c.node_data as f64),
        bytes(r.repair_throughput),
        c.gateways,
        bytes(c.gateway_repair_rate),
        bytes(c.node_repair_bandwidth)
    );
    let _ = writeln!(
        out,
        "churn: {:.2} % of nodes lost per month ({:.3} per node-year), {:.0e} shards rot per shard-year, \
         {} outages per node-year of {}, {} per region-year of {}, {} region losses per region-year",
        100.0 * monthly_churn_from_rate(c.node_loss_rate),
        c.node_loss_rate,
        c.rot_rate,
        c.outage_rate,
        span(c.outage_duration),
        c.region_outage_rate,
        span(c.region_outage_duration),
        c.region_loss_rate
    );
    let _ = writeln!(
        out,
        "detection: dead after {} + grace {} + a check pass every {}; each shard audited about every {}",
        span(c.dead_after),
        span(c.repair_grace),
        span(c.check_every),
        span(c.audit_cycle)
    );
    out.push('\n');
    let _ = writeln!(
        out,
        "repair queue ({:.0} mesh-years simulated): busy {:.1} % of the time; most work queued at once: {}",
        r.queue.years,
        100.0 * r.queue.busy_fraction,
        span(r.queue.max_backlog_seconds)
    );
    let _ = writeln!(
        out,
        "  a lost node's shards are rebuilt in {}; a lost shard is rebuilt {} after its node is lost (mean)",
        span(r.node_drain_seconds),
        span(r.mean_repair_window_seconds)
    );
    let _ = writeln!(
        out,
        "  repair traffic per node per day: {} (rebuilt shards received plus shards sent to rebuild them)",
        bytes(r.repair_bytes_per_node_per_day)
    );
    let _ = writeln!(
        out,
        "  below full redundancy: {:.2} h per segment-year, in spells of {} on average",
        r.degraded_hours_per_year,
        span(r.mean_degraded_spell_hours * 3600.0)
    );
    out.push('\n');
    let _ = writeln!(
        out,
        "annual durability (nines)                          per segment              per object"
    );
    let row = |out: &mut String, name: &str, seg: String, obj: String| {
        let _ = writeln!(out, "  {name:<49}{seg:<25}{obj}");
    };
    let a = &r.analytic_durability;
    row(
        &mut out,
        "analytic (renewal over repair windows)",
        format!("{}  ({:.2e})", nines(a.segment_nines), a.segment_loss),
        nines(a.object_nines),
    );
    let mc_row = |out: &mut String, name: &str, e: &durability::report::McEstimate| {
        let d = &e.durability;
        let seg = if e.run.losses_seen == 0 {
            format!("> {:.2}  (0 losses)", e.nines_low)
        } else {
            format!(
                "{}  [{:.2}, {}]",
                nines(d.segment_nines),
                e.nines_low,
                nines(e.nines_high)
            )
        };
        let obj = if e.run.losses_seen == 0 {
            "-".to_string()
        } else {
            nines(d.object_nines)
        };
        row(out, name, seg, obj);
    };
    if let Some(is) = &r.importance_sampling {
        mc_row(&mut out, "Monte Carlo, importance sampled (95 %)", is);
    }
    mc_row(
        &mut out,
        "Monte Carlo, plain counting (95 %)",
        &r.monte_carlo,
    );
    let x = &r.cross_checks;
    row(
        &mut out,
        &format!(
            "Backblaze binomial, {} window",
            span(x.backblaze_window_days * 86_400.0)
        ),
        nines(x.backblaze.segment_nines),
        nines(x.backblaze.object_nines),
    );
    row(
        &mut out,
        "Storj Poisson bound, no repair within a month",
        nines(x.storj.segment_nines),
        nines(x.storj.object_nines),
    );
    let _ = writeln!(
        out,
        "analytic within the Monte Carlo's 95 % interval: {}",
        if r.agree { "yes" } else { "no" }
    );
    out.push('\n');
    let plain = &r.monte_carlo;
    let _ = write!(
        out,
        "Monte Carlo: {:.2e} segment-years plain in {:.2} s ({:.2e} per second per thread, {} thread(s))",
        plain.run.segment_years, plain.seconds, plain.segment_years_per_second_per_thread, threads
    );
    if let Some(is) = &r.importance_sampling {
        let _ = write!(
            out,
            "; {:.2e} importance-sampled in {:.2} s",
            is.run.segment_years, is.seconds
        );
    }
    out.push('\n');
    for w in &r.warnings {
        let _ = writeln!(out, "note: {w}");
    }
    out
}

fn recommend(args: &SimulateArgs, base: &Config, threads: usize) -> anyhow::Result<ExitCode> {
    let candidates = durability::sweep(base, threads);
    let picks: Vec<(f64, Vec<&durability::Candidate>)> = args
        .recommend
        .iter()
        .map(|&t| (t, durability::pick(&candidates, t)))
        .collect();
    if args.json {
        let rows: Vec<_> = picks
            .iter()
            .map(|(t, c)| serde_json::json!({"target_nines_per_object": t, "cheapest_per_k": c}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "config": base,
                "candidates": candidates.len(),
                "recommendations": rows,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} schemes evaluated (k in {:?}, m up to {}, every threshold from k+1) on {} nodes in {} regions, \
         {:.2} % monthly churn, {}-segment objects (analytic model); for each target, the least parity \
         and then the laziest threshold that reach it, for each k:",
        candidates.len(),
        durability::recommend::KS,
        durability::recommend::MAX_M,
        base.nodes,
        base.regions,
        100.0 * monthly_churn_from_rate(base.node_loss_rate),
        base.segments_per_object
    );
    println!(
        "{:>8}  {:>6}  {:>9}  {:>8}  {:>13}  {:>13}  {:>18}",
        "target",
        "k+m",
        "threshold",
        "overhead",
        "nines/object",
        "nines/segment",
        "repair/node/day"
    );
    for (target, choices) in picks {
        if choices.is_empty() {
            println!("{target:>8}  no scheme tried reaches it");
        }
        for c in choices {
            println!(
                "{:>8}  {:>6}  {:>9}  {:>7.2}x  {:>13.2}  {:>13.2}  {:>18}",
                target,
                format!("{}+{}", c.k, c.m),
                c.threshold,
                c.overhead,
                c.object_nines,
                c.segment_nines,
                bytes(c.repair_bytes_per_node_per_day)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
