//! The records of a multi-agent benchmark: each run (`run_N/metrics.json`, [`RunRecord`]: every
//! agent's solo and concurrent phase, true speedup, the original's figure), the summary over
//! runs (`summary.json`, [`MultiSummary`]) with its typed manifest, and the call list of a
//! fixed-call job (`calls.json`, [`CallsRecord`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::agent::SessionMetrics;
use super::session::SessionStats;
use super::{Kind, Record};
use crate::backend::{BackendInfo, CallRecord};
use crate::events::Stage;
use crate::latency::{CallSamples, LatencyStats};
use crate::manifest::HostInfo;
use crate::multi::spec::Scenario;
use crate::options::GenOptions;
use crate::stats::Summary;

/// Tag of `run_N/metrics.json` before `kind` (still written, for older readers).
pub const RUN_SCHEMA: &str = "chimera.multi.run/1";
/// Tag of `summary.json` before `kind` (still written, for older readers).
pub const SUMMARY_SCHEMA: &str = "chimera.multi.summary/1";

/// What ran: a built-in scenario, or the agents of a TOML file (named by the file's stem).
/// Written as its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ScenarioName {
    Builtin(Scenario),
    AgentsFile(String),
}

impl std::fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScenarioName::Builtin(s) => f.write_str(s.name()),
            ScenarioName::AgentsFile(name) => f.write_str(name),
        }
    }
}

impl From<String> for ScenarioName {
    fn from(s: String) -> Self {
        match s.parse::<Scenario>() {
            Ok(b) if b.name() == s => ScenarioName::Builtin(b),
            _ => ScenarioName::AgentsFile(s),
        }
    }
}

impl From<ScenarioName> for String {
    fn from(s: ScenarioName) -> String {
        s.to_string()
    }
}

/// Where an agent's job failed: a stage of the agent workflow, or the n-th call (1-based) of a
/// fixed call list. Written as `analysis` or `call 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FailedAt {
    Stage(Stage),
    Call(usize),
}

impl std::fmt::Display for FailedAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailedAt::Stage(s) => f.write_str(s.as_str()),
            FailedAt::Call(n) => write!(f, "call {n}"),
        }
    }
}

impl TryFrom<String> for FailedAt {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Some(n) = s.strip_prefix("call ").and_then(|n| n.parse().ok()) {
            return Ok(FailedAt::Call(n));
        }
        serde_json::from_value(serde_json::Value::String(s.clone())).map(FailedAt::Stage).map_err(|_| {
            format!("unknown stage '{s}' (expected ingest, analysis, report, grounding, write or `call N`)")
        })
    }
}

impl From<FailedAt> for String {
    fn from(f: FailedAt) -> String {
        f.to_string()
    }
}

/// Which phase a job runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Solo,
    Concurrent,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every agent finished in every phase.
    Ok,
    /// At least one agent failed (the others finished).
    Failed,
    /// Stopped by Ctrl-C before the end.
    Interrupted,
}

/// One agent in one phase: the scheduler's clock plus the job's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    pub ok: bool,
    /// Solo: the agent's wall time alone. Concurrent: from the common start to its end.
    pub secs: f64,
    pub tokens: u64,
    pub decode_tok_s: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub error: Option<String>,
    pub failed_stage: Option<FailedAt>,
    /// The agent's report, relative to the output folder.
    pub report: Option<String>,
    /// Latency samples of the calls (percentiles and cached share in the reports); absent in
    /// older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<CallSamples>,
    /// The agent's workflow session (agent workflows only; absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionMetrics>,
}

/// One agent across the phases of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRunRecord {
    pub label: String,
    pub server: String,
    pub solo: Option<PhaseResult>,
    pub concurrent: Option<PhaseResult>,
    /// concurrent / solo.
    pub slowdown: Option<f64>,
    /// slowdown > threshold.
    pub contended: bool,
}

/// A warm-up call's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmupRecord {
    pub server: String,
    pub agent: String,
    pub ok: bool,
    pub secs: f64,
    pub error: Option<String>,
}

/// The original system's figure, labelled: Σ durations measured DURING the concurrent run ÷ wall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginalFigure {
    pub sequential_estimate_secs: f64,
    pub speedup: f64,
    pub efficiency: f64,
    pub note: String,
}

