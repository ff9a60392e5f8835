//! llama.cpp glue: the process-wide backend, the registry of loaded models (one load per model
//! path, shared by every caller, unloaded by keep_alive), and the blocking decode loop that
//! streams text pieces and measures server-style timings.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chimera_core::backend::ServerTimings;
use chimera_core::options::GenOptions;
use chrono::{DateTime, Utc};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::Semaphore;

use crate::template::{Pushed, StopMatcher};

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

/// Environment variable setting how many generations run at once per model in a process
/// (like OLLAMA_NUM_PARALLEL; default 1: further calls queue).
pub const PARALLEL_ENV: &str = "CHIMERA_NUM_PARALLEL";

/// The note recorded whenever num_gpu is requested: this build runs on the CPU only.
pub const NO_GPU_NOTE: &str = "no GPU in this build: num_gpu is accepted and ignored (llama.cpp CPU backend)";

/// Engine failures; messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot initialise llama.cpp: {0}")]
    Init(String),
    #[error(
        "cannot load the model {path}: {detail}; check that it is a valid GGUF file (re-run discovery or pass --model-path)"
    )]
    Load { path: PathBuf, detail: String },
    #[error("cannot create a llama.cpp context (num_ctx={num_ctx}): {detail}; try a smaller --num-ctx")]
    Context { num_ctx: u32, detail: String },
    #[error("llama.cpp decode failed: {0}; try a smaller --num-batch or --num-ctx")]
    Decode(String),
    #[error("the prompt is empty after tokenisation")]
    EmptyPrompt,
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

/// A model loaded once per process.
pub struct LoadedModel {
    pub model: LlamaModel,
    pub path: PathBuf,
    pub load_duration: Duration,
    pub loaded_at: DateTime<Utc>,
    pub file_size_bytes: u64,
}

impl LoadedModel {
    /// GGUF metadata value, if present.
    pub fn meta(&self, key: &str) -> Option<String> {
        self.model.meta_val_str(key).ok()
    }
}

/// How long a model stays loaded after a call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeepAlive {
    Forever,
    For(Duration),
}

/// Parse Ollama's keep_alive: a number of seconds, a Go-style duration ("5m", "1h30m", "10s",
/// "500ms"), "0" to unload right away, or a negative value to keep forever.
pub fn parse_keep_alive(s: &str) -> Option<KeepAlive> {
    let s = s.trim();
    if s.starts_with('-') {
        return Some(KeepAlive::Forever);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs.is_finite().then(|| KeepAlive::For(Duration::from_secs_f64(secs)));
    }
    let mut total = 0.0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * mult;
        rest = &rest[unit_end..];
    }
    Some(KeepAlive::For(Duration::from_secs_f64(total)))
}

struct Entry {
    model: Option<Arc<LoadedModel>>,
    /// None = keep forever.
    expires: Option<Instant>,
    expires_at: Option<DateTime<Utc>>,
    slots: Arc<Semaphore>,
    parallel: usize,
}

/// What `/api/ps` lists.
#[derive(Debug, Clone)]
pub struct LoadedInfo {
    pub path: PathBuf,
    pub file_size_bytes: u64,
    pub expires_at: Option<DateTime<Utc>>,
    pub n_ctx_train: u32,
}

/// The process-wide registry of loaded models (keyed by path) and their generation slots.
pub struct Registry {
    entries: Mutex<HashMap<PathBuf, Entry>>,
    /// llama.cpp model loading and context creation are not safe to run concurrently.
    load_lock: Mutex<()>,
    default_parallel: usize,
}

