//! Ollama native client: /api/generate and /api/chat NDJSON streaming, /api/version, /api/tags, /api/ps, /api/show.
//!
//! `OLLAMA_HOST` is read the way Ollama's own CLI reads it ([`ollama_host_url`]).

use std::borrow::Cow;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::http::{self, Flow, HttpClient, LineParser, ServerUrl};
use super::{
    Backend, BackendError, BackendInfo, BackendKind, CallFailure, CallRecord, CallRecorder, GenRequest,
    Input, Message, ServerTimings, Timeouts, TokenSink, ToolCallMsg,
};
use crate::options::Api;

/// Ollama's default address.
pub const DEFAULT_OLLAMA_URL: &str = "http://127.0.0.1:11434";

/// The base URL Ollama's CLI would use for an `OLLAMA_HOST` value (`None`/empty → default).
/// Accepts `host`, `host:port`, `:port`, `scheme://host[:port][/path]`, IPv6 in brackets; quotes
/// and spaces around the value are ignored; the default port is 11434 without a scheme, 80 for
/// `http://` and 443 for `https://` (as in Ollama's `envconfig.Host`).
pub fn ollama_host_url(value: Option<&str>) -> String {
    let s = value.unwrap_or_default().trim().trim_matches(|c| c == '"' || c == '\'');
    let (scheme, rest, default_port) = match s.split_once("://") {
        None => ("http", s, "11434"),
        Some(("http", r)) => ("http", r, "80"),
        Some(("https", r)) => ("https", r, "443"),
        Some((sch, r)) => (sch, r, "11434"),
    };
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    // `user:password@` is kept as given (the clients send it as basic auth, see `ServerUrl`).
    let (userinfo, hostport) = match hostport.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), hostport),
    };
    let split = if let Some(h) = hostport.strip_prefix('[') {
        // [v6]:port
        h.split_once("]:").map(|(h, p)| (h.to_string(), p.to_string()))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.to_string())),
            _ => None,
        }
    };
    let (host, port) = match split {
        Some((h, p)) => (h, p),
        None => {
            let bare = hostport.trim_matches(|c| c == '[' || c == ']');
            let host = if bare.is_empty() { "127.0.0.1".to_string() } else { bare.to_string() };
            (host, default_port.to_string())
        }
    };
    let port = match port.parse::<u16>() {
        Ok(p) => p.to_string(),
        Err(_) => default_port.to_string(),
    };
    let host = if host.is_empty() { "127.0.0.1".to_string() } else { host };
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let path = if path.is_empty() { String::new() } else { format!("/{}", path.trim_end_matches('/')) };
    format!("{scheme}://{userinfo}{host}:{port}{path}")
}

/// `/api/tags` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelTag {
    pub name: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub modified_at: Option<String>,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub details: Option<Value>,
}

