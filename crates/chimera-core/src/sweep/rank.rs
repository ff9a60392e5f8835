//! Ranking of sweep points (by throughput, by TTFT, by a stated composite; by goodput in a load
//! sweep with an SLO), the Pareto front (throughput up, TTFT down) and the best configuration
//! (the composite's first, or the goodput's first under an SLO) with its margin over the baseline.
//! Pure functions over [`PointResult`]s.

use crate::records::sweep::{Best, Margin, PointResult, Ranking};
use crate::stats::{Uncertain, delta_pct};

/// How the composite score is computed (printed in every summary).
pub const COMPOSITE_MD: &str = "composite = √(throughput / best throughput × best TTFT / TTFT), \
the geometric mean of the two normalised scores (1 = best on both; means over successful runs)";

/// How "exceeds the noise" is decided (printed in every summary).
pub const NOISE_MD: &str = "a margin exceeds the noise when |Δ%| > 2σ, σ propagated from both \
points' sample sds (σ_r = |r|·√((σ_a/a)² + (σ_b/b)²)); unknown when either point has n < 2";

fn tput(p: &PointResult) -> Option<f64> {
    p.throughput_tok_s.as_ref().map(|s| s.mean)
}

fn ttft(p: &PointResult) -> Option<f64> {
    p.ttft_ms.as_ref().map(|s| s.mean)
}

fn unc(s: &crate::stats::Summary) -> (Uncertain, bool) {
    (Uncertain { value: s.mean, sd: s.sd.unwrap_or(0.0) }, s.sd.is_some())
}

/// Δ% of `new` over `old` with the 2σ noise rule.
pub fn margin(old: &crate::stats::Summary, new: &crate::stats::Summary) -> Option<Margin> {
    let (o, o_sd) = unc(old);
    let (n, n_sd) = unc(new);
    let d = delta_pct(o, n)?;
    let exceeds_noise = if o_sd && n_sd { Some(d.value.abs() > 2.0 * d.sd) } else { None };
    Some(Margin { delta_pct: d, exceeds_noise })
}

/// True when `a` dominates `b`: at least as good on both, strictly better on one.
fn dominates(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 >= b.0 && a.1 <= b.1 && (a.0 > b.0 || a.1 < b.1)
}

