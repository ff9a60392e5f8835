//! `chimera sweep --arrival LIST | --concurrency LIST`: the flags of a sweep's load axis (levels,
//! SLO, sessions per run, warm-ups) validated into a [`SweepLoad`].

use chimera_core::records::traffic::{LoadModel, SweepLoad};
use chimera_core::traffic::arrivals::Arrival;
use chimera_core::traffic::slo::Slo;

use crate::cmd::capacity::{quantile, slo, stop_rule};

/// Load-axis flags (need `--agent-data`: each session is one agent workflow).
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Load axis (--arrival / --concurrency, with --agent-data)")]
pub struct SweepLoadArgs {
    /// Measure every point at each of these arrival processes (open loop), comma-separated:
    /// constant:1/s,constant:2/s, poisson:2/s[:SEED], ramp:1/s..4/s or trace:FILE. Each
    /// measured run is one load run of the point's agent sessions (see --sessions); the point
    /// records goodput, throughput, SLO pass rate and session TTFT p95.
    #[arg(long = "arrival", value_name = "SPEC,...")]
    pub arrivals: Option<String>,
    /// Measure every point at each of these concurrencies (closed loop: N sessions at once,
    /// each worker starting its next when the last ends), comma-separated, e.g. 1,2,4.
    #[arg(long = "concurrency", value_name = "N,...")]
    pub concurrencies: Option<String>,
    /// Objectives every session must meet, e.g. ttft_ms<=800,session_s<=60; with it the
    /// points are ranked by goodput (passing sessions/min).
    #[arg(long, value_name = "OBJECTIVES", value_parser = slo)]
    pub slo: Option<Slo>,
    /// Share of sessions (percent) that must pass for a point to meet the SLO.
    #[arg(long, value_name = "PERCENT", default_value = "95", value_parser = quantile)]
    pub slo_quantile: f64,
    /// Measured sessions per run (default 10).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "duration")]
    pub sessions: Option<u32>,
    /// Or run each load run for this many seconds (sessions planned to start before it).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Sessions run first in each load run and left out of every figure.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub warmup_sessions: u32,
}

/// Sessions per run when neither `--sessions` nor `--duration` is given.
pub const DEFAULT_SESSIONS: u32 = 10;

impl SweepLoadArgs {
    /// The levels, arrival processes first, then concurrencies.
    fn levels(&self) -> anyhow::Result<Vec<LoadModel>> {
        let mut levels = Vec::new();
        for spec in self.arrivals.iter().flat_map(|l| l.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
            let arrival: Arrival = spec.parse().map_err(|e| anyhow::anyhow!("--arrival: {e}"))?;
            levels.push(LoadModel::Open { arrival });
        }
        for n in self.concurrencies.iter().flat_map(|l| l.split(',')).map(str::trim).filter(|s| !s.is_empty())
        {
            match n.parse::<u32>() {
                Ok(c) if c >= 1 => levels.push(LoadModel::Closed { concurrency: c }),
                _ => anyhow::bail!(
                    "--concurrency: '{n}' is not a number of sessions at once; write a list like 1,2,4"
                ),
            }
        }
        let mut seen = Vec::new();
        for l in &levels {
            let c = l.coordinate();
            if seen.contains(&c) {
                anyhow::bail!("the load level {c} is given twice; give each level once");
            }
            seen.push(c);
        }
        Ok(levels)
    }

    /// The load axis, when `--arrival` or `--concurrency` was given; `agent` and `scenario`
    /// say whether `--agent-data` and `--scenario` were.
    pub fn workload(&self, agent: bool, scenario: bool) -> anyhow::Result<Option<SweepLoad>> {
        let given = self.arrivals.is_some() || self.concurrencies.is_some();
        if !given {
            if self.slo.is_some() || self.sessions.is_some() || self.duration.is_some() {
                anyhow::bail!(
                    "--slo, --sessions and --duration describe a load axis: add --arrival LIST (open loop) or --concurrency LIST (closed loop), with --agent-data DIR"
                );
            }
            return Ok(None);
        }
        if scenario {
            anyhow::bail!(
                "--arrival/--concurrency and --scenario are two workloads: a load sweep runs one agent's sessions at each point; drop one of them"
            );
        }
        if !agent {
            anyhow::bail!(
                "--arrival/--concurrency need --agent-data DIR: each session of a load run is one agent workflow over that folder"
            );
        }
        let levels = self.levels()?;
        if levels.is_empty() {
            anyhow::bail!("--arrival/--concurrency: give at least one level, e.g. --concurrency 1,2,4");
        }
        let stop = stop_rule(self.sessions, self.duration, DEFAULT_SESSIONS)?;
        Ok(Some(SweepLoad {
            levels,
            stop,
            warmup_sessions: self.warmup_sessions,
            slo: self.slo.clone().unwrap_or_default(),
            quantile: self.slo_quantile,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chimera_core::traffic::arrivals::Stop;

    #[test]
    fn levels_in_order_and_bad_lists_named() {
        let a = SweepLoadArgs {
            arrivals: Some("constant:1/s, poisson:2/s:7".into()),
            concurrencies: Some("1,4".into()),
            slo_quantile: 0.95,
            ..Default::default()
        };
        let w = a.workload(true, false).unwrap().unwrap();
        let c: Vec<String> = w.levels.iter().map(LoadModel::coordinate).collect();
        assert_eq!(c, ["arrival=constant:1/s", "arrival=poisson:2/s:7", "concurrency=1", "concurrency=4"]);
        assert_eq!(w.stop, Stop::Sessions(DEFAULT_SESSIONS));
        assert!(a.workload(false, false).unwrap_err().to_string().contains("--agent-data"));
        assert!(a.workload(true, true).unwrap_err().to_string().contains("--scenario"));
        let bad = SweepLoadArgs { concurrencies: Some("1,0".into()), ..Default::default() };
        assert!(bad.workload(true, false).unwrap_err().to_string().contains("'0'"));
        let twice = SweepLoadArgs { concurrencies: Some("2,2".into()), ..Default::default() };
        assert!(twice.workload(true, false).unwrap_err().to_string().contains("twice"));
        let typo = SweepLoadArgs { arrivals: Some("uniform:2/s".into()), ..Default::default() };
        assert!(typo.workload(true, false).unwrap_err().to_string().contains("--arrival"));
        let stray = SweepLoadArgs { sessions: Some(3), ..Default::default() };
        assert!(stray.workload(true, false).unwrap_err().to_string().contains("--concurrency LIST"));
        assert!(SweepLoadArgs::default().workload(false, false).unwrap().is_none());
    }
}