/// `/api/ps` entry: a loaded model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunningModel {
    pub name: String,
    #[serde(default)]
    pub model: String,
    /// Bytes in memory (RAM + VRAM).
    #[serde(default)]
    pub size: u64,
    /// Bytes in GPU memory.
    #[serde(default)]
    pub size_vram: u64,
    /// The context length the model was loaded with (newer Ollama versions).
    #[serde(default)]
    pub context_length: Option<u64>,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `/api/show` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShowResponse {
    #[serde(default)]
    pub modelfile: String,
    #[serde(default)]
    pub parameters: String,
    #[serde(default)]
    pub template: String,
    #[serde(default)]
    pub details: Option<Value>,
    #[serde(default)]
    pub model_info: Option<Map<String, Value>>,
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl ShowResponse {
    /// The model's trained context length (`<arch>.context_length` in `model_info`).
    pub fn context_length(&self) -> Option<u64> {
        self.model_info
            .as_ref()?
            .iter()
            .find(|(k, _)| k.ends_with(".context_length"))
            .and_then(|(_, v)| v.as_u64())
    }
}

#[derive(Deserialize)]
struct VersionResponse {
    version: String,
}
#[derive(Deserialize)]
struct TagsResponse {
    #[serde(default)]
    models: Vec<ModelTag>,
}
#[derive(Deserialize)]
struct PsResponse {
    #[serde(default)]
    models: Vec<RunningModel>,
}

/// `name` with `:latest` added when it has no tag (Ollama's normalisation).
fn normalise(name: &str) -> String {
    if name.contains(':') { name.to_string() } else { format!("{name}:latest") }
}

/// Ollama native HTTP client. Cheap to clone; clones share one connection pool.
///
/// A URL with credentials (`http://user:password@host:port`) sends them as HTTP basic auth;
/// they never appear in the endpoint, records or errors.
#[derive(Debug, Clone)]
pub struct OllamaClient {
    http: HttpClient,
    server: ServerUrl,
    timeouts: Timeouts,
}

impl OllamaClient {
    /// A client with its own connection pool.
    pub fn new(base_url: &str, timeouts: Timeouts) -> Self {
        Self::with_http(http::http_client(&timeouts), base_url, timeouts)
    }

    /// A client on a shared [`HttpClient`] (see [`super::http_client`]); its connect timeout and
    /// TLS settings are the shared client's.
    pub fn with_http(http: HttpClient, base_url: &str, timeouts: Timeouts) -> Self {
        OllamaClient { http, server: ServerUrl::parse(base_url), timeouts }
    }

    /// A client for `OLLAMA_HOST` (read as Ollama's CLI does; default `http://127.0.0.1:11434`).
    pub fn from_env(timeouts: Timeouts) -> Self {
        let v = std::env::var("OLLAMA_HOST").ok();
        Self::new(&ollama_host_url(v.as_deref()), timeouts)
    }

    /// The base URL (without credentials).
    pub fn base_url(&self) -> &str {
        &self.server.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Option<Value>,
        model: Option<&str>,
    ) -> Result<T, BackendError> {
        self.get_json_unredacted(path, body, model).await.map_err(|mut e| {
            e.redact(&self.server.redactor);
            e
        })
    }

    async fn get_json_unredacted<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Option<Value>,
        model: Option<&str>,
    ) -> Result<T, BackendError> {
        let url = self.url(path);
        let rb = match &body {
            Some(b) => self.http.pooled().post(&url).json(b),
            None => self.http.pooled().get(&url),
        };
        let req = self
            .server
            .authorize(rb)
            .build()
            .map_err(|e| BackendError::InvalidRequest(format!("{url}: {e}")))?;
        let t = &self.timeouts;
        let (resp, _) = http::send(&self.http, req, t, |_| {}).await?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let body = http::error_body(resp, t.idle).await;
            return Err(status_error(status, body, &url, model));
        }
        let text = match tokio::time::timeout(t.idle, resp.text()).await {
            Err(_) => return Err(BackendError::IdleTimeout { timeout_ms: t.idle.as_millis() as u64 }),
            Ok(Err(_)) => return Err(BackendError::Truncated),
            Ok(Ok(s)) => s,
        };
        serde_json::from_str(&text).map_err(|e| http::malformed(text.as_bytes(), e))
    }

    /// `GET /api/version`.
    pub async fn version(&self) -> Result<String, BackendError> {
        Ok(self.get_json::<VersionResponse>("/api/version", None, None).await?.version)
    }

    /// `GET /api/tags`: installed models.
    pub async fn tags(&self) -> Result<Vec<ModelTag>, BackendError> {
        Ok(self.get_json::<TagsResponse>("/api/tags", None, None).await?.models)
    }

    /// `GET /api/ps`: loaded models with size, size_vram and context_length.
    pub async fn ps(&self) -> Result<Vec<RunningModel>, BackendError> {
        Ok(self.get_json::<PsResponse>("/api/ps", None, None).await?.models)
    }

    /// `POST /api/show` for `model`.
    pub async fn show(&self, model: &str) -> Result<ShowResponse, BackendError> {
        self.get_json("/api/show", Some(json!({ "model": model })), Some(model)).await
    }

    /// The JSON body sent for `req` (unset options are not sent; floats keep their text).
    pub fn request_body(req: &GenRequest) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        match &req.input {
            Input::Generate { system, prompt } => {
                body.insert("prompt".into(), json!(prompt));
                if let Some(s) = system {
                    body.insert("system".into(), json!(s));
                }
            }
            Input::Chat { messages } => {
                body.insert("messages".into(), messages.iter().map(wire_message).collect());
            }
        }
        if !req.tools.is_empty() {
            body.insert("tools".into(), json!(req.tools));
        }
        body.insert("stream".into(), json!(true));
        let options = req.options.wire(Api::Ollama);
        if !options.is_empty() {
            body.insert("options".into(), Value::Object(options));
        }
        if let Some(k) = &req.keep_alive {
            body.insert("keep_alive".into(), keep_alive_value(k));
        }
        Value::Object(body)
    }
}