/// Rank `points` (see the module doc and [`COMPOSITE_MD`]).
pub fn rank(points: &[PointResult]) -> Ranking {
    let mut by_throughput: Vec<usize> = (0..points.len()).filter(|&i| tput(&points[i]).is_some()).collect();
    by_throughput
        .sort_by(|&a, &b| tput(&points[b]).unwrap_or(0.0).total_cmp(&tput(&points[a]).unwrap_or(0.0)));
    let mut by_ttft: Vec<usize> = (0..points.len()).filter(|&i| ttft(&points[i]).is_some()).collect();
    by_ttft.sort_by(|&a, &b| ttft(&points[a]).unwrap_or(0.0).total_cmp(&ttft(&points[b]).unwrap_or(0.0)));

    let both: Vec<(usize, (f64, f64))> = (0..points.len())
        .filter_map(|i| Some((i, (tput(&points[i])?, ttft(&points[i])?))))
        .filter(|(_, (t, f))| *t > 0.0 && *f > 0.0)
        .collect();
    let best_t = both.iter().map(|(_, (t, _))| *t).fold(f64::NEG_INFINITY, f64::max);
    let best_f = both.iter().map(|(_, (_, f))| *f).fold(f64::INFINITY, f64::min);
    let mut by_composite: Vec<(usize, f64)> =
        both.iter().map(|&(i, (t, f))| (i, ((t / best_t) * (best_f / f)).sqrt())).collect();
    by_composite.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    let mut pareto: Vec<usize> = both
        .iter()
        .filter(|(i, a)| !both.iter().any(|(j, b)| j != i && dominates(*b, *a)))
        .map(|(i, _)| *i)
        .collect();
    pareto.sort_by(|&a, &b| tput(&points[b]).unwrap_or(0.0).total_cmp(&tput(&points[a]).unwrap_or(0.0)));

    // Under an SLO the best point is the one that serves the most passing sessions per minute
    // (ties: the higher pass rate, then run order); throughput and TTFT rank the rest.
    let goodput = |i: usize| points[i].load.as_ref().and_then(|l| l.ranked_goodput());
    let pass = |i: usize| points[i].load.as_ref().and_then(|l| l.pooled.pass_rate).unwrap_or(0.0);
    let mut by_goodput: Vec<usize> = (0..points.len()).filter(|&i| goodput(i).is_some()).collect();
    by_goodput.sort_by(|&a, &b| {
        goodput(b)
            .unwrap_or(0.0)
            .total_cmp(&goodput(a).unwrap_or(0.0))
            .then(pass(b).total_cmp(&pass(a)))
            .then(a.cmp(&b))
    });
    let first = match by_goodput.first() {
        Some(&i) => Some((i, by_composite.iter().find(|(j, _)| *j == i).map_or(0.0, |c| c.1))),
        None => by_composite.first().copied(),
    };
    let baseline = points.iter().find(|p| p.baseline);
    let best = first.map(|(index, composite)| {
        let p = &points[index];
        let (tm, fm) = match baseline {
            Some(b) if !p.baseline => (
                b.throughput_tok_s.as_ref().zip(p.throughput_tok_s.as_ref()).and_then(|(o, n)| margin(o, n)),
                b.ttft_ms.as_ref().zip(p.ttft_ms.as_ref()).and_then(|(o, n)| margin(o, n)),
            ),
            _ => (None, None),
        };
        Best {
            index,
            label: p.label.clone(),
            composite,
            is_baseline: p.baseline,
            throughput_vs_baseline: tm,
            ttft_vs_baseline: fm,
        }
    });
    Ranking { by_throughput, by_ttft, by_composite, pareto, by_goodput, best }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::sweep::RunSample;
    use crate::stats::summarize;
    use crate::sweep::grid::{Grid, parse_values};

    /// Points with the given (throughput samples, ttft samples).
    fn pts(data: &[(&[f64], &[f64])]) -> Vec<PointResult> {
        let values: Vec<String> = (1..data.len().max(3)).map(|i| (i * 100).to_string()).collect();
        let g = Grid::from_lists(&[("num_ctx".into(), parse_values(&values.join(",")))]).unwrap();
        let ps = g.points(true).unwrap();
        ps.iter()
            .zip(data)
            .enumerate()
            .map(|(i, (p, (t, f)))| {
                let mut r = PointResult::new(p, i, None, vec![]);
                r.throughput_tok_s = summarize(t);
                r.ttft_ms = summarize(f);
                r
            })
            .collect()
    }

    #[test]
    fn ranking_pareto_and_composite_by_hand() {
        // 0 baseline: 100 tok/s, 200 ms;  1: 150, 300;  2: 120, 100;  3: 90, 150 (dominated by 2)
        let p = pts(&[(&[100.0], &[200.0]), (&[150.0], &[300.0]), (&[120.0], &[100.0]), (&[90.0], &[150.0])]);
        let r = rank(&p);
        assert_eq!(r.by_throughput, vec![1, 2, 0, 3]);
        assert_eq!(r.by_ttft, vec![2, 3, 0, 1]);
        assert_eq!(r.pareto, vec![1, 2]);
        // composite: best t = 150, best f = 100
        // 0: sqrt(100/150 * 100/200) = sqrt(1/3) = 0.57735
        // 1: sqrt(1 * 1/3) = 0.57735;  2: sqrt(0.8 * 1) = 0.894427;  3: sqrt(0.6 * 2/3) = 0.632456
        let order: Vec<usize> = r.by_composite.iter().map(|x| x.0).collect();
        assert_eq!(order, vec![2, 3, 0, 1]);
        assert!((r.by_composite[0].1 - 0.894_427).abs() < 1e-6);
        assert!((r.by_composite[1].1 - 0.632_456).abs() < 1e-6);
        let b = r.best.unwrap();
        assert_eq!(b.index, 2);
        assert!(!b.is_baseline);
        // 120 vs 100 -> +20 %, no sd (n = 1) -> noise unknown
        let m = b.throughput_vs_baseline.unwrap();
        assert!((m.delta_pct.value - 20.0).abs() < 1e-9);
        assert_eq!(m.exceeds_noise, None);
        assert!((b.ttft_vs_baseline.unwrap().delta_pct.value + 50.0).abs() < 1e-9);
    }

    #[test]
    fn noise_rule_by_hand() {
        // baseline 100 ± 10 (n=3: 90,100,110), new 104 ± 10 (94,104,114): Δ = 4 %,
        // σ = 1.04 · sqrt(0.01 + 0.0092456) · 100 = 1.04 · 0.138729 · 100 = 14.4278 % -> within noise
        let p = pts(&[
            (&[90.0, 100.0, 110.0], &[10.0, 10.0, 10.0]),
            (&[94.0, 104.0, 114.0], &[10.0, 10.0, 10.0]),
        ]);
        let m =
            margin(p[0].throughput_tok_s.as_ref().unwrap(), p[1].throughput_tok_s.as_ref().unwrap()).unwrap();
        assert!((m.delta_pct.value - 4.0).abs() < 1e-9);
        assert!((m.delta_pct.sd - 14.4278).abs() < 1e-3, "{}", m.delta_pct.sd);
        assert_eq!(m.exceeds_noise, Some(false));
        // 200 ± 1 vs 100 ± 1: Δ = 100 %, σ ≈ 2.24 % -> exceeds
        let p = pts(&[(&[99.0, 100.0, 101.0], &[10.0]), (&[199.0, 200.0, 201.0], &[10.0])]);
        let m =
            margin(p[0].throughput_tok_s.as_ref().unwrap(), p[1].throughput_tok_s.as_ref().unwrap()).unwrap();
        assert_eq!(m.exceeds_noise, Some(true));
    }

    #[test]
    fn baseline_can_win_and_empty_points_are_skipped() {
        let mut p = pts(&[(&[200.0], &[50.0]), (&[100.0], &[100.0]), (&[150.0], &[60.0])]);
        p[2].throughput_tok_s = None;
        p[2].runs = vec![RunSample {
            run: 0,
            ok: false,
            error: Some("x".into()),
            ttft_ms: None,
            decode_tok_s: None,
            e2e_ms: None,
            output_tokens: 0,
            prompt_tokens: None,
            load_ms: None,
            prompt_eval_ms: None,
            eval_ms: None,
            latency: None,
            sessions: Vec::new(),
        }];
        let r = rank(&p);
        assert_eq!(r.by_throughput, vec![0, 1]);
        assert_eq!(r.pareto, vec![0]);
        let b = r.best.unwrap();
        assert!(b.is_baseline);
        assert!(b.throughput_vs_baseline.is_none());
        assert!(rank(&[]).best.is_none());
    }

    /// A load point with this goodput (passing sessions/min) and pass rate.
    fn loaded(mut p: PointResult, goodput: f64, pass: f64, slo: &str) -> PointResult {
        use crate::records::traffic::{LoadModel, LoadPoint};
        let mut pooled = crate::traffic::level::summarize_level(&[], 0.95, true);
        pooled.goodput_per_min = Some(goodput);
        pooled.pass_rate = Some(pass);
        p.load = Some(LoadPoint {
            load: LoadModel::Closed { concurrency: 2 },
            slo: slo.parse().unwrap_or_default(),
            quantile: 0.95,
            runs: vec![],
            pooled,
        });
        p
    }

    #[test]
    fn under_an_slo_the_best_point_is_the_one_with_the_most_goodput() {
        // Composite alone would pick 2 (see the hand-worked ranking above).
        let p = pts(&[(&[100.0], &[200.0]), (&[150.0], &[300.0]), (&[120.0], &[100.0]), (&[90.0], &[150.0])]);
        let slo = "session_s<=60";
        let with: Vec<PointResult> = p
            .iter()
            .cloned()
            .zip([(10.0, 1.0), (30.0, 0.9), (20.0, 1.0), (30.0, 1.0)])
            .map(|(p, (g, r))| loaded(p, g, r, slo))
            .collect();
        let r = rank(&with);
        // 3 and 1 tie on goodput: 3 has the higher pass rate.
        assert_eq!(r.by_goodput, vec![3, 1, 2, 0]);
        let b = r.best.unwrap();
        assert_eq!(b.index, 3);
        assert!((b.composite - 0.632_456).abs() < 1e-6, "its composite is still reported");
        // Without objectives (no --slo) goodput is not a ranking: the composite decides.
        let without: Vec<PointResult> = p.iter().cloned().map(|p| loaded(p, 10.0, 1.0, "")).collect();
        let r = rank(&without);
        assert!(r.by_goodput.is_empty());
        assert_eq!(r.best.unwrap().index, 2);
    }
}
