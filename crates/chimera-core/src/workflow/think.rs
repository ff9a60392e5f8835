//! Think time before a step: fixed, uniform or exponential, drawn from a seeded generator so a
//! workflow with the same seed waits the same times.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A think-time distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum ThinkTime {
    Fixed { ms: f64 },
    Uniform { min_ms: f64, max_ms: f64 },
    Exponential { mean_ms: f64 },
}

impl ThinkTime {
    /// Why the parameters are invalid, if they are.
    pub fn check(&self) -> Result<(), String> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        match *self {
            ThinkTime::Fixed { ms } if !ok(ms) => Err(format!("think ms = {ms}: give a number ≥ 0")),
            ThinkTime::Uniform { min_ms, max_ms } if !ok(min_ms) || !ok(max_ms) || min_ms > max_ms => {
                Err(format!("think uniform {min_ms}..{max_ms} ms: give 0 ≤ min_ms ≤ max_ms"))
            }
            ThinkTime::Exponential { mean_ms } if !ok(mean_ms) => {
                Err(format!("think mean_ms = {mean_ms}: give a number ≥ 0"))
            }
            _ => Ok(()),
        }
    }

    /// One draw, ms. Exponential by inversion: −mean · ln(1 − u), u uniform in [0, 1).
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        match *self {
            ThinkTime::Fixed { ms } => ms,
            ThinkTime::Uniform { min_ms, max_ms } => min_ms + (max_ms - min_ms) * rng.random::<f64>(),
            ThinkTime::Exponential { mean_ms } => -mean_ms * (1.0 - rng.random::<f64>()).ln(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn draws_are_seeded_and_in_range() {
        let mut a = StdRng::seed_from_u64(7);
        let mut b = StdRng::seed_from_u64(7);
        let u = ThinkTime::Uniform { min_ms: 10.0, max_ms: 20.0 };
        for _ in 0..100 {
            let x = u.sample(&mut a);
            assert!((10.0..20.0).contains(&x), "{x}");
            assert_eq!(x, u.sample(&mut b));
        }
        assert_eq!(ThinkTime::Fixed { ms: 5.0 }.sample(&mut a), 5.0);
    }

    #[test]
    fn exponential_mean_is_close() {
        // Mean of 20 000 draws with mean 100: sd of the mean = 100/√20000 ≈ 0.71, so ±5 is 7σ.
        let mut r = StdRng::seed_from_u64(1);
        let e = ThinkTime::Exponential { mean_ms: 100.0 };
        let xs: Vec<f64> = (0..20_000).map(|_| e.sample(&mut r)).collect();
        assert!(xs.iter().all(|x| *x >= 0.0));
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((m - 100.0).abs() < 5.0, "{m}");
    }

    #[test]
    fn bad_parameters_are_named() {
        assert!(ThinkTime::Fixed { ms: -1.0 }.check().is_err());
        assert!(ThinkTime::Uniform { min_ms: 5.0, max_ms: 1.0 }.check().unwrap_err().contains("min_ms"));
        assert!(ThinkTime::Exponential { mean_ms: f64::NAN }.check().is_err());
        assert!(ThinkTime::Uniform { min_ms: 0.0, max_ms: 0.0 }.check().is_ok());
    }
}
