//! Aggregates over the runs of a multi-agent benchmark (root `summary.json`): mean ± sd and
//! min…max of speedup, efficiency, wall times, throughput and per-agent slowdown, via
//! [`crate::stats`]; interrupted runs are listed but left out of the statistics.

use chrono::Utc;

use super::plan::MultiPlan;
use crate::latency::{CallSamples, LatencyStats};
use crate::outcome::Status;
use crate::records::multi::{
    AgentAggregate, Aggregates, MultiSummary, PhaseResult, RunBrief, RunRecord, RunStatus, SUMMARY_SCHEMA,
    SummaryAgent,
};
use crate::records::session::SessionStats;
use crate::stats::{Summary, summarize};

impl MultiSummary {
    /// How the benchmark ended: interrupted, failed (an agent failed or a run did not
    /// complete), or ok.
    pub fn status(&self) -> Status {
        if self.interrupted {
            Status::Interrupted
        } else {
            Status::failed_if(self.failed || self.runs_completed < self.runs_planned)
        }
    }
}

/// The latency percentiles of phases' pooled samples (None when no phase has samples).
fn pooled<'a>(phases: impl Iterator<Item = &'a PhaseResult>) -> Option<LatencyStats> {
    let mut all: Option<CallSamples> = None;
    for s in phases.filter_map(|p| p.latency.as_ref()) {
        all.get_or_insert_with(CallSamples::default).merge(s);
    }
    all.map(|s| s.stats())
}

fn stat(xs: impl Iterator<Item = Option<f64>>) -> Option<Summary> {
    summarize(&xs.flatten().collect::<Vec<_>>())
}

/// Build the summary of `records` (pure; interrupted runs are listed but not aggregated).
pub fn summarize_runs(plan: &MultiPlan, records: &[RunRecord]) -> MultiSummary {
    let done: Vec<&RunRecord> = records.iter().filter(|r| r.status != RunStatus::Interrupted).collect();
    let agg = Aggregates {
        speedup: stat(done.iter().map(|r| r.speedup)),
        efficiency: stat(done.iter().map(|r| r.efficiency)),
        concurrent_wall_secs: stat(done.iter().map(|r| r.concurrent_wall_secs)),
        solo_sum_secs: stat(done.iter().map(|r| r.solo_sum_secs)),
        aggregate_tok_s: stat(done.iter().map(|r| r.aggregate_tok_s)),
        original_speedup: stat(done.iter().map(|r| r.original.as_ref().map(|o| o.speedup))),
        original_efficiency: stat(done.iter().map(|r| r.original.as_ref().map(|o| o.efficiency))),
    };
    let per_agent = plan
        .agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let recs = || done.iter().filter_map(move |r| r.agents.get(i));
            let ok_solo = || recs().filter_map(|x| x.solo.as_ref().filter(|s| s.ok));
            let ok_conc = || recs().filter_map(|x| x.concurrent.as_ref().filter(|c| c.ok));
            AgentAggregate {
                label: a.label.clone(),
                solo_secs: stat(ok_solo().map(|s| Some(s.secs))),
                concurrent_secs: stat(ok_conc().map(|c| Some(c.secs))),
                slowdown: stat(recs().map(|x| x.slowdown)),
                tokens: stat(ok_conc().map(|c| Some(c.tokens as f64))),
                decode_tok_s: stat(ok_conc().map(|c| c.decode_tok_s)),
                contended_runs: recs().filter(|x| x.contended).count() as u32,
                failed_runs: recs()
                    .filter(|x| [&x.solo, &x.concurrent].iter().any(|p| p.as_ref().is_some_and(|p| !p.ok)))
                    .count() as u32,
                latency_solo: pooled(ok_solo()),
                latency_concurrent: pooled(ok_conc()),
                session_solo: SessionStats::of(ok_solo().filter_map(|p| p.session.as_ref())),
                session_concurrent: SessionStats::of(ok_conc().filter_map(|p| p.session.as_ref())),
            }
        })
        .collect();
    MultiSummary {
        schema: SUMMARY_SCHEMA.into(),
        created_at: Utc::now(),
        scenario: plan.scenario.clone(),
        agents: plan
            .agents
            .iter()
            .map(|a| SummaryAgent { label: a.label.clone(), server: a.server.clone() })
            .collect(),
        runs_planned: plan.runs,
        runs_completed: done.len() as u32,
        interrupted: records.iter().any(|r| r.status == RunStatus::Interrupted),
        failed: records.iter().any(|r| !r.failures().is_empty()),
        solo_phase: plan.solo,
        contention_threshold: plan.contention_threshold,
        runs: records.iter().map(RunBrief::of).collect(),
        aggregates: agg,
        per_agent,
        manifest: plan.manifest.clone(),
    }
}
