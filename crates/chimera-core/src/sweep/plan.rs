//! A whole sweep from one typed [`SweepPlan`]: open (or resume) the output folder, check that a
//! resumed folder holds the same kind of sweep, write the manifest, run the points in order
//! (one call, one agent workflow or one multi-agent scenario per run), then summarise and write
//! `summary.md/json`, plots and `report.html`. The one entry point the CLI calls ([`run_plan`]).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{Backend, BackendInfo};
use crate::events::{CancellationToken, Event, Events, NoteLevel};
use crate::manifest::Manifest;
use crate::multi::Scenario;
use crate::outcome::Status;
use crate::records::traffic::{LoadModel, SweepLoad};
use crate::workflow::WorkflowId;

use super::SweepError;
use super::config::{ScenarioWorkload, SweepConfig};
use super::grid::{Grid, Point, order};
use super::load::{load_points, run_sweep_load};
use super::output::write_outputs;
use super::run::run_sweep_agents;
use super::scenario::run_sweep_scenario_on;
use super::store::Store;
use super::summary::SweepSummary;

/// Everything a sweep needs, validated.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// What runs at each point (model, prompt, runs, warm-up policy, order, agent workload).
    pub config: SweepConfig,
    pub grid: Grid,
    /// Run this multi-agent scenario at every point instead of one call / one agent.
    pub scenario: Option<ScenarioWorkload>,
    /// Measure every point at every load level of this axis (one load run of agent sessions
    /// per measured run; needs the agent workload, excludes the scenario).
    pub load: Option<SweepLoad>,
    /// Measure the server-defaults point first.
    pub baseline: bool,
    pub out_dir: PathBuf,
    /// Continue the sweep in `out_dir`, skipping finished points.
    pub resume: bool,
}

impl SweepPlan {
    /// Checks that need no request: the grid has points, the scenario is consistent.
    pub fn check(&self) -> Result<(), SweepError> {
        if self.grid.points(self.baseline)?.is_empty() {
            return Err(SweepError::Grid(
                "the grid is empty: give at least one option with several values (e.g. --num-ctx 256,512)"
                    .into(),
            ));
        }
        if let Some(l) = &self.load {
            if self.scenario.is_some() {
                return Err(SweepError::Grid(
                    "--arrival/--concurrency and --scenario are two workloads: choose one (a load sweep runs one agent's sessions)".into(),
                ));
            }
            if self.config.agent.is_none() {
                return Err(SweepError::Grid(
                    "--arrival/--concurrency need --agent-data DIR: each session of a load run is one agent workflow".into(),
                ));
            }
            if l.levels.is_empty() {
                return Err(SweepError::Grid("the load axis has no level".into()));
            }
        }
        match &self.scenario {
            Some(w) => w.check(),
            None => Ok(()),
        }
    }

    /// The points of the sweep, with their load level when there is a load axis.
    pub fn points(&self) -> Result<Vec<(Point, Option<LoadModel>)>, SweepError> {
        let points = self.grid.points(self.baseline)?;
        match &self.load {
            None => Ok(points.into_iter().map(|p| (p, None)).collect()),
            Some(l) => Ok(load_points(&points, l, !self.grid.axes.is_empty())?
                .into_iter()
                .map(|(p, level)| (p, Some(level)))
                .collect()),
        }
    }
}

/// How a sweep ended.
#[derive(Debug, Clone)]
pub struct SweepFinished {
    /// Of the points of this grid that are finished (a resumed folder's included).
    pub summary: SweepSummary,
    pub status: Status,
    /// Measured calls (or scenario runs with a failed agent) that failed.
    pub failed: usize,
    /// Finished and planned points, when interrupted.
    pub interrupted: Option<(usize, usize)>,
}

