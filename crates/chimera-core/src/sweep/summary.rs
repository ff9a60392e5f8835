//! The sweep summary (`summary.json`): the finished points ranked, the formulas, and the
//! multi-agent scenario when there is one; its Markdown is [`crate::export::Markdown`]'s.

use crate::export::{ExportError, Exporter, Markdown};
use crate::records::sweep::PointResult;
use crate::records::traffic::SweepLoad;

use super::config::{ScenarioWorkload, SweepConfig};
use super::grid::Grid;
use super::rank::{COMPOSITE_MD, NOISE_MD, rank};

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
            load: None,
        }
    }

    /// Mark the summary as a sweep with the load axis `load`.
    pub fn with_load(mut self, load: SweepLoad) -> Self {
        self.load = Some(load);
        self
    }

    /// Mark the summary as a multi-agent sweep of `work`.
    pub fn with_scenario(mut self, work: ScenarioWorkload) -> Self {
        self.scenario = Some(work);
        self
    }

    /// The Markdown summary (without plots; see [`crate::export::Markdown`]).
    pub fn to_markdown(&self) -> Result<String, ExportError> {
        Markdown::default().serialize(self).map(|b| String::from_utf8_lossy(&b).into_owned())
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
            latency: None,
            sessions: Vec::new(),
        }
    }

    #[test]
    fn multi_agent_markdown_names_the_scenario_and_shows_efficiency() {
        let grid = Grid::from_lists(&[("num_ctx".into(), parse_values("256,512"))]).unwrap();
        let work = ScenarioWorkload {
            workflow: crate::workflow::default_workflow(),
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
        let md = SweepSummary::new(cfg, grid, points).with_scenario(work).to_markdown().unwrap();
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
