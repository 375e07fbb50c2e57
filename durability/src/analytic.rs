//! The analytic tail: a renewal model of one segment whose loss
//! probability per excursion is integrated over the geometry of Cairn's
//! repair windows.
//!
//! A segment renews at full health. Losses below the threshold are never
//! repaired, so it climbs through `0, 1, …, L - 1` losses (`L` = shards
//! it must lose to be queued) at rates `(n - f) Λ`, `Λ = λ + ρ` being a
//! shard's permanent-loss rate (node loss `λ` plus rot `ρ`). The `L`-th
//! loss starts an *excursion*, which must not see `J = m + 1 - L` more
//! losses before it is repaired. Cairn repairs a segment when its turn in
//! the queue comes after its first loss is *seen* (at `R₁ = E₁ + W`: the
//! detection delay, then the queue wait), or sooner, a priority wait `Wₚ`
//! after a second loss is seen (fewest held first). A node loss is seen
//! after a nearly fixed delay (dead-after plus grace plus a check pass),
//! rot only when an audit hits it (exponential, about a day). So:
//!
//! * **An excursion opened by a node loss** (seen at `E₁`): let the first
//!   *node* loss after it strike at `s`, seen at `s + E₂`. The segment is
//!   repaired at `T = min(R₁, s + E₂ + Wₚ)` (if the second is seen first,
//!   it waits its own turn `W₂` until the first is seen:
//!   `T = min(s + E₂ + W₂, E₁ + Wₚ)`). Rot losses before `s` are Poisson,
//!   and the losses after `s` within the window are binomial:
//!
//!   ```text
//!   P = E[ ∫₀^R₁ aλ e^(-aλs) Σᵣ Pois(r; aρs) · P(Bin(a-1-r, 1-e^(-Λ(T-s))) ≥ J-1-r) ds ]
//!   ```
//!
//!   (plus the chance that rot alone makes up `J` before `R₁`).
//! * **An excursion opened by rot** (seen at `E₁`, an audit): if a node
//!   loss strikes at `s` and is seen before the rot is, the excursion from
//!   `s` on is one opened by that node loss, with one loss more already
//!   present and its window capped where the rot's detection makes a
//!   second sighting (`E₁ + Wₚ`); otherwise the rot is seen first and the
//!   node loss's sighting sets `T = min(R₁, s + E₂ + Wₚ)`.
//!
//! with `a = n - L` shards left. What the model leaves out: paths that
//! need two windows (a loss left unrepaired by one repair and lost with
//! the next), a relative correction of order `n Λ R₁` (below 10⁻³ for
//! Cairn's settings); and rot losses after the first are taken as never
//! seen within the window (a small error on the safe side). Expectations
//! over detection delays and waits are taken over weighted points (the
//! waits from the simulated repair queue, in equal-count bins; the audit
//! delay by Gauss–Laguerre), time integrals by Gauss–Legendre between the
//! window's breakpoints. Region losses add excursions that start with `c`
//! shards lost at once (`c` from the placement profile) and wait behind
//! the region's repair backlog. Transient outages destroy nothing: they
//! enter only through the queue (repairs of outages that outlast the
//! deadline delay others) and are otherwise left to the simulator, which
//! also models a repair blocked by fewer than `k` answering shards.

use serde::Serialize;

use crate::config::{Config, Derived};
use crate::placement::RegionProfile;
use crate::queue::{Cause, WaitTable};

/// The analytic model's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Analytic {
    /// Losses per segment-year, all causes.
    pub loss_rate: f64,
    /// Of which: excursions opened by a node loss.
    pub from_node_loss: f64,
    /// Of which: excursions opened by rot.
    pub from_rot: f64,
    /// Of which: region losses.
    pub from_region_loss: f64,
    /// Of which: losses with no repair at all (threshold below k).
    pub unrepaired: f64,
    /// Mean years from a node loss to the rebuild of its shard (detection
    /// plus queue wait).
    pub mean_repair_window: f64,
}

