//! What a sweep runs at each point, as recorded in its `summary.json`: the sweep's
//! configuration ([`SweepConfig`]), the agent workload of `--agent-data`
//! ([`AgentWorkload`]) and the multi-agent scenario of `--scenario` ([`ScenarioWorkload`], with
//! which agents the grid tunes).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::SweepError;
use crate::multi::spec::Scenario;
use crate::options::GenOptions;
use crate::persona::Persona;
use crate::workflow::Workflow;

/// When to make an unmeasured warm-up call before a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Warmup {
    /// When a load-time option changes (and before the first point).
    #[default]
    OnLoadChange,
    /// Before every point.
    Always,
    /// Never (cold loads land in the first measured run).
    Never,
}

/// What to run at each point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    pub model: String,
    pub system: Option<String>,
    pub prompt: String,
    /// Measured runs per point.
    pub runs: usize,
    pub warmup: Warmup,
    /// Seed of the shuffled point order (None = grid order).
    pub shuffle_seed: Option<u64>,
    /// Run a whole agent workflow per measured run instead of one call (see
    /// [`super::run::run_sweep_agents`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentWorkload>,
}

/// A sweep whose unit of work is one agent workflow (ingest → analysis call → report call →
/// grounding → report) over `data_dirs`, with the point's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentWorkload {
    pub persona: Persona,
    /// The steps each run executes (not written to the sweep's files; `--workflow` gives it).
    #[serde(skip, default = "crate::workflow::default_workflow")]
    pub workflow: Workflow,
    pub data_dirs: Vec<PathBuf>,
    /// Each run's report goes to `out_dir/agents/<point label>/run_<n>/` (see
    /// [`super::run::point_dir`]).
    pub out_dir: PathBuf,
}

/// Most agents `--agents` accepts for `chimera_homo`.
pub const MAX_AGENTS: usize = 26;

/// A multi-agent scenario run at every point of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioWorkload {
    pub scenario: Scenario,
    /// Number of agents (2 for `chimera_hetero` and `baseline_vs_chimera`; 1..=26 for `chimera_homo`).
    pub n_agents: usize,
    /// One persona per agent.
    pub personas: Vec<Persona>,
    /// Every agent's workflow (not written to the sweep's files; `--workflow` gives it).
    #[serde(skip, default = "crate::workflow::default_workflow")]
    pub workflow: Workflow,
    /// The grid's fixed options: what the untuned agent (the baseline of
    /// `baseline_vs_chimera`) uses at every point, and what every agent has underneath.
    pub fixed: GenOptions,
    /// Options of agent B in `chimera_hetero` (fixed across points, over `fixed`).
    pub second: GenOptions,
    pub data_dirs: Vec<PathBuf>,
    /// Each point's runs go to `out_dir/agents/<point>/run_N/` (agent reports, solo/,
    /// metrics.json, combined_report.md) with the point's `summary.json|md` beside them.
    pub out_dir: PathBuf,
    /// Run the solo phase (needed for true speedup and efficiency).
    pub solo: bool,
    /// Slowdown (concurrent ÷ solo) above which an agent is flagged as contended.
    pub contention_threshold: f64,
}

/// One agent of the scenario at a point.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAgent {
    pub label: String,
    pub persona: Persona,
    pub options: GenOptions,
    /// The sweep's options apply to this agent.
    pub tuned: bool,
}

impl ScenarioWorkload {
    /// The scenario's default personas for `n` agents (collector, insight, collector, …).
    pub fn default_personas(scenario: Scenario, n: usize) -> Vec<Persona> {
        let none = GenOptions::default();
        let defs = scenario.agents(&none, &none, &none, [None, None]);
        (0..n)
            .map(|i| match defs.get(i).map(|d| d.persona.as_str()) {
                Some("insight") => Persona::insight(),
                Some(_) => Persona::collector(),
                None if i % 2 == 1 => Persona::insight(),
                None => Persona::collector(),
            })
            .collect()
    }

    /// Check the agent count and personas (one for all agents, or one per agent).
    pub fn check(&self) -> Result<(), SweepError> {
        let n = self.n_agents;
        match self.scenario {
            Scenario::ChimeraHomo if (1..=MAX_AGENTS).contains(&n) => {}
            Scenario::ChimeraHomo => {
                return Err(SweepError::Grid(format!(
                    "--agents {n}: chimera_homo runs 1 to {MAX_AGENTS} agents"
                )));
            }
            s if n != 2 => {
                return Err(SweepError::Grid(format!(
                    "--agents {n}: {s} has exactly 2 agents; use chimera_homo for another number"
                )));
            }
            _ => {}
        }
        if self.personas.len() != n {
            return Err(SweepError::Grid(format!(
                "{} persona(s) for {n} agents: give one persona for all agents or one per agent",
                self.personas.len()
            )));
        }
        if !(self.contention_threshold.is_finite() && self.contention_threshold > 0.0) {
            return Err(SweepError::Grid("--contention-threshold must be a positive number".into()));
        }
        Ok(())
    }

