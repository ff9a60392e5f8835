//! The bench's comparison report (`comparison_report.md`, `templates/bench.md`): both
//! configurations, the per-metric comparison with Δ% and its noise, every run, the excluded
//! warm-ups, the formulas and the run manifest.

use serde::Serialize;

use super::{ManifestView, Markdown, Parts, f2, render_parts};
use crate::export::table::{Align, Table};
use crate::export::{ExportError, Exporter};
use crate::latency::CallSamples;
use crate::manifest::Manifest;
use crate::metrics::{FORMULAS_MD, ns_to_ms};
use crate::persona::Persona;
use crate::records::bench::{BenchOutcome, BenchRecord, MetricComparison, Side, WARMUP_NUM_PREDICT};
use crate::records::session::SessionStats;
use crate::stats::{Summary, fmt_mean_sd};

/// What the comparison report shows: the bench's outcome and manifest, the model and the
/// persona's display name.
#[derive(Debug, Clone)]
pub struct BenchReport<'a> {
    pub outcome: &'a BenchOutcome,
    pub manifest: &'a Manifest,
    pub model: String,
    pub persona: String,
}

impl<'a> BenchReport<'a> {
    /// The report of a loaded bench: the model and persona its runs recorded (a built-in
    /// persona by its display name, a persona file by its key).
    pub fn of(record: &'a BenchRecord) -> Self {
        let first = record.outcome.entries.first().map(|e| &e.outcome);
        let model = first.map(|o| o.model.as_str()).or(record.manifest.backend.model.as_deref());
        let key = first.map_or("unknown", |o| o.persona.as_str());
        BenchReport {
            outcome: &record.outcome,
            manifest: &record.manifest,
            model: model.unwrap_or("unknown").to_string(),
            persona: Persona::builtin(key).map_or_else(|_| key.to_string(), |p| p.name),
        }
    }
}

#[derive(Serialize)]
struct View<'a> {
    date: String,
    model: &'a str,
    persona: &'a str,
    baseline_configuration: String,
    chimera_configuration: String,
    runs: usize,
    done: usize,
    planned: usize,
    failed: usize,
    warmups: usize,
    wall: String,
    interrupted: bool,
    results: String,
    latency: String,
    sessions: String,
    entries: String,
    warmup_tokens: i64,
    warmup_table: String,
    formulas: &'static str,
    manifest: ManifestView<'a>,
}

fn stat_cells(s: Option<&Summary>) -> [String; 4] {
    match s {
        Some(s) => [
            fmt_mean_sd(s, 2),
            format!("{:.2}", s.median),
            format!("{:.2}…{:.2}", s.min, s.max),
            s.cv.map_or_else(|| "n/a".into(), |cv| format!("{:.1}%", cv * 100.0)),
        ],
        None => ["n/a".into(), "n/a".into(), "n/a".into(), "n/a".into()],
    }
}

/// `+60.0% ± 0.0% (better)`, with `, within noise` when |Δ| ≤ 2σ.
fn delta(c: &MetricComparison) -> String {
    c.delta_pct.map_or_else(
        || "n/a".into(),
        |d| {
            let better = if d.value == 0.0 {
                "no change"
            } else if (d.value > 0.0) == c.higher_is_better {
                "better"
            } else {
                "worse"
            };
            let sig = if d.sd > 0.0 && d.value.abs() <= 2.0 * d.sd { ", within noise" } else { "" };
            format!("{:+.1}% ± {:.1}% ({better}{sig})", d.value, d.sd)
        },
    )
}

fn results(out: &BenchOutcome) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("metric", L),
        ("baseline mean ± sd", R),
        ("median", R),
        ("min…max", R),
        ("CV", R),
        ("chimera mean ± sd", R),
        ("median", R),
        ("min…max", R),
        ("CV", R),
        ("Δ% chimera vs baseline", R),
    ]);
    for c in &out.comparisons {
        let mut row = vec![format!("{} ({})", c.metric, c.unit)];
        row.extend(stat_cells(c.baseline.as_ref()));
        row.extend(stat_cells(c.chimera.as_ref()));
        row.push(delta(c));
        t.row(row);
    }
    t.block()
}

