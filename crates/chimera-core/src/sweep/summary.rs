//! The sweep summary: `summary.json` (points, ranking, best) and `summary.md` (tables in the
//! order a reader asks: best configuration, ranking, Pareto front, every point).

use std::fmt::Write as _;

use crate::records::sweep::{Margin, PointResult};
use crate::stats::{fmt_mean_sd, fmt_opt_mean_sd};

use super::config::{ScenarioWorkload, SweepConfig};
use super::grid::Grid;
use super::rank::{COMPOSITE_MD, NOISE_MD, rank};
use super::scenario::{AGGREGATE_MD, SPEEDUP_MD};

/// Efficiency above this (speedup > 1.1 × N) cannot come from overlap alone: it is flagged.
pub const EFFICIENCY_SUSPECT: f64 = 1.1;

pub use crate::records::sweep::SweepSummary;

impl SweepSummary {
    /// Rank `points` and bundle them.
    pub fn new(config: SweepConfig, grid: Grid, points: Vec<PointResult>) -> Self {
        let ranking = rank(&points);
        SweepSummary {
            config,
            grid,
            points,
            ranking,
            composite_formula: COMPOSITE_MD.into(),
            noise_rule: NOISE_MD.into(),
            scenario: None,
        }
    }

    /// Mark the summary as a multi-agent sweep of `work`.
    pub fn with_scenario(mut self, work: ScenarioWorkload) -> Self {
        self.scenario = Some(work);
        self
    }

