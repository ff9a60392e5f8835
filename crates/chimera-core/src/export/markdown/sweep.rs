//! The sweep summary (`summary.md`, `templates/sweep.md`), in the order a reader asks: the best
//! configuration and its margin over the baseline, the composite ranking, then the rankings by
//! throughput and TTFT, the Pareto front, every point and, for a multi-agent sweep, its scaling
//! per point and every run.

use serde::Serialize;

use super::{Markdown, Parts, render_parts};
use crate::export::table::Table;
use crate::export::{ExportError, Exporter};
use crate::latency::{CallSamples, LatencyStats};
use crate::records::session::SessionStats;
use crate::records::sweep::{Margin, PointResult, SweepSummary};
use crate::stats::{Summary, fmt_mean_sd, fmt_opt_mean_sd};
use crate::sweep::config::{ScenarioWorkload, Warmup};

/// Efficiency above this (speedup > 1.1 × N) cannot come from overlap alone: it is flagged.
pub const EFFICIENCY_SUSPECT: f64 = 1.1;

/// How aggregate throughput is defined (printed in multi-agent summaries).
const AGGREGATE_MD: &str = "aggregate throughput = Σ output tokens of all agents in the concurrent \
phase ÷ the concurrent phase's wall time (as `chimera multi`'s summary); TTFT = mean over the agents \
of each agent's mean call TTFT";

/// How speedup and efficiency are defined (printed in multi-agent summaries).
const SPEEDUP_MD: &str = "true speedup = Σ solo times (each agent measured alone) ÷ concurrent \
wall; efficiency = speedup ÷ N agents (1 = perfect overlap, 1/N = fully serialised)";

#[derive(Serialize)]
struct BestView {
    label: String,
    is_baseline: bool,
    composite: String,
    options: String,
    /// `Throughput vs baseline: …`, `TTFT vs baseline: …`, the multi-agent efficiency.
    margins: Vec<String>,
}

#[derive(Serialize)]
struct ScalingView {
    agents: usize,
    note: String,
    solo: bool,
    table: String,
    threshold: f64,
    /// Points whose efficiency passed [`EFFICIENCY_SUSPECT`] in some run (comma list).
    suspect: String,
    runs: String,
}

#[derive(Serialize)]
struct View<'a> {
    scenario: Option<String>,
    model: &'a str,
    grid: String,
    fixed: String,
    workload: String,
    points: usize,
    failed_calls: usize,
    best: Option<BestView>,
    composite_formula: &'a str,
    noise_rule: &'a str,
    by_composite: String,
    by_throughput: String,
    by_ttft: String,
    pareto: Vec<String>,
    every_point: String,
    latency: String,
    sessions: String,
    scaling: Option<ScalingView>,
    /// The load axis's section (sweeps with `--arrival`/`--concurrency`).
    load: Option<String>,
    formulas: &'static str,
}

fn dirs(d: &[std::path::PathBuf]) -> String {
    d.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn workload(s: &SweepSummary) -> String {
    let what = match (&s.scenario, &s.config.agent) {
        (Some(w), _) => format!(
            "the `{}` scenario with {} agents ({}) over {}: {}, then all agents at once; {}. Throughput = aggregate throughput, TTFT = mean across agents ({AGGREGATE_MD})",
            w.scenario,
            w.n_agents,
            w.personas.iter().map(|p| p.key.as_str()).collect::<Vec<_>>().join(", "),
            dirs(&w.data_dirs),
            if w.solo { "each agent alone (solo phase)" } else { "no solo phase (--no-solo)" },
            w.tuning_note()
        ),
        (None, None) => "one generation call with a fixed prompt".to_string(),
        (None, Some(a)) if s.load.is_some() => format!(
            "one load run of `{}` agent sessions over {} (each session one agent workflow) at each load level: {}",
            a.persona.key,
            dirs(&a.data_dirs),
            s.load.as_ref().map_or(String::new(), |l| l
                .levels
                .iter()
                .map(crate::records::traffic::LoadModel::coordinate)
                .collect::<Vec<_>>()
                .join(", "))
        ),
        (None, Some(a)) => format!(
            "one `{}` agent workflow over {} (analysis + report calls; throughput = Σ eval_count / Σ eval_duration, TTFT = mean of the calls)",
            a.persona.key,
            dirs(&a.data_dirs)
        ),
    };
    format!(
        "{what}; {} measured run(s) per point; warm-up: {}; order: {}",
        s.config.runs,
        match s.config.warmup {
            Warmup::OnLoadChange => "before the first point and whenever a load-time option changes",
            Warmup::Always => "before every point",
            Warmup::Never => "none",
        },
        s.config.shuffle_seed.map_or("grid order".to_string(), |x| format!("shuffled (seed {x})"))
    )
}

fn margin(name: &str, m: &Option<Margin>) -> String {
    match m {
        None => format!("{name} vs baseline: no baseline measurement"),
        Some(m) => format!(
            "{name} vs baseline: {:+.1}% ± {:.1}% — {}",
            m.delta_pct.value,
            m.delta_pct.sd,
            match m.exceeds_noise {
                Some(true) => "exceeds the noise",
                Some(false) => "within the noise",
                None => "noise unknown (n < 2)",
            }
        ),
    }
}

fn best(s: &SweepSummary) -> Option<BestView> {
    let b = s.ranking.best.as_ref()?;
    let p = &s.points[b.index];
    // A load sweep has no baseline point: its levels differ in the load offered, not the options.
    let mut margins = if p.load.is_some() {
        Vec::new()
    } else {
        vec![margin("Throughput", &b.throughput_vs_baseline), margin("TTFT", &b.ttft_vs_baseline)]
    };
    if let Some(l) = &p.load {
        let pooled = &l.pooled;
        margins.insert(
            0,
            format!(
                "Under {}: goodput {} sessions/min, SLO pass rate {} ({}), throughput {} sessions/min{}",
                l.load.coordinate(),
                pooled.goodput_per_min.map_or("–".into(), |g| format!("{g:.1}")),
                pooled.pass_rate.map_or("–".into(), |r| format!("{:.1} %", r * 100.0)),
                if pooled.meets_slo { "meets the SLO" } else { "fails the SLO" },
                pooled.throughput_per_min.map_or("–".into(), |g| format!("{g:.1}")),
                if l.ranked_goodput().is_some() { " — ranked first by goodput" } else { "" },
            ),
        );
    }
    if let Some(x) = &p.multi {
        margins.push(format!(
            "Multi-agent efficiency at this point: {} (true speedup {}×)",
            x.efficiency
                .as_ref()
                .map_or("– (no solo phase or a failed agent)".into(), |e| fmt_mean_sd(e, 3)),
            fmt_opt_mean_sd(x.speedup.as_ref(), 3)
        ));
    }
    Some(BestView {
        label: b.label.clone(),
        is_baseline: b.is_baseline,
        composite: format!("{:.3}", b.composite),
        options: p.options.describe(),
        margins,
    })
}

/// Points in run order.
fn by_order(p: &[PointResult]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..p.len()).collect();
    v.sort_by_key(|&i| p[i].order);
    v
}

