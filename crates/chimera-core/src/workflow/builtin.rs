//! The built-in workflows (`analyst`, the default; `analyst-chat`; `tool-loop`; `handoff`),
//! kept as TOML files under `crates/chimera-core/workflows/`, and the lookup of a
//! `--workflow NAME|FILE` value.

use std::path::Path;

use super::{Workflow, WorkflowError, parse_workflow};

/// The workflow every command runs unless told otherwise: the seed's two calls.
pub const DEFAULT_WORKFLOW: &str = "analyst";

/// Names of the built-ins, with their TOML text.
pub const BUILTINS: [(&str, &str); 4] = [
    ("analyst", include_str!("../../workflows/analyst.toml")),
    ("analyst-chat", include_str!("../../workflows/analyst-chat.toml")),
    ("tool-loop", include_str!("../../workflows/tool-loop.toml")),
    ("handoff", include_str!("../../workflows/handoff.toml")),
];

/// A built-in workflow by name.
pub fn builtin(name: &str) -> Option<Workflow> {
    let (_, text) = BUILTINS.iter().find(|(n, _)| *n == name)?;
    let origin = format!("built-in workflow '{name}'");
    // The built-ins are checked by this module's tests.
    Some(parse_workflow(text, &origin, Path::new("."), name).expect("built-in workflows are valid"))
}

/// The default workflow (`analyst`).
pub fn default_workflow() -> Workflow {
    builtin(DEFAULT_WORKFLOW).expect("the default workflow is built in")
}

/// A built-in by name, else a TOML file (persona files relative to it).
pub fn resolve(name_or_path: &str) -> Result<Workflow, WorkflowError> {
    if let Some(w) = builtin(name_or_path) {
        return Ok(w);
    }
    let path = Path::new(name_or_path);
    if !path.exists() && !name_or_path.ends_with(".toml") && !name_or_path.contains('/') {
        return Err(WorkflowError::Unknown(name_or_path.to_string()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|source| WorkflowError::Read { path: path.to_path_buf(), source })?;
    let stem = path.file_stem().map_or_else(|| "workflow".into(), |s| s.to_string_lossy().into_owned());
    parse_workflow(&text, &path.display().to_string(), path.parent().unwrap_or(Path::new(".")), &stem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{Conversation, SeedPrompt, StepPrompt};

    #[test]
    fn builtins_parse_and_analyst_is_the_seed() {
        for (name, _) in BUILTINS {
            assert_eq!(builtin(name).unwrap().name, name);
        }
        let a = builtin("analyst").unwrap();
        let prompts: Vec<_> = a.steps.iter().map(|s| s.prompt.clone()).collect();
        assert_eq!(
            prompts,
            vec![StepPrompt::Seed(SeedPrompt::Analysis), StepPrompt::Seed(SeedPrompt::Report)]
        );
        assert!(a.steps.iter().all(|s| s.persona.is_none() && s.options.is_default() && s.think.is_none()));
        assert_eq!(builtin("analyst-chat").unwrap().steps[1].conversation, Conversation::Continue);
        assert_eq!(builtin("tool-loop").unwrap().steps[1].turns, 3);
    }

    #[test]
    fn unknown_names_and_missing_files_say_what_to_do() {
        assert!(
            resolve("analysts")
                .unwrap_err()
                .to_string()
                .contains("analyst, analyst-chat, tool-loop or handoff")
        );
        assert!(
            resolve("/nonexistent/w.toml").unwrap_err().to_string().starts_with("cannot read workflow file")
        );
    }
}
