//! The load axis of a sweep (`chimera sweep --agent-data DIR --arrival LIST | --concurrency
//! LIST`): every grid point is measured at every load level ([`load_points`]); each measured
//! run of a point is one load run of agent sessions with the point's options, through the level
//! runner ([`crate::traffic::record::run_load`]: its `load.json` and `load.md` land in
//! `agents/<point>/run_N/`). The point records goodput, throughput, SLO pass rate and session
//! TTFT p95 ([`LoadPoint`], every run's sessions pooled); with an SLO the sweep is ranked by
//! goodput ([`super::rank`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::agent::AgentSpec;
use crate::backend::Backend;
use crate::capacity::run::concat_repeats;
use crate::events::{CancellationToken, Events};
use crate::inventory::CollectOptions;
use crate::multi::jobs::{WorkflowAgent, WorkflowJob};
use crate::multi::plan::AgentSlot;
use crate::records::sweep::RunSample;
use crate::records::traffic::{LevelSummary, LoadModel, LoadPoint, Spread, SweepLoad};
use crate::traffic::arrivals::Arrival;
use crate::traffic::level::summarize_level;
use crate::traffic::record::run_load;
use crate::traffic::run::LevelPlan;

use super::SweepError;
use super::config::{AgentWorkload, SweepConfig};
use super::grid::Point;
use super::run::{Measure, Measured, Stopped, SweepOutcome, point_dir, request, run_points, warm_call};
use super::store::Store;

/// A level as a grid coordinate, in the flags' spelling ([`LoadModel::coordinate`]).
pub fn level_label(level: &LoadModel) -> String {
    level.coordinate()
}

/// Every point of `points` at every level of `load`, in that order (a point's levels one
/// after the other). A point's key is its options' key plus the level and everything that
/// shapes the measurement (sessions, warm-ups, SLO, quantile), so `--resume` never skips a
/// point measured otherwise. Labels add the level to the point's (the baseline's coordinates
/// are the level alone when the grid has no option axis). No load point is a baseline: levels
/// differ in the offered load, so a margin over one of them would compare loads, not options.
pub fn load_points(
    points: &[Point],
    load: &SweepLoad,
    has_axes: bool,
) -> Result<Vec<(Point, LoadModel)>, SweepError> {
    let shape = serde_json::to_string(&(&load.stop, load.warmup_sessions, &load.slo, load.quantile))
        .map_err(|e| SweepError::Grid(e.to_string()))?;
    let mut out = Vec::with_capacity(points.len() * load.levels.len());
    for p in points {
        for level in &load.levels {
            let ll = level_label(level);
            let level_json = serde_json::to_string(level).map_err(|e| SweepError::Grid(e.to_string()))?;
            let mut q = p.clone();
            q.key = format!("{} load={level_json} {shape}", p.key);
            q.label = if has_axes { format!("{} {ll}", p.label) } else { ll.clone() };
            q.baseline = false;
            let (name, value) = ll.split_once('=').unwrap_or(("load", ll.as_str()));
            q.coords.insert(name.to_string(), serde_json::Value::from(value));
            out.push((q, level.clone()));
        }
    }
    Ok(out)
}

/// Run `r` of a level: Poisson arrivals draw from `seed + r`, so runs are not copies.
fn level_of_run(level: &LoadModel, run: usize) -> LoadModel {
    match level {
        LoadModel::Open { arrival: Arrival::Poisson { per_sec, seed } } => LoadModel::Open {
            arrival: Arrival::Poisson { per_sec: *per_sec, seed: seed.wrapping_add(run as u64) },
        },
        other => other.clone(),
    }
}

