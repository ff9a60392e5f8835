//! `chimera serve`: Ollama's HTTP API on the embedded engine (generate, chat, tags, ps, show,
//! version), with a bounded queue (503 when full), a request-size limit, keep_alive and
//! graceful shutdown. [`spawn`] starts it in-process (tests use 127.0.0.1:0).

mod wire;

pub use wire::{BadRequest, parse_chat, parse_generate};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chimera_core::backend::BackendError;
use serde_json::{Value, json};
use tokio::sync::{OnceCell, oneshot};

use crate::backend::EmbeddedBackend;
use crate::engine::{self, KeepAlive, Registry};
use crate::meta::{self, ModelMeta};
use crate::model;

/// Settings of one server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to bind; loopback by default (binding elsewhere is the caller's explicit choice).
    pub host: String,
    /// 0 = any free port.
    pub port: u16,
    /// Requests running at once (batched); None = the engine's default
    /// (`engine::default_parallel`, or CHIMERA_NUM_PARALLEL).
    pub parallel: Option<usize>,
    /// Requests allowed to wait for a slot; more answer 503.
    pub queue: usize,
    /// The GGUF to serve (see `model::discover`).
    pub model_path: PathBuf,
    /// Largest accepted request body, bytes (larger: 413).
    pub max_body_bytes: usize,
    /// keep_alive when a request sets none (Ollama: 5 minutes).
    pub keep_alive: KeepAlive,
    /// Load the model before accepting requests.
    pub preload: bool,
    /// A connection that does not send a complete request head within this time — a half-sent
    /// request, or an idle keep-alive connection — is closed.
    pub header_timeout: Duration,
    /// On shutdown, running requests get this long to finish; then every connection is closed.
    pub shutdown_deadline: Duration,
}

impl ServeConfig {
    /// Defaults for `model_path`: 127.0.0.1, any free port, default parallel, queue 512 (Ollama's
    /// OLLAMA_MAX_QUEUE), 10 MiB bodies, keep_alive 5 minutes, no preload.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        ServeConfig {
            host: "127.0.0.1".into(),
            port: 0,
            parallel: None,
            queue: 512,
            model_path: model_path.into(),
            max_body_bytes: 10 * 1024 * 1024,
            keep_alive: KeepAlive::For(Duration::from_secs(engine::defaults::KEEP_ALIVE_SECS)),
            preload: false,
            header_timeout: Duration::from_secs(30),
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}; pick another --port (is another server running there?)")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot load the model: {0}")]
    Preload(String),
}

/// A running server; dropping it without `shutdown` leaves it running until the runtime stops.
pub struct ServeHandle {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ServeHandle {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting connections, let running requests finish, and wait.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.map_err(std::io::Error::other)?
    }

    /// Wait until the server stops by itself (it only does on error).
    pub async fn wait(self) -> std::io::Result<()> {
        let _keep = self.stop;
        self.task.await.map_err(std::io::Error::other)?
    }
}

struct AppState {
    engine: EmbeddedBackend,
    pending: AtomicUsize,
    limit: usize,
    meta: OnceCell<Option<ModelMeta>>,
    digest: OnceCell<String>,
}

impl AppState {
    async fn meta(&self) -> Option<ModelMeta> {
        self.meta
            .get_or_init(|| async {
                let p = self.engine.model_path().to_path_buf();
                tokio::task::spawn_blocking(move || meta::read(&p)).await.ok().flatten()
            })
            .await
            .clone()
    }

    async fn digest(&self) -> String {
        self.digest
            .get_or_init(|| async {
                let p = self.engine.model_path().to_path_buf();
                tokio::task::spawn_blocking(move || model::sha256_of(&p).unwrap_or_default())
                    .await
                    .unwrap_or_default()
            })
            .await
            .clone()
    }
}

/// Counts a request as pending until dropped.
struct Pending(Arc<AppState>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Bind and start serving in the background.
pub async fn spawn(config: ServeConfig) -> Result<ServeHandle, ServeError> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind { addr: addr.clone(), source })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    let mut engine = EmbeddedBackend::new(config.model_path.clone()).with_keep_alive(config.keep_alive);
    if let Some(n) = config.parallel {
        engine = engine.with_parallel(n);
    }
    if config.preload {
        engine.preload().await.map_err(|e| ServeError::Preload(e.to_string()))?;
    }
    // After the load: the default depends on the model (engine::default_parallel).
    let parallel = Registry::global().parallel(&config.model_path);
    let state = Arc::new(AppState {
        engine,
        pending: AtomicUsize::new(0),
        limit: parallel + config.queue,
        meta: OnceCell::new(),
        digest: OnceCell::new(),
    });
    let app = router(state.clone(), config.max_body_bytes);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let reaper = tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            Registry::global().reap_expired();
        }
    });
    let timeouts = (config.header_timeout, config.shutdown_deadline);
    let task = tokio::spawn(async move {
        let r = accept_loop(listener, app, stop_rx, timeouts).await;
        reaper.abort();
        r
    });
    Ok(ServeHandle { addr: local, stop: Some(stop_tx), task })
}

