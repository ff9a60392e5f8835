//! The plots of a multi-agent output folder: concurrency efficiency per run (from the summary)
//! and per-call token timelines of each run's concurrent phase (from the records of the agents
//! whose reports the run lists, whose calls carry `chunk_arrivals_ms`).

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{Bar, Drawn, PlotError, Timeline, bars, token_timelines};
use crate::load::{self, LoadError, MultiResults};
use crate::records::agent::AgentRecord;
use crate::records::multi::RunRecord;

/// Timelines of the concurrent phase of `run` (agents of the output folder `dir` that wrote an
/// agent record beside their report), offsets relative to the earliest call start.
pub fn run_timelines(dir: &Path, run: &RunRecord) -> Result<Vec<Timeline>, LoadError> {
    // (label, call start, arrivals, end, colour group)
    type RawCall = (String, DateTime<Utc>, Vec<f64>, Option<f64>, usize);
    let mut raw: Vec<RawCall> = Vec::new();
    for (g, a) in run.agents.iter().enumerate() {
        let Some(report) = a.concurrent.as_ref().and_then(|c| c.report.as_ref()) else { continue };
        let path = dir.join(report).with_file_name("metrics.json");
        if !path.is_file() {
            continue;
        }
        let rec: AgentRecord = load::load(&path)?;
        let o = &rec.outcome;
        for (k, c) in o.calls.iter().enumerate() {
            let stage = o.call_stages.get(k).map_or_else(|| format!("call {}", k + 1), |s| s.to_string());
            raw.push((
                format!("{} · {stage}", o.label),
                c.started_at,
                c.chunk_arrivals_ms.clone(),
                c.end_ms,
                g,
            ));
        }
    }
    let Some(t0) = raw.iter().map(|r| r.1).min() else { return Ok(Vec::new()) };
    Ok(raw
        .into_iter()
        .map(|(label, start, arrivals_ms, end_ms, group)| Timeline {
            label,
            start_ms: (start - t0).num_microseconds().unwrap_or(0) as f64 / 1000.0,
            arrivals_ms,
            end_ms,
            group,
        })
        .collect())
}

/// Every multi plot of the output folder `dir` as `(file stem, svg or error)`: `efficiency` and
/// `timeline_run_N`; one plot failing leaves the others.
pub fn multi_plots(m: &MultiResults, dir: &Path) -> Vec<Drawn> {
    let mut out = Vec::new();
    let eff: Vec<Bar> = m
        .summary
        .runs
        .iter()
        .filter_map(|r| {
            Some(Bar { label: format!("run {}", r.run), mean: r.efficiency?, sd: None, highlight: false })
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
    for r in &m.runs {
        let name = format!("timeline_run_{}", r.run);
        match run_timelines(dir, r) {
            Ok(t) if t.is_empty() => {}
            Ok(t) => {
                out.push((name, token_timelines(&format!("Token timelines, run {} (concurrent)", r.run), &t)))
            }
            Err(e) => out.push((name.clone(), Err(PlotError { title: name, detail: e.to_string() }))),
        }
    }
    out
}