/// One run's ranked figures: throughput = output tokens/s over the run's window, TTFT = the
/// session TTFT p95 (each session's worst call, from its planned start), e2e = the median
/// session time. A run in which a session failed is marked not ok (kept, left out of the
/// throughput and TTFT rankings; its goodput counts).
pub fn run_sample(run: usize, l: &LevelSummary, tokens: u64) -> RunSample {
    let ok = l.sessions > 0 && l.failed == 0;
    RunSample {
        run,
        ok,
        error: (!ok).then(|| {
            if l.sessions == 0 {
                "no session was measured".to_string()
            } else {
                format!("{} of {} sessions failed", l.failed, l.sessions)
            }
        }),
        ttft_ms: l.ttft_max_ms.as_ref().map(|s| s.p95),
        decode_tok_s: l.tokens_per_s,
        e2e_ms: l.session_s.as_ref().map(|s| s.median * 1000.0),
        output_tokens: tokens,
        prompt_tokens: None,
        load_ms: None,
        prompt_eval_ms: None,
        eval_ms: None,
        latency: None,
        // Load runs report their sessions in the point's load figures (`LoadPoint`).
        sessions: Vec::new(),
    }
}

/// A point's runs pooled into its [`LoadPoint`].
pub fn load_point(
    load: &SweepLoad,
    level: &LoadModel,
    runs: Vec<LevelSummary>,
    sessions: &[Vec<crate::records::traffic::SessionRecord>],
) -> LoadPoint {
    let open = matches!(level, LoadModel::Open { .. });
    LoadPoint {
        load: level.clone(),
        slo: load.slo.clone(),
        quantile: load.quantile,
        pooled: summarize_level(&concat_repeats(sessions), load.quantile, open),
        runs,
    }
}

/// Load runs of one agent (the point's options) per measured run.
struct LoadMeasure<'a> {
    backend: Arc<dyn Backend>,
    cfg: &'a SweepConfig,
    agent: &'a AgentWorkload,
    load: &'a SweepLoad,
    levels: HashMap<String, LoadModel>,
    events: &'a Events,
    cancel: &'a CancellationToken,
}

impl LoadMeasure<'_> {
    /// Events for the level runner: everything reaches the sweep's consumer except its session
    /// counter, so the progress display keeps the sweep's point counter.
    fn run_events(&self) -> Events {
        self.events.without_progress_of("load")
    }
}

#[async_trait]
impl Measure for LoadMeasure<'_> {
    async fn warmup(&self, p: &Point) -> (Option<f64>, Option<String>) {
        warm_call(self.backend.as_ref(), &request(self.cfg, p)).await
    }

    async fn measure_point(
        &self,
        p: &Point,
        runs: usize,
        stopped: &Stopped<'_>,
    ) -> Result<Option<Measured>, SweepError> {
        let level = self
            .levels
            .get(&p.key)
            .ok_or_else(|| SweepError::Grid(format!("point {} has no load level", p.label)))?;
        let endpoint = self.backend.endpoint();
        let mut samples = Vec::with_capacity(runs);
        let mut summaries = Vec::with_capacity(runs);
        let mut sessions = Vec::with_capacity(runs);
        for r in 0..runs {
            if stopped() {
                return Ok(None);
            }
            let mut spec = AgentSpec::new(
                p.label.clone(),
                self.agent.persona.clone(),
                &self.cfg.model,
                p.options.clone(),
            );
            spec.workflow = self.agent.workflow.clone();
            let plan = LevelPlan {
                load: level_of_run(level, r),
                stop: self.load.stop,
                warmup_sessions: self.load.warmup_sessions,
                agents: vec![AgentSlot {
                    label: p.label.clone(),
                    server: endpoint.clone(),
                    warmup_key: endpoint.clone(),
                }],
                spread: Spread::RoundRobin,
                slo: self.load.slo.clone(),
                out_dir: self
                    .agent
                    .out_dir
                    .join("agents")
                    .join(point_dir(&p.label))
                    .join(format!("run_{}", r + 1)),
            };
            let events = self.run_events();
            let agents = vec![WorkflowAgent { spec, backend: Arc::clone(&self.backend) }];
            let job = WorkflowJob::new(
                agents,
                self.agent.data_dirs.clone(),
                CollectOptions::default(),
                events.clone(),
            )
            .without_handoffs();
            let rec = run_load(&plan, self.load.quantile, None, Arc::new(job), self.cancel, &events)
                .await
                .map_err(|e| SweepError::Io(e.to_string()))?;
            if rec.interrupted {
                return Ok(None);
            }
            let tokens = rec.sessions.iter().filter(|s| !s.warmup).map(|s| s.tokens).sum();
            samples.push(run_sample(r, &rec.summary, tokens));
            summaries.push(rec.summary);
            sessions.push(rec.sessions);
        }
        let point = load_point(self.load, level, summaries, &sessions);
        Ok(Some(Measured { runs: samples, multi: None, load: Some(point) }))
    }
}

