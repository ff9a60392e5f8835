//! The records of load runs: each session ([`SessionRecord`]), one load level's figures
//! ([`LevelSummary`]: pass rate with its interval, goodput, throughput, latency, schedule
//! error), an open-loop or closed-loop `multi` run (`load.json`, [`LoadRecord`]), a capacity
//! search (`capacity.json`, [`CapacityRecord`]) and a sweep's load axis ([`SweepLoad`], each
//! point's [`LoadPoint`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Kind, Record};
use crate::records::multi::MultiManifest;
use crate::stats::Summary;
use crate::traffic::arrivals::{Arrival, Stop};
use crate::traffic::interval::{Confidence, Interval};
use crate::traffic::slo::{SessionFigures, Slo, SloMetric};

/// How load is offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum LoadModel {
    /// `concurrency` sessions at once; each starts its next session when the last ends.
    Closed { concurrency: u32 },
    /// Sessions start on a schedule, whether or not earlier ones have ended.
    Open { arrival: Arrival },
}

impl std::fmt::Display for LoadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadModel::Closed { concurrency } => write!(f, "closed loop, {concurrency} at once"),
            LoadModel::Open { arrival } => write!(f, "open loop, {arrival}"),
        }
    }
}

/// A number without trailing zeros (`2`, `0.5`).
fn num(x: f64) -> String {
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl LoadModel {
    /// The level as a sweep coordinate, in the flags' spelling: `concurrency=4`,
    /// `arrival=constant:2/s`, `arrival=poisson:2/s:7`, `arrival=ramp:1/s..4/s`,
    /// `arrival=trace:<file name>`.
    pub fn coordinate(&self) -> String {
        match self {
            LoadModel::Closed { concurrency } => format!("concurrency={concurrency}"),
            LoadModel::Open { arrival } => {
                let a = match arrival {
                    Arrival::Constant { per_sec } => format!("constant:{}/s", num(*per_sec)),
                    Arrival::Poisson { per_sec, seed } => format!("poisson:{}/s:{seed}", num(*per_sec)),
                    Arrival::Ramp { from_per_sec, to_per_sec } => {
                        format!("ramp:{}/s..{}/s", num(*from_per_sec), num(*to_per_sec))
                    }
                    Arrival::Trace { path, .. } => format!(
                        "trace:{}",
                        path.file_name()
                            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
                    ),
                };
                format!("arrival={a}")
            }
        }
    }
}

/// How sessions are spread over several servers (agents).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// Session i goes to server i mod n.
    #[default]
    RoundRobin,
    /// Each session goes to the server with the fewest sessions in flight (the first on ties).
    LeastLoaded,
}

/// One session (one agent run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Position in the schedule (0-based; warm-up sessions come first).
    pub index: u32,
    /// Warm-up sessions are run and recorded but left out of every figure.
    pub warmup: bool,
    /// The agent (and so the server) that ran it.
    pub agent: String,
    pub server: String,
    /// Planned start, seconds from the start of the run (closed loop: the actual start).
    pub planned_s: f64,
    /// When the client actually started it.
    pub started_s: f64,
    pub ended_s: f64,
    /// Actual − planned start, ms (closed loop: 0).
    pub schedule_error_ms: f64,
    /// What the SLO judges; latency counts from the PLANNED start.
    pub figures: SessionFigures,
    pub tokens: u64,
    pub error: Option<String>,
    pub pass: bool,
    pub missed: Vec<SloMetric>,
}

/// Sessions one server ran, and its share of the measured ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerShare {
    pub server: String,
    pub sessions: usize,
    pub share: f64,
    pub passing: usize,
}

/// The figures of one load level (one run, or several runs pooled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSummary {
    /// Measured sessions (warm-ups excluded).
    pub sessions: usize,
    pub failed: usize,
    pub passing: usize,
    pub pass_rate: Option<f64>,
    /// 95 % Wilson interval of the pass rate.
    pub pass_interval: Option<Interval>,
    /// Pass rate ≥ the SLO quantile.
    pub meets_slo: bool,
    /// The interval against the quantile.
    pub confidence: Option<Confidence>,
    /// From the first measured planned start to the last measured end, s.
    pub window_secs: f64,
    /// Completed sessions (ok) per minute.
    pub throughput_per_min: Option<f64>,
    /// Passing sessions per minute.
    pub goodput_per_min: Option<f64>,
    /// Output tokens of measured sessions per second of the window.
    pub tokens_per_s: Option<f64>,
    /// Mean sessions in flight (Σ latency / window, Little's law).
    pub mean_in_flight: Option<f64>,
    pub session_s: Option<Summary>,
    pub ttft_max_ms: Option<Summary>,
    pub itl_p99_ms: Option<Summary>,
    /// Open loop only.
    pub schedule_error_ms: Option<Summary>,
    /// The client fell behind its schedule (schedule error p99 > 10 ms): the level's figures
    /// are unreliable.
    pub client_behind: bool,
    pub servers: Vec<ServerShare>,
}