/// A chat message as Ollama takes it: tool calls as `{"function": {"name", "arguments"}}`
/// (arguments an object), a tool result with `tool_name`.
fn wire_message(m: &Message) -> Value {
    let call = |c: &ToolCallMsg| json!({"function": {"name": c.name, "arguments": c.arguments}});
    m.to_wire(call, ("tool_name", m.tool_name.as_ref()))
}

/// Ollama accepts `keep_alive` as a duration string ("5m") or a number of seconds (0, -1).
fn keep_alive_value(k: &str) -> Value {
    match k.trim().parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(k.trim()),
    }
}

/// Map an HTTP error status from Ollama to a typed error.
fn status_error(status: u16, body: String, url: &str, model: Option<&str>) -> BackendError {
    let message = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.clone());
    if let (404, Some(m)) = (status, model) {
        if message.contains("not found") || message.contains("pull") {
            return BackendError::ModelNotFound { model: m.to_string(), url: url.to_string() };
        }
    }
    let hint = match status {
        503 => {
            " (the server is busy or overloaded: lower the concurrency, or raise OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE)"
        }
        500 => {
            " (the server failed: check its log, e.g. `journalctl -u ollama` or the `ollama serve` output)"
        }
        _ => "",
    };
    BackendError::Http { status, url: url.to_string(), body: format!("{message}{hint}") }
}

#[derive(Deserialize)]
struct ChatMsg<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

/// `message.tool_calls[]` of a chat stream line.
#[derive(Deserialize)]
struct WireToolCall {
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

/// One NDJSON line of `/api/generate` or `/api/chat`.
#[derive(Deserialize)]
struct StreamLine<'a> {
    #[serde(borrow, default)]
    response: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<ChatMsg<'a>>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    total_duration: Option<u64>,
    load_duration: Option<u64>,
    prompt_eval_count: Option<u64>,
    prompt_eval_duration: Option<u64>,
    eval_count: Option<u64>,
    eval_duration: Option<u64>,
    /// `chimera serve`'s extra fields (docs/ENGINE.md): prompt tokens reused from its cache,
    /// whether it truncated the prompt and how many prompt tokens it dropped.
    prompt_cached_count: Option<u64>,
    prompt_truncated: Option<bool>,
    prompt_tokens_dropped: Option<u64>,
    #[serde(default)]
    error: Option<Value>,
}

/// NDJSON parser for Ollama streams.
#[derive(Default)]
pub(crate) struct NdjsonParser;

impl LineParser for NdjsonParser {
    fn line(
        &mut self,
        line: &[u8],
        rec: &mut CallRecorder,
        sink: TokenSink<'_>,
    ) -> Result<Flow, BackendError> {
        let l: StreamLine<'_> = serde_json::from_slice(line).map_err(|e| http::malformed(line, e))?;
        if let Some(err) = l.error {
            let message = err.as_str().map_or_else(|| err.to_string(), str::to_string);
            return Err(BackendError::Server { message });
        }
        let (content, thinking) = match &l.message {
            Some(m) => (m.content.as_deref(), m.thinking.as_deref()),
            None => (l.response.as_deref(), l.thinking.as_deref()),
        };
        for c in l.message.iter().flat_map(|m| &m.tool_calls) {
            rec.tool_call(ToolCallMsg {
                id: String::new(),
                name: c.function.name.clone(),
                arguments: c.function.arguments.clone(),
            });
        }
        if let Some(c) = rec.token(thinking.unwrap_or_default(), true) {
            sink(c);
        }
        if let Some(c) = rec.token(content.unwrap_or_default(), false) {
            sink(c);
        }
        if !l.done {
            return Ok(Flow::More);
        }
        rec.server_timings(ServerTimings {
            total_duration_ns: l.total_duration,
            load_duration_ns: l.load_duration,
            prompt_eval_count: l.prompt_eval_count,
            prompt_eval_duration_ns: l.prompt_eval_duration,
            eval_count: l.eval_count,
            eval_duration_ns: l.eval_duration,
            prompt_cached_count: l.prompt_cached_count,
        });
        if let Some(t) = l.prompt_truncated {
            rec.prompt_truncated(t);
        }
        if let Some(n) = l.prompt_tokens_dropped {
            rec.prompt_tokens_dropped(n);
        }
        rec.done_reason(l.done_reason);
        Ok(Flow::Done)
    }
}

#[async_trait]
impl Backend for OllamaClient {
    fn kind(&self) -> BackendKind {
        BackendKind::Ollama
    }

    fn endpoint(&self) -> String {
        self.server.base.clone()
    }

