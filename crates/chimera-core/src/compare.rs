//! `chimera compare OLD NEW`: the regression gate. Reads two outputs of the same kind (sweep,
//! multi or bench), pairs their throughput and TTFT figures, computes Δ% with a noise band
//! (±2σ propagated from both sample sds) and fails when a threshold is crossed.
//!
//! The gate judges the change of the means (Δ%) against the thresholds; the noise band is
//! reported beside it so a reader can tell a real regression from run-to-run spread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::records::compare::{Comparison, Figure, MetricClass, Row, Thresholds, Verdict};

use crate::export::{ExportError, Exporter, Markdown};
use crate::load::{LoadError, MultiResults, Results, load_dir};
use crate::records::Kind;
use crate::records::bench::{BenchMetric, BenchOutcome, Side};
use crate::records::sweep::SweepSummary;
use crate::records::traffic::{Axis, CapacityRecord, LevelSummary};
use crate::stats::{Uncertain, delta_pct, summarize};

/// The kind of an output folder and its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extracted {
    pub kind: Kind,
    pub dir: PathBuf,
    pub figures: Vec<Figure>,
}

/// Errors of `compare`; messages say what to pass instead.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{path} is an {} output; compare reads chimera sweep, multi, bench, load (multi --arrival) and capacity outputs", kind.workload())]
    NotComparable { path: String, kind: Kind },
    #[error(
        "cannot compare a {} output with a {} output; pass two outputs of the same command",
        old.workload(),
        new.workload()
    )]
    KindMismatch { old: Kind, new: Kind },
    #[error("the two outputs share no figure (different grids or agents?); nothing to compare")]
    NothingShared,
}

/// Read the figures of an output folder (or of its `summary.json` / `metrics.json` given
/// directly), through the typed loader.
pub fn extract(path: &Path) -> Result<Extracted, CompareError> {
    let loaded = load_dir(path)?;
    let mut figures = Vec::new();
    match &loaded.results {
        Results::Sweep(s) => sweep_figures(s, &mut figures),
        Results::Multi(m) => multi_figures(m, &mut figures),
        Results::Bench(b) => bench_figures(&b.outcome, &mut figures),
        Results::Load(l) => load_figures(&l.summary, &mut figures),
        Results::Capacity(c) => capacity_figures(c, &mut figures),
        Results::Agent(_) => {
            return Err(CompareError::NotComparable {
                path: loaded.file.display().to_string(),
                kind: loaded.results.kind(),
            });
        }
    }
    Ok(Extracted { kind: loaded.results.kind(), dir: loaded.dir, figures })
}

/// Sweep: each point's throughput and TTFT.
fn sweep_figures(s: &SweepSummary, out: &mut Vec<Figure>) {
    for p in &s.points {
        if let Some(t) = &p.throughput_tok_s {
            out.push(Figure::from_summary(
                format!("{} · throughput (tok/s)", p.label),
                MetricClass::Throughput,
                t,
            ));
        }
        if let Some(t) = &p.ttft_ms {
            out.push(Figure::from_summary(format!("{} · TTFT (ms)", p.label), MetricClass::Ttft, t));
        }
    }
}

/// Multi: aggregate throughput and per-agent decode rate from the summary; per-agent TTFT of
/// the concurrent phase over the runs.
fn multi_figures(m: &MultiResults, out: &mut Vec<Figure>) {
    let s = &m.summary;
    if let Some(t) = &s.aggregates.aggregate_tok_s {
        out.push(Figure::from_summary("aggregate throughput (tok/s)", MetricClass::Throughput, t));
    }
    for a in &s.per_agent {
        if let Some(t) = &a.decode_tok_s {
            out.push(Figure::from_summary(
                format!("{} · throughput (tok/s)", a.label),
                MetricClass::Throughput,
                t,
            ));
        }
    }
    let mut ttft: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in &m.runs {
        for a in &r.agents {
            if let Some(t) = a.concurrent.as_ref().and_then(|c| c.ttft_ms) {
                ttft.entry(&a.label).or_default().push(t);
            }
        }
    }
    for (label, xs) in ttft {
        if let Some(s) = summarize(&xs) {
            out.push(Figure::from_summary(format!("{label} · TTFT (ms)"), MetricClass::Ttft, &s));
        }
    }
}

fn one(name: &str, class: MetricClass, value: Option<f64>, out: &mut Vec<Figure>) {
    if let Some(v) = value.filter(|v| v.is_finite()) {
        out.push(Figure { name: name.into(), class, mean: v, sd: None, n: 1 });
    }
}

