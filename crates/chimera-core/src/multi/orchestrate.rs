//! The multi-agent scheduler: per run, a warm-up per server, a solo phase (each agent alone),
//! then the concurrent phase (all agents at once, each on its own task); files for each run
//! written atomically as soon as it ends; Ctrl-C (a cancellation token) keeps finished runs.
//!
//! It is generic over an [`AgentJob`] (one agent's workflow, returning tokens and outcome), so
//! the timing logic is tested with scripted jobs; the agent workflow is the production job.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::math;
use super::plan::MultiPlan;
use super::spec::slug;
use super::summary::summarize_runs;
use crate::events::{Event, Events, NoteLevel};
use crate::export::{self, Json, Markdown};
use crate::latency::CallSamples;
use crate::records::agent::SessionMetrics;
use crate::records::multi::{
    AgentRunRecord, FailedAt, MultiSummary, OriginalFigure, Phase, PhaseResult, RUN_SCHEMA, RunRecord,
    RunStatus, WarmupRecord,
};

/// What one agent's job reports back. The scheduler measures the time itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub ok: bool,
    pub error: Option<String>,
    pub failed_stage: Option<FailedAt>,
    /// Output tokens generated (all calls).
    pub tokens: u64,
    /// Server decode throughput, tok/s (mean over calls), when known.
    pub decode_tok_s: Option<f64>,
    /// Time to first token of the first call, ms, when known.
    pub ttft_ms: Option<f64>,
    /// The worst TTFT of all calls, ms (judged by a load run's SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_max_ms: Option<f64>,
    /// ITL p99 over the gaps of all calls, ms (judged by a load run's SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_p99_ms: Option<f64>,
    /// The agent's report, when it wrote one.
    pub report_path: Option<PathBuf>,
    /// Latency samples of the calls (percentiles and cached share in the reports); absent in
    /// older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<CallSamples>,
    /// The workflow session's figures (agent workflows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionMetrics>,
}

/// One agent's workflow, run many times. Implementations never panic on bad input (a panic is
/// caught and recorded as that agent's failure).
#[async_trait]
pub trait AgentJob: Send + Sync + 'static {
    /// Load the model of agent `agent`'s server before anything is measured.
    async fn warmup(&self, agent: usize) -> Result<(), String>;
    /// Run agent `agent` once, writing its files under `out_dir`.
    async fn run(&self, agent: usize, phase: Phase, out_dir: PathBuf) -> JobOutcome;
}

/// Errors that stop the whole command (bad plan, output not writable).
#[derive(Debug, thiserror::Error)]
pub enum MultiError {
    #[error("invalid multi-agent plan: {0}")]
    InvalidPlan(String),
    #[error("cannot write {path}: {source}. Check that the output folder (--out) is writable")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
}

/// Fill in the derived figures of a run from its agents' phase results (pure).
pub fn compute_figures(rec: &mut RunRecord, wall_secs: Option<f64>) {
    let n = rec.agents.len();
    rec.concurrent_wall_secs = wall_secs;
    for a in &mut rec.agents {
        a.slowdown = match (&a.solo, &a.concurrent) {
            (Some(s), Some(c)) if s.ok && c.ok => math::slowdown(c.secs, s.secs),
            _ => None,
        };
        a.contended = a.slowdown.is_some_and(|s| math::contended(s, rec.contention_threshold));
    }
    rec.contention = rec.agents.iter().any(|a| a.contended);
    let solo: Option<Vec<f64>> =
        rec.agents.iter().map(|a| a.solo.as_ref().filter(|s| s.ok).map(|s| s.secs)).collect();
    rec.solo_sum_secs = solo.as_ref().map(|v| v.iter().sum());
    let Some(wall) = wall_secs else { return };
    let conc: Option<Vec<&PhaseResult>> = rec.agents.iter().map(|a| a.concurrent.as_ref()).collect();
    let Some(conc) = conc else { return };
    let tokens: Vec<u64> = conc.iter().map(|c| c.tokens).collect();
    rec.aggregate_tok_s = math::aggregate_tok_s(&tokens, wall);
    let all_ok = conc.iter().all(|c| c.ok);
    if let (Some(solo), true) = (&solo, all_ok) {
        rec.speedup = math::speedup(solo, wall);
        rec.efficiency = rec.speedup.and_then(|s| math::efficiency(s, n));
    } else if solo.is_none() && rec.agents.iter().all(|a| a.solo.is_none()) {
        rec.notes.push("solo phase skipped (--no-solo): no true speedup for this run".into());
    } else {
        rec.notes.push("an agent failed: the true speedup is not computed for this run".into());
    }
    let durations: Vec<f64> = conc.iter().map(|c| c.secs).collect();
    if let Some(s) = math::original_speedup(&durations, wall) {
        rec.original = Some(OriginalFigure {
            sequential_estimate_secs: durations.iter().sum(),
            speedup: s,
            efficiency: math::efficiency(s, n).unwrap_or(0.0),
            note: "original formula: Σ agent durations measured during the concurrent run ÷ concurrent \
                   wall; it measures overlap (balance), not speedup"
                .into(),
        });
    }
}