impl Registry {
    /// The one registry of this process.
    pub fn global() -> &'static Registry {
        static REG: OnceLock<Registry> = OnceLock::new();
        REG.get_or_init(|| Registry {
            entries: Mutex::new(HashMap::new()),
            load_lock: Mutex::new(()),
            default_parallel: std::env::var(PARALLEL_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(1)
                .max(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Set how many generations may run at once on the model at `path` in this process. Takes
    /// effect when no generation is running on it (otherwise the current setting stays).
    /// Returns the value in force.
    pub fn set_parallel(&self, path: &Path, n: usize) -> usize {
        let n = n.max(1);
        let mut m = self.lock();
        let e = m.entry(path.to_path_buf()).or_insert_with(|| Entry::new(n));
        if e.parallel != n && e.slots.available_permits() == e.parallel {
            e.slots = Arc::new(Semaphore::new(n));
            e.parallel = n;
        }
        e.parallel
    }

    /// The generation slots of a model (a semaphore shared by every caller in the process).
    pub fn slots(&self, path: &Path) -> Arc<Semaphore> {
        let n = self.default_parallel;
        self.lock().entry(path.to_path_buf()).or_insert_with(|| Entry::new(n)).slots.clone()
    }

    /// The loaded model, loading it now if needed. Returns the model and the time spent loading
    /// in this call (zero when it was already loaded).
    pub fn get_or_load(&self, path: &Path) -> Result<(Arc<LoadedModel>, Duration), EngineError> {
        if let Some(m) = self.lock().get(path).and_then(|e| e.model.clone()) {
            return Ok((m, Duration::ZERO));
        }
        let _g = self.load_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = self.lock().get(path).and_then(|e| e.model.clone()) {
            return Ok((m, Duration::ZERO));
        }
        let backend = llama()?;
        let t0 = Instant::now();
        let params = LlamaModelParams::default();
        let model = LlamaModel::load_from_file(backend, path, &params)
            .map_err(|e| EngineError::Load { path: path.to_path_buf(), detail: e.to_string() })?;
        let load_duration = t0.elapsed();
        let loaded = Arc::new(LoadedModel {
            model,
            path: path.to_path_buf(),
            load_duration,
            loaded_at: Utc::now(),
            file_size_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        });
        let n = self.default_parallel;
        let mut m = self.lock();
        let e = m.entry(path.to_path_buf()).or_insert_with(|| Entry::new(n));
        e.model = Some(loaded.clone());
        e.expires = None;
        e.expires_at = None;
        Ok((loaded, load_duration))
    }

    /// After a call: keep the model for `keep`, or unload it now when `keep` is zero and no one
    /// else holds it.
    pub fn release(&self, path: &Path, keep: KeepAlive) {
        let mut m = self.lock();
        let Some(e) = m.get_mut(path) else { return };
        match keep {
            KeepAlive::Forever => {
                e.expires = None;
                e.expires_at = None;
            }
            KeepAlive::For(d) => {
                e.expires = Some(Instant::now() + d);
                e.expires_at = chrono::Duration::from_std(d).ok().map(|d| Utc::now() + d);
            }
        }
        if keep == KeepAlive::For(Duration::ZERO) {
            Self::unload_if_idle(e);
        }
    }

    fn unload_if_idle(e: &mut Entry) {
        if e.model.as_ref().is_some_and(|m| Arc::strong_count(m) == 1) {
            e.model = None;
            e.expires = None;
            e.expires_at = None;
        }
    }

    /// Unload every model whose keep_alive has expired and that no call is using.
    pub fn reap_expired(&self) -> usize {
        let now = Instant::now();
        let mut n = 0;
        for e in self.lock().values_mut() {
            if e.model.is_some() && e.expires.is_some_and(|t| t <= now) {
                Self::unload_if_idle(e);
                n += usize::from(e.model.is_none());
            }
        }
        n
    }

    /// Models loaded now.
    pub fn loaded(&self) -> Vec<LoadedInfo> {
        let mut v: Vec<LoadedInfo> = self
            .lock()
            .values()
            .filter_map(|e| {
                e.model.as_ref().map(|m| LoadedInfo {
                    path: m.path.clone(),
                    file_size_bytes: m.file_size_bytes,
                    expires_at: e.expires_at,
                    n_ctx_train: m.model.n_ctx_train(),
                })
            })
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    /// True when the model at `path` is loaded.
    pub fn is_loaded(&self, path: &Path) -> bool {
        self.lock().get(path).is_some_and(|e| e.model.is_some())
    }
}

impl Entry {
    fn new(parallel: usize) -> Self {
        let parallel = parallel.max(1);
        Entry {
            model: None,
            expires: None,
            expires_at: None,
            slots: Arc::new(Semaphore::new(parallel)),
            parallel,
        }
    }
}

/// One generation job for the decode loop.
#[derive(Debug, Clone)]
pub struct Job {
    pub prompt: String,
    pub stops: Vec<String>,
    pub options: GenOptions,
}

/// How a generation ended, with server-style timings.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub timings: ServerTimings,
    /// "stop" (end of text or a stop sequence), "length" (num_predict or context full),
    /// "cancelled" (the caller went away).
    pub done_reason: &'static str,
    pub prompt_truncated: bool,
    /// llama.cpp's own counters (with_no_perf(false)): prompt tokens, prompt ms, decode runs, decode ms.
    pub llama_perf: (i32, f64, i32, f64),
    pub n_ctx: u32,
}

/// Number of CPU threads used when num_thread is unset.
pub fn default_threads() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2)
}

fn seed_of(o: &GenOptions) -> u32 {
    match o.seed {
        Some(s) if s >= 0 => s as u32,
        _ => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            (t.as_nanos() as u32) ^ std::process::id()
        }
    }
}

fn build_sampler(model: &LlamaModel, o: &GenOptions, n_ctx: u32) -> LlamaSampler {
    let temp = o.temperature.unwrap_or(defaults::TEMPERATURE);
    let penalty = o.repeat_penalty.unwrap_or(defaults::REPEAT_PENALTY) as f32;
    let last_n = match o.repeat_last_n.unwrap_or(defaults::REPEAT_LAST_N) {
        -1 => n_ctx as i32,
        n => n.clamp(0, i64::from(n_ctx)) as i32,
    };
    let mut chain = Vec::new();
    if penalty != 1.0 && last_n > 0 {
        chain.push(LlamaSampler::penalties(model.n_vocab(), last_n, penalty, 0.0, 0.0));
    }
    if temp <= 0.0 {
        chain.push(LlamaSampler::greedy());
        return LlamaSampler::chain(chain, false);
    }
    let top_k = o.top_k.unwrap_or(defaults::TOP_K);
    if top_k > 0 {
        chain.push(LlamaSampler::top_k(top_k as i32));
    }
    if let Some(p) = o.typical_p.filter(|p| *p < 1.0) {
        chain.push(LlamaSampler::typical(p as f32, 1));
    }
    let top_p = o.top_p.unwrap_or(defaults::TOP_P);
    if top_p < 1.0 {
        chain.push(LlamaSampler::top_p(top_p as f32, 1));
    }
    let min_p = o.min_p.unwrap_or(defaults::MIN_P);
    if min_p > 0.0 {
        chain.push(LlamaSampler::min_p(min_p as f32, 1));
    }
    chain.push(LlamaSampler::temp(temp as f32));
    chain.push(LlamaSampler::dist(seed_of(o)));
    LlamaSampler::chain(chain, false)
}

/// Incremental UTF-8: token pieces may split a multi-byte character.
#[derive(Default)]
struct Utf8Buf {
    bytes: Vec<u8>,
}

impl Utf8Buf {
    fn push(&mut self, b: &[u8]) -> String {
        self.bytes.extend_from_slice(b);
        match std::str::from_utf8(&self.bytes) {
            Ok(s) => {
                let out = s.to_string();
                self.bytes.clear();
                out
            }
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                let out = String::from_utf8_lossy(&self.bytes[..valid]).into_owned();
                self.bytes.drain(..valid);
                out
            }
            Err(_) => {
                let out = String::from_utf8_lossy(&self.bytes).into_owned();
                self.bytes.clear();
                out
            }
        }
    }
    fn flush(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.bytes).into_owned();
        self.bytes.clear();
        out
    }
}

