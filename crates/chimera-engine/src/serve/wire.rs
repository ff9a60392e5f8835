//! Ollama's wire format: request bodies parsed leniently (unknown fields ignored like Ollama),
//! options checked against chimera's option table, and response objects with Ollama's field
//! names and units (nanoseconds).

use std::time::Duration;

use chimera_core::backend::{GenRequest, Input, Message, Role};
use chimera_core::options::{self, GenOptions, SetError};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::engine::Outcome;

/// A request that could not be understood: HTTP 400 with this message.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest(pub String);

#[derive(Deserialize)]
struct GenerateBody {
    model: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    raw: Option<bool>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    options: Option<Map<String, Value>>,
    #[serde(default)]
    keep_alive: Option<Value>,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct ChatBody {
    model: Option<String>,
    #[serde(default)]
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    options: Option<Map<String, Value>>,
    #[serde(default)]
    keep_alive: Option<Value>,
}

/// A parsed generate/chat call.
#[derive(Debug, Clone)]
pub struct Call {
    pub req: GenRequest,
    pub stream: bool,
    /// No prompt / no messages: Ollama's "load" (or "unload" with keep_alive 0) request.
    pub load_only: bool,
    /// `"raw": true` on generate: the prompt goes to the model as is, without template.
    pub raw: bool,
    pub ignored_options: Vec<String>,
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BadRequest("missing request body".into()));
    }
    serde_json::from_slice(body).map_err(|e| BadRequest(format!("invalid request body: {e}")))
}

fn model_of(m: Option<String>) -> Result<String, BadRequest> {
    match m {
        Some(m) if !m.trim().is_empty() => Ok(m),
        _ => Err(BadRequest("model is required".into())),
    }
}

/// Ollama accepts keep_alive as a duration string or a number of seconds.
fn keep_alive_of(v: Option<Value>) -> Result<Option<String>, BadRequest> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => {
            Err(BadRequest(format!("keep_alive must be a duration string or a number, got {other}")))
        }
    }
}

/// Options: the names of chimera's option table typed and validated (leniently, as Ollama
/// reads them: `42.0` for a whole number, one text for `stop`); other names are ignored, as
/// Ollama does, and listed.
pub fn options_of(m: Option<Map<String, Value>>) -> Result<(GenOptions, Vec<String>), BadRequest> {
    let mut o = GenOptions::default();
    let mut ignored = Vec::new();
    for (k, v) in m.unwrap_or_default() {
        if v.is_null() {
            continue;
        }
        if options::spec(&k).is_some() {
            o.set(&k, &v).map_err(|e| match e {
                SetError::Invalid(e) => BadRequest(e.to_string()),
                other => BadRequest(format!("invalid options: {other}")),
            })?;
        } else {
            ignored.push(k);
        }
    }
    Ok((o, ignored))
}

/// Parse a `/api/generate` body.
pub fn parse_generate(body: &[u8]) -> Result<Call, BadRequest> {
    let b: GenerateBody = parse_json(body)?;
    let model = model_of(b.model)?;
    let (options, ignored_options) = options_of(b.options)?;
    let prompt = b.prompt.unwrap_or_default();
    let load_only = prompt.is_empty();
    Ok(Call {
        req: GenRequest {
            model,
            input: Input::Generate { system: b.system.filter(|s| !s.is_empty()), prompt },
            options,
            keep_alive: keep_alive_of(b.keep_alive)?,
            tools: Vec::new(),
        },
        stream: b.stream.unwrap_or(true),
        load_only,
        raw: b.raw.unwrap_or(false),
        ignored_options,
    })
}

/// Parse a `/api/chat` body.
pub fn parse_chat(body: &[u8]) -> Result<Call, BadRequest> {
    let b: ChatBody = parse_json(body)?;
    let model = model_of(b.model)?;
    let (options, ignored_options) = options_of(b.options)?;
    let mut messages = Vec::with_capacity(b.messages.len());
    for m in b.messages {
        let role = match m.role.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => {
                return Err(BadRequest(format!(
                    "unsupported message role '{other}' (use system, user, assistant or tool)"
                )));
            }
        };
        messages.push(Message::new(role, m.content));
    }
    let load_only = messages.is_empty();
    Ok(Call {
        req: GenRequest {
            model,
            input: Input::Chat { messages },
            options,
            keep_alive: keep_alive_of(b.keep_alive)?,
            tools: Vec::new(),
        },
        stream: b.stream.unwrap_or(true),
        load_only,
        raw: false,
        ignored_options,
    })
}

