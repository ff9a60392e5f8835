//! The per-call record (units in field names) and the recorder that stamps it.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BackendError, BackendKind, CallFailure, GenRequest, TokenChunk, ToolCallMsg};
use crate::metrics;
use crate::options::GenOptions;

/// Server-reported timings (Ollama's final chunk; llama-server `timings`; the embedded engine).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerTimings {
    pub total_duration_ns: Option<u64>,
    pub load_duration_ns: Option<u64>,
    pub prompt_eval_count: Option<u64>,
    pub prompt_eval_duration_ns: Option<u64>,
    pub eval_count: Option<u64>,
    pub eval_duration_ns: Option<u64>,
    /// Prompt tokens served from the server's prompt cache (prefix reuse), not evaluated: not
    /// part of `prompt_eval_count`. Absent when the server does not say (and in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cached_count: Option<u64>,
}

/// Everything measured about one call. Offsets are ms after the request was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub backend: BackendKind,
    pub endpoint: String,
    pub model: String,
    pub options: GenOptions,
    pub started_at: DateTime<Utc>,
    /// Arrival of every non-empty chunk (thinking included).
    pub chunk_arrivals_ms: Vec<f64>,
    pub first_token_ms: Option<f64>,
    pub first_content_ms: Option<f64>,
    pub last_token_ms: Option<f64>,
    pub end_ms: Option<f64>,
    pub chunks: u64,
    pub text: String,
    pub thinking: String,
    pub server: ServerTimings,
    pub done_reason: Option<String>,
    /// Whether the server cut the prompt to fit its context: known (`true` / `false`) when the
    /// server said so (the embedded engine, `chimera serve`) or, on Ollama, from
    /// prompt_eval_count ≥ the num_ctx the request set; `null` (unknown) otherwise — Ollama
    /// without num_ctx (its default context is not reported), OpenAI-compatible servers that do
    /// not say, a call that ended before the final chunk. [`CallRecord::truncation_unknown`]
    /// says why. Files of schema 1 hold a plain bool, read as known.
    #[serde(default)]
    pub prompt_truncated: Option<bool>,
    /// How many prompt tokens the server dropped to fit its context, when it says
    /// (the embedded engine, `chimera serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_dropped: Option<u64>,
    /// True when the stream ended with its final chunk.
    pub completed: bool,
    pub error: Option<BackendError>,
    /// Set when the request failed before any response on a reused connection and was sent
    /// again, once, on a fresh connection: `started_at` and every offset above count from that
    /// second send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<CallRetry>,
    /// Tool calls the model made (native tool calling), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallMsg>,
}

/// The first attempt of a call that was retried on a fresh connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRetry {
    /// Why the first attempt failed (e.g. the server closed the reused connection).
    pub error: BackendError,
    /// When the first attempt was sent.
    pub first_started_at: DateTime<Utc>,
    /// From the first send to the retry's send, ms.
    pub first_attempt_ms: f64,
}

impl CallRecord {
    /// Replace every secret of `r` in what the server sent and in the errors.
    pub fn redact(&mut self, r: &crate::secret::Redactor) {
        for t in [&mut self.endpoint, &mut self.text, &mut self.thinking] {
            r.redact_string(t);
        }
        if let Some(d) = &mut self.done_reason {
            r.redact_string(d);
        }
        if let Some(e) = &mut self.error {
            e.redact(r);
        }
        if let Some(retry) = &mut self.retry {
            retry.error.redact(r);
        }
    }

