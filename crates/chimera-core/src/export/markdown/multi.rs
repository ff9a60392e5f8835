//! A multi-agent benchmark in Markdown: each run's `combined_report.md`
//! (`templates/multi_run.md`) and the root `summary.md` (`templates/multi_summary.md`). Every
//! figure states its formula (`templates/multi_formulas.md`).

use serde::Serialize;

use super::{Markdown, Parts, num, render, render_parts};
use crate::export::table::{Align, Table};
use crate::export::{ExportError, Exporter};
use crate::records::multi::{MultiSummary, PhaseResult, RunRecord, RunStatus};
use crate::records::session::SessionStats;
use crate::stats::{Summary, fmt_mean_sd, fmt_opt_mean_sd};

/// `12.35` or `–`.
fn d2(v: Option<f64>) -> String {
    num(v, 2, "–")
}

/// `62.0 %` of a fraction, or `–`.
fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{:.1} %", x * 100.0))
}

#[derive(Serialize)]
struct AgentView<'a> {
    label: &'a str,
    server: &'a str,
    /// `Solo: ok in 1.20 s, 105 tokens, report `…``, `Concurrent: not run`.
    phases: Vec<String>,
}

#[derive(Serialize)]
struct RunView<'a> {
    run: u32,
    scenario: String,
    status: &'static str,
    started: String,
    n: usize,
    wall: String,
    solo_sum: String,
    speedup: String,
    efficiency: String,
    aggregate: String,
    threshold: String,
    contention: String,
    original: Option<String>,
    warmups: Vec<String>,
    notes: &'a [String],
    agents_table: String,
    agents: Vec<AgentView<'a>>,
    first: &'a str,
    deltas: String,
    latency: String,
    sessions: String,
}

fn phase_cell(p: &Option<PhaseResult>) -> String {
    match p {
        None => "–".into(),
        Some(p) if p.ok => format!("{:.2}", p.secs),
        Some(p) => format!("{:.2} (failed)", p.secs),
    }
}

fn phase_line(name: &str, p: &Option<PhaseResult>) -> String {
    let Some(p) = p else { return format!("{name}: not run") };
    format!(
        "{name}: {} in {:.2} s, {} tokens{}{}",
        if p.ok { "ok" } else { "FAILED" },
        p.secs,
        p.tokens,
        p.report.as_ref().map(|r| format!(", report `{r}`")).unwrap_or_default(),
        match (&p.failed_stage, &p.error) {
            (Some(st), Some(e)) => format!(" — failed at {st}: {e}"),
            (None, Some(e)) => format!(" — {e}"),
            _ => String::new(),
        }
    )
}

fn agents_table(r: &RunRecord) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("Agent", L),
        ("Server", L),
        ("Solo s", R),
        ("Concurrent s", R),
        ("Slowdown", R),
        ("Contended", L),
        ("Tokens", R),
        ("Decode tok/s", R),
        ("TTFT ms", R),
    ]);
    for a in &r.agents {
        let c = a.concurrent.as_ref();
        t.row([
            a.label.clone(),
            a.server.clone(),
            phase_cell(&a.solo),
            phase_cell(&a.concurrent),
            d2(a.slowdown),
            if a.contended { "yes" } else { "no" }.to_string(),
            c.map_or_else(|| "–".into(), |c| c.tokens.to_string()),
            d2(c.and_then(|c| c.decode_tok_s)),
            d2(c.and_then(|c| c.ttft_ms)),
        ]);
    }
    t.block()
}

/// Each agent's latency percentiles per phase (empty when no phase recorded its calls).
fn run_latency(r: &RunRecord) -> String {
    let mut rows = Vec::new();
    for a in &r.agents {
        for (phase, p) in [("solo", &a.solo), ("concurrent", &a.concurrent)] {
            if let Some(s) = p.as_ref().and_then(|p| p.latency.as_ref()) {
                rows.push((format!("{} ({phase})", a.label), s.stats()));
            }
        }
    }
    super::latency::distribution_table(rows.iter().map(|(n, s)| (n.clone(), s)), "agent (phase)")
}

