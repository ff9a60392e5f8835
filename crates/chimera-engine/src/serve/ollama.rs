//! Ollama's routes on `serve`: generate and chat (NDJSON streaming and not), tags, ps, show,
//! version, and the empty-prompt load/unload request, with Ollama's field names and
//! `{"error": "..."}` bodies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::wire::{self, BadRequest};
use super::{AppState, Failure, ServedModel, Streamed};
use crate::engine::{self, KeepAlive, Registry};
use crate::meta::ModelMeta;
use crate::template::Framing;

/// A failure as Ollama answers it: `{"error": "..."}` with the status.
pub(crate) fn failure(f: &Failure) -> Response {
    (f.status, axum::Json(json!({ "error": f.message }))).into_response()
}

fn json_ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

pub(crate) async fn version() -> Response {
    json_ok(json!({ "version": crate::backend::ENGINE_VERSION_SHORT }))
}

/// RFC 3339 with nanoseconds, UTC (Ollama's time format).
fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A model as `/api/tags` lists it.
async fn model_entry(m: &ServedModel) -> Value {
    let md = std::fs::metadata(m.path()).ok();
    let modified = md.as_ref().and_then(|x| x.modified().ok()).map(|t| rfc3339(t.into()));
    let meta = m.meta().await.unwrap_or_default();
    json!({
        "name": m.name,
        "model": m.name,
        "modified_at": modified,
        "size": md.map_or(0, |x| x.len()),
        "digest": m.digest().await,
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

pub(crate) async fn tags(State(st): State<Arc<AppState>>) -> Response {
    let mut models = Vec::new();
    for m in st.models.all() {
        models.push(model_entry(m).await);
    }
    json_ok(json!({ "models": models }))
}

pub(crate) async fn ps(State(st): State<Arc<AppState>>) -> Response {
    let loaded = Registry::global().loaded();
    let mut models = Vec::new();
    for m in st.models.all() {
        let Some(l) = loaded.iter().find(|l| l.path == m.path()) else { continue };
        let mut e = model_entry(m).await;
        e["size"] = json!(l.file_size_bytes);
        e["size_vram"] = json!(0);
        e["expires_at"] = json!(l.expires_at.map_or_else(|| "2318-01-01T00:00:00Z".to_string(), rfc3339));
        e["context_length"] = json!(l.context.map_or(engine::defaults::NUM_CTX, |c| c.n_ctx_slot));
        models.push(e);
    }
    json_ok(json!({ "models": models }))
}

pub(crate) async fn show(State(st): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return failure(&Failure::body(&r)),
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return failure(&Failure::bad_request(format!("invalid request body: {e}"))),
    };
    let Some(name) = v.get("model").or_else(|| v.get("name")).and_then(Value::as_str) else {
        return failure(&Failure::bad_request("model is required"));
    };
    let Some(m) = st.models.find(name) else {
        return failure(&Failure::new(StatusCode::NOT_FOUND, format!("model '{name}' not found")));
    };
    let meta = m.meta().await.unwrap_or_default();
    let arch = meta.architecture.clone().unwrap_or_default();
    let mut info = Map::new();
    info.insert("general.architecture".into(), json!(arch));
    if let Some(n) = &meta.name {
        info.insert("general.name".into(), json!(n));
    }
    if let Some(c) = meta.context_length {
        info.insert(format!("{arch}.context_length"), json!(c));
    }
    // The GGUF's own chat template (Jinja) when it has one; else the plain-text framing.
    let template = meta
        .chat_template
        .clone()
        .unwrap_or_else(|| "{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}".to_string());
    json_ok(json!({
        "modelfile": format!("FROM {}\n", m.path().display()),
        "parameters": format!("num_ctx {}", engine::defaults::NUM_CTX),
        "template": template,
        "details": details(&meta),
        "model_info": info,
        "capabilities": ["completion"],
    }))
}

pub(crate) async fn generate(
    State(st): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(b) => run(st, wire::parse_generate(&b), false).await,
        Err(r) => failure(&Failure::body(&r)),
    }
}

pub(crate) async fn chat(State(st): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    match body {
        Ok(b) => run(st, wire::parse_chat(&b), true).await,
        Err(r) => failure(&Failure::body(&r)),
    }
}

async fn run(st: Arc<AppState>, call: Result<wire::Call, BadRequest>, chat: bool) -> Response {
    let t0 = Instant::now();
    let call = match call {
        Ok(c) => c,
        Err(BadRequest(m)) => return failure(&Failure::bad_request(m)),
    };
    let framing = if call.raw { Framing::Raw } else { Framing::Template };
    let (model, pending) = match super::admit(&st, &call.req).await {
        Ok(x) => x,
        Err(f) => return failure(&f),
    };
    if call.load_only {
        let r = load_only(&model, &call, chat).await;
        drop(pending);
        return r;
    }
    let name = call.req.model.clone();
    if !call.stream {
        return match super::run_to_end(&model, &call.req, framing, pending).await {
            Ok((text, o)) => {
                let mut m = wire::chunk(&name, chat, &text, true);
                wire::finish(&mut m, &o, t0.elapsed());
                json_ok(Value::Object(m))
            }
            Err(e) => failure(&Failure::backend(&e)),
        };
    }
    let rx = super::spawn_call(model, call.req, framing, pending);
    super::streaming(rx, "application/x-ndjson", move |ev| match ev {
        Streamed::Piece(p) => wire::line(&wire::chunk(&name, chat, &p, false)),
        Streamed::Done(Ok(o)) => {
            let mut m = wire::chunk(&name, chat, "", true);
            wire::finish(&mut m, &o, t0.elapsed());
            wire::line(&m)
        }
        Streamed::Done(Err(e)) => wire::line(&Map::from_iter([("error".to_string(), json!(e.to_string()))])),
    })
}

/// Ollama's empty-prompt request: load the model (or unload it with keep_alive 0).
async fn load_only(m: &ServedModel, call: &wire::Call, chat: bool) -> Response {
    let keep = call.req.keep_alive.as_deref().and_then(engine::parse_keep_alive);
    let reason = if keep == Some(KeepAlive::For(Duration::ZERO)) {
        Registry::global().release(m.path(), KeepAlive::For(Duration::ZERO));
        "unload"
    } else {
        if let Err(e) = m.engine.preload().await {
            return failure(&Failure::backend(&e));
        }
        Registry::global().release(m.path(), keep.unwrap_or(m.engine.keep_alive_default()));
        "load"
    };
    let mut o = wire::chunk(&call.req.model, chat, "", true);
    o.insert("done_reason".into(), json!(reason));
    json_ok(Value::Object(o))
}
