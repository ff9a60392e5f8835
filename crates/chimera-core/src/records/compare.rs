//! The record of a regression gate (`chimera compare --json`): the figures read from both
//! outputs, the thresholds, each paired row with its Δ% and noise band, and the verdict.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Kind, Record};
use crate::outcome::Status;
use crate::stats::{Summary, Uncertain};

/// What a figure measures, which decides its threshold and its good direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricClass {
    /// Higher is better; gated by `max_throughput_drop_pct`.
    Throughput,
    /// Lower is better; gated by `max_ttft_rise_pct`.
    Ttft,
}

/// A figure of an output: mean, sd and n.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub class: MetricClass,
    pub mean: f64,
    pub sd: Option<f64>,
    pub n: usize,
}

impl Figure {
    pub fn from_summary(name: impl Into<String>, class: MetricClass, s: &Summary) -> Self {
        Figure { name: name.into(), class, mean: s.mean, sd: s.sd, n: s.n }
    }
}

/// Gate thresholds in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Fail when a throughput falls by more than this (percent of OLD).
    pub max_throughput_drop_pct: f64,
    /// Fail when a TTFT rises by more than this (percent of OLD).
    pub max_ttft_rise_pct: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { max_throughput_drop_pct: 5.0, max_ttft_rise_pct: 10.0 }
    }
}

/// Verdict of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not gated (no delta could be computed, e.g. OLD mean is 0).
    Skipped,
}

/// One paired figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub class: MetricClass,
    pub old: Figure,
    pub new: Figure,
    /// Δ% = (new/old − 1)·100 with propagated sd.
    pub delta_pct: Option<Uncertain>,
    /// Δ ± 2σ, percent.
    pub noise_band_pct: Option<(f64, f64)>,
    /// True when the band contains 0 (the change is within run-to-run noise); None without sds.
    pub within_noise: Option<bool>,
    pub verdict: Verdict,
}

/// The comparison of two outputs (`chimera compare --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// What both outputs are (`chimera.sweep`, …).
    pub compared: Kind,
    pub old: PathBuf,
    pub new: PathBuf,
    pub thresholds: Thresholds,
    pub rows: Vec<Row>,
    pub only_in_old: Vec<String>,
    pub only_in_new: Vec<String>,
    /// Some row failed its threshold.
    pub failed: bool,
}

impl Record for Comparison {
    const KIND: Kind = Kind::Compare;
    const SCHEMA_VERSION: u32 = 1;
}

impl Comparison {
    /// The gate's verdict: failed when a threshold was crossed.
    pub fn status(&self) -> Status {
        Status::failed_if(self.failed)
    }
}
