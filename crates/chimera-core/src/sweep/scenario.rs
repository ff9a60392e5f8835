//! The multi-agent sweep workload (`chimera sweep --scenario`): at each point a built-in
//! scenario (`chimera_homo`, `chimera_hetero`, `baseline_vs_chimera`) runs N times through the
//! multi-agent scheduler ([`crate::multi::run_multi_with_records`]: a solo phase, each agent
//! alone, then the concurrent phase), with the point's options on the agents the scenario
//! tunes. Per run it records aggregate throughput (Σ tokens of the concurrent phase ÷ its wall,
//! as `chimera multi`'s summary), mean TTFT across agents, true speedup / efficiency (from the
//! solo phase, never from durations measured during the concurrent run) and failures.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::agent::AgentSpec;
use crate::backend::Backend;
use crate::events::{Event, Events};
use crate::inventory::CollectOptions;
use crate::multi::jobs::{WorkflowAgent, WorkflowJob};
use crate::multi::spec::Scenario;
use crate::multi::summary::RunBrief;
use crate::multi::{AgentJob, AgentSlot, MultiPlan, RunRecord, RunStatus, run_multi_with_records};
use crate::options::GenOptions;
use crate::persona::Persona;
use crate::stats::{Summary, mean, summarize};

use super::SweepError;
use super::grid::Point;
use super::run::{Measure, Measured, Stopped, SweepConfig, SweepOutcome, point_dir, run_points};
use super::store::{RunSample, Store};

/// How aggregate throughput is defined (printed in summaries).
pub const AGGREGATE_MD: &str = "aggregate throughput = Σ output tokens of all agents in the concurrent \
phase ÷ the concurrent phase's wall time (as `chimera multi`'s summary); TTFT = mean over the agents \
of each agent's mean call TTFT";

/// How speedup and efficiency are defined (printed in summaries).
pub const SPEEDUP_MD: &str = "true speedup = Σ solo times (each agent measured alone) ÷ concurrent \
wall; efficiency = speedup ÷ N agents (1 = perfect overlap, 1/N = fully serialised)";

/// Most agents `--agents` accepts for `chimera_homo`.
pub const MAX_AGENTS: usize = 26;

/// A multi-agent scenario run at every point of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioWorkload {
    pub scenario: Scenario,
    /// Number of agents (2 for `chimera_hetero` and `baseline_vs_chimera`; 1..=26 for `chimera_homo`).
    pub n_agents: usize,
    /// One persona per agent.
    pub personas: Vec<Persona>,
    /// The grid's fixed options: what the untuned agent (the baseline of
    /// `baseline_vs_chimera`) uses at every point, and what every agent has underneath.
    pub fixed: GenOptions,
    /// Options of agent B in `chimera_hetero` (fixed across points, over `fixed`).
    pub second: GenOptions,
    pub data_dirs: Vec<PathBuf>,
    /// Each point's runs go to `out_dir/agents/<point>/run_N/` (agent reports, solo/,
    /// metrics.json, combined_report.md) with the point's `summary.json|md` beside them.
    pub out_dir: PathBuf,
    /// Run the solo phase (needed for true speedup and efficiency).
    pub solo: bool,
    /// Slowdown (concurrent ÷ solo) above which an agent is flagged as contended.
    pub contention_threshold: f64,
}

/// One agent of the scenario at a point.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAgent {
    pub label: String,
    pub persona: Persona,
    pub options: GenOptions,
    /// The sweep's options apply to this agent.
    pub tuned: bool,
}

impl ScenarioWorkload {
    /// The scenario's default personas for `n` agents (collector, insight, collector, …).
    pub fn default_personas(scenario: Scenario, n: usize) -> Vec<Persona> {
        let none = GenOptions::default();
        let defs = scenario.agents(&none, &none, &none, [None, None]);
        (0..n)
            .map(|i| match defs.get(i).map(|d| d.persona.as_str()) {
                Some("insight") => Persona::insight(),
                Some(_) => Persona::collector(),
                None if i % 2 == 1 => Persona::insight(),
                None => Persona::collector(),
            })
            .collect()
    }

