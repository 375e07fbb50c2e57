//! The knobs of a placement decision.

use std::time::Duration;

use crate::PlacementError;

/// How nodes are filtered and weighted.
///
/// A node's rendezvous weight is
/// `free_bytes ^ capacity_weight * (1 / rtt) ^ latency_weight`,
/// so with both weights at 1 a node with twice the free space, or half the
/// RTT, is about twice as likely to receive a given segment's shard.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Nodes whose reputation is below this get no new shards.
    pub reputation_floor: f64,
    /// Never put two shards of one segment in one subnet. On by default; a
    /// devnet where every node dials from 127.0.0.1 turns it off.
    pub distinct_subnets: bool,
    /// How strongly low RTT is preferred (exponent on `1 / rtt`); 0 ignores RTT.
    pub latency_weight: f64,
    /// How strongly free capacity is preferred (exponent on free bytes);
    /// 0 ignores capacity (beyond the node having room for the shard).
    pub capacity_weight: f64,
    /// The RTT assumed for nodes not yet measured.
    pub unknown_rtt: Duration,
}

/// RTTs below this are treated as this, so that a 0 ms loopback
/// measurement does not get an unbounded weight.
pub const MIN_RTT: Duration = Duration::from_millis(1);

impl Default for Policy {
    fn default() -> Self {
        Self {
            reputation_floor: 0.6,
            distinct_subnets: true,
            latency_weight: 0.5,
            capacity_weight: 1.0,
            unknown_rtt: Duration::from_millis(250),
        }
    }
}

impl Policy {
    /// The default policy with the subnet rule off, for a devnet whose nodes
    /// all run on one host.
    pub fn devnet() -> Self {
        Self {
            distinct_subnets: false,
            ..Self::default()
        }
    }

    /// Checks that the numbers make sense: finite, weights not negative.
    pub fn validate(&self) -> Result<(), PlacementError> {
        if !self.reputation_floor.is_finite() {
            return Err(PlacementError::InvalidPolicy(
                "reputation_floor must be a finite number",
            ));
        }
        if !(self.latency_weight.is_finite() && self.latency_weight >= 0.0) {
            return Err(PlacementError::InvalidPolicy(
                "latency_weight must be finite and not negative",
            ));
        }
        if !(self.capacity_weight.is_finite() && self.capacity_weight >= 0.0) {
            return Err(PlacementError::InvalidPolicy(
                "capacity_weight must be finite and not negative",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_devnet_drops_subnet_rule() {
        assert!(Policy::default().validate().is_ok());
        assert!(Policy::default().distinct_subnets);
        assert!(!Policy::devnet().distinct_subnets);
    }

    #[test]
    fn rejects_bad_numbers() {
        let p = Policy {
            latency_weight: -1.0,
            ..Policy::default()
        };
        assert!(p.validate().is_err());
        let p = Policy {
            capacity_weight: f64::NAN,
            ..Policy::default()
        };
        assert!(p.validate().is_err());
        let p = Policy {
            reputation_floor: f64::INFINITY,
            ..Policy::default()
        };
        assert!(p.validate().is_err());
    }
}
