//! The backend contract: one streaming generation call that yields token chunks and ends
//! with a [`CallRecord`] (or a [`CallFailure`] carrying the partial record).
//!
//! Implementations: Ollama native (`ollama`), OpenAI-compatible (`openai`), and the embedded
//! llama.cpp engine in the `chimera-engine` crate.

pub(crate) mod http;
pub(crate) mod lines;
pub mod ollama;
pub mod openai;
mod record;

pub use http::{HttpClient, TlsOptions, http_client, without_userinfo};
pub use ollama::OllamaClient;
pub use openai::OpenAiClient;
pub use record::{CallRecord, CallRecorder, CallRetry, ServerTimings};

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::options::GenOptions;

/// Which kind of server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    Ollama,
    Openai,
    Embedded,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Ollama => "ollama",
            BackendKind::Openai => "openai",
            BackendKind::Embedded => "embedded",
        })
    }
}

/// Chat role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    #[default]
    User,
    Assistant,
    /// A tool's result, answering an assistant turn's tool call.
    Tool,
}

/// One chat message. The tool fields are empty except on an assistant turn that calls tools
/// and on a tool result; each API receives them in its own shape (see the clients).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// The tools an assistant turn calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallMsg>,
    /// On a tool result: the tool's name (Ollama) and the id of the call it answers (OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A plain message.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message { role, content: content.into(), ..Default::default() }
    }

    /// The message as a chat API takes it: `role`, `content`, the tool calls each shaped by
    /// `call` (when there are any), and the tool-result field `(name, value)` when set.
    pub(crate) fn to_wire(
        &self,
        call: impl Fn(&ToolCallMsg) -> serde_json::Value,
        result_field: (&str, Option<&String>),
    ) -> serde_json::Value {
        let mut v = serde_json::json!({"role": self.role, "content": self.content});
        if !self.tool_calls.is_empty() {
            v["tool_calls"] = self.tool_calls.iter().map(call).collect();
        }
        if let (name, Some(value)) = result_field {
            v[name] = serde_json::json!(value);
        }
        v
    }
}

/// A tool call as a model made it (or as a workflow scripted it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallMsg {
    /// The call's id (OpenAI's `id`; generated when the server gives none).
    pub id: String,
    pub name: String,
    /// The arguments: a JSON object, or the text a server streamed when it is not valid JSON.
    pub arguments: serde_json::Value,
}

/// What the model is asked: a system + prompt pair (Ollama `/api/generate`), or chat messages
/// (`/api/chat`, `/v1/chat/completions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    Generate { system: Option<String>, prompt: String },
    Chat { messages: Vec<Message> },
}

/// One generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenRequest {
    pub model: String,
    pub input: Input,
    pub options: GenOptions,
    /// Ollama `keep_alive` (e.g. "5m", "0"); `None` = server default.
    pub keep_alive: Option<String>,
    /// Tool definitions offered to the model (`tools` of a chat request; the same shape for
    /// Ollama and OpenAI). Empty = none sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
}

impl GenRequest {
    /// A `/api/generate`-style request with an optional system prompt.
    pub fn generate(model: &str, system: Option<&str>, prompt: &str, options: GenOptions) -> Self {
        GenRequest {
            model: model.to_string(),
            input: Input::Generate { system: system.map(str::to_string), prompt: prompt.to_string() },
            options,
            keep_alive: None,
            tools: Vec::new(),
        }
    }

    /// A chat request.
    pub fn chat(model: &str, messages: Vec<Message>, options: GenOptions) -> Self {
        GenRequest {
            model: model.to_string(),
            input: Input::Chat { messages },
            options,
            keep_alive: None,
            tools: Vec::new(),
        }
    }

    /// The system prompt, wherever the input carries it.
    pub fn system(&self) -> Option<&str> {
        match &self.input {
            Input::Generate { system, .. } => system.as_deref(),
            Input::Chat { messages } => {
                messages.iter().find(|m| m.role == Role::System).map(|m| m.content.as_str())
            }
        }
    }

    /// The input as chat messages (system first when present).
    pub fn messages(&self) -> Vec<Message> {
        match &self.input {
            Input::Chat { messages } => messages.clone(),
            Input::Generate { system, prompt } => {
                let mut v = Vec::new();
                if let Some(s) = system {
                    v.push(Message::new(Role::System, s.clone()));
                }
                v.push(Message::new(Role::User, prompt.clone()));
                v
            }
        }
    }
}

