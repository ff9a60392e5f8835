//! `chimera serve`: Ollama's HTTP API (`ollama`) and OpenAI's (`openai`) on the embedded
//! engine, for one or several models (`models`), with a bounded queue (503 when full), a
//! request-size limit, keep_alive and graceful shutdown. [`spawn`] starts it in-process (tests
//! use 127.0.0.1:0). This module holds what both APIs share: admission and running a call.

mod models;
mod ollama;
mod openai;
mod openai_wire;
mod wire;

pub use models::{Models, NameClash, ServedModel};
pub use openai_wire::{OpenAiCall, parse_chat_completion, parse_completion};
pub use wire::{BadRequest, parse_chat, parse_generate};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chimera_core::backend::{BackendError, GenRequest};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

use crate::engine::{self, KeepAlive, Outcome, Registry};
use crate::template::Framing;

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
    /// The GGUFs to serve (see `model::discover`), each under the name its header gives
    /// ([`crate::meta::name_from_meta`]); the first is loaded at start (`preload`), the others on their
    /// first request.
    pub model_paths: Vec<PathBuf>,
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
    /// Defaults for serving `model_path` alone: 127.0.0.1, any free port, default parallel, queue 512 (Ollama's
    /// OLLAMA_MAX_QUEUE), 10 MiB bodies, keep_alive 5 minutes, no preload.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        ServeConfig {
            host: "127.0.0.1".into(),
            port: 0,
            parallel: None,
            queue: 512,
            model_paths: vec![model_path.into()],
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
    #[error("no model to serve: pass --model-path FILE.gguf or --models DIR")]
    NoModel,
    #[error(transparent)]
    Names(#[from] NameClash),
}

