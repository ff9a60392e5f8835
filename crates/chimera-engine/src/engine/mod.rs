//! The embedded llama.cpp engine: the process-wide llama.cpp backend, the registry of loaded
//! models, and one scheduler per loaded model that runs every request on it with continuous
//! batching and prompt-prefix reuse within one thread budget (see docs/ENGINE.md).

mod budget;
mod job;
mod keep_alive;
mod plan;
mod registry;
mod sampler;
mod scheduler;
mod slot;

use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;

pub use budget::{Budget, BudgetGuard};
pub use job::{DoneReason, Event, Job, Outcome};
pub use keep_alive::{KeepAlive, parse_keep_alive};
pub use plan::{LoadKey, check_num_ctx, default_parallel, kv_bytes_per_token};
pub use registry::{ContextInfo, LoadedInfo, LoadedModel, Registry};

/// Ollama's defaults, used when an option is unset.
pub mod defaults {
    pub const NUM_CTX: u32 = 4096;
    pub const NUM_BATCH: u32 = 512;
    pub const TEMPERATURE: f64 = 0.8;
    pub const TOP_K: u32 = 40;
    pub const TOP_P: f64 = 0.9;
    pub const MIN_P: f64 = 0.0;
    pub const REPEAT_PENALTY: f64 = 1.1;
    pub const REPEAT_LAST_N: i64 = 64;
    /// Default keep_alive (Ollama's 5 minutes) for `serve`.
    pub const KEEP_ALIVE_SECS: u64 = 300;
}

/// Environment variable setting how many requests run at once per model in a process (like
/// OLLAMA_NUM_PARALLEL); unset = [`default_parallel`].
pub const PARALLEL_ENV: &str = "CHIMERA_NUM_PARALLEL";

/// The note recorded whenever num_gpu is requested: this build runs on the CPU only.
pub const NO_GPU_NOTE: &str = "no GPU in this build: num_gpu is accepted and ignored (llama.cpp CPU backend)";

/// Engine failures; messages say what to do next.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("cannot initialise llama.cpp: {0}")]
    Init(String),
    #[error(
        "cannot load the model {path}: {detail}; check that it is a valid GGUF file (re-run discovery or pass --model-path)"
    )]
    Load { path: std::path::PathBuf, detail: String },
    #[error(
        "cannot create a llama.cpp context ({slots} slot(s) × num_ctx {num_ctx}): {detail}; try a smaller --num-ctx or --parallel"
    )]
    Context { num_ctx: u32, slots: usize, detail: String },
    #[error("llama.cpp decode failed: {0}; try a smaller --num-batch or --num-ctx")]
    Decode(String),
    #[error("the prompt is empty after tokenisation")]
    EmptyPrompt,
    #[error(
        "the engine stopped before answering (the model was unloaded or the engine thread failed); retry the request"
    )]
    Stopped,
}

/// The process-wide llama.cpp backend (initialised once, logs silenced).
pub fn llama() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs to stderr by default; route it to (absent) tracing = silence.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Init(e.clone()))
}

/// CPU cores this process may use: the thread budget of every llama.cpp computation.
pub fn cores() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2)
}

/// The machine's memory in bytes (Linux `/proc/meminfo`; None elsewhere).
pub fn mem_total() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = s.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Threads used when num_thread is unset: every core.
pub fn default_threads() -> u32 {
    cores()
}
