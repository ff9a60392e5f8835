//! Workflows as data: an agent session is a list of steps (persona, message template, fresh or
//! continued conversation, options, think time, tool call, hand-off, turns), read from TOML and
//! validated before any request ([`parse`]), with four built-ins ([`builtin`]). The agent run
//! ([`crate::agent`]) executes them; this module owns the description, not the execution.

pub mod budget;
pub mod builtin;
pub mod handoff;
pub mod parse;
pub mod think;
pub mod tools;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::options::GenOptions;
use crate::persona::Persona;

pub use builtin::{BUILTINS, DEFAULT_WORKFLOW, builtin, default_workflow, resolve};
pub use handoff::{HandoffLink, Handoffs};
pub use parse::{WorkflowError, parse_workflow};
pub use think::ThinkTime;
pub use tools::ToolCall;

/// A validated workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// Built-in name or the file's `name` (else its stem).
    pub name: String,
    pub description: String,
    /// Seed of the think-time draws (the same seed draws the same times).
    pub seed: u64,
    pub steps: Vec<Step>,
    /// SHA-256 of the TOML text it was read from (hex): with `name`, its identity in the files
    /// of a sweep, so `--resume` with another workflow is refused.
    #[serde(default)]
    pub text_sha256: String,
}

/// A workflow's identity as a sweep records it: its name and the hash of its TOML text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowId {
    pub name: String,
    pub sha256: String,
}

impl Workflow {
    /// Its name and text hash.
    pub fn id(&self) -> WorkflowId {
        WorkflowId { name: self.name.clone(), sha256: self.text_sha256.clone() }
    }
}

impl std::fmt::Display for WorkflowId {
    /// `tool-loop (TOML sha256 1a2b3c4d5e6f…)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = self.sha256.get(..12).unwrap_or(&self.sha256);
        write!(f, "'{}' (TOML sha256 {short}…)", crate::export::table::inline(&self.name))
    }
}

/// Which part of the agent's timing a step counts towards (`## Workflow Summary`'s
/// `total (ingest | analysis | report)`) and which stage progress shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStage {
    Analysis,
    Report,
}

/// The seed's two prompts (the `analyst` workflow), kept exactly as today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedPrompt {
    /// Inventory and fact tables as fenced data, primer `## Summary`.
    Analysis,
    /// The previous step's parsed analysis and the data again, primer `**1. Executive Summary**`.
    Report,
}

/// What a step sends as its user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPrompt {
    Seed(SeedPrompt),
    /// A template with `{data}`, `{previous}`, `{handoff}`, `{tool}`, `{turn}`, `{label}`;
    /// `primer` ends the message (the start of the answer a base model continues).
    Template {
        text: String,
        primer: String,
    },
}

/// Whether a step keeps the chat history (the context grows) or starts a new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conversation {
    #[default]
    Fresh,
    Continue,
}

/// How a tool step's call is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolMode {
    /// The workflow names the tool and its arguments.
    #[default]
    Scripted,
    /// The request carries the tool definitions and the model's call is answered; without a
    /// valid call the scripted one is used, and the report says so.
    Native,
}

/// A tool step: the calls per turn (turn `t` uses `calls[t % len]`) and the mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolStep {
    pub mode: ToolMode,
    pub calls: Vec<ToolCall>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    /// Line of the step's table in the TOML (for messages; 0 when unknown).
    pub line: usize,
    pub stage: StepStage,
    /// The system prompt; `None` = the agent's persona.
    pub persona: Option<Persona>,
    pub prompt: StepPrompt,
    pub conversation: Conversation,
    /// Over the agent's options for this step's calls.
    pub options: GenOptions,
    pub think: Option<ThinkTime>,
    pub tool: Option<ToolStep>,
    /// Label of another agent of the same run whose final output `{handoff}` inserts.
    pub handoff_from: Option<String>,
    /// How many times the step runs (a loop); at least 1.
    pub turns: u32,
    /// A regular expression: the loop ends early when a turn's output matches it.
    pub until: Option<String>,
}

impl Workflow {
    /// Labels of the agents this workflow takes hand-offs from.
    pub fn handoff_sources(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.steps.iter().filter_map(|s| s.handoff_from.as_deref()).collect();
        v.dedup();
        v
    }

    /// Whether any step sends the native tool definitions.
    pub fn uses_native_tools(&self) -> bool {
        self.steps.iter().any(|s| s.tool.as_ref().is_some_and(|t| t.mode == ToolMode::Native))
    }
}

/// Tool arguments (names to text values).
pub type ToolArgs = BTreeMap<String, String>;
