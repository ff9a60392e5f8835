//! `chimera sweep --scenario`: the flags of a multi-agent sweep (scenario, agent count,
//! personas, solo phase, agent B's options in chimera_hetero) validated into a
//! [`ScenarioWorkload`].

use std::path::Path;

use anyhow::Context;
use chimera_core::multi::Scenario;
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_core::sweep::ScenarioWorkload;

use crate::args::Chimera2Args;

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    s.parse::<Scenario>().map_err(|_| {
        format!("unknown scenario '{s}'; use chimera_homo, chimera_hetero or baseline_vs_chimera")
    })
}

/// Multi-agent sweep flags (all need `--scenario`).
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Multi-agent sweep (--scenario)")]
pub struct ScenarioArgs {
    /// Run a multi-agent scenario at every point instead of one call: chimera_homo,
    /// chimera_hetero or baseline_vs_chimera (`-` or `_`), over the artifacts of --agent-data.
    /// Each run = a solo phase (each agent alone) then all agents at once; ranked by aggregate
    /// throughput (Σ tokens ÷ concurrent wall) and mean TTFT across agents. The grid's options
    /// go to the tuned agents: all of chimera_homo, agent A of chimera_hetero (agent B keeps
    /// --chimera2 options), the Chimera agent of baseline_vs_chimera (the Baseline agent keeps the
    /// fixed options, i.e. server defaults plus single-valued flags such as --num-predict).
    #[arg(long, value_name = "NAME", value_parser = parse_scenario, requires = "agent_data")]
    pub scenario: Option<Scenario>,
    /// Number of agents (chimera_homo: 1–26; the other scenarios have exactly 2).
    #[arg(long = "agents", value_name = "N", default_value_t = 2, requires = "scenario")]
    pub n_agents: usize,
    /// Skip the solo phase (no true speedup or efficiency; only the concurrent phase runs).
    #[arg(long, requires = "scenario")]
    pub no_solo: bool,
    /// A second server (e.g. http://127.0.0.1:11435): agent B (and every second agent of
    /// chimera_homo) talks to it, agent A (every first) to --url; like `chimera multi --url2`.
    #[arg(long, value_name = "URL", requires = "scenario")]
    pub url2: Option<String>,
    /// Flag contention when an agent's slowdown (concurrent ÷ solo) exceeds this.
    #[arg(long, default_value_t = 1.25, requires = "scenario")]
    pub contention_threshold: f64,
    #[command(flatten)]
    pub chimera2: Chimera2Args,
}

impl ScenarioArgs {
    /// The workload, when `--scenario` was given. `persona` / `persona_file` are
    /// `--agent-persona` (one name for all agents, or a comma list, one per agent) and
    /// `--agent-persona-file` (one file for all agents).
    pub fn workload(
        &self,
        data: Option<&Path>,
        persona: Option<&str>,
        persona_file: Option<&Path>,
        fixed: &GenOptions,
        out: &Path,
    ) -> anyhow::Result<Option<ScenarioWorkload>> {
        let Some(scenario) = self.scenario else { return Ok(None) };
        let data = data.context("--scenario needs --agent-data DIR (the artifacts the agents analyse)")?;
        if !data.is_dir() {
            anyhow::bail!("--agent-data {}: no such folder", data.display());
        }
        crate::cmd::agent::check_has_artifacts(&[data.to_path_buf()], &Default::default())?;
        let n = self.n_agents;
        let personas = match (persona_file, persona) {
            (Some(f), _) => vec![Persona::from_file(f)?; n],
            (None, Some(list)) => {
                let ps = list
                    .split(',')
                    .map(|k| Persona::builtin(k).context("--agent-persona"))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                match ps.len() {
                    1 => vec![ps[0].clone(); n],
                    k if k == n => ps,
                    k => anyhow::bail!(
                        "--agent-persona: {k} personas for {n} agents; give one for all or one per agent"
                    ),
                }
            }
            (None, None) => ScenarioWorkload::default_personas(scenario, n),
        };
        let second = self.chimera2.options();
        if scenario != Scenario::ChimeraHetero && !second.is_default() {
            anyhow::bail!(
                "--chimera2 (--chimera2-*) options set agent B of chimera_hetero; {scenario} does not use them"
            );
        }
        let w = ScenarioWorkload {
            scenario,
            n_agents: n,
            personas,
            // Set from --workflow by the caller.
            workflow: chimera_core::workflow::default_workflow(),
            fixed: fixed.clone(),
            second,
            data_dirs: vec![data.to_path_buf()],
            out_dir: out.to_path_buf(),
            solo: !self.no_solo,
            contention_threshold: self.contention_threshold,
        };
        w.check()?;
        Ok(Some(w))
    }
}
