//! Streaming scripts: what a scripted reply sends and when (tokens, raw lines, split lines,
//! error lines, drops, stalls, the final chunk), and how each step renders as Ollama NDJSON or
//! OpenAI SSE.

use std::time::Duration;

use serde_json::{Value, json};

/// Server-side timings put in the final chunk (Ollama durations in ns; for OpenAI they become
/// `usage` and, when [`Final::llama_server_timings`] is set, llama-server's `timings` object).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    pub total_duration_ns: u64,
    pub load_duration_ns: u64,
    pub prompt_eval_count: u64,
    pub prompt_eval_duration_ns: u64,
    pub eval_count: u64,
    pub eval_duration_ns: u64,
}

/// The final chunk of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Final {
    /// Ollama `done_reason` / OpenAI `finish_reason`.
    pub done_reason: String,
    pub timings: Timings,
    /// OpenAI only: also send llama-server's `timings` object (prompt_n, prompt_ms, predicted_n,
    /// predicted_ms) in the usage chunk.
    pub llama_server_timings: bool,
}

impl Final {
    /// A final chunk with `done_reason = "stop"`.
    pub fn stop(timings: Timings) -> Self {
        Final { done_reason: "stop".into(), timings, llama_server_timings: false }
    }
}

/// One step of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// One visible content token (one line / one SSE event).
    Token(String),
    /// One reasoning token (Ollama `thinking`, OpenAI `delta.reasoning_content`).
    Thinking(String),
    /// A line sent as given, followed by the format's terminator (`\n` for NDJSON, `\n\n` for SSE).
    RawLine(String),
    /// Bytes sent exactly as given, in one HTTP chunk.
    Raw(Vec<u8>),
    /// The rendered step sent across two HTTP chunks (two TCP writes 5 ms apart), cut mid-line.
    Split(Box<Step>),
    /// Several steps rendered into ONE HTTP chunk (several lines in one TCP write).
    Batch(Vec<Step>),
    /// An error line: Ollama `{"error": msg}`, OpenAI `data: {"error":{"message": msg}}`.
    ErrorLine(String),
    /// Close the connection here, mid-stream (no terminating zero-length chunk).
    Drop,
    /// Send nothing for this long (later steps keep their offsets, so they go out late).
    Stall(Duration),
    /// The final chunk (Ollama `done: true` with durations; OpenAI finish_reason, usage, `[DONE]`).
    Done(Final),
    /// A visible token saying when the server really wrote this stream's first token and when
    /// it had read the request: [`FIRST_SEND_TAG`] then `<sent> <read>`, each in ns of the
    /// system clock since the Unix epoch (`0 0` before any token). The clock is read just before
    /// the first token's bytes are written to the socket, so a benchmark can measure a client's
    /// first-token stamp against the real send instead of the script's offset (which adds this
    /// server's own timer lateness). Parse it with [`first_send_stamp`].
    FirstSendStamp,
}

/// Starts the text of a [`Step::FirstSendStamp`] token.
pub const FIRST_SEND_TAG: &str = " [scripted first token sent/read at unix ns: ";

/// The server's `(first token sent, request read)` times, in ns since the Unix epoch, from a
/// streamed text that ends with a [`Step::FirstSendStamp`] token.
pub fn first_send_stamp(text: &str) -> Option<(u128, u128)> {
    let (_, rest) = text.rsplit_once(FIRST_SEND_TAG)?;
    let mut it = rest.trim_end_matches(']').split_whitespace().map(|n| n.parse::<u128>().ok());
    Some((it.next()??, it.next()??))
}

impl Step {
    /// `Step::Split(Box::new(step))`.
    pub fn split(step: Step) -> Step {
        Step::Split(Box::new(step))
    }
    /// A visible token.
    pub fn token(text: impl Into<String>) -> Step {
        Step::Token(text.into())
    }
}

