//! The records of a sweep: each measured run of a point ([`RunSample`]), each finished point
//! ([`PointResult`], a line of `points.jsonl`) with its multi-agent figures ([`MultiPoint`]),
//! the ranking ([`Ranking`]) and `summary.json` ([`SweepSummary`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::agent::{AgentOutcome, SessionMetrics};
use super::multi::{RunBrief, RunRecord, RunStatus};
use super::traffic::{LoadPoint, SweepLoad};
use super::{Kind, Record};
use crate::backend::CallRecord;
use crate::latency::CallSamples;
use crate::metrics::ns_to_ms;
use crate::multi::spec::Scenario;
use crate::options::GenOptions;
use crate::stats::{Summary, Uncertain, mean, summarize};
use crate::sweep::config::{PlannedAgent, ScenarioWorkload, SweepConfig};
use crate::sweep::grid::{Grid, Point};
use crate::workflow::WorkflowId;

/// One measured run of a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSample {
    pub run: usize,
    pub ok: bool,
    pub error: Option<String>,
    pub ttft_ms: Option<f64>,
    /// Server decode throughput, eval_count / eval_duration.
    pub decode_tok_s: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub output_tokens: u64,
    pub prompt_tokens: Option<u64>,
    pub load_ms: Option<f64>,
    pub prompt_eval_ms: Option<f64>,
    pub eval_ms: Option<f64>,
    /// Latency samples of the run's calls (percentiles and cached share in the reports); absent in
    /// older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<CallSamples>,
    /// The workflow sessions of the run (one agent workflow, or every agent's concurrent
    /// phase); absent for single calls and in older files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionMetrics>,
}

impl RunSample {
    /// Metrics of one call (failed calls keep what was measured).
    pub fn from_record(run: usize, rec: &CallRecord) -> Self {
        RunSample {
            run,
            ok: rec.completed && rec.error.is_none(),
            error: rec.error.as_ref().map(|e| e.to_string()),
            ttft_ms: rec.ttft_ms(),
            decode_tok_s: rec.decode_tok_s(),
            e2e_ms: rec.e2e_ms(),
            output_tokens: rec.output_tokens(),
            prompt_tokens: rec.server.prompt_eval_count,
            load_ms: rec.server.load_duration_ns.map(ns_to_ms),
            prompt_eval_ms: rec.server.prompt_eval_duration_ns.map(ns_to_ms),
            eval_ms: rec.server.eval_duration_ns.map(ns_to_ms),
            latency: Some(CallSamples::of_calls([rec])),
            sessions: Vec::new(),
        }
    }

    /// Metrics of one agent workflow, aggregated over its calls as its report's `## Metrics`
    /// does (throughput = Σ eval_count / Σ eval_duration, TTFT = mean of the calls; e2e = the
    /// workflow's wall time).
    pub fn from_agent(run: usize, o: &AgentOutcome) -> Self {
        let m = &o.metrics;
        RunSample {
            run,
            ok: o.ok,
            error: o.error.clone(),
            ttft_ms: m.ttft_ms,
            decode_tok_s: m.throughput_tok_s,
            e2e_ms: Some(o.wall_secs * 1000.0),
            output_tokens: m.tokens_generated,
            prompt_tokens: m.prompt_tokens,
            load_ms: m.load_duration_ms,
            prompt_eval_ms: m.prompt_eval_ms,
            eval_ms: m.eval_duration_ms,
            latency: Some(CallSamples::of_calls(&o.calls)),
            sessions: o.session.iter().cloned().collect(),
        }
    }
}

/// Everything measured at one sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    pub key: String,
    pub label: String,
    pub baseline: bool,
    pub coords: BTreeMap<String, Value>,
    pub options: GenOptions,
    /// Position in the run order (0-based).
    pub order: usize,
    /// Duration of the warm-up call made before this point (a load-time option changed).
    pub warmup_ms: Option<f64>,
    pub runs: Vec<RunSample>,
    /// Summaries over successful runs.
    pub throughput_tok_s: Option<Summary>,
    pub ttft_ms: Option<Summary>,
    pub e2e_ms: Option<Summary>,
    pub finished_at: DateTime<Utc>,
    /// Multi-agent figures (`--scenario` sweeps; absent in older files and other sweeps). With
    /// it, `throughput_tok_s` is the aggregate throughput and `ttft_ms` the mean across agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi: Option<MultiPoint>,
    /// The workflow each run executed (agent and scenario sweeps; absent for single calls and in
    /// older files): `--resume` refuses another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowId>,
    /// Load figures (sweeps with a load axis; absent otherwise). With it, `throughput_tok_s`
    /// is each run's output tokens/s under load, `ttft_ms` each run's session TTFT p95 and
    /// `e2e_ms` each run's median session time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadPoint>,
}

