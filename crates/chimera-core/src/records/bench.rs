//! The record of a bench (baseline vs chimera over N interleaved agent runs): the runs, the
//! excluded warm-ups and the per-metric comparison; `metrics.json` is a [`BenchRecord`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::agent::AgentOutcome;
use super::{Kind, Record};
use crate::backend::CallRecord;
use crate::manifest::Manifest;
use crate::options::GenOptions;
use crate::stats::{Summary, Uncertain};

/// Output tokens of a warm-up call.
pub const WARMUP_NUM_PREDICT: i64 = 4;

/// Which side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Baseline,
    Chimera,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Chimera => "chimera",
        }
    }
}

/// A warm-up call (excluded from statistics).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Warmup {
    pub side: Side,
    /// The run it preceded.
    pub before_run: usize,
    pub ok: bool,
    pub error: Option<String>,
    pub record: CallRecord,
}

/// One agent run of the bench.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchEntry {
    pub run: usize,
    pub side: Side,
    pub outcome: AgentOutcome,
}

/// A compared metric: one line of the agent report's `## Metrics`, or the workflow's wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BenchMetric {
    Throughput,
    #[serde(rename = "TTFT")]
    Ttft,
    #[serde(rename = "Total Duration")]
    TotalDuration,
    #[serde(rename = "Tokens Generated")]
    TokensGenerated,
    #[serde(rename = "Prompt Tokens")]
    PromptTokens,
    #[serde(rename = "Prompt Eval")]
    PromptEval,
    #[serde(rename = "Eval Duration")]
    EvalDuration,
    #[serde(rename = "Load Duration")]
    LoadDuration,
    #[serde(rename = "Workflow wall time")]
    WallTime,
}

impl BenchMetric {
    /// Every metric, in the report's order.
    pub const ALL: [BenchMetric; 9] = [
        BenchMetric::Throughput,
        BenchMetric::Ttft,
        BenchMetric::TotalDuration,
        BenchMetric::TokensGenerated,
        BenchMetric::PromptTokens,
        BenchMetric::PromptEval,
        BenchMetric::EvalDuration,
        BenchMetric::LoadDuration,
        BenchMetric::WallTime,
    ];

    /// The name shown in reports (its JSON name).
    pub fn name(self) -> &'static str {
        match self {
            BenchMetric::Throughput => "Throughput",
            BenchMetric::Ttft => "TTFT",
            BenchMetric::TotalDuration => "Total Duration",
            BenchMetric::TokensGenerated => "Tokens Generated",
            BenchMetric::PromptTokens => "Prompt Tokens",
            BenchMetric::PromptEval => "Prompt Eval",
            BenchMetric::EvalDuration => "Eval Duration",
            BenchMetric::LoadDuration => "Load Duration",
            BenchMetric::WallTime => "Workflow wall time",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            BenchMetric::Throughput => "tok/s",
            BenchMetric::TokensGenerated | BenchMetric::PromptTokens => "tokens",
            BenchMetric::WallTime => "s",
            _ => "ms",
        }
    }

    /// Throughput and token counts: higher is better; times: lower is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, BenchMetric::Throughput | BenchMetric::TokensGenerated | BenchMetric::PromptTokens)
    }
}

impl std::fmt::Display for BenchMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Statistics of one metric for both sides and the relative change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricComparison {
    pub metric: BenchMetric,
    pub unit: String,
    /// Higher is better (throughput) or lower is better (times).
    pub higher_is_better: bool,
    pub baseline: Option<Summary>,
    pub chimera: Option<Summary>,
    /// (chimera / baseline − 1) · 100 with the propagated standard error of the means.
    pub delta_pct: Option<Uncertain>,
}

/// The bench result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchOutcome {
    pub runs: usize,
    pub baseline_options: GenOptions,
    pub chimera_options: GenOptions,
    pub order: Vec<(usize, Side)>,
    pub entries: Vec<BenchEntry>,
    pub warmups: Vec<Warmup>,
    pub comparisons: Vec<MetricComparison>,
    pub failed_runs: usize,
    /// Stopped by Ctrl-C before every run finished (the run cut short is not in `entries`).
    #[serde(default)]
    pub interrupted: bool,
    /// The results could not be written (the message names the file); the bench stopped there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_error: Option<String>,
    pub wall_secs: f64,
    pub report_path: PathBuf,
    pub metrics_path: PathBuf,
}

impl BenchOutcome {
    /// Every run succeeded and its results are on disk.
    pub fn ok(&self) -> bool {
        self.failed_runs == 0 && self.write_error.is_none()
    }
}

/// `metrics.json` of a bench: the outcome and the run manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRecord {
    #[serde(flatten)]
    pub outcome: BenchOutcome,
    pub manifest: Manifest,
}

/// Version 2: a call's `prompt_truncated` may be null (unknown); version 1 held a bool.
impl Record for BenchRecord {
    const KIND: Kind = Kind::Bench;
    const SCHEMA_VERSION: u32 = 2;
}
