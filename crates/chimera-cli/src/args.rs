//! Flags shared by several commands: backend selection ([`BackendArgs`] → [`BackendConfig`])
//! and generation options ([`options`]: generated from core's option table), parsed then
//! validated into typed values before any request is sent.

mod options;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chimera_core::backend::{Timeouts, TlsOptions};
use chimera_core::export::{Exporter, Json};
use chimera_core::records::Record;

pub use options::{Chimera2Args, ChimeraArgs, GridArgs, OptionArgs, Plain};

/// Which backend to use.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Ollama at OLLAMA_HOST (or --url) if it answers, otherwise the embedded engine.
    #[default]
    Auto,
    /// Ollama's native API (NDJSON streaming).
    Ollama,
    /// An OpenAI-compatible server (/v1/chat/completions, SSE).
    Openai,
    /// llama.cpp in-process, no server needed.
    Embedded,
}

/// Backend selection flags.
#[derive(clap::Args, Clone, Debug)]
pub struct BackendArgs {
    /// Backend: auto, ollama, openai or embedded.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Server URL (default: OLLAMA_HOST, else http://127.0.0.1:11434).
    #[arg(long)]
    pub url: Option<String>,
    /// Model name as the server knows it.
    #[arg(long, default_value = "gemma3:270m")]
    pub model: String,
    /// GGUF file for the embedded engine (else CHIMERA_MODEL_PATH, the cache, the PyPI package).
    #[arg(long)]
    pub model_path: Option<PathBuf>,
    /// Environment variable holding the API key for --backend openai.
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// Requests the embedded engine runs at once in this process, decoded together in one
    /// batch (default 4 on 2+ cores, 2 on one, fewer if their KV cache would exceed a quarter of
    /// the memory; or CHIMERA_NUM_PARALLEL; further calls queue).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: Option<u16>,
    /// Seconds to wait for a TCP connection.
    #[arg(long, default_value_t = 5.0)]
    pub connect_timeout: f64,
    /// Seconds to wait for the first token after sending a request.
    #[arg(long, default_value_t = 300.0)]
    pub first_token_timeout: f64,
    /// Seconds a stream may stay silent between chunks.
    #[arg(long, default_value_t = 60.0)]
    pub idle_timeout: f64,
    /// PEM file of a CA to trust for https:// servers, besides the platform's roots (a lab's own CA).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Accept any certificate from https:// servers, unverified (self-signed lab servers only).
    #[arg(long)]
    pub insecure: bool,
}

/// A command's backend settings, validated ([`BackendArgs::config`]); what
/// [`crate::select::build`] selects from.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub choice: BackendChoice,
    /// `--url` (None: OLLAMA_HOST, else Ollama's default address).
    pub url: Option<String>,
    pub model: String,
    /// The embedded engine's GGUF file (None: discovered).
    pub model_path: Option<PathBuf>,
    /// The *name* of the variable holding an OpenAI-compatible key.
    pub api_key_env: String,
    /// Generations the embedded engine runs at once (None: its default).
    pub parallel: Option<u16>,
    pub timeouts: Timeouts,
    /// `--ca-cert` / `--insecure` for https:// servers.
    pub tls: TlsOptions,
}

impl BackendConfig {
    /// The embedded engine on its one model, default timeouts (what `chimera demo` runs).
    pub fn embedded(model_path: Option<PathBuf>) -> Self {
        BackendConfig {
            choice: BackendChoice::Embedded,
            url: None,
            model: chimera_engine::model::DEFAULT_MODEL_NAME.to_string(),
            model_path,
            api_key_env: "OPENAI_API_KEY".into(),
            parallel: None,
            timeouts: Timeouts::default(),
            tls: TlsOptions::default(),
        }
    }
}

impl BackendArgs {
    /// The validated settings (a bad timeout names its flag).
    pub fn config(&self) -> anyhow::Result<BackendConfig> {
        let d = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                anyhow::bail!("--{name} must be a positive number of seconds, got {v}")
            }
        };
        Ok(BackendConfig {
            choice: self.backend,
            url: self.url.clone(),
            model: self.model.clone(),
            model_path: self.model_path.clone(),
            api_key_env: self.api_key_env.clone(),
            parallel: self.parallel,
            timeouts: Timeouts {
                connect: d("connect-timeout", self.connect_timeout)?,
                first_token: d("first-token-timeout", self.first_token_timeout)?,
                idle: d("idle-timeout", self.idle_timeout)?,
            },
            tls: TlsOptions { ca_cert: self.ca_cert.clone(), insecure: self.insecure },
        })
    }
}

/// Where a `--json FILE|-` flag writes: a file (atomically), or stdout for `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOut {
    Stdout,
    File(PathBuf),
}

impl JsonOut {
    /// `-` → stdout, else a file; a folder is refused before anything runs (`flag` names it).
    pub fn parse(flag: &str, value: &str) -> anyhow::Result<JsonOut> {
        match value {
            "-" => Ok(JsonOut::Stdout),
            path if Path::new(path).is_dir() => {
                anyhow::bail!("{flag} takes a FILE or - (stdout); `{path}` is a folder")
            }
            path => Ok(JsonOut::File(PathBuf::from(path))),
        }
    }

    pub fn is_stdout(&self) -> bool {
        *self == JsonOut::Stdout
    }

    /// Write `record` as pretty JSON with its kind and schema version.
    pub fn write<R: Record>(&self, record: &R) -> anyhow::Result<()> {
        match self {
            JsonOut::Stdout => print!("{}", String::from_utf8_lossy(&Json.serialize(record)?)),
            JsonOut::File(p) => chimera_core::export::write(&Json, record, p)
                .with_context(|| format!("writing --json {}", p.display()))?,
        }
        Ok(())
    }
}

/// Say that a flag's old spelling still works but will go (on stderr, before anything runs).
pub fn deprecated(old: &str, new: &str) {
    eprintln!("warning: {old} is deprecated; write {new}");
}