/// A running server; dropping it without `shutdown` leaves it running until the runtime stops.
pub struct ServeHandle {
    pub addr: SocketAddr,
    models: Vec<Arc<ServedModel>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ServeHandle {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The models served, in order, with the names they answer to.
    pub fn models(&self) -> &[Arc<ServedModel>] {
        &self.models
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

pub(crate) struct AppState {
    models: Models,
    pending: AtomicUsize,
    limit: usize,
}

/// Counts a request as pending until dropped.
pub(crate) struct Pending(Arc<AppState>);

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
    if config.model_paths.is_empty() {
        return Err(ServeError::NoModel);
    }
    let models = Models::new(&config.model_paths, config.parallel, config.keep_alive)?;
    if config.preload {
        let first = &models.all()[0].engine;
        first.preload().await.map_err(|e| ServeError::Preload(e.to_string()))?;
    }
    // After the load: the default depends on the model (engine::default_parallel).
    let parallel: usize = models.all().iter().map(|m| Registry::global().parallel(m.path())).sum();
    let state = Arc::new(AppState { models, pending: AtomicUsize::new(0), limit: parallel + config.queue });
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
    Ok(ServeHandle { addr: local, models: state.models.all().to_vec(), stop: Some(stop_tx), task })
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
        .route("/api/version", get(ollama::version))
        .route("/api/tags", get(ollama::tags))
        .route("/api/ps", get(ollama::ps))
        .route("/api/show", post(ollama::show))
        .route("/api/generate", post(ollama::generate))
        .route("/api/chat", post(ollama::chat))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{*id}", get(openai::model))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Unknown routes: 404 in the shape of the API the path belongs to.
async fn fallback(uri: axum::http::Uri) -> Response {
    let f = Failure::new(StatusCode::NOT_FOUND, "404 page not found");
    if uri.path().starts_with("/v1/") { openai::failure(&f) } else { ollama::failure(&f) }
}

/// A request refused or failed before its answer started; each API renders it in its own
/// error shape (Ollama `{"error": "..."}`, OpenAI `{"error": {"message", "type", "code"}}`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's error code (`model_not_found`), when there is one.
    pub code: Option<&'static str>,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure { status, message: message.into(), code: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    /// A body axum could not read (too large: 413).
    pub fn body(r: &axum::extract::rejection::BytesRejection) -> Self {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(status, "request body too large")
        } else {
            Failure::new(status, r.body_text())
        }
    }

    fn model_not_found(asked: &str, models: &Models) -> Self {
        Failure {
            status: StatusCode::NOT_FOUND,
            message: format!("model '{asked}' not found; this server serves: {}", models.names()),
            code: Some("model_not_found"),
        }
    }

    /// An engine error: 404 unknown model, 400 invalid request, else 500.
    pub fn backend(e: &BackendError) -> Self {
        match e {
            BackendError::ModelNotFound { model, .. } => Failure {
                status: StatusCode::NOT_FOUND,
                message: format!("model '{model}' not found"),
                code: Some("model_not_found"),
            },
            BackendError::InvalidRequest(m) => Failure::bad_request(m.clone()),
            other => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

/// Checks before a call, in order: the model is served (404), the queue has room (503), and a
/// num_ctx fits the model's trained context (400, read from the GGUF header before anything is
/// allocated; the engine checks it again with the memory). The request counts as pending until
/// the returned guard is dropped.
pub(crate) async fn admit(
    st: &Arc<AppState>,
    req: &GenRequest,
) -> Result<(Arc<ServedModel>, Pending), Failure> {
    let Some(model) = st.models.find(&req.model) else {
        return Err(Failure::model_not_found(&req.model, &st.models));
    };
    if st.pending.fetch_add(1, Ordering::SeqCst) >= st.limit {
        st.pending.fetch_sub(1, Ordering::SeqCst);
        return Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server busy, please try again. maximum pending requests exceeded",
        ));
    }
    let pending = Pending(st.clone());
    if let (Some(n), Some(trained)) = (req.options.num_ctx, model.meta().await.and_then(|m| m.context_length))
    {
        let trained = u32::try_from(trained).unwrap_or(u32::MAX);
        if let Err(m) = engine::check_num_ctx(n, trained, 1, 0, None) {
            return Err(Failure::bad_request(format!("invalid request: {m}")));
        }
    }
    Ok((model, pending))
}

/// What a running call produces: text pieces, then its end.
pub(crate) enum Streamed {
    Piece(String),
    Done(Result<Outcome, BackendError>),
}

/// Run `req` on `model` in a task of its own; its pieces and end arrive on the returned
/// channel. Dropping the receiver (the client went away) stops the engine at its next token.
pub(crate) fn spawn_call(
    model: Arc<ServedModel>,
    req: GenRequest,
    framing: Framing,
    pending: Pending,
) -> UnboundedReceiver<Streamed> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _pending = pending;
        let run = model.engine.run_call(&req, framing, |p| {
            let _ = tx.send(Streamed::Piece(p.to_string()));
        });
        let r = tokio::select! {
            r = run => r,
            _ = tx.closed() => return,
        };
        let _ = tx.send(Streamed::Done(r));
    });
    rx
}

/// Run `req` to its end and return the whole text with the outcome.
pub(crate) async fn run_to_end(
    model: &ServedModel,
    req: &GenRequest,
    framing: Framing,
    pending: Pending,
) -> Result<(String, Outcome), BackendError> {
    let mut text = String::new();
    let r = model.engine.run_call(req, framing, |p| text.push_str(p)).await;
    drop(pending);
    r.map(|o| (text, o))
}

/// A streamed response: each event of `rx` rendered to bytes by `render` as it arrives.
pub(crate) fn streaming(
    rx: UnboundedReceiver<Streamed>,
    content_type: &'static str,
    render: impl FnMut(Streamed) -> Bytes + Send + 'static,
) -> Response {
    let stream = futures::stream::unfold((rx, render), |(mut rx, mut render)| async move {
        let ev = rx.recv().await?;
        Some((Ok::<_, Infallible>(render(ev)), (rx, render)))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| {
            ollama::failure(&Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot build the response"))
        })
}

/// Seconds since the Unix epoch (OpenAI's `created`).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