impl Record for PointResult {
    const KIND: Kind = Kind::SweepPoint;
    /// 2: `multi.agent_options` are option objects (1: their configuration lines).
    const SCHEMA_VERSION: u32 = 2;
    const UNTAGGED_V1: bool = true;
}

impl PointResult {
    /// Summarise the runs of `point`.
    pub fn new(point: &Point, order: usize, warmup_ms: Option<f64>, runs: Vec<RunSample>) -> Self {
        let ok: Vec<&RunSample> = runs.iter().filter(|r| r.ok).collect();
        let col = |f: fn(&RunSample) -> Option<f64>| -> Vec<f64> { ok.iter().filter_map(|r| f(r)).collect() };
        PointResult {
            key: point.key.clone(),
            label: point.label.clone(),
            baseline: point.baseline,
            coords: point.coords.clone(),
            options: point.options.clone(),
            order,
            warmup_ms,
            throughput_tok_s: summarize(&col(|r| r.decode_tok_s)),
            ttft_ms: summarize(&col(|r| r.ttft_ms)),
            e2e_ms: summarize(&col(|r| r.e2e_ms)),
            runs,
            finished_at: Utc::now(),
            multi: None,
            workflow: None,
            load: None,
        }
    }

    /// Runs that failed.
    pub fn failed(&self) -> usize {
        self.runs.iter().filter(|r| !r.ok).count()
    }
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
    /// The agents' concurrent-phase latency samples, pooled (for [`MultiRun::sample`]; not
    /// written: each agent's run record holds them).
    #[serde(skip)]
    pub latency: Option<CallSamples>,
    /// The agents' concurrent-phase workflow sessions (for [`MultiRun::sample`]; not written:
    /// each agent's run record holds them).
    #[serde(skip)]
    pub sessions: Vec<SessionMetrics>,
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
            latency: conc.iter().filter_map(|c| c.latency.as_ref()).fold(None, |acc, s| {
                let mut acc: CallSamples = acc.unwrap_or_default();
                acc.merge(s);
                Some(acc)
            }),
            sessions: conc.iter().filter_map(|c| c.session.clone()).collect(),
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
            latency: self.latency.clone(),
            sessions: self.sessions.clone(),
        }
    }
}

/// The multi-agent figures of one point (stored in `points.jsonl` beside the ranked metrics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiPoint {
    pub scenario: Scenario,
    pub agents: Vec<String>,
    /// Options of each agent at this point.
    #[serde(deserialize_with = "agent_options")]
    pub agent_options: Vec<GenOptions>,
    pub solo: bool,
    pub runs: Vec<MultiRun>,
    /// Statistics over runs in which every agent finished.
    pub speedup: Option<Summary>,
    pub efficiency: Option<Summary>,
    pub sum_decode_tok_s: Option<Summary>,
    /// Runs in which some agent failed (kept, marked, left out of the statistics).
    pub failed_runs: usize,
}

impl MultiPoint {
    /// Fold a point's runs; statistics over the runs in which every agent finished.
    pub fn new(scenario: Scenario, agents: &[PlannedAgent], solo: bool, runs: Vec<MultiRun>) -> Self {
        let ok: Vec<&MultiRun> = runs.iter().filter(|r| r.sample().ok).collect();
        let stat =
            |f: fn(&MultiRun) -> Option<f64>| summarize(&ok.iter().filter_map(|r| f(r)).collect::<Vec<_>>());
        MultiPoint {
            scenario,
            agents: agents.iter().map(|a| a.label.clone()).collect(),
            agent_options: agents.iter().map(|a| a.options.clone()).collect(),
            solo,
            speedup: stat(|r| r.brief.speedup),
            efficiency: stat(|r| r.brief.efficiency),
            sum_decode_tok_s: stat(|r| r.sum_decode_tok_s),
            failed_runs: runs.len() - ok.len(),
            runs,
        }
    }
}

/// `agent_options` as option objects, or (schema 1) as the configuration lines
/// [`GenOptions::describe`] wrote.
fn agent_options<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<GenOptions>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Typed(GenOptions),
        Described(String),
    }
    Vec::<Either>::deserialize(d)?
        .into_iter()
        .map(|x| match x {
            Either::Typed(o) => Ok(o),
            Either::Described(text) => options_from_description(&text).map_err(serde::de::Error::custom),
        })
        .collect()
}

