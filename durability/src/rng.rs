//! A small, fast, seedable generator (xoshiro256++ seeded by splitmix64),
//! so that every run is reproducible from its seed on any platform and
//! with any number of threads: each segment history draws from its own
//! stream, derived from the seed and the history's index.

/// One reproducible stream of random numbers.
#[derive(Clone, Debug)]
pub struct Rng {
    state: [u64; 4],
}

/// splitmix64: spreads a 64-bit counter into well-mixed words.
fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let state = [
            splitmix(&mut x),
            splitmix(&mut x),
            splitmix(&mut x),
            splitmix(&mut x),
        ];
        Self { state }
    }

    /// Stream number `index` of `seed`: independent of every other index.
    pub fn stream(seed: u64, index: u64) -> Self {
        let mut x = seed ^ 0x5851_f42d_4c95_7f2d;
        let a = splitmix(&mut x);
        let mut y = index.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ a;
        Self::new(splitmix(&mut y))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1)`: never 0, so its logarithm is finite.
    #[inline]
    pub fn open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// An exponential wait at `rate` (infinite at rate 0).
    #[inline]
    pub fn exp(&mut self, rate: f64) -> f64 {
        if rate > 0.0 {
            -self.open01().ln() / rate
        } else {
            f64::INFINITY
        }
    }

    /// Uniform in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(7, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::stream(7, 3).next_u64(), Rng::stream(7, 4).next_u64());
        assert_ne!(Rng::stream(7, 3).next_u64(), Rng::stream(8, 3).next_u64());
    }

    #[test]
    fn uniform_and_exponential_have_the_right_means() {
        let mut rng = Rng::new(1);
        let count = 200_000;
        let mean_u: f64 = (0..count).map(|_| rng.uniform()).sum::<f64>() / count as f64;
        assert!((mean_u - 0.5).abs() < 0.005, "{mean_u}");
        let mean_e: f64 = (0..count).map(|_| rng.exp(4.0)).sum::<f64>() / count as f64;
        assert!((mean_e - 0.25).abs() < 0.005, "{mean_e}");
        let mut hits = [0usize; 5];
        for _ in 0..count {
            hits[rng.below(5)] += 1;
        }
        assert!(
            hits.iter()
                .all(|&h| (h as f64 / count as f64 - 0.2).abs() < 0.01)
        );
        assert_eq!(rng.exp(0.0), f64::INFINITY);
    }
}