/// `created_at` in Ollama's format (RFC 3339 with nanoseconds, UTC).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A streamed (or final) chunk: `response` for generate, `message` for chat.
pub fn chunk(model: &str, chat: bool, text: &str, done: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("model".into(), json!(model));
    m.insert("created_at".into(), json!(now()));
    if chat {
        m.insert("message".into(), json!({"role": "assistant", "content": text}));
    } else {
        m.insert("response".into(), json!(text));
    }
    m.insert("done".into(), json!(done));
    m
}

/// Add the final fields: done_reason, the timings in nanoseconds (`total_duration` = `total`,
/// from the request's arrival), and chimera's extra fields `prompt_cached_count` (prompt tokens
/// reused from the cache, not in `prompt_eval_count`), `prompt_truncated` and
/// `prompt_tokens_dropped` (how many prompt tokens were cut to fit num_ctx).
pub fn finish(m: &mut Map<String, Value>, o: &Outcome, total: Duration) {
    let t = &o.timings;
    m.insert("done_reason".into(), json!(o.done_reason.as_str()));
    let fields = [
        ("total_duration", Some(total.as_nanos() as u64)),
        ("load_duration", t.load_duration_ns),
        ("prompt_eval_count", t.prompt_eval_count),
        ("prompt_eval_duration", t.prompt_eval_duration_ns),
        ("eval_count", t.eval_count),
        ("eval_duration", t.eval_duration_ns),
        ("prompt_cached_count", t.prompt_cached_count),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    m.insert("prompt_truncated".into(), json!(o.prompt_truncated));
    m.insert("prompt_tokens_dropped".into(), json!(o.prompt_dropped));
}

/// One NDJSON line.
pub fn line(m: &Map<String, Value>) -> bytes::Bytes {
    let mut s = serde_json::to_vec(m).unwrap_or_default();
    s.push(b'\n');
    bytes::Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DoneReason;
    use chimera_core::backend::ServerTimings;

    #[test]
    fn generate_body_defaults_and_options() {
        let c = parse_generate(br#"{"model":"gemma3:270m","prompt":"hi","options":{"num_predict":8,"seed":42.0,"mirostat":1,"stop":"\n"}}"#).unwrap();
        assert!(c.stream);
        assert!(!c.load_only);
        assert_eq!(c.req.options.num_predict, Some(8));
        assert_eq!(c.req.options.seed, Some(42));
        assert_eq!(c.req.options.stop, vec!["\n".to_string()]);
        assert_eq!(c.ignored_options, vec!["mirostat".to_string()]);
    }

    #[test]
    fn bad_bodies_are_400_with_a_reason() {
        assert!(parse_generate(b"{not json").unwrap_err().0.contains("invalid request body"));
        assert_eq!(parse_generate(br#"{"prompt":"x"}"#).unwrap_err().0, "model is required");
        assert!(parse_generate(br#"{"model":"m","options":{"top_p":3}}"#).unwrap_err().0.contains("top_p"));
        assert!(
            parse_generate(br#"{"model":"m","options":{"num_ctx":"big"}}"#)
                .unwrap_err()
                .0
                .contains("invalid options")
        );
        assert!(
            parse_chat(br#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#)
                .unwrap_err()
                .0
                .contains("unsupported message role 'robot'")
        );
        // Tool results are messages too (a workflow's tool steps send them).
        assert!(parse_chat(br#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#).is_ok());
        assert_eq!(parse_generate(b"").unwrap_err().0, "missing request body");
    }

    #[test]
    fn chat_body_and_keep_alive_number() {
        let c = parse_chat(
            br#"{"model":"m","stream":false,"keep_alive":0,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(!c.stream);
        assert_eq!(c.req.keep_alive.as_deref(), Some("0"));
        assert_eq!(c.req.messages().len(), 1);
    }

    #[test]
    fn final_chunk_has_ollama_fields_in_ns() {
        let mut m = chunk("m", true, "", true);
        let o = Outcome {
            timings: ServerTimings {
                eval_count: Some(3),
                eval_duration_ns: Some(5),
                prompt_cached_count: Some(7),
                ..Default::default()
            },
            done_reason: DoneReason::Stop,
            prompt_truncated: false,
            prompt_dropped: 0,
            n_ctx: 512,
        };
        finish(&mut m, &o, Duration::from_millis(2));
        let v = Value::Object(m);
        assert_eq!(v["message"]["role"], "assistant");
        assert_eq!(v["done_reason"], "stop");
        assert_eq!(v["eval_count"], 3);
        assert_eq!(v["eval_duration"], 5);
        assert_eq!(v["total_duration"], 2_000_000);
        assert_eq!(v["prompt_cached_count"], 7);
        assert_eq!(v["prompt_truncated"], false);
        assert_eq!(v["prompt_tokens_dropped"], 0);
        assert!(v.get("load_duration").is_none());
    }
}
