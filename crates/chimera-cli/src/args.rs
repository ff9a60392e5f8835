//! Flags shared by several commands: backend selection and generation options, parsed
//! then validated into typed core values before any request is sent.

use std::path::PathBuf;
use std::time::Duration;

use chimera_core::backend::Timeouts;
use chimera_core::options::GenOptions;

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
    /// Generations the embedded engine runs at once in this process (default 1, or
    /// CHIMERA_NUM_PARALLEL; further calls queue). Each uses num_thread CPU threads.
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
}

impl BackendArgs {
    /// Validated streaming timeouts.
    pub fn timeouts(&self) -> anyhow::Result<Timeouts> {
        let d = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                anyhow::bail!("--{name} must be a positive number of seconds, got {v}")
            }
        };
        Ok(Timeouts {
            connect: d("connect-timeout", self.connect_timeout)?,
            first_token: d("first-token-timeout", self.first_token_timeout)?,
            idle: d("idle-timeout", self.idle_timeout)?,
        })
    }
}

/// Generation options (Ollama's `options`); an unset flag is not sent.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct OptionArgs {
    /// Layers to offload to the GPU (-1 auto).
    #[arg(long, allow_negative_numbers = true)]
    pub num_gpu: Option<i64>,
    /// Context window in tokens (reloads the model when it changes).
    #[arg(long)]
    pub num_ctx: Option<u32>,
    /// Prompt-processing batch size.
    #[arg(long)]
    pub num_batch: Option<u32>,
    /// CPU threads.
    #[arg(long)]
    pub num_thread: Option<u32>,
    /// Sampling temperature (0 = greedy).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus sampling threshold.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[arg(long)]
    pub top_k: Option<u32>,
    /// Min-p sampling.
    #[arg(long)]
    pub min_p: Option<f64>,
    /// Repetition penalty.
    #[arg(long)]
    pub repeat_penalty: Option<f64>,
    /// Tokens looked back for the repetition penalty.
    #[arg(long, allow_negative_numbers = true)]
    pub repeat_last_n: Option<i64>,
    /// Random seed (same seed + same options → same text).
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<i64>,
    /// Maximum tokens to generate.
    #[arg(long, allow_negative_numbers = true)]
    pub num_predict: Option<i64>,
    /// Stop sequence (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
}

impl OptionArgs {
    /// The typed options, validated (the error names the flag).
    pub fn to_options(&self) -> anyhow::Result<GenOptions> {
        let o = GenOptions {
            num_gpu: self.num_gpu,
            num_ctx: self.num_ctx,
            num_batch: self.num_batch,
            num_thread: self.num_thread,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            seed: self.seed,
            num_predict: self.num_predict,
            stop: self.stop.clone(),
        };
        o.validate().map_err(|e| anyhow::anyhow!("--{}: {e}", e.name.replace('_', "-")))?;
        Ok(o)
    }
}
