//! The demo's workflow stage: two agents at once over the demo's artifacts, one running the
//! `tool-loop` workflow (tool results in a growing conversation, think time), the other
//! `handoff` (DataCollector-9000's analysis handed to InsightAgent).

use std::path::PathBuf;

use chimera_core::multi::ScenarioName;
use chimera_core::multi::spec::AgentDef;
use chimera_core::options::GenOptions;
use chimera_core::outdir::OutDir;
use chimera_core::persona::Persona;
use chimera_core::workflow;

use crate::cmd::multi;

/// The stage as a `multi` run like `agents` (same data, backend, options as its first agent):
/// agents "Tool loop" and "Handoff", concurrent phase only, each call at most `num_predict`
/// tokens (each workflow makes 2–4 calls), into `out`.
pub fn config(agents: &multi::Config, num_predict: i64, out: PathBuf) -> anyhow::Result<multi::Config> {
    let first = &agents.agents[0].def;
    let options = first.options.merged(&GenOptions { num_predict: Some(num_predict), ..Default::default() });
    let agent = |label: &str, persona: &str, name: &str| -> anyhow::Result<multi::AgentPlan> {
        let def = AgentDef {
            label: label.into(),
            persona: persona.into(),
            persona_file: None,
            options: options.clone(),
            workflow: Some(name.into()),
            ..first.clone()
        };
        let workflow = workflow::builtin(name).expect("built in");
        Ok(multi::AgentPlan { persona: Persona::builtin(persona)?, def, workflow })
    };
    Ok(multi::Config {
        scenario: ScenarioName::AgentsFile("workflows".into()),
        agents: vec![agent("Tool loop", "collector", "tool-loop")?, agent("Handoff", "insight", "handoff")?],
        solo: false,
        out: OutDir::new(out),
        ..agents.clone()
    })
}
