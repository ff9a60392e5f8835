//! The sweep runner: for each point in order, a warm-up call whenever the load-time options
//! (num_ctx, num_gpu, num_batch, num_thread) differ from the previous point's, then N measured
//! runs — one generation call each, one whole agent workflow each ([`AgentWorkload`]), or a
//! multi-agent scenario ([`super::scenario`], N runs through the multi-agent scheduler); each
//! finished point is appended to the [`Store`] before the next one starts.

use std::sync::Arc;

use async_trait::async_trait;

use crate::agent::{AgentRun, AgentSpec, run_agent};
use crate::backend::{Backend, GenRequest, no_sink};
use crate::events::{CancellationToken, Event, Events, NoteLevel, Stage};
use crate::inventory::CollectOptions;
use crate::options::LoadKey;
use crate::records::sweep::{MultiPoint, PointResult, RunSample};
use crate::records::traffic::LoadPoint;

pub use super::config::{AgentWorkload, SweepConfig, Warmup};

use super::SweepError;
use super::grid::Point;
use super::store::Store;

/// The default prompt of a sweep point: short, fixed, asks for a long-ish answer so decode
/// throughput dominates (num_predict bounds it).
pub const DEFAULT_PROMPT: &str = "Explain, in a numbered list of ten short points, how a \
transformer language model turns a prompt into generated text.";

/// What a point's measured runs produced.
pub(super) struct Measured {
    pub runs: Vec<RunSample>,
    /// Multi-agent figures of the point (`--scenario` sweeps only).
    pub multi: Option<MultiPoint>,
    /// Load figures of the point (sweeps with a load axis only, [`super::load`]).
    pub load: Option<LoadPoint>,
}

/// Polled between units of work: true once the user asked to stop.
pub(super) type Stopped<'a> = dyn Fn() -> bool + Send + Sync + 'a;

/// The unit of work of a sweep: its warm-up and its N measured runs at one point.
#[async_trait]
pub(super) trait Measure: Send + Sync {
    /// One unmeasured warm-up before `p`: its duration (ms) and, when it failed, why.
    async fn warmup(&self, p: &Point) -> (Option<f64>, Option<String>);
    /// `runs` measured runs at `p`; `Ok(None)` when stopped before the point finished.
    async fn measure_point(
        &self,
        p: &Point,
        runs: usize,
        stopped: &Stopped<'_>,
    ) -> Result<Option<Measured>, SweepError>;
}

/// Run `one` for each run index, checking `stopped` before each.
async fn each_run<F, Fut>(runs: usize, stopped: &Stopped<'_>, one: F) -> Result<Option<Measured>, SweepError>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = RunSample>,
{
    let mut out = Vec::with_capacity(runs);
    for i in 0..runs {
        if stopped() {
            return Ok(None);
        }
        out.push(one(i).await);
    }
    Ok(Some(Measured { runs: out, multi: None, load: None }))
}

/// The sweep's warm-up call: the point's request, unmeasured.
pub(super) async fn warm_call(backend: &dyn Backend, req: &GenRequest) -> (Option<f64>, Option<String>) {
    match backend.generate(req, &no_sink).await {
        Ok(rec) => (rec.e2e_ms(), None),
        Err(f) => (f.partial.e2e_ms(), Some(f.error.to_string())),
    }
}

/// One generation call with the sweep's fixed prompt.
struct CallMeasure<'a> {
    backend: &'a dyn Backend,
    cfg: &'a SweepConfig,
}

impl CallMeasure<'_> {
    async fn one(&self, p: &Point, run: usize) -> RunSample {
        let req = request(self.cfg, p);
        match self.backend.generate(&req, &no_sink).await {
            Ok(rec) => RunSample::from_record(run, &rec),
            Err(f) => RunSample::from_record(run, &f.partial),
        }
    }
}

#[async_trait]
impl Measure for CallMeasure<'_> {
    async fn warmup(&self, p: &Point) -> (Option<f64>, Option<String>) {
        warm_call(self.backend, &request(self.cfg, p)).await
    }
    async fn measure_point(
        &self,
        p: &Point,
        runs: usize,
        stopped: &Stopped<'_>,
    ) -> Result<Option<Measured>, SweepError> {
        each_run(runs, stopped, |i| self.one(p, i)).await
    }
}

/// One agent workflow; its metrics aggregate the analysis and report calls.
struct AgentMeasure<'a> {
    backend: Arc<dyn Backend>,
    cfg: &'a SweepConfig,
    agent: &'a AgentWorkload,
    events: &'a Events,
    cancel: &'a CancellationToken,
}

impl AgentMeasure<'_> {
    async fn one(&self, p: &Point, run: usize) -> RunSample {
        let mut spec =
            AgentSpec::new(p.label.clone(), self.agent.persona.clone(), &self.cfg.model, p.options.clone());
        spec.workflow = self.agent.workflow.clone();
        let out_dir =
            self.agent.out_dir.join("agents").join(point_dir(&p.label)).join(format!("run_{}", run + 1));
        let outcome = run_agent(AgentRun {
            spec: &spec,
            backend: Arc::clone(&self.backend),
            data_dirs: self.agent.data_dirs.clone(),
            collect: CollectOptions::default(),
            out_dir,
            events: self.events.clone(),
            cancel: self.cancel.clone(),
            handoff: None,
        })
        .await;
        RunSample::from_agent(run, &outcome)
    }
}

