//! Who runs in a multi-agent benchmark: the built-in scenarios (`baseline_vs_chimera`,
//! `chimera_hetero`, `chimera_homo`) and agents read from a TOML file, validated up front.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::options::GenOptions;

/// A built-in scenario. Names are accepted with `_` or `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// "Baseline Collector" (server defaults) + "Chimera Insight" (`--chimera` options).
    BaselineVsChimera,
    /// "Chimera Agent A" (`--chimera`) + "Chimera Agent B" (`--chimera2`).
    ChimeraHetero,
    /// "Chimera Agent A" + "Chimera Agent B", both with `--chimera`.
    ChimeraHomo,
}

impl Scenario {
    /// Every scenario, for help texts.
    pub const ALL: [Scenario; 3] =
        [Scenario::BaselineVsChimera, Scenario::ChimeraHetero, Scenario::ChimeraHomo];

    /// Canonical (underscore) name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::BaselineVsChimera => "baseline_vs_chimera",
            Scenario::ChimeraHetero => "chimera_hetero",
            Scenario::ChimeraHomo => "chimera_homo",
        }
    }

    /// The scenario's two agents. `urls` are the first and second agent's server (None = the
    /// command's `--url`); `chimera` / `chimera2` are the option sets of `--chimera NAME=VALUE`
    /// and `--chimera2 NAME=VALUE`; `common` (`--set NAME=VALUE`, e.g. `--num-predict 64`)
    /// applies to every agent underneath them.
    pub fn agents(
        self,
        common: &GenOptions,
        chimera: &GenOptions,
        chimera2: &GenOptions,
        urls: [Option<String>; 2],
    ) -> Vec<AgentDef> {
        let [url_a, url_b] = urls;
        let def = |label: &str, persona: &str, options: GenOptions, url: Option<String>| AgentDef {
            label: label.to_string(),
            persona: persona.to_string(),
            persona_file: None,
            backend: None,
            url,
            model: None,
            options,
            workflow: None,
        };
        match self {
            Scenario::BaselineVsChimera => vec![
                def("Baseline Collector", "collector", common.clone(), url_a),
                def("Chimera Insight", "insight", common.merged(chimera), url_b),
            ],
            Scenario::ChimeraHetero => vec![
                def("Chimera Agent A", "collector", common.merged(chimera), url_a),
                def("Chimera Agent B", "insight", common.merged(chimera2), url_b),
            ],
            Scenario::ChimeraHomo => vec![
                def("Chimera Agent A", "collector", common.merged(chimera), url_a),
                def("Chimera Agent B", "insight", common.merged(chimera), url_b),
            ],
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == norm)
            .ok_or_else(|| SpecError::UnknownScenario(s.to_string()))
    }
}

/// One agent of a multi-agent benchmark, as the user described it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDef {
    /// Shown in reports and progress; must be unique.
    pub label: String,
    /// Built-in persona name (`collector`, `insight`).
    #[serde(default = "default_persona")]
    pub persona: String,
    /// A persona text file instead of a built-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona_file: Option<PathBuf>,
    /// Backend kind; absent = the command's `--backend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
    /// Server URL; absent = the command's `--url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Model; absent = the command's `--model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Generation options (Ollama names); unset = server default.
    #[serde(default)]
    pub options: GenOptions,
    /// The agent's workflow: a built-in name or a TOML file (relative to the agents file);
    /// absent = the command's `--workflow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

fn default_persona() -> String {
    "collector".into()
}

/// Errors in a scenario name or agents file; messages say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(
        "unknown scenario '{0}'; use baseline_vs_chimera, chimera_hetero or chimera_homo (or --agents-file FILE)"
    )]
    UnknownScenario(String),
    #[error("cannot read agents file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "agents file {path} is not valid: {detail}. Expected [[agents]] tables with label, persona, backend, url, model, workflow and [agents.options]"
    )]
    Parse { path: PathBuf, detail: String },
    #[error("no agents defined; add at least one [[agents]] table")]
    Empty,
    #[error("two agents are labelled '{0}'; labels must be unique")]
    DuplicateLabel(String),
    #[error(
        "agents '{first}' and '{second}' would write their reports to the same folder `{folder}`; give them labels that differ in letters or digits"
    )]
    SameFolder { first: String, second: String, folder: String },
    #[error("an agent has an empty label; give every agent a label")]
    EmptyLabel,
    #[error("agent '{label}': {source}")]
    Option { label: String, source: crate::options::OptionError },
    #[error(
        "agent '{label}' takes a hand-off from '{from}', which is not an agent listed before it; hand-offs go from an agent to one listed after it (the solo phase runs them in order)"
    )]
    Handoff { label: String, from: String },
}