/// Run every unfinished point of `points` (load points from [`load_points`], in run order)
/// with the agent workload of `cfg` under its level. `cancel` (Ctrl-C) stops the running load
/// run; finished points are kept and the sweep ends with [`SweepError::Interrupted`].
pub async fn run_sweep_load(
    backend: Arc<dyn Backend>,
    cfg: &SweepConfig,
    load: &SweepLoad,
    points: &[(Point, LoadModel)],
    store: &mut Store,
    events: &Events,
    cancel: &CancellationToken,
) -> Result<SweepOutcome, SweepError> {
    let agent = cfg.agent.as_ref().ok_or_else(|| {
        SweepError::Grid(
            "a load axis (--arrival/--concurrency) needs --agent-data: each session is one agent run".into(),
        )
    })?;
    let measure = LoadMeasure {
        backend,
        cfg,
        agent,
        load,
        levels: points.iter().map(|(p, l)| (p.key.clone(), l.clone())).collect(),
        events,
        cancel,
    };
    let order: Vec<Point> = points.iter().map(|(p, _)| p.clone()).collect();
    run_points(cfg, &measure, &order, store, events, &|| cancel.is_cancelled()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::{Grid, parse_values};
    use crate::traffic::slo::Slo;

    fn load(levels: Vec<LoadModel>) -> SweepLoad {
        SweepLoad {
            levels,
            stop: crate::traffic::arrivals::Stop::Sessions(4),
            warmup_sessions: 1,
            slo: "session_s<=60".parse().unwrap(),
            quantile: 0.95,
        }
    }

    #[test]
    fn every_point_at_every_level_with_distinct_keys_and_labels() {
        let g = Grid::from_lists(&[("num_ctx".into(), parse_values("256,512"))]).unwrap();
        let pts = g.points(true).unwrap();
        let c = |per_sec| LoadModel::Open { arrival: Arrival::Constant { per_sec } };
        let w = load(vec![c(1.0), c(2.5), LoadModel::Closed { concurrency: 4 }]);
        let lp = load_points(&pts, &w, true).unwrap();
        assert_eq!(lp.len(), 9);
        let labels: Vec<&str> = lp.iter().map(|(p, _)| p.label.as_str()).collect();
        assert_eq!(
            labels[..3],
            ["baseline arrival=constant:1/s", "baseline arrival=constant:2.5/s", "baseline concurrency=4"]
        );
        assert_eq!(labels[8], "num_ctx=512 concurrency=4");
        assert!(lp.iter().all(|(p, _)| !p.baseline));
        let keys: std::collections::HashSet<&str> = lp.iter().map(|(p, _)| p.key.as_str()).collect();
        assert_eq!(keys.len(), 9);
        assert_eq!(lp[4].0.coords["arrival"], "constant:2.5/s");
        assert_eq!(lp[4].0.options.num_ctx, Some(256));
        // Another SLO (or session count) is another measurement: no key is shared.
        let mut w2 = w.clone();
        w2.slo = Slo::default();
        let other = load_points(&pts, &w2, true).unwrap();
        assert!(other.iter().all(|(p, _)| !keys.contains(p.key.as_str())));
        // Without option axes a point is named by its level alone.
        let base = Grid::default().points(true).unwrap();
        let only = load_points(&base, &w, false).unwrap();
        assert_eq!(only[2].0.label, "concurrency=4");
        let p = LoadModel::Open { arrival: Arrival::Poisson { per_sec: 2.0, seed: 7 } };
        assert_eq!(level_label(&p), "arrival=poisson:2/s:7");
        assert_eq!(level_label(&level_of_run(&p, 2)), "arrival=poisson:2/s:9");
        let r = LoadModel::Open { arrival: Arrival::Ramp { from_per_sec: 0.5, to_per_sec: 4.0 } };
        assert_eq!(level_label(&r), "arrival=ramp:0.5/s..4/s");
    }
}
