//! OpenAI-compatible client: /v1/chat/completions with SSE and stream_options.include_usage.
//!
//! Works with llama.cpp's llama-server (its `timings` object is used when present), vLLM,
//! LM Studio and Ollama's `/v1`. The API key is read from an environment variable and only
//! ever placed in the `Authorization` header: never in endpoints, records, infos or errors, and
//! redacted (in every written form) from whatever the server sends back.

use std::borrow::Cow;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::{self, Flow, HttpClient, LineParser, ServerUrl};
use super::{
    Backend, BackendError, BackendInfo, BackendKind, CallFailure, CallRecord, CallRecorder, GenRequest,
    Message, ServerTimings, Timeouts, TokenSink, ToolCallMsg,
};
use crate::options::Api;

/// OpenAI-compatible streaming client. Cheap to clone; clones share one connection pool.
///
/// A URL with credentials (`http://user:password@host:port`) sends them as HTTP basic auth
/// when there is no API key (the key, a bearer token, takes the `Authorization` header).
#[derive(Clone)]
pub struct OpenAiClient {
    http: HttpClient,
    /// Base URL without `/v1` (e.g. `http://127.0.0.1:8080`) and without credentials.
    server: ServerUrl,
    api_key: Option<String>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("server", &self.server)
            .field("api_key", &self.api_key.as_ref().map(|_| crate::secret::REDACTED))
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl OpenAiClient {
    /// A client for `base_url` (with or without a trailing `/v1`).
    pub fn new(base_url: &str, api_key: Option<String>, timeouts: Timeouts) -> Self {
        Self::with_http(http::http_client(&timeouts), base_url, api_key, timeouts)
    }

    /// A client on a shared [`HttpClient`] (see [`super::http_client`]). The key is registered
    /// for redaction process-wide ([`crate::secret::register`]).
    pub fn with_http(http: HttpClient, base_url: &str, api_key: Option<String>, timeouts: Timeouts) -> Self {
        let mut server = ServerUrl::parse(base_url);
        if let Some(b) = server.base.strip_suffix("/v1") {
            server.base = b.to_string();
        }
        let api_key = api_key.filter(|k| !k.trim().is_empty());
        if let Some(k) = &api_key {
            crate::secret::register(k);
            server.redactor.add(k);
        }
        OpenAiClient { http, server, api_key, timeouts }
    }

    /// A client whose key is read from the environment variable `env_var_name`
    /// (unset or empty → no key). The variable's value is never written anywhere.
    pub fn from_env_key(base_url: &str, env_var_name: &str, timeouts: Timeouts) -> Self {
        Self::from_env_key_with_http(http::http_client(&timeouts), base_url, env_var_name, timeouts)
    }

    /// [`OpenAiClient::from_env_key`] on a shared [`HttpClient`].
    pub fn from_env_key_with_http(
        http: HttpClient,
        base_url: &str,
        env_var_name: &str,
        timeouts: Timeouts,
    ) -> Self {
        Self::with_http(http, base_url, std::env::var(env_var_name).ok(), timeouts)
    }

    /// The base URL (without `/v1` and without credentials).
    pub fn base_url(&self) -> &str {
        &self.server.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// The key as a bearer token, else the URL's credentials as basic auth.
    fn authorize(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(k) => rb.bearer_auth(k),
            None => self.server.authorize(rb),
        }
    }

    fn redact_err(&self, mut e: BackendError) -> BackendError {
        e.redact(&self.server.redactor);
        e
    }

    /// The JSON body sent for `req`: messages, `stream`, `stream_options.include_usage`, and the
    /// options this API carries, under its names (see the option table: `max_tokens` from a
    /// positive num_predict; top_k, min_p, repeat_penalty, repeat_last_n as llama-server/vLLM
    /// extensions). Load-time options (num_ctx, num_gpu, num_batch, num_thread) cannot be set
    /// per request here and are not sent.
    pub fn request_body(req: &GenRequest) -> Value {
        let mut b = Map::new();
        b.insert("model".into(), json!(req.model));
        b.insert("messages".into(), req.messages().iter().map(wire_message).collect());
        if !req.tools.is_empty() {
            b.insert("tools".into(), json!(req.tools));
        }
        b.insert("stream".into(), json!(true));
        b.insert("stream_options".into(), json!({"include_usage": true}));
        b.extend(req.options.wire(Api::Openai));
        Value::Object(b)
    }

    /// `GET /v1/models`: the model ids the server offers.
    pub async fn models(&self) -> Result<Vec<String>, BackendError> {
        self.models_unredacted().await.map_err(|e| self.redact_err(e))
    }

    async fn models_unredacted(&self) -> Result<Vec<String>, BackendError> {
        let url = self.url("/v1/models");
        let t = &self.timeouts;
        let req = self
            .authorize(self.http.pooled().get(&url))
            .build()
            .map_err(|e| BackendError::InvalidRequest(format!("{url}: {e}")))?;
        let (resp, _) = http::send(&self.http, req, t, |_| {}).await?;
        let status = resp.status().as_u16();
        let text = http::error_body(resp, t.idle).await;
        if !(200..300).contains(&status) {
            return Err(status_error(status, text, &url, None));
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| http::malformed(text.as_bytes(), e))?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|m| m.get("id")?.as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }
}

/// A chat message as OpenAI takes it: tool calls with `id`, `type` and the arguments as JSON
/// text; a tool result with `tool_call_id`.
fn wire_message(m: &Message) -> Value {
    let call = |c: &ToolCallMsg| {
        let args = c.arguments.as_str().map_or_else(|| c.arguments.to_string(), str::to_string);
        json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": args}})
    };
    m.to_wire(call, ("tool_call_id", m.tool_call_id.as_ref()))
}

/// Map an HTTP error status to a typed error (OpenAI error bodies: `{"error":{"message":…}}`).
fn status_error(status: u16, body: String, url: &str, model: Option<&str>) -> BackendError {
    let v = serde_json::from_str::<Value>(&body).ok();
    let err = v.as_ref().and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| e.get("message").and_then(Value::as_str).or_else(|| e.as_str()))
        .map_or_else(|| body.clone(), str::to_string);
    let code = err.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or_default();
    if let (404, Some(m)) = (status, model) {
        if code == "model_not_found" || message.contains("model") {
            return BackendError::ModelNotFound { model: m.to_string(), url: url.to_string() };
        }
    }
    let hint = match status {
        401 | 403 => " (check the API key: set the variable named by --api-key-env)",
        429 | 503 => " (the server is busy: lower the concurrency or retry later)",
        500 => " (the server failed: check its log)",
        _ => "",
    };
    BackendError::Http { status, url: url.to_string(), body: format!("{message}{hint}") }
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
}