/// A timed list of steps. Offsets are measured from the moment the server received the request
/// (for a serial server: from the moment it started processing it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    pub events: Vec<(Duration, Step)>,
}

impl Script {
    /// An empty script (the stream ends at once with the terminating chunk and no final line).
    pub fn new() -> Self {
        Script::default()
    }

    /// Append `step` at `offset` after the request was received.
    pub fn at(mut self, offset: Duration, step: Step) -> Self {
        self.events.push((offset, step));
        self
    }

    /// Append `step` at `ms` milliseconds after the request was received.
    pub fn at_ms(self, ms: u64, step: Step) -> Self {
        self.at(Duration::from_millis(ms), step)
    }

    /// Append `step` at the same offset as the last event (or 0).
    pub fn then(self, step: Step) -> Self {
        let last = self.last_offset();
        self.at(last, step)
    }

    /// Offset of the last event (0 when empty).
    pub fn last_offset(&self) -> Duration {
        self.events.last().map_or(Duration::ZERO, |(d, _)| *d)
    }

    /// `n` tokens `"t0 "`, `"t1 "`, … : the first at `first_token_at`, then one every `itl`;
    /// the final chunk at the last token's offset. Works for both formats.
    pub fn tokens(first_token_at: Duration, itl: Duration, n_tokens: usize, fin: Final) -> Self {
        let mut s = Script::new();
        for i in 0..n_tokens {
            s = s.at(first_token_at + itl * i as u32, Step::Token(format!("t{i} ")));
        }
        let end = if n_tokens == 0 { first_token_at } else { s.last_offset() };
        s.at(end, Step::Done(fin))
    }

    /// Same as [`Script::tokens`] (name kept for readability in Ollama tests).
    pub fn ollama_tokens(first_token_at: Duration, itl: Duration, n_tokens: usize, timings: Timings) -> Self {
        Script::tokens(first_token_at, itl, n_tokens, Final::stop(timings))
    }

    /// Offsets of every token step (visible or thinking; inside `Split`/`Batch` too), in order.
    pub fn token_offsets(&self) -> Vec<Duration> {
        fn count(step: &Step) -> usize {
            match step {
                Step::Token(t) | Step::Thinking(t) => usize::from(!t.is_empty()),
                Step::Split(s) => count(s),
                Step::Batch(v) => v.iter().map(count).sum(),
                _ => 0,
            }
        }
        self.events.iter().flat_map(|(d, s)| std::iter::repeat_n(*d, count(s))).collect()
    }
}

/// Which wire format a script renders to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OllamaGenerate,
    OllamaChat,
    OpenAi,
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::OpenAi => "text/event-stream",
            _ => "application/x-ndjson",
        }
    }
}

const CREATED_AT: &str = "2026-01-01T00:00:00.000000000Z";

/// Renders steps for one request (the model name is echoed as real servers do).
pub(crate) struct Renderer {
    pub format: Format,
    pub model: String,
}

impl Renderer {
    fn ollama_line(&self, content: &str, thinking: Option<&str>) -> Value {
        let mut v = match self.format {
            Format::OllamaChat => {
                let mut m = json!({"role": "assistant", "content": content});
                if let Some(t) = thinking {
                    m["thinking"] = json!(t);
                }
                json!({"model": self.model, "created_at": CREATED_AT, "message": m, "done": false})
            }
            _ => json!({"model": self.model, "created_at": CREATED_AT, "response": content, "done": false}),
        };
        if let (Some(t), Format::OllamaGenerate) = (thinking, self.format) {
            v["thinking"] = json!(t);
        }
        v
    }

    fn sse(v: &Value) -> Vec<u8> {
        format!("data: {v}\n\n").into_bytes()
    }