/// Each agent's latency percentiles per phase over the completed runs.
fn summary_latency(sm: &MultiSummary) -> String {
    let rows = sm.per_agent.iter().flat_map(|a| {
        [("solo", &a.latency_solo), ("concurrent", &a.latency_concurrent)]
            .into_iter()
            .filter_map(move |(phase, s)| s.as_ref().map(|s| (format!("{} ({phase})", a.label), s)))
    });
    super::latency::distribution_table(rows, "agent (phase)")
}

/// Each agent's workflow session per phase (empty when no phase recorded one).
fn run_sessions(r: &RunRecord) -> String {
    let mut rows = Vec::new();
    for a in &r.agents {
        for (phase, p) in [("solo", &a.solo), ("concurrent", &a.concurrent)] {
            if let Some(s) = p.as_ref().and_then(|p| SessionStats::of(p.session.as_ref())) {
                rows.push((format!("{} ({phase})", a.label), s));
            }
        }
    }
    super::session::session_table(rows.iter().map(|(n, s)| (n.clone(), s)), "agent (phase)")
}

/// Each agent's workflow sessions per phase, pooled over the completed runs.
fn summary_sessions(sm: &MultiSummary) -> String {
    let rows = sm.per_agent.iter().flat_map(|a| {
        [("solo", &a.session_solo), ("concurrent", &a.session_concurrent)]
            .into_iter()
            .filter_map(move |(phase, s)| s.as_ref().map(|s| (format!("{} ({phase})", a.label), s)))
    });
    super::session::session_table(rows, "agent (phase)")
}

/// Each agent against the first (empty with one agent).
fn deltas(r: &RunRecord) -> String {
    let Some((first, rest)) = r.agents.split_first().filter(|(_, rest)| !rest.is_empty()) else {
        return String::new();
    };
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("Agent", L),
        ("Concurrent s Δ%", R),
        ("Solo s Δ%", R),
        ("Tokens Δ%", R),
        ("Decode tok/s Δ%", R),
    ]);
    let get =
        |p: &Option<PhaseResult>, f: fn(&PhaseResult) -> Option<f64>| p.as_ref().filter(|p| p.ok).and_then(f);
    let d = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a != 0.0 => format!("{:+.1} %", (b / a - 1.0) * 100.0),
        _ => "–".into(),
    };
    let secs = |p: &PhaseResult| Some(p.secs);
    let tokens = |p: &PhaseResult| Some(p.tokens as f64);
    let rate = |p: &PhaseResult| p.decode_tok_s;
    for a in rest {
        t.row([
            a.label.clone(),
            d(get(&first.concurrent, secs), get(&a.concurrent, secs)),
            d(get(&first.solo, secs), get(&a.solo, secs)),
            d(get(&first.concurrent, tokens), get(&a.concurrent, tokens)),
            d(get(&first.concurrent, rate), get(&a.concurrent, rate)),
        ]);
    }
    t.block()
}

