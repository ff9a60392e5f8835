//! A fake Ollama of known speed: answers `/api/version`, `/api/tags`, `/api/show`, `/api/ps`
//! and streams `/api/generate` + `/api/chat` with a latency profile that may depend on the
//! request (e.g. its `num_ctx`), so tests know the right answer in advance.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::script::{Final, Script, Timings};
use crate::server::{Reply, Request, ScriptedServer};

/// How fast one call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyProfile {
    /// Model load time, charged (inside `first_token`) only when the model or a load-time option
    /// (num_ctx, num_gpu, num_batch, num_thread) changed since the previous call; a warm call's
    /// first token comes `load` earlier and reports `load_duration` 0.
    pub load: Duration,
    /// First token offset after the request was received (cold call, load included).
    pub first_token: Duration,
    /// Gap between tokens.
    pub itl: Duration,
    pub n_tokens: usize,
    pub prompt_eval_count: u64,
}

impl LatencyProfile {
    /// No load time, 10 prompt tokens.
    pub fn new(first_token: Duration, itl: Duration, n_tokens: usize) -> Self {
        LatencyProfile { load: Duration::ZERO, first_token, itl, n_tokens, prompt_eval_count: 10 }
    }

    /// Builder: set the load time.
    pub fn with_load(mut self, load: Duration) -> Self {
        self.load = load;
        self
    }

    /// Builder: set the prompt token count (e.g. to trigger prompt truncation at num_ctx).
    pub fn with_prompt_eval_count(mut self, n: u64) -> Self {
        self.prompt_eval_count = n;
        self
    }

    /// First-token offset for a cold (`loaded == false`) or warm call.
    pub fn first_token_at(&self, cold: bool) -> Duration {
        if cold { self.first_token } else { self.first_token.saturating_sub(self.load) }
    }

    /// The durations reported in the final chunk. `eval_duration = itl × n_tokens`, so the
    /// server decode throughput `eval_count / eval_duration` is exactly `1 / itl`.
    pub fn timings(&self, cold: bool) -> Timings {
        let load = if cold { self.load } else { Duration::ZERO };
        let first = self.first_token_at(cold);
        let n = self.n_tokens as u32;
        Timings {
            total_duration_ns: (first + self.itl * n.saturating_sub(1)).as_nanos() as u64,
            load_duration_ns: load.as_nanos() as u64,
            prompt_eval_count: self.prompt_eval_count,
            prompt_eval_duration_ns: first.saturating_sub(load).as_nanos() as u64,
            eval_count: self.n_tokens as u64,
            eval_duration_ns: (self.itl * n).as_nanos() as u64,
        }
    }

    /// Server decode throughput this profile reports, tok/s (`1 / itl`).
    pub fn decode_tok_s(&self) -> f64 {
        1.0 / self.itl.as_secs_f64()
    }

    /// The token script for a cold or warm call.
    pub fn script(&self, cold: bool) -> Script {
        Script::tokens(self.first_token_at(cold), self.itl, self.n_tokens, Final::stop(self.timings(cold)))
    }
}

type ProfileFn = Arc<dyn Fn(&Request) -> LatencyProfile + Send + Sync + 'static>;

/// Builder for a fake Ollama server.
#[derive(Clone)]
pub struct FakeOllama {
    version: String,
    models: Vec<String>,
    profile: ProfileFn,
    loaded: Arc<Mutex<Option<(String, String)>>>,
}

/// `name` with `:latest` added when it has no tag (Ollama's normalisation).
fn normalise(name: &str) -> String {
    if name.contains(':') { name.to_string() } else { format!("{name}:latest") }
}

/// Ollama's "context_length" for a model whose request sent no num_ctx.
pub const FAKE_DEFAULT_NUM_CTX: i64 = 4096;
/// Size reported by `/api/tags` and `/api/ps`.
pub const FAKE_MODEL_SIZE: u64 = 291_554_930;

impl FakeOllama {
    /// Every call answered with `profile`; serves the model `gemma3:270m`.
    pub fn new(profile: LatencyProfile) -> Self {
        Self::with_profile(move |_| profile)
    }

    /// The profile is chosen per request (read `req.option_i64("num_ctx")`, `req.model()`, …).
    pub fn with_profile(f: impl Fn(&Request) -> LatencyProfile + Send + Sync + 'static) -> Self {
        FakeOllama {
            version: "0.12.0-fake".into(),
            models: vec!["gemma3:270m".into()],
            profile: Arc::new(f),
            loaded: Arc::new(Mutex::new(None)),
        }
    }