/// Serve connections until `stop` fires: each connection must send a complete request head
/// within `header_timeout` (hyper's timer; this also ends idle keep-alive connections), and on
/// stop, running requests get `deadline` to finish before every connection is dropped.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: oneshot::Receiver<()>,
    (header_timeout, deadline): (Duration, Duration),
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1 only (what Ollama clients speak): without the HTTP/2 sniffing read, the header
    // timer also runs on a connection that sends nothing at all.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                // An accept error (e.g. too many open files) concerns one connection: go on
                // after a pause, so a persistent one does not spin.
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let svc = TowerToHyperService::new(app.clone());
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                conns.spawn(async move {
                    let _ = conn.await;
                });
            }
            // Reap finished connection tasks as they end.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    if tokio::time::timeout(deadline, graceful.shutdown()).await.is_err() {
        // Past the deadline: close whatever is still open (half-sent requests included).
        conns.abort_all();
    }
    Ok(())
}

fn router(state: Arc<AppState>, max_body: usize) -> Router {
    Router::new()
        .route("/", get(|| async { "Ollama is running" }).head(|| async { StatusCode::OK }))
        .route("/api/version", get(version))
        .route("/api/tags", get(tags))
        .route("/api/ps", get(ps))
        .route("/api/show", post(show))
        .route("/api/generate", post(generate))
        .route("/api/chat", post(chat))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "404 page not found") })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
}

fn body_error(r: BytesRejection) -> Response {
    let status = r.status();
    let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "request body too large".to_string()
    } else {
        r.body_text()
    };
    error(status, msg)
}

fn backend_error(e: &BackendError) -> Response {
    match e {
        BackendError::ModelNotFound { model, .. } => error(
            StatusCode::NOT_FOUND,
            format!("model '{model}' not found; this server serves '{}'", model::DEFAULT_MODEL_NAME),
        ),
        BackendError::InvalidRequest(m) => error(StatusCode::BAD_REQUEST, m.clone()),
        other => error(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

async fn version() -> Response {
    axum::Json(json!({ "version": crate::backend::ENGINE_VERSION_SHORT })).into_response()
}

async fn model_entry(st: &AppState) -> Value {
    let path = st.engine.model_path();
    let md = std::fs::metadata(path).ok();
    let modified = md.as_ref().and_then(|m| m.modified().ok()).map(|t| {
        chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    });
    let meta = st.meta().await.unwrap_or_default();
    json!({
        "name": model::DEFAULT_MODEL_NAME,
        "model": model::DEFAULT_MODEL_NAME,
        "modified_at": modified,
        "size": md.map(|m| m.len()).unwrap_or(0),
        "digest": st.digest().await,
        "details": details(&meta),
    })
}

fn details(meta: &ModelMeta) -> Value {
    let family = meta.architecture.clone().unwrap_or_default();
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": meta.size_label.clone().unwrap_or_default(),
        "quantization_level": meta.quantization.clone().unwrap_or_default(),
    })
}

async fn tags(State(st): State<Arc<AppState>>) -> Response {
    axum::Json(json!({ "models": [model_entry(&st).await] })).into_response()
}

async fn ps(State(st): State<Arc<AppState>>) -> Response {
    let path = st.engine.model_path().to_path_buf();
    let mut models = Vec::new();
    for l in Registry::global().loaded().into_iter().filter(|l| l.path == path) {
        let mut e = model_entry(&st).await;
        e["size"] = json!(l.file_size_bytes);
        e["size_vram"] = json!(0);
        e["expires_at"] = json!(l.expires_at.map_or_else(
            || "2318-01-01T00:00:00Z".to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        ));
        e["context_length"] = json!(l.context.map_or(engine::defaults::NUM_CTX, |c| c.n_ctx_slot));
        models.push(e);
    }
    axum::Json(json!({ "models": models })).into_response()
}

async fn show(State(st): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return body_error(r),
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid request body: {e}")),
    };
    let Some(name) = v.get("model").or_else(|| v.get("name")).and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "model is required");
    };
    if !st.engine.serves(name) {
        return error(StatusCode::NOT_FOUND, format!("model '{name}' not found"));
    }
    let meta = st.meta().await.unwrap_or_default();
    let arch = meta.architecture.clone().unwrap_or_default();
    let mut info = serde_json::Map::new();
    info.insert("general.architecture".into(), json!(arch));
    if let Some(n) = &meta.name {
        info.insert("general.name".into(), json!(n));
    }
    if let Some(c) = meta.context_length {
        info.insert(format!("{arch}.context_length"), json!(c));
    }
    json_ok(json!({
        "modelfile": format!("FROM {}\n", st.engine.model_path().display()),
        "parameters": format!("num_ctx {}", engine::defaults::NUM_CTX),
        "template": "{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}",
        "details": details(&meta),
        "model_info": info,
        "capabilities": ["completion"],
    }))
}

