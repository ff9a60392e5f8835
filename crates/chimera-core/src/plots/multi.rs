//! The plots of a multi-agent output folder: concurrency efficiency per run (from
//! `summary.json`) and per-call token timelines of each run's concurrent phase (from the
//! agents' `metrics.json`, whose calls carry `chunk_arrivals_ms`).

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Bar, Drawn, Timeline, bars, token_timelines};

fn read(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Timelines of the concurrent phase of `run_dir` (`run_N/<agent>/metrics.json`, solo
/// folders excluded), offsets relative to the earliest call start.
pub fn run_timelines(run_dir: &Path) -> Vec<Timeline> {
    let mut agents: Vec<_> = std::fs::read_dir(run_dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "solo"))
        .collect();
    agents.sort();
    // (label, call start, arrivals, end, colour group)
    type RawCall = (String, DateTime<Utc>, Vec<f64>, Option<f64>, usize);
    let mut raw: Vec<RawCall> = Vec::new();
    for (g, dir) in agents.iter().enumerate() {
        let Some(v) = read(&dir.join("metrics.json")) else { continue };
        let label = v.get("label").and_then(Value::as_str).unwrap_or("agent").to_string();
        let stages: Vec<String> = v
            .get("call_stages")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|s| s.as_str().unwrap_or("call").to_string()).collect())
            .unwrap_or_default();
        for (k, c) in v.get("calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let Some(start) =
                c.get("started_at").and_then(Value::as_str).and_then(|s| s.parse::<DateTime<Utc>>().ok())
            else {
                continue;
            };
            let arrivals: Vec<f64> = c
                .get("chunk_arrivals_ms")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let stage = stages.get(k).cloned().unwrap_or_else(|| format!("call {}", k + 1));
            raw.push((
                format!("{label} · {stage}"),
                start,
                arrivals,
                c.get("end_ms").and_then(Value::as_f64),
                g,
            ));
        }
    }
    let Some(t0) = raw.iter().map(|r| r.1).min() else { return Vec::new() };
    raw.into_iter()
        .map(|(label, start, arrivals_ms, end_ms, group)| Timeline {
            label,
            start_ms: (start - t0).num_microseconds().unwrap_or(0) as f64 / 1000.0,
            arrivals_ms,
            end_ms,
            group,
        })
        .collect()
}

/// Every multi plot of `dir` as `(file stem, svg or error)`: `efficiency` and `timeline_run_N`;
/// one plot failing leaves the others.
pub fn multi_plots(dir: &Path) -> Vec<Drawn> {
    let mut out = Vec::new();
    let Some(v) = read(&dir.join("summary.json")) else { return out };
    let runs = v.get("runs").and_then(Value::as_array).cloned().unwrap_or_default();
    let eff: Vec<Bar> = runs
        .iter()
        .filter_map(|r| {
            Some(Bar {
                label: format!("run {}", r.get("run")?.as_u64()?),
                mean: r.get("efficiency")?.as_f64()?,
                sd: None,
                highlight: false,
            })
        })
        .collect();
    if !eff.is_empty() {
        out.push((
            "efficiency".to_string(),
            bars(
                "Concurrency efficiency per run",
                "efficiency = speedup / N",
                &eff,
                Some((1.0, "perfect scaling")),
            ),
        ));
    }
    for r in &runs {
        let Some(n) = r.get("run").and_then(Value::as_u64) else { continue };
        let t = run_timelines(&dir.join(format!("run_{n}")));
        if !t.is_empty() {
            out.push((
                format!("timeline_run_{n}"),
                token_timelines(&format!("Token timelines, run {n} (concurrent)"), &t),
            ));
        }
    }
    out
}
