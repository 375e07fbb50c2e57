//! Two published closed forms, for cross-checking the model.
//!
//! * **Backblaze** (Brian Beach, "Backblaze Durability is 99.999999999%",
//!   2018, and `Backblaze/erasure-coding-durability`): cut the year into
//!   repair windows of `R` days; a shard with annual failure rate `A`
//!   (failures per shard-year) fails within one window with probability
//!   `p = 1 - e^(-A R / 365)`; data is lost in a window when more than
//!   the parity count of its `D + P` shards fail in it (binomial tail);
//!   the annual loss is `1 - (1 - P_window)^(365 / R)`. Their 17+3 vaults
//!   at 0.405 % AFR and a 6.5-day window come to about 11 nines.
//! * **Storj** (whitepaper v3, section 3.4 "Redundancy"): with monthly
//!   churn `p`, the pieces of a `(k, n)` segment lost in a month are
//!   Poisson with mean `λ = p n`, and the segment survives the month with
//!   probability `P(D) = e^(-λ) Σ_{i=0}^{n-k} λ^i / i!` (no repair within
//!   the month: a bound for any system that repairs at least monthly). For
//!   `p = 10 %` they publish 97.688471224736705 % for (4, 6) and
//!   99.999999807694154 % for (20, 40).

use crate::analytic::binomial_tail;

/// Backblaze's annual loss probability for `data + parity` shards with
/// `annual_failure_rate` failures per shard-year and a repair window of
/// `window_days`.
pub fn backblaze_annual_loss(
    data: usize,
    parity: usize,
    annual_failure_rate: f64,
    window_days: f64,
) -> f64 {
    let windows_per_year = 365.0 / window_days;
    let p = -(-annual_failure_rate * window_days / 365.0).exp_m1();
    let per_window = binomial_tail(data + parity, p, parity + 1);
    -(windows_per_year * (-per_window).ln_1p()).exp_m1()
}

/// Storj's probability that a `(k, n)` segment loses more than `n - k`
/// pieces in one month of churn `monthly_churn` (one minus the paper's
/// `P(D)`), summed over the upper tail so tiny values keep their
/// precision.
pub fn storj_monthly_loss(k: usize, n: usize, monthly_churn: f64) -> f64 {
    let lambda = monthly_churn * n as f64;
    let first = n - k + 1;
    // e^-λ λ^first / first!, in logs.
    let log_fact: f64 = (1..=first).map(|i| (i as f64).ln()).sum();
    let mut term = (-lambda + first as f64 * lambda.ln() - log_fact).exp();
    let mut sum = 0.0;
    let mut i = first;
    while term > sum * 1e-18 && i < first + 10_000 {
        sum += term;
        i += 1;
        term *= lambda / i as f64;
    }
    sum.min(1.0)
}

/// Storj's monthly figure over a year of twelve independent months.
pub fn storj_annual_loss(k: usize, n: usize, monthly_churn: f64) -> f64 {
    let monthly = storj_monthly_loss(k, n, monthly_churn);
    -(12.0 * (-monthly).ln_1p()).exp_m1()
}

/// Nines of durability of a loss probability: `-log10(p)`.
pub fn nines(loss_probability: f64) -> f64 {
    -loss_probability.log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backblaze_17_plus_3_is_about_eleven_nines() {
        let loss = backblaze_annual_loss(17, 3, 0.00405, 6.5);
        let n = nines(loss);
        assert!((11.0..11.3).contains(&n), "{n} nines ({loss:e})");
    }

    #[test]
    fn backblaze_repository_example() {
        // `python durability.py 4 2 0.10 1`: annual loss rate 1.500e-07.
        let loss = backblaze_annual_loss(4, 2, 0.10, 1.0);
        assert!((loss / 1.500e-7 - 1.0).abs() < 0.005, "{loss:e}");
    }

    #[test]
    fn storj_published_table() {
        // The paper's tables, P(D | p = 10 %), as printed.
        let published = [
            (2, 4, "99.207366813274616"),
            (4, 8, "99.858868985411326"),
            (8, 16, "99.995462406878260"),
            (16, 32, "99.999994620652776"),
            (20, 40, "99.999999807694154"),
            (32, 64, "99.999999999990544"),
            (1, 1, "90.483741803595962"),
            (1, 2, "98.247690369357827"),
            (1, 16, "99.999999998036174"),
            (4, 6, "97.688471224736705"),
            (4, 12, "99.999514117129605"),
            (20, 30, "99.970766304935266"),
            (20, 50, "99.999999999999548"),
            (100, 150, "99.999999999973570"),
        ];
        for (k, n, percent) in published {
            let loss = storj_monthly_loss(k, n, 0.10);
            let expected = 1.0 - percent.parse::<f64>().unwrap() / 100.0;
            assert!(
                (loss - expected).abs() <= 1e-12 * expected.max(1e-3) + 2e-16,
                "({k}, {n}): {loss:e} vs {expected:e}"
            );
        }
        let annual = storj_annual_loss(4, 6, 0.10);
        assert!((annual - (1.0 - 0.976_884_712_247_367f64.powi(12))).abs() < 1e-12);
    }
}
