//! Key findings computed from the ingested data, deterministically and without a model: the
//! best and worst configuration per metric with the margin and whether it exceeds the noise,
//! spread (CV) warnings, error rows, missing telemetry, unreadable files and outliers. Each
//! finding keeps the files (and, for outliers, the location) it comes from; the reports render
//! them beside the model's findings, labelled ([`crate::export`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::facts::{FactGroup, fmt_group};
use crate::inventory::{Inventory, Severity};
use crate::stats::{Uncertain, delta_pct, mad_outliers, pool};

/// A configuration's pooled figure is called spread out above this CV (sd / mean).
pub const SPREAD_CV: f64 = 0.20;
/// Spread warnings and outliers listed (the rest are counted).
pub const MAX_LISTED: usize = 5;

/// Metrics whose better direction is known: `true` when higher is better.
const DIRECTIONS: [(&str, bool); 12] = [
    ("tokens_per_s", true),
    ("tok_per_s", true),
    ("success_rate", true),
    ("accuracy", true),
    ("ttft_ms", false),
    ("latency_ms", false),
    ("total_duration_ms", false),
    ("generation_time_ms", false),
    ("duration_ms", false),
    ("load_duration_ms", false),
    ("memory_mb", false),
    ("gpu_memory_mb", false),
];

/// One configuration's values of a metric, pooled over the files that hold them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigStat {
    /// `model=…, num_ctx=…` as the data names it.
    pub config: String,
    pub n: usize,
    pub mean: f64,
    pub sd: Option<f64>,
    pub files: Vec<String>,
}

impl ConfigStat {
    /// sd / |mean| (None when n < 2 or the mean is 0).
    pub fn cv(&self) -> Option<f64> {
        self.sd.filter(|_| self.mean != 0.0).map(|sd| sd / self.mean.abs())
    }
    /// The mean with its standard error (sd / √n; 0 when n < 2).
    fn uncertain(&self) -> Uncertain {
        Uncertain { value: self.mean, sd: self.sd.map_or(0.0, |sd| sd / (self.n as f64).sqrt()) }
    }
}

/// A finding computed from the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The best and the worst of `configs` configurations of a metric.
    BestWorst {
        metric: String,
        unit: String,
        higher_is_better: bool,
        configs: usize,
        best: ConfigStat,
        worst: ConfigStat,
        /// (best / worst − 1) · 100 with the propagated standard error of the two means.
        delta_pct: Uncertain,
        /// |Δ| > 2σ; `None` when either side has n < 2 (no noise estimate).
        exceeds_noise: Option<bool>,
    },
    /// A configuration whose values vary more than [`SPREAD_CV`].
    Spread { metric: String, unit: String, stat: ConfigStat, cv: f64 },
    /// Rows of a CSV whose error column is filled.
    ErrorRows { file: String, column: Option<String>, rows: usize, total: usize },
    /// Empty cells of a CSV.
    EmptyCells { file: String, cells: usize, total: usize },
    /// Families of measurements no file holds: (family, what it measures).
    MissingTelemetry { families: Vec<(String, String)> },
    /// A file that could not be used.
    Unreadable { file: String, reason: String },
    /// A value far from the others of its file, metric and configuration.
    Outlier { metric: String, unit: String, file: String, location: String, value: f64, median: f64 },
}

/// Everything computed, in the order the report lists it; `more_*` count what was left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Computed {
    pub findings: Vec<Finding>,
    pub more_spread: usize,
    pub more_outliers: usize,
}

/// Raw samples (`stat = value`) of each (metric, unit, configuration keys) → configuration,
/// pooled over files. Only configurations named by the same keys are compared with each other.
fn pooled_configs(groups: &[FactGroup]) -> BTreeMap<(String, String, String), Vec<ConfigStat>> {
    type Parts = (Vec<(usize, f64, Option<f64>)>, Vec<String>);
    let mut parts: BTreeMap<(String, String, String, String), Parts> = BTreeMap::new();
    for g in groups.iter().filter(|g| g.stat == "value" && !g.group.is_empty()) {
        let keys = g.group.keys().cloned().collect::<Vec<_>>().join(", ");
        let e = parts.entry((g.metric.clone(), g.unit.clone(), keys, fmt_group(&g.group))).or_default();
        e.0.push((g.summary.n, g.summary.mean, g.summary.sd));
        e.1.extend(g.files.iter().cloned());
    }
    let mut out: BTreeMap<(String, String, String), Vec<ConfigStat>> = BTreeMap::new();
    for ((metric, unit, keys, config), (p, mut files)) in parts {
        files.sort();
        files.dedup();
        if let Some((n, mean, sd)) = pool(&p) {
            out.entry((metric, unit, keys)).or_default().push(ConfigStat { config, n, mean, sd, files });
        }
    }
    out
}

