//! Confidence intervals of a pass rate: the Wilson score interval (E. B. Wilson, JASA 22(158),
//! 1927), which stays inside [0, 1] and behaves at 0 % and 100 %, and the verdicts built on it
//! (does a level meet the SLO with confidence; can two levels be told apart).

use serde::{Deserialize, Serialize};

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A closed interval of a proportion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Whether the two intervals share a point (then the two rates cannot be told apart).
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.low <= other.high && other.low <= self.high
    }
}

/// Wilson score interval of `k` successes in `n` trials at `z`; `None` when n = 0.
pub fn wilson(k: usize, n: usize, z: f64) -> Option<Interval> {
    if n == 0 || k > n {
        return None;
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval { low: (center - half).max(0.0), high: (center + half).min(1.0) })
}

/// Whether a level meets an SLO quantile, judged on its pass-rate interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The whole interval is at or above the quantile.
    Meets,
    /// The whole interval is below it.
    Fails,
    /// The interval straddles it: more sessions are needed to say.
    Unsure,
}

/// The verdict of an interval against a required pass fraction.
pub fn judge(iv: &Interval, quantile: f64) -> Confidence {
    if iv.low >= quantile {
        Confidence::Meets
    } else if iv.high < quantile {
        Confidence::Fails
    } else {
        Confidence::Unsure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn wilson_by_hand() {
        // 8 of 10, z = 1.96: z²/n = 0.38416, centre = (0.8 + 0.19208)/1.38416 = 0.71679,
        // half = 1.96/1.38416 · √(0.016 + 0.009604) = 0.22658 → [0.4902, 0.9433].
        let iv = wilson(8, 10, 1.96).unwrap();
        assert!(close(iv.low, 0.4902) && close(iv.high, 0.9433), "{iv:?}");
        // 10 of 10: the interval ends at 1 and starts at n/(n + z²) = 10/13.8416 = 0.7225.
        let all = wilson(10, 10, 1.96).unwrap();
        assert!(close(all.high, 1.0) && close(all.low, 0.72246), "{all:?}");
        // 0 of 10 mirrors it.
        let none = wilson(0, 10, 1.96).unwrap();
        assert!(close(none.low, 0.0) && close(none.high, 1.0 - 0.72246), "{none:?}");
        assert_eq!(wilson(0, 0, Z95), None);
        assert_eq!(wilson(3, 2, Z95), None);
    }

    #[test]
    fn verdicts_and_overlap() {
        // 100 of 100 at 95 %: low = 100/(100 + 3.8415) = 0.96301 ≥ 0.95 → meets.
        assert_eq!(judge(&wilson(100, 100, Z95).unwrap(), 0.95), Confidence::Meets);
        // 10 of 10: low 0.7225 < 0.95 ≤ high → too few sessions to say.
        assert_eq!(judge(&wilson(10, 10, Z95).unwrap(), 0.95), Confidence::Unsure);
        // 50 of 100: high ≈ 0.597 < 0.95 → fails.
        assert_eq!(judge(&wilson(50, 100, Z95).unwrap(), 0.95), Confidence::Fails);
        let a = wilson(100, 100, Z95).unwrap();
        let b = wilson(50, 100, Z95).unwrap();
        let c = wilson(9, 10, Z95).unwrap();
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        assert!(a.overlaps(&c) && c.overlaps(&a));
    }
}