/// Per side, the latency percentiles over every call of its measured runs (warm-ups excluded).
fn latency(out: &BenchOutcome) -> String {
    let side = |side: Side| {
        let calls = out.entries.iter().filter(|e| e.side == side).flat_map(|e| &e.outcome.calls);
        (side.name().to_string(), CallSamples::of_calls(calls).stats())
    };
    let rows = [side(Side::Baseline), side(Side::Chimera)];
    super::latency::distribution_table(rows.iter().map(|(n, s)| (n.clone(), s)), "config")
}

/// Per side, its workflow sessions over the measured runs (empty when no run recorded one).
fn sessions(out: &BenchOutcome) -> String {
    let side = |side: Side| {
        let s = out.entries.iter().filter(|e| e.side == side).filter_map(|e| e.outcome.session.as_ref());
        SessionStats::of(s).map(|s| (side.name().to_string(), s))
    };
    let rows: Vec<_> = [side(Side::Baseline), side(Side::Chimera)].into_iter().flatten().collect();
    super::session::session_table(rows.iter().map(|(n, s)| (n.clone(), s)), "config")
}

fn entries(out: &BenchOutcome) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("run", R),
        ("config", L),
        ("status", L),
        ("throughput tok/s", R),
        ("TTFT ms", R),
        ("tokens", R),
        ("total ms", R),
        ("load ms", R),
        ("wall s", R),
        ("grounding", R),
        ("report", L),
    ]);
    for e in &out.entries {
        let (o, m) = (&e.outcome, &e.outcome.metrics);
        let status = match o.failed_stage {
            _ if o.ok => "ok".to_string(),
            Some(stage) => format!("failed at {stage}"),
            None => "failed at write".to_string(),
        };
        let g =
            o.grounding.as_ref().and_then(|g| g.score).map_or_else(|| "n/a".into(), |s| format!("{s:.2}"));
        t.row([
            e.run.to_string(),
            e.side.name().to_string(),
            status,
            f2(m.throughput_tok_s),
            f2(m.ttft_ms),
            m.tokens_generated.to_string(),
            f2(m.total_duration_ms),
            f2(m.load_duration_ms),
            format!("{:.2}", o.wall_secs),
            g,
            format!("run_{}/{}/report.md", e.run, e.side.name()),
        ]);
    }
    t.block()
}

fn warmups(out: &BenchOutcome) -> String {
    use Align::{Left as L, Right as R};
    let mut t =
        Table::new(&[("before run", R), ("config", L), ("status", L), ("load ms", R), ("TTFT ms", R)]);
    for w in &out.warmups {
        let status = if w.ok {
            "ok".to_string()
        } else {
            format!("FAILED: {}", w.error.as_deref().unwrap_or("?").replace('|', "/"))
        };
        t.row([
            w.before_run.to_string(),
            w.side.name().to_string(),
            status,
            f2(w.record.server.load_duration_ns.map(ns_to_ms)),
            f2(w.record.ttft_ms()),
        ]);
    }
    t.block()
}

impl Markdown {
    /// The comparison report in parts.
    pub fn bench_parts(&self, r: &BenchReport<'_>) -> Result<Parts, ExportError> {
        let (out, manifest) = (r.outcome, r.manifest);
        let view = View {
            date: manifest.created_at.format("%Y-%m-%d").to_string(),
            model: &r.model,
            persona: &r.persona,
            baseline_configuration: out.baseline_options.describe(),
            chimera_configuration: out.chimera_options.describe(),
            runs: out.runs,
            done: out.entries.len(),
            planned: out.order.len(),
            failed: out.failed_runs,
            warmups: out.warmups.len(),
            wall: format!("{:.2}", out.wall_secs),
            interrupted: out.interrupted,
            results: results(out),
            latency: latency(out),
            sessions: sessions(out),
            entries: entries(out),
            warmup_tokens: WARMUP_NUM_PREDICT,
            warmup_table: warmups(out),
            formulas: FORMULAS_MD,
            manifest: ManifestView::of(manifest),
        };
        render_parts("bench.md", &view)
    }
}

impl Exporter<BenchReport<'_>> for Markdown {
    fn serialize(&self, r: &BenchReport<'_>) -> Result<Vec<u8>, ExportError> {
        Ok(self.bench_parts(r)?.join(&[]).into_bytes())
    }
}
