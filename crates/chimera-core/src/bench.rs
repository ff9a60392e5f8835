//! `bench`: baseline (server defaults) vs chimera (option overrides) over N runs of the full
//! agent workflow. A warm-up call per configuration is excluded from statistics, and repeated
//! whenever a load-time option (num_ctx, num_gpu, num_batch, num_thread) changes between
//! consecutive calls; runs are interleaved (A B A B) so drift hits both configurations.
//! Writes `comparison_report.md`, `metrics.json`, `manifest.json` and each run's agent reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use crate::records::bench::{
    BenchEntry, BenchMetric, BenchOutcome, BenchRecord, MetricComparison, Side, WARMUP_NUM_PREDICT, Warmup,
};

use crate::agent::{AgentOutcome, AgentRun, AgentSpec, run_agent};
use crate::backend::{Backend, BackendInfo, GenRequest, no_sink};
use crate::events::{CancellationToken, Event, Events, NoteLevel, Stage};
use crate::export::{self, BenchReport, ExportError, Json, Markdown};
use crate::fsutil::{WriteError, write_atomic};
use crate::inventory::CollectOptions;
use crate::manifest::Manifest;
use crate::options::LoadKey;
use crate::stats::{Summary, Uncertain, delta_pct, summarize};

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
            handoff: None,
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
    let report = BenchReport {
        outcome: out,
        manifest: &manifest,
        model: run.spec.chimera.model.clone(),
        persona: run.spec.chimera.persona.name.clone(),
    };
    export::write(&Markdown::default(), &report, &out.report_path)?;
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
