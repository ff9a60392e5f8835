//! Descriptive statistics as small pure functions (mean ± sd, median, percentiles, CV,
//! relative change with propagated error), each tested against hand-computed numbers.

use serde::{Deserialize, Serialize};

/// Summary of a sample. `sd` and `cv` are `None` when n < 2 (a single value has no spread).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub sd: Option<f64>,
    pub cv: Option<f64>,
    pub median: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

/// Arithmetic mean; `None` for an empty sample.
pub fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() { None } else { Some(xs.iter().sum::<f64>() / xs.len() as f64) }
}

/// Sample standard deviation (n − 1 denominator); `None` when n < 2.
pub fn sample_sd(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (xs.len() - 1) as f64).sqrt())
}

/// Percentile `q` in [0, 100] of an ascending-sorted sample by linear interpolation
/// between closest ranks (Hyndman & Fan type 7, the default of R and NumPy).
pub fn percentile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let q = q.clamp(0.0, 100.0) / 100.0;
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// The p50, p90 and p99 of a sample (type 7, as [`percentile_sorted`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

/// p50 / p90 / p99 of `xs`; non-finite values are dropped. `None` when nothing finite is left.
pub fn percentiles(xs: &[f64]) -> Option<Percentiles> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    Some(Percentiles {
        n: v.len(),
        p50: percentile_sorted(&v, 50.0)?,
        p90: percentile_sorted(&v, 90.0)?,
        p99: percentile_sorted(&v, 99.0)?,
    })
}

/// Summarise a sample; non-finite values are dropped. `None` when nothing finite is left.
pub fn summarize(xs: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = mean(&v)?;
    let sd = sample_sd(&v);
    Some(Summary {
        n: v.len(),
        mean: m,
        sd,
        cv: sd.and_then(|s| if m != 0.0 { Some(s / m.abs()) } else { None }),
        median: percentile_sorted(&v, 50.0)?,
        p95: percentile_sorted(&v, 95.0)?,
        p99: percentile_sorted(&v, 99.0)?,
        min: v[0],
        max: v[v.len() - 1],
    })
}

/// Pool samples known only by their `(n, mean, sd)` into one `(n, mean, sd)`: Σx = n·mean and
/// Σx² = (n − 1)·sd² + n·mean² add up (a part with n = 1 has no sd). `sd` is `None` when the
/// pooled n < 2; `None` for no samples.
pub fn pool(parts: &[(usize, f64, Option<f64>)]) -> Option<(usize, f64, Option<f64>)> {
    let n: usize = parts.iter().map(|p| p.0).sum();
    if n == 0 {
        return None;
    }
    let sum: f64 = parts.iter().map(|&(k, m, _)| k as f64 * m).sum();
    let sq: f64 = parts
        .iter()
        .map(|&(k, m, sd)| (k.saturating_sub(1)) as f64 * sd.unwrap_or(0.0).powi(2) + k as f64 * m * m)
        .sum();
    let mean = sum / n as f64;
    let sd = (n > 1).then(|| ((sq - n as f64 * mean * mean) / (n - 1) as f64).max(0.0).sqrt());
    Some((n, mean, sd))
}

/// Indices of the outliers of `xs` by the modified z-score of Iglewicz & Hoaglin (1993):
/// M = 0.6745 · (x − median) / MAD, an outlier when |M| > 3.5 (MAD = median absolute deviation).
/// None when MAD is 0 (more than half the values equal) or fewer than 3 values.
pub fn mad_outliers(xs: &[f64]) -> Vec<usize> {
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        percentile_sorted(v, 50.0)
    };
    if xs.len() < 3 || xs.iter().any(|x| !x.is_finite()) {
        return Vec::new();
    }
    let Some(med) = median(&mut xs.to_vec()) else { return Vec::new() };
    let Some(mad) = median(&mut xs.iter().map(|x| (x - med).abs()).collect()) else { return Vec::new() };
    if mad == 0.0 {
        return Vec::new();
    }
    xs.iter().enumerate().filter(|(_, x)| (0.6745 * (*x - med) / mad).abs() > 3.5).map(|(i, _)| i).collect()
}