#[async_trait]
impl Measure for AgentMeasure<'_> {
    async fn warmup(&self, p: &Point) -> (Option<f64>, Option<String>) {
        warm_call(self.backend.as_ref(), &request(self.cfg, p)).await
    }
    async fn measure_point(
        &self,
        p: &Point,
        runs: usize,
        stopped: &Stopped<'_>,
    ) -> Result<Option<Measured>, SweepError> {
        each_run(runs, stopped, |i| self.one(p, i)).await
    }
}

/// A folder name for a point: its label (`baseline`, `num_ctx=512 temperature=0.6`) with
/// anything but letters, digits and `=._-` replaced by `_`.
pub fn point_dir(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || "=._-".contains(c) { c } else { '_' }).collect()
}

pub(super) fn request(cfg: &SweepConfig, p: &Point) -> GenRequest {
    GenRequest::generate(&cfg.model, cfg.system.as_deref(), &cfg.prompt, p.options.clone())
}

/// Result of [`run_sweep`].
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOutcome {
    /// Points run now.
    pub ran: usize,
    /// Points skipped because they were already finished (resume).
    pub skipped: usize,
    /// Warm-up calls made.
    pub warmups: usize,
    /// Measured calls that failed.
    pub failed_calls: usize,
}

/// Run every point of `points` (already in run order) that `store` has not finished, one
/// generation call per measured run. `cancel` is checked between calls: once cancelled, the
/// sweep ends with [`SweepError::Interrupted`] after keeping every finished point.
pub async fn run_sweep(
    backend: &dyn Backend,
    cfg: &SweepConfig,
    points: &[Point],
    store: &mut Store,
    events: &Events,
    cancel: &CancellationToken,
) -> Result<SweepOutcome, SweepError> {
    let stopped = || cancel.is_cancelled();
    run_points(cfg, &CallMeasure { backend, cfg }, points, store, events, &stopped).await
}

/// Like [`run_sweep`], but each measured run is one agent workflow (`cfg.agent`), so the sweep
/// ranks configurations by what an agent experiences: decode throughput = Σ eval_count /
/// Σ eval_duration over its calls, TTFT = the mean of its calls' TTFT. A cancelled agent run
/// stops at once (its report says where) and its point is not kept.
pub async fn run_sweep_agents(
    backend: Arc<dyn Backend>,
    cfg: &SweepConfig,
    points: &[Point],
    store: &mut Store,
    events: &Events,
    cancel: &CancellationToken,
) -> Result<SweepOutcome, SweepError> {
    let Some(agent) = cfg.agent.as_ref() else {
        return run_sweep(backend.as_ref(), cfg, points, store, events, cancel).await;
    };
    let measure = AgentMeasure { backend: Arc::clone(&backend), cfg, agent, events, cancel };
    run_points(cfg, &measure, points, store, events, &|| cancel.is_cancelled()).await
}

pub(super) async fn run_points(
    cfg: &SweepConfig,
    measure: &dyn Measure,
    points: &[Point],
    store: &mut Store,
    events: &Events,
    stopped: &Stopped<'_>,
) -> Result<SweepOutcome, SweepError> {
    let finished = store.finished_keys();
    let total = points.len();
    let mut out = SweepOutcome { ran: 0, skipped: 0, warmups: 0, failed_calls: 0 };
    let mut last_load: Option<LoadKey> = None;
    for (order, p) in points.iter().enumerate() {
        if finished.contains(&p.key) {
            out.skipped += 1;
            continue;
        }
        if stopped() {
            return Err(SweepError::Interrupted { done: out.skipped + out.ran, total });
        }
        events.emit(Event::Progress {
            job: "sweep".into(),
            done: (out.skipped + out.ran) as u64,
            total: total as u64,
            label: p.label.clone(),
        });
        let load = p.options.load_key();
        let need_warmup = match cfg.warmup {
            Warmup::Always => true,
            Warmup::Never => false,
            Warmup::OnLoadChange => last_load.as_ref() != Some(&load),
        };
        let mut warmup_ms = None;
        if need_warmup {
            events.emit(Event::StageStarted { agent: p.label.clone(), stage: Stage::Warmup });
            let (ms, err) = measure.warmup(p).await;
            out.warmups += 1;
            if let Some(e) = &err {
                events.emit(Event::Note {
                    level: NoteLevel::Warn,
                    text: format!("warm-up of {} failed: {e}", p.label),
                });
            }
            warmup_ms = ms;
            events.emit(Event::StageFinished {
                agent: p.label.clone(),
                stage: Stage::Warmup,
                secs: ms.unwrap_or(0.0) / 1000.0,
                ok: err.is_none(),
            });
        }
        last_load = Some(load);
        let Some(measured) = measure.measure_point(p, cfg.runs, stopped).await? else {
            return Err(SweepError::Interrupted { done: out.skipped + out.ran, total });
        };
        for sample in measured.runs.iter().filter(|s| !s.ok) {
            out.failed_calls += 1;
            events.emit(Event::Note {
                level: NoteLevel::Warn,
                text: format!(
                    "{} run {}: {}",
                    p.label,
                    sample.run + 1,
                    sample.error.as_deref().unwrap_or("failed")
                ),
            });
        }
        let mut result = PointResult::new(p, order, warmup_ms, measured.runs);
        result.multi = measured.multi;
        result.load = measured.load;
        store.append(result)?;
        out.ran += 1;
    }
    events.emit(Event::Progress {
        job: "sweep".into(),
        done: total as u64,
        total: total as u64,
        label: "done".into(),
    });
    Ok(out)
}