/// `delta.tool_calls[]`: pieces of a call, joined by `index`.
#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

/// `usage.prompt_tokens_details`: the prompt tokens served from the server's cache.
#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

/// llama-server's per-request timings (milliseconds).
#[derive(Deserialize)]
struct LlamaTimings {
    prompt_n: Option<u64>,
    prompt_ms: Option<f64>,
    predicted_n: Option<u64>,
    predicted_ms: Option<f64>,
    /// Prompt tokens llama-server reused from its cache.
    cache_n: Option<u64>,
    /// `chimera serve`'s extension (docs/ENGINE.md): whether it cut the prompt to fit its
    /// context, and how many prompt tokens it dropped. Other servers do not say.
    prompt_truncated: Option<bool>,
    prompt_tokens_dropped: Option<u64>,
}

#[derive(Deserialize)]
struct ChunkEvent<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    timings: Option<LlamaTimings>,
    #[serde(default)]
    error: Option<Value>,
}

fn ms_to_ns(ms: Option<f64>) -> Option<u64> {
    ms.filter(|m| m.is_finite() && *m >= 0.0).map(|m| (m * 1e6).round() as u64)
}

/// SSE parser for `chat.completion.chunk` events.
#[derive(Default)]
pub(crate) struct SseParser {
    finished: bool,
}