/// Everything about one run; `run_N/metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`RUN_SCHEMA`].
    #[serde(default)]
    pub schema: String,
    pub run: u32,
    pub scenario: ScenarioName,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub warmups: Vec<WarmupRecord>,
    pub agents: Vec<AgentRunRecord>,
    pub solo_sum_secs: Option<f64>,
    pub concurrent_wall_secs: Option<f64>,
    /// Σ solo / concurrent wall (None without a complete solo and concurrent phase).
    pub speedup: Option<f64>,
    /// speedup / N.
    pub efficiency: Option<f64>,
    /// Σ tokens (concurrent phase) / concurrent wall.
    pub aggregate_tok_s: Option<f64>,
    pub contention_threshold: f64,
    /// Some agent's slowdown passed the threshold.
    pub contention: bool,
    pub original: Option<OriginalFigure>,
    pub notes: Vec<String>,
}

impl Record for RunRecord {
    const KIND: Kind = Kind::MultiRun;
    const SCHEMA_VERSION: u32 = 1;
}

impl RunRecord {
    /// "label (phase): error" for every agent that failed in a phase.
    pub fn failures(&self) -> Vec<String> {
        let mut v = Vec::new();
        for a in &self.agents {
            for (phase, r) in [("solo", &a.solo), ("concurrent", &a.concurrent)] {
                if let Some(r) = r.as_ref().filter(|r| !r.ok) {
                    v.push(format!(
                        "{} ({phase}): {}",
                        a.label,
                        r.error.as_deref().unwrap_or("failed without a message")
                    ));
                }
            }
        }
        v
    }
}

/// One agent of the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryAgent {
    pub label: String,
    pub server: String,
}

/// One line per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunBrief {
    /// 1-based, as the `run_N` folder.
    pub run: u32,
    pub status: RunStatus,
    pub concurrent_wall_secs: Option<f64>,
    pub solo_sum_secs: Option<f64>,
    /// Σ solo ÷ concurrent wall (None without a solo phase or when an agent failed).
    pub speedup: Option<f64>,
    /// speedup ÷ N.
    pub efficiency: Option<f64>,
    /// Σ tokens (concurrent phase) ÷ concurrent wall.
    pub aggregate_tok_s: Option<f64>,
    /// The original system's figure (durations measured during the concurrent run), labelled.
    pub original_speedup: Option<f64>,
    pub contention: bool,
    /// "label (phase): error" per failed agent.
    pub failures: Vec<String>,
}

impl RunBrief {
    /// The run's line, from its record.
    pub fn of(r: &RunRecord) -> RunBrief {
        RunBrief {
            run: r.run,
            status: r.status,
            concurrent_wall_secs: r.concurrent_wall_secs,
            solo_sum_secs: r.solo_sum_secs,
            speedup: r.speedup,
            efficiency: r.efficiency,
            aggregate_tok_s: r.aggregate_tok_s,
            original_speedup: r.original.as_ref().map(|o| o.speedup),
            contention: r.contention,
            failures: r.failures(),
        }
    }
}

/// Statistics over completed runs (None when no run has the figure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregates {
    pub speedup: Option<Summary>,
    pub efficiency: Option<Summary>,
    pub concurrent_wall_secs: Option<Summary>,
    pub solo_sum_secs: Option<Summary>,
    pub aggregate_tok_s: Option<Summary>,
    pub original_speedup: Option<Summary>,
    pub original_efficiency: Option<Summary>,
}

/// One agent over the completed runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentAggregate {
    pub label: String,
    pub solo_secs: Option<Summary>,
    pub concurrent_secs: Option<Summary>,
    pub slowdown: Option<Summary>,
    pub tokens: Option<Summary>,
    pub decode_tok_s: Option<Summary>,
    pub contended_runs: u32,
    pub failed_runs: u32,
    /// Latency percentiles over the calls of its completed solo phases, pooled over the runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_solo: Option<LatencyStats>,
    /// The same over its completed concurrent phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_concurrent: Option<LatencyStats>,
    /// Its workflow sessions of the completed solo phases, pooled over the runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_solo: Option<SessionStats>,
    /// The same over its completed concurrent phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_concurrent: Option<SessionStats>,
}

/// Prompt tokens the servers evaluated and reused from their prompt cache in one phase, over
/// every agent's completed phases of the completed runs (calls whose server reports its cache).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseCache {
    pub calls: usize,
    pub prompt_evaluated_tokens: u64,
    pub prompt_cached_tokens: u64,
    /// cached ÷ (evaluated + cached); `None` without prompt tokens.
    pub cached_share: Option<f64>,
}

