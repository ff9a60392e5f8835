//! The process-wide registry of loaded models: each GGUF path is loaded once and served by one
//! scheduler, shared by every `EmbeddedBackend` and every `serve` request; keep_alive unloads it
//! (model and context) once no request is queued or running.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
use tokio::sync::mpsc::UnboundedReceiver;

use super::job::{Event, Job, Request};
use super::keep_alive::KeepAlive;
use super::scheduler::{Scheduler, Shared};
use super::{
    EngineError, PARALLEL_ENV, cores, default_parallel, defaults, kv_bytes_per_token, llama, mem_total,
};

/// A model loaded once per process.
pub struct LoadedModel {
    pub model: LlamaModel,
    pub path: PathBuf,
    pub load_duration: Duration,
    pub loaded_at: DateTime<Utc>,
    pub file_size_bytes: u64,
    /// Sliding-window attention span (GGUF `<arch>.attention.sliding_window`; 0 = none).
    pub n_swa: u32,
    /// KV-cache bytes per token of context (see `plan::kv_bytes_per_token`).
    pub kv_bytes_per_token: u64,
    /// The chat template the GGUF carries (`tokenizer.chat_template`); None for base models.
    pub chat_template: Option<LlamaChatTemplate>,
}

impl LoadedModel {
    /// GGUF metadata value, if present.
    pub fn meta(&self, key: &str) -> Option<String> {
        self.model.meta_val_str(key).ok()
    }
}

/// The context a scheduler runs now (what `/api/ps` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextInfo {
    /// Context of each slot (num_ctx).
    pub n_ctx_slot: u32,
    pub slots: usize,
    /// Tokens the KV cache holds (llama.cpp's n_ctx: slots × num_ctx, padded).
    pub kv_cells: u32,
    pub n_threads: u32,
    pub n_batch: u32,
}

/// What `/api/ps` lists.
#[derive(Debug, Clone)]
pub struct LoadedInfo {
    pub path: PathBuf,
    pub file_size_bytes: u64,
    pub expires_at: Option<DateTime<Utc>>,
    pub n_ctx_train: u32,
    /// None until a request has built a context.
    pub context: Option<ContextInfo>,
}

struct Entry {
    model: Option<Arc<LoadedModel>>,
    scheduler: Option<Scheduler>,
    /// The scheduler's counters and settings (kept across unloads: `--parallel` stays).
    shared: Arc<Shared>,
    /// The slot count was set (`--parallel`, CHIMERA_NUM_PARALLEL), not the model's default.
    explicit: bool,
    /// None = keep forever.
    expires: Option<Instant>,
    expires_at: Option<DateTime<Utc>>,
}

impl Entry {
    fn new(parallel: Option<usize>) -> Self {
        let slots = parallel.unwrap_or_else(|| default_parallel(cores(), 0, None));
        let shared = Arc::new(Shared { slots: AtomicUsize::new(slots.max(1)), ..Default::default() });
        Entry {
            model: None,
            scheduler: None,
            shared,
            explicit: parallel.is_some(),
            expires: None,
            expires_at: None,
        }
    }

    fn inflight(&self) -> usize {
        self.shared.inflight.load(Ordering::SeqCst)
    }

    fn parallel(&self) -> usize {
        self.shared.slots.load(Ordering::SeqCst)
    }

    fn unload_if_idle(&mut self) {
        if self.inflight() == 0 {
            // Dropping the scheduler ends its thread, which frees the context and its model.
            self.scheduler = None;
            self.model = None;
            *self.shared.context.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.expires = None;
            self.expires_at = None;
        }
    }
}

/// llama.cpp model loading and context creation are not safe to run concurrently.
pub(crate) fn load_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A number from the model's GGUF metadata, `<arch>.<key>`.
fn arch_meta(model: &LlamaModel, key: &str) -> Option<u64> {
    let arch = model.meta_val_str("general.architecture").ok()?;
    model.meta_val_str(&format!("{arch}.{key}")).ok()?.parse().ok()
}

/// The model's KV-cache bytes per token (head sizes from the metadata, else n_embd / n_head).
fn kv_bytes(model: &LlamaModel) -> u64 {
    let head = u64::from(model.n_embd().unsigned_abs()) / u64::from(model.n_head().max(1));
    let key = arch_meta(model, "attention.key_length").unwrap_or(head);
    let value = arch_meta(model, "attention.value_length").unwrap_or(key);
    kv_bytes_per_token(u64::from(model.n_layer()), u64::from(model.n_head_kv()), key, value)
}

/// The process-wide registry of loaded models (keyed by path) and their schedulers.
pub struct Registry {
    entries: Mutex<HashMap<PathBuf, Entry>>,
    /// CHIMERA_NUM_PARALLEL, when set.
    env_parallel: Option<usize>,
}

