//! A node's audit score: a decaying ratio of passed audits, as Storj's
//! audit score works. Each audit first decays both weights by `lambda`, then
//! adds 1 to the passed (`alpha`) or failed (`beta`) weight; the score is
//! `alpha / (alpha + beta)`. A new node starts with the weight of a long
//! clean history (`alpha = 1 / (1 - lambda)`), so one failure costs it
//! `1 - lambda` of its score and a run of failures drives it down
//! geometrically (`lambda^n` after `n` failures in a row).

use serde::{Deserialize, Serialize};

/// How audits move a node's score and where the thresholds sit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReputationPolicy {
    /// Memory of the score, in (0, 1): higher forgets more slowly.
    pub lambda: f64,
    /// Below this a node gets no new shards (it recovers by passing audits).
    pub suspend_below: f64,
    /// Below this a node is disqualified for good: its shards count as lost.
    pub disqualify_below: f64,
}

impl Default for ReputationPolicy {
    /// `lambda` 0.95, suspended below 0.9 (three failures in a row from a
    /// clean record), disqualified below 0.6 (ten in a row).
    fn default() -> Self {
        Self {
            lambda: 0.95,
            suspend_below: 0.9,
            disqualify_below: 0.6,
        }
    }
}

/// A node's decaying audit weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Decayed passed audits.
    pub alpha: f64,
    /// Decayed failed audits.
    pub beta: f64,
}

impl Score {
    /// The score of a node never audited.
    pub fn fresh(policy: &ReputationPolicy) -> Self {
        Self {
            alpha: 1.0 / (1.0 - policy.lambda),
            beta: 0.0,
        }
    }

    /// Applies one audit outcome.
    pub fn record(&mut self, policy: &ReputationPolicy, passed: bool) {
        self.alpha *= policy.lambda;
        self.beta *= policy.lambda;
        if passed {
            self.alpha += 1.0;
        } else {
            self.beta += 1.0;
        }
    }

    /// The ratio in [0, 1].
    pub fn value(&self) -> f64 {
        let total = self.alpha + self.beta;
        if total <= 0.0 {
            1.0
        } else {
            self.alpha / total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_node_scores_one_and_failures_compound() {
        let p = ReputationPolicy::default();
        let mut s = Score::fresh(&p);
        assert_eq!(s.value(), 1.0);
        s.record(&p, false);
        assert!((s.value() - 0.95).abs() < 1e-9);
        assert!(s.value() >= p.suspend_below);
        s.record(&p, false);
        assert!(s.value() >= p.suspend_below, "two failures do not suspend");
        s.record(&p, false);
        assert!(s.value() < p.suspend_below, "three do");
        for _ in 0..6 {
            s.record(&p, false);
        }
        assert!(s.value() >= p.disqualify_below, "nine do not disqualify");
        s.record(&p, false);
        assert!(s.value() < p.disqualify_below, "ten do");
    }

    #[test]
    fn passing_audits_win_back_a_suspended_node() {
        let p = ReputationPolicy::default();
        let mut s = Score::fresh(&p);
        for _ in 0..3 {
            s.record(&p, false);
        }
        assert!(s.value() < p.suspend_below);
        let mut passes = 0;
        while s.value() < p.suspend_below {
            s.record(&p, true);
            passes += 1;
        }
        assert!(passes <= 10, "took {passes} passes");
    }

    #[test]
    fn an_occasional_failure_among_passes_never_suspends() {
        let p = ReputationPolicy::default();
        let mut s = Score::fresh(&p);
        for i in 0..1000 {
            s.record(&p, i % 25 != 0);
            assert!(s.value() >= p.suspend_below, "at audit {i}: {}", s.value());
        }
    }
}