/// The options a configuration line of [`GenOptions::describe`] shows
/// (`num_gpu=80, num_ctx=512, temp=1, top_p=default, …, stop=["a"]`).
pub fn options_from_description(text: &str) -> Result<GenOptions, String> {
    let named = |part: &str| {
        part.split_once('=').is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    };
    // split at ", " only where a new `name=` follows (a stop string may hold ", ")
    let mut parts: Vec<String> = Vec::new();
    for piece in text.split(", ") {
        match parts.last_mut() {
            Some(last) if !named(piece) => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => parts.push(piece.to_string()),
        }
    }
    let mut map = serde_json::Map::new();
    for part in parts.iter().filter(|p| !p.is_empty()) {
        let (name, value) =
            part.split_once('=').ok_or_else(|| format!("'{part}' in '{text}' is not name=value"))?;
        if value == "default" {
            continue;
        }
        let name = if name == "temp" { "temperature" } else { name };
        let v: Value = serde_json::from_str(value).map_err(|e| format!("{name}={value} in '{text}': {e}"))?;
        map.insert(name.to_string(), v);
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| format!("options '{text}': {e}"))
}

/// Margin of one metric over the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Margin {
    /// Relative change vs the baseline in percent, with propagated sd.
    pub delta_pct: Uncertain,
    /// `Some(true)` when |Δ| > 2σ, `None` when either side has no sd (n < 2).
    pub exceeds_noise: Option<bool>,
}

/// The winning configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Index into the points slice.
    pub index: usize,
    pub label: String,
    pub composite: f64,
    pub is_baseline: bool,
    pub throughput_vs_baseline: Option<Margin>,
    pub ttft_vs_baseline: Option<Margin>,
}

/// Rankings as indices into the points slice; points without data are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// Highest mean throughput first.
    pub by_throughput: Vec<usize>,
    /// Lowest mean TTFT first.
    pub by_ttft: Vec<usize>,
    /// Highest composite first, with the score.
    pub by_composite: Vec<(usize, f64)>,
    /// Points no other point beats on both throughput and TTFT, by throughput.
    pub pareto: Vec<usize>,
    /// Highest goodput first (load sweeps with an SLO; the best point is the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_goodput: Vec<usize>,
    pub best: Option<Best>,
}

/// Everything a sweep produced, as written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub config: SweepConfig,
    pub grid: Grid,
    /// Points in the order they finished.
    pub points: Vec<PointResult>,
    pub ranking: Ranking,
    pub composite_formula: String,
    pub noise_rule: String,
    /// The multi-agent scenario run at each point (`--scenario` sweeps; absent otherwise and in
    /// older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioWorkload>,
    /// The load axis (`--arrival`/`--concurrency` sweeps; absent otherwise and in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<SweepLoad>,
}

impl Record for SweepSummary {
    const KIND: Kind = Kind::Sweep;
    /// 2: `points[].multi.agent_options` are option objects (1: configuration lines).
    const SCHEMA_VERSION: u32 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multi::orchestrate::compute_figures;
    use crate::records::multi::{AgentRunRecord, PhaseResult, RUN_SCHEMA, ScenarioName};
    use crate::sweep::config::tests::work;

    #[test]
    fn configuration_lines_of_schema_1_read_back_as_options() {
        let o = GenOptions {
            num_gpu: Some(80),
            num_ctx: Some(512),
            temperature: Some(0.8),
            seed: Some(7),
            num_predict: Some(64),
            stop: vec!["a, b".into(), "END".into()],
            ..Default::default()
        };
        // num_gpu=80, num_ctx=512, temp=0.8, top_p=default, top_k=default,
        // repeat_penalty=default, seed=7, num_predict=64, stop=["a, b", "END"]
        assert_eq!(options_from_description(&o.describe()).unwrap(), o);
        assert_eq!(
            options_from_description(&GenOptions::default().describe()).unwrap(),
            GenOptions::default()
        );
        assert!(options_from_description("num_ctx=lots").unwrap_err().contains("num_ctx=lots"));
        let v1 = serde_json::json!([
            "num_gpu=default, num_ctx=256, temp=default, top_p=default, top_k=default, repeat_penalty=default, num_predict=64"
        ]);
        let v2 = serde_json::json!([{"num_ctx": 256, "num_predict": 64}]);
        for v in [v1, v2] {
            let got = agent_options(v).unwrap();
            assert_eq!(got, [GenOptions { num_ctx: Some(256), num_predict: Some(64), ..Default::default() }]);
        }
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
            latency: None,
            session: None,
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
            scenario: ScenarioName::Builtin(Scenario::ChimeraHomo),
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
        let p = MultiPoint::new(Scenario::ChimeraHomo, &agents, true, vec![m, failed]);
        assert_eq!(p.failed_runs, 1);
        let e = p.efficiency.unwrap();
        assert_eq!((e.n, e.mean), (1, 0.5));
        assert!(!p.runs[1].agents[1].ok);
    }
}
