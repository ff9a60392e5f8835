//! Agent personas: the built-ins of the original system (`collector`, `insight`) and personas
//! read from a file. The persona text is sent to the model as the *system* prompt.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The DataCollector-9000 persona, verbatim from the seed report.
pub const COLLECTOR_TEXT: &str = "\
You are DataCollector-9000, a systems analyst tasked with scanning benchmark artifacts.
Produce a concise data inventory with bullet points that highlight:
1. Directory coverage (reports/, csv_data/, artifacts/).
2. File counts per type (md, csv, json) and the latest modified timestamp you observe.
3. Any gaps or missing telemetry that could impact model evaluation.
Keep the response under 250 words but include concrete metrics so a second agent can reason over them.";

/// The InsightAgent persona (PRODUCT.md §1).
pub const INSIGHT_TEXT: &str = "\
You are InsightAgent, an LLM operations specialist who turns benchmark data into decisions.
Using the data inventory and the measured facts you are given, produce:
1. An executive summary of model performance.
2. Three optimisation recommendations that balance throughput, TTFT and quality.
3. A risk/mitigation table with at least two rows.
Aim for 300-400 words, quote concrete metrics from the data, and never invent numbers.";

/// A persona: who the model is asked to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persona {
    /// Short key (`collector`, `insight`, or the file stem).
    pub key: String,
    /// Display name (`DataCollector-9000`, `InsightAgent`, …).
    pub name: String,
    /// The system prompt text.
    pub text: String,
}

/// Persona lookup / file errors; messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum PersonaError {
    #[error("unknown persona '{0}'; use --persona collector or --persona insight, or --persona-file FILE")]
    Unknown(String),
    #[error("cannot read persona file {path}: {source}; check the path given to --persona-file")]
    Read { path: String, source: std::io::Error },
    #[error("persona file {0} is empty; write the system prompt text into it")]
    Empty(String),
}

impl Persona {
    /// DataCollector-9000.
    pub fn collector() -> Self {
        Persona { key: "collector".into(), name: "DataCollector-9000".into(), text: COLLECTOR_TEXT.into() }
    }

    /// InsightAgent.
    pub fn insight() -> Self {
        Persona { key: "insight".into(), name: "InsightAgent".into(), text: INSIGHT_TEXT.into() }
    }

    /// Names of the built-in personas.
    pub const BUILTINS: [&'static str; 2] = ["collector", "insight"];

    /// A built-in persona by key (case-insensitive; `datacollector`/`insightagent` accepted too).
    pub fn builtin(key: &str) -> Result<Self, PersonaError> {
        match key.trim().to_ascii_lowercase().as_str() {
            "collector" | "datacollector" | "datacollector-9000" => Ok(Self::collector()),
            "insight" | "insightagent" => Ok(Self::insight()),
            _ => Err(PersonaError::Unknown(key.to_string())),
        }
    }

    /// A persona whose text is the whole file (trimmed). Its name is the first
    /// `You are NAME` phrase when present, else the file stem.
    pub fn from_file(path: &Path) -> Result<Self, PersonaError> {
        let shown = path.display().to_string();
        let raw = std::fs::read_to_string(path)
            .map_err(|source| PersonaError::Read { path: shown.clone(), source })?;
        let text = raw.trim().to_string();
        if text.is_empty() {
            return Err(PersonaError::Empty(shown));
        }
        let key =
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "custom".into());
        let name = name_from_text(&text).unwrap_or_else(|| key.clone());
        Ok(Persona { key, name, text })
    }
}

/// `You are NAME,` / `You are NAME.` → NAME (a single word-like token).
fn name_from_text(text: &str) -> Option<String> {
    let rest = text.strip_prefix("You are ")?;
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_').collect();
    if name.is_empty() || name.eq_ignore_ascii_case("a") || name.eq_ignore_ascii_case("an") {
        None
    } else {
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_text_is_the_seed_reports() {
        let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/seed/000_75626b757bb96e72.txt");
        if let Ok(report) = std::fs::read_to_string(seed) {
            assert!(report.contains(COLLECTOR_TEXT), "collector persona differs from the seed report");
        }
        assert!(COLLECTOR_TEXT.starts_with("You are DataCollector-9000"));
        assert_eq!(Persona::builtin("Collector").unwrap().name, "DataCollector-9000");
        assert_eq!(Persona::builtin("insight").unwrap().name, "InsightAgent");
    }

    #[test]
    fn insight_asks_for_what_product_md_says() {
        let t = Persona::insight().text;
        for needle in [
            "executive summary",
            "Three optimisation recommendations",
            "throughput, TTFT and quality",
            "risk/mitigation table with at least two rows",
            "300-400 words",
        ] {
            assert!(t.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn unknown_and_file_personas() {
        let e = Persona::builtin("poet").unwrap_err();
        assert!(e.to_string().contains("--persona-file"));
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("auditor.txt");
        std::fs::write(&p, "  You are AuditBot, a careful checker.\n").unwrap();
        let persona = Persona::from_file(&p).unwrap();
        assert_eq!((persona.key.as_str(), persona.name.as_str()), ("auditor", "AuditBot"));
        assert_eq!(persona.text, "You are AuditBot, a careful checker.");
        std::fs::write(&p, "Summarise the data.").unwrap();
        assert_eq!(Persona::from_file(&p).unwrap().name, "auditor");
        std::fs::write(&p, " \n").unwrap();
        assert!(matches!(Persona::from_file(&p), Err(PersonaError::Empty(_))));
        assert!(matches!(Persona::from_file(&d.path().join("nope")), Err(PersonaError::Read { .. })));
    }
}