    /// The agents at a point whose full options are `point` (fixed options merged with the
    /// coordinates): tuned agents get `point`, the baseline agent `fixed`, agent B of
    /// `chimera_hetero` `fixed` + `second`.
    pub fn agents(&self, point: &GenOptions) -> Vec<PlannedAgent> {
        let defs = self.scenario.agents(&self.fixed, point, &self.second, [None, None]);
        (0..self.n_agents)
            .map(|i| {
                let (label, options, tuned) = match (self.scenario, defs.get(i)) {
                    (Scenario::ChimeraHomo, _) => (homo_label(i), point.clone(), true),
                    (Scenario::BaselineVsChimera, Some(d)) => (d.label.clone(), d.options.clone(), i == 1),
                    (Scenario::ChimeraHetero, Some(d)) => (d.label.clone(), d.options.clone(), i == 0),
                    (_, None) => (homo_label(i), point.clone(), true),
                };
                let persona = self.personas.get(i).cloned().unwrap_or_else(Persona::collector);
                PlannedAgent { label, persona, options, tuned }
            })
            .collect()
    }

    /// One line on which agents the grid tunes (for summaries and help).
    pub fn tuning_note(&self) -> String {
        match self.scenario {
            Scenario::ChimeraHomo if self.n_agents == 1 => "the agent gets each point's options".into(),
            Scenario::ChimeraHomo if self.n_agents == 2 => "both agents get each point's options".into(),
            Scenario::ChimeraHomo => format!("all {} agents get each point's options", self.n_agents),
            Scenario::ChimeraHetero => format!(
                "agent A gets each point's options; agent B keeps its own ({})",
                self.fixed.merged(&self.second).describe()
            ),
            Scenario::BaselineVsChimera => format!(
                "the Chimera agent gets each point's options; the Baseline agent keeps the fixed options ({}) at every point",
                self.fixed.describe()
            ),
        }
    }
}

/// "Chimera Agent A", "Chimera Agent B", …
fn homo_label(i: usize) -> String {
    let letter = char::from(b'A' + (i % MAX_AGENTS) as u8);
    format!("Chimera Agent {letter}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A workload for tests: fixed num_predict 16, agent B's num_ctx 4096.
    pub(crate) fn work(scenario: Scenario, n: usize) -> ScenarioWorkload {
        ScenarioWorkload {
            workflow: crate::workflow::default_workflow(),
            scenario,
            n_agents: n,
            personas: ScenarioWorkload::default_personas(scenario, n),
            fixed: GenOptions { num_predict: Some(16), ..Default::default() },
            second: GenOptions { num_ctx: Some(4096), ..Default::default() },
            data_dirs: vec![],
            out_dir: PathBuf::from("out"),
            solo: true,
            contention_threshold: 1.25,
        }
    }

    #[test]
    fn grid_options_reach_only_the_tuned_agents() {
        let point = GenOptions { num_predict: Some(16), num_ctx: Some(512), ..Default::default() };
        let b = work(Scenario::BaselineVsChimera, 2).agents(&point);
        assert_eq!(
            (b[0].label.as_str(), b[0].tuned, b[0].options.num_ctx),
            ("Baseline Collector", false, None)
        );
        assert_eq!(b[0].options.num_predict, Some(16), "the fixed options reach the baseline agent");
        assert_eq!((b[1].tuned, b[1].options.num_ctx), (true, Some(512)));
        let h = work(Scenario::ChimeraHetero, 2).agents(&point);
        assert_eq!((h[0].options.num_ctx, h[1].options.num_ctx), (Some(512), Some(4096)));
        assert_eq!(h[1].options.num_predict, Some(16));
        let m = work(Scenario::ChimeraHomo, 3).agents(&point);
        let labels: Vec<&str> = m.iter().map(|a| a.label.as_str()).collect();
        assert_eq!(labels, ["Chimera Agent A", "Chimera Agent B", "Chimera Agent C"]);
        assert!(m.iter().all(|a| a.tuned && a.options == point));
        let keys: Vec<&str> = m.iter().map(|a| a.persona.key.as_str()).collect();
        assert_eq!(keys, ["collector", "insight", "collector"]);
    }

    #[test]
    fn agent_counts_and_personas_are_checked() {
        assert!(work(Scenario::ChimeraHomo, 4).check().is_ok());
        let e = work(Scenario::ChimeraHetero, 3);
        assert!(e.check().unwrap_err().to_string().contains("exactly 2"));
        assert!(work(Scenario::ChimeraHomo, 0).check().is_err());
        let mut w = work(Scenario::ChimeraHomo, 2);
        w.personas.pop();
        assert!(w.check().unwrap_err().to_string().contains("persona"));
    }
}
