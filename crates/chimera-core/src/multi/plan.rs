//! What a multi-agent benchmark runs: its agents as the scheduler sees them ([`AgentSlot`]) and
//! the plan ([`MultiPlan`]: runs, solo phase, warm-ups, contention threshold, output folder,
//! manifest).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::records::multi::{MultiManifest, ScenarioName};

/// One agent as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSlot {
    pub label: String,
    /// The server it talks to (URL or `embedded`), shown in reports.
    pub server: String,
    /// Agents with the same key share one warm-up (same server and load-time options).
    pub warmup_key: String,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct MultiPlan {
    pub scenario: ScenarioName,
    pub agents: Vec<AgentSlot>,
    pub runs: u32,
    /// Measure each agent alone first (needed for the true speedup).
    pub solo: bool,
    /// Warm each server up before each run's measurements.
    pub warmup: bool,
    /// Slowdown above which an agent is flagged as contended.
    pub contention_threshold: f64,
    pub out_dir: PathBuf,
    /// Recorded in summary.json (tool version, host, servers, each agent's options).
    pub manifest: Option<MultiManifest>,
}