    /// Check the agent count and personas (one for all agents, or one per agent).
    pub fn check(&self) -> Result<(), SweepError> {
        let n = self.n_agents;
        match self.scenario {
            Scenario::ChimeraHomo if (1..=MAX_AGENTS).contains(&n) => {}
            Scenario::ChimeraHomo => {
                return Err(SweepError::Grid(format!(
                    "--agents {n}: chimera_homo runs 1 to {MAX_AGENTS} agents"
                )));
            }
            s if n != 2 => {
                return Err(SweepError::Grid(format!(
                    "--agents {n}: {s} has exactly 2 agents; use chimera_homo for another number"
                )));
            }
            _ => {}
        }
        if self.personas.len() != n {
            return Err(SweepError::Grid(format!(
                "{} persona(s) for {n} agents: give one persona for all agents or one per agent",
                self.personas.len()
            )));
        }
        if !(self.contention_threshold.is_finite() && self.contention_threshold > 0.0) {
            return Err(SweepError::Grid("--contention-threshold must be a positive number".into()));
        }
        Ok(())
    }

    /// The agents at a point whose full options are `point` (fixed options merged with the
    /// coordinates): tuned agents get `point`, the baseline agent `fixed`, agent B of
    /// `chimera_hetero` `fixed` + `second`.
    pub fn agents(&self, point: &GenOptions) -> Vec<PlannedAgent> {
        let defs = self.scenario.agents(&self.fixed, point, &self.second, [None, None]);
        (0..self.n_agents)
            .map(|i| {
                let (label, options, tuned) = match (self.scenario, defs.get(i)) {
                    (Scenario::ChimeraHomo, _) => (homo_label(i), point.clone(), true),
                    (Scenario::BaselineVsChimera, Some(d)) => (d.label.clone(), d.options.clone(), i == 1),
                    (Scenario::ChimeraHetero, Some(d)) => (d.label.clone(), d.options.clone(), i == 0),
                    (_, None) => (homo_label(i), point.clone(), true),
                };
                let persona = self.personas.get(i).cloned().unwrap_or_else(Persona::collector);
                PlannedAgent { label, persona, options, tuned }
            })
            .collect()
    }

    /// One line on which agents the grid tunes (for summaries and help).
    pub fn tuning_note(&self) -> String {
        match self.scenario {
            Scenario::ChimeraHomo if self.n_agents == 1 => "the agent gets each point's options".into(),
            Scenario::ChimeraHomo if self.n_agents == 2 => "both agents get each point's options".into(),
            Scenario::ChimeraHomo => format!("all {} agents get each point's options", self.n_agents),
            Scenario::ChimeraHetero => format!(
                "agent A gets each point's options; agent B keeps its own ({})",
                self.fixed.merged(&self.second).describe()
            ),
            Scenario::BaselineVsChimera => format!(
                "the Chimera agent gets each point's options; the Baseline agent keeps the fixed options ({}) at every point",
                self.fixed.describe()
            ),
        }
    }
}

/// "Chimera Agent A", "Chimera Agent B", …
fn homo_label(i: usize) -> String {
    let letter = char::from(b'A' + (i % MAX_AGENTS) as u8);
    format!("Chimera Agent {letter}")
}

/// One agent in one measured run of a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiAgentRun {
    pub label: String,
    /// Finished in every phase it ran.
    pub ok: bool,
    pub solo_secs: Option<f64>,
    pub concurrent_secs: Option<f64>,
    /// concurrent ÷ solo.
    pub slowdown: Option<f64>,
    pub tokens: u64,
    /// The agent's server decode rate in the concurrent phase.
    pub decode_tok_s: Option<f64>,
    /// The agent's mean call TTFT in the concurrent phase.
    pub ttft_ms: Option<f64>,
    /// The agent's concurrent-phase report, relative to the point's folder.
    pub report: Option<String>,
}