/// The prompt cache by phase: a solo phase warms a server's prompt cache (llama-server
/// `--cache-ram`, chimera serve) for the concurrent phase, which then evaluates fewer prompt
/// tokens than it would cold, so the true speedup comes out inflated; `warning` says so when the
/// concurrent phase's cached share is much higher than the solo phase's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheByPhase {
    pub solo: Option<PhaseCache>,
    pub concurrent: Option<PhaseCache>,
    pub warning: Option<String>,
}

/// The root `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiSummary {
    /// [`SUMMARY_SCHEMA`].
    #[serde(default)]
    pub schema: String,
    pub created_at: DateTime<Utc>,
    pub scenario: ScenarioName,
    pub agents: Vec<SummaryAgent>,
    pub runs_planned: u32,
    /// Runs that reached their end (ok or failed).
    pub runs_completed: u32,
    pub interrupted: bool,
    /// Some agent failed in some run.
    pub failed: bool,
    pub solo_phase: bool,
    pub contention_threshold: f64,
    pub runs: Vec<RunBrief>,
    pub aggregates: Aggregates,
    pub per_agent: Vec<AgentAggregate>,
    /// Prompt tokens cached per phase; absent when no server reported its prompt cache (and in
    /// older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache: Option<CacheByPhase>,
    /// Where and with what the benchmark ran (None from callers that record none, e.g. tests).
    pub manifest: Option<MultiManifest>,
}

impl Record for MultiSummary {
    const KIND: Kind = Kind::Multi;
    const SCHEMA_VERSION: u32 = 1;
}

/// The manifest of a multi-agent benchmark (`chimera multi`) or of one point of a multi-agent
/// sweep (`sweep_point`, `model`): tool, host, servers, and each agent's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiManifest {
    pub tool: String,
    pub tool_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioName>,
    /// The sweep point this benchmark measured (multi-agent sweeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_point: Option<String>,
    /// The model of every agent (multi-agent sweeps; `chimera multi` records it per agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<Vec<ManifestServer>>,
    pub agents: Vec<ManifestAgent>,
}

/// A server of the benchmark and what it said about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestServer {
    pub endpoint: String,
    /// How the backend was chosen (`backend: ollama at …`).
    pub note: String,
    pub info: Option<BackendInfo>,
    /// Why `info` is missing.
    pub info_error: Option<String>,
}

/// One agent's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestAgent {
    pub label: String,
    /// The persona's key.
    pub persona: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub server: String,
    /// Whether the sweep's grid options apply to this agent (multi-agent sweeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned_by_sweep: Option<bool>,
    pub options: GenOptions,
    /// `options` as the seed report's configuration line.
    pub configuration: String,
    /// The agent's workflow when it is not the default (`analyst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

impl ManifestAgent {
    /// An agent with `options` and their configuration line.
    pub fn new(label: &str, persona: &str, server: &str, options: &GenOptions) -> Self {
        ManifestAgent {
            label: label.to_string(),
            persona: persona.to_string(),
            model: None,
            server: server.to_string(),
            tuned_by_sweep: None,
            options: options.clone(),
            configuration: options.describe(),
            workflow: None,
        }
    }
}

/// `calls.json` of a fixed-call job: one agent's calls in one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallsRecord {
    pub label: String,
    pub phase: Phase,
    pub calls: Vec<CallRecord>,
}

/// Version 2: a call's `prompt_truncated` may be null (unknown); version 1 held a bool.
impl Record for CallsRecord {
    const KIND: Kind = Kind::MultiCalls;
    const SCHEMA_VERSION: u32 = 2;
    const UNTAGGED_V1: bool = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_at_and_scenario_names_read_what_they_write() {
        for (v, text) in [(FailedAt::Stage(Stage::Report), "report"), (FailedAt::Call(2), "call 2")] {
            assert_eq!(serde_json::to_value(v).unwrap(), text);
            assert_eq!(serde_json::from_value::<FailedAt>(text.into()).unwrap(), v);
        }
        assert!(
            serde_json::from_value::<FailedAt>("lunch".into()).unwrap_err().to_string().contains("lunch")
        );
        let b: ScenarioName = serde_json::from_value("chimera_homo".into()).unwrap();
        assert_eq!(b, ScenarioName::Builtin(Scenario::ChimeraHomo));
        let f: ScenarioName = serde_json::from_value("agents".into()).unwrap();
        assert_eq!((f.to_string(), serde_json::to_value(&f).unwrap()), ("agents".into(), "agents".into()));
        // only the canonical name is a built-in; a file named `chimera-homo.toml` stays a file
        assert_eq!(
            ScenarioName::from("chimera-homo".to_string()),
            ScenarioName::AgentsFile("chimera-homo".into())
        );
    }
}
