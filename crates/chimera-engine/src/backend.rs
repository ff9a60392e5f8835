//! `EmbeddedBackend`: the `chimera_core::backend::Backend` contract on the in-process engine.
//! Every instance for the same GGUF shares one loaded model and its scheduler.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chimera_core::backend::{
    Backend, BackendError, BackendInfo, BackendKind, CallFailure, CallRecord, CallRecorder, GenRequest,
    TokenSink,
};

use crate::engine::{self, KeepAlive, LoadedModel, Registry};
use crate::meta;
use crate::model::{self, ModelError};
use crate::template::{self, Framing};

/// Version string reported by the embedded engine (also says there is no GPU).
pub const ENGINE_VERSION: &str = concat!(
    "chimera-engine ",
    env!("CARGO_PKG_VERSION"),
    " (llama.cpp via llama-cpp-2 0.1.160, CPU only: no GPU in this build)"
);

/// The version `/api/version` reports (chimera's own version).
pub const ENGINE_VERSION_SHORT: &str = env!("CARGO_PKG_VERSION");

/// llama.cpp in-process, behind the `Backend` trait.
#[derive(Clone, Debug)]
pub struct EmbeddedBackend {
    path: PathBuf,
    keep_alive_default: KeepAlive,
    /// The name the GGUF header gives the model (`smollm2:135m`), read once.
    header_name: Arc<OnceLock<String>>,
}