    /// TTFT in ms (first non-empty chunk, thinking included).
    pub fn ttft_ms(&self) -> Option<f64> {
        self.first_token_ms
    }
    /// End-to-end time in ms.
    pub fn e2e_ms(&self) -> Option<f64> {
        self.end_ms
    }
    /// Inter-token latencies in ms.
    pub fn itl_ms(&self) -> Vec<f64> {
        metrics::itl_ms(&self.chunk_arrivals_ms)
    }
    /// eval_count / eval_duration (server), tok/s.
    pub fn decode_tok_s(&self) -> Option<f64> {
        metrics::decode_tok_s(self.server.eval_count?, self.server.eval_duration_ns?)
    }
    /// (chunks − 1) / (t_last − t_first), chunks/s.
    pub fn client_decode_rate(&self) -> Option<f64> {
        metrics::client_decode_rate(self.chunks, self.first_token_ms?, self.last_token_ms?)
    }
    /// Output tokens: the server's eval_count, else the chunk count.
    pub fn output_tokens(&self) -> u64 {
        self.server.eval_count.unwrap_or(self.chunks)
    }

    /// Why the client cannot know whether this call's prompt was truncated (`None` when it
    /// knows: `prompt_truncated` is set).
    pub fn truncation_unknown(&self) -> Option<&'static str> {
        if self.prompt_truncated.is_some() {
            return None;
        }
        Some(match self.backend {
            _ if !self.completed => "the call ended before the server's final chunk",
            BackendKind::Ollama if self.options.num_ctx.is_none() => {
                "num_ctx was not set, and Ollama neither reports its default context (2048 or 4096 by \
                 version and model) nor says when it cuts a prompt; set --num-ctx to know"
            }
            BackendKind::Ollama => "the server reported no prompt token count",
            BackendKind::Openai => {
                "OpenAI-compatible servers do not say when they cut a prompt (chimera serve does), and \
                 their context is set when they start, not per request"
            }
            BackendKind::Embedded => "the engine did not report it",
        })
    }

    /// The truncation as a report shows it: `yes (N prompt tokens dropped)`, `yes`, `no`,
    /// `unknown`.
    pub fn truncation_label(&self) -> String {
        match (self.prompt_truncated, self.prompt_tokens_dropped) {
            (Some(true), Some(n)) if n > 0 => format!("yes ({n} prompt tokens dropped)"),
            (Some(true), _) => "yes".into(),
            (Some(false), _) => "no".into(),
            (None, _) => "unknown".into(),
        }
    }
}

/// Stamps a [`CallRecord`] as a stream arrives. Create it right before sending the request.
#[derive(Debug)]
pub struct CallRecorder {
    t0: Instant,
    rec: CallRecord,
    /// Truncation as the server reported it (wins over the prompt_eval_count ≥ num_ctx guess).
    truncation_reported: Option<bool>,
    /// When the bytes being parsed were read from the network ([`CallRecorder::arrived`]).
    arrived: Option<Instant>,
}

impl CallRecorder {
    /// Start the clock for `req` sent to `endpoint`.
    pub fn start(backend: BackendKind, endpoint: &str, req: &GenRequest) -> Self {
        CallRecorder {
            t0: Instant::now(),
            rec: CallRecord {
                backend,
                endpoint: endpoint.to_string(),
                model: req.model.clone(),
                options: req.options.clone(),
                started_at: Utc::now(),
                chunk_arrivals_ms: Vec::new(),
                first_token_ms: None,
                first_content_ms: None,
                last_token_ms: None,
                end_ms: None,
                chunks: 0,
                text: String::new(),
                thinking: String::new(),
                server: ServerTimings::default(),
                done_reason: None,
                prompt_truncated: None,
                prompt_tokens_dropped: None,
                completed: false,
                error: None,
                retry: None,
                tool_calls: Vec::new(),
            },
            truncation_reported: None,
            arrived: None,
        }
    }

