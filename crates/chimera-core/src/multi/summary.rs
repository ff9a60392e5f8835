//! Aggregates over the runs of a multi-agent benchmark (root `summary.json`): mean ± sd and
//! min…max of speedup, efficiency, wall times, throughput and per-agent slowdown, via
//! [`crate::stats`], and the prompt cache by phase with its warning; interrupted runs are listed
//! but left out of the statistics.

use chrono::Utc;

use super::plan::MultiPlan;
use crate::latency::{CallSamples, LatencyStats};
use crate::metrics::cached_share;
use crate::outcome::Status;
use crate::records::multi::{
    AgentAggregate, Aggregates, CacheByPhase, MultiSummary, PhaseCache, PhaseResult, RunBrief, RunRecord,
    RunStatus, SUMMARY_SCHEMA, SummaryAgent,
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

/// The concurrent phase's cached share may exceed the solo phase's by less than this (a
/// fraction: 0.2 = 20 percentage points) before the summary warns.
pub const CACHE_WARN_POINTS: f64 = 0.2;

/// Prompt tokens evaluated and cached over `phases`' calls whose server reports its cache
/// (None when none does).
pub fn phase_cache<'a>(phases: impl Iterator<Item = &'a PhaseResult>) -> Option<PhaseCache> {
    let mut p = PhaseCache::default();
    for s in phases.filter_map(|p| p.latency.as_ref()).filter(|s| s.cache_reported_calls > 0) {
        p.calls += s.cache_reported_calls;
        p.prompt_evaluated_tokens += s.prompt_evaluated_tokens;
        p.prompt_cached_tokens += s.prompt_cached_tokens;
    }
    p.cached_share = cached_share(p.prompt_evaluated_tokens, p.prompt_cached_tokens);
    (p.calls > 0).then_some(p)
}

/// The warning when the concurrent phase took a much larger share of its prompt tokens from the
/// servers' prompt cache than the solo phase did ([`CACHE_WARN_POINTS`]).
pub fn cache_warning(solo: &PhaseCache, concurrent: &PhaseCache) -> Option<String> {
    let (s, c) = (solo.cached_share?, concurrent.cached_share?);
    (c - s >= CACHE_WARN_POINTS - 1e-9).then(|| {
        format!(
            "the concurrent phase took {:.1} % of its prompt tokens from the servers' prompt cache, the solo \
             phase {:.1} %: the solo phase warmed the cache (llama-server's --cache-ram and chimera serve keep \
             prompts), so the concurrent phase evaluated fewer prompt tokens than a cold run would and the \
             true speedup is inflated; restart the servers (or turn their prompt cache off) between the phases \
             to measure it cold",
            c * 100.0,
            s * 100.0
        )
    })
}

/// The prompt cache of the completed phases (None when no server reported its cache).
fn cache_by_phase(done: &[&RunRecord]) -> Option<CacheByPhase> {
    let phases = |conc: bool| {
        done.iter()
            .flat_map(|r| &r.agents)
            .filter_map(move |a| if conc { a.concurrent.as_ref() } else { a.solo.as_ref() }.filter(|p| p.ok))
    };
    let (solo, concurrent) = (phase_cache(phases(false)), phase_cache(phases(true)));
    if solo.is_none() && concurrent.is_none() {
        return None;
    }
    let warning = solo.as_ref().zip(concurrent.as_ref()).and_then(|(s, c)| cache_warning(s, c));
    Some(CacheByPhase { solo, concurrent, warning })
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
        prompt_cache: cache_by_phase(&done),
        manifest: plan.manifest.clone(),
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    fn phase(evaluated: u64, cached: u64) -> PhaseResult {
        let latency = CallSamples {
            calls: 2,
            cache_reported_calls: 2,
            prompt_evaluated_tokens: evaluated,
            prompt_cached_tokens: cached,
            ..Default::default()
        };
        PhaseResult {
            ok: true,
            secs: 1.0,
            tokens: 10,
            decode_tok_s: None,
            ttft_ms: None,
            error: None,
            failed_stage: None,
            report: None,
            latency: Some(latency),
            session: None,
        }
    }

    #[test]
    fn cache_by_phase_pools_and_warns_only_on_a_large_rise() {
        let solo = phase_cache([phase(900, 100), phase(1000, 0)].iter()).unwrap();
        assert_eq!((solo.calls, solo.prompt_evaluated_tokens, solo.prompt_cached_tokens), (4, 1900, 100));
        assert_eq!(solo.cached_share, Some(0.05));
        let warm = phase_cache([phase(100, 900), phase(200, 800)].iter()).unwrap();
        assert_eq!(warm.cached_share, Some(0.85));
        let w = cache_warning(&solo, &warm).expect("85 % against 5 %: warned");
        assert!(w.contains("85.0 %") && w.contains("5.0 %") && w.contains("inflated"), "{w}");
        // 19 points more is not warned; 20 is.
        let near = phase_cache([phase(76, 24)].iter()).unwrap();
        assert_eq!(cache_warning(&solo, &near), None);
        let at = phase_cache([phase(75, 25)].iter()).unwrap();
        assert!(cache_warning(&solo, &at).is_some());
        // No server reported its cache: nothing to say.
        let mut silent = phase(0, 0);
        silent.latency.as_mut().unwrap().cache_reported_calls = 0;
        assert_eq!(phase_cache([silent].iter()), None);
    }
}