impl Registry {
    /// The one registry of this process.
    pub fn global() -> &'static Registry {
        static REG: OnceLock<Registry> = OnceLock::new();
        REG.get_or_init(|| Registry {
            entries: Mutex::new(HashMap::new()),
            env_parallel: std::env::var(PARALLEL_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n > 0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry<'a>(&self, m: &'a mut HashMap<PathBuf, Entry>, path: &Path) -> &'a mut Entry {
        m.entry(path.to_path_buf()).or_insert_with(|| Entry::new(self.env_parallel))
    }

    /// Set how many requests run at once on the model at `path` in this process. Takes effect
    /// when no request is queued or running on it (otherwise the current setting stays).
    /// Returns the value in force.
    pub fn set_parallel(&self, path: &Path, n: usize) -> usize {
        let n = n.max(1);
        let mut m = self.lock();
        let e = self.entry(&mut m, path);
        if e.inflight() == 0 {
            e.shared.slots.store(n, Ordering::SeqCst);
            e.explicit = true;
        }
        e.parallel()
    }

    /// How many requests run at once on the model at `path`.
    pub fn parallel(&self, path: &Path) -> usize {
        let mut m = self.lock();
        self.entry(&mut m, path).parallel()
    }

    /// The loaded model (with its scheduler running), loading it now if needed. Returns the
    /// model and the time spent loading in this call (zero when it was already loaded).
    pub fn get_or_load(&self, path: &Path) -> Result<(Arc<LoadedModel>, Duration), EngineError> {
        if let Some(m) = self.lock().get(path).and_then(|e| e.model.clone()) {
            return Ok((m, Duration::ZERO));
        }
        let _g = load_lock();
        if let Some(m) = self.lock().get(path).and_then(|e| e.model.clone()) {
            return Ok((m, Duration::ZERO));
        }
        let backend = llama()?;
        let t0 = Instant::now();
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| EngineError::Load { path: path.to_path_buf(), detail: e.to_string() })?;
        let loaded = Arc::new(LoadedModel {
            n_swa: arch_meta(&model, "attention.sliding_window").unwrap_or(0) as u32,
            kv_bytes_per_token: kv_bytes(&model),
            chat_template: model.chat_template(None).ok(),
            model,
            path: path.to_path_buf(),
            load_duration: t0.elapsed(),
            loaded_at: Utc::now(),
            file_size_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        });
        let mut m = self.lock();
        let e = self.entry(&mut m, path);
        if !e.explicit {
            let slot = loaded.kv_bytes_per_token * u64::from(defaults::NUM_CTX);
            e.shared.slots.store(default_parallel(cores(), slot, mem_total()), Ordering::SeqCst);
        }
        e.scheduler = Some(Scheduler::start(loaded.clone(), e.shared.clone()));
        e.model = Some(loaded.clone());
        e.expires = None;
        e.expires_at = None;
        Ok((loaded.clone(), loaded.load_duration))
    }

    /// Queue `job` on the scheduler of the model at `path`; its text pieces and outcome arrive
    /// on the returned channel (drop it to cancel). None when the model is not loaded (load it
    /// with [`Registry::get_or_load`] and submit again). `model_load` is the time the caller
    /// spent loading the model for this job.
    pub fn submit(&self, path: &Path, job: Job, model_load: Duration) -> Option<UnboundedReceiver<Event>> {
        let m = self.lock();
        let s = m.get(path)?.scheduler.as_ref()?;
        let (req, rx) = Request::new(job, model_load);
        s.submit(req);
        Some(rx)
    }

    /// After a call: keep the model for `keep`, or unload it now when `keep` is zero and no
    /// other request is queued or running.
    pub fn release(&self, path: &Path, keep: KeepAlive) {
        let mut m = self.lock();
        let Some(e) = m.get_mut(path) else { return };
        match keep {
            KeepAlive::Forever => {
                e.expires = None;
                e.expires_at = None;
            }
            KeepAlive::For(d) => {
                // A time past what the clocks can hold (keep_alive 1e19) keeps the model as
                // "forever" does: never a panic on request input.
                e.expires = Instant::now().checked_add(d);
                e.expires_at = e
                    .expires
                    .and_then(|_| chrono::Duration::from_std(d).ok())
                    .and_then(|d| Utc::now().checked_add_signed(d));
            }
        }
        if keep == KeepAlive::For(Duration::ZERO) {
            e.unload_if_idle();
        }
    }

    /// Unload every model whose keep_alive has expired and that no request is using.
    pub fn reap_expired(&self) -> usize {
        let now = Instant::now();
        let mut n = 0;
        for e in self.lock().values_mut() {
            if e.model.is_some() && e.expires.is_some_and(|t| t <= now) {
                e.unload_if_idle();
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
                    context: *e.shared.context.lock().unwrap_or_else(|p| p.into_inner()),
                })
            })
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    /// Requests queued or running on the model at `path`.
    pub fn busy(&self, path: &Path) -> usize {
        self.lock().get(path).map_or(0, Entry::inflight)
    }

    /// True when the model at `path` is loaded.
    pub fn is_loaded(&self, path: &Path) -> bool {
        self.lock().get(path).is_some_and(|e| e.model.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_changes_only_when_idle() {
        let r = Registry::global();
        let p = Path::new("/nonexistent/slots-test.gguf");
        assert_eq!(r.set_parallel(p, 3), 3);
        assert_eq!(r.parallel(p), 3);
        let shared = r.entry(&mut r.lock(), p).shared.clone();
        shared.inflight.fetch_add(1, Ordering::SeqCst); // a request in flight
        assert_eq!(r.set_parallel(p, 1), 3, "not changed while a request runs");
        shared.inflight.fetch_sub(1, Ordering::SeqCst);
        assert_eq!(r.set_parallel(p, 1), 1);
        assert_eq!(r.parallel(p), 1);
        assert!(!r.is_loaded(p));
    }
}