/// Keep the prompt within the context: BOS plus the most recent tokens, leaving room to answer.
fn fit_prompt(tokens: Vec<LlamaToken>, n_ctx: u32, num_predict: i64) -> (Vec<LlamaToken>, bool) {
    let n_ctx = n_ctx as usize;
    let reserve = if num_predict > 0 { num_predict as usize } else { n_ctx / 4 };
    let reserve = reserve.clamp(1, (n_ctx / 2).max(1));
    let limit = n_ctx.saturating_sub(reserve).max(2);
    if tokens.len() <= limit {
        return (tokens, false);
    }
    let mut kept = Vec::with_capacity(limit);
    kept.push(tokens[0]);
    kept.extend_from_slice(&tokens[tokens.len() - (limit - 1)..]);
    (kept, true)
}

/// Run one generation on the calling (blocking) thread. Each text piece goes to `emit`; when
/// `emit` returns false (the caller went away) generation stops with done_reason "cancelled".
pub fn run(
    model: &LoadedModel,
    model_load: Duration,
    job: &Job,
    mut emit: impl FnMut(String) -> bool,
) -> Result<Outcome, EngineError> {
    let t_start = Instant::now();
    let backend = llama()?;
    let o = &job.options;
    let n_ctx = o.num_ctx.unwrap_or(defaults::NUM_CTX).max(8);
    let n_batch = o.num_batch.unwrap_or(defaults::NUM_BATCH).clamp(1, n_ctx);
    let threads = o.num_thread.unwrap_or_else(default_threads).max(1) as i32;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_batch)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_no_perf(false);
    let mut ctx = {
        let _g = Registry::global().load_lock.lock().unwrap_or_else(|p| p.into_inner());
        model
            .model
            .new_context(backend, params)
            .map_err(|e| EngineError::Context { num_ctx: n_ctx, detail: e.to_string() })?
    };
    let load = model_load + t_start.elapsed();

    let vocab = model.model.vocab();
    let tokens = vocab.tokenize(job.prompt.as_bytes(), true, false);
    if tokens.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    let num_predict = o.num_predict.unwrap_or(-1);
    let (tokens, truncated) = fit_prompt(tokens, n_ctx, num_predict);

    // Prompt evaluation, in batches of n_batch.
    let t_prompt = Instant::now();
    let mut batch = LlamaBatch::new(n_batch as usize, 1);
    let last = tokens.len() - 1;
    for (ci, chunk) in tokens.chunks(n_batch as usize).enumerate() {
        batch.clear();
        for (j, &t) in chunk.iter().enumerate() {
            let pos = ci * n_batch as usize + j;
            batch.add(t, pos as i32, &[0], pos == last).map_err(|e| EngineError::Decode(e.to_string()))?;
        }
        ctx.decode(&mut batch).map_err(|e| EngineError::Decode(e.to_string()))?;
    }
    let prompt_dur = t_prompt.elapsed();

    // Decode loop.
    let mut sampler = build_sampler(&model.model, o, n_ctx);
    let mut stops = StopMatcher::new(o.stop.iter().cloned().chain(job.stops.iter().cloned()));
    let mut utf8 = Utf8Buf::default();
    let mut n_past = tokens.len() as i32;
    let mut n_gen: u64 = 0;
    let t_eval = Instant::now();
    let mut eval_end = t_eval;
    let mut reason = "stop";
    let mut piece_buf = Vec::with_capacity(32);
    loop {
        let tok = sampler.sample(&ctx, batch.n_tokens() - 1);
        if vocab.is_eog(tok) {
            break;
        }
        n_gen += 1;
        piece_buf.clear();
        vocab.token_to_piece_into(tok, &mut piece_buf, false, None);
        let text = utf8.push(&piece_buf);
        eval_end = Instant::now();
        match stops.push(&text) {
            Pushed::Emit(s) => {
                if !s.is_empty() && !emit(s) {
                    reason = "cancelled";
                    break;
                }
            }
            Pushed::Stop(s) => {
                if !s.is_empty() {
                    emit(s);
                }
                break;
            }
        }
        if num_predict > 0 && n_gen >= num_predict as u64 {
            reason = "length";
            break;
        }
        if n_past as u32 >= n_ctx {
            reason = "length";
            break;
        }
        batch.clear();
        batch.add(tok, n_past, &[0], true).map_err(|e| EngineError::Decode(e.to_string()))?;
        n_past += 1;
        ctx.decode(&mut batch).map_err(|e| EngineError::Decode(e.to_string()))?;
    }
    if reason != "cancelled" {
        let tail = utf8.flush() + &stops.flush();
        if !tail.is_empty() {
            emit(tail);
        }
    }
    let perf = ctx.timings();
    let ns = |d: Duration| d.as_nanos() as u64;
    Ok(Outcome {
        timings: ServerTimings {
            total_duration_ns: Some(ns(model_load) + ns(t_start.elapsed())),
            load_duration_ns: Some(ns(load)),
            prompt_eval_count: Some(tokens.len() as u64),
            prompt_eval_duration_ns: Some(ns(prompt_dur)),
            eval_count: Some(n_gen),
            eval_duration_ns: Some(ns(eval_end.duration_since(t_eval))),
        },
        done_reason: reason,
        prompt_truncated: truncated,
        llama_perf: (perf.n_p_eval(), perf.t_p_eval_ms(), perf.n_eval(), perf.t_eval_ms()),
        n_ctx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_parsing() {
        assert_eq!(parse_keep_alive("0"), Some(KeepAlive::For(Duration::ZERO)));
        assert_eq!(parse_keep_alive("300"), Some(KeepAlive::For(Duration::from_secs(300))));
        assert_eq!(parse_keep_alive("5m"), Some(KeepAlive::For(Duration::from_secs(300))));
        assert_eq!(parse_keep_alive("1h30m"), Some(KeepAlive::For(Duration::from_secs(5400))));
        assert_eq!(parse_keep_alive("500ms"), Some(KeepAlive::For(Duration::from_millis(500))));
        assert_eq!(parse_keep_alive("-1"), Some(KeepAlive::Forever));
        assert_eq!(parse_keep_alive("-1m"), Some(KeepAlive::Forever));
        assert_eq!(parse_keep_alive("5 parsecs"), None);
    }

    #[test]
    fn parallel_slots_change_only_when_idle() {
        let r = Registry::global();
        let p = Path::new("/nonexistent/slots-test.gguf");
        assert_eq!(r.set_parallel(p, 3), 3);
        let slots = r.slots(p);
        assert_eq!(slots.available_permits(), 3);
        let busy = slots.clone().try_acquire_owned().unwrap();
        assert_eq!(r.set_parallel(p, 1), 3, "not changed while a generation runs");
        drop(busy);
        assert_eq!(r.set_parallel(p, 1), 1);
        assert_eq!(r.slots(p).available_permits(), 1);
        assert!(!r.is_loaded(p));
    }

    #[test]
    fn utf8_split_across_pieces() {
        let mut u = Utf8Buf::default();
        let e = "é".as_bytes();
        assert_eq!(u.push(b"caf"), "caf");
        assert_eq!(u.push(&e[..1]), "");
        assert_eq!(u.push(&e[1..]), "é");
        assert_eq!(u.flush(), "");
    }

    #[test]
    fn prompt_fitting_keeps_bos_and_tail() {
        let t: Vec<LlamaToken> = (0..100).map(LlamaToken::new).collect();
        let (kept, trunc) = fit_prompt(t.clone(), 64, 16);
        assert!(trunc);
        assert_eq!(kept.len(), 48);
        assert_eq!(kept[0], LlamaToken::new(0));
        assert_eq!(*kept.last().unwrap(), LlamaToken::new(99));
        let (kept, trunc) = fit_prompt(t[..10].to_vec(), 64, 16);
        assert!(!trunc);
        assert_eq!(kept.len(), 10);
    }
}