/// Run `plan` on `backends` (scenario agent i talks to `backends[i % len]`; the other
/// workloads use the first). Every finished point is on disk before the next starts; the
/// summary is written also after Ctrl-C (`cancel`) or failed calls.
pub async fn run_plan(
    plan: &SweepPlan,
    backends: Vec<Arc<dyn Backend>>,
    events: &Events,
    cancel: &CancellationToken,
) -> Result<SweepFinished, SweepError> {
    let cfg = &plan.config;
    let first = backends.first().cloned().ok_or_else(|| SweepError::Grid("no server to measure".into()))?;
    plan.check()?;
    let planned = plan.points()?;
    let points: Vec<Point> = planned.iter().map(|(p, _)| p.clone()).collect();
    let run_order = order(&points, cfg.shuffle_seed);
    let mut store = if plan.resume { Store::resume(&plan.out_dir)? } else { Store::create(&plan.out_dir)? };
    if store.skipped_lines > 0 {
        events.emit(Event::Note {
            level: NoteLevel::Warn,
            text: format!(
                "dropped {} unfinished line(s) of points.jsonl (a point cut off by the interruption)",
                store.skipped_lines
            ),
        });
    }
    check_same_workload(&store, plan.scenario.as_ref())?;
    check_same_runs(&store, &points, cfg.runs)?;
    store.workflow = match (&plan.scenario, &cfg.agent) {
        (Some(w), _) => Some(w.workflow.id()),
        (None, Some(a)) => Some(a.workflow.id()),
        (None, None) => None,
    };
    check_same_workflow(&store)?;
    // Which backend ran is recorded even when it cannot describe itself.
    let info = first.info(Some(&cfg.model)).await.unwrap_or_else(|_| BackendInfo {
        kind: Some(first.kind()),
        endpoint: first.endpoint(),
        ..Default::default()
    });
    let manifest = Manifest::new(info, plan.grid.fixed.clone());
    crate::export::write(&crate::export::Json, &manifest, &plan.out_dir.join("manifest.json"))
        .map_err(|e| SweepError::Io(e.to_string()))?;
    let res = match (&plan.scenario, &plan.load) {
        (Some(w), _) => {
            run_sweep_scenario_on(backends, cfg, w, &run_order, &mut store, events, cancel.clone()).await
        }
        (None, Some(l)) => {
            let levels: std::collections::HashMap<&str, &LoadModel> =
                planned.iter().filter_map(|(p, l)| Some((p.key.as_str(), l.as_ref()?))).collect();
            let ordered: Vec<(Point, LoadModel)> = run_order
                .iter()
                .filter_map(|p| Some((p.clone(), levels.get(p.key.as_str()).copied()?.clone())))
                .collect();
            run_sweep_load(first, cfg, l, &ordered, &mut store, events, cancel).await
        }
        (None, None) => run_sweep_agents(first, cfg, &run_order, &mut store, events, cancel).await,
    };
    // Summarise the points of this grid (a resumed folder may hold points of an older grid).
    let keys: HashSet<&str> = points.iter().map(|p| p.key.as_str()).collect();
    let done = store.results().iter().filter(|p| keys.contains(p.key.as_str())).cloned().collect();
    let mut summary = SweepSummary::new(cfg.clone(), plan.grid.clone(), done);
    if let Some(w) = &plan.scenario {
        summary = summary.with_scenario(w.clone());
    }
    if let Some(l) = &plan.load {
        summary = summary.with_load(l.clone());
    }
    for w in write_outputs(&plan.out_dir, &summary, Some(&manifest))?.warnings {
        events.emit(Event::Note { level: NoteLevel::Warn, text: w });
    }
    let (status, failed, interrupted) = match res {
        Ok(o) => (Status::failed_if(o.failed_calls > 0), o.failed_calls, None),
        Err(SweepError::Interrupted { done, total }) => (Status::Interrupted, 0, Some((done, total))),
        Err(e) => return Err(e),
    };
    Ok(SweepFinished { summary, status, failed, interrupted })
}

/// `--resume` must measure the rest with the same number of runs: a finished point (the
/// baseline first of all) measured with another `--runs` would be compared as if it were alike.
fn check_same_runs(store: &Store, points: &[Point], runs: usize) -> Result<(), SweepError> {
    let keys: HashSet<&str> = points.iter().map(|p| p.key.as_str()).collect();
    let other = store.results().iter().find(|p| keys.contains(p.key.as_str()) && p.runs.len() != runs);
    match other {
        Some(p) => Err(SweepError::OtherRuns { label: p.label.clone(), have: p.runs.len(), want: runs }),
        None => Ok(()),
    }
}

/// `--resume` must run the same workflow: a finished point's runs executed other steps (another
/// built-in, or a workflow file whose text changed). Points of older files, which did not record
/// it, are taken as they are.
fn check_same_workflow(store: &Store) -> Result<(), SweepError> {
    let name = |w: &Option<WorkflowId>| {
        w.as_ref().map_or("no workflow (one call per run)".into(), ToString::to_string)
    };
    match store.results().iter().find(|p| p.workflow.is_some() && p.workflow != store.workflow) {
        Some(p) => Err(SweepError::OtherWorkflow {
            label: p.label.clone(),
            have: name(&p.workflow),
            want: name(&store.workflow),
        }),
        None => Ok(()),
    }
}

/// `--resume` must continue the same kind of sweep: finished points of another scenario (or
/// agent count), or of a single-call / single-agent sweep, would be skipped as if done.
fn check_same_workload(store: &Store, work: Option<&ScenarioWorkload>) -> Result<(), SweepError> {
    let want = work.map(|w| (w.scenario, w.n_agents));
    let describe = |x: &Option<(Scenario, usize)>| {
        x.as_ref().map_or("a single-call or single-agent sweep".to_string(), |(s, n)| {
            format!("{s} with {n} agents")
        })
    };
    for p in store.results() {
        let have = p.multi.as_ref().map(|m| (m.scenario, m.agents.len()));
        if have != want {
            return Err(SweepError::OtherWorkload { have: describe(&have), want: describe(&want) });
        }
    }
    Ok(())
}
