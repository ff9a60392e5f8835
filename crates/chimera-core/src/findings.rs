//! Key findings computed from the ingested data, deterministically and without a model: the
//! best and worst configuration per metric with the margin and whether it exceeds the noise,
//! spread (CV) warnings, error rows, missing telemetry, unreadable files and outliers. Each
//! finding keeps the files (and, for outliers, the location) it comes from; the reports render
//! them beside the model's findings, labelled ([`crate::export`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Computed {
    pub findings: Vec<Finding>,
    pub more_spread: usize,
    pub more_outliers: usize,
}

/// How a best/worst margin is derived.
pub const BEST_WORST_FORMULA: &str = "mean of each configuration's values over its files; Δ% = (best / worst − 1) · 100, σ propagated from sd / √n";
/// How a spread warning is derived.
pub const SPREAD_FORMULA: &str = "CV = sd / mean";
/// How missing telemetry is derived.
pub const MISSING_FORMULA: &str = "no measurement of these families in the inventory of every file analysed";
/// How an outlier is found.
pub const OUTLIER_FORMULA: &str = "modified z-score 0.6745 · (x − median) / MAD > 3.5 (Iglewicz & Hoaglin)";

/// Where a computed finding comes from: the artifact files (and, for an outlier, the location in
/// its file: column and row, or JSON path) and the formula that derived it (none for a count
/// read from the files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
}

impl Finding {
    /// Its files, location and formula.
    pub fn provenance(&self) -> Provenance {
        let p = |files: Vec<&String>, location: Option<&String>, formula: Option<&str>| {
            let mut files: Vec<String> = files.into_iter().cloned().collect();
            files.sort();
            files.dedup();
            Provenance { files, location: location.cloned(), formula: formula.map(str::to_string) }
        };
        match self {
            Finding::BestWorst { best, worst, .. } => {
                p(best.files.iter().chain(&worst.files).collect(), None, Some(BEST_WORST_FORMULA))
            }
            Finding::Spread { stat, .. } => p(stat.files.iter().collect(), None, Some(SPREAD_FORMULA)),
            Finding::ErrorRows { file, .. }
            | Finding::EmptyCells { file, .. }
            | Finding::Unreadable { file, .. } => p(vec![file], None, None),
            Finding::MissingTelemetry { .. } => p(vec![], None, Some(MISSING_FORMULA)),
            Finding::Outlier { file, location, .. } => p(vec![file], Some(location), Some(OUTLIER_FORMULA)),
        }
    }
}

/// A computed finding as `metrics.json` records it: the finding's fields and its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRecord {
    #[serde(flatten)]
    pub finding: Finding,
    pub provenance: Provenance,
}

/// The computed findings in `metrics.json` (beside the rendered ones in report.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComputedRecord {
    pub findings: Vec<FindingRecord>,
    /// Spread warnings and outliers beyond those listed.
    pub more_spread: usize,
    pub more_outliers: usize,
}

impl ComputedRecord {
    /// `c` with each finding's provenance.
    pub fn of(c: &Computed) -> Self {
        ComputedRecord {
            findings: c
                .findings
                .iter()
                .map(|f| FindingRecord { finding: f.clone(), provenance: f.provenance() })
                .collect(),
            more_spread: c.more_spread,
            more_outliers: c.more_outliers,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_provenance_and_read_back() {
        let stat = |config: &str, mean, files: &[&str]| ConfigStat {
            config: config.into(),
            n: 2,
            mean,
            sd: Some(1.0),
            files: files.iter().map(|f| f.to_string()).collect(),
        };
        let c = Computed {
            findings: vec![
                Finding::BestWorst {
                    metric: "ttft_ms".into(),
                    unit: "ms".into(),
                    higher_is_better: false,
                    configs: 2,
                    best: stat("q4", 10.0, &["b.csv", "a.csv"]),
                    worst: stat("q8", 20.0, &["a.csv"]),
                    delta_pct: Uncertain { value: -50.0, sd: 3.0 },
                    exceeds_noise: Some(true),
                },
                Finding::Outlier {
                    metric: "ttft_ms".into(),
                    unit: "ms".into(),
                    file: "a.csv".into(),
                    location: "column ttft_ms, row 7".into(),
                    value: 900.0,
                    median: 10.0,
                },
                Finding::ErrorRows { file: "e.csv".into(), column: None, rows: 1, total: 4 },
            ],
            more_spread: 0,
            more_outliers: 2,
        };
        let r = ComputedRecord::of(&c);
        let p: Vec<&Provenance> = r.findings.iter().map(|f| &f.provenance).collect();
        assert_eq!(p[0].files, ["a.csv", "b.csv"]);
        assert_eq!(p[0].formula.as_deref(), Some(BEST_WORST_FORMULA));
        assert_eq!(
            (p[1].location.as_deref(), p[1].formula.as_deref()),
            (Some("column ttft_ms, row 7"), Some(OUTLIER_FORMULA))
        );
        assert_eq!((p[2].files.as_slice(), p[2].formula.as_deref()), (&["e.csv".to_string()][..], None));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["findings"][0]["kind"], "best_worst");
        assert_eq!(json["findings"][1]["provenance"]["location"], "column ttft_ms, row 7");
        assert_eq!(serde_json::from_value::<ComputedRecord>(json).unwrap(), r);
    }
}