/// An open- or closed-loop run: goodput and throughput (sessions/min), pass rate, and the
/// sessions' worst-TTFT p95 and session-time p95 (lower is better).
fn load_figures(l: &LevelSummary, out: &mut Vec<Figure>) {
    one("goodput (sessions/min)", MetricClass::Throughput, l.goodput_per_min, out);
    one("throughput (sessions/min)", MetricClass::Throughput, l.throughput_per_min, out);
    one("SLO pass rate (%)", MetricClass::Throughput, l.pass_rate.map(|p| p * 100.0), out);
    one("session TTFT p95 (ms)", MetricClass::Ttft, l.ttft_max_ms.as_ref().map(|s| s.p95), out);
}

/// A capacity search: the highest level meeting the SLO and the sustainable goodput (mean ±
/// sd over its repeats), both higher-is-better.
fn capacity_figures(c: &CapacityRecord, out: &mut Vec<Figure>) {
    let unit = match c.axis {
        Axis::Rate => "sessions/s",
        Axis::Concurrency => "concurrent sessions",
    };
    one(&format!("capacity ({unit})"), MetricClass::Throughput, c.max_level, out);
    if let Some(s) = &c.sustainable_per_min {
        out.push(Figure::from_summary("sustainable goodput (sessions/min)", MetricClass::Throughput, s));
    }
}

/// Bench: the Throughput and TTFT comparisons, for each side.
fn bench_figures(b: &BenchOutcome, out: &mut Vec<Figure>) {
    for c in &b.comparisons {
        let class = match c.metric {
            BenchMetric::Throughput => MetricClass::Throughput,
            BenchMetric::Ttft => MetricClass::Ttft,
            _ => continue,
        };
        for (side, s) in [(Side::Baseline, &c.baseline), (Side::Chimera, &c.chimera)] {
            if let Some(s) = s {
                let name = format!("{} · {} ({})", side.name(), c.metric.name(), c.unit);
                out.push(Figure::from_summary(name, class, s));
            }
        }
    }
}

/// Parse `5%`, `5` or `2.5 %` as a percentage ≥ 0.
pub fn parse_pct(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a percentage; write it like 5% or 2.5")),
    }
}

fn row(old: &Figure, new: &Figure, th: &Thresholds) -> Row {
    let d = delta_pct(
        Uncertain { value: old.mean, sd: old.sd.unwrap_or(0.0) },
        Uncertain { value: new.mean, sd: new.sd.unwrap_or(0.0) },
    );
    let has_sd = old.sd.is_some() || new.sd.is_some();
    let band = d.filter(|_| has_sd).map(|d| (d.value - 2.0 * d.sd, d.value + 2.0 * d.sd));
    let verdict = match d {
        None => Verdict::Skipped,
        Some(d) => {
            let bad = match old.class {
                MetricClass::Throughput => -d.value > th.max_throughput_drop_pct,
                MetricClass::Ttft => d.value > th.max_ttft_rise_pct,
            };
            if bad { Verdict::Fail } else { Verdict::Pass }
        }
    };
    Row {
        name: old.name.clone(),
        class: old.class,
        old: old.clone(),
        new: new.clone(),
        delta_pct: d,
        noise_band_pct: band,
        within_noise: band.map(|(lo, hi)| lo <= 0.0 && 0.0 <= hi),
        verdict,
    }
}

/// Pair the figures of `old` and `new` by name and gate them.
pub fn compare(old: &Extracted, new: &Extracted, th: Thresholds) -> Result<Comparison, CompareError> {
    if old.kind != new.kind {
        return Err(CompareError::KindMismatch { old: old.kind, new: new.kind });
    }
    let rows: Vec<Row> = old
        .figures
        .iter()
        .filter_map(|o| {
            new.figures.iter().find(|n| n.name == o.name && n.class == o.class).map(|n| row(o, n, &th))
        })
        .collect();
    if rows.is_empty() {
        return Err(CompareError::NothingShared);
    }
    let has = |set: &Extracted, name: &str| set.figures.iter().any(|f| f.name == name);
    Ok(Comparison {
        compared: old.kind,
        old: old.dir.clone(),
        new: new.dir.clone(),
        thresholds: th,
        failed: rows.iter().any(|r| r.verdict == Verdict::Fail),
        only_in_old: old.figures.iter().filter(|f| !has(new, &f.name)).map(|f| f.name.clone()).collect(),
        only_in_new: new.figures.iter().filter(|f| !has(old, &f.name)).map(|f| f.name.clone()).collect(),
        rows,
    })
}