/// One streamed chunk as seen by a consumer (progress bars, token timelines).
#[derive(Debug, Clone, Copy)]
pub struct TokenChunk<'a> {
    pub text: &'a str,
    /// A reasoning ("thinking") token rather than visible content.
    pub thinking: bool,
    /// Index of this non-empty chunk in the stream, from 0.
    pub index: u64,
    /// Arrival, ms after the request was sent (client clock).
    pub at_ms: f64,
}

/// Called for every non-empty chunk as it arrives. Must be cheap: it runs in the stream loop.
pub type TokenSink<'a> = &'a (dyn Fn(TokenChunk<'_>) + Send + Sync);

/// A sink that ignores every chunk.
pub fn no_sink(_: TokenChunk<'_>) {}

/// Streaming timeouts: connect, time to first token, and idle gap between chunks.
/// There is deliberately no whole-stream timeout: a long answer that keeps streaming is fine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_token: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(300),
            idle: Duration::from_secs(60),
        }
    }
}

/// Typed backend errors. Messages say what to do next.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackendError {
    #[error(
        "cannot connect to {url}: {detail}. Is the server running? Start it with `ollama serve` \
         (or `chimera serve --port PORT`), set OLLAMA_HOST, or use `--backend embedded`"
    )]
    Connect { url: String, detail: String },
    #[error(
        "connecting to {url} took longer than {timeout_ms} ms; check the address or raise --connect-timeout"
    )]
    ConnectTimeout { url: String, timeout_ms: u64 },
    #[error(
        "TLS with {url} failed: {detail}. If the server's certificate is self-signed or from a private CA, \
         pass --ca-cert FILE (the CA certificate in PEM) or, in a lab, --insecure; if the server speaks \
         plain HTTP, use an http:// URL"
    )]
    Tls { url: String, detail: String },
    #[error(
        "model '{model}' not found on {url}; pull it with `ollama pull {model}` (or pick one from `/api/tags`)"
    )]
    ModelNotFound { model: String, url: String },
    #[error("HTTP {status} from {url}: {body}")]
    Http { status: u16, url: String, body: String },
    #[error("the server reported an error mid-stream: {message}")]
    Server { message: String },
    #[error("malformed stream line ({detail}): {line}")]
    Malformed { line: String, detail: String },
    #[error(
        "no token within {timeout_ms} ms of sending the request; raise --first-token-timeout if the prompt is long"
    )]
    FirstTokenTimeout { timeout_ms: u64 },
    #[error("the stream stalled: nothing for {timeout_ms} ms; raise --idle-timeout if the server is slow")]
    IdleTimeout { timeout_ms: u64 },
    #[error("the stream ended before its final chunk (connection closed or server crashed)")]
    Truncated,
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("embedded engine: {0}")]
    Engine(String),
    #[error("the call was cancelled")]
    Cancelled,
}

impl BackendError {
    /// Replace every secret of `r` in the error's text.
    pub fn redact(&mut self, r: &crate::secret::Redactor) {
        use BackendError as E;
        let texts: Vec<&mut String> = match self {
            E::Connect { url, detail } | E::Tls { url, detail } => vec![url, detail],
            E::ConnectTimeout { url, .. } => vec![url],
            E::ModelNotFound { model, url } => vec![model, url],
            E::Http { url, body, .. } => vec![url, body],
            E::Server { message } => vec![message],
            E::Malformed { line, detail } => vec![line, detail],
            E::InvalidRequest(m) | E::Engine(m) => vec![m],
            E::FirstTokenTimeout { .. } | E::IdleTimeout { .. } | E::Truncated | E::Cancelled => vec![],
        };
        for t in texts {
            r.redact_string(t);
        }
    }
}

/// A failed call: the error and everything measured before it happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct CallFailure {
    pub error: BackendError,
    pub partial: Box<CallRecord>,
}

/// What a backend says about itself and a model, for run manifests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    pub kind: Option<BackendKind>,
    /// URL, or `embedded:<gguf path>`.
    pub endpoint: String,
    pub version: Option<String>,
    pub model: Option<String>,
    pub model_digest: Option<String>,
    pub model_size_bytes: Option<u64>,
    pub context_length: Option<u64>,
}

/// A generation backend. One instance may serve many concurrent calls.
#[async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;
    /// URL or `embedded:<path>`; never contains an API key.
    fn endpoint(&self) -> String;
    /// Version, and the model's digest/size when `model` is given.
    async fn info(&self, model: Option<&str>) -> Result<BackendInfo, BackendError>;
    /// One streaming call. `on_token` is invoked for each non-empty chunk.
    async fn generate(&self, req: &GenRequest, on_token: TokenSink<'_>) -> Result<CallRecord, CallFailure>;
}