    async fn info(&self, model: Option<&str>) -> Result<BackendInfo, BackendError> {
        let mut info = BackendInfo {
            kind: Some(BackendKind::Ollama),
            endpoint: self.server.base.clone(),
            version: Some(self.version().await?),
            ..Default::default()
        };
        if let Some(m) = model {
            let want = normalise(m);
            let tags = self.tags().await?;
            let tag = tags.iter().find(|t| normalise(&t.name) == want || normalise(&t.model) == want);
            let Some(tag) = tag else {
                return Err(BackendError::ModelNotFound {
                    model: m.to_string(),
                    url: self.server.base.clone(),
                });
            };
            info.model = Some(tag.name.clone());
            info.model_digest = (!tag.digest.is_empty()).then(|| tag.digest.clone());
            info.model_size_bytes = Some(tag.size);
            info.context_length = self.show(m).await.ok().and_then(|s| s.context_length());
        }
        Ok(info)
    }

    async fn generate(&self, req: &GenRequest, on_token: TokenSink<'_>) -> Result<CallRecord, CallFailure> {
        let path = match req.input {
            Input::Generate { .. } => "/api/generate",
            Input::Chat { .. } => "/api/chat",
        };
        let url = self.url(path);
        let body = serde_json::to_vec(&Self::request_body(req)).unwrap_or_default();
        let rb = self.http.pooled().post(&url).header(reqwest::header::CONTENT_TYPE, "application/json");
        let built = self.server.authorize(rb).body(body).build();
        let rec = CallRecorder::start(BackendKind::Ollama, &self.server.base, req);
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
            http::stream_lines(resp, rec, sent, &self.timeouts, &mut NdjsonParser, on_token).await
        }
        .await;
        http::redact_result(&self.server.redactor, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_is_read_like_the_ollama_cli() {
        let cases = [
            (None, "http://127.0.0.1:11434"),
            (Some(""), "http://127.0.0.1:11434"),
            (Some("1.2.3.4"), "http://1.2.3.4:11434"),
            (Some("example.com"), "http://example.com:11434"),
            (Some("example.com:56789"), "http://example.com:56789"),
            (Some(":56789"), "http://127.0.0.1:56789"),
            (Some("0.0.0.0"), "http://0.0.0.0:11434"),
            (Some(" \"1.2.3.4:1234\" "), "http://1.2.3.4:1234"),
            (Some("http://1.2.3.4"), "http://1.2.3.4:80"),
            (Some("https://1.2.3.4"), "https://1.2.3.4:443"),
            (Some("https://1.2.3.4:1234"), "https://1.2.3.4:1234"),
            (Some("http://example.com/path/"), "http://example.com:80/path"),
            (Some("[::1]:1234"), "http://[::1]:1234"),
            (Some("[::1]"), "http://[::1]:11434"),
            (Some("example.com:notaport"), "http://example.com:11434"),
            (Some("http://user:PASS@host/x"), "http://user:PASS@host:80/x"),
            (Some("u:p%40ss:w@[::1]:8080"), "http://u:p%40ss:w@[::1]:8080"),
            (Some("https://u@example.com"), "https://u@example.com:443"),
        ];
        for (input, want) in cases {
            assert_eq!(ollama_host_url(input), want, "OLLAMA_HOST={input:?}");
        }
    }

    #[test]
    fn request_body_sends_only_set_options() {
        use crate::options::GenOptions;
        let mut r = GenRequest::generate(
            "gemma3:270m",
            Some("sys"),
            "hi",
            GenOptions { temperature: Some(0.8), ..Default::default() },
        );
        r.keep_alive = Some("0".into());
        let b = OllamaClient::request_body(&r);
        assert_eq!(b["options"].to_string(), r#"{"temperature":0.8}"#);
        assert_eq!(b["keep_alive"], json!(0));
        assert_eq!(b["system"], "sys");
        let r = GenRequest::generate("m", None, "hi", GenOptions::default());
        assert!(OllamaClient::request_body(&r).get("options").is_none());
    }

    #[test]
    fn status_errors_say_what_to_do() {
        let e = status_error(
            404,
            r#"{"error":"model \"x\" not found, try pulling it first"}"#.into(),
            "u",
            Some("x"),
        );
        assert!(e.to_string().contains("ollama pull x"), "{e}");
        let e = status_error(503, r#"{"error":"server busy"}"#.into(), "u", Some("x"));
        assert!(matches!(e, BackendError::Http { status: 503, .. }));
        assert!(e.to_string().contains("server busy"));
    }
}