/// Gauss–Legendre nodes and weights on [-1, 1], 8 points.
const GL_X: [f64; 8] = [
    -0.960_289_856_497_536_3,
    -0.796_666_477_413_626_7,
    -0.525_532_409_916_329,
    -0.183_434_642_495_649_8,
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
const GL_W: [f64; 8] = [
    0.101_228_536_290_376_26,
    0.222_381_034_453_374_47,
    0.313_706_645_877_887_3,
    0.362_683_783_378_362,
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_47,
    0.101_228_536_290_376_26,
];

/// `P(Bin(trials, p) ≥ at_least)`, summed upward from `at_least` so tiny
/// tails keep their precision.
pub fn binomial_tail(trials: usize, p: f64, at_least: usize) -> f64 {
    if at_least == 0 {
        return 1.0;
    }
    if at_least > trials || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let q = 1.0 - p;
    // C(trials, at_least) p^at_least q^(trials - at_least), in logs.
    let mut log_c = 0.0;
    for i in 0..at_least {
        log_c += ((trials - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    let mut term = (log_c + at_least as f64 * p.ln() + (trials - at_least) as f64 * q.ln()).exp();
    let mut sum = 0.0;
    let ratio = p / q;
    for i in at_least..=trials {
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
        term *= (trials - i) as f64 / (i + 1) as f64 * ratio;
    }
    sum.min(1.0)
}

/// A law given by weighted points (weights summing to 1).
#[derive(Clone, Debug)]
struct Points(Vec<(f64, f64)>);

impl Points {
    fn equal(values: Vec<f64>) -> Self {
        let w = 1.0 / values.len().max(1) as f64;
        Self(values.into_iter().map(|v| (v, w)).collect())
    }

    fn shifted(mut self, by: f64) -> Self {
        self.0.iter_mut().for_each(|(x, _)| *x += by);
        self
    }

    /// At most `count` points: consecutive (sorted) points merged into
    /// groups of about equal weight, each at its weighted mean.
    fn coarse(&self, count: usize) -> Self {
        if self.0.len() <= count {
            return self.clone();
        }
        let mut sorted = self.0.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut groups = Vec::with_capacity(count);
        let (mut sum, mut weight, mut done) = (0.0, 0.0, 0.0);
        for (i, &(x, w)) in sorted.iter().enumerate() {
            sum += x * w;
            weight += w;
            let last = i + 1 == sorted.len();
            if last || done + weight >= (groups.len() + 1) as f64 / count as f64 - 1e-12 {
                groups.push((if weight > 0.0 { sum / weight } else { x }, weight));
                done += weight;
                sum = 0.0;
                weight = 0.0;
            }
        }
        Self(groups)
    }

    fn mean(&self) -> f64 {
        let (sum, weight) = self
            .0
            .iter()
            .filter(|(x, _)| x.is_finite())
            .fold((0.0, 0.0), |(s, w), (x, p)| (s + x * p, w + p));
        if weight > 0.0 { sum / weight } else { 0.0 }
    }
}

/// 8-point Gauss–Laguerre rule: `∫₀^∞ e^(-x) f(x) dx ≈ Σ wᵢ f(xᵢ)`, exact
/// for polynomials up to degree 15 (the audit wait is exponential).
const LAGUERRE: [(f64, f64); 8] = [
    (0.170_279_632_305_101, 3.691_885_893_416_375e-1),
    (0.903_701_776_799_380, 4.187_867_808_143_43e-1),
    (2.251_086_629_866_131, 1.757_949_866_371_72e-1),
    (4.266_700_170_287_659, 3.334_349_226_121_57e-2),
    (7.045_905_402_393_466, 2.794_536_235_225_67e-3),
    (10.758_516_010_180_995, 9.076_508_773_358_21e-5),
    (15.740_678_641_278_005, 8.485_746_716_272_53e-7),
    (22.863_131_736_889_264, 1.048_001_174_871_51e-9),
];

/// The detection delays, as points.
struct Delays {
    node: Points,
    rot: Points,
}

fn delays(d: &Derived) -> Delays {
    let passes: Vec<f64> = (0..4)
        .map(|i| (i as f64 + 0.5) / 4.0 * d.check_every)
        .collect();
    let node = Points::equal(passes.iter().map(|p| d.silence_deadline + p).collect());
    let rot = Points(
        LAGUERRE
            .iter()
            .flat_map(|&(x, w)| {
                [0.25, 0.75].map(|u| (x * d.audit_cycle + u * d.check_every, w / 2.0))
            })
            .collect(),
    );
    Delays { node, rot }
}

/// `P(Pois(x) = r)`.
fn poisson(x: f64, r: usize) -> f64 {
    let log_fact: f64 = (1..=r).map(|i| (i as f64).ln()).sum();
    if x <= 0.0 {
        return if r == 0 { 1.0 } else { 0.0 };
    }
    (-x + r as f64 * x.ln() - log_fact).exp()
}

/// Integrates `f` over `[lo, hi]` split at `cuts` (8-point Gauss–Legendre
/// per piece).
fn integrate(lo: f64, hi: f64, cuts: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    if hi <= lo {
        return 0.0;
    }
    let mut points: Vec<f64> = cuts
        .iter()
        .copied()
        .filter(|c| c.is_finite() && *c > lo && *c < hi)
        .collect();
    points.push(lo);
    points.push(hi);
    points.sort_by(f64::total_cmp);
    let mut total = 0.0;
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b <= a {
            continue;
        }
        let half = 0.5 * (b - a);
        let mid = 0.5 * (b + a);
        for (x, w) in GL_X.iter().zip(GL_W) {
            total += w * half * f(mid + half * x);
        }
    }
    total
}

/// Everything an excursion's timing is drawn from.
struct Laws {
    /// Node loss rate per shard.
    node: f64,
    /// Rot rate per shard.
    rot: f64,
    /// Mean time until an audit finds a rotten shard.
    audit: f64,
    /// When a node loss is seen.
    node_seen: Points,
    /// When rot is seen.
    rot_seen: Points,
    /// The queue wait of a node loss's segment at the threshold (coarse:
    /// for a second loss seen before the first).
    node_wait_coarse: Points,
}

impl Laws {
    fn total(&self) -> f64 {
        self.node + self.rot
    }

    /// Rot losses among `a` shards in `(0, s)`, split by whether an audit
    /// has found them by `s`: (mean still unseen, mean already seen).
    /// Sightings are memoryless, so both counts are Poisson.
    fn rot_split(&self, a: usize, s: f64) -> (f64, f64) {
        let all = a as f64 * self.rot * s;
        if self.audit <= 0.0 {
            return (0.0, all);
        }
        let unseen = a as f64 * self.rot * self.audit * -(-s / self.audit).exp_m1();
        (unseen, (all - unseen).max(0.0))
    }

    /// Chance that rot alone makes up `j` losses present at once among
    /// `a` shards within `(0, r1)`: the expected number of times the count
    /// of unseen rot steps up to `j` (`∫ aρ Pois(j-1; unseen(t)) dt`, exact
    /// to first order). With `sighting_ends` a rot seen before then ends
    /// the risk (it is a second sighting).
    fn rot_alone(&self, a: usize, j: usize, r1: f64, sighting_ends: bool) -> f64 {
        if self.rot <= 0.0 || r1 <= 0.0 || j == 0 {
            return if j == 0 { 1.0 } else { 0.0 };
        }
        let rho_a = a as f64 * self.rot;
        let cuts = [self.audit, 4.0 * self.audit];
        integrate(0.0, r1.min(1e3 / rho_a), &cuts, |t| {
            let (unseen, seen) = self.rot_split(a, t);
            let keep = if sighting_ends { (-seen).exp() } else { 1.0 };
            rho_a * poisson(unseen, j - 1) * keep
        })
        .min(1.0)
    }
}

/// Loss probability of an excursion whose first loss (seen at a delay
/// drawn from `seen`, then queued for a wait from `wait`) leaves `a`
/// shards and needs `j` more losses, with the window ending at `cap` at
/// the latest; `priority` is the wait after a second sighting.
fn node_first(
    laws: &Laws,
    a: usize,
    j: usize,
    seen: &Points,
    wait: &Points,
    priority: &Points,
    cap: f64,
) -> f64 {
    if j == 0 {
        return 1.0;
    }
    if cap <= 0.0 || a == 0 {
        return 0.0;
    }
    let lam_a = a as f64 * laws.node;
    let all = laws.total();
    let mut total = 0.0;
    for &(e, pe) in &seen.0 {
        for &(w, pw) in &wait.0 {
            let r1 = (e + w).min(cap);
            if r1 <= 0.0 {
                continue;
            }
            let mut p = 0.0;
            for &(en, pen) in &laws.node_seen.0 {
                for &(wp, pwp) in &priority.0 {
                    let density = |s: f64, end: f64| {
                        let window = (end.min(r1) - s).max(0.0);
                        let q = -(-all * window).exp_m1();
                        // Rot losses before s still unseen count; one seen
                        // would have been a second sighting, ending it.
                        let (unseen, seen) = laws.rot_split(a, s);
                        let mut sum = 0.0;
                        for r in 0..j {
                            let before = (-seen).exp() * poisson(unseen, r);
                            if before == 0.0 {
                                break;
                            }
                            sum += before * binomial_tail(a - 1 - r.min(a - 1), q, j - 1 - r);
                        }
                        lam_a * (-lam_a * s).exp() * sum
                    };
                    // Seen after the first: a second sighting.
                    let early = (e - en).clamp(0.0, r1);
                    let late = integrate(early, r1, &[r1 - en - wp], |s| density(s, s + en + wp));
                    // Seen before the first: queued on its own until the
                    // first is seen.
                    let mut first_seen_later = 0.0;
                    if early > 0.0 {
                        for &(w2, pw2) in &laws.node_wait_coarse.0 {
                            first_seen_later += pw2
                                * integrate(0.0, early, &[e + wp - en - w2, r1 - en - w2], |s| {
                                    density(s, (s + en + w2).min(e + wp))
                                });
                        }
                    }
                    p += pen * pwp * (late + first_seen_later);
                }
            }
            // No node loss before the repair: rot alone would have to make
            // up all j.
            p += (-lam_a * r1).exp() * laws.rot_alone(a, j, r1, true);
            total += pe * pw * p;
        }
    }
    total.min(1.0)
}

/// `node_first` as a function of its cap, tabulated (log-spaced) for the
/// rot-opened excursions that hand over to a node loss.
struct CapTable {
    caps: Vec<f64>,
    values: Vec<f64>,
    unbounded: f64,
}

impl CapTable {
    /// Tabulates at a coarse resolution (the rot-opened excursions it
    /// serves are a small share of the risk wherever rot is rarer than
    /// node loss).
    fn new(laws: &Laws, a: usize, j: usize, wait: &Points, priority: &Points) -> Self {
        let laws = &Laws {
            node: laws.node,
            rot: laws.rot,
            audit: laws.audit,
            node_seen: laws.node_seen.coarse(2),
            rot_seen: laws.rot_seen.clone(),
            node_wait_coarse: laws.node_wait_coarse.coarse(4),
        };
        let wait = &wait.coarse(6);
        let priority = &priority.coarse(4);
        let smallest = laws
            .node_seen
            .0
            .iter()
            .map(|p| p.0)
            .fold(f64::INFINITY, f64::min);
        let largest = laws.node_seen.0.iter().map(|p| p.0).fold(0.0, f64::max)
            + wait
                .0
                .iter()
                .map(|p| p.0)
                .filter(|x| x.is_finite())
                .fold(0.0, f64::max)
            + priority
                .0
                .iter()
                .map(|p| p.0)
                .filter(|x| x.is_finite())
                .fold(0.0, f64::max);
        let lo = (smallest / 8.0).max(1e-12);
        let hi = (largest * 4.0).max(lo * 2.0);
        let count = 16;
        let caps: Vec<f64> = (0..count)
            .map(|i| lo * (hi / lo).powf(i as f64 / (count - 1) as f64))
            .collect();
        let values = caps
            .iter()
            .map(|&c| node_first(laws, a, j, &laws.node_seen, wait, priority, c))
            .collect();
        let unbounded = node_first(laws, a, j, &laws.node_seen, wait, priority, f64::INFINITY);
        Self {
            caps,
            values,
            unbounded,
        }
    }

    fn at(&self, cap: f64) -> f64 {
        if cap <= 0.0 {
            return 0.0;
        }
        let last = self.caps.len() - 1;
        if cap >= self.caps[last] {
            return self.unbounded;
        }
        if cap <= self.caps[0] {
            return self.values[0] * cap / self.caps[0];
        }
        let i = self.caps.partition_point(|&c| c <= cap).clamp(1, last);
        let (c0, c1) = (self.caps[i - 1].ln(), self.caps[i].ln());
        let x = (cap.ln() - c0) / (c1 - c0);
        self.values[i - 1] + x * (self.values[i] - self.values[i - 1])
    }
}

/// Loss probability of an excursion opened by rot (see the module docs).
fn rot_first(
    laws: &Laws,
    a: usize,
    j: usize,
    wait: &Points,
    node_wait: &Points,
    priority: &Points,
) -> f64 {
    if j == 0 {
        return 1.0;
    }
    let lam_a = a as f64 * laws.node;
    let all = laws.total();
    // Handing over to a node loss with r rot losses before it (r ≤ 1).
    let tables: Vec<CapTable> = (0..j.min(2))
        .filter(|r| a > 1 + r)
        .map(|r| CapTable::new(laws, a - 1 - r, j - 1 - r, node_wait, priority))
        .collect();
    let mut total = 0.0;
    for &(e1, pe1) in &laws.rot_seen.0 {
        for &(w, pw) in &wait.0 {
            let r1 = e1 + w;
            let mut p = 0.0;
            for &(en, pen) in &laws.node_seen.0 {
                for &(wp, pwp) in &priority.0 {
                    let handover = (e1 - en).clamp(0.0, r1);
                    // Other rot losses: those an audit found before s were
                    // rebuilt on their own (a first sighting); the unseen
                    // ones count.
                    let before = |s: f64, r: usize| poisson(laws.rot_split(a, s).0, r);
                    // The node loss is seen first.
                    let a_part = integrate(0.0, handover, &[], |s| {
                        let mut sum = 0.0;
                        for (r, table) in tables.iter().enumerate() {
                            sum += before(s, r) * table.at(e1 + wp - s);
                        }
                        lam_a * (-lam_a * s).exp() * sum
                    });
                    // The rot is seen first: the node loss's sighting is
                    // the second.
                    let b_part = integrate(handover, r1, &[r1 - en - wp], |s| {
                        let window = ((s + en + wp).min(r1) - s).max(0.0);
                        let q = -(-all * window).exp_m1();
                        let mut sum = 0.0;
                        for r in 0..j {
                            sum += before(s, r) * binomial_tail(a - 1 - r.min(a - 1), q, j - 1 - r);
                        }
                        lam_a * (-lam_a * s).exp() * sum
                    });
                    p += pen * pwp * (a_part + b_part);
                }
            }
            p += (-lam_a * r1).exp() * laws.rot_alone(a, j, r1, false);
            total += pe1 * pw * p;
        }
    }
    total.min(1.0)
}

/// Equal-count bin means of a wait, plus a segment's own transfer time.
fn wait_points(waits: &WaitTable, cause: Cause, class: usize, count: usize, own: f64) -> Points {
    Points::equal(waits.bin_means(cause, class, count)).shifted(own)
}

/// Evaluates the analytic model.
pub fn analyze(
    config: &Config,
    d: &Derived,
    waits: &WaitTable,
    profile: &RegionProfile,
) -> Analytic {
    let n = d.n;
    let m = config.m;
    let l = d.losses_to_queue;
    let rate = d.shard_loss_rate;
    let delays = delays(d);
    let own = |shards: usize| shards as f64 * d.transfer_time(d.shard_len);
    let node_wait = wait_points(waits, Cause::NodeLoss, d.threshold, 16, 0.0);
    let mean_node_window = delays.node.mean() + node_wait.mean();
    let mut out = Analytic {
        loss_rate: 0.0,
        from_node_loss: 0.0,
        from_rot: 0.0,
        from_region_loss: 0.0,
        unrepaired: 0.0,
        mean_repair_window: mean_node_window,
    };
    if l > m {
        // Never repaired before it is lost: the (m+1)-th loss ends it.
        if rate > 0.0 {
            let cycle: f64 = (0..=m).map(|f| 1.0 / ((n - f) as f64 * rate)).sum();
            out.unrepaired = 1.0 / cycle;
        }
        out.loss_rate = out.unrepaired;
        return out;
    }
    let laws = Laws {
        node: config.node_loss_rate,
        rot: config.rot_rate,
        audit: d.audit_cycle,
        node_seen: delays.node.clone(),
        rot_seen: delays.rot.clone(),
        node_wait_coarse: wait_points(waits, Cause::NodeLoss, d.threshold, 8, 0.0),
    };
    let node_share = if rate > 0.0 {
        config.node_loss_rate / rate
    } else {
        0.0
    };
    let rot_share = 1.0 - node_share;
    let rot_wait = wait_points(waits, Cause::Single, d.threshold, 8, own(l));
    let priority = |held: usize| {
        if held > config.k {
            wait_points(waits, Cause::Single, held - 1, 8, own(n - held + 1))
        } else {
            Points::equal(vec![0.0])
        }
    };
    if rate > 0.0 {
        let a = n - l;
        let j = m + 1 - l;
        let wp = priority(d.threshold);
        let p_node = if node_share > 0.0 {
            node_first(&laws, a, j, &delays.node, &node_wait, &wp, f64::INFINITY)
        } else {
            0.0
        };
        let p_rot = if rot_share > 0.0 {
            rot_first(&laws, a, j, &rot_wait, &node_wait, &wp)
        } else {
            0.0
        };
        let mean_window =
            node_share * mean_node_window + rot_share * (delays.rot.mean() + rot_wait.mean());
        let climb: f64 = (0..l).map(|f| 1.0 / ((n - f) as f64 * rate)).sum();
        let crossings = 1.0 / (climb + mean_window);
        out.from_node_loss = crossings * node_share * p_node;
        out.from_rot = crossings * rot_share * p_rot;
    }
    if config.region_loss_rate > 0.0 {
        let events = config.region_loss_rate * config.regions as f64;
        for (c, share) in profile.share.iter().enumerate().skip(1) {
            if *share == 0.0 {
                continue;
            }
            for (f, pf) in d.below_threshold.iter().enumerate() {
                let lost = f + c;
                let p = if lost > m {
                    1.0
                } else if lost >= l && rate > 0.0 {
                    let held = n - lost;
                    let w = wait_points(waits, Cause::RegionLoss, held, 16, 0.0);
                    let wp = priority(held);
                    node_first(
                        &laws,
                        held,
                        m + 1 - lost,
                        &delays.node,
                        &w,
                        &wp,
                        f64::INFINITY,
                    )
                } else {
                    0.0
                };
                out.from_region_loss += events * share * pf * p;
            }
        }
    }
    out.loss_rate = out.from_node_loss + out.from_rot + out.from_region_loss;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail_matches_direct_sums() {
        // P(Bin(6, 0.3) >= 3) = 1 - 0.744310 (the cumulative up to 2).
        assert!((binomial_tail(6, 0.3, 3) - (1.0 - 0.744_31)).abs() < 1e-6);
        assert_eq!(binomial_tail(6, 0.3, 0), 1.0);
        assert_eq!(binomial_tail(6, 0.3, 7), 0.0);
        // Tiny p: the leading term C(20,4) p^4.
        let p = 1e-6;
        let t = binomial_tail(20, p, 4);
        assert!((t / (4845.0 * p.powi(4)) - 1.0).abs() < 1e-4, "{t}");
    }

    #[test]
    fn coarse_points_keep_weight_and_mean() {
        let p = Points::equal((0..16).map(|i| i as f64).collect());
        for count in [1, 3, 4, 16, 20] {
            let c = p.coarse(count);
            assert!(c.0.len() <= count.max(1));
            let weight: f64 = c.0.iter().map(|x| x.1).sum();
            assert!((weight - 1.0).abs() < 1e-12);
            assert!((c.mean() - 7.5).abs() < 1e-12);
        }
    }

    #[test]
    fn poisson_probabilities_sum_to_one() {
        let total: f64 = (0..60).map(|r| poisson(3.5, r)).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert_eq!(poisson(0.0, 0), 1.0);
        assert_eq!(poisson(0.0, 2), 0.0);
    }

    #[test]
    fn laguerre_rule_has_the_exponential_moments() {
        for (power, moment) in [(0, 1.0), (1, 1.0), (2, 2.0), (3, 6.0), (5, 120.0)] {
            let sum: f64 = LAGUERRE.iter().map(|(x, w)| w * x.powi(power)).sum();
            assert!((sum / moment - 1.0).abs() < 1e-9, "{power}: {sum}");
        }
    }

    #[test]
    fn quadrature_integrates_smooth_functions() {
        let integral: f64 = GL_X.iter().zip(GL_W).map(|(x, w)| w * x.powi(6)).sum();
        assert!((integral - 2.0 / 7.0).abs() < 1e-12);
    }
}
