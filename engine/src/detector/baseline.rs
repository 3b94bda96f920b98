//! Streaming baselines: mean and spread learned online (Welford), turned into z-scores.

use serde::{Deserialize, Serialize};

/// Running mean and variance of one quantity.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Welford {
    n: u32,
    mean: f64,
    m2: f64,
}

impl Welford {
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / f64::from(self.n);
        self.m2 += delta * (x - self.mean);
    }

    pub fn count(&self) -> u32 {
        self.n
    }

    pub fn mean(&self) -> f64 {
        self.mean
    }

    pub fn std(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / f64::from(self.n - 1)).sqrt()
        }
    }

    pub fn band(&self) -> Band {
        Band {
            mean: self.mean as f32,
            std: self.std() as f32,
            samples: self.n,
        }
    }
}

/// A learned baseline: what is normal for one entity and metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub mean: f32,
    pub std: f32,
    pub samples: u32,
}

impl Band {
    /// z-score of `x`, with the spread floored so that a flat baseline does not make every
    /// wobble an anomaly.
    pub fn z(&self, x: f32, std_floor: f32) -> f32 {
        (x - self.mean) / self.std.max(std_floor)
    }

    /// The band drawn behind charts: mean ± `k` spreads.
    pub fn range(&self, k: f32, std_floor: f32) -> (f32, f32) {
        let s = self.std.max(std_floor);
        ((self.mean - k * s).max(0.0), self.mean + k * s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_two_pass_mean_and_sample_std() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut w = Welford::default();
        xs.iter().for_each(|&x| w.add(x));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        assert!((w.mean() - mean).abs() < 1e-12);
        assert!((w.std() - var.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn z_uses_the_floor_for_flat_baselines() {
        let b = Band {
            mean: 10.0,
            std: 0.0,
            samples: 50,
        };
        assert_eq!(b.z(20.0, 2.0), 5.0);
    }
}
