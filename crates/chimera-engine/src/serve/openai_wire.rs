//! OpenAI's wire format on `serve`: `/v1/chat/completions` and `/v1/completions` bodies parsed
//! into engine requests (options by the names chimera's option table gives the OpenAI API),
//! and the response objects — completions, SSE chunks, `usage` with
//! `prompt_tokens_details.cached_tokens`, llama-server-style `timings`, error bodies.

use std::sync::atomic::{AtomicU64, Ordering};

use chimera_core::backend::{GenRequest, Message, Role};
use chimera_core::options::{Api, GenOptions, OPTIONS, Wire};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::wire::{BadRequest, options_of};
use crate::engine::{DoneReason, Outcome};

/// Which endpoint a call came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions`: messages through the model's chat template.
    Chat,
    /// `/v1/completions`: the prompt as is.
    Completion,
}

/// A parsed OpenAI call.
#[derive(Debug, Clone)]
pub struct OpenAiCall {
    pub req: GenRequest,
    pub endpoint: Endpoint,
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk with `usage` before `[DONE]`.
    pub include_usage: bool,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
struct Body {
    model: Option<String>,
    #[serde(default)]
    messages: Option<Vec<ChatMessage>>,
    #[serde(default)]
    prompt: Option<Value>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    /// Every other field: the generation options, and what is refused.
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn parse_body(body: &[u8]) -> Result<Body, BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BadRequest("missing request body".into()));
    }
    serde_json::from_slice(body).map_err(|e| BadRequest(format!("invalid request body: {e}")))
}

/// The options of an OpenAI body: each option of chimera's table under the name the OpenAI API
/// gives it (`temperature`, `top_p`, `seed`, `stop`, … and `max_tokens` — or
/// `max_completion_tokens` — for num_predict), checked by the table's rules. Load-time options
/// have no OpenAI field and other fields are ignored, as llama-server does — `tools` too: serve
/// has no native tool calling, so its answers carry no tool calls and a client scripts its tool
/// steps (as with serve's Ollama routes); `n` above 1 and `echo` are refused.
fn options(rest: &Map<String, Value>) -> Result<GenOptions, BadRequest> {
    if rest.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(BadRequest("n: only one choice per request is supported (n = 1)".into()));
    }
    if rest.get("echo").and_then(Value::as_bool) == Some(true) {
        return Err(BadRequest("echo is not supported".into()));
    }
    let mut m = Map::new();
    for s in OPTIONS {
        let names: &[&str] = match s.wire(Api::Openai) {
            Wire::Same => &[s.name],
            Wire::As(n) => &[n],
            Wire::PositiveAs("max_tokens") => &["max_tokens", "max_completion_tokens"],
            Wire::PositiveAs(n) => &[n],
            Wire::NotSent => &[],
        };
        if let Some(v) = names.iter().find_map(|n| rest.get(*n).filter(|v| !v.is_null())) {
            m.insert(s.name.to_string(), v.clone());
        }
    }
    options_of(Some(m)).map(|(o, _)| o)
}

fn model_of(m: Option<String>) -> Result<String, BadRequest> {
    m.filter(|m| !m.trim().is_empty()).ok_or_else(|| BadRequest("model is required".into()))
}

fn role_of(r: &str) -> Result<Role, BadRequest> {
    match r {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        other => Err(BadRequest(format!(
            "unsupported message role '{other}' (use system, developer, user, assistant or tool)"
        ))),
    }
}

fn text_of(c: Option<Content>) -> Result<String, BadRequest> {
    match c {
        None => Ok(String::new()),
        Some(Content::Text(t)) => Ok(t),
        Some(Content::Parts(parts)) => {
            let mut s = String::new();
            for p in parts {
                match (p.kind.as_str(), p.text) {
                    ("text", Some(t)) => s.push_str(&t),
                    (kind, _) => {
                        return Err(BadRequest(format!(
                            "content part of type '{kind}' is not supported (text only)"
                        )));
                    }
                }
            }
            Ok(s)
        }
    }
}

fn stream_flags(b: &Body) -> (bool, bool) {
    let stream = b.stream.unwrap_or(false);
    let usage = stream && b.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false);
    (stream, usage)
}

