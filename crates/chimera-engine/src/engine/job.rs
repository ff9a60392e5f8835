//! What the engine is asked and what it answers, independent of any wire format: `serve`'s
//! Ollama routes, the in-process `Backend` (and later OpenAI routes) all speak these types.

use std::time::{Duration, Instant};

use chimera_core::backend::ServerTimings;
use chimera_core::options::GenOptions;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::EngineError;

/// One generation request: the rendered prompt (templates are applied before), the template's
/// stop sequences, and the request's options.
#[derive(Debug, Clone)]
pub struct Job {
    pub prompt: String,
    pub stops: Vec<String>,
    /// The prompt was rendered by the model's chat template: its special tokens (`<|im_start|>`)
    /// are read as such, as llama-server does; plain-text prompts are tokenised as text.
    pub parse_special: bool,
    pub options: GenOptions,
}

/// What the scheduler sends back for a job: text pieces as they are decoded, then one `Done`.
#[derive(Debug)]
pub enum Event {
    Piece(String),
    Done(Result<Outcome, EngineError>),
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneReason {
    /// End of text or a stop sequence.
    Stop,
    /// num_predict reached, or the slot's context is full.
    Length,
    /// The caller went away.
    Cancelled,
}

impl DoneReason {
    /// Ollama's `done_reason` string.
    pub fn as_str(self) -> &'static str {
        match self {
            DoneReason::Stop => "stop",
            DoneReason::Length => "length",
            DoneReason::Cancelled => "cancelled",
        }
    }
}

/// How a generation ended, with server-style timings (`prompt_eval_count` = prompt tokens
/// evaluated; `prompt_cached_count` = prompt tokens reused from the slot's cache).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub timings: ServerTimings,
    pub done_reason: DoneReason,
    /// The prompt did not fit the slot's context and was cut (BOS + its most recent tokens).
    pub prompt_truncated: bool,
    /// How many prompt tokens were cut (0 when the prompt fitted).
    pub prompt_dropped: u64,
    /// The slot's context size (num_ctx).
    pub n_ctx: u32,
}

/// A job on its way to the scheduler, with where to send its events.
#[derive(Debug)]
pub(crate) struct Request {
    pub job: Job,
    pub events: UnboundedSender<Event>,
    pub submitted: Instant,
    /// Time this request spent loading the model before it was submitted.
    pub model_load: Duration,
}

impl Request {
    pub fn new(job: Job, model_load: Duration) -> (Self, UnboundedReceiver<Event>) {
        let (events, rx) = tokio::sync::mpsc::unbounded_channel();
        (Request { job, events, submitted: Instant::now(), model_load }, rx)
    }

    /// The caller dropped its receiver (client disconnected, future dropped).
    pub fn gone(&self) -> bool {
        self.events.is_closed()
    }
}
