//! The record of one agent workflow: what [`crate::agent::run_agent`] produced
//! ([`AgentOutcome`]), aggregated call metrics ([`AgentMetrics`]) and the file `metrics.json`
//! ([`AgentRecord`]: the outcome with the run manifest).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Kind, Record};
use crate::analysis::Analysis;
use crate::backend::{BackendInfo, CallRecord};
use crate::events::Stage;
use crate::grounding::Grounding;
use crate::manifest::Manifest;
use crate::metrics::ns_to_ms;
use crate::options::GenOptions;
use crate::prompt::PromptPlan;

/// The seed report's `## Metrics`, aggregated over the agent's LLM calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentMetrics {
    /// Σ eval_count / Σ eval_duration over the calls (server-side decode rate).
    pub throughput_tok_s: Option<f64>,
    /// Mean TTFT of the calls (client clock).
    pub ttft_ms: Option<f64>,
    /// Σ total_duration (server).
    pub total_duration_ms: Option<f64>,
    /// Σ output tokens (eval_count, else chunks).
    pub tokens_generated: u64,
    /// Σ prompt tokens (prompt_eval_count).
    pub prompt_tokens: Option<u64>,
    /// Σ prompt_eval_duration.
    pub prompt_eval_ms: Option<f64>,
    /// Σ eval_duration.
    pub eval_duration_ms: Option<f64>,
    /// Σ load_duration.
    pub load_duration_ms: Option<f64>,
    /// Number of calls aggregated.
    pub calls: usize,
}

/// Σ of the known values; `None` when none is known.
fn sum(xs: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    xs.flatten().fold(None, |acc, x| Some(acc.unwrap_or(0) + x))
}

/// How [`AgentMetrics`] aggregates the calls, printed under `## Metrics`.
pub const AGGREGATION_NOTE: &str = "Aggregated over the analysis and report calls: Throughput = Σ eval_count / Σ eval_duration; \
TTFT = mean of the calls' TTFT; Total Duration, Prompt Eval, Eval Duration and Load Duration are sums of the server-reported \
durations; Tokens Generated = Σ eval_count.";

impl AgentMetrics {
    /// Aggregate the calls (complete or partial) as [`AGGREGATION_NOTE`] says.
    pub fn from_calls(calls: &[CallRecord]) -> Self {
        let eval_count = sum(calls.iter().map(|c| c.server.eval_count));
        let eval_ns = sum(calls.iter().map(|c| c.server.eval_duration_ns));
        let ttfts: Vec<f64> = calls.iter().filter_map(|c| c.ttft_ms()).collect();
        AgentMetrics {
            throughput_tok_s: match (eval_count, eval_ns) {
                (Some(n), Some(d)) => crate::metrics::decode_tok_s(n, d),
                _ => None,
            },
            ttft_ms: crate::stats::mean(&ttfts),
            total_duration_ms: sum(calls.iter().map(|c| c.server.total_duration_ns)).map(ns_to_ms),
            tokens_generated: calls.iter().map(CallRecord::output_tokens).sum(),
            prompt_tokens: sum(calls.iter().map(|c| c.server.prompt_eval_count)),
            prompt_eval_ms: sum(calls.iter().map(|c| c.server.prompt_eval_duration_ns)).map(ns_to_ms),
            eval_duration_ms: eval_ns.map(ns_to_ms),
            load_duration_ms: sum(calls.iter().map(|c| c.server.load_duration_ns)).map(ns_to_ms),
            calls: calls.len(),
        }
    }
}

/// What one agent run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentOutcome {
    pub label: String,
    /// The persona's key (`collector`, `insight`, or a persona file's stem).
    pub persona: String,
    pub model: String,
    pub options: GenOptions,
    pub ok: bool,
    pub failed_stage: Option<Stage>,
    pub error: Option<String>,
    /// LLM calls in order (analysis, report); a failed call keeps its partial record.
    pub calls: Vec<CallRecord>,
    /// The stage of each entry of `calls`.
    pub call_stages: Vec<Stage>,
    /// Seconds per stage that ran (ingest, analysis, report, grounding; write is timed after
    /// the file is written).
    pub stage_secs: BTreeMap<Stage, f64>,
    pub wall_secs: f64,
    pub files_analyzed: usize,
    pub facts_total: usize,
    pub metrics: AgentMetrics,
    pub prompts: Vec<PromptPlan>,
    pub analysis: Option<Analysis>,
    /// The report call's text (with its primer), or the analysis when the report call failed.
    pub model_text: String,
    pub grounding: Option<Grounding>,
    pub backend: BackendInfo,
    /// Non-fatal notes (backend info unavailable, prompt truncated, …).
    pub notes: Vec<String>,
    pub report_path: PathBuf,
    pub metrics_path: PathBuf,
    pub manifest_path: PathBuf,
    /// The workflow that ran (`analyst` in files written before workflows existed).
    #[serde(default = "default_workflow")]
    pub workflow: String,
    /// One entry per step turn that started, in order.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// The session as a whole (absent when no step started).
    #[serde(default)]
    pub session: Option<SessionMetrics>,
    /// The findings computed from the data (deterministic, no model), each with its provenance
    /// (files, location, formula); written to the agent's own `metrics.json` when ingest
    /// completed (absent in outcomes aggregated by bench, multi and sweep, and in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_findings: Option<crate::findings::ComputedRecord>,
}