/// Parse a `/v1/chat/completions` body.
pub fn parse_chat_completion(body: &[u8]) -> Result<OpenAiCall, BadRequest> {
    let b = parse_body(body)?;
    let (stream, include_usage) = stream_flags(&b);
    let options = options(&b.rest)?;
    let mut messages = Vec::new();
    for m in b.messages.unwrap_or_default() {
        messages.push(Message::new(role_of(&m.role)?, text_of(m.content)?));
    }
    if messages.is_empty() {
        return Err(BadRequest("messages is required (at least one message)".into()));
    }
    let req = GenRequest::chat(&model_of(b.model)?, messages, options);
    Ok(OpenAiCall { req, endpoint: Endpoint::Chat, stream, include_usage })
}

/// Parse a `/v1/completions` body (`prompt`: a text, or a list of one text).
pub fn parse_completion(body: &[u8]) -> Result<OpenAiCall, BadRequest> {
    let b = parse_body(body)?;
    let (stream, include_usage) = stream_flags(&b);
    let options = options(&b.rest)?;
    let prompt = match &b.prompt {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        Some(Value::Array(a)) if a.len() > 1 => {
            return Err(BadRequest("prompt: one prompt per request is supported".into()));
        }
        _ => return Err(BadRequest("prompt is required (a text)".into())),
    };
    let req = GenRequest::generate(&model_of(b.model)?, None, &prompt, options);
    Ok(OpenAiCall { req, endpoint: Endpoint::Completion, stream, include_usage })
}

/// What every object of one response shares.
#[derive(Debug, Clone)]
pub struct Head {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub endpoint: Endpoint,
}

impl Head {
    /// A new response id (`chatcmpl-…` / `cmpl-…`, unique in this process).
    pub fn new(endpoint: Endpoint, model: &str, created: u64) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let prefix = if endpoint == Endpoint::Chat { "chatcmpl" } else { "cmpl" };
        let id = format!("{prefix}-{created:x}{:06x}", N.fetch_add(1, Ordering::Relaxed));
        Head { id, created, model: model.to_string(), endpoint }
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.endpoint, chunk) {
            (Endpoint::Chat, false) => "chat.completion",
            (Endpoint::Chat, true) => "chat.completion.chunk",
            (Endpoint::Completion, _) => "text_completion",
        }
    }

    fn wrap(&self, chunk: bool, choices: Value) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("object".into(), json!(self.object(chunk)));
        m.insert("created".into(), json!(self.created));
        m.insert("model".into(), json!(self.model));
        m.insert("system_fingerprint".into(), json!(format!("chimera-{}", env!("CARGO_PKG_VERSION"))));
        m.insert("choices".into(), choices);
        m
    }
}

/// OpenAI's `finish_reason`.
pub fn finish_reason(r: DoneReason) -> &'static str {
    match r {
        DoneReason::Length => "length",
        DoneReason::Stop | DoneReason::Cancelled => "stop",
    }
}

/// `usage`: `prompt_tokens` counts the whole prompt (evaluated + reused from the cache, as
/// OpenAI counts it), `prompt_tokens_details.cached_tokens` the reused part.
pub fn usage(o: &Outcome) -> Value {
    let t = &o.timings;
    let cached = t.prompt_cached_count.unwrap_or(0);
    let prompt = t.prompt_eval_count.unwrap_or(0) + cached;
    let completion = t.eval_count.unwrap_or(0);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

/// llama-server's `timings` (milliseconds): `prompt_n` prompt tokens evaluated, `cache_n`
/// reused, `predicted_n` generated, with their durations and rates; and chimera's extension
/// `prompt_truncated` / `prompt_tokens_dropped` (whether the prompt was cut to fit num_ctx, and
/// how many prompt tokens were dropped), as on the Ollama routes.
pub fn timings(o: &Outcome) -> Value {
    let t = &o.timings;
    let ms = |ns: Option<u64>| ns.unwrap_or(0) as f64 / 1e6;
    let (pn, pms) = (t.prompt_eval_count.unwrap_or(0), ms(t.prompt_eval_duration_ns));
    let (gn, gms) = (t.eval_count.unwrap_or(0), ms(t.eval_duration_ns));
    let per_s = |n: u64, ms: f64| if ms > 0.0 { n as f64 * 1e3 / ms } else { 0.0 };
    json!({
        "cache_n": t.prompt_cached_count.unwrap_or(0),
        "prompt_n": pn,
        "prompt_ms": pms,
        "prompt_per_second": per_s(pn, pms),
        "predicted_n": gn,
        "predicted_ms": gms,
        "predicted_per_second": per_s(gn, gms),
        "prompt_truncated": o.prompt_truncated,
        "prompt_tokens_dropped": o.prompt_dropped,
    })
}

/// The whole answer (`stream: false`).
pub fn completion(h: &Head, text: &str, o: &Outcome) -> Value {
    let reason = finish_reason(o.done_reason);
    let choice = match h.endpoint {
        Endpoint::Chat => json!({"index": 0, "message": {"role": "assistant", "content": text},
                                 "logprobs": null, "finish_reason": reason}),
        Endpoint::Completion => json!({"index": 0, "text": text, "logprobs": null, "finish_reason": reason}),
    };
    let mut m = h.wrap(false, json!([choice]));
    m.insert("usage".into(), usage(o));
    m.insert("timings".into(), timings(o));
    Value::Object(m)
}

/// One streamed chunk: a piece of text (the first chat chunk also carries the role), or the
/// end with its `finish_reason` (an empty delta).
pub fn chunk(h: &Head, text: Option<&str>, first: bool, finish: Option<&str>) -> Map<String, Value> {
    let choice = match h.endpoint {
        Endpoint::Chat => {
            let mut delta = Map::new();
            if first {
                delta.insert("role".into(), json!("assistant"));
            }
            if let Some(t) = text {
                delta.insert("content".into(), json!(t));
            }
            json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish})
        }
        Endpoint::Completion => {
            json!({"index": 0, "text": text.unwrap_or_default(), "logprobs": null, "finish_reason": finish})
        }
    };
    h.wrap(true, json!([choice]))
}