/// `run_N/combined_report.md`.
impl Exporter<RunRecord> for Markdown {
    fn serialize(&self, r: &RunRecord) -> Result<Vec<u8>, ExportError> {
        let contended: Vec<&str> =
            r.agents.iter().filter(|a| a.contended).map(|a| a.label.as_str()).collect();
        let view = RunView {
            run: r.run,
            scenario: r.scenario.to_string(),
            status: match r.status {
                RunStatus::Ok => "ok",
                RunStatus::Failed => "FAILED (some agent failed; the others finished)",
                RunStatus::Interrupted => "INTERRUPTED",
            },
            started: r.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            n: r.agents.len(),
            wall: d2(r.concurrent_wall_secs),
            solo_sum: d2(r.solo_sum_secs),
            speedup: d2(r.speedup),
            efficiency: pct(r.efficiency),
            aggregate: d2(r.aggregate_tok_s),
            threshold: format!("{:.2}", r.contention_threshold),
            contention: if contended.is_empty() {
                "none".to_string()
            } else {
                format!("YES — {}", contended.join(", "))
            },
            original: r.original.as_ref().map(|o| {
                format!(
                    "sequential estimate {:.2} s ÷ wall = {:.2}× (\"efficiency\" {:.1} %)",
                    o.sequential_estimate_secs,
                    o.speedup,
                    o.efficiency * 100.0
                )
            }),
            warmups: r
                .warmups
                .iter()
                .map(|w| {
                    format!(
                        "{} (via {}): {} in {:.2} s{}",
                        w.server,
                        w.agent,
                        if w.ok { "ok" } else { "FAILED" },
                        w.secs,
                        w.error.as_ref().map(|e| format!(" — {e}")).unwrap_or_default()
                    )
                })
                .collect(),
            notes: &r.notes,
            agents_table: agents_table(r),
            agents: r
                .agents
                .iter()
                .map(|a| AgentView {
                    label: &a.label,
                    server: &a.server,
                    phases: vec![phase_line("Solo", &a.solo), phase_line("Concurrent", &a.concurrent)],
                })
                .collect(),
            first: r.agents.first().map_or("", |a| a.label.as_str()),
            deltas: deltas(r),
            latency: run_latency(r),
            sessions: run_sessions(r),
        };
        render("multi_run.md", &view).map(String::into_bytes)
    }
}

#[derive(Serialize)]
struct SummaryView {
    scenario: String,
    runs_done: String,
    agents: String,
    solo: &'static str,
    threshold: String,
    failed: &'static str,
    aggregates: String,
    per_agent: String,
    latency: String,
    sessions: String,
    cache: String,
    cache_warning: Option<String>,
    runs: String,
    failures: Vec<String>,
}

/// Prompt tokens evaluated and reused from the servers' prompt cache, per phase (empty when no
/// server reported its cache).
fn prompt_cache(sm: &MultiSummary) -> String {
    let Some(c) = &sm.prompt_cache else { return String::new() };
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("phase", L),
        ("calls reporting the cache", R),
        ("prompt tokens evaluated", R),
        ("prompt tokens cached", R),
        ("cached share", R),
    ]);
    for (name, p) in [("solo", &c.solo), ("concurrent", &c.concurrent)] {
        t.row(match p {
            Some(p) => [
                name.to_string(),
                p.calls.to_string(),
                p.prompt_evaluated_tokens.to_string(),
                p.prompt_cached_tokens.to_string(),
                super::latency::share(p.cached_share),
            ],
            None => [name.to_string(), "0".into(), "–".into(), "–".into(), "not reported".into()],
        });
    }
    t.block()
}

/// `mean ± sd`, `min … max`, `n` of a figure (scaled, e.g. efficiency to percent).
fn agg_cells(x: &Option<Summary>, decimals: usize, scale: f64) -> [String; 3] {
    match x {
        None => ["–".into(), "–".into(), "0".into()],
        Some(x) => {
            let m = Summary { mean: x.mean * scale, sd: x.sd.map(|v| v * scale), ..x.clone() };
            [
                fmt_mean_sd(&m, decimals),
                format!("{:.decimals$} … {:.decimals$}", x.min * scale, x.max * scale),
                x.n.to_string(),
            ]
        }
    }
}