fn ms(x: &Option<Summary>, d: usize) -> String {
    fmt_opt_mean_sd(x.as_ref(), d)
}

fn scaling(s: &SweepSummary, w: &ScenarioWorkload) -> ScalingView {
    let p = &s.points;
    let note = w.tuning_note();
    let mut chars = note.chars();
    let note: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    let mut t = Table::left(&[
        "Configuration",
        "Efficiency",
        "Speedup (true) ×",
        "Aggregate (tok/s)",
        "Σ agents' decode (tok/s)",
        "Mean TTFT (ms)",
        "Runs with a failed agent",
    ]);
    let mut runs = Table::left(&[
        "Configuration",
        "Run",
        "Status",
        "Solo Σ (s)",
        "Concurrent wall (s)",
        "Speedup ×",
        "Efficiency",
        "Aggregate (tok/s)",
        "Original's formula × (not a speedup)",
        "Failures",
    ]);
    let o = |v: Option<f64>, d: usize| v.map_or("–".into(), |v| format!("{v:.d$}"));
    let mut suspect = Vec::new();
    for i in by_order(p) {
        let x = &p[i];
        let Some(m) = &x.multi else { continue };
        t.row([
            x.label.clone(),
            ms(&m.efficiency, 3),
            ms(&m.speedup, 3),
            ms(&x.throughput_tok_s, 2),
            ms(&m.sum_decode_tok_s, 2),
            ms(&x.ttft_ms, 1),
            format!("{} of {}", m.failed_runs, m.runs.len()),
        ]);
        if m.runs.iter().any(|r| r.brief.efficiency.is_some_and(|e| e > EFFICIENCY_SUSPECT)) {
            suspect.push(x.label.as_str());
        }
        for r in &m.runs {
            let b = &r.brief;
            runs.row([
                x.label.clone(),
                b.run.to_string(),
                format!("{:?}", b.status),
                o(b.solo_sum_secs, 2),
                o(b.concurrent_wall_secs, 2),
                o(b.speedup, 3),
                o(b.efficiency, 3),
                o(b.aggregate_tok_s, 2),
                o(b.original_speedup, 3),
                if b.failures.is_empty() {
                    "–".to_string()
                } else {
                    b.failures.join("; ").replace('|', "/")
                },
            ]);
        }
    }
    ScalingView {
        agents: w.n_agents,
        note: format!("{note}. {SPEEDUP_MD}. {AGGREGATE_MD}."),
        solo: w.solo,
        table: t.block(),
        threshold: EFFICIENCY_SUSPECT,
        suspect: suspect.join(", "),
        runs: runs.block(),
    }
}