/// Count, mean, sample sd, min and max of a stream of values without storing them: Welford's
/// online update (B. P. Welford, Technometrics 4(3), 1962; Knuth, TAOCP vol. 2, §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Running {
    pub n: usize,
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    m2: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Running {
    fn default() -> Self {
        Running { n: 0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Running {
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Sample standard deviation (n − 1 denominator); `None` when n < 2.
    pub fn sd(&self) -> Option<f64> {
        (self.n > 1).then(|| (self.m2 / (self.n - 1) as f64).sqrt())
    }
}

/// A value with its standard uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Uncertain {
    pub value: f64,
    pub sd: f64,
}

/// Ratio `num / den` with first-order propagated error:
/// σ_r = |r| · sqrt((σ_num/num)² + (σ_den/den)²). `None` when `den` is 0.
pub fn ratio(num: Uncertain, den: Uncertain) -> Option<Uncertain> {
    if den.value == 0.0 {
        return None;
    }
    let r = num.value / den.value;
    let rel_n = if num.value != 0.0 { num.sd / num.value } else { 0.0 };
    let rel_d = den.sd / den.value;
    Some(Uncertain { value: r, sd: r.abs() * (rel_n * rel_n + rel_d * rel_d).sqrt() })
}

/// Relative change of `new` against `old`, in percent, with propagated error:
/// Δ% = (new/old − 1) · 100, σ = 100 · σ_ratio.
pub fn delta_pct(old: Uncertain, new: Uncertain) -> Option<Uncertain> {
    let r = ratio(new, old)?;
    Some(Uncertain { value: (r.value - 1.0) * 100.0, sd: r.sd * 100.0 })
}

/// `mean ± sd` for display; just the mean when there is no sd (n < 2).
pub fn fmt_mean_sd(s: &Summary, decimals: usize) -> String {
    match s.sd {
        Some(sd) => format!("{:.*} ± {:.*}", decimals, s.mean, decimals, sd),
        None => format!("{:.*}", decimals, s.mean),
    }
}

/// [`fmt_mean_sd`], or `–` when there is no summary (a figure no run had).
pub fn fmt_opt_mean_sd(s: Option<&Summary>, decimals: usize) -> String {
    s.map_or_else(|| "–".into(), |s| fmt_mean_sd(s, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_moments_match_hand_computed_values() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 40 / 8 = 5, squared deviations 9+1+1+1+0+0+4+16 = 32,
        // sample sd = √(32 / 7).
        let mut r = Running::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            r.push(x);
        }
        assert_eq!((r.n, r.mean, r.min, r.max), (8, 5.0, 2.0, 9.0));
        assert!((r.sd().unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        let mut one = Running::default();
        one.push(3.5);
        assert_eq!((one.n, one.mean, one.sd(), one.min, one.max), (1, 3.5, None, 3.5, 3.5));
    }

    #[test]
    fn summary_by_hand() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sum of squares 32, sd = sqrt(32/7) = 2.13809
        let s = summarize(&[9.0, 2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0]).unwrap();
        assert_eq!(s.n, 8);
        assert_eq!(s.mean, 5.0);
        assert!((s.sd.unwrap() - 2.138_089_935).abs() < 1e-6);
        assert_eq!(s.median, 4.5);
        assert_eq!(s.min, 2.0);
        assert_eq!(s.max, 9.0);
        // type 7: h = 7 * 0.95 = 6.65 -> 7 + 0.65 * (9 - 7) = 8.3
        assert!((s.p95 - 8.3).abs() < 1e-12);
        assert!((s.cv.unwrap() - 2.138_089_935 / 5.0).abs() < 1e-6);
    }

    #[test]
    fn percentiles_by_hand() {
        // 10 20 30 40 50 (given unsorted): p50 = rank 2 = 30; p90: h = 4 · 0.9 = 3.6 → 40 + 0.6 · 10
        // = 46; p99: h = 3.96 → 40 + 0.96 · 10 = 49.6.
        let p = percentiles(&[50.0, 10.0, 40.0, 20.0, 30.0, f64::NAN]).unwrap();
        assert_eq!(p.n, 5);
        assert_eq!(p.p50, 30.0);
        assert!((p.p90 - 46.0).abs() < 1e-12 && (p.p99 - 49.6).abs() < 1e-12, "{p:?}");
        // two values 1 and 3: p50 = 2, p90 = 1 + 0.9 · 2 = 2.8, p99 = 2.98
        let p = percentiles(&[3.0, 1.0]).unwrap();
        assert!((p.p50 - 2.0).abs() < 1e-12 && (p.p90 - 2.8).abs() < 1e-12 && (p.p99 - 2.98).abs() < 1e-12);
        assert_eq!(percentiles(&[7.0]).map(|p| (p.p50, p.p90, p.p99)), Some((7.0, 7.0, 7.0)));
        assert!(percentiles(&[]).is_none());
    }

    #[test]
    fn pooling_and_outliers_by_hand() {
        // {1, 3} (n 2, mean 2, sd √2) and {5} (n 1): the pool {1, 3, 5} has mean 3, sd 2.
        let (n, m, sd) = pool(&[(2, 2.0, Some(2f64.sqrt())), (1, 5.0, None)]).unwrap();
        assert_eq!((n, m), (3, 3.0));
        assert!((sd.unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(pool(&[(1, 4.0, None)]), Some((1, 4.0, None)));
        assert_eq!(pool(&[]), None);
        // 10 11 12 13 100: median 12, |deviations| 2 1 0 1 88 → MAD 1; M(100) = 0.6745 · 88 = 59.4 > 3.5,
        // M(10) = 0.6745 · 2 = 1.35 ≤ 3.5.
        assert_eq!(mad_outliers(&[10.0, 11.0, 12.0, 13.0, 100.0]), vec![4]);
        assert!(mad_outliers(&[5.0, 5.0, 5.0, 9.0]).is_empty(), "MAD 0: no verdict");
        assert!(mad_outliers(&[1.0, 100.0]).is_empty());
    }

    #[test]
    fn single_value_has_no_spread() {
        let s = summarize(&[3.5]).unwrap();
        assert_eq!((s.n, s.mean, s.median, s.p95), (1, 3.5, 3.5, 3.5));
        assert_eq!(s.sd, None);
        assert_eq!(s.cv, None);
        assert_eq!(fmt_mean_sd(&s, 2), "3.50");
        assert_eq!(fmt_opt_mean_sd(Some(&s), 2), "3.50");
        assert_eq!(fmt_opt_mean_sd(None, 2), "–");
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[f64::NAN]).is_none());
    }

    #[test]
    fn ratio_and_delta_propagate_error() {
        // 110 ± 11 over 100 ± 0: r = 1.1, σ = 1.1 * 0.1 = 0.11
        let r = ratio(Uncertain { value: 110.0, sd: 11.0 }, Uncertain { value: 100.0, sd: 0.0 }).unwrap();
        assert!((r.value - 1.1).abs() < 1e-12 && (r.sd - 0.11).abs() < 1e-12);
        let d = delta_pct(Uncertain { value: 100.0, sd: 3.0 }, Uncertain { value: 90.0, sd: 4.0 }).unwrap();
        // r = 0.9, rel errors 4/90 and 3/100 -> σ_r = 0.9 * sqrt(0.0019753 + 0.0009) = 0.048259
        assert!((d.value + 10.0).abs() < 1e-9);
        assert!((d.sd - 4.8259).abs() < 1e-3);
        assert!(ratio(Uncertain { value: 1.0, sd: 0.0 }, Uncertain { value: 0.0, sd: 0.0 }).is_none());
    }
}
