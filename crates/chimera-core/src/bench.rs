//! `bench`: baseline (server defaults) vs chimera (option overrides) over N runs of the full
//! agent workflow. A warm-up call per configuration is excluded from statistics, and repeated
//! whenever a load-time option (num_ctx, num_gpu, num_batch, num_thread) changes between
//! consecutive calls; runs are interleaved (A B A B) so drift hits both configurations.
//! Writes `comparison_report.md`, `metrics.json`, `manifest.json` and each run's agent reports.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use crate::records::bench::{
    BenchEntry, BenchMetric, BenchOutcome, BenchRecord, MetricComparison, Side, Warmup,
};

use crate::agent::{AgentOutcome, AgentRun, AgentSpec, run_agent};
use crate::backend::{Backend, BackendInfo, GenRequest, no_sink};
use crate::events::{CancellationToken, Event, Events, NoteLevel, Stage};
use crate::export::{self, ExportError, Json};
use crate::fsutil::{WriteError, write_atomic};
use crate::inventory::CollectOptions;
use crate::manifest::Manifest;
use crate::metrics::FORMULAS_MD;
use crate::options::LoadKey;
use crate::report::f2;
use crate::stats::{Summary, Uncertain, delta_pct, fmt_mean_sd, summarize};
/// Output tokens of a warm-up call.
pub const WARMUP_NUM_PREDICT: i64 = 4;

/// The interleaved order: run 1 A, run 1 B, run 2 A, run 2 B, …
pub fn schedule(runs: usize) -> Vec<(usize, Side)> {
    (1..=runs).flat_map(|r| [(r, Side::Baseline), (r, Side::Chimera)]).collect()
}

/// Whether a warm-up is needed before a call with `next`: first call of its configuration, or
/// the previous call loaded the model with other load-time options.
pub fn needs_warmup(warmed: &[Side], side: Side, last_load: Option<&LoadKey>, next: &LoadKey) -> bool {
    !warmed.contains(&side) || last_load != Some(next)
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct BenchSpec {
    pub runs: usize,
    /// Server defaults (plus the shared seed / num_predict).
    pub baseline: AgentSpec,
    /// The option overrides.
    pub chimera: AgentSpec,
}

impl BenchSpec {
    fn spec(&self, side: Side) -> &AgentSpec {
        match side {
            Side::Baseline => &self.baseline,
            Side::Chimera => &self.chimera,
        }
    }
}

/// One bench execution.
pub struct BenchRun<'a> {
    pub spec: &'a BenchSpec,
    pub backend: Arc<dyn Backend>,
    pub data_dirs: Vec<PathBuf>,
    pub collect: CollectOptions,
    pub out_dir: PathBuf,
    pub events: Events,
    /// Cancelled (Ctrl-C): the bench stops; the runs that finished are kept and reported.
    pub cancel: CancellationToken,
}

/// The value of `metric` in one agent run.
fn value(metric: BenchMetric, o: &AgentOutcome) -> Option<f64> {
    let m = &o.metrics;
    match metric {
        BenchMetric::Throughput => m.throughput_tok_s,
        BenchMetric::Ttft => m.ttft_ms,
        BenchMetric::TotalDuration => m.total_duration_ms,
        BenchMetric::TokensGenerated => Some(m.tokens_generated as f64),
        BenchMetric::PromptTokens => m.prompt_tokens.map(|n| n as f64),
        BenchMetric::PromptEval => m.prompt_eval_ms,
        BenchMetric::EvalDuration => m.eval_duration_ms,
        BenchMetric::LoadDuration => m.load_duration_ms,
        BenchMetric::WallTime => Some(o.wall_secs),
    }
}

/// `mean ± sd/√n` of a summary, for error propagation.
fn mean_se(s: &Summary) -> Uncertain {
    Uncertain { value: s.mean, sd: s.sd.map_or(0.0, |sd| sd / (s.n as f64).sqrt()) }
}