impl EmbeddedBackend {
    /// An engine on the GGUF at `path` (loaded lazily on the first call, once per process).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        EmbeddedBackend {
            path: path.into(),
            keep_alive_default: KeepAlive::Forever,
            header_name: Arc::new(OnceLock::new()),
        }
    }

    /// Discover the default model (`--model-path`, `CHIMERA_MODEL_PATH`, cache, PyPI package).
    pub fn discover(explicit: Option<&Path>) -> Result<Self, ModelError> {
        model::discover(explicit).map(Self::new)
    }

    /// Run `n` requests at once on this model in this process (batched in one llama.cpp context;
    /// default [`engine::default_parallel`] or CHIMERA_NUM_PARALLEL; further calls queue). Takes
    /// effect when no request is running on the model.
    pub fn with_parallel(self, n: usize) -> Self {
        Registry::global().set_parallel(&self.path, n);
        self
    }

    /// keep_alive used when a request does not set one (default: keep loaded).
    pub fn with_keep_alive(mut self, k: KeepAlive) -> Self {
        self.keep_alive_default = k;
        self
    }

    /// keep_alive applied when a request sets none.
    pub fn keep_alive_default(&self) -> KeepAlive {
        self.keep_alive_default
    }

    /// The GGUF file.
    pub fn model_path(&self) -> &Path {
        &self.path
    }

    /// Load the model now (instead of on the first call). Returns the load time (zero if it was
    /// already loaded).
    pub async fn preload(&self) -> Result<Duration, BackendError> {
        self.load().await.map(|(_, d)| d)
    }

    /// The loaded model (loading it if needed) and the load time.
    async fn load(&self) -> Result<(Arc<LoadedModel>, Duration), BackendError> {
        let path = self.path.clone();
        let r = tokio::task::spawn_blocking(move || Registry::global().get_or_load(&path)).await;
        match r {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) => Err(BackendError::Engine(e.to_string())),
            Err(e) => Err(BackendError::Engine(format!("engine thread failed: {e}"))),
        }
    }

    /// The name the model's GGUF header gives it, as `serve` lists it (`gemma3:270m`,
    /// `smollm2:135m`; see [`meta::name_from_meta`]).
    pub fn name(&self) -> &str {
        self.header_name.get_or_init(|| meta::name_from_meta(meta::read(&self.path).as_ref(), &self.path))
    }

    /// True when `name` designates this engine's model: a default model name (`gemma3:270m`),
    /// the file's path or stem, or the name its header gives it ([`Self::name`]).
    pub fn serves(&self, name: &str) -> bool {
        model::name_matches_default(name)
            || Path::new(name) == self.path
            || self.path.file_stem().is_some_and(|s| s.to_string_lossy() == name)
            || name.trim() == self.name()
    }

    /// Notes to record with results made on this backend (e.g. num_gpu being ignored).
    pub fn notes(&self, req: Option<&GenRequest>) -> Vec<String> {
        let mut v = Vec::new();
        if req.is_none_or(|r| r.options.num_gpu.is_some()) {
            v.push(engine::NO_GPU_NOTE.to_string());
        }
        v
    }

    /// Run a call whose text pieces are delivered to `on_piece` (used by `serve`): load the
    /// model if needed, render the prompt (`framing`: the model's chat template, or raw text),
    /// queue the job on the model's scheduler, stream its pieces. Dropping the returned future
    /// cancels the request (its slot is freed at the next step). The caller has checked that
    /// `req.model` names this model (`serve` by its list of names, `generate` by [`Self::serves`]).
    pub(crate) async fn run_call(
        &self,
        req: &GenRequest,
        framing: Framing,
        mut on_piece: impl FnMut(&str),
    ) -> Result<engine::Outcome, BackendError> {
        req.options.validate().map_err(|e| BackendError::InvalidRequest(e.to_string()))?;
        let keep = match req.keep_alive.as_deref() {
            None => self.keep_alive_default,
            Some(s) => engine::parse_keep_alive(s).ok_or_else(|| {
                BackendError::InvalidRequest(format!(
                    "keep_alive '{s}' is not a duration (use e.g. \"5m\", \"0\" or -1)"
                ))
            })?,
        };
        let mut events = loop {
            let (model, load) = self.load().await?;
            let rendered = template::render_for(req, framing, &model.model, model.chat_template.as_ref())
                .map_err(|e| BackendError::InvalidRequest(e.to_string()))?;
            let job = engine::Job {
                prompt: rendered.text,
                stops: rendered.stops,
                parse_special: rendered.parse_special,
                options: req.options.clone(),
            };
            // Before any context is built for it: a num_ctx the model or the memory cannot hold
            // is refused (serve answers 400), never allocated.
            if let Some(n) = req.options.num_ctx {
                let slots = Registry::global().parallel(&self.path);
                engine::check_num_ctx(
                    n,
                    model.model.n_ctx_train(),
                    slots,
                    model.kv_bytes_per_token,
                    engine::mem_total(),
                )
                .map_err(BackendError::InvalidRequest)?;
            }
            // The model may be unloaded between loading and submitting (keep_alive): load again.
            if let Some(rx) = Registry::global().submit(&self.path, job, load) {
                break rx;
            }
        };
        let mut result = Err(BackendError::Engine(engine::EngineError::Stopped.to_string()));
        while let Some(ev) = events.recv().await {
            match ev {
                engine::Event::Piece(p) => on_piece(&p),
                engine::Event::Done(r) => {
                    result = r.map_err(|e| BackendError::Engine(e.to_string()));
                    break;
                }
            }
        }
        Registry::global().release(&self.path, keep);
        result
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Embedded
    }

    fn endpoint(&self) -> String {
        format!("embedded:{}", self.path.display())
    }

    async fn info(&self, model_name: Option<&str>) -> Result<BackendInfo, BackendError> {
        let mut info = BackendInfo {
            kind: Some(BackendKind::Embedded),
            endpoint: self.endpoint(),
            version: Some(ENGINE_VERSION.to_string()),
            ..Default::default()
        };
        if let Some(name) = model_name {
            if !self.serves(name) {
                return Err(BackendError::ModelNotFound { model: name.to_string(), url: self.endpoint() });
            }
            let path = self.path.clone();
            let digest =
                tokio::task::spawn_blocking(move || model::sha256_of(&path).ok()).await.ok().flatten();
            info.model = Some(name.to_string());
            info.model_digest = digest.map(|d| format!("sha256:{d}"));
            info.model_size_bytes = std::fs::metadata(&self.path).ok().map(|m| m.len());
            info.context_length = Some(u64::from(engine::defaults::NUM_CTX));
        }
        Ok(info)
    }

    async fn generate(&self, req: &GenRequest, on_token: TokenSink<'_>) -> Result<CallRecord, CallFailure> {
        let mut rec = CallRecorder::start(BackendKind::Embedded, &self.endpoint(), req);
        if !self.serves(&req.model) {
            let e = BackendError::ModelNotFound { model: req.model.clone(), url: self.endpoint() };
            return Err(rec.fail(e));
        }
        let result = self
            .run_call(req, Framing::Template, |piece| {
                if let Some(c) = rec.token(piece, false) {
                    on_token(c);
                }
            })
            .await;
        match result {
            Ok(outcome) => {
                rec.server_timings(outcome.timings);
                rec.done_reason(Some(outcome.done_reason.as_str().to_string()));
                rec.prompt_truncated(outcome.prompt_truncated);
                rec.prompt_tokens_dropped(outcome.prompt_dropped);
                Ok(rec.finish())
            }
            Err(e) => Err(rec.fail(e)),
        }
    }
}

/// Shared handle type used by callers that keep the backend behind an `Arc`.
pub type SharedEmbedded = Arc<EmbeddedBackend>;
