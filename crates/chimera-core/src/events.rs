//! Measurement events: everything long-running reports progress as [`Event`]s on a channel;
//! progress bars, JSON lines and quiet mode are interchangeable consumers (in the CLI crate).
//! The other direction is a [`CancellationToken`]: the CLI cancels it on Ctrl-C and every long
//! job (agent, bench, multi, sweep) stops at its next safe point, keeping what finished.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
/// Asks long work to stop (Ctrl-C): every core entry point of a long job takes one.
pub use tokio_util::sync::CancellationToken;

/// A stage of an agent workflow (ordered as they run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Ingest,
    Analysis,
    Report,
    Grounding,
    Write,
    Warmup,
}

impl Stage {
    /// The stage's name as written in reports, metrics keys and progress lines (same as its
    /// serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Analysis => "analysis",
            Stage::Report => "report",
            Stage::Grounding => "grounding",
            Stage::Write => "write",
            Stage::Warmup => "warmup",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One progress/measurement event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A stage of agent `agent` began.
    StageStarted { agent: String, stage: Stage },
    /// Tokens streamed so far in the current call and the live rate.
    Tokens { agent: String, stage: Stage, tokens: u64, tok_s: f64 },
    /// A stage ended (ok or not) after `secs`.
    StageFinished { agent: String, stage: Stage, secs: f64, ok: bool },
    /// An agent finished its workflow.
    AgentFinished { agent: String, ok: bool, secs: f64 },
    /// A unit of a larger job (run, sweep point) started: `done` of `total` finished so far.
    Progress { job: String, done: u64, total: u64, label: String },
    /// Free-form note for the user (warnings, chosen backend, …).
    Note { level: NoteLevel, text: String },
}

/// Severity of a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteLevel {
    Info,
    Warn,
}

/// Sender half used by producers. Sending never blocks; a closed channel is ignored.
#[derive(Debug, Clone, Default)]
pub struct Events(Option<UnboundedSender<Event>>);

impl Events {
    /// Events go to `tx`.
    pub fn new(tx: UnboundedSender<Event>) -> Self {
        Events(Some(tx))
    }
    /// Events go nowhere.
    pub fn none() -> Self {
        Events(None)
    }
    /// Emit one event.
    pub fn emit(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(e);
        }
    }
    /// Events for an inner runner (spawned on the current runtime): everything reaches these
    /// events except the inner runner's own progress counter `job`, so a progress display keeps
    /// the outer counter.
    pub fn without_progress_of(&self, job: &'static str) -> Events {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = self.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if !matches!(&e, Event::Progress { job: j, .. } if j == job) {
                    out.emit(e);
                }
            }
        });
        Events::new(tx)
    }
}