fn aggregates(sm: &MultiSummary) -> String {
    let a = &sm.aggregates;
    let mut t = Table::new(&[
        ("Figure", Align::Left),
        ("mean ± sd", Align::Right),
        ("min … max", Align::Right),
        ("n", Align::Right),
    ]);
    let rows: [(&str, &Option<Summary>, usize, f64); 7] = [
        ("Speedup (true) ×", &a.speedup, 3, 1.0),
        ("Efficiency %", &a.efficiency, 1, 100.0),
        ("Concurrent wall s", &a.concurrent_wall_secs, 2, 1.0),
        ("Solo sum s", &a.solo_sum_secs, 2, 1.0),
        ("Aggregate tok/s", &a.aggregate_tok_s, 2, 1.0),
        ("Original's formula × (not a speedup)", &a.original_speedup, 3, 1.0),
        ("Original's \"efficiency\" %", &a.original_efficiency, 1, 100.0),
    ];
    for (name, x, d, scale) in rows {
        let [m, range, n] = agg_cells(x, d, scale);
        t.row([name.to_string(), m, range, n]);
    }
    t.block()
}

fn per_agent(sm: &MultiSummary) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("Agent", L),
        ("Solo s", R),
        ("Concurrent s", R),
        ("Slowdown", R),
        ("Tokens", R),
        ("Contended runs", R),
        ("Failed runs", R),
    ]);
    let m = |x: &Option<Summary>, d: usize| fmt_opt_mean_sd(x.as_ref(), d);
    for p in &sm.per_agent {
        t.row([
            p.label.clone(),
            m(&p.solo_secs, 2),
            m(&p.concurrent_secs, 2),
            m(&p.slowdown, 3),
            m(&p.tokens, 0),
            p.contended_runs.to_string(),
            p.failed_runs.to_string(),
        ]);
    }
    t.block()
}

fn runs(sm: &MultiSummary) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("Run", R),
        ("Status", L),
        ("Wall s", R),
        ("Solo sum s", R),
        ("Speedup ×", R),
        ("Efficiency", R),
        ("Agg tok/s", R),
        ("Original ×", R),
        ("Contention", L),
    ]);
    for r in &sm.runs {
        t.row([
            format!("[{}](run_{}/combined_report.md)", r.run, r.run),
            match r.status {
                RunStatus::Ok => "ok",
                RunStatus::Failed => "failed",
                RunStatus::Interrupted => "interrupted",
            }
            .to_string(),
            d2(r.concurrent_wall_secs),
            d2(r.solo_sum_secs),
            d2(r.speedup),
            pct(r.efficiency),
            d2(r.aggregate_tok_s),
            d2(r.original_speedup),
            if r.contention { "yes" } else { "no" }.to_string(),
        ]);
    }
    t.block()
}

impl Markdown {
    /// The root `summary.md` in parts.
    pub fn multi_parts(&self, sm: &MultiSummary) -> Result<Parts, ExportError> {
        let view = SummaryView {
            scenario: sm.scenario.to_string(),
            runs_done: format!(
                "{} of {} completed{}",
                sm.runs_completed,
                sm.runs_planned,
                if sm.interrupted { " (INTERRUPTED: finished runs kept)" } else { "" }
            ),
            agents: sm
                .agents
                .iter()
                .map(|a| format!("{} @ {}", a.label, a.server))
                .collect::<Vec<_>>()
                .join("; "),
            solo: if sm.solo_phase { "yes" } else { "skipped (--no-solo): no true speedup" },
            threshold: format!("{:.2}", sm.contention_threshold),
            failed: if sm.failed { "YES" } else { "no" },
            aggregates: aggregates(sm),
            per_agent: per_agent(sm),
            latency: summary_latency(sm),
            sessions: summary_sessions(sm),
            cache: prompt_cache(sm),
            cache_warning: sm.prompt_cache.as_ref().and_then(|c| c.warning.clone()),
            runs: runs(sm),
            failures: sm
                .runs
                .iter()
                .flat_map(|r| r.failures.iter().map(move |f| format!("run {}: {f}", r.run)))
                .collect(),
        };
        render_parts("multi_summary.md", &view)
    }
}

/// The root `summary.md`, its plots linked between the per-agent table and the runs.
impl Exporter<MultiSummary> for Markdown {
    fn serialize(&self, sm: &MultiSummary) -> Result<Vec<u8>, ExportError> {
        Ok(self.multi_parts(sm)?.join(&self.plots).into_bytes())
    }
}