impl Comparison {
    /// The Markdown report.
    pub fn to_markdown(&self) -> Result<String, ExportError> {
        Markdown::default().serialize(self).map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;

    fn ext(tput: &[(&str, f64, Option<f64>)]) -> Extracted {
        Extracted {
            kind: Kind::Sweep,
            dir: PathBuf::from("x"),
            figures: tput
                .iter()
                .map(|(n, m, sd)| Figure {
                    name: n.to_string(),
                    class: if n.contains("TTFT") { MetricClass::Ttft } else { MetricClass::Throughput },
                    mean: *m,
                    sd: *sd,
                    n: 3,
                })
                .collect(),
        }
    }

    #[test]
    fn ten_percent_slower_fails_equal_passes() {
        let old = ext(&[("a throughput", 100.0, Some(1.0)), ("a TTFT", 50.0, Some(1.0))]);
        let slow = ext(&[("a throughput", 90.0, Some(1.0)), ("a TTFT", 50.0, Some(1.0))]);
        let c = compare(&old, &slow, Thresholds::default()).unwrap();
        assert!(c.failed);
        assert_eq!(c.status(), Status::Failed);
        assert_eq!(c.rows[0].verdict, Verdict::Fail);
        assert_eq!(c.rows[1].verdict, Verdict::Pass);
        assert!((c.rows[0].delta_pct.unwrap().value + 10.0).abs() < 1e-9);
        assert_eq!(c.rows[0].within_noise, Some(false));
        let c = compare(&old, &old, Thresholds::default()).unwrap();
        assert!(!c.failed);
        assert_eq!(c.status(), Status::Ok);
        assert_eq!(c.rows[0].within_noise, Some(true));
        assert!(c.to_markdown().unwrap().contains("PASS"));
    }

    #[test]
    fn ttft_rise_gate_and_band_by_hand() {
        // TTFT 100 ± 5 -> 112 ± 0: Δ = +12 %, σ = 112/100 · 5/100 · 100 = 5.6 % -> band 0.8 … 23.2
        let old = ext(&[("TTFT", 100.0, Some(5.0))]);
        let new = ext(&[("TTFT", 112.0, None)]);
        let c = compare(&old, &new, Thresholds::default()).unwrap();
        let r = &c.rows[0];
        assert_eq!(r.verdict, Verdict::Fail);
        let (lo, hi) = r.noise_band_pct.unwrap();
        assert!((lo - 0.8).abs() < 1e-9 && (hi - 23.2).abs() < 1e-9, "{lo} {hi}");
        let c = compare(&old, &new, Thresholds { max_throughput_drop_pct: 5.0, max_ttft_rise_pct: 15.0 })
            .unwrap();
        assert!(!c.failed);
    }

    /// The golden bench output (written by the code before typed records) reads as a bench.
    #[test]
    fn bench_metrics_json_is_read() {
        let d = tempfile::tempdir().unwrap();
        let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden/bench/metrics.json");
        std::fs::copy(golden, d.path().join("metrics.json")).unwrap();
        let e = extract(d.path()).unwrap();
        assert_eq!(e.kind, Kind::Bench);
        let names: Vec<&str> = e.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "baseline · Throughput (tok/s)",
                "chimera · Throughput (tok/s)",
                "baseline · TTFT (ms)",
                "chimera · TTFT (ms)"
            ]
        );
        // the scripted server decodes at 1 / 8 ms (server default num_ctx) and 1 / 5 ms (512)
        assert_eq!((e.figures[0].mean, e.figures[1].mean), (125.0, 200.0));
        assert_eq!(e.figures[3].class, MetricClass::Ttft);
        assert!(extract(&d.path().join("nothing")).is_err());
    }

    #[test]
    fn mismatches_are_errors() {
        let mut m = ext(&[("x", 1.0, None)]);
        m.kind = Kind::Multi;
        assert!(matches!(
            compare(&ext(&[("x", 1.0, None)]), &m, Thresholds::default()),
            Err(CompareError::KindMismatch { .. })
        ));
        assert!(matches!(
            compare(&ext(&[("x", 1.0, None)]), &ext(&[("y", 1.0, None)]), Thresholds::default()),
            Err(CompareError::NothingShared)
        ));
        assert_eq!(parse_pct("5%").unwrap(), 5.0);
        assert_eq!(parse_pct(" 2.5 ").unwrap(), 2.5);
        assert!(parse_pct("-1%").is_err() && parse_pct("abc").is_err());
    }
}