/// Open- or closed-loop `chimera multi` (`load.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRecord {
    pub created_at: DateTime<Utc>,
    pub load: LoadModel,
    pub spread: Spread,
    pub slo: Slo,
    /// Fraction of sessions that must pass for the run to meet the SLO.
    pub slo_quantile: f64,
    pub warmup_sessions: u32,
    pub interrupted: bool,
    pub summary: LevelSummary,
    pub sessions: Vec<SessionRecord>,
    pub notes: Vec<String>,
    pub manifest: Option<MultiManifest>,
}

impl Record for LoadRecord {
    const KIND: Kind = Kind::Load;
    const SCHEMA_VERSION: u32 = 1;
}

/// What a capacity search raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// Sessions in flight (closed loop).
    Concurrency,
    /// Sessions per second (open loop, constant arrivals unless asked otherwise).
    Rate,
}

/// One level of a capacity search: its repeats, pooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelRecord {
    /// Concurrency, or sessions/s.
    pub level: f64,
    pub repeats: Vec<LevelSummary>,
    pub pooled: LevelSummary,
}

/// The answer of a capacity search (`capacity.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityRecord {
    pub created_at: DateTime<Utc>,
    pub axis: Axis,
    pub slo: Slo,
    pub slo_quantile: f64,
    pub repeats: u32,
    pub spread: Spread,
    /// Every level measured, in ascending order of level.
    pub levels: Vec<LevelRecord>,
    /// The highest level that met the SLO (None: even the lowest failed).
    pub max_level: Option<f64>,
    /// The lowest level above it that failed (None: no level failed).
    pub first_failing: Option<f64>,
    /// Goodput over the repeats of the highest passing level: the sustainable sessions/min
    /// (mean ± sd over repeats).
    pub sustainable_per_min: Option<Summary>,
    /// Mean sessions in flight over its repeats: the concurrent agents it carries.
    pub concurrent_agents: Option<Summary>,
    /// The two levels' pass-rate intervals do not overlap.
    pub told_apart: bool,
    /// Where throughput stops rising while latency rises.
    pub saturation_level: Option<f64>,
    pub interrupted: bool,
    pub notes: Vec<String>,
    pub manifest: Option<MultiManifest>,
}

impl Record for CapacityRecord {
    const KIND: Kind = Kind::Capacity;
    const SCHEMA_VERSION: u32 = 1;
}

/// The load axis of a sweep (`chimera sweep --agent-data DIR --arrival LIST | --concurrency
/// LIST`): every grid point is measured at every level; each measured run of a point is one
/// load run of agent sessions on the point's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepLoad {
    pub levels: Vec<LoadModel>,
    /// Measured sessions (or seconds) per run.
    pub stop: Stop,
    pub warmup_sessions: u32,
    /// No objectives: every session that ends without error passes (and points are not
    /// ranked by goodput).
    pub slo: Slo,
    pub quantile: f64,
}

impl SweepLoad {
    /// Points are ranked by goodput (passing sessions/min) when the SLO has objectives.
    pub fn ranks_by_goodput(&self) -> bool {
        !self.slo.objectives.is_empty()
    }
}

/// A sweep point measured under load: its level, each run's figures, and every run's sessions
/// pooled (goodput = Σ passing ÷ Σ windows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadPoint {
    pub load: LoadModel,
    pub slo: Slo,
    pub quantile: f64,
    pub runs: Vec<LevelSummary>,
    pub pooled: LevelSummary,
}

impl LoadPoint {
    /// Goodput, when the point is ranked by it (an SLO with objectives).
    pub fn ranked_goodput(&self) -> Option<f64> {
        if self.slo.objectives.is_empty() { None } else { self.pooled.goodput_per_min }
    }
}