fn phase_result(out: JobOutcome, secs: f64, root: &Path) -> PhaseResult {
    PhaseResult {
        ok: out.ok,
        secs,
        tokens: out.tokens,
        decode_tok_s: out.decode_tok_s,
        ttft_ms: out.ttft_ms,
        error: out.error,
        failed_stage: out.failed_stage,
        latency: out.latency,
        session: out.session,
        report: out
            .report_path
            .map(|p| p.strip_prefix(root).map(Path::to_path_buf).unwrap_or(p).to_string_lossy().into_owned()),
    }
}

fn panicked(e: tokio::task::JoinError) -> JobOutcome {
    JobOutcome {
        ok: false,
        error: Some(if e.is_panic() {
            "the agent task panicked (a bug: please report it)".into()
        } else {
            e.to_string()
        }),
        ..Default::default()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MultiError + '_ {
    move |source| MultiError::Io { path: path.to_path_buf(), source }
}

/// Run the whole plan. Each run's files, and the root summary, are rewritten atomically after
/// every run, so an interruption or a crash keeps everything finished so far.
pub async fn run_multi(
    plan: &MultiPlan,
    job: Arc<dyn AgentJob>,
    cancel: CancellationToken,
    events: &Events,
) -> Result<MultiSummary, MultiError> {
    run_multi_with_records(plan, job, cancel, events).await.map(|(summary, _)| summary)
}

/// [`run_multi`], also returning every run's full [`RunRecord`] (per-agent phase results), as
/// written to `run_N/metrics.json` (used by `chimera sweep --scenario`).
pub async fn run_multi_with_records(
    plan: &MultiPlan,
    job: Arc<dyn AgentJob>,
    cancel: CancellationToken,
    events: &Events,
) -> Result<(MultiSummary, Vec<RunRecord>), MultiError> {
    if plan.agents.is_empty() {
        return Err(MultiError::InvalidPlan("no agents".into()));
    }
    if plan.runs == 0 {
        return Err(MultiError::InvalidPlan("--runs must be at least 1".into()));
    }
    if !(plan.contention_threshold.is_finite() && plan.contention_threshold > 0.0) {
        return Err(MultiError::InvalidPlan("--contention-threshold must be a positive number".into()));
    }
    std::fs::create_dir_all(&plan.out_dir).map_err(io(&plan.out_dir))?;
    let mut records: Vec<RunRecord> = Vec::new();
    let mut summary = summarize_runs(plan, &records);
    for run in 1..=plan.runs {
        if cancel.is_cancelled() {
            break;
        }
        events.emit(Event::Progress {
            job: "multi".into(),
            done: u64::from(run - 1),
            total: u64::from(plan.runs),
            label: format!("run {run}/{}", plan.runs),
        });
        let rec = run_one(plan, &job, run, &cancel, events).await;
        let dir = plan.out_dir.join(format!("run_{run}"));
        export::write(&Json, &rec, &dir.join("metrics.json"))?;
        export::write(&Markdown::default(), &rec, &dir.join("combined_report.md"))?;
        let stop = rec.status == RunStatus::Interrupted;
        records.push(rec);
        summary = summarize_runs(plan, &records);
        write_summary(plan, &summary)?;
        if stop {
            break;
        }
    }
    if records.is_empty() {
        summary.interrupted = cancel.is_cancelled();
        write_summary(plan, &summary)?;
    }
    events.emit(Event::Progress {
        job: "multi".into(),
        done: u64::from(summary.runs_completed),
        total: u64::from(plan.runs),
        label: if summary.interrupted { "interrupted".into() } else { "done".into() },
    });
    Ok((summary, records))
}

fn write_summary(plan: &MultiPlan, summary: &MultiSummary) -> Result<(), MultiError> {
    export::write(&Json, summary, &plan.out_dir.join("summary.json"))?;
    export::write(&Markdown::default(), summary, &plan.out_dir.join("summary.md"))?;
    Ok(())
}

async fn run_one(
    plan: &MultiPlan,
    job: &Arc<dyn AgentJob>,
    run: u32,
    cancel: &CancellationToken,
    events: &Events,
) -> RunRecord {
    let run_dir = plan.out_dir.join(format!("run_{run}"));
    let mut rec = RunRecord {
        schema: RUN_SCHEMA.into(),
        run,
        scenario: plan.scenario.clone(),
        status: RunStatus::Interrupted,
        started_at: Utc::now(),
        warmups: Vec::new(),
        agents: plan
            .agents
            .iter()
            .map(|a| AgentRunRecord {
                label: a.label.clone(),
                server: a.server.clone(),
                solo: None,
                concurrent: None,
                slowdown: None,
                contended: false,
            })
            .collect(),
        solo_sum_secs: None,
        concurrent_wall_secs: None,
        speedup: None,
        efficiency: None,
        aggregate_tok_s: None,
        contention_threshold: plan.contention_threshold,
        contention: false,
        original: None,
        notes: Vec::new(),
    };
    let note = |text: String| events.emit(Event::Note { level: NoteLevel::Info, text });

    if plan.warmup {
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in plan.agents.iter().enumerate() {
            if !seen.insert(a.warmup_key.clone()) {
                continue;
            }
            note(format!("run {run}: warm-up of {} ({})", a.server, a.label));
            let t0 = Instant::now();
            let r = tokio::select! {
                _ = cancel.cancelled() => return interrupted(rec, "interrupted during warm-up"),
                r = job.warmup(i) => r,
            };
            if let Err(e) = &r {
                events.emit(Event::Note {
                    level: NoteLevel::Warn,
                    text: format!("warm-up of {} failed: {e}", a.server),
                });
            }
            rec.warmups.push(WarmupRecord {
                server: a.server.clone(),
                agent: a.label.clone(),
                ok: r.is_ok(),
                secs: t0.elapsed().as_secs_f64(),
                error: r.err(),
            });
        }
    }

    if plan.solo {
        for (i, a) in plan.agents.iter().enumerate() {
            note(format!("run {run}: solo phase, {} alone", a.label));
            let dir = run_dir.join("solo").join(slug(&a.label));
            let job = Arc::clone(job);
            let t0 = Instant::now();
            let handle = tokio::spawn(async move { job.run(i, Phase::Solo, dir).await });
            let abort = handle.abort_handle();
            let out = tokio::select! {
                _ = cancel.cancelled() => {
                    abort.abort();
                    return interrupted(rec, "interrupted during the solo phase");
                }
                r = handle => r.unwrap_or_else(panicked),
            };
            rec.agents[i].solo = Some(phase_result(out, t0.elapsed().as_secs_f64(), &plan.out_dir));
        }
    }

    note(format!("run {run}: concurrent phase, {} agents at once", plan.agents.len()));
    let start = Instant::now();
    let handles: Vec<_> = plan
        .agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let job = Arc::clone(job);
            let dir = run_dir.join(slug(&a.label));
            tokio::spawn(async move {
                let out = job.run(i, Phase::Concurrent, dir).await;
                (out, Instant::now())
            })
        })
        .collect();
    let aborts: Vec<_> = handles.iter().map(|h| h.abort_handle()).collect();
    let joined = tokio::select! {
        _ = cancel.cancelled() => {
            aborts.iter().for_each(|a| a.abort());
            return interrupted(rec, "interrupted during the concurrent phase");
        }
        r = futures::future::join_all(handles) => r,
    };
    let wall = start.elapsed().as_secs_f64();
    for (i, r) in joined.into_iter().enumerate() {
        let (out, secs) = match r {
            Ok((out, end)) => (out, end.duration_since(start).as_secs_f64()),
            Err(e) => (panicked(e), wall),
        };
        rec.agents[i].concurrent = Some(phase_result(out, secs, &plan.out_dir));
    }
    compute_figures(&mut rec, Some(wall));
    rec.status = if rec.failures().is_empty() { RunStatus::Ok } else { RunStatus::Failed };
    rec
}

fn interrupted(mut rec: RunRecord, why: &str) -> RunRecord {
    compute_figures(&mut rec, None);
    rec.status = RunStatus::Interrupted;
    rec.notes.push(why.to_string());
    rec
}