impl Markdown {
    /// The sweep summary in parts.
    pub fn sweep_parts(&self, s: &SweepSummary) -> Result<Parts, ExportError> {
        let (p, r) = (&s.points, &s.ranking);
        let axes: Vec<String> = s
            .grid
            .axes
            .iter()
            .map(|a| {
                format!(
                    "{} ∈ {{{}}}",
                    a.name,
                    a.values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let tput = |i: usize| fmt_opt_mean_sd(p[i].throughput_tok_s.as_ref(), 2);
        let ttft = |i: usize| fmt_opt_mean_sd(p[i].ttft_ms.as_ref(), 1);
        let (tput_h, ttft_h, e2e_h) = if s.scenario.is_some() {
            ("Aggregate throughput (tok/s)", "Mean TTFT across agents (ms)", "Concurrent wall (ms)")
        } else if s.load.is_some() {
            ("Output under load (tok/s)", "Session TTFT p95 (ms)", "Session p50 (ms)")
        } else {
            ("Throughput (tok/s)", "TTFT (ms)", "E2E (ms)")
        };
        let mut composite = Table::left(&["#", "Configuration", "Composite", tput_h, ttft_h, "Pareto"]);
        for (k, (i, c)) in r.by_composite.iter().enumerate() {
            let front = if r.pareto.contains(i) { "★" } else { "" };
            composite.row([
                (k + 1).to_string(),
                p[*i].label.clone(),
                format!("{c:.3}"),
                tput(*i),
                ttft(*i),
                front.into(),
            ]);
        }
        let mut by_tput = Table::left(&["#", "Configuration", tput_h, "n"]);
        for (k, i) in r.by_throughput.iter().enumerate() {
            let n = p[*i].throughput_tok_s.as_ref().map_or(0, |x| x.n);
            by_tput.row([(k + 1).to_string(), p[*i].label.clone(), tput(*i), n.to_string()]);
        }
        let mut by_ttft = Table::left(&["#", "Configuration", ttft_h, "p95 (ms)"]);
        for (k, i) in r.by_ttft.iter().enumerate() {
            let p95 = p[*i].ttft_ms.as_ref().map_or("–".into(), |x| format!("{:.1}", x.p95));
            by_ttft.row([(k + 1).to_string(), p[*i].label.clone(), ttft(*i), p95]);
        }
        let mut every = Table::left(&[
            "Order",
            "Configuration",
            "Runs ok",
            "Failed",
            "Warm-up (ms)",
            tput_h,
            ttft_h,
            e2e_h,
        ]);
        for i in by_order(p) {
            let x = &p[i];
            every.row([
                (x.order + 1).to_string(),
                x.label.clone(),
                (x.runs.len() - x.failed()).to_string(),
                x.failed().to_string(),
                x.warmup_ms.map_or("–".into(), |v| format!("{v:.0}")),
                tput(i),
                ttft(i),
                fmt_opt_mean_sd(x.e2e_ms.as_ref(), 1),
            ]);
        }
        let view = View {
            scenario: s.scenario.as_ref().map(|w| w.scenario.to_string()),
            model: &s.config.model,
            grid: if axes.is_empty() { "(none)".into() } else { axes.join(" × ") },
            fixed: s.grid.fixed.describe(),
            workload: workload(s),
            points: p.len(),
            failed_calls: p.iter().map(PointResult::failed).sum(),
            best: best(s),
            composite_formula: &s.composite_formula,
            noise_rule: &s.noise_rule,
            by_composite: composite.block(),
            by_throughput: by_tput.block(),
            by_ttft: by_ttft.block(),
            pareto: r
                .pareto
                .iter()
                .map(|&i| format!("{} — {} tok/s, {} ms", p[i].label, tput(i), ttft(i)))
                .collect(),
            every_point: every.block(),
            latency: latency(p),
            sessions: sessions(p),
            scaling: s.scenario.as_ref().map(|w| scaling(s, w)),
            load: s.load.as_ref().map(|l| crate::capacity::report::sweep_load_section(l, p, &r.by_goodput)),
            formulas: crate::metrics::FORMULAS_MD,
        };
        render_parts("sweep.md", &view)
    }
}

/// Each point's latency percentiles over the calls of its runs (empty when no run recorded
/// its calls: sweeps written before they did).
fn latency(points: &[PointResult]) -> String {
    let rows: Vec<(String, LatencyStats)> = points
        .iter()
        .filter_map(|p| {
            let mut runs = p.runs.iter().filter_map(|r| r.latency.as_ref()).peekable();
            runs.peek()?;
            let mut all = CallSamples::default();
            runs.for_each(|s| all.merge(s));
            Some((p.label.clone(), all.stats()))
        })
        .collect();
    super::latency::distribution_table(rows.iter().map(|(n, s)| (n.clone(), s)), "point")
}

/// Each point's workflow sessions over its runs (empty when no run recorded one: single-call
/// sweeps and older files).
fn sessions(points: &[PointResult]) -> String {
    let rows: Vec<(String, SessionStats)> = points
        .iter()
        .filter_map(|p| Some((p.label.clone(), SessionStats::of(p.runs.iter().flat_map(|r| &r.sessions))?)))
        .collect();
    super::session::session_table(rows.iter().map(|(n, s)| (n.clone(), s)), "point")
}

/// `summary.md`, its plots linked after the composite ranking.
impl Exporter<SweepSummary> for Markdown {
    fn serialize(&self, s: &SweepSummary) -> Result<Vec<u8>, ExportError> {
        Ok(self.sweep_parts(s)?.join(&self.plots).into_bytes())
    }
}
