//! What one task may use, and the bounds a node puts on what is asked.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The limits of one task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel: about one unit per WebAssembly instruction executed.
    pub fuel: u64,
    /// Bytes of linear memory the module may grow to.
    pub memory: u64,
    /// Wall time, in milliseconds.
    pub timeout_ms: u64,
    /// Bytes of stdout kept; writing more fails the task.
    pub output: u64,
    /// Bytes of stderr kept; the rest is dropped (the task goes on).
    pub log: u64,
}

/// A limit outside what this build accepts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name} must be between {min} and {max} (got {got})")]
pub struct LimitsError {
    /// The limit.
    pub name: &'static str,
    /// The smallest accepted.
    pub min: u64,
    /// The largest accepted.
    pub max: u64,
    /// What was asked.
    pub got: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // About 1 GiB through a byte-at-a-time loop takes 1e10.
            fuel: 1_000_000_000_000,
            memory: 256 << 20,
            timeout_ms: 5 * 60 * 1000,
            output: 64 << 20,
            log: 64 << 10,
        }
    }
}

impl Limits {
    /// The most a job may ask for, per task.
    pub const MAX: Limits = Limits {
        fuel: 1_000_000_000_000_000,
        memory: 4 << 30,
        timeout_ms: 60 * 60 * 1000,
        output: 256 << 20,
        log: 1 << 20,
    };

    /// Checks every limit is within [`Limits::MAX`] (and not zero where
    /// zero would make no sense).
    pub fn check(&self) -> Result<(), LimitsError> {
        let max = Self::MAX;
        for (name, min, got, max) in [
            ("fuel", 1, self.fuel, max.fuel),
            ("memory", 64 << 10, self.memory, max.memory),
            ("timeout", 1, self.timeout_ms, max.timeout_ms),
            ("output", 0, self.output, max.output),
            ("log", 0, self.log, max.log),
        ] {
            if got < min || got > max {
                return Err(LimitsError {
                    name,
                    min,
                    max,
                    got,
                });
            }
        }
        Ok(())
    }

    /// The wall time.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// These limits, each no larger than `cap`'s (what a node offers).
    pub fn within(&self, cap: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.min(cap.fuel),
            memory: self.memory.min(cap.memory),
            timeout_ms: self.timeout_ms.min(cap.timeout_ms),
            output: self.output.min(cap.output),
            log: self.log.min(cap.log),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_accepted_and_excess_is_named() {
        assert_eq!(Limits::default().check(), Ok(()));
        assert_eq!(Limits::MAX.check(), Ok(()));
        let too_much = Limits {
            memory: 8 << 30,
            ..Limits::default()
        };
        let err = too_much.check().unwrap_err();
        assert_eq!(err.name, "memory");
        assert!(err.to_string().contains("memory must be between"));
        let no_fuel = Limits {
            fuel: 0,
            ..Limits::default()
        };
        assert_eq!(no_fuel.check().unwrap_err().name, "fuel");
    }

    #[test]
    fn a_node_caps_what_is_asked() {
        let cap = Limits {
            memory: 64 << 20,
            ..Limits::default()
        };
        let asked = Limits {
            memory: 1 << 30,
            fuel: 5,
            ..Limits::default()
        };
        let got = asked.within(&cap);
        assert_eq!(got.memory, 64 << 20);
        assert_eq!(got.fuel, 5);
    }
}
