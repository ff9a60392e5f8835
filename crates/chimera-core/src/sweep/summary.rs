//! The sweep summary: `summary.json` (points, ranking, best) and `summary.md` (tables in the
//! order a reader asks: best configuration, ranking, Pareto front, every point).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::fmt_mean_sd;

use super::grid::Grid;
use super::rank::{COMPOSITE_MD, Margin, NOISE_MD, Ranking, rank};
use super::run::SweepConfig;
use super::store::PointResult;

/// Schema tag of `summary.json`, so `compare` knows what it reads.
pub const KIND: &str = "chimera.sweep";

/// Everything a sweep produced, as written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub kind: String,
    pub config: SweepConfig,
    pub grid: Grid,
    /// Points in the order they finished.
    pub points: Vec<PointResult>,
    pub ranking: Ranking,
    pub composite_formula: String,
    pub noise_rule: String,
}

impl SweepSummary {
    /// Rank `points` and bundle them.
    pub fn new(config: SweepConfig, grid: Grid, points: Vec<PointResult>) -> Self {
        let ranking = rank(&points);
        SweepSummary {
            kind: KIND.into(),
            config,
            grid,
            points,
            ranking,
            composite_formula: COMPOSITE_MD.into(),
            noise_rule: NOISE_MD.into(),
        }
    }

    /// The Markdown summary.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let p = &self.points;
        let r = &self.ranking;
        let _ = writeln!(s, "# Sweep summary\n");
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
            match &self.config.agent {
                None => "one generation call with a fixed prompt".to_string(),
                Some(a) => format!(
                    "one `{}` agent workflow over {} (analysis + report calls; throughput = Σ eval_count / Σ eval_duration, TTFT = mean of the calls)",
                    a.persona.key,
                    a.data_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                ),
            },
            self.config.runs,
            match self.config.warmup {
                super::run::Warmup::OnLoadChange =>
                    "before the first point and whenever a load-time option changes",
                super::run::Warmup::Always => "before every point",
                super::run::Warmup::Never => "none",
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
                let _ = writeln!(s, "{}\n", m("TTFT", &b.ttft_vs_baseline));
            }
        }
        let _ = writeln!(s, "Composite: {COMPOSITE_MD}. Noise: {NOISE_MD}.\n");

        let tput = |i: usize| p[i].throughput_tok_s.as_ref().map_or("–".into(), |x| fmt_mean_sd(x, 2));
        let ttft = |i: usize| p[i].ttft_ms.as_ref().map_or("–".into(), |x| fmt_mean_sd(x, 1));
        let front = |i: usize| if r.pareto.contains(&i) { "★" } else { "" };
        let _ = writeln!(s, "## Ranking by composite\n");
        let _ = writeln!(s, "| # | Configuration | Composite | Throughput (tok/s) | TTFT (ms) | Pareto |");
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
        let _ = writeln!(s, "| # | Configuration | Throughput (tok/s) | n |");
        let _ = writeln!(s, "|---|---|---|---|");
        for (k, i) in r.by_throughput.iter().enumerate() {
            let n = p[*i].throughput_tok_s.as_ref().map_or(0, |x| x.n);
            let _ = writeln!(s, "| {} | {} | {} | {n} |", k + 1, p[*i].label, tput(*i));
        }
        let _ = writeln!(s, "\n## Ranking by TTFT\n");
        let _ = writeln!(s, "| # | Configuration | TTFT (ms) | p95 (ms) |");
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
            "| Order | Configuration | Runs ok | Failed | Warm-up (ms) | Throughput (tok/s) | TTFT (ms) | E2E (ms) |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        let mut by_order: Vec<usize> = (0..p.len()).collect();
        by_order.sort_by_key(|&i| p[i].order);
        for i in by_order {
            let x = &p[i];
            let e2e = x.e2e_ms.as_ref().map_or("–".into(), |v| fmt_mean_sd(v, 1));
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
        let _ = writeln!(s, "\n## Metric formulas\n\n{}", crate::metrics::FORMULAS_MD);
        s
    }
}