/// One measured run of a point: the scenario's solo + concurrent phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiRun {
    /// The figures `chimera multi` lists per run (their keys stay at this level).
    #[serde(flatten)]
    pub brief: RunBrief,
    /// Σ of the agents' server decode rates in the concurrent phase (when all are known).
    pub sum_decode_tok_s: Option<f64>,
    /// Mean over agents of their concurrent-phase TTFT.
    pub mean_ttft_ms: Option<f64>,
    pub agents: Vec<MultiAgentRun>,
}

/// The multi-agent figures of one point (stored in `points.jsonl` beside the ranked metrics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiPoint {
    pub scenario: String,
    pub agents: Vec<String>,
    /// Options of each agent at this point (`describe()` text).
    pub agent_options: Vec<String>,
    pub solo: bool,
    pub runs: Vec<MultiRun>,
    /// Statistics over runs in which every agent finished.
    pub speedup: Option<Summary>,
    pub efficiency: Option<Summary>,
    pub sum_decode_tok_s: Option<Summary>,
    /// Runs in which some agent failed (kept, marked, left out of the statistics).
    pub failed_runs: usize,
}

impl MultiRun {
    /// The run's figures from the scheduler's record.
    pub fn from_record(rec: &RunRecord) -> Self {
        let conc: Vec<_> = rec.agents.iter().filter_map(|a| a.concurrent.as_ref()).collect();
        let rates: Option<Vec<f64>> = conc.iter().map(|c| c.decode_tok_s).collect();
        let ttfts: Vec<f64> = conc.iter().filter_map(|c| c.ttft_ms).collect();
        MultiRun {
            brief: RunBrief::of(rec),
            sum_decode_tok_s: rates.filter(|r| !r.is_empty()).map(|r| r.iter().sum()),
            mean_ttft_ms: mean(&ttfts),
            agents: rec
                .agents
                .iter()
                .map(|a| MultiAgentRun {
                    label: a.label.clone(),
                    ok: [&a.solo, &a.concurrent].iter().all(|p| p.as_ref().is_none_or(|p| p.ok)),
                    solo_secs: a.solo.as_ref().map(|p| p.secs),
                    concurrent_secs: a.concurrent.as_ref().map(|p| p.secs),
                    slowdown: a.slowdown,
                    tokens: a.concurrent.as_ref().map_or(0, |p| p.tokens),
                    decode_tok_s: a.concurrent.as_ref().and_then(|p| p.decode_tok_s),
                    ttft_ms: a.concurrent.as_ref().and_then(|p| p.ttft_ms),
                    report: a.concurrent.as_ref().and_then(|p| p.report.clone()),
                })
                .collect(),
        }
    }

    /// The ranked metrics of the run: throughput = aggregate throughput, TTFT = mean across
    /// agents, e2e = concurrent wall. A run in which an agent failed is marked not ok.
    pub fn sample(&self) -> RunSample {
        let ok = self.brief.status == RunStatus::Ok && self.brief.failures.is_empty();
        RunSample {
            run: (self.brief.run as usize).saturating_sub(1),
            ok,
            error: (!ok).then(|| {
                if self.brief.failures.is_empty() {
                    format!("run ended {:?}", self.brief.status).to_lowercase()
                } else {
                    self.brief.failures.join("; ")
                }
            }),
            ttft_ms: self.mean_ttft_ms,
            decode_tok_s: self.brief.aggregate_tok_s,
            e2e_ms: self.brief.concurrent_wall_secs.map(|s| s * 1000.0),
            output_tokens: self.agents.iter().map(|a| a.tokens).sum(),
            prompt_tokens: None,
            load_ms: None,
            prompt_eval_ms: None,
            eval_ms: None,
        }
    }
}

