//! The multi-agent sweep workload (`chimera sweep --scenario`): at each point a built-in
//! scenario (`chimera_homo`, `chimera_hetero`, `baseline_vs_chimera`) runs N times through the
//! multi-agent scheduler ([`crate::multi::run_multi_with_records`]: a solo phase, each agent
//! alone, then the concurrent phase), with the point's options on the agents the scenario
//! tunes. Per run it records aggregate throughput (Σ tokens of the concurrent phase ÷ its wall,
//! as `chimera multi`'s summary), mean TTFT across agents, true speedup / efficiency (from the
//! solo phase, never from durations measured during the concurrent run) and failures.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::agent::AgentSpec;
use crate::backend::Backend;
use crate::events::Events;
use crate::inventory::CollectOptions;
use crate::multi::jobs::{WorkflowAgent, WorkflowJob};
use crate::multi::{AgentJob, AgentSlot, MultiPlan, run_multi_with_records};
use crate::records::multi::{ManifestAgent, MultiManifest, ScenarioName};
use crate::records::sweep::{MultiPoint, MultiRun};

use super::SweepError;
use super::config::{PlannedAgent, ScenarioWorkload, SweepConfig};
use super::grid::Point;
use super::run::{Measure, Measured, Stopped, SweepOutcome, point_dir, run_points};
use super::store::Store;

/// The scenario at one point, through the multi-agent scheduler.
struct ScenarioMeasure<'a> {
    /// Agent i talks to `backends[i % len]` (one instance = one connection pool per server).
    backends: Vec<Arc<dyn Backend>>,
    cfg: &'a SweepConfig,
    work: &'a ScenarioWorkload,
    events: &'a Events,
    cancel: CancellationToken,
}

impl ScenarioMeasure<'_> {
    fn backend(&self, agent: usize) -> &Arc<dyn Backend> {
        &self.backends[agent % self.backends.len()]
    }

    /// Events for the scheduler: everything reaches the sweep's consumer except the scheduler's
    /// own run counter, so the progress display keeps the sweep's point counter.
    fn point_events(&self) -> Events {
        self.events.without_progress_of("multi")
    }

    fn job(&self, agents: &[PlannedAgent], events: Events) -> WorkflowJob {
        let agents = agents
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut spec =
                    AgentSpec::new(a.label.clone(), a.persona.clone(), &self.cfg.model, a.options.clone());
                spec.workflow = self.work.workflow.clone();
                WorkflowAgent { spec, backend: Arc::clone(self.backend(i)) }
            })
            .collect();
        WorkflowJob::new(agents, self.work.data_dirs.clone(), CollectOptions::default(), events)
    }
}

#[async_trait]
impl Measure for ScenarioMeasure<'_> {
    /// One warm-up call per distinct (server, load-time options) among the agents.
    async fn warmup(&self, p: &Point) -> (Option<f64>, Option<String>) {
        let agents = self.work.agents(&p.options);
        let job = self.job(&agents, self.events.clone());
        let t0 = std::time::Instant::now();
        let mut seen = Vec::new();
        let mut errors = Vec::new();
        for (i, a) in agents.iter().enumerate() {
            let key = (i % self.backends.len(), a.options.load_key());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if let Err(e) = job.warmup(i).await {
                errors.push(format!("{}: {e}", a.label));
            }
        }
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        (Some(ms), (!errors.is_empty()).then(|| errors.join("; ")))
    }

    async fn measure_point(
        &self,
        p: &Point,
        runs: usize,
        stopped: &Stopped<'_>,
    ) -> Result<Option<Measured>, SweepError> {
        if stopped() {
            return Ok(None);
        }
        let agents = self.work.agents(&p.options);
        let endpoints: Vec<String> = (0..agents.len()).map(|i| self.backend(i).endpoint()).collect();
        let plan = MultiPlan {
            scenario: ScenarioName::Builtin(self.work.scenario),
            agents: agents
                .iter()
                .zip(&endpoints)
                .map(|(a, endpoint)| AgentSlot {
                    label: a.label.clone(),
                    server: endpoint.clone(),
                    warmup_key: format!("{endpoint} {:?}", a.options.load_key()),
                })
                .collect(),
            runs: u32::try_from(runs).map_err(|_| SweepError::Grid("--runs is too large".into()))?,
            solo: self.work.solo,
            // the sweep warms up on load-time changes itself
            warmup: false,
            contention_threshold: self.work.contention_threshold,
            out_dir: self.work.out_dir.join("agents").join(point_dir(&p.label)),
            manifest: Some(MultiManifest {
                tool: "chimera".into(),
                tool_version: crate::TOOL_VERSION.into(),
                sweep_point: Some(p.label.clone()),
                model: Some(self.cfg.model.clone()),
                agents: agents
                    .iter()
                    .zip(&endpoints)
                    .map(|(a, endpoint)| ManifestAgent {
                        tuned_by_sweep: Some(a.tuned),
                        ..ManifestAgent::new(&a.label, &a.persona.key, endpoint, &a.options)
                    })
                    .collect(),
                ..Default::default()
            }),
        };
        let events = self.point_events();
        let job = Arc::new(self.job(&agents, events.clone()));
        let (summary, records) = run_multi_with_records(&plan, job, self.cancel.clone(), &events)
            .await
            .map_err(|e| SweepError::Io(e.to_string()))?;
        if summary.interrupted || (stopped() && records.len() < runs) {
            return Ok(None);
        }
        let multi_runs: Vec<MultiRun> = records.iter().map(MultiRun::from_record).collect();
        let samples = multi_runs.iter().map(MultiRun::sample).collect();
        let multi = MultiPoint::new(self.work.scenario, &agents, self.work.solo, multi_runs);
        Ok(Some(Measured { runs: samples, multi: Some(multi), load: None }))
    }
}

/// Run every unfinished point of `points` with the multi-agent scenario `work` as the unit of
/// work (see the module doc). `cancel` (Ctrl-C) stops between and inside runs; finished points
/// are kept and the sweep ends with [`SweepError::Interrupted`]. `failed_calls` of the outcome
/// counts runs in which some agent failed. Every agent talks to `backend`.
pub async fn run_sweep_scenario(
    backend: Arc<dyn Backend>,
    cfg: &SweepConfig,
    work: &ScenarioWorkload,
    points: &[Point],
    store: &mut Store,
    events: &Events,
    cancel: CancellationToken,
) -> Result<SweepOutcome, SweepError> {
    run_sweep_scenario_on(vec![backend], cfg, work, points, store, events, cancel).await
}

/// [`run_sweep_scenario`] with several servers: agent i talks to `backends[i % len]` (with two,
/// agent A to the first and agent B to the second, like `chimera multi --url2`).
pub async fn run_sweep_scenario_on(
    backends: Vec<Arc<dyn Backend>>,
    cfg: &SweepConfig,
    work: &ScenarioWorkload,
    points: &[Point],
    store: &mut Store,
    events: &Events,
    cancel: CancellationToken,
) -> Result<SweepOutcome, SweepError> {
    work.check()?;
    if backends.is_empty() {
        return Err(SweepError::Grid("no server for the scenario's agents".into()));
    }
    let measure = ScenarioMeasure { backends, cfg, work, events, cancel: cancel.clone() };
    let stopped = move || cancel.is_cancelled();
    run_points(cfg, &measure, points, store, events, &stopped).await
}