/// Every hand-off comes from an agent listed earlier: `agents` are (label, labels its workflow
/// takes hand-offs from), in order. (A later or unknown source would wait for ever.)
pub fn check_handoffs(agents: &[(&str, Vec<&str>)]) -> Result<(), SpecError> {
    for (i, (label, sources)) in agents.iter().enumerate() {
        for from in sources {
            if !agents[..i].iter().any(|(l, _)| l == from) {
                return Err(SpecError::Handoff { label: label.to_string(), from: from.to_string() });
            }
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsFile {
    agents: Vec<AgentDef>,
}

/// Parse a TOML agents file's text (`path` is only used in messages).
pub fn parse_agents_toml(text: &str, path: &Path) -> Result<Vec<AgentDef>, SpecError> {
    let f: AgentsFile = toml::from_str(text).map_err(|e| SpecError::Parse {
        path: path.to_path_buf(),
        detail: e.to_string().trim().to_string(),
    })?;
    validate_agents(&f.agents)?;
    Ok(f.agents)
}

/// Read and validate a TOML agents file.
pub fn load_agents_file(path: &Path) -> Result<Vec<AgentDef>, SpecError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| SpecError::Read { path: path.to_path_buf(), source })?;
    parse_agents_toml(&text, path)
}

/// At least one agent, unique non-empty labels, valid options.
pub fn validate_agents(agents: &[AgentDef]) -> Result<(), SpecError> {
    if agents.is_empty() {
        return Err(SpecError::Empty);
    }
    // Each agent's reports go to a folder named by `slug(label)`: two labels with one folder
    // ("Agent A", "agent-a") would overwrite each other's reports.
    let mut folders: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    for a in agents {
        if a.label.trim().is_empty() {
            return Err(SpecError::EmptyLabel);
        }
        let folder = slug(&a.label);
        if let Some(first) = folders.insert(folder.clone(), &a.label) {
            return Err(if first.trim().eq_ignore_ascii_case(a.label.trim()) {
                SpecError::DuplicateLabel(a.label.clone())
            } else {
                SpecError::SameFolder { first: first.to_string(), second: a.label.clone(), folder }
            });
        }
        a.options.validate().map_err(|source| SpecError::Option { label: a.label.clone(), source })?;
    }
    Ok(())
}

/// A folder name for a label: lowercase ASCII letters and digits, other runs → `-`.
pub fn slug(label: &str) -> String {
    let mut s = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "agent".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_accept_dash_and_underscore() {
        assert_eq!("chimera-hetero".parse::<Scenario>().unwrap(), Scenario::ChimeraHetero);
        assert_eq!("baseline_vs_chimera".parse::<Scenario>().unwrap(), Scenario::BaselineVsChimera);
        assert_eq!("Chimera_Homo".parse::<Scenario>().unwrap(), Scenario::ChimeraHomo);
        let e = "chimera".parse::<Scenario>().unwrap_err().to_string();
        assert!(e.contains("chimera_hetero"), "{e}");
    }

    #[test]
    fn scenarios_assign_option_sets() {
        let common = GenOptions { num_predict: Some(16), ..Default::default() };
        let c1 = GenOptions { num_gpu: Some(80), num_ctx: Some(512), ..Default::default() };
        let c2 = GenOptions { num_ctx: Some(1024), temperature: Some(0.6), ..Default::default() };
        let urls = [Some("http://a".to_string()), Some("http://b".to_string())];
        let b = Scenario::BaselineVsChimera.agents(&common, &c1, &c2, urls.clone());
        assert_eq!(b[0].label, "Baseline Collector");
        assert_eq!(b[0].options, common);
        assert_eq!(b[1].options.num_ctx, Some(512));
        assert_eq!(b[1].options.num_predict, Some(16));
        let h = Scenario::ChimeraHetero.agents(&common, &c1, &c2, urls.clone());
        assert_eq!((h[0].options.num_ctx, h[1].options.num_ctx), (Some(512), Some(1024)));
        assert_eq!((h[0].url.as_deref(), h[1].url.as_deref()), (Some("http://a"), Some("http://b")));
        assert_eq!((h[0].persona.as_str(), h[1].persona.as_str()), ("collector", "insight"));
        let m = Scenario::ChimeraHomo.agents(&common, &c1, &c2, urls);
        assert_eq!(m[0].options, m[1].options);
    }

    #[test]
    fn agents_file_parses_any_number_of_agents() {
        let text = r#"
            [[agents]]
            label = "A"
            persona = "collector"
            backend = "ollama"
            url = "http://127.0.0.1:11434"
            model = "gemma3:270m"
            [agents.options]
            num_gpu = 80
            num_ctx = 512
            temperature = 0.8

            [[agents]]
            label = "B"
            persona = "insight"
            url = "http://127.0.0.1:11435"

            [[agents]]
            label = "C"
        "#;
        let a = parse_agents_toml(text, Path::new("agents.toml")).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].backend, Some(BackendKind::Ollama));
        assert_eq!(a[0].options.temperature, Some(0.8));
        assert_eq!(a[1].url.as_deref(), Some("http://127.0.0.1:11435"));
        assert_eq!(a[2].persona, "collector");
        assert!(a[2].options.is_default());
    }

    #[test]
    fn agents_file_errors_name_the_problem() {
        let p = Path::new("a.toml");
        let dup = "[[agents]]\nlabel = \"A\"\n[[agents]]\nlabel = \"a\"\n";
        assert!(matches!(parse_agents_toml(dup, p), Err(SpecError::DuplicateLabel(_))));
        let typo = "[[agents]]\nlabel = \"A\"\n[agents.options]\nnum_gpus = 3\n";
        let e = parse_agents_toml(typo, p).unwrap_err().to_string();
        assert!(e.contains("num_gpus"), "{e}");
        let bad = "[[agents]]\nlabel = \"A\"\n[agents.options]\ntop_p = 3.0\n";
        assert!(matches!(parse_agents_toml(bad, p), Err(SpecError::Option { .. })));
        assert!(matches!(parse_agents_toml("agents = []", p), Err(SpecError::Empty)));
        let same_folder = "[[agents]]\nlabel = \"Agent A\"\n[[agents]]\nlabel = \"Agent-A\"\n";
        let e = parse_agents_toml(same_folder, p).unwrap_err().to_string();
        assert!(e.contains("'Agent A' and 'Agent-A'") && e.contains("`agent-a`"), "{e}");
    }

    #[test]
    fn slugs_are_folder_safe() {
        assert_eq!(slug("Chimera Agent A"), "chimera-agent-a");
        assert_eq!(slug("  ../x y!"), "x-y");
        assert_eq!(slug("!!"), "agent");
    }
}