/// Compare the successful runs of both sides.
pub fn compare(entries: &[BenchEntry]) -> Vec<MetricComparison> {
    BenchMetric::ALL
        .iter()
        .map(|&metric| {
            let xs = |side: Side| -> Vec<f64> {
                entries
                    .iter()
                    .filter(|e| e.side == side && e.outcome.ok)
                    .filter_map(|e| value(metric, &e.outcome))
                    .collect()
            };
            let b = summarize(&xs(Side::Baseline));
            let c = summarize(&xs(Side::Chimera));
            let d = match (&b, &c) {
                (Some(b), Some(c)) => delta_pct(mean_se(b), mean_se(c)),
                _ => None,
            };
            MetricComparison {
                metric,
                unit: metric.unit().to_string(),
                higher_is_better: metric.higher_is_better(),
                baseline: b,
                chimera: c,
                delta_pct: d,
            }
        })
        .collect()
}

/// Run the bench. Writes results after every run, so a failure or Ctrl-C keeps what was measured.
pub async fn run_bench(run: BenchRun<'_>) -> BenchOutcome {
    let t0 = Instant::now();
    let spec = run.spec;
    let order = schedule(spec.runs);
    let mut out = BenchOutcome {
        runs: spec.runs,
        baseline_options: spec.baseline.options.clone(),
        chimera_options: spec.chimera.options.clone(),
        order: order.clone(),
        entries: Vec::new(),
        warmups: Vec::new(),
        comparisons: Vec::new(),
        failed_runs: 0,
        interrupted: false,
        write_error: None,
        wall_secs: 0.0,
        report_path: run.out_dir.join("comparison_report.md"),
        metrics_path: run.out_dir.join("metrics.json"),
    };
    // Which backend ran is recorded even when it cannot describe itself.
    let info = run.backend.info(Some(&spec.baseline.model)).await.unwrap_or_else(|_| BackendInfo {
        kind: Some(run.backend.kind()),
        endpoint: run.backend.endpoint(),
        ..Default::default()
    });
    let mut warmed: Vec<Side> = Vec::new();
    let mut last_load: Option<LoadKey> = None;
    for (i, &(r, side)) in order.iter().enumerate() {
        if run.cancel.is_cancelled() {
            out.interrupted = true;
            break;
        }
        let aspec = spec.spec(side);
        run.events.emit(Event::Progress {
            job: "bench".into(),
            done: i as u64,
            total: order.len() as u64,
            label: format!("run {r} {}", side.name()),
        });
        let key = aspec.options.load_key();
        if needs_warmup(&warmed, side, last_load.as_ref(), &key) {
            let w = tokio::select! {
                w = warmup(&run, aspec, side, r) => w,
                () = run.cancel.cancelled() => {
                    out.interrupted = true;
                    break;
                }
            };
            if !w.ok {
                run.events.emit(Event::Note {
                    level: NoteLevel::Warn,
                    text: format!(
                        "warm-up for {} failed: {}",
                        side.name(),
                        w.error.as_deref().unwrap_or("?")
                    ),
                });
            }
            out.warmups.push(w);
            if !warmed.contains(&side) {
                warmed.push(side);
            }
        }
        let outcome = run_agent(AgentRun {
            spec: aspec,
            backend: run.backend.clone(),
            data_dirs: run.data_dirs.clone(),
            collect: run.collect.clone(),
            out_dir: run.out_dir.join(format!("run_{r}")).join(side.name()),
            events: run.events.clone(),
            cancel: run.cancel.clone(),
        })
        .await;
        if !outcome.ok && run.cancel.is_cancelled() {
            // Its own report (in run_N/<side>/) says where it stopped; it is not a measurement.
            out.interrupted = true;
            break;
        }
        last_load = Some(key);
        if !outcome.ok {
            out.failed_runs += 1;
        }
        out.entries.push(BenchEntry { run: r, side, outcome });
        out.comparisons = compare(&out.entries);
        out.wall_secs = t0.elapsed().as_secs_f64();
        if let Err(e) = write_outputs(&run, &out, &info) {
            // Runs whose results cannot be kept are not worth making: stop here.
            out.write_error = Some(e.to_string());
            break;
        }
    }
    if out.interrupted {
        out.wall_secs = t0.elapsed().as_secs_f64();
        if let Err(e) = write_outputs(&run, &out, &info) {
            out.write_error = Some(e.to_string());
        }
    }
    run.events.emit(Event::Progress {
        job: "bench".into(),
        done: out.entries.len() as u64,
        total: order.len() as u64,
        label: if out.interrupted { "interrupted".into() } else { "done".into() },
    });
    out
}