impl LineParser for SseParser {
    fn line(
        &mut self,
        line: &[u8],
        rec: &mut CallRecorder,
        sink: TokenSink<'_>,
    ) -> Result<Flow, BackendError> {
        // SSE fields other than `data` (event, id, retry, comments) carry nothing we need.
        let Some(data) = line.strip_prefix(b"data:") else { return Ok(Flow::More) };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data.trim_ascii() == b"[DONE]" {
            return Ok(Flow::Done);
        }
        let ev: ChunkEvent<'_> = serde_json::from_slice(data).map_err(|e| http::malformed(line, e))?;
        if let Some(err) = ev.error {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| err.as_str())
                .map_or_else(|| err.to_string(), str::to_string);
            return Err(BackendError::Server { message });
        }
        for c in &ev.choices {
            if let Some(d) = &c.delta {
                let think = d.reasoning_content.as_deref().or(d.reasoning.as_deref()).unwrap_or_default();
                if let Some(t) = rec.token(think, true) {
                    sink(t);
                }
                if let Some(t) = rec.token(d.content.as_deref().unwrap_or_default(), false) {
                    sink(t);
                }
                for tc in &d.tool_calls {
                    let f = tc.function.as_ref();
                    rec.tool_call_delta(
                        tc.index,
                        tc.id.as_deref(),
                        f.and_then(|f| f.name.as_deref()),
                        f.and_then(|f| f.arguments.as_deref()).unwrap_or_default(),
                    );
                }
            }
            if c.finish_reason.is_some() {
                self.finished = true;
                rec.done_reason(c.finish_reason.clone());
            }
        }
        if let Some(u) = ev.usage {
            // `prompt_tokens` counts the cached ones too; prompt_eval_count counts evaluated
            // tokens only (as Ollama), so the cached part is taken out.
            let cached = u.prompt_tokens_details.and_then(|d| d.cached_tokens);
            rec.server_timings(ServerTimings {
                prompt_eval_count: u.prompt_tokens.map(|p| p - cached.unwrap_or(0).min(p)),
                eval_count: u.completion_tokens,
                prompt_cached_count: cached,
                ..Default::default()
            });
        }
        if let Some(t) = ev.timings {
            rec.server_timings(ServerTimings {
                prompt_eval_count: t.prompt_n,
                prompt_eval_duration_ns: ms_to_ns(t.prompt_ms),
                eval_count: t.predicted_n,
                eval_duration_ns: ms_to_ns(t.predicted_ms),
                prompt_cached_count: t.cache_n,
                ..Default::default()
            });
            if let Some(truncated) = t.prompt_truncated {
                rec.prompt_truncated(truncated);
            }
            if let Some(n) = t.prompt_tokens_dropped {
                rec.prompt_tokens_dropped(n);
            }
        }
        Ok(Flow::More)
    }

    /// A stream that closes cleanly after a `finish_reason` (without `[DONE]`) is complete.
    fn complete_at_eof(&self) -> bool {
        self.finished
    }
}

#[async_trait]
impl Backend for OpenAiClient {
    fn kind(&self) -> BackendKind {
        BackendKind::Openai
    }

    fn endpoint(&self) -> String {
        self.server.base.clone()
    }

    async fn info(&self, model: Option<&str>) -> Result<BackendInfo, BackendError> {
        let models = self.models().await?;
        let mut info = BackendInfo {
            kind: Some(BackendKind::Openai),
            endpoint: self.server.base.clone(),
            ..Default::default()
        };
        if let Some(m) = model {
            // Servers that serve one model (llama-server) accept any name; report the asked name.
            info.model = Some(m.to_string());
            if models.len() > 1 && !models.iter().any(|id| id == m) {
                return Err(BackendError::ModelNotFound {
                    model: m.to_string(),
                    url: self.server.base.clone(),
                });
            }
        }
        Ok(info)
    }

    async fn generate(&self, req: &GenRequest, on_token: TokenSink<'_>) -> Result<CallRecord, CallFailure> {
        let url = self.url("/v1/chat/completions");
        let body = serde_json::to_vec(&Self::request_body(req)).unwrap_or_default();
        let rb = self.http.pooled().post(&url).header(reqwest::header::CONTENT_TYPE, "application/json");
        let built = self.authorize(rb).body(body).build();
        let rec = CallRecorder::start(BackendKind::Openai, &self.server.base, req);
        let http_req = match built {
            Ok(r) => r,
            Err(e) => return Err(rec.fail(BackendError::InvalidRequest(format!("{url}: {e}")))),
        };
        let model = req.model.clone();
        let result = async {
            let (resp, rec, sent) =
                http::execute(&self.http, http_req, rec, &self.timeouts, |status, body| {
                    status_error(status, body, &url, Some(&model))
                })
                .await?;
            let mut parser = SseParser::default();
            http::stream_lines(resp, rec, sent, &self.timeouts, &mut parser, on_token).await
        }
        .await;
        http::redact_result(&self.server.redactor, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::GenOptions;

    #[test]
    fn body_maps_options_and_asks_for_usage() {
        let o = GenOptions {
            temperature: Some(0.8),
            num_predict: Some(64),
            num_ctx: Some(2048),
            top_k: Some(40),
            ..Default::default()
        };
        let r = GenRequest::generate("m", Some("sys"), "hi", o);
        let b = OpenAiClient::request_body(&r);
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        assert_eq!(b["temperature"].to_string(), "0.8");
        assert_eq!(b["max_tokens"], json!(64));
        assert_eq!(b["top_k"], json!(40));
        assert!(b.get("num_ctx").is_none() && b.get("top_p").is_none());
        assert_eq!(b["messages"][0]["role"], "system");
    }

    #[test]
    fn base_url_drops_v1_and_debug_hides_key() {
        let c = OpenAiClient::new("http://h:8080/v1/", Some("sk-secret".into()), Timeouts::default());
        assert_eq!(c.base_url(), "http://h:8080");
        assert!(!format!("{c:?}").contains("sk-secret"));
    }
}