    /// Replace the list of installed models (others get Ollama's 404 "not found").
    pub fn models(mut self, names: &[&str]) -> Self {
        self.models = names.iter().map(|n| normalise(n)).collect();
        self
    }

    /// Set what `/api/version` reports.
    pub fn version(mut self, v: &str) -> Self {
        self.version = v.to_string();
        self
    }

    /// The request handler, to pass to [`ScriptedServer::start`] or wrap in your own.
    pub fn handler(self) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
        move |req| self.answer(req)
    }

    /// Start a concurrent fake server.
    pub async fn start(self) -> ScriptedServer {
        ScriptedServer::start(self.handler()).await
    }

    /// Start a fake that serves one request at a time.
    pub async fn start_serial(self) -> ScriptedServer {
        ScriptedServer::start_serial(self.handler()).await
    }

    fn digest(name: &str) -> String {
        use std::hash::{Hash, Hasher};
        let mut out = String::new();
        for i in 0..4u8 {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (name, i).hash(&mut h);
            out.push_str(&format!("{:016x}", h.finish()));
        }
        out
    }

    fn not_found(model: &str) -> Reply {
        Reply::JsonStatus(404, json!({"error": format!("model \"{model}\" not found, try pulling it first")}))
    }

    fn installed(&self, model: &str) -> bool {
        self.models.contains(&normalise(model))
    }

    fn answer(&self, req: &Request) -> Reply {
        let path = req.path.split('?').next().unwrap_or_default();
        match (req.method.as_str(), path) {
            ("GET", "/api/version") => Reply::Json(json!({"version": self.version})),
            ("GET", "/api/tags") => Reply::Json(json!({"models": self.models.iter().map(|m| json!({
                "name": m, "model": m, "modified_at": "2026-01-01T00:00:00Z", "size": FAKE_MODEL_SIZE,
                "digest": Self::digest(m),
                "details": {"format": "gguf", "family": "gemma3", "parameter_size": "268.10M", "quantization_level": "Q8_0"},
            })).collect::<Vec<_>>()})),
            ("GET", "/api/ps") => {
                let loaded = self.loaded.lock().ok().and_then(|l| l.clone());
                let models = loaded.map(|(m, key)| {
                    let ctx: i64 =
                        key.split(',').next().and_then(|c| c.parse().ok()).unwrap_or(FAKE_DEFAULT_NUM_CTX);
                    vec![json!({"name": m, "model": m, "size": FAKE_MODEL_SIZE, "digest": Self::digest(&m),
                        "details": {"family": "gemma3"}, "expires_at": "2026-01-01T00:05:00Z",
                        "size_vram": 0, "context_length": ctx})]
                });
                Reply::Json(json!({"models": models.unwrap_or_default()}))
            }
            ("POST", "/api/show") => {
                let model =
                    req.model().or_else(|| req.json.as_ref()?.get("name")?.as_str()).unwrap_or_default();
                if !self.installed(model) {
                    return Self::not_found(model);
                }
                Reply::Json(json!({
                    "modelfile": "FROM fake", "parameters": "", "template": "{{ .Prompt }}",
                    "details": {"format": "gguf", "family": "gemma3", "parameter_size": "268.10M", "quantization_level": "Q8_0"},
                    "model_info": {"general.architecture": "gemma3", "gemma3.context_length": 32768},
                    "capabilities": ["completion"],
                }))
            }
            ("POST", "/api/generate" | "/api/chat") => {
                let model = req.model().unwrap_or_default();
                if !self.installed(model) {
                    return Self::not_found(model);
                }
                let o = |k: &str| req.option_i64(k).map_or("-".to_string(), |v| v.to_string());
                let key = format!("{},{},{},{}", o("num_ctx"), o("num_gpu"), o("num_batch"), o("num_thread"));
                let state = (normalise(model), key);
                let cold = match self.loaded.lock() {
                    Ok(mut l) => {
                        let cold = l.as_ref() != Some(&state);
                        *l = Some(state);
                        cold
                    }
                    Err(_) => true,
                };
                Reply::Ollama((self.profile)(req).script(cold))
            }
            _ => Reply::Status(404, "404 page not found".into()),
        }
    }
}