/// The stream's end: the finish chunk, then — with `include_usage` — a chunk with no choices
/// and the `usage`; llama-server's `timings` ride on the last of them; then `[DONE]`.
pub fn stream_end(h: &Head, o: &Outcome, include_usage: bool) -> String {
    let mut fin = chunk(h, None, false, Some(finish_reason(o.done_reason)));
    if !include_usage {
        fin.insert("timings".into(), timings(o));
        return format!("{}{}", sse(&fin), DONE);
    }
    let mut u = h.wrap(true, json!([]));
    u.insert("usage".into(), usage(o));
    u.insert("timings".into(), timings(o));
    format!("{}{}{}", sse(&fin), sse(&u), DONE)
}

/// One server-sent event.
pub fn sse(m: &Map<String, Value>) -> String {
    format!("data: {}\n\n", serde_json::to_string(m).unwrap_or_default())
}

/// The stream's last event.
pub const DONE: &str = "data: [DONE]\n\n";

/// OpenAI's error body.
pub fn error_body(status: u16, message: &str, code: Option<&str>) -> Value {
    let kind = match status {
        400 | 404 | 413 | 422 => "invalid_request_error",
        401 | 403 => "authentication_error",
        503 => "unavailable_error",
        _ => "server_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use chimera_core::backend::{Input, ServerTimings};

    fn outcome() -> Outcome {
        Outcome {
            timings: ServerTimings {
                prompt_eval_count: Some(3),
                prompt_eval_duration_ns: Some(6_000_000),
                eval_count: Some(4),
                eval_duration_ns: Some(50_000_000),
                prompt_cached_count: Some(20),
                ..Default::default()
            },
            done_reason: DoneReason::Length,
            prompt_truncated: false,
            prompt_dropped: 0,
            n_ctx: 512,
        }
    }

    #[test]
    fn chat_body_maps_openai_names_to_options() {
        let c = parse_chat_completion(
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},
                "max_completion_tokens":8,"temperature":0,"seed":3,"stop":"\n","frequency_penalty":0.5,
                "messages":[{"role":"developer","content":"Be brief."},
                            {"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"there"}]}]}"#,
        )
        .unwrap();
        assert!(c.stream && c.include_usage);
        assert_eq!(c.req.options.num_predict, Some(8));
        assert_eq!(c.req.options.temperature, Some(0.0));
        assert_eq!(c.req.options.seed, Some(3));
        assert_eq!(c.req.options.stop, vec!["\n".to_string()]);
        let m = c.req.messages();
        assert_eq!((m[0].role, m[1].content.as_str()), (Role::System, "Hi there"));
        let c = parse_chat_completion(
            br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#,
        )
        .unwrap();
        assert!(!c.stream && !c.include_usage);
        assert_eq!(c.req.options.num_predict, Some(5));
    }

    #[test]
    fn refused_bodies_say_why() {
        let e = |b: &[u8]| parse_chat_completion(b).unwrap_err().0;
        assert_eq!(e(br#"{"messages":[{"role":"user","content":"x"}]}"#), "model is required");
        assert!(e(br#"{"model":"m","messages":[]}"#).contains("messages is required"));
        assert!(
            e(br#"{"model":"m","messages":[{"role":"function","content":"x"}]}"#).contains("role 'function'")
        );
        assert!(e(br#"{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}"#).contains("n = 1"));
        assert!(
            e(br#"{"model":"m","temperature":-1,"messages":[{"role":"user","content":"x"}]}"#)
                .contains("temperature")
        );
        assert!(e(b"{oops").contains("invalid request body"));
        let e = |b: &[u8]| parse_completion(b).unwrap_err().0;
        assert!(e(br#"{"model":"m"}"#).contains("prompt is required"));
        assert!(e(br#"{"model":"m","prompt":["a","b"]}"#).contains("one prompt"));
        // Tools are ignored (no native tool calling): the call runs without them.
        let c = parse_chat_completion(
            br#"{"model":"m","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]}"#,
        );
        assert!(c.is_ok(), "{c:?}");
        let c = parse_completion(br#"{"model":"m","prompt":["Once"]}"#).unwrap();
        assert_eq!(c.req.input, Input::Generate { system: None, prompt: "Once".into() });
    }

    #[test]
    fn usage_counts_the_whole_prompt_and_timings_are_in_ms() {
        let o = outcome();
        let u = usage(&o);
        assert_eq!(u["prompt_tokens"], 23);
        assert_eq!(u["completion_tokens"], 4);
        assert_eq!(u["total_tokens"], 27);
        assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 20);
        let t = timings(&o);
        assert_eq!(
            (t["prompt_n"].clone(), t["cache_n"].clone(), t["predicted_n"].clone()),
            (json!(3), json!(20), json!(4))
        );
        assert_eq!(t["prompt_ms"], 6.0);
        assert_eq!(t["predicted_ms"], 50.0);
        assert_eq!(t["predicted_per_second"], 80.0); // 4 tokens in 50 ms
        assert_eq!(t["prompt_per_second"], 500.0); // 3 tokens in 6 ms
        assert_eq!(
            (t["prompt_truncated"].clone(), t["prompt_tokens_dropped"].clone()),
            (json!(false), json!(0))
        );
        let cut = Outcome { prompt_truncated: true, prompt_dropped: 17, ..outcome() };
        let t = timings(&cut);
        assert_eq!(
            (t["prompt_truncated"].clone(), t["prompt_tokens_dropped"].clone()),
            (json!(true), json!(17))
        );
    }

    #[test]
    fn stream_ends_with_finish_usage_and_done() {
        let h = Head::new(Endpoint::Chat, "m", 7);
        let first = chunk(&h, Some("Hi"), true, None);
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"], json!({"role": "assistant", "content": "Hi"}));
        let end = stream_end(&h, &outcome(), true);
        let events: Vec<&str> = end.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3, "{end}");
        let fin: Value = serde_json::from_str(events[0].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(fin["choices"][0]["finish_reason"], "length");
        assert_eq!(fin["choices"][0]["delta"], json!({}));
        let u: Value = serde_json::from_str(events[1].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(u["choices"], json!([]));
        assert_eq!(u["usage"]["prompt_tokens_details"]["cached_tokens"], 20);
        assert_eq!(u["timings"]["cache_n"], 20);
        assert_eq!(events[2], "data: [DONE]");
        let no_usage = stream_end(&h, &outcome(), false);
        assert!(!no_usage.contains("usage") && no_usage.contains("timings"), "{no_usage}");
    }

    #[test]
    fn completion_objects_and_errors() {
        let h = Head::new(Endpoint::Completion, "m", 7);
        assert!(h.id.starts_with("cmpl-"));
        let v = completion(&h, "text", &outcome());
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["choices"][0]["text"], "text");
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        let h2 = Head::new(Endpoint::Chat, "m", 7);
        assert_ne!(h2.id.trim_start_matches("chatcmpl-"), h.id.trim_start_matches("cmpl-"));
        let v = completion(&h2, "text", &outcome());
        assert_eq!(v["choices"][0]["message"], json!({"role": "assistant", "content": "text"}));
        let e = error_body(404, "model 'x' not found", Some("model_not_found"));
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert_eq!(e["error"]["code"], "model_not_found");
        assert_eq!(error_body(503, "busy", None)["error"]["type"], "unavailable_error");
    }
}