    fn openai_delta(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1767225600,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    /// The bytes of one step (`Drop`, `Stall`, `Split`, `FirstSendStamp` are handled by the writer).
    pub fn render(&self, step: &Step) -> Vec<u8> {
        let ndjson = |v: Value| format!("{v}\n").into_bytes();
        match (step, self.format) {
            (Step::Token(t), Format::OpenAi) => Self::sse(&self.openai_delta(json!({"content": t}), None)),
            (Step::Thinking(t), Format::OpenAi) => {
                Self::sse(&self.openai_delta(json!({"reasoning_content": t}), None))
            }
            (Step::Token(t), _) => ndjson(self.ollama_line(t, None)),
            (Step::Thinking(t), _) => ndjson(self.ollama_line("", Some(t))),
            (Step::RawLine(l), Format::OpenAi) => format!("{l}\n\n").into_bytes(),
            (Step::RawLine(l), _) => format!("{l}\n").into_bytes(),
            (Step::Raw(b), _) => b.clone(),
            (Step::ErrorLine(m), Format::OpenAi) => Self::sse(&json!({"error": {"message": m}})),
            (Step::ErrorLine(m), _) => ndjson(json!({"error": m})),
            (Step::Done(f), Format::OpenAi) => self.openai_done(f),
            (Step::Done(f), _) => ndjson(self.ollama_done(f)),
            (Step::Batch(v), _) => v.iter().flat_map(|s| self.render(s)).collect(),
            (Step::Split(s), _) => self.render(s),
            (Step::Drop | Step::Stall(_) | Step::FirstSendStamp, _) => Vec::new(),
        }
    }

    fn ollama_done(&self, f: &Final) -> Value {
        let t = &f.timings;
        let mut v = self.ollama_line("", None);
        v["done"] = json!(true);
        v["done_reason"] = json!(f.done_reason);
        v["total_duration"] = json!(t.total_duration_ns);
        v["load_duration"] = json!(t.load_duration_ns);
        v["prompt_eval_count"] = json!(t.prompt_eval_count);
        v["prompt_eval_duration"] = json!(t.prompt_eval_duration_ns);
        v["eval_count"] = json!(t.eval_count);
        v["eval_duration"] = json!(t.eval_duration_ns);
        v
    }

    fn openai_done(&self, f: &Final) -> Vec<u8> {
        let t = &f.timings;
        let mut out = Self::sse(&self.openai_delta(json!({}), Some(&f.done_reason)));
        let mut usage = self.openai_delta(json!({}), None);
        usage["choices"] = json!([]);
        usage["usage"] = json!({
            "prompt_tokens": t.prompt_eval_count,
            "completion_tokens": t.eval_count,
            "total_tokens": t.prompt_eval_count + t.eval_count,
        });
        if f.llama_server_timings {
            usage["timings"] = json!({
                "prompt_n": t.prompt_eval_count,
                "prompt_ms": t.prompt_eval_duration_ns as f64 / 1e6,
                "predicted_n": t.eval_count,
                "predicted_ms": t.eval_duration_ns as f64 / 1e6,
            });
        }
        out.extend(Self::sse(&usage));
        out.extend_from_slice(b"data: [DONE]\n\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_script_offsets_and_rendering() {
        let s = Script::tokens(
            Duration::from_millis(50),
            Duration::from_millis(10),
            3,
            Final::stop(Timings::default()),
        );
        let ms: Vec<u128> = s.token_offsets().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![50, 60, 70]);
        assert_eq!(s.last_offset(), Duration::from_millis(70));

        let r = Renderer { format: Format::OllamaChat, model: "m".into() };
        let line = String::from_utf8(r.render(&Step::token("hi"))).unwrap();
        let v: Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["message"]["content"], "hi");
        assert!(line.ends_with('\n'));

        let r = Renderer { format: Format::OpenAi, model: "m".into() };
        let ev = String::from_utf8(
            r.render(&Step::Done(Final::stop(Timings { eval_count: 4, ..Default::default() }))),
        )
        .unwrap();
        assert!(ev.ends_with("data: [DONE]\n\n"));
        assert!(ev.contains(r#""completion_tokens":4"#));
    }
}
