//! Reading a workflow from TOML: the file's shape (unknown keys refused), then every rule a run
//! relies on, checked before any request; each error names the line of the step at fault.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use super::tools::{self, ToolCall};
use super::{
    Conversation, SeedPrompt, Step, StepPrompt, StepStage, ThinkTime, ToolArgs, ToolMode, ToolStep, Workflow,
};
use crate::options::GenOptions;
use crate::persona::Persona;

/// Placeholders a `user` template may use.
pub const PLACEHOLDERS: [&str; 6] = ["data", "previous", "handoff", "tool", "turn", "label"];
/// Most turns a looping step may run.
pub const MAX_TURNS: u32 = 100;

/// A workflow that cannot be used; the message says where and what to change.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(
        "unknown workflow '{0}'; use analyst, analyst-chat, tool-loop or handoff, or the path of a TOML workflow file (docs/WORKFLOWS.md)"
    )]
    Unknown(String),
    #[error("cannot read workflow file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin}, line {line}: {detail} (docs/WORKFLOWS.md describes the format)")]
    Invalid { origin: String, line: usize, detail: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    steps: Vec<toml::Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    stage: Option<StepStage>,
    persona: Option<String>,
    persona_file: Option<PathBuf>,
    system: Option<String>,
    prompt: Option<SeedPrompt>,
    user: Option<String>,
    #[serde(default)]
    primer: String,
    #[serde(default)]
    conversation: Conversation,
    #[serde(default)]
    options: GenOptions,
    think: Option<ThinkTime>,
    tool: Option<String>,
    #[serde(default)]
    args: ToolArgs,
    calls: Option<Vec<ToolCall>>,
    tools: Option<ToolMode>,
    handoff_from: Option<String>,
    turns: Option<u32>,
    until: Option<String>,
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

/// The pattern of a `{name}` placeholder.
pub fn placeholder_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{([a-z_]+)\}").expect("valid regex"))
}

/// The `{name}` placeholders of a template, in order.
pub fn placeholders(template: &str) -> Vec<String> {
    placeholder_re().captures_iter(template).map(|c| c[1].to_string()).collect()
}