fn json_ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

async fn generate(State(st): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    match body {
        Ok(b) => run_call(st, wire::parse_generate(&b), false).await,
        Err(r) => body_error(r),
    }
}

async fn chat(State(st): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    match body {
        Ok(b) => run_call(st, wire::parse_chat(&b), true).await,
        Err(r) => body_error(r),
    }
}

async fn run_call(st: Arc<AppState>, call: Result<wire::Call, BadRequest>, chat: bool) -> Response {
    let t0 = Instant::now();
    let call = match call {
        Ok(c) => c,
        Err(BadRequest(m)) => return error(StatusCode::BAD_REQUEST, m),
    };
    if !st.engine.serves(&call.req.model) {
        return error(StatusCode::NOT_FOUND, format!("model '{}' not found", call.req.model));
    }
    if st.pending.fetch_add(1, Ordering::SeqCst) >= st.limit {
        st.pending.fetch_sub(1, Ordering::SeqCst);
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server busy, please try again. maximum pending requests exceeded",
        );
    }
    let pending = Pending(st.clone());
    if call.load_only {
        return load_only(&st, &call, chat).await;
    }
    // A num_ctx past the model's trained context (read from the GGUF header) is a 400 before
    // the stream starts; the engine checks it again, with the memory, before any allocation.
    if let (Some(n), Some(trained)) =
        (call.req.options.num_ctx, st.meta().await.and_then(|m| m.context_length))
    {
        let trained = u32::try_from(trained).unwrap_or(u32::MAX);
        if let Err(m) = engine::check_num_ctx(n, trained, 1, 0, None) {
            return error(StatusCode::BAD_REQUEST, format!("invalid request: {m}"));
        }
    }
    let model_name = call.req.model.clone();
    if !call.stream {
        let mut text = String::new();
        let r = st.engine.run_call(&call.req, |p| text.push_str(p)).await;
        drop(pending);
        return match r {
            Ok(o) => {
                let mut m = wire::chunk(&model_name, chat, &text, true);
                wire::finish(&mut m, &o, t0.elapsed());
                json_ok(Value::Object(m))
            }
            Err(e) => backend_error(&e),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        let _pending = pending;
        let run = st.engine.run_call(&call.req, |p| {
            let _ = tx.send(wire::line(&wire::chunk(&model_name, chat, p, false)));
        });
        let r = tokio::select! {
            r = run => r,
            // The client went away: dropping `run` stops the engine at its next token.
            _ = tx.closed() => return,
        };
        let last = match r {
            Ok(o) => {
                let mut m = wire::chunk(&model_name, chat, "", true);
                wire::finish(&mut m, &o, t0.elapsed());
                m
            }
            Err(e) => {
                let mut m = serde_json::Map::new();
                m.insert("error".into(), json!(e.to_string()));
                m
            }
        };
        let _ = tx.send(wire::line(&last));
    });
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx)) },
        );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "cannot build the response"))
}

/// Ollama's empty-prompt request: load the model (or unload it with keep_alive 0).
async fn load_only(st: &AppState, call: &wire::Call, chat: bool) -> Response {
    let unload = call
        .req
        .keep_alive
        .as_deref()
        .and_then(engine::parse_keep_alive)
        .is_some_and(|k| k == KeepAlive::For(Duration::ZERO));
    let reason = if unload {
        Registry::global().release(st.engine.model_path(), KeepAlive::For(Duration::ZERO));
        "unload"
    } else {
        if let Err(e) = st.engine.preload().await {
            return backend_error(&e);
        }
        let keep = call.req.keep_alive.as_deref().and_then(engine::parse_keep_alive);
        Registry::global().release(st.engine.model_path(), keep.unwrap_or(st.engine.keep_alive_default()));
        "load"
    };
    let mut m = wire::chunk(&call.req.model, chat, "", true);
    m.insert("done_reason".into(), json!(reason));
    json_ok(Value::Object(m))
}