async fn warmup(run: &BenchRun<'_>, spec: &AgentSpec, side: Side, before_run: usize) -> Warmup {
    let label = format!("{} (warm-up)", spec.label);
    run.events.emit(Event::StageStarted { agent: label.clone(), stage: Stage::Warmup });
    let t = Instant::now();
    let mut options = spec.options.clone();
    options.num_predict = Some(WARMUP_NUM_PREDICT);
    let req =
        GenRequest::generate(&spec.model, Some(&spec.persona.text), "Warm-up. Reply with one word.", options);
    let (ok, error, record) = match run.backend.generate(&req, &no_sink).await {
        Ok(rec) => (true, None, rec),
        Err(f) => (false, Some(f.error.to_string()), *f.partial),
    };
    run.events.emit(Event::StageFinished {
        agent: label,
        stage: Stage::Warmup,
        secs: t.elapsed().as_secs_f64(),
        ok,
    });
    Warmup { side, before_run, ok, error, record }
}

/// Write the bench's files; the error names the file that could not be written.
fn write_outputs(run: &BenchRun<'_>, out: &BenchOutcome, info: &BackendInfo) -> Result<(), ExportError> {
    let manifest = Manifest::new(info.clone(), run.spec.chimera.options.clone());
    write_atomic(&out.report_path, render(run.spec, out, &manifest).as_bytes())
        .map_err(WriteError::at(&out.report_path))?;
    export::write(&Json, &manifest, &run.out_dir.join("manifest.json"))?;
    // The latest report of each side, at the top level.
    for side in [Side::Baseline, Side::Chimera] {
        if let Some(e) = out.entries.iter().rev().find(|e| e.side == side) {
            if let Ok(text) = std::fs::read(&e.outcome.report_path) {
                let path = run.out_dir.join(format!("{}_report.md", side.name()));
                write_atomic(&path, &text).map_err(WriteError::at(&path))?;
            }
        }
    }
    let record = BenchRecord { outcome: out.clone(), manifest };
    export::write(&Json, &record, &out.metrics_path)
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

/// The comparison report.
pub fn render(spec: &BenchSpec, out: &BenchOutcome, manifest: &Manifest) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Chimera Bench: baseline vs chimera\n");
    let _ = writeln!(o, "**Date:** {}", manifest.created_at.format("%Y-%m-%d"));
    let _ = writeln!(o, "**Model:** {}", spec.chimera.model);
    let _ = writeln!(o, "**Persona:** {}", spec.chimera.persona.name);
    let _ = writeln!(o, "**Baseline configuration:** {}", spec.baseline.options.describe());
    let _ = writeln!(o, "**Chimera configuration:** {}", spec.chimera.options.describe());
    let done = out.entries.len();
    let _ = writeln!(
        o,
        "**Runs:** {} per configuration, interleaved (baseline, chimera, baseline, …); {} of {} agent runs done, {} failed; {} warm-up calls excluded; wall time {:.2} s\n",
        spec.runs,
        done,
        out.order.len(),
        out.failed_runs,
        out.warmups.len(),
        out.wall_secs
    );
    if out.interrupted {
        let _ = writeln!(
            o,
            "**Interrupted (Ctrl-C):** the figures cover the agent runs that finished before it.\n"
        );
    }
    let _ = writeln!(o, "## Results\n");
    let _ = writeln!(
        o,
        "| metric | baseline mean ± sd | median | min…max | CV | chimera mean ± sd | median | min…max | CV | Δ% chimera vs baseline |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &out.comparisons {
        let b = stat_cells(c.baseline.as_ref());
        let ch = stat_cells(c.chimera.as_ref());
        let d = c.delta_pct.map_or_else(
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
        );
        let _ = writeln!(
            o,
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.metric.name(),
            c.unit,
            b[0],
            b[1],
            b[2],
            b[3],
            ch[0],
            ch[1],
            ch[2],
            ch[3],
            d
        );
    }
    let _ = writeln!(
        o,
        "\nn = successful runs per side. sd is shown only when n > 1. Δ% = (chimera mean / baseline mean − 1) · 100; its ± is the \
first-order propagated standard error of the two means (sd/√n each); \"within noise\" when |Δ| ≤ 2σ. Metrics per run are the \
agent report's `## Metrics` (aggregated over its analysis and report calls). The prompt budget follows each side's \
context window, so when num_ctx differs the sides send different prompt sizes (see Prompt Tokens): compare decode \
throughput and TTFT per prompt token, not totals alone.\n"
    );
    let _ = writeln!(o, "## Runs\n");
    let _ = writeln!(
        o,
        "| run | config | status | throughput tok/s | TTFT ms | tokens | total ms | load ms | wall s | grounding | report |"
    );
    let _ = writeln!(o, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for e in &out.entries {
        let m = &e.outcome.metrics;
        let status = if e.outcome.ok {
            "ok".to_string()
        } else {
            format!("FAILED at {:?}", e.outcome.failed_stage.unwrap_or(Stage::Write)).to_lowercase()
        };
        let g = e
            .outcome
            .grounding
            .as_ref()
            .and_then(|g| g.score)
            .map_or_else(|| "n/a".into(), |s| format!("{s:.2}"));
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | run_{}/{}/report.md |",
            e.run,
            e.side.name(),
            status,
            f2(m.throughput_tok_s),
            f2(m.ttft_ms),
            m.tokens_generated,
            f2(m.total_duration_ms),
            f2(m.load_duration_ms),
            e.outcome.wall_secs,
            g,
            e.run,
            e.side.name()
        );
    }
    let _ = writeln!(o, "\n## Warm-ups (excluded)\n");
    let _ = writeln!(
        o,
        "A {WARMUP_NUM_PREDICT}-token call before the first run of each configuration, and again whenever a load-time option \
(num_ctx, num_gpu, num_batch, num_thread) differs from the previous call's, so model loading is not charged to a measured run.\n"
    );
    let _ = writeln!(o, "| before run | config | status | load ms | TTFT ms |\n|---:|---|---|---:|---:|");
    for w in &out.warmups {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            w.before_run,
            w.side.name(),
            if w.ok {
                "ok".to_string()
            } else {
                format!("FAILED: {}", w.error.as_deref().unwrap_or("?").replace('|', "/"))
            },
            f2(w.record.server.load_duration_ns.map(crate::metrics::ns_to_ms)),
            f2(w.record.ttft_ms())
        );
    }
    let _ = writeln!(o, "\n## Metric Formulas\n\n{FORMULAS_MD}");
    let b = &manifest.backend;
    let _ = writeln!(o, "\n## Run Manifest\n");
    let _ = writeln!(o, "- Tool: {} {}", manifest.tool, manifest.tool_version);
    let _ = writeln!(
        o,
        "- Backend: {} at {} (version {})",
        b.kind.map_or_else(|| "unknown".to_string(), |k| k.to_string()),
        b.endpoint,
        b.version.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(o, "- Model digest: {}", b.model_digest.as_deref().unwrap_or("unknown"));
    let h = &manifest.host;
    let _ = writeln!(o, "- Host: {} · {} · {} · {} CPUs", h.hostname, h.os, h.arch, h.cpus);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::GenOptions;

    #[test]
    fn schedule_interleaves() {
        assert_eq!(
            schedule(2),
            vec![(1, Side::Baseline), (1, Side::Chimera), (2, Side::Baseline), (2, Side::Chimera)]
        );
        assert!(schedule(0).is_empty());
    }

    #[test]
    fn warmup_on_first_use_and_on_load_change() {
        let a = GenOptions::default().load_key();
        let b = GenOptions { num_ctx: Some(512), ..Default::default() }.load_key();
        assert!(needs_warmup(&[], Side::Baseline, None, &a));
        assert!(needs_warmup(&[Side::Baseline], Side::Chimera, Some(&a), &a)); // first chimera call
        assert!(needs_warmup(&[Side::Baseline, Side::Chimera], Side::Baseline, Some(&b), &a)); // reload
        assert!(!needs_warmup(&[Side::Baseline, Side::Chimera], Side::Baseline, Some(&a), &a)); // same load
    }

    #[test]
    fn mean_se_by_hand() {
        // 2, 4, 4, 4, 5, 5, 7, 9: sd = 2.13809, se = sd / sqrt(8) = 0.755929
        let s = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        let u = mean_se(&s);
        assert_eq!(u.value, 5.0);
        assert!((u.sd - 0.755_929).abs() < 1e-5);
        let one = summarize(&[3.0]).unwrap();
        assert_eq!(mean_se(&one).sd, 0.0);
    }
}