/// Parse and validate a workflow. `origin` names it in errors (a path, or `built-in workflow
/// 'x'`); `base` is the folder `persona_file` paths are relative to; `default_name` is used when
/// the file has no `name`.
pub fn parse_workflow(
    text: &str,
    origin: &str,
    base: &Path,
    default_name: &str,
) -> Result<Workflow, WorkflowError> {
    let invalid =
        |line: usize, detail: String| WorkflowError::Invalid { origin: origin.to_string(), line, detail };
    let raw: RawWorkflow = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        invalid(line, e.message().trim().to_string())
    })?;
    if raw.steps.is_empty() {
        return Err(invalid(1, "no steps; add at least one [[steps]] table".into()));
    }
    let last_llm = raw.steps.len() - 1;
    let mut steps: Vec<Step> = Vec::new();
    for (i, spanned) in raw.steps.into_iter().enumerate() {
        let line = line_of(text, spanned.span().start);
        let r = spanned.into_inner();
        let at = |detail: String| invalid(line, format!("step '{}': {detail}", r.name));
        if r.name.trim().is_empty() {
            return Err(invalid(line, "a step has no name; give every step `name = \"...\"`".into()));
        }
        if steps.iter().any(|s| s.name == r.name) {
            return Err(at("two steps have this name; names must be unique".into()));
        }
        let persona = match (&r.persona, &r.persona_file, &r.system) {
            (None, None, None) => None,
            (Some(p), None, None) => Some(Persona::builtin(p).map_err(|e| at(e.to_string()))?),
            (None, Some(f), None) => Some(Persona::from_file(&base.join(f)).map_err(|e| at(e.to_string()))?),
            (None, None, Some(s)) if !s.trim().is_empty() => {
                Some(Persona { key: r.name.clone(), name: r.name.clone(), text: s.trim().to_string() })
            }
            (None, None, Some(_)) => return Err(at("`system` is empty".into())),
            _ => return Err(at("give at most one of `persona`, `persona_file` and `system`".into())),
        };
        let tool = tool_step(&r).map_err(at)?;
        let prompt = match (r.prompt, &r.user) {
            (Some(SeedPrompt::Report), None) if i == 0 => {
                return Err(at(
                    "`prompt = \"report\"` reads the previous step's analysis: it cannot be the first step"
                        .into(),
                ));
            }
            (Some(p), None) if tool.is_none() && r.handoff_from.is_none() => StepPrompt::Seed(p),
            (Some(_), None) => {
                return Err(at(
                    "the seed prompts (`prompt = ...`) take no tool and no hand-off; write a `user` template"
                        .into(),
                ));
            }
            (None, Some(t)) => {
                check_template(t, i, &r, tool.as_ref()).map_err(at)?;
                StepPrompt::Template { text: t.clone(), primer: r.primer.clone() }
            }
            _ => {
                return Err(at(
                    "give either `user = \"...\"` (a message template) or `prompt = \"analysis\"` / `\"report\"` (the seed's prompts)".into(),
                ));
            }
        };
        r.options.validate().map_err(|e| at(e.to_string()))?;
        if let Some(t) = &r.think {
            t.check().map_err(at)?;
        }
        let turns = r.turns.unwrap_or(1);
        if !(1..=MAX_TURNS).contains(&turns) {
            return Err(at(format!("turns = {turns}: give 1 to {MAX_TURNS}")));
        }
        if let Some(u) = &r.until {
            Regex::new(u).map_err(|e| at(format!("`until` is not a valid regular expression: {e}")))?;
        }
        if r.handoff_from.as_deref().is_some_and(|h| h.trim().is_empty()) {
            return Err(at("`handoff_from` is empty; give the label of another agent".into()));
        }
        steps.push(Step {
            stage: r.stage.unwrap_or(if i == last_llm { StepStage::Report } else { StepStage::Analysis }),
            name: r.name,
            line,
            persona,
            prompt,
            conversation: r.conversation,
            options: r.options,
            think: r.think,
            tool,
            handoff_from: r.handoff_from,
            turns,
            until: r.until,
        });
    }
    Ok(Workflow {
        name: raw.name.unwrap_or_else(|| default_name.to_string()),
        description: raw.description,
        seed: raw.seed,
        steps,
        text_sha256: {
            use sha2::{Digest, Sha256};
            Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
        },
    })
}

/// The tool step a raw step describes (`tool` + `args`, or `calls`), checked.
fn tool_step(r: &RawStep) -> Result<Option<ToolStep>, String> {
    let calls = match (&r.tool, &r.calls) {
        (None, None) if r.tools.is_some() || !r.args.is_empty() => {
            return Err(
                "`tools`/`args` need a tool: add `tool = \"lookup_metric\"` (or `calls = [...]`)".into()
            );
        }
        (None, None) => return Ok(None),
        (Some(t), None) => vec![ToolCall { name: t.clone(), args: r.args.clone() }],
        (None, Some(c)) if !c.is_empty() && r.args.is_empty() => c.clone(),
        (None, Some(_)) => {
            return Err(
                "`calls` must list at least one {tool = ..., args = {...}} (and `args` goes inside each)"
                    .into(),
            );
        }
        (Some(_), Some(_)) => return Err("give `tool` (with `args`) or `calls`, not both".into()),
    };
    for c in &calls {
        tools::check(c)?;
    }
    Ok(Some(ToolStep { mode: r.tools.unwrap_or_default(), calls }))
}