impl MultiPoint {
    /// Fold a point's runs; statistics over the runs in which every agent finished.
    pub fn new(scenario: &str, agents: &[PlannedAgent], solo: bool, runs: Vec<MultiRun>) -> Self {
        let ok: Vec<&MultiRun> = runs.iter().filter(|r| r.sample().ok).collect();
        let stat =
            |f: fn(&MultiRun) -> Option<f64>| summarize(&ok.iter().filter_map(|r| f(r)).collect::<Vec<_>>());
        MultiPoint {
            scenario: scenario.to_string(),
            agents: agents.iter().map(|a| a.label.clone()).collect(),
            agent_options: agents.iter().map(|a| a.options.describe()).collect(),
            solo,
            speedup: stat(|r| r.brief.speedup),
            efficiency: stat(|r| r.brief.efficiency),
            sum_decode_tok_s: stat(|r| r.sum_decode_tok_s),
            failed_runs: runs.len() - ok.len(),
            runs,
        }
    }
}

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
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = self.events.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if !matches!(&e, Event::Progress { job, .. } if job == "multi") {
                    out.emit(e);
                }
            }
        });
        Events::new(tx)
    }

    fn job(&self, agents: &[PlannedAgent], events: Events) -> WorkflowJob {
        WorkflowJob {
            agents: agents
                .iter()
                .enumerate()
                .map(|(i, a)| WorkflowAgent {
                    spec: AgentSpec::new(
                        a.label.clone(),
                        a.persona.clone(),
                        &self.cfg.model,
                        a.options.clone(),
                    ),
                    backend: Arc::clone(self.backend(i)),
                })
                .collect(),
            data_dirs: self.work.data_dirs.clone(),
            collect: CollectOptions::default(),
            events,
        }
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
            scenario: self.work.scenario.name().to_string(),
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
            manifest: serde_json::json!({
                "tool": "chimera",
                "tool_version": crate::TOOL_VERSION,
                "sweep_point": p.label,
                "model": self.cfg.model,
                "agents": agents.iter().zip(&endpoints).map(|(a, endpoint)| serde_json::json!({
                    "label": a.label,
                    "server": endpoint,
                    "persona": a.persona.key,
                    "tuned_by_sweep": a.tuned,
                    "options": a.options,
                    "configuration": a.options.describe(),
                })).collect::<Vec<_>>(),
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
        let multi = MultiPoint::new(self.work.scenario.name(), &agents, self.work.solo, multi_runs);
        Ok(Some(Measured { runs: samples, multi: Some(multi) }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multi::orchestrate::{AgentRunRecord, PhaseResult, RUN_SCHEMA, compute_figures};

    fn work(scenario: Scenario, n: usize) -> ScenarioWorkload {
        ScenarioWorkload {
            scenario,
            n_agents: n,
            personas: ScenarioWorkload::default_personas(scenario, n),
            fixed: GenOptions { num_predict: Some(16), ..Default::default() },
            second: GenOptions { num_ctx: Some(4096), ..Default::default() },
            data_dirs: vec![],
            out_dir: PathBuf::from("out"),
            solo: true,
            contention_threshold: 1.25,
        }
    }

    #[test]
    fn grid_options_reach_only_the_tuned_agents() {
        let point = GenOptions { num_predict: Some(16), num_ctx: Some(512), ..Default::default() };
        let b = work(Scenario::BaselineVsChimera, 2).agents(&point);
        assert_eq!(
            (b[0].label.as_str(), b[0].tuned, b[0].options.num_ctx),
            ("Baseline Collector", false, None)
        );
        assert_eq!(b[0].options.num_predict, Some(16), "the fixed options reach the baseline agent");
        assert_eq!((b[1].tuned, b[1].options.num_ctx), (true, Some(512)));
        let h = work(Scenario::ChimeraHetero, 2).agents(&point);
        assert_eq!((h[0].options.num_ctx, h[1].options.num_ctx), (Some(512), Some(4096)));
        assert_eq!(h[1].options.num_predict, Some(16));
        let m = work(Scenario::ChimeraHomo, 3).agents(&point);
        let labels: Vec<&str> = m.iter().map(|a| a.label.as_str()).collect();
        assert_eq!(labels, ["Chimera Agent A", "Chimera Agent B", "Chimera Agent C"]);
        assert!(m.iter().all(|a| a.tuned && a.options == point));
        let keys: Vec<&str> = m.iter().map(|a| a.persona.key.as_str()).collect();
        assert_eq!(keys, ["collector", "insight", "collector"]);
    }

    #[test]
    fn agent_counts_and_personas_are_checked() {
        assert!(work(Scenario::ChimeraHomo, 4).check().is_ok());
        let e = work(Scenario::ChimeraHetero, 3);
        assert!(e.check().unwrap_err().to_string().contains("exactly 2"));
        assert!(work(Scenario::ChimeraHomo, 0).check().is_err());
        let mut w = work(Scenario::ChimeraHomo, 2);
        w.personas.pop();
        assert!(w.check().unwrap_err().to_string().contains("persona"));
    }

    fn phase(ok: bool, secs: f64, tokens: u64, tok_s: f64, ttft: f64) -> PhaseResult {
        PhaseResult {
            ok,
            secs,
            tokens,
            decode_tok_s: Some(tok_s),
            ttft_ms: Some(ttft),
            error: (!ok).then(|| "server went away".to_string()),
            failed_stage: None,
            report: None,
        }
    }

    fn record(b_ok: bool) -> RunRecord {
        let agent = |label: &str, solo: f64, conc: PhaseResult| AgentRunRecord {
            label: label.into(),
            server: "s".into(),
            solo: Some(phase(true, solo, 100, 50.0, 10.0)),
            concurrent: Some(conc),
            slowdown: None,
            contended: false,
        };
        let mut r = RunRecord {
            schema: RUN_SCHEMA.into(),
            run: 1,
            scenario: "chimera_homo".into(),
            status: if b_ok { RunStatus::Ok } else { RunStatus::Failed },
            started_at: chrono::Utc::now(),
            warmups: vec![],
            agents: vec![
                agent("A", 10.0, phase(true, 10.0, 300, 40.0, 20.0)),
                agent("B", 10.0, phase(b_ok, 20.0, 500, 30.0, 40.0)),
            ],
            solo_sum_secs: None,
            concurrent_wall_secs: None,
            speedup: None,
            efficiency: None,
            aggregate_tok_s: None,
            contention_threshold: 1.25,
            contention: false,
            original: None,
            notes: vec![],
        };
        compute_figures(&mut r, Some(20.0));
        r
    }

    #[test]
    fn run_figures_by_hand() {
        // serial server: solo 10 + 10, wall 20 → speedup 1.0, efficiency 0.5;
        // 300 + 500 tokens / 20 s = 40 tok/s; Σ decode 40 + 30 = 70; TTFT (20 + 40) / 2 = 30.
        let m = MultiRun::from_record(&record(true));
        assert_eq!((m.brief.speedup, m.brief.efficiency), (Some(1.0), Some(0.5)));
        assert_eq!(
            (m.brief.aggregate_tok_s, m.sum_decode_tok_s, m.mean_ttft_ms),
            (Some(40.0), Some(70.0), Some(30.0))
        );
        let s = m.sample();
        assert!(s.ok && s.error.is_none());
        assert_eq!(
            (s.decode_tok_s, s.ttft_ms, s.e2e_ms, s.output_tokens),
            (Some(40.0), Some(30.0), Some(20000.0), 800)
        );
        let failed = MultiRun::from_record(&record(false));
        assert_eq!(failed.brief.speedup, None);
        let s = failed.sample();
        assert!(!s.ok);
        assert!(s.error.unwrap().contains("B (concurrent): server went away"));
        let agents = work(Scenario::ChimeraHomo, 2).agents(&GenOptions::default());
        let p = MultiPoint::new("chimera_homo", &agents, true, vec![m, failed]);
        assert_eq!(p.failed_runs, 1);
        let e = p.efficiency.unwrap();
        assert_eq!((e.n, e.mean), (1, 0.5));
        assert!(!p.runs[1].agents[1].ok);
    }
}
