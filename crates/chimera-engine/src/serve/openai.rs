//! OpenAI's routes on `serve`: `/v1/chat/completions` and `/v1/completions` (SSE streaming and
//! `stream: false`), `/v1/models` and `/v1/models/{id}`, with OpenAI's error bodies.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::openai_wire::{self as ow, Endpoint, Head, OpenAiCall};
use super::wire::BadRequest;
use super::{AppState, Failure, ServedModel, Streamed};
use crate::template::Framing;

/// A failure as OpenAI answers it: `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn failure(f: &Failure) -> Response {
    (f.status, axum::Json(ow::error_body(f.status.as_u16(), &f.message, f.code))).into_response()
}

/// A model as `/v1/models` lists it: its name as `id`, plus its file's sha256 as `digest`.
async fn entry(m: &ServedModel) -> Value {
    let created = std::fs::metadata(m.path())
        .and_then(|md| md.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    json!({
        "id": m.name,
        "object": "model",
        "created": created,
        "owned_by": "chimera",
        "digest": format!("sha256:{}", m.digest().await),
    })
}

pub(crate) async fn models(State(st): State<Arc<AppState>>) -> Response {
    let mut data = Vec::new();
    for m in st.models.all() {
        data.push(entry(m).await);
    }
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

pub(crate) async fn model(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match st.models.find(&id) {
        Some(m) => axum::Json(entry(&m).await).into_response(),
        None => failure(&Failure {
            status: StatusCode::NOT_FOUND,
            message: format!("model '{id}' not found; this server serves: {}", st.models.names()),
            code: Some("model_not_found"),
        }),
    }
}

pub(crate) async fn chat_completions(
    State(st): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(b) => run(st, ow::parse_chat_completion(&b)).await,
        Err(r) => failure(&Failure::body(&r)),
    }
}

pub(crate) async fn completions(
    State(st): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(b) => run(st, ow::parse_completion(&b)).await,
        Err(r) => failure(&Failure::body(&r)),
    }
}

async fn run(st: Arc<AppState>, call: Result<OpenAiCall, BadRequest>) -> Response {
    let call = match call {
        Ok(c) => c,
        Err(BadRequest(m)) => return failure(&Failure::bad_request(m)),
    };
    let (model, pending) = match super::admit(&st, &call.req).await {
        Ok(x) => x,
        Err(f) => return failure(&f),
    };
    let framing = match call.endpoint {
        Endpoint::Chat => Framing::Template,
        Endpoint::Completion => Framing::Raw,
    };
    let head = Head::new(call.endpoint, &call.req.model, super::unix_now());
    if !call.stream {
        return match super::run_to_end(&model, &call.req, framing, pending).await {
            Ok((text, o)) => axum::Json(ow::completion(&head, &text, &o)).into_response(),
            Err(e) => failure(&Failure::backend(&e)),
        };
    }
    let include_usage = call.include_usage;
    let rx = super::spawn_call(model, call.req, framing, pending);
    let mut first = true;
    super::streaming(rx, "text/event-stream", move |ev| {
        let out = match ev {
            Streamed::Piece(p) => ow::sse(&ow::chunk(&head, Some(&p), first, None)),
            Streamed::Done(Ok(o)) => {
                // An answer with no text still opens with the assistant's role.
                let open =
                    if first { ow::sse(&ow::chunk(&head, Some(""), true, None)) } else { String::new() };
                format!("{open}{}", ow::stream_end(&head, &o, include_usage))
            }
            Streamed::Done(Err(e)) => {
                let f = Failure::backend(&e);
                let body = ow::error_body(f.status.as_u16(), &f.message, f.code);
                format!("data: {body}\n\n")
            }
        };
        first = false;
        Bytes::from(out)
    })
}