fn check_template(t: &str, index: usize, r: &RawStep, tool: Option<&ToolStep>) -> Result<(), String> {
    let ph = placeholders(t);
    for p in &ph {
        if !PLACEHOLDERS.contains(&p.as_str()) {
            return Err(format!("unknown placeholder {{{p}}}; use {{{}}}", PLACEHOLDERS.join("}, {")));
        }
    }
    let has = |p: &str| ph.iter().any(|x| x == p);
    if ph.iter().filter(|p| *p == "data").count() > 1 {
        return Err("{data} may appear once".into());
    }
    if has("previous") && index == 0 {
        return Err("{previous} is the previous step's output: the first step has none".into());
    }
    if has("handoff") != r.handoff_from.is_some() {
        return Err(
            "{handoff} and `handoff_from = \"AGENT\"` go together (the template inserts that agent's output)"
                .into(),
        );
    }
    if has("tool") {
        match tool {
            None => return Err("{tool} inserts the tool result: add `tool = ...`".into()),
            Some(t) if t.mode == ToolMode::Native => {
                return Err("{tool} cannot be used with `tools = \"native\"`: the model picks the call after the message is sent".into());
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Workflow, WorkflowError> {
        parse_workflow(text, "w.toml", Path::new("."), "w")
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_full_step_parses() {
        let w = parse(
            r#"name = "x"
seed = 3
[[steps]]
name = "ask"
persona = "insight"
user = "Data:\n{data}\nTurn {turn}. {tool}"
primer = "Answer:"
conversation = "continue"
tool = "lookup_metric"
args = { metric = "ttft_ms" }
think = { dist = "uniform", min_ms = 1, max_ms = 2 }
turns = 3
until = "(?i)done"
[steps.options]
temperature = 0.5
"#,
        )
        .unwrap();
        let s = &w.steps[0];
        assert_eq!((w.name.as_str(), w.seed, s.line, s.turns), ("x", 3, 3, 3));
        assert_eq!(s.stage, StepStage::Report);
        assert_eq!(s.persona.as_ref().unwrap().key, "insight");
        assert_eq!(s.options.temperature, Some(0.5));
        assert_eq!(s.think, Some(ThinkTime::Uniform { min_ms: 1.0, max_ms: 2.0 }));
        assert_eq!(s.tool.as_ref().unwrap().calls[0].args["metric"], "ttft_ms");
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let two = "[[steps]]\nname = \"a\"\nuser = \"hi\"\n\n[[steps]]\nname = \"b\"\n";
        assert_eq!(
            err(&format!("{two}user = \"{{previus}}\"\n")),
            "w.toml, line 5: step 'b': unknown placeholder {previus}; use {data}, {previous}, {handoff}, {tool}, {turn}, {label} (docs/WORKFLOWS.md describes the format)"
        );
        let e = err(&format!("{two}user = \"x\"\ncolour = 1\n"));
        assert!(e.starts_with("w.toml, line 8: unknown field `colour`"), "{e}");
        assert!(
            err(&format!("{two}prompt = \"report\"\nuser = \"x\"\n"))
                .contains("line 5: step 'b': give either")
        );
        assert!(err(&format!("{two}user = \"x\"\ntool = \"nope\"\n")).contains("unknown tool 'nope'"));
        assert!(
            err(&format!("{two}user = \"x\"\n[steps.options]\ntop_p = 3.0\n"))
                .contains("line 5: step 'b': invalid option top_p=3")
        );
        assert!(err(&format!("{two}user = \"{{handoff}}\"\n")).contains("handoff_from"));
        assert!(
            err(&format!("{two}user = \"x\"\nuntil = \"(\"\n")).contains("not a valid regular expression")
        );
        assert!(err(&format!("{two}user = \"x\"\nturns = 0\n")).contains("turns = 0"));
        assert!(
            err(&format!("{two}user = \"x\"\nthink = {{ dist = \"fixed\", ms = -1 }}\n")).contains("ms = -1")
        );
        assert!(
            err("[[steps]]\nname = \"a\"\nuser = \"{previous}\"\n").contains("line 1: step 'a': {previous}")
        );
        assert!(err("[[steps]]\nname = \"a\"\nprompt = \"report\"\n").contains("cannot be the first step"));
        assert!(err("name = \"x\"\n").contains("line 1: no steps"));
        assert!(
            err(&format!("{two}user = \"{{tool}}\"\ntool = \"list_metrics\"\ntools = \"native\"\n"))
                .contains("native")
        );
        assert!(
            err("[[steps]]\nname = \"a\"\nuser = \"x\"\n[[steps]]\nname = \"a\"\nuser = \"y\"\n")
                .contains("line 4: step 'a': two steps")
        );
    }

    #[test]
    fn placeholders_are_found_in_order() {
        assert_eq!(placeholders("{data} and {turn}, not {Data} or {a b}"), vec!["data", "turn"]);
    }
}