    /// The Markdown summary.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let p = &self.points;
        let r = &self.ranking;
        match &self.scenario {
            None => {
                let _ = writeln!(s, "# Sweep summary\n");
            }
            Some(w) => {
                let _ = writeln!(s, "# Sweep summary — multi-agent sweep of `{}`\n", w.scenario);
            }
        }
        let axes: Vec<String> = self
            .grid
            .axes
            .iter()
            .map(|a| {
                format!(
                    "{} ∈ {{{}}}",
                    a.name,
                    a.values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let _ = writeln!(s, "- **Model:** {}", self.config.model);
        let _ =
            writeln!(s, "- **Grid:** {}", if axes.is_empty() { "(none)".into() } else { axes.join(" × ") });
        let _ = writeln!(
            s,
            "- **Fixed options (every point, baseline included):** {}",
            self.grid.fixed.describe()
        );
        let _ = writeln!(
            s,
            "- **Workload per run:** {}; {} measured run(s) per point; warm-up: {}; order: {}",
            match (&self.scenario, &self.config.agent) {
                (Some(w), _) => format!(
                    "the `{}` scenario with {} agents ({}) over {}: {}, then all agents at once; {}. Throughput = aggregate throughput, TTFT = mean across agents ({AGGREGATE_MD})",
                    w.scenario,
                    w.n_agents,
                    w.personas.iter().map(|p| p.key.as_str()).collect::<Vec<_>>().join(", "),
                    w.data_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
                    if w.solo { "each agent alone (solo phase)" } else { "no solo phase (--no-solo)" },
                    w.tuning_note()
                ),
                (None, None) => "one generation call with a fixed prompt".to_string(),
                (None, Some(a)) => format!(
                    "one `{}` agent workflow over {} (analysis + report calls; throughput = Σ eval_count / Σ eval_duration, TTFT = mean of the calls)",
                    a.persona.key,
                    a.data_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                ),
            },
            self.config.runs,
            match self.config.warmup {
                super::config::Warmup::OnLoadChange =>
                    "before the first point and whenever a load-time option changes",
                super::config::Warmup::Always => "before every point",
                super::config::Warmup::Never => "none",
            },
            self.config.shuffle_seed.map_or("grid order".to_string(), |x| format!("shuffled (seed {x})"))
        );
        let failed: usize = p.iter().map(|x| x.failed()).sum();
        let _ = writeln!(s, "- **Points finished:** {} (failed calls: {failed})\n", p.len());

        let _ = writeln!(s, "## Best configuration\n");
        match &r.best {
            None => {
                let _ = writeln!(
                    s,
                    "No point produced both a throughput and a TTFT; see the failed runs in points.csv.\n"
                );
            }
            Some(b) if b.is_baseline => {
                let _ = writeln!(
                    s,
                    "**baseline (server defaults)** — no configuration of the grid beats the server defaults on the composite score ({:.3}).\n",
                    b.composite
                );
            }
            Some(b) => {
                let _ = writeln!(
                    s,
                    "**{}** (composite {:.3}; options: {})\n",
                    b.label,
                    b.composite,
                    p[b.index].options.describe()
                );
                let m = |name: &str, m: &Option<Margin>| match m {
                    None => format!("- {name} vs baseline: no baseline measurement"),
                    Some(m) => format!(
                        "- {name} vs baseline: {:+.1}% ± {:.1}% — {}",
                        m.delta_pct.value,
                        m.delta_pct.sd,
                        match m.exceeds_noise {
                            Some(true) => "exceeds the noise",
                            Some(false) => "within the noise",
                            None => "noise unknown (n < 2)",
                        }
                    ),
                };
                let _ = writeln!(s, "{}", m("Throughput", &b.throughput_vs_baseline));
                let _ = writeln!(s, "{}", m("TTFT", &b.ttft_vs_baseline));
                if let Some(x) = &p[b.index].multi {
                    let _ = writeln!(
                        s,
                        "- Multi-agent efficiency at this point: {} (true speedup {}×)",
                        x.efficiency
                            .as_ref()
                            .map_or("– (no solo phase or a failed agent)".into(), |e| fmt_mean_sd(e, 3)),
                        fmt_opt_mean_sd(x.speedup.as_ref(), 3)
                    );
                }
                let _ = writeln!(s);
            }
        }
        let _ = writeln!(s, "Composite: {COMPOSITE_MD}. Noise: {NOISE_MD}.\n");

        let tput = |i: usize| fmt_opt_mean_sd(p[i].throughput_tok_s.as_ref(), 2);
        let ttft = |i: usize| fmt_opt_mean_sd(p[i].ttft_ms.as_ref(), 1);
        let front = |i: usize| if r.pareto.contains(&i) { "★" } else { "" };
        let (tput_h, ttft_h, e2e_h) = if self.scenario.is_some() {
            ("Aggregate throughput (tok/s)", "Mean TTFT across agents (ms)", "Concurrent wall (ms)")
        } else {
            ("Throughput (tok/s)", "TTFT (ms)", "E2E (ms)")
        };
        let _ = writeln!(s, "## Ranking by composite\n");
        let _ = writeln!(s, "| # | Configuration | Composite | {tput_h} | {ttft_h} | Pareto |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for (k, (i, c)) in r.by_composite.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {} | {} | {} |",
                k + 1,
                p[*i].label,
                c,
                tput(*i),
                ttft(*i),
                front(*i)
            );
        }
        let _ = writeln!(s, "\n## Ranking by throughput\n");
        let _ = writeln!(s, "| # | Configuration | {tput_h} | n |");
        let _ = writeln!(s, "|---|---|---|---|");
        for (k, i) in r.by_throughput.iter().enumerate() {
            let n = p[*i].throughput_tok_s.as_ref().map_or(0, |x| x.n);
            let _ = writeln!(s, "| {} | {} | {} | {n} |", k + 1, p[*i].label, tput(*i));
        }
        let _ = writeln!(s, "\n## Ranking by TTFT\n");
        let _ = writeln!(s, "| # | Configuration | {ttft_h} | p95 (ms) |");
        let _ = writeln!(s, "|---|---|---|---|");
        for (k, i) in r.by_ttft.iter().enumerate() {
            let p95 = p[*i].ttft_ms.as_ref().map_or("–".into(), |x| format!("{:.1}", x.p95));
            let _ = writeln!(s, "| {} | {} | {} | {p95} |", k + 1, p[*i].label, ttft(*i));
        }
        let _ = writeln!(s, "\n## Pareto front (throughput ↑ vs TTFT ↓)\n");
        let _ = writeln!(
            s,
            "No other point is at least as fast to the first token *and* at least as high in throughput:\n"
        );
        for i in &r.pareto {
            let _ = writeln!(s, "- {} — {} tok/s, {} ms", p[*i].label, tput(*i), ttft(*i));
        }
        let _ = writeln!(s, "\n## Every point (run order)\n");
        let _ = writeln!(
            s,
            "| Order | Configuration | Runs ok | Failed | Warm-up (ms) | {tput_h} | {ttft_h} | {e2e_h} |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        let mut by_order: Vec<usize> = (0..p.len()).collect();
        by_order.sort_by_key(|&i| p[i].order);
        for i in by_order {
            let x = &p[i];
            let e2e = fmt_opt_mean_sd(x.e2e_ms.as_ref(), 1);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {e2e} |",
                x.order + 1,
                x.label,
                x.runs.len() - x.failed(),
                x.failed(),
                x.warmup_ms.map_or("–".into(), |v| format!("{v:.0}")),
                tput(i),
                ttft(i)
            );
        }
        if let Some(w) = &self.scenario {
            self.scaling_md(&mut s, w);
        }
        let _ = writeln!(s, "\n## Metric formulas\n\n{}", crate::metrics::FORMULAS_MD);
        s
    }

    /// Per-point multi-agent figures: efficiency, speedup, aggregate and summed decode rates,
    /// failures; then each run.
    fn scaling_md(&self, s: &mut String, w: &ScenarioWorkload) {
        let p = &self.points;
        let _ = writeln!(s, "\n## Multi-agent scaling per point (`{}`, {} agents)\n", w.scenario, w.n_agents);
        let note = w.tuning_note();
        let mut chars = note.chars();
        let note: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        let _ = writeln!(s, "{note}. {SPEEDUP_MD}. {AGGREGATE_MD}.\n");
        if !w.solo {
            let _ = writeln!(s, "The solo phase was skipped (--no-solo): no true speedup or efficiency.\n");
        }
        let _ = writeln!(
            s,
            "| Configuration | Efficiency | Speedup (true) × | Aggregate (tok/s) | Σ agents' decode (tok/s) | Mean TTFT (ms) | Runs with a failed agent |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        let f = |x: &Option<crate::stats::Summary>, d: usize| fmt_opt_mean_sd(x.as_ref(), d);
        let mut by_order: Vec<usize> = (0..p.len()).collect();
        by_order.sort_by_key(|&i| p[i].order);
        for &i in &by_order {
            let x = &p[i];
            let Some(m) = &x.multi else { continue };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} of {} |",
                x.label,
                f(&m.efficiency, 3),
                f(&m.speedup, 3),
                f(&x.throughput_tok_s, 2),
                f(&m.sum_decode_tok_s, 2),
                f(&x.ttft_ms, 1),
                m.failed_runs,
                m.runs.len()
            );
        }
        let over: Vec<&str> = by_order
            .iter()
            .filter_map(|&i| {
                let m = p[i].multi.as_ref()?;
                m.runs
                    .iter()
                    .any(|r| r.brief.efficiency.is_some_and(|e| e > EFFICIENCY_SUSPECT))
                    .then_some(p[i].label.as_str())
            })
            .collect();
        if !over.is_empty() {
            let _ = writeln!(
                s,
                "\n**Warning:** efficiency above {EFFICIENCY_SUSPECT} at {}: the agents ran slower alone than together, which a \
                 server cannot do by itself — load from outside the benchmark during the solo phase, or server-side caching. \
                 Treat these points as unreliable; repeat with more --runs on an idle machine.",
                over.join(", ")
            );
        }
        let _ = writeln!(s, "\n### Every run\n");
        let _ = writeln!(
            s,
            "| Configuration | Run | Status | Solo Σ (s) | Concurrent wall (s) | Speedup × | Efficiency | Aggregate (tok/s) | Original's formula × (not a speedup) | Failures |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
        let o = |v: Option<f64>, d: usize| v.map_or("–".into(), |v| format!("{v:.d$}"));
        for &i in &by_order {
            let Some(m) = &p[i].multi else { continue };
            for r in &m.runs {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:?} | {} | {} | {} | {} | {} | {} | {} |",
                    p[i].label,
                    r.brief.run,
                    r.brief.status,
                    o(r.brief.solo_sum_secs, 2),
                    o(r.brief.concurrent_wall_secs, 2),
                    o(r.brief.speedup, 3),
                    o(r.brief.efficiency, 3),
                    o(r.brief.aggregate_tok_s, 2),
                    o(r.brief.original_speedup, 3),
                    if r.brief.failures.is_empty() {
                        "–".to_string()
                    } else {
                        r.brief.failures.join("; ").replace('|', "/")
                    }
                );
            }
        }
        let _ = writeln!(
            s,
            "\nEach run's agent reports, `metrics.json` and `combined_report.md` are under `agents/<configuration>/run_N/`."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multi::Scenario;
    use crate::options::GenOptions;
    use crate::records::multi::{RunBrief, RunStatus};
    use crate::records::sweep::{MultiPoint, MultiRun};
    use crate::sweep::config::Warmup;
    use crate::sweep::grid::parse_values;

    fn run(eff: f64) -> MultiRun {
        MultiRun {
            brief: RunBrief {
                run: 1,
                status: RunStatus::Ok,
                concurrent_wall_secs: Some(10.0),
                solo_sum_secs: Some(20.0 * eff),
                speedup: Some(2.0 * eff),
                efficiency: Some(eff),
                aggregate_tok_s: Some(8.0),
                original_speedup: Some(1.9),
                contention: false,
                failures: vec![],
            },
            sum_decode_tok_s: Some(100.0),
            mean_ttft_ms: Some(50.0),
            agents: vec![],
        }
    }

    #[test]
    fn multi_agent_markdown_names_the_scenario_and_shows_efficiency() {
        let grid = Grid::from_lists(&[("num_ctx".into(), parse_values("256,512"))]).unwrap();
        let work = ScenarioWorkload {
            scenario: Scenario::ChimeraHomo,
            n_agents: 2,
            personas: ScenarioWorkload::default_personas(Scenario::ChimeraHomo, 2),
            fixed: GenOptions::default(),
            second: GenOptions::default(),
            data_dirs: vec!["data".into()],
            out_dir: "out".into(),
            solo: true,
            contention_threshold: 1.25,
        };
        let points: Vec<PointResult> = grid
            .points(false)
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let r = run(if i == 0 { 0.5 } else { 1.4 });
                let mut x = PointResult::new(p, i, None, vec![r.sample()]);
                x.multi =
                    Some(MultiPoint::new(Scenario::ChimeraHomo, &work.agents(&p.options), true, vec![r]));
                x
            })
            .collect();
        let cfg = SweepConfig {
            model: "m".into(),
            system: None,
            prompt: String::new(),
            runs: 1,
            warmup: Warmup::OnLoadChange,
            shuffle_seed: None,
            agent: None,
        };
        let md = SweepSummary::new(cfg, grid, points).with_scenario(work).to_markdown();
        assert!(md.starts_with("# Sweep summary — multi-agent sweep of `chimera_homo`"), "{md}");
        assert!(
            md.contains("the `chimera_homo` scenario with 2 agents (collector, insight) over data"),
            "{md}"
        );
        assert!(md.contains("| num_ctx=256 | 0.500 | 1.000 | 8.00 | 100.00 | 50.0 | 0 of 1 |"), "{md}");
        assert!(md.contains("| num_ctx=512 | 1.400 | 2.800 |"), "{md}");
        assert!(md.contains("efficiency above 1.1 at num_ctx=512:"), "{md}");
        assert!(md.contains("| Configuration | Composite | Aggregate throughput (tok/s) |"), "{md}");
        assert!(md.contains("- Multi-agent efficiency at this point: 0.500 (true speedup 1.000×)"), "{md}");
    }
}