    /// Milliseconds since the request was sent.
    pub fn elapsed_ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1000.0
    }

    /// The bytes about to be parsed were read from the network at `at`: the tokens in them are
    /// stamped `at`, not when their line is parsed (parsing, earlier lines of the same read and
    /// the token sinks would otherwise add their time to every stamp after the first).
    pub(crate) fn arrived(&mut self, at: Instant) {
        self.arrived = Some(at);
    }

    /// The request is being sent again on a fresh connection after `error`: note the first
    /// attempt and restart the clock (TTFT and every offset count from the retried send).
    pub fn retry(&mut self, error: BackendError) {
        self.rec.retry = Some(CallRetry {
            error,
            first_started_at: self.rec.started_at,
            first_attempt_ms: self.elapsed_ms(),
        });
        self.t0 = Instant::now();
        self.rec.started_at = Utc::now();
    }

    /// Record one chunk; empty text is ignored. Returns the chunk as passed to sinks.
    pub fn token<'a>(&mut self, text: &'a str, thinking: bool) -> Option<TokenChunk<'a>> {
        if text.is_empty() {
            return None;
        }
        let at = match self.arrived {
            Some(a) => a.saturating_duration_since(self.t0).as_secs_f64() * 1000.0,
            None => self.elapsed_ms(),
        };
        let index = self.rec.chunks;
        self.rec.chunks += 1;
        self.rec.chunk_arrivals_ms.push(at);
        self.rec.first_token_ms.get_or_insert(at);
        self.rec.last_token_ms = Some(at);
        if thinking {
            self.rec.thinking.push_str(text);
        } else {
            self.rec.first_content_ms.get_or_insert(at);
            self.rec.text.push_str(text);
        }
        Some(TokenChunk { text, thinking, index, at_ms: at })
    }

    /// A whole tool call (Ollama sends each call complete).
    pub fn tool_call(&mut self, call: ToolCallMsg) {
        self.rec.tool_calls.push(call);
    }

    /// A piece of the `index`-th tool call (OpenAI streams the arguments as text fragments):
    /// the id and name when given, the fragment appended to the arguments' text.
    pub fn tool_call_delta(&mut self, index: usize, id: Option<&str>, name: Option<&str>, fragment: &str) {
        let calls = &mut self.rec.tool_calls;
        while calls.len() <= index {
            calls.push(ToolCallMsg {
                arguments: serde_json::Value::String(String::new()),
                ..Default::default()
            });
        }
        let c = &mut calls[index];
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            c.id = id.to_string();
        }
        if let Some(n) = name.filter(|s| !s.is_empty()) {
            c.name.push_str(n);
        }
        if let serde_json::Value::String(a) = &mut c.arguments {
            a.push_str(fragment);
        }
    }

    /// Set the server's timings (merged: fields already set are kept unless `t` sets them).
    pub fn server_timings(&mut self, t: ServerTimings) {
        let s = &mut self.rec.server;
        s.total_duration_ns = t.total_duration_ns.or(s.total_duration_ns);
        s.load_duration_ns = t.load_duration_ns.or(s.load_duration_ns);
        s.prompt_eval_count = t.prompt_eval_count.or(s.prompt_eval_count);
        s.prompt_eval_duration_ns = t.prompt_eval_duration_ns.or(s.prompt_eval_duration_ns);
        s.eval_count = t.eval_count.or(s.eval_count);
        s.eval_duration_ns = t.eval_duration_ns.or(s.eval_duration_ns);
        s.prompt_cached_count = t.prompt_cached_count.or(s.prompt_cached_count);
    }

    /// The server says whether it truncated the prompt (the embedded engine, `chimera serve`);
    /// without this an Ollama record infers it from prompt_eval_count ≥ num_ctx, and any other
    /// record says it is unknown.
    pub fn prompt_truncated(&mut self, truncated: bool) {
        self.truncation_reported = Some(truncated);
    }

    /// The server says how many prompt tokens it dropped to fit its context.
    pub fn prompt_tokens_dropped(&mut self, dropped: u64) {
        self.rec.prompt_tokens_dropped = Some(dropped);
    }

    /// Why generation stopped ("stop", "length", …).
    pub fn done_reason(&mut self, reason: Option<String>) {
        if reason.is_some() {
            self.rec.done_reason = reason;
        }
    }

    /// Read access to what has been recorded so far.
    pub fn record(&self) -> &CallRecord {
        &self.rec
    }

    fn close(&mut self) {
        self.rec.end_ms = Some(self.elapsed_ms());
        self.rec.prompt_truncated = self.truncation_reported.or_else(|| self.truncation_inferred());
    }

    /// Only Ollama takes num_ctx per request and counts the prompt against it: a prompt of
    /// num_ctx tokens or more (evaluated + cached) was cut. Elsewhere the client cannot know.
    fn truncation_inferred(&self) -> Option<bool> {
        let s = &self.rec.server;
        match (self.rec.backend, s.prompt_eval_count, self.rec.options.num_ctx) {
            (BackendKind::Ollama, Some(n), Some(ctx)) => {
                Some(n + s.prompt_cached_count.unwrap_or(0) >= u64::from(ctx))
            }
            _ => None,
        }
    }

    /// The stream ended with its final chunk.
    pub fn finish(mut self) -> CallRecord {
        self.close();
        for (i, c) in self.rec.tool_calls.iter_mut().enumerate() {
            // Streamed argument text becomes JSON when it is; an invalid call stays text.
            if let serde_json::Value::String(a) = &c.arguments {
                if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_str(a) {
                    c.arguments = v;
                }
            }
            if c.id.is_empty() {
                c.id = format!("call_{i}");
            }
        }
        self.rec.completed = true;
        self.rec
    }

    /// The stream failed: keep what was measured.
    pub fn fail(mut self, error: BackendError) -> CallFailure {
        self.close();
        self.rec.error = Some(error.clone());
        CallFailure { error, partial: Box::new(self.rec) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_stamps_chunks_and_flags_truncation() {
        let req = GenRequest::generate("m", None, "p", GenOptions { num_ctx: Some(8), ..Default::default() });
        let mut r = CallRecorder::start(BackendKind::Ollama, "http://x", &req);
        assert!(r.token("", false).is_none());
        let c = r.token("think", true).unwrap();
        assert_eq!((c.index, c.thinking), (0, true));
        r.token("a", false);
        r.token("b", false);
        r.server_timings(ServerTimings {
            prompt_eval_count: Some(8),
            eval_count: Some(3),
            eval_duration_ns: Some(1_000_000_000),
            ..Default::default()
        });
        let rec = r.finish();
        assert_eq!(rec.chunks, 3);
        assert_eq!(rec.text, "ab");
        assert_eq!(rec.thinking, "think");
        assert!(rec.first_token_ms.unwrap() <= rec.first_content_ms.unwrap());
        assert_eq!(rec.itl_ms().len(), 2);
        assert_eq!(rec.decode_tok_s(), Some(3.0));
        assert_eq!(rec.prompt_truncated, Some(true));
        assert_eq!(rec.truncation_label(), "yes");
        assert!(rec.completed);
    }

    #[test]
    fn reported_truncation_wins_over_the_guess() {
        let req = GenRequest::generate("m", None, "p", GenOptions { num_ctx: Some(8), ..Default::default() });
        let mut r = CallRecorder::start(BackendKind::Embedded, "embedded:x", &req);
        r.server_timings(ServerTimings { prompt_eval_count: Some(2), ..Default::default() });
        r.server_timings(ServerTimings { prompt_cached_count: Some(9), ..Default::default() });
        r.prompt_truncated(true);
        let rec = r.finish();
        assert_eq!(
            rec.prompt_truncated,
            Some(true),
            "2 evaluated tokens < num_ctx, but the server said it truncated"
        );
        assert_eq!((rec.server.prompt_eval_count, rec.server.prompt_cached_count), (Some(2), Some(9)));
        let mut r = CallRecorder::start(BackendKind::Embedded, "embedded:x", &req);
        r.server_timings(ServerTimings { prompt_eval_count: Some(8), ..Default::default() });
        r.prompt_truncated(false);
        assert_eq!(r.finish().prompt_truncated, Some(false));
    }

    /// Unknown (not "no") wherever the client cannot know, with the reason; known where the
    /// server says or Ollama's count reaches the num_ctx the request set.
    #[test]
    fn truncation_is_unknown_unless_known() {
        let finish = |kind, num_ctx, prompt: Option<u64>| {
            let req = GenRequest::generate("m", None, "p", GenOptions { num_ctx, ..Default::default() });
            let mut r = CallRecorder::start(kind, "http://x", &req);
            r.server_timings(ServerTimings { prompt_eval_count: prompt, ..Default::default() });
            r.finish()
        };
        let no_ctx = finish(BackendKind::Ollama, None, Some(5000));
        assert_eq!((no_ctx.prompt_truncated, no_ctx.truncation_label().as_str()), (None, "unknown"));
        assert!(no_ctx.truncation_unknown().unwrap().contains("num_ctx was not set"));
        let fits = finish(BackendKind::Ollama, Some(8), Some(7));
        assert_eq!((fits.prompt_truncated, fits.truncation_unknown()), (Some(false), None));
        assert_eq!(fits.truncation_label(), "no");
        let no_count = finish(BackendKind::Ollama, Some(8), None);
        assert!(no_count.truncation_unknown().unwrap().contains("no prompt token count"));
        let openai = finish(BackendKind::Openai, Some(8), Some(5000));
        assert_eq!(openai.prompt_truncated, None, "num_ctx is not sent over OpenAI: no inference");
        assert!(openai.truncation_unknown().unwrap().contains("OpenAI-compatible"));

        let req = GenRequest::generate("m", None, "p", GenOptions::default());
        let mut r = CallRecorder::start(BackendKind::Openai, "http://x", &req);
        r.prompt_truncated(true);
        r.prompt_tokens_dropped(40);
        let said = r.finish();
        assert_eq!((said.prompt_truncated, said.prompt_tokens_dropped), (Some(true), Some(40)));
        assert_eq!(said.truncation_label(), "yes (40 prompt tokens dropped)");
        let failed = CallRecorder::start(BackendKind::Embedded, "x", &req).fail(BackendError::Truncated);
        assert!(failed.partial.truncation_unknown().unwrap().contains("before the server's final chunk"));
    }

    /// Records of schema 1 hold a plain bool; unknown is written as null and read back.
    #[test]
    fn old_bool_and_unknown_load() {
        let req = GenRequest::generate("m", None, "p", GenOptions::default());
        let rec = CallRecorder::start(BackendKind::Ollama, "http://x", &req).finish();
        let mut v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["prompt_truncated"], serde_json::Value::Null);
        assert!(v.get("prompt_tokens_dropped").is_none());
        assert_eq!(serde_json::from_value::<CallRecord>(v.clone()).unwrap().prompt_truncated, None);
        for b in [true, false] {
            v["prompt_truncated"] = serde_json::json!(b);
            assert_eq!(serde_json::from_value::<CallRecord>(v.clone()).unwrap().prompt_truncated, Some(b));
        }
    }

    #[test]
    fn old_timings_without_cached_count_load() {
        let t: ServerTimings = serde_json::from_str(r#"{"prompt_eval_count":3,"eval_count":4}"#).unwrap();
        assert_eq!(t.prompt_cached_count, None);
        assert!(!serde_json::to_string(&t).unwrap().contains("prompt_cached_count"));
    }

    #[test]
    fn failure_keeps_partial_record() {
        let req = GenRequest::generate("m", Some("sys"), "p", GenOptions::default());
        let mut r = CallRecorder::start(BackendKind::Openai, "http://x", &req);
        r.token("x", false);
        let f = r.fail(BackendError::Truncated);
        assert_eq!(f.partial.chunks, 1);
        assert!(!f.partial.completed);
        assert_eq!(f.partial.error, Some(BackendError::Truncated));
    }
}