fn best_worst(metric: &str, unit: &str, higher: bool, stats: &[ConfigStat]) -> Option<Finding> {
    if stats.len() < 2 {
        return None;
    }
    let better = |a: &&ConfigStat, b: &&ConfigStat| {
        let o = a.mean.total_cmp(&b.mean);
        if higher { o } else { o.reverse() }
    };
    // ties keep the first configuration in name order
    let best = stats.iter().rev().max_by(better)?;
    let worst = stats.iter().min_by(better)?;
    if best.mean == worst.mean {
        return None; // every configuration measured the same
    }
    let delta = delta_pct(worst.uncertain(), best.uncertain())?;
    let exceeds_noise = (best.n > 1 && worst.n > 1).then(|| delta.value.abs() > 2.0 * delta.sd);
    Some(Finding::BestWorst {
        metric: metric.into(),
        unit: unit.into(),
        higher_is_better: higher,
        configs: stats.len(),
        best: best.clone(),
        worst: worst.clone(),
        delta_pct: delta,
        exceeds_noise,
    })
}

/// Outliers among the individual facts kept by the inventory, per file, metric and configuration.
fn outliers(inv: &Inventory) -> Vec<Finding> {
    let mut sets: BTreeMap<(&str, &str, &str, String), Vec<usize>> = BTreeMap::new();
    for (i, f) in inv.facts.facts.iter().enumerate().filter(|(_, f)| f.stat == "value") {
        sets.entry((f.file.as_str(), f.metric.as_str(), f.unit.as_str(), fmt_group(&f.group)))
            .or_default()
            .push(i);
    }
    let mut out = Vec::new();
    for idx in sets.values() {
        let xs: Vec<f64> = idx.iter().map(|&i| inv.facts.facts[i].value).collect();
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = crate::stats::percentile_sorted(&sorted, 50.0).unwrap_or(0.0);
        for j in mad_outliers(&xs) {
            let f = &inv.facts.facts[idx[j]];
            out.push(Finding::Outlier {
                metric: f.metric.clone(),
                unit: f.unit.clone(),
                file: f.file.clone(),
                location: f.location.clone(),
                value: f.value,
                median,
            });
        }
    }
    out
}

/// The findings of `inv`: best/worst per metric of known direction (among the configurations
/// named by the same keys, the most numerous such set), spread warnings (largest CV
/// first), error rows, empty cells, missing telemetry, unreadable files, outliers.
pub fn compute(inv: &Inventory) -> Computed {
    let pooled = pooled_configs(&inv.facts.groups);
    let mut findings = Vec::new();
    for (metric, higher) in DIRECTIONS {
        // per unit, the configuration keys that name the most configurations (then the most values)
        let mut units: BTreeMap<&str, &Vec<ConfigStat>> = BTreeMap::new();
        for ((_, unit, _), stats) in pooled.iter().filter(|((m, _, _), _)| m == metric) {
            let size = |v: &Vec<ConfigStat>| (v.len(), v.iter().map(|s| s.n).sum::<usize>());
            let e = units.entry(unit).or_insert(stats);
            if size(stats) > size(e) {
                *e = stats;
            }
        }
        for (unit, stats) in units {
            findings.extend(best_worst(metric, unit, higher, stats));
        }
    }
    let mut spread: Vec<Finding> = pooled
        .iter()
        .flat_map(|((metric, unit, _), stats)| {
            stats.iter().filter(|s| s.n >= 3).filter_map(move |s| {
                let cv = s.cv().filter(|cv| *cv > SPREAD_CV)?;
                Some(Finding::Spread { metric: metric.clone(), unit: unit.clone(), stat: s.clone(), cv })
            })
        })
        .collect();
    let cv_of = |f: &Finding| if let Finding::Spread { cv, .. } = f { *cv } else { 0.0 };
    spread.sort_by(|a, b| cv_of(b).total_cmp(&cv_of(a)));
    let more_spread = spread.len().saturating_sub(MAX_LISTED);
    findings.extend(spread.into_iter().take(MAX_LISTED));
    let column = |file: &str| {
        inv.files.iter().find(|f| f.rel_path == file).and_then(|f| f.csv.as_ref()?.error_column.clone())
    };
    for (file, rows, total) in &inv.gaps.csv_error_rows {
        findings.push(Finding::ErrorRows {
            file: file.clone(),
            column: column(file),
            rows: *rows,
            total: *total,
        });
    }
    for (file, cells, total) in &inv.gaps.csv_empty_cells {
        findings.push(Finding::EmptyCells { file: file.clone(), cells: *cells, total: *total });
    }
    if !inv.gaps.missing_families.is_empty() {
        findings.push(Finding::MissingTelemetry { families: inv.gaps.missing_families.clone() });
    }
    for p in inv.problems.iter().filter(|p| p.severity == Severity::Failed) {
        findings.push(Finding::Unreadable { file: p.path.clone(), reason: p.reason.clone() });
    }
    let outliers = outliers(inv);
    let more_outliers = outliers.len().saturating_sub(MAX_LISTED);
    findings.extend(outliers.into_iter().take(MAX_LISTED));
    Computed { findings, more_spread, more_outliers }
}