fn default_workflow() -> String {
    crate::workflow::DEFAULT_WORKFLOW.into()
}

/// One turn of one workflow step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: String,
    /// 1-based turn of a looping step (1 for a step that runs once).
    pub turn: u32,
    pub stage: Option<Stage>,
    /// Think time waited before the turn, ms (0 without think time).
    pub think_ms: f64,
    /// From the end of the think time to the end of the turn's last call, ms.
    pub wall_ms: f64,
    /// Indices into `calls` of the turn's LLM calls (two for a native tool turn: the call that
    /// asks for the tool, then the answer).
    pub calls: Vec<usize>,
    /// Messages in the turn's last request (system included; 2 for a system + prompt request).
    pub messages: usize,
    /// The tool the turn used, when it is a tool step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolUse>,
    /// The agent whose output the turn's prompt carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_from: Option<String>,
}

/// A tool call answered in a turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    pub name: String,
    pub args: crate::workflow::ToolArgs,
    /// The result sent back as the tool message.
    pub result: String,
    /// True when the model chose the call (native tool calling).
    pub native: bool,
    /// Why the scripted call was used although the step asked for native tool calling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Per-session figures: one agent run of one workflow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionMetrics {
    /// From the first step's start (think time included) to the last step's end, ms.
    pub wall_ms: f64,
    /// Σ think time, ms.
    pub think_ms: f64,
    /// Step turns that ran.
    pub turns: usize,
    pub llm_calls: usize,
    /// Σ output tokens of the session's calls (eval_count, else chunks).
    pub tokens_out: u64,
    /// Σ prompt tokens the server evaluated (prompt_eval_count), when it says.
    pub prompt_tokens_new: Option<u64>,
    /// Σ prompt tokens served from the server's cache, when it says (OpenAI
    /// `usage.prompt_tokens_details.cached_tokens`, llama-server `timings.cache_n`,
    /// `chimera serve`'s `prompt_cached_count`); `None` when no call said.
    pub prompt_tokens_cached: Option<u64>,
}

impl SessionMetrics {
    /// The session's figures from its calls, its step turns and its wall time.
    pub fn new(calls: &[CallRecord], steps: &[StepRecord], wall_ms: f64) -> Self {
        SessionMetrics {
            wall_ms,
            think_ms: steps.iter().map(|s| s.think_ms).sum(),
            turns: steps.len(),
            llm_calls: calls.len(),
            tokens_out: calls.iter().map(CallRecord::output_tokens).sum(),
            prompt_tokens_new: sum(calls.iter().map(|c| c.server.prompt_eval_count)),
            prompt_tokens_cached: sum(calls.iter().map(|c| c.server.prompt_cached_count)),
        }
    }
}

impl AgentOutcome {
    /// Seconds spent in `stage` (0 when it did not run).
    pub fn stage_secs(&self, stage: Stage) -> f64 {
        self.stage_secs.get(&stage).copied().unwrap_or(0.0)
    }
}

/// `metrics.json` of an agent: the outcome and the run manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRecord {
    #[serde(flatten)]
    pub outcome: AgentOutcome,
    pub manifest: Manifest,
}

/// Version 2: a call's `prompt_truncated` may be null (unknown); version 1 held a bool.
impl Record for AgentRecord {
    const KIND: Kind = Kind::Agent;
    const SCHEMA_VERSION: u32 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendKind, CallRecorder, GenRequest, ServerTimings};
    use crate::options::GenOptions;

    fn call(eval: u64, prompt: Option<u64>, cached: Option<u64>) -> CallRecord {
        let req = GenRequest::generate("m", None, "p", GenOptions::default());
        let mut r = CallRecorder::start(BackendKind::Ollama, "http://x", &req);
        r.server_timings(ServerTimings {
            eval_count: Some(eval),
            prompt_eval_count: prompt,
            prompt_cached_count: cached,
            ..Default::default()
        });
        r.finish()
    }

    #[test]
    fn session_sums_what_the_servers_said() {
        let calls = [call(5, Some(100), None), call(7, None, Some(60)), call(1, Some(20), Some(40))];
        let steps = [
            StepRecord { think_ms: 150.0, ..Default::default() },
            StepRecord { think_ms: 25.5, ..Default::default() },
        ];
        let s = SessionMetrics::new(&calls, &steps, 900.0);
        assert_eq!((s.turns, s.llm_calls, s.tokens_out), (2, 3, 13));
        assert_eq!((s.prompt_tokens_new, s.prompt_tokens_cached), (Some(120), Some(100)));
        assert_eq!((s.think_ms, s.wall_ms), (175.5, 900.0));
        let none = SessionMetrics::new(&calls[..1], &[], 1.0);
        assert_eq!(none.prompt_tokens_cached, None, "no server said: unknown, not 0");
    }
}
